/* SPDX-License-Identifier: MIT */
/*
 * IOSQE_CQE_TARGET: one SQE can't make the kernel hold unbounded memory.
 *
 * A multishot request whose CQEs go to another ring stops, with its final
 * CQE (no IORING_CQE_F_MORE) on the target, as soon as the target has no
 * room for another CQE: its CQ is full, or it has overflow pending, or (a
 * DEFER_TASKRUN target) the CQEs queued for it but not yet posted plus the
 * CQEs in its CQ reach its CQ size. Without that a multishot aimed at a
 * ring nobody reaps (or that is closed and only kept alive by the request)
 * allocates an overflow entry or a carrier per shot, forever.
 *
 * Cases:
 *  ms-full    multishot TIMEOUT (500 us) from A to B with a 4-entry CQ,
 *             B not reaping for 1 s: then B gets at most cq_entries + 2
 *             F_MORE CQEs (2 of slack for a shot in flight while the CQ
 *             filled), exactly one final CQE, and nothing more in 200 ms.
 *  ms-closed  the same aimed at a B that registered the read end of a pipe
 *             as a fixed file and is closed right after the submission:
 *             the multishot has to end by itself, the request then drops
 *             B, B is freed with its files: POLLERR on the write end
 *             within 3 s.
 *  ms-defer   a DEFER_TASKRUN | SINGLE_ISSUER B (4-entry CQ) whose owner
 *             thread is idle for 1 s while a 100 us multishot TIMEOUT aims
 *             at it; then the owner reaps: same bound as ms-full.
 *  carriers   the per-ring cache of CQE carriers is bounded: ~20,000 NOP
 *             CQEs from A to a DEFER_TASKRUN B whose owner reaps only at
 *             the end, then reaped; with both rings still open the io_kiocb
 *             slab (/proc/slabinfo, active objects) may have grown by at
 *             most 1,024 objects (the fixed kernel keeps a few hundred
 *             free carriers per ring). Without an io_kiocb line in
 *             /proc/slabinfo the subcase is skipped with a message.
 *  memcg      carriers are charged to the submitting task's memory cgroup
 *             (they are io_kiocbs, a SLAB_ACCOUNT cache, allocated at
 *             submission in the submitter's context). A child process in
 *             a cgroup v2 child cgroup of its own submits 4,000 POLL_ADDs
 *             on a pipe nobody writes without the flag, then (on a fresh
 *             ring, so the requests are new allocations again) 4,000
 *             targeting B: memory.current must grow by at least 128 bytes
 *             per request more the second time (a carrier per request;
 *             charged elsewhere the difference would be ~0). Mounts
 *             cgroup2 on /sys/fs/cgroup if it is not there; skipped with
 *             a message without cgroup2 or its memory controller.
 *
 * Usage: cqe-target-bound [case-name]
 * Exit: 0 pass, 1 fail, 77 kernel without the feature (or every case
 * that ran was skipped).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "cqe-target.h"
#include "cqe-target-proc.h"

#define SMALL_CQ	4
#define SLACK		2
#define MS_UD		0x42
#define REAP_MS		3000		/* give up reaping a runaway multishot */
#define QUIET_MS	200
#define RELEASE_MS	3000
#define NR_CARRIERS	20000
#define CARRIER_BATCH	64
#define CARRIER_SLACK	1024
#define MEMCG_NR	4000
#define MEMCG_MIN_BYTES	128		/* per carrier; sizeof(io_kiocb) is 256 */
/* the debug kernel (KASAN, kmemleak, lockdep) under TCG took 40-80 s */
#define MEMCG_CHILD_MS	180000
#define MEMCG_REAP_MS	30000
#define MEMCG_CANCEL_UD	0xcafe0000ULL
#define CGROUP_ROOT	"/sys/fs/cgroup"
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC	0x63677270
#endif

/* @ring with a CQ of @cq entries (the kernel may round up: *@cq_entries) */
static int init_small_cq(struct io_uring *ring, unsigned int cq,
			 unsigned int flags, unsigned int *cq_entries)
{
	struct io_uring_params p = {
		.flags = flags | IORING_SETUP_CQSIZE,
		.cq_entries = cq,
	};
	int ret = io_uring_queue_init_params(cq < 8 ? cq : 8, ring, &p);

	if (!ret && cq_entries)
		*cq_entries = p.cq_entries;
	return ret;
}

