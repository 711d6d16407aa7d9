/* Run a function in a forked child and keep what it wrote to stderr and how
 * it ended: for tests that check the one line weft prints before it aborts,
 * which a Criterion death test (`.signal = SIGABRT`) cannot read. */
#ifndef WEFT_TESTS_CHILD_H
#define WEFT_TESTS_CHILD_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

struct child_result {
  int status;     /* as waitpid() gives it */
  char err[8192]; /* the child's stderr, NUL-terminated (truncated if longer) */
  size_t err_len;
};

/* Forks; the child runs fn(arg) with stderr going into a pipe, then
 * _exit(0)s if fn returned. The parent collects stderr and the status. */
static inline void run_in_child(void (*fn)(void *), void *arg, struct child_result *r) {
  int fds[2];
  cr_assert_eq(pipe(fds), 0, "pipe: %s", strerror(errno));
  pid_t pid = fork();
  cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    fn(arg);
    _exit(0);
  }
  close(fds[1]);
  r->err_len = 0;
  for (;;) {
    char buf[512];
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size_t room = sizeof r->err - 1 - r->err_len;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(r->err + r->err_len, buf, take);
    r->err_len += take;
  }
  r->err[r->err_len] = '\0';
  close(fds[0]);
  pid_t w;
  do {
    w = waitpid(pid, &r->status, 0);
  } while (w == -1 && errno == EINTR);
  cr_assert_eq(w, pid, "waitpid: %s", strerror(errno));
}

/* The first line of the child's stderr that starts with `prefix`, or NULL.
 * (Tools such as Valgrind may add lines of their own around weft's.) */
static inline const char *child_line(const struct child_result *r, const char *prefix) {
  size_t n = strlen(prefix);
  for (const char *p = r->err; *p;) {
    if (strncmp(p, prefix, n) == 0) return p;
    const char *nl = strchr(p, '\n');
    if (!nl) break;
    p = nl + 1;
  }
  return NULL;
}

#endif
