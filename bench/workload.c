/* workload.c: one measurement of one workload on Coop or on plain GLib.
 *
 *   bench-workload --impl coop|glib --workload W --n N [--width P] [--seconds S]
 *
 * Runs the workload once (after a small warm-up where it makes sense) in
 * this fresh process and prints one line of JSON with its figures.  The
 * driver, bench/run, starts one process per measurement and alternates the
 * implementations; the libuv and Python peers (bench-workload-uv,
 * workload.py) implement the same workloads and print the same keys.
 *
 * Workloads (see bench/README.md, "bench/run"):
 *   spawn      N tasks (Coop) / one-shot idle callbacks (GLib) started and
 *              finished, all at once or (--width W > 1) in waves of W, each
 *              finished before the next starts: ns_per_op
 *   pingpong   N round trips over --width pairs of tasks handing a future
 *              back and forth (GLib: idle callbacks passing a token):
 *              ns_per_op is per hand-off (two per round trip)
 *   chain      N callbacks in --width chains, each scheduling the next
 *              (coop_loop_call_soon / g_idle_add): ns_per_op
 *   suspended  N tasks, each suspended awaiting its own future; then every
 *              future is set and all finish.  rss_bytes_per_task,
 *              create_ns_per_task, wake_ns_per_task, maps_lines.  Coop only:
 *              GLib has no tasks.
 *   timers     N one-shot timers with random deadlines (coop_loop_call_at /
 *              one g_timeout_source each): schedule_ns_per_timer and the
 *              lateness of each firing (late_p50_us, late_p99_us,
 *              late_max_us)
 *   startmany  N tasks started at once, each awaiting a 100 ms timer
 *              (coop_sleep): start_s (until the last one is in its await)
 *              and wall_s (until the last one finished), and the CPU time
 *              the process ran meanwhile (start_cpu_s, wall_cpu_s).  Coop only; the
 *              Vala async and gtk-rs peers are bench/startmany.vala and
 *              bench/startmany-rs.
 *   respons    N churning tasks (Coop) / idle callbacks (GLib) for --seconds,
 *              while a 60 Hz GLib timeout (G_PRIORITY_DEFAULT) measures how
 *              late it fires: late_p50_us, late_p99_us, late_max_us, ticks,
 *              steps_per_s
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workload-common.h"

static char  *opt_impl;
static char  *opt_workload;
static gint64 opt_n = 100000;
static gint64 opt_width = 1;
static double opt_seconds = 3.0;

static GOptionEntry entries[] = {
  { "impl", 'i', 0, G_OPTION_ARG_STRING, &opt_impl, "coop or glib", "IMPL" },
  { "workload", 'w', 0, G_OPTION_ARG_STRING, &opt_workload,
    "spawn, pingpong, chain, suspended, startmany, timers or respons", "W" },
  { "n", 'n', 0, G_OPTION_ARG_INT64, &opt_n, "operations / tasks / timers", "N" },
  { "width", 0, 0, G_OPTION_ARG_INT64, &opt_width, "pairs (pingpong), chains (chain) or tasks (spawn waves) at once", "P" },
  { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &opt_seconds, "duration of respons", "S" },
  { NULL }
};

static CoopLoop  *loop;       /* coop */
static GMainLoop *ml;         /* glib */
static GMainContext *ctx;

static void
quit (void)
{
  if (loop != NULL)
    coop_loop_stop (loop);
  else
    g_main_loop_quit (ml);
}

static void
run (void)
{
  if (loop != NULL)
    coop_loop_run_forever (loop);
  else
    g_main_loop_run (ml);
}

/* What g_idle_add() does (the global default context is ours anyway). */
static void
idle_add (GSourceFunc func,
          gpointer    data)
{
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, ctx);
  g_source_unref (source);
}

/* --- spawn ------------------------------------------------------------------- */

static gint64 spawn_done, spawn_target;

static void
spawn_body (CoopTask *task,
            gpointer  data)
{
  if (++spawn_done == spawn_target)
    quit ();
}

static gboolean
spawn_idle (gpointer data)
{
  if (++spawn_done == spawn_target)
    quit ();
  return G_SOURCE_REMOVE;
}

/* All N at once, or (width > 1) in waves of width tasks, each wave run to
 * the end before the next is started: the steady state of a program that
 * keeps starting tasks, where finished ones can be reused. */
