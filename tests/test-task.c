/* test-task.c: C tasks on fibers, await, cancellation.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <sys/mman.h>

typedef struct
{
  CoopLoop   *loop;
  GString    *log;
  CoopFuture *future;
  CoopFuture *other;
  CoopTask   *child;
  int         count;
  int         notified;
  gboolean    flag;
  GError     *error;
} State;

static void
state_notify (gpointer data)
{
  ((State *) data)->notified++;
}

static void
log_body (CoopTask *task, gpointer data)
{
  State *s = data;

  g_string_append (s->log, "run;");
  g_assert_true (coop_task_get_current () == task);
}

/* A task starts on a later dispatch, never inside coop_task_new(); its
 * destroy notify runs once, when it is done. */
static void
test_start_later (CoopFixture *f, gconstpointer data)
{
  State s = { .loop = f->loop, .log = g_string_new (NULL) };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, log_body, &s, state_notify);

  g_assert_cmpstr (s.log->str, ==, "");
  g_assert_false (coop_future_is_done (COOP_FUTURE (task)));
  g_assert_null (coop_task_get_current ());

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_cmpstr (s.log->str, ==, "run;");
  g_assert_cmpint (s.notified, ==, 1);
  /* Returning without a result: finished, no value. */
  g_assert_cmpint (coop_future_get_state (COOP_FUTURE (task)), ==, COOP_FUTURE_STATE_FINISHED);
  g_assert_null (coop_future_get_value (COOP_FUTURE (task), NULL));
  g_string_free (s.log, TRUE);
}

static void
answer_body (CoopTask *task, gpointer data)
{
  coop_future_set_int64 (COOP_FUTURE (task), 42);
  /* The result is held until the function returns. */
  g_assert_false (coop_future_is_done (COOP_FUTURE (task)));
}

static void
fail_body (CoopTask *task, gpointer data)
{
  coop_future_take_error (COOP_FUTURE (task),
                          g_error_new_literal (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "denied"));
}

