/* weft-trace (tools/weft-trace), black-box: the program is run on traces
 * written here by hand, following docs/trace-format.md, and on traces from
 * weft-trace-gen (a simulated work-stealing run that reports the work and
 * span it had); its JSON summary, SVG, errors and exit statuses are checked.
 *
 *   chain        n tasks, each spawning the next as its last act and
 *                awaiting it: work = span, parallelism 1
 *   independent  a root spawning n equal children and joining them:
 *                parallelism close to n; busy time, steals taken and given
 *   join         an await that returned at once (a join instant inside a
 *                slice): the path goes through the joined task; without
 *                the instant the span would be short by the joined path
 *   latency      known spawn -> run and wake -> resume delays: nearest-rank
 *                p50/p90/p99/max; run-length percentiles
 *   generated    weft-trace-gen's work and span, exactly
 *   svg          well-formed XML (python3), one lane per worker, a size
 *                bounded by width x lanes however many events
 *   errors       missing file, not a trace, truncations, malformed lines,
 *                usage: one line on stderr naming file and line, status 2
 *   fuzz         a valid trace truncated at many offsets and with bytes
 *                changed at seeded random places: status 0, or 2 with one
 *                line on stderr; never a signal. WEFT_FUZZ_SEED=N changes
 *                the seed, WEFT_FUZZ_CASES=N the number of cases per test
 *                (default 400, 100 in sanitizer builds); a failing input
 *                is kept and its path and seed printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#ifndef WEFT_TRACE_TOOL
#error "WEFT_TRACE_TOOL: the path of weft-trace"
#endif
#ifndef WEFT_TRACE_GEN
#error "WEFT_TRACE_GEN: the path of weft-trace-gen"
#endif
#ifndef WEFT_PYTHON3
#define WEFT_PYTHON3 ""
#endif

/* ---- scratch directory, files, running the tool --------------------------------- */

static char dir[256];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/weft-trace-test.XXXXXX");
  cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void remove_dir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) { /* not worth failing a test for */
  }
}

TestSuite(trace_tool, .init = make_dir, .fini = remove_dir);

/* A path in the scratch directory: short-lived (a ring of buffers). A path
 * kept across other calls goes into a local with PATH(). */
static const char *path_in(const char *name) {
  static char bufs[8][320];
  static int k;
  char *b = bufs[k++ % 8];
  snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
  return b;
}
#define PATH(var, name)                                                                    \
  char var[320];                                                                           \
  snprintf(var, sizeof var, "%s/%s", dir, name)

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s: %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  char *s = malloc(cap + 1);
  size_t k;
  while ((k = fread(s + n, 1, cap - n, f)) > 0) {
    n += k;
    if (n == cap) s = realloc(s, (cap *= 2) + 1);
  }
  fclose(f);
  s[n] = 0;
  if (len) *len = n;
  return s;
}

static void spit(const char *path, const char *s, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "%s: %s", path, strerror(errno));
  cr_assert_eq(fwrite(s, 1, n, f), n);
  cr_assert_eq(fclose(f), 0);
}

/* Runs argv (NULL-terminated) with stdout and stderr into files; returns the
 * wait status. The child gets 120 s before SIGALRM ends it (a hang shows as
 * a signal). */
static int run_env(const char *out, const char *err, const char *const *argv, const char *env) {
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
  if (pid == 0) {
    if (env) putenv((char *)env);
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) _exit(126);
    close(o);
    close(e);
    alarm(120);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0) cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
  return st;
}

static int run(const char *out, const char *err, const char *const *argv) { return run_env(out, err, argv, NULL); }

/* weft-trace with the given arguments (up to the first NULL); stdout and
 * stderr in dir/out, dir/err. */
static int tool_argv(const char *const *argv) { return run(path_in("out"), path_in("err"), argv); }
#define tool(...) tool_argv((const char *const[]){WEFT_TRACE_TOOL, __VA_ARGS__, NULL})

static char *summary_json(const char *trace) {
  int st = tool("summary", "--json", trace, NULL, NULL);
  char *err = slurp(path_in("err"), NULL);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "weft-trace summary --json %s: status %#x, stderr: %s",
            trace, st, err);
  free(err);
  return slurp(path_in("out"), NULL);
}

/* The number after "key": (searched from `from`, or after the object
 * named `obj` when given). */
static double jnum(const char *json, const char *obj, const char *key) {
  const char *p = json;
  char pat[96];
  if (obj) {
    snprintf(pat, sizeof pat, "\"%s\":", obj);
    p = strstr(p, pat);
    cr_assert_not_null(p, "no %s in the JSON:\n%s", pat, json);
  }
  snprintf(pat, sizeof pat, "\"%s\":", key);
  p = strstr(p, pat);
  cr_assert_not_null(p, "no %s in the JSON:\n%s", pat, json);
  char *end;
  double v = strtod(p + strlen(pat), &end);
  cr_assert_neq(end, p + strlen(pat), "%s is not a number", key);
  return v;
}

/* The number after "key": in the lanes entry of tid. */
static double lane_num(const char *json, int tid, const char *key) {
  char pat[32];
  snprintf(pat, sizeof pat, "{\"tid\": %d,", tid);
  const char *p = strstr(json, pat);
  cr_assert_not_null(p, "no lane %d in the JSON:\n%s", tid, json);
  const char *e = strchr(p, '}');
  double v = jnum(p, NULL, key);
  cr_assert(strstr(p, key) < e, "lane %d has no %s", tid, key);
  return v;
}

/* ---- writing traces ------------------------------------------------------------------- */

typedef struct {
  FILE *f;
  int n;
} tw_t;

