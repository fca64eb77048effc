/* test-timer-fd.c: the timerfd that wakes the loop at its earliest
 * deadline (src/core/coop-timer-fd.c).
 *
 * What is tested is behaviour, never time: timers still run in deadline
 * order, the timerfd is disarmed once nothing is pending (an idle loop
 * does not wake), a cancelled earliest timer does not lose the next one,
 * and a child of fork() arms a timerfd of its own instead of moving the
 * parent's.  meson runs the file again with COOP_TIMER_FD=0, the fallback
 * on GLib's millisecond ready time.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"
#include "coop-private.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

static gboolean
timer_fd_wanted (void)
{
  return g_strcmp0 (g_getenv ("COOP_TIMER_FD"), "0") != 0;
}

/* Whether @fd is set to expire (it_value not zero). */
static gboolean
timer_fd_armed (int fd)
{
  struct itimerspec spec;

  g_assert_no_errno (timerfd_gettime (fd, &spec));
  return spec.it_value.tv_sec != 0 || spec.it_value.tv_nsec != 0;
}

static void
count_up (gpointer user_data)
{
  (*(int *) user_data)++;
}

static void
run_until (int *counter,
           int  target)
{
  while (*counter < target)
    g_main_context_iteration (g_main_context_get_thread_default (), TRUE);
}

/* Made with the first timer, not before: a loop without timers holds no
 * descriptor for them. */
static void
test_present (CoopFixture   *fixture,
              gconstpointer  data)
{
  CoopHandle *handle;
  int fd;

  g_assert_cmpint (coop_loop_get_timer_fd (fixture->loop), ==, -1);
  handle = coop_loop_call_later (fixture->loop, 600 * G_USEC_PER_SEC, count_up, NULL, NULL);
  fd = coop_loop_get_timer_fd (fixture->loop);
  if (timer_fd_wanted ())
    {
      g_assert_cmpint (fd, >=, 0);
      g_assert_true (timer_fd_armed (fd));
    }
  else
    g_assert_cmpint (fd, ==, -1);
  coop_handle_cancel (handle);
  coop_handle_unref (handle);
}

typedef struct
{
  GArray *order;
  int     index;
} OrderItem;

static void
record_order (gpointer user_data)
{
  OrderItem *item = user_data;

  g_array_append_val (item->order, item->index);
}

/* Deadlines given out of order, some equal, some already past: they run
 * by deadline, equal ones in the order they were scheduled. */
static void
test_order (CoopFixture   *fixture,
            gconstpointer  data)
{
  static const gint64 delays_ms[] = { 9, 2, 0, 5, 5, 1, 7, 3, 3, 0, 6, 4 };
  OrderItem items[G_N_ELEMENTS (delays_ms)];
  g_autoptr(GArray) order = g_array_new (FALSE, FALSE, sizeof (int));
  gint64 base = g_get_monotonic_time ();
  int expected[G_N_ELEMENTS (delays_ms)];
  int n = 0;

  for (guint i = 0; i < G_N_ELEMENTS (delays_ms); i++)
    {
      items[i].order = order;
      items[i].index = i;
      coop_handle_unref (coop_loop_call_at (fixture->loop, base + delays_ms[i] * 1000,
                                            record_order, &items[i], NULL));
    }
  /* Stable order by deadline. */
  for (gint64 ms = 0; ms <= 9; ms++)
    for (guint i = 0; i < G_N_ELEMENTS (delays_ms); i++)
      if (delays_ms[i] == ms)
        expected[n++] = i;

  while (order->len < G_N_ELEMENTS (delays_ms))
    g_main_context_iteration (fixture->context, TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (delays_ms); i++)
    g_assert_cmpint (g_array_index (order, int, i), ==, expected[i]);
}

/* Once the last timer has run, the timerfd is left disarmed: an idle loop
 * is not woken. */
