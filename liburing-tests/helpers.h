/* SPDX-License-Identifier: MIT */
/*
 * What every test in liburing-tests/ shares, kept in one place so the tests
 * cannot drift apart: the exit codes the runners read (make check, the
 * toolkit's C suite and liburing-suite all take 0 as pass, 77 as skip,
 * anything else as fail), a CHECK that fails the current case with its
 * location, and the ring set-up, teardown and case-table loop that the
 * multi-case programs would otherwise each spell out again.
 */
#ifndef LIBURING_TESTS_HELPERS_H
#define LIBURING_TESTS_HELPERS_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <liburing.h>

#define T_EXIT_PASS	0
#define T_EXIT_FAIL	1
#define T_EXIT_SKIP	77	/* automake's skip code, also liburing's */

#define T_ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Fail the enclosing case (an int function) when @cond is false, naming
 * the function, line and condition so a log line alone locates the check.
 */
#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s: ",		\
			__func__, __LINE__, #cond);			\
		fprintf(stderr, __VA_ARGS__);				\
		fprintf(stderr, "\n");					\
		return T_EXIT_FAIL;					\
	}								\
} while (0)

/* a ring with @flags and @entries SQEs; 0 or liburing's -errno */
static inline int init_ring(struct io_uring *ring, unsigned int entries,
			    unsigned int flags)
{
	struct io_uring_params p = { .flags = flags };

	return io_uring_queue_init_params(entries, ring, &p);
}

static inline void rings_exit_n(struct io_uring *const *rings, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		io_uring_queue_exit(rings[i]);
}

/*
 * rings_exit(&a, &b, ...): io_uring_queue_exit() on each, in the order
 * given, so a case's teardown is one line that cannot skip a ring.
 */
#define rings_exit(...)							\
	rings_exit_n((struct io_uring *const[]){ __VA_ARGS__ },	\
		     T_ARRAY_SIZE(((struct io_uring *const[]){ __VA_ARGS__ })))

/* both ends of a pipe() or socketpair() */
static inline void close_pair(const int fds[2])
{
	close(fds[0]);
	close(fds[1]);
}

/*
 * A provided-buffer ring (group @bgid) of @nr buffers of @size bytes cut
 * from @mem, buffer ids @bid0, @bid0 + 1, ..., all handed to the kernel.
 * NULL with liburing's -errno in *@err when the ring can't be set up.
 */
static inline struct io_uring_buf_ring *
provide_bufs(struct io_uring *ring, unsigned int nr, int bgid, void *mem,
	     unsigned int size, int bid0, int *err)
{
	struct io_uring_buf_ring *br;
	unsigned int i;

	br = io_uring_setup_buf_ring(ring, nr, bgid, 0, err);
	if (!br)
		return NULL;
	for (i = 0; i < nr; i++)
		io_uring_buf_ring_add(br, (char *)mem + i * size, size,
				      bid0 + i, io_uring_buf_ring_mask(nr), i);
	io_uring_buf_ring_advance(br, nr);
	return br;
}

struct t_case {
	const char *name;
	int (*fn)(void);
};

/*
 * Run every case of @cases, or only the one named by argv[1]. A case
 * returns T_EXIT_PASS, T_EXIT_SKIP (reported, not a failure) or anything
 * else (a failure). The program skips only when every case it ran skipped,
 * so one missing facility does not hide the cases that did run.
 */
static inline int run_cases(const struct t_case *cases, size_t nr, int argc,
			    char *argv[])
{
	int ret, failed = 0, skipped = 0, ran = 0;
	size_t i;

	for (i = 0; i < nr; i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name))
			continue;
		ran++;
		ret = cases[i].fn();
		printf("%s: %s\n", cases[i].name, ret == T_EXIT_SKIP ?
		       "skipped" : ret ? "FAIL" : "ok");
		fflush(stdout);
		if (ret == T_EXIT_SKIP)
			skipped++;
		else if (ret)
			failed++;
	}
	if (!ran) {
		fprintf(stderr, "unknown case %s\n", argv[1]);
		return T_EXIT_FAIL;
	}
	printf("%d/%d cases passed", ran - failed - skipped, ran);
	if (skipped)
		printf(", %d skipped", skipped);
	printf("\n");
	if (failed)
		return T_EXIT_FAIL;
	return skipped == ran ? T_EXIT_SKIP : T_EXIT_PASS;
}

#endif
