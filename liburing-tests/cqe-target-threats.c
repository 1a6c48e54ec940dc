/* SPDX-License-Identifier: MIT */
/*
 * IOSQE_CQE_TARGET threat model: the ways a ring fd, or a request aimed at
 * one, can move between tasks and processes, one case each.
 *
 *  fork         a child inherits a (non-SINGLE_ISSUER) source ring, submits
 *               a targeted poll that never completes and exits: the target
 *               gets exactly one -ECANCELED CQE for it within 2 s (the
 *               request is cancelled with its task; the ring lives on in
 *               the parent, so its teardown doesn't do it)
 *  exit         a child process with its own source ring and a targeted
 *               poll in flight exits, (1) taking the ring with it, (2) with
 *               the ring kept open by a grandchild that never submits: one
 *               -ECANCELED CQE on the target within 2 s either way. (A
 *               pthread exiting is not required to cancel; not tested.)
 *  dup          target through a dup() after closing the original fd:
 *               works; a poll in flight towards the dup, the dup closed,
 *               then the poll completed: the CQE lands in the target's CQ,
 *               still read through the mapping
 *  scm-rights   sending a ring fd over a unix socket: -EINVAL on 6.12
 *               (io_uring files can't be passed); if a kernel allows it,
 *               targeting through the received fd must work
 *  pidfd-getfd  process P2 takes P1's ring B with pidfd_getfd(), targets
 *               it from its own ring with a NOP and a never-completing
 *               poll, exits: B gets the NOP's CQE and one -ECANCELED
 *               (skipped if pidfd_getfd() fails with EPERM/ENOSYS)
 *  personality  a targeted NOP submitted with a registered personality:
 *               its CQE lands on the target
 *  sqpoll-defer SQPOLL source -> DEFER_TASKRUN target, DEFER_TASKRUN
 *               source -> SQPOLL target
 *  iopoll-defer an IOPOLL | DEFER_TASKRUN | SINGLE_ISSUER target is refused:
 *               -EINVAL on the source
 *  r-disabled   an IORING_SETUP_R_DISABLED target is refused with -EBADFD
 *               on the source; after io_uring_enable_rings() it works
 *
 * Usage: cqe-target-threats [case-name]
 * Exit: 0 pass, 1 fail, 77 kernel without the feature.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "cqe-target.h"
#include "cqe-target-proc.h"

#ifndef __NR_pidfd_open
#define __NR_pidfd_open		434
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd	438
#endif

#define CANCEL_MS	2000
#define CHILD_MS	10000
#define CHILD_SKIP	42

/* @ring has no CQE, also after 20 ms of task_work */
static int no_cqe(struct io_uring *ring, const char *which)
{
	struct io_uring_cqe cqe = { };

	if (get_cqe_ms(ring, 20, &cqe) == -ETIME)
		return 0;
	fprintf(stderr, "unexpected CQE on %s: ud=0x%llx res=%d flags=0x%x\n",
		which, (unsigned long long)cqe.user_data, cqe.res, cqe.flags);
	return -1;
}

/* no CQE in @ring's CQ, looking only at the mapping (no syscall) */
static int no_cqe_peek(struct io_uring *ring, const char *which)
{
	struct io_uring_cqe *cqe;

	if (io_uring_peek_cqe(ring, &cqe))
		return 0;
	fprintf(stderr, "unexpected CQE on %s: ud=0x%llx res=%d flags=0x%x\n",
		which, (unsigned long long)cqe->user_data, cqe->res,
		cqe->flags);
	return -1;
}

/* exactly one CQE (@ud, @res) on @ring within @ms, then none for 200 ms */
static int expect_one(struct io_uring *ring, uint64_t ud, int res, int ms,
		      const char *what)
{
	struct io_uring_cqe cqe = { };
	int ret = get_cqe_ms(ring, ms, &cqe);

	if (ret) {
		fprintf(stderr, "%s: no CQE ud=0x%llx res=%d within %d ms (%s)\n",
			what, (unsigned long long)ud, res, ms, strerror(-ret));
		return -1;
	}
	if (cqe.user_data != ud || cqe.res != res ||
	    (cqe.flags & IORING_CQE_F_MORE)) {
		fprintf(stderr, "%s: got ud=0x%llx res=%d flags=0x%x, want ud=0x%llx res=%d\n",
			what, (unsigned long long)cqe.user_data, cqe.res,
			cqe.flags, (unsigned long long)ud, res);
		return -1;
	}
	if (!get_cqe_ms(ring, 200, &cqe)) {
		fprintf(stderr, "%s: a second CQE ud=0x%llx res=%d flags=0x%x\n",
			what, (unsigned long long)cqe.user_data, cqe.res,
			cqe.flags);
		return -1;
	}
	return 0;
}

