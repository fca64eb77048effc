/* workload-common.h: what bench-workload (Coop, GLib) and bench-workload-uv
 * (libuv) share: clocks, /proc readings, percentiles, the JSON line, and the
 * parameters of the timers and respons workloads.  bench/workload.py (the
 * Python peers) mirrors the parameters; keep them in step.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* timers: deadlines are base + U[0, spread) with base = start + margin, so
 * scheduling N timers (about 1 µs each in Python) ends before the first is
 * due; spread grows with N, so from 50,000 timers up they come due at
 * 200,000 per second, a rate every loop here can sustain on one core. */
static inline long long timers_margin_usec (long long n) { return 100000 + 2 * n; }
static inline long long timers_spread_usec (long long n) { return n * 5 > 250000 ? n * 5 : 250000; }

/* respons: each churner does RESPONS_WORK rounds of a linear congruential
 * step, then yields; every RESPONS_SLEEP_EVERY-th step it sleeps
 * RESPONS_SLEEP_USEC instead.  A GLib timeout of RESPONS_PERIOD_MS (60 Hz)
 * at G_PRIORITY_DEFAULT records how late it fires, after a warm-up. */
#define RESPONS_WORK         16
#define RESPONS_SLEEP_EVERY  8
#define RESPONS_SLEEP_USEC   1000
#define RESPONS_PERIOD_MS    16
#define RESPONS_WARMUP_USEC  300000

static inline long long
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time of the whole process (user + system), in ns. */
static inline long long
cpu_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (long long) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A whole small /proc file into buf; the length, or -1. */
static inline long
read_proc (const char *path,
           char       *buf,
           size_t      size)
{
  FILE *f = fopen (path, "r");
  size_t n;

  if (f == NULL)
    return -1;
  n = fread (buf, 1, size - 1, f);
  fclose (f);
  buf[n] = '\0';
  return (long) n;
}

/* VmRSS of this process in KiB, or -1. */
static inline long long
read_rss_kib (void)
{
  char buf[4096];
  const char *line;

  if (read_proc ("/proc/self/status", buf, sizeof buf) < 0)
    return -1;
  line = strstr (buf, "\nVmRSS:");
  return line != NULL ? strtoll (line + 7, NULL, 10) : -1;
}

/* Lines in /proc/self/maps (mappings; vm.max_map_count is 65,530). */
static inline long long
count_maps (void)
{
  FILE *f = fopen ("/proc/self/maps", "r");
  long long lines = 0;
  int c;

  if (f == NULL)
    return -1;
  while ((c = getc_unlocked (f)) != EOF)
    lines += c == '\n';
  fclose (f);
  return lines;
}

static inline void
raise_nofile_limit (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
}

typedef struct
{
  double p50, p99, max;
} Stats;

static int
stats_cmp (const void *a,
           const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

/* Percentiles by the nearest-rank method (sorts v in place). */
static inline Stats
stats (double *v,
       size_t  n)
{
  Stats s = { -1, -1, -1 };

  if (n == 0)
    return s;
  qsort (v, n, sizeof *v, stats_cmp);
  s.p50 = v[(n - 1) / 2];
  s.p99 = v[(size_t) ((n - 1) * 0.99)];
  s.max = v[n - 1];
  return s;
}

/* One JSON object on one line: json_begin, json_num..., json_end. */
static int json_fields;

static inline void
json_begin (void)
{
  json_fields = 0;
  printf ("{");
}

static inline void
json_num (const char *key,
          double      value)
{
  printf ("%s\"%s\": %.6g", json_fields++ ? ", " : "", key, value);
}

static inline void
json_end (void)
{
  printf ("}\n");
  fflush (stdout);
}
