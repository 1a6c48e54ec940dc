/* SPDX-License-Identifier: MIT */
/*
 * Description: test the CQ user word (IORING_FEAT_CQ_USER_WORD).
 *
 * The kernel publishes, in io_cqring_offsets.user_word, the offset of a
 * 32-bit word on the cache line of the CQ tail. It is zero at setup and the
 * kernel never writes it afterwards. Check, for a set of ring setups
 * (default, CQE32, NO_SQARRAY, SQPOLL, NO_MMAP, task-run flavours):
 *
 * - the offset is published, non-zero and matches io_uring_cq_user_word()
 * - the word is on the same 64-byte cache line as cq.tail and does not
 *   overlap any other published ring field
 * - the word reads zero at setup (NO_MMAP: even if the application left
 *   garbage in its ring memory at that spot)
 * - user stores survive many completions (NOPs) and a CQ overflow episode
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <liburing.h>

#include "helpers.h"

#ifndef IORING_FEAT_CQ_USER_WORD
#error "liburing headers without IORING_FEAT_CQ_USER_WORD"
#endif

#define CACHELINE	64
#define SQ_ENTRIES	32
#define NR_NOPS		100000
#define BATCH		SQ_ENTRIES

struct cfg {
	const char *name;
	unsigned flags;
	int app_mem;
};

static const struct cfg cfgs[] = {
	{ "default", 0, 0 },
	{ "cqe32", IORING_SETUP_CQE32, 0 },
	{ "no_sqarray", IORING_SETUP_NO_SQARRAY, 0 },
	{ "sqpoll", IORING_SETUP_SQPOLL, 0 },
	{ "no_mmap", IORING_SETUP_NO_MMAP, 1 },
	{ "no_mmap+cqe32+no_sqarray",
	  IORING_SETUP_NO_MMAP | IORING_SETUP_CQE32 | IORING_SETUP_NO_SQARRAY,
	  1 },
	{ "sqpoll+cqe32+no_sqarray",
	  IORING_SETUP_SQPOLL | IORING_SETUP_CQE32 | IORING_SETUP_NO_SQARRAY,
	  0 },
	{ "coop_taskrun+taskrun_flag",
	  IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, 0 },
	{ "single_issuer+defer_taskrun",
	  IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, 0 },
};

#define APP_MEM_SIZE	(64 * 1024)

static volatile unsigned *word;
static unsigned expect;

static int check_word(const char *cfg, const char *when)
{
	unsigned v = *word;

	if (v != expect) {
		fprintf(stderr, "%s: user word 0x%08x, expected 0x%08x %s\n",
			cfg, v, expect, when);
		return 1;
	}
	return 0;
}

static void set_word(unsigned v)
{
	expect = v;
	*word = v;
}

static int check_layout(const char *name, struct io_uring *ring,
			struct io_uring_params *p)
{
	const struct io_sqring_offsets *s = &p->sq_off;
	const struct io_cqring_offsets *c = &p->cq_off;
	unsigned others[] = {
		s->head, s->tail, s->ring_mask, s->ring_entries, s->flags,
		s->dropped, c->head, c->tail, c->ring_mask, c->ring_entries,
		c->overflow, c->flags,
	};
	unsigned uw = c->user_word;
	size_t i;

	if (!uw) {
		fprintf(stderr, "%s: feature set but cq_off.user_word is 0\n",
			name);
		return 1;
	}
	if (uw % sizeof(unsigned)) {
		fprintf(stderr, "%s: user_word %u not aligned\n", name, uw);
		return 1;
	}
	if (uw / CACHELINE != c->tail / CACHELINE) {
		fprintf(stderr, "%s: user_word %u and cq tail %u on different "
			"cache lines\n", name, uw, c->tail);
		return 1;
	}
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		if (others[i] == uw) {
			fprintf(stderr, "%s: user_word %u overlaps field %zu\n",
				name, uw, i);
			return 1;
		}
	}
	if (uw + sizeof(unsigned) > c->cqes) {
		fprintf(stderr, "%s: user_word %u overlaps cqes at %u\n",
			name, uw, c->cqes);
		return 1;
	}
	if (!(p->flags & IORING_SETUP_NO_SQARRAY) &&
	    uw + sizeof(unsigned) > s->array && uw < s->array +
	    p->sq_entries * sizeof(unsigned)) {
		fprintf(stderr, "%s: user_word overlaps sq array\n", name);
		return 1;
	}
	if ((uintptr_t)io_uring_cq_user_word(ring) / CACHELINE !=
	    (uintptr_t)ring->cq.ktail / CACHELINE) {
		fprintf(stderr, "%s: word %p and cq tail %p not on one line\n",
			name, (void *)io_uring_cq_user_word(ring),
			(void *)ring->cq.ktail);
		return 1;
	}
	if ((char *)io_uring_cq_user_word(ring) !=
	    (char *)ring->cq.ring_ptr + uw) {
		fprintf(stderr, "%s: io_uring_cq_user_word() %p, expected %p\n",
			name, (void *)io_uring_cq_user_word(ring),
			(void *)((char *)ring->cq.ring_ptr + uw));
		return 1;
	}
	return 0;
}

static int submit_nops(struct io_uring *ring, unsigned nr)
{
	unsigned i;
	int ret;

	for (i = 0; i < nr; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		if (!sqe) {
			/* SQPOLL may not have consumed the last batch yet */
			io_uring_sqring_wait(ring);
			sqe = io_uring_get_sqe(ring);
		}
		if (!sqe)
			return -EBUSY;
		io_uring_prep_nop(sqe);
		sqe->user_data = i + 1;
	}
	ret = io_uring_submit(ring);
	/*
	 * With SQPOLL, liburing counts what is still between the SQ head and
	 * tail when it publishes the tail; the SQ thread may already have
	 * consumed part of the batch, so fewer (even 0) is not an error: the
	 * SQEs are submitted once the tail is visible.
	 */
	if (ret >= 0 && (ring->flags & IORING_SETUP_SQPOLL))
		return nr;
	return ret;
}

