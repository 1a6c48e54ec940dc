/* SPDX-License-Identifier: MIT */
/*
 * IOSQE_CQE_TARGET, the decisions of its 7.3 port (docs/port-7.3.md):
 *
 *  rw-no-attr   bytes 56..63 are attr_type_mask for READ/WRITE; with the
 *               flag they are the target and mean "no attributes": a
 *               targeted READ/WRITE completes normally on the target, also
 *               when the target is the submitting ring itself.
 *  cqe-mixed    CQE sizes: a CQE_MIXED target gets 16-byte CQEs (never
 *               IORING_CQE_F_32), a CQE32 target zeroed extra words, a
 *               CQE_MIXED or CQE32 source sends to a plain target; a NOP
 *               asking for a 32-byte CQE (IORING_NOP_CQE32) with the flag is
 *               refused with -EINVAL on the submitting ring.
 *  new-ops      URING_CMD128 and RECV_ZC refuse the flag (-EINVAL on the
 *               submitting ring, nothing on the target); NOP128 on an
 *               SQE_MIXED ring and UNLINKAT (which checks __pad2) accept it.
 *  resize       a DEFER_TASKRUN target resized between targeted CQEs gets
 *               all of them; a targeted multishot-free NOP stream survives.
 *  sq-rewind    a source set up with IORING_SETUP_SQ_REWIND targets another
 *               ring.
 *
 * Skips (77) when the kernel lacks IOSQE_CQE_TARGET; a case skips when the
 * kernel lacks the 7.x facility it combines with (CQE_MIXED, SQE_MIXED,
 * RESIZE_RINGS, SQ_REWIND), e.g. on 6.12 with the series.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <liburing.h>

#include "cqe-target.h"

#ifndef IORING_SETUP_CQE_MIXED
#define IORING_SETUP_CQE_MIXED		(1U << 18)
#endif
#ifndef IORING_SETUP_SQE_MIXED
#define IORING_SETUP_SQE_MIXED		(1U << 19)
#endif
#ifndef IORING_SETUP_SQ_REWIND
#define IORING_SETUP_SQ_REWIND		(1U << 20)
#endif
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY		(1U << 16)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN	(1U << 13)
#endif
#ifndef IORING_CQE_F_32
#define IORING_CQE_F_32			(1U << 15)
#endif
#ifndef IORING_NOP_CQE32
#define IORING_NOP_CQE32		(1U << 5)
#endif
/* 7.3 opcode numbers, spelled out for older headers */
#define OP_RECV_ZC		58
#define OP_NOP128		63
#define OP_URING_CMD128		64

static unsigned int cq_tail(struct io_uring *ring)
{
	return __atomic_load_n(ring->cq.ktail, __ATOMIC_ACQUIRE);
}

/* no CQE on @ring within @ms */
static int no_cqe(struct io_uring *ring, int ms)
{
	struct io_uring_cqe cqe;

	return get_cqe_ms(ring, ms, &cqe) == -ETIME;
}

/* a CQE on @ring within 2s with @ud and @res */
static int expect_cqe(struct io_uring *ring, uint64_t ud, int res,
		      struct io_uring_cqe *out)
{
	struct io_uring_cqe cqe;
	int ret = get_cqe_ms(ring, 2000, &cqe);

	if (ret) {
		fprintf(stderr, "no CQE (ud %llu): %d\n",
			(unsigned long long)ud, ret);
		return 0;
	}
	if (out)
		*out = cqe;
	if (cqe.user_data != ud || cqe.res != res) {
		fprintf(stderr, "CQE ud %llu res %d, wanted ud %llu res %d\n",
			(unsigned long long)cqe.user_data, cqe.res,
			(unsigned long long)ud, res);
		return 0;
	}
	return 1;
}

/* ring with @flags, T_EXIT_SKIP with a message when the kernel lacks them */
static int ring_or_skip(struct io_uring *ring, unsigned int entries,
			unsigned int flags, const char *what)
{
	int ret = init_ring(ring, entries, flags);

	if (ret == -EINVAL) {
		printf("SKIP: no %s (setup flags 0x%x)\n", what, flags);
		return T_EXIT_SKIP;
	}
	if (ret) {
		fprintf(stderr, "setup %s: %s\n", what, strerror(-ret));
		return T_EXIT_FAIL;
	}
	return 0;
}

