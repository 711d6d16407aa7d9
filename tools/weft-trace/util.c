/* weft-trace: errors, allocation, maps, sorting, percentiles, escaping. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "wt.h"

/* Large arrays (millions of events) ask for transparent huge pages where
 * the system offers them on request: far fewer page faults as they fill. */
static void *hint_huge(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
  const size_t huge = (size_t)2 << 20;
  if (p && n >= 4 * huge) {
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1);
    uintptr_t b = ((uintptr_t)p + n) & ~(uintptr_t)(huge - 1);
    if (b > a) madvise((void *)a, b - a, MADV_HUGEPAGE);
  }
#else
  (void)n;
#endif
  return p;
}

/* ---- errors --------------------------------------------------------------------- */

_Noreturn void wt_die(const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fputs("weft-trace: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(2);
}

_Noreturn void wt_die_line(const char *path, long line, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "weft-trace: %s:%ld: ", path, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(2);
}

void *wt_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) wt_die("out of memory (%zu bytes)", n);
  return hint_huge(p, n);
}

void *wt_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) wt_die("out of memory (%zu x %zu bytes)", n, size);
  return hint_huge(p, n * size);
}

void wt_grow(void *pp, size_t *cap, size_t need, size_t sz) {
  void **p = pp;
  if (need <= *cap) return;
  size_t c = *cap ? *cap : 64;
  while (c < need) {
    if (c > SIZE_MAX / 2 / sz) wt_die("out of memory");
    c *= 2;
  }
  void *q = realloc(*p, c * sz);
  if (!q) wt_die("out of memory (%zu bytes)", c * sz);
  *p = hint_huge(q, c * sz);
  *cap = c;
}

/* ---- int64 -> int32 map ------------------------------------------------------------ */

static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

static void map_alloc(wt_map *m, size_t cap) {
  m->slots = wt_xmalloc(cap * sizeof *m->slots);
  for (size_t i = 0; i < cap; i++) m->slots[i].val = -1;
  m->cap = cap;
  m->n = 0;
}

void wt_map_init(wt_map *m, size_t expect) {
  size_t cap = 1024;
  while (cap < expect * 2) cap *= 2;
  map_alloc(m, cap);
}

void wt_map_free(wt_map *m) {
  free(m->slots);
  m->slots = NULL;
  m->cap = m->n = 0;
}

int32_t wt_map_get(const wt_map *m, int64_t key) {
  size_t mask = m->cap - 1, i = (size_t)mix64((uint64_t)key) & mask;
  for (;;) {
    const wt_slot *s = &m->slots[i];
    if (s->val < 0) return -1;
    if (s->key == key) return s->val;
    i = (i + 1) & mask;
  }
}

static void map_rehash(wt_map *m) {
  wt_map n;
  map_alloc(&n, m->cap * 2);
  size_t mask = n.cap - 1;
  for (size_t j = 0; j < m->cap; j++) {
    if (m->slots[j].val < 0) continue;
    size_t i = (size_t)mix64((uint64_t)m->slots[j].key) & mask;
    while (n.slots[i].val >= 0) i = (i + 1) & mask;
    n.slots[i] = m->slots[j];
    n.n++;
  }
  wt_map_free(m);
  *m = n;
}

int32_t *wt_map_put(wt_map *m, int64_t key, bool *inserted) {
  if ((m->n + 1) * 2 > m->cap) map_rehash(m);
  size_t mask = m->cap - 1, i = (size_t)mix64((uint64_t)key) & mask;
  for (;;) {
    wt_slot *s = &m->slots[i];
    if (s->val < 0) {
      /* The caller stores a value >= 0 here before the next call. */
      s->key = key;
      m->n++;
      *inserted = true;
      return &s->val;
    }
    if (s->key == key) {
      *inserted = false;
      return &s->val;
    }
    i = (i + 1) & mask;
  }
}

