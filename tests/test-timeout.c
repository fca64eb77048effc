/* test-timeout.c: timeout scopes (asyncio.timeout).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

typedef struct
{
  CoopLoop *loop;
  GString  *log;
} Ctx;

/* Awaits a sleep of `ms`; returns the await's outcome. */
static gboolean
nap (Ctx *ctx, int ms, GError **error)
{
  g_autoptr(CoopFuture) f = coop_sleep (ctx->loop, ms * 1000);

  return coop_await (f, error);
}

static void
expires_body (CoopTask *task, gpointer data)
{
  Ctx *ctx = data;
  g_autoptr(GError) error = NULL;
  /* Read before entering: under valgrind, entering can take longer than
   * the 5 ms deadline. */
  gint64 start = g_get_monotonic_time ();
  g_autoptr(CoopTimeout) scope = coop_timeout_enter (5000, &error);

  g_assert_no_error (error);
  g_assert_cmpint (coop_timeout_get_when (scope), >, start);
  nap (ctx, 5000, &error);                      /* cut short */
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (coop_timeout_expired (scope));
  g_assert_false (coop_timeout_exit (scope, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  g_clear_error (&error);

  /* The task is not left cancelled: the next await works. */
  g_assert_true (nap (ctx, 1, &error));
  g_string_append (ctx->log, "ok;");
}

/* The deadline cancels the await inside the scope; exit turns that into
 * G_IO_ERROR_TIMED_OUT and the task carries on. */
static void
test_expires (CoopFixture *f, gconstpointer data)
{
  Ctx ctx = { f->loop, g_string_new (NULL) };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, expires_body, &ctx, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_cmpstr (ctx.log->str, ==, "ok;");
  g_string_free (ctx.log, TRUE);
}

static void
in_time_body (CoopTask *task, gpointer data)
{
  Ctx *ctx = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopTimeout) scope = coop_timeout_enter (G_USEC_PER_SEC, NULL);

  g_assert_true (nap (ctx, 2, &error));
  g_assert_true (coop_timeout_exit (scope, &error));
  g_assert_false (coop_timeout_expired (scope));

  /* An error from the block passes through unchanged. */
  scope = (coop_timeout_unref (scope), coop_timeout_enter (G_USEC_PER_SEC, NULL));
  error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "missing");
  g_assert_false (coop_timeout_exit (scope, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_string_append (ctx->log, "ok;");
}

static void
test_in_time (CoopFixture *f, gconstpointer data)
{
  Ctx ctx = { f->loop, g_string_new (NULL) };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, in_time_body, &ctx, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_cmpstr (ctx.log->str, ==, "ok;");
  g_string_free (ctx.log, TRUE);
}

static void
reschedule_body (CoopTask *task, gpointer data)
{
  Ctx *ctx = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopTimeout) scope = coop_timeout_enter (2000, NULL);

  /* Pushed back: the 20 ms nap fits. */
  coop_timeout_reschedule (scope, g_get_monotonic_time () + G_USEC_PER_SEC);
  g_assert_true (nap (ctx, 20, &error));
  /* Removed: no deadline at all. */
  coop_timeout_reschedule (scope, -1);
  g_assert_cmpint (coop_timeout_get_when (scope), ==, -1);
  g_assert_true (nap (ctx, 5, &error));
  /* Brought forward into the past: fires on the next iteration. */
  coop_timeout_reschedule (scope, 0);
  g_assert_false (nap (ctx, 1000, &error));
  g_assert_false (coop_timeout_exit (scope, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_string_append (ctx->log, "ok;");
}

static void
test_reschedule (CoopFixture *f, gconstpointer data)
{
  Ctx ctx = { f->loop, g_string_new (NULL) };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, reschedule_body, &ctx, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_cmpstr (ctx.log->str, ==, "ok;");
  g_string_free (ctx.log, TRUE);
}

static void
nested_inner_body (CoopTask *task, gpointer data)
{
  Ctx *ctx = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopTimeout) outer = coop_timeout_enter (G_USEC_PER_SEC, NULL);
  g_autoptr(CoopTimeout) inner = coop_timeout_enter (3000, NULL);

  nap (ctx, 500, &error);
  /* The inner deadline caused it: the inner scope reports the timeout... */
  g_assert_false (coop_timeout_exit (inner, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_clear_error (&error);
  /* ...and the outer one, still running, is unaffected. */
  g_assert_true (nap (ctx, 2, &error));
  g_assert_true (coop_timeout_exit (outer, &error));
  g_assert_false (coop_timeout_expired (outer));
  g_string_append (ctx->log, "inner;");
}

static void
nested_outer_body (CoopTask *task, gpointer data)
{
  Ctx *ctx = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopTimeout) outer = coop_timeout_enter (3000, NULL);
  g_autoptr(CoopTimeout) inner = coop_timeout_enter (G_USEC_PER_SEC, NULL);

  nap (ctx, 500, &error);
  /* The outer deadline caused it: the inner scope lets it through... */
  g_assert_false (coop_timeout_exit (inner, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (coop_timeout_expired (inner));
  /* ...and the outer one reports the timeout. */
  g_assert_false (coop_timeout_exit (outer, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_string_append (ctx->log, "outer;");
}

static void
cancel_cb (gpointer data)
{
  coop_task_cancel (data, "from outside");
}

static void
external_cancel_body (CoopTask *task, gpointer data)
{
  Ctx *ctx = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopTimeout) scope = coop_timeout_enter (3000, NULL);

  /* Cancelled from outside before the deadline, while the deadline then
   * also passes: the outside cancellation wins, it is not a timeout. */
  coop_handle_unref (coop_loop_call_later (ctx->loop, 1000, cancel_cb, task, NULL));
  nap (ctx, 500, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  /* Let the deadline pass as well (it cancels the task once more). */
  g_usleep (4000);
  coop_yield (NULL);   /* cancelled again, unless both fired before the nap woke */
  g_assert_true (coop_timeout_expired (scope));
  error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "from outside");
  g_assert_false (coop_timeout_exit (scope, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_string_append (ctx->log, "external;");
}

/* Nested scopes: each converts only the cancellation its own deadline
 * caused; an outside cancellation is never turned into a timeout. */
static void
test_nested (CoopFixture *f, gconstpointer data)
{
  Ctx ctx = { f->loop, g_string_new (NULL) };
  g_autoptr(CoopTask) a = coop_task_new (f->loop, nested_inner_body, &ctx, NULL);
  g_autoptr(CoopTask) b = NULL;
  g_autoptr(CoopTask) c = NULL;

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (a), NULL));
  b = coop_task_new (f->loop, nested_outer_body, &ctx, NULL);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (b), NULL));
  c = coop_task_new (f->loop, external_cancel_body, &ctx, NULL);
  coop_loop_run_until_complete (f->loop, COOP_FUTURE (c), NULL);
  g_assert_cmpstr (ctx.log->str, ==, "inner;outer;external;");
  g_string_free (ctx.log, TRUE);
}

static void
no_await_body (CoopTask *task, gpointer data)
{
  Ctx *ctx = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopTimeout) scope = coop_timeout_enter (1000, NULL);

  /* The deadline passes while the block busy-waits without awaiting. */
  g_usleep (3000);
  g_assert_true (coop_timeout_exit (scope, &error));
  /* The deadline never fired (the task never let the loop run): no
   * cancellation is left behind. */
  g_assert_true (nap (ctx, 1, &error));
  g_string_append (ctx->log, "ok;");
}

static void
test_no_await (CoopFixture *f, gconstpointer data)
{
  Ctx ctx = { f->loop, g_string_new (NULL) };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, no_await_body, &ctx, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_cmpstr (ctx.log->str, ==, "ok;");
  g_string_free (ctx.log, TRUE);
}

static void
dropped_body (CoopTask *task, gpointer data)
{
  Ctx *ctx = data;
  g_autoptr(GError) error = NULL;
  gint64 when = g_get_monotonic_time () + 2000;
  CoopTimeout *scope = coop_timeout_enter_at (when, NULL);
  CoopTimeout *extra = coop_timeout_ref (scope);

  g_assert_cmpint (coop_timeout_get_when (scope), ==, when);
  coop_timeout_unref (extra);
  /* Dropped without exit: its deadline goes with it. */
  coop_timeout_unref (scope);
  g_assert_true (nap (ctx, 10, &error));
  g_string_append (ctx->log, "ok;");
}

/* Dropping a scope removes its deadline: the task is not cancelled later. */
static void
test_dropped_scope (CoopFixture *f, gconstpointer data)
{
  Ctx ctx = { f->loop, g_string_new (NULL) };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, dropped_body, &ctx, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_cmpstr (ctx.log->str, ==, "ok;");
  g_string_free (ctx.log, TRUE);
}

static void
test_outside_task (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_assert_null (coop_timeout_enter (1000, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NOT_IN_TASK);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/timeout/expires", test_expires);
  coop_test_add ("/coop/timeout/in-time", test_in_time);
  coop_test_add ("/coop/timeout/reschedule", test_reschedule);
  coop_test_add ("/coop/timeout/nested", test_nested);
  coop_test_add ("/coop/timeout/no-await", test_no_await);
  coop_test_add ("/coop/timeout/outside-task", test_outside_task);
  coop_test_add ("/coop/timeout/dropped-scope", test_dropped_scope);

  return g_test_run ();
}
