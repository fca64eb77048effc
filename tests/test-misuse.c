/* test-misuse.c: programming errors get a clear GError or a critical,
 * never a crash.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

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
  g_autoptr(GError) error = NULL;

  /* A future of another loop is awaited across the loops now
   * (test-crossloop.c): no longer a misuse. */
  g_assert_false (coop_await (COOP_FUTURE (task), &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_clear_error (&error);

  /* Running the loop from inside a task is refused. */
  g_assert_false (coop_loop_run_until_complete (coop_future_get_loop (COOP_FUTURE (task)),
                                                COOP_FUTURE (task), &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  coop_future_set_boolean (COOP_FUTURE (task), TRUE);
}

/* A task awaiting itself, a nested run, running until a future of another
 * loop. */
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

/* Work asked of a closed loop, each in a child process (criticals are
 * fatal there): refused with a critical that says the loop is closed, or
 * done with a COOP_ERROR_LOOP_CLOSED/cancelled future; never a crash. */
static gboolean
dummy_thread_func (gpointer data, GCancellable *cancellable, GValue *result, GError **error)
{
  return TRUE;
}

static void
dummy_cb (gpointer data)
{
}

static void
dummy_handler (CoopTask *task, CoopStream *stream, gpointer data)
{
}

static const char *closed_loop_cases[] = {
  "sleep", "task-new", "run-in-thread", "call-later", "add-reader", "wait-readable",
  "queue-get", "lock-acquire", "event-wait", "gather", "stream-new", "server-new",
  "future-new", "semaphore-acquire", "signal-wait",
};

static void
test_closed_loop_case (gconstpointer data)
{
  const char *which = data;

  if (g_test_subprocess ())
    {
      GMainContext *context = g_main_context_new ();
      CoopLoop *loop = coop_loop_new (context);
      CoopLock *lock = coop_lock_new (loop);
      CoopEvent *event = coop_event_new (loop);
      CoopQueue *queue = coop_queue_new (loop, 0, COOP_QUEUE_FIFO);
      CoopSemaphore *semaphore = coop_semaphore_new (loop, 0);
      CoopFuture *future = NULL;
      GError *error = NULL;
      int fds[2];

      g_assert_cmpint (pipe (fds), ==, 0);
      coop_loop_close (loop);

      if (g_str_equal (which, "sleep"))
        future = coop_sleep (loop, 10);
      else if (g_str_equal (which, "task-new"))
        future = (CoopFuture *) coop_task_new (loop, (CoopTaskFunc) dummy_cb, NULL, NULL);
      else if (g_str_equal (which, "run-in-thread"))
        future = coop_loop_run_in_thread (loop, dummy_thread_func, NULL, NULL);
      else if (g_str_equal (which, "call-later"))
        coop_loop_call_later (loop, 10, dummy_cb, NULL, NULL);
      else if (g_str_equal (which, "add-reader"))
        coop_loop_add_reader (loop, fds[0], dummy_cb, NULL, NULL);
      else if (g_str_equal (which, "wait-readable"))
        future = coop_loop_wait_readable (loop, fds[0]);
      else if (g_str_equal (which, "queue-get"))
        future = coop_queue_get (queue);
      else if (g_str_equal (which, "lock-acquire"))
        future = coop_lock_acquire (lock);
      else if (g_str_equal (which, "event-wait"))
        future = coop_event_wait (event);
      else if (g_str_equal (which, "gather"))
        future = coop_gather (loop, NULL, 0, FALSE);
      else if (g_str_equal (which, "stream-new"))
        g_clear_object (&(GObject *) { (GObject *) coop_stream_new_for_fd (loop, fds[0], &error) });
      else if (g_str_equal (which, "server-new"))
        g_clear_object (&(GObject *) { (GObject *) coop_server_new_tcp (loop, "127.0.0.1", 0, 0, dummy_handler,
                                                                      NULL, NULL, &error) });
      else if (g_str_equal (which, "future-new"))
        future = coop_future_new (loop);
      else if (g_str_equal (which, "semaphore-acquire"))
        future = coop_semaphore_acquire (semaphore);
      else if (g_str_equal (which, "signal-wait"))
        future = coop_unix_signal_wait (loop, SIGUSR1);
      else
        g_assert_not_reached ();

      /* What only the loop can complete (a timer, readiness, a signal, a
       * thread's result, a task) must not stay pending on a closed loop.
       * A plain future, a queue get, a semaphore or an event wait are
       * completed by whoever holds the other end (a put, a release, a
       * set), loop or not, as in asyncio. */
      if (future != NULL && !g_str_equal (which, "future-new") && !g_str_equal (which, "queue-get") &&
          !g_str_equal (which, "semaphore-acquire") && !g_str_equal (which, "event-wait"))
        {
          if (!coop_future_is_done (future))
            g_printerr ("%s: a future stays pending on a closed loop\n", which);
          (void) coop_future_get_error (future);   /* what a caller does */
        }
      g_clear_error (&error);
      g_clear_object (&future);
      g_object_unref (semaphore);
      g_object_unref (queue);
      g_object_unref (event);
      g_object_unref (lock);
      g_object_unref (loop);
      g_main_context_unref (context);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  if (!g_test_trap_has_passed ())
    g_test_trap_assert_stderr ("*CRITICAL*closed*");
  else
    g_test_message ("%s on a closed loop: no critical", which);
  g_test_trap_assert_stderr_unmatched ("*stays pending*");
}

/* A stream used after it was closed: errors, never a crash. */
static void
test_closed_stream (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_bytes_new_static ("x", 1);
  CoopFuture *futures[4];
  CoopStream *stream;
  int fds[2];
  guint i;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  stream = coop_stream_new_for_fd (f->loop, fds[0], &error);
  g_assert_no_error (error);
  coop_stream_close (stream);
  coop_stream_close (stream);
  g_assert_true (coop_stream_is_closing (stream));

  futures[0] = coop_stream_read (stream, 10);
  futures[1] = coop_stream_read_exactly (stream, 10);
  futures[2] = coop_stream_read_line (stream);
  futures[3] = coop_stream_drain (stream);
  g_assert_false (coop_stream_write (stream, bytes, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_false (coop_stream_write_eof (stream, &error));
  g_clear_error (&error);
  coop_stream_abort (stream);
  coop_test_drain ();
  for (i = 0; i < G_N_ELEMENTS (futures); i++)
    {
      g_assert_true (coop_future_is_done (futures[i]));
      if (i < 3)
        g_assert_false (coop_future_get_state (futures[i]) == COOP_FUTURE_STATE_FINISHED);
      (void) coop_future_get_error (futures[i]);
      g_object_unref (futures[i]);
    }
  g_object_unref (stream);
  close (fds[1]);
}

static gpointer
foreign_thread (gpointer data)
{
  CoopLoop *loop = data;
  g_autoptr(CoopFuture) future = coop_future_new (loop);
  GError *error = NULL;
  gboolean ok;

  /* The loop runs on the main thread: running it here is refused. */
  ok = coop_loop_run_until_complete (loop, future, &error);
  g_assert_false (ok);
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_clear_error (&error);
  /* Awaiting outside a task, on another thread: an error too. */
  g_assert_false (coop_await (future, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NOT_IN_TASK);
  g_clear_error (&error);
  /* Cancelling on the wrong thread is refused; the thread-safe way works. */
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "coop_future_cancel: called from a thread*");
  g_assert_false (coop_future_cancel (future, NULL));
  g_test_assert_expected_messages ();
  g_assert_false (coop_future_is_done (future));
  coop_future_cancel_threadsafe (future, NULL);
  /* The last reference goes on the loop's thread, after the cancellation:
   * GObject's reference counting is invisible to ThreadSanitizer. */
  coop_loop_call_soon_threadsafe (loop, (CoopCallback) g_object_unref, g_steal_pointer (&future), NULL);
  coop_loop_call_soon_threadsafe (loop, (CoopCallback) coop_loop_stop, loop, NULL);
  return NULL;
}

static GThread *foreign;

static void
start_foreign_cb (gpointer data)
{
  foreign = g_thread_new ("foreign", foreign_thread, data);
}

/* From the wrong thread: running a loop another thread runs, awaiting
 * without a task.  The thread is joined before the context goes: its last
 * call_soon_threadsafe() may still be waking the context (found by TSan). */
static void
test_wrong_thread (CoopFixture *f, gconstpointer data)
{
  coop_handle_unref (coop_loop_call_soon (f->loop, start_foreign_cb, f->loop, NULL));
  coop_loop_run_forever (f->loop);
  g_thread_join (g_steal_pointer (&foreign));
}

/* Every public function whose first parameter is a Coop object, called
 * with NULL there (and 0 for the rest), each in a child process: it must
 * refuse with a CRITICAL (fatal in tests) or accept NULL and return, never
 * crash.  The list is generated from the public headers
 * (tests/gen-null-calls.py), so new functions join it by themselves. */
static void
null_call_release (gpointer result)
{
  if (result != NULL && G_IS_OBJECT (result))
    g_object_unref (result);
}

#include "test-misuse-null.h"

#define NULL_CALL_FUNC(name, call) \
  static void null_call_##name (void) { call; }
NULL_CALLS (NULL_CALL_FUNC)

typedef struct
{
  const char *name;
  void      (*func) (void);
} NullCall;

#define NULL_CALL_ENTRY(name, call) { #name, null_call_##name },
static const NullCall null_calls[] = { NULL_CALLS (NULL_CALL_ENTRY) };

static void
test_null_instance (gconstpointer data)
{
  const NullCall *call = data;

  if (g_test_subprocess ())
    {
      call->func ();
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  /* Refused with a critical naming the check, or tolerated; a crash
   * (a signal, no critical) fails here. */
  if (!g_test_trap_has_passed ())
    g_test_trap_assert_stderr ("*CRITICAL*");
  else
    g_test_message ("%s: NULL tolerated", call->name);
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

  coop_test_add ("/coop/misuse/closed-stream", test_closed_stream);
  coop_test_add ("/coop/misuse/wrong-thread", test_wrong_thread);
  for (guint i = 0; i < G_N_ELEMENTS (closed_loop_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/coop/misuse/closed-loop/%s", closed_loop_cases[i]);

      g_test_add_data_func (path, closed_loop_cases[i], test_closed_loop_case);
    }
  for (guint i = 0; i < G_N_ELEMENTS (null_calls); i++)
    {
      g_autofree char *path = g_strdup_printf ("/coop/misuse/null/%s", null_calls[i].name);

      g_test_add_data_func (path, &null_calls[i], test_null_instance);
    }

  return g_test_run ();
}
