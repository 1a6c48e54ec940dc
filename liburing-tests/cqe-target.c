/* SPDX-License-Identifier: MIT */
/*
 * IOSQE_CQE_TARGET: a request submitted on ring A posts its CQE(s) on
 * ring B. One case per documented rule, see docs/cross-ring-completion.md.
 *
 * Usage: cqe-target [case-name]   (no argument: run every case)
 * Exit: 0 pass, 1 fail, 77 kernel without the feature.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "cqe-target.h"
#include "cqe-target-proc.h"

/* @ring has no CQE now, also after giving pending task_work a chance */
static int no_cqe(struct io_uring *ring)
{
	struct io_uring_cqe cqe;
	int ret = get_cqe_ms(ring, 20, &cqe);

	if (ret == -ETIME)
		return 0;
	if (!ret)
		fprintf(stderr, "unexpected CQE ud=0x%llx res=%d flags=0x%x\n",
			(unsigned long long)cqe.user_data, cqe.res, cqe.flags);
	return -1;
}

static int expect(struct io_uring *ring, uint64_t ud, int res,
		  unsigned int flags_mask, unsigned int flags)
{
	struct io_uring_cqe cqe;
	int ret = get_cqe_ms(ring, 1000, &cqe);

	if (ret) {
		fprintf(stderr, "no CQE for ud=0x%llx: %s\n",
			(unsigned long long)ud, strerror(-ret));
		return -1;
	}
	if (cqe.user_data != ud || cqe.res != res ||
	    (cqe.flags & flags_mask) != flags) {
		fprintf(stderr, "got ud=0x%llx res=%d flags=0x%x, want ud=0x%llx res=%d flags&0x%x=0x%x\n",
			(unsigned long long)cqe.user_data, cqe.res, cqe.flags,
			(unsigned long long)ud, res, flags_mask, flags);
		return -1;
	}
	return 0;
}

/* @nr CQEs with these user_data/res pairs, in any order */
static int expect_set(struct io_uring *ring, const uint64_t *ud,
		      const int *res, int nr)
{
	struct io_uring_cqe cqe;
	int i, n, found[8] = { };

	for (n = 0; n < nr; n++) {
		if (get_cqe_ms(ring, 1000, &cqe)) {
			fprintf(stderr, "only %d of %d CQEs\n", n, nr);
			return -1;
		}
		for (i = 0; i < nr; i++)
			if (!found[i] && cqe.user_data == ud[i] &&
			    cqe.res == res[i] && !cqe.flags)
				break;
		if (i == nr) {
			fprintf(stderr, "unexpected ud=0x%llx res=%d flags=0x%x\n",
				(unsigned long long)cqe.user_data, cqe.res,
				cqe.flags);
			return -1;
		}
		found[i] = 1;
	}
	return 0;
}

static int t_basic(void)
{
	struct io_uring a, b;
	struct io_uring_sqe *sqe;

	CHECK(!init_ring(&a, 8, 0) && !init_ring(&b, 8, 0), "setup");
	sqe = prep_nop_res(&a, 0x1111, 4242);
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	sqe = prep_nop_res(&a, 0x2222, -ENOENT);
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	CHECK(io_uring_submit(&a) == 2, "submit");
	CHECK(!expect(&b, 0x1111, 4242, ~0U, 0), "first CQE on B");
	CHECK(!expect(&b, 0x2222, -ENOENT, ~0U, 0), "second CQE on B");
	CHECK(!no_cqe(&a), "nothing on A");
	CHECK(!no_cqe(&b), "nothing more on B");
	rings_exit(&a, &b);
	return 0;
}

/*
 * io-wq completions (io_req_complete_post()): IOSQE_ASYNC NOPs and a read
 * punted to io-wq, towards a plain and a DEFER_TASKRUN target.
 */
static int t_async(void)
{
	unsigned int dt = IORING_SETUP_SINGLE_ISSUER |
			  IORING_SETUP_DEFER_TASKRUN;
	struct io_uring_sqe *sqe;
	struct io_uring a, b, c;
	char buf[8];
	int fds[2], i;

	CHECK(!init_ring(&a, 16, 0) && !init_ring(&b, 16, 0) &&
	      !init_ring(&c, 16, dt), "setup");
	CHECK(!pipe(fds), "pipe");
	for (i = 0; i < 4; i++) {
		sqe = prep_nop_res(&a, 0xa0 + i, i);
		sqe->flags |= IOSQE_ASYNC;
		io_uring_sqe_set_cqe_target(sqe, i & 1 ? c.ring_fd : b.ring_fd);
	}
	sqe = io_uring_get_sqe(&a);
	io_uring_prep_read(sqe, fds[0], buf, sizeof(buf), 0);
	sqe->flags |= IOSQE_ASYNC;
	sqe->user_data = 0xa9;
	io_uring_sqe_set_cqe_target(sqe, c.ring_fd);
	CHECK(io_uring_submit(&a) == 5, "submit");
	CHECK(write(fds[1], "abc", 3) == 3, "write");
	CHECK(!expect_set(&b, (const uint64_t[]){ 0xa0, 0xa2 },
			  (const int[]){ 0, 2 }, 2), "B");
	CHECK(!expect_set(&c, (const uint64_t[]){ 0xa1, 0xa3, 0xa9 },
			  (const int[]){ 1, 3, 3 }, 3), "C");
	CHECK(!no_cqe(&a) && !no_cqe(&b) && !no_cqe(&c), "nothing more");
	close_pair(fds);
	rings_exit(&a, &b, &c);
	return 0;
}

