/* Coroutines by themselves — the seed notes' first part, in C.
 *
 * A coroutine function creates a coroutine object that does not run until
 * it is driven; send() runs it to its next yield or to its end; reaching the
 * end is a distinct result (Python's StopIteration) that carries the return
 * value. Build with the project; run ./coroutines_by_themselves. */
#include <stdio.h>

#include "weft.h"

static void *corout(void *arg) {
  (void)arg;
  printf("running corout\n");
  return NULL;
}

static void *genfunction(void *arg) {
  (void)arg;
  printf("in the generator\n");
  weft_coro_yield(NULL, NULL);
  return "the end";
}

static int check(int rc, const char *what) {
  if (rc > 0) fprintf(stderr, "%s: %s\n", what, weft_strerror(rc));
  return rc;
}

int main(void) {
  weft_coro *cr;
  /* In [33]: cr = corout()   -- nothing runs yet */
  if (check(weft_coro_create(&cr, corout, NULL, NULL), "create")) return 1;
  printf("created a coroutine; its body has not run (state %d: created)\n", weft_coro_status(cr));

  /* In [35]: cr.send(None) -> "running corout", then StopIteration */
  void *ret;
  int rc = weft_coro_send(cr, NULL, &ret);
  if (rc == WEFT_DONE) printf("send: the coroutine finished (%s), returning %p\n", weft_err_name(rc), ret);

  /* Sending again, like next() on an exhausted generator, is refused. */
  rc = weft_coro_send(cr, NULL, NULL);
  printf("send again: %s (%s)\n", weft_err_name(rc), weft_strerror(rc));
  weft_coro_destroy(cr);

  /* The generator: the first send runs it to its yield, the second to its end. */
  weft_coro *g;
  if (check(weft_coro_create(&g, genfunction, NULL, NULL), "create")) return 1;
  rc = weft_coro_send(g, NULL, NULL);
  printf("next(g): %s, state %s\n", rc == 0 ? "yielded" : weft_err_name(rc),
         weft_coro_status(g) == WEFT_CORO_SUSPENDED ? "suspended" : "?");
  rc = weft_coro_send(g, NULL, &ret);
  printf("next(g): %s, it returned \"%s\"\n", weft_err_name(rc), (const char *)ret);
  weft_coro_destroy(g);
  return 0;
}
