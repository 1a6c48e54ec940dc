/* SPDX-License-Identifier: MIT */
/*
 * IOSQE_CQE_TARGET: an idle DEFER_TASKRUN target owner must not stall the
 * teardown of the ring that sent it CQEs.
 *
 * Thread T_B creates ring B with SINGLE_ISSUER | DEFER_TASKRUN and then
 * sleeps on a condition variable, never entering the kernel for io_uring.
 * The main thread creates a plain ring A, registers the read end of a fresh
 * pipe as A's fixed file and closes its own fd of it, submits NOPs aimed at
 * B, makes sure they have left A (a local NOP submitted after them is
 * reaped), and closes A. A's registered files are released when A is
 * freed, so POLLERR on the pipe's write end says A's teardown finished; it
 * must within 5 s, although B's owner hasn't run B's task_work yet (the
 * CQEs wait for it on B's side). Then T_B is woken, enters, and must get
 * every NOP's CQE with its user_data and res.
 *
 * -l SECONDS: T_B stays idle SECONDS (counted from A's close) before it
 * enters. With SECONDS past the kernel's 300 s io_ring_exit_work timeout
 * (the reliability job uses 330) a kernel whose teardown of A waits for B's
 * owner logs a WARNING from io_ring_exit_work; `vm test`/`vm run` fail on a
 * kernel splat. The test also reads /proc/sys/kernel/tainted before and
 * after, where it exists, and fails if the WARN taint (W, 512) appeared.
 *
 * Usage: cqe-target-idle [-l SECONDS]
 * Exit: 0 pass, 1 fail, 77 kernel without the feature.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cqe-target.h"
#include "cqe-target-proc.h"

#define NR_NOPS		4
#define UD_BASE		0xb000
#define RES_BASE	100
#define RELEASE_MS	5000
#define TAINT_WARN	512
#define FD_PENDING	INT_MIN

struct owner {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct io_uring ring;
	int fd;			/* B's fd once set up, -errno on failure */
	int go;			/* main thread: enter B now */
	int got;		/* NOP CQEs received */
	int bad;		/* CQEs that aren't one of the NOPs */
};

static void owner_set(struct owner *o, int *field, int val)
{
	pthread_mutex_lock(&o->lock);
	*field = val;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
}

/* wait for *field to leave @idle; no io_uring syscall meanwhile */
static int owner_wait(struct owner *o, int *field, int idle)
{
	int val;

	pthread_mutex_lock(&o->lock);
	while (*field == idle)
		pthread_cond_wait(&o->cond, &o->lock);
	val = *field;
	pthread_mutex_unlock(&o->lock);
	return val;
}

static void owner_reap(struct owner *o)
{
	int seen[NR_NOPS] = { }, i;
	struct io_uring_cqe cqe;

	while (o->got + o->bad < NR_NOPS) {
		if (get_cqe_ms(&o->ring, 2000, &cqe))
			break;
		i = (int)(cqe.user_data - UD_BASE);
		if (i < 0 || i >= NR_NOPS || seen[i] ||
		    cqe.res != RES_BASE + i || cqe.flags) {
			fprintf(stderr, "B: unexpected CQE ud=0x%llx res=%d flags=0x%x\n",
				(unsigned long long)cqe.user_data, cqe.res,
				cqe.flags);
			o->bad++;
			continue;
		}
		seen[i] = 1;
		o->got++;
	}
	while (!get_cqe_ms(&o->ring, 50, &cqe)) {
		fprintf(stderr, "B: extra CQE ud=0x%llx res=%d flags=0x%x\n",
			(unsigned long long)cqe.user_data, cqe.res, cqe.flags);
		o->bad++;
	}
}

static void *owner_fn(void *data)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER |
			 IORING_SETUP_DEFER_TASKRUN,
	};
	struct owner *o = data;
	int ret;

	ret = io_uring_queue_init_params(8, &o->ring, &p);
	owner_set(o, &o->fd, ret ? ret : o->ring.ring_fd);
	if (ret)
		return NULL;
	/* idle: not a single io_uring_enter() until told */
	owner_wait(o, &o->go, 0);
	owner_reap(o);
	io_uring_queue_exit(&o->ring);
	return NULL;
}

