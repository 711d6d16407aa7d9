/* stack — mmap'd coroutine stacks, their caches, and overflow reports.
 * See stack.h for the design. */
#include "stack.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "context.h"
#include "thread.h"
#include "sanitize.h"

#if WEFT__VALGRIND
#include <valgrind/valgrind.h>
#endif
#if WEFT__ASAN
#include <sanitizer/asan_interface.h>
#endif

#define WEFT__DESC_BYTES 64 /* room for the descriptor at the top; keeps 16-byte alignment */
_Static_assert(sizeof(struct weft__stack) <= WEFT__DESC_BYTES, "stack descriptor too big");
#define WEFT__CACHE_CLASSES 4
#define WEFT__CACHE_MAX 16  /* stacks per class in a thread's cache */
#define WEFT__POOL_WARM 256 /* warm stacks per class in the shared pool */
#define WEFT__SLAB_BYTES ((size_t)4 << 20)

static size_t weft__page;

/* ---- shared pool ---------------------------------------------------------- */

struct weft__pool_class {
  struct weft__pool_class *next;
  size_t size;
  struct weft__stack *warm; /* pages resident: reuse these first */
  size_t nwarm;
  struct weft__stack *cold; /* slab stacks whose pages were given back */
};

static pthread_mutex_t weft__pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct weft__pool_class *weft__pool_classes; /* under the lock; never freed */
static atomic_size_t weft__guarded_live;
static atomic_size_t weft__guarded_budget;
static atomic_size_t weft__slab_count;
static atomic_size_t weft__mmap_count;

/* ---- per-thread cache --------------------------------------------------------- */

struct weft__cache_class {
  size_t size;
  struct weft__stack *head;
  unsigned n;
};
struct weft__thread_stacks {
  struct weft__cache_class cls[WEFT__CACHE_CLASSES];
  void *altstack;
  size_t altstack_size;
  int ready;
};
static WEFT__TLS struct weft__thread_stacks weft__tstacks;

static pthread_once_t weft__once = PTHREAD_ONCE_INIT;
static pthread_key_t weft__thread_key;
static struct sigaction weft__old_segv;

/* ---- sizes and the guarded budget ------------------------------------------ */

static size_t weft__read_max_map_count(void) {
  size_t n = 65530;
  FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
  if (f) {
    unsigned long v;
    if (fscanf(f, "%lu", &v) == 1 && v > 0) n = v;
    fclose(f);
  }
  return n;
}

static void weft__once_init(void);

size_t weft__stack_round(size_t req) {
  pthread_once(&weft__once, weft__once_init); /* sets weft__page */
  if (req == 0) req = WEFT__STACK_DEFAULT;
  if (req > WEFT__STACK_MAX) return 0;
  if (req < WEFT__STACK_MIN) req = WEFT__STACK_MIN;
  return (req + weft__page - 1) & ~(weft__page - 1);
}

/* ---- making and unmaking stacks -------------------------------------------- */

static void weft__write_canary(struct weft__stack *s) {
  uint64_t *c = (uint64_t *)(void *)s->lo;
  c[0] = WEFT__CANARY ^ (uintptr_t)c;
  c[1] = WEFT__CANARY;
}

/* `mem` is `bytes` of usable memory (guard, if any, below it). */
static struct weft__stack *weft__stack_init(char *mem, size_t bytes, size_t class_size,
                                            int guarded) {
  struct weft__stack *s = (struct weft__stack *)(void *)(mem + bytes - WEFT__DESC_BYTES);
  s->next = NULL;
  s->lo = mem;
  s->size = bytes - WEFT__DESC_BYTES;
  s->inline_floor = s->lo + (s->size / 4 > WEFT__INLINE_MIN_STACK ? s->size / 4
                                                                 : WEFT__INLINE_MIN_STACK);
  s->class_size = class_size;
  s->guarded = (unsigned char)guarded;
  s->cold = 0;
  s->owner = NULL;
  s->owner_name = NULL;
#if WEFT__VALGRIND
  s->vg_id = VALGRIND_STACK_REGISTER(s->lo, s->lo + s->size);
#else
  s->vg_id = 0;
#endif
  if (!guarded) weft__write_canary(s);
  return s;
}

