/* test-misuse.c: programming errors get a clear GError or a critical,
 * never a crash.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

/* coop_await() and coop_yield() outside a task: COOP_ERROR_NOT_IN_TASK. */
static void
test_await_outside_task (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) future = coop_future_new (f->loop);
  g_autoptr(GError) error = NULL;

  g_assert_false (coop_await (future, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NOT_IN_TASK);
  g_clear_error (&error);
  g_assert_false (coop_yield (&error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NOT_IN_TASK);
  g_assert_null (coop_task_get_current ());
}

/* Setting a result twice is a critical; the first result stays and the
 * second one's data is released. */
static void
test_set_twice (void)
{
  if (g_test_subprocess ())
    {
      CoopLoop *loop = coop_loop_get_default ();
      CoopFuture *future = coop_future_new (loop);

      coop_future_set_int64 (future, 1);
      coop_future_set_int64 (future, 2);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*coop_future_set_int64*already done*only once*");
}

static int freed;

static void
count_free (gpointer data)
{
  freed++;
}

static void
test_set_twice_keeps_first (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) future = coop_future_new (f->loop);

  coop_future_set_int64 (future, 1);
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*already done*");
  coop_future_set_pointer (future, &freed, count_free);
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*already done*");
  coop_future_take_error (future, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "x"));
  g_test_assert_expected_messages ();
  g_assert_cmpint (freed, ==, 1);
  g_assert_cmpint (coop_future_get_int64 (future, NULL), ==, 1);
}

