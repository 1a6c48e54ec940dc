/* SPDX-License-Identifier: MIT */
/*
 * Description: the kernel must not write to IORING_SETUP_NO_MMAP ring memory
 * after the ring has been released.
 *
 * With NO_MMAP the SQ/CQ rings and the SQEs live in memory the application
 * passed to io_uring_setup(). Once io_uring_queue_exit() (close of the ring
 * fd) has returned, nothing tells the application when the kernel's exit
 * work has finished, so the memory must be the application's again. Linux
 * 6.12's io_ring_ctx_free() dropped leftover overflow entries through the
 * CQ flush path, which stored the CQ tail and cleared IORING_SQ_CQ_OVERFLOW
 * in the rings from the exit work, after close, even when nothing had
 * overflowed (fixed by kernel-patches/fixes/0001). Cases:
 *
 * - idle, cqe32: a ring that posted and reaped some CQEs is closed, its
 *   memory filled with a pattern at once; the pattern must stay intact
 * - overflow: closed with CQEs still on the overflow list (dropped)
 * - reuse: a new ring set up in the same memory right after the close must
 *   keep exactly its own CQ tail and CQEs
 *
 * The exit work runs from a workqueue after an RCU grace period, usually
 * within milliseconds; each case watches the memory for WATCH_MS.
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

#define MEM_SIZE	(64 * 1024)
#define PATTERN		0x5a
#define WATCH_MS	1000

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* 0 = set up, 77 = kernel has no NO_MMAP (before 6.5), else fail */
static int setup(struct io_uring *ring, void *mem, unsigned entries,
		 unsigned cq_entries, unsigned flags)
{
	struct io_uring_params p;
	int ret;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_NO_MMAP | flags;
	if (cq_entries) {
		p.flags |= IORING_SETUP_CQSIZE;
		p.cq_entries = cq_entries;
	}
	ret = io_uring_queue_init_mem(entries, ring, &p, mem, MEM_SIZE);
	if (ret == -EINVAL && !(flags & IORING_SETUP_CQE32))
		return T_EXIT_SKIP;
	if (ret < 0) {
		fprintf(stderr, "io_uring_queue_init_mem(flags 0x%x): %s\n",
			p.flags, strerror(-ret));
		return T_EXIT_FAIL;
	}
	return 0;
}

/* Submit n NOPs with user_data base..base+n-1; returns 0 or -1. */
static int submit_nops(struct io_uring *ring, unsigned n, uint64_t base)
{
	unsigned i;
	int ret;

	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		if (!sqe) {
			ret = io_uring_submit(ring);
			if (ret < 0)
				goto err;
			sqe = io_uring_get_sqe(ring);
		}
		io_uring_prep_nop(sqe);
		sqe->user_data = base + i;
	}
	ret = io_uring_submit(ring);
	if (ret >= 0)
		return 0;
err:
	fprintf(stderr, "io_uring_submit: %s\n", strerror(-ret));
	return -1;
}

/* Reap exactly n CQEs with user_data base..base+n-1 in order. */
static int reap_nops(struct io_uring *ring, unsigned n, uint64_t base)
{
	struct io_uring_cqe *cqe;
	unsigned i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = io_uring_wait_cqe(ring, &cqe);
		if (ret) {
			fprintf(stderr, "wait cqe %u: %s\n", i, strerror(-ret));
			return -1;
		}
		if (cqe->user_data != base + i || cqe->res) {
			fprintf(stderr, "cqe %u: user_data %llu res %d, want %llu 0\n",
				i, (unsigned long long)cqe->user_data, cqe->res,
				(unsigned long long)(base + i));
			return -1;
		}
		io_uring_cqe_seen(ring, cqe);
	}
	return 0;
}

/* Watch the pattern for WATCH_MS after the close; report the first change. */
static int watch_pattern(const char *name, const unsigned char *mem,
			 const unsigned char *rings, double closed_at)
{
	while (now_ms() - closed_at < WATCH_MS) {
		const unsigned char *c;

		for (c = mem; c < mem + MEM_SIZE; c++) {
			if (*c == PATTERN)
				continue;
			fprintf(stderr, "%s: the kernel wrote 0x%02x at offset %zd from the "
				"start of the released rings (%.1f ms after close)\n",
				name, *c, (ssize_t)(c - rings), now_ms() - closed_at);
			return T_EXIT_FAIL;
		}
		sleep_ms(5);
	}
	return T_EXIT_PASS;
}