/* cflags are A's: a provided buffer of A's buffer ring, IORING_CQE_F_BUFFER */
static int t_cflags(void)
{
	struct io_uring_buf_ring *br;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;
	static char bufs[4][64];
	struct io_uring a, b;
	int fds[2], i, ret;

	CHECK(!init_ring(&a, 8, 0) && !init_ring(&b, 8, 0), "setup");
	br = provide_bufs(&a, 4, 7, bufs, sizeof(bufs[0]), 10, &ret);
	CHECK(br, "buf ring: %d", ret);
	CHECK(!pipe(fds), "pipe");
	CHECK(write(fds[1], "hello", 5) == 5, "write");
	sqe = io_uring_get_sqe(&a);
	io_uring_prep_read(sqe, fds[0], NULL, 64, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 7;
	sqe->user_data = 0x77;
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	CHECK(io_uring_submit(&a) == 1, "submit");
	ret = get_cqe_ms(&b, 1000, &cqe);
	CHECK(!ret, "CQE on B: %d", ret);
	CHECK(cqe.user_data == 0x77 && cqe.res == 5, "res %d", cqe.res);
	CHECK(cqe.flags & IORING_CQE_F_BUFFER, "flags 0x%x", cqe.flags);
	i = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
	CHECK(i >= 10 && i < 14 && !memcmp(bufs[i - 10], "hello", 5),
	      "bid %d", i);
	CHECK(!no_cqe(&a), "nothing on A");
	close_pair(fds);
	io_uring_free_buf_ring(&a, br, 4, 7);
	rings_exit(&a, &b);
	return 0;
}

static int t_multishot_timeout(void)
{
	struct __kernel_timespec ts = { .tv_nsec = 10000000 };
	struct io_uring_sqe *sqe;
	struct io_uring a, b;

	CHECK(!init_ring(&a, 8, 0) && !init_ring(&b, 8, 0), "setup");
	sqe = io_uring_get_sqe(&a);
	io_uring_prep_timeout(sqe, &ts, 3, IORING_TIMEOUT_MULTISHOT);
	sqe->user_data = 0x42;
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	CHECK(io_uring_submit(&a) == 1, "submit");
	CHECK(!expect(&b, 0x42, -ETIME, IORING_CQE_F_MORE, IORING_CQE_F_MORE),
	      "shot 1");
	CHECK(!expect(&b, 0x42, -ETIME, IORING_CQE_F_MORE, IORING_CQE_F_MORE),
	      "shot 2");
	CHECK(!expect(&b, 0x42, -ETIME, IORING_CQE_F_MORE, 0), "last shot");
	CHECK(!no_cqe(&a), "nothing on A");
	CHECK(!no_cqe(&b), "nothing more on B");
	rings_exit(&a, &b);
	return 0;
}

static int t_multishot_poll(void)
{
	struct io_uring_sqe *sqe;
	struct io_uring a, b;
	int fds[2], i;
	char c;

	CHECK(!init_ring(&a, 8, 0) && !init_ring(&b, 8, 0), "setup");
	CHECK(!pipe(fds), "pipe");
	sqe = io_uring_get_sqe(&a);
	io_uring_prep_poll_multishot(sqe, fds[0], POLLIN);
	sqe->user_data = 0x33;
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	CHECK(io_uring_submit(&a) == 1, "submit");
	for (i = 0; i < 3; i++) {
		CHECK(write(fds[1], "x", 1) == 1, "write");
		CHECK(!expect(&b, 0x33, POLLIN, IORING_CQE_F_MORE,
			      IORING_CQE_F_MORE), "event %d", i);
		CHECK(read(fds[0], &c, 1) == 1, "read");
	}
	sqe = io_uring_get_sqe(&a);
	io_uring_prep_poll_remove(sqe, 0x33);
	sqe->user_data = 0x34;
	CHECK(io_uring_submit(&a) == 1, "submit remove");
	CHECK(!expect(&a, 0x34, 0, ~0U, 0), "remove completes on A");
	CHECK(!expect(&b, 0x33, -ECANCELED, IORING_CQE_F_MORE, 0),
	      "final CQE on B");
	CHECK(!no_cqe(&a) && !no_cqe(&b), "nothing more");
	close_pair(fds);
	rings_exit(&a, &b);
	return 0;
}

/* multishot recv: aux CQEs posted from the issue path, buffers of A */
static int t_multishot_recv(void)
{
	struct io_uring_buf_ring *br;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;
	static char bufs[8][32];
	struct io_uring a, b;
	int sv[2], i, ret;

	CHECK(!init_ring(&a, 8, 0) && !init_ring(&b, 16, 0), "setup");
	br = provide_bufs(&a, 8, 3, bufs, sizeof(bufs[0]), 0, &ret);
	CHECK(br, "buf ring: %d", ret);
	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	sqe = io_uring_get_sqe(&a);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 3;
	sqe->user_data = 0x4ec;
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	CHECK(io_uring_submit(&a) == 1, "submit");
	for (i = 0; i < 3; i++) {
		CHECK(write(sv[1], "msg", 3) == 3, "write");
		ret = get_cqe_ms(&b, 1000, &cqe);
		CHECK(!ret, "CQE %d: %d", i, ret);
		CHECK(cqe.user_data == 0x4ec && cqe.res == 3 &&
		      (cqe.flags & IORING_CQE_F_MORE) &&
		      (cqe.flags & IORING_CQE_F_BUFFER),
		      "res %d flags 0x%x", cqe.res, cqe.flags);
	}
	/* EOF ends the multishot recv: final CQE, no F_MORE */
	close(sv[1]);
	ret = get_cqe_ms(&b, 1000, &cqe);
	CHECK(!ret && cqe.user_data == 0x4ec && cqe.res == 0 &&
	      !(cqe.flags & IORING_CQE_F_MORE), "final: %d res %d flags 0x%x",
	      ret, cqe.res, cqe.flags);
	CHECK(!no_cqe(&a) && !no_cqe(&b), "nothing more");
	close(sv[0]);
	io_uring_free_buf_ring(&a, br, 8, 3);
	rings_exit(&a, &b);
	return 0;
}

/* a linked timeout carries the target too (its __pad2 check skips it) */
static int t_link_timeout(void)
{
	struct __kernel_timespec ts = { .tv_nsec = 20000000 };
	struct io_uring_sqe *sqe;
	struct io_uring a, b;
	int fds[2];
	char buf[4];

	CHECK(!init_ring(&a, 8, 0) && !init_ring(&b, 8, 0), "setup");
	CHECK(!pipe(fds), "pipe");
	sqe = io_uring_get_sqe(&a);
	io_uring_prep_read(sqe, fds[0], buf, sizeof(buf), 0);
	sqe->flags |= IOSQE_IO_LINK;
	sqe->user_data = 1;
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	sqe = io_uring_get_sqe(&a);
	io_uring_prep_link_timeout(sqe, &ts, 0);
	sqe->user_data = 2;
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	CHECK(io_uring_submit(&a) == 2, "submit");
	CHECK(!expect_set(&b, (const uint64_t[]){ 1, 2 },
			  (const int[]){ -ECANCELED, -ETIME }, 2), "B");
	CHECK(!no_cqe(&a) && !no_cqe(&b), "nothing more");
	close_pair(fds);
	rings_exit(&a, &b);
	return 0;
}

static int t_links(void)
{
	struct io_uring a, b, c;
	struct io_uring_sqe *sqe;

	CHECK(!init_ring(&a, 8, 0) && !init_ring(&b, 8, 0) &&
	      !init_ring(&c, 8, 0), "setup");
	/* B <- 1, C <- 2, A <- 3 */
	sqe = prep_nop_res(&a, 1, 0);
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	sqe->flags |= IOSQE_IO_LINK;
	sqe = prep_nop_res(&a, 2, 0);
	io_uring_sqe_set_cqe_target(sqe, c.ring_fd);
	sqe->flags |= IOSQE_IO_LINK;
	prep_nop_res(&a, 3, 0);
	/* failing head: B <- 4 -EIO, C <- 5 -ECANCELED, A <- 6 -ECANCELED */
	sqe = prep_nop_res(&a, 4, -EIO);
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	sqe->flags |= IOSQE_IO_LINK;
	sqe = prep_nop_res(&a, 5, 0);
	io_uring_sqe_set_cqe_target(sqe, c.ring_fd);
	sqe->flags |= IOSQE_IO_LINK;
	prep_nop_res(&a, 6, 0);
	CHECK(io_uring_submit(&a) == 6, "submit");
	/* within a ring the two chains may complete in either order */
	CHECK(!expect_set(&b, (const uint64_t[]){ 1, 4 },
			  (const int[]){ 0, -EIO }, 2), "B");
	CHECK(!expect_set(&c, (const uint64_t[]){ 2, 5 },
			  (const int[]){ 0, -ECANCELED }, 2), "C");
	CHECK(!expect_set(&a, (const uint64_t[]){ 3, 6 },
			  (const int[]){ 0, -ECANCELED }, 2), "A");
	CHECK(!no_cqe(&a) && !no_cqe(&b) && !no_cqe(&c), "nothing more");
	rings_exit(&a, &b, &c);
	return 0;
}

static int t_skip_success(void)
{
	struct io_uring_sqe *sqe;
	struct io_uring a, b;

	CHECK(!init_ring(&a, 8, 0) && !init_ring(&b, 8, 0), "setup");
	sqe = prep_nop_res(&a, 7, 0);
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	sqe = prep_nop_res(&a, 8, -EIO);
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	sqe = prep_nop_res(&a, 9, 0);
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	CHECK(io_uring_submit(&a) == 3, "submit");
	CHECK(!expect(&b, 8, -EIO, ~0U, 0), "failed one on B");
	CHECK(!expect(&b, 9, 0, ~0U, 0), "marker on B");
	CHECK(!no_cqe(&a) && !no_cqe(&b), "nothing more");
	rings_exit(&a, &b);
	return 0;
}

static int t_self(void)
{
	struct io_uring_sqe *sqe;
	struct io_uring a;

	CHECK(!init_ring(&a, 8, 0), "setup");
	sqe = prep_nop_res(&a, 0x5e1f, 17);
	io_uring_sqe_set_cqe_target(sqe, a.ring_fd);
	CHECK(io_uring_submit(&a) == 1, "submit");
	CHECK(!expect(&a, 0x5e1f, 17, ~0U, 0), "local CQE");
	/* a self target doesn't disable IOSQE_IO_DRAIN */
	sqe = prep_nop_res(&a, 0xd1, 0);
	sqe->flags |= IOSQE_IO_DRAIN;
	CHECK(io_uring_submit(&a) == 1, "submit");
	CHECK(!expect(&a, 0xd1, 0, ~0U, 0), "drain still works");
	io_uring_queue_exit(&a);
	return 0;
}

/* CQEs take the target's format: 16 <-> 32 bytes, big_cqe[] zero */
static int t_cqe32(void)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct io_uring a, b;

	CHECK(!init_ring(&a, 8, 0) && !init_ring(&b, 8, IORING_SETUP_CQE32),
	      "setup");
	sqe = prep_nop_res(&a, 0x32, 32);
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	CHECK(io_uring_submit(&a) == 1, "submit");
	CHECK(!io_uring_wait_cqe(&b, &cqe), "wait");
	CHECK(cqe->user_data == 0x32 && cqe->res == 32 && !cqe->flags &&
	      !cqe->big_cqe[0] && !cqe->big_cqe[1], "16 -> 32 bytes");
	io_uring_cqe_seen(&b, cqe);
	/* and the other way round */
	sqe = prep_nop_res(&b, 0x16, 16);
	io_uring_sqe_set_cqe_target(sqe, a.ring_fd);
	CHECK(io_uring_submit(&b) == 1, "submit");
	CHECK(!expect(&a, 0x16, 16, ~0U, 0), "32 -> 16 bytes");
	CHECK(!no_cqe(&a) && !no_cqe(&b), "nothing more");
	rings_exit(&a, &b);
	return 0;
}