/* a POLLIN on @fd that nobody will satisfy, its CQE to @target_fd */
static int submit_poll(struct io_uring *src, int fd, int target_fd,
		       uint64_t ud)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(src);

	io_uring_prep_poll_add(sqe, fd, POLLIN);
	sqe->user_data = ud;
	io_uring_sqe_set_cqe_target(sqe, target_fd);
	return io_uring_submit(src) == 1 ? 0 : -1;
}

static int submit_nop(struct io_uring *src, uint64_t ud, int res,
		      int target_fd)
{
	struct io_uring_sqe *sqe = prep_nop_res(src, ud, res);

	io_uring_sqe_set_cqe_target(sqe, target_fd);
	return io_uring_submit(src) == 1 ? 0 : -1;
}

static pid_t fork_flushed(void)
{
	fflush(NULL);
	return fork();
}

static int t_fork(void)
{
	struct io_uring s, t;
	int p[2], ret;
	pid_t pid;

	CHECK(!init_ring(&s, 8, 0) && !init_ring(&t, 8, 0), "setup");
	CHECK(!pipe(p), "pipe");
	pid = fork_flushed();
	CHECK(pid >= 0, "fork");
	if (!pid) {
		/* the child submits on the inherited ring, then exits */
		if (submit_poll(&s, p[0], t.ring_fd, 0xf0))
			_exit(1);
		_exit(no_cqe(&s, "S (child)") ? 1 : 0);
	}
	ret = wait_child(pid, CHILD_MS);
	CHECK(!ret, "child status %d", ret);
	/* S is still open here: only the child's exit can end the poll */
	ret = expect_one(&t, 0xf0, -ECANCELED, CANCEL_MS,
			 "fork: the exited child's poll, on the target");
	if (!ret)
		ret = no_cqe_peek(&s, "S");
	close_pair(p);
	/* S's SQ state in this process is stale after the child's submit */
	rings_exit(&s, &t);
	return ret ? T_EXIT_FAIL : T_EXIT_PASS;
}

/*
 * exit: the child creates ring A, optionally forks a holder of A that never
 * submits (it waits for EOF on @hold_fd, 10 s at most), submits a poll on
 * @pollfd aimed at @target_fd and exits.
 */
static int exit_child(int target_fd, int pollfd, int hold_fd, int keep)
{
	struct io_uring a;
	pid_t holder;
	char c;

	if (init_ring(&a, 8, 0))
		return 1;
	if (keep) {
		holder = fork();
		if (holder < 0)
			return 1;
		if (!holder) {
			alarm(10);
			while (read(hold_fd, &c, 1) > 0)
				;
			_exit(0);
		}
	}
	close(hold_fd);
	if (submit_poll(&a, pollfd, target_fd, 0xe0))
		return 1;
	return no_cqe(&a, "A (child)") ? 1 : 0;
}

static int exit_case(int keep)
{
	const char *what = keep ? "exit (ring kept by a grandchild)" :
				  "exit (ring closed by the exit)";
	int p[2], hold[2], ret;
	struct io_uring t;
	pid_t pid;

	CHECK(!init_ring(&t, 8, 0), "setup");
	CHECK(!pipe(p) && !pipe(hold), "pipe");
	pid = fork_flushed();
	CHECK(pid >= 0, "fork");
	if (!pid) {
		close(hold[1]);
		_exit(exit_child(t.ring_fd, p[0], hold[0], keep));
	}
	close(hold[0]);
	ret = wait_child(pid, CHILD_MS);
	CHECK(!ret, "%s: child status %d", what, ret);
	ret = expect_one(&t, 0xe0, -ECANCELED, CANCEL_MS, what);
	/* EOF: the grandchild (if any) exits and drops A */
	close(hold[1]);
	close_pair(p);
	io_uring_queue_exit(&t);
	return ret ? T_EXIT_FAIL : T_EXIT_PASS;
}

static int t_exit(void)
{
	int ret = exit_case(0);

	if (exit_case(1))
		ret = T_EXIT_FAIL;
	return ret;
}

