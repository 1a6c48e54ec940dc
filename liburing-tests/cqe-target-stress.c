/* SPDX-License-Identifier: MIT */
/*
 * IOSQE_CQE_TARGET stress: N threads each own a ring and submit NOPs whose
 * CQEs go to other rings, so every ring is at once a source and a target
 * and the rings form cycles (ring i -> ring i+1 -> ... -> ring 0 -> ring 1).
 * Every CQE is accounted for: nothing lost, nothing duplicated, res and
 * user_data as submitted.
 *
 * Usage: cqe-target-stress [-r rings] [-n total_cqes] [-m mode] [-a] [-w window] [-f]
 *   -r  number of rings/threads, 2..64 (default 4)
 *   -n  total cross-ring CQEs (default 1000000)
 *   -m  ring setup: plain, defer (SINGLE_ISSUER|DEFER_TASKRUN), mixed
 *       (every other ring defer), sqpoll (default mixed)
 *   -a  all-to-all: request k of ring i goes to ring i+1+(k mod (rings-1))
 *       instead of always ring i+1
 *   -w  max requests of one ring not yet reaped by their targets (default 256)
 *   -f  fault tolerant, for runs under allocation fault injection
 *       (docs/reliability.md): ring setup failing with -ENOMEM/-EAGAIN is
 *       retried, and a request may complete with -ENOMEM or -EAGAIN, on its
 *       target or on the submitting ring, and a CQE may be dropped when an
 *       overflow entry can't be allocated, as long as the kernel counted it
 *       in the CQ's overflow counter. Still every request is accounted for:
 *       exactly one CQE, on its target or (failed) on its source, or
 *       counted as dropped; never a CQE on a third ring, never two.
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
	unsigned long long errors;	/* -f: CQEs of failed requests seen here */
	unsigned long long bad;
	_Atomic unsigned long long acked;	/* own requests reaped elsewhere */
	int ret;
};

static struct ring_thread rt[MAX_RINGS];
static int nr_rings = 4;
static unsigned long long per_ring;	/* requests each ring submits */
static unsigned int window = 256;
static int all_to_all;
static int tolerant;			/* -f */
static pthread_barrier_t barrier;
static _Atomic int failed;
/* [src][seq] bitmap of the requests whose CQE was seen, on any ring */
static _Atomic unsigned char *seen;
/* CQEs seen, on any ring */
static _Atomic unsigned long long accounted;
static _Atomic unsigned long long setup_retries;

/* -f: a request failed by an allocation failure */
static int alloc_failure(int res)
{
	return tolerant && (res == -ENOMEM || res == -EAGAIN);
}

/* CQEs the kernel dropped for lack of an overflow entry, on every ring */
static unsigned long long dropped(void)
{
	unsigned long long n = 0;
	int i;

	for (i = 0; i < nr_rings; i++)
		n += IO_URING_READ_ONCE(*rt[i].ring.cq.koverflow);
	return n;
}

/* requests accounted for: a CQE seen, or (-f) counted as dropped */
static unsigned long long done(void)
{
	unsigned long long n = atomic_load_explicit(&accounted,
						    memory_order_relaxed);

	return tolerant ? n + dropped() : n;
}

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
	int ok, failed_req;

	ok = src < (unsigned long long)nr_rings && seq < per_ring &&
	     !cqe->flags;
	/* as submitted, on its target */
	failed_req = ok && alloc_failure(cqe->res) &&
		     (target_of(src, seq) == t->idx || (int)src == t->idx);
	if (!ok || (!failed_req && (target_of(src, seq) != t->idx ||
				    cqe->res != (int)(seq & 0xffff)))) {
		fprintf(stderr, "ring %d: bad CQE ud=0x%llx res=%d flags=0x%x\n",
			t->idx, (unsigned long long)cqe->user_data, cqe->res,
			cqe->flags);
		t->bad++;
		return -1;
	}
	bit = src * per_ring + seq;
	if (atomic_fetch_or_explicit(&seen[bit / 8], 1U << (bit % 8),
				     memory_order_relaxed) & (1U << (bit % 8))) {
		fprintf(stderr, "ring %d: duplicate CQE src %llu seq %llu res %d\n",
			t->idx, src, seq, cqe->res);
		t->bad++;
		return -1;
	}
	if (failed_req)
		t->errors++;
	else
		t->received++;
	atomic_fetch_add_explicit(&accounted, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rt[src].acked, 1, memory_order_relaxed);
	return 0;
}

/* -f: retry what an injected allocation failure may fail */
static int retryable(int ret)
{
	return tolerant && (ret == -ENOMEM || ret == -EAGAIN);
}

