/* coop-dense-task.c: stackless tasks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"

/**
 * CoopDenseTask:
 *
 * A task without a stack of its own: a state machine that the loop steps
 * each time the future it waits for is done.  It is a [class@Coop.Future]
 * like a [class@Coop.Task], so it is awaited, cancelled, put in a
 * [class@Coop.TaskGroup] or bounded by [func@Coop.wait_for] the same way;
 * what differs is how its body is written.
 *
 * A [class@Coop.Task] runs a C function on its own stack and pauses inside
 * [func@Coop.await]: its locals survive the pause because its stack does,
 * which costs at least one touched stack page (4 KiB) per suspended task.
 * A dense task keeps nothing between steps but the state struct it was
 * given, so a suspended one costs its object, the future it waits for and
 * that struct: a few hundred bytes.  For a program with a million mostly
 * idle tasks (connections that wait, timers, watchers) that is the
 * difference between 5 GB and a few hundred MB.
 *
 * The rules:
 *
 * - the step function ([callback@Coop.DenseFunc]) returns the future to
 *   wait for (a reference it gives away), and is called again once that
 *   future is done, with the future as @completed;
 * - locals that must survive a wait live in the state struct
 *   (@user_data), never on the C stack; a `switch` on a state field is the
 *   usual shape;
 * - a step never blocks and never calls [func@Coop.await] (it does not run
 *   in a task: that await fails with %COOP_ERROR_NOT_IN_TASK);
 * - to finish, set the result on `COOP_FUTURE (task)` with a
 *   `coop_future_set_*()` setter, or none, and return %NULL.
 *
 * Cancelling a dense task follows asyncio: the future it waits for is
 * cancelled, and the step sees it done as cancelled.  A step that then
 * returns %NULL without setting a result leaves the task cancelled; one
 * that returns another future goes on (it caught the cancellation).  A
 * cancellation that arrives while no future is awaited (before the first
 * step, or while the next step is queued) is delivered to the next future
 * the step returns, which is cancelled at once; a task cancelled before its
 * first step never runs its function.  A step that is given a future the
 * task's cancellation cancelled and returns another future has caught the
 * cancellation: [method@Coop.DenseTask.is_cancelling], which tells a step
 * that a cancellation was requested, is %FALSE again.
 *
 * Waking a dense task costs what waking a [class@Coop.Task] costs: the
 * future's completion queues one entry on the loop's ready queue, whose
 * dispatch calls the step function (where a task switches stacks).
 */

struct _CoopDenseTask
{
  CoopFuture      parent_instance;

  CoopWaiter      waiter;          /* on the awaited future */
  CoopLoop       *loop;            /* borrowed: the future's loop */
  CoopFuture     *awaiting;        /* owned, while waiting */
  CoopDenseFunc   func;
  gpointer        user_data;
  GDestroyNotify  notify;
  GList           link;            /* in the loop's live dense tasks */
  char           *cancel_message;

  guint           started : 1;
  guint           done : 1;
  guint           step_queued : 1;
  guint           cancel_requested : 1;  /* ever, until done */
  guint           cancel_undelivered : 1; /* not yet passed to an awaited future */
  guint           cancelling_awaited : 1;
  guint           alive_ref : 1;         /* holds a reference on itself */
};

G_DEFINE_FINAL_TYPE (CoopDenseTask, coop_dense_task, COOP_TYPE_FUTURE)

static void dense_step (gpointer data);
static void dense_step_discard (gpointer data);

/* A queued step holds no reference: the task holds itself until done. */
static void
dense_queue_step (CoopDenseTask *task)
{
  if (task->step_queued)
    return;
  task->step_queued = TRUE;
  coop_loop_push_ready (task->loop, dense_step, dense_step_discard, task);
}

static void
dense_wake (CoopWaiter *waiter,
            CoopFuture *future)
{
  dense_queue_step (waiter->data);
}

static void
dense_drop_alive_ref (CoopDenseTask *task)
{
  task->alive_ref = FALSE;
  g_object_unref (task);
}

/* The function will not be called again: settle the result, let go. */
static void
dense_finish (CoopDenseTask *task,
              const char    *cancelled_message)
{
  CoopFuture *future = COOP_FUTURE (task);
  GDestroyNotify notify = task->notify;
  gpointer user_data = task->user_data;

  task->done = TRUE;
  task->notify = NULL;
  task->user_data = NULL;
  coop_loop_unregister_dense_task (task->loop, &task->link);

  coop_future_release (future);
  if (!coop_future_is_done (future))
    {
      if (cancelled_message != NULL)
        coop_future_set_cancelled (future, cancelled_message);
      else if (task->cancel_requested)
        coop_future_set_cancelled (future, task->cancel_message);
      else
        coop_future_set_none (future);
    }

  if (notify != NULL)
    notify (user_data);

  /* A step still queued lets go of the reference when it is dequeued. */
  if (task->alive_ref && !task->step_queued)
    dense_drop_alive_ref (task);
}

