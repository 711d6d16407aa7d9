/* stack — coroutine stacks: where they come from, where they go back, and
 * how an overflow is reported instead of corrupting memory.
 *
 * Two kinds of stack. A guarded stack is its own mapping with a PROT_NONE
 * page below it: running into it faults, and the SIGSEGV handler (on an
 * alternate signal stack) reports the overflow. Each costs two kernel
 * mappings and vm.max_map_count is 65530 by default, so guarded stacks are
 * used only up to a budget (a quarter of max_map_count); past it, stacks are
 * carved from large shared mappings ("slabs") without guards, and a canary
 * at the low end of each is checked every time its coroutine switches out.
 *
 * Recycling. Each thread keeps a small cache per stack size (no atomics, no
 * locks), over a shared pool under a mutex (touched only when a cache is
 * empty or full, a batch at a time). Past the pool's warm limit, guarded
 * stacks are unmapped and slab stacks have their pages given back with
 * madvise(MADV_DONTNEED).
 *
 * The descriptor of a stack lives at the top of its own memory: a stack
 * costs no malloc, and a fresh stack's descriptor and first frames share a
 * page.
 */
#ifndef WEFT_STACK_H
#define WEFT_STACK_H

#include <stddef.h>
#include <stdint.h>

#define WEFT__STACK_DEFAULT (64u * 1024u)
#define WEFT__STACK_MIN (16u * 1024u)
#define WEFT__STACK_MAX ((size_t)1 << 30)

#define WEFT__INLINE_MIN_STACK (16u * 1024u)

struct weft__stack {
  struct weft__stack *next; /* link while cached or pooled */
  char *lo;                 /* lowest usable byte (the canary, if unguarded) */
  size_t size;              /* usable bytes: [lo, lo + size) ends at this descriptor */
  size_t class_size;        /* the size it was asked for (rounded): its cache class */
  /* An awaiter on this stack runs an awaited task inline, on top of its
   * own frames, only while its stack pointer is above this: at least
   * WEFT__INLINE_MIN_STACK, and a quarter of the stack, stay free for the
   * task (worker.c, weft__stack_room). */
  char *inline_floor;
  unsigned char guarded;
  unsigned char cold;       /* pages given back; canary must be rewritten */
  unsigned vg_id;           /* Valgrind stack id */
  /* Who runs on it, for the overflow message. */
  const void *owner;
  const char *owner_name;
};

/* Rounds a requested stack size to what weft allocates: 0 means the
 * default; at least WEFT__STACK_MIN; a multiple of the page size. Returns 0
 * if `req` is over WEFT__STACK_MAX. */
size_t weft__stack_round(size_t req);

/* Gets a stack of `size` bytes (already rounded). ENOMEM if none can be had. */
int weft__stack_alloc(size_t size, struct weft__stack **out);

/* Gives a stack back to this thread's cache. Never while running on it. */
void weft__stack_free(struct weft__stack *s);

/* Reports an overflow and aborts if `s` has no guard page and its canary
 * was overwritten. Call when its coroutine switches out. */
static inline void weft__stack_check(const struct weft__stack *s);

/* Makes sure this thread has an alternate signal stack and the process has
 * weft's SIGSEGV handler. Cheap after the first call on a thread. */
void weft__stack_thread_setup(void);

/* Moves this thread's cached stacks to the shared pool (thread exit). */
void weft__stack_thread_flush(void);

/* Test hooks: counters of the shared pool and of live mappings. */
struct weft__stack_stats {
  size_t guarded_live;  /* guarded stacks mapped (in use or cached) */
  size_t slab_stacks;   /* stacks carved from slabs so far */
  size_t guarded_budget;
  size_t mmaps;         /* mmap calls made for stacks */
};
void weft__stack_stats(struct weft__stack_stats *st);
/* Test hook: change the guarded budget (returns the old one). */
size_t weft__stack_set_guarded_budget(size_t n);

/* ---- inline ---- */
#define WEFT__CANARY UINT64_C(0x77656674c0a1a5e5)
_Noreturn void weft__stack_report_canary(const struct weft__stack *s);

static inline void weft__stack_check(const struct weft__stack *s) {
  if (!s->guarded) {
    const uint64_t *c = (const uint64_t *)(const void *)s->lo;
    if (c[0] != (WEFT__CANARY ^ (uintptr_t)c) || c[1] != WEFT__CANARY)
      weft__stack_report_canary(s);
  }
}

#endif
