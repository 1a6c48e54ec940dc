/* SPDX-License-Identifier: MIT */
/*
 * The CQ user word across IORING_REGISTER_RESIZE_RINGS (7.3 port of the
 * cq-user-word series). Resizing builds new rings; the word must come along
 * with the heads and tails, at the same published offset, and the kernel
 * must not write it otherwise.
 *
 *  - "quiet": store a value, resize with liburing's io_uring_resize_rings(),
 *    the new rings hold exactly that value at the same offset; 1000 NOPs
 *    later it is still there.
 *  - "racing": a second thread keeps storing an increasing counter to the
 *    word while the main thread resizes (raw syscall, so the old mapping
 *    stays mapped for the storing thread). The word in the new rings must be
 *    one of the counter values, between the one published before the resize
 *    started and the last one written: never 0, never anything else. Then
 *    the thread stores a final value, stops, the rings are resized again and
 *    that final value must be what the new rings hold.
 *
 * Skips (77) on a kernel without IORING_FEAT_CQ_USER_WORD. On a kernel with
 * the word but without ring resizing (6.12) the resize is refused with
 * -EINVAL, and each case checks that the refusal left the word as stored.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <liburing.h>

#include "helpers.h"

#ifndef IORING_FEAT_CQ_USER_WORD
#define IORING_FEAT_CQ_USER_WORD	(1U << 18)
#endif
#ifndef IORING_REGISTER_RESIZE_RINGS
#define IORING_REGISTER_RESIZE_RINGS	33
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN	(1U << 13)
#endif

/* io_cqring_offsets.resv1 is user_word with the series */
static uint32_t user_word_off(const struct io_uring_params *p)
{
	uint32_t off;

	memcpy(&off, (const char *)&p->cq_off + 28, sizeof(off));
	return off;
}

static int setup(struct io_uring *ring, struct io_uring_params *p)
{
	int ret;

	memset(p, 0, sizeof(*p));
	p->flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	ret = io_uring_queue_init_params(8, ring, p);
	if (ret) {
		printf("SKIP: DEFER_TASKRUN ring: %s\n", strerror(-ret));
		return T_EXIT_SKIP;
	}
	if (!(p->features & IORING_FEAT_CQ_USER_WORD) || !user_word_off(p)) {
		printf("SKIP: no IORING_FEAT_CQ_USER_WORD (features 0x%x)\n",
		       p->features);
		io_uring_queue_exit(ring);
		return T_EXIT_SKIP;
	}
	return 0;
}

static volatile uint32_t *word_at(void *ring_ptr, uint32_t off)
{
	return (volatile uint32_t *)((char *)ring_ptr + off);
}

static int nops(struct io_uring *ring, int n)
{
	struct io_uring_cqe *cqe;
	int i, ret;

	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		if (!sqe)
			return -EBUSY;
		io_uring_prep_nop(sqe);
		sqe->user_data = i;
		ret = io_uring_submit_and_wait(ring, 1);
		if (ret < 0)
			return ret;
		ret = io_uring_wait_cqe(ring, &cqe);
		if (ret)
			return ret;
		io_uring_cqe_seen(ring, cqe);
	}
	return 0;
}

static int test_quiet(void)
{
	struct io_uring_params p, rp;
	struct io_uring ring;
	uint32_t off;
	int ret;

	ret = setup(&ring, &p);
	if (ret)
		return ret;
	off = user_word_off(&p);
	CHECK(*word_at(ring.cq.ring_ptr, off) == 0, "word not zero at setup");
	*word_at(ring.cq.ring_ptr, off) = 0x5eed0001;

	memset(&rp, 0, sizeof(rp));
	rp.sq_entries = 32;
	rp.cq_entries = 128;
	rp.flags = IORING_SETUP_CQSIZE;
	ret = io_uring_resize_rings(&ring, &rp);
	if (ret == -EINVAL || ret == -EOPNOTSUPP) {
		/* 6.12: no resize; the refused call must leave the word */
		printf("kernel refuses IORING_REGISTER_RESIZE_RINGS (%s): checking the word survives the refusal\n",
		       strerror(-ret));
		CHECK(*word_at(ring.cq.ring_ptr, off) == 0x5eed0001,
		      "word 0x%x after a refused resize",
		      *word_at(ring.cq.ring_ptr, off));
		ret = nops(&ring, 100);
		CHECK(!ret, "nops: %s", strerror(-ret));
		CHECK(*word_at(ring.cq.ring_ptr, off) == 0x5eed0001,
		      "word 0x%x after NOPs", *word_at(ring.cq.ring_ptr, off));
		io_uring_queue_exit(&ring);
		return T_EXIT_PASS;
	}
	CHECK(ret >= 0, "resize: %s", strerror(-ret));
	CHECK(user_word_off(&rp) == off, "offset %u after resize, was %u",
	      user_word_off(&rp), off);
	CHECK(*word_at(ring.cq.ring_ptr, off) == 0x5eed0001,
	      "word 0x%x after resize", *word_at(ring.cq.ring_ptr, off));
	ret = nops(&ring, 1000);
	CHECK(!ret, "nops: %s", strerror(-ret));
	CHECK(*word_at(ring.cq.ring_ptr, off) == 0x5eed0001,
	      "word 0x%x after 1000 NOPs", *word_at(ring.cq.ring_ptr, off));

	/* and back down, with the word changed in between */
	*word_at(ring.cq.ring_ptr, off) = 0x5eed0002;
	memset(&rp, 0, sizeof(rp));
	rp.sq_entries = 8;
	rp.cq_entries = 16;
	rp.flags = IORING_SETUP_CQSIZE;
	ret = io_uring_resize_rings(&ring, &rp);
	CHECK(ret >= 0, "second resize: %s", strerror(-ret));
	CHECK(user_word_off(&rp) == off, "offset changed");
	CHECK(*word_at(ring.cq.ring_ptr, off) == 0x5eed0002,
	      "word 0x%x after second resize", *word_at(ring.cq.ring_ptr, off));
	io_uring_queue_exit(&ring);
	return T_EXIT_PASS;
}