static int weft__map_guarded(size_t size, struct weft__stack **out) {
  size_t total = size + weft__page;
  char *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (m == MAP_FAILED) return ENOMEM;
  if (mprotect(m, weft__page, PROT_NONE) != 0) {
    munmap(m, total);
    return ENOMEM;
  }
  atomic_fetch_add_explicit(&weft__mmap_count, 1, memory_order_relaxed);
  *out = weft__stack_init(m + weft__page, size, size, 1);
  return 0;
}

static void weft__unmap_guarded(struct weft__stack *s) {
#if WEFT__VALGRIND
  VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
  munmap(s->lo - weft__page, s->size + WEFT__DESC_BYTES + weft__page);
  atomic_fetch_sub_explicit(&weft__guarded_live, 1, memory_order_relaxed);
}

static struct weft__pool_class *weft__pool_class_get(size_t size) {
  for (struct weft__pool_class *c = weft__pool_classes; c; c = c->next)
    if (c->size == size) return c;
  struct weft__pool_class *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->size = size;
  c->next = weft__pool_classes;
  weft__pool_classes = c;
  return c;
}

/* Carves a new slab into the pool's class; called with the lock held. */
static int weft__slab_refill(struct weft__pool_class *c) {
  size_t n = WEFT__SLAB_BYTES / c->size;
  if (n < 4) n = 4;
  char *m = mmap(NULL, n * c->size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return ENOMEM;
  atomic_fetch_add_explicit(&weft__mmap_count, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&weft__slab_count, n, memory_order_relaxed);
  for (size_t i = n; i-- > 0;) {
    struct weft__stack *s = weft__stack_init(m + i * c->size, c->size, c->size, 0);
    s->next = c->warm;
    c->warm = s;
    c->nwarm++;
  }
  return 0;
}

/* ---- the overflow handler ------------------------------------------------------ */

static void weft__put(char **p, const char *s) {
  while (*s) *(*p)++ = *s++;
}
static void weft__put_num(char **p, uintptr_t v, int base) {
  char tmp[32];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v % (unsigned)base];
    v /= (unsigned)base;
  } while (v);
  if (base == 16) weft__put(p, "0x");
  while (n) *(*p)++ = tmp[--n];
}

/* One line on stderr, async-signal-safe, then abort. */
static _Noreturn void weft__report_overflow(const struct weft__stack *s, const char *how,
                                            const void *where) {
  char buf[512], *p = buf;
  weft__put(&p, "weft: stack overflow in coroutine ");
  if (s->owner_name && s->owner_name[0]) {
    weft__put(&p, "\"");
    size_t i = 0;
    for (const char *q = s->owner_name; *q && i < 64; q++, i++) *p++ = *q;
    weft__put(&p, "\" ");
  }
  weft__put(&p, "(");
  weft__put_num(&p, (uintptr_t)s->owner, 16);
  weft__put(&p, ") with a ");
  weft__put_num(&p, (uintptr_t)(s->size + WEFT__DESC_BYTES), 10);
  weft__put(&p, "-byte stack: ");
  weft__put(&p, how);
  weft__put(&p, " at ");
  weft__put_num(&p, (uintptr_t)where, 16);
  weft__put(&p, "; aborting\n");
  ssize_t r = write(STDERR_FILENO, buf, (size_t)(p - buf));
  (void)r;
  /* abort() must not be caught by a SIGABRT handler that returns into the
   * broken stack; the default action it is. */
  signal(SIGABRT, SIG_DFL);
  abort();
}

void weft__stack_report_canary(const struct weft__stack *s) {
  weft__report_overflow(s, "its canary (no guard page) was overwritten", s->lo);
}

static void weft__segv_handler(int sig, siginfo_t *si, void *uc) {
  const struct weft__ctx *run = weft__ctx_running();
  const struct weft__stack *s = run ? run->stack : NULL;
  if (s && s->guarded) {
    char *a = si->si_addr;
    if (a >= s->lo - weft__page && a < s->lo)
      weft__report_overflow(s, "it ran into the guard page", a);
  }
  /* Not ours: hand it on to whatever handled SIGSEGV before weft. */
  if (weft__old_segv.sa_flags & SA_SIGINFO) {
    weft__old_segv.sa_sigaction(sig, si, uc);
  } else if (weft__old_segv.sa_handler == SIG_DFL || weft__old_segv.sa_handler == SIG_IGN) {
    /* Returning re-executes the faulting access, which now kills the
     * process with SIGSEGV as if weft had never been here. */
    signal(sig, SIG_DFL);
  } else {
    weft__old_segv.sa_handler(sig);
  }
}