/* a multishot TIMEOUT every @us, no count limit, CQEs to @target_fd */
static int submit_multishot(struct io_uring *src, int target_fd, long us)
{
	static struct __kernel_timespec ts;
	struct io_uring_sqe *sqe = io_uring_get_sqe(src);

	ts.tv_sec = 0;
	ts.tv_nsec = us * 1000;
	io_uring_prep_timeout(sqe, &ts, 0, IORING_TIMEOUT_MULTISHOT);
	sqe->user_data = MS_UD;
	io_uring_sqe_set_cqe_target(sqe, target_fd);
	return io_uring_submit(src) == 1 ? 0 : -1;
}

struct tally {
	int more;		/* CQEs with F_MORE, before the final one */
	int finals;		/* CQEs without F_MORE */
	int after;		/* any CQE after the first final one */
	int bad;		/* wrong user_data */
	int final_res;
	int runaway;		/* still arriving when REAP_MS ran out */
};

/* reap @ring until QUIET_MS without a CQE, at most REAP_MS */
static void reap_tally(struct io_uring *ring, struct tally *t)
{
	long long end = now_ms() + REAP_MS;
	struct io_uring_cqe cqe;

	memset(t, 0, sizeof(*t));
	while (!get_cqe_ms(ring, QUIET_MS, &cqe)) {
		if (cqe.user_data != MS_UD)
			t->bad++;
		else if (t->finals)
			t->after++;
		else if (cqe.flags & IORING_CQE_F_MORE)
			t->more++;
		if (cqe.user_data == MS_UD && !(cqe.flags & IORING_CQE_F_MORE)) {
			if (!t->finals)
				t->final_res = cqe.res;
			t->finals++;
		}
		if (now_ms() > end) {
			t->runaway = 1;
			break;
		}
	}
}

