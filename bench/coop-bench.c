/* coop-bench.c: Coop against plain GLib (and CPython asyncio), in the same run.
 *
 * Every workload is measured for Coop and for the closest plain-GLib
 * equivalent, alternating the two implementations (Coop first on even
 * repetitions, GLib first on odd ones) so that a noisy neighbour on a
 * shared machine hurts both alike.  Each measurement runs on a fresh
 * GMainContext (pushed as thread-default), with the Coop loop's default
 * settings.  The median of the repetitions is reported, with min and max.
 *
 * The memory workload runs in a freshly exec'd copy of this program for
 * every repetition, so that memory freed by an earlier measurement (and
 * kept by malloc) cannot hide the cost of a later one.
 *
 * The queue and lock workloads have no plain-GLib equivalent: their peer is
 * CPython's asyncio, measured by asyncio_bench.py (run with /usr/bin/python3
 * in a subprocess, one per repetition, alternating with Coop's repetitions).
 *
 * See bench/README.md for what each figure means.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_REPS 51

/* The asyncio peer of the queue and lock workloads: Debian's CPython (not
 * whatever `python3` comes first on PATH), running asyncio_bench.py from
 * the source tree. */
#define PYTHON_DEFAULT "/usr/bin/python3"
#ifndef COOP_BENCH_SRCDIR
# error "COOP_BENCH_SRCDIR must be defined (bench/meson.build does)"
#endif
#define ASYNCIO_SCRIPT COOP_BENCH_SRCDIR "/asyncio_bench.py"

/* --- options -------------------------------------------------------------- */

static gboolean opt_quick;
static int      opt_reps = 5;
static char    *opt_json;
static char    *opt_only;
static char    *opt_impl;
static gboolean opt_sweep;
static char    *opt_python = (char *) PYTHON_DEFAULT;
static char    *opt_mem_child;     /* internal: "coop" or "glib" */
static int      opt_mem_n;         /* internal */

static GOptionEntry option_entries[] = {
  { "quick", 'q', 0, G_OPTION_ARG_NONE, &opt_quick,
    "Divide every N by 10 (a smoke run)", NULL },
  { "reps", 'r', 0, G_OPTION_ARG_INT, &opt_reps,
    "Repetitions per implementation (default 5)", "N" },
  { "json", 'j', 0, G_OPTION_ARG_FILENAME, &opt_json,
    "Also write the results as JSON to FILE", "FILE" },
  { "only", 'o', 0, G_OPTION_ARG_STRING, &opt_only,
    "Run only these workloads (comma-separated: spawn,pingpong,pingpong-many,"
    "chain,chain-many,memory,queue,queue-bounded,queue-many,lock)", "LIST" },
  { "sweep", 0, 0, G_OPTION_ARG_NONE, &opt_sweep,
    "Instead of the table: hand-off cost against the number of pairs (1..4,000)", NULL },
  { "impl", 'i', 0, G_OPTION_ARG_STRING, &opt_impl,
    "Run only one implementation: coop, glib or asyncio (for profiling; no ratios)", "IMPL" },
  { "python", 0, 0, G_OPTION_ARG_FILENAME, &opt_python,
    "Interpreter for the asyncio peer (default " PYTHON_DEFAULT ")", "PATH" },
  { "mem-child", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &opt_mem_child,
    "internal", NULL },
  { "mem-n", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &opt_mem_n, "internal", NULL },
  { NULL }
};

/* --- time, memory ------------------------------------------------------------ */

static inline gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* VmRSS of this process, in KiB, or -1. */
static gint64
read_rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return -1;
  line = strstr (status, "\nVmRSS:");
  if (line == NULL)
    return -1;
  return g_ascii_strtoll (line + strlen ("\nVmRSS:"), NULL, 10);
}

static gint64
count_maps (void)
{
  g_autofree char *maps = NULL;
  gint64 n = 0;
  const char *p;

  if (!g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL))
    return -1;
  for (p = maps; *p != '\0'; p++)
    n += *p == '\n';
  return n;
}

/* --- environments: a fresh context per measurement ---------------------------- */

typedef struct
{
  GMainContext *ctx;
  CoopLoop     *loop;   /* Coop runs */
  GMainLoop    *ml;     /* GLib runs */
  GSource      *counter;
} Env;

/* When set, every measurement counts its main-loop iterations with a
 * source whose prepare() runs once per iteration (used on the untimed
 * warm-up runs only, so the timed runs carry no extra source). */
static gboolean count_iterations;
static guint64  n_iterations;
/* Operations done by the last run (tasks, hand-offs, callbacks). */
static guint64  last_ops;

static gboolean
counter_prepare (GSource *source,
                 int     *timeout)
{
  n_iterations++;
  *timeout = -1;
  return FALSE;
}

static gboolean
counter_dispatch (GSource     *source,
                  GSourceFunc  callback,
                  gpointer     user_data)
{
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs counter_funcs = { counter_prepare, NULL, counter_dispatch, NULL, NULL, NULL };

static void
env_begin (Env      *env,
           gboolean  coop)
{
  env->ctx = g_main_context_new ();
  g_main_context_push_thread_default (env->ctx);
  env->loop = coop ? coop_loop_new (env->ctx) : NULL;
  env->ml = coop ? NULL : g_main_loop_new (env->ctx, FALSE);
  env->counter = NULL;
  if (count_iterations)
    {
      /* Highest priority: GLib calls prepare() on it every iteration. */
      env->counter = g_source_new (&counter_funcs, sizeof (GSource));
      g_source_set_priority (env->counter, G_PRIORITY_HIGH);
      g_source_attach (env->counter, env->ctx);
    }
}

static void
env_end (Env *env)
{
  if (env->counter != NULL)
    {
      g_source_destroy (env->counter);
      g_clear_pointer (&env->counter, g_source_unref);
    }
  if (env->loop != NULL)
    {
      coop_loop_close (env->loop);
      g_clear_object (&env->loop);
    }
  g_clear_pointer (&env->ml, g_main_loop_unref);
  /* Nothing may be left behind on the context. */
  while (g_main_context_iteration (env->ctx, FALSE))
    ;
  g_main_context_pop_thread_default (env->ctx);
  g_clear_pointer (&env->ctx, g_main_context_unref);
}

/* What g_idle_add() does, on the given context instead of the global
 * default one: a new idle source, attached, its reference dropped. */
static void
idle_add_ctx (GMainContext *ctx,
              GSourceFunc   func,
              gpointer      data)
{
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, ctx);
  g_source_unref (source);
}

/* --- 1. spawn: tasks started and finished ------------------------------------ */

typedef struct
{
  CoopLoop  *loop;
  GMainLoop *ml;
  guint      done;
  guint      target;
} Counter;

static void
spawn_body (CoopTask *task,
            gpointer  data)
{
  Counter *c = data;

  if (++c->done == c->target)
    coop_loop_stop (c->loop);
}

/* Returns tasks per second. */
static double
coop_spawn (guint n)
{
  Env env;
  Counter c = { 0, };
  gint64 t0, t1;
  guint i;

  env_begin (&env, TRUE);
  c.loop = env.loop;
  c.target = n;

  t0 = now_ns ();
  for (i = 0; i < n; i++)
    g_object_unref (coop_task_new (env.loop, spawn_body, &c, NULL));
  coop_loop_run_forever (env.loop);
  t1 = now_ns ();

  g_assert_cmpuint (c.done, ==, n);
  env_end (&env);
  last_ops = n;
  return n / ((t1 - t0) / 1e9);
}

