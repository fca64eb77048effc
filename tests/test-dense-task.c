/* test-dense-task.c: stackless tasks (src/core/coop-dense-task.c).
 *
 * Each test writes its dense task as its users would: a state struct and
 * a step function with a switch on the state.  They are awaited by
 * stackful tasks, put in task groups, bounded by coop_wait_for(),
 * cancelled at every point of their life, and left pending when the loop
 * closes or shuts down.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

static void
run_until_done (CoopFuture *future)
{
  while (!coop_future_is_done (future))
    g_main_context_iteration (g_main_context_get_thread_default (), TRUE);
}

/* --- sleeps three times, then returns its count ---------------------------- */

typedef struct
{
  int       state;
  int       steps;
  gboolean *freed;
} Sleeper;

static void
sleeper_free (gpointer data)
{
  Sleeper *s = data;

  if (s->freed != NULL)
    *s->freed = TRUE;
  g_free (s);
}

static CoopFuture *
sleeper_step (CoopDenseTask *task,
              CoopFuture    *completed,
              gpointer       user_data)
{
  Sleeper *s = user_data;

  s->steps++;
  if (completed != NULL)
    g_assert_true (coop_future_is_done (completed));
  switch (s->state++)
    {
    case 0:
      g_assert_null (completed);
      /* fall through */
    case 1:
    case 2:
      return coop_sleep (coop_future_get_loop (COOP_FUTURE (task)), 500);
    default:
      coop_future_set_int64 (COOP_FUTURE (task), s->steps);
      return NULL;
    }
}

static void
test_basic (CoopFixture   *fixture,
            gconstpointer  data)
{
  gboolean freed = FALSE;
  Sleeper *s = g_new0 (Sleeper, 1);
  g_autoptr(CoopDenseTask) task = NULL;

  s->freed = &freed;
  task = coop_dense_task_new (fixture->loop, sleeper_step, s, sleeper_free);
  g_assert_true (COOP_IS_FUTURE (task));
  g_assert_false (coop_future_is_done (COOP_FUTURE (task)));
  g_assert_cmpint (s->steps, ==, 0);   /* never inside the call */
  run_until_done (COOP_FUTURE (task));
  g_assert_cmpint (coop_future_get_int64 (COOP_FUTURE (task), NULL), ==, 4);
  g_assert_true (freed);
  g_assert_null (coop_dense_task_get_awaiting (task));
}

/* Dropping the only reference at once: the loop keeps it to the end. */
static void
test_fire_and_forget (CoopFixture   *fixture,
                      gconstpointer  data)
{
  gboolean freed = FALSE;
  Sleeper *s = g_new0 (Sleeper, 1);

  s->freed = &freed;
  g_object_unref (coop_dense_task_new (fixture->loop, sleeper_step, s, sleeper_free));
  while (!freed)
    g_main_context_iteration (fixture->context, TRUE);
}

/* --- ping-pong: two dense tasks hand a future back and forth --------------- */

typedef struct
{
  CoopLoop   *loop;
  CoopFuture *to_a;
  CoopFuture *to_b;
  int         rounds;
  int         a_count;
  int         b_count;
} PingPong;

static CoopFuture *
ping_step (CoopDenseTask *task,
           CoopFuture    *completed,
           gpointer       user_data)
{
  PingPong *pp = user_data;

  if (completed != NULL)
    {
      g_assert_cmpint (coop_future_get_int64 (completed, NULL), ==, pp->a_count);
      pp->a_count++;
    }
  if (pp->a_count == pp->rounds)
    return NULL;
  /* Hand to B, then wait for B's answer. */
  g_clear_object (&pp->to_a);
  pp->to_a = coop_future_new (pp->loop);
  coop_future_set_int64 (pp->to_b, pp->a_count);
  return g_object_ref (pp->to_a);
}

static CoopFuture *
pong_step (CoopDenseTask *task,
           CoopFuture    *completed,
           gpointer       user_data)
{
  PingPong *pp = user_data;

  if (completed != NULL)
    {
      g_assert_cmpint (coop_future_get_int64 (completed, NULL), ==, pp->b_count);
      pp->b_count++;
      coop_future_set_int64 (pp->to_a, pp->b_count - 1);
    }
  if (pp->b_count == pp->rounds)
    return NULL;
  g_clear_object (&pp->to_b);
  pp->to_b = coop_future_new (pp->loop);
  return g_object_ref (pp->to_b);
}