/* ---- interned strings --------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t len) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
  return mix64(h);
}

void wt_strtab_init(wt_strtab *t) {
  memset(t, 0, sizeof *t);
  t->nslots = 256;
  t->slots = wt_xmalloc(t->nslots * sizeof *t->slots);
  memset(t->slots, 0xff, t->nslots * sizeof *t->slots);
  /* index 0: unnamed, the empty string */
  wt_grow(&t->arena, &t->arena_cap, 1, 1);
  t->arena[0] = 0;
  t->arena_len = 1;
  wt_grow(&t->ent, &t->cap, 1, sizeof *t->ent);
  t->ent[0].off = 0;
  t->ent[0].hash = 0;
  t->n = 1;
}

void wt_strtab_free(wt_strtab *t) {
  free(t->arena);
  free(t->ent);
  free(t->slots);
  memset(t, 0, sizeof *t);
}

int32_t wt_strtab_intern(wt_strtab *t, const char *s, size_t len) {
  uint64_t h = hash_bytes(s, len);
  size_t mask = t->nslots - 1, i = (size_t)h & mask;
  for (;;) {
    int32_t k = t->slots[i];
    if (k < 0) break;
    const char *o = t->arena + t->ent[k].off;
    if (t->ent[k].hash == h && strlen(o) == len && memcmp(o, s, len) == 0) return k;
    i = (i + 1) & mask;
  }
  if (t->n >= INT32_MAX - 1) wt_die("too many distinct task names");
  int32_t k = (int32_t)t->n;
  wt_grow(&t->arena, &t->arena_cap, t->arena_len + len + 1, 1);
  size_t off = t->arena_len;
  memcpy(t->arena + off, s, len);
  t->arena[off + len] = 0;
  t->arena_len += len + 1;
  wt_grow(&t->ent, &t->cap, t->n + 1, sizeof *t->ent);
  t->ent[k].off = off;
  t->ent[k].hash = h;
  t->n++;
  t->slots[i] = k;
  if (t->n * 2 > t->nslots) {
    size_t ns = t->nslots * 2;
    int32_t *sl = wt_xmalloc(ns * sizeof *sl);
    memset(sl, 0xff, ns * sizeof *sl);
    for (size_t j = 1; j < t->n; j++) {
      size_t q = (size_t)t->ent[j].hash & (ns - 1);
      while (sl[q] >= 0) q = (q + 1) & (ns - 1);
      sl[q] = (int32_t)j;
    }
    free(t->slots);
    t->slots = sl;
    t->nslots = ns;
  }
  return k;
}

const char *wt_strtab_get(const wt_strtab *t, int32_t i) {
  if (i < 0 || (size_t)i >= t->n) return "";
  return t->arena + t->ent[i].off;
}

/* ---- grouping --------------------------------------------------------------------- */

/* Orders idx[start[g] .. start[g+1]) of each group by key (ties: by index,
 * i.e. file order). */
void wt_sort_groups(uint32_t *idx, const size_t *start, size_t ngroups,
                        int64_t (*key)(const void *, uint32_t), const void *ctx) {
  wt_kv *tmp = NULL;
  size_t cap = 0;
  for (size_t g = 0; g < ngroups; g++) {
    size_t a = start[g], n = start[g + 1] - a;
    if (n < 2) continue;
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++)
      if (key(ctx, idx[a + i - 1]) > key(ctx, idx[a + i])) sorted = false;
    if (sorted) continue;
    wt_grow(&tmp, &cap, n, sizeof *tmp);
    for (size_t i = 0; i < n; i++) tmp[i] = (wt_kv){key(ctx, idx[a + i]), idx[a + i]};
    wt_sort_kv(tmp, n);
    /* equal keys: back into index order */
    for (size_t i = 0; i < n;) {
      size_t j = i + 1;
      while (j < n && tmp[j].k == tmp[i].k) j++;
      for (size_t x = i + 1; x < j; x++) {
        wt_kv y = tmp[x];
        size_t z = x;
        while (z > i && tmp[z - 1].v > y.v) {
          tmp[z] = tmp[z - 1];
          z--;
        }
        tmp[z] = y;
      }
      i = j;
    }
    for (size_t i = 0; i < n; i++) idx[a + i] = (uint32_t)tmp[i].v;
  }
  free(tmp);
}