static int check_tally(const char *what, const struct tally *t,
		       unsigned int cq_entries)
{
	int bound = (int)cq_entries + SLACK;

	printf("%s: target (cq_entries %u) got %d CQEs with F_MORE, %d without",
	       what, cq_entries, t->more, t->finals);
	if (t->finals)
		printf(" (first final res %d)", t->final_res);
	printf(", %d after the final, %d foreign%s\n", t->after, t->bad,
	       t->runaway ? "; still arriving after 3 s of reaping" : "");
	if (t->more > bound || t->finals != 1 || t->after || t->bad) {
		fprintf(stderr, "%s: want at most %d CQEs with F_MORE (cq_entries + %d), exactly 1 final CQE and nothing after it; got %d with F_MORE, %d final, %d after, %d foreign%s\n",
			what, bound, SLACK, t->more, t->finals, t->after,
			t->bad, t->runaway ? ", the multishot never stopped" : "");
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

static int t_ms_full(void)
{
	unsigned int cq_entries;
	struct io_uring a, b;
	struct tally t;
	int ret;

	CHECK(!io_uring_queue_init(8, &a, 0), "ring A");
	CHECK(!init_small_cq(&b, SMALL_CQ, 0, &cq_entries), "ring B");
	CHECK(!submit_multishot(&a, b.ring_fd, 500), "submit");
	/* nobody reaps B; A's task_work (the shots) runs meanwhile */
	sleep_ms(1000);
	reap_tally(&b, &t);
	ret = check_tally("ms-full", &t, cq_entries);
	/* a runaway multishot is cancelled with A */
	rings_exit(&a, &b);
	return ret;
}

static int t_ms_closed(void)
{
	struct io_uring a, b;
	long long ms;
	int p[2], ret = T_EXIT_PASS;

	CHECK(!io_uring_queue_init(8, &a, 0), "ring A");
	CHECK(!init_small_cq(&b, SMALL_CQ, 0, NULL), "ring B");
	CHECK(!pipe(p), "pipe");
	CHECK(!io_uring_register_files(&b, &p[0], 1), "register_files");
	close(p[0]);
	CHECK(!submit_multishot(&a, b.ring_fd, 500), "submit");
	/* B now lives only through the multishot request */
	io_uring_queue_exit(&b);
	ms = wait_no_reader(p[1], RELEASE_MS);
	if (ms < 0) {
		fprintf(stderr, "ms-closed: closed target B is still alive %d ms after its close: the multishot aimed at it did not stop\n",
			RELEASE_MS);
		ret = T_EXIT_FAIL;
	} else {
		printf("ms-closed: B freed %lld ms after its close\n", ms);
	}
	io_uring_queue_exit(&a);
	if (ret) {
		ms = wait_no_reader(p[1], RELEASE_MS);
		fprintf(stderr, "ms-closed: (after closing A: B %s)\n",
			ms < 0 ? "still not freed" : "freed");
	}
	close(p[1]);
	return ret;
}

/* the DEFER_TASKRUN target's owner for ms-defer and carriers */
struct owner {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct io_uring ring;
	unsigned int cq;	/* CQ size to ask for */
	unsigned int cq_entries;
	int ready;		/* 1 set up, -errno failed, 0 not yet */
	int stage;		/* 1 reap, 2 reaped, 3 source closed */
	int idle_ms;		/* ms-defer: idle this long, then reap */
	int want;		/* carriers: CQEs to reap */
	int got, bad;
	struct tally t;
};

static void owner_set(struct owner *o, int *field, int val)
{
	pthread_mutex_lock(&o->lock);
	*field = val;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
}

/* wait until *@field reaches @at_least (or goes negative: an error) */
static int owner_wait(struct owner *o, int *field, int at_least)
{
	int val;

	pthread_mutex_lock(&o->lock);
	while (*field < at_least && *field >= 0)
		pthread_cond_wait(&o->cond, &o->lock);
	val = *field;
	pthread_mutex_unlock(&o->lock);
	return val;
}

static void owner_reap_carriers(struct owner *o)
{
	long long end = now_ms() + 60000;
	struct io_uring_cqe *cqe;
	unsigned int head, n;

	while (o->got + o->bad < o->want && now_ms() < end) {
		struct __kernel_timespec ts = { .tv_sec = 1 };

		if (io_uring_wait_cqe_timeout(&o->ring, &cqe, &ts))
			break;
		n = 0;
		io_uring_for_each_cqe(&o->ring, head, cqe) {
			if (cqe->user_data == (uint64_t)cqe->res && !cqe->flags)
				o->got++;
			else
				o->bad++;
			n++;
		}
		io_uring_cq_advance(&o->ring, n);
	}
}

static void *owner_fn(void *data)
{
	struct owner *o = data;
	int ret;

	ret = init_small_cq(&o->ring, o->cq, IORING_SETUP_SINGLE_ISSUER |
			    IORING_SETUP_DEFER_TASKRUN, &o->cq_entries);
	owner_set(o, &o->ready, ret ? ret : 1);
	if (ret)
		return NULL;
	if (o->idle_ms) {
		/* ms-defer: idle, no io_uring_enter() at all */
		sleep_ms(o->idle_ms);
		reap_tally(&o->ring, &o->t);
		owner_set(o, &o->stage, 2);
	} else {
		owner_wait(o, &o->stage, 1);
		owner_reap_carriers(o);
		owner_set(o, &o->stage, 2);
	}
	/* keep B until the source is gone, then drop what is left */
	owner_wait(o, &o->stage, 3);
	reap_tally(&o->ring, &(struct tally){ });
	io_uring_queue_exit(&o->ring);
	return NULL;
}

static int start_owner(struct owner *o, pthread_t *thr)
{
	int ret;

	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->cond, NULL);
	pthread_create(thr, NULL, owner_fn, o);
	ret = owner_wait(o, &o->ready, 1);
	if (ret < 0) {
		fprintf(stderr, "DEFER_TASKRUN ring: %d\n", ret);
		pthread_join(*thr, NULL);
		return -1;
	}
	return o->ring.ring_fd;
}

static int t_ms_defer(void)
{
	struct owner o = { .cq = SMALL_CQ, .idle_ms = 1000 };
	struct io_uring a;
	pthread_t thr;
	int fd, ret;

	fd = start_owner(&o, &thr);
	CHECK(fd >= 0, "owner");
	CHECK(!io_uring_queue_init(8, &a, 0), "ring A");
	CHECK(!submit_multishot(&a, fd, 100), "submit");
	/* the owner idles 1 s, then reaps; A's shots run here meanwhile */
	owner_wait(&o, &o.stage, 2);
	ret = check_tally("ms-defer", &o.t, o.cq_entries);
	io_uring_queue_exit(&a);
	owner_set(&o, &o.stage, 3);
	pthread_join(thr, NULL);
	return ret;
}

static int send_burst(struct io_uring *a, int target_fd, int nr)
{
	struct io_uring_sqe *sqe;
	int sent = 0, i, ret;

	while (sent < nr) {
		for (i = 0; i < CARRIER_BATCH && sent + i < nr; i++) {
			sqe = io_uring_get_sqe(a);
			io_uring_prep_nop(sqe);
			sqe->nop_flags = IORING_NOP_INJECT_RESULT;
			sqe->len = sent + i;
			sqe->user_data = sent + i;
			io_uring_sqe_set_cqe_target(sqe, target_fd);
		}
		ret = io_uring_submit(a);
		if (ret != i) {
			fprintf(stderr, "carriers: submit after %d: %d\n",
				sent, ret);
			return -1;
		}
		sent += i;
	}
	return 0;
}

static int t_carriers(void)
{
	struct owner o = { .cq = 32768, .want = NR_CARRIERS };
	struct io_uring_cqe cqe;
	long before, after;
	struct io_uring a;
	pthread_t thr;
	int fd, ret = T_EXIT_PASS;

	before = io_kiocb_active();
	if (before < 0) {
		printf("carriers: SKIP: no io_kiocb line in /proc/slabinfo (or no /proc/slabinfo): the carrier cache can't be measured\n");
		return T_EXIT_PASS;
	}
	fd = start_owner(&o, &thr);
	CHECK(fd >= 0, "owner");
	CHECK(!io_uring_queue_init(CARRIER_BATCH, &a, 0), "ring A");
	if (send_burst(&a, fd, NR_CARRIERS))
		ret = T_EXIT_FAIL;
	if (get_cqe_ms(&a, 20, &cqe) != -ETIME) {
		fprintf(stderr, "carriers: a CQE on the source: ud=%llu res=%d\n",
			(unsigned long long)cqe.user_data, cqe.res);
		ret = T_EXIT_FAIL;
	}
	owner_set(&o, &o.stage, 1);
	owner_wait(&o, &o.stage, 2);
	/* both rings still open: whatever their caches hold is counted */
	sleep_ms(500);
	after = io_kiocb_active();
	printf("carriers: %d of %d CQEs reaped (%d bad); io_kiocb active objects %ld -> %ld (%+ld, bound %d)\n",
	       o.got, NR_CARRIERS, o.bad, before, after, after - before,
	       CARRIER_SLACK);
	if (o.got != NR_CARRIERS || o.bad) {
		fprintf(stderr, "carriers: reaped %d of %d CQEs, %d bad\n",
			o.got, NR_CARRIERS, o.bad);
		ret = T_EXIT_FAIL;
	}
	if (after - before > CARRIER_SLACK) {
		fprintf(stderr, "carriers: io_kiocb grew by %ld objects over %d CQEs delivered to a DEFER_TASKRUN target (both rings still open), want at most %d: the carrier cache is unbounded\n",
			after - before, NR_CARRIERS, CARRIER_SLACK);
		ret = T_EXIT_FAIL;
	}
	io_uring_queue_exit(&a);
	owner_set(&o, &o.stage, 3);
	pthread_join(thr, NULL);
	return ret;
}

/* the contents of @path (at most @len - 1 bytes, NUL-terminated), -errno */
static int read_text(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return n;
	buf[n] = '\0';
	return 0;
}

static int write_text(const char *path, const char *s)
{
	ssize_t n;
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0)
		n = -errno;
	close(fd);
	return n < 0 ? n : 0;
}