static void
dense_fail (CoopDenseTask *task,
            GError        *error)
{
  coop_future_release (COOP_FUTURE (task));
  if (!coop_future_is_done (COOP_FUTURE (task)))
    coop_future_take_error (COOP_FUTURE (task), error);
  else
    g_error_free (error);
  dense_finish (task, NULL);
}

static void
dense_step (gpointer data)
{
  CoopDenseTask *task = data;
  CoopFuture *completed, *next;
  gboolean delivered;

  task->step_queued = FALSE;
  if (G_UNLIKELY (task->done))
    {
      if (task->alive_ref)
        dense_drop_alive_ref (task);
      return;
    }
  if (G_UNLIKELY (!task->started))
    {
      task->started = TRUE;
      if (task->cancel_requested)
        {
          dense_finish (task, NULL);
          return;
        }
    }

  completed = task->awaiting;
  task->awaiting = NULL;
  /* A cancellation passed to the awaited future counts as delivered only
   * if that future ended cancelled; one that finished first leaves it for
   * the next future (asyncio's _must_cancel). */
  delivered = FALSE;
  if (G_UNLIKELY (task->cancel_requested) && !task->cancel_undelivered)
    {
      if (completed != NULL && coop_future_is_cancelled (completed))
        delivered = TRUE;
      else
        task->cancel_undelivered = TRUE;
    }
  /* The step may drop the last outside reference; the task holds itself
   * (alive_ref) until done, so it outlives the call. */
  next = task->func (task, completed, task->user_data);
  if (completed != NULL)
    g_object_unref (completed);
  /* It saw the cancellation and went on: caught, as an except clause
   * around an await would. */
  if (delivered && next != NULL && !task->cancel_undelivered)
    task->cancel_requested = FALSE;

  if (next == NULL)
    {
      if (!task->done)
        dense_finish (task, NULL);
      return;
    }
  if (G_UNLIKELY (task->done))
    {
      g_critical ("CoopDenseTask: a step returned a future after its task was done");
      g_object_unref (next);
      return;
    }
  if (G_UNLIKELY (!COOP_IS_FUTURE (next) || next == COOP_FUTURE (task)))
    {
      g_critical ("CoopDenseTask: a step must return a CoopFuture other than its own task, or NULL");
      if (COOP_IS_FUTURE (next))
        g_object_unref (next);
      dense_fail (task, g_error_new_literal (COOP_ERROR, COOP_ERROR_FAILED,
                                             "The task's step returned an invalid future"));
      return;
    }
  if (G_UNLIKELY (coop_future_loop_unchecked (next) != task->loop))
    {
      g_object_unref (next);
      dense_fail (task, g_error_new_literal (COOP_ERROR, COOP_ERROR_WRONG_LOOP,
                                             "The future belongs to another loop"));
      return;
    }

  task->awaiting = next;
  if (coop_future_done_unchecked (next))
    dense_queue_step (task);
  else
    coop_future_add_waiter (next, &task->waiter);

  /* A cancellation that came while no future was awaited lands here. */
  if (G_UNLIKELY (task->cancel_undelivered) && !task->step_queued)
    {
      task->cancel_undelivered = FALSE;
      task->cancelling_awaited = TRUE;
      g_object_ref (task);
      coop_future_cancel (next, task->cancel_message);
      task->cancelling_awaited = FALSE;
      g_object_unref (task);
    }
}

/* The closed loop threw a queued step away.  A pending task stays on the
 * loop's list, whose walk abandons it. */
static void
dense_step_discard (gpointer data)
{
  CoopDenseTask *task = data;

  task->step_queued = FALSE;
  if (task->done && task->alive_ref)
    dense_drop_alive_ref (task);
}

/* Ends every pending dense task of a closing loop: CANCELLED, the function
 * not called again, one report for all of them. */
void
coop_dense_task_abandon_all (CoopLoop *loop,
                             GQueue   *tasks)
{
  CoopDenseTask *first = NULL;
  guint64 n = 0;

  while (tasks->head != NULL)
    {
      CoopDenseTask *task = g_object_ref (tasks->head->data);

      if (task->awaiting != NULL)
        {
          if (!task->step_queued)
            coop_future_remove_waiter (task->awaiting, &task->waiter);
          g_clear_object (&task->awaiting);
        }
      if (first == NULL)
        first = g_object_ref (task);
      n++;
      dense_finish (task, "The loop was closed");
      g_object_unref (task);
    }
  if (n == 0)
    return;

  {
    g_autofree char *message = NULL;

    message = g_strdup_printf ("%" G_GUINT64_FORMAT " dense task%s destroyed while still pending "
                               "(the loop was closed)", n, n == 1 ? " was" : "s were");
    coop_loop_report_exception (loop, message, COOP_FUTURE (first), NULL);
  }
  g_object_unref (first);
}

