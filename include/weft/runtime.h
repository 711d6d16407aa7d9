/* weft — the runtime: worker threads running coroutines, and how to enter it. */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include "weft/common.h"
#include "weft/future.h"

WEFT__EXTERN_C_BEGIN

/**
 * @file weft/runtime.h
 * @brief M:N coroutines: a pool of worker threads that run tasks, balanced
 * by work stealing, and weft_run_until_complete() to run a root coroutine
 * from the main thread, as asyncio's loop.run_until_complete().
 *
 * Coroutines migrate: a task that suspends (await, yield) may resume on
 * another worker thread. Thread-local variables — yours, and `errno` —
 * do not survive a suspension; read them again after it.
 */

/** A runtime: a pool of worker threads (opaque). */
typedef struct weft_runtime weft_runtime;

/** Options for weft_runtime_create(); NULL means all defaults. */
typedef struct weft_runtime_config {
  /** Worker threads; 0 means one per CPU this process may use (affinity mask and cgroup CPU quota). */
  unsigned workers;
  /** Stack bytes per task; 0 means 64 KiB. Rounded up to pages; at least 16 KiB. */
  size_t stack_size;
  /**
   * Record a trace of what the scheduler does and write it to this file at
   * weft_runtime_destroy() (Chrome Trace Event JSON: open it in Perfetto or
   * chrome://tracing; summarise it with weft-trace). NULL: only if the
   * environment variable WEFT_TRACE names a file. Copied.
   */
  const char *trace_path;
} weft_runtime_config;

/**
 * Fills `cfg` with the defaults (all zero today); call it before setting
 * fields. Callable from anywhere.
 * @param cfg the configuration to fill; not NULL.
 */
WEFT_API void weft_runtime_config_init(weft_runtime_config *cfg);

/**
 * Starts a runtime: its workers (named `weft-w0`, `weft-w1`, … for top -H
 * and gdb) run until weft_runtime_destroy().
 *
 * Workers are not pinned: they run where the kernel puts them, within the
 * process's affinity mask. One exception: when there are no more workers
 * than CPUs in that mask, a worker that starts or wakes up on the CPU of
 * another busy worker moves itself to another CPU of the mask (setting
 * the mask without that CPU, then putting it back as it was), because a
 * virtual machine's kernel may leave two workers on one vCPU for many
 * milliseconds while another vCPU idles.
 *
 * Callable from a plain thread or a coroutine (a runtime may start another).
 * @param out receives the runtime; untouched on error.
 * @param cfg options or NULL; copied.
 * @return 0; EINVAL if `out` is NULL or a field is out of range (over 4096
 *         workers, a stack over 1 GiB); ENOMEM; EAGAIN if a thread could
 *         not be started (nothing is left running).
 */
WEFT_API int weft_runtime_create(weft_runtime **out, const weft_runtime_config *cfg);

/**
 * Stops and frees a runtime. New spawns are refused (ESHUTDOWN) from the
 * start of the call; every task still alive is cancelled (weft_cancel()) and
 * the call waits until each has finished — so a task that ignores
 * ECANCELED and never returns keeps this call waiting. Task futures still
 * referenced by the caller stay valid, settled (ECANCELED if they never ran).
 *
 * Callable only from a plain thread that is none of this runtime's workers.
 * @param rt the runtime; freed on success.
 * @return 0; EINVAL if `rt` is NULL; EDEADLK if called from one of `rt`'s
 *         own coroutines (nothing happens).
 */
WEFT_API int weft_runtime_destroy(weft_runtime *rt);

/**
 * How many worker threads `rt` runs. Callable from anywhere.
 * @param rt a runtime, or NULL.
 * @return the number of workers; 0 if `rt` is NULL.
 */
WEFT_API unsigned weft_runtime_workers(const weft_runtime *rt);

/**
 * Runs `fn(arg)` as the root coroutine on `rt`'s workers and blocks the
 * calling thread (without spinning) until it finishes. May be called again
 * on the same runtime, and from several plain threads at once.
 *
 * Callable only from a plain thread (normally main), never from a coroutine.
 * @param rt the runtime to run on.
 * @param fn the root coroutine's body.
 * @param arg passed to `fn` as is.
 * @param result receives the root's return value; may be NULL.
 * @return 0 when the root returned; ECANCELED if it was cancelled;
 *         EINVAL if `rt` or `fn` is NULL; EDEADLK if called from inside a
 *         coroutine (it would block the worker it runs on); ESHUTDOWN if
 *         `rt` is being destroyed; ENOMEM.
 */
