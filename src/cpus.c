/* cpus — how many CPUs this process may use: its affinity mask, capped by
 * its cgroup's CPU quota (v2 cpu.max, or v1 cfs_quota/period), at least 1.
 * The machine's count is not the answer in a container or under taskset.
 * And where a thread runs, for a worker that finds itself woken onto a
 * CPU another worker is busy on (worker.c, weft__spread). */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cpus.h"

static long weft__read_quota(void) {
  /* cgroup v2: "max 100000" or "150000 100000" for the process's cgroup. */
  char path[512] = "/sys/fs/cgroup/cpu.max";
  FILE *cg = fopen("/proc/self/cgroup", "r");
  if (cg) {
    char line[512];
    while (fgets(line, sizeof line, cg)) {
      if (strncmp(line, "0::", 3) == 0) {
        line[strcspn(line, "\n")] = '\0';
        /* A path too long to fit is not ours to guess: the root's file. */
        int n = snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", line + 3);
        if (n < 0 || (size_t)n >= sizeof path) strcpy(path, "/sys/fs/cgroup/cpu.max");
        break;
      }
    }
    fclose(cg);
  }
  long quota = -1, period = 0;
  FILE *f = fopen(path, "r");
  if (!f) f = fopen("/sys/fs/cgroup/cpu.max", "r");
  if (f) {
    char q[32];
    if (fscanf(f, "%31s %ld", q, &period) == 2 && strcmp(q, "max") != 0) sscanf(q, "%ld", &quota);
    fclose(f);
  } else if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r"))) {
    if (fscanf(f, "%ld", &quota) != 1) quota = -1;
    fclose(f);
    if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r"))) {
      if (fscanf(f, "%ld", &period) != 1) period = 0;
      fclose(f);
    }
  }
  if (quota <= 0 || period <= 0) return -1;
  return (quota + period - 1) / period; /* a partial CPU still gets a worker */
}

unsigned weft__cpus_usable(void) {
  long n = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
  if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
  long q = weft__read_quota();
  if (q > 0 && q < n) n = q;
  return n > 0 ? (unsigned)n : 1u;
}

int weft__cpu_current(void) { return sched_getcpu(); }

int weft__cpu_move_off(int cpu, unsigned min_cpus) {
  cpu_set_t set, off;
  if (cpu < 0 || sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  if (!CPU_ISSET(cpu, &set) || (unsigned)CPU_COUNT(&set) < min_cpus) return -1;
  off = set;
  CPU_CLR(cpu, &off);
  if (sched_setaffinity(0, sizeof off, &off) != 0) return -1;
  /* Best effort: if this fails the thread keeps the narrower mask, which
   * still holds every CPU but one of what it had. */
  (void)sched_setaffinity(0, sizeof set, &set);
  return 0;
}
