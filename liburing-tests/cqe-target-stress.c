/* SPDX-License-Identifier: MIT */
/*
 * IOSQE_CQE_TARGET stress: N threads each own a ring and submit NOPs whose
 * CQEs go to other rings, so every ring is at once a source and a target
 * and the rings form cycles (ring i -> ring i+1 -> ... -> ring 0 -> ring 1).
 * Every CQE is accounted for: nothing lost, nothing duplicated, res and
 * user_data as submitted.
 *
 * Usage: cqe-target-stress [-r rings] [-n total_cqes] [-m mode] [-a] [-w window]
 *   -r  number of rings/threads, 2..64 (default 4)
 *   -n  total cross-ring CQEs (default 1000000)
 *   -m  ring setup: plain, defer (SINGLE_ISSUER|DEFER_TASKRUN), mixed
 *       (every other ring defer), sqpoll (default mixed)
 *   -a  all-to-all: request k of ring i goes to ring i+1+(k mod (rings-1))
 *       instead of always ring i+1
 *   -w  max requests of one ring not yet reaped by their targets (default 256)
 * Exit: 0 pass, 1 fail, 77 kernel without the feature.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cqe-target.h"

#define MAX_RINGS	64

struct ring_thread {
	struct io_uring ring;
	pthread_t thr;
	int idx;
	unsigned long long expected;	/* CQEs this ring must receive */
	unsigned long long received;
	unsigned long long bad;
	unsigned char *seen;		/* [src][seq] bitmap */
	_Atomic unsigned long long acked;	/* own requests reaped elsewhere */
	int ret;
};

static struct ring_thread rt[MAX_RINGS];
static int nr_rings = 4;
static unsigned long long per_ring;	/* requests each ring submits */
static unsigned int window = 256;
static int all_to_all;
static pthread_barrier_t barrier;
static _Atomic int failed;

static int target_of(int src, unsigned long long seq)
{
	if (!all_to_all || nr_rings == 2)
		return (src + 1) % nr_rings;
	return (src + 1 + (int)(seq % (nr_rings - 1))) % nr_rings;
}

static int handle_cqe(struct ring_thread *t, const struct io_uring_cqe *cqe)
{
	unsigned long long src = cqe->user_data >> 40;
	unsigned long long seq = cqe->user_data & ((1ULL << 40) - 1);
	unsigned long long bit;

	if (src >= (unsigned long long)nr_rings || seq >= per_ring ||
	    target_of(src, seq) != t->idx ||
	    cqe->res != (int)(seq & 0xffff) || cqe->flags) {
		fprintf(stderr, "ring %d: bad CQE ud=0x%llx res=%d flags=0x%x\n",
			t->idx, (unsigned long long)cqe->user_data, cqe->res,
			cqe->flags);
		t->bad++;
		return -1;
	}
	bit = src * per_ring + seq;
	if (t->seen[bit / 8] & (1U << (bit % 8))) {
		fprintf(stderr, "ring %d: duplicate CQE src %llu seq %llu\n",
			t->idx, src, seq);
		t->bad++;
		return -1;
	}
	t->seen[bit / 8] |= 1U << (bit % 8);
	t->received++;
	atomic_fetch_add_explicit(&rt[src].acked, 1, memory_order_relaxed);
	return 0;
}

static void *ring_fn(void *data)
{
	struct ring_thread *t = data;
	struct __kernel_timespec ts = { .tv_nsec = 1000000 };
	unsigned long long sent = 0;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	time_t last_progress = time(NULL);
	unsigned long long last_recv = 0, last_ack = 0;
	unsigned int head, n;
	int ret;

	/* enabling makes this thread the submitter task (DEFER_TASKRUN) */
	t->ret = io_uring_enable_rings(&t->ring);
	pthread_barrier_wait(&barrier);
	if (t->ret) {
		failed = 1;
		goto out;
	}
	while (!failed && (sent < per_ring || t->received < t->expected)) {
		unsigned long long acked = atomic_load_explicit(&t->acked,
							memory_order_relaxed);

		while (sent < per_ring && sent - acked < window) {
			sqe = io_uring_get_sqe(&t->ring);
			if (!sqe)
				break;
			io_uring_prep_nop(sqe);
			sqe->nop_flags = IORING_NOP_INJECT_RESULT;
			sqe->len = (unsigned int)(sent & 0xffff);
			sqe->user_data = ((unsigned long long)t->idx << 40) | sent;
			io_uring_sqe_set_cqe_target(sqe,
				rt[target_of(t->idx, sent)].ring.ring_fd);
			sent++;
		}
		ret = io_uring_submit_and_wait_timeout(&t->ring, &cqe, 1, &ts,
						       NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR &&
		    ret != -EAGAIN && ret != -EBUSY) {
			fprintf(stderr, "ring %d: submit: %s\n", t->idx,
				strerror(-ret));
			t->ret = ret;
			failed = 1;
			break;
		}
		n = 0;
		io_uring_for_each_cqe(&t->ring, head, cqe) {
			n++;
			if (handle_cqe(t, cqe)) {
				failed = 1;
				break;
			}
		}
		io_uring_cq_advance(&t->ring, n);

		acked = atomic_load_explicit(&t->acked, memory_order_relaxed);
		if (t->received != last_recv || acked != last_ack) {
			last_recv = t->received;
			last_ack = acked;
			last_progress = time(NULL);
		} else if (time(NULL) - last_progress > 20) {
			fprintf(stderr, "ring %d: stalled: sent %llu acked %llu received %llu/%llu\n",
				t->idx, sent, acked, t->received, t->expected);
			t->ret = -ETIME;
			failed = 1;
		}
	}
out:
	/* keep the ring alive until nobody posts into it any more */
	pthread_barrier_wait(&barrier);
	return NULL;
}

