/* membar — see membar.h. */
#include "membar.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int weft__membar_asym;
static pthread_once_t weft__membar_once = PTHREAD_ONCE_INIT;

static void weft__membar_probe(void) {
#ifdef SYS_membarrier
  /* Registered once per process: the expedited command fails with EPERM
   * until then. ENOSYS (old kernel, Valgrind) or a seccomp refusal leaves
   * the symmetric fences. */
  long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
      syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
    weft__membar_asym = 1;
#endif
}

void weft__membar_init(void) { pthread_once(&weft__membar_once, weft__membar_probe); }

void weft__membar_heavy(void) {
  atomic_thread_fence(memory_order_seq_cst);
#ifdef SYS_membarrier
  if (!weft__membar_asym) return;
  /* The light sides have already skipped their fences on the promise of
   * this one: there is no going back to symmetric fences, so a failure
   * (ENOMEM, when the kernel cannot allocate its CPU mask) is retried, and
   * one that lasts ends the process rather than let a race through. */
  for (int tries = 0; syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0;
       tries++) {
    if (tries == 1000) {
      fputs("weft: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) keeps failing; aborting\n",
            stderr);
      abort();
    }
    sched_yield();
  }
#endif
}
