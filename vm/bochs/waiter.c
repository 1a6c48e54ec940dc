// SPDX-License-Identifier: MIT
/*
 * The `waiter` suite: runs the CQ-word waiter's monitor/wait stubs, byte for byte as
 * IoUring.Interop.Wakeup emits them (WaitInstructions.StubBytes, exported by
 * `vm test --emulator bochs --suite waiter` into the boot image), in a guest whose CPU has MONITORX/MWAITX (Bochs, ryzen).
 * The rest of the waiter (busy check, announce Asleep, fence, re-check, kernel wait)
 * is the same protocol as CqWordWaiter, in C, because .NET does not fit in the boot
 * image (docs/cq-user-word.md, "Run for real under Bochs").
 *
 * Usage: waiter STUBS.bin MODE[,MODE...] [HANDOFFS]   (MODE: mwaitx, umwait, pause)
 * Prints the console markers of Toolkit.Contract ("toolkit-suite: run waiter/NAME",
 * "toolkit-suite: pass|fail|skip waiter/NAME (S s): message"); the host turns them into
 * KTAP and its exit code. Exit 0 when the tests ran, whatever their verdicts; 1 when they could
 * not run (no ring, no user word); 2 on bad usage or a bad stub file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <time.h>
#include <unistd.h>

#define IORING_FEAT_CQ_USER_WORD (1U << 18)
#define STUB_SIZE 128
#define WAKEUP_USER_DATA 0x4351574B45555550ULL	/* "CQWAKEUP", CqWordWaiter.WakeupUserData */
#define STATE_AWAKE 0
#define STATE_ASLEEP 0x80
#define STATE_WAKING 0x40

enum mode { PAUSE, MWAITX, UMWAIT };
static const char *mode_name[] = { "pause", "mwaitx", "umwait" };

/* The four stubs, at the offsets WaitInstructions places them (32 bytes apart). */
static void (*umonitor)(void *);
static int (*umwait)(unsigned control, unsigned long ticks);
static void (*monitorx)(void *);
static void (*mwaitx)(unsigned ticks);

struct ring {
	int fd;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	struct io_uring_sqe *sqes;
	unsigned features;
	unsigned *word;		/* the CQ user word (NULL without the feature) */
};

static int failures;

static inline uint64_t rdtsc(void)
{
	unsigned lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- results: console markers and KTAP (Toolkit.Contract) ---- */

static double test_start;

static void begin(const char *name)
{
	printf("toolkit-suite: run waiter/%s\n", name);
	fflush(stdout);
	test_start = now();
}

/* outcome: "pass", "fail" or "skip"; msg: one line */
static void end(const char *name, const char *outcome, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	double s = now() - test_start;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!strcmp(outcome, "fail"))
		failures++;
	printf("toolkit-suite: %s waiter/%s (%.2f s): %s\n", outcome, name, s, msg);
	fflush(stdout);
}

/* ---- the stubs ---- */

static int load_stubs(const char *path)
{
	unsigned char buf[STUB_SIZE + 1];
	unsigned char *page;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		fprintf(stderr, "waiter: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != STUB_SIZE) {
		fprintf(stderr, "waiter: %s has %zd bytes, expected %d (WaitInstructions.StubBytes)\n",
			path, n, STUB_SIZE);
		return -1;
	}
	/* Written, then made read+execute, as WaitInstructions does: never W and X at once. */
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return -1;
	memcpy(page, buf, STUB_SIZE);
	if (mprotect(page, 4096, PROT_READ | PROT_EXEC))
		return -1;
	umonitor = (void *)page;
	umwait = (void *)(page + 32);
	monitorx = (void *)(page + 64);
	mwaitx = (void *)(page + 96);
	return 0;
}

static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

/* The same bits WaitInstructions.HasWaitPkg / HasMonitorX read. */
static int has_waitpkg(void)
{
	unsigned r[4];

	cpuid(0, 0, r);
	if (r[0] < 7)
		return 0;
	cpuid(7, 0, r);
	return (r[2] >> 5) & 1;
}

static int has_monitorx(void)
{
	unsigned r[4];

	cpuid(0x80000000, 0, r);
	if (r[0] < 0x80000001)
		return 0;
	cpuid(0x80000001, 0, r);
	return (r[2] >> 29) & 1;
}