static void *ring_fn(void *data)
{
	struct ring_thread *t = data;
	struct __kernel_timespec ts = { .tv_nsec = 1000000 };
	unsigned long long sent = 0;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	time_t last_progress = time(NULL);
	unsigned long long last_done = 0, last_ack = 0, total;
	unsigned int head, n;
	int ret, tries = 0;

	/* enabling makes this thread the submitter task (DEFER_TASKRUN) */
	for (;;) {
		t->ret = io_uring_enable_rings(&t->ring);
		if (!retryable(t->ret) || ++tries == 1000)
			break;
		setup_retries++;
	}
	pthread_barrier_wait(&barrier);
	if (t->ret) {
		fprintf(stderr, "ring %d: enable: %s\n", t->idx,
			strerror(-t->ret));
		failed = 1;
		goto out;
	}
	total = per_ring * nr_rings;
	/* all threads reap until every request is accounted for */
	while (!failed && (sent < per_ring || done() < total)) {
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
		/* -EBADR: the CQ dropped a CQE (-f accepts it if counted) */
		if (ret < 0 && ret != -ETIME && ret != -EINTR &&
		    ret != -EAGAIN && ret != -EBUSY && !retryable(ret) &&
		    !(tolerant && ret == -EBADR)) {
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
		if (done() != last_done || acked != last_ack) {
			last_done = done();
			last_ack = acked;
			last_progress = time(NULL);
		} else if (time(NULL) - last_progress > 20) {
			fprintf(stderr, "ring %d: stalled: sent %llu acked %llu received %llu/%llu; %llu/%llu requests accounted for\n",
				t->idx, sent, acked, t->received, t->expected,
				done(), total);
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
	unsigned long long total = 1000000, got = 0, bad = 0, errors = 0;
	unsigned long long missing = 0, drops, b;
	const char *mode = "mixed";
	struct timespec t0, t1;
	double secs;
	int opt, i, ret;

	while ((opt = getopt(argc, argv, "r:n:m:aw:f")) != -1) {
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
		case 'f':
			tolerant = 1;
			break;
		default:
			fprintf(stderr, "usage: %s [-r rings] [-n total] [-m plain|defer|mixed|sqpoll] [-a] [-w window] [-f]\n",
				argv[0]);
			return T_EXIT_FAIL;
		}
	}
	if (nr_rings < 2 || nr_rings > MAX_RINGS || !window || total < 1) {
		fprintf(stderr, "bad arguments\n");
		return T_EXIT_FAIL;
	}
	ret = cqe_target_supported_retry(tolerant);
	if (ret)
		return ret;

	per_ring = (total + nr_rings - 1) / nr_rings;
	seen = calloc((nr_rings * per_ring + 7) / 8, 1);
	if (!seen) {
		fprintf(stderr, "out of memory\n");
		return T_EXIT_FAIL;
	}
	for (i = 0; i < nr_rings; i++) {
		unsigned long long s;
		int tries = 0;

		rt[i].idx = i;
		for (;;) {
			struct io_uring_params p = {
				.flags = mode_flags(mode, i) |
					 IORING_SETUP_R_DISABLED,
			};

			ret = io_uring_queue_init_params(128, &rt[i].ring, &p);
			if (!retryable(ret) || ++tries == 1000)
				break;
			setup_retries++;
		}
		if (ret) {
			fprintf(stderr, "ring %d setup: %s\n", i, strerror(-ret));
			return T_EXIT_FAIL;
		}
		for (s = 0; s < per_ring; s++)
			rt[target_of(i, s)].expected++;
	}
	printf("rings %d mode %s%s, %llu requests per ring, %llu cross-ring CQEs%s\n",
	       nr_rings, mode, all_to_all ? " all-to-all" : " cycle",
	       per_ring, per_ring * nr_rings,
	       tolerant ? ", fault tolerant (-f)" : "");
	fflush(stdout);

	pthread_barrier_init(&barrier, NULL, nr_rings);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nr_rings; i++)
		pthread_create(&rt[i].thr, NULL, ring_fn, &rt[i]);
	for (i = 0; i < nr_rings; i++)
		pthread_join(rt[i].thr, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

	drops = dropped();
	for (b = 0; b < per_ring * nr_rings; b++)
		if (!(seen[b / 8] & (1U << (b % 8))))
			missing++;
	for (i = 0; i < nr_rings; i++) {
		if (tolerant)
			printf("ring %d: received %llu as submitted and %llu failed (-ENOMEM/-EAGAIN), bad %llu, %u dropped\n",
			       i, rt[i].received, rt[i].errors, rt[i].bad,
			       *rt[i].ring.cq.koverflow);
		else
			printf("ring %d: received %llu/%llu bad %llu\n", i,
			       rt[i].received, rt[i].expected, rt[i].bad);
		got += rt[i].received;
		errors += rt[i].errors;
		bad += rt[i].bad;
		if ((!tolerant && rt[i].received != rt[i].expected) ||
		    rt[i].ret)
			failed = 1;
		io_uring_queue_exit(&rt[i].ring);
	}
	/*
	 * A request without a CQE must be one the kernel counted as dropped
	 * (-f), one for one; without -f none may be missing.
	 */
	if (missing != (tolerant ? drops : 0))
		failed = 1;
	free(seen);
	if (tolerant)
		printf("%llu/%llu requests accounted for: %llu CQEs as submitted, %llu failed with -ENOMEM/-EAGAIN, %llu without a CQE (%llu counted as dropped by the kernel), %llu bad/duplicated; %llu setup retries; %.2fs: %s\n",
		       got + errors + drops, per_ring * nr_rings, got, errors,
		       missing, drops, bad,
		       (unsigned long long)setup_retries, secs,
		       failed || bad ? "FAIL" : "PASS");
	else
		printf("%llu/%llu CQEs, %llu lost, %llu bad/duplicated, %.2fs, %.0f CQEs/s: %s\n",
		       got, per_ring * nr_rings, per_ring * nr_rings - got, bad, secs,
		       got / (secs > 0 ? secs : 1), failed || bad ? "FAIL" : "PASS");
	return failed || bad ? T_EXIT_FAIL : T_EXIT_PASS;
}