/* a full target CQ spills into the target's overflow list, nothing lost */
static int t_overflow(void)
{
	struct io_uring_params p = { };
	struct io_uring_cqe cqe;
	unsigned char seen[256] = { };
	struct io_uring_sqe *sqe;
	struct io_uring a, b;
	int i, n = 0;

	CHECK(!init_ring(&a, 64, 0), "setup A");
	CHECK(!io_uring_queue_init_params(4, &b, &p), "setup B");
	CHECK(p.cq_entries < 256, "cq_entries %u", p.cq_entries);
	for (i = 0; i < 256; i++) {
		sqe = prep_nop_res(&a, i, i);
		io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	}
	CHECK(io_uring_submit(&a) >= 0, "submit");
	CHECK(IO_URING_READ_ONCE(*b.sq.kflags) & IORING_SQ_CQ_OVERFLOW,
	      "B overflowed");
	while (!get_cqe_ms(&b, 200, &cqe)) {
		CHECK(cqe.user_data < 256 && cqe.res == (int)cqe.user_data &&
		      !seen[cqe.user_data], "ud %llu res %d",
		      (unsigned long long)cqe.user_data, cqe.res);
		seen[cqe.user_data] = 1;
		n++;
	}
	CHECK(n == 256, "got %d of 256", n);
	CHECK(!no_cqe(&a), "nothing on A");
	rings_exit(&a, &b);
	return 0;
}

