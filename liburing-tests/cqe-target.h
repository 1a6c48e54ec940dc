/* SPDX-License-Identifier: MIT */
/*
 * Shared bits of the IOSQE_CQE_TARGET (cross-ring completion) tests.
 * They build against a liburing with or without the cqe-target patch.
 */
#ifndef CQE_TARGET_H
#define CQE_TARGET_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <liburing.h>

#include "helpers.h"

#ifndef IORING_FEAT_CQE_TARGET
/* liburing without the cqe-target patch: same ABI, spelled out */
#define IORING_FEAT_CQE_TARGET	(1U << 19)
#define IOSQE_CQE_TARGET	(1U << 7)
static inline void io_uring_sqe_set_cqe_target(struct io_uring_sqe *sqe,
					       int target_ring_fd)
{
	int32_t v = target_ring_fd;

	memcpy((char *)sqe + 56, &v, sizeof(v));
	sqe->flags |= IOSQE_CQE_TARGET;
}
#endif

#ifndef IORING_NOP_INJECT_RESULT
#define IORING_NOP_INJECT_RESULT	(1U << 0)
#endif

/* a NOP completing with @res (6.12: IORING_NOP_INJECT_RESULT) */
static inline struct io_uring_sqe *prep_nop_res(struct io_uring *ring,
						uint64_t ud, int res)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	io_uring_prep_nop(sqe);
	sqe->nop_flags = IORING_NOP_INJECT_RESULT;
	sqe->len = (unsigned int)res;
	sqe->user_data = ud;
	return sqe;
}

/*
 * 0 if the running kernel supports IOSQE_CQE_TARGET, else T_EXIT_SKIP with
 * the reason printed. Checks the feature bit and that the flag isn't
 * refused with -EINVAL.
 */
static inline int cqe_target_supported(void)
{
	struct io_uring_params p = { };
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int ret;

	ret = io_uring_queue_init_params(8, &ring, &p);
	if (ret) {
		printf("SKIP: io_uring_queue_init: %s\n", strerror(-ret));
		return T_EXIT_SKIP;
	}
	/* targeting the submitting ring is a plain local completion */
	sqe = prep_nop_res(&ring, 1, 0);
	io_uring_sqe_set_cqe_target(sqe, ring.ring_fd);
	io_uring_submit(&ring);
	ret = io_uring_wait_cqe(&ring, &cqe);
	if (!ret) {
		ret = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	if (!(p.features & IORING_FEAT_CQE_TARGET) || ret == -EINVAL) {
		printf("SKIP: no IOSQE_CQE_TARGET: IORING_FEAT_CQE_TARGET %s (features 0x%x), flag probe res %d\n",
		       p.features & IORING_FEAT_CQE_TARGET ? "set" : "missing",
		       p.features, ret);
		return T_EXIT_SKIP;
	}
	if (ret) {
		printf("FAIL: probe NOP completed with %d\n", ret);
		return T_EXIT_FAIL;
	}
	return 0;
}

/*
 * cqe_target_supported(), retried up to 100 times when @tolerant: under
 * fault injection (-f) the probe's own ring setup or NOP may fail with an
 * injected -ENOMEM (SKIP or FAIL); a kernel without the feature skips
 * every time.
 */
static inline int cqe_target_supported_retry(int tolerant)
{
	int i, ret = cqe_target_supported();

	for (i = 0; tolerant && ret && i < 100; i++)
		ret = cqe_target_supported();
	return ret;
}

/* active io_kiocb objects (requests and CQE carriers), -1 without /proc/slabinfo */
static inline long io_kiocb_active(void)
{
	char line[512];
	long active = -1;
	FILE *f = fopen("/proc/slabinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "io_kiocb %ld", &active) == 1)
			break;
	fclose(f);
	return active;
}

/* wait up to @ms for a CQE on @ring, copy it out and mark it seen */
static inline int get_cqe_ms(struct io_uring *ring, int ms,
			     struct io_uring_cqe *out)
{
	struct __kernel_timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (ms % 1000) * 1000000LL,
	};
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	if (ret)
		return ret;
	*out = *cqe;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

#endif
