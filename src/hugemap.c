/* hugemap — see hugemap.h. */
#include "hugemap.h"

#include <stdint.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

void *weft__huge_map(int populate) {
  size_t sz = WEFT__HUGE_BYTES;
  /* Twice the size, then the unaligned ends trimmed: mmap only promises
   * page alignment, and a huge page needs its natural alignment. */
  char *p = mmap(NULL, 2 * sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  char *a = (char *)(((uintptr_t)p + sz - 1) & ~(uintptr_t)(sz - 1));
  if (a > p) munmap(p, (size_t)(a - p));
  munmap(a + sz, (size_t)(p + 2 * sz - (a + sz)));
#ifdef MADV_HUGEPAGE
  madvise(a, sz, MADV_HUGEPAGE);
#endif
  /* One system call; older kernels say EINVAL, and then a write per 4 KiB
   * does it (one fault in all if it is a huge page). */
  if (populate && madvise(a, sz, MADV_POPULATE_WRITE) != 0) {
    volatile char *v = a;
    for (size_t o = 0; o < sz; o += 4096) v[o] = 0;
  }
  return a;
}

void weft__huge_unmap(void *p) { munmap(p, WEFT__HUGE_BYTES); }
