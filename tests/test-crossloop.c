/* test-crossloop.c: awaiting futures of other loops, starting tasks on
 * other loops (coop_future_wrap, coop_loop_run_task_threadsafe).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

/* The other loops run on the threads of a CoopLoopPool. */

/* --- helpers run on the other loop ----------------------------------------- */

/* A pending future of the task's own loop, handed back as the task's value
 * (an object crosses as a reference). */
static void
make_future_body (CoopTask *task, gpointer data)
{
  g_autoptr(CoopFuture) future = coop_future_new (coop_future_get_loop (COOP_FUTURE (task)));

  coop_future_set_object (COOP_FUTURE (task), G_OBJECT (future));
}

/* Gets a pending future of @remote to the calling task. */
static CoopFuture *
remote_future_new (CoopLoop *remote)
{
  g_autoptr(CoopFuture) maker = coop_loop_run_task_threadsafe (remote, NULL, "maker",
                                                               make_future_body, NULL, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_await (maker, &error));
  g_assert_no_error (error);
  return COOP_FUTURE (g_object_ref (coop_future_get_object (maker, NULL)));
}

static void
set_42_cb (gpointer data)
{
  coop_future_set_int64 (data, 42);
}

static void
cancel_cb (gpointer data)
{
  coop_future_cancel (data, "cancelled on its own loop");
}

static void
state_cb (gpointer data)
{
  gpointer *args = data;

  g_atomic_int_set ((gint *) args[1], coop_future_get_state (args[0]));
}

/* --- await a future of another loop --------------------------------------- */

typedef struct
{
  CoopLoopPool *pool;
  CoopFuture   *remote;
  gint          remote_state;
} AwaitCase;

static void
await_remote_body (CoopTask *task, gpointer data)
{
  AwaitCase *c = data;
  CoopLoop *remote = coop_loop_pool_get_loop (c->pool, 0);
  g_autoptr(GError) error = NULL;

  c->remote = remote_future_new (remote);
  g_assert_true (coop_future_get_loop (c->remote) == remote);
  coop_loop_call_soon_threadsafe (remote, set_42_cb, c->remote, NULL);
  /* Was COOP_ERROR_WRONG_LOOP: now the outcome crosses back. */
  g_assert_true (coop_await (c->remote, &error));
  g_assert_no_error (error);
  g_assert_true (coop_future_is_done (c->remote));
  g_assert_cmpint (coop_future_get_int64 (c->remote, NULL), ==, 42);
}

static void
test_await_remote (CoopFixture *f, gconstpointer data)
{
  AwaitCase c = { .pool = coop_loop_pool_new (1) };

  coop_test_run_task (f->loop, await_remote_body, &c, 10 * G_USEC_PER_SEC);
  g_assert_true (coop_loop_pool_shutdown (c.pool, -1, NULL));
  g_object_unref (c.remote);
  g_object_unref (c.pool);
}

/* The remote future fails: the await reports a copy of its error. */
static void
fail_cb (gpointer data)
{
  coop_future_take_error (data, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "gone"));
}