static void tw_open(tw_t *w, const char *path, int workers) {
  w->f = fopen(path, "w");
  cr_assert_not_null(w->f);
  w->n = 0;
  fprintf(w->f,
          "{\"otherData\":{\"weft_trace\":1,\"workers\":%d,\"clock\":\"monotonic_ns\",\"t0_ns\":1000,"
          "\"dropped\":0,\"complete\":true},\n\"displayTimeUnit\":\"ns\",\n\"traceEvents\":[\n",
          workers);
  fputs("{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":\"weft\"}}", w->f);
  fputs(",\n{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"thread_name\",\"args\":{\"name\":\"main\"}}", w->f);
  for (int i = 0; i < workers; i++)
    fprintf(w->f, ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"name\":\"thread_name\",\"args\":{\"name\":\"weft-w%d\"}}",
            i + 1, i);
  w->n = 1;
}

static void tw_close(tw_t *w) {
  fputs("\n]}\n", w->f);
  cr_assert_eq(fclose(w->f), 0);
}

/* ns as the format's microseconds with 3 decimals */
static const char *us(int64_t ns) {
  static char b[8][32];
  static int k;
  char *s = b[k++ % 8];
  snprintf(s, 32, "%lld.%03d", (long long)(ns / 1000), (int)(ns % 1000));
  return s;
}

__attribute__((format(printf, 2, 3))) static void ev(tw_t *w, const char *fmt, ...) {
  va_list ap;
  fputs(w->n++ ? ",\n" : "", w->f);
  va_start(ap, fmt);
  vfprintf(w->f, fmt, ap);
  va_end(ap);
}

static void slice(tw_t *w, int tid, int64_t ts, int64_t dur, long task, const char *end, long awaits,
                  int depth) {
  char aw[48] = "";
  if (awaits) snprintf(aw, sizeof aw, ",\"awaits\":%ld", awaits);
  ev(w,
     "{\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%s,\"dur\":%s,\"cat\":\"run\",\"name\":\"task %ld\","
     "\"args\":{\"task\":%ld,\"end\":\"%s\"%s,\"depth\":%d}}",
     tid, us(ts), us(dur), task, task, end, aw, depth);
}

static void spawn(tw_t *w, int tid, int64_t ts, long task, long parent, int depth) {
  ev(w,
     "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%d,\"ts\":%s,\"cat\":\"spawn\",\"name\":\"spawn\","
     "\"args\":{\"task\":%ld,\"parent\":%ld,\"depth\":%d}}",
     tid, us(ts), task, parent, depth);
}

static void flow(tw_t *w, char ph, const char *name, int tid, int64_t ts, long long id) {
  ev(w, "{\"ph\":\"%c\",\"pid\":1,\"tid\":%d,\"ts\":%s,\"cat\":\"flow\",\"name\":\"%s\",\"id\":%lld,\"bp\":\"e\"}",
     ph, tid, us(ts), name, id);
}

static long long wake_ids = 1000000000000LL;

static void wake(tw_t *w, int tid, int64_t ts, long task, int rtid, int64_t resume) {
  ev(w, "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%d,\"ts\":%s,\"cat\":\"wake\",\"name\":\"wake\",\"args\":{\"task\":%ld}}",
     tid, us(ts), task);
  long long id = wake_ids++;
  flow(w, 's', "wake", tid, ts, id);
  flow(w, 'f', "wake", rtid, resume, id);
}

static void complete(tw_t *w, int tid, int64_t ts, long task) {
  ev(w, "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%d,\"ts\":%s,\"cat\":\"complete\",\"name\":\"complete\",\"args\":{\"task\":%ld,\"err\":0}}",
     tid, us(ts), task);
}

/* ---- chain: each task spawns the next as its last act and awaits it ---------------------- */

enum { CHAIN_N = 40, CH_A = 1000, CH_B = 500, CH_LEAF = 3000, CH_GAP = 100, CH_RESUME = 50 };

/* Task k runs A on tid, spawns k+1 at A's end, awaits it; k+1 starts on the
 * other worker CH_GAP later; when it is done it wakes k, which runs B. Odd
 * tasks run their child inline instead (same worker, no gap, no wake).
 * Returns the end of task k. */
static int64_t chain(tw_t *w, int k, int64_t t, int tid) {
  if (k == CHAIN_N) {
    slice(w, tid, t, CH_LEAF, k, "done", 0, k - 1);
    complete(w, tid, t + CH_LEAF, k);
    return t + CH_LEAF;
  }
  int64_t a_end = t + CH_A;
  spawn(w, tid, a_end, k + 1, k, k);
  flow(w, 's', "spawn", tid, a_end, k + 1);
  bool inl = k % 2 == 1;
  int ctid = inl ? tid : 3 - tid;
  int64_t cstart = inl ? a_end : a_end + CH_GAP;
  slice(w, tid, t, CH_A, k, inl ? "inline" : "await", k + 1, k - 1);
  flow(w, 'f', "spawn", ctid, cstart, k + 1);
  int64_t cend = chain(w, k + 1, cstart, ctid);
  int64_t b = cend;
  if (!inl) {
    b = cend + CH_RESUME;
    wake(w, ctid, cend, k, tid, b);
  }
  slice(w, tid, b, CH_B, k, "done", 0, k - 1);
  complete(w, tid, b + CH_B, k);
  return b + CH_B;
}

static void write_chain(const char *path) {
  tw_t w;
  tw_open(&w, path, 2);
  spawn(&w, 0, 0, 1, 0, 0);
  flow(&w, 's', "spawn", 0, 0, 1);
  flow(&w, 'f', "spawn", 1, 200, 1);
  chain(&w, 1, 200, 1);
  tw_close(&w);
}

