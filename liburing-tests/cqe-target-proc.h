/* SPDX-License-Identifier: MIT */
/*
 * Process, time and file-lifetime helpers of the IOSQE_CQE_TARGET
 * lifetime tests (cqe-target-cycle, -idle, -bound, -threats).
 *
 * "Every reference to a file is gone" is observed through a pipe: the test
 * keeps only the write end, the kernel object under test holds the read end
 * (a poll request on it, or a registered file of a ring), and once the last
 * reference to the read end is dropped poll() on the write end reports
 * POLLERR (a pipe without readers), whatever events were asked for.
 */
#ifndef CQE_TARGET_PROC_H
#define CQE_TARGET_PROC_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>

static inline long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* sleep @ms, restarted after signals and task_work interruptions */
static inline void sleep_ms(long long ms)
{
	long long end = now_ms() + ms, left;
	struct timespec ts;

	while ((left = end - now_ms()) > 0) {
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		nanosleep(&ts, NULL);
	}
}

/*
 * Wait up to @ms for the pipe whose write end is @wfd to lose its last
 * reader. Returns the ms it took, or -1 if readers are still there.
 */
static inline long long wait_no_reader(int wfd, int ms)
{
	long long start = now_ms(), t;
	struct pollfd pfd = { .fd = wfd, .events = 0 };

	for (;;) {
		pfd.revents = 0;
		if (poll(&pfd, 1, 20) > 0 && (pfd.revents & POLLERR))
			return now_ms() - start;
		t = now_ms() - start;
		if (t >= ms)
			return -1;
	}
}

/*
 * waitpid() with a timeout: the child's exit status (0..255), 128 + signal
 * if it was killed, or -1 if it did not exit within @ms (it is then
 * killed and reaped).
 */
static inline int wait_child(pid_t pid, int ms)
{
	long long end = now_ms() + ms;
	int status;
	pid_t ret;

	for (;;) {
		ret = waitpid(pid, &status, WNOHANG);
		if (ret == pid)
			break;
		if (ret < 0 && errno != EINTR)
			return -1;
		if (now_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		sleep_ms(5);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

#endif
