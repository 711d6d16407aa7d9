/* The work-stealing deque (src/deque.h), white-box.
 *
 * Unit tests on one thread: LIFO pop, FIFO steal, capacity, empty cases,
 * indices far from zero. Stress validators: one owner pushing and popping
 * (a seeded random mix), several thieves stealing; every item is taken
 * exactly once, the owner's pops return exactly what LIFO order says, and
 * each thief's steals come in push order. Thieves steal under leases
 * (deque.h) that they take and give back at random, so that with
 * membarrier the owner's pops run both fence-free and fenced, and cross
 * every lease edge. Nothing here measures time. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "deque.h"
#include "membar.h"
#include "support.h"

#define CAP WEFT__DEQUE_CAP
/* Item k is the pointer k (never 0, so never NULL). */
#define ITEM(k) ((void *)(uintptr_t)(k))
#define KEY(p) ((uintptr_t)(p))

static struct weft__deque *new_deque_mode(int solo) {
  struct weft__deque *d = aligned_alloc(WEFT__CACHELINE, sizeof *d);
  cr_assert_not_null(d);
  weft__deque_init(d, solo);
  return d;
}

static struct weft__deque *new_deque(void) { return new_deque_mode(0); }

/* ---- one thread ---------------------------------------------------------------------- */

Test(deque, empty) {
  struct weft__deque *d = new_deque();
  cr_expect_null(weft__deque_pop(d));
  cr_expect_null(weft__deque_steal(d));
  cr_expect_null(weft__deque_pop(d));
  cr_expect_eq(weft__deque_size(d), 0);
  /* An empty pop at index 0 must not make the deque look full. */
  cr_expect_eq(weft__deque_push(d, ITEM(1)), 0);
  cr_expect_eq(weft__deque_size(d), 1);
  cr_expect_eq(KEY(weft__deque_pop(d)), 1);
  cr_expect_null(weft__deque_pop(d));
  cr_expect_null(weft__deque_steal(d));
  free(d);
}

Test(deque, pop_is_lifo_steal_is_fifo) {
  struct weft__deque *d = new_deque();
  for (uintptr_t k = 1; k <= 6; k++) cr_assert_eq(weft__deque_push(d, ITEM(k)), 0);
  cr_expect_eq(weft__deque_size(d), 6);
  cr_expect_eq(KEY(weft__deque_pop(d)), 6);
  cr_expect_eq(KEY(weft__deque_pop(d)), 5);
  cr_expect_eq(KEY(weft__deque_steal(d)), 1);
  cr_expect_eq(KEY(weft__deque_steal(d)), 2);
  cr_expect_eq(weft__deque_push(d, ITEM(7)), 0);
  cr_expect_eq(KEY(weft__deque_pop(d)), 7);
  cr_expect_eq(KEY(weft__deque_steal(d)), 3);
  cr_expect_eq(KEY(weft__deque_pop(d)), 4); /* the last one, by pop */
  cr_expect_null(weft__deque_pop(d));
  cr_expect_null(weft__deque_steal(d));
  cr_expect_eq(weft__deque_push(d, ITEM(8)), 0);
  cr_expect_eq(KEY(weft__deque_steal(d)), 8); /* the last one, by steal */
  cr_expect_null(weft__deque_pop(d));
  cr_expect_eq(weft__deque_size(d), 0);
  free(d);
}

/* pop_n takes the k newest, newest first, with or without an out array;
 * at the last elements (where a thief could race) it goes one pop at a time
 * and still returns them all when nobody steals. */
Test(deque, pop_n_takes_the_newest) {
  struct weft__deque *d = new_deque();
  for (uintptr_t k = 1; k <= 8; k++) cr_assert_eq(weft__deque_push(d, ITEM(k)), 0);
  cr_expect_eq(KEY(weft__deque_steal(d)), 1);
  void *out[4] = {0};
  cr_expect_eq(weft__deque_pop_n(d, 3, out), 3);
  cr_expect_eq(KEY(out[0]), 8);
  cr_expect_eq(KEY(out[1]), 7);
  cr_expect_eq(KEY(out[2]), 6);
  cr_expect_eq(weft__deque_pop_n(d, 1, NULL), 1); /* 5, unreported */
  cr_expect_eq(weft__deque_size(d), 3);
  cr_expect_eq(weft__deque_pop_n(d, 3, out), 3); /* all that is left: the careful way */
  cr_expect_eq(KEY(out[0]), 4);
  cr_expect_eq(KEY(out[1]), 3);
  cr_expect_eq(KEY(out[2]), 2);
  cr_expect_eq(weft__deque_size(d), 0);
  cr_expect_null(weft__deque_steal(d));
  cr_expect_eq(weft__deque_push(d, ITEM(9)), 0);
  cr_expect_eq(weft__deque_pop_n(d, 1, NULL), 1);
  cr_expect_null(weft__deque_pop(d));
  cr_expect_null(weft__deque_steal(d));
  free(d);
}

