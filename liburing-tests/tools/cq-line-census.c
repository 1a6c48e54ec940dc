/* SPDX-License-Identifier: MIT */
/*
 * cq-line-census: who writes the cache line that holds the CQ tail?
 *
 * A thread that waits on the CQ tail line with a monitor/wait instruction
 * (UMONITOR/UMWAIT, MONITORX/MWAITX) is woken by every store to that line,
 * from the kernel or from other threads, whether or not it changes a value.
 * This tool models such a waiter: a sampler thread pinned to one CPU reads
 * the whole 64-byte line in a loop, while a workload thread on another CPU
 * drives the ring. For every observed change it records which fields
 * changed value (a "wake"), and it counts reads that missed the cache
 * without any value change ("silent" invalidations: same-value stores such
 * as atomic_andnot() of a flag that is already clear, or noise; an idle
 * baseline and a control with known silent stores calibrate this).
 *
 * Counts are per 1000 CQEs. Sampling coalesces stores that land closer
 * together than one sampler iteration, like a waiter that re-arms fast.
 *
 * With one CPU only the kernel census (see kernel_census()) is printed.
 *
 * Usage: cq-line-census [nr_cqes] [tsc_miss_threshold]
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <x86intrin.h>
#include <liburing.h>

#define NWORDS 16

static const char *names[NWORDS];
static volatile uint32_t *line;
static volatile int stop, sampler_ready;
static unsigned long changes[NWORDS], wakes, silent, samples;
static unsigned long wake_cqtail, wake_kernel_only, wake_user_only;
static unsigned thr = 250;
static int use_sampler = 1;
static int kern_field[NWORDS], user_field[NWORDS], tail_idx = -1, word_idx = -1;

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

static void *sampler(void *arg)
{
	uint32_t prev[NWORDS], cur[NWORDS];
	int i;

	pin(1);
	for (i = 0; i < NWORDS; i++)
		prev[i] = line[i];
	sampler_ready = 1;
	while (!stop) {
		uint64_t t0, t1;
		unsigned aux;
		int changed = 0, k = 0, u = 0, t = 0;

		t0 = __rdtscp(&aux);
		for (i = 0; i < NWORDS; i++)
			cur[i] = line[i];
		t1 = __rdtscp(&aux);
		samples++;
		for (i = 0; i < NWORDS; i++) {
			if (cur[i] == prev[i])
				continue;
			changes[i]++;
			changed = 1;
			if (i == tail_idx)
				t = 1;
			else if (kern_field[i])
				k = 1;
			else
				u = 1;
			prev[i] = cur[i];
		}
		if (changed) {
			wakes++;
			if (t)
				wake_cqtail++;
			else if (k)
				wake_kernel_only++;
			else if (u)
				wake_user_only++;
		} else if (t1 - t0 > thr && t1 - t0 < 20 * thr) {
			silent++;
		}
	}
	return NULL;
}

static void name_fields(struct io_uring_params *p, unsigned base)
{
	struct { unsigned off; const char *n; int kern; } f[] = {
		{ p->sq_off.head, "sq.head", 1 },
		{ p->sq_off.tail, "sq.tail", 0 },
		{ p->sq_off.ring_mask, "sq_ring_mask", 1 },
		{ p->sq_off.ring_entries, "sq_ring_entries", 1 },
		{ p->sq_off.flags, "sq_flags", 1 },
		{ p->sq_off.dropped, "sq_dropped", 1 },
		{ p->cq_off.head, "cq.head", 0 },
		{ p->cq_off.tail, "cq.tail", 1 },
		{ p->cq_off.ring_mask, "cq_ring_mask", 1 },
		{ p->cq_off.ring_entries, "cq_ring_entries", 1 },
		{ p->cq_off.overflow, "cq_overflow", 1 },
		{ p->cq_off.flags, "cq_flags", 0 },
		{ p->cq_off.user_word, "user_word", 0 },
	};
	unsigned i;

	for (i = 0; i < NWORDS; i++) {
		names[i] = "(pad)";
		kern_field[i] = user_field[i] = 0;
	}
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		unsigned idx;

		if (f[i].off < base || f[i].off >= base + 64)
			continue;
		if (!strcmp(f[i].n, "user_word") && !f[i].off)
			continue;
		idx = (f[i].off - base) / 4;
		names[idx] = f[i].n;
		kern_field[idx] = f[i].kern;
		user_field[idx] = !f[i].kern;
		if (!strcmp(f[i].n, "cq.tail"))
			tail_idx = idx;
		if (!strcmp(f[i].n, "user_word"))
			word_idx = idx;
	}
}

static struct io_uring ring;
static int pipefd[2];

static void reap_all(unsigned nr)
{
	struct io_uring_cqe *cqe;

	while (nr--) {
		if (io_uring_wait_cqe(&ring, &cqe)) {
			fprintf(stderr, "wait_cqe failed\n");
			exit(1);
		}
		io_uring_cqe_seen(&ring, cqe);
	}
}

static void submit_nops(unsigned nr)
{
	unsigned i;

	for (i = 0; i < nr; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		if (!sqe) {
			io_uring_sqring_wait(&ring);
			sqe = io_uring_get_sqe(&ring);
		}
		io_uring_prep_nop(sqe);
	}
	io_uring_submit(&ring);
}

enum { W_IDLE, W_SILENT, W_NOP1, W_NOP8, W_PIPE, W_OVERFLOW };

/* returns number of CQEs produced */
static unsigned long workload(int kind, unsigned long nr)
{
	unsigned long done = 0;
	char buf[8];

	switch (kind) {
	case W_IDLE:
		usleep(nr);
		return 0;
	case W_SILENT:
		/* control: same-value atomic stores to cq_flags (user field) */
		for (done = 0; done < nr; done++) {
			__atomic_fetch_or(ring.cq.kflags, 0, __ATOMIC_SEQ_CST);
			for (volatile int j = 0; j < 2000; j++)
				;
		}
		return 0;
	case W_NOP1:
	case W_NOP8: {
		unsigned b = kind == W_NOP1 ? 1 : 8;

		while (done < nr) {
			submit_nops(b);
			reap_all(b);
			done += b;
		}
		return done;
	}
	case W_PIPE:
		/* completions via poll wakeup -> task_work (TASKRUN flag) */
		while (done < nr) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			io_uring_prep_read(sqe, pipefd[0], buf, 1, 0);
			io_uring_submit(&ring);
			if (write(pipefd[1], "x", 1) != 1)
				exit(1);
			reap_all(1);
			done++;
		}
		return done;
	case W_OVERFLOW: {
		unsigned cqn = ring.cq.ring_entries;

		while (done < nr) {
			unsigned i;

			for (i = 0; i < 4; i++)
				submit_nops(cqn / 2);
			reap_all(2 * cqn);
			done += 2 * cqn;
		}
		return done;
	}
	}
	return 0;
}

