/* workload-uv.c: the libuv peer of bench-workload (bench/README.md, "bench/run").
 *
 *   bench-workload-uv --workload chain|timers --n N [--width P]
 *
 * Prints the same JSON keys as bench-workload.  libuv has no tasks and no
 * futures, so spawn, pingpong, suspended and respons (which needs a GLib
 * timeout) are not implemented: exit status 3, which bench/run reports as
 * "n/a".
 *
 *   chain   --width uv_idle_t handles; each callback counts one link and
 *           re-arms its handle (uv_idle_stop + uv_idle_start), which runs it
 *           again in the next loop iteration: the libuv form of a callback
 *           that call_soon()s the next one.  ns_per_op.
 *   timers  N uv_timer_t, each started once (ms resolution) for a random
 *           deadline, as bench-workload does; lateness is measured against
 *           the deadline libuv computed (the handle's due time, in ms).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <uv.h>

#include <math.h>
#include <stdint.h>

#include "workload-common.h"

static uv_loop_t *loop;

/* --- chain ------------------------------------------------------------------- */

typedef struct
{
  uv_idle_t idle;
  long long left;
} Chain;

static void
chain_step (uv_idle_t *idle)
{
  Chain *ch = (Chain *) idle;

  uv_idle_stop (idle);
  if (--ch->left > 0)
    uv_idle_start (idle, chain_step);
}

static double
chain_run (long long n,
           long long width)
{
  long long length = n / width > 0 ? n / width : 1, t0, i;
  Chain *chains = calloc (width, sizeof *chains);
  double ns;

  t0 = now_ns ();
  for (i = 0; i < width; i++)
    {
      uv_idle_init (loop, &chains[i].idle);
      chains[i].left = length;
      uv_idle_start (&chains[i].idle, chain_step);
    }
  uv_run (loop, UV_RUN_DEFAULT);
  ns = (now_ns () - t0) / ((double) length * width);
  for (i = 0; i < width; i++)
    uv_close ((uv_handle_t *) &chains[i].idle, NULL);
  uv_run (loop, UV_RUN_DEFAULT);
  free (chains);
  return ns;
}

/* --- timers ------------------------------------------------------------------ */

static long long fired;
static double   *lateness;

static void
timer_cb (uv_timer_t *timer)
{
  /* timer->timeout is the due time in loop milliseconds (uv_now()), from
   * the same CLOCK_MONOTONIC as uv_hrtime(). */
  lateness[fired++] = uv_hrtime () / 1e3 - (double) timer->timeout * 1e3;
}

static void
timers_measure (long long n)
{
  uv_timer_t *timers = malloc (n * sizeof *timers);
  long long *offsets = malloc (n * sizeof *offsets);
  long long margin = timers_margin_usec (n), spread = timers_spread_usec (n);
  long long base, t0, t1, i;
  uint64_t loop_ms;
  Stats st;

  lateness = malloc (n * sizeof *lateness);
  srand48 (42);
  for (i = 0; i < n; i++)
    offsets[i] = (long long) (drand48 () * spread);
  fired = 0;

  uv_update_time (loop);
  loop_ms = uv_now (loop);
  t0 = now_ns ();
  base = (long long) (uv_hrtime () / 1000) + margin;
  for (i = 0; i < n; i++)
    {
      /* ms from the loop's cached time (libuv computes due = now + timeout),
       * rounded up, as GLib's timeouts are. */
      long long due_ms = (base + offsets[i] + 999) / 1000;

      uv_timer_init (loop, &timers[i]);
      uv_timer_start (&timers[i], timer_cb, due_ms > (long long) loop_ms ? due_ms - loop_ms : 0, 0);
    }
  t1 = now_ns ();
  if ((long long) (uv_hrtime () / 1000) > base)
    fprintf (stderr, "warning: scheduling took longer than the %lld ms margin\n", margin / 1000);
  uv_run (loop, UV_RUN_DEFAULT);
  if (fired != n)
    {
      fprintf (stderr, "only %lld of %lld timers fired\n", fired, n);
      exit (1);
    }

  st = stats (lateness, n);
  json_begin ();
  json_num ("schedule_ns_per_timer", (t1 - t0) / (double) n);
  json_num ("late_p50_us", st.p50);
  json_num ("late_p99_us", st.p99);
  json_num ("late_max_us", st.max);
  json_num ("spread_s", spread / 1e6);
  json_end ();
}

int
main (int    argc,
      char **argv)
{
  const char *workload = NULL;
  long long n = 100000, width = 1;
  int i;

  for (i = 1; i + 1 < argc; i += 2)
    {
      if (strcmp (argv[i], "--workload") == 0)
        workload = argv[i + 1];
      else if (strcmp (argv[i], "--n") == 0)
        n = atoll (argv[i + 1]);
      else if (strcmp (argv[i], "--width") == 0)
        width = atoll (argv[i + 1]);
      else if (strcmp (argv[i], "--impl") != 0 && strcmp (argv[i], "--seconds") != 0)
        break;
    }
  if (workload == NULL || i < argc || n < 1 || width < 1)
    {
      fprintf (stderr, "usage: bench-workload-uv --workload chain|timers --n N [--width P]\n");
      return 2;
    }
  loop = uv_default_loop ();
  if (strcmp (workload, "chain") == 0)
    {
      chain_run (n < 1000 * width ? n : 1000 * width, width);
      json_begin ();
      json_num ("ns_per_op", chain_run (n, width));
      json_end ();
    }
  else if (strcmp (workload, "timers") == 0)
    timers_measure (n);
  else
    {
      fprintf (stderr, "bench-workload-uv: libuv has no %s workload (no tasks, no futures)\n", workload);
      return 3;
    }
  return 0;
}