/* take_oldest takes from the thieves' end, oldest first, as many as there
 * are up to its limit; on a solo deque too. */
Test(deque, take_oldest_takes_from_the_top) {
  for (int solo = 0; solo <= 1; solo++) {
    struct weft__deque *d = new_deque_mode(solo);
    void *out[8];
    cr_expect_eq(weft__deque_take_oldest(d, out, 8), 0);
    for (uintptr_t k = 1; k <= 6; k++) cr_assert_eq(weft__deque_push(d, ITEM(k)), 0);
    cr_expect_eq(KEY(weft__deque_steal(d)), 1);
    cr_assert_eq(weft__deque_take_oldest(d, out, 3), 3);
    cr_expect(KEY(out[0]) == 2 && KEY(out[1]) == 3 && KEY(out[2]) == 4, "solo %d", solo);
    cr_assert_eq(weft__deque_take_oldest(d, out, 8), 2); /* all that is left */
    cr_expect(KEY(out[0]) == 5 && KEY(out[1]) == 6, "solo %d", solo);
    cr_expect_null(weft__deque_pop(d));
    cr_expect_null(weft__deque_steal(d));
    cr_expect_eq(weft__deque_take_oldest(d, out, 8), 0);
    cr_assert_eq(weft__deque_push(d, ITEM(7)), 0); /* and the indices still work */
    cr_expect_eq(KEY(weft__deque_pop(d)), 7);
    free(d);
  }
}

/* A solo deque's owner takes an element out of the middle: the newest
 * fills the hole, every other element stays where it was, and indices past
 * the wrap still work. */
Test(deque, remove_solo_fills_the_hole_with_the_newest) {
  struct weft__deque *d = new_deque_mode(1);
  /* Start near the end of the buffer, so that the slots wrap around. */
  for (long long k = 0; k < WEFT__DEQUE_CAP - 2; k++) {
    cr_assert_eq(weft__deque_push(d, ITEM(100)), 0);
    cr_assert_not_null(weft__deque_steal(d)); /* moves top on, as a pop would not */
  }
  long long t = atomic_load(&d->top), b0 = atomic_load(&d->bottom);
  cr_assert_eq(t, b0);
  cr_assert_eq(b0, WEFT__DEQUE_CAP - 2);
  for (uintptr_t k = 1; k <= 5; k++) cr_assert_eq(weft__deque_push(d, ITEM(k)), 0);
  /* Index b0 + 1 holds 2 (in a slot before the wrap); 5 moves there. */
  cr_expect_eq(KEY(weft__deque_remove_solo(d, b0 + 1)), 5);
  cr_expect_eq(weft__deque_size(d), 4);
  /* The newest itself: a pop, nothing moved. */
  cr_expect_null(weft__deque_remove_solo(d, b0 + 3));
  cr_expect_eq(weft__deque_size(d), 3);
  /* The oldest: 3 (now newest) moves to the top slot. */
  cr_expect_eq(KEY(weft__deque_remove_solo(d, b0)), 3);
  cr_expect_eq(KEY(weft__deque_pop(d)), 5);
  cr_expect_eq(KEY(weft__deque_pop(d)), 3);
  cr_expect_null(weft__deque_pop(d));
  cr_assert_eq(weft__deque_push(d, ITEM(9)), 0); /* and the indices still work */
  cr_expect_eq(KEY(weft__deque_steal(d)), 9);
  free(d);
}

/* A solo deque (no thieves; the owner may still take from the top, as its
 * spill does):
 * the same answers without the fences — the last element, pop_n, and steals
 * by the owner mixed in. */
