/* SPDX-License-Identifier: MIT */
/*
 * IOSQE_CQE_TARGET under random use, repeated: random requests carrying the
 * flag, aimed at random targets (live rings of every setup, rings closed
 * while the requests are in flight, rings whose owner thread has exited,
 * fds that are not io_uring, fds that are not open, the submitting ring
 * itself), from sources of every setup.
 *
 * Every request is accounted for. A request whose CQE may be posted (all
 * but successful IOSQE_CQE_SKIP_SUCCESS ones) shows up exactly once, on its
 * target or, for requests failed at submission, on the source; never on a
 * third ring, never twice. A target closed after submission still receives
 * its CQEs: the test keeps the ring's mapping after closing the fd and reads
 * the CQ from memory, also after closing all of them at the end of a round.
 * The only CQEs allowed to be missing are those aimed at a DEFER_TASKRUN ring
 * that was closed before its task_work posted them, or whose owner thread
 * exited: such a ring can only post from its owner's task_work, and like
 * IORING_OP_MSG_RING's CQEs (same on the unpatched kernel) they are dropped
 * with the ring. Where /proc/slabinfo exists, the io_kiocb slab must not
 * grow by more than 2048 objects over the run (slack for per-CPU slabs and
 * deferred frees): the carriers of dropped CQEs are freed, not leaked.
 *
 * -f: fault tolerant, for runs under allocation fault injection
 * (docs/reliability.md). Ring setup failing with -ENOMEM/-EAGAIN is retried,
 * SQEs the kernel could not take yet (no request could be allocated) are
 * submitted again, and a request may complete with -ENOMEM or -EAGAIN, or
 * with -ECANCELED when it is part of a link, on its target or on the
 * source. Every request is still accounted for as above: exactly one CQE,
 * never on a third ring, never a second one. (No CQ here can overflow: a
 * round posts at most MAX_REQS CQEs on rings of CQ_SIZE entries.)
 *
 * Usage: cqe-target-chaos [-i iterations] [-s seed] [-t max_seconds] [-f]
 * Exit: 0 pass, 1 fail, 77 kernel without the feature.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cqe-target.h"

#define MAX_TARGETS	5
#define MAX_REQS	48
#define CQ_SIZE		256

enum ring_kind { K_PLAIN, K_CQE32, K_DEFER, K_DEFER_CQE32, K_SQPOLL, NR_KINDS };

static const char *const kind_name[] = {
	"plain", "cqe32", "defer", "defer+cqe32", "sqpoll",
};

struct ring {
	struct io_uring r;
	enum ring_kind kind;
	int fd;			/* as given to the source; -1 if never valid */
	int open;		/* fd still open */
	int orphan;		/* DEFER_TASKRUN ring whose owner thread exited */
};

enum aim { AIM_LIVE, AIM_SELF, AIM_NONRING, AIM_BADFD, NR_AIMS };

struct req {
	int aim;
	int target;		/* index into targets[], for AIM_LIVE */
	int skip;		/* IOSQE_CQE_SKIP_SUCCESS */
	int sqe_flags;
	/*
	 * Linked after an IOSQE_CQE_SKIP_SUCCESS request: if that one fails,
	 * io_uring posts no CQEs for the rest of the chain (REQ_F_SKIP_LINK_CQES).
	 */
	int after_skip;
	int late;		/* CQE arrived after the source was closed */
	int op;			/* 0 nop, 1 timeout, 2 poll */
	int nop_res;
	int seen;		/* CQEs seen for it */
	int seen_on;		/* -1 source, else target index */
	int res;
};

static struct ring src, targets[MAX_TARGETS];
static int nr_targets;
static struct req reqs[MAX_REQS];
static int nr_reqs;
/* all rings closed: CQEs for dead DEFER_TASKRUN rings must have arrived */
static int final;
static unsigned long long iter;
static unsigned long long stats_cqes, stats_reqs, stats_closed, stats_orphans,
	stats_dropped,
	stats_late;
