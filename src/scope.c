/* scope — structured concurrency: child tasks that a join waits for, the
 * first failure cancelling the rest.
 *
 * State, under the scope's spinlock: the list of child records not yet
 * joined, the first error, and whether the scope is cancelled. A record
 * lives from weft_scope_spawn() until the join has seen its task settle;
 * only the join unlinks and frees records, and the join is one caller.
 *
 * A record's two task pointers:
 * - `task`, the scope's own reference, set by the spawner once weft_spawn
 *   has returned (a child may run, and even finish, before that): what the
 *   join awaits.
 * - `running`, borrowed: set by the child itself at the start of its body
 *   and cleared at its end, both under the lock. While it is set the task
 *   is running its body, so the runtime keeps it alive, and a cancel (under
 *   the lock) may weft_cancel() it. A child that has not started is not
 *   cancelled through its task (that would settle it without running the
 *   trampoline): it checks the cancelled flag when it starts, under the
 *   same lock, and returns ECANCELED at once.
 * So a cancel reaches every child: started ones through weft_cancel, the
 * others through the flag; and no spawn succeeds after a cancel.
 *
 * The join takes the records one at a time, awaiting each task (with the
 * caller's deadline, if any), and unlinks and frees a record only once its
 * task has settled. So a join that times out can simply stop: what it
 * freed was finished, what is left is as a fresh scope's, and the next
 * join carries on from there. Only `joining` is reset (under the lock).
 *
 * weft_cancel is called under the spinlock: for a running task it only
 * sets flags and may reschedule the task (queue push, maybe a futex wake);
 * no user code runs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "spin.h"
#include "waitq.h"
#include "weft/scope.h"

struct weft__child {
  struct weft__child *prev, *next;
  weft_scope *scope;
  weft_scope_fn fn;
  void *arg;
  weft_future *task;    /* the scope's reference; NULL while the spawn is in progress */
  weft_future *running; /* borrowed, while the body runs */
};

struct weft_scope {
  weft__spin lock;
  weft_runtime *rt;
  struct weft__child *head;
  int err;       /* the first error, 0 if none */
  int cancelled; /* no more spawns; children are cancelled */
  int joining;
};

int weft_scope_create(weft_scope **out, weft_runtime *rt) {
  if (!out) return EINVAL;
  if (!rt && !(rt = weft_runtime_current())) return EPERM;
  weft_scope *s = calloc(1, sizeof *s);
  if (!s) return ENOMEM;
  weft__spin_init(&s->lock);
  s->rt = rt;
  *out = s;
  return 0;
}

/* Records err (if first) and cancels every running child. 0 or EALREADY. */
static int weft__scope_fail(weft_scope *s, int err) {
  weft__spin_lock(&s->lock);
  int rc = s->err ? EALREADY : 0;
  if (!s->err) s->err = err;
  if (!s->cancelled) {
    s->cancelled = 1;
    weft_future *self = weft_task_current(); /* a child failing the scope goes on */
    for (struct weft__child *c = s->head; c; c = c->next)
      if (c->running && c->running != self) weft_cancel(c->running);
  }
  weft__spin_unlock(&s->lock);
  return rc;
}

int weft_scope_fail(weft_scope *s, int err) {
  if (!s || err <= 0) return EINVAL;
  return weft__scope_fail(s, err);
}

int weft_scope_cancel(weft_scope *s) {
  if (!s) return EINVAL;
  return weft__scope_fail(s, ECANCELED);
}

static void *weft__scope_trampoline(void *arg) {
  struct weft__child *c = arg;
  weft_scope *s = c->scope;
  weft__spin_lock(&s->lock);
  int cancelled = s->cancelled;
  if (!cancelled) c->running = weft_task_current();
  weft__spin_unlock(&s->lock);
  if (cancelled) return (void *)(intptr_t)ECANCELED; /* the scope's error is set already */
  int rc = c->fn(c->arg);
  weft__spin_lock(&s->lock);
  c->running = NULL;
  weft__spin_unlock(&s->lock);
  if (rc) weft__scope_fail(s, rc > 0 ? rc : EINVAL);
  return (void *)(intptr_t)rc;
}

static void weft__child_unlink(weft_scope *s, struct weft__child *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    s->head = c->next;
  if (c->next) c->next->prev = c->prev;
}