/* --- GObject -------------------------------------------------------------------- */

static gboolean
coop_dense_task_real_cancel (CoopFuture *future,
                             const char *message)
{
  CoopDenseTask *task = COOP_DENSE_TASK (future);

  if (task->done)
    return FALSE;
  if (task->cancelling_awaited)      /* came back round a cycle of awaits */
    return TRUE;
  if (!task->cancel_requested)
    {
      task->cancel_requested = TRUE;
      g_free (task->cancel_message);
      task->cancel_message = g_strdup (message);
    }

  /* Waiting, and not woken yet: cancel what it waits for (asyncio does
   * the same), which usually wakes it.  Otherwise the next future it
   * returns gets the cancellation. */
  if (task->awaiting != NULL && !task->step_queued)
    {
      CoopFuture *awaiting = g_object_ref (task->awaiting);

      g_object_ref (task);
      task->cancelling_awaited = TRUE;
      coop_future_cancel (awaiting, message);
      task->cancelling_awaited = FALSE;
      g_object_unref (task);
      g_object_unref (awaiting);
    }
  else
    task->cancel_undelivered = TRUE;
  return TRUE;
}

static void
coop_dense_task_init (CoopDenseTask *task)
{
  task->waiter.func = dense_wake;
  task->waiter.data = task;
}

static void
coop_dense_task_finalize (GObject *object)
{
  CoopDenseTask *task = COOP_DENSE_TASK (object);

  g_assert (task->awaiting == NULL);
  if (task->notify != NULL)
    task->notify (task->user_data);
  g_free (task->cancel_message);

  G_OBJECT_CLASS (coop_dense_task_parent_class)->finalize (object);
}

static void
coop_dense_task_class_init (CoopDenseTaskClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  CoopFutureClass *future_class = COOP_FUTURE_CLASS (klass);

  object_class->finalize = coop_dense_task_finalize;
  future_class->cancel = coop_dense_task_real_cancel;
}

/**
 * coop_dense_task_new: (constructor) (skip)
 * @loop: the loop to run on
 * @func: (scope notified) (closure user_data) (destroy notify): the step
 *   function
 * @user_data: the task's state, passed to every step
 * @notify: (nullable): frees @user_data once the task is done
 *
 * Creates a dense task and queues its first step, which runs on a later
 * dispatch of the loop's ready queue, never inside this call.  The loop
 * keeps the task alive until it is done; drop the returned reference if
 * you do not need the result.
 *
 * Not for language bindings (`(skip)`): their own coroutines (a Python
 * coroutine, a JavaScript async function) are stackless already.
 *
 * Returns: (transfer full): the task
 */
CoopDenseTask *
coop_dense_task_new (CoopLoop       *loop,
                     CoopDenseFunc   func,
                     gpointer        user_data,
                     GDestroyNotify  notify)
{
  CoopDenseTask *task;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  task = coop_future_new_internal (COOP_TYPE_DENSE_TASK, loop);
  task->loop = loop;
  task->func = func;
  task->user_data = user_data;
  task->notify = notify;
  coop_future_hold (COOP_FUTURE (task));

  if (coop_loop_is_closed (loop))
    {
      g_critical ("coop_dense_task_new: the loop is closed");
      task->done = TRUE;
      coop_future_release (COOP_FUTURE (task));
      coop_future_take_error (COOP_FUTURE (task),
                              g_error_new_literal (COOP_ERROR, COOP_ERROR_LOOP_CLOSED, "The loop is closed"));
      coop_future_mark_retrieved (COOP_FUTURE (task));
      return task;
    }

  task->alive_ref = TRUE;
  g_object_ref (task);
  coop_loop_register_dense_task (loop, task, &task->link);
  dense_queue_step (task);
  return task;
}

/**
 * coop_dense_task_is_cancelling:
 * @task: a dense task
 *
 * Whether a cancellation of @task was requested (and the task is not
 * done): a step can check it to stop early, or to know that the future it
 * gets as `completed` was cancelled on the task's behalf.
 *
 * Returns: %TRUE if @task was asked to cancel
 */
gboolean
coop_dense_task_is_cancelling (CoopDenseTask *task)
{
  g_return_val_if_fail (COOP_IS_DENSE_TASK (task), FALSE);

  return task->cancel_requested && !task->done;
}

/**
 * coop_dense_task_get_awaiting:
 * @task: a dense task
 *
 * Gets the future @task waits for: what its last step returned, until the
 * next step runs.
 *
 * Returns: (transfer none) (nullable): the future, or %NULL
 */
CoopFuture *
coop_dense_task_get_awaiting (CoopDenseTask *task)
{
  g_return_val_if_fail (COOP_IS_DENSE_TASK (task), NULL);

  return task->awaiting;
}
