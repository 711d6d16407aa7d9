/* membar — see membar.h. */
#include "membar.h"

#include <linux/membarrier.h>
#include <pthread.h>
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
  if (weft__membar_asym) syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
#endif
}
