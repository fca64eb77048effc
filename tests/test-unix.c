/* test-unix.c: Unix signals and subprocesses on the loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* ===== signals ============================================================== */

typedef struct
{
  GMainContext *context;      /* where the callback must run */
  CoopLoop     *loop;
  CoopFuture   *future;       /* a wait that must still be pending when it runs */
  int           calls;
  int           notified;
  int           notified_in_call;
  gboolean      wrong_context;
  gboolean      future_was_pending;
  guint         remove_self;  /* ids the callback removes */
  guint         remove_other;
} Counter;

static void
counter_call (gpointer data)
{
  Counter *c = data;
  GSource *source = g_main_current_source ();

  c->calls++;
  if (source == NULL || g_source_get_context (source) != c->context)
    c->wrong_context = TRUE;
  if (c->future != NULL)
    c->future_was_pending = !coop_future_is_done (c->future);
  if (c->remove_self != 0)
    {
      g_assert_true (coop_loop_remove_signal_handler (c->loop, c->remove_self));
      c->remove_self = 0;
      /* The destroy notify waits until this callback returns. */
      c->notified_in_call = c->notified;
    }
  if (c->remove_other != 0)
    {
      g_assert_true (coop_loop_remove_signal_handler (c->loop, c->remove_other));
      c->remove_other = 0;
    }
}

static void
counter_notify (gpointer data)
{
  ((Counter *) data)->notified++;
}

static gboolean
signal_is_default (int signum)
{
  struct sigaction action;

  g_assert_no_errno (sigaction (signum, NULL, &action));
  return action.sa_handler == SIG_DFL;
}

/* A handler runs on the loop's context, each time the signal arrives,
 * never inside raise(); removing it restores the default action. */
static void
test_signal_handler (CoopFixture *f, gconstpointer data)
{
  Counter c = { .context = f->context, .loop = f->loop };
  guint id;

  g_assert_true (signal_is_default (SIGUSR1));
  id = coop_loop_add_signal_handler (f->loop, SIGUSR1, counter_call, &c, counter_notify);
  g_assert_cmpuint (id, >, 0);
  g_assert_false (signal_is_default (SIGUSR1));

  raise (SIGUSR1);
  g_assert_cmpint (c.calls, ==, 0);
  coop_test_wait_until (c.calls == 1);

  raise (SIGUSR1);
  coop_test_wait_until (c.calls == 2);
  g_assert_false (c.wrong_context);
  g_assert_cmpint (c.notified, ==, 0);

  g_assert_true (coop_loop_remove_signal_handler (f->loop, id));
  g_assert_cmpint (c.notified, ==, 1);
  g_assert_true (signal_is_default (SIGUSR1));
}

/* Removal: by id, once; unknown ids are refused; a removed handler is not
 * called again while the others are. */
static void
test_signal_remove (CoopFixture *f, gconstpointer data)
{
  Counter c1 = { .context = f->context, .loop = f->loop };
  Counter c2 = { .context = f->context, .loop = f->loop };
  guint id1, id2;

  g_assert_false (coop_loop_remove_signal_handler (f->loop, 1));   /* nothing registered yet */
  id1 = coop_loop_add_signal_handler (f->loop, SIGHUP, counter_call, &c1, counter_notify);
  id2 = coop_loop_add_signal_handler (f->loop, SIGHUP, counter_call, &c2, counter_notify);
  g_assert_cmpuint (id1, >, 0);
  g_assert_cmpuint (id2, >, 0);
  g_assert_cmpuint (id1, !=, id2);

  g_assert_true (coop_loop_remove_signal_handler (f->loop, id1));
  g_assert_cmpint (c1.notified, ==, 1);
  g_assert_false (coop_loop_remove_signal_handler (f->loop, id1));
  g_assert_false (coop_loop_remove_signal_handler (f->loop, 0));
  g_assert_false (coop_loop_remove_signal_handler (f->loop, 12345));
  g_assert_cmpint (c1.notified, ==, 1);
  g_assert_false (signal_is_default (SIGHUP));

  raise (SIGHUP);
  coop_test_wait_until (c2.calls == 1);
  coop_test_drain ();
  g_assert_cmpint (c1.calls, ==, 0);

  g_assert_true (coop_loop_remove_signal_handler (f->loop, id2));
  g_assert_cmpint (c2.notified, ==, 1);
  g_assert_true (signal_is_default (SIGHUP));
}