static void
test_ping_pong (CoopFixture   *fixture,
                gconstpointer  data)
{
  PingPong pp = { fixture->loop, NULL, NULL, 10000, 0, 0 };
  g_autoptr(CoopDenseTask) b = coop_dense_task_new (fixture->loop, pong_step, &pp, NULL);
  g_autoptr(CoopDenseTask) a = NULL;

  /* B's first step makes to_b before A's first step hands to it. */
  coop_test_drain ();
  a = coop_dense_task_new (fixture->loop, ping_step, &pp, NULL);
  run_until_done (COOP_FUTURE (a));
  run_until_done (COOP_FUTURE (b));
  g_assert_cmpint (pp.a_count, ==, pp.rounds);
  g_assert_cmpint (pp.b_count, ==, pp.rounds);
  g_clear_object (&pp.to_a);
  g_clear_object (&pp.to_b);
}

/* --- cancellation ---------------------------------------------------------- */

typedef struct
{
  CoopLoop   *loop;
  CoopFuture *never;        /* what it waits for first */
  int         steps;
  gboolean    catch_it;     /* go on after the cancellation */
  gboolean    saw_cancelled;
  gboolean    saw_cancelling;
  gboolean    cancelling_after_catch;
} Canceller;

static CoopFuture *
canceller_step (CoopDenseTask *task,
                CoopFuture    *completed,
                gpointer       user_data)
{
  Canceller *c = user_data;

  switch (c->steps++)
    {
    case 0:
      return g_object_ref (c->never);
    case 1:
      c->saw_cancelled = coop_future_is_cancelled (completed);
      c->saw_cancelling = coop_dense_task_is_cancelling (task);
      if (!c->catch_it)
        return NULL;
      return coop_sleep (c->loop, 100);
    default:
      c->cancelling_after_catch = coop_dense_task_is_cancelling (task);
      coop_future_set_int64 (COOP_FUTURE (task), 42);
      return NULL;
    }
}

static void
test_cancel_awaiting (CoopFixture   *fixture,
                      gconstpointer  data)
{
  g_autoptr(CoopFuture) never = coop_future_new (fixture->loop);
  Canceller c = { fixture->loop, never, 0, FALSE, FALSE, FALSE, FALSE };
  g_autoptr(CoopDenseTask) task = coop_dense_task_new (fixture->loop, canceller_step, &c, NULL);

  coop_test_drain ();
  g_assert_true (coop_dense_task_get_awaiting (task) == never);
  g_assert_true (coop_future_cancel (COOP_FUTURE (task), "stop"));
  /* asyncio's way: the awaited future is cancelled at once. */
  g_assert_true (coop_future_is_cancelled (never));
  run_until_done (COOP_FUTURE (task));
  g_assert_true (c.saw_cancelled);
  g_assert_true (c.saw_cancelling);
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (task)));
  /* Cancelling a finished task does nothing. */
  g_assert_false (coop_future_cancel (COOP_FUTURE (task), NULL));
}

static void
test_cancel_caught (CoopFixture   *fixture,
                    gconstpointer  data)
{
  g_autoptr(CoopFuture) never = coop_future_new (fixture->loop);
  Canceller c = { fixture->loop, never, 0, TRUE, FALSE, FALSE, TRUE };
  g_autoptr(CoopDenseTask) task = coop_dense_task_new (fixture->loop, canceller_step, &c, NULL);

  coop_test_drain ();
  coop_future_cancel (COOP_FUTURE (task), NULL);
  run_until_done (COOP_FUTURE (task));
  g_assert_true (c.saw_cancelled);
  g_assert_false (c.cancelling_after_catch);
  g_assert_cmpint (coop_future_get_int64 (COOP_FUTURE (task), NULL), ==, 42);
}

static CoopFuture *
never_called_step (CoopDenseTask *task,
                   CoopFuture    *completed,
                   gpointer       user_data)
{
  g_assert_not_reached ();
  return NULL;
}

