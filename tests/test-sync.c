/* test-sync.c: locks, events, semaphores and barriers, and how each one
 * survives the cancellation of its waiters.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

/* What the tasks of a test share. */
typedef struct
{
  CoopLoop      *loop;
  CoopLock      *lock;
  CoopEvent     *event;
  CoopSemaphore *semaphore;
  CoopBarrier   *barrier;
  GString       *log;
  CoopTask      *victim;     /* cancelled by another task */
  int            holders;    /* inside the critical section now */
  int            max_holders;
} Ctx;

/* One task's view: its number and what it saw. */
typedef struct
{
  Ctx     *ctx;
  int      id;
  int      rounds;
  gint64   index;
  gint64   indices[4];   /* per barrier round */
  GError  *error;
} Worker;

static Ctx *
ctx_new (CoopLoop *loop)
{
  Ctx *ctx = g_new0 (Ctx, 1);

  ctx->loop = loop;
  ctx->log = g_string_new (NULL);
  return ctx;
}

static void
ctx_free (Ctx *ctx)
{
  g_clear_object (&ctx->lock);
  g_clear_object (&ctx->event);
  g_clear_object (&ctx->semaphore);
  g_clear_object (&ctx->barrier);
  g_string_free (ctx->log, TRUE);
  g_free (ctx);
}

static void
worker_free (Worker *worker)
{
  g_clear_error (&worker->error);
  g_free (worker);
}

static Worker *
worker_new (Ctx *ctx,
            int  id)
{
  Worker *worker = g_new0 (Worker, 1);

  worker->ctx = ctx;
  worker->id = id;
  worker->index = -1;
  return worker;
}

/* Starts @n tasks running @body, each with its own Worker (ids 0..n-1). */
static GPtrArray *
spawn (Ctx          *ctx,
       int           n,
       CoopTaskFunc  body,
       Worker     ***workers_out)
{
  GPtrArray *tasks = g_ptr_array_new_with_free_func (g_object_unref);
  Worker **workers = g_new0 (Worker *, n);
  int i;

  for (i = 0; i < n; i++)
    {
      workers[i] = worker_new (ctx, i);
      g_ptr_array_add (tasks, coop_task_new (ctx->loop, body, workers[i], NULL));
    }
  *workers_out = workers;
  return tasks;
}

static void
workers_free (Worker **workers,
              int      n)
{
  int i;

  for (i = 0; i < n; i++)
    worker_free (workers[i]);
  g_free (workers);
}

static void
run_all (Ctx       *ctx,
         GPtrArray *tasks)
{
  guint i;

  for (i = 0; i < tasks->len; i++)
    coop_loop_run_until_complete (ctx->loop, g_ptr_array_index (tasks, i), NULL);
}

/* The critical section: checks that nobody else is in it, lets the others
 * run once, logs the worker's id. */
static void
critical_section (Worker *w)
{
  Ctx *ctx = w->ctx;

  ctx->holders++;
  ctx->max_holders = MAX (ctx->max_holders, ctx->holders);
  g_assert_cmpint (ctx->holders, ==, 1);
  g_string_append_printf (ctx->log, "%d;", w->id);
  g_assert_true (coop_yield (NULL));
  g_assert_cmpint (ctx->holders, ==, 1);
  ctx->holders--;
}

/* A task body: lock, critical section, release; a failure (cancellation)
 * is logged and makes the task end with that error. */
static void
lock_body (CoopTask *task, gpointer data)
{
  Worker *w = data;
  GError *error = NULL;

  if (!coop_lock_lock (w->ctx->lock, &error))
    {
      g_string_append_printf (w->ctx->log, "x%d;", w->id);
      w->error = g_error_copy (error);
      coop_future_take_error (COOP_FUTURE (task), error);
      return;
    }
  g_assert_true (coop_lock_is_locked (w->ctx->lock));
  critical_section (w);
  coop_lock_release (w->ctx->lock);
}

/* ===========================================================================
 * Lock
 * ======================================================================== */

/* acquire/try_acquire/release/is_locked without tasks. */
static void
test_lock_basic (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLock) lock = coop_lock_new (f->loop);
  g_autoptr(CoopFuture) first = NULL;
  g_autoptr(CoopFuture) second = NULL;
  g_autoptr(CoopLoop) loop = NULL;
  gboolean locked = TRUE;

  g_assert_true (COOP_IS_LOCK (lock));
  g_assert_false (coop_lock_is_locked (lock));
  g_object_get (lock, "locked", &locked, "loop", &loop, NULL);
  g_assert_false (locked);
  g_assert_true (loop == f->loop);

  g_assert_true (coop_lock_try_acquire (lock));
  g_assert_true (coop_lock_is_locked (lock));
  g_object_get (lock, "locked", &locked, NULL);
  g_assert_true (locked);
  g_assert_false (coop_lock_try_acquire (lock));
  coop_lock_release (lock);
  g_assert_false (coop_lock_is_locked (lock));

  /* A free lock: the future is finished already, with TRUE. */
  first = coop_lock_acquire (lock);
  g_assert_cmpint (coop_future_get_state (first), ==, COOP_FUTURE_STATE_FINISHED);
  g_assert_true (coop_future_get_boolean (first, NULL));
  g_assert_true (coop_lock_is_locked (lock));

  /* A locked one: pending until released. */
  second = coop_lock_acquire (lock);
  g_assert_false (coop_future_is_done (second));
  coop_lock_release (lock);
  g_assert_true (coop_future_get_boolean (second, NULL));
  g_assert_true (coop_lock_is_locked (lock));   /* handed on, not unlocked */
  coop_lock_release (lock);
  g_assert_false (coop_lock_is_locked (lock));
}

/* g_object_new works without a loop: the thread's default loop. */
static void
test_lock_properties (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLock) lock = g_object_new (COOP_TYPE_LOCK, NULL);
  g_autoptr(CoopLock) other = g_object_new (COOP_TYPE_LOCK, "loop", f->loop, NULL);
  g_autoptr(CoopLoop) loop = NULL;

  g_assert_true (coop_loop_get_default () == f->loop);
  g_object_get (lock, "loop", &loop, NULL);
  g_assert_true (loop == f->loop);
  g_assert_false (coop_lock_is_locked (lock));
  g_assert_true (coop_lock_try_acquire (other));
  coop_lock_release (other);
}

/* Tasks take turns; the critical section sees one holder at a time. */
static void
test_lock_tasks (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker **workers;
  GPtrArray *tasks;

  ctx->lock = coop_lock_new (f->loop);
  tasks = spawn (ctx, 3, lock_body, &workers);
  run_all (ctx, tasks);
  g_assert_cmpstr (ctx->log->str, ==, "0;1;2;");
  g_assert_cmpint (ctx->max_holders, ==, 1);
  g_assert_false (coop_lock_is_locked (ctx->lock));

  g_ptr_array_unref (tasks);
  workers_free (workers, 3);
  ctx_free (ctx);
}

/* Ten tasks queue on a held lock; they get it in the order they asked. */
static void
test_lock_fifo (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker **workers;
  GPtrArray *tasks;

  ctx->lock = coop_lock_new (f->loop);
  g_assert_true (coop_lock_try_acquire (ctx->lock));
  tasks = spawn (ctx, 10, lock_body, &workers);
  coop_test_drain ();
  g_assert_cmpstr (ctx->log->str, ==, "");

  coop_lock_release (ctx->lock);
  run_all (ctx, tasks);
  g_assert_cmpstr (ctx->log->str, ==, "0;1;2;3;4;5;6;7;8;9;");
  g_assert_false (coop_lock_is_locked (ctx->lock));

  g_ptr_array_unref (tasks);
  workers_free (workers, 10);
  ctx_free (ctx);
}