/* -f */
static int tolerant;
static unsigned long long stats_failed, stats_setup_retries,
	stats_submit_retries;

#define FAIL(...) do {							\
	fprintf(stderr, "iteration %llu: ", iter);			\
	fprintf(stderr, __VA_ARGS__);					\
	fprintf(stderr, "\n");						\
	return -1;							\
} while (0)

static unsigned int setup_flags(enum ring_kind k)
{
	switch (k) {
	case K_CQE32:
		return IORING_SETUP_CQE32;
	case K_DEFER:
		return IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	case K_DEFER_CQE32:
		return IORING_SETUP_SINGLE_ISSUER |
		       IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQE32;
	case K_SQPOLL:
		return IORING_SETUP_SQPOLL;
	default:
		return 0;
	}
}

static int ring_init_once(struct ring *rg, enum ring_kind k)
{
	/*
	 * SUBMIT_ALL: without it submission stops at the first SQE failed at
	 * submission (e.g. a bad target) and leaves the rest in the SQ.
	 */
	struct io_uring_params p = {
		.flags = setup_flags(k) | IORING_SETUP_CQSIZE |
			 IORING_SETUP_SUBMIT_ALL,
		.cq_entries = CQ_SIZE,
	};
	int ret = io_uring_queue_init_params(8, &rg->r, &p);

	if (ret)
		return ret;
	rg->kind = k;
	rg->fd = rg->r.ring_fd;
	rg->open = 1;
	rg->orphan = 0;
	return 0;
}

/* -f: may an injected allocation failure have caused @ret? */
static int retryable(int ret)
{
	return tolerant && (ret == -ENOMEM || ret == -EAGAIN);
}

static int ring_init(struct ring *rg, enum ring_kind k)
{
	int ret, tries = 0;

	while (retryable(ret = ring_init_once(rg, k)) && ++tries < 1000)
		stats_setup_retries++;
	return ret;
}

static int is_defer(const struct ring *rg)
{
	return rg->kind == K_DEFER || rg->kind == K_DEFER_CQE32;
}

static void *orphan_fn(void *data)
{
	struct ring *rg = data;

	/* this thread becomes the ring's submitter task, then exits */
	if (ring_init(rg, K_DEFER))
		rg->fd = -1;
	return NULL;
}

/* close the fd but keep the mapping: the CQ stays readable from memory */
static void ring_close_fd(struct ring *rg)
{
	close(rg->r.ring_fd);
	rg->r.ring_fd = -1;
	rg->r.enter_ring_fd = -1;
	rg->open = 0;
}

static void ring_free(struct ring *rg)
{
	/* io_uring_queue_exit() unmaps, then closes ring_fd (-1 if closed) */
	io_uring_queue_exit(&rg->r);
}

/* reap the CQ from memory, without entering the kernel */
static int reap_memory(struct ring *rg, int where)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	io_uring_for_each_cqe(&rg->r, head, cqe) {
		unsigned long long ud = cqe->user_data;
		struct req *q;

		n++;
		if ((ud >> 16) != iter || (ud & 0xffff) >= (unsigned int)nr_reqs)
			FAIL("ring %d (%s): stray CQE ud 0x%llx res %d", where,
			     kind_name[rg->kind], ud, cqe->res);
		q = &reqs[ud & 0xffff];
		if (q->seen++)
			FAIL("request %llu: second CQE (ring %d, res %d)",
			     ud & 0xffff, where, cqe->res);
		q->seen_on = where;
		q->res = cqe->res;
		q->late = final;
		stats_cqes++;
		if (final)
			stats_late++;
	}
	io_uring_cq_advance(&rg->r, n);
	return 0;
}

/* run a live DEFER_TASKRUN ring's task_work (this thread is its owner) */
static void kick(struct ring *rg)
{
	if (rg->open && !rg->orphan)
		io_uring_get_events(&rg->r);
}

