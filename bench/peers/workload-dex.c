/* workload-dex.c: one measurement of one workload on GNOME's libdex fibers,
 * the peer of bench-workload (bench/workload.c): the same options, one
 * JSON line with the same keys.
 *
 *   bench-workload-dex --workload W --n N [--width P]
 *
 * libdex is not a Debian 12 package: bench/run builds this program only
 * when `pkg-config libdex-1` finds a build (bench/README.md, "libdex").
 * Every task is a fiber, dex_scheduler_spawn() on the default scheduler
 * (the main thread's, on the default GMainContext, run by a GMainLoop),
 * with libdex's default stack size; a fiber waits with dex_await().
 *
 *   spawn       N fibers that count and return, all at once or in waves
 *   pingpong    pairs of fibers handing a fresh DexPromise back and forth
 *               (dex_promise_resolve_boolean, dex_await)
 *   suspended   N fibers each awaiting its own DexPromise; then all are
 *               resolved
 *   start-many  N fibers each awaiting dex_timeout_new_msec (100)
 *
 * libdex maps every fiber stack with a guard page, two lines of
 * /proc/self/maps each: more suspended fibers than vm.max_map_count allows
 * make it abort (g_error in its stack allocator), so suspended and
 * start-many check the limit first and exit with status 3 and the reason.
 *
 * Exit status 3: this workload cannot run here.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <libdex.h>

#include <malloc.h>

#include "../workload-common.h"

static char  *opt_workload;
static char  *opt_impl;
static gint64 opt_n = 100000;
static gint64 opt_width = 1;
static double opt_seconds = 3.0;

static GOptionEntry entries[] = {
  { "workload", 'w', 0, G_OPTION_ARG_STRING, &opt_workload, "spawn, pingpong, suspended or start-many", "W" },
  { "impl", 'i', 0, G_OPTION_ARG_STRING, &opt_impl, "ignored (always libdex)", "IMPL" },
  { "n", 'n', 0, G_OPTION_ARG_INT64, &opt_n, "tasks / round trips", "N" },
  { "width", 0, 0, G_OPTION_ARG_INT64, &opt_width, "pairs (pingpong) or tasks (spawn waves) at once", "P" },
  { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &opt_seconds, "ignored", "S" },
  { NULL }
};

static GMainLoop    *ml;
static GMainContext *ctx;
static DexScheduler *scheduler;

/* A counter that quits the main loop when it reaches its target. */
static gint64 done_count, done_target;

static void
tick (void)
{
  if (++done_count == done_target)
    g_main_loop_quit (ml);
}

static void
spawn_fiber (DexFiberFunc func,
             gpointer     data)
{
  /* Nobody awaits the fiber's own future: it runs to its end anyway. */
  dex_future_disown (dex_scheduler_spawn (scheduler, 0, func, data, NULL));
}

static void
drain (void)
{
  while (g_main_context_iteration (ctx, FALSE))
    ;
}

/* Whether n more fibers, each suspended on its own stack, fit under
 * vm.max_map_count; if not, says why on stderr. */
static gboolean
stacks_fit (gint64 n)
{
  char buf[64];
  gint64 limit = 65530, maps = count_maps ();

  if (read_proc ("/proc/sys/vm/max_map_count", buf, sizeof buf) > 0)
    limit = strtoll (buf, NULL, 10);
  if (2 * n + maps + 1000 <= limit)
    return TRUE;
  g_printerr ("libdex maps each suspended fiber's stack and its guard page (2 lines of "
              "/proc/self/maps): %" G_GINT64_FORMAT " fibers exceed vm.max_map_count = %"
              G_GINT64_FORMAT " (it aborts)\n", n, limit);
  return FALSE;
}

/* --- spawn ------------------------------------------------------------------- */

static DexFuture *
spawn_body (gpointer data)
{
  tick ();
  return dex_future_new_true ();
}

static double
spawn_run (gint64 n,
           gint64 width)
{
  gint64 t0 = now_ns ();

  if (width <= 1 || width > n)
    width = n;
  for (gint64 left = n; left > 0; left -= width)
    {
      gint64 wave = MIN (width, left);

      done_count = 0;
      done_target = wave;
      for (gint64 i = 0; i < wave; i++)
        spawn_fiber (spawn_body, NULL);
      g_main_loop_run (ml);
    }
  return (now_ns () - t0) / (double) n;
}

/* --- pingpong ---------------------------------------------------------------- */

typedef struct
{
  DexPromise *box[2];   /* each side's pending mailbox (owned) */
  gint64      rounds;
} Pair;

static DexFuture *
ping_body (gpointer data)
{
  Pair *p = data;

  for (gint64 i = 0; i < p->rounds; i++)
    {
      DexPromise *mine = dex_promise_new ();
      DexPromise *theirs = p->box[1];

      p->box[0] = mine;
      p->box[1] = NULL;
      dex_promise_resolve_boolean (theirs, TRUE);
      dex_unref (theirs);
      if (!dex_await (dex_ref (mine), NULL))
        g_error ("ping: await failed");
    }
  return dex_future_new_true ();
}

static DexFuture *
pong_body (gpointer data)
{
  Pair *p = data;
  DexPromise *mine = p->box[1];

  for (gint64 i = 0; i < p->rounds; i++)
    {
      DexPromise *theirs;

      if (!dex_await (dex_ref (mine), NULL))
        g_error ("pong: await failed");
      mine = i + 1 < p->rounds ? dex_promise_new () : NULL;
      theirs = p->box[0];
      p->box[1] = mine;
      p->box[0] = NULL;
      dex_promise_resolve_boolean (theirs, TRUE);
      dex_unref (theirs);
    }
  tick ();
  return dex_future_new_true ();
}