/* release hands the lock to the first waiter: a later try_acquire or
 * acquire cannot take it first. */
static void
test_lock_no_barging (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker **workers;
  GPtrArray *tasks;
  g_autoptr(CoopFuture) late = NULL;

  ctx->lock = coop_lock_new (f->loop);
  g_assert_true (coop_lock_try_acquire (ctx->lock));
  tasks = spawn (ctx, 1, lock_body, &workers);
  coop_test_drain ();

  coop_lock_release (ctx->lock);
  g_assert_true (coop_lock_is_locked (ctx->lock));
  g_assert_false (coop_lock_try_acquire (ctx->lock));
  late = coop_lock_acquire (ctx->lock);
  g_assert_false (coop_future_is_done (late));

  run_all (ctx, tasks);
  g_assert_cmpstr (ctx->log->str, ==, "0;");
  /* The task's release handed the lock to the late future. */
  g_assert_true (coop_future_get_boolean (late, NULL));
  g_assert_true (coop_lock_is_locked (ctx->lock));
  coop_lock_release (ctx->lock);
  g_assert_false (coop_lock_is_locked (ctx->lock));

  g_ptr_array_unref (tasks);
  workers_free (workers, 1);
  ctx_free (ctx);
}

/* Cancelling waiters in the middle of the queue: they leave it, the others
 * keep their order. */
static void
test_lock_cancel_middle (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker **workers;
  GPtrArray *tasks;

  ctx->lock = coop_lock_new (f->loop);
  g_assert_true (coop_lock_try_acquire (ctx->lock));
  tasks = spawn (ctx, 6, lock_body, &workers);
  coop_test_drain ();

  g_assert_true (coop_task_cancel (g_ptr_array_index (tasks, 2), NULL));
  g_assert_true (coop_task_cancel (g_ptr_array_index (tasks, 4), NULL));
  coop_test_drain ();
  g_assert_cmpstr (ctx->log->str, ==, "x2;x4;");
  g_assert_true (coop_lock_is_locked (ctx->lock));

  coop_lock_release (ctx->lock);
  run_all (ctx, tasks);
  g_assert_cmpstr (ctx->log->str, ==, "x2;x4;0;1;3;5;");
  g_assert_true (coop_future_is_cancelled (g_ptr_array_index (tasks, 2)));
  g_assert_true (coop_future_is_cancelled (g_ptr_array_index (tasks, 4)));
  g_assert_error (workers[2]->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (coop_lock_is_locked (ctx->lock));

  g_ptr_array_unref (tasks);
  workers_free (workers, 6);
  ctx_free (ctx);
}

/* The first waiter, cancelled: the lock goes to the second. */
static void
test_lock_cancel_head (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker **workers;
  GPtrArray *tasks;

  ctx->lock = coop_lock_new (f->loop);
  g_assert_true (coop_lock_try_acquire (ctx->lock));
  tasks = spawn (ctx, 2, lock_body, &workers);
  coop_test_drain ();
  coop_task_cancel (g_ptr_array_index (tasks, 0), NULL);
  coop_lock_release (ctx->lock);
  run_all (ctx, tasks);
  g_assert_cmpstr (ctx->log->str, ==, "x0;1;");
  g_assert_false (coop_lock_is_locked (ctx->lock));

  g_ptr_array_unref (tasks);
  workers_free (workers, 2);
  ctx_free (ctx);
}

/* The race: A holds the lock, B waits; A releases (the lock is handed to
 * B) and cancels B before B resumes.  B's await throws the grant away, so
 * the lock must go on to C rather than stay locked forever. */
static void
grant_holder_body (CoopTask *task, gpointer data)
{
  Worker *w = data;
  Ctx *ctx = w->ctx;
  g_autoptr(CoopFuture) go = NULL;

  g_assert_true (coop_lock_lock (ctx->lock, NULL));
  g_string_append (ctx->log, "A:locked;");
  go = coop_event_wait (ctx->event);
  g_assert_true (coop_await (go, NULL));
  coop_lock_release (ctx->lock);
  /* Handed to B, which has not run yet. */
  g_assert_true (coop_lock_is_locked (ctx->lock));
  g_assert_true (coop_task_cancel (ctx->victim, NULL));
  g_string_append (ctx->log, "A:released;");
}

static void
grant_victim_body (CoopTask *task, gpointer data)
{
  Worker *w = data;
  GError *error = NULL;

  if (coop_lock_lock (w->ctx->lock, &error))
    {
      g_string_append (w->ctx->log, "B:locked;");
      coop_lock_release (w->ctx->lock);
      return;
    }
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_string_append (w->ctx->log, "B:cancelled;");
  coop_future_take_error (COOP_FUTURE (task), error);
}

static void
grant_third_body (CoopTask *task, gpointer data)
{
  Worker *w = data;

  g_assert_true (coop_lock_lock (w->ctx->lock, NULL));
  g_string_append (w->ctx->log, "C:locked;");
  coop_lock_release (w->ctx->lock);
}

static void
test_lock_cancel_after_grant (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker *wa = worker_new (ctx, 0), *wb = worker_new (ctx, 1), *wc = worker_new (ctx, 2);
  g_autoptr(CoopTask) a = NULL;
  g_autoptr(CoopTask) b = NULL;
  g_autoptr(CoopTask) c = NULL;

  ctx->lock = coop_lock_new (f->loop);
  ctx->event = coop_event_new (f->loop);
  a = coop_task_new (f->loop, grant_holder_body, wa, NULL);
  b = coop_task_new (f->loop, grant_victim_body, wb, NULL);
  ctx->victim = b;
  coop_test_drain ();
  c = coop_task_new (f->loop, grant_third_body, wc, NULL);
  coop_test_drain ();
  g_assert_cmpstr (ctx->log->str, ==, "A:locked;");

  coop_event_set (ctx->event);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (c), NULL));
  g_assert_cmpstr (ctx->log->str, ==, "A:locked;A:released;B:cancelled;C:locked;");
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (b)));
  g_assert_false (coop_lock_is_locked (ctx->lock));

  worker_free (wa);
  worker_free (wb);
  worker_free (wc);
  ctx_free (ctx);
}

/* The same race with nobody else waiting: the lock ends up free. */
static void
test_lock_cancel_after_grant_alone (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker *wb = worker_new (ctx, 1);
  g_autoptr(CoopTask) b = NULL;

  ctx->lock = coop_lock_new (f->loop);
  g_assert_true (coop_lock_try_acquire (ctx->lock));
  b = coop_task_new (f->loop, grant_victim_body, wb, NULL);
  coop_test_drain ();
  coop_lock_release (ctx->lock);
  coop_task_cancel (b, NULL);
  g_assert_true (coop_lock_is_locked (ctx->lock));
  coop_loop_run_until_complete (f->loop, COOP_FUTURE (b), NULL);
  g_assert_cmpstr (ctx->log->str, ==, "B:cancelled;");
  g_assert_false (coop_lock_is_locked (ctx->lock));

  worker_free (wb);
  ctx_free (ctx);
}

/* The race again, with a task awaiting coop_lock_acquire() itself: the
 * undo runs inside coop_await(). */
static void
raw_acquire_body (CoopTask *task, gpointer data)
{
  Worker *w = data;
  g_autoptr(CoopFuture) future = coop_lock_acquire (w->ctx->lock);
  GError *error = NULL;

  if (!coop_await (future, &error))
    {
      g_string_append (w->ctx->log, "cancelled;");
      coop_future_take_error (COOP_FUTURE (task), error);
      return;
    }
  g_string_append (w->ctx->log, "locked;");
  coop_lock_release (w->ctx->lock);
}