static int reap_all(void)
{
	int i;

	/* at the end of a round the source is gone (unmapped) */
	if (!final) {
		kick(&src);
		if (reap_memory(&src, -1))
			return -1;
	}
	for (i = 0; i < nr_targets; i++) {
		if (targets[i].fd < 0)
			continue;
		kick(&targets[i]);
		if (reap_memory(&targets[i], i))
			return -1;
	}
	return 0;
}

/* may this request's CQE never show up? */
static int may_be_missing(const struct req *q)
{
	const struct ring *t;

	if (q->skip || q->after_skip)
		return 1;
	if (q->aim != AIM_LIVE)
		return 0;
	t = &targets[q->target];
	return is_defer(t) && (!t->open || t->orphan);
}

static int all_seen(void)
{
	int i;

	for (i = 0; i < nr_reqs; i++)
		if (!reqs[i].seen && !may_be_missing(&reqs[i]))
			return 0;
	return 1;
}

/* linked to another request, before or after it */
static int in_link(int i)
{
	return (reqs[i].sqe_flags & IOSQE_IO_LINK) ||
	       (i && (reqs[i - 1].sqe_flags & IOSQE_IO_LINK));
}

/*
 * -f: a result an injected allocation failure may give request @i, and
 * that check() would not accept anyway (a link cancelled on its target)
 */
static int injected_failure(int i)
{
	const struct req *q = &reqs[i];

	if (!tolerant)
		return 0;
	if (q->res == -ECANCELED)
		return in_link(i) &&
		       !(q->aim == AIM_LIVE && q->seen_on == q->target);
	return q->res == -ENOMEM || q->res == -EAGAIN;
}

static void dump(void)
{
	int i;

	fprintf(stderr, "source %s fd %d; targets:", kind_name[src.kind], src.fd);
	for (i = 0; i < nr_targets; i++)
		fprintf(stderr, " %d=%s%s%s", i, kind_name[targets[i].kind],
			targets[i].open ? "" : "/closed",
			targets[i].orphan ? "/orphan" : "");
	fprintf(stderr, "\n");
	for (i = 0; i < nr_reqs; i++)
		fprintf(stderr, "  req %d: op %d aim %d target %d flags 0x%x nop_res %d: seen %d on %d res %d\n",
			i, reqs[i].op, reqs[i].aim, reqs[i].target,
			reqs[i].sqe_flags, reqs[i].nop_res, reqs[i].seen,
			reqs[i].seen_on, reqs[i].res);
}

