/* SPDX-License-Identifier: MIT */
/*
 * IOSQE_CQE_TARGET: rings whose requests target each other in a cycle must
 * not keep each other alive after their task is gone.
 *
 * A request aimed at another ring holds that ring's file. A child process
 * sets up rings whose never-completing POLL_ADDs target each other in a
 * cycle, unmaps and closes the rings and its other fds, and exits. Requests
 * with a target other than their own ring are tracked like requests on
 * io_uring files (REQ_F_INFLIGHT), so the child's exit cancels them: their
 * -ECANCELED CQEs go to the (closed) targets, the last file references go
 * with them and the rings are freed. The polls are on the read end of a
 * pipe of which the parent keeps only the write end: when every reference
 * to the read end is gone, poll() on the write end reports POLLERR. That has
 * to happen within 5 s of the child's exit. A kernel that leaks the cycle
 * never gets there: each ring is pinned by the other's request forever.
 *
 * Cases: pair   (A -> B -> A)
 *        triple (A -> B -> C -> A)
 *        dup    (A -> B -> A, each targeting the other through a dup()ed fd)
 *
 * -e: the same cycles, polling an eventfd instead of a pipe, with no oracle
 *     but the exit status (0 when the child set everything up and exited).
 *     This mode is for kmemleak: run it on a kernel with
 *     CONFIG_DEBUG_KMEMLEAK, then `echo scan > /sys/kernel/debug/kmemleak`
 *     (twice, some seconds apart) and read that file. On a kernel that
 *     leaks the cycle, the rings, their requests and the eventfd's file
 *     are reachable only through each other once the child is gone, which
 *     kmemleak's scan from its roots reports as unreferenced objects; on a
 *     fixed kernel nothing io_uring related should be listed.
 *
 * Usage: cqe-target-cycle [-e] [case-name]
 * Exit: 0 pass, 1 fail, 77 kernel without the feature.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "cqe-target.h"
#include "cqe-target-proc.h"

#define MAX_RINGS	3
#define CHILD_MS	10000
#define RELEASE_MS	5000

struct cycle {
	const char *name;
	int nr;			/* rings in the cycle */
	int use_dup;		/* target through dup()ed ring fds */
};

static const struct cycle cycles[] = {
	{ "pair", 2, 0 },
	{ "triple", 3, 0 },
	{ "dup", 2, 1 },
};

/* arm a POLLIN on @pollfd on @src whose CQE goes to @target_fd */
static int arm_poll(struct io_uring *src, int pollfd, int target_fd,
		    uint64_t ud)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(src);
	int ret;

	io_uring_prep_poll_add(sqe, pollfd, POLLIN);
	sqe->user_data = ud;
	io_uring_sqe_set_cqe_target(sqe, target_fd);
	ret = io_uring_submit(src);
	if (ret != 1) {
		fprintf(stderr, "child: submit poll %llu: %d\n",
			(unsigned long long)ud, ret);
		return -1;
	}
	return 0;
}

/* nothing completed on @ring: the poll is armed, not refused */
static int armed(struct io_uring *ring, int idx)
{
	struct io_uring_cqe cqe;
	int ret = get_cqe_ms(ring, 20, &cqe);

	if (ret == -ETIME)
		return 0;
	if (!ret)
		fprintf(stderr, "child: ring %d got ud=%llu res=%d: the poll was not armed\n",
			idx, (unsigned long long)cqe.user_data, cqe.res);
	else
		fprintf(stderr, "child: wait on ring %d: %d\n", idx, ret);
	return -1;
}