/*
 * Post and reap some CQEs (and, with overflow set, leave CQEs on the
 * overflow list), close, fill the memory with the pattern and watch it.
 */
static int test_closed(const char *name, unsigned char *mem, unsigned flags,
		       int overflow)
{
	struct io_uring ring;
	double closed_at;
	unsigned char *rings;
	int ret;

	memset(mem, 0, MEM_SIZE);
	ret = setup(&ring, mem, 8, 16, flags);
	if (ret)
		return ret;
	rings = ring.cq.ring_ptr;
	if (submit_nops(&ring, 100, 0) || reap_nops(&ring, 100, 0))
		goto fail;
	if (overflow) {
		/* 40 NOPs into a 16-entry CQ: 24 wait on the overflow list */
		if (submit_nops(&ring, 40, 100))
			goto fail;
		if (!(IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW)) {
			fprintf(stderr, "%s: CQ did not overflow\n", name);
			goto fail;
		}
	}
	io_uring_queue_exit(&ring);
	closed_at = now_ms();
	memset(mem, PATTERN, MEM_SIZE);
	return watch_pattern(name, mem, rings, closed_at);
fail:
	io_uring_queue_exit(&ring);
	return T_EXIT_FAIL;
}

/*
 * What an application reusing its memory sees: close a ring that posted
 * many CQEs and set a new one up in the same memory at once. The new ring's
 * tail must only ever move by its own completions.
 */
static int test_reuse(unsigned char *mem)
{
	struct io_uring old, ring;
	double closed_at;
	unsigned tail;
	int ret;

	memset(mem, 0, MEM_SIZE);
	ret = setup(&old, mem, 8, 16, 0);
	if (ret)
		return ret;
	if (submit_nops(&old, 1000, 0) || reap_nops(&old, 1000, 0)) {
		io_uring_queue_exit(&old);
		return T_EXIT_FAIL;
	}
	io_uring_queue_exit(&old);
	closed_at = now_ms();
	memset(mem, 0, MEM_SIZE);
	ret = setup(&ring, mem, 8, 16, 0);
	if (ret)
		return ret == T_EXIT_SKIP ? T_EXIT_FAIL : ret;
	if (submit_nops(&ring, 4, 5000) || reap_nops(&ring, 4, 5000))
		goto fail;
	while (now_ms() - closed_at < WATCH_MS) {
		tail = IO_URING_READ_ONCE(*ring.cq.ktail);
		if (tail != 4) {
			fprintf(stderr, "reuse: the new ring's CQ tail is %u, it posted 4 "
				"(the old ring posted 1000); %.1f ms after the old ring's close\n",
				tail, now_ms() - closed_at);
			goto fail;
		}
		sleep_ms(5);
	}
	if (submit_nops(&ring, 8, 6000) || reap_nops(&ring, 8, 6000))
		goto fail;
	io_uring_queue_exit(&ring);
	return T_EXIT_PASS;
fail:
	io_uring_queue_exit(&ring);
	return T_EXIT_FAIL;
}

int main(int argc, char *argv[])
{
	unsigned char *mem;
	int ret;

	if (argc > 1)
		return T_EXIT_SKIP;
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return T_EXIT_FAIL;
	}

	ret = test_closed("idle", mem, 0, 0);
	if (ret == T_EXIT_SKIP) {
		fprintf(stderr, "skip: kernel without IORING_SETUP_NO_MMAP\n");
		return T_EXIT_SKIP;
	}
	if (ret)
		return ret;
	ret = test_closed("cqe32", mem, IORING_SETUP_CQE32, 0);
	if (ret)
		return ret;
	ret = test_closed("overflow", mem, 0, 1);
	if (ret)
		return ret;
	ret = test_reuse(mem);
	if (ret)
		return ret;
	munmap(mem, MEM_SIZE);
	return T_EXIT_PASS;
}
