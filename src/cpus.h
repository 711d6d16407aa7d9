/* cpus — the number of CPUs this process may use (cpus.c). */
#ifndef WEFT_CPUS_H
#define WEFT_CPUS_H
unsigned weft__cpus_usable(void);

/* The CPU the calling thread runs on (a hint: it may move at any time),
 * or -1. */
int weft__cpu_current(void);

/* Moves the calling thread off `cpu` to another CPU of its affinity mask,
 * which it keeps: sets the mask without `cpu` (the kernel migrates the
 * thread at once), then puts the old mask back (it stays where it was
 * moved). Nothing if the mask has fewer than `min_cpus` CPUs. 0 if it
 * moved, -1 if not. */
int weft__cpu_move_off(int cpu, unsigned min_cpus);
#endif