static unsigned int mode_flags(const char *mode, int idx)
{
	unsigned int defer = IORING_SETUP_SINGLE_ISSUER |
			     IORING_SETUP_DEFER_TASKRUN;

	if (!strcmp(mode, "plain"))
		return 0;
	if (!strcmp(mode, "defer"))
		return defer;
	if (!strcmp(mode, "sqpoll"))
		return IORING_SETUP_SQPOLL;
	return (idx & 1) ? defer : 0;
}

int main(int argc, char *argv[])
{
	unsigned long long total = 1000000, got = 0, bad = 0;
	const char *mode = "mixed";
	struct timespec t0, t1;
	double secs;
	int opt, i, ret;

	while ((opt = getopt(argc, argv, "r:n:m:aw:")) != -1) {
		switch (opt) {
		case 'r':
			nr_rings = atoi(optarg);
			break;
		case 'n':
			total = strtoull(optarg, NULL, 0);
			break;
		case 'm':
			mode = optarg;
			break;
		case 'a':
			all_to_all = 1;
			break;
		case 'w':
			window = (unsigned int)atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-r rings] [-n total] [-m plain|defer|mixed|sqpoll] [-a] [-w window]\n",
				argv[0]);
			return T_EXIT_FAIL;
		}
	}
	if (nr_rings < 2 || nr_rings > MAX_RINGS || !window || total < 1) {
		fprintf(stderr, "bad arguments\n");
		return T_EXIT_FAIL;
	}
	ret = cqe_target_supported();
	if (ret)
		return ret;

	per_ring = (total + nr_rings - 1) / nr_rings;
	for (i = 0; i < nr_rings; i++) {
		struct io_uring_params p = {
			.flags = mode_flags(mode, i) | IORING_SETUP_R_DISABLED,
		};
		unsigned long long s;

		rt[i].idx = i;
		rt[i].seen = calloc((nr_rings * per_ring + 7) / 8, 1);
		ret = io_uring_queue_init_params(128, &rt[i].ring, &p);
		if (ret || !rt[i].seen) {
			fprintf(stderr, "ring %d setup: %s\n", i, strerror(-ret));
			return T_EXIT_FAIL;
		}
		for (s = 0; s < per_ring; s++)
			rt[target_of(i, s)].expected++;
	}
	printf("rings %d mode %s%s, %llu requests per ring, %llu cross-ring CQEs\n",
	       nr_rings, mode, all_to_all ? " all-to-all" : " cycle",
	       per_ring, per_ring * nr_rings);
	fflush(stdout);

	pthread_barrier_init(&barrier, NULL, nr_rings);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nr_rings; i++)
		pthread_create(&rt[i].thr, NULL, ring_fn, &rt[i]);
	for (i = 0; i < nr_rings; i++)
		pthread_join(rt[i].thr, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

	for (i = 0; i < nr_rings; i++) {
		printf("ring %d: received %llu/%llu bad %llu\n", i,
		       rt[i].received, rt[i].expected, rt[i].bad);
		got += rt[i].received;
		bad += rt[i].bad;
		if (rt[i].received != rt[i].expected || rt[i].ret)
			failed = 1;
		io_uring_queue_exit(&rt[i].ring);
		free(rt[i].seen);
	}
	printf("%llu/%llu CQEs, %llu lost, %llu bad/duplicated, %.2fs, %.0f CQEs/s: %s\n",
	       got, per_ring * nr_rings, per_ring * nr_rings - got, bad, secs,
	       got / (secs > 0 ? secs : 1), failed || bad ? "FAIL" : "PASS");
	return failed || bad ? T_EXIT_FAIL : T_EXIT_PASS;
}
