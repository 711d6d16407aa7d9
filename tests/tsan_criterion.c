/* Linked into the test programs of ThreadSanitizer builds only: lets
 * Criterion's sandbox start under ThreadSanitizer.
 *
 * Criterion (through BoxFort) puts the arenas it shares with its worker
 * processes at fixed addresses: rand_r() picks a 16 MiB slot in
 * [0x2000'0000'0000, 0x6000'0000'0000), mincore() checks that the slot is
 * free, and it gives up after ten tries. ThreadSanitizer reserves nearly all
 * of that range for its shadow memory and accepts application mappings there
 * only in [0x5500'0000'0000, 0x5680'0000'0000), so ten random tries almost
 * never find a slot and the program aborts with "Could not initialize
 * inheritable arena" (Criterion issue #274, still open).
 *
 * This rand_r() takes the place of libc's for the whole program. In these
 * programs only BoxFort calls it, and it draws only slots inside the window
 * ThreadSanitizer allows: slot = 0x350000 + n with n < 0x18000, and
 * 0x2000'0000'0000 + slot * 16 MiB lies in [0x5500'0000'0000,
 * 0x5680'0000'0000). mincore() still rejects a slot in use, so nothing that
 * is mapped gets overwritten. Not a general-purpose random number generator.
 */
#include <stdlib.h>

int rand_r(unsigned *seed) {
  *seed = *seed * 1103515245u + 12345u;
  return (int)(0x350000u + (*seed >> 8) % 0x18000u);
}