/* whether the space-separated list in @path holds @word */
static int has_word(const char *path, const char *word)
{
	char buf[512], *tok, *save;

	if (read_text(path, buf, sizeof(buf)))
		return 0;
	for (tok = strtok_r(buf, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save))
		if (!strcmp(tok, word))
			return 1;
	return 0;
}

/* memory.current of cgroup @cg, -1 if unreadable */
static long long memcg_current(const char *cg)
{
	char path[256], buf[64];

	snprintf(path, sizeof(path), "%s/memory.current", cg);
	if (read_text(path, buf, sizeof(buf)))
		return -1;
	return strtoll(buf, NULL, 10);
}

/* the "slab" line of @cg's memory.stat, -1 without one */
static long long memcg_slab(const char *cg)
{
	char path[256], buf[8192], *line, *save;
	long long val;

	snprintf(path, sizeof(path), "%s/memory.stat", cg);
	if (read_text(path, buf, sizeof(buf)))
		return -1;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (sscanf(line, "slab %lld", &val) == 1)
			return val;
	return -1;
}

struct memcg_sample {
	long long current;
	long long slab;
};

static void memcg_sample(const char *cg, struct memcg_sample *s)
{
	s->current = memcg_current(cg);
	s->slab = memcg_slab(cg);
}

/* @nr POLLIN polls on @fd, CQEs to @target_fd (-1: local); 0 or -1 */
static int submit_polls(struct io_uring *ring, int fd, int nr, int target_fd)
{
	struct io_uring_sqe *sqe;
	int i, ret, done = 0;

	for (i = 0; i < nr; i++) {
		sqe = io_uring_get_sqe(ring);
		if (!sqe) {
			ret = io_uring_submit(ring);
			if (ret > 0)
				done += ret;
			sqe = io_uring_get_sqe(ring);
			if (!sqe)
				break;
		}
		io_uring_prep_poll_add(sqe, fd, POLLIN);
		sqe->user_data = i + 1;
		if (target_fd >= 0)
			io_uring_sqe_set_cqe_target(sqe, target_fd);
	}
	ret = io_uring_submit(ring);
	if (ret > 0)
		done += ret;
	if (done != nr) {
		fprintf(stderr, "memcg: submitted %d of %d polls (last submit %d)\n",
			done, nr, ret);
		return -1;
	}
	return 0;
}

