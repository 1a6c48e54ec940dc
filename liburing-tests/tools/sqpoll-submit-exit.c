// SPDX-License-Identifier: MIT
/*
 * sqpoll-submit-exit: read-before-exit's three loops (1,000 plain rings, 10
 * IOPOLL, 100 SQPOLL; per ring a thread submits two timerfd reads and exits,
 * then the ring is torn down), printing the failing step's return value
 * where liburing's test only prints "Test SQPOLL failed".
 *
 * Prints one line per failure and "sqpoll-submit-exit: N bad"; exit 0 when
 * nothing failed, 1 otherwise.
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct data { struct io_uring *ring; int fd1, fd2; uint64_t b1, b2; int ret, peek, res; };

static void *submit(void *arg)
{
	struct data *d = arg;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;

	sqe = io_uring_get_sqe(d->ring);
	io_uring_prep_read(sqe, d->fd1, &d->b1, sizeof(d->b1), 0);
	sqe = io_uring_get_sqe(d->ring);
	io_uring_prep_read(sqe, d->fd2, &d->b2, sizeof(d->b2), 0);
	d->ret = io_uring_submit(d->ring);
	if (d->ret != 2) {
		d->peek = io_uring_peek_cqe(d->ring, &cqe);
		d->res = d->peek ? 0 : cqe->res;
	}
	return NULL;
}

static int one(unsigned flags, int i)
{
	struct io_uring_params p = { .flags = flags };
	struct io_uring ring;
	struct data d = { .ring = &ring };
	pthread_t t;
	int ret = io_uring_queue_init_params(8, &ring, &p);

	if (ret == -EINVAL)
		return 0;
	if (ret) {
		printf("flags %x iter %d: setup %d\n", flags, i, ret);
		return 1;
	}
	d.fd1 = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	d.fd2 = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	pthread_create(&t, NULL, submit, &d);
	pthread_join(t, NULL);
	io_uring_queue_exit(&ring);
	close(d.fd1);
	close(d.fd2);
	if (d.ret != 2 && !(flags & IORING_SETUP_IOPOLL)) {
		printf("flags %x iter %d: submit %d (%s), peek %d res %d\n", flags, i, d.ret,
		       d.ret < 0 ? strerror(-d.ret) : "-", d.peek, d.res);
		return 1;
	}
	return 0;
}

int main(void)
{
	int i, bad = 0;

	for (i = 0; i < 1000; i++)
		bad += one(0, i);
	for (i = 0; i < 10; i++)
		bad += one(IORING_SETUP_IOPOLL, i);
	for (i = 0; i < 100; i++)
		bad += one(IORING_SETUP_SQPOLL, i);
	printf("sqpoll-submit-exit: %d bad\n", bad);
	return !!bad;
}