Test(trace_tool, chain_has_parallelism_one) {
  PATH(p, "chain.json");
  write_chain(p);
  char *j = summary_json(p);
  int64_t work = (int64_t)(CHAIN_N - 1) * (CH_A + CH_B) + CH_LEAF;
  cr_expect_eq((int64_t)jnum(j, NULL, "work_ns"), work, "work %.0f, expected %lld\n%s",
               jnum(j, NULL, "work_ns"), (long long)work, j);
  cr_expect_eq((int64_t)jnum(j, NULL, "span_ns"), work, "span %.0f, expected %lld (a chain)\n%s",
               jnum(j, NULL, "span_ns"), (long long)work, j);
  double par = jnum(j, NULL, "parallelism");
  cr_expect(par > 0.999 && par < 1.001, "parallelism %f, expected 1", par);
  cr_expect_eq((int)jnum(j, "spawn_tree", "max_depth"), CHAIN_N - 1);
  cr_expect_eq((int)jnum(j, "spawn_tree", "tasks"), CHAIN_N);
  cr_expect_eq((int)jnum(j, "spawn_tree", "roots"), 1);
  /* a chain cannot be sped up */
  cr_expect(jnum(j, NULL, "bound") < 1.001, "speedup bound above 1:\n%s", j);
  /* latencies: the root 200 ns after its spawn, every awaited (even) child
   * CH_GAP after, inline (odd) children at once; resumes CH_RESUME after
   * their wake */
  cr_expect_eq((int)jnum(j, "spawn_to_first_run", "n"), CHAIN_N);
  cr_expect_eq((int)jnum(j, "spawn_to_first_run", "max_ns"), 200);
  int awaited = 0; /* links that suspend (even k), the others run inline */
  for (int k = 1; k < CHAIN_N; k++) awaited += k % 2 == 0;
  cr_expect_eq((int)jnum(j, "wake_to_resume", "n"), awaited);
  cr_expect_eq((int)jnum(j, "wake_to_resume", "p50_ns"), CH_RESUME);
  cr_expect_eq((int)jnum(j, "wake_to_resume", "max_ns"), CH_RESUME);
  free(j);
}

/* ---- independent: a root spawns n equal children and joins them ---------------------- */

enum { IND_N = 8, IND_D = 100000, IND_STEP = 10 };

static void write_independent(const char *path) {
  tw_t w;
  tw_open(&w, path, IND_N + 1);
  /* the root (task 1, never seen spawned: a root) on worker 0 spawns child
   * i at (i+1)*STEP; child i is stolen by worker i+1 and runs D */
  int64_t r = IND_N * IND_STEP;
  int64_t last_end = 0;
  for (int i = 0; i < IND_N; i++) {
    int64_t s = (int64_t)(i + 1) * IND_STEP, start = s + 100;
    long c = 100 + i;
    spawn(&w, 1, s, c, 1, 1);
    flow(&w, 's', "spawn", 1, s, c);
    ev(&w, "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%d,\"ts\":%s,\"cat\":\"steal\",\"name\":\"steal\","
           "\"args\":{\"victim\":0,\"count\":1}}",
       i + 2, us(start - 50));
    flow(&w, 'f', "spawn", i + 2, start, c);
    slice(&w, i + 2, start, IND_D, c, "done", 0, 1);
    complete(&w, i + 2, start + IND_D, c);
    last_end = start + IND_D;
  }
  /* the root awaits the last child (which ends last), then finds the others
   * done and ends */
  slice(&w, 1, 0, r, 1, "await", 100 + IND_N - 1, 0);
  wake(&w, IND_N + 1, last_end, 1, 1, last_end + 50);
  slice(&w, 1, last_end + 50, r, 1, "done", 0, 0);
  complete(&w, 1, last_end + 50 + r, 1);
  tw_close(&w);
}

Test(trace_tool, independent_children_have_parallelism_n) {
  PATH(p, "independent.json");
  write_independent(p);
  char *j = summary_json(p);
  int64_t r = IND_N * IND_STEP;
  int64_t work = (int64_t)IND_N * IND_D + 2 * r;
  int64_t span = r + IND_D + r; /* last spawn at r, then D, then the root's tail */
  cr_expect_eq((int64_t)jnum(j, NULL, "work_ns"), work, "work\n%s", j);
  cr_expect_eq((int64_t)jnum(j, NULL, "span_ns"), span, "span\n%s", j);
  double par = jnum(j, NULL, "parallelism");
  cr_expect(par > IND_N * 0.98 && par < IND_N * 1.0001, "parallelism %f, expected about %d", par, IND_N);
  cr_expect_eq((int)jnum(j, NULL, "joins"), 1);
  /* every child's worker: busy D, one steal taken; worker 0 gave them all */
  for (int i = 0; i < IND_N; i++) {
    cr_expect_eq((int64_t)lane_num(j, i + 2, "busy_ns"), IND_D);
    cr_expect_eq((int)lane_num(j, i + 2, "steals_taken"), 1);
    cr_expect_eq((int)lane_num(j, i + 2, "runs"), 1);
  }
  cr_expect_eq((int)lane_num(j, 1, "steals_given"), IND_N);
  cr_expect_eq((int64_t)lane_num(j, 1, "busy_ns"), 2 * r);
  cr_expect_null(strstr(j, "{\"tid\": 0,"), "no events on tid 0, yet a main lane:\n%s", j);
  /* speedups: bound min(P, par), greedy work/(work/P + span) */
  double greedy2 = (double)work / ((double)work / 2 + (double)span);
  const char *s2 = strstr(j, "{\"workers\": 2,");
  cr_assert_not_null(s2);
  cr_expect(jnum(s2, NULL, "bound") > 1.9999 && jnum(s2, NULL, "bound") < 2.0001);
  cr_expect(jnum(s2, NULL, "greedy") > greedy2 - 1e-4 && jnum(s2, NULL, "greedy") < greedy2 + 1e-4);
  const char *s64 = strstr(j, "{\"workers\": 64,");
  cr_assert_not_null(s64);
  cr_expect(jnum(s64, NULL, "bound") > par - 1e-4 && jnum(s64, NULL, "bound") < par + 1e-4);
  free(j);
}

