/* SPDX-License-Identifier: MIT */
/*
 * nop-cost: guest time per plain IORING_OP_NOP, through raw syscalls only
 * (no liburing, no flags), for comparing kernels under QEMU -icount, where
 * guest time counts instructions. Submits NOPs in batches of BATCH with one
 * io_uring_enter(to_submit = BATCH, min_complete = BATCH, GETEVENTS) per
 * batch and reaps them from the mapped CQ, so a batch of 1 prices the
 * syscall entry as much as the request.
 *
 * Prints one line per repetition and a summary line
 *   nop-cost batch=B nops=N best_ns_per_nop=X median_ns_per_nop=Y
 * Exit: 0 done, 1 a syscall failed or a CQE was wrong.
 *
 * Usage: nop-cost BATCH NOPS [REPEATS]
 */
#include <errno.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct ring {
	int fd;
	unsigned int sq_mask, cq_mask;
	unsigned int *sq_tail, *sq_array, *cq_head, *cq_tail;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static int ring_setup(struct ring *r, unsigned int entries)
{
	struct io_uring_params p;
	void *sq, *cq;
	size_t sq_len, cq_len;

	memset(&p, 0, sizeof(p));
	r->fd = syscall(__NR_io_uring_setup, entries, &p);
	if (r->fd < 0)
		return -errno;
	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		  r->fd, IORING_OFF_SQ_RING);
	cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		  r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe),
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		       IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED)
		return -errno;
	r->sq_mask = *(unsigned int *)((char *)sq + p.sq_off.ring_mask);
	r->sq_tail = (unsigned int *)((char *)sq + p.sq_off.tail);
	r->sq_array = (unsigned int *)((char *)sq + p.sq_off.array);
	r->cq_mask = *(unsigned int *)((char *)cq + p.cq_off.ring_mask);
	r->cq_head = (unsigned int *)((char *)cq + p.cq_off.head);
	r->cq_tail = (unsigned int *)((char *)cq + p.cq_off.tail);
	r->cqes = (struct io_uring_cqe *)((char *)cq + p.cq_off.cqes);
	return 0;
}

/* one batch: queue @batch NOPs, enter once, reap and check them */
static int nop_batch(struct ring *r, unsigned int batch, uint64_t *ud)
{
	unsigned int tail = *r->sq_tail, head, i;
	int ret;

	for (i = 0; i < batch; i++, tail++) {
		struct io_uring_sqe *sqe = &r->sqes[tail & r->sq_mask];

		memset(sqe, 0, sizeof(*sqe));
		sqe->opcode = IORING_OP_NOP;
		sqe->user_data = ++*ud;
		r->sq_array[tail & r->sq_mask] = tail & r->sq_mask;
	}
	__atomic_store_n(r->sq_tail, tail, __ATOMIC_RELEASE);
	ret = syscall(__NR_io_uring_enter, r->fd, batch, batch,
		      IORING_ENTER_GETEVENTS, NULL, 0);
	if (ret != (int)batch)
		return ret < 0 ? -errno : -EIO;
	head = *r->cq_head;
	if (__atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE) - head != batch)
		return -EIO;
	for (i = 0; i < batch; i++, head++) {
		struct io_uring_cqe *cqe = &r->cqes[head & r->cq_mask];

		if (cqe->res || cqe->user_data != *ud - batch + 1 + i)
			return -EIO;
	}
	__atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
	return 0;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char *argv[])
{
	unsigned int batch, nops, repeats = 5, rep, done;
	double per_nop[32], start;
	struct ring r;
	uint64_t ud = 0;
	int ret;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: nop-cost BATCH NOPS [REPEATS]\n");
		return 2;
	}
	batch = strtoul(argv[1], NULL, 10);
	nops = strtoul(argv[2], NULL, 10);
	if (argc == 4)
		repeats = strtoul(argv[3], NULL, 10);
	if (batch < 1 || batch > 256 || nops < batch || repeats < 1 ||
	    repeats > 32) {
		fprintf(stderr, "nop-cost: need 1 <= BATCH <= 256, NOPS >= BATCH, 1 <= REPEATS <= 32\n");
		return 2;
	}
	nops -= nops % batch;
	ret = ring_setup(&r, 256);
	if (ret) {
		fprintf(stderr, "nop-cost: ring setup: %s\n", strerror(-ret));
		return 1;
	}
	/* warm up caches and the request allocator */
	for (done = 0; done < nops / 10 + batch; done += batch)
		if ((ret = nop_batch(&r, batch, &ud)))
			goto fail;
	for (rep = 0; rep < repeats; rep++) {
		start = now_ns();
		for (done = 0; done < nops; done += batch)
			if ((ret = nop_batch(&r, batch, &ud)))
				goto fail;
		per_nop[rep] = (now_ns() - start) / nops;
		printf("nop-cost rep=%u batch=%u ns_per_nop=%.2f\n", rep, batch,
		       per_nop[rep]);
	}
	qsort(per_nop, repeats, sizeof(per_nop[0]), cmp_double);
	printf("nop-cost batch=%u nops=%u best_ns_per_nop=%.2f median_ns_per_nop=%.2f\n",
	       batch, nops, per_nop[0], per_nop[repeats / 2]);
	return 0;
fail:
	fprintf(stderr, "nop-cost: batch failed: %s\n", strerror(-ret));
	return 1;
}