int weft_scope_spawn(weft_scope *s, weft_scope_fn fn, void *arg, weft_future **task) {
  if (!s || !fn) return EINVAL;
  struct weft__child *c = calloc(1, sizeof *c);
  if (!c) return ENOMEM;
  c->scope = s;
  c->fn = fn;
  c->arg = arg;
  weft__spin_lock(&s->lock);
  if (s->cancelled) {
    weft__spin_unlock(&s->lock);
    free(c);
    return ECANCELED;
  }
  c->next = s->head;
  if (s->head) s->head->prev = c;
  s->head = c;
  weft__spin_unlock(&s->lock);

  weft_future *t = NULL;
  int rc;
  if (weft_task_current() && weft_runtime_current() == s->rt)
    rc = weft_spawn(weft__scope_trampoline, c, &t);
  else
    rc = weft_runtime_spawn(s->rt, weft__scope_trampoline, c, &t);
  weft__spin_lock(&s->lock);
  if (rc)
    weft__child_unlink(s, c);
  else
    c->task = t;
  weft__spin_unlock(&s->lock);
  if (rc) {
    free(c);
    return rc;
  }
  if (task) {
    weft_future_retain(t);
    *task = t;
  }
  return 0;
}

int weft_scope_join(weft_scope *s) { return weft_scope_join_until(s, WEFT_NO_DEADLINE); }

/* A join that gives up at its deadline: the scope stays as it is (its
 * children run on, the records of those not yet seen finished stay
 * linked), joinable again. */
static int weft__scope_join_timeout(weft_scope *s) {
  weft__spin_lock(&s->lock);
  s->joining = 0;
  weft__spin_unlock(&s->lock);
  return ETIMEDOUT;
}

int weft_scope_join_until(weft_scope *s, uint64_t deadline) {
  if (!s) return EINVAL;
  weft_future *self = weft_task_current();
  weft__spin_lock(&s->lock);
  for (struct weft__child *c = s->head; self && c; c = c->next)
    if (c->running == self) {
      weft__spin_unlock(&s->lock);
      return EDEADLK;
    }
  if (s->joining) {
    weft__spin_unlock(&s->lock);
    return EBUSY;
  }
  s->joining = 1;
  weft__spin_unlock(&s->lock);

  int stop_waiting = 0; /* our await failed (cancelled): poll from then on */
  for (;;) {
    weft__spin_lock(&s->lock);
    struct weft__child *c = s->head;
    while (c && !c->task) c = c->next;
    int empty = s->head == NULL;
    weft__spin_unlock(&s->lock);
    if (empty) break;
    if (!c) { /* only spawns in progress (from threads that are no child): soon done */
      if (weft__deadline_passed(deadline)) return weft__scope_join_timeout(s);
      weft__backoff();
      continue;
    }
    weft_future *t = c->task; /* stays valid: only we unlink records */
    if (!stop_waiting) {
      /* Await a one-input any-of of the task, not the task itself: awaiting
       * a task that has not started runs it inline on our stack, and a
       * cancel of this task would then not reach it while it blocks
       * (worker.c, "Running an awaited task inline"). */
      weft_future *proxy;
      int rc = weft_future_any(&t, 1, &proxy);
      if (rc == 0) {
        /* EAGAIN: a spurious wake-up, the proxy still pending. */
        while ((rc = weft_await_until(proxy, deadline, NULL)) == EAGAIN) {
        }
        weft_future_release(proxy);
      }
      if (rc == ETIMEDOUT && weft_future_status(t) == WEFT_FUTURE_PENDING)
        return weft__scope_join_timeout(s);
      if (rc && weft_future_status(t) == WEFT_FUTURE_PENDING) {
        /* We were cancelled (or cannot wait here): cancel the children,
         * and still wait for every one of them. */
        stop_waiting = 1;
        weft__scope_fail(s, rc);
      }
    }
    while (weft_future_status(t) == WEFT_FUTURE_PENDING) {
      if (weft__deadline_passed(deadline)) return weft__scope_join_timeout(s);
      weft__backoff();
    }
    /* A child whose body never ran reports nothing itself. */
    int crc = weft_future_result(t, NULL);
    if (crc) weft__scope_fail(s, crc);
    weft__spin_lock(&s->lock);
    weft__child_unlink(s, c);
    weft__spin_unlock(&s->lock);
    weft_future_release(t);
    free(c);
  }
  int err = s->err;
  free(s);
  return err;
}