static void
await_remote_error_body (CoopTask *task, gpointer data)
{
  AwaitCase *c = data;
  CoopLoop *remote = coop_loop_pool_get_loop (c->pool, 0);
  g_autoptr(GError) error = NULL;

  c->remote = remote_future_new (remote);
  coop_loop_call_soon_threadsafe (remote, fail_cb, c->remote, NULL);
  g_assert_false (coop_await (c->remote, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

static void
test_await_remote_error (CoopFixture *f, gconstpointer data)
{
  AwaitCase c = { .pool = coop_loop_pool_new (1) };

  coop_test_run_task (f->loop, await_remote_error_body, &c, 10 * G_USEC_PER_SEC);
  g_assert_true (coop_loop_pool_shutdown (c.pool, -1, NULL));
  g_object_unref (c.remote);
  g_object_unref (c.pool);
}

/* Cancelling the awaiting task cancels the future on its own loop. */
static void
await_then_cancelled_body (CoopTask *task, gpointer data)
{
  AwaitCase *c = data;
  CoopLoop *remote = coop_loop_pool_get_loop (c->pool, 0);
  g_autoptr(GError) error = NULL;

  c->remote = remote_future_new (remote);
  g_assert_false (coop_await (c->remote, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

static void
cancel_task_cb (gpointer data)
{
  coop_task_cancel (data, "stop");
}

static void
test_cancel_awaiting_task (CoopFixture *f, gconstpointer data)
{
  AwaitCase c = { .pool = coop_loop_pool_new (1) };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, await_then_cancelled_body, &c, NULL);
  gpointer args[2] = { NULL, &c.remote_state };

  /* Paused on the remote future (through its mirror). */
  coop_test_wait_until (c.remote != NULL && coop_task_get_awaiting (task) != NULL);
  coop_handle_unref (coop_loop_call_soon (f->loop, cancel_task_cb, task, NULL));
  coop_test_wait_until (coop_future_is_done (COOP_FUTURE (task)));
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (task)));

  /* And the remote future was cancelled on its own loop. */
  args[0] = c.remote;
  c.remote_state = -1;
  coop_loop_call_soon_threadsafe (coop_loop_pool_get_loop (c.pool, 0), state_cb, args, NULL);
  g_assert_true (coop_loop_pool_shutdown (c.pool, -1, NULL));
  g_assert_cmpint (c.remote_state, ==, COOP_FUTURE_STATE_CANCELLED);
  g_object_unref (c.remote);
  g_object_unref (c.pool);
}

/* The remote future cancelled on its own loop: the await reports it. */
static void
await_remote_cancelled_body (CoopTask *task, gpointer data)
{
  AwaitCase *c = data;
  CoopLoop *remote = coop_loop_pool_get_loop (c->pool, 0);
  g_autoptr(GError) error = NULL;

  c->remote = remote_future_new (remote);
  coop_loop_call_soon_threadsafe (remote, cancel_cb, c->remote, NULL);
  g_assert_false (coop_await (c->remote, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* The awaiting task itself was not cancelled. */
  g_assert_false (coop_task_is_cancelling (task));
}

static void
test_await_remote_cancelled (CoopFixture *f, gconstpointer data)
{
  AwaitCase c = { .pool = coop_loop_pool_new (1) };

  coop_test_run_task (f->loop, await_remote_cancelled_body, &c, 10 * G_USEC_PER_SEC);
  g_assert_true (coop_loop_pool_shutdown (c.pool, -1, NULL));
  g_object_unref (c.remote);
  g_object_unref (c.pool);
}

/* coop_future_wrap() outside a task, and of a future of the same loop. */
static void
test_wrap (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLoopPool) pool = coop_loop_pool_new (1);
  CoopLoop *remote = coop_loop_pool_get_loop (pool, 0);
  g_autoptr(CoopFuture) maker = coop_loop_run_task_threadsafe (remote, f->loop, NULL,
                                                               make_future_body, NULL, NULL);
  g_autoptr(CoopFuture) local = coop_future_new (f->loop);
  g_autoptr(CoopFuture) same = coop_future_wrap (local, f->loop);
  g_autoptr(CoopFuture) wrapped = NULL;
  CoopFuture *remote_future;

  g_assert_true (same == local);
  g_assert_true (coop_future_get_loop (maker) == f->loop);
  coop_test_wait_until (coop_future_is_done (maker));
  remote_future = COOP_FUTURE (coop_future_get_object (maker, NULL));
  wrapped = coop_future_wrap (remote_future, NULL);
  g_assert_true (coop_future_get_loop (wrapped) == f->loop);
  g_assert_false (coop_future_is_done (wrapped));
  coop_loop_call_soon_threadsafe (remote, set_42_cb, remote_future, NULL);
  coop_test_wait_until (coop_future_is_done (wrapped));
  g_assert_cmpint (coop_future_get_int64 (wrapped, NULL), ==, 42);
  g_assert_true (coop_loop_pool_shutdown (pool, -1, NULL));
  coop_future_set_none (local);
}

/* --- run a task on another loop ------------------------------------------- */

static void
nothing_cb (gpointer data)
{
}

typedef struct
{
  CoopLoop *home;         /* woken when the task starts */
  gint      cancelled;    /* atomic: the task saw its cancellation */
  gint      ran;          /* atomic */
  gint      notified;     /* atomic */
  GThread  *thread;       /* where the task ran */
  CoopTask *task;         /* the task, while it runs (its loop's thread) */
} SpawnCase;

static void
spawn_notify (gpointer data)
{
  g_atomic_int_inc (&((SpawnCase *) data)->notified);
}

static void
answer_body (CoopTask *task, gpointer data)
{
  SpawnCase *c = data;

  c->thread = g_thread_self ();
  g_atomic_int_inc (&c->ran);
  coop_future_set_string (COOP_FUTURE (task), "forty-two");
}

static void
test_spawn_result (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLoopPool) pool = coop_loop_pool_new (1);
  SpawnCase c = { 0 };
  g_autoptr(CoopFuture) result = coop_loop_run_task_threadsafe (coop_loop_pool_get_loop (pool, 0),
                                                                f->loop, "answer", answer_body,
                                                                &c, spawn_notify);

  g_assert_true (coop_future_get_loop (result) == f->loop);
  coop_test_wait_until (coop_future_is_done (result));
  g_assert_cmpstr (coop_future_get_string (result, NULL), ==, "forty-two");
  g_assert_true (coop_loop_pool_shutdown (pool, -1, NULL));
  g_assert_true (c.thread != g_thread_self ());
  g_assert_cmpint (c.ran, ==, 1);
  g_assert_cmpint (c.notified, ==, 1);
}

/* Waits until cancelled, then reports it. */
static void
wait_forever_body (CoopTask *task, gpointer data)
{
  SpawnCase *c = data;
  g_autoptr(CoopFuture) never = coop_future_new (coop_future_get_loop (COOP_FUTURE (task)));
  g_autoptr(GError) error = NULL;

  c->task = task;
  g_atomic_int_inc (&c->ran);
  /* The test's thread waits in its loop for this. */
  if (c->home != NULL)
    coop_loop_call_soon_threadsafe (c->home, nothing_cb, NULL, NULL);
  if (!coop_await (never, &error) && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_atomic_int_inc (&c->cancelled);
  coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

/* Cancelling the returned future cancels the task on its loop. */
static void
test_spawn_cancel_caller (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLoopPool) pool = coop_loop_pool_new (1);
  SpawnCase c = { .home = f->loop };
  g_autoptr(CoopFuture) result = coop_loop_run_task_threadsafe (coop_loop_pool_get_loop (pool, 0),
                                                                f->loop, NULL, wait_forever_body,
                                                                &c, spawn_notify);

  coop_test_wait_until (g_atomic_int_get (&c.ran) == 1);
  g_assert_true (coop_future_cancel (result, "no more"));
  /* Pending until the task has stopped, as an await of a task would be. */
  coop_test_wait_until (coop_future_is_done (result));
  g_assert_true (coop_future_is_cancelled (result));
  g_assert_cmpint (g_atomic_int_get (&c.cancelled), ==, 1);
  g_assert_true (coop_loop_pool_shutdown (pool, -1, NULL));
  g_assert_cmpint (c.notified, ==, 1);
}

/* Cancelled before it started: the task never runs. */
static void
test_spawn_cancel_before_start (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(CoopLoop) other = coop_loop_new (context);
  SpawnCase c = { 0 };
  g_autoptr(CoopFuture) result = coop_loop_run_task_threadsafe (other, f->loop, NULL,
                                                                wait_forever_body, &c,
                                                                spawn_notify);

  g_assert_true (coop_future_cancel (result, NULL));
  /* Nobody iterates the other loop: it is usable from this thread. */
  while (!coop_future_is_done (result))
    {
      g_main_context_iteration (context, FALSE);
      coop_test_iterate ();
    }
  g_assert_true (coop_future_is_cancelled (result));
  g_assert_cmpint (c.ran, ==, 0);
  coop_loop_close (other);
  g_assert_cmpint (c.notified, ==, 1);
}

/* The task cancelled on its own loop: the returned future is cancelled. */
static void
cancel_spawned_cb (gpointer data)
{
  coop_task_cancel (((SpawnCase *) data)->task, "by its own loop");
}

static void
test_spawn_cancel_remote (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLoopPool) pool = coop_loop_pool_new (1);
  SpawnCase c = { .home = f->loop };
  CoopLoop *remote = coop_loop_pool_get_loop (pool, 0);
  g_autoptr(CoopFuture) result = coop_loop_run_task_threadsafe (remote, f->loop, NULL,
                                                                wait_forever_body, &c,
                                                                spawn_notify);

  coop_test_wait_until (g_atomic_int_get (&c.ran) == 1);
  coop_loop_call_soon_threadsafe (remote, cancel_spawned_cb, &c, NULL);
  coop_test_wait_until (coop_future_is_done (result));
  g_assert_true (coop_future_is_cancelled (result));
  g_assert_cmpstr (coop_future_get_error (result)->message, ==, "by its own loop");
  g_assert_true (coop_loop_pool_shutdown (pool, -1, NULL));
}

/* The target loop closes with the request still queued: the caller's
 * future fails with COOP_ERROR_LOOP_CLOSED, user_data is freed once. */
static void
test_spawn_target_closed (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(CoopLoop) other = coop_loop_new (context);
  SpawnCase c = { 0 };
  g_autoptr(CoopFuture) pending = coop_loop_run_task_threadsafe (other, f->loop, NULL,
                                                                 answer_body, &c, spawn_notify);
  g_autoptr(CoopFuture) late = NULL;
  g_autoptr(GError) error = NULL;

  coop_loop_close (other);
  coop_test_wait_until (coop_future_is_done (pending));
  g_assert_false (coop_future_propagate (pending, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_LOOP_CLOSED);
  g_clear_error (&error);
  g_assert_cmpint (c.notified, ==, 1);

  /* Already closed. */
  late = coop_loop_run_task_threadsafe (other, f->loop, NULL, answer_body, &c, spawn_notify);
  coop_test_wait_until (coop_future_is_done (late));
  g_assert_false (coop_future_propagate (late, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_LOOP_CLOSED);
  g_assert_cmpint (c.ran, ==, 0);
  g_assert_cmpint (c.notified, ==, 2);
}

/* A future awaited across loops whose loop closes first. */
static void
test_wrap_target_closed (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(CoopLoop) other = coop_loop_new (context);
  g_autoptr(CoopFuture) remote = coop_future_new (other);
  g_autoptr(CoopFuture) wrapped = coop_future_wrap (remote, f->loop);
  g_autoptr(GError) error = NULL;

  /* The attach request runs, then the loop closes with it pending. */
  while (g_main_context_iteration (context, FALSE))
    ;
  coop_loop_close (other);
  coop_test_wait_until (coop_future_is_done (wrapped));
  g_assert_false (coop_future_propagate (wrapped, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_LOOP_CLOSED);
}

/* The target loop shuts down while the task runs: cancelled both sides. */
static void
test_spawn_target_shutdown (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLoopPool) pool = coop_loop_pool_new (1);
  SpawnCase c = { .home = f->loop };
  g_autoptr(CoopFuture) result = coop_loop_run_task_threadsafe (coop_loop_pool_get_loop (pool, 0),
                                                                f->loop, NULL, wait_forever_body,
                                                                &c, spawn_notify);

  coop_test_wait_until (g_atomic_int_get (&c.ran) == 1);
  g_assert_true (coop_loop_pool_shutdown (pool, -1, NULL));
  g_assert_cmpint (c.cancelled, ==, 1);
  g_assert_cmpint (c.notified, ==, 1);
  coop_test_wait_until (coop_future_is_done (result));
  g_assert_true (coop_future_is_cancelled (result));
}

/* --- many hand-offs --------------------------------------------------------- */

/* 8 loops, each with a task that hands N tasks over to the main loop (a
 * window of them in flight at a time) and awaits each result back: every
 * one comes back, with its own value, in order. */
#define N_LOOPS 8
#define WINDOW 64

typedef struct
{
  CoopLoop *main_loop;
  guint     n;
  gint      done;     /* atomic: hand-offs that came back right */
  gint      wrong;    /* atomic */
} Handoffs;

static void
echo_body (CoopTask *task, gpointer data)
{
  coop_future_set_int64 (COOP_FUTURE (task), GPOINTER_TO_SIZE (data));
}

static void
handoff_body (CoopTask *task, gpointer data)
{
  Handoffs *h = data;
  CoopFuture *window[WINDOW] = { NULL };
  guint sent = 0, received = 0;

  while (received < h->n)
    {
      while (sent < h->n && sent - received < WINDOW)
        {
          window[sent % WINDOW] = coop_loop_run_task_threadsafe (h->main_loop, NULL, NULL,
                                                                 echo_body,
                                                                 GSIZE_TO_POINTER (sent), NULL);
          sent++;
        }
      {
        CoopFuture *next = window[received % WINDOW];

        if (coop_await (next, NULL) && coop_future_get_int64 (next, NULL) == received)
          g_atomic_int_inc (&h->done);
        else
          g_atomic_int_inc (&h->wrong);
        g_object_unref (next);
        received++;
      }
    }
}

static void
test_many_handoffs (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLoopPool) pool = coop_loop_pool_new (N_LOOPS);
  const char *scale = g_getenv ("COOP_STRESS_SCALE");
  const char *count = g_getenv ("COOP_CROSSLOOP_HANDOFFS");
  Handoffs h = { .main_loop = f->loop, .n = g_test_slow () ? 100000 : 10000 };
  CoopFuture *results[N_LOOPS];
  guint i;

  /* Fewer under the sanitizers and valgrind (scripts/check-*.sh). */
  if (scale != NULL)
    h.n = MAX (100, (guint) (h.n * g_ascii_strtod (scale, NULL)));
  if (count != NULL)
    h.n = MAX (1, (guint) g_ascii_strtoull (count, NULL, 10));
  g_test_message ("%u loops x %u hand-offs", N_LOOPS, h.n);
  for (i = 0; i < N_LOOPS; i++)
    results[i] = coop_loop_run_task_threadsafe (coop_loop_pool_get_loop (pool, i), f->loop,
                                                NULL, handoff_body, &h, NULL);
  for (i = 0; i < N_LOOPS; i++)
    {
      while (!coop_future_is_done (results[i]))
        g_main_context_iteration (f->context, TRUE);
      g_assert_true (coop_future_propagate (results[i], NULL));
      g_object_unref (results[i]);
    }
  g_assert_true (coop_loop_pool_shutdown (pool, -1, NULL));
  g_assert_cmpint (h.wrong, ==, 0);
  g_assert_cmpint (h.done, ==, N_LOOPS * h.n);
}

/* --- misuse ------------------------------------------------------------------- */

/* Outside a task, even a future of another loop is refused. */
static void
test_await_outside_task (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(CoopLoop) other = coop_loop_new (context);
  g_autoptr(CoopFuture) remote = coop_future_new (other);
  g_autoptr(GError) error = NULL;

  g_assert_false (coop_await (remote, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NOT_IN_TASK);
  coop_future_set_none (remote);
  coop_loop_close (other);
}

/* Loop-bound calls on a future of a loop that another thread runs are
 * refused with a critical and change nothing. */
typedef struct
{
  CoopLoopPool *pool;
  CoopFuture   *remote;
} WrongThread;

static void
wrong_thread_body (CoopTask *task, gpointer data)
{
  WrongThread *w = data;
  g_autoptr(GError) error = NULL;

  w->remote = remote_future_new (coop_loop_pool_get_loop (w->pool, 0));

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*coop_future_set_int64*another thread*");
  coop_future_set_int64 (w->remote, 1);
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*coop_future_cancel*another thread*");
  g_assert_false (coop_future_cancel (w->remote, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*coop_future_wrap*another thread*");
  g_assert_null (coop_future_wrap (COOP_FUTURE (task),
                                   coop_loop_pool_get_loop (w->pool, 0)));
  g_test_assert_expected_messages ();
  g_assert_false (coop_future_is_done (w->remote));

  /* The thread-safe ways work. */
  coop_future_cancel_threadsafe (w->remote, NULL);
  g_assert_false (coop_await (w->remote, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_wrong_thread (CoopFixture *f, gconstpointer data)
{
  WrongThread w = { .pool = coop_loop_pool_new (1) };

  coop_test_run_task (f->loop, wrong_thread_body, &w, 10 * G_USEC_PER_SEC);
  g_assert_true (coop_loop_pool_shutdown (w.pool, -1, NULL));
  g_object_unref (w.remote);
  g_object_unref (w.pool);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/crossloop/await-remote", test_await_remote);
  coop_test_add ("/coop/crossloop/await-remote-error", test_await_remote_error);
  coop_test_add ("/coop/crossloop/cancel-awaiting-task", test_cancel_awaiting_task);
  coop_test_add ("/coop/crossloop/await-remote-cancelled", test_await_remote_cancelled);
  coop_test_add ("/coop/crossloop/wrap", test_wrap);
  coop_test_add ("/coop/crossloop/wrap-target-closed", test_wrap_target_closed);
  coop_test_add ("/coop/crossloop/spawn-result", test_spawn_result);
  coop_test_add ("/coop/crossloop/spawn-cancel-caller", test_spawn_cancel_caller);
  coop_test_add ("/coop/crossloop/spawn-cancel-before-start", test_spawn_cancel_before_start);
  coop_test_add ("/coop/crossloop/spawn-cancel-remote", test_spawn_cancel_remote);
  coop_test_add ("/coop/crossloop/spawn-target-closed", test_spawn_target_closed);
  coop_test_add ("/coop/crossloop/spawn-target-shutdown", test_spawn_target_shutdown);
  coop_test_add ("/coop/crossloop/many-handoffs", test_many_handoffs);
  coop_test_add ("/coop/crossloop/await-outside-task", test_await_outside_task);
  coop_test_add ("/coop/crossloop/wrong-thread", test_wrong_thread);

  return g_test_run ();
}