static int test_rw_no_attr(void)
{
	static const char data[] = "0123456789abcdef";
	struct io_uring src, dst;
	struct io_uring_sqe *sqe;
	char buf[16];
	int fd, ret;

	fd = memfd_create("cqe-target-73", 0);
	CHECK(fd >= 0, "memfd: %s", strerror(errno));
	CHECK(write(fd, data, 16) == 16, "write");
	CHECK(!init_ring(&src, 8, 0), "src");
	CHECK(!init_ring(&dst, 8, 0), "dst");

	/* READ to another ring: the target fd is not an attribute mask */
	memset(buf, 0, sizeof(buf));
	sqe = io_uring_get_sqe(&src);
	io_uring_prep_read(sqe, fd, buf, 16, 0);
	sqe->user_data = 1;
	io_uring_sqe_set_cqe_target(sqe, dst.ring_fd);
	ret = io_uring_submit(&src);
	CHECK(ret == 1, "submit %d", ret);
	CHECK(expect_cqe(&dst, 1, 16, NULL), "READ CQE on the target");
	CHECK(!memcmp(buf, data, 16), "READ data");
	CHECK(no_cqe(&src, 50), "READ CQE leaked to the source");

	/* WRITE, and READV, likewise */
	sqe = io_uring_get_sqe(&src);
	io_uring_prep_write(sqe, fd, data, 8, 16);
	sqe->user_data = 2;
	io_uring_sqe_set_cqe_target(sqe, dst.ring_fd);
	io_uring_submit(&src);
	CHECK(expect_cqe(&dst, 2, 8, NULL), "WRITE CQE on the target");

	/* the submitting ring as target: local, still no attributes */
	memset(buf, 0, sizeof(buf));
	sqe = io_uring_get_sqe(&src);
	io_uring_prep_read(sqe, fd, buf, 16, 0);
	sqe->user_data = 3;
	io_uring_sqe_set_cqe_target(sqe, src.ring_fd);
	io_uring_submit(&src);
	CHECK(expect_cqe(&src, 3, 16, NULL), "self-targeted READ");
	CHECK(!memcmp(buf, data, 16), "self-targeted READ data");

	/* non-zero bytes 60..63 are still refused, on the source */
	sqe = io_uring_get_sqe(&src);
	io_uring_prep_read(sqe, fd, buf, 16, 0);
	sqe->user_data = 4;
	io_uring_sqe_set_cqe_target(sqe, dst.ring_fd);
	((uint8_t *)sqe)[60] = 1;
	io_uring_submit(&src);
	CHECK(expect_cqe(&src, 4, -EINVAL, NULL), "bytes 60..63 set");
	CHECK(no_cqe(&dst, 50), "refused READ reached the target");

	rings_exit(&src, &dst);
	close(fd);
	return T_EXIT_PASS;
}

