/* weft-trace: the timeline as SVG.
 *
 * One lane per worker (and one for tid 0 when it has events), each a
 * <g class="lane" data-worker="N" data-tid="T"> ("main" for tid 0). A run
 * at least a pixel wide that overlaps no other drawn run is its own <rect>
 * (with a <title>); runs narrower than that are summed per pixel column:
 * one bar per column, coloured by the key (depth or name) with the most
 * time in that column, as high as the fraction of the column's time that
 * was busy. Equal neighbouring bars are merged. So the picture holds at
 * most about two rects per pixel column per lane, however many events. */
#include <stdlib.h>
#include <string.h>

#include "wt.h"

static const char *const palette[] = {
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#1f77b4", "#2ca02c", "#d62728",
    "#9467bd", "#17becf", "#8c564b", "#7f7f7f",
};
/* Depth is ordinal: a sequential ramp (viridis), over up to 16 buckets of
 * depths. */
static const char *const ramp[] = {
    "#440154", "#481a6c", "#472f7d", "#414487", "#39568c", "#31688e",
    "#2a788e", "#23888e", "#1f988b", "#22a884", "#35b779", "#54c568",
    "#7ad151", "#a5db36", "#d2e21b", "#fde725",
};
#define NCOL 16 /* names: keys 0..14 are their own colour, 15: the rest */

#define ML 120.0 /* left margin: lane labels */
#define MR 24.0
#define LANE_H 22.0
#define LANE_GAP 6.0
#define TOP 48.0
#define QUANT 8 /* bar heights in eighths of a lane */

typedef struct {
  const wt_trace *t;
  int32_t *key_of_name; /* name index -> colour key (name mode) */
  enum wt_color_by mode;
  int nbuckets; /* depth mode: keys are buckets of depths 0..max */
} keys_t;

static int depth_bucket(const keys_t *k, int64_t d) {
  int64_t levels = (int64_t)k->t->max_depth + 1;
  if (d < 0) d = 0;
  if (d >= levels) d = levels - 1;
  return (int)(d * k->nbuckets / levels);
}

/* The depths in bucket b: [lo, hi]. */
static void bucket_range(const keys_t *k, int b, int64_t *lo, int64_t *hi) {
  int64_t levels = (int64_t)k->t->max_depth + 1, n = k->nbuckets;
  *lo = (b * levels + n - 1) / n;
  *hi = ((b + 1) * levels + n - 1) / n - 1;
}

static int key_of(const keys_t *k, const wt_slice *s) {
  if (k->mode == WT_COLOR_NAME) return k->key_of_name[s->name];
  return depth_bucket(k, s->depth >= 0 ? s->depth : k->t->tasks[s->task].depth);
}

static int64_t slice_tid(const void *c, uint32_t i) { return ((const wt_trace *)c)->slices[i].tid; }
static int64_t slice_ts(const void *c, uint32_t i) { return ((const wt_trace *)c)->slices[i].ts; }
static int64_t steal_tid(const void *c, uint32_t i) {
  const wt_mark *m = &((const wt_trace *)c)->marks[i];
  return m->kind == WT_MARK_STEAL ? (int64_t)m->tid : -1;
}
static int64_t park_tid(const void *c, uint32_t i) {
  const wt_mark *m = &((const wt_trace *)c)->marks[i];
  return m->kind == WT_MARK_PARK ? (int64_t)m->tid : -1;
}

/* Name mode: the 15 names with the most run time get their own colour. */
static void rank_names(keys_t *k) {
  const wt_trace *t = k->t;
  size_t nn = t->names.n;
  wt_kv *tot = wt_xcalloc(nn, sizeof *tot);
  for (size_t i = 0; i < nn; i++) tot[i].v = (int64_t)i;
  for (size_t i = 0; i < t->nslices; i++) {
    wt_kv *e = &tot[t->slices[i].name];
    e->k = wt_sat_add(e->k, t->slices[i].dur);
  }
  for (size_t i = 0; i < nn; i++) tot[i].k = -tot[i].k; /* descending */
  wt_sort_kv(tot, nn);
  k->key_of_name = wt_xmalloc(nn * sizeof *k->key_of_name);
  for (size_t i = 0; i < nn; i++) k->key_of_name[i] = NCOL - 1;
  for (size_t r = 0; r < nn && r < NCOL - 1; r++) k->key_of_name[tot[r].v] = (int32_t)r;
  free(tot);
}

