/* trace — recording what the scheduler did, and writing it out as Chrome
 * Trace Event JSON (docs/trace-format.md).
 *
 * Recording. Each worker appends 16-byte records (a timestamp with the
 * event kind, and one payload word) to its own buffer: no locks, no shared
 * cache lines, no formatting on the hot path. Threads that are not workers
 * (the main thread spawning a root, a plain thread resolving a future)
 * append to one buffer under a mutex. Buffers grow by 2 MiB chunks (huge
 * pages where the system allows: one page fault per chunk); past a cap
 * (WEFT_TRACE_MAX_MB, 512 MiB per buffer by default) records are counted as
 * dropped — reported in the trace and on stderr, never silently lost.
 * Compiled in (CMake WEFT_TRACE), tracing costs one predictable branch per
 * event site when off: the worker's buffer pointer is NULL.
 *
 * What a record leaves implicit, the writer recovers: the task a slice ends
 * and the parent of a spawn are the task of the track's open slice; a
 * task's depth is its parent's plus one; flows (spawn -> first run, wake ->
 * resume) are paired when the run is seen.
 *
 * Memory: the records of a fork-join program come at hundreds of MB/s, and
 * the first write to fresh memory is a page fault. A pager thread (one per
 * traced runtime) keeps each worker's next chunks mapped and faulted in;
 * the worker takes one with an exchange when its chunk fills, and maps its
 * own only when the pager is behind.
 *
 * Timestamps: the TSC where the CPU says it is constant and non-stop
 * (converted with a rate measured between runtime creation and the
 * write), else CLOCK_MONOTONIC.
 *
 * Reading while workers append. A process may exit with its runtime still
 * running; an exit handler then writes what was recorded so far, while the
 * workers go on appending. Each buffer says how far it may be read: `pub`,
 * one past its last complete record, stored with release after each record
 * (a plain store on x86). A reader that acquire-loads `pub` sees every
 * record before it, and the chunk links and chunk ends the owner wrote
 * before it. Chunks are never freed while the trace lives, so the reader
 * walks them from `first`: the chunk whose records (rec, rec + capacity]
 * hold `pub` ends there and is the last one read — its `next` and `end` are
 * not read (the owner may be writing them); an earlier chunk is full and
 * ends at its `end`. The names given on a worker are read the same way
 * (weft__tbuf_name), and the outside buffer and names under the trace's
 * lock. The reader never writes to a buffer.
 */
#ifndef WEFT_TRACE_H
#define WEFT_TRACE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "sanitize.h"

enum weft__tk {
  WEFT__TK_SPAWN = 1,    /* arg: child id (its parent: this track's open slice); the
                            time of the record before it on its worker's track */
  WEFT__TK_BEGIN,        /* arg: task id; opens a slice */
  WEFT__TK_END_DONE,     /* closes the open slice: the task finished */
  WEFT__TK_END_AWAIT,    /* arg: awaited task id or 0; closes: suspended in await */
  WEFT__TK_END_YIELD,    /* closes: yielded */
  WEFT__TK_INLINE,       /* arg: child id; closes the open slice (end "inline"), opens the child's */
  WEFT__TK_INLINE_DONE,  /* closes the inlined child's slice (done), reopens its awaiter's */
  WEFT__TK_COMPLETE,     /* arg: id | err << 52; a task that settled without finishing a run */
  WEFT__TK_WAKE,         /* arg: task id; made runnable again */
  WEFT__TK_STEAL,        /* arg: victim | count << 16 | victim's deque size after << 32 */
  WEFT__TK_INJECT,       /* arg: count */
  WEFT__TK_PARK,
  WEFT__TK_UNPARK,
  WEFT__TK_JOIN          /* arg: awaited task id; an await that returned at once (settled) */
};

struct weft__trec {
  uint64_t head; /* timestamp << 8 | kind */
  uint64_t arg;
};

struct weft__tchunk {
  struct weft__tchunk *next;
  struct weft__trec *end; /* one past the last record written */
  struct weft__trec rec[];
};

#define WEFT__TSPARES 2 /* chunks the pager keeps ready per worker buffer */

struct weft__tbuf {
  struct weft__trec *cur, *lim; /* free space in the last chunk */
  /* cur, published: release-stored by the owner after each record; read
   * (acquire) by a writer while the owner appends. NULL: no record yet. */
  _Atomic(struct weft__trec *) pub;
  uint64_t stamp; /* the last record's time << 8; 0: none yet */
  struct weft__tchunk *first, *last;
  /* Records lost (over the cap): the owner's plain increment, made of a
   * relaxed load and store (no read-modify-write); read relaxed. */
  _Atomic uint64_t dropped;
  size_t bytes, max_bytes;
  struct weft__trace *tr; /* whose pager refills spare[]; NULL: none */
  struct weft__tbuf *trace_next; /* the trace's next buffer (trace.c) */
  /* Names given to tasks from this worker, each text interned once per
   * worker (open addressing, power-of-2 size; the intern table is
   * owner-only). The names array is appended by the owner only, without a
   * lock, and readable while it does: grown into a new array (the old one
   * kept until the trace is freed), the array published (release) after
   * the copy, the count (release) after each entry. */
  _Atomic(struct weft__tname_arr *) names;
  _Atomic size_t nnames;
  size_t names_cap; /* owner-only */
  char **intern;
  size_t nintern, intern_cap;
  /* Chunks already faulted in by the pager thread: it stores into an
   * empty slot, the owner takes with an exchange (see weft__tbuf_grow). */
  _Atomic(struct weft__tchunk *) spare[WEFT__TSPARES];
};

