/* scope_cancel — the first failure in a scope cancels its siblings.
 *
 * Three downloads run as children of one scope; each receives chunks on
 * its own channel from a feeder (a fourth child). The second download gets
 * a corrupt chunk and fails with EBADMSG. That cancels the rest of the
 * scope: the other downloads, blocked in weft_chan_recv(), and the feeder,
 * blocked in weft_chan_send(), each get ECANCELED and return. The parent's
 * weft_scope_join() returns only when all four have finished, and reports
 * the first error, EBADMSG. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "weft.h"

#define NDOWNLOADS 3
#define CORRUPT ((void *)(intptr_t)-1)

static weft_chan *chunks[NDOWNLOADS]; /* unbuffered: feeder -> download i */

static int download(void *arg) {
  int id = (int)(intptr_t)arg;
  long bytes = 0;
  for (;;) {
    void *chunk;
    int rc = weft_chan_recv(chunks[id], &chunk);
    if (rc == ECANCELED) {
      printf("download %d: cancelled after %ld bytes\n", id, bytes);
      return ECANCELED;
    }
    if (rc != 0) return rc; /* WEFT_CLOSED cannot happen here: nobody closes */
    if (chunk == CORRUPT) {
      printf("download %d: corrupt chunk, failing with EBADMSG\n", id);
      return EBADMSG;
    }
    bytes += (long)(intptr_t)chunk;
  }
}

static int feeder(void *arg) {
  (void)arg;
  for (int round = 0;; round++) {
    for (int id = 0; id < NDOWNLOADS; id++) {
      void *chunk = (round == 3 && id == 1) ? CORRUPT : (void *)(intptr_t)1024;
      int rc = weft_chan_send(chunks[id], chunk);
      if (rc) {
        printf("feeder: %s in round %d\n", weft_err_name(rc), round);
        return rc;
      }
    }
  }
}

static void *parent(void *arg) {
  (void)arg;
  weft_scope *s;
  int rc = weft_scope_create(&s, NULL);
  if (rc) return (void *)(intptr_t)rc;
  for (int id = 0; id < NDOWNLOADS; id++) weft_scope_spawn(s, download, (void *)(intptr_t)id, NULL);
  weft_scope_spawn(s, feeder, NULL, NULL);
  rc = weft_scope_join(s); /* every child has returned when this does */
  /* The error is the child's own errno value: name it with the C library. */
  printf("scope: joined, first error: %s\n", rc ? strerror(rc) : "none");
  return (void *)(intptr_t)rc;
}

int main(void) {
  weft_runtime *rt;
  if (weft_runtime_create(&rt, NULL) != 0) return 1;
  for (int id = 0; id < NDOWNLOADS; id++) weft_chan_create(&chunks[id], 0, 0);
  void *rc = NULL;
  weft_run_until_complete(rt, parent, NULL, &rc);
  weft_runtime_destroy(rt);
  for (int id = 0; id < NDOWNLOADS; id++) weft_chan_destroy(chunks[id]);
  return (intptr_t)rc == EBADMSG ? 0 : 1;
}