/* Nice tick step (1, 2 or 5 times a power of ten ns) for about n ticks. */
static int64_t tick_step(int64_t span, int n) {
  int64_t raw = span / n, p = 1;
  if (raw < 1) return 1;
  while (p <= raw / 10) p *= 10;
  if (p >= raw) return p;
  if (2 * p >= raw) return 2 * p;
  if (5 * p >= raw) return 5 * p;
  return 10 * p;
}

static void tick_label(char *b, size_t len, int64_t v, int64_t step) {
  int64_t unit = step >= 1000000000 ? 1000000000 : step >= 1000000 ? 1000000 : step >= 1000 ? 1000 : 1;
  const char *u = unit == 1000000000 ? "s" : unit == 1000000 ? "ms" : unit == 1000 ? "us" : "ns";
  int dec = 0;
  for (int64_t s = step; s % unit != 0 && dec < 9; dec++) s *= 10;
  snprintf(b, len, "%.*f %s", dec, (double)v / (double)unit, u);
}

/* A name, escaped, at most max bytes of it ("..." after a cut; a UTF-8
 * sequence cut in two becomes U+FFFD): names are the trace's data and the
 * picture's size must not grow with them. */
static void put_name(FILE *f, const char *name, size_t max) {
  char buf[128];
  size_t n = 0;
  if (max > sizeof buf - 1) max = sizeof buf - 1;
  while (name[n] && n < max) buf[n] = name[n], n++;
  buf[n] = 0;
  wt_put_xml_str(f, buf);
  if (name[n]) fputs("...", f);
}

static void lane_label(const wt_trace *t, int tid, char *buf, size_t len) {
  if (t->lanes[tid].name)
    snprintf(buf, len, "%s", t->lanes[tid].name);
  else if (tid == 0)
    snprintf(buf, len, "main");
  else
    snprintf(buf, len, "weft-w%d", tid - 1);
}