/* wait up to @ms for a CQE in @ring's mapped CQ, without entering */
static int peek_cqe_ms(struct io_uring *ring, int ms, struct io_uring_cqe *out)
{
	long long end = now_ms() + ms;
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(ring, &cqe)) {
		if (now_ms() > end)
			return -ETIME;
		sleep_ms(1);
	}
	*out = *cqe;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

static int t_dup(void)
{
	struct io_uring_cqe cqe = { };
	struct io_uring s, t;
	int d, p[2], ret;

	CHECK(!init_ring(&s, 8, 0) && !init_ring(&t, 8, 0), "setup");
	CHECK(!pipe(p), "pipe");
	d = dup(t.ring_fd);
	CHECK(d >= 0, "dup");
	close(t.ring_fd);
	t.ring_fd = t.enter_ring_fd = d;
	CHECK(!submit_nop(&s, 0xd1, 11, d), "submit NOP");
	CHECK(!get_cqe_ms(&t, 1000, &cqe) && cqe.user_data == 0xd1 &&
	      cqe.res == 11, "NOP through the dup: ud=0x%llx res=%d",
	      (unsigned long long)cqe.user_data, cqe.res);

	CHECK(!submit_poll(&s, p[0], d, 0xd2), "submit poll");
	CHECK(!no_cqe(&t, "T") && !no_cqe(&s, "S"), "poll armed");
	/* no fd of T left: the poll's reference keeps it */
	close(d);
	t.ring_fd = t.enter_ring_fd = -1;
	CHECK(write(p[1], "x", 1) == 1, "write");
	ret = peek_cqe_ms(&t, 1000, &cqe);
	CHECK(!ret, "no CQE in the closed target's CQ within 1 s");
	CHECK(cqe.user_data == 0xd2 && (cqe.res & POLLIN),
	      "poll CQE in the closed target: ud=0x%llx res=0x%x",
	      (unsigned long long)cqe.user_data, cqe.res);
	CHECK(!no_cqe(&s, "S"), "nothing on the source");
	close_pair(p);
	io_uring_queue_exit(&s);
	/* ring_fd is -1: only unmaps */
	io_uring_queue_exit(&t);
	return T_EXIT_PASS;
}

/* send @fd over @sock with SCM_RIGHTS: 0 or -errno */
static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { };
	struct iovec iov = { .iov_base = "f", .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -errno;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { }, c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg;
	int fd;

	if (recvmsg(sock, &msg, MSG_DONTWAIT) != 1)
		return -errno;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS)
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	return fd;
}

static int t_scm_rights(void)
{
	struct io_uring_cqe cqe = { };
	struct io_uring s, t;
	int sv[2], fd, ret;

	CHECK(!init_ring(&s, 8, 0) && !init_ring(&t, 8, 0), "setup");
	CHECK(!socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), "socketpair");
	ret = send_fd(sv[0], t.ring_fd);
	if (ret == -EINVAL) {
		printf("scm-rights: sending an io_uring fd over SCM_RIGHTS fails with -EINVAL (expected on 6.12)\n");
	} else {
		CHECK(!ret, "sendmsg: %s", strerror(-ret));
		fd = recv_fd(sv[1]);
		CHECK(fd >= 0, "recvmsg: %s", strerror(-fd));
		printf("scm-rights: the kernel passes io_uring fds; targeting the received fd %d\n",
		       fd);
		CHECK(!submit_nop(&s, 0x5c, 5, fd), "submit");
		CHECK(!get_cqe_ms(&t, 1000, &cqe) && cqe.user_data == 0x5c &&
		      cqe.res == 5, "NOP through the received fd: ud=0x%llx res=%d",
		      (unsigned long long)cqe.user_data, cqe.res);
		close(fd);
	}
	CHECK(!no_cqe(&s, "S") && !no_cqe(&t, "T"), "nothing more");
	close_pair(sv);
	rings_exit(&s, &t);
	return T_EXIT_PASS;
}

/* P2: take P1's fd @bfd, aim a NOP and a poll at it from its own ring */
static int pidfd_child(int bfd)
{
	struct io_uring s;
	int pidfd, fd, p[2];

	pidfd = syscall(__NR_pidfd_open, getppid(), 0);
	if (pidfd < 0) {
		printf("pidfd-getfd: SKIP: pidfd_open: %s\n", strerror(errno));
		return errno == ENOSYS || errno == EPERM ? CHILD_SKIP : 1;
	}
	fd = syscall(__NR_pidfd_getfd, pidfd, bfd, 0);
	if (fd < 0) {
		printf("pidfd-getfd: SKIP: pidfd_getfd: %s\n", strerror(errno));
		return errno == ENOSYS || errno == EPERM ? CHILD_SKIP : 1;
	}
	if (init_ring(&s, 8, 0) || pipe(p))
		return 1;
	if (submit_nop(&s, 0x91, 9, fd) || submit_poll(&s, p[0], fd, 0x92))
		return 1;
	return no_cqe(&s, "P2's ring") ? 1 : 0;
}