static gboolean
spawn_idle (gpointer data)
{
  Counter *c = data;

  if (++c->done == c->target)
    g_main_loop_quit (c->ml);
  return G_SOURCE_REMOVE;
}

static double
glib_spawn (guint n)
{
  Env env;
  Counter c = { 0, };
  gint64 t0, t1;
  guint i;

  env_begin (&env, FALSE);
  c.ml = env.ml;
  c.target = n;

  t0 = now_ns ();
  for (i = 0; i < n; i++)
    idle_add_ctx (env.ctx, spawn_idle, &c);
  g_main_loop_run (env.ml);
  t1 = now_ns ();

  g_assert_cmpuint (c.done, ==, n);
  env_end (&env);
  last_ops = n;
  return n / ((t1 - t0) / 1e9);
}

/* --- 2. ping-pong: await hand-offs between two tasks ------------------------- */

typedef struct
{
  Counter    *counter;
  CoopLoop   *loop;
  GMainContext *ctx;
  /* Each side's pending mailbox (borrowed: its owner holds the
   * reference and drops it once its await returned). */
  CoopFuture *box[2];
  guint       rounds;
  guint       left;         /* GLib */
} Pair;

/* Side 0 sends first: makes its next mailbox, completes the other side's,
 * awaits its own. */
static void
ping_body (CoopTask *task,
           gpointer  data)
{
  Pair *p = data;
  guint i;

  for (i = 0; i < p->rounds; i++)
    {
      CoopFuture *mine = coop_future_new (p->loop);
      CoopFuture *theirs = p->box[1];

      p->box[0] = mine;
      p->box[1] = NULL;
      coop_future_set_none (theirs);
      if (!coop_await (mine, NULL))
        g_error ("ping: await failed");
      g_object_unref (mine);
    }

  if (++p->counter->done == p->counter->target)
    coop_loop_stop (p->loop);
}

/* Side 1 awaits first; its first mailbox was made by the setup code. */
static void
pong_body (CoopTask *task,
           gpointer  data)
{
  Pair *p = data;
  CoopFuture *mine = p->box[1];
  guint i;

  for (i = 0; i < p->rounds; i++)
    {
      CoopFuture *theirs;

      if (!coop_await (mine, NULL))
        g_error ("pong: await failed");
      g_object_unref (mine);
      mine = i + 1 < p->rounds ? coop_future_new (p->loop) : NULL;
      theirs = p->box[0];
      p->box[1] = mine;
      p->box[0] = NULL;
      coop_future_set_none (theirs);
    }
}

/* Returns ns per hand-off (a round trip is two hand-offs). */
static double
coop_pingpong (guint n_pairs,
               guint rounds)
{
  Env env;
  Counter c = { 0, };
  Pair *pairs = g_new0 (Pair, n_pairs);
  gint64 t0, t1;
  guint i;

  env_begin (&env, TRUE);
  c.loop = env.loop;
  c.target = n_pairs;

  t0 = now_ns ();
  for (i = 0; i < n_pairs; i++)
    {
      pairs[i].counter = &c;
      pairs[i].loop = env.loop;
      pairs[i].rounds = rounds;
      pairs[i].box[1] = coop_future_new (env.loop);
      g_object_unref (coop_task_new (env.loop, pong_body, &pairs[i], NULL));
      g_object_unref (coop_task_new (env.loop, ping_body, &pairs[i], NULL));
    }
  coop_loop_run_forever (env.loop);
  t1 = now_ns ();

  g_assert_cmpuint (c.done, ==, n_pairs);
  /* Let the pong sides (which finish one step after their ping) end. */
  while (g_main_context_iteration (env.ctx, FALSE))
    ;
  env_end (&env);
  g_free (pairs);
  last_ops = 2 * (guint64) n_pairs * rounds;
  return (t1 - t0) / (2.0 * n_pairs * rounds);
}

static gboolean glib_pong (gpointer data);

static gboolean
glib_ping (gpointer data)
{
  Pair *p = data;

  idle_add_ctx (p->ctx, glib_pong, p);
  return G_SOURCE_REMOVE;
}

static gboolean
glib_pong (gpointer data)
{
  Pair *p = data;

  if (--p->left > 0)
    idle_add_ctx (p->ctx, glib_ping, p);
  else if (++p->counter->done == p->counter->target)
    g_main_loop_quit (p->counter->ml);
  return G_SOURCE_REMOVE;
}

static double
glib_pingpong (guint n_pairs,
               guint rounds)
{
  Env env;
  Counter c = { 0, };
  Pair *pairs = g_new0 (Pair, n_pairs);
  gint64 t0, t1;
  guint i;

  env_begin (&env, FALSE);
  c.ml = env.ml;
  c.target = n_pairs;

  t0 = now_ns ();
  for (i = 0; i < n_pairs; i++)
    {
      pairs[i].counter = &c;
      pairs[i].ctx = env.ctx;
      pairs[i].left = rounds;
      idle_add_ctx (env.ctx, glib_ping, &pairs[i]);
    }
  g_main_loop_run (env.ml);
  t1 = now_ns ();

  g_assert_cmpuint (c.done, ==, n_pairs);
  env_end (&env);
  g_free (pairs);
  last_ops = 2 * (guint64) n_pairs * rounds;
  return (t1 - t0) / (2.0 * n_pairs * rounds);
}

/* --- 3. chains: each callback schedules the next ------------------------------ */

typedef struct
{
  Counter      *counter;
  CoopLoop     *loop;
  GMainContext *ctx;
  guint         left;
} Chain;

static void
coop_chain_step (gpointer data)
{
  Chain *ch = data;

  if (--ch->left > 0)
    coop_handle_unref (coop_loop_call_soon (ch->loop, coop_chain_step, ch, NULL));
  else if (++ch->counter->done == ch->counter->target)
    coop_loop_stop (ch->loop);
}

/* Returns ns per callback. */
static double
coop_chain (guint n_chains,
            guint length)
{
  Env env;
  Counter c = { 0, };
  Chain *chains = g_new0 (Chain, n_chains);
  gint64 t0, t1;
  guint i;

  env_begin (&env, TRUE);
  c.loop = env.loop;
  c.target = n_chains;

  t0 = now_ns ();
  for (i = 0; i < n_chains; i++)
    {
      chains[i].counter = &c;
      chains[i].loop = env.loop;
      chains[i].left = length;
      coop_handle_unref (coop_loop_call_soon (env.loop, coop_chain_step, &chains[i], NULL));
    }
  coop_loop_run_forever (env.loop);
  t1 = now_ns ();

  g_assert_cmpuint (c.done, ==, n_chains);
  env_end (&env);
  g_free (chains);
  last_ops = (guint64) n_chains * length;
  return (t1 - t0) / ((double) n_chains * length);
}

static gboolean
glib_chain_step (gpointer data)
{
  Chain *ch = data;

  if (--ch->left > 0)
    idle_add_ctx (ch->ctx, glib_chain_step, ch);
  else if (++ch->counter->done == ch->counter->target)
    g_main_loop_quit (ch->counter->ml);
  return G_SOURCE_REMOVE;
}