Test(deque, solo_owner_takes_the_same_way) {
  struct weft__deque *d = new_deque_mode(1);
  cr_expect_null(weft__deque_pop(d));
  for (uintptr_t k = 1; k <= 5; k++) cr_assert_eq(weft__deque_push(d, ITEM(k)), 0);
  cr_expect_eq(KEY(weft__deque_steal(d)), 1);
  cr_expect_eq(KEY(weft__deque_pop(d)), 5);
  void *out[3] = {0};
  cr_expect_eq(weft__deque_pop_n(d, 2, out), 2);
  cr_expect_eq(KEY(out[0]), 4);
  cr_expect_eq(KEY(out[1]), 3);
  cr_expect_eq(weft__deque_size(d), 1);
  cr_expect_eq(KEY(weft__deque_pop(d)), 2); /* the last one */
  cr_expect_eq(weft__deque_size(d), 0);
  cr_expect_null(weft__deque_pop(d));
  cr_expect_null(weft__deque_steal(d));
  for (uintptr_t k = 6; k <= 7; k++) cr_assert_eq(weft__deque_push(d, ITEM(k)), 0);
  cr_expect_eq(weft__deque_pop_n(d, 2, NULL), 2);
  cr_expect_null(weft__deque_pop(d));
  for (uintptr_t k = 1; k <= CAP; k++) cr_assert_eq(weft__deque_push(d, ITEM(k)), 0);
  cr_expect_eq(weft__deque_push(d, ITEM(CAP + 1)), -1);
  for (uintptr_t k = CAP; k >= 1; k--) cr_assert_eq(KEY(weft__deque_pop(d)), k);
  cr_expect_null(weft__deque_pop(d));
  free(d);
}

Test(deque, full_capacity_lifo_and_fifo) {
  struct weft__deque *d = new_deque();
  for (uintptr_t k = 1; k <= CAP; k++) cr_assert_eq(weft__deque_push(d, ITEM(k)), 0, "push %lu", (unsigned long)k);
  cr_expect_eq(weft__deque_size(d), CAP);
  for (uintptr_t k = CAP; k >= 1; k--) cr_assert_eq(KEY(weft__deque_pop(d)), k);
  cr_expect_null(weft__deque_pop(d));
  for (uintptr_t k = 1; k <= CAP; k++) cr_assert_eq(weft__deque_push(d, ITEM(k)), 0);
  for (uintptr_t k = 1; k <= CAP; k++) cr_assert_eq(KEY(weft__deque_steal(d)), k);
  cr_expect_null(weft__deque_steal(d));
  free(d);
}

Test(deque, push_on_full_fails_and_changes_nothing) {
  struct weft__deque *d = new_deque();
  for (uintptr_t k = 1; k <= CAP; k++) cr_assert_eq(weft__deque_push(d, ITEM(k)), 0);
  cr_expect_eq(weft__deque_push(d, ITEM(CAP + 1)), -1);
  cr_expect_eq(weft__deque_push(d, ITEM(CAP + 2)), -1);
  cr_expect_eq(weft__deque_size(d), CAP);
  cr_expect_eq(KEY(weft__deque_pop(d)), CAP, "a failed push overwrote the newest element");
  cr_expect_eq(KEY(weft__deque_steal(d)), 1, "a failed push overwrote the oldest element");
  /* Room for two again, and not three. */
  cr_expect_eq(weft__deque_push(d, ITEM(CAP + 3)), 0);
  cr_expect_eq(weft__deque_push(d, ITEM(CAP + 4)), 0);
  cr_expect_eq(weft__deque_push(d, ITEM(CAP + 5)), -1);
  cr_expect_eq(KEY(weft__deque_steal(d)), 2);
  cr_expect_eq(KEY(weft__deque_pop(d)), CAP + 4);
  cr_expect_eq(KEY(weft__deque_pop(d)), CAP + 3);
  cr_expect_eq(KEY(weft__deque_pop(d)), CAP - 1);
  free(d);
}

/* Many cycles move top and bottom far from zero (and around the buffer
 * many times); order, capacity and emptiness stay right. */