/* ---- join: an await that returned at once ------------------------------------------------ */

enum { JN_SPAWN = 10, JN_A = 20, JN_D = 100000, JN_PRE = 10, JN_TAIL = 50000 };

/* The root (task 1, worker 0) spawns task 2 at JN_SPAWN, suspends at JN_A
 * on something that is no task (no "awaits"); task 2 is stolen by worker 1
 * and runs JN_D; the root is woken after it, runs JN_PRE, awaits task 2 —
 * finished: a join instant, no switch — and runs JN_TAIL more in the same
 * slice. Also a join of the root on itself and one outside any slice of
 * its task's: both ignored or clamped, never a crash. */
static void write_join(const char *path) {
  tw_t w;
  tw_open(&w, path, 2);
  spawn(&w, 1, JN_SPAWN, 2, 1, 1);
  flow(&w, 's', "spawn", 1, JN_SPAWN, 2);
  slice(&w, 1, 0, JN_A, 1, "await", 0, 0);
  int64_t c0 = JN_SPAWN + 100, c1 = c0 + JN_D;
  flow(&w, 'f', "spawn", 2, c0, 2);
  slice(&w, 2, c0, JN_D, 2, "done", 0, 1);
  complete(&w, 2, c1, 2);
  int64_t b = c1 + 50;
  wake(&w, 2, c1, 1, 1, b);
  ev(&w, "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":1,\"ts\":%s,\"cat\":\"join\",\"name\":\"join\","
         "\"args\":{\"task\":1,\"awaits\":2}}",
     us(b + JN_PRE));
  ev(&w, "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":1,\"ts\":%s,\"cat\":\"join\",\"name\":\"join\","
         "\"args\":{\"task\":1,\"awaits\":1}}",
     us(b + JN_PRE + 1));
  slice(&w, 1, b, JN_PRE + JN_TAIL, 1, "done", 0, 0);
  complete(&w, 1, b + JN_PRE + JN_TAIL, 1);
  tw_close(&w);
}

Test(trace_tool, join_instant_puts_the_joined_task_on_the_path) {
  PATH(p, "join.json");
  write_join(p);
  char *j = summary_json(p);
  int64_t work = JN_A + JN_D + JN_PRE + JN_TAIL;
  /* spawn at JN_SPAWN, the child's JN_D, then the root's tail after the
   * join; without the join: max(JN_SPAWN + JN_D, JN_A + JN_PRE + JN_TAIL) */
  int64_t span = JN_SPAWN + JN_D + JN_TAIL;
  cr_expect_eq((int64_t)jnum(j, NULL, "work_ns"), work, "work\n%s", j);
  cr_expect_eq((int64_t)jnum(j, NULL, "span_ns"), span, "span\n%s", j);
  cr_expect_eq((int)jnum(j, NULL, "joins"), 1, "joins\n%s", j);
  cr_expect_eq((int)jnum(j, NULL, "unresolved_joins"), 0, "unresolved\n%s", j);
  cr_expect_eq((int64_t)lane_num(j, 1, "busy_ns"), JN_A + JN_PRE + JN_TAIL, "a join does not end a run");
  cr_expect_eq((int)lane_num(j, 1, "runs"), 2);
  cr_expect_eq((int)jnum(j, NULL, "ignored_events"), 0, "a join is a known event\n%s", j);
  /* the general scanner reads the join as the fast path does */
  PATH(g, "join-general.out");
  const char *cmd[] = {WEFT_TRACE_TOOL, "summary", "--json", p, NULL};
  int st = run_env(g, path_in("err"), cmd, "WEFT_TRACE_NO_FAST=1");
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  char *k = slurp(g, NULL);
  cr_expect_str_eq(k, j, "the general scanner reads the join differently");
  free(k);
  free(j);
}

/* ---- latency: known distributions ---------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* nearest rank over a sorted array */
static int64_t rank_of(const int64_t *s, size_t n, int p) {
  size_t r = ((size_t)p * n + 99) / 100;
  return s[r ? r - 1 : 0];
}