static void
await_children_body (CoopTask *task, gpointer data)
{
  State *s = data;
  g_autoptr(CoopTask) good = coop_task_new (s->loop, answer_body, NULL, NULL);
  g_autoptr(CoopTask) bad = coop_task_new (s->loop, fail_body, NULL, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_await (COOP_FUTURE (good), &error));
  g_assert_no_error (error);
  g_assert_cmpint (coop_future_get_int64 (COOP_FUTURE (good), NULL), ==, 42);

  g_assert_false (coop_await (COOP_FUTURE (bad), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  s->flag = TRUE;
  coop_future_set_string (COOP_FUTURE (task), "ok");
}

static void
test_results (CoopFixture *f, gconstpointer data)
{
  State s = { .loop = f->loop };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, await_children_body, &s, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_no_error (error);
  g_assert_true (s.flag);
  g_assert_cmpstr (coop_future_get_string (COOP_FUTURE (task), NULL), ==, "ok");
}

/* --- recycling: a finished task nobody holds is reused by the next
 * coop_task_new(), as a fresh task; anything that still holds or watches
 * it, or an outcome with resources or an unread error, keeps it out. */

static void
noop_body (CoopTask *task, gpointer data)
{
  (*(int *) data)++;
}

static void
object_body (CoopTask *task, gpointer data)
{
  coop_future_set_object (COOP_FUTURE (task), data);
}

static void
weak_gone (gpointer data, GObject *where)
{
  (*(int *) data)++;
}

static int n_task_reports;

static void
count_task_reports (CoopLoop *loop, const char *message, CoopFuture *future,
                    const GError *error, gpointer data)
{
  n_task_reports++;
}

static void
test_recycling (CoopFixture *f, gconstpointer data)
{
  CoopTask *first, *second, *held, *watched, *failed, *heavy;
  GObject *object = g_object_new (G_TYPE_OBJECT, NULL);
  guint64 first_id;
  int runs = 0, gone = 0, object_gone = 0;

  /* Spawned and forgotten: back as a fresh task. */
  first = coop_task_new_full (f->loop, "first", 0, noop_body, &runs, NULL);
  first_id = coop_task_get_id (first);
  g_object_unref (first);
  coop_test_drain ();
  g_assert_cmpint (runs, ==, 1);
  second = coop_task_new (f->loop, answer_body, NULL, NULL);
  g_test_message ("recycled: %s", second == first ? "yes" : "no");
  g_assert_true (second == first);
  g_assert_cmpint (coop_future_get_state (COOP_FUTURE (second)), ==, COOP_FUTURE_STATE_PENDING);
  g_assert_null (coop_task_get_name (second));
  g_assert_cmpuint (coop_task_get_id (second), >, first_id);
  g_assert_false (coop_task_is_cancelling (second));
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (second), NULL));
  g_assert_cmpint (coop_future_get_int64 (COOP_FUTURE (second), NULL), ==, 42);
  g_assert_cmpint (runs, ==, 1);

  /* Still held by its creator when it finished: not reused meanwhile,
   * finalized as usual when let go. */
  held = coop_task_new (f->loop, noop_body, &runs, NULL);
  g_assert_true (held != second);   /* second is still held */
  coop_test_drain ();
  watched = coop_task_new (f->loop, noop_body, &runs, NULL);
  g_assert_true (watched != held);
  g_object_unref (watched);
  g_object_weak_ref (G_OBJECT (held), weak_gone, &gone);
  g_object_unref (held);
  g_assert_cmpint (gone, ==, 1);
  g_object_unref (second);

  /* Watched with a weak reference: finalized, never reused. */
  coop_test_drain ();
  watched = coop_task_new (f->loop, noop_body, &runs, NULL);
  g_object_weak_ref (G_OBJECT (watched), weak_gone, &gone);
  g_object_unref (watched);
  coop_test_drain ();
  g_assert_cmpint (gone, ==, 2);

  /* Failed, error never read: reported, not reused. */
  n_task_reports = 0;
  coop_loop_set_exception_handler (f->loop, count_task_reports, NULL, NULL);
  failed = coop_task_new (f->loop, fail_body, NULL, NULL);
  g_object_unref (failed);
  coop_test_drain ();
  g_assert_cmpint (n_task_reports, ==, 1);

  /* A result holding an object: released as soon as the task goes. */
  g_object_weak_ref (object, weak_gone, &object_gone);
  heavy = coop_task_new (f->loop, object_body, object, NULL);
  g_object_unref (heavy);
  coop_test_drain ();
  g_object_unref (object);   /* the task's result held it: gone with the task */
  g_assert_cmpint (object_gone, ==, 1);
}

/* --- past the pool: tasks spawned and forgotten by the thousand finish
 * faster than GLib's own last unref (see coop_object_unref_last()), but
 * only those nothing watches: a weak reference, qdata or a signal handler
 * ever connected still gets everything g_object_unref() does. */

#define N_PLAIN 1200   /* more than the loop's pool of finished tasks keeps */
#define N_EACH  100    /* of each kind that is watched, or failed */

static void
qdata_gone (gpointer data)
{
  (*(int *) data)++;
}

static void
name_changed (GObject *object, GParamSpec *pspec, gpointer data)
{
}

