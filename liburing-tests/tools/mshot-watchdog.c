// SPDX-License-Identifier: MIT
/*
 * mshot-watchdog: tells a stalled multishot receive from a watchdog that
 * misfires. liburing's mshot-shutdown-race fails with "Seems stuck" when its
 * per-iteration byte count has the same value at two 1 s ticks; the count is
 * reset every iteration and only takes the values 0, 123 and 246, so equal
 * samples also happen while iterations go on. This program runs the same
 * workload (socketpair, multishot recv with a 4-buffer provided ring, one or
 * two 123-byte sends then SHUT_WR, wait for end of stream) and at each tick
 * records both criteria: the byte count repeated, and the iteration counter
 * did not move (a real stall).
 *
 * Prints one summary line; exit 0 when no real stall was seen, 1 otherwise
 * (or on a wrong CQE), 2 when set-up failed.
 *
 * Usage: mshot-watchdog [ITERATIONS]   (default 10000)
 */
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NBUF 4
#define BSZ 256
#define SEND 123

static volatile sig_atomic_t bytes_now, iter_now; /* read by the SIGALRM handler */
static int last_bytes = -1, last_iter = -1, ticks, repeats, repeats_with_progress, real_stalls;
static int cfd, sfd, nsends, quit;
static pthread_barrier_t bar;

static void tick(int sig)
{
	(void)sig;
	ticks++;
	if (bytes_now == last_bytes) {
		repeats++;
		if (iter_now != last_iter)
			repeats_with_progress++;
		else
			real_stalls++;
	}
	last_bytes = bytes_now;
	last_iter = iter_now;
	alarm(1);
}

static void *sender(void *arg)
{
	static char buf[SEND];
	(void)arg;
	for (;;) {
		pthread_barrier_wait(&bar);
		if (quit)
			return NULL;
		for (int j = 0; j < nsends; j++)
			if (send(cfd, buf, sizeof(buf), 0) != SEND)
				exit(2);
		shutdown(cfd, SHUT_WR);
	}
}

int main(int argc, char **argv)
{
	static char mem[NBUF * BSZ];
	int iters = argc > 1 ? atoi(argv[1]) : 10000, err, i;
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	struct sigaction sa = { .sa_handler = tick, .sa_flags = SA_RESTART };
	struct timespec t0, t1;
	pthread_t th;

	sigaction(SIGALRM, &sa, NULL);
	if (io_uring_queue_init(8, &ring, 0))
		return 2;
	br = io_uring_setup_buf_ring(&ring, NBUF, 0, 0, &err);
	if (!br)
		return 2;
	for (i = 0; i < NBUF; i++)
		io_uring_buf_ring_add(br, mem + i * BSZ, BSZ, i, NBUF - 1, i);
	io_uring_buf_ring_advance(br, NBUF);
	pthread_barrier_init(&bar, NULL, 2);
	pthread_create(&th, NULL, sender, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	alarm(1);
	for (i = 0; i < iters; i++) {
		int sv[2], eof = 0;
		struct io_uring_sqe *sqe;
		struct io_uring_cqe *cqe;

		nsends = (i & 1) + 1;
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			return 2;
		cfd = sv[0];
		sfd = sv[1];
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_recv_multishot(sqe, sfd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = 0;
		io_uring_submit(&ring);
		pthread_barrier_wait(&bar);
		bytes_now = 0;
		while (!eof) {
			while (io_uring_wait_cqe(&ring, &cqe))
				;
			if (cqe->res > 0) {
				int bid = cqe->flags >> 16;

				io_uring_buf_ring_add(br, mem + bid * BSZ, BSZ, bid, NBUF - 1, 0);
				io_uring_buf_ring_advance(br, 1);
				bytes_now += cqe->res;
			} else if (cqe->res == 0) {
				eof = 1;
			} else {
				printf("error %d\n", cqe->res);
				return 1;
			}
			io_uring_cqe_seen(&ring, cqe);
		}
		if (bytes_now != nsends * SEND)
			return 1;
		close(cfd);
		close(sfd);
		iter_now = i + 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("iterations %d in %.2f s; watchdog ticks %d: byte count repeated %d (with progress %d, without %d)\n",
	       iters, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, ticks, repeats,
	       repeats_with_progress, real_stalls);
	return real_stalls ? 1 : 0;
}