static void
test_lock_raw_await_undo (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker *w = worker_new (ctx, 0);
  g_autoptr(CoopTask) task = NULL;
  g_autoptr(CoopFuture) next = NULL;

  ctx->lock = coop_lock_new (f->loop);
  g_assert_true (coop_lock_try_acquire (ctx->lock));
  task = coop_task_new (f->loop, raw_acquire_body, w, NULL);
  coop_test_drain ();
  next = coop_lock_acquire (ctx->lock);      /* queued behind the task */
  coop_lock_release (ctx->lock);             /* to the task */
  coop_task_cancel (task, NULL);             /* before it resumes */
  g_assert_false (coop_future_is_done (next));
  coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL);
  g_assert_cmpstr (ctx->log->str, ==, "cancelled;");
  g_assert_true (coop_future_get_boolean (next, NULL));
  g_assert_true (coop_lock_is_locked (ctx->lock));
  coop_lock_release (ctx->lock);
  g_assert_false (coop_lock_is_locked (ctx->lock));

  worker_free (w);
  ctx_free (ctx);
}

/* A cancellation already requested when coop_lock_lock() is called: it
 * fails at once and leaves nothing behind, whether the lock is free or
 * held. */
static void
self_cancelled_lock_body (CoopTask *task, gpointer data)
{
  Worker *w = data;
  GError *error = NULL;

  coop_task_cancel (task, NULL);
  g_assert_false (coop_lock_lock (w->ctx->lock, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_string_append (w->ctx->log, "refused;");
  /* Delivered once: the next call works (or waits). */
  g_assert_true (coop_lock_lock (w->ctx->lock, NULL));
  g_string_append (w->ctx->log, "locked;");
  coop_lock_release (w->ctx->lock);
}

static void
test_lock_cancel_before_lock (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker *w = worker_new (ctx, 0);
  g_autoptr(CoopTask) free_task = NULL;
  g_autoptr(CoopTask) held_task = NULL;

  ctx->lock = coop_lock_new (f->loop);
  free_task = coop_task_new (f->loop, self_cancelled_lock_body, w, NULL);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (free_task), NULL));
  g_assert_cmpstr (ctx->log->str, ==, "refused;locked;");
  g_assert_false (coop_lock_is_locked (ctx->lock));

  g_string_truncate (ctx->log, 0);
  g_assert_true (coop_lock_try_acquire (ctx->lock));
  held_task = coop_task_new (f->loop, self_cancelled_lock_body, w, NULL);
  coop_test_drain ();
  g_assert_cmpstr (ctx->log->str, ==, "refused;");
  coop_lock_release (ctx->lock);    /* to the second call, not the refused one */
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (held_task), NULL));
  g_assert_cmpstr (ctx->log->str, ==, "refused;locked;");
  g_assert_false (coop_lock_is_locked (ctx->lock));

  worker_free (w);
  ctx_free (ctx);
}

/* Cancelling an acquire future directly (no task). */
static void
test_lock_cancel_future (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLock) lock = coop_lock_new (f->loop);
  g_autoptr(CoopFuture) first = NULL;
  g_autoptr(CoopFuture) second = NULL;
  g_autoptr(CoopFuture) third = NULL;

  g_assert_true (coop_lock_try_acquire (lock));
  first = coop_lock_acquire (lock);
  second = coop_lock_acquire (lock);
  third = coop_lock_acquire (lock);
  g_assert_true (coop_future_cancel (first, NULL));
  g_assert_true (coop_future_cancel (third, NULL));
  coop_lock_release (lock);
  g_assert_true (coop_future_is_cancelled (first));
  g_assert_true (coop_future_get_boolean (second, NULL));
  coop_lock_release (lock);
  g_assert_true (coop_future_is_cancelled (third));
  g_assert_false (coop_lock_is_locked (lock));
}

static void
lock_outside_body (CoopTask *task, gpointer data)
{
  Worker *w = data;

  g_assert_false (coop_lock_lock (w->ctx->lock, &w->error));
}

/* coop_lock_lock() outside a task, or in a task of another loop, fails
 * without touching the lock. */
static void
test_lock_not_in_task (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLock) lock = coop_lock_new (f->loop);
  g_autoptr(GError) error = NULL;
  GMainContext *other_context = g_main_context_new ();
  CoopLoop *other_loop = coop_loop_new (other_context);
  Ctx *ctx = ctx_new (other_loop);
  Worker *w = worker_new (ctx, 0);
  CoopTask *task;

  g_assert_false (coop_lock_lock (lock, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NOT_IN_TASK);
  g_assert_false (coop_lock_is_locked (lock));

  ctx->lock = g_object_ref (lock);
  task = coop_task_new (other_loop, lock_outside_body, w, NULL);
  while (!coop_future_is_done (COOP_FUTURE (task)))
    g_main_context_iteration (other_context, FALSE);
  g_assert_error (w->error, COOP_ERROR, COOP_ERROR_WRONG_LOOP);
  g_assert_false (coop_lock_is_locked (lock));

  g_object_unref (task);
  worker_free (w);
  ctx_free (ctx);
  coop_loop_close (other_loop);
  g_object_unref (other_loop);
  g_main_context_unref (other_context);
}

/* Releasing a lock that is not locked is a critical, not a crash; the lock
 * stays usable. */
static void
test_lock_release_unlocked (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLock) lock = coop_lock_new (f->loop);

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*coop_lock_release*not locked*");
  coop_lock_release (lock);
  g_test_assert_expected_messages ();
  g_assert_false (coop_lock_is_locked (lock));
  g_assert_true (coop_lock_try_acquire (lock));
  coop_lock_release (lock);
}

static void
test_lock_release_unlocked_subprocess (void)
{
  if (g_test_subprocess ())
    {
      CoopLock *lock = coop_lock_new (coop_loop_get_default ());

      coop_lock_release (lock);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*coop_lock_release*not locked*");
}

/* A lock finalized with waiters cancels them; a granted future keeps the
 * lock alive (its undo may still need it). */
static void
test_lock_finalize_with_waiters (CoopFixture *f, gconstpointer data)
{
  CoopLock *lock = coop_lock_new (f->loop);
  g_autoptr(CoopFuture) granted = coop_lock_acquire (lock);
  g_autoptr(CoopFuture) w1 = coop_lock_acquire (lock);
  g_autoptr(CoopFuture) w2 = coop_lock_acquire (lock);
  gpointer weak = lock;

  g_object_add_weak_pointer (G_OBJECT (lock), &weak);
  g_object_unref (lock);
  g_assert_nonnull (weak);
  g_assert_false (coop_future_is_done (w1));
  g_clear_object (&granted);
  g_assert_null (weak);
  g_assert_true (coop_future_is_cancelled (w1));
  g_assert_true (coop_future_is_cancelled (w2));
}

/* ===========================================================================
 * Event
 * ======================================================================== */

static void
test_event_basic (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopEvent) event = coop_event_new (f->loop);
  g_autoptr(CoopFuture) early = NULL;
  g_autoptr(CoopFuture) early2 = NULL;
  g_autoptr(CoopFuture) now = NULL;
  g_autoptr(CoopFuture) late = NULL;
  g_autoptr(CoopLoop) loop = NULL;
  gboolean is_set = TRUE;

  g_assert_false (coop_event_is_set (event));
  g_object_get (event, "is-set", &is_set, "loop", &loop, NULL);
  g_assert_false (is_set);
  g_assert_true (loop == f->loop);

  early = coop_event_wait (event);
  early2 = coop_event_wait (event);
  g_assert_false (coop_future_is_done (early));
  coop_event_set (event);
  g_assert_true (coop_event_is_set (event));
  g_object_get (event, "is-set", &is_set, NULL);
  g_assert_true (is_set);
  g_assert_true (coop_future_get_boolean (early, NULL));
  g_assert_true (coop_future_get_boolean (early2, NULL));
  coop_event_set (event);    /* again: nothing */

  now = coop_event_wait (event);
  g_assert_true (coop_future_get_boolean (now, NULL));

  coop_event_clear (event);
  g_assert_false (coop_event_is_set (event));
  coop_event_clear (event);  /* again: nothing */
  late = coop_event_wait (event);
  g_assert_false (coop_future_is_done (late));
  coop_event_set (event);
  g_assert_true (coop_future_get_boolean (late, NULL));
}