Test(trace_tool, latency_percentiles) {
  enum { N = 100 };
  PATH(p, "latency.json");
  tw_t w;
  tw_open(&w, p, 2);
  int64_t runs[2 * N];
  /* task i: spawned from outside at T, first run (i+1) us later on worker
   * i % 2; it awaits something that is not a task, is woken from outside,
   * and resumes (i+1)*10 ns after the wake. In shuffled order. */
  for (int k = 0; k < N; k++) {
    int i = (k * 37) % N;
    int64_t T = (int64_t)k * 1000000;
    int tid = 1 + i % 2;
    long task = 1 + i;
    int64_t s1 = T + (int64_t)(i + 1) * 1000, d1 = 3 * (i + 1), wk = s1 + d1 + 500;
    int64_t s2 = wk + (int64_t)(i + 1) * 10, d2 = 7 * (i + 1) + 1;
    spawn(&w, 0, T, task, 0, 0);
    flow(&w, 's', "spawn", 0, T, task);
    flow(&w, 'f', "spawn", tid, s1, task);
    slice(&w, tid, s1, d1, task, "await", 0, 0);
    wake(&w, 0, wk, task, tid, s2);
    slice(&w, tid, s2, d2, task, "done", 0, 0);
    runs[2 * k] = d1;
    runs[2 * k + 1] = d2;
  }
  tw_close(&w);
  char *j = summary_json(p);
  cr_expect_eq((int)jnum(j, "spawn_to_first_run", "n"), N);
  cr_expect_eq((int64_t)jnum(j, "spawn_to_first_run", "p50_ns"), 50000);
  cr_expect_eq((int64_t)jnum(j, "spawn_to_first_run", "p90_ns"), 90000);
  cr_expect_eq((int64_t)jnum(j, "spawn_to_first_run", "p99_ns"), 99000);
  cr_expect_eq((int64_t)jnum(j, "spawn_to_first_run", "max_ns"), 100000);
  cr_expect_eq((int)jnum(j, "wake_to_resume", "n"), N);
  cr_expect_eq((int64_t)jnum(j, "wake_to_resume", "p50_ns"), 500);
  cr_expect_eq((int64_t)jnum(j, "wake_to_resume", "p90_ns"), 900);
  cr_expect_eq((int64_t)jnum(j, "wake_to_resume", "p99_ns"), 990);
  cr_expect_eq((int64_t)jnum(j, "wake_to_resume", "max_ns"), 1000);
  qsort(runs, 2 * N, sizeof runs[0], cmp_i64);
  const char *rl = strstr(j, "\"run_length\":");
  cr_assert_not_null(rl);
  cr_expect_eq((int)jnum(rl, NULL, "n"), 2 * N);
  cr_expect_eq((int64_t)jnum(rl, NULL, "p50_ns"), rank_of(runs, 2 * N, 50));
  cr_expect_eq((int64_t)jnum(rl, NULL, "p90_ns"), rank_of(runs, 2 * N, 90));
  cr_expect_eq((int64_t)jnum(rl, NULL, "p99_ns"), rank_of(runs, 2 * N, 99));
  cr_expect_eq((int64_t)jnum(rl, NULL, "max_ns"), runs[2 * N - 1]);
  cr_expect_eq((int)jnum(j, "spawn_tree", "roots"), N);
  cr_expect_eq((int)jnum(j, "spawn_tree", "max_depth"), 0);
  /* the table form prints too */
  int st = tool("summary", p, NULL, NULL, NULL);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  char *table = slurp(path_in("out"), NULL);
  cr_expect_not_null(strstr(table, "spawn -> first run"), "%s", table);
  cr_expect_not_null(strstr(table, "parallelism"), "%s", table);
  free(table);
  free(j);
}

/* A task may first appear in any kind of event: a flow end before its
 * spawn, an awaits before its own runs (the reader once kept a stale
 * pointer when a flow created the first task). A complete alone does not
 * make a task. */
Test(trace_tool, tasks_first_seen_in_any_event) {
  PATH(p, "order.json");
  tw_t w;
  tw_open(&w, p, 1);
  flow(&w, 'f', "spawn", 1, 100, 7);
  complete(&w, 1, 50, 8);
  slice(&w, 1, 100, 1000, 7, "await", 9, 1);
  flow(&w, 's', "spawn", 0, 10, 7);
  spawn(&w, 0, 10, 7, 0, 0);
  slice(&w, 1, 2000, 500, 9, "done", 0, 1);
  slice(&w, 1, 3000, 100, 7, "done", 0, 1);
  tw_close(&w);
  char *j = summary_json(p);
  cr_expect_eq((int64_t)jnum(j, NULL, "work_ns"), 1600);
  cr_expect_eq((int)jnum(j, "spawn_tree", "tasks"), 2);
  cr_expect_eq((int64_t)jnum(j, "spawn_to_first_run", "max_ns"), 90);
  free(j);
}

/* ---- generated traces: work and span exactly as the simulation had them ------------------- */

static void generate(const char *path, int tasks, int workers, int seed, long long *work, long long *span) {
  char a[3][24];
  snprintf(a[0], sizeof a[0], "%d", tasks);
  snprintf(a[1], sizeof a[1], "%d", workers);
  snprintf(a[2], sizeof a[2], "%d", seed);
  const char *argv[] = {WEFT_TRACE_GEN, "--tasks", a[0], "--workers", a[1], "--seed", a[2], "-o", path, NULL};
  int st = run(path_in("gen.out"), path_in("gen.err"), argv);
  char *err = slurp(path_in("gen.err"), NULL);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "weft-trace-gen: status %#x: %s", st, err);
  const char *w = strstr(err, "work_ns="), *s = strstr(err, " span_ns=");
  cr_assert(w && s, "weft-trace-gen said: %s", err);
  if (work) *work = atoll(w + 8);
  if (span) *span = atoll(s + 9);
  free(err);
}

Test(trace_tool, generated_work_and_span) {
  const int shapes[][3] = {{500, 1, 1}, {2000, 3, 2}, {3000, 8, 3}, {1, 2, 4}, {5000, 16, 5}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    PATH(p, "gen.json");
    long long work, span;
    generate(p, shapes[i][0], shapes[i][1], shapes[i][2], &work, &span);
    char *j = summary_json(p);
    cr_expect_eq((long long)jnum(j, NULL, "work_ns"), work, "tasks %d workers %d seed %d: work", shapes[i][0],
                 shapes[i][1], shapes[i][2]);
    cr_expect_eq((long long)jnum(j, NULL, "span_ns"), span, "tasks %d workers %d seed %d: span %.0f, expected %lld",
                 shapes[i][0], shapes[i][1], shapes[i][2], jnum(j, NULL, "span_ns"), span);
    cr_expect_eq((int)jnum(j, NULL, "unresolved_joins"), 0);
    cr_expect_eq((int)jnum(j, "spawn_tree", "tasks"), shapes[i][0]);
    free(j);
  }
}

/* The reader takes lines in the writer's exact layout by a fast path and
 * anything else by a general scanner: both must read the same. */
