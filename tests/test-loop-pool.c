/* test-loop-pool.c: CoopLoopPool, worker loops on threads of their own.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

/* A sum of something, long enough to be work. */
static void
sum_body (CoopTask *task, gpointer data)
{
  guint64 n = GPOINTER_TO_SIZE (data), sum = 0, i;

  for (i = 0; i <= n; i++)
    sum += i;
  coop_future_set_int64 (COOP_FUTURE (task), (gint64) sum);
}

static void
test_default_size (void)
{
  g_autoptr(CoopLoopPool) pool = coop_loop_pool_new (0);
  guint i;

  g_assert_cmpuint (coop_loop_pool_get_n_loops (pool), ==, MAX (1, g_get_num_processors ()));
  for (i = 0; i < coop_loop_pool_get_n_loops (pool); i++)
    {
      g_assert_true (COOP_IS_LOOP (coop_loop_pool_get_loop (pool, i)));
      g_assert_cmpuint (coop_loop_pool_get_load (pool, i), ==, 0);
    }
  g_assert_true (coop_loop_pool_shutdown (pool, -1, NULL));
  g_assert_true (coop_loop_is_closed (coop_loop_pool_get_loop (pool, 0)));
  /* A second shutdown does nothing. */
  g_assert_true (coop_loop_pool_shutdown (pool, -1, NULL));
}

/* Dropped without a shutdown: shut down by the last unref. */
static void
test_unref_shuts_down (void)
{
  CoopLoopPool *pool = coop_loop_pool_new (2);
  CoopLoop *loop = g_object_ref (coop_loop_pool_get_loop (pool, 1));

  g_object_unref (pool);
  g_assert_true (coop_loop_is_closed (loop));
  g_object_unref (loop);
}

typedef struct
{
  CoopLoopPool *pool;
  CoopLoop     *main_loop;
} Ctx;

/* Many tasks spread over the workers; their results come back to the
 * awaiting task on the main loop. */
static void
spawn_many_body (CoopTask *task, gpointer data)
{
  Ctx *ctx = data;
  CoopFuture *results[32];
  guint i;

  for (i = 0; i < G_N_ELEMENTS (results); i++)
    results[i] = coop_loop_pool_spawn (ctx->pool, NULL, "sum", sum_body, GSIZE_TO_POINTER (1000 * i), NULL);
  for (i = 0; i < G_N_ELEMENTS (results); i++)
    {
      g_autoptr(GError) error = NULL;
      guint64 n = 1000 * i;

      g_assert_true (coop_future_get_loop (results[i]) == ctx->main_loop);
      g_assert_true (coop_await (results[i], &error));
      g_assert_no_error (error);
      g_assert_cmpint (coop_future_get_int64 (results[i], NULL), ==, (gint64) (n * (n + 1) / 2));
      g_object_unref (results[i]);
    }
}

static void
test_spawn_many (CoopFixture *f, gconstpointer data)
{
  Ctx ctx = { coop_loop_pool_new (3), f->loop };

  coop_test_run_task (f->loop, spawn_many_body, &ctx, 30 * G_USEC_PER_SEC);
  g_assert_true (coop_loop_pool_shutdown (ctx.pool, -1, NULL));
  g_object_unref (ctx.pool);
}

/* A task stays on the thread of its worker across awaits. */
typedef struct
{
  GThread *threads[8];
  guint    n;
  gint     moved;
} Pinned;

static void
pinned_body (CoopTask *task, gpointer data)
{
  Pinned *p = data;
  GThread *self = g_thread_self ();
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  guint i;

  for (i = 0; i < 20; i++)
    {
      g_autoptr(CoopFuture) nap = coop_sleep (loop, 100);

      coop_await (nap, NULL);
      if (g_thread_self () != self)
        g_atomic_int_inc (&p->moved);
    }
  coop_future_set_pointer (COOP_FUTURE (task), self, NULL);
}

static void
test_stays_on_worker (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLoopPool) pool = coop_loop_pool_new (2);
  Pinned p = { 0 };
  CoopFuture *results[8];
  guint i;

  for (i = 0; i < G_N_ELEMENTS (results); i++)
    results[i] = coop_loop_pool_spawn (pool, f->loop, NULL, pinned_body, &p, NULL);
  for (i = 0; i < G_N_ELEMENTS (results); i++)
    {
      coop_test_wait_until (coop_future_is_done (results[i]));
      g_assert_true (coop_future_get_pointer (results[i], NULL) != g_thread_self ());
      g_object_unref (results[i]);
    }
  g_assert_true (coop_loop_pool_shutdown (pool, -1, NULL));
  g_assert_cmpint (p.moved, ==, 0);
}