static int check(void)
{
	int i;

	for (i = 0; i < nr_reqs; i++) {
		struct req *q = &reqs[i];

		if (!q->seen) {
			if (!may_be_missing(q))
				FAIL("request %d (op %d aim %d): no CQE", i,
				     q->op, q->aim);
			if (final && !q->skip && !q->after_skip)
				stats_dropped++;
			continue;
		}
		/*
		 * -f: failed by an allocation failure; only where it was
		 * submitted (failed before its target was taken) or on its
		 * target.
		 */
		if (injected_failure(i)) {
			if (q->seen_on != -1 &&
			    (q->aim != AIM_LIVE || q->seen_on != q->target))
				FAIL("request %d (aim %d target %d) failed with %d on ring %d",
				     i, q->aim, q->target, q->res, q->seen_on);
			if (final)
				stats_failed++;
			continue;
		}
		if (q->aim != AIM_LIVE) {
			/* self: local; bad targets: failed at submission */
			if (q->seen_on != -1)
				FAIL("request %d aim %d: CQE on target %d",
				     i, q->aim, q->seen_on);
			/*
			 * An SQPOLL source may read the SQE after the test
			 * closed the pipe: then the fd is not open any more.
			 */
			if (q->aim == AIM_NONRING && q->res != -EBADFD &&
			    !(src.kind == K_SQPOLL && q->res == -EBADF))
				FAIL("request %d: non-ring target gave %d",
				     i, q->res);
			if (q->aim == AIM_BADFD && q->res != -EBADF)
				FAIL("request %d: bad fd gave %d", i, q->res);
			continue;
		}
		if (q->seen_on == -1) {
			/*
			 * Failed at submission on the source: only when an
			 * SQPOLL source read the SQE after the target's fd
			 * was closed.
			 */
			if (q->res != -EBADF || src.kind != K_SQPOLL ||
			    targets[q->target].open)
				FAIL("request %d for target %d: CQE on the source, res %d",
				     i, q->target, q->res);
			continue;
		}
		if (q->seen_on != q->target)
			FAIL("request %d for target %d: CQE on %d res %d", i,
			     q->target, q->seen_on, q->res);
		/*
		 * Not waited for (linked after a CQE_SKIP_SUCCESS request) and
		 * still queued when the source ring was closed: io_uring's
		 * teardown fails it with -ECANCELED, or with -EFAULT when its
		 * task_work runs on the dying ring.
		 */
		if (q->res == -ECANCELED || (q->late && q->res == -EFAULT))
			continue;
		if (q->op == 0 && q->res != q->nop_res)
			FAIL("request %d: nop res %d, want %d", i, q->res,
			     q->nop_res);
		if (q->op == 1 && q->res != -ETIME)
			FAIL("request %d: timeout res %d", i, q->res);
		if (q->op == 2 && q->res <= 0)
			FAIL("request %d: poll res %d", i, q->res);
		if (q->skip && q->res >= 0 && q->op != 1)
			FAIL("request %d: CQE_SKIP_SUCCESS posted success %d",
			     i, q->res);
	}
	return 0;
}

/* reap until every request that must post a CQE has, for at most 5 s */
static int wait_for_cqes(const char *what)
{
	struct timespec start, now;
	int n, ret;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (n = 0;; n++) {
		if (reap_all())
			return -1;
		if (all_seen())
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 5) {
			/* report what is missing */
			ret = check();
			dump();
			FAIL("%s%s", what, ret ? "" : " (none missing?)");
		}
		usleep(n < 10 ? 100 : 1000);
	}
}

/* an SQE, submitting (and for SQPOLL waiting for room) when the SQ is full */
static struct io_uring_sqe *get_sqe(struct io_uring *r)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(r))) {
		io_uring_submit(r);
		if (r->flags & IORING_SETUP_SQPOLL)
			io_uring_sqring_wait(r);
	}
	return sqe;
}

