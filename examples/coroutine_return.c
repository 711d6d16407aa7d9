/* asyncio_coroutine_return.py, in C: run_until_complete also returns the
 * result of the coroutine it waits for. */
#include <stdio.h>

#include "weft.h"

static void *coroutine(void *arg) {
  (void)arg;
  printf("in coroutine\n");
  return "result";
}

int main(void) {
  weft_runtime *loop;
  if (weft_runtime_create(&loop, NULL) != 0) return 1;
  void *result;
  int rc = weft_run_until_complete(loop, coroutine, NULL, &result);
  if (rc == 0) printf("it returned: '%s'\n", (const char *)result);
  weft_runtime_destroy(loop);
  return rc != 0;
}