static void
test_past_pool (CoopFixture *f, gconstpointer data)
{
  int runs = 0, gone = 0, qdata_freed = 0, i;
  gulong handler;

  n_task_reports = 0;
  coop_loop_set_exception_handler (f->loop, count_task_reports, NULL, NULL);

  /* All at once, so the pool is full when most of them finish. */
  for (i = 0; i < N_PLAIN; i++)   /* nothing watches them */
    g_object_unref (coop_task_new (f->loop, noop_body, &runs, NULL));
  for (i = 0; i < N_EACH; i++)
    {
      CoopTask *task;

      /* An unread error: reported when it is finalized. */
      g_object_unref (coop_task_new (f->loop, fail_body, NULL, NULL));

      /* A weak reference. */
      task = coop_task_new (f->loop, noop_body, &runs, NULL);
      g_object_weak_ref (G_OBJECT (task), weak_gone, &gone);
      g_object_unref (task);

      /* Qdata. */
      task = coop_task_new (f->loop, noop_body, &runs, NULL);
      g_object_set_data_full (G_OBJECT (task), "coop-test", &qdata_freed, qdata_gone);
      g_object_unref (task);

      /* A handler, connected and gone again. */
      task = coop_task_new (f->loop, noop_body, &runs, NULL);
      handler = g_signal_connect (task, "notify::name", G_CALLBACK (name_changed), NULL);
      g_signal_handler_disconnect (task, handler);
      g_object_unref (task);
    }
  coop_test_drain ();

  g_assert_cmpint (runs, ==, N_PLAIN + 3 * N_EACH);
  g_assert_cmpint (n_task_reports, ==, N_EACH);
  g_assert_cmpint (gone, ==, N_EACH);
  g_assert_cmpint (qdata_freed, ==, N_EACH);
  g_assert_null (coop_loop_list_tasks (f->loop));
}

static void
await_done_body (CoopTask *task, gpointer data)
{
  State *s = data;

  g_string_append (s->log, "A1;");
  g_assert_true (coop_await (s->future, NULL));   /* already done */
  g_string_append (s->log, "A2;");
}

static void
other_body (CoopTask *task, gpointer data)
{
  State *s = data;

  g_string_append (s->log, "B;");
}

/* Awaiting a future that is done returns at once, with no switch: the task
 * queued after this one does not get to run in between. */
static void
test_await_done_no_switch (CoopFixture *f, gconstpointer data)
{
  State s = { .loop = f->loop, .log = g_string_new (NULL) };
  g_autoptr(CoopTask) a = NULL;
  g_autoptr(CoopTask) b = NULL;

  s.future = coop_future_new (f->loop);
  coop_future_set_int64 (s.future, 1);
  a = coop_task_new (f->loop, await_done_body, &s, NULL);
  b = coop_task_new (f->loop, other_body, &s, NULL);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (b), NULL));
  g_assert_cmpstr (s.log->str, ==, "A1;A2;B;");
  g_object_unref (s.future);
  g_string_free (s.log, TRUE);
}

static void
await_pending_body (CoopTask *task, gpointer data)
{
  State *s = data;
  g_autoptr(GError) error = NULL;

  g_string_append (s->log, "wait;");
  g_assert_true (coop_task_get_awaiting (task) == NULL);
  g_assert_true (coop_await (s->future, &error));
  g_assert_no_error (error);
  g_assert_null (coop_task_get_awaiting (task));
  g_assert_true (coop_task_get_current () == task);
  g_string_append_printf (s->log, "got %" G_GINT64_FORMAT ";",
                          coop_future_get_int64 (s->future, NULL));
}

static void
set_later (gpointer data)
{
  State *s = data;

  g_string_append (s->log, "set;");
  coop_future_set_int64 (s->future, 7);
  /* The waiting task resumes later, not inside set. */
  g_string_append (s->log, "after-set;");
}

static void
test_await_pending (CoopFixture *f, gconstpointer data)
{
  State s = { .loop = f->loop, .log = g_string_new (NULL) };
  g_autoptr(CoopTask) task = NULL;

  s.future = coop_future_new (f->loop);
  task = coop_task_new (f->loop, await_pending_body, &s, NULL);
  coop_test_drain ();
  g_assert_cmpstr (s.log->str, ==, "wait;");
  g_assert_true (coop_task_get_awaiting (task) == s.future);
  coop_handle_unref (coop_loop_call_later (f->loop, 1000, set_later, &s, NULL));
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_cmpstr (s.log->str, ==, "wait;set;after-set;got 7;");
  g_object_unref (s.future);
  g_string_free (s.log, TRUE);
}

