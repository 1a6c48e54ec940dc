/* SPDX-License-Identifier: MIT */
/*
 * Description: a closed IORING_SETUP_NO_MMAP | DEFER_TASKRUN target ring
 * gets no CQEs written into its memory after close() has returned.
 *
 * CQEs for a DEFER_TASKRUN target wait in its task_work until its task
 * enters the kernel; they hold the target's ->refs, not its file, so the
 * target can be closed with them still queued. Its teardown then runs that
 * task_work. With NO_MMAP the rings are memory the application owns again
 * once close() has returned, and nobody can reap those CQEs anymore, so
 * they must be dropped, not posted (MSG_RING's remote posts, in 7.3.4,
 * still post them). Cases:
 *
 * - queued:   NOPs on the source complete at once; their CQEs sit in the
 *             idle target's task_work when the target is closed
 * - inflight: a 50 ms timeout on the source targets the ring, which is
 *             closed at once; the request holds the target's file until it
 *             completes, then its CQE is queued to the dying target
 *
 * Each case copies the target's memory before close() and watches it for
 * WATCH_MS after; no byte may change, and the source ring must see none of
 * the CQEs (they were the target's). A plain (not DEFER_TASKRUN) target is kept
 * alive by a request targeting it and gets its CQE posted even after
 * close(), like a ring's own requests in flight (the NO_MMAP fix's rule:
 * keep the memory until they have completed); that is not tested here.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <liburing.h>

#include "helpers.h"
#include "cqe-target.h"
#include "cqe-target-proc.h"

#define MEM_SIZE	(64 * 1024)
#define WATCH_MS	1000
#define NR_QUEUED	16

/* the target's rings, and what they held before close() */
static unsigned char *mem, copy[MEM_SIZE];

/* the idle target: DEFER_TASKRUN in the application's memory */
static int setup_target(struct io_uring *ring)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_NO_MMAP | IORING_SETUP_DEFER_TASKRUN |
			 IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_CQSIZE,
		.cq_entries = 64,
	};
	int ret;

	memset(mem, 0, MEM_SIZE);
	ret = io_uring_queue_init_mem(8, ring, &p, mem, MEM_SIZE);
	if (ret == -EINVAL) {
		printf("SKIP: no NO_MMAP | DEFER_TASKRUN rings\n");
		return T_EXIT_SKIP;
	}
	/* the bytes of @mem used on success */
	CHECK(ret >= 0, "io_uring_queue_init_mem: %s", strerror(-ret));
	return 0;
}

/*
 * Close the target and watch its memory for WATCH_MS: every byte must stay
 * as it was before close(). Comparing with a copy rather than filling the
 * memory after close() also catches a write that lands right after close()
 * returned, before a fill would have hidden it.
 */
static int close_and_watch(const char *name, struct io_uring *target)
{
	unsigned char *rings = target->cq.ring_ptr;
	long long closed_at;
	size_t off;

	memcpy(copy, mem, MEM_SIZE);
	io_uring_queue_exit(target);
	closed_at = now_ms();
	while (now_ms() - closed_at < WATCH_MS) {
		for (off = 0; off < MEM_SIZE; off++) {
			if (mem[off] == copy[off])
				continue;
			fprintf(stderr, "%s: the kernel wrote 0x%02x over 0x%02x at offset %zd of the "
				"closed target's rings, %lld ms after close()\n",
				name, mem[off], copy[off], (ssize_t)(mem + off - rings),
				now_ms() - closed_at);
			return T_EXIT_FAIL;
		}
		sleep_ms(5);
	}
	return T_EXIT_PASS;
}

/* the source must not have got any CQE: every one was the target's */
static int source_empty(struct io_uring *src)
{
	struct io_uring_cqe *cqe;

	if (io_uring_peek_cqe(src, &cqe))
		return T_EXIT_PASS;
	fprintf(stderr, "source ring got a CQE: user_data %llu res %d\n",
		(unsigned long long)cqe->user_data, cqe->res);
	return T_EXIT_FAIL;
}

/* the idle target and a plain source ring of @entries SQEs */
static int setup_pair(struct io_uring *src, unsigned int entries,
		      struct io_uring *target)
{
	int ret = setup_target(target);

	if (ret)
		return ret;
	ret = init_ring(src, entries, 0);
	if (ret) {
		fprintf(stderr, "source ring: %s\n", strerror(-ret));
		io_uring_queue_exit(target);
		return T_EXIT_FAIL;
	}
	return 0;
}

/* close and watch the target, check the source got nothing, close it too */
static int finish_pair(const char *name, struct io_uring *src,
		       struct io_uring *target)
{
	int ret = close_and_watch(name, target);

	if (!ret)
		ret = source_empty(src);
	io_uring_queue_exit(src);
	return ret;
}

static int test_queued(void)
{
	struct io_uring src, target;
	unsigned int i;
	int ret;

	ret = setup_pair(&src, 32, &target);
	if (ret)
		return ret;
	for (i = 0; i < NR_QUEUED; i++)
		io_uring_sqe_set_cqe_target(prep_nop_res(&src, i + 1, 0),
					    target.ring_fd);
	ret = io_uring_submit(&src);
	CHECK(ret == NR_QUEUED, "submit: %d", ret);
	/* queued for the target's task, which has not entered the kernel */
	CHECK(*target.cq.ktail == 0, "target CQ tail %u before it entered",
	      *target.cq.ktail);
	return finish_pair("queued", &src, &target);
}

static int test_inflight(void)
{
	struct __kernel_timespec ts = { .tv_nsec = 50 * 1000000LL };
	struct io_uring src, target;
	struct io_uring_sqe *sqe;
	int ret;

	ret = setup_pair(&src, 8, &target);
	if (ret)
		return ret;
	sqe = io_uring_get_sqe(&src);
	io_uring_prep_timeout(sqe, &ts, 0, 0);
	sqe->user_data = 7;
	io_uring_sqe_set_cqe_target(sqe, target.ring_fd);
	ret = io_uring_submit(&src);
	CHECK(ret == 1, "submit: %d", ret);
	return finish_pair("inflight", &src, &target);
}

static const struct t_case cases[] = {
	{ "queued", test_queued },
	{ "inflight", test_inflight },
};

int main(int argc, char *argv[])
{
	int ret = cqe_target_supported();

	if (ret)
		return ret;
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return T_EXIT_FAIL;
	}
	ret = run_cases(cases, T_ARRAY_SIZE(cases), argc, argv);
	munmap(mem, MEM_SIZE);
	return ret;
}