static int reap(struct io_uring *ring, unsigned nr, const char *name)
{
	struct io_uring_cqe *cqe;
	unsigned got = 0;

	while (got < nr) {
		int ret = io_uring_wait_cqe(ring, &cqe);

		if (ret) {
			fprintf(stderr, "%s: wait_cqe %d after %u/%u\n",
				name, ret, got, nr);
			return 1;
		}
		if (cqe->res) {
			fprintf(stderr, "%s: nop res %d\n", name, cqe->res);
			return 1;
		}
		io_uring_cqe_seen(ring, cqe);
		got++;
	}
	return 0;
}

/* many completions, changing the word as we go */
static int test_nops(struct io_uring *ring, const char *name)
{
	unsigned done = 0, round = 0;

	while (done < NR_NOPS) {
		int ret = submit_nops(ring, BATCH);

		if (ret != BATCH) {
			fprintf(stderr, "%s: submit %d\n", name, ret);
			return 1;
		}
		if (reap(ring, BATCH, name))
			return 1;
		done += BATCH;
		if (check_word(name, "after NOP completions"))
			return 1;
		if (!(++round % 64))
			set_word(0x5a5a0000u ^ (round * 2654435761u));
	}
	return 0;
}

/* fill the CQ, push completions to the overflow list, then reap them */
static int test_overflow(struct io_uring *ring, const char *name)
{
	unsigned cq_entries = ring->cq.ring_entries;
	unsigned total = 0, i;
	int overflowed = 0;

	set_word(0xc0ffee00u);
	while (total < cq_entries + 2 * BATCH) {
		int ret = submit_nops(ring, BATCH);

		if (ret == -EBUSY)
			break;
		if (ret != BATCH) {
			fprintf(stderr, "%s: overflow submit %d\n", name, ret);
			return 1;
		}
		total += BATCH;
		if (check_word(name, "while overflowing"))
			return 1;
	}
	/* SQPOLL completes asynchronously: give it time to overflow */
	for (i = 0; i < 2000 && !overflowed; i++) {
		if (io_uring_cq_has_overflow(ring))
			overflowed = 1;
		else
			usleep(1000);
	}
	if (!overflowed) {
		fprintf(stderr, "%s: no CQ overflow after %u NOPs into %u CQEs\n",
			name, total, cq_entries);
		return 1;
	}
	if (check_word(name, "with CQ overflow pending"))
		return 1;
	set_word(0xc0ffee01u);
	if (reap(ring, total, name))
		return 1;
	if (io_uring_cq_has_overflow(ring)) {
		fprintf(stderr, "%s: overflow still pending after reaping\n",
			name);
		return 1;
	}
	if (*ring->cq.koverflow) {
		fprintf(stderr, "%s: %u CQEs dropped\n", name,
			*ring->cq.koverflow);
		return 1;
	}
	return check_word(name, "after overflow flush");
}

static int setup_ring(const struct cfg *c, struct io_uring *ring,
		      struct io_uring_params *p, void *mem)
{
	int ret;

	memset(p, 0, sizeof(*p));
	p->flags = c->flags;
	if (c->flags & IORING_SETUP_SQPOLL)
		p->sq_thread_idle = 50;
	if (!mem)
		return io_uring_queue_init_params(SQ_ENTRIES, ring, p);
	ret = io_uring_queue_init_mem(SQ_ENTRIES, ring, p, mem, APP_MEM_SIZE);
	return ret > 0 ? 0 : ret;
}

/*
 * NO_MMAP: the application provides the ring memory and the kernel does not
 * clear it (the heads and tails must be zero already). Learn where the word
 * lands with clean memory, then set the ring up again in the same memory
 * with garbage at exactly that spot: the kernel must clear the word.
 */