static void
test_cancel_before_start (CoopFixture   *fixture,
                          gconstpointer  data)
{
  gboolean freed = FALSE;
  Sleeper *s = g_new0 (Sleeper, 1);
  g_autoptr(CoopDenseTask) task = NULL;

  s->freed = &freed;
  task = coop_dense_task_new (fixture->loop, never_called_step, s, sleeper_free);
  coop_future_cancel (COOP_FUTURE (task), NULL);
  run_until_done (COOP_FUTURE (task));
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (task)));
  g_assert_true (freed);
}

/* The awaited future finishes first, the cancellation comes while the
 * step is queued: the step sees a result, and the next future it returns
 * is cancelled at once (asyncio's _must_cancel). */
typedef struct
{
  CoopLoop   *loop;
  CoopFuture *ready;
  int         steps;
  gboolean    first_ok;
  gboolean    second_cancelled;
} Late;

static CoopFuture *
late_step (CoopDenseTask *task,
           CoopFuture    *completed,
           gpointer       user_data)
{
  Late *l = user_data;

  switch (l->steps++)
    {
    case 0:
      return g_object_ref (l->ready);
    case 1:
      l->first_ok = coop_future_get_int64 (completed, NULL) == 7 && coop_dense_task_is_cancelling (task);
      return coop_sleep (l->loop, G_USEC_PER_SEC * 600);
    default:
      l->second_cancelled = coop_future_is_cancelled (completed);
      return NULL;
    }
}

static void
test_cancel_while_queued (CoopFixture   *fixture,
                          gconstpointer  data)
{
  g_autoptr(CoopFuture) ready = coop_future_new (fixture->loop);
  Late l = { fixture->loop, ready, 0, FALSE, FALSE };
  g_autoptr(CoopDenseTask) task = coop_dense_task_new (fixture->loop, late_step, &l, NULL);

  coop_test_drain ();
  coop_future_set_int64 (ready, 7);       /* queues the step */
  coop_future_cancel (COOP_FUTURE (task), NULL);
  g_assert_false (coop_future_is_cancelled (ready));
  run_until_done (COOP_FUTURE (task));
  g_assert_true (l.first_ok);
  g_assert_true (l.second_cancelled);
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (task)));
}

/* --- with the rest of Coop -------------------------------------------------- */

typedef struct
{
  CoopLoop *loop;
  int       state;
  gboolean  fail;
  gboolean  cancelled;
} Child;

static CoopFuture *
child_step (CoopDenseTask *task,
            CoopFuture    *completed,
            gpointer       user_data)
{
  Child *c = user_data;

  if (c->state++ == 0)
    return coop_sleep (c->loop, c->fail ? 1000 : G_USEC_PER_SEC * 600);
  if (coop_future_is_cancelled (completed))
    {
      c->cancelled = TRUE;
      return NULL;
    }
  if (c->fail)
    coop_future_take_error (COOP_FUTURE (task), g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "boom"));
  return NULL;
}

static void
group_body (CoopTask *self,
            gpointer  data)
{
  CoopLoop *loop = data;
  Child children[3] = { { loop, 0, FALSE, FALSE }, { loop, 0, TRUE, FALSE }, { loop, 0, FALSE, FALSE } };
  g_autoptr(CoopTaskGroup) group = coop_task_group_new (loop);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (children); i++)
    {
      g_autoptr(CoopDenseTask) child = coop_dense_task_new (loop, child_step, &children[i], NULL);

      g_assert_true (coop_task_group_add (group, COOP_FUTURE (child), NULL));
    }
  g_assert_false (coop_task_group_join (group, &error));
  g_assert_nonnull (error);
  /* The failure cancelled its siblings, which saw it and ended. */
  g_assert_true (children[0].cancelled);
  g_assert_true (children[2].cancelled);
}

static void
test_task_group (CoopFixture   *fixture,
                 gconstpointer  data)
{
  coop_test_run_task (fixture->loop, group_body, fixture->loop, 10 * G_USEC_PER_SEC);
}