/*
 * Cancel the @nr polls on @src, one cancel by user_data each, and reap the
 * cancels' CQEs (res 0) from @src and the polls' -ECANCELED CQEs from @cqr
 * (@src itself, or their target). 0 or -1. Not IORING_ASYNC_CANCEL_ANY:
 * it rescans the poll hash table from its first bucket for each request,
 * past the ones already cancelled, and did not get through 4,000 polls in
 * 10 s on the debug kernel under TCG.
 */
static int cancel_polls(struct io_uring *src, struct io_uring *cqr, int nr)
{
	long long end = now_ms() + MEMCG_REAP_MS;
	int i, polls = 0, cancels = 0, bad = 0;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;

	for (i = 0; i < nr; i++) {
		sqe = io_uring_get_sqe(src);
		if (!sqe) {
			io_uring_submit(src);
			sqe = io_uring_get_sqe(src);
		}
		io_uring_prep_cancel64(sqe, i + 1, 0);
		sqe->user_data = MEMCG_CANCEL_UD + i;
	}
	io_uring_submit(src);
	/* the cancels' CQEs first (on @src), then the polls' (on @cqr) */
	while ((cancels < nr || polls < nr) && now_ms() < end) {
		struct io_uring *r = cancels < nr ? src : cqr;

		if (get_cqe_ms(r, 10, &cqe))
			continue;
		if (r == src && cqe.user_data >= MEMCG_CANCEL_UD &&
		    cqe.user_data < MEMCG_CANCEL_UD + nr && !cqe.res)
			cancels++;
		else if (r == cqr && cqe.res == -ECANCELED &&
			 cqe.user_data >= 1 && cqe.user_data <= (unsigned int)nr)
			polls++;
		else if (bad++ < 3)
			fprintf(stderr, "memcg: unexpected CQE ud=0x%llx res=%d\n",
				(unsigned long long)cqe.user_data, cqe.res);
	}
	if (polls != nr || cancels != nr || bad) {
		fprintf(stderr, "memcg: cancelling %d polls: %d cancels done, %d -ECANCELED CQEs, %d unexpected CQEs\n",
			nr, cancels, polls, bad);
		return -1;
	}
	return 0;
}

/* no CQE on @ring right now (a refused or failed poll would post one) */
static int cq_empty(struct io_uring *ring, const char *what)
{
	struct io_uring_cqe *cqe;

	if (io_uring_peek_cqe(ring, &cqe))
		return 1;
	fprintf(stderr, "memcg: unexpected CQE on %s: ud=%llu res=%d\n",
		what, (unsigned long long)cqe->user_data, cqe->res);
	return 0;
}