static void
test_event_properties (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopEvent) event = g_object_new (COOP_TYPE_EVENT, NULL);
  g_autoptr(CoopLoop) loop = NULL;

  g_object_get (event, "loop", &loop, NULL);
  g_assert_true (loop == f->loop);
  g_assert_false (coop_event_is_set (event));
}

static void
event_wait_body (CoopTask *task, gpointer data)
{
  Worker *w = data;
  g_autoptr(CoopFuture) future = coop_event_wait (w->ctx->event);
  GError *error = NULL;

  if (!coop_await (future, &error))
    {
      g_string_append_printf (w->ctx->log, "x%d;", w->id);
      coop_future_take_error (COOP_FUTURE (task), error);
      return;
    }
  g_string_append_printf (w->ctx->log, "%d;", w->id);
}

/* set wakes every waiting task, in order. */
static void
test_event_tasks (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker **workers;
  GPtrArray *tasks;

  ctx->event = coop_event_new (f->loop);
  tasks = spawn (ctx, 5, event_wait_body, &workers);
  coop_test_drain ();
  g_assert_cmpstr (ctx->log->str, ==, "");
  coop_event_set (ctx->event);
  run_all (ctx, tasks);
  g_assert_cmpstr (ctx->log->str, ==, "0;1;2;3;4;");

  g_ptr_array_unref (tasks);
  workers_free (workers, 5);
  ctx_free (ctx);
}

/* set then clear at once: the tasks waiting at the set still wake; a task
 * that starts waiting after the clear waits for the next set. */
static void
test_event_set_clear_race (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker **workers;
  Worker *late_worker = worker_new (ctx, 9);
  GPtrArray *tasks;
  g_autoptr(CoopTask) late = NULL;

  ctx->event = coop_event_new (f->loop);
  tasks = spawn (ctx, 2, event_wait_body, &workers);
  coop_test_drain ();
  coop_event_set (ctx->event);
  coop_event_clear (ctx->event);
  late = coop_task_new (f->loop, event_wait_body, late_worker, NULL);
  run_all (ctx, tasks);
  coop_test_drain ();
  g_assert_cmpstr (ctx->log->str, ==, "0;1;");
  g_assert_false (coop_future_is_done (COOP_FUTURE (late)));

  coop_event_set (ctx->event);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (late), NULL));
  g_assert_cmpstr (ctx->log->str, ==, "0;1;9;");

  g_ptr_array_unref (tasks);
  workers_free (workers, 2);
  worker_free (late_worker);
  ctx_free (ctx);
}

/* A cancelled waiter leaves; the others still wake. */
static void
test_event_cancel (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker **workers;
  GPtrArray *tasks;
  g_autoptr(CoopFuture) direct = NULL;

  ctx->event = coop_event_new (f->loop);
  tasks = spawn (ctx, 3, event_wait_body, &workers);
  coop_test_drain ();
  direct = coop_event_wait (ctx->event);
  coop_task_cancel (g_ptr_array_index (tasks, 1), NULL);
  coop_future_cancel (direct, NULL);
  coop_test_drain ();
  g_assert_cmpstr (ctx->log->str, ==, "x1;");
  coop_event_set (ctx->event);
  run_all (ctx, tasks);
  g_assert_cmpstr (ctx->log->str, ==, "x1;0;2;");
  g_assert_true (coop_future_is_cancelled (g_ptr_array_index (tasks, 1)));
  g_assert_true (coop_future_is_cancelled (direct));

  g_ptr_array_unref (tasks);
  workers_free (workers, 3);
  ctx_free (ctx);
}

static void
test_event_finalize_with_waiters (CoopFixture *f, gconstpointer data)
{
  CoopEvent *event = coop_event_new (f->loop);
  g_autoptr(CoopFuture) w1 = coop_event_wait (event);
  g_autoptr(CoopFuture) w2 = coop_event_wait (event);

  g_object_unref (event);
  g_assert_true (coop_future_is_cancelled (w1));
  g_assert_true (coop_future_is_cancelled (w2));
}

/* ===========================================================================
 * Semaphore
 * ======================================================================== */

static void
test_semaphore_basic (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopSemaphore) semaphore = coop_semaphore_new (f->loop, 2);
  g_autoptr(CoopFuture) first = NULL;
  g_autoptr(CoopFuture) waiting = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopLoop) loop = NULL;
  guint value = 0;
  gboolean bounded = TRUE;

  g_assert_cmpuint (coop_semaphore_get_value (semaphore), ==, 2);
  g_object_get (semaphore, "value", &value, "bounded", &bounded, "loop", &loop, NULL);
  g_assert_cmpuint (value, ==, 2);
  g_assert_false (bounded);
  g_assert_true (loop == f->loop);
  g_assert_false (coop_semaphore_is_locked (semaphore));

  first = coop_semaphore_acquire (semaphore);
  g_assert_true (coop_future_get_boolean (first, NULL));
  g_assert_cmpuint (coop_semaphore_get_value (semaphore), ==, 1);
  g_assert_true (coop_semaphore_try_acquire (semaphore));
  g_assert_cmpuint (coop_semaphore_get_value (semaphore), ==, 0);
  g_assert_true (coop_semaphore_is_locked (semaphore));
  g_assert_false (coop_semaphore_try_acquire (semaphore));

  waiting = coop_semaphore_acquire (semaphore);
  g_assert_false (coop_future_is_done (waiting));
  g_assert_true (coop_semaphore_release (semaphore, &error));
  g_assert_no_error (error);
  /* Handed to the waiter: the value stays 0. */
  g_assert_true (coop_future_get_boolean (waiting, NULL));
  g_assert_cmpuint (coop_semaphore_get_value (semaphore), ==, 0);

  g_assert_true (coop_semaphore_release (semaphore, NULL));
  g_assert_true (coop_semaphore_release (semaphore, NULL));
  g_assert_cmpuint (coop_semaphore_get_value (semaphore), ==, 2);
  /* Unbounded: releasing more raises the value. */
  g_assert_true (coop_semaphore_release (semaphore, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (coop_semaphore_get_value (semaphore), ==, 3);
  g_object_get (semaphore, "value", &value, NULL);
  g_assert_cmpuint (value, ==, 3);
}

static void
test_semaphore_zero (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopSemaphore) semaphore = coop_semaphore_new (f->loop, 0);
  g_autoptr(CoopFuture) waiting = coop_semaphore_acquire (semaphore);

  g_assert_true (coop_semaphore_is_locked (semaphore));
  g_assert_false (coop_future_is_done (waiting));
  g_assert_true (coop_semaphore_release (semaphore, NULL));
  g_assert_true (coop_future_is_done (waiting));
  g_assert_true (coop_semaphore_is_locked (semaphore));
}

