/* weft-trace: reading a trace (docs/trace-format.md) into a wt_trace.
 *
 * The file is read in blocks and cut into lines. An event line exactly in the writer's layout
 * goes through a fast path that compares fixed fragments; any other line
 * through a small scanner that knows the format's keys and skips any other
 * value generically (so it accepts any JSON whitespace, key order and extra
 * keys inside an event line). No allocation per event. Every problem ends
 * the program with one line naming the file and line (see main.c for which
 * problems exist and how they are told apart). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wt.h"

/* ---- lines ------------------------------------------------------------------------ */

/* Read, not mapped: the kernel's copy into a buffer that stays in cache
 * costs less than first touches of a mapping's pages (measured: about 0.7 s
 * of CPU less for a 1.3 GB trace). The buffer grows only for long lines. */
#define READ_CHUNK ((size_t)1 << 20)
#define MAX_LINE ((size_t)64 << 20)

typedef struct {
  int fd;
  const char *path;
  char *buf;
  size_t cap, beg, len; /* unread data: buf[beg, len) */
  bool eof;
  long line; /* number of the last line returned */
} lines_t;

/* The next line (without its '\n'), valid until the next call; false at the
 * end of the file. *nl: whether a '\n' ended it. */
static bool next_line(lines_t *r, const char **s, size_t *n, bool *nl) {
  size_t scanned = 0; /* bytes of the pending line already searched */
  for (;;) {
    char *start = r->buf + r->beg;
    size_t avail = r->len - r->beg;
    char *q = memchr(start + scanned, '\n', avail - scanned);
    if (q) {
      *s = start;
      *n = (size_t)(q - start);
      *nl = true;
      r->beg += *n + 1;
      r->line++;
      return true;
    }
    scanned = avail;
    if (r->eof) {
      if (!avail) return false;
      *s = start;
      *n = avail;
      *nl = false;
      r->beg = r->len;
      r->line++;
      return true;
    }
    if (avail > MAX_LINE) wt_die_line(r->path, r->line + 1, "line longer than 64 MiB");
    if (r->beg) {
      memmove(r->buf, start, avail);
      r->beg = 0;
      r->len = avail;
    }
    if (r->cap - r->len < r->cap / 2) wt_grow(&r->buf, &r->cap, r->cap * 2, 1); /* a long line */
    ssize_t k = read(r->fd, r->buf + r->len, r->cap - r->len);
    if (k < 0) {
      if (errno == EINTR) continue;
      wt_die("%s: %s", r->path, strerror(errno));
    }
    if (k == 0)
      r->eof = true;
    else
      r->len += (size_t)k;
  }
}

/* ---- scanner --------------------------------------------------------------------------- */

typedef struct {
  const char *p, *e;
  const char *b;   /* the line's start, for columns */
  const char *err; /* what went wrong */
  const char *errp; /* where: errp >= e means the line ran out */
} sc_t;

typedef struct {
  const char *s;
  size_t n;
} str_t;

static bool fail_at(sc_t *s, const char *at, const char *msg) {
  s->err = msg;
  s->errp = at;
  return false;
}
#define FAIL(s, msg) fail_at((s), (s)->p, (msg))

static inline void ws(sc_t *s) {
  while (s->p < s->e && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n')) s->p++;
}

static inline bool expect(sc_t *s, char c, const char *msg) {
  ws(s);
  if (s->p < s->e && *s->p == c) {
    s->p++;
    return true;
  }
  return FAIL(s, msg);
}

/* Decoded strings with escapes live in one of these, by slot. */
enum { SLOT_TMP, SLOT_NAME, SLOT_ANAME, NSLOTS };
static char *scratch[NSLOTS];
static size_t scratch_cap[NSLOTS];

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Four hex digits at p (e the end): the value, -1 if not hex, -2 if cut. */
static long hex4(const char *p, const char *e) {
  long v = 0;
  for (int i = 0; i < 4; i++) {
    if (p + i >= e) return -2;
    int h = hexval(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

static size_t put_utf8(char *o, unsigned long cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  } else if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  } else if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Bytes that end the plain part of a string: '"', '\\' and controls. */
static const unsigned char str_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1};

/* The general case: escapes (decoded into scratch[slot]), or an error. q is
 * the first byte at or after b that is not plain. */
__attribute__((noinline)) static bool sc_string_slow(sc_t *s, const char *b, const char *q, str_t *out,
                                                     int slot) {
  const char *e = s->e;
  if (q >= e) return fail_at(s, e, "unterminated string");
  if (*q == '"') {
    out->s = b;
    out->n = (size_t)(q - b);
    s->p = q + 1;
    return true;
  }
  if ((unsigned char)*q < 0x20) return fail_at(s, q, "control character in a string");
  /* Escapes: the decoded text is never longer than its source. */
  wt_grow(&scratch[slot], &scratch_cap[slot], (size_t)(e - b) + 1, 1);
  char *o = scratch[slot];
  size_t on = (size_t)(q - b);
  memcpy(o, b, on);
  const char *p = q;
  for (;;) {
    if (p >= e) return fail_at(s, e, "unterminated string");
    unsigned char c = (unsigned char)*p;
    if (c == '"') break;
    if (c < 0x20) return fail_at(s, p, "control character in a string");
    if (c != '\\') {
      o[on++] = (char)c;
      p++;
      continue;
    }
    if (p + 1 >= e) return fail_at(s, e, "unterminated string");
    char x = p[1];
    p += 2;
    switch (x) {
    case '"': o[on++] = '"'; break;
    case '\\': o[on++] = '\\'; break;
    case '/': o[on++] = '/'; break;
    case 'b': o[on++] = '\b'; break;
    case 'f': o[on++] = '\f'; break;
    case 'n': o[on++] = '\n'; break;
    case 'r': o[on++] = '\r'; break;
    case 't': o[on++] = '\t'; break;
    case 'u': {
      long cp = hex4(p, e);
      if (cp == -2) return fail_at(s, e, "unterminated string");
      if (cp < 0) return fail_at(s, p, "bad \\u escape");
      p += 4;
      if (cp >= 0xd800 && cp <= 0xdbff && p + 1 < e && p[0] == '\\' && p[1] == 'u') {
        long lo = hex4(p + 2, e);
        if (lo == -2) return fail_at(s, e, "unterminated string");
        if (lo < 0) return fail_at(s, p + 2, "bad \\u escape");
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          p += 6;
        }
      }
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; /* a lone surrogate */
      on += put_utf8(o + on, (unsigned long)cp);
      break;
    }
    default:
      return fail_at(s, p - 1, "bad escape in a string");
    }
  }
  s->p = p + 1;
  o[on] = 0;
  out->s = o;
  out->n = on;
  return true;
}

static inline bool sc_string(sc_t *s, str_t *out, int slot) {
  const char *p = s->p, *e = s->e;
  if (p >= e || *p != '"') {
    ws(s);
    p = s->p;
    if (p >= e || *p != '"') return FAIL(s, "expected a string");
  }
  const char *b = p + 1, *q = b;
  while (q < e && !str_stop[(unsigned char)*q]) q++;
  if (q < e && *q == '"') {
    out->s = b;
    out->n = (size_t)(q - b);
    s->p = q + 1;
    return true;
  }
  s->p = b;
  return sc_string_slow(s, b, q, out, slot);
}

static inline bool isdig(char c) { return (unsigned)(c - '0') < 10u; }

/* A JSON integer into *out. */
static inline bool sc_int(sc_t *s, int64_t *out) {
  if (s->p < s->e && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n')) ws(s);
  const char *p = s->p, *e = s->e;
  bool neg = false;
  if (p < e && *p == '-') neg = true, p++;
  if (p >= e) return fail_at(s, e, "expected a number");
  if (!isdig(*p)) return fail_at(s, p, "expected an integer");
  uint64_t v = 0;
  const char *lim = e - p > 19 ? p + 19 : e; /* 19 digits cannot overflow */
  while (p < lim && isdig(*p)) v = v * 10 + (uint64_t)(*p++ - '0');
  if (p < e && isdig(*p)) { /* a 20th digit: maybe; a 21st: surely */
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10 || (p + 1 < e && isdig(p[1]))) return fail_at(s, s->p, "number out of range");
    v = v * 10 + d;
    p++;
  }
  if (p < e && (*p == '.' || *p == 'e' || *p == 'E')) return fail_at(s, s->p, "expected an integer");
  if (v > (uint64_t)INT64_MAX) return fail_at(s, s->p, "number out of range");
  *out = neg ? -(int64_t)v : (int64_t)v;
  s->p = p;
  return true;
}

/* Skips a JSON number's syntax from p; returns its end, or NULL (*cut set
 * when the line ended inside it). */
static const char *num_end(const char *p, const char *e, bool *cut) {
  *cut = false;
  if (p < e && *p == '-') p++;
  if (p >= e) return *cut = true, NULL;
  if (!isdig(*p)) return NULL;
  while (p < e && isdig(*p)) p++;
  if (p < e && *p == '.') {
    p++;
    if (p >= e) return *cut = true, NULL;
    if (!isdig(*p)) return NULL;
    while (p < e && isdig(*p)) p++;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < e && (*p == '+' || *p == '-')) p++;
    if (p >= e) return *cut = true, NULL;
    if (!isdig(*p)) return NULL;
    while (p < e && isdig(*p)) p++;
  }
  return p;
}