static double
spawn_run (gint64 n,
           gint64 width)
{
  gint64 t0, i, left;

  if (width <= 1 || width > n)
    width = n;
  t0 = now_ns ();
  for (left = n; left > 0; left -= width)
    {
      gint64 wave = MIN (width, left);

      spawn_done = 0;
      spawn_target = wave;
      for (i = 0; i < wave; i++)
        {
          if (loop != NULL)
            g_object_unref (coop_task_new (loop, spawn_body, NULL, NULL));
          else
            idle_add (spawn_idle, NULL);
        }
      run ();
    }
  return (now_ns () - t0) / (double) n;
}

/* --- pingpong ---------------------------------------------------------------- */

typedef struct
{
  CoopFuture *box[2];   /* each side's pending mailbox (borrowed) */
  gint64      rounds;
  gint64      left;     /* GLib */
} Pair;

static gint64 pairs_done, pairs_target;

static void
pair_finished (void)
{
  if (++pairs_done == pairs_target)
    quit ();
}

/* Side 0 completes side 1's mailbox, then awaits its own. */
static void
ping_body (CoopTask *task,
           gpointer  data)
{
  Pair *p = data;
  gint64 i;

  for (i = 0; i < p->rounds; i++)
    {
      CoopFuture *mine = coop_future_new (loop);
      CoopFuture *theirs = p->box[1];

      p->box[0] = mine;
      p->box[1] = NULL;
      coop_future_set_none (theirs);
      if (!coop_await (mine, NULL))
        g_error ("ping: await failed");
      g_object_unref (mine);
    }
}

static void
pong_body (CoopTask *task,
           gpointer  data)
{
  Pair *p = data;
  CoopFuture *mine = p->box[1];
  gint64 i;

  for (i = 0; i < p->rounds; i++)
    {
      CoopFuture *theirs;

      if (!coop_await (mine, NULL))
        g_error ("pong: await failed");
      g_object_unref (mine);
      mine = i + 1 < p->rounds ? coop_future_new (loop) : NULL;
      theirs = p->box[0];
      p->box[1] = mine;
      p->box[0] = NULL;
      coop_future_set_none (theirs);
    }
  pair_finished ();
}

static gboolean glib_pong (gpointer data);

static gboolean
glib_ping (gpointer data)
{
  idle_add (glib_pong, data);
  return G_SOURCE_REMOVE;
}

static gboolean
glib_pong (gpointer data)
{
  Pair *p = data;

  if (--p->left > 0)
    idle_add (glib_ping, p);
  else
    pair_finished ();
  return G_SOURCE_REMOVE;
}

/* n round trips in all, over width pairs; returns ns per hand-off. */
static double
pingpong_run (gint64 n,
              gint64 width)
{
  gint64 rounds = MAX (n / width, 1), t0, t1, i;
  Pair *pairs = g_new0 (Pair, width);

  pairs_done = 0;
  pairs_target = width;
  t0 = now_ns ();
  for (i = 0; i < width; i++)
    {
      pairs[i].rounds = pairs[i].left = rounds;
      if (loop != NULL)
        {
          pairs[i].box[1] = coop_future_new (loop);
          g_object_unref (coop_task_new (loop, pong_body, &pairs[i], NULL));
          g_object_unref (coop_task_new (loop, ping_body, &pairs[i], NULL));
        }
      else
        idle_add (glib_ping, &pairs[i]);
    }
  run ();
  t1 = now_ns ();
  /* Let the ping sides (one step behind) finish. */
  while (g_main_context_iteration (ctx, FALSE))
    ;
  g_free (pairs);
  return (t1 - t0) / (2.0 * rounds * width);
}

/* --- chain ------------------------------------------------------------------- */

typedef struct
{
  gint64 left;
} Chain;

static gint64 chains_done, chains_target;

static void
coop_chain_step (gpointer data)
{
  Chain *ch = data;

  if (--ch->left > 0)
    coop_handle_unref (coop_loop_call_soon (loop, coop_chain_step, ch, NULL));
  else if (++chains_done == chains_target)
    quit ();
}

static gboolean
glib_chain_step (gpointer data)
{
  Chain *ch = data;

  if (--ch->left > 0)
    idle_add (glib_chain_step, ch);
  else if (++chains_done == chains_target)
    quit ();
  return G_SOURCE_REMOVE;
}

static double
chain_run (gint64 n,
           gint64 width)
{
  gint64 length = MAX (n / width, 1), t0, i;
  Chain *chains = g_new0 (Chain, width);
  double ns;

  chains_done = 0;
  chains_target = width;
  t0 = now_ns ();
  for (i = 0; i < width; i++)
    {
      chains[i].left = length;
      if (loop != NULL)
        coop_handle_unref (coop_loop_call_soon (loop, coop_chain_step, &chains[i], NULL));
      else
        idle_add (glib_chain_step, &chains[i]);
    }
  run ();
  ns = (now_ns () - t0) / ((double) length * width);
  g_free (chains);
  return ns;
}

