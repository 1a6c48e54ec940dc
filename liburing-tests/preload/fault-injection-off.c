/* LD_PRELOAD'ed by the reliability job's fault-injection wrapper (vm/Toolkit/Suites/FaultInjection.cs,
 * docs/reliability.md): when the test exits, turns fault injection off for every thread of its thread
 * group before any of them runs its exit path.
 *
 * The wrapper sets make-it-fail on the test before exec; io_uring's own threads (iou-sqp, iou-wrk) inherit
 * it and have io_uring's text at the bottom of every stack, so every allocation they make passes the
 * stack filter and may fail, including those of do_exit(). When one of them is the last user of the
 * process's files it does the final fput() of files on the guest's 9p root, and a failed allocation in
 * p9_client_clunk() drops the fid without telling the host: later walks reuse the fid number, the host
 * refuses them, and the guest cannot exec anything any more. Injection during the test is the point;
 * during exit it only breaks the harness.
 *
 * exit() (and returning from main) runs the destructor below after the program's atexit handlers, then
 * exit_group(); _exit()/_Exit() called by the program are interposed. A fatal signal bypasses both (the
 * harness checks the guest's root after every test). Our own thread is cleared first, so a thread created
 * from it (an iou-wrk worker forked by task_work) inherits 0; the task list is re-read until a pass finds
 * nothing left to clear, for threads that were being created during the previous pass. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* 1 when the file said something other than "0" and was rewritten to 0. */
static int clear_one(const char *path)
{
	char buf[16];
	int fd = open(path, O_RDWR | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0 || (buf[0] == '0' && (n == 1 || buf[1] == '\n'))) {
		close(fd);
		return 0;
	}
	n = pwrite(fd, "0", 1, 0);
	close(fd);
	return n == 1;
}

static void fault_injection_off(void)
{
	char path[64];
	int pass, cleared;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/make-it-fail", (long)syscall(SYS_gettid));
	clear_one(path);
	for (pass = 0; pass < 20; pass++) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;

		if (!d)
			return;
		cleared = 0;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.' || strlen(e->d_name) > 20)
				continue;
			snprintf(path, sizeof(path), "/proc/self/task/%s/make-it-fail", e->d_name);
			cleared += clear_one(path);
		}
		closedir(d);
		if (!cleared && pass > 0)
			return;
	}
}

__attribute__((destructor)) static void at_exit(void)
{
	fault_injection_off();
}

__attribute__((noreturn)) void _exit(int status)
{
	fault_injection_off();
	for (;;)
		syscall(SYS_exit_group, status);
}

__attribute__((noreturn)) void _Exit(int status)
{
	_exit(status);
}