Test(trace_tool, fast_and_general_readers_agree) {
  PATH(p, "gen.json");
  PATH(a, "fast.out");
  PATH(b, "general.out");
  generate(p, 3000, 4, 9, NULL, NULL);
  const char *cmds[][6] = {{WEFT_TRACE_TOOL, "summary", "--json", p, NULL},
                           {WEFT_TRACE_TOOL, "svg", "--color", "name", p, NULL}};
  for (int i = 0; i < 2; i++) {
    int st = run_env(a, path_in("err"), cmds[i], NULL);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = run_env(b, path_in("err"), cmds[i], "WEFT_TRACE_NO_FAST=1");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    size_t la, lb;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    cr_expect(la == lb && memcmp(x, y, la) == 0, "`weft-trace %s` reads differently with WEFT_TRACE_NO_FAST=1",
              cmds[i][1]);
    free(x);
    free(y);
  }
}

/* ---- svg ------------------------------------------------------------------------------------------ */

static bool have_python(void) {
  return WEFT_PYTHON3[0] && !strstr(WEFT_PYTHON3, "NOTFOUND") && access(WEFT_PYTHON3, X_OK) == 0;
}

static void expect_well_formed(const char *svg) {
  if (!have_python()) return;
  const char *argv[] = {WEFT_PYTHON3, "-c", "import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])", svg,
                        NULL};
  int st = run(path_in("py.out"), path_in("py.err"), argv);
  char *err = slurp(path_in("py.err"), NULL);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s is not well-formed XML: %s", svg, err);
  free(err);
}

/* Lanes in the SVG: count of workers (numeric data-worker), and mains. */
static void count_lanes(const char *svg, int *workers, int *mains, int *max_worker) {
  char *s = slurp(svg, NULL);
  *workers = *mains = 0;
  *max_worker = -1;
  for (const char *p = s; (p = strstr(p, "<g class=\"lane\" data-worker=\"")); p++) {
    const char *v = p + strlen("<g class=\"lane\" data-worker=\"");
    if (!strncmp(v, "main\"", 5)) {
      (*mains)++;
    } else {
      int n = atoi(v);
      (*workers)++;
      if (n > *max_worker) *max_worker = n;
    }
  }
  free(s);
}

Test(trace_tool, svg_one_lane_per_worker) {
  if (!have_python()) cr_log_warn("python3 not found: the SVG is not checked as XML");
  /* hand-written, no events on tid 0: exactly the workers */
  PATH(p, "independent.json");
  PATH(svg, "ind.svg");
  PATH(g, "gen.json");
  write_independent(p);
  int st = tool("svg", p, "-o", svg, NULL);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "svg: status %#x", st);
  expect_well_formed(svg);
  int nw, nm, mx;
  count_lanes(svg, &nw, &nm, &mx);
  cr_expect_eq(nw, IND_N + 1);
  cr_expect_eq(mx, IND_N);
  cr_expect_eq(nm, 0);
  /* generated: the root is spawned from tid 0, so a main lane too; both
   * colourings; names with quotes, backslashes, <, & and UTF-8 */
  generate(g, 3000, 5, 7, NULL, NULL);
  st = tool("svg", "--color", "name", g, "-o");
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "-o without a file is a usage error");
  st = tool("svg", "--color=name", "-o", svg, NULL);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "no TRACE is a usage error");
  const char *argv[] = {WEFT_TRACE_TOOL, "svg", "--color=name", "--width", "900", "-o", svg, g, NULL};
  st = run(path_in("out"), path_in("err"), argv);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "svg --color=name: status %#x", st);
  expect_well_formed(svg);
  count_lanes(svg, &nw, &nm, &mx);
  cr_expect_eq(nw, 5);
  cr_expect_eq(mx, 4);
  cr_expect_eq(nm, 1);
  st = tool("svg", g, "-o", svg, NULL);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  expect_well_formed(svg);
}

Test(trace_tool, svg_size_is_bounded_by_width_and_lanes) {
  /* ~30k and ~300k events on 4 workers: the picture must not grow with
   * them (a few rects per pixel column per lane) */
  size_t sizes[2];
  const int tasks[2] = {5000, 50000};
  for (int i = 0; i < 2; i++) {
    PATH(p, "big.json");
    PATH(svg, "big.svg");
    generate(p, tasks[i], 4, 11, NULL, NULL);
    int st = tool("svg", "--width", "1000", p, "-o", svg);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct stat sb;
    cr_assert_eq(stat(svg, &sb), 0);
    sizes[i] = (size_t)sb.st_size;
    /* 5 lanes x 1000 columns: at most ~2 rects of ~150 bytes each */
    cr_expect_lt(sizes[i], (size_t)5 * 1000 * 2 * 150 + 50000, "%zu bytes for %d tasks", sizes[i], tasks[i]);
    if (i == 1) expect_well_formed(svg);
  }
  cr_expect_lt(sizes[1], sizes[0] * 3, "SVG grew with the events: %zu -> %zu bytes", sizes[0], sizes[1]);
}

/* ---- errors --------------------------------------------------------------------------------------- */

/* Runs `summary path` and expects status 2 and exactly one line on stderr
 * that starts with want (a prefix) and contains has (if given). */
static void expect_error(const char *path, const char *want, const char *has) {
  int st = tool("summary", path, NULL, NULL, NULL);
  char *err = slurp(path_in("err"), NULL);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: status %#x, stderr: %s", path, st, err);
  size_t n = strlen(err);
  cr_expect(n > 0 && err[n - 1] == '\n' && strchr(err, '\n') == err + n - 1,
            "%s: not exactly one line on stderr: [%s]", path, err);
  cr_expect(strncmp(err, want, strlen(want)) == 0, "%s: stderr [%s], expected it to start with [%s]", path, err,
            want);
  if (has) cr_expect_not_null(strstr(err, has), "%s: stderr [%s] does not say [%s]", path, err, has);
  free(err);
}