/* --- startmany --------------------------------------------------------------- */

static gint64 many_started, many_finished, many_target, many_t_started, many_cpu_started;

/* CPU time this process ran, ns (the first field of /proc/self/schedstat):
 * on a loaded machine the wall time also counts the time others ran. */
static gint64
cpu_ns (void)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents ("/proc/self/schedstat", &text, NULL, NULL))
    return 0;
  return g_ascii_strtoll (text, NULL, 10);
}

static void
startmany_body (CoopTask *task,
                gpointer  data)
{
  CoopFuture *sleep = coop_sleep (loop, 0.1);

  if (++many_started == many_target)
    {
      many_t_started = now_ns ();
      many_cpu_started = cpu_ns ();
    }
  if (!coop_await (sleep, NULL))
    g_error ("startmany: await failed");
  g_object_unref (sleep);
  if (++many_finished == many_target)
    quit ();
}

static void
startmany_run (gint64  n,
               double *s)
{
  gint64 t0, c0, i;

  many_started = many_finished = 0;
  many_target = n;
  c0 = cpu_ns ();
  t0 = now_ns ();
  for (i = 0; i < n; i++)
    g_object_unref (coop_task_new (loop, startmany_body, NULL, NULL));
  run ();
  s[0] = (many_t_started - t0) / 1e9;
  s[1] = (now_ns () - t0) / 1e9;
  s[2] = (many_cpu_started - c0) / 1e9;
  s[3] = (cpu_ns () - c0) / 1e9;
}

static void
startmany_measure (gint64 n)
{
  double s[4];

  startmany_run (MIN (n, 1000), s);
  startmany_run (n, s);
  json_begin ();
  json_num ("start_s", s[0]);
  json_num ("wall_s", s[1]);
  json_num ("start_cpu_s", s[2]);
  json_num ("wall_cpu_s", s[3]);
}

/* --- suspended --------------------------------------------------------------- */

static CoopFuture **mailboxes;
static gint64 susp_started, susp_finished, susp_target;

static void
suspended_body (CoopTask *task,
                gpointer  data)
{
  gint64 i = GPOINTER_TO_SIZE (data);
  CoopFuture *mine = coop_future_new (loop);

  mailboxes[i] = mine;
  if (++susp_started == susp_target)
    quit ();
  if (!coop_await (mine, NULL))
    g_error ("suspended: await failed");
  mailboxes[i] = NULL;
  g_object_unref (mine);
  if (++susp_finished == susp_target)
    quit ();
}

static void
suspended_measure (gint64 n)
{
  gint64 rss0, rss1, maps, t0, t1, t2, i;

  /* Warm-up: types registered, a few stacks in the pool, then give back
   * what malloc holds. */
  mailboxes = g_new0 (CoopFuture *, MAX (n, 100));
  susp_started = susp_finished = 0;
  susp_target = 100;
  for (i = 0; i < 100; i++)
    g_object_unref (coop_task_new (loop, suspended_body, GSIZE_TO_POINTER (i), NULL));
  run ();
  for (i = 0; i < 100; i++)
    coop_future_set_none (mailboxes[i]);
  run ();
  malloc_trim (0);

  susp_started = susp_finished = 0;
  susp_target = n;
  rss0 = read_rss_kib ();
  t0 = now_ns ();
  for (i = 0; i < n; i++)
    g_object_unref (coop_task_new (loop, suspended_body, GSIZE_TO_POINTER (i), NULL));
  /* The last task to start stops the loop, then suspends in its await
   * before this dispatch returns. */
  run ();
  t1 = now_ns ();
  rss1 = read_rss_kib ();
  maps = count_maps ();
  g_assert_cmpint (susp_started, ==, n);
  for (i = 0; i < n; i++)
    coop_future_set_none (mailboxes[i]);
  run ();
  t2 = now_ns ();
  g_assert_cmpint (susp_finished, ==, n);
  g_free (mailboxes);

  json_begin ();
  json_num ("rss_bytes_per_task", (rss1 - rss0) * 1024.0 / n);
  json_num ("create_ns_per_task", (t1 - t0) / (double) n);
  json_num ("wake_ns_per_task", (t2 - t1) / (double) n);
  json_num ("maps_lines", maps);
  json_num ("rss_kib", rss1);
}

/* --- timers ------------------------------------------------------------------ */

typedef struct
{
  gint64 when;      /* µs, monotonic; GLib: filled in by the callback */
} Timer;

static gint64   timers_fired, timers_target;
static double  *lateness;   /* µs */