/* Tasks that wait on a gate: the loads show the balancing. */
static void
nothing_cb (gpointer data)
{
}

typedef struct
{
  CoopLoop *home;  /* woken when a task starts */
  gint started;    /* atomic */
  gint cleaned;    /* atomic: saw the cancellation and cleaned up */
} Gate;

static void
wait_cancelled_body (CoopTask *task, gpointer data)
{
  Gate *g = data;
  g_autoptr(CoopFuture) never = coop_future_new (coop_future_get_loop (COOP_FUTURE (task)));
  g_autoptr(GError) error = NULL;

  g_atomic_int_inc (&g->started);
  /* The test's thread may wait in its loop for this. */
  if (g->home != NULL)
    coop_loop_call_soon_threadsafe (g->home, nothing_cb, NULL, NULL);
  if (!coop_await (never, &error) && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_atomic_int_inc (&g->cleaned);
  coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

static void
test_least_loaded (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLoopPool) pool = coop_loop_pool_new (3);
  Gate g = { .home = f->loop };
  CoopFuture *results[6];
  g_autoptr(CoopFuture) extra = NULL;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (results); i++)
    results[i] = coop_loop_pool_spawn (pool, f->loop, NULL, wait_cancelled_body, &g, NULL);
  /* Nobody finished: two each. */
  for (i = 0; i < 3; i++)
    g_assert_cmpuint (coop_loop_pool_get_load (pool, i), ==, 2);
  coop_test_wait_until (g_atomic_int_get (&g.started) == 6);

  /* One worker's task ends: that worker has the least load, and the next
   * task goes there. */
  coop_future_cancel (results[0], NULL);
  coop_test_wait_until (coop_future_is_done (results[0]));
  g_assert_cmpuint (coop_loop_pool_get_load (pool, 0) + coop_loop_pool_get_load (pool, 1) +
                    coop_loop_pool_get_load (pool, 2), ==, 5);
  extra = coop_loop_pool_spawn (pool, f->loop, NULL, wait_cancelled_body, &g, NULL);
  for (i = 0; i < 3; i++)
    g_assert_cmpuint (coop_loop_pool_get_load (pool, i), ==, 2);

  g_assert_true (coop_loop_pool_shutdown (pool, -1, NULL));
  for (i = 0; i < G_N_ELEMENTS (results); i++)
    {
      coop_test_wait_until (coop_future_is_done (results[i]));
      g_assert_true (coop_future_is_cancelled (results[i]));
      g_object_unref (results[i]);
    }
  coop_test_wait_until (coop_future_is_done (extra));
  g_assert_true (coop_future_is_cancelled (extra));
  /* The last one may have been cancelled before it started. */
  g_assert_cmpint (g.cleaned, ==, g.started);
  g_assert_cmpint (g.cleaned, >=, 6);
}

/* Shutdown with tasks pending: every task is cancelled and runs its
 * clean-up, the threads are joined, the futures end cancelled. */
static void
test_shutdown_pending (CoopFixture *f, gconstpointer data)
{
  CoopLoopPool *pool = coop_loop_pool_new (2);
  Gate g = { 0 };
  CoopFuture *results[10];
  g_autoptr(CoopFuture) after = NULL;
  g_autoptr(GError) error = NULL;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (results); i++)
    results[i] = coop_loop_pool_spawn (pool, f->loop, NULL, wait_cancelled_body, &g, NULL);
  /* Some may not have started: they are cancelled before they run. */
  g_assert_true (coop_loop_pool_shutdown (pool, -1, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g.cleaned, ==, g.started);
  for (i = 0; i < G_N_ELEMENTS (results); i++)
    {
      coop_test_wait_until (coop_future_is_done (results[i]));
      g_assert_true (coop_future_is_cancelled (results[i]));
      g_object_unref (results[i]);
    }

  /* After the shutdown: refused with LOOP_CLOSED. */
  after = coop_loop_pool_spawn (pool, f->loop, NULL, sum_body, NULL, NULL);
  coop_test_wait_until (coop_future_is_done (after));
  g_assert_false (coop_future_propagate (after, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_LOOP_CLOSED);
  g_object_unref (pool);
}

/* A task group on the main loop holds tasks on several workers. */
static void
fail_body (CoopTask *task, gpointer data)
{
  Gate *g = data;

  /* Fails once the others have started. */
  while (g_atomic_int_get (&g->started) < 3)
    {
      g_autoptr(CoopFuture) nap = coop_sleep (coop_future_get_loop (COOP_FUTURE (task)), 1000);

      coop_await (nap, NULL);
    }
  coop_future_take_error (COOP_FUTURE (task),
                          g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "boom"));
}