Test(deque, indices_far_from_zero, .timeout = 120) {
  uint64_t seed = test_seed(), s = seed;
  struct weft__deque *d = new_deque();
  long cycles = SIZED(200000, 100000, 20000);
  uintptr_t next = 1;
  for (long c = 0; c < cycles; c++) {
    uint64_t r = rng_next(&s);
    /* Mostly short runs; now and then all the way to full. */
    size_t k = (r % 64 == 0) ? CAP : 1 + (size_t)((r >> 8) % 17);
    uintptr_t first = next;
    for (size_t i = 0; i < k; i++) cr_assert_eq(weft__deque_push(d, ITEM(next++)), 0, "seed %#llx cycle %ld", (unsigned long long)seed, c);
    if (k == CAP) cr_assert_eq(weft__deque_push(d, ITEM(next)), -1, "seed %#llx: a full deque took a push", (unsigned long long)seed);
    /* Steal some from the top (oldest first), pop the rest (newest first). */
    size_t nsteal = (size_t)((r >> 20) % (k + 1));
    for (size_t i = 0; i < nsteal; i++)
      cr_assert_eq(KEY(weft__deque_steal(d)), first + i, "seed %#llx cycle %ld", (unsigned long long)seed, c);
    for (size_t i = k; i > nsteal; i--)
      cr_assert_eq(KEY(weft__deque_pop(d)), first + i - 1, "seed %#llx cycle %ld", (unsigned long long)seed, c);
    cr_assert_null(weft__deque_pop(d));
    cr_assert_null(weft__deque_steal(d));
    cr_assert_eq(weft__deque_size(d), 0);
  }
  /* top has moved by every steal: far from zero now. */
  cr_expect_gt(atomic_load(&d->top), 1000, "the cycles did not move the indices");
  free(d);
}

/* ---- one owner, several thieves ------------------------------------------------------------ */

/* A thief's lease on the deque, held for a random number of steal
 * attempts (up to 512: a few thousand membarrier calls in a whole test),
 * then given back. */
struct lease_cycle {
  struct weft__deque *d;
  uint64_t s;
  long left; /* attempts left under the lease held; 0: none held */
};

static void *lease_steal(struct lease_cycle *lc) {
  if (lc->left == 0) {
    weft__deque_lease(lc->d);
    lc->left = 1 + (long)(rng_next(&lc->s) % 512);
  }
  void *x = weft__deque_steal(lc->d);
  if (--lc->left == 0) weft__deque_unlease(lc->d);
  return x;
}

static void lease_end(struct lease_cycle *lc) {
  if (lc->left) weft__deque_unlease(lc->d);
  lc->left = 0;
}

/* The fence-free pops are only tested where membarrier works; say so when
 * it does not (the pops then always fence). */
static void stress_init(void) {
  weft__membar_init();
  if (!weft__membar_asym) cr_log_warn("no membarrier here: the owner's pops always fence");
}

#define THIEVES 3

struct stress {
  struct weft__deque *d;
  uintptr_t n;            /* items 1 .. n */
  uint64_t seed;
  int mode;               /* 0: mostly small; 1: bursts up to full; 2: push all, then pop */
  atomic_uchar *taken;    /* taken[k]: how many times item k was taken */
  atomic_int owner_done;
  atomic_long stolen;
  atomic_long popped;
  atomic_long full_pushes;
  atomic_long takes;     /* the owner's takes of the oldest that took some */
  atomic_uint thief_seq; /* each thief's lease seed */
};

static void take(struct stress *st, void *x, const char *who) {
  uintptr_t k = KEY(x);
  CHECK(k >= 1 && k <= st->n, "seed %#llx: %s took %#lx, not an item", (unsigned long long)st->seed, who,
        (unsigned long)k);
  unsigned char before = atomic_fetch_add(&st->taken[k], 1);
  CHECK(before == 0, "seed %#llx: item %lu taken twice (again by %s)", (unsigned long long)st->seed,
        (unsigned long)k, who);
}