/* the NOPs aimed at B, then a local NOP reaped: the NOPs have left A */
static int send_nops(struct io_uring *a, int target_fd)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;
	int i, ret;

	for (i = 0; i < NR_NOPS; i++) {
		sqe = prep_nop_res(a, UD_BASE + i, RES_BASE + i);
		io_uring_sqe_set_cqe_target(sqe, target_fd);
	}
	ret = io_uring_submit(a);
	if (ret != NR_NOPS) {
		fprintf(stderr, "submit: %d\n", ret);
		return -1;
	}
	prep_nop_res(a, 1, 0);
	ret = io_uring_submit(a);
	if (ret != 1) {
		fprintf(stderr, "submit local NOP: %d\n", ret);
		return -1;
	}
	ret = get_cqe_ms(a, 1000, &cqe);
	if (ret || cqe.user_data != 1 || cqe.res) {
		fprintf(stderr, "local NOP: ret %d ud=0x%llx res=%d (want ud=0x1 res=0 on A)\n",
			ret, (unsigned long long)cqe.user_data, cqe.res);
		return -1;
	}
	if (get_cqe_ms(a, 20, &cqe) != -ETIME) {
		fprintf(stderr, "A got a CQE meant for B: ud=0x%llx res=%d\n",
			(unsigned long long)cqe.user_data, cqe.res);
		return -1;
	}
	return 0;
}

/* plain ring A whose only fixed file is the read end of a new pipe */
static int setup_source(struct io_uring *a, int *wfd)
{
	int p[2], ret;

	ret = io_uring_queue_init(8, a, 0);
	if (ret) {
		fprintf(stderr, "ring A: %d\n", ret);
		return -1;
	}
	if (pipe(p)) {
		perror("pipe");
		return -1;
	}
	ret = io_uring_register_files(a, &p[0], 1);
	if (ret) {
		fprintf(stderr, "register_files: %d\n", ret);
		return -1;
	}
	close(p[0]);
	*wfd = p[1];
	return 0;
}

static long read_taint(void)
{
	FILE *f = fopen("/proc/sys/kernel/tainted", "r");
	long t = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &t) != 1)
		t = -1;
	fclose(f);
	return t;
}

int main(int argc, char *argv[])
{
	struct owner o = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER,
		.fd = FD_PENDING,
	};
	long taint_before, taint_after;
	long long closed_at, ms, idle_ms = 0;
	int opt, ret, wfd, failed = 0;
	struct io_uring a;
	pthread_t thr;

	while ((opt = getopt(argc, argv, "l:")) != -1) {
		char *end = NULL;

		if (opt == 'l')
			idle_ms = strtoll(optarg, &end, 0) * 1000;
		if (opt != 'l' || !end || *end || idle_ms < 0) {
			fprintf(stderr, "usage: %s [-l SECONDS]\n", argv[0]);
			return T_EXIT_FAIL;
		}
	}
	ret = cqe_target_supported();
	if (ret)
		return ret;
	taint_before = read_taint();

	pthread_create(&thr, NULL, owner_fn, &o);
	ret = owner_wait(&o, &o.fd, FD_PENDING);
	if (ret < 0) {
		fprintf(stderr, "ring B (DEFER_TASKRUN): %d\n", ret);
		pthread_join(thr, NULL);
		return T_EXIT_FAIL;
	}
	if (setup_source(&a, &wfd) || send_nops(&a, ret)) {
		owner_set(&o, &o.go, 1);
		pthread_join(thr, NULL);
		return T_EXIT_FAIL;
	}
	closed_at = now_ms();
	io_uring_queue_exit(&a);
	ms = wait_no_reader(wfd, RELEASE_MS);
	if (ms < 0) {
		fprintf(stderr, "A's registered file is still open %d ms after io_uring_queue_exit(A): A's teardown waits for B's idle DEFER_TASKRUN owner\n",
			RELEASE_MS);
		failed = 1;
	} else {
		printf("A released %lld ms after its close, B's owner still idle\n",
		       ms);
	}
	if (idle_ms) {
		printf("B's owner stays idle until %lld s after A's close\n",
		       idle_ms / 1000);
		fflush(stdout);
		sleep_ms(closed_at + idle_ms - now_ms());
	}

	owner_set(&o, &o.go, 1);
	pthread_join(thr, NULL);
	if (failed) {
		ms = wait_no_reader(wfd, RELEASE_MS);
		if (ms >= 0)
			fprintf(stderr, "(A was released %lld ms after B's owner entered)\n",
				ms);
	}
	close(wfd);
	if (o.got != NR_NOPS || o.bad) {
		fprintf(stderr, "B's owner got %d of %d NOP CQEs, %d unexpected CQEs\n",
			o.got, NR_NOPS, o.bad);
		failed = 1;
	}
	taint_after = read_taint();
	if (taint_before >= 0 && taint_after >= 0) {
		if (!(taint_before & TAINT_WARN) && (taint_after & TAINT_WARN)) {
			fprintf(stderr, "kernel WARNING during the run: tainted %ld -> %ld\n",
				taint_before, taint_after);
			failed = 1;
		}
	}
	printf("%s\n", failed ? "FAIL" : "ok");
	return failed ? T_EXIT_FAIL : T_EXIT_PASS;
}
