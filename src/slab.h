/* slab — small fixed-size objects (tasks, waiter nodes) carved from 64 KiB
 * blocks, so that a burst of a million spawns costs a million pointer
 * bumps instead of a million trips through malloc. (glibc grows a
 * thread's arena with one mprotect per page it needs: most of the time a
 * 10^6-task spawn took went there and to its page faults.)
 *
 * A carver (a worker, owner-only: no atomics) bumps through one block at a
 * time. Any thread may free an object: its block is found by masking the
 * address (blocks are aligned to their size), and a block counts the
 * objects not yet freed back to it; the last one puts the block in a pool
 * of empty blocks for the next carver (slab.c says why they are not given
 * back to the system at once). Objects usually do not come back here at
 * once — the worker free lists in worker.c keep up to 1024 of each for
 * reuse — so this is the cold path.
 */
#ifndef WEFT_SLAB_H
#define WEFT_SLAB_H

#include <stddef.h>

struct weft__slab_block;

struct weft__slab {
  size_t size;                    /* object size, a multiple of 16 */
  char *cur, *end;                /* what is left of the block being carved */
  struct weft__slab_block *block; /* that block, or NULL */
};

void weft__slab_init(struct weft__slab *s, size_t size);
/* Owner only. NULL when out of memory. */
void *weft__slab_alloc(struct weft__slab *s);
/* Any thread: gives `p` (from weft__slab_alloc of any slab) back. */
void weft__slab_free(void *p);
/* Owner only: the slab will not carve again (its block goes when its
 * objects do). */
void weft__slab_fini(struct weft__slab *s);

#endif