static double
pingpong_run (gint64 n,
              gint64 width)
{
  gint64 rounds = MAX (n / width, 1), t0, t1;
  Pair *pairs = g_new0 (Pair, width);

  done_count = 0;
  done_target = width;
  t0 = now_ns ();
  for (gint64 i = 0; i < width; i++)
    {
      pairs[i].rounds = rounds;
      pairs[i].box[1] = dex_promise_new ();
      spawn_fiber (pong_body, &pairs[i]);
      spawn_fiber (ping_body, &pairs[i]);
    }
  g_main_loop_run (ml);
  t1 = now_ns ();
  /* Let the ping sides (one step behind) finish. */
  drain ();
  g_free (pairs);
  return (t1 - t0) / (2.0 * rounds * width);
}

/* --- suspended --------------------------------------------------------------- */

static DexPromise **mailboxes;
static gint64 susp_started, susp_finished, susp_target;

static DexFuture *
suspended_body (gpointer data)
{
  gint64 i = GPOINTER_TO_SIZE (data);
  DexPromise *mine = dex_promise_new ();

  mailboxes[i] = mine;      /* the array's reference */
  if (++susp_started == susp_target)
    g_main_loop_quit (ml);
  if (!dex_await (dex_ref (mine), NULL))
    g_error ("suspended: await failed");
  if (++susp_finished == susp_target)
    g_main_loop_quit (ml);
  return dex_future_new_true ();
}

static void
wake_all (gint64 n)
{
  for (gint64 i = 0; i < n; i++)
    {
      dex_promise_resolve_boolean (mailboxes[i], TRUE);
      g_clear_pointer (&mailboxes[i], dex_unref);
    }
}

static int
suspended_measure (gint64 n)
{
  gint64 rss0, rss1, maps, t0, t1, t2;

  if (!stacks_fit (n))
    return 3;
  mailboxes = g_new0 (DexPromise *, MAX (n, 100));
  susp_started = susp_finished = 0;
  susp_target = 100;
  for (gint64 i = 0; i < 100; i++)
    spawn_fiber (suspended_body, GSIZE_TO_POINTER (i));
  g_main_loop_run (ml);
  wake_all (100);
  g_main_loop_run (ml);
  drain ();
  malloc_trim (0);

  susp_started = susp_finished = 0;
  susp_target = n;
  rss0 = read_rss_kib ();
  t0 = now_ns ();
  for (gint64 i = 0; i < n; i++)
    spawn_fiber (suspended_body, GSIZE_TO_POINTER (i));
  g_main_loop_run (ml);
  t1 = now_ns ();
  rss1 = read_rss_kib ();
  maps = count_maps ();
  g_assert_cmpint (susp_started, ==, n);
  wake_all (n);
  g_main_loop_run (ml);
  t2 = now_ns ();
  g_assert_cmpint (susp_finished, ==, n);
  g_free (mailboxes);

  json_begin ();
  json_num ("rss_bytes_per_task", (rss1 - rss0) * 1024.0 / n);
  json_num ("create_ns_per_task", (t1 - t0) / (double) n);
  json_num ("wake_ns_per_task", (t2 - t1) / (double) n);
  json_num ("maps_lines", maps);
  json_num ("rss_kib", rss1);
  return 0;
}

/* --- start-many -------------------------------------------------------------- */

#define START_MANY_DELAY_MS 100

static gint64 sleepers_started, sleepers_target;

static DexFuture *
sleeper_body (gpointer data)
{
  DexFuture *nap = dex_timeout_new_msec (START_MANY_DELAY_MS);

  if (++sleepers_started == sleepers_target)
    g_main_loop_quit (ml);
  /* A DexTimeout rejects with DEX_ERROR_TIMED_OUT when it fires. */
  dex_await (nap, NULL);
  tick ();
  return dex_future_new_true ();
}

/* Starts n sleepers and returns once each is suspended on its timeout. */
static void
start_many_spawn (gint64 n)
{
  sleepers_started = 0;
  sleepers_target = n;
  done_count = 0;
  done_target = n;
  for (gint64 i = 0; i < n; i++)
    spawn_fiber (sleeper_body, NULL);
  g_main_loop_run (ml);
}

static int
start_many_measure (gint64 n)
{
  gint64 t0, t1, t2;

  if (!stacks_fit (n))
    return 3;
  start_many_spawn (MIN (n, 100));
  g_main_loop_run (ml);
  drain ();

  t0 = now_ns ();
  start_many_spawn (n);
  t1 = now_ns ();
  g_main_loop_run (ml);
  t2 = now_ns ();
  g_assert_cmpint (done_count, ==, n);
  json_begin ();
  json_num ("start_s", (t1 - t0) / 1e9);
  json_num ("wall_s", (t2 - t0) / 1e9);
  return 0;
}

/* --- main -------------------------------------------------------------------- */

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) options = g_option_context_new ("- one benchmark measurement");
  g_autoptr(GError) error = NULL;
  int status = 0;

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (opt_workload == NULL || opt_n < 1 || opt_width < 1)
    {
      g_printerr ("usage: bench-workload-dex --workload W --n N [--width P]\n");
      return 2;
    }
  dex_init ();
  ctx = g_main_context_default ();
  ml = g_main_loop_new (ctx, FALSE);
  scheduler = dex_scheduler_get_default ();

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
  else if (g_str_equal (opt_workload, "suspended"))
    status = suspended_measure (opt_n);
  else if (g_str_equal (opt_workload, "start-many"))
    status = start_many_measure (opt_n);
  else
    {
      g_printerr ("libdex: no %s workload here\n", opt_workload);
      return 3;
    }
  if (status == 0)
    json_end ();
  return status;
}