static void
timer_fired_at (gint64 when)
{
  lateness[timers_fired] = (double) (g_get_monotonic_time () - when);
  if (++timers_fired == timers_target)
    quit ();
}

static void
coop_timer_cb (gpointer data)
{
  timer_fired_at (((Timer *) data)->when);
}

static gboolean
glib_timer_cb (gpointer data)
{
  /* The deadline GLib itself computed (ms interval from creation). */
  timer_fired_at (g_source_get_ready_time (g_main_current_source ()));
  return G_SOURCE_REMOVE;
}

static void
timers_measure (gint64 n)
{
  Timer *timers = g_new (Timer, n);
  gint64 *offsets = g_new (gint64, n);
  gint64 margin = timers_margin_usec (n), spread = timers_spread_usec (n);
  gint64 base, t0, t1, i;
  GRand *rand = g_rand_new_with_seed (42);
  Stats st;

  lateness = g_new (double, n);
  for (i = 0; i < n; i++)
    offsets[i] = g_rand_int_range (rand, 0, (gint32) spread);
  timers_fired = 0;
  timers_target = n;

  t0 = now_ns ();
  base = g_get_monotonic_time () + margin;
  for (i = 0; i < n; i++)
    {
      timers[i].when = base + offsets[i];
      if (loop != NULL)
        coop_handle_unref (coop_loop_call_at (loop, timers[i].when, coop_timer_cb, &timers[i], NULL));
      else
        {
          gint64 delay = timers[i].when - g_get_monotonic_time ();
          GSource *source = g_timeout_source_new ((guint) MAX ((delay + 999) / 1000, 0));

          g_source_set_callback (source, glib_timer_cb, &timers[i], NULL);
          g_source_attach (source, ctx);
          g_source_unref (source);
        }
    }
  t1 = now_ns ();
  if (g_get_monotonic_time () > base)
    g_printerr ("warning: scheduling took longer than the %" G_GINT64_FORMAT " ms margin\n",
                margin / 1000);
  run ();

  st = stats (lateness, n);
  json_begin ();
  json_num ("schedule_ns_per_timer", (t1 - t0) / (double) n);
  json_num ("late_p50_us", st.p50);
  json_num ("late_p99_us", st.p99);
  json_num ("late_max_us", st.max);
  json_num ("spread_s", spread / 1e6);
  g_free (timers);
  g_free (offsets);
  g_free (lateness);
  g_rand_free (rand);
}

/* --- respons ----------------------------------------------------------------- */

static gboolean churn_stop;
static guint64  churn_steps;
static gint64   churn_live;

/* "A little work": RESPONS_WORK rounds of a linear congruential step. */
static inline guint32
little_work (guint32 x)
{
  int k;

  for (k = 0; k < RESPONS_WORK; k++)
    x = x * 1103515245u + 12345u;
  return x;
}

static volatile guint32 churn_sink;

static void
churn_body (CoopTask *task,
            gpointer  data)
{
  guint32 x = GPOINTER_TO_UINT (data);
  guint64 step = 0;

  while (!churn_stop)
    {
      x = little_work (x);
      churn_steps++;
      if (++step % RESPONS_SLEEP_EVERY == 0)
        {
          CoopFuture *nap = coop_sleep (loop, RESPONS_SLEEP_USEC);

          coop_await (nap, NULL);
          g_object_unref (nap);
        }
      else
        coop_yield (NULL);
    }
  churn_sink ^= x;
  if (--churn_live == 0)
    quit ();
}

typedef struct
{
  guint32 x;
  guint64 step;
} Churner;

static gboolean glib_churn_idle (gpointer data);

static gboolean
glib_churn_wake (gpointer data)
{
  idle_add (glib_churn_idle, data);
  return G_SOURCE_REMOVE;
}

