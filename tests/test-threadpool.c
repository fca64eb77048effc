/* test-threadpool.c: coop_loop_run_in_thread on the loop's GThreadPool.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <glib/gstdio.h>

/* A gate a worker waits on until the test opens it. */
typedef struct
{
  GMutex    lock;
  GCond     cond;
  gboolean  open;
  gboolean  entered;       /* the worker reached the gate */
  gboolean  saw_cancel;    /* the worker saw its cancellable tripped */
  GThread  *thread;        /* the worker that ran the function */
  gint      notified;      /* atomic */
  GThread  *notify_thread;
  gint      returned;      /* atomic: the function has returned */
} Gate;

static void
gate_init (Gate *gate)
{
  memset (gate, 0, sizeof *gate);
  g_mutex_init (&gate->lock);
  g_cond_init (&gate->cond);
}

static void
gate_clear (Gate *gate)
{
  g_mutex_clear (&gate->lock);
  g_cond_clear (&gate->cond);
}

static void
gate_open (Gate *gate)
{
  g_mutex_lock (&gate->lock);
  gate->open = TRUE;
  g_cond_broadcast (&gate->cond);
  g_mutex_unlock (&gate->lock);
}

static void
gate_wait_entered (Gate *gate)
{
  g_mutex_lock (&gate->lock);
  while (!gate->entered)
    g_cond_wait (&gate->cond, &gate->lock);
  g_mutex_unlock (&gate->lock);
}

static void
gate_notify (gpointer data)
{
  Gate *gate = data;

  /* Runs after the function returned. */
  g_assert_cmpint (g_atomic_int_get (&gate->returned), ==, 1);
  gate->notify_thread = g_thread_self ();
  g_atomic_int_inc (&gate->notified);
}

/* Waits at the gate, then returns 7 (or fails if its cancellable was
 * tripped meanwhile, like a function that watches it). */
static gboolean
gated_func (gpointer       user_data,
            GCancellable  *cancellable,
            GValue        *result,
            GError       **error)
{
  Gate *gate = user_data;

  g_mutex_lock (&gate->lock);
  gate->thread = g_thread_self ();
  gate->entered = TRUE;
  g_cond_broadcast (&gate->cond);
  while (!gate->open)
    g_cond_wait (&gate->cond, &gate->lock);
  gate->saw_cancel = g_cancellable_is_cancelled (cancellable);
  g_mutex_unlock (&gate->lock);

  g_value_init (result, G_TYPE_INT);
  g_value_set_int (result, 7);
  g_atomic_int_set (&gate->returned, 1);
  return TRUE;
}

/* --- results --------------------------------------------------------------------- */

static gboolean
string_func (gpointer user_data, GCancellable *cancellable, GValue *result, GError **error)
{
  g_value_init (result, G_TYPE_STRING);
  g_value_take_string (result, g_strdup_printf ("%s from a thread", (const char *) user_data));
  return TRUE;
}

static gboolean
object_func (gpointer user_data, GCancellable *cancellable, GValue *result, GError **error)
{
  g_value_init (result, G_TYPE_FILE);
  g_value_take_object (result, g_file_new_for_path ("/tmp/coop"));
  return TRUE;
}

static gboolean
nothing_func (gpointer user_data, GCancellable *cancellable, GValue *result, GError **error)
{
  *(GThread **) user_data = g_thread_self ();
  return TRUE;
}