static int t_pidfd_getfd(void)
{
	int ctl[2], bfd, ret, got_nop = 0, got_cancel = 0, other = 0;
	struct io_uring_cqe cqe = { };
	struct io_uring b;
	pid_t pid;

	CHECK(!pipe(ctl), "pipe");
	/* P2 is forked before B exists: it can't inherit it */
	pid = fork_flushed();
	CHECK(pid >= 0, "fork");
	if (!pid) {
		close(ctl[1]);
		if (read(ctl[0], &bfd, sizeof(bfd)) != sizeof(bfd))
			_exit(1);
		_exit(pidfd_child(bfd));
	}
	close(ctl[0]);
	CHECK(!init_ring(&b, 8, 0), "setup B");
	CHECK(write(ctl[1], &b.ring_fd, sizeof(b.ring_fd)) == sizeof(int),
	      "write");
	ret = wait_child(pid, CHILD_MS);
	close(ctl[1]);
	if (ret == CHILD_SKIP) {
		io_uring_queue_exit(&b);
		return T_EXIT_PASS;
	}
	CHECK(!ret, "P2 status %d", ret);
	while (!get_cqe_ms(&b, got_nop + got_cancel < 2 ? CANCEL_MS : 200,
			 &cqe)) {
		if (cqe.user_data == 0x91 && cqe.res == 9 && !got_nop)
			got_nop = 1;
		else if (cqe.user_data == 0x92 && cqe.res == -ECANCELED &&
			 !got_cancel)
			got_cancel = 1;
		else
			other++;
	}
	io_uring_queue_exit(&b);
	CHECK(got_nop && got_cancel && !other,
	      "B after P2's exit: NOP CQE %s, -ECANCELED poll CQE %s, %d other CQEs",
	      got_nop ? "yes" : "missing", got_cancel ? "yes" : "missing",
	      other);
	return T_EXIT_PASS;
}

static int t_personality(void)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe = { };
	struct io_uring s, t;
	int id;

	CHECK(!init_ring(&s, 8, 0) && !init_ring(&t, 8, 0), "setup");
	id = io_uring_register_personality(&s);
	CHECK(id > 0, "register_personality: %d", id);
	sqe = prep_nop_res(&s, 0x9e, 3);
	sqe->personality = id;
	io_uring_sqe_set_cqe_target(sqe, t.ring_fd);
	CHECK(io_uring_submit(&s) == 1, "submit");
	CHECK(!get_cqe_ms(&t, 1000, &cqe),
	      "no CQE on the target for the NOP with personality %d", id);
	CHECK(cqe.user_data == 0x9e && cqe.res == 3,
	      "got ud=0x%llx res=%d on the target, want ud=0x9e res=3",
	      (unsigned long long)cqe.user_data, cqe.res);
	CHECK(!no_cqe(&s, "S") && !no_cqe(&t, "T"), "nothing more");
	io_uring_unregister_personality(&s, id);
	rings_exit(&s, &t);
	return T_EXIT_PASS;
}

/* @nr NOPs from @src to @dst (fd @dst_fd), reaped on @dst in order */
static int nops_across(struct io_uring *src, struct io_uring *dst,
		       int dst_fd, int nr, const char *what)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe = { };
	int i, ret;

	for (i = 0; i < nr; i++) {
		sqe = prep_nop_res(src, 0x100 + i, i);
		io_uring_sqe_set_cqe_target(sqe, dst_fd);
	}
	ret = io_uring_submit(src);
	if (ret != nr) {
		fprintf(stderr, "%s: submit: %d\n", what, ret);
		return -1;
	}
	for (i = 0; i < nr; i++) {
		ret = get_cqe_ms(dst, 1000, &cqe);
		if (ret || cqe.user_data != (uint64_t)(0x100 + i) ||
		    cqe.res != i) {
			fprintf(stderr, "%s: CQE %d: ret %d ud=0x%llx res=%d\n",
				what, i, ret, (unsigned long long)cqe.user_data,
				cqe.res);
			return -1;
		}
	}
	if (no_cqe(src, "the source") || no_cqe(dst, "the target"))
		return -1;
	return 0;
}