static void *owner_main(void *arg) {
  struct stress *st = arg;
  uint64_t s = st->seed;
  /* What LIFO order says the next pop must return: the items this thread
   * pushed and did not pop, newest last. Thieves take from the bottom of
   * this stack, so a pop returns its top, or NULL once thieves took all. */
  uintptr_t *mirror = malloc(st->n * sizeof *mirror);
  CHECK(mirror != NULL, "malloc");
  size_t depth = 0;
  uintptr_t next = 1;
  long popped = 0, full = 0;
  int burst = 0;
  while (next <= st->n) {
    uint64_t r = rng_next(&s);
    int push;
    if (st->mode == 2) {
      push = 1;
    } else if (st->mode == 1) {
      if (r % 512 == 0) burst = !burst;
      push = burst ? (r >> 16) % 16 != 0 : (r >> 16) % 16 < 7;
    } else {
      push = (r >> 16) % 16 < 9;
    }
    if (push) {
      if (weft__deque_push(st->d, ITEM(next)) == 0) {
        mirror[depth++] = next++;
        continue;
      }
      full++; /* full: pop instead, or (every other time) spill as a worker does */
      if (full % 2 == 0) {
        void *out[300];
        size_t want = 1 + (size_t)((r >> 32) % 300), n = weft__deque_take_oldest(st->d, out, want);
        /* 0 is possible: thieves may have emptied it since the push. */
        CHECK(n <= want, "seed %#llx: took %zu of %zu oldest", (unsigned long long)st->seed, n, want);
        for (size_t i = 0; i < n; i++) {
          CHECK(i == 0 || KEY(out[i]) > KEY(out[i - 1]), "seed %#llx: the oldest came out of order",
                (unsigned long long)st->seed);
          take(st, out[i], "the owner's take of the oldest");
        }
        popped += (long)n;
        if (n) atomic_fetch_add(&st->takes, 1);
        /* What is left is newer than all it took (thieves took from the
         * same end, the older part of the mirror). */
        if (n) {
          size_t k = 0;
          while (k < depth && mirror[k] <= KEY(out[n - 1])) k++;
          memmove(mirror, mirror + k, (depth - k) * sizeof *mirror);
          depth -= k;
        }
        continue;
      }
    }
    void *x = weft__deque_pop(st->d);
    if (x) {
      CHECK(depth > 0 && KEY(x) == mirror[depth - 1],
            "seed %#llx: pop returned %lu, LIFO order says %lu", (unsigned long long)st->seed,
            (unsigned long)KEY(x), depth ? (unsigned long)mirror[depth - 1] : 0ul);
      depth--;
      take(st, x, "the owner");
      popped++;
    } else {
      depth = 0; /* every item left in the mirror was stolen */
    }
  }
  for (;;) {
    void *x = weft__deque_pop(st->d);
    if (!x) break;
    CHECK(depth > 0 && KEY(x) == mirror[depth - 1], "seed %#llx: final pop returned %lu, LIFO says %lu",
          (unsigned long long)st->seed, (unsigned long)KEY(x), depth ? (unsigned long)mirror[depth - 1] : 0ul);
    depth--;
    take(st, x, "the owner");
    popped++;
  }
  free(mirror);
  atomic_store(&st->popped, popped);
  atomic_store(&st->full_pushes, full);
  atomic_store(&st->owner_done, 1);
  return NULL;
}

static void *thief_main(void *arg) {
  struct stress *st = arg;
  uintptr_t last = 0;
  long n = 0, misses = 0;
  struct lease_cycle lc = {st->d, st->seed + 1 + atomic_fetch_add(&st->thief_seq, 1), 0};
  for (;;) {
    void *x = lease_steal(&lc);
    if (x) {
      /* The deque holds items in push order from top to bottom, and new
       * items are always newer: one thief's steals only ever increase. */
      CHECK(KEY(x) > last, "seed %#llx: a thief stole %lu after %lu", (unsigned long long)st->seed,
            (unsigned long)KEY(x), (unsigned long)last);
      last = KEY(x);
      take(st, x, "a thief");
      n++;
      continue;
    }
    if (atomic_load(&st->owner_done) && weft__deque_size(st->d) == 0) break;
    if (++misses % 1024 == 0) sched_yield(); /* let the owner run on a busy machine */
  }
  lease_end(&lc);
  atomic_fetch_add(&st->stolen, n);
  return NULL;
}