/* Bounded: a release beyond the initial value fails and changes nothing. */
static void
test_semaphore_bounded (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopSemaphore) semaphore = coop_semaphore_new_bounded (f->loop, 1);
  g_autoptr(CoopSemaphore) zero = coop_semaphore_new_bounded (f->loop, 0);
  g_autoptr(GError) error = NULL;
  gboolean bounded = FALSE;

  g_object_get (semaphore, "bounded", &bounded, NULL);
  g_assert_true (bounded);
  g_assert_false (coop_semaphore_release (semaphore, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_clear_error (&error);
  g_assert_cmpuint (coop_semaphore_get_value (semaphore), ==, 1);

  g_assert_true (coop_semaphore_try_acquire (semaphore));
  g_assert_true (coop_semaphore_release (semaphore, &error));
  g_assert_no_error (error);
  g_assert_false (coop_semaphore_release (semaphore, NULL));   /* NULL error is fine */
  g_assert_cmpuint (coop_semaphore_get_value (semaphore), ==, 1);

  g_assert_false (coop_semaphore_release (zero, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_assert_cmpuint (coop_semaphore_get_value (zero), ==, 0);
}

static void
test_semaphore_properties (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopSemaphore) plain = g_object_new (COOP_TYPE_SEMAPHORE, NULL);
  g_autoptr(CoopSemaphore) bounded = g_object_new (COOP_TYPE_SEMAPHORE,
                                                   "value", 3, "bounded", TRUE, NULL);
  g_autoptr(CoopLoop) loop = NULL;

  g_object_get (plain, "loop", &loop, NULL);
  g_assert_true (loop == f->loop);
  g_assert_cmpuint (coop_semaphore_get_value (plain), ==, 1);   /* asyncio's default */
  g_assert_cmpuint (coop_semaphore_get_value (bounded), ==, 3);
  g_assert_false (coop_semaphore_release (bounded, NULL));
}

/* Acquire a slot in a task; on failure the future must not stay queued
 * (a cancellation pending before the await leaves it pending). */
static gboolean
semaphore_take (CoopSemaphore *semaphore,
                GError       **error)
{
  g_autoptr(CoopFuture) future = coop_semaphore_acquire (semaphore);

  if (coop_await (future, error))
    return TRUE;
  coop_future_cancel (future, NULL);
  return FALSE;
}

static void
semaphore_body (CoopTask *task, gpointer data)
{
  Worker *w = data;
  Ctx *ctx = w->ctx;
  GError *error = NULL;

  if (!semaphore_take (ctx->semaphore, &error))
    {
      g_string_append_printf (ctx->log, "x%d;", w->id);
      coop_future_take_error (COOP_FUTURE (task), error);
      return;
    }
  ctx->holders++;
  ctx->max_holders = MAX (ctx->max_holders, ctx->holders);
  g_string_append_printf (ctx->log, "%d;", w->id);
  g_assert_true (coop_yield (NULL));
  g_assert_true (coop_yield (NULL));
  ctx->holders--;
  g_assert_true (coop_semaphore_release (ctx->semaphore, NULL));
}

/* At most `value` holders; waiters served in FIFO order; a cancelled
 * waiter leaves the queue. */
static void
test_semaphore_tasks (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker **workers;
  GPtrArray *tasks;

  ctx->semaphore = coop_semaphore_new_bounded (f->loop, 2);
  g_assert_true (coop_semaphore_try_acquire (ctx->semaphore));
  g_assert_true (coop_semaphore_try_acquire (ctx->semaphore));
  tasks = spawn (ctx, 8, semaphore_body, &workers);
  coop_test_drain ();
  g_assert_true (coop_semaphore_is_locked (ctx->semaphore));
  coop_task_cancel (g_ptr_array_index (tasks, 3), NULL);
  coop_test_drain ();
  g_assert_cmpstr (ctx->log->str, ==, "x3;");

  g_assert_true (coop_semaphore_release (ctx->semaphore, NULL));
  g_assert_true (coop_semaphore_release (ctx->semaphore, NULL));
  run_all (ctx, tasks);
  g_assert_cmpstr (ctx->log->str, ==, "x3;0;1;2;4;5;6;7;");
  g_assert_cmpint (ctx->max_holders, ==, 2);
  g_assert_cmpuint (coop_semaphore_get_value (ctx->semaphore), ==, 2);
  g_assert_false (coop_semaphore_is_locked (ctx->semaphore));

  g_ptr_array_unref (tasks);
  workers_free (workers, 8);
  ctx_free (ctx);
}

/* A slot handed to a task that is cancelled before it resumes goes on to
 * the next waiter, then back to the count. */
static void
test_semaphore_cancel_after_grant (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker **workers;
  GPtrArray *tasks;

  ctx->semaphore = coop_semaphore_new_bounded (f->loop, 1);
  g_assert_true (coop_semaphore_try_acquire (ctx->semaphore));
  tasks = spawn (ctx, 2, semaphore_body, &workers);
  coop_test_drain ();
  g_assert_true (coop_semaphore_release (ctx->semaphore, NULL));   /* to task 0 */
  coop_task_cancel (g_ptr_array_index (tasks, 0), NULL);           /* before it runs */
  g_assert_cmpuint (coop_semaphore_get_value (ctx->semaphore), ==, 0);
  run_all (ctx, tasks);
  g_assert_cmpstr (ctx->log->str, ==, "x0;1;");
  g_assert_cmpuint (coop_semaphore_get_value (ctx->semaphore), ==, 1);
  /* Bounded: the slot came back once, not twice. */
  g_assert_false (coop_semaphore_release (ctx->semaphore, NULL));

  g_ptr_array_unref (tasks);
  workers_free (workers, 2);
  ctx_free (ctx);
}

/* A task with a cancellation pending when it awaits a slot: the helper
 * withdraws the pending request, so no slot is ever handed to nobody. */
static void
semaphore_self_cancel_body (CoopTask *task, gpointer data)
{
  Worker *w = data;
  GError *error = NULL;

  coop_task_cancel (task, NULL);
  g_assert_false (semaphore_take (w->ctx->semaphore, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
}

static void
test_semaphore_cancel_before_wait (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker *w = worker_new (ctx, 0);
  g_autoptr(CoopTask) held = NULL;
  g_autoptr(CoopTask) free_slot = NULL;

  ctx->semaphore = coop_semaphore_new (f->loop, 1);
  /* A free slot, taken and given back by the undo. */
  free_slot = coop_task_new (f->loop, semaphore_self_cancel_body, w, NULL);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (free_slot), NULL));
  g_assert_cmpuint (coop_semaphore_get_value (ctx->semaphore), ==, 1);

  /* No free slot: the queued request is withdrawn. */
  g_assert_true (coop_semaphore_try_acquire (ctx->semaphore));
  held = coop_task_new (f->loop, semaphore_self_cancel_body, w, NULL);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (held), NULL));
  g_assert_true (coop_semaphore_release (ctx->semaphore, NULL));
  g_assert_cmpuint (coop_semaphore_get_value (ctx->semaphore), ==, 1);

  worker_free (w);
  ctx_free (ctx);
}