static void
sleepy_body (CoopTask *task, gpointer data)
{
  State *s = data;
  g_autoptr(GError) error = NULL;

  s->future = coop_sleep (s->loop, 10 * G_USEC_PER_SEC);
  if (!coop_await (s->future, &error))
    {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      s->count++;
      if (s->flag)
        {
          /* Swallow the cancellation. */
          coop_future_set_int64 (COOP_FUTURE (task), 5);
          return;
        }
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }
  g_assert_not_reached ();
}

static void
cancel_cb (gpointer data)
{
  g_assert_true (coop_task_cancel (data, "enough"));
}

/* Cancellation is delivered at the await as G_IO_ERROR_CANCELLED, and the
 * awaited future is cancelled; the task ends cancelled if it returns that
 * error. */
static void
test_cancel_at_await (CoopFixture *f, gconstpointer data)
{
  State s = { .loop = f->loop };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, sleepy_body, &s, state_notify);
  g_autoptr(GError) error = NULL;

  /* Cancelled once it waits in its await, not on a timer that may fire
   * before it has started (it did under valgrind). */
  coop_test_drain ();
  cancel_cb (task);
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpstr (error->message, ==, "enough");
  g_assert_cmpint (coop_future_get_state (COOP_FUTURE (task)), ==, COOP_FUTURE_STATE_CANCELLED);
  g_assert_true (coop_future_is_cancelled (s.future));
  g_assert_cmpint (s.count, ==, 1);
  g_assert_cmpint (s.notified, ==, 1);
  g_assert_false (coop_task_cancel (task, NULL));   /* done */
  g_object_unref (s.future);
}

/* A task may swallow its cancellation and finish normally. */
static void
test_cancel_swallowed (CoopFixture *f, gconstpointer data)
{
  State s = { .loop = f->loop, .flag = TRUE };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, sleepy_body, &s, NULL);
  g_autoptr(GError) error = NULL;

  coop_test_drain ();            /* it waits in its await */
  cancel_cb (task);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_no_error (error);
  g_assert_cmpint (coop_future_get_int64 (COOP_FUTURE (task), NULL), ==, 5);
  g_object_unref (s.future);
}

/* Cancelled before it started: the function never runs. */
static void
test_cancel_before_start (CoopFixture *f, gconstpointer data)
{
  State s = { .loop = f->loop, .log = g_string_new (NULL) };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, log_body, &s, state_notify);

  g_assert_true (coop_task_cancel (task, NULL));
  g_assert_true (coop_task_is_cancelling (task));
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (task)));
  g_assert_cmpstr (s.log->str, ==, "");
  g_assert_cmpint (s.notified, ==, 1);
  g_string_free (s.log, TRUE);
}

