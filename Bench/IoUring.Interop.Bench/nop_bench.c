// NOP throughput with liburing: the C baseline of `toolkit bench interop`.
// Usage: nop_bench BATCH SECONDS  →  prints "c BATCH OPS_PER_SECOND".
// Each round: BATCH x (get_sqe + prep_nop), one submit_and_wait(BATCH), then reap the CQEs
// with a single cq_advance. The C# benchmark does exactly the same sequence.
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s BATCH SECONDS\n", argv[0]);
		return 2;
	}
	unsigned batch = (unsigned)atoi(argv[1]);
	double seconds = atof(argv[2]);
	struct io_uring ring;
	int ret = io_uring_queue_init(256, &ring, 0);
	if (ret < 0) {
		fprintf(stderr, "io_uring_queue_init: %d\n", ret);
		return 1;
	}
	unsigned long long ops = 0;
	double start = now(), end = start + seconds, t = start;
	while (t < end) {
		// Check the clock every 64 rounds only, so timing stays out of the measured work.
		for (int round = 0; round < 64; round++) {
			for (unsigned i = 0; i < batch; i++) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
				io_uring_prep_nop(sqe);
				sqe->user_data = i;
			}
			ret = io_uring_submit_and_wait(&ring, batch);
			if (ret != (int)batch) {
				fprintf(stderr, "submit_and_wait: %d\n", ret);
				return 1;
			}
			struct io_uring_cqe *cqe;
			unsigned head, seen = 0;
			io_uring_for_each_cqe(&ring, head, cqe) {
				if (cqe->res != 0)
					return 1;
				seen++;
			}
			io_uring_cq_advance(&ring, seen);
			ops += seen;
		}
		t = now();
	}
	printf("c %u %.0f\n", batch, ops / (t - start));
	io_uring_queue_exit(&ring);
	return 0;
}
