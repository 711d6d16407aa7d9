/* slab — see slab.h. */
#include "slab.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <pthread.h>

#include "hugemap.h"
#include "spin.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define WEFT__SLAB_BLOCK ((size_t)64 * 1024)

struct weft__slab_block {
  /* Objects of this block not yet freed, counting the ones not yet carved
   * (they are "freed" all at once when the carver lets the block go). */
  atomic_long live;
  struct weft__slab_block *next; /* in the pool of empty blocks */
  int huge;                      /* carved from a huge-page chunk: never freed */
};

/* Empty blocks are kept for the next carver rather than freed: giving
 * memory back to the system costs a TLB shootdown across the process's
 * CPUs (an IPI that waits for every other CPU), which on a loaded VM made
 * freeing a million tasks slower than making them. Like malloc's arenas,
 * the pool keeps what the peak needed, up to WEFT__SLAB_POOL_MAX blocks
 * (256 MiB); beyond that blocks go back to malloc. */
#define WEFT__SLAB_POOL_MAX 4096
static weft__spin weft__pool_lock = WEFT__SPIN_INIT;
static struct weft__slab_block *weft__pool;
static size_t weft__pool_n;

/* Objects start past the header, 16-aligned. */
#define WEFT__SLAB_HDR ((sizeof(struct weft__slab_block) + 63) & ~(size_t)63)

void weft__slab_init(struct weft__slab *s, size_t size) {
  s->size = (size + 15) & ~(size_t)15;
  s->cur = s->end = NULL;
  s->block = NULL;
}

static void weft__block_put(struct weft__slab_block *b, long n) {
  /* acq_rel: every thread's last use of an object of b happens-before the
   * reuse or free of b by whoever brings the count to zero. */
  if (atomic_fetch_sub_explicit(&b->live, n, memory_order_acq_rel) != n) return;
  weft__spin_lock(&weft__pool_lock);
  if (weft__pool_n < WEFT__SLAB_POOL_MAX || b->huge) {
    b->next = weft__pool;
    weft__pool = b;
    weft__pool_n++;
    b = NULL;
  }
  weft__spin_unlock(&weft__pool_lock);
  free(b);
}

/* Fresh blocks. The first WEFT__SLAB_SMALL of the process come from malloc,
 * so a program with a few thousand tasks stays small. Past that it is a
 * burst — a million spawns is 184 MB of task memory — and blocks are
 * carved from 2 MiB chunks backed by huge pages (hugemap.h): one fault per
 * 2 MiB instead of one per 4 KiB, and a TLB entry per 2 MiB. On the VM the
 * figures were measured on, that took the 10^6-task spawn peer program on
 * one worker from 0.61 s to 0.20 s (medians of 7; when the kernel has no
 * huge page at hand it falls back to 4 KiB pages, and to about the old
 * time). Chunk blocks are never given back (always pooled), as malloc
 * keeps its arenas. */
#define WEFT__SLAB_SMALL 16
static pthread_mutex_t weft__chunk_lock = PTHREAD_MUTEX_INITIALIZER;
static char *weft__chunk_cur, *weft__chunk_end; /* under weft__chunk_lock */
static size_t weft__fresh_n;                    /* blocks made so far; same lock */

static struct weft__slab_block *weft__block_fresh(void) {
  struct weft__slab_block *b = NULL;
  pthread_mutex_lock(&weft__chunk_lock);
  if (weft__fresh_n >= WEFT__SLAB_SMALL) {
    if (weft__chunk_cur == weft__chunk_end && (weft__chunk_cur = weft__huge_map(1)) != NULL)
      weft__chunk_end = weft__chunk_cur + WEFT__HUGE_BYTES;
    if (weft__chunk_cur && weft__chunk_cur != weft__chunk_end) {
      b = (struct weft__slab_block *)(void *)weft__chunk_cur;
      weft__chunk_cur += WEFT__SLAB_BLOCK;
      b->huge = 1;
    } else {
      weft__chunk_cur = weft__chunk_end = NULL; /* no chunk: malloc below */
    }
  }
  size_t n = weft__fresh_n++;
  pthread_mutex_unlock(&weft__chunk_lock);
  if (b) return b;
  b = aligned_alloc(WEFT__SLAB_BLOCK, WEFT__SLAB_BLOCK);
  if (!b) return NULL;
  /* A burst with no huge-page chunk to carve from: fault the block in with
   * one system call rather than one page fault per 4 KiB as objects are
   * carved (page faults are slow in a VM). Older kernels say EINVAL: no
   * harm. Not the first blocks: a program with little parallel slack uses a
   * page or two of each (a block per worker for tasks, one for nodes), and
   * populating them cost fork-join programs on two workers 64 KiB of
   * resident memory they never used. */
  if (n >= WEFT__SLAB_SMALL) (void)madvise(b, WEFT__SLAB_BLOCK, MADV_POPULATE_WRITE);
  b->huge = 0;
  return b;
}

static struct weft__slab_block *weft__block_new(void) {
  weft__spin_lock(&weft__pool_lock);
  struct weft__slab_block *b = weft__pool;
  if (b) {
    weft__pool = b->next;
    weft__pool_n--;
  }
  weft__spin_unlock(&weft__pool_lock);
  if (b) return b; /* faulted in already */
  return weft__block_fresh();
}

/* Lets the current block go: its uncarved objects will never be freed one
 * by one, so they are subtracted now. */
static void weft__slab_retire(struct weft__slab *s) {
  if (!s->block) return;
  long left = (long)((size_t)(s->end - s->cur) / s->size);
  struct weft__slab_block *b = s->block;
  s->block = NULL;
  s->cur = s->end = NULL;
  if (left) weft__block_put(b, left);
}

void *weft__slab_alloc(struct weft__slab *s) {
  if (s->cur == s->end) {
    weft__slab_retire(s);
    struct weft__slab_block *b = weft__block_new();
    if (!b) return NULL;
    size_t n = (WEFT__SLAB_BLOCK - WEFT__SLAB_HDR) / s->size;
    atomic_init(&b->live, (long)n);
    s->block = b;
    s->cur = (char *)b + WEFT__SLAB_HDR;
    s->end = s->cur + n * s->size;
  }
  void *p = s->cur;
  s->cur += s->size;
  return p;
}

void weft__slab_free(void *p) {
  weft__block_put((struct weft__slab_block *)((uintptr_t)p & ~(uintptr_t)(WEFT__SLAB_BLOCK - 1)), 1);
}

void weft__slab_fini(struct weft__slab *s) { weft__slab_retire(s); }
