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
 *   respons    N churning tasks (Coop) / idle callbacks (GLib) for --seconds,
 *              while a 60 Hz GLib timeout (G_PRIORITY_DEFAULT) measures how
 *              late it fires: late_p50_us, late_p99_us, late_max_us, ticks,
 *              steps_per_s
 *   queue, queue-bounded, queue-many, lock
 *              the synchronisation primitives (Coop only; the peers are
 *              asyncio's, in workload.py): ns_per_op, see their section
 *   idle       one main-loop iteration with nothing ready and N waits
 *              pending (tasks asleep / GLib timeouts): iteration_ns
 *   start-many N tasks each awaiting a 100 ms coop_sleep (): start_s until
 *              all are suspended, wall_s until all have finished.  Coop
 *              only: GLib has no tasks (the peers are in bench/peers/).
 *
 * --impl coop-dense runs pingpong, suspended and start-many with
 * CoopDenseTasks.
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
  { "impl", 'i', 0, G_OPTION_ARG_STRING, &opt_impl, "coop, coop-dense or glib", "IMPL" },
  { "workload", 'w', 0, G_OPTION_ARG_STRING, &opt_workload,
    "spawn, pingpong, chain, suspended, timers, respons, cpuloops or xloop", "W" },
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

/* --- cpuloops: CPU-bound tasks over 1..P loops ---------------------------------- */

/* Each task does this many steps of a linear congruential generator: a few
 * milliseconds of pure CPU, no memory traffic to share. */
#define CPU_STEPS 4000000

static void
cpu_body (CoopTask *task,
          gpointer  data)
{
  guint64 x = GPOINTER_TO_SIZE (data) + 1;
  guint i;

  for (i = 0; i < CPU_STEPS; i++)
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  coop_future_set_int64 (COOP_FUTURE (task), (gint64) (x >> 1));
}

typedef struct
{
  CoopLoopPool *pool;
  gint64        n;
} CpuRun;

static void
cpu_main_body (CoopTask *task,
               gpointer  data)
{
  CpuRun *r = data;
  g_autoptr(GPtrArray) futures = g_ptr_array_new_with_free_func (g_object_unref);
  gint64 i;

  for (i = 0; i < r->n; i++)
    g_ptr_array_add (futures, coop_loop_pool_spawn (r->pool, NULL, NULL, cpu_body,
                                                    GSIZE_TO_POINTER (i), NULL));
  for (i = 0; i < r->n; i++)
    coop_await (futures->pdata[i], NULL);
}

/* n tasks on a pool of @width loops, awaited from the main loop; ns per
 * task (wall clock). */
static double cpuloops_cpu_per_wall;

static gint64
process_cpu_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (gint64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double
cpuloops_run (gint64 n,
              gint64 width)
{
  CpuRun r = { coop_loop_pool_new ((guint) width), n };
  g_autoptr(CoopTask) task = NULL;
  gint64 t0, c0;

  t0 = now_ns ();
  c0 = process_cpu_ns ();
  task = coop_task_new (loop, cpu_main_body, &r, NULL);
  coop_loop_run_until_complete (loop, COOP_FUTURE (task), NULL);
  t0 = now_ns () - t0;
  /* How many cores the run got: about 1 per loop on an idle machine, less
   * when other processes take their share. */
  cpuloops_cpu_per_wall = (double) (process_cpu_ns () - c0) / t0;
  coop_loop_pool_shutdown (r.pool, -1, NULL);
  g_object_unref (r.pool);
  return (double) t0 / n;
}

/* --- xloop: cross-loop hand-offs --------------------------------------------------- */

static void
echo_body (CoopTask *task,
           gpointer  data)
{
  coop_future_set_int64 (COOP_FUTURE (task), GPOINTER_TO_SIZE (data));
}

typedef struct
{
  CoopLoop *remote;
  gint64    n;
  gint64    width;
  gint64    lost;
} XloopRun;

/* On the main loop: n tasks started on the other loop, @width in flight,
 * each result awaited back here. */
static void
xloop_body (CoopTask *task,
            gpointer  data)
{
  XloopRun *r = data;
  CoopFuture **window = g_new0 (CoopFuture *, r->width);
  gint64 sent = 0, received = 0;

  while (received < r->n)
    {
      while (sent < r->n && sent - received < r->width)
        {
          window[sent % r->width] = coop_loop_run_task_threadsafe (r->remote, NULL, NULL, echo_body,
                                                                   GSIZE_TO_POINTER (sent), NULL);
          sent++;
        }
      if (!coop_await (window[received % r->width], NULL) ||
          coop_future_get_int64 (window[received % r->width], NULL) != received)
        r->lost++;
      g_object_unref (window[received % r->width]);
      received++;
    }
  g_free (window);
}

/* ns per round trip: a task started on another loop (another thread) and
 * its result back on this one. */
static double
xloop_run (CoopLoopPool *pool,
           gint64        n,
           gint64        width)
{
  XloopRun r = { coop_loop_pool_get_loop (pool, 0), n, width, 0 };
  g_autoptr(CoopTask) task = NULL;
  gint64 t0;

  t0 = now_ns ();
  task = coop_task_new (loop, xloop_body, &r, NULL);
  coop_loop_run_until_complete (loop, COOP_FUTURE (task), NULL);
  t0 = now_ns () - t0;
  if (r.lost != 0)
    g_error ("xloop: %" G_GINT64_FORMAT " hand-offs lost", r.lost);
  return (double) t0 / n;
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

/* Starts suspended task number i: stackful or dense. */
typedef void (*SuspendedSpawn) (gint64 i);

static void
suspended_spawn_task (gint64 i)
{
  g_object_unref (coop_task_new (loop, suspended_body, GSIZE_TO_POINTER (i), NULL));
}

static void
suspended_measure (gint64         n,
                   SuspendedSpawn spawn)
{
  gint64 rss0, rss1, maps, t0, t1, t2, i;

  /* Warm-up: types registered, a few stacks in the pool, then give back
   * what malloc holds. */
  mailboxes = g_new0 (CoopFuture *, MAX (n, 100));
  susp_started = susp_finished = 0;
  susp_target = 100;
  for (i = 0; i < 100; i++)
    spawn (i);
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
    spawn (i);
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

/* --- dense tasks (--impl coop-dense): pingpong and suspended ----------------
 * The same workloads with CoopDenseTask state machines in place of
 * stackful tasks: one step per hand-off, no stack. */

typedef struct
{
  Pair   *pair;
  gint64  i;
} DenseSide;

static CoopFuture *
dense_ping_step (CoopDenseTask *task,
                 CoopFuture    *completed,
                 gpointer       data)
{
  DenseSide *side = data;
  Pair *p = side->pair;
  CoopFuture *mine, *theirs;

  if (completed != NULL && ++side->i == p->rounds)
    return NULL;
  mine = coop_future_new (loop);
  theirs = p->box[1];
  p->box[0] = mine;
  p->box[1] = NULL;
  coop_future_set_none (theirs);
  return mine;     /* the reference goes to the task */
}

static CoopFuture *
dense_pong_step (CoopDenseTask *task,
                 CoopFuture    *completed,
                 gpointer       data)
{
  DenseSide *side = data;
  Pair *p = side->pair;
  CoopFuture *mine, *theirs;

  /* The futures go to the task that waits for them (the pointers in the
   * pair are borrowed): the first is the one the run made. */
  if (completed == NULL)
    return p->box[1];
  mine = ++side->i < p->rounds ? coop_future_new (loop) : NULL;
  theirs = p->box[0];
  p->box[1] = mine;
  p->box[0] = NULL;
  coop_future_set_none (theirs);
  if (mine == NULL)
    pair_finished ();
  return mine;
}

static double
dense_pingpong_run (gint64 n,
                    gint64 width)
{
  gint64 rounds = MAX (n / width, 1), t0, t1, i;
  Pair *pairs = g_new0 (Pair, width);
  DenseSide *sides = g_new0 (DenseSide, 2 * width);

  pairs_done = 0;
  pairs_target = width;
  t0 = now_ns ();
  for (i = 0; i < width; i++)
    {
      pairs[i].rounds = rounds;
      pairs[i].box[1] = coop_future_new (loop);
      sides[2 * i].pair = sides[2 * i + 1].pair = &pairs[i];
      g_object_unref (coop_dense_task_new (loop, dense_pong_step, &sides[2 * i + 1], NULL));
      g_object_unref (coop_dense_task_new (loop, dense_ping_step, &sides[2 * i], NULL));
    }
  run ();
  t1 = now_ns ();
  while (g_main_context_iteration (ctx, FALSE))
    ;
  g_free (sides);
  g_free (pairs);
  return (t1 - t0) / (2.0 * rounds * width);
}

static CoopFuture *
dense_suspended_step (CoopDenseTask *task,
                      CoopFuture    *completed,
                      gpointer       data)
{
  gint64 i = GPOINTER_TO_SIZE (data);

  if (completed == NULL)
    {
      CoopFuture *mine = coop_future_new (loop);

      mailboxes[i] = mine;
      if (++susp_started == susp_target)
        quit ();
      return mine;  /* the task's reference; mailboxes[i] borrows it */
    }
  mailboxes[i] = NULL;
  if (++susp_finished == susp_target)
    quit ();
  return NULL;
}

static void
dense_suspended_spawn (gint64 i)
{
  g_object_unref (coop_dense_task_new (loop, dense_suspended_step, GSIZE_TO_POINTER (i), NULL));
}

/* --- start-many: N tasks each sleeping 100 ms, all started at once ---------
 * start_s: from the first coop_task_new () until every task has run to its
 * await (suspended on its timer); wall_s: until the last has woken and
 * finished; *_cpu_s: the process's CPU time over the same spans;
 * again_start_*: the start of a second burst right after the first.  The
 * peers (Vala async, gtk-rs futures, libdex fibers) do the same with their
 * own timers.  Stackful tasks or (--impl coop-dense) CoopDenseTasks. */

#define START_MANY_DELAY_USEC (100 * G_TIME_SPAN_MILLISECOND)

static gint64 sleepers_started, sleepers_finished, sleepers_target;

static void
sleeper_started (void)
{
  if (++sleepers_started == sleepers_target)
    quit ();
}

static void
sleeper_finished (void)
{
  if (++sleepers_finished == sleepers_target)
    quit ();
}

static void
sleeper_body (CoopTask *task,
              gpointer  data)
{
  CoopFuture *nap = coop_sleep (loop, START_MANY_DELAY_USEC);

  sleeper_started ();
  if (!coop_await (nap, NULL))
    g_error ("start-many: await failed");
  g_object_unref (nap);
  sleeper_finished ();
}

static CoopFuture *
dense_sleeper_step (CoopDenseTask *task,
                    CoopFuture    *completed,
                    gpointer       data)
{
  CoopFuture *nap;

  if (completed != NULL)
    {
      sleeper_finished ();
      return NULL;
    }
  nap = coop_sleep (loop, START_MANY_DELAY_USEC);
  sleeper_started ();
  return nap;   /* the reference goes to the task */
}

/* Starts n sleepers and returns once each is suspended on its timer. */
static void
start_many_spawn (gint64   n,
                  gboolean dense)
{
  sleepers_started = sleepers_finished = 0;
  sleepers_target = n;
  for (gint64 i = 0; i < n; i++)
    {
      if (dense)
        g_object_unref (coop_dense_task_new (loop, dense_sleeper_step, NULL, NULL));
      else
        g_object_unref (coop_task_new (loop, sleeper_body, NULL, NULL));
    }
  /* The last one to start stops the loop, then suspends in its await
   * before this dispatch returns. */
  run ();
}

static void
start_many_measure (gint64   n,
                    gboolean dense)
{
  gint64 t0, t1, t2, c0, c1, c2;

  /* Warm-up: types registered, a few stacks in the pool. */
  start_many_spawn (MIN (n, 100), dense);
  run ();

  c0 = cpu_ns ();
  t0 = now_ns ();
  start_many_spawn (n, dense);
  t1 = now_ns ();
  c1 = cpu_ns ();
  run ();
  t2 = now_ns ();
  c2 = cpu_ns ();
  g_assert_cmpint (sleepers_finished, ==, n);
  json_begin ();
  json_num ("start_s", (t1 - t0) / 1e9);
  json_num ("wall_s", (t2 - t0) / 1e9);
  /* CPU time (user + system) of the process over the same spans: what a
   * noisy machine's neighbours do not add to. */
  json_num ("start_cpu_s", (c1 - c0) / 1e9);
  json_num ("wall_cpu_s", (c2 - c0) / 1e9);

  /* A second burst of the same size right after the first: what a
   * program that keeps starting bursts pays (Coop keeps the first burst's
   * stacks warm for it). */
  c0 = cpu_ns ();
  t0 = now_ns ();
  start_many_spawn (n, dense);
  t1 = now_ns ();
  c1 = cpu_ns ();
  run ();
  g_assert_cmpint (sleepers_finished, ==, n);
  json_num ("again_start_s", (t1 - t0) / 1e9);
  json_num ("again_start_cpu_s", (c1 - c0) / 1e9);
}

/* --- queue, lock: the synchronisation primitives against asyncio's ----------
 * queue          N items through an unbounded CoopQueue, 1 producer task,
 *                1 consumer task: ns_per_op per item
 * queue-bounded  the same through a queue of maxsize 1 (every put waits)
 * queue-many     maxsize 100, 4 producers and 4 consumers
 * lock           N acquire+release of a CoopLock in one task, uncontended:
 *                ns_per_op with coop_lock_lock() (no future when free),
 *                future_ns_per_op through coop_lock_acquire() + await
 * The consumers start first, so they wait on the empty queue when the
 * producers begin (workload.py does the same with asyncio.Queue). */

typedef struct
{
  CoopQueue *queue;
  gint64     n_items;
  gint64     first;    /* producer: the first value it puts */
  gint64     sum;      /* consumer: the sum of what it got */
} QueueSide;

static gint64 sides_done, sides_target;

static void
side_finished (void)
{
  if (++sides_done == sides_target)
    quit ();
}

static void
producer_body (CoopTask *task,
               gpointer  data)
{
  QueueSide *side = data;
  GValue value = G_VALUE_INIT;

  g_value_init (&value, G_TYPE_INT64);
  for (gint64 i = 0; i < side->n_items; i++)
    {
      CoopFuture *put;

      g_value_set_int64 (&value, side->first + i);
      put = coop_queue_put (side->queue, &value, 0);
      if (!coop_await (put, NULL))
        g_error ("queue: put failed");
      g_object_unref (put);
    }
  g_value_unset (&value);
  side_finished ();
}

static void
consumer_body (CoopTask *task,
               gpointer  data)
{
  QueueSide *side = data;

  for (gint64 i = 0; i < side->n_items; i++)
    {
      CoopFuture *item = coop_queue_get (side->queue);

      if (!coop_await (item, NULL))
        g_error ("queue: get failed");
      side->sum += coop_future_get_int64 (item, NULL);
      g_object_unref (item);
    }
  side_finished ();
}

/* Returns ns per item. */
static double
queue_run (gint64 n,
           guint  maxsize,
           guint  n_sides)
{
  CoopQueue *queue = coop_queue_new (loop, maxsize, COOP_QUEUE_FIFO);
  QueueSide *producers = g_new0 (QueueSide, n_sides);
  QueueSide *consumers = g_new0 (QueueSide, n_sides);
  gint64 per_side = n / n_sides, t0, t1, sum = 0;

  sides_done = 0;
  sides_target = 2 * n_sides;
  t0 = now_ns ();
  for (guint i = 0; i < n_sides; i++)
    {
      consumers[i] = (QueueSide) { queue, per_side, 0, 0 };
      g_object_unref (coop_task_new (loop, consumer_body, &consumers[i], NULL));
    }
  for (guint i = 0; i < n_sides; i++)
    {
      producers[i] = (QueueSide) { queue, per_side, (gint64) i * per_side, 0 };
      g_object_unref (coop_task_new (loop, producer_body, &producers[i], NULL));
    }
  run ();
  t1 = now_ns ();
  for (guint i = 0; i < n_sides; i++)
    sum += consumers[i].sum;
  if (sum != per_side * n_sides * (per_side * n_sides - 1) / 2)
    g_error ("queue: the consumers got a sum of %" G_GINT64_FORMAT, sum);
  g_object_unref (queue);
  g_free (producers);
  g_free (consumers);
  return (t1 - t0) / (double) (per_side * n_sides);
}

typedef struct
{
  CoopLock *lock;
  gint64    n;
  gboolean  future_path;
} LockRun;

static void
lock_body (CoopTask *task,
           gpointer  data)
{
  LockRun *r = data;

  for (gint64 i = 0; i < r->n; i++)
    {
      if (r->future_path)
        {
          CoopFuture *acquired = coop_lock_acquire (r->lock);

          if (!coop_await (acquired, NULL))
            g_error ("lock: acquire failed");
          g_object_unref (acquired);
        }
      else if (!coop_lock_lock (r->lock, NULL))
        g_error ("lock: coop_lock_lock failed");
      coop_lock_release (r->lock);
    }
  side_finished ();
}

/* Returns ns per acquire+release. */
static double
lock_run (gint64   n,
          gboolean future_path)
{
  LockRun r = { coop_lock_new (loop), n, future_path };
  gint64 t0, t1;

  sides_done = 0;
  sides_target = 1;
  t0 = now_ns ();
  g_object_unref (coop_task_new (loop, lock_body, &r, NULL));
  run ();
  t1 = now_ns ();
  g_assert_false (coop_lock_is_locked (r.lock));
  g_object_unref (r.lock);
  return (t1 - t0) / (double) n;
}

/* --- idle: one main-loop iteration with nothing ready, N waits pending -------
 * Coop: N tasks asleep for an hour (one timer heap); GLib: N pending
 * one-hour g_timeout_add() sources (one GSource each).  iteration_ns is
 * g_main_context_iteration (FALSE) timed over about 200 ms.  Then the
 * power side: wakeups_per_s counts the blocking iterations
 * (g_main_context_iteration (TRUE) returns only once the poll woke up)
 * over 500 ms, less the one that ends the count. */

#define IDLE_DELAY_USEC (G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC)

static gint64 idle_asleep;

static void
idle_sleeper_body (CoopTask *task,
                   gpointer  data)
{
  CoopFuture *nap = coop_sleep (loop, IDLE_DELAY_USEC);

  if (++idle_asleep == (gint64) GPOINTER_TO_SIZE (data))
    quit ();
  coop_await (nap, NULL);
  g_object_unref (nap);
}

static gboolean
idle_never (gpointer data)
{
  g_error ("idle: a one-hour timeout fired");
  return G_SOURCE_REMOVE;
}

static gboolean
idle_count_done (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Wake-ups of an idle loop in @msec: blocking iterations, less the one the
 * end of the count takes. */
static gint64
idle_wakeups (guint msec)
{
  gboolean done = FALSE;
  gint64 wakeups = 0;
  GSource *end = g_timeout_source_new (msec);

  g_source_set_callback (end, idle_count_done, &done, NULL);
  g_source_attach (end, ctx);
  while (!done)
    {
      g_main_context_iteration (ctx, TRUE);
      wakeups++;
    }
  g_source_unref (end);
  return wakeups - 1;
}

static void
idle_measure (gint64 n)
{
  gint64 t0, t1, iterations = 0;

  idle_asleep = 0;
  for (gint64 i = 0; i < n; i++)
    {
      if (loop != NULL)
        g_object_unref (coop_task_new (loop, idle_sleeper_body, GSIZE_TO_POINTER (n), NULL));
      else
        {
          GSource *source = g_timeout_source_new (IDLE_DELAY_USEC / 1000);

          g_source_set_callback (source, idle_never, NULL, NULL);
          g_source_attach (source, ctx);
          g_source_unref (source);
        }
    }
  if (loop != NULL)
    run ();
  t0 = now_ns ();
  do
    {
      g_main_context_iteration (ctx, FALSE);
      iterations++;
      t1 = now_ns ();
    }
  while (t1 - t0 < 200 * 1000 * 1000 && iterations < 1000000);
  json_begin ();
  json_num ("iteration_ns", (t1 - t0) / (double) iterations);
  json_num ("wakeups_per_s", idle_wakeups (500) / 0.5);
  /* Pending tasks are left to the process's exit. */
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
  gboolean coop, dense;

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (opt_impl == NULL || opt_workload == NULL || opt_n < 1 || opt_width < 1 ||
      (!g_str_equal (opt_impl, "coop") && !g_str_equal (opt_impl, "glib") &&
       !g_str_equal (opt_impl, "coop-dense")))
    {
      g_printerr ("usage: bench-workload --impl coop|coop-dense|glib --workload W --n N\n");
      return 2;
    }
  raise_nofile_limit ();
  coop = g_str_equal (opt_impl, "coop");
  dense = g_str_equal (opt_impl, "coop-dense");
  ctx = g_main_context_default ();
  if (coop || dense)
    loop = coop_loop_new (ctx);
  else
    ml = g_main_loop_new (ctx, FALSE);

  if (dense && g_str_equal (opt_workload, "pingpong"))
    {
      dense_pingpong_run (MIN (opt_n, 1000 * opt_width), opt_width);
      json_begin ();
      json_num ("ns_per_op", dense_pingpong_run (opt_n, opt_width));
    }
  else if (dense && g_str_equal (opt_workload, "suspended"))
    suspended_measure (opt_n, dense_suspended_spawn);
  else if (g_str_equal (opt_workload, "start-many") && (coop || dense))
    start_many_measure (opt_n, dense);
  else if (dense)
    {
      g_printerr ("bench-workload: coop-dense has no %s workload\n", opt_workload);
      return 3;
    }
  else if (g_str_equal (opt_workload, "spawn"))
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
  else if (g_str_equal (opt_workload, "cpuloops") && coop)
    {
      json_begin ();
      json_num ("ns_per_op", cpuloops_run (opt_n, opt_width));
      json_num ("loops", (double) opt_width);
      json_num ("cpu_per_wall", cpuloops_cpu_per_wall);
    }
  else if (g_str_equal (opt_workload, "xloop") && coop)
    {
      CoopLoopPool *pool = coop_loop_pool_new (1);

      xloop_run (pool, MIN (opt_n, 1000), opt_width);
      json_begin ();
      json_num ("ns_per_op", xloop_run (pool, opt_n, opt_width));
      coop_loop_pool_shutdown (pool, -1, NULL);
      g_object_unref (pool);
    }
  else if (g_str_equal (opt_workload, "suspended") && coop)
    suspended_measure (opt_n, suspended_spawn_task);
  else if (g_str_equal (opt_workload, "timers"))
    timers_measure (opt_n);
  else if (g_str_has_prefix (opt_workload, "queue") && coop)
    {
      guint maxsize = 0, sides = 1;

      if (g_str_equal (opt_workload, "queue-bounded"))
        maxsize = 1;
      else if (g_str_equal (opt_workload, "queue-many"))
        maxsize = 100, sides = 4;
      else if (!g_str_equal (opt_workload, "queue"))
        {
          g_printerr ("bench-workload: no %s workload\n", opt_workload);
          return 3;
        }
      queue_run (MIN (opt_n, 1000), maxsize, sides);
      json_begin ();
      json_num ("ns_per_op", queue_run (opt_n, maxsize, sides));
    }
  else if (g_str_equal (opt_workload, "lock") && coop)
    {
      lock_run (MIN (opt_n, 1000), FALSE);
      json_begin ();
      json_num ("ns_per_op", lock_run (opt_n, FALSE));
      json_num ("future_ns_per_op", lock_run (opt_n, TRUE));
    }
  else if (g_str_equal (opt_workload, "idle"))
    idle_measure (opt_n);
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