void wt_write_svg(FILE *f, const wt_trace *t, const wt_stats *st, const wt_svg_opts *o) {
  keys_t k = {t, NULL, o->color, 1};
  if (o->color == WT_COLOR_NAME) rank_names(&k);
  k.nbuckets = t->max_depth + 1 < NCOL ? t->max_depth + 1 : NCOL;

  int64_t t0 = t->any_time ? t->tmin : 0, t1 = t->any_time ? t->tmax : 1;
  if (t1 <= t0) t1 = t0 + 1;
  double plot_w = (double)o->width - ML - MR;
  double scale = plot_w / (double)(t1 - t0); /* px per ns */
  size_t ncols = (size_t)plot_w + 2;

  /* lanes: tid 0 first when it has events, then the workers */
  int nl = 0;
  int *lanes = wt_xmalloc(((size_t)t->workers + 1) * sizeof *lanes);
  if (t->lanes[0].events) lanes[nl++] = 0;
  for (int i = 1; i <= t->workers; i++) lanes[nl++] = i;

  size_t *sl_start, *st_start, *pk_start;
  uint32_t *sl_idx, *st_idx, *pk_idx;
  size_t ntid = (size_t)t->workers + 1;
  wt_group_by(t->nslices, ntid, slice_tid, t, &sl_start, &sl_idx);
  wt_sort_groups(sl_idx, sl_start, ntid, slice_ts, t);
  wt_group_by(t->nmarks, ntid, steal_tid, t, &st_start, &st_idx);
  wt_group_by(t->nmarks, ntid, park_tid, t, &pk_start, &pk_idx);

  double axis_y = TOP + nl * (LANE_H + LANE_GAP) + 4;
  double legend_y = axis_y + 40;
  int nlegend = o->color == WT_COLOR_NAME ? (int)(t->names.n < NCOL ? t->names.n : NCOL) : k.nbuckets;
  int per_row = (int)(plot_w / 190);
  if (per_row < 1) per_row = 1;
  int legend_rows = (nlegend + per_row - 1) / per_row + 2;
  double height = legend_y + legend_rows * 18 + 12;

  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" "
             "viewBox=\"0 0 %d %.0f\" font-family=\"sans-serif\" font-size=\"11\" "
             "data-workers=\"%d\">\n",
          o->width, height, o->width, height, t->workers);
  fputs("<style>", f);
  for (int i = 0; i < NCOL; i++) {
    const char *col = palette[i];
    if (o->color == WT_COLOR_DEPTH) { /* bucket i of nbuckets: spread over the ramp */
      int b = i < k.nbuckets ? i : k.nbuckets - 1;
      col = ramp[k.nbuckets > 1 ? b * (NCOL - 1) / (k.nbuckets - 1) : 0];
    }
    fprintf(f, ".c%d{fill:%s}", i, col);
  }
  fputs(".bg{fill:#f3f3f3}.grid{stroke:#dddddd;stroke-width:1}.axis{stroke:#555555}"
        ".pk{fill:#6a5acd}.st{fill:#a00000}.lbl{fill:#222222}.sub{fill:#666666}</style>\n",
        f);

  /* title */
  char b1[64], b2[64];
  wt_fmt_dur(b1, sizeof b1, st->wall);
  fputs("<text x=\"8\" y=\"18\" font-size=\"14\" class=\"lbl\">weft trace: ", f);
  wt_put_xml_str(f, t->path);
  fprintf(f, "</text>\n<text x=\"8\" y=\"34\" class=\"sub\">%d workers, wall %s, %llu events, "
             "%zu runs; parallelism ",
          t->workers, b1, (unsigned long long)t->events, t->nslices);
  if (st->span > 0)
    fprintf(f, "%.2f", st->parallelism);
  else
    fputs("-", f);
  fprintf(f, "; colour: %s</text>\n", o->color == WT_COLOR_NAME ? "task name" : "spawn depth");

  /* grid and axis */
  int64_t span = t1 - t0, step = tick_step(span, (int)(plot_w / 110) + 1);
  fprintf(f, "<g class=\"axis-ticks\">\n");
  for (int64_t v = 0; v <= span; v += step) {
    double x = ML + (double)v * scale;
    tick_label(b2, sizeof b2, v, step);
    fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\"/>", x, TOP - 4, x,
            axis_y);
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\"/>", x, axis_y, x,
            axis_y + 5);
    fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\" class=\"lbl\">%s</text>\n", x,
            axis_y + 17, b2);
    if (v > INT64_MAX - step) break;
  }
  fprintf(f, "<line class=\"axis\" x1=\"%.0f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\"/>\n", ML, axis_y,
          ML + plot_w, axis_y);
  fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"end\" class=\"sub\">time since the first "
             "event</text>\n</g>\n",
          ML + plot_w, axis_y + 31);

  /* lanes */
  double *busy = wt_xmalloc(ncols * sizeof *busy);
  double *w = wt_xmalloc(ncols * NCOL * sizeof *w);
  unsigned char *mark = wt_xmalloc(ncols);
  for (int li = 0; li < nl; li++) {
    int tid = lanes[li];
    double y = TOP + li * (LANE_H + LANE_GAP);
    char lbl[48];
    lane_label(t, tid, lbl, sizeof lbl);
    if (tid)
      fprintf(f, "<g class=\"lane\" data-worker=\"%d\" data-tid=\"%d\" transform=\"translate(0,%.0f)\">\n",
              tid - 1, tid, y);
    else
      fprintf(f, "<g class=\"lane\" data-worker=\"main\" data-tid=\"0\" transform=\"translate(0,%.0f)\">\n",
              y);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" class=\"lbl\">", ML - 8, LANE_H / 2 + 4);
    wt_put_xml_str(f, lbl);
    fprintf(f, "</text><text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" class=\"sub\" font-size=\"9\">%.0f%%</text>\n",
            ML - 8, LANE_H + 3, st->wall > 0 ? 100.0 * (double)t->lanes[tid].busy / (double)st->wall : 0.0);
    fprintf(f, "<rect class=\"bg\" x=\"%.0f\" y=\"0\" width=\"%.1f\" height=\"%.0f\"/>\n", ML, plot_w, LANE_H);

    /* parked time: a thin band, per pixel column */
    memset(mark, 0, ncols);
    for (size_t j = 0; j < st->nparked; j++) {
      const wt_ival *iv = &st->parked[j];
      if (iv->tid != (uint32_t)tid) continue;
      double a = (double)(iv->a - t0) * scale, bb = (double)(iv->b - t0) * scale;
      if (a < 0) a = 0;
      if (bb > plot_w) bb = plot_w;
      for (size_t c = (size_t)a; c < ncols && (double)c <= bb; c++) mark[c] = 1;
    }
    for (size_t c = 0; c < ncols;) {
      if (!mark[c]) {
        c++;
        continue;
      }
      size_t e = c;
      while (e < ncols && mark[e]) e++;
      fprintf(f, "<rect class=\"pk\" opacity=\"0.35\" x=\"%.0f\" y=\"%.0f\" width=\"%zu\" height=\"3\"/>",
              ML + (double)c, LANE_H / 2 - 1.5, e - c);
      c = e;
    }

    /* runs */
    memset(busy, 0, ncols * sizeof *busy);
    memset(w, 0, ncols * NCOL * sizeof *w);
    double drawn_end = -1;
    for (size_t j = sl_start[tid]; j < sl_start[tid + 1]; j++) {
      const wt_slice *s = &t->slices[sl_idx[j]];
      double x0 = (double)(s->ts - t0) * scale, x1 = (double)(s->ts + s->dur - t0) * scale;
      if (x0 < 0) x0 = 0;
      if (x1 > plot_w) x1 = plot_w;
      if (x1 < x0) x1 = x0;
      int key = key_of(&k, s);
      if (x1 - x0 >= 1.0 && x0 >= drawn_end) {
        char d[32];
        wt_fmt_dur(d, sizeof d, s->dur);
        fprintf(f, "<rect class=\"c%d\" x=\"%.2f\" y=\"0\" width=\"%.2f\" height=\"%.0f\"><title>", key,
                ML + x0, x1 - x0, LANE_H);
        put_name(f, s->name ? wt_strtab_get(&t->names, s->name) : "(unnamed)", 120);
        fprintf(f, " task %lld depth %d, %s, %s</title></rect>\n", (long long)t->tasks[s->task].id,
                (int)(s->depth >= 0 ? s->depth : t->tasks[s->task].depth), d,
                s->end == WT_END_DONE    ? "done"
                : s->end == WT_END_AWAIT ? "await"
                : s->end == WT_END_YIELD ? "yield"
                                         : "inline");
        drawn_end = x1;
        continue;
      }
      /* narrow (or overlapping): into the columns it covers */
      size_t c0 = (size_t)x0, c1 = (size_t)x1;
      if (c1 >= ncols) c1 = ncols - 1;
      if (c0 > c1) c0 = c1;
      if (x1 == x0) { /* zero length: still seen */
        busy[c0] += 1e-9;
        w[c0 * NCOL + (size_t)key] += 1e-9;
        continue;
      }
      for (size_t c = c0; c <= c1; c++) {
        double a = x0 > (double)c ? x0 : (double)c;
        double e = x1 < (double)c + 1 ? x1 : (double)c + 1;
        if (e > a) {
          busy[c] += e - a;
          w[c * NCOL + (size_t)key] += e - a;
        }
      }
    }
    for (size_t c = 0; c < ncols;) {
      if (busy[c] <= 0) {
        c++;
        continue;
      }
      int best = 0;
      for (int q = 1; q < NCOL; q++)
        if (w[c * NCOL + (size_t)q] > w[c * NCOL + (size_t)best]) best = q;
      int h = (int)(busy[c] * QUANT + 0.999);
      if (h < 1) h = 1;
      if (h > QUANT) h = QUANT;
      size_t e = c + 1;
      while (e < ncols && busy[e] > 0) {
        int b2best = 0;
        for (int q = 1; q < NCOL; q++)
          if (w[e * NCOL + (size_t)q] > w[e * NCOL + (size_t)b2best]) b2best = q;
        int h2 = (int)(busy[e] * QUANT + 0.999);
        if (h2 < 1) h2 = 1;
        if (h2 > QUANT) h2 = QUANT;
        if (b2best != best || h2 != h) break;
        e++;
      }
      double hh = LANE_H * h / QUANT;
      fprintf(f, "<rect class=\"c%d\" x=\"%.0f\" y=\"%.2f\" width=\"%zu\" height=\"%.2f\"/>", best,
              ML + (double)c, LANE_H - hh, e - c, hh);
      c = e;
    }
    fputc('\n', f);

    /* glyphs: steals (triangles at the top), parks (dots), at most one per
     * 4 pixels each */
    double last = -10;
    for (size_t j = st_start[tid]; j < st_start[tid + 1]; j++) {
      double x = (double)(t->marks[st_idx[j]].ts - t0) * scale;
      if (x < 0 || x > plot_w) continue;
      if (x - last < 4 && x >= last) continue;
      last = x;
      fprintf(f, "<path class=\"st\" d=\"M%.1f 0h6l-3 5z\"/>", ML + x - 3);
    }
    last = -10;
    for (size_t j = pk_start[tid]; j < pk_start[tid + 1]; j++) {
      double x = (double)(t->marks[pk_idx[j]].ts - t0) * scale;
      if (x < 0 || x > plot_w) continue;
      if (x - last < 4 && x >= last) continue;
      last = x;
      fprintf(f, "<circle class=\"pk\" cx=\"%.1f\" cy=\"%.0f\" r=\"2.5\"/>", ML + x, LANE_H - 3);
    }
    fputs("\n</g>\n", f);
  }

  /* legend */
  fprintf(f, "<g class=\"legend\" transform=\"translate(%.0f,%.0f)\">\n", ML, legend_y);
  for (int i = 0; i < nlegend; i++) {
    double x = (i % per_row) * 190.0, y = (i / per_row) * 18.0;
    fprintf(f, "<rect class=\"c%d\" x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\"/>"
               "<text x=\"%.0f\" y=\"%.0f\" class=\"lbl\">",
            i, x, y, x + 17, y + 10);
    if (o->color == WT_COLOR_DEPTH) {
      int64_t lo, hi;
      bucket_range(&k, i, &lo, &hi);
      if (lo == hi)
        fprintf(f, "depth %lld", (long long)lo);
      else
        fprintf(f, "depth %lld-%lld", (long long)lo, (long long)hi);
    } else if (i == NCOL - 1) {
      fputs("other names", f);
    } else {
      int32_t nm = -1;
      for (size_t q = 0; q < t->names.n; q++)
        if (k.key_of_name[q] == i) nm = (int32_t)q;
      if (nm < 0) {
        fputs("-", f);
      } else {
        put_name(f, nm ? wt_strtab_get(&t->names, nm) : "(unnamed)", 30);
      }
    }
    fputs("</text>\n", f);
  }
  double gy = ((nlegend + per_row - 1) / per_row) * 18.0 + 4;
  fprintf(f, "<path class=\"st\" d=\"M0 %.0fh6l-3 5z\"/><text x=\"12\" y=\"%.0f\" class=\"lbl\">steal (by this worker)</text>\n",
          gy + 3, gy + 10);
  fprintf(f, "<circle class=\"pk\" cx=\"193\" cy=\"%.0f\" r=\"2.5\"/><text x=\"202\" y=\"%.0f\" class=\"lbl\">park</text>\n",
          gy + 6, gy + 10);
  fprintf(f, "<rect class=\"pk\" opacity=\"0.35\" x=\"250\" y=\"%.0f\" width=\"16\" height=\"3\"/><text x=\"272\" y=\"%.0f\" class=\"lbl\">parked</text>\n",
          gy + 5, gy + 10);
  fprintf(f, "<text x=\"340\" y=\"%.0f\" class=\"sub\">short bars: runs under a pixel wide, summed per pixel: "
             "height = busy fraction, colour = the one with most time</text>\n",
          gy + 10);
  fputs("</g>\n</svg>\n", f);

  free(busy);
  free(w);
  free(mark);
  free(lanes);
  free(sl_start);
  free(sl_idx);
  free(st_start);
  free(st_idx);
  free(pk_start);
  free(pk_idx);
  free(k.key_of_name);
}