static void
test_semaphore_finalize_with_waiters (CoopFixture *f, gconstpointer data)
{
  CoopSemaphore *semaphore = coop_semaphore_new (f->loop, 0);
  g_autoptr(CoopFuture) w1 = coop_semaphore_acquire (semaphore);
  g_autoptr(CoopFuture) w2 = coop_semaphore_acquire (semaphore);

  g_object_unref (semaphore);
  g_assert_true (coop_future_is_cancelled (w1));
  g_assert_true (coop_future_is_cancelled (w2));
}

/* ===========================================================================
 * Barrier
 * ======================================================================== */

static void
test_barrier_basic (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopBarrier) barrier = coop_barrier_new (f->loop, 3);
  CoopFuture *round[3];
  g_autoptr(CoopLoop) loop = NULL;
  guint parties = 0, n_waiting = 1;
  gboolean broken = TRUE;
  int r, i;

  g_assert_cmpuint (coop_barrier_get_parties (barrier), ==, 3);
  g_assert_cmpuint (coop_barrier_get_n_waiting (barrier), ==, 0);
  g_assert_false (coop_barrier_is_broken (barrier));
  g_object_get (barrier, "parties", &parties, "n-waiting", &n_waiting,
                "broken", &broken, "loop", &loop, NULL);
  g_assert_cmpuint (parties, ==, 3);
  g_assert_cmpuint (n_waiting, ==, 0);
  g_assert_false (broken);
  g_assert_true (loop == f->loop);

  /* Cyclic: two rounds. */
  for (r = 0; r < 2; r++)
    {
      round[0] = coop_barrier_wait (barrier);
      round[1] = coop_barrier_wait (barrier);
      g_assert_false (coop_future_is_done (round[0]));
      g_assert_false (coop_future_is_done (round[1]));
      g_assert_cmpuint (coop_barrier_get_n_waiting (barrier), ==, 2);
      g_object_get (barrier, "n-waiting", &n_waiting, NULL);
      g_assert_cmpuint (n_waiting, ==, 2);
      round[2] = coop_barrier_wait (barrier);
      g_assert_cmpuint (coop_barrier_get_n_waiting (barrier), ==, 0);
      for (i = 0; i < 3; i++)
        {
          g_assert_cmpint (coop_future_get_int64 (round[i], NULL), ==, i);
          g_object_unref (round[i]);
        }
    }
}

static void
test_barrier_one_party (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopBarrier) barrier = coop_barrier_new (f->loop, 1);
  g_autoptr(CoopBarrier) from_props = g_object_new (COOP_TYPE_BARRIER, NULL);
  g_autoptr(CoopFuture) a = coop_barrier_wait (barrier);
  g_autoptr(CoopFuture) b = coop_barrier_wait (from_props);
  g_autoptr(CoopLoop) loop = NULL;

  g_assert_cmpint (coop_future_get_int64 (a, NULL), ==, 0);
  g_assert_cmpint (coop_future_get_int64 (b, NULL), ==, 0);
  g_assert_cmpuint (coop_barrier_get_parties (from_props), ==, 1);
  g_object_get (from_props, "loop", &loop, NULL);
  g_assert_true (loop == f->loop);
}

static void
barrier_body (CoopTask *task, gpointer data)
{
  Worker *w = data;
  Ctx *ctx = w->ctx;
  int r;

  for (r = 0; r < w->rounds; r++)
    {
      g_autoptr(CoopFuture) future = coop_barrier_wait (ctx->barrier);
      GError *error = NULL;

      if (!coop_await (future, &error))
        {
          g_string_append_printf (ctx->log, "x%d;", w->id);
          w->error = error;
          return;
        }
      w->index = coop_future_get_int64 (future, NULL);
      w->indices[r] = w->index;
      g_string_append_printf (ctx->log, "%d:%" G_GINT64_FORMAT ";", w->id, w->index);
      /* Arrive in another order next round. */
      if (w->id == r % 3)
        g_assert_true (coop_yield (NULL));
    }
}

/* Three tasks, three rounds: each round's indices are 0, 1 and 2, in
 * arrival order. */
static void
test_barrier_tasks (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker **workers;
  GPtrArray *tasks;
  int i, r;

  ctx->barrier = coop_barrier_new (f->loop, 3);
  tasks = spawn (ctx, 3, barrier_body, &workers);
  for (i = 0; i < 3; i++)
    workers[i]->rounds = 3;
  run_all (ctx, tasks);
  /* Round 0: they arrive 0, 1, 2.  Later rounds arrive in other orders
   * (the last one of a round runs on at once, the others when woken, and
   * one yields), but each round's indices are 0, 1 and 2. */
  for (i = 0; i < 3; i++)
    g_assert_cmpint (workers[i]->indices[0], ==, i);
  g_assert_cmpint (workers[2]->indices[1], ==, 0);   /* ran on first */
  for (r = 0; r < 3; r++)
    {
      int seen = 0;

      for (i = 0; i < 3; i++)
        seen |= 1 << workers[i]->indices[r];
      g_assert_cmpint (seen, ==, 0x7);
    }
  g_assert_cmpuint (coop_barrier_get_n_waiting (ctx->barrier), ==, 0);

  g_ptr_array_unref (tasks);
  workers_free (workers, 3);
  ctx_free (ctx);
}

/* reset fails the waiting tasks with BROKEN_BARRIER; the barrier works
 * afterwards. */
static void
test_barrier_reset (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker **workers;
  GPtrArray *tasks;
  CoopFuture *round[3];
  int i;

  ctx->barrier = coop_barrier_new (f->loop, 3);
  tasks = spawn (ctx, 2, barrier_body, &workers);
  workers[0]->rounds = workers[1]->rounds = 1;
  coop_test_drain ();
  g_assert_cmpuint (coop_barrier_get_n_waiting (ctx->barrier), ==, 2);
  coop_barrier_reset (ctx->barrier);
  g_assert_cmpuint (coop_barrier_get_n_waiting (ctx->barrier), ==, 0);
  g_assert_false (coop_barrier_is_broken (ctx->barrier));
  run_all (ctx, tasks);
  g_assert_cmpstr (ctx->log->str, ==, "x0;x1;");
  g_assert_error (workers[0]->error, COOP_ERROR, COOP_ERROR_BROKEN_BARRIER);
  g_assert_error (workers[1]->error, COOP_ERROR, COOP_ERROR_BROKEN_BARRIER);

  for (i = 0; i < 3; i++)
    round[i] = coop_barrier_wait (ctx->barrier);
  for (i = 0; i < 3; i++)
    {
      g_assert_cmpint (coop_future_get_int64 (round[i], NULL), ==, i);
      g_object_unref (round[i]);
    }

  g_ptr_array_unref (tasks);
  workers_free (workers, 2);
  ctx_free (ctx);
}

/* abort fails the waiters and every later wait, until reset. */
static void
test_barrier_abort (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker **workers;
  GPtrArray *tasks;
  g_autoptr(CoopFuture) refused = NULL;
  g_autoptr(CoopFuture) again = NULL;
  gboolean broken = FALSE;

  ctx->barrier = coop_barrier_new (f->loop, 2);
  tasks = spawn (ctx, 1, barrier_body, &workers);
  workers[0]->rounds = 1;
  coop_test_drain ();
  coop_barrier_abort (ctx->barrier);
  g_assert_true (coop_barrier_is_broken (ctx->barrier));
  g_object_get (ctx->barrier, "broken", &broken, NULL);
  g_assert_true (broken);
  run_all (ctx, tasks);
  g_assert_error (workers[0]->error, COOP_ERROR, COOP_ERROR_BROKEN_BARRIER);

  refused = coop_barrier_wait (ctx->barrier);
  g_assert_cmpint (coop_future_get_state (refused), ==, COOP_FUTURE_STATE_FAILED);
  g_assert_error (coop_future_get_error (refused), COOP_ERROR, COOP_ERROR_BROKEN_BARRIER);
  g_assert_cmpuint (coop_barrier_get_n_waiting (ctx->barrier), ==, 0);

  coop_barrier_reset (ctx->barrier);
  g_assert_false (coop_barrier_is_broken (ctx->barrier));
  again = coop_barrier_wait (ctx->barrier);
  g_assert_false (coop_future_is_done (again));
  coop_barrier_abort (ctx->barrier);
  g_assert_error (coop_future_get_error (again), COOP_ERROR, COOP_ERROR_BROKEN_BARRIER);

  g_ptr_array_unref (tasks);
  workers_free (workers, 1);
  ctx_free (ctx);
}