/*
 * With the measurement-only kernel instrumentation (not part of the patch
 * series) fdinfo has a "LineCensus:" line with exact counts of kernel
 * stores to the line: sq.head, cq.tail, each sq_flags bit set/clear, and how
 * many of them did not change the value ("_silent"). Print them per 1000
 * CQEs.
 */
static void kernel_census(const char *title, unsigned long cqes)
{
	char path[64], buf[4096], *l, *tok, *save;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ring.ring_fd);
	f = fopen(path, "r");
	if (!f)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	l = strstr(buf, "LineCensus:");
	if (!l)
		return;
	l += strlen("LineCensus:");
	*strchrnul(l, '\n') = 0;
	printf("%-28s kernel stores per 1000 CQEs:", title);
	for (tok = strtok_r(l, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		unsigned long v;

		if (!eq)
			continue;
		v = strtoul(eq + 1, NULL, 0);
		if (!v)
			continue;
		*eq = 0;
		if (cqes)
			printf(" %s %.1f", tok, v * 1000.0 / cqes);
		else
			printf(" %s %lu(abs)", tok, v);
	}
	printf("\n");
}

static void run(const char *title, unsigned flags, int kind, unsigned long nr)
{
	struct io_uring_params p;
	pthread_t t;
	unsigned long cqes;
	double per;
	unsigned base;
	int i, ret;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	if (flags & IORING_SETUP_SQPOLL)
		p.sq_thread_idle = 1;
	if (kind == W_OVERFLOW) {
		p.flags |= IORING_SETUP_CQSIZE;
		p.cq_entries = 16;
		ret = io_uring_queue_init_params(16, &ring, &p);
	} else {
		ret = io_uring_queue_init_params(64, &ring, &p);
	}
	if (ret) {
		printf("%-28s setup failed: %s\n", title, strerror(-ret));
		return;
	}
	base = p.cq_off.tail & ~63u;
	line = (volatile uint32_t *)((char *)ring.cq.ring_ptr + base);
	name_fields(&p, base);

	memset(changes, 0, sizeof(changes));
	wakes = silent = samples = 0;
	wake_cqtail = wake_kernel_only = wake_user_only = 0;
	stop = sampler_ready = 0;
	if (use_sampler) {
		pin(0);
		pthread_create(&t, NULL, sampler, NULL);
		while (!sampler_ready)
			;
	}
	cqes = workload(kind, nr);
	stop = 1;
	if (use_sampler)
		pthread_join(t, NULL);
	kernel_census(title, cqes);
	io_uring_queue_exit(&ring);
	if (!use_sampler)
		return;

	per = cqes ? 1000.0 / cqes : 0;
	if (!cqes) {
		printf("%-28s %lu samples: wakes %lu, silent misses %lu\n",
		       title, samples, wakes, silent);
		return;
	}
	printf("%-28s CQEs %lu | per 1000 CQEs: wakes %.0f (cq.tail %.0f, "
	       "kernel-only %.0f, user-only %.0f), silent misses %.0f |",
	       title, cqes, wakes * per, wake_cqtail * per,
	       wake_kernel_only * per, wake_user_only * per, silent * per);
	for (i = 0; i < NWORDS; i++)
		if (changes[i])
			printf(" %s %.0f", names[i], changes[i] * per);
	printf("\n");
}