/* targets that can't be used fail the request on the submitting ring */
static int t_bad_targets(void)
{
	struct io_uring a, b, dis, iopoll;
	struct io_uring_sqe *sqe;
	int fds[2];

	/* SUBMIT_ALL: keep submitting after an SQE failed at submission */
	CHECK(!init_ring(&a, 8, IORING_SETUP_SUBMIT_ALL) &&
	      !init_ring(&b, 8, 0), "setup");
	CHECK(!init_ring(&dis, 8, IORING_SETUP_R_DISABLED), "setup disabled");
	CHECK(!init_ring(&iopoll, 8, IORING_SETUP_IOPOLL), "setup iopoll");
	CHECK(!pipe(fds), "pipe");
	sqe = prep_nop_res(&a, 1, 0);
	io_uring_sqe_set_cqe_target(sqe, fds[0]);
	sqe = prep_nop_res(&a, 2, 0);
	io_uring_sqe_set_cqe_target(sqe, -1);
	sqe = prep_nop_res(&a, 3, 0);
	io_uring_sqe_set_cqe_target(sqe, 100000);
	sqe = prep_nop_res(&a, 4, 0);
	io_uring_sqe_set_cqe_target(sqe, dis.ring_fd);
	sqe = prep_nop_res(&a, 5, 0);
	io_uring_sqe_set_cqe_target(sqe, iopoll.ring_fd);
	CHECK(io_uring_submit(&a) == 5, "submit");
	CHECK(!expect(&a, 1, -EBADFD, ~0U, 0), "pipe fd");
	CHECK(!expect(&a, 2, -EBADF, ~0U, 0), "fd -1");
	CHECK(!expect(&a, 3, -EBADF, ~0U, 0), "unused fd");
	CHECK(!expect(&a, 4, -EBADFD, ~0U, 0), "disabled ring");
	CHECK(!expect(&a, 5, -EINVAL, ~0U, 0), "IOPOLL ring");
	CHECK(!no_cqe(&b) && !no_cqe(&a), "nothing more");
	close_pair(fds);
	rings_exit(&a, &b, &dis, &iopoll);
	return 0;
}

/* opcodes whose SQE uses the field, or that post extra CQEs, refuse it */
static int t_bad_opcodes(void)
{
	struct io_uring_sqe *sqe;
	struct io_uring a, b;
	int sv[2];

	CHECK(!init_ring(&a, 8, IORING_SETUP_SUBMIT_ALL) &&
	      !init_ring(&b, 8, 0), "setup");
	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	sqe = io_uring_get_sqe(&a);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, sv[0], NULL, 0, 0);
	sqe->user_data = 1;
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	sqe = io_uring_get_sqe(&a);
	io_uring_prep_send_zc(sqe, sv[0], "x", 1, 0, 0);
	sqe->user_data = 2;
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	CHECK(io_uring_submit(&a) == 2, "submit");
	CHECK(!expect(&a, 1, -EINVAL, ~0U, 0), "URING_CMD");
	CHECK(!expect(&a, 2, -EINVAL, ~0U, 0), "SEND_ZC");
	CHECK(!no_cqe(&b) && !no_cqe(&a), "nothing more");
	close_pair(sv);
	rings_exit(&a, &b);
	return 0;
}

/*
 * An R_DISABLED ring restricted to the @nr_ops opcodes in @ops and the SQE
 * flags @flags_allowed, then enabled (restrictions only register while the
 * ring is disabled)
 */
static int restricted_ops(struct io_uring *ring, const int *ops, int nr_ops,
			  unsigned int flags_allowed)
{
	struct io_uring_restriction res[4] = { };
	int i, ret;

	if (nr_ops >= (int)T_ARRAY_SIZE(res))
		return -EINVAL;
	ret = init_ring(ring, 8, IORING_SETUP_R_DISABLED);
	if (ret)
		return ret;
	for (i = 0; i < nr_ops; i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = ops[i];
	}
	res[i].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[i].sqe_flags = flags_allowed;
	ret = io_uring_register_restrictions(ring, res, nr_ops + 1);
	if (ret)
		return ret;
	return io_uring_enable_rings(ring);
}

/* IORING_REGISTER_RESTRICTIONS filters the flag like any SQE flag */
static int restricted_ring(struct io_uring *ring, unsigned int flags_allowed)
{
	return restricted_ops(ring, (const int[]){ IORING_OP_NOP }, 1,
			      flags_allowed);
}

static int t_restrictions(void)
{
	struct io_uring a, a2, b;
	struct io_uring_sqe *sqe;

	CHECK(!init_ring(&b, 8, 0), "setup");
	CHECK(!restricted_ring(&a, 0), "restricted A");
	CHECK(!restricted_ring(&a2, IOSQE_CQE_TARGET), "restricted A2");
	sqe = prep_nop_res(&a, 1, 0);
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	CHECK(io_uring_submit(&a) == 1, "submit");
	CHECK(!expect(&a, 1, -EACCES, ~0U, 0), "flag not allowed");
	sqe = prep_nop_res(&a2, 2, 0);
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	CHECK(io_uring_submit(&a2) == 1, "submit");
	CHECK(!expect(&b, 2, 0, ~0U, 0), "flag allowed");
	CHECK(!no_cqe(&a) && !no_cqe(&a2) && !no_cqe(&b), "nothing more");
	rings_exit(&a, &a2, &b);
	return 0;
}

/* sequence based draining can't work once CQEs leave the ring */
static int t_drain_disabled(void)
{
	struct io_uring_sqe *sqe;
	struct io_uring a, b;

	CHECK(!init_ring(&a, 8, IORING_SETUP_SUBMIT_ALL) &&
	      !init_ring(&b, 8, 0), "setup");
	sqe = prep_nop_res(&a, 1, 0);
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	sqe->flags |= IOSQE_IO_DRAIN;
	sqe = prep_nop_res(&a, 2, 0);
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	sqe = prep_nop_res(&a, 3, 0);
	sqe->flags |= IOSQE_IO_DRAIN;
	CHECK(io_uring_submit(&a) == 3, "submit");
	CHECK(!expect(&a, 1, -EOPNOTSUPP, ~0U, 0), "drain + target");
	CHECK(!expect(&b, 2, 0, ~0U, 0), "target");
	CHECK(!expect(&a, 3, -EOPNOTSUPP, ~0U, 0), "drain after target");
	rings_exit(&a, &b);
	return 0;
}

static int t_sqpoll_source(void)
{
	struct io_uring_sqe *sqe;
	struct io_uring a, b;
	int i;

	CHECK(!init_ring(&a, 8, IORING_SETUP_SQPOLL), "setup SQPOLL");
	CHECK(!init_ring(&b, 8, 0), "setup");
	for (i = 0; i < 4; i++) {
		sqe = prep_nop_res(&a, 0x50 + i, i);
		io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	}
	CHECK(io_uring_submit(&a) == 4, "submit");
	for (i = 0; i < 4; i++)
		CHECK(!expect(&b, 0x50 + i, i, ~0U, 0), "CQE %d on B", i);
	CHECK(!no_cqe(&a) && !no_cqe(&b), "nothing more");
	rings_exit(&a, &b);
	return 0;
}