static void
self_cancel_body (CoopTask *task, gpointer data)
{
  State *s = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopFuture) nap = NULL;

  coop_task_cancel (task, NULL);
  g_assert_true (coop_task_is_cancelling (task));
  nap = coop_sleep (s->loop, 0);
  /* Delivered at the next await, even before suspending. */
  g_assert_false (coop_await (nap, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_false (coop_task_is_cancelling (task));
  /* As in asyncio, the future the cancelled await was given is cancelled. */
  g_assert_true (coop_future_is_cancelled (nap));
  /* Delivered once: the next await works. */
  g_clear_object (&nap);
  nap = coop_sleep (s->loop, 0);
  g_assert_true (coop_await (nap, &error));
  s->flag = TRUE;
}

static void
test_cancel_self (CoopFixture *f, gconstpointer data)
{
  State s = { .loop = f->loop };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, self_cancel_body, &s, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_true (s.flag);
}

static void
child_body (CoopTask *task, gpointer data)
{
  State *s = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopFuture) nap = coop_sleep (s->loop, 10 * G_USEC_PER_SEC);
  g_autoptr(CoopFuture) cleanup = NULL;

  /* The parent to cancel once this child waits (cancel-propagates): a
   * callback queued now runs only after this step has paused at the await. */
  if (s->future != NULL)
    coop_handle_unref (coop_loop_call_soon (s->loop, cancel_cb, s->future, NULL));
  g_assert_false (coop_await (nap, &error));
  g_string_append (s->log, "child-cancelled;");
  /* Clean-up that takes a while: the parent waits for it. */
  cleanup = coop_sleep (s->loop, 2000);
  g_assert_true (coop_await (cleanup, NULL));
  g_string_append (s->log, "child-cleaned;");
  coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

static void
parent_body (CoopTask *task, gpointer data)
{
  State *s = data;
  g_autoptr(GError) error = NULL;

  s->child = coop_task_new (s->loop, child_body, s, NULL);
  g_assert_false (coop_await (COOP_FUTURE (s->child), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_string_append (s->log, "parent-cancelled;");
  coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

/* Cancelling a task that awaits another task cancels the child, and the
 * parent's await returns once the child has finished. */
static void
test_cancel_propagates (CoopFixture *f, gconstpointer data)
{
  State s = { .loop = f->loop, .log = g_string_new (NULL) };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, parent_body, &s, NULL);

  /* Cancelled by the child once it waits: no timer racing its start. */
  s.future = COOP_FUTURE (task);
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_cmpstr (s.log->str, ==, "child-cancelled;child-cleaned;parent-cancelled;");
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (s.child)));
  g_object_unref (s.child);
  g_string_free (s.log, TRUE);
}

static void
already_cancelled_parent_body (CoopTask *task, gpointer data)
{
  State *s = data;
  g_autoptr(GError) error = NULL;

  s->child = coop_task_new (s->loop, child_body, s, NULL);
  g_assert_true (coop_yield (NULL));     /* the child starts and waits */
  coop_task_cancel (task, NULL);
  /* Cancelled before awaiting: the child is cancelled, and the await still
   * returns only once the child has finished its clean-up. */
  g_assert_false (coop_await (COOP_FUTURE (s->child), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (coop_future_is_done (COOP_FUTURE (s->child)));
  g_string_append (s->log, "parent-cancelled;");
}

static void
test_cancel_pending_waits_for_child (CoopFixture *f, gconstpointer data)
{
  State s = { .loop = f->loop, .log = g_string_new (NULL) };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, already_cancelled_parent_body, &s, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_cmpstr (s.log->str, ==, "child-cancelled;child-cleaned;parent-cancelled;");
  g_object_unref (s.child);
  g_string_free (s.log, TRUE);
}

static void
await_failing_body (CoopTask *task, gpointer data)
{
  State *s = data;
  g_autoptr(GError) error = NULL;

  g_assert_false (coop_await (s->future, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
fail_then_cancel_cb (gpointer data)
{
  State *s = data;

  coop_future_take_error (s->future, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "lost?"));
  coop_task_cancel (s->child, NULL);
}

/* The awaited future fails and the task is cancelled before it resumes:
 * the error is thrown away with the result, not reported as never read
 * (warnings are fatal here). */
static void
test_cancel_discards_error (CoopFixture *f, gconstpointer data)
{
  State s = { .loop = f->loop };

  s.future = coop_future_new (f->loop);
  s.child = coop_task_new (f->loop, await_failing_body, &s, NULL);
  coop_test_drain ();
  coop_handle_unref (coop_loop_call_soon (f->loop, fail_then_cancel_cb, &s, NULL));
  coop_loop_run_until_complete (f->loop, COOP_FUTURE (s.child), NULL);
  g_clear_object (&s.future);
  g_clear_object (&s.child);
}

static void
yield_body (CoopTask *task, gpointer data)
{
  State *s = data;
  int i;

  for (i = 0; i < 3; i++)
    {
      g_string_append_printf (s->log, "%s%d;", coop_task_get_name (task), i);
      g_assert_true (coop_yield (NULL));
    }
}

/* coop_yield lets the others run: two tasks interleave. */
static void
test_yield (CoopFixture *f, gconstpointer data)
{
  State s = { .loop = f->loop, .log = g_string_new (NULL) };
  g_autoptr(CoopTask) a = coop_task_new_full (f->loop, "a", 0, yield_body, &s, NULL);
  g_autoptr(CoopTask) b = coop_task_new (f->loop, yield_body, &s, NULL);

  coop_task_set_name (b, "b");
  g_assert_cmpstr (coop_task_get_name (b), ==, "b");
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (b), NULL));
  g_assert_cmpstr (s.log->str, ==, "a0;b0;a1;b1;a2;b2;");
  g_string_free (s.log, TRUE);
}

typedef struct
{
  CoopLoop   *loop;
  CoopFuture *ping;
  CoopFuture *pong;
  int         rounds;
} PingPong;

static void
ping_body (CoopTask *task, gpointer data)
{
  PingPong *pp = data;
  int i;

  for (i = 0; i < pp->rounds; i++)
    {
      CoopFuture *pong = coop_future_new (pp->loop);
      CoopFuture *ping = pp->ping;

      pp->pong = pong;
      pp->ping = NULL;
      coop_future_set_int64 (ping, i);
      g_object_unref (ping);
      g_assert_true (coop_await (pong, NULL));
      g_assert_cmpint (coop_future_get_int64 (pong, NULL), ==, i);
      g_object_unref (pong);
    }
}

static void
pong_body (CoopTask *task, gpointer data)
{
  PingPong *pp = data;
  int i;

  for (i = 0; i < pp->rounds; i++)
    {
      CoopFuture *ping = g_object_ref (pp->ping);

      g_assert_true (coop_await (ping, NULL));
      g_assert_cmpint (coop_future_get_int64 (ping, NULL), ==, i);
      g_object_unref (ping);
      pp->ping = coop_future_new (pp->loop);
      coop_future_set_int64 (pp->pong, i);
    }
}

/* Two tasks hand a value back and forth 10,000 times. */
static void
test_ping_pong (CoopFixture *f, gconstpointer data)
{
  PingPong pp = { f->loop, NULL, NULL, 10000 };
  g_autoptr(CoopTask) pong = NULL;
  g_autoptr(CoopTask) ping = NULL;

  pp.ping = coop_future_new (f->loop);
  pong = coop_task_new (f->loop, pong_body, &pp, NULL);
  ping = coop_task_new (f->loop, ping_body, &pp, NULL);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (ping), NULL));
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (pong), NULL));
  g_clear_object (&pp.ping);
}