static void
await_body (CoopTask *self,
            gpointer  data)
{
  CoopLoop *loop = data;
  Sleeper *s = g_new0 (Sleeper, 1);
  g_autoptr(CoopDenseTask) task = coop_dense_task_new (loop, sleeper_step, s, sleeper_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopFuture) never = coop_future_new (loop);
  Canceller c = { loop, never, 0, FALSE, FALSE, FALSE, FALSE };
  g_autoptr(CoopDenseTask) slow = coop_dense_task_new (loop, canceller_step, &c, NULL);
  g_autoptr(CoopFuture) bounded = NULL;

  /* Awaited from a stackful task. */
  g_assert_true (coop_await (COOP_FUTURE (task), &error));
  g_assert_no_error (error);
  g_assert_cmpint (coop_future_get_int64 (COOP_FUTURE (task), NULL), ==, 4);

  /* Bounded by a timeout: times out, and the dense task is cancelled.
   * The deadline starts once it waits in its await (a deadline that
   * passes before its first step cancels it before it ever runs). */
  g_assert_true (coop_dense_task_get_awaiting (slow) == never);
  bounded = coop_wait_for (COOP_FUTURE (slow), 1000);
  g_assert_false (coop_await (bounded, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (slow)));
  g_assert_true (c.saw_cancelled);
}

static void
test_await_and_timeout (CoopFixture   *fixture,
                        gconstpointer  data)
{
  coop_test_run_task (fixture->loop, await_body, fixture->loop, 10 * G_USEC_PER_SEC);
}

/* 100,000 suspended at once, each on a future of its own, then all woken:
 * none lost. */
typedef struct
{
  CoopFuture *wake;
  int        *finished;
} Many;

static CoopFuture *
many_step (CoopDenseTask *task,
           CoopFuture    *completed,
           gpointer       user_data)
{
  Many *m = user_data;

  if (completed == NULL)
    return g_object_ref (m->wake);
  (*m->finished)++;
  return NULL;
}

static void
test_many (CoopFixture   *fixture,
           gconstpointer  data)
{
  guint n = g_test_slow () ? 1000000 : 100000;
  Many *many = g_new (Many, n);
  int finished = 0;

  for (guint i = 0; i < n; i++)
    {
      many[i].wake = coop_future_new (fixture->loop);
      many[i].finished = &finished;
      g_object_unref (coop_dense_task_new (fixture->loop, many_step, &many[i], NULL));
    }
  coop_test_drain ();
  g_assert_cmpint (finished, ==, 0);
  for (guint i = 0; i < n; i++)
    coop_future_set_none (many[i].wake);
  coop_test_drain ();
  g_assert_cmpint (finished, ==, (int) n);
  for (guint i = 0; i < n; i++)
    g_object_unref (many[i].wake);
  g_free (many);
}

/* --- the end of the loop ---------------------------------------------------- */

static void
count_reports (CoopLoop     *loop,
               const char   *message,
               CoopFuture   *future,
               const GError *error,
               gpointer      user_data)
{
  GPtrArray *messages = user_data;

  g_ptr_array_add (messages, g_strdup (message));
}

static void
test_close_pending (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop;
  g_autoptr(GPtrArray) reports = g_ptr_array_new_with_free_func (g_free);
  gboolean freed[3] = { FALSE, FALSE, FALSE };
  CoopDenseTask *tasks[3];

  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);
  coop_loop_set_exception_handler (loop, count_reports, reports, NULL);
  for (guint i = 0; i < 3; i++)
    {
      Sleeper *s = g_new0 (Sleeper, 1);

      s->freed = &freed[i];
      s->state = 1;
      tasks[i] = coop_dense_task_new (loop, sleeper_step, s, sleeper_free);
    }
  coop_test_drain ();            /* each now sleeps */
  coop_loop_close (loop);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_true (freed[i]);
      g_assert_true (coop_future_is_cancelled (COOP_FUTURE (tasks[i])));
      g_object_unref (tasks[i]);
    }
  /* One report for all of them. */
  g_assert_cmpuint (reports->len, ==, 1);
  g_assert_nonnull (strstr (reports->pdata[0], "3 dense tasks"));
  g_object_unref (loop);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
}