/* Times: microseconds as a JSON number (3 decimals by the spec; any number
 * is accepted), into nanoseconds, rounded. At most 1e15 us in magnitude. */
#define TIME_MAX_US 1000000000000000LL
static inline bool sc_time(sc_t *s, int64_t *ns) {
  if (s->p < s->e && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n')) ws(s);
  const char *b = s->p, *p = b, *e = s->e;
  bool neg = false;
  if (p < e && *p == '-') neg = true, p++;
  if (p >= e) return fail_at(s, e, "expected a number");
  if (!isdig(*p)) return fail_at(s, p, "expected a number");
  uint64_t ip = 0;
  while (p < e && isdig(*p)) {
    ip = ip * 10 + (uint64_t)(*p++ - '0');
    if (ip > (uint64_t)TIME_MAX_US) return FAIL(s, "time out of range");
  }
  uint64_t frac = 0;
  int nd = 0;
  bool round_up = false;
  if (p < e && *p == '.') {
    p++;
    if (p >= e) return fail_at(s, e, "expected a number");
    if (!isdig(*p)) return fail_at(s, p, "expected a number");
    while (p < e && isdig(*p)) {
      if (nd < 3)
        frac = frac * 10 + (uint64_t)(*p - '0');
      else if (nd == 3)
        round_up = *p >= '5';
      nd++;
      p++;
    }
  }
  if (p < e && (*p == 'e' || *p == 'E')) { /* an exponent: the slow way */
    bool cut;
    const char *end = num_end(b, e, &cut);
    if (!end) return cut ? fail_at(s, e, "expected a number") : FAIL(s, "expected a number");
    char tmp[64];
    size_t len = (size_t)(end - b);
    if (len >= sizeof tmp) return FAIL(s, "time out of range");
    memcpy(tmp, b, len);
    tmp[len] = 0;
    double d = strtod(tmp, NULL);
    if (!(d >= -(double)TIME_MAX_US && d <= (double)TIME_MAX_US)) return FAIL(s, "time out of range");
    d *= 1000.0;
    *ns = (int64_t)(d < 0 ? d - 0.5 : d + 0.5);
    s->p = end;
    return true;
  }
  while (nd < 3) frac *= 10, nd++;
  int64_t v = (int64_t)(ip * 1000 + frac + (round_up ? 1 : 0));
  *ns = neg ? -v : v;
  s->p = p;
  return true;
}

static bool sc_literal(sc_t *s, const char *lit) {
  size_t n = strlen(lit);
  for (size_t i = 0; i < n; i++) {
    if (s->p + i >= s->e) return fail_at(s, s->e, "unexpected end of line");
    if (s->p[i] != lit[i]) return FAIL(s, "bad literal");
  }
  s->p += n;
  return true;
}

static bool sc_bool(sc_t *s, bool *out) {
  ws(s);
  if (s->p < s->e && *s->p == 't') return *out = true, sc_literal(s, "true");
  if (s->p < s->e && *s->p == 'f') return *out = false, sc_literal(s, "false");
  if (s->p >= s->e) return fail_at(s, s->e, "expected true or false");
  return FAIL(s, "expected true or false");
}

static bool sc_skip(sc_t *s, int depth) {
  ws(s);
  if (s->p >= s->e) return fail_at(s, s->e, "expected a value");
  str_t tmp;
  switch (*s->p) {
  case '"':
    return sc_string(s, &tmp, SLOT_TMP);
  case '{':
  case '[': {
    char close = *s->p == '{' ? '}' : ']';
    bool obj = close == '}';
    if (depth > 32) return FAIL(s, "nested too deeply");
    s->p++;
    ws(s);
    if (s->p < s->e && *s->p == close) {
      s->p++;
      return true;
    }
    for (;;) {
      if (obj) {
        if (!sc_string(s, &tmp, SLOT_TMP) || !expect(s, ':', "expected ':'")) return false;
      }
      if (!sc_skip(s, depth + 1)) return false;
      ws(s);
      if (s->p >= s->e) return fail_at(s, s->e, "unexpected end of line");
      if (*s->p == ',') {
        s->p++;
        continue;
      }
      if (*s->p == close) {
        s->p++;
        return true;
      }
      return FAIL(s, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }
  case 't':
    return sc_literal(s, "true");
  case 'f':
    return sc_literal(s, "false");
  case 'n':
    return sc_literal(s, "null");
  default: {
    bool cut;
    const char *end = num_end(s->p, s->e, &cut);
    if (!end) return cut ? fail_at(s, s->e, "expected a value") : FAIL(s, "expected a value");
    s->p = end;
    return true;
  }
  }
}

/* Iterates the members of an object: call with *first = true; returns
 * false on error, sets *done at the closing brace, else the key. */
static inline bool sc_member(sc_t *s, bool *first, bool *done, str_t *key) {
  if (s->p < s->e && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n')) ws(s);
  if (s->p >= s->e) return fail_at(s, s->e, "unexpected end of line");
  if (*first) {
    *first = false;
    if (*s->p == '}') {
      s->p++;
      *done = true;
      return true;
    }
  } else {
    if (*s->p == '}') {
      s->p++;
      *done = true;
      return true;
    }
    if (*s->p != ',') return FAIL(s, "expected ',' or '}'");
    s->p++;
  }
  *done = false;
  if (!sc_string(s, key, SLOT_TMP)) return false;
  if (s->p < s->e && *s->p == ':') { /* the usual case: no space */
    s->p++;
    return true;
  }
  return expect(s, ':', "expected ':'");
}

#define KEY(k, lit) ((k).n == sizeof(lit) - 1 && memcmp((k).s, lit, sizeof(lit) - 1) == 0)
#define IS(k, lit) KEY(k, lit)

/* ---- events ------------------------------------------------------------------------------ */

enum {
  H_PH = 1 << 0, H_TID = 1 << 1, H_TS = 1 << 2, H_DUR = 1 << 3, H_CAT = 1 << 4,
  H_NAME = 1 << 5, H_ID = 1 << 6, H_ARGS = 1 << 7,
  A_TASK = 1 << 8, A_END = 1 << 9, A_AWAITS = 1 << 10, A_DEPTH = 1 << 11,
  A_PARENT = 1 << 12, A_VICTIM = 1 << 13, A_COUNT = 1 << 14, A_ERR = 1 << 15,
  A_NAME = 1 << 16, A_OPEN = 1 << 17
};
enum {
  CAT_OTHER, CAT_RUN, CAT_SPAWN, CAT_FLOW, CAT_WAKE, CAT_COMPLETE, CAT_STEAL, CAT_INJECT, CAT_PARK,
  CAT_JOIN
};

typedef struct {
  unsigned have;
  char ph; /* 0 if not one character */
  int cat;
  int64_t tid, ts, dur, id;
  str_t name;
  int64_t task, awaits, depth, parent, victim, count, err;
  int end; /* enum wt_end, -1 unknown */
  bool open;
  str_t aname;
} ev_t;

static int cat_of(str_t c) {
  switch (c.n) {
  case 3: return IS(c, "run") ? CAT_RUN : CAT_OTHER;
  case 4:
    if (IS(c, "flow")) return CAT_FLOW;
    if (IS(c, "wake")) return CAT_WAKE;
    if (IS(c, "park")) return CAT_PARK;
    if (IS(c, "join")) return CAT_JOIN;
    return CAT_OTHER;
  case 5:
    if (IS(c, "spawn")) return CAT_SPAWN;
    if (IS(c, "steal")) return CAT_STEAL;
    return CAT_OTHER;
  case 6: return IS(c, "inject") ? CAT_INJECT : CAT_OTHER;
  case 8: return IS(c, "complete") ? CAT_COMPLETE : CAT_OTHER;
  default: return CAT_OTHER;
  }
}

static bool parse_args(sc_t *s, ev_t *ev) {
  if (!expect(s, '{', "expected '{' after \"args\"")) return false;
  bool first = true, done;
  str_t k, v;
  for (;;) {
    if (!sc_member(s, &first, &done, &k)) return false;
    if (done) return true;
    bool ok;
    if (IS(k, "task")) {
      ok = sc_int(s, &ev->task), ev->have |= A_TASK;
    } else if (IS(k, "end")) {
      ok = sc_string(s, &v, SLOT_TMP);
      ev->have |= A_END;
      ev->end = IS(v, "done") ? WT_END_DONE
                : IS(v, "await") ? WT_END_AWAIT
                : IS(v, "yield") ? WT_END_YIELD
                : IS(v, "inline") ? WT_END_INLINE : -1;
    } else if (IS(k, "depth")) {
      ok = sc_int(s, &ev->depth), ev->have |= A_DEPTH;
    } else if (IS(k, "awaits")) {
      ok = sc_int(s, &ev->awaits), ev->have |= A_AWAITS;
    } else if (IS(k, "parent")) {
      ok = sc_int(s, &ev->parent), ev->have |= A_PARENT;
    } else if (IS(k, "victim")) {
      ok = sc_int(s, &ev->victim), ev->have |= A_VICTIM;
    } else if (IS(k, "count")) {
      ok = sc_int(s, &ev->count), ev->have |= A_COUNT;
    } else if (IS(k, "err")) {
      ok = sc_int(s, &ev->err), ev->have |= A_ERR;
    } else if (IS(k, "name")) {
      ok = sc_string(s, &ev->aname, SLOT_ANAME), ev->have |= A_NAME;
    } else if (IS(k, "open")) {
      ok = sc_bool(s, &ev->open), ev->have |= A_OPEN;
    } else {
      ok = sc_skip(s, 1); /* counters' series, and anything newer */
    }
    if (!ok) return false;
  }
}

static bool parse_event(sc_t *s, ev_t *ev) {
  ev->have = 0;
  ev->ph = 0;
  ev->cat = CAT_OTHER;
  ev->end = -1;
  ev->open = false;
  if (!expect(s, '{', "expected '{'")) return false;
  bool first = true, done;
  str_t k, v;
  for (;;) {
    if (!sc_member(s, &first, &done, &k)) return false;
    if (done) return true;
    bool ok;
    switch (k.n) {
    case 2:
      if (IS(k, "ph")) {
        ok = sc_string(s, &v, SLOT_TMP);
        ev->ph = v.n == 1 ? v.s[0] : 0;
        ev->have |= H_PH;
      } else if (IS(k, "ts")) {
        ok = sc_time(s, &ev->ts), ev->have |= H_TS;
      } else if (IS(k, "id")) {
        ok = sc_int(s, &ev->id), ev->have |= H_ID;
      } else {
        ok = sc_skip(s, 1);
      }
      break;
    case 3:
      if (IS(k, "tid")) {
        ok = sc_int(s, &ev->tid), ev->have |= H_TID;
      } else if (IS(k, "dur")) {
        ok = sc_time(s, &ev->dur), ev->have |= H_DUR;
      } else if (IS(k, "cat")) {
        ok = sc_string(s, &v, SLOT_TMP);
        ev->cat = cat_of(v);
        ev->have |= H_CAT;
      } else if (IS(k, "pid")) {
        int64_t pid;
        ok = sc_int(s, &pid);
      } else {
        ok = sc_skip(s, 1);
      }
      break;
    case 4:
      if (IS(k, "name")) {
        ok = sc_string(s, &ev->name, SLOT_NAME), ev->have |= H_NAME;
      } else if (IS(k, "args")) {
        ok = parse_args(s, ev), ev->have |= H_ARGS;
      } else {
        ok = sc_skip(s, 1);
      }
      break;
    default:
      ok = sc_skip(s, 1); /* "s", "bp", anything newer */
    }
    if (!ok) return false;
  }
}

/* ---- the writer's own layout, fast --------------------------------------------------------------

   Lines exactly as the runtime writes them (docs/trace-format.md; keys in
   its order, no spaces, plain strings, plain numbers) are read by
   comparing fixed fragments; any difference sends the line to the general
   scanner above, which gives the same result for these lines (the tests
   check that, with WEFT_TRACE_NO_FAST=1). */

#define LIT(lit)                                                                           \
  (e - p >= (ptrdiff_t)sizeof(lit) - 1 && memcmp(p, lit, sizeof(lit) - 1) == 0             \
       ? (p += sizeof(lit) - 1, true)                                                      \
       : false)

/* A plain integer of at most 18 digits (so no overflow), not followed by
 * what would make it a non-integer. */
static inline const char *fast_int(const char *p, const char *e, int64_t *out) {
  bool neg = p < e && *p == '-';
  if (neg) p++;
  const char *d = p, *lim = e - p > 18 ? p + 18 : e;
  uint64_t v = 0;
  while (p < lim && isdig(*p)) v = v * 10 + (uint64_t)(*p++ - '0');
  if (p == d || (p < e && (isdig(*p) || *p == '.' || *p == 'e' || *p == 'E'))) return NULL;
  *out = neg ? -(int64_t)v : (int64_t)v;
  return p;
}

/* digits[.digits] microseconds, no sign, no exponent, at most 1e15. */
static inline const char *fast_time(const char *p, const char *e, int64_t *ns) {
  const char *d = p, *lim = e - p > 16 ? p + 16 : e;
  uint64_t ip = 0;
  while (p < lim && isdig(*p)) ip = ip * 10 + (uint64_t)(*p++ - '0');
  if (p == d || ip > (uint64_t)TIME_MAX_US || (p < e && isdig(*p))) return NULL;
  uint64_t frac = 0;
  int nd = 0;
  bool up = false;
  if (p < e && *p == '.') {
    p++;
    if (p >= e || !isdig(*p)) return NULL;
    while (p < e && isdig(*p)) {
      if (nd < 3)
        frac = frac * 10 + (uint64_t)(*p - '0');
      else if (nd == 3)
        up = *p >= '5';
      nd++;
      p++;
    }
  }
  if (p < e && (*p == 'e' || *p == 'E')) return NULL;
  while (nd < 3) frac *= 10, nd++;
  *ns = (int64_t)(ip * 1000 + frac + (up ? 1 : 0));
  return p;
}

/* A string without escapes. */
static inline const char *fast_str(const char *p, const char *e, str_t *out) {
  if (p >= e || *p != '"') return NULL;
  const char *b = ++p;
  while (p < e && !str_stop[(unsigned char)*p]) p++;
  if (p >= e || *p != '"') return NULL;
  out->s = b;
  out->n = (size_t)(p - b);
  return p + 1;
}

#define FINT(dst, bit)                                                                     \
  do {                                                                                     \
    if (!(p = fast_int(p, e, &(dst)))) return NULL;                                        \
    ev->have |= (bit);                                                                     \
  } while (0)
#define FTIME(dst, bit)                                                                    \
  do {                                                                                     \
    if (!(p = fast_time(p, e, &(dst)))) return NULL;                                       \
    ev->have |= (bit);                                                                     \
  } while (0)
#define FSTR(dst)                                                                          \
  do {                                                                                     \
    if (!(p = fast_str(p, e, &(dst)))) return NULL;                                        \
  } while (0)

/* The event at p in the writer's layout: the end of its object, or NULL. */
static const char *fast_event(const char *p, const char *e, ev_t *ev) {
  str_t v;
  ev->have = H_PH;
  ev->cat = CAT_OTHER;
  ev->end = -1;
  ev->open = false;
  if (!LIT("{\"ph\":\"") || p + 1 >= e || p[1] != '"') return NULL;
  char ph = ev->ph = *p;
  p += 2;
  if (ph == 'X') {
    if (!LIT(",\"pid\":1,\"tid\":")) return NULL;
    FINT(ev->tid, H_TID);
    if (!LIT(",\"ts\":")) return NULL;
    FTIME(ev->ts, H_TS);
    if (!LIT(",\"dur\":")) return NULL;
    FTIME(ev->dur, H_DUR);
    if (!LIT(",\"cat\":\"run\",\"name\":")) return NULL;
    ev->cat = CAT_RUN;
    ev->have |= H_CAT;
    FSTR(ev->name);
    ev->have |= H_NAME;
    if (!LIT(",\"args\":{\"task\":")) return NULL;
    ev->have |= H_ARGS;
    FINT(ev->task, A_TASK);
    if (!LIT(",\"end\":")) return NULL;
    FSTR(v);
    ev->have |= A_END;
    ev->end = IS(v, "done") ? WT_END_DONE
              : IS(v, "await") ? WT_END_AWAIT
              : IS(v, "yield") ? WT_END_YIELD
              : IS(v, "inline") ? WT_END_INLINE : -1;
    if (LIT(",\"awaits\":")) FINT(ev->awaits, A_AWAITS);
    if (!LIT(",\"depth\":")) return NULL;
    FINT(ev->depth, A_DEPTH);
    if (LIT(",\"open\":true")) ev->open = true, ev->have |= A_OPEN;
    return LIT("}}") ? p : NULL;
  }
  if (ph == 'i') { /* "s":"t" where the spec shows it, or after "ts" (the writer's place) */
    bool scope = LIT(",\"s\":\"t\"");
    if (!LIT(",\"pid\":1,\"tid\":")) return NULL;
    FINT(ev->tid, H_TID);
    if (!LIT(",\"ts\":")) return NULL;
    FTIME(ev->ts, H_TS);
    if (!scope && !LIT(",\"s\":\"t\"")) return NULL;
    if (!LIT(",\"cat\":")) return NULL;
    FSTR(v);
    ev->cat = cat_of(v);
    ev->have |= H_CAT;
    if (!LIT(",\"name\":")) return NULL;
    FSTR(ev->name);
    ev->have |= H_NAME;
    if (LIT("}")) return p;
    if (!LIT(",\"args\":{")) return NULL;
    ev->have |= H_ARGS;
    for (bool first = true;; first = false) {
      if (LIT("}}")) return first ? NULL : p;
      if (!first && !LIT(",")) return NULL;
      str_t k;
      FSTR(k);
      if (!LIT(":")) return NULL;
      if (IS(k, "task")) FINT(ev->task, A_TASK);
      else if (IS(k, "parent")) FINT(ev->parent, A_PARENT);
      else if (IS(k, "depth")) FINT(ev->depth, A_DEPTH);
      else if (IS(k, "err")) FINT(ev->err, A_ERR);
      else if (IS(k, "victim")) FINT(ev->victim, A_VICTIM);
      else if (IS(k, "count")) FINT(ev->count, A_COUNT);
      else if (IS(k, "awaits")) FINT(ev->awaits, A_AWAITS);
      else return NULL;
    }
  }
  if (ph == 's' || ph == 'f') {
    if (!LIT(",\"pid\":1,\"tid\":")) return NULL;
    FINT(ev->tid, H_TID);
    if (!LIT(",\"ts\":")) return NULL;
    FTIME(ev->ts, H_TS);
    if (!LIT(",\"cat\":")) return NULL;
    FSTR(v);
    ev->cat = cat_of(v);
    ev->have |= H_CAT;
    if (!LIT(",\"name\":")) return NULL;
    FSTR(ev->name);
    ev->have |= H_NAME;
    if (!LIT(",\"id\":")) return NULL;
    FINT(ev->id, H_ID);
    return LIT(",\"bp\":\"e\"}") ? p : NULL;
  }
  return NULL;
}

static bool use_fast = true;

/* ---- building the model ------------------------------------------------------------------------ */

typedef struct {
  wt_trace *t;
  lines_t *r;
  bool keep_marks;
  int64_t nworkers;
} ctx_t;

static int32_t task_lookup(wt_trace *t, int64_t id);

static int32_t task_ref(wt_trace *t, int64_t id) {
  /* Events of one task come close together: the last few ids, first. */
  static int64_t last_id[4];
  static int32_t last_ix[4] = {-1, -1, -1, -1};
  static unsigned rot;
  for (int i = 0; i < 4; i++)
    if (last_ix[i] >= 0 && last_id[i] == id && (size_t)last_ix[i] < t->ntasks) return last_ix[i];
  int32_t ix = task_lookup(t, id);
  rot = (rot + 1) & 3;
  last_id[rot] = id;
  last_ix[rot] = ix;
  return ix;
}

static int32_t new_task(wt_trace *t, int64_t id) {
  if (t->ntasks >= INT32_MAX) wt_die("%s: too many tasks", t->path);
  wt_grow(&t->tasks, &t->tasks_cap, t->ntasks + 1, sizeof *t->tasks);
  wt_task *k = &t->tasks[t->ntasks];
  memset(k, 0, sizeof *k);
  k->id = id;
  k->parent = -1;
  k->depth = -1;
  return (int32_t)t->ntasks++;
}

static int32_t task_lookup(wt_trace *t, int64_t id) {
  uint64_t hi = (uint64_t)id >> 40, lo = (uint64_t)id & (((uint64_t)1 << 40) - 1);
  bool direct_ok = id >= 0 && hi <= WT_DIRECT_HI;
  if (direct_ok && lo < t->direct_cap[hi] && t->direct[hi][lo] >= 0) return t->direct[hi][lo];
  if (t->task_map.n) {
    int32_t v = wt_map_get(&t->task_map, id);
    if (v >= 0) return v;
  }
  /* new: directly if its array may grow to it (dense enough), else hashed */
  if (direct_ok && lo < 2 * t->direct_n[hi] + 1024) {
    if (lo >= t->direct_cap[hi]) {
      size_t old = t->direct_cap[hi];
      wt_grow(&t->direct[hi], &t->direct_cap[hi], (size_t)lo + 1, sizeof *t->direct[hi]);
      for (size_t i = old; i < t->direct_cap[hi]; i++) t->direct[hi][i] = -1;
    }
    int32_t v = new_task(t, id);
    t->direct[hi][lo] = v;
    t->direct_n[hi]++;
    return v;
  }
  bool ins;
  int32_t *slot = wt_map_put(&t->task_map, id, &ins);
  *slot = new_task(t, id);
  return *slot;
}

/* Whether name is "task ID" with ID the decimal of id (> 0). */
static bool is_task_id_name(str_t name, int64_t id) {
  if (name.n < 6 || name.n > 25 || memcmp(name.s, "task ", 5) != 0 || name.s[5] == '0') return false;
  uint64_t v = 0;
  for (size_t i = 5; i < name.n; i++) {
    if (!isdig(name.s[i])) return false;
    v = v * 10 + (uint64_t)(name.s[i] - '0');
  }
  return name.n <= 24 && v == (uint64_t)id;
}

static void add_mark(wt_trace *t, int64_t ts, int64_t tid, unsigned kind) {
  wt_grow(&t->marks, &t->marks_cap, t->nmarks + 1, sizeof *t->marks);
  t->marks[t->nmarks++] = (wt_mark){ts, (uint32_t)tid, kind};
}

static void see_time(wt_trace *t, int64_t a, int64_t b) {
  if (!t->any_time) {
    t->tmin = a;
    t->tmax = b;
    t->any_time = true;
    return;
  }
  if (a < t->tmin) t->tmin = a;
  if (b > t->tmax) t->tmax = b;
}

#define NEED(bits, what)                                                                   \
  do {                                                                                     \
    if ((ev->have & (bits)) != (bits)) wt_die_line(t->path, line, "%s", what);             \
  } while (0)

static void add_event(ctx_t *c, ev_t *ev, long line) {
  wt_trace *t = c->t;
  t->events++;
  if (!(ev->have & H_PH)) wt_die_line(t->path, line, "event without \"ph\"");
  char ph = ev->ph;
  if (ph == 'M') {
    if (ev->have & H_NAME && IS(ev->name, "thread_name")) {
      NEED(H_TID, "thread_name without \"tid\"");
      if (ev->tid < 0 || ev->tid > c->nworkers)
        wt_die_line(t->path, line, "tid %lld out of range (0..%lld)", (long long)ev->tid,
                    (long long)c->nworkers);
      NEED(A_NAME, "thread_name without args.name");
      wt_lane *l = &t->lanes[ev->tid];
      free(l->name);
      l->name = wt_xmalloc(ev->aname.n + 1);
      memcpy(l->name, ev->aname.s, ev->aname.n);
      l->name[ev->aname.n] = 0;
    }
    return;
  }
  if (ph != 'X' && ph != 'i' && ph != 's' && ph != 'f' && ph != 'C' && ph != 'I') {
    t->ignored++;
    return;
  }
  NEED(H_TS, "event without \"ts\"");
  if (ph == 'C') { /* counters: not used, but inside the trace's time */
    see_time(t, ev->ts, ev->ts);
    return;
  }
  NEED(H_TID, "event without \"tid\"");
  if (ev->tid < 0 || ev->tid > c->nworkers)
    wt_die_line(t->path, line, "tid %lld out of range (0..%lld)", (long long)ev->tid,
                (long long)c->nworkers);
  wt_lane *lane = &t->lanes[ev->tid];
  lane->events++;

  if (ph == 'X') {
    if (ev->cat != CAT_RUN) {
      t->ignored++;
      see_time(t, ev->ts, ev->ts);
      return;
    }
    NEED(H_DUR, "run slice without \"dur\"");
    NEED(A_TASK, "run slice without args.task");
    NEED(A_END, "run slice without args.end");
    if (ev->dur < 0) wt_die_line(t->path, line, "negative \"dur\"");
    if (ev->task <= 0) wt_die_line(t->path, line, "task id %lld is not positive", (long long)ev->task);
    if (ev->end < 0)
      wt_die_line(t->path, line, "args.end is not one of done, await, yield, inline");
    if (ev->have & A_DEPTH && ev->depth < 0) wt_die_line(t->path, line, "negative depth");
    if (ev->have & A_AWAITS && ev->awaits <= 0)
      wt_die_line(t->path, line, "awaited task id %lld is not positive", (long long)ev->awaits);
    see_time(t, ev->ts, ev->ts + ev->dur);
    int32_t aw = -1;
    if (ev->have & A_AWAITS && (ev->end == WT_END_AWAIT || ev->end == WT_END_INLINE))
      aw = task_ref(t, ev->awaits);
    int32_t ti = task_ref(t, ev->task);
    int32_t nm = 0;
    if (ev->have & H_NAME) {
      /* "task ID" is what the writer puts for an unnamed task: one name per
       * task would make colouring by name useless, so it is "unnamed". */
      /* names repeat: the last one is kept to skip the hashing */
      static char last[64];
      static size_t last_n = SIZE_MAX;
      static int32_t last_nm;
      if (ev->name.n == last_n && memcmp(ev->name.s, last, last_n) == 0) {
        nm = last_nm;
      } else if (ev->name.n && !is_task_id_name(ev->name, ev->task)) {
        nm = wt_strtab_intern(&t->names, ev->name.s, ev->name.n);
        if (ev->name.n <= sizeof last) {
          memcpy(last, ev->name.s, ev->name.n);
          last_n = ev->name.n;
          last_nm = nm;
        }
      }
    }
    int32_t depth = ev->have & A_DEPTH ? (ev->depth > INT32_MAX ? INT32_MAX : (int32_t)ev->depth) : -1;
    wt_task *k = &t->tasks[ti];
    if (depth >= 0) {
      if (k->depth < 0) k->depth = depth;
      if (depth > t->max_depth) t->max_depth = depth;
    }
    wt_grow(&t->slices, &t->slices_cap, t->nslices + 1, sizeof *t->slices);
    t->slices[t->nslices++] = (wt_slice){ev->ts, ev->dur, ti, aw, nm, depth, (uint16_t)ev->tid,
                                         (uint8_t)ev->end, (uint8_t)(ev->open ? 1 : 0)};
    if (ev->open) t->open_slices++;
    lane->busy = wt_sat_add(lane->busy, ev->dur);
    lane->runs++;
    return;
  }

  see_time(t, ev->ts, ev->ts);
  if (ph == 's' || ph == 'f') {
    if (ev->cat != CAT_FLOW || !(ev->have & H_NAME)) {
      t->ignored++;
      return;
    }
    NEED(H_ID, "flow without \"id\"");
    if (IS(ev->name, "spawn")) {
      if (ev->id <= 0) wt_die_line(t->path, line, "spawn flow id %lld is not a task id", (long long)ev->id);
      int32_t ti = task_ref(t, ev->id); /* first: it may move t->tasks */
      wt_task *k = &t->tasks[ti];
      if (ph == 's') {
        if (k->has_flow_s) t->bad_flows++;
        else k->flow_s = ev->ts, k->has_flow_s = 1;
      } else {
        if (k->has_flow_f) t->bad_flows++;
        else k->flow_f = ev->ts, k->has_flow_f = 1;
      }
    } else if (IS(ev->name, "wake")) {
      bool ins;
      int32_t *slot = wt_map_put(&t->wake_map, ev->id, &ins);
      if (ins) {
        if (t->nwakes >= INT32_MAX) wt_die("%s: too many wake flows", t->path);
        wt_grow(&t->wakes, &t->wakes_cap, t->nwakes + 1, sizeof *t->wakes);
        memset(&t->wakes[t->nwakes], 0, sizeof *t->wakes);
        *slot = (int32_t)t->nwakes++;
      }
      wt_wake *w = &t->wakes[*slot];
      if (ph == 's') {
        if (w->has_s) t->bad_flows++;
        else w->s = ev->ts, w->has_s = 1;
      } else {
        if (w->has_f) t->bad_flows++;
        else w->f = ev->ts, w->has_f = 1;
      }
    } else {
      t->ignored++;
    }
    return;
  }

  /* instants */
  switch (ev->cat) {
  case CAT_SPAWN: {
    NEED(A_TASK, "spawn without args.task");
    NEED(A_PARENT, "spawn without args.parent");
    if (ev->task <= 0) wt_die_line(t->path, line, "task id %lld is not positive", (long long)ev->task);
    if (ev->parent < 0) wt_die_line(t->path, line, "negative parent id");
    if (ev->have & A_DEPTH && ev->depth < 0) wt_die_line(t->path, line, "negative depth");
    int32_t pi = ev->parent ? task_ref(t, ev->parent) : -1;
    int32_t ti = task_ref(t, ev->task);
    wt_task *k = &t->tasks[ti];
    if (k->has_spawn) {
      t->dup_spawns++;
      return;
    }
    k->has_spawn = 1;
    k->spawn_ts = ev->ts;
    k->parent = pi == ti ? -1 : pi;
    if (ev->have & A_DEPTH) {
      int32_t d = ev->depth > INT32_MAX ? INT32_MAX : (int32_t)ev->depth;
      k->depth = d;
      if (d > t->max_depth) t->max_depth = d;
    }
    break;
  }
  case CAT_WAKE:
    NEED(A_TASK, "wake without args.task");
    t->wake_instants++;
    break;
  case CAT_COMPLETE:
    NEED(A_TASK, "complete without args.task");
    t->completes++;
    if (ev->have & A_ERR && ev->err != 0) t->failed++;
    break;
  case CAT_STEAL: {
    NEED(A_VICTIM, "steal without args.victim");
    if (ev->victim < 0 || ev->victim >= c->nworkers)
      wt_die_line(t->path, line, "steal victim %lld out of range (0..%lld)", (long long)ev->victim,
                  (long long)c->nworkers - 1);
    int64_t n = ev->have & A_COUNT ? ev->count : 1;
    if (n < 0) wt_die_line(t->path, line, "negative steal count");
    lane->steals++;
    lane->stolen_tasks += (uint64_t)n;
    t->lanes[ev->victim + 1].given++;
    if (c->keep_marks) add_mark(t, ev->ts, ev->tid, WT_MARK_STEAL);
    break;
  }
  case CAT_INJECT:
    lane->injects++;
    break;
  case CAT_JOIN: {
    NEED(A_TASK, "join without args.task");
    NEED(A_AWAITS, "join without args.awaits");
    if (ev->task <= 0 || ev->awaits <= 0)
      wt_die_line(t->path, line, "join task ids %lld, %lld are not both positive",
                  (long long)ev->task, (long long)ev->awaits);
    int32_t ai = task_ref(t, ev->awaits);
    int32_t ti = task_ref(t, ev->task);
    if (ti == ai) break; /* a task cannot wait for itself; nothing to join */
    if (t->njoins >= INT32_MAX) wt_die("%s: too many joins", t->path);
    wt_grow(&t->joins, &t->joins_cap, t->njoins + 1, sizeof *t->joins);
    t->joins[t->njoins++] = (wt_join){ev->ts, ti, ai};
    break;
  }
  case CAT_PARK:
    if (!(ev->have & H_NAME)) {
      t->ignored++;
    } else if (IS(ev->name, "park")) {
      lane->parks++;
      add_mark(t, ev->ts, ev->tid, WT_MARK_PARK);
    } else if (IS(ev->name, "unpark")) {
      add_mark(t, ev->ts, ev->tid, WT_MARK_UNPARK);
    } else {
      t->ignored++;
    }
    break;
  default:
    t->ignored++;
  }
}

/* ---- the file's layout ------------------------------------------------------------------------- */

static const char MARKER[] = "{\"otherData\":{\"weft_trace\":";

/* Where a failed scan should be reported: a line cut at the end of the
 * file is a truncation, anything else is malformed. */
_Noreturn static void scan_error(ctx_t *c, sc_t *s, bool nl, const char *what) {
  if (s->errp >= s->e && !nl) wt_die_line(c->t->path, c->r->line, "truncated %s", what);
  if (s->errp >= s->e)
    wt_die_line(c->t->path, c->r->line, "%s ends before its end of line (%s; one event per line)",
                what, s->err);
  wt_die_line(c->t->path, c->r->line, "malformed %s: %s (column %ld)", what, s->err,
              (long)(s->errp - s->b) + 1);
}

static bool blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
  return true;
}

static void parse_header(ctx_t *c, const char *s, size_t n, bool nl) {
  wt_trace *t = c->t;
  size_t ml = sizeof MARKER - 1;
  if (n < ml || memcmp(s, MARKER, ml) != 0) {
    if (!nl && n < ml && memcmp(s, MARKER, n) == 0)
      wt_die_line(t->path, 1, "truncated header");
    wt_die_line(t->path, 1, "not a weft trace (line 1 does not start with {\"otherData\":{\"weft_trace\":)");
  }
  sc_t sc = {s + 13, s + n, s, NULL, NULL}; /* at the '{' of otherData */
  bool first = true, done, have_workers = false, have_version = false;
  int64_t version = 0, workers = 0;
  str_t k, v;
  if (!expect(&sc, '{', "expected '{'")) scan_error(c, &sc, nl, "header");
  for (;;) {
    if (!sc_member(&sc, &first, &done, &k)) scan_error(c, &sc, nl, "header");
    if (done) break;
    bool ok;
    if (IS(k, "weft_trace")) {
      ok = sc_int(&sc, &version), have_version = true;
      if (ok && version != 1)
        wt_die_line(t->path, 1, "weft trace version %lld; this weft-trace reads version 1",
                    (long long)version);
    } else if (IS(k, "workers")) {
      ok = sc_int(&sc, &workers), have_workers = true;
    } else if (IS(k, "t0_ns")) {
      ok = sc_int(&sc, &t->t0_ns);
    } else if (IS(k, "dropped")) {
      int64_t d = 0;
      ok = sc_int(&sc, &d);
      if (ok && d < 0) wt_die_line(t->path, 1, "negative \"dropped\"");
      t->dropped = (uint64_t)d;
    } else if (IS(k, "complete")) {
      ok = sc_bool(&sc, &t->complete), t->has_complete = true;
    } else if (IS(k, "clock")) {
      ok = sc_string(&sc, &v, SLOT_TMP);
    } else {
      ok = sc_skip(&sc, 1);
    }
    if (!ok) scan_error(c, &sc, nl, "header");
  }
  if (!expect(&sc, ',', "expected ',' after otherData")) scan_error(c, &sc, nl, "header");
  ws(&sc);
  if (sc.p != sc.e) wt_die_line(t->path, 1, "malformed header: text after otherData");
  if (!have_version) wt_die_line(t->path, 1, "not a weft trace (no weft_trace version)");
  if (!have_workers) wt_die_line(t->path, 1, "header without \"workers\"");
  if (workers < 1 || workers > WT_MAX_WORKERS)
    wt_die_line(t->path, 1, "workers %lld out of range (1..%d)", (long long)workers, WT_MAX_WORKERS);
  t->workers = (int)workers;
  c->nworkers = workers;
  t->lanes = wt_xcalloc((size_t)workers + 1, sizeof *t->lanes);
}

/* A line between the header and the events: another top-level member
 * ("displayTimeUnit":"ns",) or the start of the events; true for the latter. */
static bool parse_member_line(ctx_t *c, const char *s, size_t n, bool nl) {
  sc_t sc = {s, s + n, s, NULL, NULL};
  str_t k;
  if (!sc_string(&sc, &k, SLOT_TMP) || !expect(&sc, ':', "expected ':'"))
    scan_error(c, &sc, nl, "header");
  if (IS(k, "traceEvents")) {
    if (!expect(&sc, '[', "expected '[' after \"traceEvents\":")) scan_error(c, &sc, nl, "header");
    ws(&sc);
    if (sc.p != sc.e) wt_die_line(c->t->path, c->r->line, "malformed header: text after \"traceEvents\":[");
    if (!nl) wt_die_line(c->t->path, c->r->line, "truncated (no events and no final \"]}\" line)");
    return true;
  }
  if (!sc_skip(&sc, 1) || !expect(&sc, ',', "expected ','")) scan_error(c, &sc, nl, "header");
  ws(&sc);
  if (sc.p != sc.e) wt_die_line(c->t->path, c->r->line, "malformed header: text after a member");
  return false;
}

void wt_read(wt_trace *t, const char *path, bool keep_marks) {
  t->path = path;
  lines_t r = {0};
  r.path = path;
  if (strcmp(path, "-") == 0) {
    r.fd = 0;
  } else {
    r.fd = open(path, O_RDONLY);
    if (r.fd < 0) wt_die("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(r.fd, &st) == 0 && S_ISDIR(st.st_mode)) wt_die("%s: is a directory", path);
  }
  const char *nf = getenv("WEFT_TRACE_NO_FAST"); /* for the tests: the general scanner only */
  use_fast = !(nf && *nf && strcmp(nf, "0") != 0);
#ifdef POSIX_FADV_SEQUENTIAL
  posix_fadvise(r.fd, 0, 0, POSIX_FADV_SEQUENTIAL); /* a hint; fails harmlessly on a pipe */
#endif
  r.cap = READ_CHUNK;
  r.buf = wt_xmalloc(r.cap);
  ctx_t c = {t, &r, keep_marks, 0};
  const char *s;
  size_t n;
  bool nl;

  if (!next_line(&r, &s, &n, &nl)) wt_die("%s: empty file, not a weft trace", path);
  parse_header(&c, s, n, nl);

  for (;;) {
    if (!next_line(&r, &s, &n, &nl))
      wt_die_line(path, r.line + 1, "truncated (no \"traceEvents\" line)");
    if (blank(s, n)) continue;
    if (parse_member_line(&c, s, n, nl)) break;
  }

  bool need_comma = false, trailing_comma = false, any = false;
  ev_t ev;
  for (;;) {
    if (!next_line(&r, &s, &n, &nl))
      wt_die_line(path, r.line + 1, "truncated (no final \"]}\" line)");
    sc_t sc = {s, s + n, s, NULL, NULL};
    ws(&sc);
    if (sc.p == sc.e) continue;
    if (*sc.p == ']') {
      sc.p++;
      ws(&sc);
      if (sc.p == sc.e && !nl) wt_die_line(path, r.line, "truncated (the final line is \"]\", not \"]}\")");
      if (sc.p == sc.e || *sc.p != '}') wt_die_line(path, r.line, "malformed final line: expected \"]}\"");
      sc.p++;
      ws(&sc);
      if (sc.p != sc.e) wt_die_line(path, r.line, "text after the final \"]}\"");
      if (trailing_comma) wt_die_line(path, r.line, "',' after the last event");
      break;
    }
    if (*sc.p == ',') {
      if (!need_comma) wt_die_line(path, r.line, "malformed event: unexpected ','");
      sc.p++;
      need_comma = false;
    } else if (need_comma) {
      wt_die_line(path, r.line, "malformed event: no ',' between this event and the one before");
    }
    const char *q = use_fast ? fast_event(sc.p, sc.e, &ev) : NULL;
    if (q)
      sc.p = q;
    else if (!parse_event(&sc, &ev))
      scan_error(&c, &sc, nl, "event");
    ws(&sc);
    trailing_comma = false;
    if (sc.p < sc.e && *sc.p == ',') {
      sc.p++;
      trailing_comma = true;
      ws(&sc);
    } else {
      need_comma = true;
    }
    if (sc.p != sc.e) wt_die_line(path, r.line, "malformed event: text after the event");
    any = true;
    add_event(&c, &ev, r.line);
  }
  (void)any;
  /* after "]}": only whitespace */
  while (next_line(&r, &s, &n, &nl))
    if (!blank(s, n)) wt_die_line(path, r.line, "text after the final \"]}\"");
  free(r.buf);
  if (r.fd != 0) close(r.fd);
  for (int i = 0; i < NSLOTS; i++) {
    free(scratch[i]);
    scratch[i] = NULL;
    scratch_cap[i] = 0;
  }
}

void wt_trace_init(wt_trace *t) {
  memset(t, 0, sizeof *t);
  t->complete = true;
  wt_map_init(&t->task_map, 1024);
  wt_map_init(&t->wake_map, 1024);
  wt_strtab_init(&t->names);
}

void wt_trace_free(wt_trace *t) {
  if (t->lanes)
    for (int i = 0; i <= t->workers; i++) free(t->lanes[i].name);
  free(t->lanes);
  free(t->tasks);
  free(t->slices);
  free(t->marks);
  free(t->wakes);
  free(t->joins);
  wt_map_free(&t->task_map);
  for (int i = 0; i <= WT_DIRECT_HI; i++) free(t->direct[i]);
  wt_map_free(&t->wake_map);
  wt_strtab_free(&t->names);
  memset(t, 0, sizeof *t);
}