/* The trace of the chain test as a string, and the number of its lines. */
static char *chain_text(size_t *len, int *lines) {
  PATH(p, "base.json");
  write_chain(p);
  char *s = slurp(p, len);
  *lines = 0;
  for (size_t i = 0; i < *len; i++) *lines += s[i] == '\n';
  return s;
}

/* The offset of the start of line (1-based) in s. */
static size_t line_at(const char *s, int line) {
  size_t o = 0;
  for (int l = 1; l < line; l++) o = (size_t)(strchr(s + o, '\n') - s) + 1;
  return o;
}

Test(trace_tool, errors_name_file_and_line) {
  char want[512];
  expect_error(path_in("missing.json"), "weft-trace: ", "No such file");
  expect_error(dir, "weft-trace: ", "directory");

  PATH(p, "bad.json");
  spit(p, "", 0);
  snprintf(want, sizeof want, "weft-trace: %s: ", p);
  expect_error(p, want, "empty");
  spit(p, "{\"traceEvents\":[\n]}\n", 20);
  snprintf(want, sizeof want, "weft-trace: %s:1: ", p);
  expect_error(p, want, "not a weft trace");
  spit(p, "\x89PNG\r\n\x1a\n\0\0\0", 11);
  expect_error(p, want, "not a weft trace");

  size_t len;
  int lines;
  char *s = chain_text(&len, &lines);
  /* cut at a line's end: no "]}" */
  size_t cut = line_at(s, 30);
  spit(p, s, cut);
  snprintf(want, sizeof want, "weft-trace: %s:30: ", p);
  expect_error(p, want, "truncated");
  /* the last line, "]}", missing */
  spit(p, s, len - 3);
  snprintf(want, sizeof want, "weft-trace: %s:%d: ", p, lines);
  expect_error(p, want, "truncated");
  /* cut in the middle of line 31 */
  spit(p, s, cut + 40);
  snprintf(want, sizeof want, "weft-trace: %s:30: truncated event", p);
  expect_error(p, want, NULL);
  /* a malformed line 25: a key without a value */
  size_t o = line_at(s, 25);
  char *m = malloc(len + 16);
  memcpy(m, s, o);
  size_t k = o + (size_t)(strstr(s + o, "\"ts\":") - (s + o)) + 5;
  memcpy(m + o, s + o, k - o);
  memcpy(m + k, "}", 1); /* {"ph":..,"ts":} */
  size_t e = (size_t)(strchr(s + k, '\n') - s);
  memcpy(m + k + 1, s + e, len - e);
  spit(p, m, k + 1 + len - e);
  snprintf(want, sizeof want, "weft-trace: %s:25: malformed event", p);
  expect_error(p, want, NULL);
  /* a well-formed line missing what the spec says its kind has */
  const char *noend = "{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":1.000,\"dur\":1.000,\"cat\":\"run\",\"name\":\"x\",\"args\":{\"task\":5}},";
  o = line_at(s, 20);
  e = (size_t)(strchr(s + o, '\n') - s);
  memcpy(m, s, o);
  memcpy(m + o, noend, strlen(noend));
  memcpy(m + o + strlen(noend), s + e, len - e);
  spit(p, m, o + strlen(noend) + len - e);
  snprintf(want, sizeof want, "weft-trace: %s:20: ", p);
  expect_error(p, want, "args.end");
  /* a tid beyond the workers */
  const char *tid9 = "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":9,\"ts\":1.000,\"cat\":\"park\",\"name\":\"park\"},";
  memcpy(m + o, tid9, strlen(tid9));
  memcpy(m + o + strlen(tid9), s + e, len - e);
  spit(p, m, o + strlen(tid9) + len - e);
  expect_error(p, want, "tid 9");
  /* text after the end */
  memcpy(m, s, len);
  memcpy(m + len, "{}\n", 3);
  spit(p, m, len + 3);
  snprintf(want, sizeof want, "weft-trace: %s:%d: ", p, lines + 1);
  expect_error(p, want, "after");
  free(m);
  free(s);

  /* usage */
  int st = tool(NULL, NULL, NULL, NULL, NULL);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2);
  char *err = slurp(path_in("err"), NULL);
  cr_expect_not_null(strstr(err, "usage:"), "%s", err);
  free(err);
  st = tool("summary", "--bogus", "x", NULL, NULL);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2);
  st = tool("frobnicate", "x", NULL, NULL, NULL);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2);
  st = tool("svg", "--width", "12", "x", NULL);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2);
  st = tool("svg", "--color", "plaid", "x", NULL);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2);
  st = tool("summary", "a", "b", NULL, NULL);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2);
  st = tool("--help", NULL, NULL, NULL, NULL);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

Test(trace_tool, accepts_any_json_whitespace_and_key_order) {
  size_t len;
  int lines;
  char *s = chain_text(&len, &lines);
  char *ref = summary_json(path_in("base.json"));
  /* spaces and tabs around every ':' and ',' inside event lines, CRLF line
   * ends, an unknown key (with nested values) first in every event */
  char *m = malloc(len * 4 + 64);
  size_t n = 0;
  int line = 1;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '\n') {
      m[n++] = '\r';
      m[n++] = '\n';
      line++;
      continue;
    }
    if (line >= 4 && (c == ':' || (c == ',' && s[i + 1] != '\n'))) {
      m[n++] = ' ';
      m[n++] = c;
      m[n++] = '\t';
      continue;
    }
    if (line >= 4 && c == '{' && i + 1 < len && s[i + 1] == '"' && (i == 0 || s[i - 1] == '\n')) {
      memcpy(m + n, "{ \"extra\" : [1, {\"x\": null}, \"y\"] ,", 35);
      n += 35;
      continue;
    }
    m[n++] = c;
  }
  PATH(p, "spaced.json");
  spit(p, m, n);
  char *j = summary_json(p);
  cr_expect_eq((long long)jnum(j, NULL, "work_ns"), (long long)jnum(ref, NULL, "work_ns"));
  cr_expect_eq((long long)jnum(j, NULL, "span_ns"), (long long)jnum(ref, NULL, "span_ns"));
  cr_expect_eq((long long)jnum(j, "wake_to_resume", "n"), (long long)jnum(ref, "wake_to_resume", "n"));
  free(j);
  free(ref);
  free(m);
  free(s);
}