static double
glib_chain (guint n_chains,
            guint length)
{
  Env env;
  Counter c = { 0, };
  Chain *chains = g_new0 (Chain, n_chains);
  gint64 t0, t1;
  guint i;

  env_begin (&env, FALSE);
  c.ml = env.ml;
  c.target = n_chains;

  t0 = now_ns ();
  for (i = 0; i < n_chains; i++)
    {
      chains[i].counter = &c;
      chains[i].ctx = env.ctx;
      chains[i].left = length;
      idle_add_ctx (env.ctx, glib_chain_step, &chains[i]);
    }
  g_main_loop_run (env.ml);
  t1 = now_ns ();

  g_assert_cmpuint (c.done, ==, n_chains);
  env_end (&env);
  g_free (chains);
  last_ops = (guint64) n_chains * length;
  return (t1 - t0) / ((double) n_chains * length);
}

/* --- 4. memory: many suspended tasks / pending timeouts (child process) ------- */

#define LONG_DELAY_USEC (G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC)

typedef struct
{
  CoopLoop *loop;
  guint     started;
  guint     finished;
  guint     cancelled;
} Sleepers;

static void
sleeper_body (CoopTask *task,
              gpointer  data)
{
  Sleepers *s = data;
  CoopFuture *nap = coop_sleep (s->loop, LONG_DELAY_USEC);
  GError *error = NULL;

  s->started++;
  if (!coop_await (nap, &error))
    {
      s->cancelled++;
      coop_future_take_error (COOP_FUTURE (task), error);
    }
  g_object_unref (nap);
  s->finished++;
}

static gboolean
never_called (gpointer data)
{
  g_error ("a one-hour timeout fired during the benchmark");
  return G_SOURCE_REMOVE;
}

/* Times idle main-loop iterations (nothing ready) for about 200 ms. */
static double
time_idle_iterations (GMainContext *ctx)
{
  gint64 t0 = now_ns (), t1;
  guint n = 0;

  do
    {
      g_main_context_iteration (ctx, FALSE);
      n++;
      t1 = now_ns ();
    }
  while (t1 - t0 < 200 * 1000 * 1000 && n < 1000000);
  return (t1 - t0) / (double) n;
}

/* Prints one line: rss_before_kib rss_after_kib maps_before maps_after
 * create_ns_per_item iteration_ns. */
static int
mem_child (const char *which,
           guint       n)
{
  gint64 rss_before, rss_after, maps_before, maps_after, t0, t1;
  double iter_ns;
  Env env;
  guint i;

  if (g_strcmp0 (which, "coop") == 0)
    {
      Sleepers s = { 0, };
      CoopTask **tasks = g_new (CoopTask *, n);
      CoopTask *warm;

      /* Touch the array now so it is not counted below. */
      memset (tasks, 0x5a, n * sizeof (CoopTask *));

      env_begin (&env, TRUE);
      s.loop = env.loop;

      /* Warm up: types registered, one stack slab mapped, then freed. */
      warm = coop_task_new (env.loop, sleeper_body, &s, NULL);
      while (s.started < 1)
        g_main_context_iteration (env.ctx, TRUE);
      coop_task_cancel (warm, NULL);
      while (s.finished < 1)
        g_main_context_iteration (env.ctx, TRUE);
      g_object_unref (warm);
      s.started = s.finished = s.cancelled = 0;

      malloc_trim (0);
      rss_before = read_rss_kib ();
      maps_before = count_maps ();

      t0 = now_ns ();
      for (i = 0; i < n; i++)
        tasks[i] = coop_task_new (env.loop, sleeper_body, &s, NULL);
      while (s.started < n)
        g_main_context_iteration (env.ctx, TRUE);
      t1 = now_ns ();

      /* Every task has called coop_await() and is suspended on its own
       * stack. */
      g_assert_cmpuint (s.finished, ==, 0);
      rss_after = read_rss_kib ();
      maps_after = count_maps ();
      iter_ns = time_idle_iterations (env.ctx);

      for (i = 0; i < n; i++)
        coop_task_cancel (tasks[i], NULL);
      while (s.finished < n)
        g_main_context_iteration (env.ctx, TRUE);
      g_assert_cmpuint (s.cancelled, ==, n);
      for (i = 0; i < n; i++)
        {
          g_assert_true (coop_future_is_cancelled (COOP_FUTURE (tasks[i])));
          g_object_unref (tasks[i]);
        }
      env_end (&env);
      g_free (tasks);
    }
  else if (g_strcmp0 (which, "glib") == 0)
    {
      guint *ids = g_new (guint, n);
      GSource *source;

      memset (ids, 0x5a, n * sizeof (guint));
      env_begin (&env, FALSE);

      /* Warm up, as above. */
      source = g_timeout_source_new (LONG_DELAY_USEC / 1000);
      g_source_set_callback (source, never_called, NULL, NULL);
      g_source_attach (source, env.ctx);
      g_source_destroy (source);
      g_source_unref (source);

      malloc_trim (0);
      rss_before = read_rss_kib ();
      maps_before = count_maps ();

      /* What g_timeout_add() does, on this context. */
      t0 = now_ns ();
      for (i = 0; i < n; i++)
        {
          source = g_timeout_source_new (LONG_DELAY_USEC / 1000);
          g_source_set_callback (source, never_called, NULL, NULL);
          ids[i] = g_source_attach (source, env.ctx);
          g_source_unref (source);
        }
      t1 = now_ns ();

      rss_after = read_rss_kib ();
      maps_after = count_maps ();
      iter_ns = time_idle_iterations (env.ctx);

      for (i = 0; i < n; i++)
        g_source_destroy (g_main_context_find_source_by_id (env.ctx, ids[i]));
      env_end (&env);
      g_free (ids);
    }
  else
    {
      g_printerr ("--mem-child: expected coop or glib\n");
      return 2;
    }

  g_print ("%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT
           " %.1f %.1f\n",
           rss_before, rss_after, maps_before, maps_after,
           (t1 - t0) / (double) n, iter_ns);
  return 0;
}

typedef struct
{
  gboolean ok;
  double   bytes_per_item;
  double   maps_after;
  double   create_ns;
  double   iter_ns;
  char    *failure;
} MemSample;

static MemSample
run_mem_child (const char *which,
               guint       n)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *n_str = g_strdup_printf ("%u", n);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  const char *argv[] = { self, "--mem-child", which, "--mem-n", n_str, NULL };
  MemSample sample = { FALSE, };
  gint64 rss_before, rss_after, maps_before, maps_after;
  double create_ns, iter_ns;
  int status;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                     &out, &err, &status, &error))
    {
      sample.failure = g_strdup (error->message);
      return sample;
    }
  if (!g_spawn_check_wait_status (status, &error) ||
      sscanf (out, "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT
              " %" G_GINT64_FORMAT " %lf %lf",
              &rss_before, &rss_after, &maps_before, &maps_after,
              &create_ns, &iter_ns) != 6)
    {
      sample.failure = g_strdup_printf ("%s child failed: %s%s%s", which,
                                        error != NULL ? error->message : "bad output",
                                        err != NULL && *err ? "; stderr: " : "",
                                        err != NULL ? g_strstrip (err) : "");
      return sample;
    }
  sample.ok = TRUE;
  sample.bytes_per_item = (rss_after - rss_before) * 1024.0 / n;
  sample.maps_after = maps_after;
  sample.create_ns = create_ns;
  sample.iter_ns = iter_ns;
  return sample;
}

/* --- 5. queue hand-off: producers and consumers through a CoopQueue ---------- */

