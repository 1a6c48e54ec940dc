/*
 * The CQ user word wakeup protocol of Interop/IoUring.Interop/Wakeup (CqWordWaiter, CqWordNotifier),
 * on x86-TSO: every thread's stores go through a FIFO store buffer that drains to memory at
 * nondeterministic times; a thread's loads see its own buffered stores first; a full fence
 * (Interlocked.MemoryBarrier) and a locked instruction (compare-exchange) wait until the buffer
 * is empty. The kernel side (MSG_RING posting a CQE, io_uring_enter waiting for one) is atomic:
 * the kernel checks for CQEs after queueing itself on the wait queue, so it never sleeps past one.
 *
 * Word: SEQ (bytes 0-1, notifiers) and STATE (byte 3, the waiter; notifiers only compare-exchange
 * ASLEEP -> WAKING). Each notifier publishes its work in PUB[id] before notifying.
 *
 * Properties (checked by ./pan, safety mode):
 *  - "no lost wakeup": the monitor asserts that the waiter is never blocked in the kernel, with no
 *    CQE to wake it, all notifiers done and all stores visible, while a notification is unconsumed;
 *  - "no deadlock": no invalid end state; the waiter's kernel wait is not an end state, so a waiter
 *    stuck there is reported even if the monitor's condition were too narrow.
 *
 * Broken variants (spin -DNAME): each must produce a counterexample.
 *   BROKEN_NO_RECHECK         the waiter blocks right after announcing ASLEEP
 *   BROKEN_NO_WAITER_FENCE    no fence between the ASLEEP store and the re-check
 *   BROKEN_NO_NOTIFIER_FENCE  no fence between the notifier's stores and its STATE load
 *   BROKEN_CLOBBER            the notifier bumps the sequence with a 32-bit read-modify-write of the
 *                             whole word, writing back the state byte it read earlier
 */

#define NN 2            /* notifiers (the waiter's checks below are written for two) */
#ifndef K
#define K 1             /* notifications per notifier; -DK=2 checks two rounds each (~90M states, minutes) */
#endif
#define W NN            /* thread index of the waiter */
#define CAP 3           /* store buffer entries per thread */

#define PUB0 0
#define SEQ 2
#define STATE 3

#define AWAKE 0
#define WAKING 1
#define ASLEEP 2

byte mem[4];
byte cq;                /* wakeup CQEs in the waiter's ring */
byte cons[NN];          /* what the waiter has consumed of each PUB */
bit sleeping;           /* waiter blocked in io_uring_enter */
byte ndone;

byte bvar[(NN + 1) * CAP];
byte bval[(NN + 1) * CAP];
byte bn[NN + 1];

inline store(t, v, x) {
	atomic {
		bn[t] < CAP ->			/* a full store buffer stalls the thread */
		bvar[t * CAP + bn[t]] = v;
		bval[t * CAP + bn[t]] = x;
		bn[t]++
	}
}

/* load with store forwarding from the thread's own buffer (newest entry wins) */
inline load(t, v, r) {
	atomic {
		r = mem[v];
		k = 0;
		do
		:: k < bn[t] -> if :: bvar[t * CAP + k] == v -> r = bval[t * CAP + k] :: else -> skip fi; k++
		:: else -> break
		od;
		k = 0
	}
}

inline fence(t) {
	(bn[t] == 0)
}

proctype Flusher(byte t) {
	byte k;
end:	do
	:: atomic {
		bn[t] > 0 ->
		mem[bvar[t * CAP]] = bval[t * CAP];
		k = 1;
		do
		:: k < bn[t] -> bvar[t * CAP + k - 1] = bvar[t * CAP + k]; bval[t * CAP + k - 1] = bval[t * CAP + k]; k++
		:: else -> break
		od;
		bn[t]--;
		k = 0
	   }
	od
}

proctype Notifier(byte id) {
	byte i, s, st, k;
	do
	:: i == K -> break
	:: else ->
		i++;
		store(id, PUB0 + id, i);		/* publish the work */
#ifdef BROKEN_CLOBBER
		load(id, STATE, st);			/* 32-bit RMW: reads the state byte too ... */
#endif
		load(id, SEQ, s);
		store(id, SEQ, (s + 1) % 4);		/* plain 16-bit store */
#ifdef BROKEN_CLOBBER
		store(id, STATE, st);			/* ... and writes it back */
#endif
#ifndef BROKEN_NO_NOTIFIER_FENCE
		fence(id);
#endif
		load(id, STATE, st);
		if
		:: st == ASLEEP ->
			atomic {
				fence(id);			/* lock cmpxchg drains the buffer */
				if
				:: mem[STATE] == ASLEEP -> mem[STATE] = WAKING; cq++	/* won: MSG_RING */
				:: else -> skip
				fi
			}
		:: else -> skip
		fi
	od;
	atomic { ndone++ }
}

inline ready(r) {
	r = 0;
	if :: mem[PUB0] != cons[0] -> r = 1 :: else -> skip fi;
	if :: mem[PUB0 + 1] != cons[1] -> r = 1 :: else -> skip fi;
	if :: mem[SEQ] != lastseq -> r = 1 :: else -> skip fi;
	if :: cq > 0 -> r = 1 :: else -> skip fi
}

inline consume() {
	cons[0] = mem[PUB0];
	cons[1] = mem[PUB0 + 1];
	lastseq = mem[SEQ];
	cq = 0					/* reap: wakeup tokens are dropped */
}

proctype Waiter() {
	byte lastseq, r, k;
	do
	:: cons[0] == K && cons[1] == K -> break
	:: else ->
		ready(r);			/* busy and idle phases: any number of these checks */
		if
		:: r -> consume()
		:: else ->
			store(W, STATE, ASLEEP);
#ifndef BROKEN_NO_WAITER_FENCE
			fence(W);
#endif
#ifndef BROKEN_NO_RECHECK
			ready(r);
#else
			r = 0;
#endif
			if
			:: r -> store(W, STATE, AWAKE); consume()
			:: else ->
				sleeping = 1;
				(cq > 0);		/* io_uring_wait_cqe: only a CQE ends it */
				sleeping = 0;
				store(W, STATE, AWAKE)
			fi
		fi
	od
}

/* "no lost wakeup": blocked for good with a notification pending */
active proctype Monitor() {
end:	atomic {
		(ndone == NN && bn[0] == 0 && bn[1] == 0 && bn[W] == 0 && sleeping && cq == 0 &&
		 (mem[PUB0] != cons[0] || mem[PUB0 + 1] != cons[1])) ->
		assert(false)
	}
}

init {
	atomic {
		run Flusher(0); run Flusher(1); run Flusher(W);
		run Notifier(0); run Notifier(1);
		run Waiter()
	}
}