static void
test_shutdown (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop;
  g_autoptr(GError) error = NULL;
  CoopFuture *never;
  Canceller c = { NULL, NULL, 0, FALSE, FALSE, FALSE, FALSE };
  CoopDenseTask *task;

  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);
  never = coop_future_new (loop);
  c.loop = loop;
  c.never = never;
  task = coop_dense_task_new (loop, canceller_step, &c, NULL);
  coop_test_drain ();
  /* Shutdown cancels it, and it runs to its end. */
  g_assert_true (coop_loop_shutdown (loop, 5 * G_USEC_PER_SEC, &error));
  g_assert_no_error (error);
  g_assert_true (c.saw_cancelled);
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (task)));
  g_object_unref (task);
  g_object_unref (never);
  g_object_unref (loop);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
}

/* --- misuse ------------------------------------------------------------------ */

static CoopFuture *
returns_itself (CoopDenseTask *task,
                CoopFuture    *completed,
                gpointer       user_data)
{
  return g_object_ref (COOP_FUTURE (task));
}

static CoopFuture *
returns_other_loop (CoopDenseTask *task,
                    CoopFuture    *completed,
                    gpointer       user_data)
{
  return coop_future_new (user_data);
}

static CoopFuture *
awaits_inside (CoopDenseTask *task,
               CoopFuture    *completed,
               gpointer       user_data)
{
  g_autoptr(CoopFuture) f = coop_future_new (coop_future_get_loop (COOP_FUTURE (task)));
  g_autoptr(GError) error = NULL;

  coop_future_set_none (f);
  *(gboolean *) user_data = coop_await (f, &error) ||
                            !g_error_matches (error, COOP_ERROR, COOP_ERROR_NOT_IN_TASK);
  return NULL;
}

static void
test_misuse (CoopFixture   *fixture,
             gconstpointer  data)
{
  GMainContext *other_context = g_main_context_new ();
  CoopLoop *other = coop_loop_new (other_context);
  g_autoptr(CoopDenseTask) itself = NULL;
  g_autoptr(CoopDenseTask) wrong = NULL;
  g_autoptr(CoopDenseTask) inside = NULL;
  gboolean awaited = TRUE;
  g_autoptr(GError) error = NULL;

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*func != NULL*");
  g_assert_null (coop_dense_task_new (fixture->loop, NULL, NULL, NULL));
  g_test_assert_expected_messages ();

  itself = coop_dense_task_new (fixture->loop, returns_itself, NULL, NULL);
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*other than its own task*");
  run_until_done (COOP_FUTURE (itself));
  g_test_assert_expected_messages ();
  g_assert_false (coop_future_propagate (COOP_FUTURE (itself), &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_FAILED);
  g_clear_error (&error);

  wrong = coop_dense_task_new (fixture->loop, returns_other_loop, other, NULL);
  run_until_done (COOP_FUTURE (wrong));
  g_assert_false (coop_future_propagate (COOP_FUTURE (wrong), &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_WRONG_LOOP);
  g_clear_error (&error);

  /* A step is not a task: coop_await() there is refused. */
  inside = coop_dense_task_new (fixture->loop, awaits_inside, &awaited, NULL);
  run_until_done (COOP_FUTURE (inside));
  g_assert_false (awaited);

  coop_loop_close (other);
  g_object_unref (other);
  g_main_context_unref (other_context);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/dense-task/basic", test_basic);
  coop_test_add ("/coop/dense-task/fire-and-forget", test_fire_and_forget);
  coop_test_add ("/coop/dense-task/ping-pong", test_ping_pong);
  coop_test_add ("/coop/dense-task/cancel/awaiting", test_cancel_awaiting);
  coop_test_add ("/coop/dense-task/cancel/caught", test_cancel_caught);
  coop_test_add ("/coop/dense-task/cancel/before-start", test_cancel_before_start);
  coop_test_add ("/coop/dense-task/cancel/while-queued", test_cancel_while_queued);
  coop_test_add ("/coop/dense-task/task-group", test_task_group);
  coop_test_add ("/coop/dense-task/await-and-timeout", test_await_and_timeout);
  coop_test_add ("/coop/dense-task/many", test_many);
  coop_test_add ("/coop/dense-task/misuse", test_misuse);
  g_test_add_func ("/coop/dense-task/close-pending", test_close_pending);
  g_test_add_func ("/coop/dense-task/shutdown", test_shutdown);

  return g_test_run ();
}