ParameterizedTestParameters(deque_stress, owner_and_thieves) {
  static int modes[] = {0, 1, 2};
  return cr_make_param_array(int, modes, 3);
}
ParameterizedTest(int *mode, deque_stress, owner_and_thieves, .timeout = 180) {
  stress_init();
  struct stress st;
  memset(&st, 0, sizeof st);
  st.d = new_deque();
  st.n = (uintptr_t)SIZED(1000000, 1000000, 200000);
  st.seed = test_seed();
  st.mode = *mode;
  st.taken = calloc(st.n + 1, sizeof *st.taken);
  cr_assert_not_null(st.taken);
  atomic_init(&st.owner_done, 0);
  atomic_init(&st.stolen, 0);
  atomic_init(&st.popped, 0);
  atomic_init(&st.full_pushes, 0);
  atomic_init(&st.takes, 0);
  pthread_t thieves[THIEVES], owner;
  for (int i = 0; i < THIEVES; i++) cr_assert_eq(pthread_create(&thieves[i], NULL, thief_main, &st), 0);
  cr_assert_eq(pthread_create(&owner, NULL, owner_main, &st), 0);
  pthread_join(owner, NULL);
  for (int i = 0; i < THIEVES; i++) pthread_join(thieves[i], NULL);
  long missing = 0, first_missing = 0;
  for (uintptr_t k = 1; k <= st.n; k++) {
    if (atomic_load(&st.taken[k]) != 1) {
      if (!missing) first_missing = (long)k;
      missing++;
    }
  }
  cr_expect_eq(missing, 0, "seed %#llx (WEFT_TEST_SEED), mode %d: %ld items never taken (first: %ld)",
               (unsigned long long)st.seed, *mode, missing, first_missing);
  cr_expect_eq(atomic_load(&st.stolen) + atomic_load(&st.popped), (long)st.n);
  cr_log_info("mode %d: %ld popped, %ld stolen, %ld pushes on a full deque, %ld takes of the oldest",
              *mode, atomic_load(&st.popped), atomic_load(&st.stolen), atomic_load(&st.full_pushes),
              atomic_load(&st.takes));
  /* Every other full push takes the oldest; thieves may have emptied the
   * deque before some of them, not before all (mode 2 pushes a million). */
  if (*mode == 2)
    cr_expect_gt(atomic_load(&st.takes), 0, "seed %#llx: no take of the oldest took anything",
                 (unsigned long long)st.seed);
  free(st.taken);
  free(st.d);
}

/* The last element, fought over: the owner pushes one item and pops it
 * while thieves try to steal it; exactly one side gets each item. */
struct last_fight {
  struct weft__deque *d;
  long rounds;
  uint64_t seed;
  atomic_uchar *taken;
  atomic_int done;
  atomic_long owner_won;
  atomic_uint thief_seq;
};

static void *last_thief(void *arg) {
  struct last_fight *lf = arg;
  struct lease_cycle lc = {lf->d, lf->seed + 1 + atomic_fetch_add(&lf->thief_seq, 1), 0};
  while (!atomic_load(&lf->done)) {
    void *x = lease_steal(&lc);
    if (x) {
      unsigned char b = atomic_fetch_add(&lf->taken[KEY(x)], 1);
      CHECK(b == 0, "seed %#llx: item %lu taken twice", (unsigned long long)lf->seed, (unsigned long)KEY(x));
    }
  }
  lease_end(&lc);
  return NULL;
}

Test(deque_stress, fight_for_the_last_element, .timeout = 180) {
  stress_init();
  struct last_fight lf;
  memset(&lf, 0, sizeof lf);
  lf.d = new_deque();
  lf.rounds = SIZED(1000000, 500000, 100000);
  lf.seed = test_seed();
  lf.taken = calloc((size_t)lf.rounds + 1, sizeof *lf.taken);
  cr_assert_not_null(lf.taken);
  pthread_t th[THIEVES];
  for (int i = 0; i < THIEVES; i++) cr_assert_eq(pthread_create(&th[i], NULL, last_thief, &lf), 0);
  long owner_won = 0;
  uint64_t s = lf.seed;
  for (long k = 1; k <= lf.rounds; k++) {
    cr_assert_eq(weft__deque_push(lf.d, ITEM(k)), 0);
    /* A varying pause, so that thieves sometimes get there first. */
    for (volatile unsigned spin = (unsigned)(rng_next(&s) % 256); spin; spin--) {
    }
    void *x = weft__deque_pop(lf.d);
    if (x) {
      cr_assert_eq(KEY(x), (uintptr_t)k);
      unsigned char b = atomic_fetch_add(&lf.taken[k], 1);
      cr_assert_eq(b, 0, "item %ld taken twice", k);
      owner_won++;
    }
    /* Either way the deque is empty now. */
  }
  atomic_store(&lf.done, 1);
  for (int i = 0; i < THIEVES; i++) pthread_join(th[i], NULL);
  cr_assert_null(weft__deque_steal(lf.d));
  long missing = 0;
  for (long k = 1; k <= lf.rounds; k++) missing += atomic_load(&lf.taken[k]) != 1;
  cr_expect_eq(missing, 0, "seed %#llx: %ld items lost", (unsigned long long)lf.seed, missing);
  cr_log_info("the owner won %ld of %ld", owner_won, lf.rounds);
  free(lf.taken);
  free(lf.d);
}