static void
sleep_body (CoopTask *task, gpointer data)
{
  State *s = data;
  g_autoptr(CoopFuture) nap = coop_sleep (s->loop, 5 * G_USEC_PER_SEC);

  coop_await (nap, NULL);
}

/* The same, keeping its sleep in the state (s->future, then s->other)
 * rather than on its stack: a task abandoned by a closing loop never
 * unwinds, so a reference its stack holds would never be dropped (and a
 * future keeps its loop alive). */
static void
abandoned_sleep_body (CoopTask *task, gpointer data)
{
  State *s = data;
  CoopFuture **slot = s->future == NULL ? &s->future : &s->other;

  *slot = coop_sleep (s->loop, 5 * G_USEC_PER_SEC);
  coop_await (*slot, NULL);
}

/* The loop lists its live tasks, in creation order. */
static void
test_list_tasks (CoopFixture *f, gconstpointer data)
{
  State s = { .loop = f->loop };
  g_autoptr(CoopTask) a = coop_task_new_full (f->loop, "first", 0, sleep_body, &s, NULL);
  g_autoptr(CoopTask) b = coop_task_new_full (f->loop, "second", 64 * 1024, sleep_body, &s, NULL);
  GList *tasks;

  coop_test_drain ();
  tasks = coop_loop_list_tasks (f->loop);
  g_assert_cmpuint (g_list_length (tasks), ==, 2);
  g_assert_true (tasks->data == a);
  g_assert_true (tasks->next->data == b);
  g_list_free_full (tasks, g_object_unref);

  coop_task_cancel (a, NULL);
  coop_task_cancel (b, NULL);
  coop_test_wait_until (coop_future_is_done (COOP_FUTURE (b)));
  tasks = coop_loop_list_tasks (f->loop);
  g_assert_null (tasks);
}