/* A cancelled waiter leaves the group: the round needs one more, and the
 * indices stay 0..parties-1. */
static void
test_barrier_cancel (CoopFixture *f, gconstpointer data)
{
  Ctx *ctx = ctx_new (f->loop);
  Worker **workers;
  GPtrArray *tasks;
  GPtrArray *late;
  Worker **late_workers;
  int i;

  ctx->barrier = coop_barrier_new (f->loop, 3);
  tasks = spawn (ctx, 2, barrier_body, &workers);
  workers[0]->rounds = workers[1]->rounds = 1;
  coop_test_drain ();
  g_assert_cmpuint (coop_barrier_get_n_waiting (ctx->barrier), ==, 2);
  coop_task_cancel (g_ptr_array_index (tasks, 0), NULL);
  g_assert_cmpuint (coop_barrier_get_n_waiting (ctx->barrier), ==, 1);
  coop_test_drain ();
  g_assert_cmpstr (ctx->log->str, ==, "x0;");
  g_assert_error (workers[0]->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  late = spawn (ctx, 2, barrier_body, &late_workers);
  for (i = 0; i < 2; i++)
    {
      late_workers[i]->id = 2 + i;
      late_workers[i]->rounds = 1;
    }
  run_all (ctx, late);
  run_all (ctx, tasks);
  /* The last arrival runs on at once; the others resume after it. */
  g_assert_cmpstr (ctx->log->str, ==, "x0;3:2;1:0;2:1;");
  g_assert_cmpuint (coop_barrier_get_n_waiting (ctx->barrier), ==, 0);
  g_assert_false (coop_barrier_is_broken (ctx->barrier));

  g_ptr_array_unref (tasks);
  g_ptr_array_unref (late);
  workers_free (workers, 2);
  workers_free (late_workers, 2);
  ctx_free (ctx);
}

static void
test_barrier_finalize_with_waiters (CoopFixture *f, gconstpointer data)
{
  CoopBarrier *barrier = coop_barrier_new (f->loop, 3);
  g_autoptr(CoopFuture) w1 = coop_barrier_wait (barrier);
  g_autoptr(CoopFuture) w2 = coop_barrier_wait (barrier);

  g_object_unref (barrier);
  g_assert_true (coop_future_is_cancelled (w1));
  g_assert_true (coop_future_is_cancelled (w2));
}

/* ===========================================================================
 * Misuse
 * ======================================================================== */

#define EXPECT_CRITICAL(pattern, stmt)                                    \
  G_STMT_START {                                                          \
    g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, pattern);        \
    stmt;                                                                 \
    g_test_assert_expected_messages ();                                   \
  } G_STMT_END

/* NULL (or a wrong object) everywhere: a critical and a harmless return. */
static void
test_bad_arguments (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLock) lock = coop_lock_new (f->loop);
  g_autoptr(CoopSemaphore) semaphore = coop_semaphore_new (f->loop, 1);
  GError *error = g_error_new_literal (COOP_ERROR, COOP_ERROR_FAILED, "already set");

  EXPECT_CRITICAL ("*COOP_IS_LOOP*", g_assert_null (coop_lock_new (NULL)));
  EXPECT_CRITICAL ("*COOP_IS_LOCK*", g_assert_null (coop_lock_acquire (NULL)));
  EXPECT_CRITICAL ("*COOP_IS_LOCK*", g_assert_false (coop_lock_try_acquire (NULL)));
  EXPECT_CRITICAL ("*COOP_IS_LOCK*", coop_lock_release (NULL));
  EXPECT_CRITICAL ("*COOP_IS_LOCK*", g_assert_false (coop_lock_is_locked (NULL)));
  EXPECT_CRITICAL ("*COOP_IS_LOCK*", g_assert_false (coop_lock_lock (NULL, NULL)));
  EXPECT_CRITICAL ("*COOP_IS_LOCK*", g_assert_false (coop_lock_lock ((CoopLock *) semaphore, NULL)));
  EXPECT_CRITICAL ("*error == NULL*", g_assert_false (coop_lock_lock (lock, &error)));

  EXPECT_CRITICAL ("*COOP_IS_LOOP*", g_assert_null (coop_event_new (NULL)));
  EXPECT_CRITICAL ("*COOP_IS_EVENT*", coop_event_set (NULL));
  EXPECT_CRITICAL ("*COOP_IS_EVENT*", coop_event_clear (NULL));
  EXPECT_CRITICAL ("*COOP_IS_EVENT*", g_assert_false (coop_event_is_set (NULL)));
  EXPECT_CRITICAL ("*COOP_IS_EVENT*", g_assert_null (coop_event_wait (NULL)));

  EXPECT_CRITICAL ("*COOP_IS_LOOP*", g_assert_null (coop_semaphore_new (NULL, 1)));
  EXPECT_CRITICAL ("*COOP_IS_LOOP*", g_assert_null (coop_semaphore_new_bounded (NULL, 1)));
  EXPECT_CRITICAL ("*COOP_IS_SEMAPHORE*", g_assert_null (coop_semaphore_acquire (NULL)));
  EXPECT_CRITICAL ("*COOP_IS_SEMAPHORE*", g_assert_false (coop_semaphore_try_acquire (NULL)));
  EXPECT_CRITICAL ("*COOP_IS_SEMAPHORE*", g_assert_false (coop_semaphore_release (NULL, NULL)));
  EXPECT_CRITICAL ("*error == NULL*", g_assert_false (coop_semaphore_release (semaphore, &error)));
  EXPECT_CRITICAL ("*COOP_IS_SEMAPHORE*", g_assert_cmpuint (coop_semaphore_get_value (NULL), ==, 0));
  EXPECT_CRITICAL ("*COOP_IS_SEMAPHORE*", g_assert_false (coop_semaphore_is_locked (NULL)));

  EXPECT_CRITICAL ("*COOP_IS_LOOP*", g_assert_null (coop_barrier_new (NULL, 2)));
  EXPECT_CRITICAL ("*parties > 0*", g_assert_null (coop_barrier_new (f->loop, 0)));
  EXPECT_CRITICAL ("*COOP_IS_BARRIER*", g_assert_null (coop_barrier_wait (NULL)));
  EXPECT_CRITICAL ("*COOP_IS_BARRIER*", coop_barrier_reset (NULL));
  EXPECT_CRITICAL ("*COOP_IS_BARRIER*", coop_barrier_abort (NULL));
  EXPECT_CRITICAL ("*COOP_IS_BARRIER*", g_assert_cmpuint (coop_barrier_get_parties (NULL), ==, 0));
  EXPECT_CRITICAL ("*COOP_IS_BARRIER*", g_assert_cmpuint (coop_barrier_get_n_waiting (NULL), ==, 0));
  EXPECT_CRITICAL ("*COOP_IS_BARRIER*", g_assert_false (coop_barrier_is_broken (NULL)));

  /* Nothing changed. */
  g_assert_false (coop_lock_is_locked (lock));
  g_assert_cmpuint (coop_semaphore_get_value (semaphore), ==, 1);
  g_error_free (error);
}

