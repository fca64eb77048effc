/* stress-threadsafe.c: 8 threads × 1,000,000 coop_loop_call_soon_threadsafe
 * while the loop also runs timers and I/O.
 *
 * Every callback must run exactly once, on the loop's thread, in the
 * order its thread queued it; every destroy notify must run exactly once
 * too.  Meanwhile a chain of short timers keeps the timer heap busy and a
 * socketpair ping-pong (a reader callback on one end, a task on the
 * other) keeps the I/O source busy, and the producers make their calls
 * in bursts with pauses, so the loop goes to sleep in poll() and must be
 * woken.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "stress.h"

#include <sys/socket.h>
#include <unistd.h>

#define N_THREADS 8
#define N_CALLS   1000000

typedef struct
{
  CoopLoop *loop;
  GThread  *loop_thread;
  guint     per_thread;
  guint     next[N_THREADS];     /* loop thread only */
  guint64   total;               /* loop thread only */
  guint     out_of_order;
  guint     wrong_thread;
  gint      notified[N_THREADS]; /* atomic */
  gint      producers_done;      /* atomic */
  gint      timers;              /* atomic */
  gint      pings;               /* atomic */
  gboolean  stop;
  int       pair[2];
} State;

typedef struct
{
  State *state;
  guint  thread;
} Producer;

static State *the_state;

static void
ordered_cb (gpointer data)
{
  guint64 v = GPOINTER_TO_SIZE (data);
  guint thread = v >> 32;
  guint seq = v & 0xffffffff;
  State *state = the_state;

  if (g_thread_self () != state->loop_thread)
    state->wrong_thread++;
  if (state->next[thread] != seq)
    state->out_of_order++;
  state->next[thread] = seq + 1;
  state->total++;
}

static void
ordered_notify (gpointer data)
{
  guint64 v = GPOINTER_TO_SIZE (data);

  g_atomic_int_inc (&the_state->notified[v >> 32]);
}

static gpointer
producer_thread (gpointer data)
{
  Producer *p = data;
  State *state = p->state;
  guint i;
  gint timers = 0, pings = 0;

  for (i = 0; i < state->per_thread; i++)
    {
      coop_loop_call_soon_threadsafe (state->loop, ordered_cb,
                                      GSIZE_TO_POINTER (((guint64) p->thread << 32) | i),
                                      ordered_notify);
      /* Every 10,000 calls a producer pauses (odd ones longer), so timers
       * and I/O interleave with the bursts and the loop may fall asleep
       * in poll() between them. */
      if (i % 10000 == 9999)
        g_usleep ((p->thread & 1) ? 3000 : 1000);
      /* Every 100,000 calls, wait until the loop has also served a timer
       * and an I/O round trip since last time: the three kinds of work
       * really interleave, whatever the scheduler does. */
      if (i % 100000 == 99999)
        {
          while (g_atomic_int_get (&state->timers) <= timers || g_atomic_int_get (&state->pings) <= pings)
            g_usleep (100);
          timers = g_atomic_int_get (&state->timers);
          pings = g_atomic_int_get (&state->pings);
        }
    }
  g_atomic_int_inc (&state->producers_done);
  return NULL;
}

static void
timer_cb (gpointer data)
{
  State *state = data;

  g_atomic_int_inc (&state->timers);
  if (!state->stop)
    coop_handle_unref (coop_loop_call_later (state->loop, 100, timer_cb, state, NULL));
}

/* The reader end: echo each byte back. */
static void
reader_cb (gpointer data)
{
  State *state = data;
  char buf[64];
  ssize_t n = read (state->pair[0], buf, sizeof buf);

  if (n > 0)
    g_assert_cmpint (write (state->pair[0], buf, n), ==, n);
}

static void
ping_body (CoopTask *task, gpointer data)
{
  State *state = data;

  while (!state->stop)
    {
      g_autoptr(CoopFuture) readable = NULL;
      char c = 'x';

      g_assert_cmpint (write (state->pair[1], &c, 1), ==, 1);
      readable = coop_loop_wait_readable (state->loop, state->pair[1]);
      if (!coop_await (readable, NULL))
        break;
      g_assert_cmpint (read (state->pair[1], &c, 1), ==, 1);
      g_atomic_int_inc (&state->pings);
    }
  coop_future_set_none (COOP_FUTURE (task));
}

static void
test_threadsafe (CoopFixture *f, gconstpointer data)
{
  State state = { .loop = f->loop, .loop_thread = g_thread_self () };
  Producer producers[N_THREADS];
  GThread *threads[N_THREADS];
  g_autoptr(CoopTask) ping = NULL;
  gint64 deadline = stress_deadline ();
  gint64 start = g_get_monotonic_time ();
  guint i;

  state.per_thread = stress_count (N_CALLS);
  the_state = &state;
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, state.pair), ==, 0);
  coop_handle_unref (coop_loop_add_reader (f->loop, state.pair[0], reader_cb, &state, NULL));
  ping = coop_task_new (f->loop, ping_body, &state, NULL);
  timer_cb (&state);

  for (i = 0; i < N_THREADS; i++)
    {
      producers[i] = (Producer) { &state, i };
      threads[i] = g_thread_new ("producer", producer_thread, &producers[i]);
    }
  /* Until every callback ran and every producer is through (they wait
   * for the loop's timers and I/O now and then, so the loop must run). */
  while (state.total < (guint64) N_THREADS * state.per_thread ||
         g_atomic_int_get (&state.producers_done) < N_THREADS)
    {
      /* Blocking iterations: idle gaps must be ended by a wake-up. */
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (f->context, TRUE);
    }
  for (i = 0; i < N_THREADS; i++)
    g_thread_join (threads[i]);
  state.stop = TRUE;
  coop_test_wait_until (coop_future_is_done (COOP_FUTURE (ping)));
  coop_test_drain ();

  g_test_message ("%u threads x %u calls: %" G_GUINT64_FORMAT " callbacks in %.1f s, "
                  "alongside %d timers and %d I/O round trips",
                  N_THREADS, state.per_thread, state.total,
                  (g_get_monotonic_time () - start) / 1e6, g_atomic_int_get (&state.timers),
                  g_atomic_int_get (&state.pings));
  g_assert_cmpuint (state.total, ==, (guint64) N_THREADS * state.per_thread);
  g_assert_cmpuint (state.out_of_order, ==, 0);
  g_assert_cmpuint (state.wrong_thread, ==, 0);
  for (i = 0; i < N_THREADS; i++)
    {
      g_assert_cmpuint (state.next[i], ==, state.per_thread);
      g_assert_cmpint (g_atomic_int_get (&state.notified[i]), ==, (gint) state.per_thread);
    }
  g_assert_cmpint (g_atomic_int_get (&state.timers), >=, (gint) (state.per_thread / 100000));
  g_assert_cmpint (g_atomic_int_get (&state.pings), >=, (gint) (state.per_thread / 100000));

  g_assert_true (coop_loop_remove_reader (f->loop, state.pair[0]));
  coop_loop_forget_fd (f->loop, state.pair[1]);
  close (state.pair[0]);
  close (state.pair[1]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/stress/threadsafe", test_threadsafe);

  return g_test_run ();
}