/*
 * The child of t_memcg(), in cgroup @cg: A1 (plain polls), A2 (targeted
 * polls) and B (their target) are set up before any sample, so that only
 * the requests, and for A2 their carriers, are charged in between. A2 is a
 * ring of its own: A1's cancelled requests stay in A1's request cache and
 * would be reused without a new charge.
 */
static int memcg_child(const char *cg)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_CQSIZE,
		.cq_entries = 8192,
	};
	struct memcg_sample s0, s1, s2, s3;
	long long plain, targeted, min = (long long)MEMCG_NR * MEMCG_MIN_BYTES;
	struct io_uring a1, a2, b;
	char path[256], pid[32];
	long long t[5];
	cpu_set_t cpus, all;
	int fds[2], cpu, err, pinned = 0, ret = T_EXIT_PASS;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	err = write_text(path, pid);
	if (err) {
		fprintf(stderr, "memcg: moving to %s: %s\n", cg, strerror(-err));
		return T_EXIT_FAIL;
	}
	/*
	 * One CPU while measuring: one per-cpu memcg charge stock, less
	 * noise. Unpinned for the teardown, whose exit work may keep a CPU
	 * busy for seconds on a PREEMPT_NONE debug kernel.
	 */
	cpu = sched_getcpu();
	if (cpu >= 0 && !sched_getaffinity(0, sizeof(all), &all)) {
		CPU_ZERO(&cpus);
		CPU_SET(cpu, &cpus);
		pinned = !sched_setaffinity(0, sizeof(cpus), &cpus);
	}
	CHECK(!pipe(fds), "pipe");
	CHECK(!io_uring_queue_init_params(256, &a1, &p), "ring A1");
	CHECK(!io_uring_queue_init_params(256, &a2, &p), "ring A2");
	CHECK(!io_uring_queue_init_params(8, &b, &p), "ring B");

	t[0] = now_ms();
	memcg_sample(cg, &s0);
	if (submit_polls(&a1, fds[0], MEMCG_NR, -1))
		return T_EXIT_FAIL;
	memcg_sample(cg, &s1);
	CHECK(cq_empty(&a1, "A1"), "plain polls pending");
	t[1] = now_ms();
	if (cancel_polls(&a1, &a1, MEMCG_NR))
		return T_EXIT_FAIL;
	t[2] = now_ms();

	memcg_sample(cg, &s2);
	if (submit_polls(&a2, fds[0], MEMCG_NR, b.ring_fd))
		return T_EXIT_FAIL;
	memcg_sample(cg, &s3);
	if (pinned)
		sched_setaffinity(0, sizeof(all), &all);
	CHECK(cq_empty(&a2, "A2") && cq_empty(&b, "B"), "targeted polls pending");
	t[3] = now_ms();
	if (cancel_polls(&a2, &b, MEMCG_NR))
		ret = T_EXIT_FAIL;
	t[4] = now_ms();
	printf("memcg: %d polls: plain submitted in %lld ms, cancelled in %lld ms; targeted submitted in %lld ms, cancelled in %lld ms\n",
	       MEMCG_NR, t[1] - t[0], t[2] - t[1], t[3] - t[2], t[4] - t[3]);

	rings_exit(&a2, &a1, &b);
	close_pair(fds);

	plain = s1.current - s0.current;
	targeted = s3.current - s2.current;
	printf("memcg: memory.current %lld -> %lld (%+lld) for %d plain polls, %lld -> %lld (%+lld) for %d targeted: carriers %+lld bytes (%+lld per request), want >= %lld (%d per request)\n",
	       s0.current, s1.current, plain, MEMCG_NR, s2.current,
	       s3.current, targeted, MEMCG_NR, targeted - plain,
	       (targeted - plain) / MEMCG_NR, min, MEMCG_MIN_BYTES);
	if (s0.slab >= 0)
		printf("memcg: memory.stat slab %lld -> %lld (%+lld) plain, %lld -> %lld (%+lld) targeted: %+lld\n",
		       s0.slab, s1.slab, s1.slab - s0.slab, s2.slab,
		       s3.slab, s3.slab - s2.slab,
		       (s3.slab - s2.slab) - (s1.slab - s0.slab));
	else
		printf("memcg: no slab line in %s/memory.stat\n", cg);
	if (s0.current < 0) {
		fprintf(stderr, "memcg: cannot read %s/memory.current\n", cg);
		return T_EXIT_FAIL;
	}
	if (targeted - plain < min) {
		fprintf(stderr, "memcg: %d targeted polls charged only %lld bytes more than %d plain ones to the submitter's memory cgroup, want >= %lld: the carriers are not charged to the submitter\n",
			MEMCG_NR, targeted - plain, MEMCG_NR, min);
		ret = T_EXIT_FAIL;
	}
	return ret;
}

