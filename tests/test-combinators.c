/* test-combinators.c: sleep, gather, wait, wait_for, shield.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

static void
test_sleep (CoopFixture *f, gconstpointer data)
{
  gint64 start = coop_loop_time (f->loop);
  g_autoptr(CoopFuture) nap = coop_sleep (f->loop, 20000);
  g_autoptr(CoopFuture) cancelled = coop_sleep (f->loop, 10 * G_USEC_PER_SEC);

  g_assert_false (coop_future_is_done (nap));
  g_assert_true (coop_loop_run_until_complete (f->loop, nap, NULL));
  g_assert_cmpint (coop_loop_time (f->loop) - start, >=, 20000);
  g_assert_null (coop_future_get_value (nap, NULL));

  /* Cancelling a sleep removes its timer: nothing stays queued. */
  g_assert_true (coop_future_cancel (cancelled, NULL));
  g_assert_true (coop_future_is_cancelled (cancelled));
  coop_test_drain ();
  g_assert_false (coop_test_iterate ());
}

/* A sleep is a plain pooled future: once done and let go it may be lent
 * again, and then nothing of its old timer touches it; one its caller
 * dropped before it fired stays its timer's until then. */
static void
test_sleep_recycled (CoopFixture *f, gconstpointer data)
{
  CoopFuture *nap = coop_sleep (f->loop, 0);
  CoopFuture *dropped, *other, *later, *again;
  gpointer first = nap;

  g_assert_true (coop_loop_run_until_complete (f->loop, nap, NULL));
  g_object_unref (nap);
  coop_test_drain ();

  /* Done and let go: back in the pool, lent again as a fresh future. */
  other = coop_future_new (f->loop);
  g_test_message ("reused: %s", other == first ? "yes" : "no");
  g_assert_true (other == first);
  g_assert_false (coop_future_is_done (other));

  /* Dropped at once: its timer still holds it, nobody else gets it. */
  dropped = coop_sleep (f->loop, 1000);
  g_object_unref (dropped);
  again = coop_future_new (f->loop);
  g_assert_true (again != dropped);
  g_object_unref (again);
  /* Timers fire in order: once this one is done, so is the dropped one. */
  later = coop_sleep (f->loop, 2000);
  g_assert_true (coop_loop_run_until_complete (f->loop, later, NULL));
  g_object_unref (later);
  coop_test_drain ();

  /* Cancelled, a sleep (maybe one of those, lent again) ends cancelled
   * and its timer goes with it: nothing stays queued. */
  again = coop_sleep (f->loop, 10 * G_USEC_PER_SEC);
  g_assert_false (coop_future_is_done (again));
  g_assert_true (coop_future_cancel (again, "enough"));
  g_assert_true (coop_future_is_cancelled (again));
  coop_test_drain ();
  g_assert_false (coop_test_iterate ());
  g_assert_true (coop_future_is_cancelled (again));

  g_object_unref (again);
  g_object_unref (other);
}

static void
set_int_cb (gpointer data)
{
  coop_future_set_int64 (data, 1);
}

static void
fail_cb (gpointer data)
{
  coop_future_take_error (data, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "broken"));
}