int main(int argc, char *argv[])
{
	unsigned long nr = argc > 1 ? strtoul(argv[1], NULL, 0) : 100000;
	struct io_uring_params p;

	if (argc > 2)
		thr = strtoul(argv[2], NULL, 0);
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		printf("one CPU: no sampler, kernel census only (if available)\n");
		use_sampler = 0;
	}
	if (pipe(pipefd))
		return 1;

	memset(&p, 0, sizeof(p));
	if (io_uring_queue_init_params(4, &ring, &p))
		return 77;
	printf("layout: sq.head %u sq.tail %u cq.head %u cq.tail %u "
	       "sq_flags %u sq_dropped %u cq_flags %u cq_overflow %u "
	       "user_word %u cqes %u (feature %s)\n",
	       p.sq_off.head, p.sq_off.tail, p.cq_off.head, p.cq_off.tail,
	       p.sq_off.flags, p.sq_off.dropped, p.cq_off.flags,
	       p.cq_off.overflow, p.cq_off.user_word, p.cq_off.cqes,
	       p.features & IORING_FEAT_CQ_USER_WORD ? "yes" : "no");
	io_uring_queue_exit(&ring);

	run("idle baseline (1s)", 0, W_IDLE, 1000000);
	run("control: 100k silent stores", 0, W_SILENT, 100000);
	run("sqpoll idle (1s)", IORING_SETUP_SQPOLL, W_IDLE, 1000000);
	run("nop, batch 1", 0, W_NOP1, nr);
	run("nop, batch 8", 0, W_NOP8, nr);
	run("sqpoll nop, batch 8", IORING_SETUP_SQPOLL, W_NOP8, nr / 4);
	run("pipe read, default", 0, W_PIPE, nr / 4);
	run("pipe read, coop+taskrun_flag",
	    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, W_PIPE,
	    nr / 4);
	run("pipe read, defer_taskrun",
	    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
	    IORING_SETUP_TASKRUN_FLAG, W_PIPE, nr / 4);
	run("nop overflow (cq 16)", 0, W_OVERFLOW, nr);
	return 0;
}