/* ---- the lease's edges, round by round ------------------------------------------------------ */

/* Each round the owner pushes 1-3 items and pops them all while a thief
 * steals three times: mode 0 with a lease taken just for the round (the
 * pops in flight while its membarrier runs are the ones the heavy fence
 * must cover; with the membarrier removed from weft__deque_lease, 4 runs
 * of 4 failed at 60,000 rounds, 1 of 3 at 20,000), mode 1 under one lease
 * held throughout (every pop must fence; with the owner never fencing,
 * every run failed within a few hundred rounds). Random pauses on both
 * sides move the race around.
 * The stress tests above hold leases for hundreds of steals, so they
 * rarely meet a pop in flight at a lease's start. */
struct lease_rounds {
  struct weft__deque *d;
  long rounds;
  int held;
  uint64_t seed;
  atomic_long go, done;      /* the round the thief may start / has finished */
  atomic_uchar taken[4];     /* items are 1..3 */
};

static void pause_for(unsigned n) {
  for (volatile unsigned i = 0; i < n; i++) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
}

/* Waits for *x to reach v: spins, then yields the CPU (a loaded machine). */
static void wait_for(atomic_long *x, long v) {
  for (unsigned spins = 0; atomic_load_explicit(x, memory_order_acquire) != v; spins++)
    if (spins > 1000) sched_yield();
}

static void *lease_round_thief(void *arg) {
  struct lease_rounds *lr = arg;
  uint64_t s = lr->seed ^ 0x9e3779b97f4a7c15ull;
  if (lr->held) weft__deque_lease(lr->d);
  for (long r = 1; r <= lr->rounds; r++) {
    wait_for(&lr->go, r);
    pause_for((unsigned)(rng_next(&s) % 64));
    if (!lr->held) weft__deque_lease(lr->d);
    for (int k = 0; k < 3; k++) {
      void *x = weft__deque_steal(lr->d);
      if (x) atomic_fetch_add(&lr->taken[KEY(x)], 1);
    }
    if (!lr->held) weft__deque_unlease(lr->d);
    atomic_store_explicit(&lr->done, r, memory_order_release);
  }
  if (lr->held) weft__deque_unlease(lr->d);
  return NULL;
}

ParameterizedTestParameters(deque_stress, pops_against_lease_edges) {
  static int held[] = {0, 1};
  return cr_make_param_array(int, held, 2);
}
ParameterizedTest(int *held, deque_stress, pops_against_lease_edges, .timeout = 180) {
  stress_init();
  struct lease_rounds *lr = calloc(1, sizeof *lr);
  cr_assert_not_null(lr);
  lr->d = new_deque();
  lr->rounds = SIZED(60000, 20000, 10000);
  lr->held = *held;
  lr->seed = test_seed();
  uint64_t s = lr->seed;
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, lease_round_thief, lr), 0);
  long bad = 0, first_bad = 0;
  for (long r = 1; r <= lr->rounds; r++) {
    unsigned n = 1 + (unsigned)(rng_next(&s) % 3);
    for (unsigned i = 1; i <= n; i++) {
      atomic_store(&lr->taken[i], 0);
      cr_assert_eq(weft__deque_push(lr->d, ITEM(i)), 0);
    }
    atomic_store_explicit(&lr->go, r, memory_order_release);
    pause_for((unsigned)(rng_next(&s) % 64));
    for (void *x; (x = weft__deque_pop(lr->d)) != NULL;) atomic_fetch_add(&lr->taken[KEY(x)], 1);
    wait_for(&lr->done, r);
    for (void *x; (x = weft__deque_pop(lr->d)) != NULL;) /* what the thief left */
      atomic_fetch_add(&lr->taken[KEY(x)], 1);
    for (unsigned i = 1; i <= n; i++)
      if (atomic_load(&lr->taken[i]) != 1 && !bad++) first_bad = r;
  }
  pthread_join(th, NULL);
  cr_expect_eq(bad, 0, "seed %#llx (WEFT_TEST_SEED), %s: %ld items taken other than once (first in round %ld)",
               (unsigned long long)lr->seed, lr->held ? "one lease held" : "a lease a round", bad,
               first_bad);
  free(lr->d);
  free(lr);
}