/* ---- a ring, mapped by hand (no liburing in the boot image) ---- */

static int ring_setup(struct ring *r, unsigned entries)
{
	struct io_uring_params p;
	unsigned char *sq, *cq;
	size_t sq_len, cq_len;

	memset(&p, 0, sizeof(p));
	memset(r, 0, sizeof(*r));
	r->fd = syscall(__NR_io_uring_setup, entries, &p);
	if (r->fd < 0)
		return -errno;
	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (cq_len > sq_len)
		sq_len = cq_len;
	/* IORING_FEAT_SINGLE_MMAP (every kernel here): SQ and CQ rings share one mapping. */
	sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	if (sq == MAP_FAILED)
		return -errno;
	cq = sq;
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		return -errno;
	r->sq_head = (unsigned *)(sq + p.sq_off.head);
	r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + p.sq_off.array);
	r->cq_head = (unsigned *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	r->features = p.features;
	/* cq_off.user_word is resv1 in Debian 12's UAPI header (docs/cq-user-word.md). */
	if ((p.features & IORING_FEAT_CQ_USER_WORD) && p.cq_off.resv1)
		r->word = (unsigned *)(cq + p.cq_off.resv1);
	return 0;
}

static unsigned cq_ready(struct ring *r)
{
	return __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE) - *r->cq_head;
}

/* Reaps every CQE; returns how many were not wakeup tokens. */
static unsigned cq_drain(struct ring *r)
{
	unsigned head = *r->cq_head, tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE), n = 0;

	for (; head != tail; head++)
		if (r->cqes[head & *r->cq_mask].user_data != WAKEUP_USER_DATA)
			n++;
	__atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
	return n;
}

/* One MSG_RING from r into the ring `target`: the kernel posts a CQE there. */
static int msg_ring(struct ring *r, int target, unsigned long long user_data)
{
	unsigned tail = *r->sq_tail, idx = tail & *r->sq_mask;
	struct io_uring_sqe *sqe = &r->sqes[idx];
	int ret;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_MSG_RING;
	sqe->fd = target;
	sqe->off = user_data;	/* the target CQE's user_data */
	sqe->flags = IOSQE_CQE_SKIP_SUCCESS;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	ret = syscall(__NR_io_uring_enter, r->fd, 1, 0, 0, NULL, 0);
	if (ret < 0)
		return -errno;
	cq_drain(r);	/* only failures post here (SKIP_SUCCESS) */
	return 0;
}