struct defer_src {
	int target_fd;
	unsigned int flags;
	int nr;
	int ret;
};

static void *defer_src_fn(void *data)
{
	struct defer_src *d = data;
	struct io_uring_sqe *sqe;
	struct io_uring a;
	int i;

	d->ret = init_ring(&a, 16, d->flags);
	if (d->ret)
		return NULL;
	for (i = 0; i < d->nr; i++) {
		sqe = prep_nop_res(&a, 0x1000 + i, i);
		io_uring_sqe_set_cqe_target(sqe, d->target_fd);
	}
	io_uring_submit(&a);
	if (d->flags & IORING_SETUP_DEFER_TASKRUN)
		io_uring_get_events(&a);
	if (no_cqe(&a))
		d->ret = -EEXIST;
	io_uring_queue_exit(&a);
	return NULL;
}

/*
 * DEFER_TASKRUN target: CQEs are handed to the target's submitter task
 * (this thread) and show up once it runs its task_work (waits). Also a
 * DEFER_TASKRUN source targeting a plain ring.
 */
static int t_defer_taskrun(void)
{
	unsigned int dt = IORING_SETUP_SINGLE_ISSUER |
			  IORING_SETUP_DEFER_TASKRUN;
	struct defer_src d = { .nr = 40 };
	struct io_uring b, plain;
	pthread_t thr;
	int i;

	CHECK(!init_ring(&b, 64, dt), "setup DEFER_TASKRUN target");
	d.target_fd = b.ring_fd;
	pthread_create(&thr, NULL, defer_src_fn, &d);
	pthread_join(thr, NULL);
	CHECK(!d.ret, "source thread: %d", d.ret);
	for (i = 0; i < d.nr; i++)
		CHECK(!expect(&b, 0x1000 + i, i, ~0U, 0), "CQE %d", i);
	CHECK(!no_cqe(&b), "nothing more");

	CHECK(!init_ring(&plain, 64, 0), "setup plain target");
	d.target_fd = plain.ring_fd;
	d.flags = dt;
	pthread_create(&thr, NULL, defer_src_fn, &d);
	pthread_join(thr, NULL);
	CHECK(!d.ret, "DEFER_TASKRUN source thread: %d", d.ret);
	for (i = 0; i < d.nr; i++)
		CHECK(!expect(&plain, 0x1000 + i, i, ~0U, 0), "CQE %d", i);
	rings_exit(&b, &plain);
	return 0;
}

/*
 * The target is closed, or its owner task is gone, while requests aimed at
 * it are in flight: the request holds the target's file, the CQE lands in
 * the (unreachable) target CQ when it completes, the target is freed after
 * that. Nothing shows up on the source, nothing crashes or hangs.
 */
static void *make_defer_ring(void *data)
{
	struct io_uring *r = data;

	if (init_ring(r, 8, IORING_SETUP_SINGLE_ISSUER |
			    IORING_SETUP_DEFER_TASKRUN))
		r->ring_fd = -1;
	return NULL;
}

static int t_target_gone(void)
{
	struct __kernel_timespec ts = { .tv_nsec = 30000000 };
	struct io_uring a, b, c, d;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;
	pthread_t thr;
	int fds[2];

	CHECK(!init_ring(&a, 8, 0) && !init_ring(&b, 8, 0) &&
	      !init_ring(&c, 8, 0), "setup");
	CHECK(!pipe(fds), "pipe");
	/* a timeout in flight towards B, then B closed */
	sqe = io_uring_get_sqe(&a);
	io_uring_prep_timeout(sqe, &ts, 0, 0);
	sqe->user_data = 1;
	io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	/* a poll that never fires towards C, then C and A closed */
	sqe = io_uring_get_sqe(&a);
	io_uring_prep_poll_add(sqe, fds[0], POLLIN);
	sqe->user_data = 2;
	io_uring_sqe_set_cqe_target(sqe, c.ring_fd);
	CHECK(io_uring_submit(&a) == 2, "submit");
	rings_exit(&b, &c);
	CHECK(!no_cqe(&a), "nothing on A");
	usleep(60000);
	CHECK(!no_cqe(&a), "nothing on A after the timeout fired");

	/* DEFER_TASKRUN target whose owner thread has exited */
	pthread_create(&thr, NULL, make_defer_ring, &d);
	pthread_join(thr, NULL);
	CHECK(d.ring_fd >= 0, "setup DEFER_TASKRUN ring");
	sqe = prep_nop_res(&a, 3, 0);
	io_uring_sqe_set_cqe_target(sqe, d.ring_fd);
	CHECK(io_uring_submit(&a) == 1, "submit");
	CHECK(get_cqe_ms(&a, 20, &cqe) == -ETIME, "nothing on A");
	io_uring_queue_exit(&d);

	/* tearing A down cancels the poll, its CQE goes to dying C */
	io_uring_queue_exit(&a);
	close_pair(fds);
	return 0;
}

struct peer {
	struct io_uring ring;
	int peer_fd;
	int nr;
	int got;
	int ret;
	pthread_barrier_t *bar;
};

static void *peer_fn(void *data)
{
	struct peer *p = data;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;
	int sent = 0, ret;

	/* enabling makes this thread the ring's submitter task */
	p->ret = io_uring_enable_rings(&p->ring);
	pthread_barrier_wait(p->bar);
	while (!p->ret && (p->got < p->nr || sent < p->nr)) {
		while (sent < p->nr && io_uring_sq_space_left(&p->ring)) {
			sqe = prep_nop_res(&p->ring, sent, sent);
			io_uring_sqe_set_cqe_target(sqe, p->peer_fd);
			sent++;
		}
		io_uring_submit(&p->ring);
		ret = get_cqe_ms(&p->ring, 2000, &cqe);
		if (ret == -ETIME && sent == p->nr) {
			p->ret = -ETIME;
			break;
		}
		if (ret)
			continue;
		if (cqe.user_data != (uint64_t)p->got || cqe.res != p->got) {
			p->ret = -EPROTO;
			break;
		}
		p->got++;
	}
	/* keep the ring until the peer is done posting into it */
	pthread_barrier_wait(p->bar);
	return NULL;
}

