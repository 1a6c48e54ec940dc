// SPDX-License-Identifier: MIT
/*
 * sqpoll-head-race: on an SQPOLL ring, can every CQE of a batch be seen
 * while the SQ head still shows the batch unconsumed? io_submit_sqes()
 * flushes completions (io_submit_state_end) before it publishes the new SQ
 * head (io_commit_sqring), so a submitter that waited for all its CQEs may
 * find the SQ full and io_uring_get_sqe() NULL. liburing's reg-fd-only then
 * writes through that NULL in its SQPOLL case (which adds REGISTERED_FD_ONLY
 * and NO_MMAP; the race needs only SQPOLL).
 *
 * Usage: sqpoll-head-race [BATCHES]  (default 20000, batches of 8 NOPs)
 * Prints how often io_uring_get_sqe() returned NULL right after all CQEs of
 * the previous batch were reaped; exit 0 always (it measures, not judges),
 * 2 when set-up failed.
 */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	int batches = argc > 1 ? atoi(argv[1]) : 20000, nulls = 0, b, i, ret;
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;

	ret = io_uring_queue_init(8, &ring, IORING_SETUP_SQPOLL);
	if (ret) {
		printf("setup: %d\n", ret);
		return 2;
	}
	for (b = 0; b < batches; b++) {
		for (i = 0; i < 8; i++) {
			sqe = io_uring_get_sqe(&ring);
			if (!sqe) {
				nulls++;
				/* wait until the kernel publishes the head */
				while (!(sqe = io_uring_get_sqe(&ring)))
					;
			}
			io_uring_prep_nop(sqe);
		}
		if (io_uring_submit(&ring) != 8)
			return 2;
		for (i = 0; i < 8; i++) {
			if (io_uring_wait_cqe(&ring, &cqe))
				return 2;
			io_uring_cqe_seen(&ring, cqe);
		}
	}
	printf("sqpoll-head-race: %d batches, get_sqe NULL after a fully reaped batch %d times\n", batches, nulls);
	io_uring_queue_exit(&ring);
	return 0;
}