typedef struct
{
  Counter   *counter;
  CoopQueue *queue;
  guint      n_items;    /* this producer puts / this consumer gets */
  gint64     first;      /* producer: the first value it puts */
  gint64     sum;        /* consumer: the sum of what it got */
} QueueSide;

static void
task_finished (Counter *c)
{
  if (++c->done == c->target)
    coop_loop_stop (c->loop);
}

/* Puts first, first + 1, ... as int64 GValues (one GValue, reused: the
 * queue copies it), awaiting each put. */
static void
producer_body (CoopTask *task,
               gpointer  data)
{
  QueueSide *side = data;
  GValue value = G_VALUE_INIT;
  guint i;

  g_value_init (&value, G_TYPE_INT64);
  for (i = 0; i < side->n_items; i++)
    {
      CoopFuture *put;
      GError *error = NULL;

      g_value_set_int64 (&value, side->first + i);
      put = coop_queue_put (side->queue, &value, 0);
      if (!coop_await (put, &error))
        g_error ("producer: put failed: %s", error->message);
      g_object_unref (put);
    }
  g_value_unset (&value);
  task_finished (side->counter);
}

static void
consumer_body (CoopTask *task,
               gpointer  data)
{
  QueueSide *side = data;
  gint64 sum = 0;
  guint i;

  for (i = 0; i < side->n_items; i++)
    {
      CoopFuture *item = coop_queue_get (side->queue);
      GError *error = NULL;

      if (!coop_await (item, &error))
        g_error ("consumer: get failed: %s", error->message);
      sum += coop_future_get_int64 (item, NULL);
      g_object_unref (item);
    }
  side->sum = sum;
  task_finished (side->counter);
}

/* @n items (0 .. n - 1) from @n_sides producers to @n_sides consumers
 * through a FIFO queue of @maxsize (0: no limit).  The consumers are
 * created first, so they are already waiting when the producers start
 * (asyncio_bench.py does the same).  Returns ns per item. */
static double
coop_queue_run (guint maxsize,
                guint n_sides,
                guint n)
{
  Env env;
  Counter c = { 0, };
  CoopQueue *queue;
  QueueSide *producers = g_new0 (QueueSide, n_sides);
  QueueSide *consumers = g_new0 (QueueSide, n_sides);
  guint per_side = n / n_sides;
  gint64 t0, t1, sum = 0, expected;
  guint i;

  g_assert (per_side * n_sides == n);
  env_begin (&env, TRUE);
  queue = coop_queue_new (env.loop, maxsize, COOP_QUEUE_FIFO);
  c.loop = env.loop;
  c.target = 2 * n_sides;

  t0 = now_ns ();
  for (i = 0; i < n_sides; i++)
    {
      consumers[i] = (QueueSide) { &c, queue, per_side, 0, 0 };
      g_object_unref (coop_task_new (env.loop, consumer_body, &consumers[i], NULL));
    }
  for (i = 0; i < n_sides; i++)
    {
      producers[i] = (QueueSide) { &c, queue, per_side, (gint64) i * per_side, 0 };
      g_object_unref (coop_task_new (env.loop, producer_body, &producers[i], NULL));
    }
  coop_loop_run_forever (env.loop);
  t1 = now_ns ();

  g_assert_cmpuint (c.done, ==, 2 * n_sides);
  for (i = 0; i < n_sides; i++)
    sum += consumers[i].sum;
  expected = (gint64) n * (n - 1) / 2;
  if (sum != expected)
    g_error ("queue: the consumers got a sum of %" G_GINT64_FORMAT ", expected %" G_GINT64_FORMAT,
             sum, expected);
  g_assert_cmpuint (coop_queue_get_size (queue), ==, 0);

  g_object_unref (queue);
  env_end (&env);
  g_free (producers);
  g_free (consumers);
  last_ops = n;
  return (t1 - t0) / (double) n;
}

static double coop_queue_unbounded (guint n) { return coop_queue_run (0, 1, n); }
static double coop_queue_bounded (guint n)   { return coop_queue_run (1, 1, n); }
static double coop_queue_many (guint n)      { return coop_queue_run (100, 4, n); }

/* --- 6. uncontended lock: one task acquires and releases -------------------- */

typedef struct
{
  Counter  *counter;
  CoopLock *lock;
  guint     n;
  gboolean  future_path;
  guint     held;
} LockRun;

static void
lock_body (CoopTask *task,
           gpointer  data)
{
  LockRun *run = data;
  CoopLock *lock = run->lock;
  guint i;

  for (i = 0; i < run->n; i++)
    {
      GError *error = NULL;

      if (run->future_path)
        {
          CoopFuture *acquired = coop_lock_acquire (lock);

          if (!coop_await (acquired, &error))
            g_error ("lock: await acquire failed: %s", error->message);
          g_object_unref (acquired);
        }
      else if (!coop_lock_lock (lock, &error))
        g_error ("lock: coop_lock_lock failed: %s", error->message);
      run->held++;
      coop_lock_release (lock);
    }
  task_finished (run->counter);
}

/* Returns ns per acquire+release pair. */
static double
coop_lock_run (gboolean future_path,
               guint    n)
{
  Env env;
  Counter c = { 0, };
  LockRun run = { &c, NULL, n, future_path, 0 };
  gint64 t0, t1;

  env_begin (&env, TRUE);
  run.lock = coop_lock_new (env.loop);
  c.loop = env.loop;
  c.target = 1;

  t0 = now_ns ();
  g_object_unref (coop_task_new (env.loop, lock_body, &run, NULL));
  coop_loop_run_forever (env.loop);
  t1 = now_ns ();

  g_assert_cmpuint (run.held, ==, n);
  g_assert_false (coop_lock_is_locked (run.lock));
  g_object_unref (run.lock);
  env_end (&env);
  last_ops = n;
  return (t1 - t0) / (double) n;
}

static double coop_lock_fast (guint n)   { return coop_lock_run (FALSE, n); }
static double coop_lock_future (guint n) { return coop_lock_run (TRUE, n); }

/* --- the asyncio peer: asyncio_bench.py in a subprocess ------------------------ */

static char *asyncio_na;        /* why the peer can't run, or NULL */
static char *asyncio_version;   /* "3.11.2" */
static char *asyncio_loop;      /* "_UnixSelectorEventLoop" */

/* The number after "key": in the script's JSON output (the keys we read
 * are unique in it), or NAN. */
static double
json_number (const char *json,
             const char *key)
{
  g_autofree char *needle = g_strdup_printf ("\"%s\":", key);
  const char *p = json != NULL ? strstr (json, needle) : NULL;
  char *end;
  double v;

  if (p == NULL)
    return NAN;
  p += strlen (needle);
  while (*p == ' ')
    p++;
  v = g_ascii_strtod (p, &end);
  return end == p ? NAN : v;
}

static char *
json_string_value (const char *json,
                   const char *key)
{
  g_autofree char *needle = g_strdup_printf ("\"%s\": \"", key);
  const char *p = json != NULL ? strstr (json, needle) : NULL;
  const char *end;

  if (p == NULL)
    return NULL;
  p += strlen (needle);
  end = strchr (p, '"');
  return end != NULL ? g_strndup (p, end - p) : NULL;
}

