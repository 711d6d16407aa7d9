/* asyncio_coroutine.py, in C: run_until_complete starts the loop with a
 * coroutine and stops it when the coroutine returns. */
#include <stdio.h>

#include "weft.h"

static void *coroutine(void *arg) {
  (void)arg;
  printf("in coroutine\n");
  return NULL;
}

int main(void) {
  weft_runtime *loop;
  if (weft_runtime_create(&loop, NULL) != 0) return 1;
  printf("entering event loop\n");
  int rc = weft_run_until_complete(loop, coroutine, NULL, NULL);
  printf("closing event loop\n");
  weft_runtime_destroy(loop);
  return rc != 0;
}