/* @n NOPs from @src to @dst; each arrives as one 16-byte entry */
static int mixed_pair(unsigned int src_flags, unsigned int dst_flags)
{
	struct io_uring src, dst;
	struct io_uring_cqe cqe;
	unsigned int tail;
	int i, ret;

	ret = ring_or_skip(&src, 8, src_flags, "CQE_MIXED/CQE32 source");
	if (ret)
		return ret;
	ret = ring_or_skip(&dst, 8, dst_flags, "CQE_MIXED/CQE32 target");
	if (ret) {
		io_uring_queue_exit(&src);
		return ret;
	}
	tail = cq_tail(&dst);
	for (i = 0; i < 4; i++) {
		struct io_uring_sqe *sqe = prep_nop_res(&src, 10 + i, 100 + i);

		io_uring_sqe_set_cqe_target(sqe, dst.ring_fd);
	}
	CHECK(io_uring_submit(&src) == 4, "submit");
	for (i = 0; i < 4; i++) {
		CHECK(expect_cqe(&dst, 10 + i, 100 + i, &cqe),
		      "CQE %d, src 0x%x dst 0x%x", i, src_flags, dst_flags);
		CHECK(!(cqe.flags & IORING_CQE_F_32), "F_32 set: 0x%x",
		      cqe.flags);
		if (dst_flags & IORING_SETUP_CQE32) {
			struct io_uring_cqe *c;

			/* peek the raw entry we just consumed */
			c = &dst.cq.cqes[((tail + i) & *dst.cq.kring_mask) << 1];
			CHECK(!c->big_cqe[0] && !c->big_cqe[1],
			      "extra words %llx %llx",
			      (unsigned long long)c->big_cqe[0],
			      (unsigned long long)c->big_cqe[1]);
		}
	}
	/* one CQ entry per CQE: 16-byte CQEs on a mixed target */
	CHECK(cq_tail(&dst) - tail == 4, "target tail moved by %u",
	      cq_tail(&dst) - tail);
	CHECK(no_cqe(&src, 50), "CQE leaked to the source");
	rings_exit(&src, &dst);
	return T_EXIT_PASS;
}

static int nop_cqe32_refused(unsigned int src_flags, unsigned int dst_flags)
{
	struct io_uring src, dst;
	struct io_uring_sqe *sqe;
	int ret;

	ret = ring_or_skip(&src, 8, src_flags, "CQE_MIXED source");
	if (ret)
		return ret;
	ret = ring_or_skip(&dst, 8, dst_flags, "CQE_MIXED target");
	if (ret) {
		io_uring_queue_exit(&src);
		return ret;
	}
	/* the kernel supports NOP CQE32 at all? */
	sqe = io_uring_get_sqe(&src);
	io_uring_prep_nop(sqe);
	sqe->nop_flags = IORING_NOP_CQE32;
	sqe->user_data = 1;
	io_uring_submit(&src);
	{
		struct io_uring_cqe c;

		CHECK(!get_cqe_ms(&src, 2000, &c), "local NOP CQE32");
		if (c.res == -EINVAL) {
			printf("SKIP: no IORING_NOP_CQE32\n");
			rings_exit(&src, &dst);
			return T_EXIT_SKIP;
		}
		/* a 32-byte local CQE on a mixed ring: skip its second half */
	}
	/* the same NOP targeted: refused on the source */
	sqe = io_uring_get_sqe(&src);
	io_uring_prep_nop(sqe);
	sqe->nop_flags = IORING_NOP_CQE32;
	sqe->user_data = 2;
	io_uring_sqe_set_cqe_target(sqe, dst.ring_fd);
	io_uring_submit(&src);
	{
		struct io_uring_cqe c;
		int i, found = 0;

		/* liburing 2.9 may not know mixed CQEs: scan a few entries */
		for (i = 0; i < 3 && !get_cqe_ms(&src, 1000, &c); i++)
			if (c.user_data == 2) {
				found = 1;
				CHECK(c.res == -EINVAL, "targeted NOP CQE32 res %d",
				      c.res);
				break;
			}
		CHECK(found, "no CQE for the targeted NOP CQE32");
	}
	CHECK(no_cqe(&dst, 50), "NOP CQE32 reached the target");
	rings_exit(&src, &dst);
	return T_EXIT_PASS;
}

static int test_cqe_mixed(void)
{
	static const struct { unsigned int s, d; } pairs[] = {
		{ 0, IORING_SETUP_CQE_MIXED },
		{ IORING_SETUP_CQE_MIXED, 0 },
		{ IORING_SETUP_CQE_MIXED, IORING_SETUP_CQE_MIXED },
		{ IORING_SETUP_CQE32, IORING_SETUP_CQE_MIXED },
		{ IORING_SETUP_CQE32, 0 },
		{ 0, IORING_SETUP_CQE32 },
		{ IORING_SETUP_CQE_MIXED, IORING_SETUP_CQE32 },
	};
	size_t i;
	int ret;

	for (i = 0; i < T_ARRAY_SIZE(pairs); i++) {
		ret = mixed_pair(pairs[i].s, pairs[i].d);
		if (ret)
			return ret;
	}
	ret = nop_cqe32_refused(IORING_SETUP_CQE_MIXED, 0);
	if (ret)
		return ret;
	ret = nop_cqe32_refused(IORING_SETUP_CQE_MIXED, IORING_SETUP_CQE_MIXED);
	if (ret)
		return ret;
	return nop_cqe32_refused(IORING_SETUP_CQE32, IORING_SETUP_CQE32);
}