/* two threads, each owning a ring, hand all their completions over */
static int exchange(unsigned int flags)
{
	pthread_barrier_t bar;
	struct peer p[2] = { };
	pthread_t thr[2];
	int i;

	pthread_barrier_init(&bar, NULL, 2);
	for (i = 0; i < 2; i++) {
		CHECK(!init_ring(&p[i].ring, 64, flags | IORING_SETUP_R_DISABLED),
		      "setup");
		p[i].nr = 5000;
		p[i].bar = &bar;
	}
	p[0].peer_fd = p[1].ring.ring_fd;
	p[1].peer_fd = p[0].ring.ring_fd;
	for (i = 0; i < 2; i++)
		pthread_create(&thr[i], NULL, peer_fn, &p[i]);
	for (i = 0; i < 2; i++)
		pthread_join(thr[i], NULL);
	for (i = 0; i < 2; i++) {
		CHECK(!p[i].ret && p[i].got == p[i].nr,
		      "peer %d: ret %d got %d", i, p[i].ret, p[i].got);
		io_uring_queue_exit(&p[i].ring);
	}
	pthread_barrier_destroy(&bar);
	return 0;
}

static int t_exchange(void)
{
	if (exchange(0))
		return T_EXIT_FAIL;
	return exchange(IORING_SETUP_SINGLE_ISSUER |
			IORING_SETUP_DEFER_TASKRUN);
}

/* restricted ring: only NOP and TIMEOUT, SQE flags limited to @flags_allowed */
static int restricted_nop_timeout(struct io_uring *ring,
				  unsigned int flags_allowed)
{
	return restricted_ops(ring,
			      (const int[]){ IORING_OP_NOP, IORING_OP_TIMEOUT },
			      2, flags_allowed);
}

/*
 * Restrictions are checked before the target is looked at: a flagged NOP
 * on a ring whose sqe_flags_allowed lacks IOSQE_CQE_TARGET fails -EACCES on
 * that ring whatever cqe_target_fd holds, and says nothing about the fd.
 */
static int t_restrictions_first(void)
{
	const unsigned int masks[2] = { 0, IOSQE_IO_DRAIN };
	struct io_uring a[2], b, dis, iopoll;
	struct io_uring_cqe cqe;
	int fds[2], efd, closed, i, m, ret, bad = 0;
	struct {
		const char *name;
		int fd;
	} tg[7];

	CHECK(!init_ring(&b, 8, 0), "setup");
	CHECK(!init_ring(&dis, 8, IORING_SETUP_R_DISABLED), "setup disabled");
	CHECK(!init_ring(&iopoll, 8, IORING_SETUP_IOPOLL), "setup iopoll");
	for (m = 0; m < 2; m++)
		CHECK(!restricted_nop_timeout(&a[m], masks[m]),
		      "restricted ring, flags 0x%x", masks[m]);
	CHECK(!pipe(fds), "pipe");
	efd = eventfd(0, 0);
	CHECK(efd >= 0, "eventfd");
	/* no fd is opened after this one is closed */
	closed = dup(fds[0]);
	CHECK(closed >= 0, "dup");
	close(closed);
	tg[0].name = "-1";			tg[0].fd = -1;
	tg[1].name = "closed fd";		tg[1].fd = closed;
	tg[2].name = "pipe";			tg[2].fd = fds[0];
	tg[3].name = "eventfd";			tg[3].fd = efd;
	tg[4].name = "plain ring";		tg[4].fd = b.ring_fd;
	tg[5].name = "R_DISABLED ring";		tg[5].fd = dis.ring_fd;
	tg[6].name = "IOPOLL ring";		tg[6].fd = iopoll.ring_fd;

	for (m = 0; m < 2; m++) {
		for (i = 0; i < 7; i++) {
			struct io_uring_sqe *sqe;

			sqe = prep_nop_res(&a[m], 0x100 * m + i, 0);
			io_uring_sqe_set_cqe_target(sqe, tg[i].fd);
			CHECK(io_uring_submit(&a[m]) == 1, "submit");
			ret = get_cqe_ms(&a[m], 1000, &cqe);
			if (ret) {
				fprintf(stderr, "restricted ring (flags allowed 0x%x), target %s (fd %d): no CQE on the source, want -EACCES there\n",
					masks[m], tg[i].name, tg[i].fd);
				bad++;
			} else if (cqe.res != -EACCES ||
				   cqe.user_data != (uint64_t)(0x100 * m + i)) {
				fprintf(stderr, "restricted ring (flags allowed 0x%x), target %s (fd %d): res %d (%s), want -EACCES\n",
					masks[m], tg[i].name, tg[i].fd, cqe.res,
					strerror(-cqe.res));
				bad++;
			}
		}
	}
	CHECK(!no_cqe(&b) && !no_cqe(&iopoll), "nothing on the targets");
	for (m = 0; m < 2; m++) {
		CHECK(!no_cqe(&a[m]), "nothing more on the source");
		io_uring_queue_exit(&a[m]);
	}
	close_pair(fds);
	close(efd);
	rings_exit(&b, &dis, &iopoll);
	CHECK(!bad, "%d of 14 flagged NOPs not refused with -EACCES", bad);
	return 0;
}

/*
 * IOSQE_IO_DRAIN is disabled on a ring once a target has been accepted, not
 * before: a flagged SQE refused before its target was accepted leaves drain
 * working. What refuses it, and where its CQE goes:
 */
enum refusal {
	RF_RESTRICTED,		/* sqe_flags_allowed lacks the flag: -EACCES */
	RF_IOPRIO,		/* NOP takes no ioprio: -EINVAL */
	RF_PERSONALITY,		/* unregistered personality: -EINVAL */
	RF_BAD_FD,		/* cqe_target_fd -1: -EBADF */
	RF_WITH_DRAIN,		/* IOSQE_IO_DRAIN | IOSQE_CQE_TARGET: -EOPNOTSUPP */
	RF_SELF,		/* self target: local completion, res 0 */
	RF_ACCEPTED,		/* accepted: res 0 on B, then drain -EOPNOTSUPP */
	RF_NR,
};

static const struct {
	const char *name;
	int res;
} refusals[RF_NR] = {
	[RF_RESTRICTED] = { "restriction refusal", -EACCES },
	[RF_IOPRIO] = { "non-zero ioprio", -EINVAL },
	[RF_PERSONALITY] = { "unregistered personality", -EINVAL },
	[RF_BAD_FD] = { "bad target fd", -EBADF },
	[RF_WITH_DRAIN] = { "IOSQE_IO_DRAIN with the flag", -EOPNOTSUPP },
	[RF_SELF] = { "self target", 0 },
	[RF_ACCEPTED] = { "accepted target", 0 },
};

