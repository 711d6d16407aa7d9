/* The slab layer (src/slab.h), white-box: objects are distinct, aligned
 * and inside their block; a block emptied by frees (from any thread) is
 * reused by the next carver; objects carved on one thread and freed on
 * another while both run (ThreadSanitizer checks the hand-off); and a
 * slab that stops carving lets its last block go once its objects do.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "slab.h"
#include "support.h"

#define BLOCK ((uintptr_t)64 * 1024)

static uintptr_t block_of(void *p) { return (uintptr_t)p & ~(BLOCK - 1); }

static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

RT_TEST(slab, objects_are_distinct_aligned_and_inside_their_block) {
  size_t sizes[] = {1, 24, 32, 232, 1000};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    struct weft__slab s;
    weft__slab_init(&s, sizes[k]);
    size_t n = 3 * (BLOCK / ((sizes[k] + 15) & ~(size_t)15)) + 7; /* several blocks */
    uintptr_t *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) {
      void *o = weft__slab_alloc(&s);
      cr_assert_not_null(o);
      cr_assert_eq((uintptr_t)o % 16, 0, "object %zu of size %zu not 16-aligned", i, sizes[k]);
      cr_assert_neq(block_of(o), (uintptr_t)o, "an object on its block's header");
      cr_assert_leq((uintptr_t)o + sizes[k], block_of(o) + BLOCK, "an object past its block");
      memset(o, (int)(i & 0xff), sizes[k]); /* every byte usable */
      p[i] = (uintptr_t)o;
    }
    qsort(p, n, sizeof *p, cmp_ptr);
    for (size_t i = 1; i < n; i++)
      cr_assert_geq(p[i] - p[i - 1], sizes[k], "objects overlap (size %zu)", sizes[k]);
    for (size_t i = 0; i < n; i++) weft__slab_free((void *)p[i]);
    weft__slab_fini(&s);
    free(p);
  }
}

RT_TEST(slab, emptied_blocks_are_reused) {
  struct weft__slab s;
  weft__slab_init(&s, 232);
  size_t per = (BLOCK - 64) / 240, n = 4 * per;
  void **o = malloc(n * sizeof *o);
  for (size_t i = 0; i < n; i++) o[i] = weft__slab_alloc(&s);
  /* The first three blocks are fully carved and retired: free all of
   * their objects, and the next carving comes from them again. */
  uintptr_t b0 = block_of(o[0]), b1 = block_of(o[per]), b2 = block_of(o[2 * per]);
  for (size_t i = 0; i < 3 * per; i++) weft__slab_free(o[i]);
  for (size_t i = 3 * per; i < n; i++) weft__slab_free(o[i]); /* the current block: not retired */
  int seen = 0;
  for (size_t i = 0; i < n; i++) {
    o[i] = weft__slab_alloc(&s);
    uintptr_t b = block_of(o[i]);
    seen |= (b == b0) | (b == b1) << 1 | (b == b2) << 2;
  }
  cr_assert(seen != 0, "no emptied block was reused");
  for (size_t i = 0; i < n; i++) weft__slab_free(o[i]);
  weft__slab_fini(&s);
  free(o);
}

/* One thread carves, another frees, through a ring, while both run. */
#define RING 1024
struct xfer {
  _Atomic(void *) ring[RING];
  atomic_size_t head, tail;
  size_t total;
};

static void *freer(void *arg) {
  struct xfer *x = arg;
  for (size_t got = 0; got < x->total;) {
    size_t t = atomic_load_explicit(&x->tail, memory_order_relaxed);
    if (t == atomic_load_explicit(&x->head, memory_order_acquire)) {
      sched_yield();
      continue;
    }
    void *o = atomic_load_explicit(&x->ring[t % RING], memory_order_relaxed);
    CHECK(*(uint64_t *)o == t, "object %zu carries %llu", t, (unsigned long long)*(uint64_t *)o);
    atomic_store_explicit(&x->tail, t + 1, memory_order_release);
    weft__slab_free(o);
    got++;
  }
  return NULL;
}

RT_TEST(slab, freed_on_another_thread_while_carving, .timeout = 120) {
  struct xfer *x = calloc(1, sizeof *x);
  x->total = SIZED(2000000, 500000, 200000);
  pthread_t th = start_thread(freer, x);
  struct weft__slab s;
  weft__slab_init(&s, 232);
  for (size_t i = 0; i < x->total; i++) {
    size_t h = atomic_load_explicit(&x->head, memory_order_relaxed);
    while (h - atomic_load_explicit(&x->tail, memory_order_acquire) >= RING) sched_yield();
    uint64_t *o = weft__slab_alloc(&s);
    cr_assert_not_null(o);
    *o = h; /* the freer checks it: no object is handed out twice while live */
    atomic_store_explicit(&x->ring[h % RING], o, memory_order_relaxed);
    atomic_store_explicit(&x->head, h + 1, memory_order_release);
  }
  pthread_join(th, NULL);
  weft__slab_fini(&s);
  free(x);
}