/* gather: fails fast with the first error; the others carry on. */
static void
test_gather_fail_fast (CoopFixture *f, gconstpointer data)
{
  CoopFuture *futures[3];
  g_autoptr(CoopFuture) gather = NULL;
  g_autoptr(GError) error = NULL;
  int i;

  for (i = 0; i < 3; i++)
    futures[i] = coop_future_new (f->loop);
  gather = coop_gather (f->loop, futures, 3, FALSE);
  coop_handle_unref (coop_loop_call_later (f->loop, 1000, fail_cb, futures[1], NULL));
  coop_handle_unref (coop_loop_call_later (f->loop, 30000, set_int_cb, futures[0], NULL));

  g_assert_false (coop_loop_run_until_complete (f->loop, gather, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
  g_assert_false (coop_future_is_done (futures[0]));   /* still running */
  g_assert_false (coop_future_is_done (futures[2]));

  coop_test_wait_until (coop_future_is_done (futures[0]));
  /* A later failure is not reported as lost: gather read it. */
  fail_cb (futures[2]);
  for (i = 0; i < 3; i++)
    g_object_unref (futures[i]);
}

/* gather with wait_all: waits for every future, whatever its outcome, and
 * returns them in order. */
static void
test_gather_wait_all (CoopFixture *f, gconstpointer data)
{
  CoopFuture *futures[3];
  g_autoptr(CoopFuture) gather = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *results;
  int i;

  for (i = 0; i < 3; i++)
    futures[i] = coop_future_new (f->loop);
  coop_future_set_int64 (futures[2], 3);   /* one is done already */
  gather = coop_gather (f->loop, futures, 3, TRUE);
  coop_handle_unref (coop_loop_call_later (f->loop, 1000, fail_cb, futures[1], NULL));
  coop_handle_unref (coop_loop_call_later (f->loop, 5000, set_int_cb, futures[0], NULL));

  g_assert_true (coop_loop_run_until_complete (f->loop, gather, &error));
  g_assert_no_error (error);
  results = (GPtrArray *) coop_future_get_boxed (gather, NULL);
  g_assert_cmpuint (results->len, ==, 3);
  for (i = 0; i < 3; i++)
    g_assert_true (g_ptr_array_index (results, i) == futures[i]);
  g_assert_cmpint (coop_future_get_state (futures[1]), ==, COOP_FUTURE_STATE_FAILED);
  for (i = 0; i < 3; i++)
    g_object_unref (futures[i]);
}

static void
answer_body (CoopTask *task, gpointer data)
{
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(CoopFuture) nap = coop_sleep (loop, GPOINTER_TO_INT (data) * 1000);

  if (!coop_await (nap, NULL))
    {
      coop_future_take_error (COOP_FUTURE (task),
                              g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "stop"));
      return;
    }
  coop_future_set_int64 (COOP_FUTURE (task), GPOINTER_TO_INT (data));
}

/* gather of tasks, from a task; cancelling the gather cancels them. */
static void
gather_tasks_body (CoopTask *task, gpointer data)
{
  CoopLoop *loop = data;
  CoopFuture *children[4];
  g_autoptr(CoopFuture) gather = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *results;
  int i;

  for (i = 0; i < 4; i++)
    children[i] = COOP_FUTURE (coop_task_new (loop, answer_body, GINT_TO_POINTER (4 - i), NULL));
  gather = coop_gather (loop, children, 4, FALSE);
  g_assert_true (coop_await (gather, &error));
  results = (GPtrArray *) coop_future_get_boxed (gather, NULL);
  for (i = 0; i < 4; i++)
    g_assert_cmpint (coop_future_get_int64 (g_ptr_array_index (results, i), NULL), ==, 4 - i);
  for (i = 0; i < 4; i++)
    g_object_unref (children[i]);
  g_clear_object (&gather);

  for (i = 0; i < 4; i++)
    children[i] = COOP_FUTURE (coop_task_new (loop, answer_body, GINT_TO_POINTER (10000), NULL));
  gather = coop_gather (loop, children, 4, TRUE);
  g_assert_true (coop_future_cancel (gather, NULL));
  g_assert_false (coop_await (gather, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  for (i = 0; i < 4; i++)
    {
      g_assert_true (coop_future_is_cancelled (children[i]));
      g_object_unref (children[i]);
    }
}

static void
test_gather_tasks (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopTask) task = coop_task_new (f->loop, gather_tasks_body, f->loop, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
}

static void
test_gather_empty (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) gather = coop_gather (f->loop, NULL, 0, FALSE);

  g_assert_true (coop_future_is_done (gather));
  g_assert_cmpuint (((GPtrArray *) coop_future_get_boxed (gather, NULL))->len, ==, 0);
}

static guint
done_count (CoopFuture *wait)
{
  return ((GPtrArray *) coop_future_get_boxed (wait, NULL))->len;
}

static void
test_wait_modes (CoopFixture *f, gconstpointer data)
{
  CoopFuture *futures[3];
  g_autoptr(CoopFuture) first = NULL;
  g_autoptr(CoopFuture) exception = NULL;
  g_autoptr(CoopFuture) all = NULL;
  g_autoptr(CoopFuture) empty = NULL;
  int i;

  for (i = 0; i < 3; i++)
    futures[i] = coop_future_new (f->loop);
  first = coop_wait (f->loop, futures, 3, COOP_WAIT_FIRST_COMPLETED);
  exception = coop_wait (f->loop, futures, 3, COOP_WAIT_FIRST_EXCEPTION);
  all = coop_wait (f->loop, futures, 3, COOP_WAIT_ALL_COMPLETED);

  coop_future_set_int64 (futures[0], 1);
  g_assert_true (coop_future_is_done (first));
  g_assert_cmpuint (done_count (first), ==, 1);
  g_assert_false (coop_future_is_done (exception));

  coop_future_cancel (futures[2], NULL);   /* cancellation is not an exception */
  g_assert_false (coop_future_is_done (exception));
  fail_cb (futures[1]);
  g_assert_true (coop_future_is_done (exception));
  g_assert_cmpuint (done_count (exception), ==, 3);
  g_assert_true (coop_future_is_done (all));
  g_assert_cmpuint (done_count (all), ==, 3);
  /* wait does not fail because a future did. */
  g_assert_cmpint (coop_future_get_state (all), ==, COOP_FUTURE_STATE_FINISHED);
  g_assert_nonnull (coop_future_get_error (futures[1]));

  empty = coop_wait (f->loop, NULL, 0, COOP_WAIT_ALL_COMPLETED);
  g_assert_true (coop_future_is_done (empty));
  for (i = 0; i < 3; i++)
    g_object_unref (futures[i]);
}

/* wait_for: the inner future in time gives its result; too late, it is
 * cancelled and the outer one fails with G_IO_ERROR_TIMED_OUT. */
static void
test_wait_for (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) inner = coop_future_new (f->loop);
  g_autoptr(CoopFuture) outer = coop_wait_for (inner, 200000);
  g_autoptr(CoopFuture) slow = coop_future_new (f->loop);
  g_autoptr(CoopFuture) timed = coop_wait_for (slow, 5000);
  g_autoptr(GError) error = NULL;

  coop_handle_unref (coop_loop_call_later (f->loop, 1000, set_int_cb, inner, NULL));
  g_assert_true (coop_loop_run_until_complete (f->loop, outer, &error));
  g_assert_cmpint (coop_future_get_int64 (outer, NULL), ==, 1);

  g_assert_false (coop_loop_run_until_complete (f->loop, timed, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_true (coop_future_is_cancelled (slow));
  g_clear_error (&error);

  /* Done before the call: at once. */
  g_clear_object (&outer);
  outer = coop_wait_for (inner, 0);
  g_assert_true (coop_future_is_done (outer));

  /* Cancelling the outer future cancels the inner one. */
  g_clear_object (&slow);
  g_clear_object (&timed);
  slow = coop_future_new (f->loop);
  timed = coop_wait_for (slow, -1);
  coop_future_cancel (timed, NULL);
  g_assert_true (coop_future_is_cancelled (slow));
  g_assert_true (coop_future_is_cancelled (timed));
}

static void
wait_for_task_body (CoopTask *task, gpointer data)
{
  CoopLoop *loop = data;
  g_autoptr(CoopTask) slow = coop_task_new (loop, answer_body, GINT_TO_POINTER (10000), NULL);
  g_autoptr(CoopFuture) limited = coop_wait_for (COOP_FUTURE (slow), 5000);
  g_autoptr(GError) error = NULL;

  g_assert_false (coop_await (limited, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (slow)));
}

static void
test_wait_for_task (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopTask) task = coop_task_new (f->loop, wait_for_task_body, f->loop, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
}

typedef struct
{
  CoopLoop *loop;
  CoopTask *inner;
} ShieldState;

static void
shielded_body (CoopTask *task, gpointer data)
{
  ShieldState *s = data;
  g_autoptr(CoopFuture) shield = NULL;
  g_autoptr(GError) error = NULL;

  s->inner = coop_task_new (s->loop, answer_body, GINT_TO_POINTER (500), NULL);
  shield = coop_shield (COOP_FUTURE (s->inner));
  g_assert_false (coop_await (shield, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

static void
cancel_task_cb (gpointer data)
{
  coop_task_cancel (data, NULL);
}

/* shield: the awaiting task is cancelled, the shielded one carries on. */
static void
test_shield (CoopFixture *f, gconstpointer data)
{
  ShieldState s = { f->loop, NULL };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, shielded_body, &s, NULL);

  /* Cancelled once both wait (the shielded task sleeps 500 ms), not on a
   * timer that may fire before either has started. */
  coop_test_drain ();
  cancel_task_cb (task);
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (task)));
  g_assert_false (coop_future_is_done (COOP_FUTURE (s.inner)));
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (s.inner), NULL));
  g_assert_cmpint (coop_future_get_int64 (COOP_FUTURE (s.inner), NULL), ==, 500);
  g_object_unref (s.inner);
}

/* Futures of another loop are refused with a clear error. */
static void
test_wrong_loop (CoopFixture *f, gconstpointer data)
{
  GMainContext *other_context = g_main_context_new ();
  CoopLoop *other = coop_loop_new (other_context);
  CoopFuture *foreign = coop_future_new (other);
  g_autoptr(CoopFuture) gather = coop_gather (f->loop, &foreign, 1, FALSE);
  g_autoptr(CoopFuture) wait = coop_wait (f->loop, &foreign, 1, COOP_WAIT_ALL_COMPLETED);
  g_autoptr(GError) error = NULL;

  g_assert_false (coop_future_propagate (gather, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_WRONG_LOOP);
  g_clear_error (&error);
  g_assert_false (coop_future_propagate (wait, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_WRONG_LOOP);

  g_object_unref (foreign);
  coop_loop_close (other);
  g_object_unref (other);
  g_main_context_unref (other_context);
}

static void
set_value_cb (gpointer data)
{
  coop_future_set_int64 (data, 9);
}

typedef struct
{
  CoopLoop   *loop;
  CoopFuture *inputs[4];
  GString    *order;
} AsCompletedState;

static void
as_completed_body (CoopTask *task, gpointer data)
{
  AsCompletedState *s = data;
  g_autoptr(CoopAsCompleted) it = coop_as_completed_new (s->loop, s->inputs, 4);
  CoopFuture *next;

  g_assert_cmpuint (coop_as_completed_get_n_left (it), ==, 4);
  while ((next = coop_as_completed_next (it)) != NULL)
    {
      CoopFuture *done;
      int i;

      g_assert_true (coop_await (next, NULL));
      done = COOP_FUTURE (coop_future_get_object (next, NULL));
      g_assert_true (coop_future_is_done (done));
      for (i = 0; i < 4; i++)
        if (s->inputs[i] == done)
          g_string_append_printf (s->order, "%d", i);
      g_object_unref (next);
    }
  g_assert_cmpuint (coop_as_completed_get_n_left (it), ==, 0);
}

/* as_completed hands the futures out in the order they complete. */
static void
test_as_completed (CoopFixture *f, gconstpointer data)
{
  AsCompletedState s = { f->loop, { NULL, }, g_string_new (NULL) };
  g_autoptr(CoopTask) task = NULL;
  static const int delays_ms[4] = { 30, 10, -1, 20 };
  int i;

  for (i = 0; i < 4; i++)
    {
      s.inputs[i] = coop_future_new (f->loop);
      if (delays_ms[i] < 0)
        coop_future_set_int64 (s.inputs[i], 0);   /* done before it starts */
      else
        coop_handle_unref (coop_loop_call_later (f->loop, delays_ms[i] * 1000, set_value_cb, s.inputs[i], NULL));
    }
  task = coop_task_new (f->loop, as_completed_body, &s, NULL);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_cmpstr (s.order->str, ==, "2130");
  for (i = 0; i < 4; i++)
    g_object_unref (s.inputs[i]);
  g_string_free (s.order, TRUE);
}

/* A cancelled request gives its input to the next one. */
static void
test_as_completed_cancelled_request (CoopFixture *f, gconstpointer data)
{
  CoopFuture *input = coop_future_new (f->loop);
  g_autoptr(CoopAsCompleted) it = coop_as_completed_new (f->loop, &input, 1);
  CoopFuture *first = coop_as_completed_next (it);
  CoopFuture *second;

  g_assert_null (coop_as_completed_next (it));
  coop_future_cancel (first, NULL);
  g_assert_cmpuint (coop_as_completed_get_n_left (it), ==, 1);
  second = coop_as_completed_next (it);
  g_assert_nonnull (second);
  coop_future_set_int64 (input, 1);
  g_assert_true (coop_future_is_done (second));
  g_assert_true (coop_future_get_object (second, NULL) == G_OBJECT (input));
  g_object_unref (first);
  g_object_unref (second);
  g_object_unref (input);
}

typedef struct
{
  CoopLoop *loop;
  CoopLock *free_lock;
  CoopLock *held_lock;
} GatherLocks;

static void
gather_locks_body (CoopTask *task, gpointer data)
{
  GatherLocks *g = data;
  CoopFuture *requests[2];
  g_autoptr(CoopFuture) both = NULL;
  g_autoptr(GError) error = NULL;

  requests[0] = coop_lock_acquire (g->free_lock);    /* granted at once */
  requests[1] = coop_lock_acquire (g->held_lock);    /* waits */
  both = coop_gather (g->loop, requests, 2, FALSE);
  g_assert_false (coop_await (both, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_object_unref (requests[0]);
  g_object_unref (requests[1]);
}

/* A task cancelled while gathering lock requests: the lock that had been
 * granted is given back, not held forever. */
static void
test_gather_cancel_gives_back (CoopFixture *f, gconstpointer data)
{
  GatherLocks g = { f->loop, coop_lock_new (f->loop), coop_lock_new (f->loop) };
  g_autoptr(CoopTask) task = NULL;

  g_assert_true (coop_lock_try_acquire (g.held_lock));
  task = coop_task_new (f->loop, gather_locks_body, &g, NULL);
  coop_test_wait_until (coop_lock_is_locked (g.free_lock));
  coop_task_cancel (task, NULL);
  coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL);
  g_assert_false (coop_lock_is_locked (g.free_lock));
  coop_lock_release (g.held_lock);
  g_assert_false (coop_lock_is_locked (g.held_lock));
  g_object_unref (g.free_lock);
  g_object_unref (g.held_lock);
}

/* A sleep pending when its loop closes ends cancelled (it used to stay
 * pending for ever, so whoever awaited it from elsewhere hung). */
static void
test_sleep_loop_closed (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop = coop_loop_new (context);
  CoopFuture *nap = coop_sleep (loop, G_USEC_PER_SEC);
  CoopFuture *done_nap = coop_sleep (loop, 0);

  while (!coop_future_is_done (done_nap))
    g_main_context_iteration (context, TRUE);
  coop_loop_close (loop);
  g_assert_true (coop_future_is_cancelled (nap));
  g_assert_cmpint (coop_future_get_state (done_nap), ==, COOP_FUTURE_STATE_FINISHED);
  g_object_unref (nap);
  g_object_unref (done_nap);
  g_object_unref (loop);
  g_main_context_unref (context);
}

/* A wait_for nobody holds any more (only its timer does) whose inner
 * future finishes: its completion cancels the timer, which drops that
 * last reference, and the rest of the completion must not touch the
 * finalized wait_for (it read freed memory; found by fuzz-ops). */
static void
test_wait_for_dropped (CoopFixture *f, gconstpointer data)
{
  CoopFuture *inner = coop_future_new (f->loop);
  CoopFuture *limited = coop_wait_for (inner, G_USEC_PER_SEC);
  GWeakRef weak;
  GObject *alive;

  g_weak_ref_init (&weak, limited);
  g_object_unref (limited);
  alive = g_weak_ref_get (&weak);
  g_assert_nonnull (alive);   /* its timer holds it */
  g_object_unref (alive);

  coop_future_set_int64 (inner, 1);
  coop_test_drain ();
  alive = g_weak_ref_get (&weak);
  g_assert_null (alive);
  g_weak_ref_clear (&weak);
  g_object_unref (inner);
}

static void
count_cancel_cb (gpointer data)
{
}

/* Cancelling nested gathers that share children reaches each child once
 * per request, not once per path (2^depth: with 40 levels this never
 * returned; found by fuzz-ops). */
static void
test_gather_shared_children (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopTask) child = NULL;
  CoopFuture *level[41];
  guint i;

  child = coop_task_new (f->loop, (CoopTaskFunc) count_cancel_cb, NULL, NULL);
  level[0] = g_object_ref (COOP_FUTURE (child));
  for (i = 1; i < G_N_ELEMENTS (level); i++)
    {
      CoopFuture *pair[2] = { level[i - 1], level[i - 1] };

      level[i] = coop_gather (f->loop, pair, 2, FALSE);
    }
  g_assert_true (coop_future_cancel (level[G_N_ELEMENTS (level) - 1], NULL));
  g_assert_true (coop_task_is_cancelling (child));
  coop_test_drain ();
  for (i = 0; i < G_N_ELEMENTS (level); i++)
    {
      g_assert_true (coop_future_is_cancelled (level[i]));
      g_object_unref (level[i]);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/combinators/sleep", test_sleep);
  coop_test_add ("/coop/combinators/sleep-recycled", test_sleep_recycled);
  coop_test_add ("/coop/combinators/gather-fail-fast", test_gather_fail_fast);
  coop_test_add ("/coop/combinators/gather-wait-all", test_gather_wait_all);
  coop_test_add ("/coop/combinators/gather-tasks", test_gather_tasks);
  coop_test_add ("/coop/combinators/gather-empty", test_gather_empty);
  coop_test_add ("/coop/combinators/wait-modes", test_wait_modes);
  coop_test_add ("/coop/combinators/wait-for", test_wait_for);
  coop_test_add ("/coop/combinators/wait-for-task", test_wait_for_task);
  coop_test_add ("/coop/combinators/shield", test_shield);
  coop_test_add ("/coop/combinators/wrong-loop", test_wrong_loop);
  coop_test_add ("/coop/combinators/as-completed", test_as_completed);
  coop_test_add ("/coop/combinators/gather-cancel-gives-back", test_gather_cancel_gives_back);
  coop_test_add ("/coop/combinators/as-completed-cancelled-request", test_as_completed_cancelled_request);
  g_test_add_func ("/coop/combinators/sleep-loop-closed", test_sleep_loop_closed);
  coop_test_add ("/coop/combinators/wait-for-dropped", test_wait_for_dropped);
  coop_test_add ("/coop/combinators/gather-shared-children", test_gather_shared_children);

  return g_test_run ();
}