typedef struct
{
  CoopLoopPool *pool;
  Gate          gate;
  gboolean      fail;
} GroupCase;

static void
group_body (CoopTask *task, gpointer data)
{
  GroupCase *c = data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(CoopTaskGroup) group = coop_task_group_new (loop);
  g_autoptr(GError) error = NULL;
  guint i;

  for (i = 0; i < 3; i++)
    {
      g_autoptr(CoopFuture) member = coop_loop_pool_spawn (c->pool, loop, NULL,
                                                           wait_cancelled_body, &c->gate, NULL);

      g_assert_true (coop_task_group_add (group, member, &error));
      g_assert_no_error (error);
    }
  if (c->fail)
    {
      g_autoptr(CoopFuture) failing = coop_loop_pool_spawn (c->pool, loop, NULL, fail_body,
                                                            &c->gate, NULL);

      g_assert_true (coop_task_group_add (group, failing, NULL));
    }
  g_assert_false (coop_task_group_join (group, &error));
  if (c->fail)
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  else
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* Every member on every worker was cancelled and has ended. */
  g_assert_cmpint (g_atomic_int_get (&c->gate.cleaned), ==, 3);
}

static void
test_group_failing_child (CoopFixture *f, gconstpointer data)
{
  GroupCase c = { .pool = coop_loop_pool_new (2), .fail = TRUE };

  coop_test_run_task (f->loop, group_body, &c, 30 * G_USEC_PER_SEC);
  g_assert_true (coop_loop_pool_shutdown (c.pool, -1, NULL));
  g_object_unref (c.pool);
}

static void
cancel_when_started_cb (gpointer data)
{
  gpointer *args = data;
  GroupCase *c = args[1];

  if (g_atomic_int_get (&c->gate.started) < 3)
    {
      coop_handle_unref (coop_loop_call_later (coop_future_get_loop (args[0]), 1000,
                                               cancel_when_started_cb, args, NULL));
      return;
    }
  coop_task_cancel (args[0], NULL);
}

static void
test_group_cancelled (CoopFixture *f, gconstpointer data)
{
  GroupCase c = { .pool = coop_loop_pool_new (2) };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, group_body, &c, NULL);
  gpointer args[2] = { task, &c };

  coop_handle_unref (coop_loop_call_soon (f->loop, cancel_when_started_cb, args, NULL));
  coop_test_wait_until (coop_future_is_done (COOP_FUTURE (task)));
  /* The group's error was asserted inside; the task itself ends cancelled
   * (it was the one cancelled). */
  g_assert_true (coop_future_is_done (COOP_FUTURE (task)));
  g_assert_cmpint (c.gate.cleaned, ==, 3);
  g_assert_true (coop_loop_pool_shutdown (c.pool, -1, NULL));
  g_object_unref (c.pool);
}

/* Misuse: bad arguments, shutting down from a worker. */
static void
shutdown_from_worker_body (CoopTask *task, gpointer data)
{
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*cannot join itself*");
  g_assert_false (coop_loop_pool_shutdown (data, -1, NULL));
  g_test_assert_expected_messages ();
}

static void
test_misuse (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLoopPool) pool = coop_loop_pool_new (1);
  g_autoptr(CoopFuture) result = NULL;

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*index < pool->n_loops*");
  g_assert_null (coop_loop_pool_get_loop (pool, 1));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*func != NULL*");
  g_assert_null (coop_loop_pool_spawn (pool, f->loop, NULL, NULL, NULL, NULL));
  g_test_assert_expected_messages ();

  result = coop_loop_pool_spawn (pool, f->loop, NULL, shutdown_from_worker_body, pool, NULL);
  coop_test_wait_until (coop_future_is_done (result));
  g_assert_true (coop_future_propagate (result, NULL));
  g_assert_true (coop_loop_pool_shutdown (pool, -1, NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/coop/loop-pool/default-size", test_default_size);
  g_test_add_func ("/coop/loop-pool/unref-shuts-down", test_unref_shuts_down);
  coop_test_add ("/coop/loop-pool/spawn-many", test_spawn_many);
  coop_test_add ("/coop/loop-pool/stays-on-worker", test_stays_on_worker);
  coop_test_add ("/coop/loop-pool/least-loaded", test_least_loaded);
  coop_test_add ("/coop/loop-pool/shutdown-pending", test_shutdown_pending);
  coop_test_add ("/coop/loop-pool/group-failing-child", test_group_failing_child);
  coop_test_add ("/coop/loop-pool/group-cancelled", test_group_cancelled);
  coop_test_add ("/coop/loop-pool/misuse", test_misuse);

  return g_test_run ();
}