/* ---- fuzz ----------------------------------------------------------------------------------------- */

static uint64_t rng;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static uint64_t fuzz_seed(void) {
  const char *e = getenv("WEFT_FUZZ_SEED");
  return e && *e ? strtoull(e, NULL, 10) : 20240611;
}

/* Cases per fuzz test: WEFT_FUZZ_CASES, else the build's default (fewer in
 * sanitizer builds, where each run of the tool costs far more). */
#ifndef WEFT_TRACE_FUZZ_CASES
#define WEFT_TRACE_FUZZ_CASES 400
#endif
static int fuzz_cases(void) {
  const char *e = getenv("WEFT_FUZZ_CASES");
  int n = e && *e ? atoi(e) : WEFT_TRACE_FUZZ_CASES;
  return n > 0 ? n : WEFT_TRACE_FUZZ_CASES;
}

/* Runs the tool on data; fails (with the seed and the kept input) unless it
 * exits 0 with nothing on stderr or 2 with one line. */
static void fuzz_one(const char *data, size_t n, uint64_t seed, int iter, const char *what) {
  PATH(p, "fuzz.json");
  PATH(svgout, "fuzz.svg");
  spit(p, data, n);
  const char *cmds[3][4] = {{"summary", p, NULL, NULL},
                            {"summary", "--json", p, NULL},
                            {"svg", p, "-o", NULL}};
  int c = iter % 3;
  const char *argv[] = {WEFT_TRACE_TOOL, cmds[c][0], cmds[c][1], cmds[c][2], c == 2 ? svgout : NULL,
                        NULL};
  int st = run(path_in("fuzz.out"), path_in("fuzz.err"), argv);
  char *err = slurp(path_in("fuzz.err"), NULL);
  size_t el = strlen(err);
  bool one_line = el > 0 && err[el - 1] == '\n' && strchr(err, '\n') == err + el - 1 &&
                  strncmp(err, "weft-trace: ", 12) == 0;
  bool ok = !WIFSIGNALED(st) && WIFEXITED(st) &&
            ((WEXITSTATUS(st) == 0 && el == 0) || (WEXITSTATUS(st) == 2 && one_line));
  if (!ok) {
    char keep[400];
    snprintf(keep, sizeof keep, "/tmp/weft-trace-fuzz-%llu-%d.json", (unsigned long long)seed, iter);
    spit(keep, data, n);
    cr_assert_fail("fuzz seed %llu, case %d (%s), `weft-trace %s %s %s`: %s %d; stderr: [%.600s]; input kept in %s",
            (unsigned long long)seed, iter, what, cmds[c][0], cmds[c][1] ? cmds[c][1] : "",
            cmds[c][2] ? cmds[c][2] : "", WIFSIGNALED(st) ? "signal" : "status",
            WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), err, keep);
  }
  free(err);
}

static char *fuzz_base(size_t *len) {
  PATH(p, "fuzzbase.json");
  generate(p, 25, 3, 3, NULL, NULL);
  return slurp(p, len);
}

Test(trace_tool, fuzz_truncated) {
  uint64_t seed = fuzz_seed();
  rng = seed * 2 + 1;
  size_t len;
  char *s = fuzz_base(&len);
  /* every offset in the first and last few dozen bytes (the header, the
   * last event and "]}"), then seeded ones */
  int n = fuzz_cases(), ends = n / 6 < 64 ? n / 6 : 64, iter = 0;
  for (size_t o = 0; o < (size_t)ends && o < len; o++, iter++) fuzz_one(s, o, seed, iter, "truncated");
  for (size_t o = len > (size_t)ends ? len - (size_t)ends : 0; o < len; o++, iter++)
    fuzz_one(s, o, seed, iter, "truncated");
  while (iter < n) fuzz_one(s, (size_t)(next_rand() % len), seed, iter++, "truncated");
  free(s);
}

Test(trace_tool, fuzz_mutated) {
  static const char alphabet[] = "\"{}[],:\n\\-.0123456789eE+tfnu \t\r\x01\x7f\xff\xc3";
  uint64_t seed = fuzz_seed();
  rng = seed * 2 + 1;
  size_t len;
  char *s = fuzz_base(&len);
  char *m = malloc(len + 64);
  for (int iter = 0, cases = fuzz_cases(); iter < cases; iter++) {
    memcpy(m, s, len);
    size_t n = len;
    int edits = 1 + (int)(next_rand() % 3);
    for (int e = 0; e < edits; e++) {
      size_t at = (size_t)(next_rand() % n);
      switch (next_rand() % 5) {
      case 0: /* flip a bit */
        m[at] ^= (char)(1u << (next_rand() % 8));
        break;
      case 1: /* replace by a byte that matters to JSON */
      case 2:
        m[at] = alphabet[next_rand() % (sizeof alphabet - 1)];
        break;
      case 3: /* delete */
        memmove(m + at, m + at + 1, n - at - 1);
        n--;
        break;
      case 4: /* insert */
        memmove(m + at + 1, m + at, n - at);
        m[at] = alphabet[next_rand() % (sizeof alphabet - 1)];
        n++;
        break;
      }
    }
    fuzz_one(m, n, seed, iter, "mutated");
  }
  free(m);
  free(s);
}