static int t_memcg(void)
{
	static const char *subtree = CGROUP_ROOT "/cgroup.subtree_control";
	int mounted = 0, enabled = 0, ret, err;
	long long end;
	struct statfs sfs;
	char cg[128];
	pid_t pid;

	if (statfs(CGROUP_ROOT, &sfs)) {
		printf("memcg: SKIP: no %s (%s): kernel without CONFIG_CGROUPS, or sysfs not mounted\n",
		       CGROUP_ROOT, strerror(errno));
		return T_EXIT_SKIP;
	}
	if (sfs.f_type != CGROUP2_SUPER_MAGIC) {
		if (mount("cgroup2", CGROUP_ROOT, "cgroup2", 0, NULL)) {
			printf("memcg: SKIP: %s is not a cgroup2 mount and mounting cgroup2 there failed: %s\n",
			       CGROUP_ROOT, strerror(errno));
			return T_EXIT_SKIP;
		}
		mounted = 1;
	}
	ret = T_EXIT_SKIP;
	if (!has_word(CGROUP_ROOT "/cgroup.controllers", "memory")) {
		printf("memcg: SKIP: no memory controller in %s/cgroup.controllers: kernel without CONFIG_MEMCG (or booted with cgroup_disable=memory)\n",
		       CGROUP_ROOT);
		goto out_umount;
	}
	if (!has_word(subtree, "memory")) {
		err = write_text(subtree, "+memory");
		if (err) {
			printf("memcg: SKIP: cannot enable the memory controller (+memory to %s): %s\n",
			       subtree, strerror(-err));
			goto out_umount;
		}
		enabled = 1;
	}
	ret = T_EXIT_FAIL;
	snprintf(cg, sizeof(cg), "%s/cqe-target-memcg.%d", CGROUP_ROOT,
		 (int)getpid());
	if (mkdir(cg, 0755)) {
		fprintf(stderr, "memcg: mkdir %s: %s\n", cg, strerror(errno));
		goto out_disable;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "memcg: fork: %s\n", strerror(errno));
	} else if (!pid) {
		ret = memcg_child(cg);
		fflush(stdout);
		_exit(ret);
	} else {
		ret = wait_child(pid, MEMCG_CHILD_MS);
		if (ret < 0)
			fprintf(stderr, "memcg: child did not finish within %d ms (killed)\n",
				MEMCG_CHILD_MS);
		else if (ret != T_EXIT_PASS && ret != T_EXIT_SKIP &&
			 ret != T_EXIT_FAIL)
			fprintf(stderr, "memcg: child exit status %d\n", ret);
		if (ret != T_EXIT_PASS && ret != T_EXIT_SKIP)
			ret = T_EXIT_FAIL;
	}
	/* the exited child may take a moment to leave the cgroup */
	end = now_ms() + 2000;
	while (rmdir(cg) && errno == EBUSY && now_ms() < end)
		sleep_ms(10);
	if (!access(cg, F_OK)) {
		fprintf(stderr, "memcg: rmdir %s: %s\n", cg, strerror(errno));
		ret = T_EXIT_FAIL;
	}
out_disable:
	if (enabled)
		write_text(subtree, "-memory");
out_umount:
	if (mounted && umount(CGROUP_ROOT))
		fprintf(stderr, "memcg: umount %s: %s\n", CGROUP_ROOT,
			strerror(errno));
	return ret;
}

static const struct t_case cases[] = {
	{ "ms-full", t_ms_full },
	{ "ms-closed", t_ms_closed },
	{ "ms-defer", t_ms_defer },
	{ "carriers", t_carriers },
	{ "memcg", t_memcg },
};

int main(int argc, char *argv[])
{
	int ret = cqe_target_supported();

	if (ret)
		return ret;
	return run_cases(cases, T_ARRAY_SIZE(cases), argc, argv);
}