/* Runs the script with @args; returns its stdout, or NULL with *failure. */
static char *
run_asyncio_script (const char * const *args,
                    char              **failure)
{
  GPtrArray *argv = g_ptr_array_new ();
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  int status;
  gboolean ok;

  g_ptr_array_add (argv, opt_python);
  g_ptr_array_add (argv, (char *) ASYNCIO_SCRIPT);
  for (; *args != NULL; args++)
    g_ptr_array_add (argv, (char *) *args);
  g_ptr_array_add (argv, NULL);
  ok = g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                     &out, &err, &status, &error) &&
       g_spawn_check_wait_status (status, &error);
  g_ptr_array_unref (argv);
  if (!ok)
    {
      *failure = g_strdup_printf ("%s %s failed: %s%s%s", opt_python, ASYNCIO_SCRIPT,
                                  error->message,
                                  err != NULL && *err ? "; stderr: " : "",
                                  err != NULL ? g_strstrip (err) : "");
      return NULL;
    }
  return g_steal_pointer (&out);
}

/* Decides once whether the peer can run, and which Python it is. */
static void
asyncio_probe (void)
{
  static const char * const info_args[] = { "--info", NULL };
  g_autofree char *out = NULL;
  char *failure = NULL;

  if (!g_file_test (opt_python, G_FILE_TEST_IS_EXECUTABLE))
    {
      asyncio_na = g_strdup_printf ("%s not found", opt_python);
      return;
    }
  if (!g_file_test (ASYNCIO_SCRIPT, G_FILE_TEST_IS_REGULAR))
    {
      asyncio_na = g_strdup_printf ("%s not found", ASYNCIO_SCRIPT);
      return;
    }
  out = run_asyncio_script (info_args, &failure);
  if (out == NULL)
    {
      asyncio_na = failure;
      return;
    }
  asyncio_version = json_string_value (out, "python");
  asyncio_loop = json_string_value (out, "loop");
  if (asyncio_version == NULL)
    asyncio_na = g_strdup_printf ("unexpected output from %s --info", ASYNCIO_SCRIPT);
}

typedef struct
{
  gboolean ok;
  double   ns;
  double   iters_per_op;
  char    *failure;
} PeerSample;

/* One repetition of @workload with asyncio (the script also does its own
 * untimed warm-up with n / 10, which counts event-loop iterations). */
static PeerSample
run_asyncio (const char *workload,
             guint       n)
{
  g_autofree char *n_str = g_strdup_printf ("%u", n);
  const char *args[] = { "--only", workload, "--n", n_str, "--reps", "1", NULL };
  g_autofree char *out = NULL;
  PeerSample sample = { FALSE, NAN, NAN, NULL };

  out = run_asyncio_script (args, &sample.failure);
  if (out == NULL)
    return sample;
  sample.ns = json_number (out, "median");
  sample.iters_per_op = json_number (out, "iterations_per_op");
  if (isnan (sample.ns))
    {
      sample.failure = g_strdup_printf ("no median in the output of %s", ASYNCIO_SCRIPT);
      return sample;
    }
  sample.ok = TRUE;
  return sample;
}

/* --- results ------------------------------------------------------------------------- */

typedef struct
{
  const char *id;
  char       *title;
  const char *unit;
  double      scale;           /* displayed value = raw / scale */
  gboolean    lower_is_better;
  char       *coop_what;
  char       *glib_what;      /* what the peer does */
  const char *peer;           /* the peer: "glib" or "asyncio" */
  char       *peer_na;        /* the peer could not run at all: why */
  double      coop[MAX_REPS];
  double      glib[MAX_REPS]; /* the peer's samples */
  guint       n_coop;
  guint       n_glib;
  double      coop_iters_per_op;   /* from the warm-up run; < 0 if unknown */
  double      glib_iters_per_op;
  char       *failure;
} Result;

static GPtrArray *results;

static Result *
result_new (const char *id,
            char       *title,
            const char *unit,
            double      scale,
            gboolean    lower_is_better,
            char       *coop_what,
            char       *glib_what)
{
  Result *r = g_new0 (Result, 1);

  r->id = id;
  r->title = title;
  r->unit = unit;
  r->scale = scale;
  r->lower_is_better = lower_is_better;
  r->coop_what = coop_what;
  r->glib_what = glib_what;
  r->peer = "glib";
  r->coop_iters_per_op = r->glib_iters_per_op = -1;
  g_ptr_array_add (results, r);
  return r;
}