static int drain_after(enum refusal r, struct io_uring *b)
{
	const char *name = refusals[r].name;
	int drain_res = r == RF_ACCEPTED ? -EOPNOTSUPP : 0;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;
	struct io_uring a, *where;
	int ret, target, bad = 0;

	if (r == RF_RESTRICTED)
		ret = restricted_nop_timeout(&a, IOSQE_IO_DRAIN);
	else
		ret = init_ring(&a, 8, 0);
	CHECK(!ret, "%s: setup: %d", name, ret);
	target = r == RF_BAD_FD ? -1 : r == RF_SELF ? a.ring_fd : b->ring_fd;
	sqe = prep_nop_res(&a, 1, 0);
	io_uring_sqe_set_cqe_target(sqe, target);
	if (r == RF_IOPRIO)
		sqe->ioprio = 1;
	else if (r == RF_PERSONALITY)
		sqe->personality = 0x7fff;
	else if (r == RF_WITH_DRAIN)
		sqe->flags |= IOSQE_IO_DRAIN;
	CHECK(io_uring_submit(&a) == 1, "%s: submit", name);
	where = r == RF_ACCEPTED ? b : &a;
	ret = get_cqe_ms(where, 1000, &cqe);
	if (ret || cqe.user_data != 1 || cqe.res != refusals[r].res) {
		fprintf(stderr, "%s: flagged NOP: %s res %d on the %s, want %d there\n",
			name, ret ? "no CQE," : "got", ret ? 0 : cqe.res,
			where == b ? "target" : "source", refusals[r].res);
		bad++;
	}
	sqe = prep_nop_res(&a, 2, 0);
	sqe->flags |= IOSQE_IO_DRAIN;
	CHECK(io_uring_submit(&a) == 1, "%s: submit drain", name);
	ret = get_cqe_ms(&a, 1000, &cqe);
	if (ret || cqe.user_data != 2 || cqe.res != drain_res) {
		fprintf(stderr, "%s: then a plain IOSQE_IO_DRAIN NOP: %s res %d (%s), want %d\n",
			name, ret ? "no CQE," : "got", ret ? 0 : cqe.res,
			ret ? "-" : strerror(-cqe.res), drain_res);
		bad++;
	}
	if (no_cqe(&a) || no_cqe(b))
		bad++;
	io_uring_queue_exit(&a);
	return bad ? T_EXIT_FAIL : 0;
}

static int t_drain_after_refusal(void)
{
	struct io_uring b;
	int r, failed = 0;

	CHECK(!init_ring(&b, 8, 0), "setup");
	for (r = 0; r < RF_NR; r++)
		if (drain_after(r, &b))
			failed++;
	io_uring_queue_exit(&b);
	CHECK(!failed, "%d of %d drain cases wrong", failed, RF_NR);
	return 0;
}

/* SQE bytes 60..63, after cqe_target_fd: reserved */
static void set_reserved(struct io_uring_sqe *sqe, uint32_t v)
{
	memcpy((char *)sqe + 60, &v, sizeof(v));
}

enum rsv_op { RSV_NOP, RSV_TIMEOUT };

/* io_kiocb objects in use, once ring teardown settles near @before */
static long io_kiocb_settled(long before, long slack)
{
	long now = io_kiocb_active();
	int i;

	for (i = 0; i < 40 && now - before > slack; i++) {
		sleep_ms(50);
		now = io_kiocb_active();
	}
	return now;
}

enum { EF_ROUNDS = 200, EF_BATCHES = 8, EF_SLACK = 128 };

/* one SQE on @a, @ud, targeting @b */
static struct io_uring_sqe *ef_sqe(struct io_uring *a, struct io_uring *b,
				   uint64_t ud)
{
	struct io_uring_sqe *sqe = prep_nop_res(a, ud, 0);

	io_uring_sqe_set_cqe_target(sqe, b->ring_fd);
	return sqe;
}

/*
 * One batch: four requests failing before their target is looked at (bad
 * opcode, BUFFER_SELECT on a NOP, ioprio on a NOP, unknown personality)
 * complete on @a; an accepted NOP and a TIMEOUT failing its own prep
 * (len 2) complete on @b.
 */
static int ef_batch(struct io_uring *a, struct io_uring *b)
{
	static const uint64_t a_ud[] = { 1, 2, 3, 4 };
	static const int a_res[] = { -EINVAL, -EOPNOTSUPP, -EINVAL, -EINVAL };
	static const uint64_t b_ud[] = { 5, 6 };
	static const int b_res[] = { 0, -EINVAL };
	static struct __kernel_timespec ts = { .tv_nsec = 1000 };
	struct io_uring_sqe *sqe;

	ef_sqe(a, b, 1)->opcode = 0xff;
	ef_sqe(a, b, 2)->flags |= IOSQE_BUFFER_SELECT;
	ef_sqe(a, b, 3)->ioprio = 1;
	ef_sqe(a, b, 4)->personality = 0x7fff;
	ef_sqe(a, b, 5);
	sqe = io_uring_get_sqe(a);
	io_uring_prep_timeout(sqe, &ts, 0, 0);
	sqe->len = 2;
	sqe->user_data = 6;
	io_uring_sqe_set_cqe_target(sqe, b->ring_fd);
	CHECK(io_uring_submit(a) == 6, "submit");
	CHECK(!expect_set(a, a_ud, a_res, 4), "early failures on the source");
	CHECK(!expect_set(b, b_ud, b_res, 2), "accepted target, prep failure");
	return 0;
}

/*
 * Failures before the target is accepted post on the source and keep no
 * carrier, also on recycled requests that held one before; a failure
 * after the carrier was taken (IOSQE_IO_DRAIN on a fresh source, where
 * draining is still allowed until the target is accepted) gives it back.
 * EF_ROUNDS fresh ring pairs: a carrier kept by any of these paths pins
 * its target ring, and io_kiocb would grow by at least EF_ROUNDS.
 */
