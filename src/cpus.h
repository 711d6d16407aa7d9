/* cpus — the number of CPUs this process may use (cpus.c). */
#ifndef WEFT_CPUS_H
#define WEFT_CPUS_H
unsigned weft__cpus_usable(void);
#endif