static int one_iteration(void)
{
	static const int nop_res[] = { 0, 1, 12345, -EIO };
	struct __kernel_timespec ts[MAX_REQS];
	int pipefd[2], i, submitted, closing;
	char byte = 1;

	if (ring_init(&src, rand() % NR_KINDS))
		FAIL("source setup");
	nr_targets = 1 + rand() % MAX_TARGETS;
	for (i = 0; i < nr_targets; i++) {
		if (rand() % 8 == 0) {
			pthread_t thr;

			pthread_create(&thr, NULL, orphan_fn, &targets[i]);
			pthread_join(thr, NULL);
			if (targets[i].fd < 0)
				FAIL("orphan ring setup");
			targets[i].orphan = 1;
			stats_orphans++;
			continue;
		}
		/* targets: no SQPOLL, nothing is submitted on them */
		if (ring_init(&targets[i], rand() % K_SQPOLL))
			FAIL("target %d setup", i);
	}
	if (pipe(pipefd))
		FAIL("pipe");

	nr_reqs = 1 + rand() % MAX_REQS;
	for (i = 0; i < nr_reqs; i++) {
		struct io_uring_sqe *sqe;
		struct req *q = &reqs[i];
		int fd;

		memset(q, 0, sizeof(*q));
		q->aim = rand() % 6 < 3 ? AIM_LIVE : rand() % NR_AIMS;
		q->target = rand() % nr_targets;
		q->op = rand() % 3;
		q->skip = rand() % 10 == 0;
		q->seen_on = -2;
		switch (q->op) {
		case 0:
			q->nop_res = nop_res[rand() % 4];
			sqe = get_sqe(&src.r);
			io_uring_prep_nop(sqe);
			sqe->nop_flags = IORING_NOP_INJECT_RESULT;
			sqe->len = (unsigned int)q->nop_res;
			break;
		case 1:
			ts[i].tv_sec = 0;
			ts[i].tv_nsec = (rand() % 2000) * 1000;
			sqe = get_sqe(&src.r);
			io_uring_prep_timeout(sqe, &ts[i], 0, 0);
			break;
		default:
			sqe = get_sqe(&src.r);
			io_uring_prep_poll_add(sqe, pipefd[0], POLLIN);
			break;
		}
		sqe->user_data = (iter << 16) | i;
		switch (q->aim) {
		case AIM_LIVE:
			fd = targets[q->target].fd;
			break;
		case AIM_SELF:
			fd = src.fd;
			break;
		case AIM_NONRING:
			fd = pipefd[1];
			break;
		default:
			fd = 1000 + rand() % 1000;	/* not open */
			break;
		}
		io_uring_sqe_set_cqe_target(sqe, fd);
		if (q->skip)
			sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		if (rand() % 10 == 0)
			sqe->flags |= IOSQE_ASYNC;
		if (rand() % 10 == 0 && i + 1 < nr_reqs)
			sqe->flags |= IOSQE_IO_LINK;
		q->sqe_flags = sqe->flags;
		if (i && (reqs[i - 1].sqe_flags & IOSQE_IO_LINK))
			q->after_skip = reqs[i - 1].skip ||
					reqs[i - 1].after_skip;
	}
	/* the last request must not leave a link open */
	submitted = io_uring_submit(&src.r);
	if (submitted < 0 && !retryable(submitted))
		FAIL("submit: %s", strerror(-submitted));
	/*
	 * -f: SQEs the kernel couldn't allocate a request for are still in
	 * the SQ: submit them (or wake the SQPOLL thread) again before any
	 * target is closed, for about 5 s at most.
	 */
	for (i = 0; tolerant && io_uring_sq_ready(&src.r); i++) {
		if (i == 50000)
			FAIL("%u SQEs not taken by the kernel after 5 s",
			     io_uring_sq_ready(&src.r));
		usleep(100);
		stats_submit_retries++;
		submitted = io_uring_submit(&src.r);
		if (submitted < 0 && !retryable(submitted))
			FAIL("submit: %s", strerror(-submitted));
	}

	/* close some targets while their requests are in flight */
	closing = rand() % (nr_targets + 1);
	for (i = 0; i < closing; i++) {
		struct ring *t = &targets[rand() % nr_targets];

		if (t->open && !t->orphan) {
			ring_close_fd(t);
			stats_closed++;
		}
	}
	/* orphans' fds too, sometimes */
	for (i = 0; i < nr_targets; i++)
		if (targets[i].orphan && targets[i].open && rand() % 2)
			ring_close_fd(&targets[i]);

	/* fire the polls: data, then hang-up */
	if (write(pipefd[1], &byte, 1) != 1)
		FAIL("pipe write");
	close(pipefd[1]);

	if (wait_for_cqes("requests still without a CQE after 5 s"))
		return -1;
	/* a little longer: late duplicates would show up now */
	usleep(2000);
	if (reap_all())
		return -1;
	if (check()) {
		dump();
		return -1;
	}

	ring_free(&src);
	/*
	 * Close every target's fd, keeping the mappings: CQEs still on their
	 * way to plain targets (closed or not) must show up there.
	 */
	for (i = 0; i < nr_targets; i++)
		if (targets[i].open)
			ring_close_fd(&targets[i]);
	final = 1;
	if (wait_for_cqes("CQEs missing 5 s after the last close"))
		return -1;
	if (check()) {
		dump();
		return -1;
	}
	final = 0;
	stats_reqs += nr_reqs;
	for (i = 0; i < nr_targets; i++)
		ring_free(&targets[i]);
	close(pipefd[0]);
	return 0;
}