static int t_early_failures(void)
{
	long before = io_kiocb_active(), after;
	struct io_uring a, b;
	int round, i;

	for (round = 0; round < EF_ROUNDS; round++) {
		CHECK(!init_ring(&a, 16, IORING_SETUP_SUBMIT_ALL) &&
		      !init_ring(&b, 64, 0), "setup");
		ef_sqe(&a, &b, 7)->flags |= IOSQE_IO_DRAIN;
		CHECK(io_uring_submit(&a) == 1, "submit");
		CHECK(!expect(&a, 7, -EOPNOTSUPP, ~0U, 0), "drain + target");
		for (i = 0; i < EF_BATCHES; i++)
			if (ef_batch(&a, &b))
				return T_EXIT_FAIL;
		CHECK(!no_cqe(&a) && !no_cqe(&b), "nothing more");
		rings_exit(&a, &b);
	}
	if (before < 0) {
		printf("early-failures: no io_kiocb line in /proc/slabinfo: carriers not counted\n");
		return 0;
	}
	after = io_kiocb_settled(before, EF_SLACK);
	printf("early-failures: %d rounds; io_kiocb active objects %ld -> %ld\n",
	       EF_ROUNDS, before, after);
	CHECK(after - before <= EF_SLACK,
	      "io_kiocb grew by %ld over %d closed ring pairs (bound %d): a failed request kept its carrier",
	      after - before, EF_ROUNDS, EF_SLACK);
	return 0;
}

/*
 * One SQE on a fresh source, aimed at a fresh B if @flagged: its first CQE,
 * from whichever ring it shows up on within 1 s.
 */
static int rsv_one(enum rsv_op op, int flagged, uint32_t b56, uint32_t b60,
		   const char **where, struct io_uring_cqe *out)
{
	static struct __kernel_timespec ts = { .tv_nsec = 10000000 };
	long long end = now_ms() + 1000;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct io_uring a, b;
	int ret = -ETIME;

	if (init_ring(&a, 8, 0) || init_ring(&b, 8, 0))
		return -ENOMEM;
	if (op == RSV_NOP) {
		sqe = prep_nop_res(&a, 0x60, 60);
	} else {
		sqe = io_uring_get_sqe(&a);
		io_uring_prep_timeout(sqe, &ts, 0, 0);
		sqe->user_data = 0x60;
	}
	if (flagged)
		io_uring_sqe_set_cqe_target(sqe, b.ring_fd);
	else
		memcpy((char *)sqe + 56, &b56, sizeof(b56));
	set_reserved(sqe, b60);
	if (io_uring_submit(&a) != 1)
		ret = -EIO;
	while (ret == -ETIME && now_ms() < end) {
		if (!get_cqe_ms(&a, 5, out)) {
			*where = "source";
			ret = 0;
		} else if (!io_uring_peek_cqe(&b, &cqe)) {
			*out = *cqe;
			io_uring_cqe_seen(&b, cqe);
			*where = "target";
			ret = 0;
		}
	}
	rings_exit(&a, &b);
	return ret;
}

static int t_reserved_bytes(void)
{
	static const struct {
		const char *name;
		enum rsv_op op;
		int flagged;
		uint32_t b56, b60;
		const char *where;
		int res;
	} rc[] = {
		{ "flagged NOP, bytes 60..63 = 0xffffffff", RSV_NOP, 1, 0, 0xffffffff, "source", -EINVAL },
		{ "flagged NOP, bytes 60..63 = 1", RSV_NOP, 1, 0, 1, "source", -EINVAL },
		{ "flagged NOP, bytes 60..63 = 0", RSV_NOP, 1, 0, 0, "target", 60 },
		{ "flagged TIMEOUT, bytes 60..63 = 0xffffffff", RSV_TIMEOUT, 1, 0, 0xffffffff, "source", -EINVAL },
		{ "flagged TIMEOUT, bytes 60..63 = 1", RSV_TIMEOUT, 1, 0, 1, "source", -EINVAL },
		{ "flagged TIMEOUT, bytes 60..63 = 0", RSV_TIMEOUT, 1, 0, 0, "target", -ETIME },
		{ "TIMEOUT without the flag, bytes 56..59 = 5", RSV_TIMEOUT, 0, 5, 0, "source", -EINVAL },
		{ "TIMEOUT without the flag, bytes 60..63 = 1", RSV_TIMEOUT, 0, 0, 1, "source", -EINVAL },
		{ "TIMEOUT without the flag, __pad2 zero", RSV_TIMEOUT, 0, 0, 0, "source", -ETIME },
	};
	int nr = sizeof(rc) / sizeof(rc[0]), i, ret, bad = 0;
	struct io_uring_cqe cqe;
	const char *where;

	for (i = 0; i < nr; i++) {
		where = NULL;
		ret = rsv_one(rc[i].op, rc[i].flagged, rc[i].b56, rc[i].b60,
			      &where, &cqe);
		if (ret) {
			fprintf(stderr, "%s: no CQE anywhere (%d), want res %d on the %s\n",
				rc[i].name, ret, rc[i].res, rc[i].where);
			bad++;
		} else if (strcmp(where, rc[i].where) || cqe.res != rc[i].res ||
			   cqe.user_data != 0x60) {
			fprintf(stderr, "%s: res %d on the %s, want res %d on the %s\n",
				rc[i].name, cqe.res, where, rc[i].res,
				rc[i].where);
			bad++;
		}
	}
	CHECK(!bad, "%d of %d reserved-bytes cases wrong", bad, nr);
	return 0;
}

static const struct t_case cases[] = {
	{ "basic", t_basic },
	{ "cflags", t_cflags },
	{ "async", t_async },
	{ "multishot-timeout", t_multishot_timeout },
	{ "multishot-poll", t_multishot_poll },
	{ "multishot-recv", t_multishot_recv },
	{ "links", t_links },
	{ "link-timeout", t_link_timeout },
	{ "skip-success", t_skip_success },
	{ "self", t_self },
	{ "cqe32", t_cqe32 },
	{ "overflow", t_overflow },
	{ "bad-targets", t_bad_targets },
	{ "bad-opcodes", t_bad_opcodes },
	{ "restrictions", t_restrictions },
	{ "drain-disabled", t_drain_disabled },
	{ "sqpoll-source", t_sqpoll_source },
	{ "defer-taskrun", t_defer_taskrun },
	{ "target-gone", t_target_gone },
	{ "exchange", t_exchange },
	{ "restrictions-first", t_restrictions_first },
	{ "drain-after-refusal", t_drain_after_refusal },
	{ "reserved-bytes", t_reserved_bytes },
	{ "early-failures", t_early_failures },
};

int main(int argc, char *argv[])
{
	int ret = cqe_target_supported();

	if (ret)
		return ret;
	return run_cases(cases, T_ARRAY_SIZE(cases), argc, argv);
}