static void weft__thread_exit(void *arg) {
  (void)arg;
  weft__stack_thread_flush();
  struct weft__thread_stacks *t = &weft__tstacks;
  if (t->altstack) {
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == t->altstack) {
      stack_t off = {.ss_flags = SS_DISABLE};
      sigaltstack(&off, NULL);
    }
    munmap(t->altstack, t->altstack_size);
    t->altstack = NULL;
  }
}

static void weft__once_init(void) {
  weft__page = (size_t)sysconf(_SC_PAGESIZE);
  atomic_store(&weft__guarded_budget, weft__read_max_map_count() / 4);
  pthread_key_create(&weft__thread_key, weft__thread_exit);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = weft__segv_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &weft__old_segv);
}

void weft__stack_thread_setup(void) {
  struct weft__thread_stacks *t = &weft__tstacks;
  if (WEFT__LIKELY(t->ready)) return;
  pthread_once(&weft__once, weft__once_init);
  t->ready = 1;
  weft__thread()->stack_ready = 1;
  pthread_setspecific(weft__thread_key, t); /* non-NULL: run weft__thread_exit */
  stack_t cur;
  if (sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_DISABLE)) {
    size_t sz = 64 * 1024;
    void *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED) {
      stack_t ss = {.ss_sp = m, .ss_size = sz, .ss_flags = 0};
      if (sigaltstack(&ss, NULL) == 0) {
        t->altstack = m;
        t->altstack_size = sz;
      } else {
        munmap(m, sz);
      }
    }
  }
}

/* ---- alloc / free -------------------------------------------------------------- */

static struct weft__cache_class *weft__cache_class(size_t size, int create) {
  struct weft__thread_stacks *t = &weft__tstacks;
  for (int i = 0; i < WEFT__CACHE_CLASSES; i++)
    if (t->cls[i].size == size) return &t->cls[i];
  if (!create) return NULL;
  for (int i = 0; i < WEFT__CACHE_CLASSES; i++)
    if (t->cls[i].n == 0) {
      t->cls[i].size = size;
      return &t->cls[i];
    }
  return NULL;
}

int weft__stack_alloc(size_t size, struct weft__stack **out) {
  weft__stack_thread_setup();
  struct weft__cache_class *cc = weft__cache_class(size, 1);
  if (cc && cc->head) {
    struct weft__stack *s = cc->head;
    cc->head = s->next;
    cc->n--;
    s->next = NULL;
    *out = s;
    return 0;
  }
  /* Refill from the shared pool: up to half a cache at once. */
  struct weft__stack *got = NULL;
  pthread_mutex_lock(&weft__pool_lock);
  struct weft__pool_class *pc = weft__pool_class_get(size);
  if (pc) {
    unsigned want = cc ? WEFT__CACHE_MAX / 2 : 1;
    while (want && (pc->warm || pc->cold)) {
      struct weft__stack *s;
      if (pc->warm) {
        s = pc->warm;
        pc->warm = s->next;
        pc->nwarm--;
      } else {
        s = pc->cold;
        pc->cold = s->next;
      }
      s->next = got;
      got = s;
      want--;
    }
    if (!got) {
      size_t live = atomic_load_explicit(&weft__guarded_live, memory_order_relaxed);
      if (live >= atomic_load_explicit(&weft__guarded_budget, memory_order_relaxed)) {
        if (weft__slab_refill(pc) == 0) {
          got = pc->warm;
          pc->warm = got->next;
          pc->nwarm--;
          got->next = NULL;
        }
      }
    }
  }
  pthread_mutex_unlock(&weft__pool_lock);
  if (!got) {
    /* Under budget (or the pool had no class memory): a guarded stack. */
    atomic_fetch_add_explicit(&weft__guarded_live, 1, memory_order_relaxed);
    int rc = weft__map_guarded(size, &got);
    if (rc) {
      atomic_fetch_sub_explicit(&weft__guarded_live, 1, memory_order_relaxed);
      return rc;
    }
  }
  struct weft__stack *s = got;
  got = got->next;
  while (got) { /* the rest of the batch goes to this thread's cache */
    struct weft__stack *n = got->next;
    if (!got->guarded && got->cold) {
      /* Its pages went back to the kernel: the canary reads as zeros now,
       * and the cache's fast path does not rewrite it. */
      got->cold = 0;
      weft__write_canary(got);
    }
    got->next = cc->head;
    cc->head = got;
    cc->n++;
    got = n;
  }
  s->next = NULL;
  if (!s->guarded && s->cold) s->cold = 0;
  if (!s->guarded) weft__write_canary(s);
  *out = s;
  return 0;
}

