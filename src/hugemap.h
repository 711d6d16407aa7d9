/* hugemap — anonymous memory in 2 MiB pieces aligned to 2 MiB and advised
 * to be backed by transparent huge pages: one page fault (or one
 * MADV_POPULATE_WRITE) per 2 MiB instead of one per 4 KiB, and one TLB
 * entry. On the VM the figures were measured on, a 4 KiB first touch
 * cost 30-60 us and a whole huge page under 1 ms. Without THP ("never")
 * it is a plain mapping, faulted page by page. Used where memory comes
 * in bursts: trace buffers (trace.c), task memory (slab.c).
 */
#ifndef WEFT_HUGEMAP_H
#define WEFT_HUGEMAP_H

#include <stddef.h>

#define WEFT__HUGE_BYTES ((size_t)2 << 20)

/* A fresh WEFT__HUGE_BYTES mapping, zeroed; if `populate`, faulted in now
 * rather than on first touch. NULL when out of memory. */
void *weft__huge_map(int populate);
/* Gives back a mapping from weft__huge_map. */
void weft__huge_unmap(void *p);

#endif