/* The pager: a thread that maps and faults in the workers' next chunks, so
 * that a worker whose chunk fills takes a ready one instead of paying the
 * page fault on its own time (a huge-page fault costs from 0.1 to 5 ms on
 * the VM the figures were measured on). */
struct weft__pager {
  pthread_mutex_t lock;
  pthread_cond_t cv;
  pthread_t th;
  int started, stop;
  uint64_t gen; /* bumped under lock by each take: there is a slot to fill */
  struct weft__tbuf **bufs;
  unsigned nbufs, cap;
};

struct weft__tname {
  struct weft__tname *next;
  uint64_t id, stamp;
  char *name;
};
struct weft__tname_ent {
  uint64_t id, stamp; /* stamp: when (the newest name of a task wins) */
  const char *name;   /* interned in the buffer */
};
struct weft__tname_arr {
  struct weft__tname_arr *older; /* the array this one replaced */
  struct weft__tname_ent ent[];
};

struct weft__trace {
  char *path;
  int use_tsc;
  uint64_t tsc0, mono0; /* the clock pair taken at creation */
  pthread_mutex_t lock; /* the outside buffer, its ids, the names */
  struct weft__tbuf outside;
  uint64_t outside_seq;
  struct weft__tname *names;
  struct weft__pager pager;
  /* In the list of traces whose runtime is not destroyed yet (trace.c),
   * and what the exit handler needs to write one: all under that list's
   * lock. A process that exits before weft__trace_finish gets the trace up
   * to its exit (exit_written), marked incomplete. */
  struct weft__trace *live_prev, *live_next;
  struct weft__tbuf *bufs, **bufs_tail; /* the workers', in weft__tbuf_new's order */
  unsigned nbufs;
  int exit_written;
  pid_t pid; /* the process it was created in (not a forked child) */
};

/* 0 if the trace was set up (path copied); ENOMEM. */
int weft__trace_create(struct weft__trace **out, const char *path);
/* Writes the trace file from every buffer (workers stopped), frees it all.
 * `bufs` are the workers' buffers (NULL where creation failed), freed
 * here. Returns 0 or an errno (the file could not be written; also said on
 * stderr). Writes nothing if the process is exiting and the exit handler
 * has written the file. */
int weft__trace_finish(struct weft__trace *tr, struct weft__tbuf **bufs, unsigned n);
/* Frees it all without writing (runtime creation failed). */
void weft__trace_finish_discard(struct weft__trace *tr, struct weft__tbuf **bufs, unsigned n);
/* A worker's buffer, refilled by tr's pager (started with the first).
 * Call once per worker, in worker order: the trace keeps its buffers in
 * that order, as tracks weft-w0, weft-w1, … (the writer at exit finds
 * them there). */
struct weft__tbuf *weft__tbuf_new(struct weft__trace *tr);

/* The path tracing was asked for: the config's, else WEFT_TRACE's (a second
 * runtime in the process gets ".2" appended, and so on), else NULL. */
char *weft__trace_path(const char *configured);

uint64_t weft__trace_now_slow(int use_tsc);
int weft__tbuf_grow(struct weft__tbuf *b);

static inline uint64_t weft__trace_now(int use_tsc) {
#if defined(__x86_64__)
  if (WEFT__LIKELY(use_tsc)) {
    unsigned lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
  }
#endif
  return weft__trace_now_slow(use_tsc);
}

/* A spawn is not stamped: it carries the time of the buffer's previous
 * record (kind is a constant at every worker site, so the choice folds
 * away). The clock read is the dearest part of a record (11-25 ns on a
 * VM), spawns are a third of a fork-join program's records, and come in
 * bursts right after the record that begins or resumes their parent. */
static inline void weft__trace_emit(struct weft__tbuf *b, int use_tsc, unsigned kind,
                                    uint64_t arg) {
  if (WEFT__UNLIKELY(b->cur == b->lim) && !weft__tbuf_grow(b)) {
    atomic_store_explicit(&b->dropped,
                          atomic_load_explicit(&b->dropped, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return;
  }
  uint64_t stamp;
  if (kind == WEFT__TK_SPAWN && WEFT__LIKELY(b->stamp != 0))
    stamp = b->stamp;
  else
    b->stamp = stamp = weft__trace_now(use_tsc) << 8;
  struct weft__trec *r = b->cur;
  r->head = stamp | kind;
  r->arg = arg;
  b->cur = r + 1;
  /* release: publishes the record, and after a grow the chunk links, to a
   * writer at exit; pairs with the acquire in weft__stream_open. */
  atomic_store_explicit(&b->pub, r + 1, memory_order_release);
}

/* From a thread that is no worker: under the trace's lock. */
void weft__trace_emit_outside(struct weft__trace *tr, unsigned kind, uint64_t arg);
/* A new task id for a task spawned outside the workers. */
uint64_t weft__trace_outside_id(struct weft__trace *tr);
/* Names task `id`: from a thread that is no worker of the traced runtime,
 * under the trace's lock (weft__trace_name); from one of its workers, in
 * that worker's buffer (weft__tbuf_name: no lock, no allocation once the
 * text has been seen on this worker). Out of memory: the name is lost. */
void weft__trace_name(struct weft__trace *tr, uint64_t id, const char *name);
void weft__tbuf_name(struct weft__tbuf *b, uint64_t id, const char *name);

#define WEFT__TRACE_ID(spawner, seq) (((uint64_t)(spawner) << 40) | (seq))

#endif