/* a 128-byte op at the SQ's first entry of an SQE_MIXED ring (fresh ring) */
static struct io_uring_sqe *get_sqe128(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_sqe *second = io_uring_get_sqe(ring);

	if (!sqe || !second)
		return NULL;
	memset(sqe, 0, sizeof(*sqe));
	memset(second, 0, sizeof(*second));
	return sqe;
}

static int test_new_ops(void)
{
	struct io_uring src, dst;
	struct io_uring_sqe *sqe;
	char path[64] = "/tmp/cqe-target-73-XXXXXX";
	int ret, fd, sv[2];

	CHECK(!init_ring(&dst, 8, 0), "dst");

	/* UNLINKAT checks __pad2: the target must not trip that */
	CHECK(!init_ring(&src, 8, 0), "src");
	fd = mkstemp(path);
	if (fd < 0) {
		/* read-only root: use the tmpfs the guest has */
		strcpy(path, "/dev/shm/cqe-target-73-XXXXXX");
		fd = mkstemp(path);
	}
	if (fd >= 0) {
		close(fd);
		sqe = io_uring_get_sqe(&src);
		io_uring_prep_unlinkat(sqe, AT_FDCWD, path, 0);
		sqe->user_data = 1;
		io_uring_sqe_set_cqe_target(sqe, dst.ring_fd);
		io_uring_submit(&src);
		CHECK(expect_cqe(&dst, 1, 0, NULL), "targeted UNLINKAT");
		CHECK(access(path, F_OK) && errno == ENOENT, "file still there");
	} else {
		printf("unlinkat: no writable tmp dir, not checked\n");
	}

	/* RECV_ZC: fills 32-byte CQEs into the source CQ itself, refused */
	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	sqe = io_uring_get_sqe(&src);
	io_uring_prep_rw(OP_RECV_ZC, sqe, sv[0], NULL, 0, 0);
	sqe->user_data = 2;
	io_uring_sqe_set_cqe_target(sqe, dst.ring_fd);
	io_uring_submit(&src);
	CHECK(expect_cqe(&src, 2, -EINVAL, NULL), "targeted RECV_ZC");
	CHECK(no_cqe(&dst, 50), "RECV_ZC reached the target");
	close_pair(sv);
	io_uring_queue_exit(&src);

	/* 128-byte SQEs on an SQE_MIXED ring */
	ret = ring_or_skip(&src, 8, IORING_SETUP_SQE_MIXED, "SQE_MIXED");
	if (ret) {
		io_uring_queue_exit(&dst);
		return ret;
	}
	/* URING_CMD128: cmd[] covers the target field */
	sqe = get_sqe128(&src);
	CHECK(sqe, "sqe");
	sqe->opcode = OP_URING_CMD128;
	sqe->fd = dst.ring_fd;
	sqe->user_data = 3;
	io_uring_sqe_set_cqe_target(sqe, dst.ring_fd);
	io_uring_submit(&src);
	CHECK(expect_cqe(&src, 3, -EINVAL, NULL), "targeted URING_CMD128");
	CHECK(no_cqe(&dst, 50), "URING_CMD128 reached the target");
	io_uring_queue_exit(&src);

	/* NOP128 reads nothing past byte 55: accepted */
	CHECK(!init_ring(&src, 8, IORING_SETUP_SQE_MIXED), "src");
	sqe = get_sqe128(&src);
	CHECK(sqe, "sqe");
	sqe->opcode = OP_NOP128;
	sqe->nop_flags = IORING_NOP_INJECT_RESULT;
	sqe->len = 128;
	sqe->user_data = 4;
	io_uring_sqe_set_cqe_target(sqe, dst.ring_fd);
	io_uring_submit(&src);
	CHECK(expect_cqe(&dst, 4, 128, NULL), "targeted NOP128");
	CHECK(no_cqe(&src, 50), "NOP128 CQE on the source");
	rings_exit(&src, &dst);
	return T_EXIT_PASS;
}