WEFT_API int weft_run_until_complete(weft_runtime *rt, weft_fn fn, void *arg,
                                     void **result);

/**
 * Schedules a new coroutine `fn(arg)` on `rt` from anywhere (a plain thread,
 * or a coroutine of this or another runtime). It does not run until a worker
 * picks it up (asyncio's create_task).
 * @param rt the runtime to run on.
 * @param fn the coroutine's body.
 * @param arg passed to `fn` as is.
 * @param task receives the task — a future of `fn`'s return value, with one
 *        reference for the caller; NULL to detach it (nobody waits for it).
 * @return 0; EINVAL if `rt` or `fn` is NULL; ESHUTDOWN if `rt` is being
 *         destroyed; ENOMEM.
 */
WEFT_API int weft_runtime_spawn(weft_runtime *rt, weft_fn fn, void *arg,
                                weft_future **task);

/**
 * Schedules a new coroutine `fn(arg)` on the runtime of the calling
 * coroutine, as a child of it: it goes to the front of this worker's queue
 * (other workers may steal it).
 *
 * Callable only from inside a coroutine of a runtime.
 * @param fn the coroutine's body.
 * @param arg passed to `fn` as is.
 * @param task as for weft_runtime_spawn(): a future, or NULL to detach.
 * @return 0; EINVAL if `fn` is NULL; EPERM if not called from a coroutine
 *         of a runtime; ESHUTDOWN; ENOMEM.
 */
WEFT_API int weft_spawn(weft_fn fn, void *arg, weft_future **task);

/**
 * Lets other coroutines run; the caller continues later, possibly on
 * another worker.
 *
 * Callable only from inside a coroutine of a runtime.
 * @return 0; ECANCELED if the calling task has been cancelled (it still
 *         yielded); EPERM if not inside a coroutine of a runtime (or inside
 *         a standalone coroutine driven by one).
 */
WEFT_API int weft_yield(void);

/**
 * Names a task in traces (and nothing else). The name is copied.
 * Callable from anywhere; naming a task of an untraced runtime does nothing.
 * @param task the task (a future from weft_spawn(), weft_runtime_spawn()
 *        or weft_task_current()); borrowed.
 * @param name the name, copied; the caller keeps ownership of the string.
 * @return 0; EINVAL if `task` is NULL or not a task, or `name` is NULL.
 */
WEFT_API int weft_task_set_name(weft_future *task, const char *name);

/**
 * The runtime of the calling coroutine. Callable from anywhere.
 * @return the runtime (not owned by the caller), or NULL outside any
 *         runtime's coroutine.
 */
WEFT_API weft_runtime *weft_runtime_current(void);

/**
 * The calling task, as a future. Callable from anywhere.
 * @return the task, borrowed: no reference is added (take one with
 *         weft_future_retain() to keep it); NULL outside a coroutine of a
 *         runtime.
 */
WEFT_API weft_future *weft_task_current(void);

/**
 * Counters of what a worker (or all of them) did. Always on; each worker
 * counts for itself without atomic read-modify-writes, and a read sums
 * them: a snapshot, not a consistent cut, while the runtime runs.
 */
typedef struct weft_worker_stats {
  unsigned long long spawns;   /**< tasks spawned from this worker */
  unsigned long long runs;     /**< times a task was switched to (first run or resume) */
  unsigned long long switches; /**< context switches made (to tasks or to the scheduler) */
  unsigned long long steals;   /**< tasks this worker took from other workers' deques */
  unsigned long long injected; /**< entries it took from the injection queue (with the stale ones of tasks already run inline or cancelled, which it drops) */
  unsigned long long parks;    /**< times it went to sleep for lack of work */
  unsigned long long inlined;  /**< awaited tasks it ran inline, on the awaiter's stack */
} weft_worker_stats;

/**
 * Reads `rt`'s counters: their sum into `total` (may be NULL) and, if
 * `per_worker` is not NULL, worker i's into per_worker[i] for i < n.
 * Callable from anywhere.
 * @param rt the runtime.
 * @param total receives the sum over all workers; may be NULL.
 * @param per_worker an array of `n` entries receiving worker i's counters,
 *        for i < min(n, workers); may be NULL.
 * @param n how many entries `per_worker` has.
 * @return 0; EINVAL if `rt` is NULL.
 */
WEFT_API int weft_runtime_stats(const weft_runtime *rt, weft_worker_stats *total,
                                weft_worker_stats *per_worker, unsigned n);

WEFT__EXTERN_C_END

#endif /* WEFT_RUNTIME_H */
