/* test-driver.c: CoopDriver, the hook for a binding's own scheduler.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <unistd.h>

typedef struct
{
  CoopDriver *driver;
  int         calls;
  int         fd_ready_calls;
  int         notified;
  gint64      next;          /* what the function answers */
  int         destroy_on_call;
  gboolean    saw_dispatching;
  int         depth;
  int         max_depth;
  int         read_fd;
} DriverState;

static gint64
driver_func (gboolean fd_ready,
             gpointer user_data)
{
  DriverState *state = user_data;
  char byte;

  state->calls++;
  state->depth++;
  state->max_depth = MAX (state->max_depth, state->depth);
  if (state->driver != NULL)
    state->saw_dispatching = coop_driver_is_dispatching (state->driver);
  if (fd_ready)
    {
      state->fd_ready_calls++;
      g_assert_cmpint (read (state->read_fd, &byte, 1), ==, 1);
    }
  if (state->destroy_on_call == state->calls && state->driver != NULL)
    coop_driver_destroy (state->driver);
  state->depth--;
  return state->next;
}

static void
driver_notify (gpointer user_data)
{
  DriverState *state = user_data;

  /* Never while the function runs. */
  g_assert_cmpint (state->depth, ==, 0);
  state->notified++;
}

static void
test_driver_ready_time (CoopFixture   *fixture,
                        gconstpointer  data)
{
  DriverState state = { .next = -1 };
  g_autoptr(GError) error = NULL;
  gint64 start;

  state.driver = coop_driver_new (fixture->loop, -1, driver_func, &state, driver_notify, &error);
  g_assert_no_error (error);
  g_assert_true (coop_driver_get_loop (state.driver) == fixture->loop);
  g_assert_false (coop_driver_is_dispatching (state.driver));

  /* Nothing asked for: it does not run. */
  coop_test_drain ();
  g_assert_cmpint (state.calls, ==, 0);

  /* 0: the next iteration; answering 0 keeps it running each iteration. */
  state.next = 0;
  coop_driver_set_ready_time (state.driver, 0);
  g_main_context_iteration (fixture->context, FALSE);
  g_assert_cmpint (state.calls, ==, 1);
  g_assert_true (state.saw_dispatching);
  g_main_context_iteration (fixture->context, FALSE);
  g_assert_cmpint (state.calls, ==, 2);

  /* -1: asleep again. */
  state.next = -1;
  g_main_context_iteration (fixture->context, FALSE);
  g_assert_cmpint (state.calls, ==, 3);
  coop_test_drain ();
  g_assert_cmpint (state.calls, ==, 3);

  /* A time in the future: not before it. */
  start = g_get_monotonic_time ();
  coop_driver_set_ready_time (state.driver, start + 20000);
  coop_test_wait_until (state.calls == 4);
  g_assert_cmpint (g_get_monotonic_time (), >=, start + 20000);

  g_assert_cmpint (state.notified, ==, 0);
  g_clear_object (&state.driver);
  g_assert_cmpint (state.notified, ==, 1);
}

/* A driver of @fixture's loop watching the read end of a new pipe, whose
 * ends go to @fds; driver_func() records its calls in @state. */
static void
driver_on_pipe (CoopFixture *fixture,
                DriverState *state,
                int          fds[2])
{
  g_assert_no_errno (pipe (fds));
  state->read_fd = fds[0];
  state->driver = coop_driver_new (fixture->loop, fds[0], driver_func, state, driver_notify, NULL);
  g_assert_nonnull (state->driver);
}

static void
test_driver_fd (CoopFixture   *fixture,
                gconstpointer  data)
{
  DriverState state = { .next = -1 };
  int fds[2];

  driver_on_pipe (fixture, &state, fds);

  coop_test_drain ();
  g_assert_cmpint (state.calls, ==, 0);

  g_assert_cmpint (write (fds[1], "x", 1), ==, 1);
  coop_test_wait_until (state.calls == 1);
  g_assert_cmpint (state.fd_ready_calls, ==, 1);

  /* A timer wake-up says the fd is not ready. */
  coop_driver_set_ready_time (state.driver, 0);
  coop_test_wait_until (state.calls == 2);
  g_assert_cmpint (state.fd_ready_calls, ==, 1);

  coop_driver_destroy (state.driver);
  g_assert_true (coop_driver_is_destroyed (state.driver));
  g_assert_cmpint (state.notified, ==, 1);
  g_assert_cmpint (write (fds[1], "x", 1), ==, 1);
  coop_driver_set_ready_time (state.driver, 0);          /* harmless */
  coop_test_drain ();
  g_assert_cmpint (state.calls, ==, 2);
  coop_driver_destroy (state.driver);                    /* twice: harmless */
  g_clear_object (&state.driver);
  g_assert_cmpint (state.notified, ==, 1);
  close (fds[0]);
  close (fds[1]);
}