static int test_resize(void)
{
	struct io_uring src, dst;
	struct io_uring_params rp;
	int i, ret;

	CHECK(!init_ring(&src, 8, 0), "src");
	ret = ring_or_skip(&dst, 8, IORING_SETUP_SINGLE_ISSUER |
			   IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN");
	if (ret) {
		io_uring_queue_exit(&src);
		return ret;
	}
	for (i = 0; i < 4; i++)
		io_uring_sqe_set_cqe_target(prep_nop_res(&src, 20 + i, i),
					    dst.ring_fd);
	CHECK(io_uring_submit(&src) == 4, "submit");
	/* the 4 CQEs are queued as task_work of dst; resize before running it */
	memset(&rp, 0, sizeof(rp));
	rp.sq_entries = 16;
	rp.cq_entries = 64;
	rp.flags = IORING_SETUP_CQSIZE;
	ret = io_uring_resize_rings(&dst, &rp);
	if (ret == -EINVAL || ret == -EOPNOTSUPP) {
		printf("SKIP: no IORING_REGISTER_RESIZE_RINGS\n");
		rings_exit(&src, &dst);
		return T_EXIT_SKIP;
	}
	CHECK(ret >= 0, "resize: %s", strerror(-ret));
	for (i = 4; i < 8; i++)
		io_uring_sqe_set_cqe_target(prep_nop_res(&src, 20 + i, i),
					    dst.ring_fd);
	CHECK(io_uring_submit(&src) == 4, "submit");
	for (i = 0; i < 8; i++)
		CHECK(expect_cqe(&dst, 20 + i, i, NULL), "CQE %d after resize",
		      i);
	CHECK(no_cqe(&src, 50), "CQE on the source");
	rings_exit(&src, &dst);
	return T_EXIT_PASS;
}

static int test_sq_rewind(void)
{
	struct io_uring src, dst;
	struct io_uring_sqe *sqe;
	int i, ret;

	CHECK(!init_ring(&dst, 8, 0), "dst");
	ret = ring_or_skip(&src, 8, IORING_SETUP_SQ_REWIND |
			   IORING_SETUP_NO_SQARRAY, "SQ_REWIND");
	if (ret) {
		io_uring_queue_exit(&dst);
		return ret;
	}
	/* SQ_REWIND: the kernel always starts at SQE 0; write it by hand */
	for (i = 0; i < 3; i++) {
		sqe = &src.sq.sqes[0];
		memset(sqe, 0, sizeof(*sqe));
		sqe->opcode = IORING_OP_NOP;
		sqe->nop_flags = IORING_NOP_INJECT_RESULT;
		sqe->len = 7 + i;
		sqe->user_data = 30 + i;
		io_uring_sqe_set_cqe_target(sqe, dst.ring_fd);
		ret = syscall(__NR_io_uring_enter, src.ring_fd, 1, 0, 0, NULL,
			      0);
		CHECK(ret == 1, "enter: %d (%s)", ret, strerror(errno));
		CHECK(expect_cqe(&dst, 30 + i, 7 + i, NULL), "rewound NOP %d",
		      i);
	}
	CHECK(no_cqe(&src, 50), "CQE on the source");
	rings_exit(&src, &dst);
	return T_EXIT_PASS;
}

int main(int argc, char *argv[])
{
	static const struct t_case cases[] = {
		{ "rw-no-attr", test_rw_no_attr },
		{ "cqe-mixed", test_cqe_mixed },
		{ "new-ops", test_new_ops },
		{ "resize", test_resize },
		{ "sq-rewind", test_sq_rewind },
	};
	int ret = cqe_target_supported();

	if (ret)
		return ret;
	return run_cases(cases, T_ARRAY_SIZE(cases), argc, argv);
}
