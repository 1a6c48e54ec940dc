/* SPDX-License-Identifier: MIT */
/*
 * Description: the kernel reads an SQE's IOSQE_CQE_TARGET flag once.
 *
 * With the flag, sqe bytes 56..63 are the target ring's fd; without it
 * they are attr_type_mask (READ/WRITE, 7.3) or a reserved __pad2[0] that
 * must be zero (TIMEOUT). io_init_req() reads sqe->flags and decides
 * whether the request is targeted; if the opcode's prep then read
 * sqe->flags again, a second thread flipping the flag in between would get
 * a targeted request whose prep treats the fd as attributes (-EINVAL on
 * the target), or a plain request whose prep skips the check of non-zero
 * bytes (a read or timeout accepted with garbage there).
 *
 * A thread flips the flag of the ring's only SQE slot without pause while
 * the main thread submits requests with the target fd in bytes 56..63 (and
 * the flag set on every other one). The only correct outcomes, per request:
 * - the flag was seen: the request's CQE arrives on the target with the
 *   opcode's normal result (READ: the length, TIMEOUT: -ETIME);
 * - it was not: bytes 56..63 are non-zero attributes or padding, and the
 *   request fails with -EINVAL on the submitting ring.
 * Anything else is a double fetch. Cases: read (needs IORING_FEAT_RW_ATTR),
 * timeout. Each runs ITERATIONS requests, or RUN_MS, whichever ends first.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <liburing.h>

#include "helpers.h"
#include "cqe-target.h"
#include "cqe-target-proc.h"

#ifndef IORING_FEAT_RW_ATTR
#define IORING_FEAT_RW_ATTR	(1U << 16)
#endif

#define ITERATIONS	200000
#define RUN_MS		4000
#define READ_LEN	64

struct flipper {
	struct io_uring_sqe *sqe;
	atomic_int stop;
	unsigned long flips;
};

static void *flip_flag(void *arg)
{
	struct flipper *f = arg;
	volatile uint8_t *flags = &f->sqe->flags;
	unsigned long flips = 0;

	while (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
		*flags ^= IOSQE_CQE_TARGET;
		flips++;
	}
	f->flips = flips;
	return NULL;
}

struct outcome {
	unsigned int targeted, refused, wrong;
};

/* @cqe arrived on the target (@on_target) or on the source */
static int judge(const struct io_uring_cqe *cqe, int on_target, int good_res,
		 struct outcome *o, const char *name)
{
	if (on_target && cqe->res == good_res) {
		o->targeted++;
		return 0;
	}
	if (!on_target && cqe->res == -EINVAL) {
		o->refused++;
		return 0;
	}
	if (!o->wrong++)
		fprintf(stderr, "%s: CQE res %d on the %s ring: the flag was read twice\n",
			name, cqe->res, on_target ? "target" : "submitting");
	return -1;
}

/* wait for the one CQE of the request just submitted, on either ring */
static int reap_one(struct io_uring *src, struct io_uring *target,
		    int good_res, struct outcome *o, const char *name)
{
	struct io_uring_cqe cqe;
	int waited;

	for (waited = 0; waited < 5000; waited++) {
		if (!get_cqe_ms(src, 0, &cqe))
			return judge(&cqe, 0, good_res, o, name) ? 1 : 0;
		if (!get_cqe_ms(target, 1, &cqe))
			return judge(&cqe, 1, good_res, o, name) ? 1 : 0;
	}
	fprintf(stderr, "%s: no CQE on either ring after 5 s\n", name);
	return -1;
}

typedef void (*prep_fn)(struct io_uring_sqe *sqe, void *arg);

static int race(const char *name, prep_fn prep, void *arg, int good_res)
{
	struct outcome o = { 0 };
	struct io_uring src, target;
	struct flipper f = { 0 };
	pthread_t thread;
	unsigned int i;
	int32_t fd;
	long long start;
	int ret;

	/* one SQE slot: every request is written into the slot being flipped */
	ret = init_ring(&src, 1, 0);
	CHECK(!ret, "source ring: %s", strerror(-ret));
	ret = init_ring(&target, 64, 0);
	CHECK(!ret, "target ring: %s", strerror(-ret));
	fd = target.ring_fd;
	f.sqe = &src.sq.sqes[0];
	pthread_create(&thread, NULL, flip_flag, &f);
	start = now_ms();
	for (i = 0; i < ITERATIONS && now_ms() - start < RUN_MS; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&src);

		prep(sqe, arg);
		sqe->user_data = i;
		/* half flagged, half not, should the flipper not get to run */
		sqe->flags = i & 1 ? IOSQE_CQE_TARGET : 0;
		/* bytes 56..63: the target fd, then four reserved zero bytes */
		memcpy((char *)sqe + 56, &fd, sizeof(fd));
		memset((char *)sqe + 60, 0, 4);
		ret = io_uring_submit(&src);
		if (ret != 1) {
			fprintf(stderr, "%s: submit: %d\n", name, ret);
			break;
		}
		ret = reap_one(&src, &target, good_res, &o, name);
		if (ret < 0)
			break;
	}
	atomic_store(&f.stop, 1);
	pthread_join(thread, NULL);
	rings_exit(&src, &target);
	printf("%s: %u requests in %lld ms, %lu flips: %u targeted, %u refused, %u wrong\n",
	       name, i, now_ms() - start, f.flips, o.targeted, o.refused, o.wrong);
	CHECK(ret >= 0, "a request got lost or submission failed");
	CHECK(!o.wrong, "%u requests saw the flag twice, differently", o.wrong);
	CHECK(o.targeted && o.refused, "one kind of outcome never happened");
	/* not a failure: a starved flipper makes the run weaker, not wrong */
	if (f.flips < i)
		printf("%s: note: fewer flips than requests, the race was rarely tried\n",
		       name);
	return T_EXIT_PASS;
}

static int zero_fd = -1;
static char read_buf[READ_LEN];

static void prep_read(struct io_uring_sqe *sqe, void *arg)
{
	io_uring_prep_read(sqe, zero_fd, read_buf, READ_LEN, 0);
}

static void prep_timeout(struct io_uring_sqe *sqe, void *arg)
{
	io_uring_prep_timeout(sqe, arg, 0, 0);
}

static int test_read(void)
{
	struct io_uring_params p = { 0 };
	struct io_uring ring;
	int ret;

	ret = io_uring_queue_init_params(1, &ring, &p);
	CHECK(!ret, "probe ring: %s", strerror(-ret));
	io_uring_queue_exit(&ring);
	if (!(p.features & IORING_FEAT_RW_ATTR)) {
		printf("SKIP: no IORING_FEAT_RW_ATTR: bytes 56..63 of a read are padding\n");
		return T_EXIT_SKIP;
	}
	zero_fd = open("/dev/zero", O_RDONLY);
	CHECK(zero_fd >= 0, "open /dev/zero: %s", strerror(errno));
	ret = race("read", prep_read, NULL, READ_LEN);
	close(zero_fd);
	return ret;
}

static int test_timeout(void)
{
	struct __kernel_timespec ts = { .tv_nsec = 1000 };

	return race("timeout", prep_timeout, &ts, -ETIME);
}

static const struct t_case cases[] = {
	{ "read", test_read },
	{ "timeout", test_timeout },
};

int main(int argc, char *argv[])
{
	int ret = cqe_target_supported();

	if (ret)
		return ret;
	return run_cases(cases, T_ARRAY_SIZE(cases), argc, argv);
}