static int t_sqpoll_defer(void)
{
	unsigned int dt = IORING_SETUP_SINGLE_ISSUER |
			  IORING_SETUP_DEFER_TASKRUN;
	struct io_uring sq, defer;
	int ret;

	CHECK(!init_ring(&sq, 8, IORING_SETUP_SQPOLL), "setup SQPOLL");
	CHECK(!init_ring(&defer, 8, dt), "setup DEFER_TASKRUN");
	ret = nops_across(&sq, &defer, defer.ring_fd, 4,
			  "SQPOLL -> DEFER_TASKRUN");
	if (!ret)
		ret = nops_across(&defer, &sq, sq.ring_fd, 4,
				  "DEFER_TASKRUN -> SQPOLL");
	rings_exit(&sq, &defer);
	return ret ? T_EXIT_FAIL : T_EXIT_PASS;
}

static int t_iopoll_defer(void)
{
	unsigned int fl = IORING_SETUP_IOPOLL | IORING_SETUP_SINGLE_ISSUER |
			  IORING_SETUP_DEFER_TASKRUN;
	struct io_uring_cqe cqe = { };
	struct io_uring s, x;
	int ret;

	CHECK(!init_ring(&s, 8, 0), "setup");
	ret = init_ring(&x, 8, fl);
	CHECK(!ret, "setup IOPOLL|SINGLE_ISSUER|DEFER_TASKRUN: %d", ret);
	CHECK(!submit_nop(&s, 0x10, 0, x.ring_fd), "submit");
	ret = get_cqe_ms(&s, 1000, &cqe);
	if (ret || cqe.user_data != 0x10 || cqe.res != -EINVAL) {
		fprintf(stderr, "IOPOLL|DEFER_TASKRUN target: %s ud=0x%llx res=%d on the source, want -EINVAL there\n",
			ret ? "no CQE," : "got", ret ? 0ULL :
			(unsigned long long)cqe.user_data, ret ? 0 : cqe.res);
		if (!get_cqe_ms(&x, 100, &cqe))
			fprintf(stderr, "(the target accepted it: ud=0x%llx res=%d on the IOPOLL ring)\n",
				(unsigned long long)cqe.user_data, cqe.res);
		ret = -1;
	}
	rings_exit(&s, &x);
	return ret ? T_EXIT_FAIL : T_EXIT_PASS;
}

static int t_r_disabled(void)
{
	struct io_uring_cqe cqe = { };
	struct io_uring s, d;
	int ret;

	CHECK(!init_ring(&s, 8, 0), "setup");
	CHECK(!init_ring(&d, 8, IORING_SETUP_R_DISABLED), "setup disabled");
	CHECK(!submit_nop(&s, 0x20, 0, d.ring_fd), "submit");
	ret = get_cqe_ms(&s, 1000, &cqe);
	CHECK(!ret && cqe.user_data == 0x20 && cqe.res == -EBADFD,
	      "disabled target: ret %d ud=0x%llx res=%d, want -EBADFD on the source",
	      ret, (unsigned long long)cqe.user_data, cqe.res);
	ret = io_uring_enable_rings(&d);
	CHECK(!ret, "enable_rings: %d", ret);
	CHECK(!submit_nop(&s, 0x21, 21, d.ring_fd), "submit");
	ret = get_cqe_ms(&d, 1000, &cqe);
	CHECK(!ret && cqe.user_data == 0x21 && cqe.res == 21,
	      "enabled target: ret %d ud=0x%llx res=%d, want ud=0x21 res=21 on it",
	      ret, (unsigned long long)cqe.user_data, cqe.res);
	CHECK(!no_cqe(&s, "S") && !no_cqe(&d, "D"), "nothing more");
	rings_exit(&s, &d);
	return T_EXIT_PASS;
}

static const struct t_case cases[] = {
	{ "fork", t_fork },
	{ "exit", t_exit },
	{ "dup", t_dup },
	{ "scm-rights", t_scm_rights },
	{ "pidfd-getfd", t_pidfd_getfd },
	{ "personality", t_personality },
	{ "sqpoll-defer", t_sqpoll_defer },
	{ "iopoll-defer", t_iopoll_defer },
	{ "r-disabled", t_r_disabled },
};

int main(int argc, char *argv[])
{
	int ret = cqe_target_supported();

	if (ret)
		return ret;
	return run_cases(cases, T_ARRAY_SIZE(cases), argc, argv);
}