/* Blocks in io_uring_enter for one CQE or `ms` milliseconds; -ETIME on the timeout. */
static int wait_cqe_timeout(struct ring *r, long ms)
{
	struct __kernel_timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	struct io_uring_getevents_arg arg = { .ts = (uint64_t)(uintptr_t)&ts };
	int ret;

	if (cq_ready(r))
		return 0;
	ret = syscall(__NR_io_uring_enter, r->fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
		      &arg, sizeof(arg));
	if (ret < 0)
		return -errno;
	return cq_ready(r) ? 0 : -ETIME;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* ---- the waiter and the notifier: CqWordWaiter / CqWordNotifier's protocol (docs/cq-user-word.md) ---- */

struct waiter {
	struct ring *r;
	enum mode mode;
	unsigned spin_checks;		/* CqWordWaiter.SpinChecks */
	unsigned ticks;			/* CqWordWaiter.MonitorTscTicks */
	uint16_t last_seq;
	const unsigned *work;		/* what the producer publishes (hasWork) */
	unsigned seen;
	long idle_iterations, kernel_sleeps, safety_timeouts, waits;
};

static uint16_t *seq_of(unsigned *word) { return (uint16_t *)word; }
static uint8_t *state_of(unsigned *word) { return (uint8_t *)word + 3; }

enum reason { NONE, COMPLETION, NOTIFIED, WORK, SAFETY_TIMEOUT };

static enum reason ready(struct waiter *w)
{
	uint16_t seq = __atomic_load_n(seq_of(w->r->word), __ATOMIC_ACQUIRE);
	int notified = seq != w->last_seq;

	w->last_seq = seq;
	if (cq_ready(w->r))
		return COMPLETION;
	if (notified)
		return NOTIFIED;
	if (w->work && __atomic_load_n(w->work, __ATOMIC_ACQUIRE) != w->seen)
		return WORK;
	return NONE;
}

/* The idle phase: monitor, re-check, wait; or one PAUSE and a re-check. */
static enum reason idle_wait(struct waiter *w)
{
	enum reason why;

	for (unsigned i = 0; i < w->spin_checks; i++) {
		w->idle_iterations++;
		switch (w->mode) {
		case MWAITX:
			monitorx(w->r->word);
			/* a store between the last check and arming would not wake MWAITX */
			if ((why = ready(w)))
				return why;
			mwaitx(w->ticks);
			break;
		case UMWAIT:
			umonitor(w->r->word);
			if ((why = ready(w)))
				return why;
			umwait(0, w->ticks);
			break;
		default:
			__builtin_ia32_pause();
		}
		if ((why = ready(w)))
			return why;
	}
	return NONE;
}

static enum reason waiter_wait(struct waiter *w, long safety_ms)
{
	enum reason why;
	int rc;

	w->waits++;
	if ((why = ready(w)))
		return why;
	for (;;) {
		if ((why = idle_wait(w)))
			return why;
		/* announce, full fence, re-check (the Dekker half of the waiter) */
		__atomic_store_n(state_of(w->r->word), STATE_ASLEEP, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if ((why = ready(w))) {
			__atomic_store_n(state_of(w->r->word), STATE_AWAKE, __ATOMIC_RELEASE);
			return why;
		}
		w->kernel_sleeps++;
		rc = wait_cqe_timeout(w->r, safety_ms);
		__atomic_store_n(state_of(w->r->word), STATE_AWAKE, __ATOMIC_RELEASE);
		if ((why = ready(w)))
			return why;
		if (rc == -ETIME) {
			w->safety_timeouts++;
			return SAFETY_TIMEOUT;
		}
	}
}

struct notifier {
	struct ring own;	/* the notifier's own ring, for MSG_RING */
	unsigned *word;
	int target;
	long plain, msg_rings, errors;
};

static void notify(struct notifier *n)
{
	uint16_t *seq = seq_of(n->word);
	uint8_t *state = state_of(n->word), st;

	/* a plain 16-bit store (MOV), no lock prefix: the store MWAITX must wake on */
	__atomic_store_n(seq, (uint16_t)(*(volatile uint16_t *)seq + 1), __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	st = __atomic_load_n(state, __ATOMIC_ACQUIRE);
	if (st != STATE_ASLEEP) {
		n->plain++;
		return;
	}
	if (__atomic_compare_exchange_n(state, &st, STATE_WAKING, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		n->msg_rings++;
		if (msg_ring(&n->own, n->target, WAKEUP_USER_DATA))
			n->errors++;
	} else {
		n->plain++;
	}
}

/* ---- wake tests: one waiter on CPU 1, the other side on CPU 0 ---- */

struct wake_test {
	struct ring *r;
	struct notifier *n;
	int cqe;			/* 1: wake by a MSG_RING CQE, 0: by a plain store to the word */
	int rounds;
	volatile int armed;		/* round number the waiter is about to wait in */
	volatile uint64_t stored_at;	/* TSC just before the store / the MSG_RING */
	volatile int done;
};

#define WAKE_ROUNDS 50
#define BIG_TICKS 200000000u	/* 4 s of guest time at Bochs' 50 MHz TSC: never the reason of a wake */
#define LATENCY_BOUND 50000	/* ticks from the store to the waiter running again (a timer tick is 200,000) */

static void *wake_other(void *arg)
{
	struct wake_test *t = arg;

	pin(0);
	for (int round = 1; round <= t->rounds; round++) {
		while (t->armed != round)
			__builtin_ia32_pause();
		for (uint64_t until = rdtsc() + 5000; rdtsc() < until;)
			__builtin_ia32_pause();	/* let the waiter reach MWAITX */
		t->stored_at = rdtsc();
		if (t->cqe)
			msg_ring(&t->n->own, t->r->fd, round);
		else
			__atomic_store_n(seq_of(t->r->word), (uint16_t)round, __ATOMIC_RELEASE);
		while (t->done != round)
			__builtin_ia32_pause();
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The waiter's side of one round: monitor, re-check, wait; until the store or the CQE is seen. */
static uint64_t wake_round(struct wake_test *t, enum mode m, int round, long *early)
{
	unsigned head = *t->r->cq_tail;

	t->armed = round;
	for (;;) {
		int seen = t->cqe ? *(volatile unsigned *)t->r->cq_tail != head
				  : *(volatile uint16_t *)seq_of(t->r->word) == (uint16_t)round;
		if (seen)
			break;
		if (m == MWAITX) {
			monitorx(t->r->word);
			if (t->cqe ? *(volatile unsigned *)t->r->cq_tail != head
				   : *(volatile uint16_t *)seq_of(t->r->word) == (uint16_t)round)
				break;
			mwaitx(BIG_TICKS);
		} else if (m == UMWAIT) {
			umonitor(t->r->word);
			if (t->cqe ? *(volatile unsigned *)t->r->cq_tail != head
				   : *(volatile uint16_t *)seq_of(t->r->word) == (uint16_t)round)
				break;
			umwait(0, BIG_TICKS);
		} else {
			__builtin_ia32_pause();
			continue;
		}
		(*early)++;	/* woke (interrupt, or the store) and re-checks */
	}
	return rdtsc() - t->stored_at;
}

static void test_wake(struct ring *r, struct notifier *n, enum mode m, int cqe)
{
	char name[64];
	struct wake_test t = { .r = r, .n = n, .cqe = cqe, .rounds = WAKE_ROUNDS };
	uint64_t lat[WAKE_ROUNDS];
	long wakes = 0, slow = 0;
	pthread_t th;

	snprintf(name, sizeof(name), "%s-wakes-on-%s", mode_name[m], cqe ? "cqe-from-other-cpu" : "plain-store");
	begin(name);
	pthread_create(&th, NULL, wake_other, &t);
	for (int round = 1; round <= WAKE_ROUNDS; round++) {
		lat[round - 1] = wake_round(&t, m, round, &wakes);
		if (lat[round - 1] > LATENCY_BOUND)
			slow++;
		if (cqe)
			cq_drain(r);
		t.done = round;
	}
	pthread_join(th, NULL);
	qsort(lat, WAKE_ROUNDS, sizeof(lat[0]), cmp_u64);
	end(name, slow ? "fail" : "pass",
	    "%d rounds; ticks from the %s to the waiter running: median %llu, max %llu (bound %d); "
	    "returns from the wait instruction %ld",
	    WAKE_ROUNDS, cqe ? "MSG_RING on CPU 0" : "store on CPU 0", (unsigned long long)lat[WAKE_ROUNDS / 2],
	    (unsigned long long)lat[WAKE_ROUNDS - 1], LATENCY_BOUND, wakes);
}

/* Nothing stores to the line: MWAITX must end at its timer (or earlier, on an interrupt). */
static void test_deadline(struct ring *r, enum mode m)
{
	const unsigned ticks = 20000;
	const int rounds = 200;
	long at_deadline = 0, early = 0, late = 0;
	char name[64];

	snprintf(name, sizeof(name), "%s-wakes-on-deadline", mode_name[m]);
	begin(name);
	for (int i = 0; i < rounds; i++) {
		uint64_t t0 = rdtsc(), dt;

		if (m == MWAITX) {
			monitorx(r->word);
			mwaitx(ticks);
		} else {
			umonitor(r->word);
			umwait(0, ticks);
		}
		dt = rdtsc() - t0;
		if (dt < ticks)
			early++;
		else if (dt > 4 * ticks)
			late++;
		else
			at_deadline++;
	}
	/* A timer interrupt (every 200,000 ticks) ends about one wait in ten early; a missing timer hangs. */
	end(name, at_deadline >= rounds * 3 / 4 && !late ? "pass" : "fail",
	    "%d waits of %u ticks: %ld ended at the deadline, %ld early (interrupts), %ld later than 4x",
	    rounds, ticks, at_deadline, early, late);
}

/* ---- handoffs: the whole protocol, producer on CPU 0, waiter on CPU 1 ---- */

struct handoff {
	struct notifier *n;
	unsigned work;		/* published by the producer */
	volatile unsigned ack;	/* the last item the waiter took */
	int count;
	unsigned max_delay;	/* ticks the producer may pause before an item, every 16th item */
	int stuck;
};

static void *producer(void *arg)
{
	struct handoff *h = arg;
	unsigned rnd = 12345;

	pin(0);
	for (int i = 1; i <= h->count; i++) {
		if (i % 64 == 0) {	/* the MSG_RING path: wait until the waiter has announced Asleep */
			for (uint64_t until = rdtsc() + 50000000; rdtsc() < until &&
			     __atomic_load_n(state_of(h->n->word), __ATOMIC_ACQUIRE) != STATE_ASLEEP;)
				__builtin_ia32_pause();
		} else if (i % 16 == 0) {	/* sometimes long enough for the waiter to block in the kernel */
			rnd = rnd * 1103515245 + 12345;
			for (uint64_t until = rdtsc() + (rnd >> 8) % h->max_delay; rdtsc() < until;)
				__builtin_ia32_pause();
		}
		__atomic_store_n(&h->work, i, __ATOMIC_RELEASE);
		notify(h->n);
		for (double limit = now() + 60; h->ack != (unsigned)i;) {
			__builtin_ia32_pause();
			if (now() > limit) {	/* the waiter never took it: stop, the test fails */
				h->stuck = i;
				return NULL;
			}
		}
	}
	return NULL;
}

static void test_handoffs(struct ring *r, struct notifier *n, enum mode m, int count, double per_iteration)
{
	struct handoff h = { .n = n, .count = count };
	struct waiter w = { .r = r, .mode = m, .spin_checks = 8, .ticks = 20000, .work = &h.work };
	long lost = 0, spare = 0;
	char name[64];
	pthread_t th;

	h.max_delay = w.spin_checks * (m == PAUSE ? 200 : w.ticks) * 3 / 2;
	snprintf(name, sizeof(name), "%s-handoffs", mode_name[m]);
	begin(name);
	w.last_seq = *seq_of(r->word);
	pthread_create(&th, NULL, producer, &h);
	while (h.ack != (unsigned)count && !h.stuck) {
		enum reason why = waiter_wait(&w, 5000);
		unsigned item = __atomic_load_n(&h.work, __ATOMIC_ACQUIRE);

		if (why == SAFETY_TIMEOUT && item != w.seen)
			lost++;		/* work was pending and nothing woke the waiter */
		spare += cq_ready(r) - cq_drain(r);
		if (item != w.seen) {
			w.seen = item;
			h.ack = item;
		}
	}
	pthread_join(th, NULL);
	end(name, lost || h.stuck || n->errors ? "fail" : "pass",
	    "%d handoffs, lost wakeups %ld, stuck at %d; plain store %ld, MSG_RING %ld (errors %ld), kernel sleeps %ld, "
	    "safety timeouts %ld, wakeup CQEs %ld; idle-phase iterations per wait %.1f = ~%.0f instructions",
	    count, lost, h.stuck, n->plain, n->msg_rings, n->errors, w.kernel_sleeps, w.safety_timeouts, spare,
	    (double)w.idle_iterations / w.waits, (double)w.idle_iterations / w.waits * per_iteration);
	n->plain = n->msg_rings = 0;
}

/* ---- instructions retired by the waiting thread: single-step (EFLAGS.TF) counts, Bochs executes ---- */

static volatile long steps;

static void on_trap(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)si; (void)uc;
	steps++;
}

/* Instructions retired in one idle_wait() call: every instruction traps once (SIGTRAP). */
static long __attribute__((noinline)) stepped_idle_wait(struct waiter *w)
{
	steps = 0;
	__asm__ volatile("pushfq; orq $0x100, (%%rsp); popfq" ::: "memory", "cc");
	idle_wait(w);
	__asm__ volatile("pushfq; andq $~0x100, (%%rsp); popfq" ::: "memory", "cc");
	return steps;
}

struct counts { long call; long iteration; };

/* Instructions of one idle_wait() call with one check (call, loop, return), and of each further
 * iteration (2 checks minus 1). */
static struct counts count_instructions(struct ring *r, enum mode m)
{
	struct waiter w = { .r = r, .mode = m, .ticks = 20000 };
	struct sigaction sa = { .sa_sigaction = on_trap, .sa_flags = SA_SIGINFO };
	long one, two;

	sigaction(SIGTRAP, &sa, NULL);
	w.last_seq = *seq_of(r->word);
	w.spin_checks = 1;
	one = stepped_idle_wait(&w);
	w.spin_checks = 2;
	two = stepped_idle_wait(&w);
	return (struct counts){ one, two - one };
}

/* An idle period of `ticks` with nothing to do: how many idle iterations, hence instructions. */
static void test_instructions(struct ring *r, enum mode m, struct counts c)
{
	const uint64_t period = 1000000;	/* 20 ms of guest time */
	struct waiter w = { .r = r, .mode = m, .spin_checks = 1u << 30, .ticks = 100000 };
	char name[64];
	uint64_t t0;
	long iterations = 0;

	snprintf(name, sizeof(name), "%s-instructions-per-wait", mode_name[m]);
	begin(name);
	w.last_seq = *seq_of(r->word);
	w.spin_checks = 1;
	for (t0 = rdtsc(); rdtsc() - t0 < period; iterations++)
		idle_wait(&w);
	end(name, c.call > 0 && c.iteration > 0 ? "pass" : "fail",
	    "idle for %llu ticks (CqWordWaiter's default %u-tick monitor wait): %ld one-check idle waits x %ld "
	    "instructions (single-stepped; %ld per further iteration) = ~%ld instructions retired by the waiting thread",
	    (unsigned long long)period, w.ticks, iterations, c.call, c.iteration, iterations * c.call);
}

static int usage(void)
{
	fprintf(stderr, "usage: waiter STUBS.bin MODE[,MODE...] [HANDOFFS]   (MODE: mwaitx, umwait or pause)\n");
	return 2;
}

/* A mode the CPU cannot run is a skip with the reason, not a crash (the stub would raise #UD). */
static const char *unsupported(enum mode m)
{
	if (m == MWAITX && !has_monitorx())
		return "CPU lacks MONITORX/MWAITX (CPUID 0x80000001 ECX bit 29): use the ryzen model";
	if (m == UMWAIT && !has_waitpkg())
		return "CPU lacks WAITPKG (CPUID 7 ECX bit 5): no Bochs 2.7 model has it";
	return NULL;
}

static void run_mode(struct ring *r, struct notifier *n, enum mode m, int handoffs)
{
	const char *why = unsupported(m);
	struct counts c;

	if (why) {
		begin(mode_name[m]);
		end(mode_name[m], "skip", "%s", why);
		return;
	}
	c = count_instructions(r, m);
	if (m != PAUSE) {
		test_wake(r, n, m, 0);
		test_wake(r, n, m, 1);
		test_deadline(r, m);
	}
	test_handoffs(r, n, m, handoffs, c.iteration);
	test_instructions(r, m, c);
}

static int parse_modes(char *list, enum mode *modes, int max)
{
	int count = 0;

	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		int i;

		for (i = 0; i < 3 && strcmp(tok, mode_name[i]); i++)
			;
		if (i == 3 || count == max)
			return -1;
		modes[count++] = i;
	}
	return count;
}

int main(int argc, char **argv)
{
	struct ring r;
	struct notifier n = { 0 };
	enum mode modes[3];
	int count, handoffs = argc > 3 ? atoi(argv[3]) : 10000, ret;

	if (argc < 3 || handoffs <= 0 || (count = parse_modes(argv[2], modes, 3)) <= 0)
		return usage();
	if (load_stubs(argv[1]))
		return 2;
	printf("toolkit-suite: cpuid waitpkg=%s monitorx=%s\n", has_waitpkg() ? "yes" : "no",
	       has_monitorx() ? "yes" : "no");
	fflush(stdout);
	pin(1);
	if ((ret = ring_setup(&r, 64)) || (ret = ring_setup(&n.own, 8))) {
		fprintf(stderr, "waiter: io_uring_setup: %s\n", strerror(-ret));
		return 1;
	}
	n.word = r.word;
	n.target = r.fd;
	if (!r.word) {
		begin("setup");
		end("setup", "fail", "kernel lacks IORING_FEAT_CQ_USER_WORD (boot the patched kernel)");
		return 1;
	}
	for (int i = 0; i < count; i++)
		run_mode(&r, &n, modes[i], handoffs);
	printf("toolkit-suite: waiter done, %d failed\n", failures);
	return 0;
}