/* Returns stacks to the shared pool; past the warm limit, memory goes back
 * to the kernel. */
static void weft__pool_put(struct weft__stack *list) {
  struct weft__stack *unmap = NULL;
  pthread_mutex_lock(&weft__pool_lock);
  while (list) {
    struct weft__stack *s = list;
    list = s->next;
    struct weft__pool_class *pc = weft__pool_class_get(s->class_size);
    if (pc && pc->nwarm < WEFT__POOL_WARM) {
      s->next = pc->warm;
      pc->warm = s;
      pc->nwarm++;
    } else if (!s->guarded) {
      if (!pc) continue; /* no memory for a class record: the slab stack is lost, not unmapped */
      /* Slab stacks stay mapped; their pages (but the descriptor's) go back. */
      size_t off = (size_t)((char *)s - s->lo) & ~(weft__page - 1);
      if (off) madvise(s->lo, off, MADV_DONTNEED);
      s->cold = 1;
      s->next = pc->cold;
      pc->cold = s;
    } else {
      s->next = unmap;
      unmap = s;
    }
  }
  pthread_mutex_unlock(&weft__pool_lock);
  while (unmap) {
    struct weft__stack *n = unmap->next;
    weft__unmap_guarded(unmap);
    unmap = n;
  }
}

void weft__stack_free(struct weft__stack *s) {
  s->owner = NULL;
  s->owner_name = NULL;
#if WEFT__ASAN
  /* A coroutine destroyed while suspended never returned from its frames:
   * their redzones are still poisoned, and the next coroutine on this stack
   * would be reported for touching them. */
  __asan_unpoison_memory_region(s->lo, s->size);
#endif
  struct weft__cache_class *cc = weft__cache_class(s->class_size, 1);
  if (cc && weft__tstacks.ready) {
    if (cc->n >= WEFT__CACHE_MAX) {
      /* Full: hand half of it to the pool in one lock acquisition. */
      struct weft__stack *batch = NULL;
      for (unsigned i = 0; i < WEFT__CACHE_MAX / 2; i++) {
        struct weft__stack *x = cc->head;
        cc->head = x->next;
        cc->n--;
        x->next = batch;
        batch = x;
      }
      weft__pool_put(batch);
    }
    s->next = cc->head;
    cc->head = s;
    cc->n++;
    return;
  }
  s->next = NULL;
  weft__pool_put(s);
}

void weft__stack_thread_flush(void) {
  struct weft__thread_stacks *t = &weft__tstacks;
  for (int i = 0; i < WEFT__CACHE_CLASSES; i++) {
    if (t->cls[i].head) weft__pool_put(t->cls[i].head);
    t->cls[i].head = NULL;
    t->cls[i].n = 0;
    t->cls[i].size = 0;
  }
}

void weft__stack_stats(struct weft__stack_stats *st) {
  pthread_once(&weft__once, weft__once_init);
  st->guarded_live = atomic_load(&weft__guarded_live);
  st->slab_stacks = atomic_load(&weft__slab_count);
  st->guarded_budget = atomic_load(&weft__guarded_budget);
  st->mmaps = atomic_load(&weft__mmap_count);
}

size_t weft__stack_set_guarded_budget(size_t n) {
  pthread_once(&weft__once, weft__once_init);
  return atomic_exchange(&weft__guarded_budget, n);
}