/* ===========================================================================
 * Stress
 * ======================================================================== */

#define STRESS_TASKS  1000
#define STRESS_CYCLES 100

typedef struct
{
  CoopLock  *lock;
  GRand     *rand;
  CoopTask **tasks;
  int        holders;
  int        n_done;
  int        n_locked;
  int        n_refused;
  int        n_cancels;
} Stress;

static void
stress_worker (CoopTask *task, gpointer data)
{
  Stress *s = data;
  int i;

  for (i = 0; i < STRESS_CYCLES; i++)
    {
      GError *error = NULL;

      if (g_rand_int_range (s->rand, 0, 4) == 0 && !coop_yield (&error))
        {
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          g_clear_error (&error);
        }
      if (!coop_lock_lock (s->lock, &error))
        {
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          g_clear_error (&error);
          s->n_refused++;
          continue;
        }
      g_assert_cmpint (++s->holders, ==, 1);
      if (g_rand_int_range (s->rand, 0, 3) == 0 && !coop_yield (&error))
        {
          /* Cancelled while holding the lock: still ours to release. */
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          g_clear_error (&error);
        }
      g_assert_cmpint (s->holders, ==, 1);
      s->holders--;
      s->n_locked++;
      coop_lock_release (s->lock);
    }
  s->n_done++;
}

static void
stress_canceller (CoopTask *task, gpointer data)
{
  Stress *s = data;

  while (s->n_done < STRESS_TASKS)
    {
      if (g_rand_int_range (s->rand, 0, 4) == 0)
        {
          CoopTask *victim = s->tasks[g_rand_int_range (s->rand, 0, STRESS_TASKS)];

          if (coop_task_cancel (victim, "chaos"))
            s->n_cancels++;
        }
      g_assert_true (coop_yield (NULL));
    }
}

/* 1,000 tasks × 100 lock/unlock cycles with random yields and random
 * cancellations: never two holders, and at the end the lock is free with
 * nobody waiting. */
static void
test_lock_stress (CoopFixture *f, gconstpointer data)
{
  Stress s = { 0 };
  g_autoptr(CoopTask) canceller = NULL;
  g_autoptr(CoopFuture) after = NULL;
  int i;

  s.lock = coop_lock_new (f->loop);
  s.rand = g_rand_new_with_seed (g_test_rand_int ());
  s.tasks = g_new0 (CoopTask *, STRESS_TASKS);
  for (i = 0; i < STRESS_TASKS; i++)
    s.tasks[i] = coop_task_new (f->loop, stress_worker, &s, NULL);
  canceller = coop_task_new (f->loop, stress_canceller, &s, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (canceller), NULL));
  for (i = 0; i < STRESS_TASKS; i++)
    {
      g_assert_true (coop_future_is_done (COOP_FUTURE (s.tasks[i])));
      g_object_unref (s.tasks[i]);
    }
  g_test_message ("%d acquisitions, %d refused by %d cancellations",
                  s.n_locked, s.n_refused, s.n_cancels);
  g_assert_cmpint (s.n_done, ==, STRESS_TASKS);
  g_assert_cmpint (s.n_locked + s.n_refused, ==, STRESS_TASKS * STRESS_CYCLES);
  g_assert_cmpint (s.n_cancels, >, 0);
  g_assert_cmpint (s.holders, ==, 0);

  /* Free, and nobody waits: acquire is granted at once. */
  g_assert_false (coop_lock_is_locked (s.lock));
  after = coop_lock_acquire (s.lock);
  g_assert_true (coop_future_is_done (after));
  coop_lock_release (s.lock);
  g_assert_false (coop_lock_is_locked (s.lock));

  g_free (s.tasks);
  g_rand_free (s.rand);
  g_object_unref (s.lock);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/sync/lock/basic", test_lock_basic);
  coop_test_add ("/coop/sync/lock/properties", test_lock_properties);
  coop_test_add ("/coop/sync/lock/tasks", test_lock_tasks);
  coop_test_add ("/coop/sync/lock/fifo", test_lock_fifo);
  coop_test_add ("/coop/sync/lock/no-barging", test_lock_no_barging);
  coop_test_add ("/coop/sync/lock/cancel-middle", test_lock_cancel_middle);
  coop_test_add ("/coop/sync/lock/cancel-head", test_lock_cancel_head);
  coop_test_add ("/coop/sync/lock/cancel-after-grant", test_lock_cancel_after_grant);
  coop_test_add ("/coop/sync/lock/cancel-after-grant-alone", test_lock_cancel_after_grant_alone);
  coop_test_add ("/coop/sync/lock/raw-await-undo", test_lock_raw_await_undo);
  coop_test_add ("/coop/sync/lock/cancel-before-lock", test_lock_cancel_before_lock);
  coop_test_add ("/coop/sync/lock/cancel-future", test_lock_cancel_future);
  coop_test_add ("/coop/sync/lock/not-in-task", test_lock_not_in_task);
  coop_test_add ("/coop/sync/lock/release-unlocked", test_lock_release_unlocked);
  g_test_add_func ("/coop/sync/lock/release-unlocked-subprocess", test_lock_release_unlocked_subprocess);
  coop_test_add ("/coop/sync/lock/finalize-with-waiters", test_lock_finalize_with_waiters);
  coop_test_add ("/coop/sync/lock/stress", test_lock_stress);

  coop_test_add ("/coop/sync/event/basic", test_event_basic);
  coop_test_add ("/coop/sync/event/properties", test_event_properties);
  coop_test_add ("/coop/sync/event/tasks", test_event_tasks);
  coop_test_add ("/coop/sync/event/set-clear-race", test_event_set_clear_race);
  coop_test_add ("/coop/sync/event/cancel", test_event_cancel);
  coop_test_add ("/coop/sync/event/finalize-with-waiters", test_event_finalize_with_waiters);

  coop_test_add ("/coop/sync/semaphore/basic", test_semaphore_basic);
  coop_test_add ("/coop/sync/semaphore/zero", test_semaphore_zero);
  coop_test_add ("/coop/sync/semaphore/bounded", test_semaphore_bounded);
  coop_test_add ("/coop/sync/semaphore/properties", test_semaphore_properties);
  coop_test_add ("/coop/sync/semaphore/tasks", test_semaphore_tasks);
  coop_test_add ("/coop/sync/semaphore/cancel-after-grant", test_semaphore_cancel_after_grant);
  coop_test_add ("/coop/sync/semaphore/cancel-before-wait", test_semaphore_cancel_before_wait);
  coop_test_add ("/coop/sync/semaphore/finalize-with-waiters", test_semaphore_finalize_with_waiters);

  coop_test_add ("/coop/sync/barrier/basic", test_barrier_basic);
  coop_test_add ("/coop/sync/barrier/one-party", test_barrier_one_party);
  coop_test_add ("/coop/sync/barrier/tasks", test_barrier_tasks);
  coop_test_add ("/coop/sync/barrier/reset", test_barrier_reset);
  coop_test_add ("/coop/sync/barrier/abort", test_barrier_abort);
  coop_test_add ("/coop/sync/barrier/cancel", test_barrier_cancel);
  coop_test_add ("/coop/sync/barrier/finalize-with-waiters", test_barrier_finalize_with_waiters);

  coop_test_add ("/coop/sync/bad-arguments", test_bad_arguments);

  return g_test_run ();
}