static int
cmp_double (gconstpointer a,
            gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

typedef struct
{
  double median, min, max;
} Stats;

static Stats
stats_of (const double *values,
          guint         n)
{
  double sorted[MAX_REPS];
  Stats s = { NAN, NAN, NAN };

  if (n == 0)
    return s;
  memcpy (sorted, values, n * sizeof (double));
  qsort (sorted, n, sizeof (double), cmp_double);
  s.min = sorted[0];
  s.max = sorted[n - 1];
  s.median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return s;
}

static char *
format_value (double value)
{
  if (isnan (value))
    return g_strdup ("-");
  if (fabs (value) >= 100)
    return g_strdup_printf ("%.0f", value);
  if (fabs (value) >= 10)
    return g_strdup_printf ("%.1f", value);
  return g_strdup_printf ("%.2f", value);
}

static char *
format_cell (const double *values,
             guint         n,
             double        scale)
{
  Stats s = stats_of (values, n);
  g_autofree char *med = format_value (s.median / scale);
  g_autofree char *lo = format_value (s.min / scale);
  g_autofree char *hi = format_value (s.max / scale);

  if (n == 0)
    return g_strdup ("(failed)");
  return g_strdup_printf ("%s [%s..%s]", med, lo, hi);
}

static void
print_header (const char *peer)
{
  g_autofree char *peer_head = g_strdup_printf ("%s median [min..max]", peer);
  g_autofree char *ratio_head = g_strdup_printf ("Coop/%s", peer);

  g_print ("%-46s %-15s %-26s %-26s %12s\n",
           "workload", "unit", "Coop median [min..max]", peer_head, ratio_head);
  g_print ("%-46s %-15s %-26s %-26s %12s\n",
           "--------", "----", "----------------------", "----------------------", "---------");
}

static char *
format_iters (double value)
{
  return value >= 0 ? g_strdup_printf ("%.3g", value) : g_strdup ("-");
}

static void
print_result (Result *r)
{
  /* No samples and no failure: that side was not run (--impl). */
  g_autofree char *coop = r->n_coop == 0 && r->failure == NULL ? g_strdup ("-")
                        : format_cell (r->coop, r->n_coop, r->scale);
  g_autofree char *glib = r->peer_na != NULL ? g_strdup ("n/a")
                        : r->n_glib == 0 && r->failure == NULL ? g_strdup ("-")
                        : format_cell (r->glib, r->n_glib, r->scale);
  Stats sc = stats_of (r->coop, r->n_coop);
  Stats sg = stats_of (r->glib, r->n_glib);
  g_autofree char *ratio = NULL;
  g_autofree char *coop_iters = format_iters (r->coop_iters_per_op);
  g_autofree char *glib_iters = format_iters (r->glib_iters_per_op);

  if (r->n_coop > 0 && r->n_glib > 0 && sg.median != 0)
    ratio = g_strdup_printf (sc.median / sg.median >= 0.1 ? "%.2f" : "%.2g", sc.median / sg.median);
  else
    ratio = g_strdup (r->peer_na != NULL ? "n/a" : "-");
  g_print ("%-46s %-15s %-26s %-26s %12s\n", r->title, r->unit, coop, glib, ratio);
  if (r->coop_iters_per_op >= 0 || r->glib_iters_per_op >= 0)
    g_print ("%-46s %-15s %-26s %-26s\n", "     main-loop iterations per op", "",
             coop_iters, glib_iters);
  if (r->failure != NULL)
    g_print ("    ! %s\n", r->failure);
}

static void
json_stats (GString      *json,
            const char   *key,
            const double *values,
            guint         n,
            double        scale)
{
  Stats s = stats_of (values, n);
  guint i;

  g_string_append_printf (json, "\"%s\": {", key);
  if (n > 0)
    g_string_append_printf (json, "\"median\": %.6g, \"min\": %.6g, \"max\": %.6g, ",
                            s.median / scale, s.min / scale, s.max / scale);
  else
    g_string_append (json, "\"median\": null, \"min\": null, \"max\": null, ");
  g_string_append (json, "\"samples\": [");
  for (i = 0; i < n; i++)
    g_string_append_printf (json, "%s%.6g", i ? ", " : "", values[i] / scale);
  g_string_append (json, "]}");
}

static char *
json_string (const char *s)
{
  GString *out = g_string_new ("\"");
  const char *p;

  for (p = s != NULL ? s : ""; *p; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_c (out, '\\');
      if ((guchar) *p < 0x20)
        g_string_append_printf (out, "\\u%04x", *p);
      else
        g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
  return g_string_free (out, FALSE);
}

static gboolean
write_json (const char *path,
            GError    **error)
{
  GString *json = g_string_new ("{\n");
  g_autofree char *date = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  gboolean ok;
  guint i;

  date = g_date_time_format_iso8601 (now);
  g_string_append_printf (json, "  \"date\": \"%s\",\n", date);
  g_string_append_printf (json, "  \"quick\": %s,\n", opt_quick ? "true" : "false");
  g_string_append_printf (json, "  \"reps\": %d,\n", opt_reps);
  g_string_append_printf (json, "  \"cpus\": %u,\n", g_get_num_processors ());
  g_string_append_printf (json, "  \"glib\": \"%u.%u.%u\",\n",
                          glib_major_version, glib_minor_version, glib_micro_version);
  if (asyncio_version != NULL)
    {
      g_autofree char *version = json_string (asyncio_version);
      g_autofree char *python = json_string (opt_python);
      g_autofree char *loop = json_string (asyncio_loop);

      g_string_append_printf (json, "  \"asyncio\": {\"python\": %s, \"executable\": %s, \"loop\": %s},\n",
                              version, python, loop);
    }
  g_string_append (json, "  \"results\": [\n");
  for (i = 0; i < results->len; i++)
    {
      Result *r = g_ptr_array_index (results, i);
      Stats sc = stats_of (r->coop, r->n_coop);
      Stats sg = stats_of (r->glib, r->n_glib);
      g_autofree char *title = json_string (r->title);
      g_autofree char *coop_what = json_string (r->coop_what);
      g_autofree char *glib_what = json_string (r->glib_what);

      g_string_append_printf (json, "    {\"id\": \"%s\", \"title\": %s, \"unit\": \"%s\", "
                              "\"lower_is_better\": %s, \"peer\": \"%s\",\n     \"coop_what\": %s,\n     \"%s_what\": %s,\n     ",
                              r->id, title, r->unit, r->lower_is_better ? "true" : "false",
                              r->peer, coop_what, r->peer, glib_what);
      json_stats (json, "coop", r->coop, r->n_coop, r->scale);
      g_string_append (json, ",\n     ");
      if (r->peer_na != NULL)
        {
          g_autofree char *na = json_string (r->peer_na);

          g_string_append_printf (json, "\"%s\": null, \"%s_unavailable\": %s", r->peer, r->peer, na);
        }
      else
        json_stats (json, r->peer, r->glib, r->n_glib, r->scale);
      if (r->n_coop > 0 && r->n_glib > 0 && sg.median != 0)
        g_string_append_printf (json, ",\n     \"ratio_coop_over_%s\": %.4g", r->peer, sc.median / sg.median);
      if (r->coop_iters_per_op >= 0)
        g_string_append_printf (json, ",\n     \"coop_iterations_per_op\": %.4g", r->coop_iters_per_op);
      if (r->glib_iters_per_op >= 0)
        g_string_append_printf (json, ",\n     \"%s_iterations_per_op\": %.4g", r->peer, r->glib_iters_per_op);
      if (r->failure != NULL)
        {
          g_autofree char *failure = json_string (r->failure);

          g_string_append_printf (json, ",\n     \"failure\": %s", failure);
        }
      g_string_append_printf (json, "}%s\n", i + 1 < results->len ? "," : "");
    }
  g_string_append (json, "  ]\n}\n");
  ok = g_file_set_contents (path, json->str, json->len, error);
  g_string_free (json, TRUE);
  return ok;
}

/* --- the driver ------------------------------------------------------------------------ */

static gboolean
wanted (const char *id)
{
  g_auto(GStrv) ids = NULL;

  if (opt_only == NULL)
    return TRUE;
  ids = g_strsplit (opt_only, ",", -1);
  return g_strv_contains ((const char * const *) ids, id);
}

static gboolean
run_impl (const char *impl)
{
  return opt_impl == NULL || g_strcmp0 (opt_impl, impl) == 0;
}

typedef double (*Run2) (guint a, guint b);

/* Runs a two-parameter workload, alternating implementations. */
static void
measure2 (Result *r,
          Run2    coop,
          Run2    glib,
          guint   a,
          guint   b)
{
  int rep;

  gboolean do_coop = run_impl ("coop"), do_glib = run_impl ("glib");

  /* Untimed warm-up of both, a tenth as long (same width), counting
   * main-loop iterations. */
  guint wa = b > 0 ? a : MAX (a / 10, 1), wb = b > 0 ? MAX (b / 10, 1) : b;

  count_iterations = TRUE;
  if (do_coop)
    {
      n_iterations = 0;
      coop (wa, wb);
      r->coop_iters_per_op = (double) n_iterations / last_ops;
    }
  if (do_glib)
    {
      n_iterations = 0;
      glib (wa, wb);
      r->glib_iters_per_op = (double) n_iterations / last_ops;
    }
  count_iterations = FALSE;

  for (rep = 0; rep < opt_reps; rep++)
    {
      if (rep % 2 == 0)
        {
          if (do_coop)
            r->coop[r->n_coop++] = coop (a, b);
          if (do_glib)
            r->glib[r->n_glib++] = glib (a, b);
        }
      else
        {
          if (do_glib)
            r->glib[r->n_glib++] = glib (a, b);
          if (do_coop)
            r->coop[r->n_coop++] = coop (a, b);
        }
    }
  print_result (r);
}

typedef double (*Run1) (guint n);

/* Runs a Coop workload against its asyncio peer (asyncio_bench.py, one
 * subprocess per repetition), alternating as measure2() does. */
static void
measure_asyncio (Result     *r,
                 Run1        coop,
                 const char *py_workload,
                 guint       n)
{
  gboolean do_coop = run_impl ("coop"), do_peer = run_impl ("asyncio");
  guint wn = MAX (n / 10, 4) & ~3u;   /* queue-many needs a multiple of 4 */
  int rep;

  r->peer = "asyncio";
  if (do_peer && asyncio_na != NULL)
    {
      r->peer_na = g_strdup (asyncio_na);
      do_peer = FALSE;
    }

  /* Untimed warm-up, a tenth as long, counting main-loop iterations.  The
   * script does its own warm-up (and count) in each of its processes. */
  if (do_coop)
    {
      count_iterations = TRUE;
      n_iterations = 0;
      coop (wn);
      r->coop_iters_per_op = (double) n_iterations / last_ops;
      count_iterations = FALSE;
    }

  for (rep = 0; rep < opt_reps; rep++)
    {
      int k;

      for (k = 0; k < 2; k++)
        {
          gboolean peer_turn = (rep % 2 == 0) == (k == 1);

          if (!peer_turn && do_coop)
            r->coop[r->n_coop++] = coop (n);
          else if (peer_turn && do_peer)
            {
              PeerSample s = run_asyncio (py_workload, n);

              if (!s.ok)
                {
                  /* No point in trying again. */
                  r->failure = s.failure;
                  do_peer = FALSE;
                  continue;
                }
              r->glib[r->n_glib++] = s.ns;
              if (r->glib_iters_per_op < 0 && !isnan (s.iters_per_op))
                r->glib_iters_per_op = s.iters_per_op;
            }
        }
    }
  print_result (r);
}

static double coop_spawn2 (guint a, guint b) { return coop_spawn (a); }
static double glib_spawn2 (guint a, guint b) { return glib_spawn (a); }

static char *
fmt_count (guint n)
{
  /* 100000 -> "100,000" */
  g_autofree char *digits = g_strdup_printf ("%u", n);
  GString *out = g_string_new (NULL);
  gsize len = strlen (digits), i;

  for (i = 0; i < len; i++)
    {
      if (i > 0 && (len - i) % 3 == 0)
        g_string_append_c (out, ',');
      g_string_append_c (out, digits[i]);
    }
  return g_string_free (out, FALSE);
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) options = NULL;
  g_autoptr(GError) error = NULL;
  guint div;
  guint n_spawn, n_rounds, n_wide, n_wide_len, n_chain, n_mem, n_items;
  gboolean glib_section, asyncio_section;

  options = g_option_context_new ("- Coop against plain GLib");
  g_option_context_add_main_entries (options, option_entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }

  if (opt_mem_child != NULL)
    return mem_child (opt_mem_child, opt_mem_n);

  if (opt_impl != NULL && !g_str_equal (opt_impl, "coop") && !g_str_equal (opt_impl, "glib") &&
      !g_str_equal (opt_impl, "asyncio"))
    {
      g_printerr ("--impl must be coop, glib or asyncio\n");
      return 2;
    }
  if (opt_reps < 1 || opt_reps > MAX_REPS)
    {
      g_printerr ("--reps must be between 1 and %d\n", MAX_REPS);
      return 2;
    }

  div = opt_quick ? 10 : 1;
  n_spawn = 100000 / div;
  n_rounds = 1000000 / div;       /* one pair */
  n_wide = 1000;                  /* pairs / chains at once */
  n_wide_len = 1000 / div;        /* round trips per pair, links per chain */
  n_chain = 1000000 / div;
  n_mem = 100000 / div;
  n_items = 1000000 / div;        /* queue items, lock acquisitions */

  results = g_ptr_array_new ();

  if (opt_sweep)
    {
      /* 2M hand-offs per point (/10 with --quick), best of --reps. */
      static const guint widths[] = { 1, 8, 32, 64, 128, 192, 256, 384, 512, 768, 1000, 1500, 2000, 4000 };
      guint k;

      g_print ("hand-off cost against the number of ping-pong pairs (2 fibers per pair),\n"
               "best of %d, ns per hand-off\n\n%8s %10s %10s %10s\n",
               opt_reps, "pairs", "Coop", "GLib", "Coop/GLib");
      for (k = 0; k < G_N_ELEMENTS (widths); k++)
        {
          guint w = widths[k], rounds = MAX (1000000 / div / w, 20);
          double c = G_MAXDOUBLE, g = G_MAXDOUBLE;
          int rep;

          coop_pingpong (w, MAX (rounds / 10, 1));
          glib_pingpong (w, MAX (rounds / 10, 1));
          for (rep = 0; rep < opt_reps; rep++)
            {
              c = MIN (c, coop_pingpong (w, rounds));
              g = MIN (g, glib_pingpong (w, rounds));
            }
          g_print ("%8u %10.1f %10.1f %10.2f\n", w, c, g, c / g);
        }
      return 0;
    }

  glib_section = wanted ("spawn") || wanted ("pingpong") || wanted ("pingpong-many") ||
                 wanted ("chain") || wanted ("chain-many") || wanted ("memory");
  asyncio_section = wanted ("queue") || wanted ("queue-bounded") || wanted ("queue-many") ||
                    wanted ("lock");

  g_print ("coop-bench: Coop vs plain GLib %u.%u.%u, %u CPUs, %d repetitions each, alternating%s\n"
           "(median [min..max]; each measurement on a fresh GMainContext)\n\n",
           glib_major_version, glib_minor_version, glib_micro_version,
           g_get_num_processors (), opt_reps, opt_quick ? ", --quick (N / 10)" : "");
  if (glib_section)
    print_header ("GLib");

  if (wanted ("spawn"))
    {
      g_autofree char *n = fmt_count (n_spawn);
      Result *r = result_new ("spawn", g_strdup_printf ("1  spawn+finish %s tasks / idles", n),
                              "M/s (higher)", 1e6, FALSE,
                              g_strdup_printf ("coop_task_new() of a trivial function, %s times, "
                                               "then run until all are done", n),
                              g_strdup_printf ("g_idle_add() of a one-shot callback, %s times, "
                                               "then run until all have run", n));
      measure2 (r, coop_spawn2, glib_spawn2, n_spawn, 0);
    }

  if (wanted ("pingpong"))
    {
      g_autofree char *n = fmt_count (n_rounds);
      Result *r = result_new ("pingpong", g_strdup_printf ("2a hand-off, 1 pair x %s round trips", n),
                              "ns (lower)", 1, TRUE,
                              g_strdup ("two tasks, each completes the other's future then awaits its own; "
                                        "one hand-off per main-loop iteration"),
                              g_strdup ("two idle callbacks, each g_idle_add()s the other"));
      measure2 (r, coop_pingpong, glib_pingpong, 1, n_rounds);
    }

  if (wanted ("pingpong-many"))
    {
      g_autofree char *w = fmt_count (n_wide);
      g_autofree char *n = fmt_count (n_wide_len);
      Result *r = result_new ("pingpong-many",
                              g_strdup_printf ("2b hand-off, %s pairs x %s round trips", w, n),
                              "ns (lower)", 1, TRUE,
                              g_strdup ("as 2a, many pairs at once: hand-offs batch inside one dispatch"),
                              g_strdup ("as 2a, many pairs at once"));
      measure2 (r, coop_pingpong, glib_pingpong, n_wide, n_wide_len);
    }

  if (wanted ("chain"))
    {
      g_autofree char *n = fmt_count (n_chain);
      Result *r = result_new ("chain", g_strdup_printf ("3a chained call_soon / idle, %s", n),
                              "ns (lower)", 1, TRUE,
                              g_strdup ("each callback coop_loop_call_soon()s the next (handle unref'd)"),
                              g_strdup ("each idle callback g_idle_add()s the next"));
      measure2 (r, coop_chain, glib_chain, 1, n_chain);
    }

  if (wanted ("chain-many"))
    {
      g_autofree char *w = fmt_count (n_wide);
      g_autofree char *n = fmt_count (n_wide_len);
      Result *r = result_new ("chain-many",
                              g_strdup_printf ("3b %s chains x %s callbacks", w, n),
                              "ns (lower)", 1, TRUE,
                              g_strdup ("as 3a, many independent chains at once"),
                              g_strdup ("as 3a, many independent chains at once"));
      measure2 (r, coop_chain, glib_chain, n_wide, n_wide_len);
    }

  if (wanted ("memory"))
    {
      g_autofree char *n = fmt_count (n_mem);
      Result *bytes = result_new ("memory-bytes",
                                  g_strdup_printf ("4a RSS per suspended task / pending timeout"),
                                  "bytes (lower)", 1, TRUE,
                                  g_strdup_printf ("%s tasks suspended in coop_await(coop_sleep(1 h)): "
                                                   "VmRSS delta / %s", n, n),
                                  g_strdup_printf ("%s pending g_timeout_add(1 h) sources (no stack: "
                                                   "not the same thing): VmRSS delta / %s", n, n));
      Result *maps = result_new ("memory-maps",
                                 g_strdup_printf ("4b /proc/self/maps lines, %s pending", n),
                                 "lines (lower)", 1, TRUE,
                                 g_strdup ("lines in /proc/self/maps with all tasks suspended "
                                           "(vm.max_map_count is 65530)"),
                                 g_strdup ("lines in /proc/self/maps with all timeouts pending"));
      Result *create = result_new ("memory-create",
                                   g_strdup_printf ("4c create+suspend %s sleepers", n),
                                   "ns/item (lower)", 1, TRUE,
                                   g_strdup ("coop_task_new() + run until every task is suspended in its await"),
                                   g_strdup ("g_timeout_add() on this context"));
      Result *iter = result_new ("memory-iteration",
                                 g_strdup_printf ("4d idle main-loop iteration, %s pending", n),
                                 "ns (lower)", 1, TRUE,
                                 g_strdup ("g_main_context_iteration(FALSE) with every task suspended "
                                           "on a timer (one timer heap)"),
                                 g_strdup ("g_main_context_iteration(FALSE) with every timeout pending "
                                           "(one GSource each)"));
      Result *all[] = { bytes, maps, create, iter };
      int rep;
      guint k;

      for (rep = 0; rep < opt_reps; rep++)
        {
          const char *order[2] = { "coop", "glib" };

          if (rep % 2 == 1)
            {
              order[0] = "glib";
              order[1] = "coop";
            }
          for (k = 0; k < 2; k++)
            {
              if (!run_impl (order[k]))
                continue;
              MemSample s = run_mem_child (order[k], n_mem);
              gboolean coop = order[k][0] == 'c';
              guint j;

              if (!s.ok)
                {
                  if (bytes->failure == NULL)
                    bytes->failure = g_steal_pointer (&s.failure);
                  g_free (s.failure);
                  continue;
                }
              for (j = 0; j < G_N_ELEMENTS (all); j++)
                {
                  double v = j == 0 ? s.bytes_per_item : j == 1 ? s.maps_after
                           : j == 2 ? s.create_ns : s.iter_ns;

                  if (coop)
                    all[j]->coop[all[j]->n_coop++] = v;
                  else
                    all[j]->glib[all[j]->n_glib++] = v;
                }
            }
        }
      for (k = 0; k < G_N_ELEMENTS (all); k++)
        print_result (all[k]);
    }

  if (asyncio_section)
    {
      g_autofree char *n = fmt_count (n_items);

      if (run_impl ("asyncio"))
        asyncio_probe ();
      if (glib_section)
        g_print ("\n");
      if (asyncio_na != NULL)
        g_print ("Coop vs CPython asyncio: n/a (%s)\n", asyncio_na);
      else if (asyncio_version != NULL)
        g_print ("Coop vs CPython %s asyncio (%s, %s), same N, alternating; "
                 "the peer runs in a subprocess per repetition\n",
                 asyncio_version, opt_python, asyncio_loop != NULL ? asyncio_loop : "?");
      print_header ("asyncio");

      if (wanted ("queue"))
        {
          Result *r = result_new ("queue", g_strdup_printf ("5a queue 1->1, unbounded, %s items", n),
                                  "ns/item (lower)", 1, TRUE,
                                  g_strdup ("CoopQueue (no maxsize), one producer task awaiting "
                                            "coop_queue_put() of an int64 GValue, one consumer task "
                                            "awaiting coop_queue_get()"),
                                  g_strdup ("asyncio.Queue(), one producer task awaiting put(), "
                                            "one consumer task awaiting get()"));
          measure_asyncio (r, coop_queue_unbounded, "queue", n_items);
        }
      if (wanted ("queue-bounded"))
        {
          Result *r = result_new ("queue-bounded",
                                  g_strdup_printf ("5b queue 1->1, maxsize 1, %s items", n),
                                  "ns/item (lower)", 1, TRUE,
                                  g_strdup ("as 5a with maxsize 1: every item is a hand-off "
                                            "between the two tasks"),
                                  g_strdup ("as 5a with asyncio.Queue(maxsize=1)"));
          measure_asyncio (r, coop_queue_bounded, "queue-bounded", n_items);
        }
      if (wanted ("queue-many"))
        {
          Result *r = result_new ("queue-many",
                                  g_strdup_printf ("5c queue 4->4, maxsize 100, %s items", n),
                                  "ns/item (lower)", 1, TRUE,
                                  g_strdup ("as 5a with maxsize 100, 4 producers and 4 consumers "
                                            "(N / 4 items each)"),
                                  g_strdup ("as 5a with asyncio.Queue(maxsize=100), 4 producers "
                                            "and 4 consumers"));
          measure_asyncio (r, coop_queue_many, "queue-many", n_items);
        }
      if (wanted ("lock"))
        {
          Result *fast = result_new ("lock", g_strdup_printf ("6a lock_lock+release x %s", n),
                                     "ns/pair (lower)", 1, TRUE,
                                     g_strdup ("one task: coop_lock_lock(lock, &error) + "
                                               "coop_lock_release(), uncontended"),
                                     g_strdup ("one task: async with lock (asyncio.Lock), uncontended"));
          Result *future = result_new ("lock-future",
                                       g_strdup_printf ("6b await lock_acquire+release x %s", n),
                                       "ns/pair (lower)", 1, TRUE,
                                       g_strdup ("one task: coop_await(coop_lock_acquire()) + unref + "
                                                 "coop_lock_release(), uncontended"),
                                       g_strdup ("one task: async with lock (asyncio.Lock), uncontended"));

          measure_asyncio (fast, coop_lock_fast, "lock", n_items);
          measure_asyncio (future, coop_lock_future, "lock", n_items);
        }
    }

  if (glib_section)
    g_print ("\nCoop/GLib is the ratio of the medians: below 1 is better for Coop in "
             "'(lower)' rows, above 1 in '(higher)' rows.\n");
  if (asyncio_section)
    g_print ("%sCoop/asyncio is the ratio of the medians (every asyncio row is lower-is-better): "
             "below 1 means Coop is faster.\n", glib_section ? "" : "\n");

  if (opt_json != NULL && !write_json (opt_json, &error))
    {
      g_printerr ("cannot write %s: %s\n", opt_json, error->message);
      return 1;
    }
  return 0;
}