/* Counting sort of n items into ngroups groups: start (ngroups + 1
 * offsets) and idx (the items, stable). group(i) < 0: left out. */
void wt_group_by(size_t n, size_t ngroups, int64_t (*group)(const void *, uint32_t),
                     const void *ctx, size_t **start_out, uint32_t **idx_out) {
  size_t *start = wt_xcalloc(ngroups + 2, sizeof *start);
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t g = group(ctx, (uint32_t)i);
    if (g >= 0) start[g + 2]++, total++;
  }
  for (size_t g = 2; g < ngroups + 2; g++) start[g] += start[g - 1];
  uint32_t *idx = wt_xmalloc(total * sizeof *idx);
  for (size_t i = 0; i < n; i++) {
    int64_t g = group(ctx, (uint32_t)i);
    if (g >= 0) idx[start[g + 1]++] = (uint32_t)i;
  }
  *start_out = start; /* start[g] .. start[g + 1] */
  *idx_out = idx;
}

/* ---- sorting ------------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static inline uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void kv_insertion(wt_kv *a, size_t n) {
  for (size_t i = 1; i < n; i++) {
    wt_kv x = a[i];
    size_t j = i;
    while (j > 0 && a[j - 1].k > x.k) {
      a[j] = a[j - 1];
      j--;
    }
    a[j] = x;
  }
}

/* Quicksort with a random pivot and a three-way partition (many equal keys
 * are common: equal durations, equal timestamps); the smaller side recurses. */
void wt_sort_kv(wt_kv *a, size_t n) {
  while (n > 24) {
    /* already sorted? (common: per-track events arrive in order) */
    size_t i = 1;
    while (i < n && a[i - 1].k <= a[i].k) i++;
    if (i == n) return;
    int64_t p = a[rng() % n].k;
    size_t lt = 0, gt = n, j = 0;
    while (j < gt) {
      if (a[j].k < p) {
        wt_kv x = a[lt];
        a[lt++] = a[j];
        a[j++] = x;
      } else if (a[j].k > p) {
        wt_kv x = a[--gt];
        a[gt] = a[j];
        a[j] = x;
      } else {
        j++;
      }
    }
    if (lt < n - gt) {
      wt_sort_kv(a, lt);
      a += gt;
      n -= gt;
    } else {
      wt_sort_kv(a + gt, n - gt);
      n = lt;
    }
  }
  kv_insertion(a, n);
}

void wt_sort_i64(int64_t *a, size_t n) {
  while (n > 24) {
    int64_t p = a[rng() % n];
    size_t lt = 0, gt = n, j = 0;
    while (j < gt) {
      if (a[j] < p) {
        int64_t x = a[lt];
        a[lt++] = a[j];
        a[j++] = x;
      } else if (a[j] > p) {
        int64_t x = a[--gt];
        a[gt] = a[j];
        a[j] = x;
      } else {
        j++;
      }
    }
    if (lt < n - gt) {
      wt_sort_i64(a, lt);
      a += gt;
      n -= gt;
    } else {
      wt_sort_i64(a + gt, n - gt);
      n = lt;
    }
  }
  for (size_t i = 1; i < n; i++) {
    int64_t x = a[i];
    size_t j = i;
    while (j > 0 && a[j - 1] > x) {
      a[j] = a[j - 1];
      j--;
    }
    a[j] = x;
  }
}

void wt_select_i64(int64_t *a, size_t n, size_t k) {
  while (n > 1) {
    int64_t p = a[rng() % n];
    size_t lt = 0, gt = n, j = 0;
    while (j < gt) {
      if (a[j] < p) {
        int64_t x = a[lt];
        a[lt++] = a[j];
        a[j++] = x;
      } else if (a[j] > p) {
        int64_t x = a[--gt];
        a[gt] = a[j];
        a[j] = x;
      } else {
        j++;
      }
    }
    if (k < lt) {
      n = lt;
    } else if (k >= gt) {
      a += gt;
      k -= gt;
      n -= gt;
    } else {
      return; /* a[k] == p */
    }
  }
}