/* Handlers may remove themselves and each other while the signal is being
 * dispatched: a removed handler that has not run yet is skipped. */
static void
test_signal_remove_in_callback (CoopFixture *f, gconstpointer data)
{
  Counter c1 = { .context = f->context, .loop = f->loop };
  Counter c2 = { .context = f->context, .loop = f->loop };
  Counter c3 = { .context = f->context, .loop = f->loop };
  guint id1, id2, id3;

  id1 = coop_loop_add_signal_handler (f->loop, SIGUSR2, counter_call, &c1, counter_notify);
  id2 = coop_loop_add_signal_handler (f->loop, SIGUSR2, counter_call, &c2, counter_notify);
  id3 = coop_loop_add_signal_handler (f->loop, SIGUSR2, counter_call, &c3, counter_notify);
  c1.remove_self = id1;
  c1.remove_other = id3;

  raise (SIGUSR2);
  coop_test_wait_until (c2.calls == 1);
  g_assert_cmpint (c1.calls, ==, 1);
  g_assert_cmpint (c1.notified_in_call, ==, 0);
  g_assert_cmpint (c1.notified, ==, 1);
  g_assert_cmpint (c3.calls, ==, 0);
  g_assert_cmpint (c3.notified, ==, 1);

  raise (SIGUSR2);
  coop_test_wait_until (c2.calls == 2);
  g_assert_cmpint (c1.calls, ==, 1);

  g_assert_true (coop_loop_remove_signal_handler (f->loop, id2));
  g_assert_true (signal_is_default (SIGUSR2));
}

/* A wait finishes with the signal number, after the handlers ran; all the
 * waits pending then finish together. */
static void
test_signal_wait (CoopFixture *f, gconstpointer data)
{
  Counter c = { .context = f->context, .loop = f->loop };
  g_autoptr(CoopFuture) first = coop_unix_signal_wait (f->loop, SIGUSR2);
  g_autoptr(CoopFuture) second = coop_unix_signal_wait (f->loop, SIGUSR2);
  g_autoptr(GError) error = NULL;
  guint id;

  c.future = first;
  id = coop_loop_add_signal_handler (f->loop, SIGUSR2, counter_call, &c, NULL);
  coop_test_drain ();
  g_assert_false (coop_future_is_done (first));

  raise (SIGUSR2);
  g_assert_true (coop_loop_run_until_complete (f->loop, first, &error));
  g_assert_no_error (error);
  g_assert_cmpint (coop_future_get_int64 (first, NULL), ==, SIGUSR2);
  g_assert_true (coop_future_is_done (second));
  g_assert_cmpint (coop_future_get_int64 (second, NULL), ==, SIGUSR2);
  g_assert_cmpint (c.calls, ==, 1);
  g_assert_true (c.future_was_pending);

  g_assert_true (coop_loop_remove_signal_handler (f->loop, id));
  g_assert_true (signal_is_default (SIGUSR2));
}

/* Cancelling a wait removes its watch: the signal's default action comes
 * back when nothing else watches it. */