static void
test_driver_destroy_inside (CoopFixture   *fixture,
                            gconstpointer  data)
{
  DriverState state = { .next = 0, .destroy_on_call = 1 };

  state.driver = coop_driver_new (fixture->loop, -1, driver_func, &state, driver_notify, NULL);
  coop_driver_set_ready_time (state.driver, 0);
  coop_test_wait_until (state.calls == 1);
  /* It answered 0, but it was destroyed: it never runs again. */
  g_assert_cmpint (state.notified, ==, 1);
  coop_test_drain ();
  g_assert_cmpint (state.calls, ==, 1);
  g_clear_object (&state.driver);
  g_assert_cmpint (state.notified, ==, 1);
}

static gint64
nesting_func (gboolean fd_ready,
              gpointer user_data)
{
  DriverState *state = user_data;

  driver_func (fd_ready, user_data);
  if (state->calls == 1)
    {
      /* A nested main loop while the function runs does not re-enter it. */
      state->depth++;
      coop_driver_set_ready_time (state->driver, 0);
      for (int i = 0; i < 5; i++)
        g_main_context_iteration (g_main_context_get_thread_default (), FALSE);
      state->depth--;
    }
  return -1;
}

static void
test_driver_not_reentered (CoopFixture   *fixture,
                           gconstpointer  data)
{
  DriverState state = { 0 };

  state.driver = coop_driver_new (fixture->loop, -1, nesting_func, &state, driver_notify, NULL);
  coop_driver_set_ready_time (state.driver, 0);
  coop_test_wait_until (state.calls == 1);
  g_assert_cmpint (state.max_depth, ==, 1);   /* never entered twice */
  coop_test_drain ();
  g_assert_cmpint (state.calls, ==, 1);        /* the answer (-1) won */
  g_clear_object (&state.driver);
}

/* What the last poll of the context found ready. */
static int last_poll_result;

static gint
counting_poll (GPollFD *fds,
               guint    nfds,
               gint     timeout)
{
  last_poll_result = g_poll (fds, nfds, timeout);
  return last_poll_result;
}

/* The function's answer is not a wake-up: after a dispatch that changed the
 * ready time (0, then "none" or a later time) the next poll finds nothing
 * ready, where GLib's own ready time would have woken the context (its
 * eventfd) on every change and cost a spurious iteration per dispatch. */
static void
test_driver_answer_does_not_wake (CoopFixture   *fixture,
                                  gconstpointer  data)
{
  DriverState state = { .next = -1 };

  state.driver = coop_driver_new (fixture->loop, -1, driver_func, &state, driver_notify, NULL);
  coop_test_drain ();
  g_main_context_set_poll_func (fixture->context, counting_poll);

  /* Set from the thread that owns the context: no wake-up either. */
  g_assert_true (g_main_context_acquire (fixture->context));
  coop_driver_set_ready_time (state.driver, 0);
  g_assert_true (g_main_context_iteration (fixture->context, FALSE));
  g_assert_cmpint (state.calls, ==, 1);
  g_assert_cmpint (last_poll_result, ==, 0);

  /* The answer: -1, then a time far away. */
  last_poll_result = -1;
  g_assert_false (g_main_context_iteration (fixture->context, FALSE));
  g_assert_cmpint (last_poll_result, ==, 0);
  g_assert_cmpint (state.calls, ==, 1);

  state.next = g_get_monotonic_time () + (gint64) 3600 * G_USEC_PER_SEC;
  coop_driver_set_ready_time (state.driver, 0);
  g_assert_true (g_main_context_iteration (fixture->context, FALSE));
  g_assert_cmpint (state.calls, ==, 2);
  last_poll_result = -1;
  g_assert_false (g_main_context_iteration (fixture->context, FALSE));
  g_assert_cmpint (last_poll_result, ==, 0);
  g_assert_cmpint (state.calls, ==, 2);
  g_main_context_release (fixture->context);

  g_main_context_set_poll_func (fixture->context, NULL);
  g_clear_object (&state.driver);
}

/* Dispatching a driver that has an fd does not wake the context either
 * (GLib blocks a source that may not recurse while it is dispatched, which
 * takes its fd out of the poll set and back, and wakes the context twice). */
static void
test_driver_fd_dispatch_does_not_wake (CoopFixture   *fixture,
                                       gconstpointer  data)
{
  DriverState state = { .next = -1 };
  int fds[2];

  driver_on_pipe (fixture, &state, fds);
  coop_test_drain ();
  g_main_context_set_poll_func (fixture->context, counting_poll);
  g_assert_true (g_main_context_acquire (fixture->context));

  for (int i = 1; i <= 3; i++)
    {
      g_assert_cmpint (write (fds[1], "x", 1), ==, 1);
      g_assert_true (g_main_context_iteration (fixture->context, FALSE));
      g_assert_cmpint (state.fd_ready_calls, ==, i);
      last_poll_result = -1;
      g_assert_false (g_main_context_iteration (fixture->context, FALSE));
      g_assert_cmpint (last_poll_result, ==, 0);
    }

  g_main_context_release (fixture->context);
  g_main_context_set_poll_func (fixture->context, NULL);
  g_clear_object (&state.driver);
  close (fds[0]);
  close (fds[1]);
}