/* the child: build the cycle, drop every handle on it, exit */
static int child_cycle(const struct cycle *c, int pollfd)
{
	struct io_uring r[MAX_RINGS];
	int tfd[MAX_RINGS], i, ret;

	for (i = 0; i < c->nr; i++) {
		ret = io_uring_queue_init(8, &r[i], 0);
		if (ret) {
			fprintf(stderr, "child: ring %d: %d\n", i, ret);
			return 1;
		}
	}
	for (i = 0; i < c->nr; i++) {
		tfd[i] = c->use_dup ? dup(r[i].ring_fd) : r[i].ring_fd;
		if (tfd[i] < 0) {
			perror("child: dup");
			return 1;
		}
	}
	/* ring i's poll completes on ring i + 1 */
	for (i = 0; i < c->nr; i++)
		if (arm_poll(&r[i], pollfd, tfd[(i + 1) % c->nr], i + 1))
			return 1;
	for (i = 0; i < c->nr; i++)
		if (armed(&r[i], i))
			return 1;
	for (i = 0; i < c->nr; i++) {
		io_uring_queue_exit(&r[i]);
		if (c->use_dup)
			close(tfd[i]);
	}
	close(pollfd);
	return 0;
}

static int run_child(const struct cycle *c, int pollfd, int closefd)
{
	pid_t pid;
	int ret;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (!pid) {
		if (closefd >= 0)
			close(closefd);
		_exit(child_cycle(c, pollfd));
	}
	ret = wait_child(pid, CHILD_MS);
	if (ret) {
		fprintf(stderr, "%s: child setting up the cycle failed (status %d)\n",
			c->name, ret);
		return -1;
	}
	return 0;
}

static int test_cycle(const struct cycle *c)
{
	long long ms;
	int p[2];

	if (pipe(p)) {
		perror("pipe");
		return T_EXIT_FAIL;
	}
	if (run_child(c, p[0], p[1])) {
		close_pair(p);
		return T_EXIT_FAIL;
	}
	/* the parent keeps only the write end */
	close(p[0]);
	ms = wait_no_reader(p[1], RELEASE_MS);
	close(p[1]);
	if (ms < 0) {
		fprintf(stderr, "%s: the polled pipe end is still referenced %d ms after the child exited: the %d rings keep each other alive (no POLLERR on the write end)\n",
			c->name, RELEASE_MS, c->nr);
		return T_EXIT_FAIL;
	}
	printf("%s: rings released %lld ms after the child exited\n",
	       c->name, ms);
	return T_EXIT_PASS;
}

static int test_cycle_eventfd(const struct cycle *c)
{
	int efd = eventfd(0, 0), ret;

	if (efd < 0) {
		perror("eventfd");
		return T_EXIT_FAIL;
	}
	ret = run_child(c, efd, -1);
	close(efd);
	return ret ? T_EXIT_FAIL : T_EXIT_PASS;
}

int main(int argc, char *argv[])
{
	int i, opt, ret, use_eventfd = 0, ran = 0, failed = 0;
	const char *only = NULL;

	while ((opt = getopt(argc, argv, "e")) != -1) {
		if (opt != 'e') {
			fprintf(stderr, "usage: %s [-e] [case-name]\n", argv[0]);
			return T_EXIT_FAIL;
		}
		use_eventfd = 1;
	}
	if (optind < argc)
		only = argv[optind];
	ret = cqe_target_supported();
	if (ret)
		return ret;
	for (i = 0; i < (int)(sizeof(cycles) / sizeof(cycles[0])); i++) {
		if (only && strcmp(only, cycles[i].name))
			continue;
		ran++;
		if (use_eventfd)
			ret = test_cycle_eventfd(&cycles[i]);
		else
			ret = test_cycle(&cycles[i]);
		printf("%s%s: %s\n", cycles[i].name, use_eventfd ? " (eventfd)" : "",
		       ret ? "FAIL" : "ok");
		fflush(stdout);
		if (ret)
			failed++;
	}
	if (!ran) {
		fprintf(stderr, "unknown case %s\n", only);
		return T_EXIT_FAIL;
	}
	printf("%d/%d cases passed\n", ran - failed, ran);
	return failed ? T_EXIT_FAIL : T_EXIT_PASS;
}