static void
test_signal_wait_cancel (CoopFixture *f, gconstpointer data)
{
  Counter c = { .context = f->context, .loop = f->loop };
  g_autoptr(CoopFuture) lone = coop_unix_signal_wait (f->loop, SIGWINCH);
  g_autoptr(CoopFuture) cancelled = NULL;
  g_autoptr(CoopFuture) later = NULL;
  g_autoptr(GError) error = NULL;
  guint id;

  g_assert_false (signal_is_default (SIGWINCH));
  g_assert_true (coop_future_cancel (lone, NULL));
  g_assert_true (coop_future_is_cancelled (lone));
  g_assert_true (signal_is_default (SIGWINCH));

  /* With a handler still watching, a cancelled wait is not completed. */
  id = coop_loop_add_signal_handler (f->loop, SIGUSR1, counter_call, &c, NULL);
  cancelled = coop_unix_signal_wait (f->loop, SIGUSR1);
  g_assert_true (coop_future_cancel (cancelled, "no more"));
  later = coop_unix_signal_wait (f->loop, SIGUSR1);
  raise (SIGUSR1);
  g_assert_true (coop_loop_run_until_complete (f->loop, later, &error));
  g_assert_no_error (error);
  g_assert_cmpint (coop_future_get_int64 (later, NULL), ==, SIGUSR1);
  g_assert_false (coop_future_propagate (cancelled, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpstr (error->message, ==, "no more");

  g_assert_true (coop_loop_remove_signal_handler (f->loop, id));
  g_assert_true (signal_is_default (SIGUSR1));
}

static void
raise_soon (gpointer data)
{
  raise (GPOINTER_TO_INT (data));
}

static void
signal_task_body (CoopTask *task, gpointer data)
{
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(CoopFuture) hup = coop_unix_signal_wait (loop, SIGHUP);
  g_autoptr(CoopFuture) never = coop_unix_signal_wait (loop, SIGUSR1);
  g_autoptr(GError) error = NULL;

  coop_handle_unref (coop_loop_call_later (loop, 2000, raise_soon, GINT_TO_POINTER (SIGHUP), NULL));
  if (!coop_await (hup, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }
  g_assert_cmpint (coop_future_get_int64 (hup, NULL), ==, SIGHUP);

  /* A cancelled task stops watching what it awaited. */
  coop_task_cancel (task, NULL);
  g_assert_false (coop_await (never, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (coop_future_is_cancelled (never));
  coop_future_set_int64 (COOP_FUTURE (task), coop_future_get_int64 (hup, NULL));
}

/* A C task awaits a signal. */
static void
test_signal_task (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopTask) task = coop_task_new (f->loop, signal_task_body, NULL, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_no_error (error);
  g_assert_cmpint (coop_future_get_int64 (COOP_FUTURE (task), NULL), ==, SIGHUP);
  g_assert_true (signal_is_default (SIGHUP));
  g_assert_true (signal_is_default (SIGUSR1));
}

/* Only GLib's signals are supported: a wait fails with
 * G_IO_ERROR_INVALID_ARGUMENT, a handler is a critical (notify runs). */
static void
test_signal_unsupported (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) kill_wait = coop_unix_signal_wait (f->loop, SIGKILL);
  g_autoptr(CoopFuture) bogus_wait = coop_unix_signal_wait (f->loop, 0);
  g_autoptr(GError) error = NULL;
  Counter c = { .context = f->context, .loop = f->loop };
  guint id;

  g_assert_cmpint (coop_future_get_state (kill_wait), ==, COOP_FUTURE_STATE_FAILED);
  g_assert_false (coop_future_propagate (kill_wait, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "SIGUSR1"));
  g_clear_error (&error);
  g_assert_false (coop_future_propagate (bogus_wait, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*Signal 9*cannot be watched*");
  id = coop_loop_add_signal_handler (f->loop, SIGKILL, counter_call, &c, counter_notify);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (id, ==, 0);
  g_assert_cmpint (c.notified, ==, 1);

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*Signal 17*cannot be watched*");
  id = coop_loop_add_signal_handler (f->loop, SIGCHLD, counter_call, &c, counter_notify);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (id, ==, 0);
  g_assert_cmpint (c.notified, ==, 2);
}

/* Closing a loop removes its handlers (without calling them for a signal
 * that arrives after the close) and cancels its waits, at the context's
 * next iteration; another loop watching the same signal is not affected. */
static void
test_signal_close (CoopFixture *f, gconstpointer data)
{
  Counter c = { .context = f->context, .loop = f->loop };
  GMainContext *other_context = g_main_context_new ();
  CoopLoop *other = coop_loop_new (other_context);
  Counter oc = { .context = other_context, .loop = other };
  g_autoptr(CoopFuture) wait = NULL;
  g_autoptr(CoopFuture) after = NULL;
  g_autoptr(GError) error = NULL;
  guint id, other_id;

  id = coop_loop_add_signal_handler (f->loop, SIGUSR1, counter_call, &c, counter_notify);
  wait = coop_unix_signal_wait (f->loop, SIGUSR1);
  other_id = coop_loop_add_signal_handler (other, SIGUSR1, counter_call, &oc, counter_notify);

  coop_loop_close (f->loop);
  raise (SIGUSR1);
  coop_test_wait_until (c.notified == 1);
  g_assert_cmpint (c.calls, ==, 0);
  g_assert_true (coop_future_is_cancelled (wait));
  g_assert_false (coop_loop_remove_signal_handler (f->loop, id));

  /* The other loop still gets it. */
  while (oc.calls == 0)
    g_main_context_iteration (other_context, TRUE);
  g_assert_false (oc.wrong_context);

  /* A closed loop refuses new watches. */
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*loop is closed*");
  g_assert_cmpuint (coop_loop_add_signal_handler (f->loop, SIGUSR1, counter_call, &c, counter_notify), ==, 0);
  g_test_assert_expected_messages ();
  g_assert_cmpint (c.notified, ==, 2);
  after = coop_unix_signal_wait (f->loop, SIGUSR1);
  g_assert_false (coop_future_propagate (after, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_LOOP_CLOSED);

  g_assert_true (coop_loop_remove_signal_handler (other, other_id));
  g_assert_true (signal_is_default (SIGUSR1));
  coop_loop_close (other);
  g_object_unref (other);
  g_main_context_unref (other_context);
}

/* A loop closed and finalized without its context running again drops
 * its handlers when it is finalized. */
static void
test_signal_finalize (CoopFixture *f, gconstpointer data)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop = coop_loop_new (context);
  Counter c = { .context = context, .loop = loop };
  GWeakRef weak;

  g_assert_cmpuint (coop_loop_add_signal_handler (loop, SIGTERM, counter_call, &c, counter_notify), >, 0);
  g_assert_false (signal_is_default (SIGTERM));
  g_weak_ref_init (&weak, loop);
  coop_loop_close (loop);
  g_object_unref (loop);
  g_assert_null (g_weak_ref_get (&weak));
  g_weak_ref_clear (&weak);
  g_assert_cmpint (c.notified, ==, 1);
  g_assert_cmpint (c.calls, ==, 0);
  g_assert_true (signal_is_default (SIGTERM));
  g_main_context_unref (context);
}

/* ===== subprocesses ========================================================= */

#define ARGV(...) ((const char * const[]) { __VA_ARGS__, NULL })

static gint64
run_returncode (CoopFixture *f, const char * const *argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopSubprocess) proc = coop_subprocess_new (f->loop, argv, G_SUBPROCESS_FLAGS_NONE, &error);
  g_autoptr(CoopFuture) exited = NULL;
  int returncode = 12345;

  g_assert_no_error (error);
  g_assert_nonnull (proc);
  g_assert_false (coop_subprocess_get_returncode (proc, &returncode));
  g_assert_cmpint (returncode, ==, 0);
  exited = coop_subprocess_wait (proc);
  g_assert_true (coop_loop_run_until_complete (f->loop, exited, &error));
  g_assert_no_error (error);
  g_assert_true (coop_subprocess_get_returncode (proc, &returncode));
  g_assert_cmpint (returncode, ==, coop_future_get_int64 (exited, NULL));
  return coop_future_get_int64 (exited, NULL);
}

static void
test_exit_codes (CoopFixture *f, gconstpointer data)
{
  g_assert_cmpint (run_returncode (f, ARGV ("/bin/true")), ==, 0);
  g_assert_cmpint (run_returncode (f, ARGV ("/bin/false")), ==, 1);
  g_assert_cmpint (run_returncode (f, ARGV ("/bin/sh", "-c", "exit 3")), ==, 3);
  g_assert_cmpint (run_returncode (f, ARGV ("/bin/sh", "-c", "kill -KILL $$")), ==, -SIGKILL);
}

static pid_t
proc_pid (CoopSubprocess *proc)
{
  const char *id = g_subprocess_get_identifier (coop_subprocess_get_gsubprocess (proc));

  g_assert_nonnull (id);
  return (pid_t) atoi (id);
}

static gint64
await_exit (CoopFixture *f, CoopSubprocess *proc)
{
  g_autoptr(CoopFuture) exited = coop_subprocess_wait (proc);
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_loop_run_until_complete (f->loop, exited, &error));
  g_assert_no_error (error);
  return coop_future_get_int64 (exited, NULL);
}

/* kill, terminate and send_signal: minus the signal number; once the
 * process is reaped they do nothing. */
static void
test_kill_terminate (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopSubprocess) killed = coop_subprocess_new (f->loop, ARGV ("sleep", "10"), 0, NULL);
  g_autoptr(CoopSubprocess) terminated = coop_subprocess_new (f->loop, ARGV ("sleep", "10"), 0, NULL);
  g_autoptr(CoopSubprocess) signalled = coop_subprocess_new (f->loop, ARGV ("sleep", "10"), 0, NULL);

  g_assert_true (coop_subprocess_get_loop (killed) == f->loop);
  coop_subprocess_kill (killed);
  coop_subprocess_terminate (terminated);
  coop_subprocess_send_signal (signalled, SIGUSR2);
  g_assert_cmpint (await_exit (f, killed), ==, -SIGKILL);
  g_assert_cmpint (await_exit (f, terminated), ==, -SIGTERM);
  g_assert_cmpint (await_exit (f, signalled), ==, -SIGUSR2);

  coop_subprocess_kill (killed);
  coop_subprocess_terminate (terminated);
  coop_subprocess_send_signal (signalled, SIGKILL);
  /* A wait on a reaped process finishes at once, with the same code. */
  g_assert_cmpint (await_exit (f, killed), ==, -SIGKILL);
}

static CoopSubprocessOutput *
communicate (CoopFixture *f, CoopSubprocess *proc, GBytes *input, CoopFuture **futurep)
{
  CoopFuture *future = coop_subprocess_communicate (proc, input);
  g_autoptr(GError) error = NULL;
  CoopSubprocessOutput *output;

  g_assert_false (coop_future_is_done (future));
  g_assert_true (coop_loop_run_until_complete (f->loop, future, &error));
  g_assert_no_error (error);
  output = (CoopSubprocessOutput *) coop_future_get_boxed (future, &error);
  g_assert_no_error (error);
  g_assert_nonnull (output);
  g_assert_true (G_VALUE_HOLDS (coop_future_get_value (future, NULL), COOP_TYPE_SUBPROCESS_OUTPUT));
  *futurep = future;
  return output;
}

static void
assert_bytes (GBytes *bytes, const char *expected)
{
  gsize size;
  const char *data;

  g_assert_nonnull (bytes);
  data = g_bytes_get_data (bytes, &size);
  g_assert_cmpmem (data, size, expected, strlen (expected));
}

/* stdin -> cat -> stdout. */
static void
test_communicate_cat (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopSubprocess) proc =
    coop_subprocess_new (f->loop, ARGV ("/bin/cat"),
                         G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_autoptr(GBytes) input = g_bytes_new_static ("hello\nworld\n", 12);
  g_autoptr(CoopFuture) future = NULL;
  g_autoptr(CoopSubprocessOutput) output = NULL;
  int returncode = -1;

  g_assert_no_error (error);
  output = coop_subprocess_output_ref (communicate (f, proc, input, &future));
  assert_bytes (coop_subprocess_output_get_stdout (output), "hello\nworld\n");
  g_assert_null (coop_subprocess_output_get_stderr (output));
  g_assert_true (coop_subprocess_get_returncode (proc, &returncode));
  g_assert_cmpint (returncode, ==, 0);
}

/* stdout and stderr captured separately; a second communicate is refused,
 * and so is input without a stdin pipe. */
static void
test_communicate_stderr (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopSubprocess) proc =
    coop_subprocess_new (f->loop, ARGV ("/bin/sh", "-c", "printf out; printf err >&2; exit 2"),
                         G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_autoptr(GBytes) input = g_bytes_new_static ("x", 1);
  g_autoptr(CoopFuture) future = NULL;
  g_autoptr(CoopFuture) again = NULL;
  g_autoptr(CoopFuture) refused = NULL;
  CoopSubprocessOutput *output;
  int returncode = -1;

  g_assert_no_error (error);
  /* Input needs a stdin pipe. */
  refused = coop_subprocess_communicate (proc, input);
  g_assert_false (coop_future_propagate (refused, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  output = communicate (f, proc, NULL, &future);
  assert_bytes (coop_subprocess_output_get_stdout (output), "out");
  assert_bytes (coop_subprocess_output_get_stderr (output), "err");
  g_assert_true (coop_subprocess_get_returncode (proc, &returncode));
  g_assert_cmpint (returncode, ==, 2);

  again = coop_subprocess_communicate (proc, NULL);
  g_assert_false (coop_future_propagate (again, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
}

/* A stdin pipe with no input is closed at once (EOF); streams that were
 * not piped read as NULL. */
static void
test_communicate_no_input (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopSubprocess) proc =
    coop_subprocess_new (f->loop, ARGV ("/bin/cat"), G_SUBPROCESS_FLAGS_STDIN_PIPE, &error);
  g_autoptr(CoopFuture) future = NULL;
  CoopSubprocessOutput *output;

  g_assert_no_error (error);
  output = communicate (f, proc, NULL, &future);
  g_assert_null (coop_subprocess_output_get_stdout (output));
  g_assert_null (coop_subprocess_output_get_stderr (output));
  g_assert_cmpint (await_exit (f, proc), ==, 0);
}

/* asyncio's wait_for(proc.wait(), t): the timeout cancels the wait, not
 * the process, which the caller then kills. */
static void
test_wait_for_timeout (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopSubprocess) proc = coop_subprocess_new (f->loop, ARGV ("sleep", "10"), 0, &error);
  g_autoptr(CoopFuture) exited = NULL;
  g_autoptr(CoopFuture) limited = NULL;
  gint64 start = g_get_monotonic_time ();

  g_assert_no_error (error);
  exited = coop_subprocess_wait (proc);
  limited = coop_wait_for (exited, 50 * G_TIME_SPAN_MILLISECOND);
  g_assert_false (coop_loop_run_until_complete (f->loop, limited, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_assert_true (coop_future_is_cancelled (exited));
  g_assert_false (coop_subprocess_get_returncode (proc, NULL));

  /* Still running: the caller kills it. */
  g_assert_no_errno (kill (proc_pid (proc), 0));
  coop_subprocess_kill (proc);
  g_assert_cmpint (await_exit (f, proc), ==, -SIGKILL);
}

/* Cancelling a wait cancels the GIO call: the future completes when GIO
 * calls back, and the process keeps running. */
static void
test_cancel_wait (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopSubprocess) proc = coop_subprocess_new (f->loop, ARGV ("sleep", "10"), 0, &error);
  g_autoptr(CoopFuture) exited = NULL;

  g_assert_no_error (error);
  exited = coop_subprocess_wait (proc);
  coop_test_drain ();
  g_assert_true (coop_future_cancel (exited, NULL));
  g_assert_false (coop_future_is_done (exited));   /* until GIO calls back */
  coop_test_wait_until (coop_future_is_done (exited));
  g_assert_true (coop_future_is_cancelled (exited));
  g_assert_false (coop_future_cancel (exited, NULL));

  g_assert_no_errno (kill (proc_pid (proc), 0));
  coop_subprocess_kill (proc);
  g_assert_cmpint (await_exit (f, proc), ==, -SIGKILL);
}

/* The same for communicate. */
static void
test_cancel_communicate (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopSubprocess) proc =
    coop_subprocess_new (f->loop, ARGV ("sleep", "10"),
                         G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                         G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_autoptr(CoopFuture) future = NULL;

  g_assert_no_error (error);
  future = coop_subprocess_communicate (proc, NULL);
  coop_test_drain ();
  g_assert_false (coop_future_is_done (future));
  g_assert_true (coop_future_cancel (future, NULL));
  g_assert_false (coop_future_is_done (future));
  coop_test_wait_until (coop_future_is_done (future));
  g_assert_false (coop_future_propagate (future, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (coop_subprocess_get_returncode (proc, NULL));

  g_assert_no_errno (kill (proc_pid (proc), 0));
  coop_subprocess_kill (proc);
  g_assert_cmpint (await_exit (f, proc), ==, -SIGKILL);
}

/* A program that does not exist: NULL and GLib's spawn error; a closed
 * loop: COOP_ERROR_LOOP_CLOSED. */
static void
test_spawn_failure (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  CoopSubprocess *proc;
  GMainContext *context = g_main_context_new ();
  CoopLoop *closed = coop_loop_new (context);

  proc = coop_subprocess_new (f->loop, ARGV ("/nonexistent/coop-test-program"), 0, &error);
  g_assert_null (proc);
  g_assert_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT);
  g_clear_error (&error);

  coop_loop_close (closed);
  proc = coop_subprocess_new (closed, ARGV ("/bin/true"), 0, &error);
  g_assert_null (proc);
  g_assert_error (error, COOP_ERROR, COOP_ERROR_LOOP_CLOSED);
  g_object_unref (closed);
  g_main_context_unref (context);
}

/* The pipes are the GSubprocess's streams, NULL when not requested. */
static void
test_pipes (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopSubprocess) plain = coop_subprocess_new (f->loop, ARGV ("/bin/true"), 0, &error);
  g_autoptr(CoopSubprocess) proc =
    coop_subprocess_new (f->loop, ARGV ("/bin/sh", "-c", "cat; echo oops >&2"),
                         G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                         G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  GSubprocess *gproc;
  char buffer[64];
  gsize n;

  g_assert_no_error (error);
  g_assert_null (coop_subprocess_get_stdin_pipe (plain));
  g_assert_null (coop_subprocess_get_stdout_pipe (plain));
  g_assert_null (coop_subprocess_get_stderr_pipe (plain));
  g_assert_cmpint (await_exit (f, plain), ==, 0);

  gproc = coop_subprocess_get_gsubprocess (proc);
  g_assert_true (G_IS_SUBPROCESS (gproc));
  g_assert_true (coop_subprocess_get_stdin_pipe (proc) == g_subprocess_get_stdin_pipe (gproc));
  g_assert_true (coop_subprocess_get_stdout_pipe (proc) == g_subprocess_get_stdout_pipe (gproc));
  g_assert_true (coop_subprocess_get_stderr_pipe (proc) == g_subprocess_get_stderr_pipe (gproc));

  g_assert_true (g_output_stream_write_all (coop_subprocess_get_stdin_pipe (proc), "ping\n", 5,
                                            NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_output_stream_close (coop_subprocess_get_stdin_pipe (proc), NULL, &error));
  g_assert_true (g_input_stream_read_all (coop_subprocess_get_stdout_pipe (proc), buffer,
                                          sizeof buffer, &n, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (buffer, n, "ping\n", 5);
  g_assert_true (g_input_stream_read_all (coop_subprocess_get_stderr_pipe (proc), buffer,
                                          sizeof buffer, &n, NULL, &error));
  g_assert_cmpmem (buffer, n, "oops\n", 5);
  g_assert_cmpint (await_exit (f, proc), ==, 0);
}

static void
subprocess_task_body (CoopTask *task, gpointer data)
{
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopSubprocess) cat =
    coop_subprocess_new (loop, ARGV ("cat"),
                         G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_autoptr(GBytes) input = g_bytes_new_static ("abc", 3);
  g_autoptr(CoopFuture) talk = NULL;
  g_autoptr(CoopSubprocess) five = NULL;
  g_autoptr(CoopFuture) exited = NULL;
  CoopSubprocessOutput *output;

  g_assert_no_error (error);
  talk = coop_subprocess_communicate (cat, input);
  if (!coop_await (talk, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }
  output = (CoopSubprocessOutput *) coop_future_get_boxed (talk, NULL);
  assert_bytes (coop_subprocess_output_get_stdout (output), "abc");

  five = coop_subprocess_new (loop, ARGV ("/bin/sh", "-c", "exit 5"), 0, &error);
  g_assert_no_error (error);
  exited = coop_subprocess_wait (five);
  if (!coop_await (exited, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }
  coop_future_set_int64 (COOP_FUTURE (task), coop_future_get_int64 (exited, NULL));
}

/* A C task awaits communicate and wait. */
static void
test_task_await (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopTask) task = coop_task_new (f->loop, subprocess_task_body, NULL, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_no_error (error);
  g_assert_cmpint (coop_future_get_int64 (COOP_FUTURE (task), NULL), ==, 5);
}

typedef struct
{
  CoopSubprocess *proc;
  CoopFuture     *exited;
  gboolean        resumed_done;
} CancelState;

static void
cancelled_wait_body (CoopTask *task, gpointer data)
{
  CancelState *s = data;
  g_autoptr(GError) error = NULL;

  s->exited = coop_subprocess_wait (s->proc);
  g_assert_false (coop_await (s->exited, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* The await returned once GIO was done with the wait. */
  s->resumed_done = coop_future_is_done (s->exited);
  coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

/* Cancelling a task that awaits a wait: the task resumes once GIO called
 * back; the process keeps running. */
static void
test_task_cancel_wait (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  CancelState s = { 0, };
  g_autoptr(CoopTask) task = NULL;

  s.proc = coop_subprocess_new (f->loop, ARGV ("sleep", "10"), 0, &error);
  g_assert_no_error (error);
  task = coop_task_new (f->loop, cancelled_wait_body, &s, NULL);
  coop_test_drain ();
  g_assert_nonnull (s.exited);
  g_assert_true (coop_task_cancel (task, NULL));
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (task)));
  g_assert_true (s.resumed_done);
  g_assert_true (coop_future_is_cancelled (s.exited));

  g_assert_no_errno (kill (proc_pid (s.proc), 0));
  coop_subprocess_kill (s.proc);
  g_assert_cmpint (await_exit (f, s.proc), ==, -SIGKILL);
  g_object_unref (s.exited);
  g_object_unref (s.proc);
}

/* Started while another context is the thread-default one: the operation
 * still completes on the loop's context. */
static void
test_other_thread_default (CoopFixture *f, gconstpointer data)
{
  GMainContext *other = g_main_context_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopSubprocess) proc = coop_subprocess_new (f->loop, ARGV ("/bin/true"), 0, &error);
  g_autoptr(CoopFuture) exited = NULL;

  g_assert_no_error (error);
  g_main_context_push_thread_default (other);
  exited = coop_subprocess_wait (proc);
  g_main_context_pop_thread_default (other);
  g_assert_true (coop_loop_run_until_complete (f->loop, exited, &error));
  g_assert_no_error (error);
  g_assert_cmpint (coop_future_get_int64 (exited, NULL), ==, 0);
  g_assert_false (g_main_context_pending (other));
  g_main_context_unref (other);
}

/* The output is a refcounted boxed type. */
static void
test_output_boxed (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopSubprocess) proc =
    coop_subprocess_new (f->loop, ARGV ("/bin/sh", "-c", "printf 1; printf 2 >&2"),
                         G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_autoptr(CoopFuture) future = NULL;
  CoopSubprocessOutput *output;
  CoopSubprocessOutput *copy;

  g_assert_no_error (error);
  output = communicate (f, proc, NULL, &future);
  copy = g_boxed_copy (COOP_TYPE_SUBPROCESS_OUTPUT, output);
  g_assert_true (copy == output);
  g_clear_object (&future);
  assert_bytes (coop_subprocess_output_get_stdout (copy), "1");
  assert_bytes (coop_subprocess_output_get_stderr (copy), "2");
  g_boxed_free (COOP_TYPE_SUBPROCESS_OUTPUT, copy);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/unix/signal/handler", test_signal_handler);
  coop_test_add ("/unix/signal/remove", test_signal_remove);
  coop_test_add ("/unix/signal/remove-in-callback", test_signal_remove_in_callback);
  coop_test_add ("/unix/signal/wait", test_signal_wait);
  coop_test_add ("/unix/signal/wait-cancel", test_signal_wait_cancel);
  coop_test_add ("/unix/signal/task", test_signal_task);
  coop_test_add ("/unix/signal/unsupported", test_signal_unsupported);
  coop_test_add ("/unix/signal/close", test_signal_close);
  coop_test_add ("/unix/signal/finalize", test_signal_finalize);

  /* First of the process tests: under valgrind, the child that fails to
   * exec reports the heap it inherited, which is clean only while no GIO
   * operation is in flight in the parent. */
  coop_test_add ("/unix/process/spawn-failure", test_spawn_failure);
  coop_test_add ("/unix/process/exit-codes", test_exit_codes);
  coop_test_add ("/unix/process/kill-terminate", test_kill_terminate);
  coop_test_add ("/unix/process/communicate-cat", test_communicate_cat);
  coop_test_add ("/unix/process/communicate-stderr", test_communicate_stderr);
  coop_test_add ("/unix/process/communicate-no-input", test_communicate_no_input);
  coop_test_add ("/unix/process/wait-for-timeout", test_wait_for_timeout);
  coop_test_add ("/unix/process/cancel-wait", test_cancel_wait);
  coop_test_add ("/unix/process/cancel-communicate", test_cancel_communicate);
  coop_test_add ("/unix/process/pipes", test_pipes);
  coop_test_add ("/unix/process/task-await", test_task_await);
  coop_test_add ("/unix/process/task-cancel-wait", test_task_cancel_wait);
  coop_test_add ("/unix/process/other-thread-default", test_other_thread_default);
  coop_test_add ("/unix/process/output-boxed", test_output_boxed);

  return g_test_run ();
}