/* A closed loop: running reports LOOP_CLOSED, scheduling is a critical. */
static void
test_closed_loop (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop = coop_loop_new (context);
  CoopFuture *future = coop_future_new (loop);
  g_autoptr(GError) error = NULL;
  int count = 0;

  coop_loop_close (loop);
  g_assert_false (coop_loop_run_until_complete (loop, future, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_LOOP_CLOSED);

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*closed*");
  g_assert_null (coop_loop_call_soon (loop, (CoopCallback) count_free, &count, count_free));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*closed*");
  g_assert_null (coop_loop_call_later (loop, 10, (CoopCallback) count_free, &count, NULL));
  g_test_assert_expected_messages ();
  /* From another thread a closing loop cannot be foreseen: dropped
   * silently, the notify runs at once. */
  freed = 0;
  coop_loop_call_soon_threadsafe (loop, (CoopCallback) count_free, &count, count_free);
  g_assert_cmpint (freed, ==, 1);
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*closed*");
  coop_loop_run_forever (loop);
  g_test_assert_expected_messages ();

  g_object_unref (future);
  g_object_unref (loop);
  g_main_context_unref (context);
}

static void
await_foreign_body (CoopTask *task, gpointer data)
{
  CoopFuture *foreign = data;
  g_autoptr(GError) error = NULL;

  g_assert_false (coop_await (foreign, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_WRONG_LOOP);
  g_clear_error (&error);

  g_assert_false (coop_await (COOP_FUTURE (task), &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_clear_error (&error);

  /* Running the loop from inside a task is refused. */
  g_assert_false (coop_loop_run_until_complete (coop_future_get_loop (COOP_FUTURE (task)),
                                                COOP_FUTURE (task), &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  coop_future_set_boolean (COOP_FUTURE (task), TRUE);
}

/* A future of another loop, a task awaiting itself, a nested run. */
static void
test_await_misuse (CoopFixture *f, gconstpointer data)
{
  GMainContext *other_context = g_main_context_new ();
  CoopLoop *other = coop_loop_new (other_context);
  CoopFuture *foreign = coop_future_new (other);
  g_autoptr(CoopTask) task = coop_task_new (f->loop, await_foreign_body, foreign, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_true (coop_future_get_boolean (COOP_FUTURE (task), NULL));

  /* run_until_complete with a future of another loop. */
  g_assert_false (coop_loop_run_until_complete (f->loop, foreign, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_WRONG_LOOP);

  g_object_unref (foreign);
  coop_loop_close (other);
  g_object_unref (other);
  g_main_context_unref (other_context);
}

/* NULL and wrong-type arguments are criticals, not crashes. */
static void
test_bad_arguments (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*COOP_IS_LOOP*");
  g_assert_null (coop_loop_call_soon (NULL, (CoopCallback) count_free, NULL, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*callback != NULL*");
  g_assert_null (coop_loop_call_soon (f->loop, NULL, NULL, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*COOP_IS_FUTURE*");
  g_assert_false (coop_await (NULL, &error));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*COOP_IS_FUTURE*");
  g_assert_false (coop_future_is_done ((CoopFuture *) f->loop));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*func != NULL*");
  g_assert_null (coop_task_new (f->loop, NULL, NULL, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*stack_size*");
  g_assert_null (coop_task_new_full (f->loop, NULL, 100, (CoopTaskFunc) count_free, NULL, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*futures != NULL*");
  g_assert_null (coop_gather (f->loop, NULL, 2, FALSE));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*mode*");
  g_assert_null (coop_wait (f->loop, NULL, 0, 42));
  g_test_assert_expected_messages ();
}

/* Closing a running loop is refused. */
static void
close_cb (gpointer data)
{
  CoopLoop *loop = data;

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*running*");
  coop_loop_close (loop);
  g_test_assert_expected_messages ();
  g_assert_false (coop_loop_is_closed (loop));
  coop_loop_stop (loop);
}

static void
test_close_running (CoopFixture *f, gconstpointer data)
{
  coop_handle_unref (coop_loop_call_soon (f->loop, close_cb, f->loop, NULL));
  coop_loop_run_forever (f->loop);
}

/* The same misuse, each in a child process, where the critical is fatal:
 * the process reports it clearly and does not crash on the way. */
static const char *critical_cases[][2] = {
  { "closed-call-soon", "*CRITICAL*coop_loop_call_soon*closed*" },
  { "null-future", "*CRITICAL*coop_future_set_int64*COOP_IS_FUTURE*" },
  { "run-forever-closed", "*CRITICAL*run_forever*closed*" },
  { "boxed-not-boxed", "*CRITICAL*G_TYPE_IS_BOXED*" },
};

static void
test_critical_in_subprocess (gconstpointer data)
{
  guint which = GPOINTER_TO_UINT (data);

  if (g_test_subprocess ())
    {
      GMainContext *context = g_main_context_new ();
      CoopLoop *loop = coop_loop_new (context);
      CoopFuture *future = coop_future_new (loop);

      switch (which)
        {
        case 0:
          coop_loop_close (loop);
          coop_loop_call_soon (loop, (CoopCallback) count_free, NULL, NULL);
          break;
        case 1:
          coop_future_set_int64 (NULL, 1);
          break;
        case 2:
          coop_loop_close (loop);
          coop_loop_run_forever (loop);
          break;
        case 3:
        default:
          coop_future_set_boxed (future, G_TYPE_INT, NULL);
          break;
        }
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr (critical_cases[which][1]);
}

/* Sizes and delays at the edges: refused or saturated, never a crash or a
 * wrap-around. */
static void
test_extreme_values (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) far = coop_sleep (f->loop, G_MAXINT64);
  g_autoptr(CoopFuture) never = coop_future_new (f->loop);
  g_autoptr(CoopFuture) limited = coop_wait_for (never, G_MAXINT64);

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*COOP_STACK_SIZE_MAX*");
  g_assert_null (coop_task_new_full (f->loop, "big", G_MAXSIZE, (CoopTaskFunc) count_free, NULL, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*COOP_STACK_SIZE_MAX*");
  coop_loop_set_stack_size (f->loop, G_MAXSIZE);
  g_test_assert_expected_messages ();

  /* A huge delay means "never", not "at once" (no signed overflow). */
  for (int i = 0; i < 5; i++)
    coop_test_iterate ();
  g_assert_false (coop_future_is_done (far));
  g_assert_false (coop_future_is_done (limited));
  coop_future_cancel (far, NULL);
  coop_future_cancel (limited, NULL);
}

static void
close_from_task_body (CoopTask *task, gpointer data)
{
  CoopLoop *loop = data;

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*inside one of its tasks*");
  coop_loop_close (loop);
  g_test_assert_expected_messages ();
  g_assert_false (coop_loop_is_closed (loop));
  coop_future_set_boolean (COOP_FUTURE (task), TRUE);
}

/* A loop cannot be closed from inside one of its own tasks. */
static void
test_close_from_task (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopTask) task = coop_task_new (f->loop, close_from_task_body, f->loop, NULL);

  /* Driven the way an application's own main loop would. */
  coop_test_wait_until (coop_future_is_done (COOP_FUTURE (task)));
  g_assert_true (coop_future_get_boolean (COOP_FUTURE (task), NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/misuse/await-outside-task", test_await_outside_task);
  g_test_add_func ("/coop/misuse/set-twice", test_set_twice);
  coop_test_add ("/coop/misuse/set-twice-keeps-first", test_set_twice_keeps_first);
  g_test_add_func ("/coop/misuse/closed-loop", test_closed_loop);
  coop_test_add ("/coop/misuse/await", test_await_misuse);
  coop_test_add ("/coop/misuse/bad-arguments", test_bad_arguments);
  coop_test_add ("/coop/misuse/close-running", test_close_running);
  coop_test_add ("/coop/misuse/extreme-values", test_extreme_values);
  coop_test_add ("/coop/misuse/close-from-task", test_close_from_task);
  for (guint i = 0; i < G_N_ELEMENTS (critical_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/coop/misuse/critical/%s", critical_cases[i][0]);

      g_test_add_data_func (path, GUINT_TO_POINTER (i), test_critical_in_subprocess);
    }

  return g_test_run ();
}