/* Nearest rank: the p-th percentile is the smallest sample with at least
 * p% of the samples at or below it, i.e. the ceil(p/100 * n)-th smallest. */
static size_t rank(size_t n, unsigned p) {
  size_t r = (size_t)(((unsigned long long)p * n + 99) / 100);
  return r ? r - 1 : 0;
}

wt_pct wt_percentiles(int64_t *a, size_t n) {
  wt_pct r = {0};
  r.n = n;
  if (!n) return r;
  double sum = 0;
  int64_t mx = a[0];
  for (size_t i = 0; i < n; i++) {
    sum += (double)a[i];
    if (a[i] > mx) mx = a[i];
  }
  r.max = mx;
  r.mean = sum / (double)n;
  size_t k99 = rank(n, 99), k90 = rank(n, 90), k50 = rank(n, 50);
  wt_select_i64(a, n, k99);
  r.p99 = a[k99];
  wt_select_i64(a, k99 + 1, k90);
  r.p90 = a[k90];
  wt_select_i64(a, k90 + 1, k50);
  r.p50 = a[k50];
  return r;
}

/* ---- formatting ------------------------------------------------------------------------------ */

void wt_fmt_dur(char *buf, size_t len, int64_t ns) {
  double v = (double)ns, a = v < 0 ? -v : v;
  const char *u;
  if (a < 1e3) {
    snprintf(buf, len, "%lld ns", (long long)ns);
    return;
  } else if (a < 1e6) {
    v /= 1e3;
    u = "us";
  } else if (a < 1e9) {
    v /= 1e6;
    u = "ms";
  } else {
    v /= 1e9;
    u = "s";
  }
  a = v < 0 ? -v : v;
  int prec = a < 9.9995 ? 3 : a < 99.995 ? 2 : a < 999.95 ? 1 : 0;
  snprintf(buf, len, "%.*f %s", prec, v, u);
}

/* Decodes one UTF-8 sequence at s (n bytes left): its length, or 0 if it is
 * not valid (overlong, surrogate, beyond U+10FFFF, cut). *cp gets the code
 * point. */
static size_t utf8_one(const unsigned char *s, size_t n, unsigned *cp) {
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  unsigned min;
  if ((c & 0xe0) == 0xc0) {
    len = 2, c &= 0x1f, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, c &= 0x0f, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, c &= 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
  *cp = c;
  return len;
}

void wt_put_json_str(FILE *f, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  size_t n = strlen(str);
  while (n) {
    unsigned cp;
    size_t l = utf8_one(s, n, &cp);
    if (!l) {
      fputs("\\ufffd", f);
      l = 1;
    } else if (cp == '"' || cp == '\\') {
      fputc('\\', f);
      fputc((int)cp, f);
    } else if (cp < 0x20) {
      fprintf(f, "\\u%04x", cp);
    } else {
      fwrite(s, 1, l, f);
    }
    s += l;
    n -= l;
  }
}

void wt_put_xml_str(FILE *f, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  size_t n = strlen(str);
  while (n) {
    unsigned cp;
    size_t l = utf8_one(s, n, &cp);
    if (!l || cp < 0x20 || cp == 0xfffe || cp == 0xffff) {
      fputs("\xef\xbf\xbd", f); /* U+FFFD */
      if (!l) l = 1;
    } else if (cp == '&') {
      fputs("&amp;", f);
    } else if (cp == '<') {
      fputs("&lt;", f);
    } else if (cp == '>') {
      fputs("&gt;", f);
    } else if (cp == '"') {
      fputs("&quot;", f);
    } else if (cp == '\'') {
      fputs("&apos;", f);
    } else {
      fwrite(s, 1, l, f);
    }
    s += l;
    n -= l;
  }
}
