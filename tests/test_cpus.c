/* The CPU layer (cpus.c): moving the calling thread off a CPU, which a
 * worker woken onto a busy worker's CPU does (worker.c, weft__spread). */
#include <sched.h>

#include <criterion/criterion.h>

#include "cpus.h"
#include "support.h"

static cpu_set_t mask_now(void) {
  cpu_set_t set;
  CPU_ZERO(&set);
  cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
  return set;
}

Test(cpus, move_off_leaves_the_cpu_and_keeps_the_mask) {
  cpu_set_t before = mask_now();
  unsigned n = (unsigned)CPU_COUNT(&before);
  int cpu = weft__cpu_current();
  cr_assert_geq(cpu, 0, "sched_getcpu failed");
  /* Too few CPUs for the caller's workers: it stays, the mask untouched. */
  cr_assert_eq(weft__cpu_move_off(cpu, n + 1), -1);
  cpu_set_t same = mask_now();
  cr_assert(CPU_EQUAL(&same, &before), "a refused move changed the mask");
  if (n < 2) return; /* nowhere to go: the rest needs two CPUs */
  /* The kernel moves the thread when its mask loses the CPU, and nothing
   * moves it back on purpose; the load balancer may, on a loaded machine,
   * before we look: most moves must show. */
  int moved = 0;
  for (int i = 0; i < 20; i++) {
    cpu = weft__cpu_current();
    cr_assert_eq(weft__cpu_move_off(cpu, 2), 0, "move %d failed", i);
    if (weft__cpu_current() != cpu) moved++;
    cpu_set_t after = mask_now();
    cr_assert(CPU_EQUAL(&after, &before), "the mask was not restored after move %d", i);
  }
  cr_expect_geq(moved, 15, "only %d of 20 moves left the CPU", moved);
}