/* active io_kiocb objects (requests and CQE carriers), -1 if unknown */
static long kiocb_objects(void)
{
	FILE *f = fopen("/sys/kernel/slab/io_kiocb/shrink", "w");

	/*
	 * Shrinking the cache also empties KASAN's quarantine of it: without
	 * that, objects freed on a KASAN kernel still count as active.
	 */
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	return io_kiocb_active();
}

int main(int argc, char *argv[])
{
	unsigned long long iterations = 1000;
	unsigned int seed = (unsigned int)time(NULL);
	int max_seconds = 60, opt, ret, i;
	long slab_before, slab_after = -1;
	struct timespec t0, t1;

	while ((opt = getopt(argc, argv, "i:s:t:f")) != -1) {
		char *end = NULL;

		switch (opt) {
		case 'f':
			tolerant = 1;
			continue;
		case 'i':
			iterations = strtoull(optarg, &end, 0);
			break;
		case 's':
			seed = (unsigned int)strtoul(optarg, &end, 0);
			break;
		case 't':
			max_seconds = (int)strtol(optarg, &end, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-i iterations] [-s seed] [-t max_seconds] [-f]\n",
				argv[0]);
			return T_EXIT_FAIL;
		}
		if (!*optarg || *end) {
			fprintf(stderr, "-%c: '%s' is not a number\n", opt, optarg);
			return T_EXIT_FAIL;
		}
	}
	if (iterations < 1 || max_seconds < 1) {
		fprintf(stderr, "-i and -t must be at least 1\n");
		return T_EXIT_FAIL;
	}
	ret = cqe_target_supported_retry(tolerant);
	if (ret)
		return ret;
	printf("seed %u, up to %llu iterations or %d s%s\n", seed, iterations,
	       max_seconds, tolerant ? ", fault tolerant (-f)" : "");
	fflush(stdout);
	srand(seed);
	slab_before = kiocb_objects();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (iter = 1; iter <= iterations; iter++) {
		if (one_iteration()) {
			fprintf(stderr, "FAIL (seed %u)\n", seed);
			return T_EXIT_FAIL;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec >= max_seconds) {
			iter++;
			break;
		}
	}
	/*
	 * Rings are freed by a workqueue and some carriers after an RCU grace
	 * period; per-CPU partial slabs count as in use. Up to about 850
	 * objects of slack came and went between runs; a leak of one carrier
	 * per dropped CQE would be about 4000 per 1000 rounds, and growing.
	 */
	for (i = 0; slab_before >= 0 && i < 100; i++) {
		usleep(100000);
		slab_after = kiocb_objects();
		if (slab_after <= slab_before + 64)
			break;
	}
	if (slab_before < 0)
		printf("no /proc/slabinfo: io_kiocb leak check not done\n");
	else
		printf("io_kiocb objects: %ld before, %ld after; %llu CQEs dropped with dead DEFER_TASKRUN rings\n",
		       slab_before, slab_after, stats_dropped);
	if (slab_before >= 0 && slab_after > slab_before + 2048) {
		fprintf(stderr, "FAIL: io_kiocb slab grew by %ld objects (seed %u)\n",
			slab_after - slab_before, seed);
		return T_EXIT_FAIL;
	}
	if (tolerant)
		printf("-f: %llu requests failed with -ENOMEM/-EAGAIN (or a link cancelled on the source), %llu ring setups retried, %llu waits for the kernel to take SQEs (SQPOLL, or no request allocated)\n",
		       stats_failed, stats_setup_retries, stats_submit_retries);
	printf("%llu iterations, %llu requests, %llu CQEs; %llu targets closed in flight, %llu orphaned DEFER_TASKRUN targets, %llu CQEs arriving after the final close: PASS\n",
	       iter - 1, stats_reqs, stats_cqes, stats_closed, stats_orphans,
	       stats_late);
	return T_EXIT_PASS;
}