static void
deep_body (CoopTask *task, gpointer data)
{
  State *s = data;

  if (s->count++ < 200)
    {
      CoopTask *inner = coop_task_new (s->loop, deep_body, s, NULL);

      g_assert_true (coop_await (COOP_FUTURE (inner), NULL));
      g_object_unref (inner);
    }
}

/* A chain of 200 tasks each awaiting the next one. */
static void
test_nested (CoopFixture *f, gconstpointer data)
{
  State s = { .loop = f->loop };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, deep_body, &s, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_cmpint (s.count, ==, 201);
}

/* A task's function made at run time (as a binding's closure is) is not
 * run on a fiber: the task fails with COOP_ERROR_NOT_SUPPORTED. */
static void
test_binding_callback (CoopFixture *f, gconstpointer data)
{
#if defined(__x86_64__)
  State s = { .loop = f->loop, .log = g_string_new (NULL) };
  guint8 *code = mmap (NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  guint64 target = (guint64) (gsize) log_body;
  g_autoptr(CoopTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (code != MAP_FAILED);
  /* movabs rax, target; jmp rax */
  code[0] = 0x48; code[1] = 0xb8;
  memcpy (code + 2, &target, 8);
  code[10] = 0xff; code[11] = 0xe0;

  task = coop_task_new (f->loop, (CoopTaskFunc) (gpointer) code, &s, state_notify);
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NOT_SUPPORTED);
  g_assert_cmpstr (s.log->str, ==, "");
  g_assert_cmpint (s.notified, ==, 1);
  munmap (code, 4096);
  g_string_free (s.log, TRUE);
#else
  g_test_skip ("needs an x86_64 trampoline");
#endif
}

static void
report_handler (CoopLoop *loop, const char *message, CoopFuture *future,
                const GError *error, gpointer user_data)
{
  g_string_append_printf (user_data, "%s|", message);
}

/* Closing a loop with pending tasks abandons them: they end cancelled,
 * their notify runs, and the exception handler hears about them all in
 * one report. */
static void
test_close_with_tasks (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop = coop_loop_new (context);
  GString *reports = g_string_new (NULL);
  State s = { .loop = loop };
  CoopTask *started, *unstarted;
  GWeakRef weak;
  GObject *alive;

  coop_loop_set_exception_handler (loop, report_handler, reports, NULL);

  started = coop_task_new_full (loop, "sleeper", 0, abandoned_sleep_body, &s, state_notify);
  while (g_main_context_iteration (context, FALSE))
    ;
  unstarted = coop_task_new_full (loop, "late", 0, abandoned_sleep_body, &s, state_notify);
  g_weak_ref_init (&weak, loop);
  coop_loop_close (loop);

  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (started)));
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (unstarted)));
  g_assert_cmpint (s.notified, ==, 2);
  g_assert_cmpstr (reports->str, ==,
                   "2 tasks were destroyed while still pending (their loop was closed): "
                   "'sleeper', 'late'|");

  g_object_unref (started);
  g_object_unref (unstarted);
  /* The started task's sleep ended with the loop; the other never ran. */
  g_assert_true (coop_future_is_cancelled (s.future));
  g_assert_null (s.other);
  g_clear_object (&s.future);
  g_object_unref (loop);
  alive = g_weak_ref_get (&weak);
  g_assert_null (alive);   /* nothing else keeps it */
  g_weak_ref_clear (&weak);
  g_main_context_unref (context);
  g_string_free (reports, TRUE);
}