static gboolean
glib_churn_idle (gpointer data)
{
  Churner *c = data;

  if (churn_stop)
    {
      if (--churn_live == 0)
        quit ();
      return G_SOURCE_REMOVE;
    }
  c->x = little_work (c->x);
  churn_steps++;
  if (++c->step % RESPONS_SLEEP_EVERY == 0)
    {
      GSource *source = g_timeout_source_new (RESPONS_SLEEP_USEC / 1000);

      g_source_set_callback (source, glib_churn_wake, c, NULL);
      g_source_attach (source, ctx);
      g_source_unref (source);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static GArray *tick_lateness;
static gint64  respons_t_start, respons_t_measure, respons_t_end;
static guint64 steps_at_measure;

static gboolean
frame_tick (gpointer data)
{
  gint64 now = g_get_monotonic_time ();
  gint64 due = g_source_get_ready_time (g_main_current_source ());

  if (now >= respons_t_end)
    {
      churn_stop = TRUE;
      return G_SOURCE_REMOVE;
    }
  if (now >= respons_t_measure)
    {
      double late = (double) (now - due);

      if (tick_lateness->len == 0)
        steps_at_measure = churn_steps;
      g_array_append_val (tick_lateness, late);
    }
  return G_SOURCE_CONTINUE;
}

static void
respons_measure (gint64 n,
                 double seconds)
{
  Churner *churners = g_new0 (Churner, n);
  GSource *frame;
  guint64 steps_end;
  gint64 i, t_stop;
  Stats st;

  tick_lateness = g_array_new (FALSE, FALSE, sizeof (double));
  churn_live = n;
  for (i = 0; i < n; i++)
    {
      churners[i].x = (guint32) i;
      if (loop != NULL)
        g_object_unref (coop_task_new (loop, churn_body, GUINT_TO_POINTER ((guint) i), NULL));
      else
        idle_add (glib_churn_idle, &churners[i]);
    }
  respons_t_start = g_get_monotonic_time ();
  respons_t_measure = respons_t_start + RESPONS_WARMUP_USEC;
  respons_t_end = respons_t_measure + (gint64) (seconds * G_USEC_PER_SEC);
  /* 60 Hz: GLib timeouts take whole ms; 16 ms is what g_timeout_add gives
   * a 60 Hz client (GTK's frame clock paces itself the same way). */
  frame = g_timeout_source_new (RESPONS_PERIOD_MS);
  g_source_set_priority (frame, G_PRIORITY_DEFAULT);
  g_source_set_callback (frame, frame_tick, NULL, NULL);
  g_source_attach (frame, ctx);
  g_source_unref (frame);
  run ();
  t_stop = g_get_monotonic_time ();
  steps_end = churn_steps;

  st = stats ((double *) (void *) tick_lateness->data, tick_lateness->len);
  json_begin ();
  /* No tick at all during the run: no lateness figures, only ticks = 0. */
  if (tick_lateness->len > 0)
    {
      json_num ("late_p50_us", st.p50);
      json_num ("late_p99_us", st.p99);
      json_num ("late_max_us", st.max);
    }
  json_num ("ticks", tick_lateness->len);
  json_num ("steps_per_s", (steps_end - steps_at_measure) / ((respons_t_end - respons_t_measure) / 1e6));
  json_num ("stop_ms", (t_stop - respons_t_end) / 1e3);
  g_array_free (tick_lateness, TRUE);
  g_free (churners);
}

/* --- main -------------------------------------------------------------------- */

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) options = g_option_context_new ("- one benchmark measurement");
  g_autoptr(GError) error = NULL;
  gboolean coop;

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (opt_impl == NULL || opt_workload == NULL || opt_n < 1 || opt_width < 1 ||
      (!g_str_equal (opt_impl, "coop") && !g_str_equal (opt_impl, "glib")))
    {
      g_printerr ("usage: bench-workload --impl coop|glib --workload W --n N\n");
      return 2;
    }
  raise_nofile_limit ();
  coop = g_str_equal (opt_impl, "coop");
  ctx = g_main_context_default ();
  if (coop)
    loop = coop_loop_new (ctx);
  else
    ml = g_main_loop_new (ctx, FALSE);

  if (g_str_equal (opt_workload, "spawn"))
    {
      spawn_run (MIN (opt_n, 1000), opt_width);
      json_begin ();
      json_num ("ns_per_op", spawn_run (opt_n, opt_width));
    }
  else if (g_str_equal (opt_workload, "pingpong"))
    {
      pingpong_run (MIN (opt_n, 1000 * opt_width), opt_width);
      json_begin ();
      json_num ("ns_per_op", pingpong_run (opt_n, opt_width));
    }
  else if (g_str_equal (opt_workload, "chain"))
    {
      chain_run (MIN (opt_n, 1000 * opt_width), opt_width);
      json_begin ();
      json_num ("ns_per_op", chain_run (opt_n, opt_width));
    }
  else if (g_str_equal (opt_workload, "suspended") && coop)
    suspended_measure (opt_n);
  else if (g_str_equal (opt_workload, "startmany") && coop)
    startmany_measure (opt_n);
  else if (g_str_equal (opt_workload, "timers"))
    timers_measure (opt_n);
  else if (g_str_equal (opt_workload, "respons"))
    respons_measure (opt_n, opt_seconds);
  else
    {
      g_printerr ("bench-workload: %s has no %s workload\n", opt_impl, opt_workload);
      return 3;
    }
  json_end ();
  return 0;
}