static void
test_idle_disarmed (CoopFixture   *fixture,
                    gconstpointer  data)
{
  int fired = 0;
  CoopHandle *far;
  int fd;

  /* Armed for a deadline far enough that no slowness reaches it... */
  far = coop_loop_call_later (fixture->loop, 600 * G_USEC_PER_SEC, count_up, &fired, NULL);
  fd = coop_loop_get_timer_fd (fixture->loop);
  if (fd < 0)
    {
      g_test_skip ("no timerfd (COOP_TIMER_FD=0)");
      coop_handle_cancel (far);
      coop_handle_unref (far);
      return;
    }
  g_assert_true (timer_fd_armed (fd));
  coop_handle_cancel (far);
  coop_handle_unref (far);

  /* ... and, once the last pending timer has run, left disarmed. */
  coop_handle_unref (coop_loop_call_later (fixture->loop, 2000, count_up, &fired, NULL));
  run_until (&fired, 1);
  g_assert_false (timer_fd_armed (fd));
}

/* The earliest timer is cancelled while the timerfd is armed for it: the
 * one after it still runs, and the one cancelled never does. */
static void
test_cancelled_earliest (CoopFixture   *fixture,
                         gconstpointer  data)
{
  int early = 0, late = 0;
  CoopHandle *handle;

  handle = coop_loop_call_later (fixture->loop, 1000, count_up, &early, NULL);
  coop_handle_unref (coop_loop_call_later (fixture->loop, 5000, count_up, &late, NULL));
  coop_handle_cancel (handle);
  coop_handle_unref (handle);
  run_until (&late, 1);
  g_assert_cmpint (early, ==, 0);
  g_assert_cmpint (late, ==, 1);
  if (coop_loop_get_timer_fd (fixture->loop) >= 0)
    g_assert_false (timer_fd_armed (coop_loop_get_timer_fd (fixture->loop)));
}

/* The child of a fork() cancels the timer it inherited and runs one of its
 * own; the parent's timerfd stays armed for the parent's deadline.  A child
 * that kept the inherited timerfd would re-arm it for its own, earlier
 * timer and consume the expiry, and the parent's timerfd would be found
 * disarmed. */
static void
test_fork (CoopFixture   *fixture,
           gconstpointer  data)
{
  CoopHandle *parent_timer;
  int status, fd;
  pid_t pid;

  parent_timer = coop_loop_call_later (fixture->loop, 60 * G_USEC_PER_SEC, count_up, NULL, NULL);
  fd = coop_loop_get_timer_fd (fixture->loop);
  if (fd < 0)
    {
      g_test_skip ("no timerfd (COOP_TIMER_FD=0)");
      coop_handle_cancel (parent_timer);
      coop_handle_unref (parent_timer);
      return;
    }
  g_assert_true (timer_fd_armed (fd));

  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      int fired = 0;

      /* The child has timers of its own, not the parent's. */
      coop_handle_cancel (parent_timer);
      coop_handle_unref (parent_timer);     /* the child's copy of the reference */
      coop_handle_unref (coop_loop_call_later (fixture->loop, 1000, count_up, &fired, NULL));
      while (fired < 1)
        g_main_context_iteration (fixture->context, TRUE);
      /* The child has a timerfd of its own. */
      _exit (coop_loop_get_timer_fd (fixture->loop) >= 0 ? 0 : 2);
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);

  g_assert_true (timer_fd_armed (fd));
  coop_handle_cancel (parent_timer);
  coop_handle_unref (parent_timer);
}

/* Closing the loop closes its timerfd. */
static void
test_close (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop = coop_loop_new (context);
  int fd;

  coop_handle_unref (coop_loop_call_later (loop, G_USEC_PER_SEC, count_up, NULL, NULL));
  fd = coop_loop_get_timer_fd (loop);
  coop_loop_close (loop);
  if (fd >= 0)
    {
      g_assert_cmpint (fcntl (fd, F_GETFD), ==, -1);
      g_assert_cmpint (errno, ==, EBADF);
    }
  g_object_unref (loop);
  g_main_context_unref (context);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/timer-fd/present", test_present);
  coop_test_add ("/coop/timer-fd/order", test_order);
  coop_test_add ("/coop/timer-fd/idle-disarmed", test_idle_disarmed);
  coop_test_add ("/coop/timer-fd/cancelled-earliest", test_cancelled_earliest);
  coop_test_add ("/coop/timer-fd/fork", test_fork);
  g_test_add_func ("/coop/timer-fd/close", test_close);

  return g_test_run ();
}