static CoopTask *cycle_tasks[2];

static void
cycle_body (CoopTask *task, gpointer data)
{
  guint i = GPOINTER_TO_UINT (data);

  /* Each awaits the other: a deadlock nobody resolves. */
  coop_await (COOP_FUTURE (cycle_tasks[1 - i]), NULL);
  g_assert_not_reached ();   /* abandoned when the loop closes */
}

static void
count_report (CoopLoop *loop, const char *message, CoopFuture *future, const GError *error,
              gpointer data)
{
  (*(guint *) data)++;
}

/* Cancelling a task in a cycle of awaits: the request goes round once and
 * stops (it recursed until the stack overflowed; found by fuzz-ops). */
static void
test_cancel_cycle (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop = coop_loop_new (context);
  guint reported = 0;
  guint i;

  coop_loop_set_exception_handler (loop, count_report, &reported, NULL);
  for (i = 0; i < 2; i++)
    cycle_tasks[i] = coop_task_new (loop, cycle_body, GUINT_TO_POINTER (i), NULL);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_assert_true (coop_task_get_awaiting (cycle_tasks[0]) == COOP_FUTURE (cycle_tasks[1]));

  g_assert_true (coop_task_cancel (cycle_tasks[0], NULL));
  g_assert_true (coop_task_is_cancelling (cycle_tasks[0]));
  g_assert_true (coop_task_is_cancelling (cycle_tasks[1]));
  while (g_main_context_iteration (context, FALSE))
    ;
  /* Still deadlocked (as in asyncio); closing the loop abandons them. */
  g_assert_false (coop_future_is_done (COOP_FUTURE (cycle_tasks[0])));
  coop_loop_close (loop);
  g_assert_cmpuint (reported, ==, 1);   /* one summary for both */
  for (i = 0; i < 2; i++)
    g_clear_object (&cycle_tasks[i]);
  g_object_unref (loop);
  g_main_context_unref (context);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/task/start-later", test_start_later);
  coop_test_add ("/coop/task/results", test_results);
  coop_test_add ("/coop/task/await-done-no-switch", test_await_done_no_switch);
  coop_test_add ("/coop/task/await-pending", test_await_pending);
  coop_test_add ("/coop/task/cancel-at-await", test_cancel_at_await);
  coop_test_add ("/coop/task/cancel-swallowed", test_cancel_swallowed);
  coop_test_add ("/coop/task/cancel-before-start", test_cancel_before_start);
  coop_test_add ("/coop/task/cancel-self", test_cancel_self);
  coop_test_add ("/coop/task/cancel-propagates", test_cancel_propagates);
  coop_test_add ("/coop/task/cancel-pending-waits-for-child", test_cancel_pending_waits_for_child);
  coop_test_add ("/coop/task/cancel-discards-error", test_cancel_discards_error);
  coop_test_add ("/coop/task/yield", test_yield);
  coop_test_add ("/coop/task/ping-pong", test_ping_pong);
  coop_test_add ("/coop/task/list-tasks", test_list_tasks);
  coop_test_add ("/coop/task/nested", test_nested);
  coop_test_add ("/coop/task/binding-callback", test_binding_callback);
  coop_test_add ("/coop/task/recycling", test_recycling);
  coop_test_add ("/coop/task/past-pool", test_past_pool);
  g_test_add_func ("/coop/task/close-with-tasks", test_close_with_tasks);
  g_test_add_func ("/coop/task/cancel-cycle", test_cancel_cycle);

  return g_test_run ();
}