static int write_fd;

static gint64
fd_nesting_func (gboolean fd_ready,
                 gpointer user_data)
{
  DriverState *state = user_data;

  driver_func (fd_ready, user_data);
  if (state->calls == 1)
    {
      GMainContext *context = g_main_context_get_thread_default ();

      /* A nested main loop while the fd is readable again: the function
       * is not re-entered, and the fd is soon not polled at all (no
       * spinning on it). */
      state->depth++;
      g_assert_cmpint (write (write_fd, "y", 1), ==, 1);
      for (int i = 0; i < 5; i++)
        g_main_context_iteration (context, FALSE);
      g_assert_cmpint (last_poll_result, ==, 0);
      state->depth--;
    }
  return -1;
}

static void
test_driver_fd_not_reentered (CoopFixture   *fixture,
                              gconstpointer  data)
{
  DriverState state = { 0 };
  int fds[2];

  g_assert_no_errno (pipe (fds));
  state.read_fd = fds[0];
  write_fd = fds[1];
  state.driver = coop_driver_new (fixture->loop, fds[0], fd_nesting_func, &state, driver_notify, NULL);
  g_main_context_set_poll_func (fixture->context, counting_poll);
  g_assert_cmpint (write (fds[1], "x", 1), ==, 1);
  coop_test_wait_until (state.calls == 1);
  g_assert_cmpint (state.max_depth, ==, 1);
  /* Once it returned, the byte written meanwhile is seen. */
  coop_test_wait_until (state.calls == 2);
  g_assert_cmpint (state.fd_ready_calls, ==, 2);
  g_assert_cmpint (state.max_depth, ==, 1);
  g_main_context_set_poll_func (fixture->context, NULL);
  g_clear_object (&state.driver);
  close (fds[0]);
  close (fds[1]);
}

static gpointer
wake_from_thread (gpointer data)
{
  g_usleep (10000);
  coop_driver_set_ready_time (data, 0);
  return NULL;
}

static void
test_driver_wake_from_thread (CoopFixture   *fixture,
                              gconstpointer  data)
{
  DriverState state = { .next = -1 };
  GThread *thread;

  state.driver = coop_driver_new (fixture->loop, -1, driver_func, &state, driver_notify, NULL);
  thread = g_thread_new ("waker", wake_from_thread, state.driver);
  /* Blocking iterations: only the other thread's call can wake us. */
  coop_test_wait_until (state.calls == 1);
  g_thread_join (thread);
  g_clear_object (&state.driver);
  g_assert_cmpint (state.notified, ==, 1);
}

static void
test_driver_closed_loop (CoopFixture   *fixture,
                         gconstpointer  data)
{
  DriverState state = { 0 };
  g_autoptr(GError) error = NULL;
  CoopDriver *driver;

  coop_loop_close (fixture->loop);
  driver = coop_driver_new (fixture->loop, -1, driver_func, &state, driver_notify, &error);
  g_assert_null (driver);
  g_assert_error (error, COOP_ERROR, COOP_ERROR_LOOP_CLOSED);
  g_assert_cmpint (state.notified, ==, 1);
}

static void
test_driver_misuse (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(GMainContext) context = g_main_context_new ();
      g_autoptr(CoopLoop) loop = coop_loop_new (context);
      DriverState state = { 0 };

      g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*COOP_IS_LOOP*");
      g_assert_null (coop_driver_new (NULL, -1, driver_func, &state, NULL, NULL));
      g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*fd >= -1*");
      g_assert_null (coop_driver_new (loop, -2, driver_func, &state, NULL, NULL));
      g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*func != NULL*");
      g_assert_null (coop_driver_new (loop, -1, NULL, &state, NULL, NULL));
      g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*COOP_IS_DRIVER*");
      coop_driver_set_ready_time (NULL, 0);
      g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*COOP_IS_DRIVER*");
      coop_driver_destroy (NULL);
      g_test_assert_expected_messages ();
      coop_loop_close (loop);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  coop_test_add ("/driver/ready-time", test_driver_ready_time);
  coop_test_add ("/driver/fd", test_driver_fd);
  coop_test_add ("/driver/destroy-inside", test_driver_destroy_inside);
  coop_test_add ("/driver/not-reentered", test_driver_not_reentered);
  coop_test_add ("/driver/wake-from-thread", test_driver_wake_from_thread);
  coop_test_add ("/driver/answer-does-not-wake", test_driver_answer_does_not_wake);
  coop_test_add ("/driver/fd-dispatch-does-not-wake", test_driver_fd_dispatch_does_not_wake);
  coop_test_add ("/driver/fd-not-reentered", test_driver_fd_not_reentered);
  coop_test_add ("/driver/closed-loop", test_driver_closed_loop);
  g_test_add_func ("/driver/misuse", test_driver_misuse);
  return g_test_run ();
}