static void
test_results (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) str = coop_loop_run_in_thread (f->loop, string_func, g_strdup ("hello"), g_free);
  g_autoptr(CoopFuture) obj = coop_loop_run_in_thread (f->loop, object_func, NULL, NULL);
  GThread *thread = NULL;
  g_autoptr(CoopFuture) none = coop_loop_run_in_thread (f->loop, nothing_func, &thread, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;

  g_assert_true (COOP_IS_FUTURE (str));
  g_assert_false (coop_future_is_done (str));

  g_assert_true (coop_loop_run_until_complete (f->loop, str, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (coop_future_get_string (str, NULL), ==, "hello from a thread");

  g_assert_true (coop_loop_run_until_complete (f->loop, obj, &error));
  g_assert_no_error (error);
  g_assert_true (G_IS_FILE (coop_future_get_object (obj, NULL)));
  path = g_file_get_path (G_FILE (coop_future_get_object (obj, NULL)));
  g_assert_cmpstr (path, ==, "/tmp/coop");

  /* TRUE without touching the result: finished, no value; and it ran on
   * another thread. */
  g_assert_true (coop_loop_run_until_complete (f->loop, none, &error));
  g_assert_no_error (error);
  g_assert_cmpint (coop_future_get_state (none), ==, COOP_FUTURE_STATE_FINISHED);
  g_assert_null (coop_future_get_value (none, NULL));
  g_assert_nonnull (thread);
  g_assert_true (thread != g_thread_self ());
}

/* --- errors ---------------------------------------------------------------------- */

/* A real failing blocking call: reading a file that does not exist. */
static gboolean
read_missing_func (gpointer user_data, GCancellable *cancellable, GValue *result, GError **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (user_data);
  char *contents = NULL;
  gsize length;

  if (!g_file_load_contents (file, cancellable, &contents, &length, NULL, error))
    return FALSE;
  g_value_init (result, G_TYPE_STRING);
  g_value_take_string (result, contents);
  return TRUE;
}

static gboolean
cancelled_func (gpointer user_data, GCancellable *cancellable, GValue *result, GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "gave up");
  return FALSE;
}

static void
test_errors (CoopFixture *f, gconstpointer data)
{
  g_autofree char *dir = g_dir_make_tmp ("coop-tp-XXXXXX", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing", NULL);
  g_autoptr(CoopFuture) future = coop_loop_run_in_thread (f->loop, read_missing_func, g_strdup (missing), g_free);
  g_autoptr(CoopFuture) cancelled = coop_loop_run_in_thread (f->loop, cancelled_func, NULL, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_false (coop_loop_run_until_complete (f->loop, future, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_cmpint (coop_future_get_state (future), ==, COOP_FUTURE_STATE_FAILED);
  g_clear_error (&error);

  /* The cancellation error, from the function itself, means CANCELLED. */
  g_assert_false (coop_loop_run_until_complete (f->loop, cancelled, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (coop_future_get_state (cancelled), ==, COOP_FUTURE_STATE_CANCELLED);

  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* --- cancellation ------------------------------------------------------------------ */

static void
test_cancel (CoopFixture *f, gconstpointer data)
{
  Gate gate;
  g_autoptr(CoopFuture) future = NULL;
  g_autoptr(GError) error = NULL;

  gate_init (&gate);
  future = coop_loop_run_in_thread (f->loop, gated_func, &gate, gate_notify);
  gate_wait_entered (&gate);

  /* Cancelled at once, while the thread keeps running. */
  g_assert_true (coop_future_cancel (future, "enough"));
  g_assert_cmpint (coop_future_get_state (future), ==, COOP_FUTURE_STATE_CANCELLED);
  g_assert_false (coop_future_propagate (future, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_atomic_int_get (&gate.returned), ==, 0);
  g_assert_cmpint (g_atomic_int_get (&gate.notified), ==, 0);

  /* The thread finishes; its late result is dropped, and the notify runs
   * once, on the loop's thread, after the function returned. */
  gate_open (&gate);
  coop_test_wait_until (g_atomic_int_get (&gate.notified) == 1);
  g_assert_true (gate.saw_cancel);
  g_assert_true (gate.notify_thread == g_thread_self ());
  g_assert_cmpint (coop_future_get_state (future), ==, COOP_FUTURE_STATE_CANCELLED);
  coop_test_drain ();
  g_assert_cmpint (g_atomic_int_get (&gate.notified), ==, 1);
  gate_clear (&gate);
}

/* A job cancelled before it started is never run; its notify still runs
 * once, on the loop's thread. */
typedef struct
{
  GThread *ran;
  gint     notified;      /* atomic: the notify may run on a worker */
  GThread *notify_thread;
} Queued;

static gboolean
queued_func (gpointer user_data, GCancellable *cancellable, GValue *result, GError **error)
{
  ((Queued *) user_data)->ran = g_thread_self ();
  return TRUE;
}

static void
queued_notify (gpointer data)
{
  Queued *q = data;

  g_atomic_int_inc (&q->notified);
  q->notify_thread = g_thread_self ();
}

static void
test_cancel_before_start (CoopFixture *f, gconstpointer data)
{
  Gate gate;
  Queued q = { NULL, };
  g_autoptr(CoopFuture) busy = NULL;
  g_autoptr(CoopFuture) queued = NULL;

  coop_loop_set_max_threads (f->loop, 1);
  gate_init (&gate);
  busy = coop_loop_run_in_thread (f->loop, gated_func, &gate, gate_notify);
  gate_wait_entered (&gate);
  queued = coop_loop_run_in_thread (f->loop, queued_func, &q, queued_notify);

  g_assert_true (coop_future_cancel (queued, NULL));
  g_assert_true (coop_future_is_cancelled (queued));
  gate_open (&gate);
  g_assert_true (coop_loop_run_until_complete (f->loop, busy, NULL));
  g_assert_cmpint (coop_future_get_int64 (busy, NULL), ==, 7);

  coop_test_wait_until (g_atomic_int_get (&q.notified) == 1);
  g_assert_null (q.ran);
  g_assert_true (q.notify_thread == g_thread_self ());
  g_assert_true (coop_future_is_cancelled (queued));
  coop_test_wait_until (g_atomic_int_get (&gate.notified) == 1);
  gate_clear (&gate);
}

/* --- many jobs, bounded ------------------------------------------------------------ */

typedef struct
{
  gint running;      /* atomic */
  gint max_seen;     /* atomic */
  gint done;         /* atomic */
  gint notified;
} Counters;

static gboolean
counting_func (gpointer user_data, GCancellable *cancellable, GValue *result, GError **error)
{
  Counters *c = user_data;
  gint now = g_atomic_int_add (&c->running, 1) + 1;
  gint seen;

  while ((seen = g_atomic_int_get (&c->max_seen)) < now &&
         !g_atomic_int_compare_and_exchange (&c->max_seen, seen, now))
    ;
  g_usleep (50);
  g_atomic_int_add (&c->running, -1);
  g_value_init (result, G_TYPE_INT);
  g_value_set_int (result, g_atomic_int_add (&c->done, 1));
  return TRUE;
}

static void
count_notify (gpointer data)
{
  ((Counters *) data)->notified++;   /* loop thread only */
}

static void
test_many_bounded (CoopFixture *f, gconstpointer data)
{
  Counters c = { 0, };
  g_autoptr(GPtrArray) futures = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(CoopFuture) all = NULL;
  g_autoptr(GError) error = NULL;
  gboolean seen[1000] = { FALSE, };

  coop_loop_set_max_threads (f->loop, 4);
  g_assert_cmpuint (coop_loop_get_max_threads (f->loop), ==, 4);

  for (guint i = 0; i < 1000; i++)
    g_ptr_array_add (futures, coop_loop_run_in_thread (f->loop, counting_func, &c, count_notify));

  all = coop_gather (f->loop, (CoopFuture **) futures->pdata, futures->len, FALSE);
  g_assert_true (coop_loop_run_until_complete (f->loop, all, &error));
  g_assert_no_error (error);

  g_assert_cmpint (g_atomic_int_get (&c.done), ==, 1000);
  g_assert_cmpint (g_atomic_int_get (&c.max_seen), >=, 1);
  g_assert_cmpint (g_atomic_int_get (&c.max_seen), <=, 4);
  g_assert_cmpint (c.notified, ==, 1000);
  for (guint i = 0; i < 1000; i++)
    {
      gint64 n = coop_future_get_int64 (futures->pdata[i], &error);

      g_assert_no_error (error);
      g_assert_cmpint (n, >=, 0);
      g_assert_cmpint (n, <, 1000);
      g_assert_false (seen[n]);
      seen[n] = TRUE;
    }
}

/* --- max threads ------------------------------------------------------------------- */

static void
test_max_threads (CoopFixture *f, gconstpointer data)
{
  Gate gates[3];
  CoopFuture *futures[3];

  /* The default, as Python's ThreadPoolExecutor. */
  g_assert_cmpuint (coop_loop_get_max_threads (f->loop), ==, MIN (32, g_get_num_processors () + 4));
  coop_loop_set_max_threads (f->loop, 2);
  g_assert_cmpuint (coop_loop_get_max_threads (f->loop), ==, 2);

  for (guint i = 0; i < 3; i++)
    {
      gate_init (&gates[i]);
      futures[i] = coop_loop_run_in_thread (f->loop, gated_func, &gates[i], gate_notify);
    }
  gate_wait_entered (&gates[0]);
  gate_wait_entered (&gates[1]);
  g_usleep (20 * 1000);
  g_mutex_lock (&gates[2].lock);
  g_assert_false (gates[2].entered);   /* two at a time */
  g_mutex_unlock (&gates[2].lock);

  /* Growing the pool starts the waiting job at once. */
  coop_loop_set_max_threads (f->loop, 3);
  g_assert_cmpuint (coop_loop_get_max_threads (f->loop), ==, 3);
  gate_wait_entered (&gates[2]);

  for (guint i = 0; i < 3; i++)
    gate_open (&gates[i]);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_true (coop_loop_run_until_complete (f->loop, futures[i], NULL));
      g_object_unref (futures[i]);
    }
  coop_test_wait_until (g_atomic_int_get (&gates[0].notified) + g_atomic_int_get (&gates[1].notified) +
                        g_atomic_int_get (&gates[2].notified) == 3);
  for (guint i = 0; i < 3; i++)
    gate_clear (&gates[i]);
}

/* --- from a task ------------------------------------------------------------------- */

static gboolean
sum_func (gpointer user_data, GCancellable *cancellable, GValue *result, GError **error)
{
  gint64 n = GPOINTER_TO_INT (user_data), sum = 0;

  for (gint64 i = 1; i <= n; i++)
    sum += i;
  g_value_init (result, G_TYPE_INT64);
  g_value_set_int64 (result, sum);
  return TRUE;
}

static void
await_thread_body (CoopTask *task, gpointer data)
{
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(CoopFuture) a = coop_loop_run_in_thread (loop, sum_func, GINT_TO_POINTER (100), NULL);
  g_autoptr(CoopFuture) b = coop_loop_run_in_thread (loop, sum_func, GINT_TO_POINTER (1000), NULL);
  g_autoptr(GError) error = NULL;

  if (!coop_await (a, &error) || !coop_await (b, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }
  coop_future_set_int64 (COOP_FUTURE (task),
                         coop_future_get_int64 (a, NULL) + coop_future_get_int64 (b, NULL));
}

static void
test_await_from_task (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopTask) task = coop_task_new (f->loop, await_thread_body, NULL, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_no_error (error);
  g_assert_cmpint (coop_future_get_int64 (COOP_FUTURE (task), NULL), ==, 5050 + 500500);
}

/* A task cancelled while it awaits a thread: the await returns cancelled
 * at once, the function is told through its cancellable and runs on. */
static void
await_gated_body (CoopTask *task, gpointer data)
{
  Gate *gate = data;
  g_autoptr(CoopFuture) job = coop_loop_run_in_thread (coop_future_get_loop (COOP_FUTURE (task)),
                                                       gated_func, gate, gate_notify);
  g_autoptr(GError) error = NULL;

  if (!coop_await (job, &error))
    {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_assert_true (coop_future_is_cancelled (job));
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
    }
}

static void
test_cancel_task_awaiting (CoopFixture *f, gconstpointer data)
{
  Gate gate;
  g_autoptr(CoopTask) task = NULL;
  g_autoptr(GError) error = NULL;

  gate_init (&gate);
  task = coop_task_new (f->loop, await_gated_body, &gate, NULL);
  coop_test_wait_until (coop_task_get_awaiting (task) != NULL);
  gate_wait_entered (&gate);
  coop_task_cancel (task, NULL);
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_atomic_int_get (&gate.returned), ==, 0);

  gate_open (&gate);
  coop_test_wait_until (g_atomic_int_get (&gate.notified) == 1);
  g_assert_true (gate.saw_cancel);
  gate_clear (&gate);
}

/* --- the loop closed while a job runs ------------------------------------------- */

static void
test_close_while_running (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop;
  CoopFuture *future;
  CoopFuture *queued;
  Queued q = { NULL, };
  GWeakRef weak;
  CoopLoop *alive;
  Gate gate;

  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);
  coop_loop_set_max_threads (loop, 1);

  gate_init (&gate);
  future = coop_loop_run_in_thread (loop, gated_func, &gate, gate_notify);
  queued = coop_loop_run_in_thread (loop, queued_func, &q, queued_notify);
  gate_wait_entered (&gate);

  coop_loop_close (loop);
  /* The jobs hold the loop: dropping ours does not finalize it. */
  g_weak_ref_init (&weak, loop);
  g_object_unref (loop);

  gate_open (&gate);
  /* The worker notices the loop is closed, releases the job itself (the
   * notify runs there) and the job that never started is not run. */
  while (g_atomic_int_get (&gate.notified) == 0)
    g_usleep (1000);
  g_assert_true (gate.notify_thread == gate.thread);
  g_assert_false (coop_future_is_done (future));

  g_object_unref (future);
  g_object_unref (queued);
  /* The job that never started released the last reference to the loop,
   * on the worker thread (which must not wait for its own pool). */
  while ((alive = g_weak_ref_get (&weak)) != NULL)
    {
      g_object_unref (alive);
      g_usleep (1000);
    }
  g_weak_ref_clear (&weak);
  g_assert_null (q.ran);
  g_assert_cmpint (g_atomic_int_get (&q.notified), ==, 1);

  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  gate_clear (&gate);
}

/* The loop closed with a result queued for it: the item is discarded and
 * the notify runs, once. */
static void
test_close_with_result_queued (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop;
  CoopFuture *future;
  Gate gate;

  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);

  gate_init (&gate);
  gate.open = TRUE;
  future = coop_loop_run_in_thread (loop, gated_func, &gate, gate_notify);
  /* Wait until the result was handed back to the loop (the context has
   * something to dispatch), without running it. */
  while (!g_main_context_pending (context))
    g_usleep (1000);
  g_assert_cmpint (g_atomic_int_get (&gate.returned), ==, 1);

  coop_loop_close (loop);
  g_assert_cmpint (g_atomic_int_get (&gate.notified), ==, 1);
  g_assert_true (gate.notify_thread == g_thread_self ());
  g_assert_false (coop_future_is_done (future));

  g_object_unref (future);
  g_object_unref (loop);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  gate_clear (&gate);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/threadpool/results", test_results);
  coop_test_add ("/coop/threadpool/errors", test_errors);
  coop_test_add ("/coop/threadpool/cancel", test_cancel);
  coop_test_add ("/coop/threadpool/cancel-before-start", test_cancel_before_start);
  coop_test_add ("/coop/threadpool/many-bounded", test_many_bounded);
  coop_test_add ("/coop/threadpool/max-threads", test_max_threads);
  coop_test_add ("/coop/threadpool/await-from-task", test_await_from_task);
  coop_test_add ("/coop/threadpool/cancel-task-awaiting", test_cancel_task_awaiting);
  g_test_add_func ("/coop/threadpool/close-while-running", test_close_while_running);
  g_test_add_func ("/coop/threadpool/close-with-result-queued", test_close_with_result_queued);

  return g_test_run ();
}