struct storer {
	volatile uint32_t *word;
	atomic_uint published;	/* last value stored, after the store */
	atomic_int stop;
	uint32_t final;		/* stored last, before exiting */
};

static void *storer_fn(void *arg)
{
	struct storer *s = arg;
	uint32_t v = 0;

	while (!atomic_load(&s->stop)) {
		v++;
		if (v == 0x7fffffff)
			v = 1;
		*s->word = v;
		atomic_store(&s->published, v);
	}
	*s->word = s->final;
	atomic_store(&s->published, s->final);
	return NULL;
}

/* raw resize: leaves the old mapping alone, for the storing thread */
static int raw_resize(int fd, struct io_uring_params *rp, unsigned int sq,
		      unsigned int cq)
{
	memset(rp, 0, sizeof(*rp));
	rp->sq_entries = sq;
	rp->cq_entries = cq;
	rp->flags = IORING_SETUP_CQSIZE;
	if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_RESIZE_RINGS,
		    rp, 1) < 0)
		return -errno;
	return 0;
}

static void *map_rings(int fd, const struct io_uring_params *rp, size_t *len)
{
	void *ptr;

	*len = rp->cq_off.cqes + (size_t)rp->cq_entries *
	       sizeof(struct io_uring_cqe);
	if (*len < rp->sq_off.array + rp->sq_entries * sizeof(uint32_t))
		*len = rp->sq_off.array + rp->sq_entries * sizeof(uint32_t);
	ptr = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		   fd, IORING_OFF_SQ_RING);
	return ptr == MAP_FAILED ? NULL : ptr;
}

static int test_racing(void)
{
	struct io_uring_params p, rp;
	struct storer s = { .final = 0xf1a10001 };
	struct io_uring ring;
	uint32_t off, lo, hi, got;
	pthread_t thr;
	size_t len, qlen;
	void *nptr, *qptr;
	int ret, round;

	ret = setup(&ring, &p);
	if (ret)
		return ret;
	off = user_word_off(&p);
	s.word = word_at(ring.cq.ring_ptr, off);

	for (round = 0; round < 20; round++) {
		uint32_t seen;

		atomic_store(&s.stop, 0);
		atomic_store(&s.published, 0);
		CHECK(!pthread_create(&thr, NULL, storer_fn, &s), "pthread");
		while (atomic_load(&s.published) < 1000)
			;
		lo = atomic_load(&s.published);
		ret = raw_resize(ring.ring_fd, &rp, round & 1 ? 8 : 16,
				 round & 1 ? 16 : 64);
		hi = atomic_load(&s.published);
		atomic_store(&s.stop, 1);
		pthread_join(thr, NULL);
		if (ret == -EINVAL && !round) {
			/* 6.12: the storer's last store must be what is there */
			printf("kernel refuses IORING_REGISTER_RESIZE_RINGS: checking the storer's last value survives\n");
			CHECK(*s.word == s.final, "word 0x%x, storer's last 0x%x",
			      *s.word, s.final);
			io_uring_queue_exit(&ring);
			return T_EXIT_PASS;
		}
		CHECK(!ret, "resize round %d: %s", round, strerror(-ret));
		CHECK(user_word_off(&rp) == off, "offset %u, was %u",
		      user_word_off(&rp), off);
		nptr = map_rings(ring.ring_fd, &rp, &len);
		CHECK(nptr, "mmap new rings: %s", strerror(errno));
		got = *word_at(nptr, off);
		/* a value the thread stored while the resize ran */
		CHECK(got >= lo && got <= hi + 1 && got != 0,
		      "round %d: word 0x%x, thread stored 0x%x..0x%x",
		      round, got, lo, hi);

		/* the thread's last store went to the rings it was given */
		seen = *s.word;
		CHECK(seen == s.final, "old word 0x%x", seen);

		/* now quiet: a value stored last must come through exactly */
		s.final++;
		*word_at(nptr, off) = s.final;
		ret = raw_resize(ring.ring_fd, &rp, 8, 32);
		CHECK(!ret, "quiet resize: %s", strerror(-ret));
		qptr = map_rings(ring.ring_fd, &rp, &qlen);
		CHECK(qptr, "mmap new rings: %s", strerror(errno));
		got = *word_at(qptr, off);
		CHECK(got == s.final, "round %d: word 0x%x, stored 0x%x",
		      round, got, s.final);
		munmap(nptr, len);
		/* the next round's thread stores into these rings */
		s.word = word_at(qptr, off);
		s.final++;
	}
	/* liburing's view of the rings is stale now; close the fd only */
	close(ring.ring_fd);
	return T_EXIT_PASS;
}

int main(int argc, char *argv[])
{
	static const struct t_case cases[] = {
		{ "quiet", test_quiet },
		{ "racing", test_racing },
	};

	return run_cases(cases, T_ARRAY_SIZE(cases), argc, argv);
}