static int setup_dirty(const struct cfg *c, struct io_uring *ring,
		       struct io_uring_params *p, void *mem)
{
	size_t off;
	int ret;

	memset(mem, 0, APP_MEM_SIZE);
	ret = setup_ring(c, ring, p, mem);
	if (ret || !p->cq_off.user_word)
		return ret;
	off = (char *)ring->cq.ring_ptr - (char *)mem + p->cq_off.user_word;
	io_uring_queue_exit(ring);
	if (off + sizeof(unsigned) > APP_MEM_SIZE) {
		fprintf(stderr, "%s: ring outside the app memory\n", c->name);
		return -EFAULT;
	}

	memset(mem, 0, APP_MEM_SIZE);
	*(unsigned *)((char *)mem + off) = 0xa5a5a5a5u;
	ret = setup_ring(c, ring, p, mem);
	if (ret)
		return ret;
	if ((size_t)((char *)ring->cq.ring_ptr - (char *)mem) +
	    p->cq_off.user_word !=
	    off) {
		fprintf(stderr, "%s: ring moved in the app memory\n", c->name);
		io_uring_queue_exit(ring);
		return -EFAULT;
	}
	return 0;
}

static int test_cfg(const struct cfg *c)
{
	struct io_uring_params p;
	struct io_uring ring;
	void *mem = NULL;
	int ret;

	if (c->app_mem) {
		mem = mmap(NULL, APP_MEM_SIZE, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED) {
			perror("mmap");
			return T_EXIT_FAIL;
		}
		ret = setup_dirty(c, &ring, &p, mem);
	} else {
		ret = setup_ring(c, &ring, &p, NULL);
	}
	if (ret == -EINVAL || ret == -EPERM) {
		printf("%s: setup not supported (%d), skipped\n", c->name, ret);
		if (mem)
			munmap(mem, APP_MEM_SIZE);
		return T_EXIT_SKIP;
	}
	if (ret) {
		fprintf(stderr, "%s: ring setup %d\n", c->name, ret);
		if (mem)
			munmap(mem, APP_MEM_SIZE);
		return T_EXIT_FAIL;
	}

	ret = T_EXIT_FAIL;
	if (!(p.features & IORING_FEAT_CQ_USER_WORD)) {
		fprintf(stderr, "%s: feature bit missing\n", c->name);
		goto out;
	}
	if (check_layout(c->name, &ring, &p))
		goto out;
	word = io_uring_cq_user_word(&ring);
	expect = 0;
	if (check_word(c->name, "at setup"))
		goto out;
	set_word(0xdeadbeefu);
	if (test_nops(&ring, c->name))
		goto out;
	if (test_overflow(&ring, c->name))
		goto out;
	printf("%s: ok (user_word=%u cq.tail=%u cqes=%u cq_entries=%u)\n",
	       c->name, p.cq_off.user_word, p.cq_off.tail, p.cq_off.cqes,
	       p.cq_entries);
	ret = T_EXIT_PASS;
out:
	io_uring_queue_exit(&ring);
	if (mem)
		munmap(mem, APP_MEM_SIZE);
	return ret;
}

int main(int argc, char *argv[])
{
	struct io_uring_params p;
	struct io_uring ring;
	unsigned i, passed = 0;
	int ret;

	if (argc > 1)
		return T_EXIT_SKIP;

	memset(&p, 0, sizeof(p));
	ret = io_uring_queue_init_params(4, &ring, &p);
	if (ret == -ENOSYS || ret == -EPERM) {
		printf("io_uring not available (%d), skipping\n", ret);
		return T_EXIT_SKIP;
	}
	if (ret) {
		fprintf(stderr, "ring setup failed: %d\n", ret);
		return T_EXIT_FAIL;
	}
	if (!(p.features & IORING_FEAT_CQ_USER_WORD)) {
		if (io_uring_cq_user_word(&ring)) {
			fprintf(stderr, "user word pointer without feature\n");
			io_uring_queue_exit(&ring);
			return T_EXIT_FAIL;
		}
		printf("Kernel lacks IORING_FEAT_CQ_USER_WORD "
		       "(cq_off.user_word=%u), skipping\n",
		       p.cq_off.user_word);
		io_uring_queue_exit(&ring);
		return T_EXIT_SKIP;
	}
	io_uring_queue_exit(&ring);

	for (i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		ret = test_cfg(&cfgs[i]);
		if (ret == T_EXIT_FAIL) {
			fprintf(stderr, "%s: FAILED\n", cfgs[i].name);
			return T_EXIT_FAIL;
		}
		if (ret == T_EXIT_PASS)
			passed++;
	}
	if (!passed)
		return T_EXIT_SKIP;
	return T_EXIT_PASS;
}
