/* coop-task.c: a C function running as a coroutine on the loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <dlfcn.h>

#ifdef HAVE_SYSPROF
# include <sysprof-capture.h>
#endif
#include "coop-private.h"

/**
 * CoopTask:
 *
 * A C function running as a coroutine, as asyncio's `Task`.
 *
 * The function runs on its own stack (a fiber) and may pause at
 * [func@Coop.await] until a future is done, letting the loop run other
 * tasks, callbacks and GLib sources meanwhile.  A task is a
 * [class@Coop.Future]: awaiting it waits for the function to return, and its
 * result is whatever the function set on `COOP_FUTURE (task)`.
 *
 * A task starts on a later dispatch of the loop's ready queue, never inside
 * `coop_task_new()`, and keeps itself alive until it is done, so the
 * caller may drop its reference at once.
 *
 * [method@Coop.Task.cancel] makes the await the task is paused in (or its
 * next one) return %FALSE with `G_IO_ERROR_CANCELLED`, after cancelling the
 * future it awaited.  The task ends %COOP_FUTURE_STATE_CANCELLED if its
 * function then fails it with that error, and takes whatever the function
 * sets otherwise: a task may swallow its cancellation.
 *
 * Task functions are C functions.  Language bindings bring coroutines of
 * their own (Python's asyncio, JavaScript's async functions) and await Coop
 * futures from those; a task whose function is a binding's callback fails
 * with %COOP_ERROR_NOT_SUPPORTED instead of running it on a fiber.
 */

/* struct _CoopTask is in coop-private.h (the loop inlines task steps). */

enum {
  PROP_0,
  PROP_NAME,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (CoopTask, coop_task, COOP_TYPE_FUTURE)

typedef struct
{
  CoopTaskCancelHook func;
  gpointer           data;
  GDestroyNotify     notify;
} CancelHook;

static void
cancel_hook_free (gpointer data)
{
  CancelHook *hook = data;

  if (hook->notify != NULL)
    hook->notify (hook->data);
  g_free (hook);
}

void
coop_task_add_cancel_hook (CoopTask           *task,
                           CoopTaskCancelHook  func,
                           gpointer            data,
                           GDestroyNotify      notify)
{
  CancelHook *hook = g_new (CancelHook, 1);

  hook->func = func;
  hook->data = data;
  hook->notify = notify;
  task->cancel_hooks = g_slist_append (task->cancel_hooks, hook);
}

COOP_TLS CoopTask *coop_current_task;

CoopTask *
coop_task_current_internal (void)
{
  return coop_current_task;
}

/* --- scheduling ------------------------------------------------------------------ */

static void task_step_discard (gpointer data);

/* A queued step holds no reference: a task keeps itself alive until it is
 * done, and task_complete() hands that reference to a step still queued. */
static void
task_queue_step (CoopTask *task)
{
  if (task->step_queued)
    return;
  task->step_queued = TRUE;
  coop_loop_push_ready (task->loop, coop_task_step, task_step_discard, task);
}

void
coop_task_wake (CoopWaiter *waiter,
                CoopFuture *future)
{
  task_queue_step (waiter->data);
}

/* --- recycling -------------------------------------------------------------------
 *
 * A task that finishes with nobody else holding it (the usual
 * spawn-and-forget) would cost a GObject finalization, and the next task a
 * GObject construction: in GLib 2.74 together about 3,000 instructions,
 * three quarters of a task's whole life.  Such a task goes to its loop's
 * pool instead (at most COOP_TASK_POOL_MAX of them), reset, and
 * coop_task_new() hands it out again.  A task anyone still holds, watches
 * (weak references, qdata, a binding's wrapper, a signal handler ever
 * connected) or whose outcome holds resources or an error is finalized
 * as usual. */

static gboolean
task_recycle (CoopTask *task)
{
  CoopFuturePool *pool = coop_future_pool_for_thread (task->loop);

  if (pool == NULL || pool->n_tasks >= COOP_TASK_POOL_MAX ||
      ((CoopLoopHead *) task->loop)->ready.closed || task->cancel_hooks != NULL ||
      task->notify != NULL ||
      !coop_future_reset_if_unused (COOP_FUTURE (task)))
    return FALSE;

  g_clear_pointer (&task->name, g_free);
  g_clear_pointer (&task->cancel_message, g_free);
  task->awaiting = NULL;
  task->func = NULL;
  task->user_data = NULL;
  task->started = FALSE;
  task->done = FALSE;
  task->cancel_requested = FALSE;
  task->n_cancels = 0;
  task->step_queued = FALSE;
  task->cancelling_awaited = FALSE;
  task->alive_ref = FALSE;

  if (pool->tasks == NULL)
    pool->tasks = g_new (CoopFuture *, COOP_TASK_POOL_MAX);
  pool->tasks[pool->n_tasks++] = COOP_FUTURE (task);
  return TRUE;
}

/* A recycled task with its one reference, or NULL. */
static CoopTask *
task_pool_take (CoopLoop *loop)
{
  CoopFuturePool *pool = coop_future_pool_for_thread (loop);

  if (pool == NULL || pool->n_tasks == 0)
    return NULL;
  return (CoopTask *) pool->tasks[--pool->n_tasks];
}

/* Drops the reference a task holds on itself while it runs. */
static void
task_drop_alive_ref (CoopTask *task)
{
  task->alive_ref = FALSE;
  if (task_recycle (task))
    return;
  /* Spawned and forgotten, past what the pool keeps: usually the last
   * reference, and nothing watches it. */
  if (g_atomic_int_get (&G_OBJECT (task)->ref_count) == 1)
    coop_object_unref_last (task);
  else
    g_object_unref (task);
}

/* The function has returned (or will never run): settle the result and
 * let go of everything. */
static void
task_complete (CoopTask *task)
{
  CoopFuture *future = COOP_FUTURE (task);
  GDestroyNotify notify = task->notify;
  gpointer user_data = task->user_data;

  task->done = TRUE;
  task->notify = NULL;
  task->user_data = NULL;
  coop_loop_unregister_task (task->loop, &task->link);
  /* Nothing can be cancelled any more: hooks (which may hold the task) go. */
  g_slist_free_full (g_steal_pointer (&task->cancel_hooks), cancel_hook_free);

  coop_future_release (future);
  if (!coop_future_is_done (future))
    coop_future_set_none (future);

  if (notify != NULL)
    notify (user_data);

  /* A step still queued (the task was abandoned meanwhile) releases the
   * reference when it is dequeued. */
  if (task->alive_ref && !task->step_queued)
    task_drop_alive_ref (task);
}

/* A step dequeued without running: the task is done (it was abandoned
 * with its step queued), or the closed loop threw the step away.  Only a
 * task that is done lets go of its reference: a pending one is still on
 * the loop's list of live tasks, whose walk abandons it, and that list
 * must never hold a task that is gone (the loop walked freed tasks when a
 * closing loop's I/O shutdown woke tasks nobody else held). */
static void
task_step_release (CoopTask *task)
{
  task->step_queued = FALSE;
  if (task->done && task->alive_ref)
    task_drop_alive_ref (task);
}

static void
task_step_discard (gpointer data)
{
  task_step_release (data);
}

static const char *
task_fiber_name (gpointer data)
{
  CoopTask *task = data;

  return task->name != NULL ? task->name : "(unnamed)";
}

static void
task_fiber_main (gpointer data)
{
  CoopTask *task = data;

  task->func (task, task->user_data);
}

/* Function pointers that no loaded object contains were made at run time:
 * they are the closures of a language binding (libffi trampolines), whose
 * interpreter must not run on a fiber stack. */
gboolean
coop_is_static_code (gpointer func)
{
#ifdef HAVE_DL_FIND_OBJECT
  /* O(log n) in the loaded objects, unlike dladdr(), which scans the
   * symbol table of the object containing the address. */
  struct dl_find_object found;

  return _dl_find_object (func, &found) == 0;
#else
  Dl_info info;

  return dladdr (func, &info) != 0;
#endif
}

#ifdef HAVE_SYSPROF
/* Sysprof marks: a task step (from resume to the next pause) and an await
 * (from pause to resume), named after the task, when a profiler collects
 * them (e.g. `sysprof-cli --use-trace-fd`).  Whether one does is asked once
 * per dispatch of the ready queue (coop_marks_refresh()); a step or an
 * await then only reads a thread-local flag. */
COOP_TLS gboolean coop_marks_active;

void
coop_marks_refresh (void)
{
  coop_marks_active = sysprof_collector_is_active ();
}

static void
mark_step (CoopTask *task,
           gint64    begin)
{
  sysprof_collector_mark (begin, SYSPROF_CAPTURE_CURRENT_TIME - begin, "Coop", "task step",
                          task->name != NULL ? task->name : "(unnamed task)");
}

static void
mark_await (CoopTask   *task,
            const char *what,
            gint64      begin)
{
  sysprof_collector_mark_printf (begin, SYSPROF_CAPTURE_CURRENT_TIME - begin, "Coop", "await",
                                 "%s: %s", task->name != NULL ? task->name : "(unnamed task)", what);
}
#endif

void
coop_task_step (gpointer data)
{
  CoopTask *task = data;
  CoopTask *previous;

  if (G_UNLIKELY (task->done))
    {
      task_step_release (task);
      return;
    }
  task->step_queued = FALSE;

  if (!task->started)
    {
      task->started = TRUE;
      if (task->cancel_requested)
        {
          /* Cancelled before it started: the function never runs. */
          coop_future_take_error (COOP_FUTURE (task), coop_cancelled_error_new (task->cancel_message));
          task_complete (task);
          return;
        }
      if (!coop_is_static_code ((gpointer) task->func))
        {
          coop_future_take_error (COOP_FUTURE (task),
                                  g_error_new_literal (COOP_ERROR, COOP_ERROR_NOT_SUPPORTED,
                                                       "A task's function must be C code: a language binding's "
                                                       "callback cannot run on a fiber (use the binding's own "
                                                       "coroutines and await Coop futures there)"));
          task_complete (task);
          return;
        }
      {
        GError *error = NULL;

        /* No stack to be had (address space or mappings exhausted): this
         * task fails, the process goes on. */
        if (!coop_fiber_start (&task->fiber, &error))
          {
            coop_future_take_error (COOP_FUTURE (task), error);
            task_complete (task);
            return;
          }
      }
    }

  previous = coop_current_task;
  coop_current_task = task;
#ifdef HAVE_SYSPROF
  if (G_UNLIKELY (coop_marks_active))
    {
      gint64 begin = SYSPROF_CAPTURE_CURRENT_TIME;

      coop_fiber_resume_inline (&task->fiber);
      mark_step (task, begin);
    }
  else
#endif
    coop_fiber_resume_inline (&task->fiber);
  coop_current_task = previous;

  if (task->fiber.finished && !task->done)
    task_complete (task);
}

/* The end of an inlined step whose function returned. */
void
coop_task_finish_step (CoopTask *task)
{
  task_complete (task);
}

/* --- GObject -------------------------------------------------------------------- */

static gboolean
coop_task_real_cancel (CoopFuture *future,
                       const char *message)
{
  CoopTask *task = COOP_TASK (future);

  if (task->done)
    return FALSE;
  /* Tasks that await each other in a cycle (a deadlock, but a possible
   * one): cancelling the awaited future came back here.  The request is
   * already recorded; going round again recursed until the stack
   * overflowed (found by fuzz-ops). */
  if (task->cancelling_awaited)
    return TRUE;

  task->n_cancels++;
  if (!task->cancel_requested)
    {
      task->cancel_requested = TRUE;
      g_free (task->cancel_message);
      task->cancel_message = g_strdup (message);
    }

  if (G_UNLIKELY (task->cancel_hooks != NULL))
    {
      g_object_ref (task);
      for (GSList *l = task->cancel_hooks; l != NULL; l = l->next)
        {
          CancelHook *hook = l->data;

          hook->func (task, hook->data);
        }
      g_object_unref (task);
    }

  /* Paused in an await that has not been woken yet: cancel what it awaits
   * (asyncio does the same), which usually wakes it.  A child task may
   * take a while to stop; the cancellation is delivered when it has. */
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
  return TRUE;
}

static void
coop_task_init (CoopTask *task)
{
  task->waiter.func = coop_task_wake;
  task->waiter.data = task;
}

static void
coop_task_finalize (GObject *object)
{
  CoopTask *task = COOP_TASK (object);

  /* A task keeps itself alive until done, so there is no fiber left. */
  coop_fiber_clear (&task->fiber);
  if (task->notify != NULL)
    task->notify (task->user_data);
  g_slist_free_full (task->cancel_hooks, cancel_hook_free);
  g_free (task->cancel_message);

  /* The parent's finalize may still report an unread error naming the
   * task: the name goes last. */
  G_OBJECT_CLASS (coop_task_parent_class)->finalize (object);
  g_free (task->name);
}

static void
coop_task_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  CoopTask *task = COOP_TASK (object);

  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, task->name);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_task_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  CoopTask *task = COOP_TASK (object);

  switch (prop_id)
    {
    case PROP_NAME:
      coop_task_set_name (task, g_value_get_string (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_task_class_init (CoopTaskClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  CoopFutureClass *future_class = COOP_FUTURE_CLASS (klass);

  object_class->finalize = coop_task_finalize;
  object_class->get_property = coop_task_get_property;
  object_class->set_property = coop_task_set_property;

  future_class->cancel = coop_task_real_cancel;

  /**
   * CoopTask:name:
   *
   * A name for messages and debugging.
   */
  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL,
                         NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

/* --- public API ---------------------------------------------------------------- */

/**
 * coop_task_new_full: (skip)
 * @loop: the loop to run on
 * @name: (nullable): a name for messages and debugging
 * @stack_size: the stack size in bytes (16 KiB to 1 GiB), or 0 for the
 *   loop's default ([property@Coop.Loop:stack-size])
 * @func: (scope notified) (closure user_data) (destroy notify): the body of
 *   the task, a C function
 * @user_data: data for @func
 * @notify: (nullable): frees @user_data once the task is done
 *
 * Creates a task that runs @func on its own stack.  It starts on a later
 * dispatch of the loop's ready queue.  The stack is taken then; if none
 * can be mapped (the address space or the process's mappings are
 * exhausted), @func never runs and the task fails with
 * `G_IO_ERROR_NO_SPACE`.
 *
 * Like plain futures ([ctor@Coop.Future.new]), tasks are recycled: a task
 * that finishes while nobody else holds it (no references, weak
 * references, qdata or signal handlers), with no error and no result
 * holding resources, goes back to the loop, which may hand it out again,
 * reset to a fresh task, instead of paying for a new GObject.
 *
 * Not for language bindings (`(skip)`): a binding's interpreter must not
 * run on a fiber stack.  Bindings write their coroutines in their own
 * language (a Python coroutine, a JavaScript async function) and bridge
 * them through a [class@Coop.Future] (GJS: `Coop.Future.from_promise()`).
 *
 * Returns: (transfer full): the task
 */
CoopTask *
coop_task_new_full (CoopLoop       *loop,
                    const char     *name,
                    gsize           stack_size,
                    CoopTaskFunc    func,
                    gpointer        user_data,
                    GDestroyNotify  notify)
{
  CoopTask *task;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (stack_size == 0 || stack_size >= 16 * 1024, NULL);
  g_return_val_if_fail (stack_size <= COOP_STACK_SIZE_MAX, NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  task = task_pool_take (loop);
  if (task == NULL)
    task = coop_future_new_internal (COOP_TYPE_TASK, loop);
  task->loop = loop;
  task->func = func;
  task->user_data = user_data;
  task->notify = notify;
  task->name = g_strdup (name);
  /* Its stack is taken at the first step. */
  coop_fiber_init (&task->fiber, coop_loop_get_stack_pool (loop), stack_size, task_fiber_main, task);
  coop_fiber_set_name_func (&task->fiber, task_fiber_name, task);
  task->parent_id = coop_current_task != NULL ? coop_current_task->id : 0;
  task->created_usec = coop_time_coarse ();
  coop_future_hold (COOP_FUTURE (task));

  if (coop_loop_is_closed (loop))
    {
      g_critical ("coop_task_new: the loop is closed");
      task->done = TRUE;
      coop_future_release (COOP_FUTURE (task));
      coop_future_take_error (COOP_FUTURE (task),
                              g_error_new_literal (COOP_ERROR, COOP_ERROR_LOOP_CLOSED, "The loop is closed"));
      coop_future_mark_retrieved (COOP_FUTURE (task));
      return task;
    }

  task->alive_ref = TRUE;
  g_object_ref (task);
  task->id = coop_loop_register_task (loop, task, &task->link);
  task_queue_step (task);
  return task;
}

/**
 * coop_task_new: (skip)
 * @loop: the loop to run on
 * @func: (scope notified) (closure user_data) (destroy notify): the body of
 *   the task, a C function
 * @user_data: data for @func
 * @notify: (nullable): frees @user_data once the task is done
 *
 * Creates a task that runs @func on its own stack, with the loop's default
 * stack size.  It starts on a later dispatch of the loop's ready queue,
 * never inside this call.
 *
 * Not for language bindings (`(skip)`): a binding's interpreter must not
 * run on a fiber stack.  Bindings write their coroutines in their own
 * language (a Python coroutine, a JavaScript async function) and bridge
 * them through a [class@Coop.Future] (GJS: `Coop.Future.from_promise()`).
 *
 * Returns: (transfer full): the task
 */
CoopTask *
coop_task_new (CoopLoop       *loop,
               CoopTaskFunc    func,
               gpointer        user_data,
               GDestroyNotify  notify)
{
  return coop_task_new_full (loop, NULL, 0, func, user_data, notify);
}

/**
 * coop_task_get_current:
 *
 * Gets the task running on the calling thread.
 *
 * Returns: (transfer none) (nullable): the task running on this thread, or
 *   %NULL outside a task
 */
CoopTask *
coop_task_get_current (void)
{
  return coop_current_task;
}

/**
 * coop_task_cancel:
 * @task: a task
 * @message: (nullable): why, for the `G_IO_ERROR_CANCELLED` error
 *
 * Asks @task to stop: the await it is paused in, or its next one, returns
 * %FALSE with `G_IO_ERROR_CANCELLED`, after the awaited future was
 * cancelled in turn.  A task cancelled before it started never runs its
 * function.
 *
 * Call it on the loop's thread.  From another thread, use
 * [method@Coop.Future.cancel_threadsafe], or cancel a #GCancellable bound
 * to the task with [method@Coop.Task.bind_cancellable]; a call from a
 * thread other than the one running the loop is refused with a critical.
 *
 * Returns: %TRUE if @task was not done yet
 */
gboolean
coop_task_cancel (CoopTask   *task,
                  const char *message)
{
  g_return_val_if_fail (COOP_IS_TASK (task), FALSE);
  coop_return_val_if_wrong_thread (task->loop, COOP_INSTEAD_CANCEL, FALSE);

  return coop_future_cancel (COOP_FUTURE (task), message);
}

/**
 * coop_task_is_cancelling:
 * @task: a task
 *
 * Tells whether a cancellation of @task is pending.
 *
 * Returns: whether a cancellation was requested and not yet delivered to
 *   the task at an await
 */
gboolean
coop_task_is_cancelling (CoopTask *task)
{
  g_return_val_if_fail (COOP_IS_TASK (task), FALSE);

  return task->cancel_requested;
}

/**
 * coop_task_set_name:
 * @task: a task
 * @name: (nullable): the new name
 *
 * Names @task, for messages (a stack overflow, an error never retrieved)
 * and debugging.
 */
void
coop_task_set_name (CoopTask   *task,
                    const char *name)
{
  g_return_if_fail (COOP_IS_TASK (task));

  if (g_strcmp0 (task->name, name) == 0)
    return;
  g_free (task->name);
  task->name = g_strdup (name);
  g_object_notify_by_pspec (G_OBJECT (task), properties[PROP_NAME]);
}

/**
 * coop_task_get_name:
 * @task: a task
 *
 * Gets the name of @task.
 *
 * Returns: (nullable): the name of @task
 */
const char *
coop_task_get_name (CoopTask *task)
{
  g_return_val_if_fail (COOP_IS_TASK (task), NULL);

  return task->name;
}

/**
 * coop_task_get_awaiting:
 * @task: a task
 *
 * Gets the future that @task waits for.
 *
 * Returns: (transfer none) (nullable): the future @task is paused on, if any
 */
CoopFuture *
coop_task_get_awaiting (CoopTask *task)
{
  g_return_val_if_fail (COOP_IS_TASK (task), NULL);

  return task->awaiting;
}

/* Pauses the calling task until @future is done.  Inlined into
 * coop_await(), so a resumed task has one `ret` to go before it is back
 * in its own code (see COOP_FIBER_SWITCH_INLINE). */
static inline __attribute__ ((always_inline)) void
wait_until_done (CoopTask   *task,
                 CoopFuture *future)
{
  /* No reference: the caller holds one for the duration of the call. */
  task->awaiting = future;
  coop_future_add_waiter (future, &task->waiter);
#ifdef HAVE_SYSPROF
  if (G_UNLIKELY (coop_marks_active))
    {
      /* Described while it is still pending: what the task waits for. */
      g_autofree char *what = coop_future_describe (future);
      gint64 begin = SYSPROF_CAPTURE_CURRENT_TIME;

      coop_fiber_suspend_inline ();
      mark_await (task, what != NULL ? what : G_OBJECT_TYPE_NAME (future), begin);
    }
  else
#endif
    coop_fiber_suspend_inline ();
  coop_future_remove_waiter (future, &task->waiter);
  task->awaiting = NULL;
  coop_future_pool_note_awaited (future);
}

/* Delivers a pending cancellation: clears it and reports the error.  A
 * result the awaited future holds is thrown away: its undo function (if a
 * primitive set one) gives back what it granted. */
static gboolean
deliver_cancellation (CoopTask    *task,
                      CoopFuture  *awaited,
                      GError     **error)
{
  task->cancel_requested = FALSE;
  if (awaited != NULL)
    {
      /* Its outcome is thrown away: a granted result is given back, and an
       * error counts as read (asyncio reads it when it wakes the task). */
      coop_future_run_undo (awaited);
      if (coop_future_get_state (awaited) == COOP_FUTURE_STATE_FAILED)
        coop_future_mark_retrieved (awaited);
    }
  g_propagate_error (error, coop_cancelled_error_new (task->cancel_message));
  return FALSE;
}

/**
 * coop_await:
 * @future: the future to wait for
 * @error: return location for the future's error
 *
 * Pauses the calling task until @future is done and reports its outcome,
 * like `await` in asyncio; the loop runs everything else meanwhile.  If
 * @future is already done this returns at once, without a switch.  Read the
 * result with the getters of [class@Coop.Future] afterwards.
 *
 * Only C tasks can await (this is for C code; Python and JavaScript await
 * futures in their own languages' coroutines): called anywhere else this
 * fails with %COOP_ERROR_NOT_IN_TASK, and a task awaiting itself with
 * %COOP_ERROR_INVALID_STATE.
 *
 * @future may belong to another loop, running on another thread: its
 * outcome then comes back through this loop's thread-safe queue, and a
 * cancellation of the task goes to @future through its loop's queue (see
 * [method@Coop.Future.wrap]).  Once this returned, the outcome of such a
 * @future does not change: read it with its getters on this thread, but
 * make no other call on it (everything else about a future is bound to its
 * loop's thread).  If the task is cancelled, this returns %FALSE
 * with `G_IO_ERROR_CANCELLED`.
 *
 * Returns: %TRUE if @future finished with a result; %FALSE with @error set
 *   otherwise
 */
gboolean
coop_await (CoopFuture  *future,
            GError     **error)
{
  CoopTask *task = coop_current_task;

  g_return_val_if_fail (COOP_IS_FUTURE (future), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (G_UNLIKELY (task == NULL))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_NOT_IN_TASK,
                           "coop_await() can only be called from inside a C task");
      return FALSE;
    }
  /* A future of another loop: awaited through a future of this one
   * (coop-crossloop.c).  The compare was here before, for the error. */
  if (G_UNLIKELY (coop_future_loop_unchecked (future) != task->loop))
    return coop_crossloop_await (task, future, error);
  if (G_UNLIKELY (future == COOP_FUTURE (task)))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                           "A task cannot await itself");
      return FALSE;
    }
  if (G_UNLIKELY (task->cancel_requested))
    {
      /* As asyncio does with the future a cancelled task yields: cancel it
       * (a queued lock request would otherwise be granted to nobody) and
       * wait until it is done, so what it stands for has stopped. */
      if (!coop_future_done_unchecked (future))
        {
          coop_future_cancel (future, task->cancel_message);
          if (!coop_future_done_unchecked (future))
            wait_until_done (task, future);
        }
      return deliver_cancellation (task, future, error);
    }

  if (!coop_future_done_unchecked (future))
    {
      wait_until_done (task, future);
      if (G_UNLIKELY (task->cancel_requested))
        return deliver_cancellation (task, future, error);
    }

  if (!coop_future_propagate_unchecked (future, error))
    return FALSE;
  /* Delivered: whatever it granted is the task's now. */
  coop_future_clear_undo (future);
  return TRUE;
}

/**
 * coop_yield:
 * @error: return location for an error
 *
 * Lets the loop run everything else that is ready, then resumes the calling
 * task (asyncio's `await asyncio.sleep(0)`).
 *
 * Returns: %TRUE, or %FALSE with @error set outside a task
 *   (%COOP_ERROR_NOT_IN_TASK) or if the task was cancelled
 */
gboolean
coop_yield (GError **error)
{
  CoopTask *task = coop_current_task;

  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (G_UNLIKELY (task == NULL))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_NOT_IN_TASK,
                           "coop_yield() can only be called from inside a C task");
      return FALSE;
    }
  if (G_UNLIKELY (task->cancel_requested))
    return deliver_cancellation (task, NULL, error);

  task_queue_step (task);
  coop_fiber_suspend_inline ();

  if (G_UNLIKELY (task->cancel_requested))
    return deliver_cancellation (task, NULL, error);
  return TRUE;
}

CoopLoop *
coop_task_get_loop_internal (CoopTask *task)
{
  return task->loop;
}

guint
coop_task_get_n_cancels (CoopTask *task)
{
  return task->n_cancels;
}

/* Withdraws one cancellation request (asyncio's Task.uncancel()); once none
 * is left, a cancellation not yet delivered is dropped. */
guint
coop_task_uncancel (CoopTask *task)
{
  if (task->n_cancels > 0)
    task->n_cancels--;
  if (task->n_cancels == 0)
    task->cancel_requested = FALSE;
  return task->n_cancels;
}

/* How many abandoned tasks a summary names. */
#define ABANDON_NAMED 5

static void
append_task_label (GString  *out,
                   CoopTask *task)
{
  if (task->name != NULL)
    g_string_append_printf (out, "'%s'", task->name);
  else
    g_string_append_printf (out, "#%" G_GUINT64_FORMAT " (unnamed)", task->id);
}

/* What COOP_DEBUG_DESTROY_PENDING adds for one task: what it waited for,
 * where it was made and where it stands, while its stack is still there. */
static void
append_abandon_details (GString    *out,
                        CoopTask   *task,
                        const char *indent)
{
  CoopDebugSite *site = coop_future_get_site (COOP_FUTURE (task));
  g_autofree char *frames = g_strconcat (indent, "  ", NULL);

  if (task->awaiting != NULL)
    {
      g_string_append_printf (out, "%sawaiting: ", indent);
      coop_future_append_description (task->awaiting, out, 3);
    }
  if (site != NULL)
    {
      g_autofree char *created = g_strconcat (indent, "created ", NULL);

      coop_debug_site_append (site, out, created);
    }
  coop_task_append_backtrace (task, out, frames);
}

/* Ends a pending task without running it any further: CANCELLED, its
 * frames discarded (not unwound: the function never returns).  The caller
 * holds a reference. */
static void
task_abandon (CoopTask *task)
{
  if (task->awaiting != NULL)
    {
      coop_future_remove_waiter (task->awaiting, &task->waiter);
      task->awaiting = NULL;
    }
  coop_fiber_clear (&task->fiber);

  coop_future_release (COOP_FUTURE (task));
  coop_future_set_cancelled (COOP_FUTURE (task), "The loop was closed");
  task_complete (task);
}

/* Abandons every task on @tasks, the loop's list of live tasks, and
 * reports them to the exception handler in one summary (a million
 * never-started tasks make one line, not a million).  The walk takes the
 * head afresh each time and holds the task it works on, so whatever
 * completing a task runs (notifies, waiters, drops of references) cannot
 * leave it on a task that is gone; every task on the list holds itself
 * (task_step_release()). */
void
coop_task_abandon_all (CoopLoop *loop,
                       GQueue   *tasks)
{
  gboolean details = (coop_loop_get_debug_internal (loop) & COOP_DEBUG_DESTROY_PENDING) != 0;
  g_autoptr(GString) names = g_string_new (NULL);
  g_autoptr(GString) more = details ? g_string_new (NULL) : NULL;
  g_autoptr(GString) single = details ? g_string_new (NULL) : NULL;
  g_autoptr(GString) message = NULL;
  CoopTask *first = NULL;
  guint64 n = 0;

  while (tasks->head != NULL)
    {
      CoopTask *task = g_object_ref (tasks->head->data);

      g_assert (!task->done);
      if (n < ABANDON_NAMED)
        {
          if (n > 0)
            g_string_append (names, ", ");
          append_task_label (names, task);
          if (details)
            {
              g_string_append (more, "\n  ");
              append_task_label (more, task);
              g_string_append (more, ":");
              append_abandon_details (more, task, "\n    ");
              if (n == 0)
                append_abandon_details (single, task, "\n  ");
            }
        }
      if (n == 0)
        first = g_object_ref (task);
      n++;
      task_abandon (task);
      g_object_unref (task);
    }
  if (n == 0)
    return;

  message = g_string_new (NULL);
  if (n == 1)
    {
      g_string_printf (message, "Task %s was destroyed while still pending (its loop was closed)",
                       names->str);
      if (details)
        g_string_append (message, single->str);
    }
  else
    {
      g_string_printf (message, "%" G_GUINT64_FORMAT " tasks were destroyed while still pending "
                       "(their loop was closed): %s", n, names->str);
      if (n > ABANDON_NAMED)
        g_string_append_printf (message, ", ... (the first %u of %" G_GUINT64_FORMAT ")",
                                ABANDON_NAMED, n);
      if (details)
        g_string_append (message, more->str);
    }

  coop_loop_report_exception (loop, message->str, COOP_FUTURE (first), NULL);
  g_object_unref (first);
}

/**
 * coop_task_get_id:
 * @task: a task
 *
 * Gets the number of @task: the tasks of a loop are numbered from 1 in
 * creation order (a task made on a closed loop has number 0).  Task dumps ([method@Coop.Loop.dump_tasks]) name tasks
 * by number (`#12`) as well as by name.
 *
 * Returns: the number of @task
 */
guint64
coop_task_get_id (CoopTask *task)
{
  g_return_val_if_fail (COOP_IS_TASK (task), 0);

  return task->id;
}

guint64
coop_task_get_parent_id (CoopTask *task)
{
  return task->parent_id;
}

gboolean
coop_task_is_step (CoopReadyFunc func,
                   gpointer      data)
{
  return func == coop_task_step;
}

/**
 * coop_task_get_parent:
 * @task: a task
 *
 * Gets the task that created @task (the task that was running when
 * [ctor@Coop.Task.new] was called), if that task is still live: tasks do
 * not keep their parents alive.  This looks through the loop's live tasks,
 * so it is meant for debugging, not for hot paths.
 *
 * Returns: (transfer none) (nullable): the live parent task, or %NULL
 */
CoopTask *
coop_task_get_parent (CoopTask *task)
{
  g_return_val_if_fail (COOP_IS_TASK (task), NULL);

  if (task->parent_id == 0)
    return NULL;
  return coop_loop_find_task (task->loop, task->parent_id);
}

/**
 * coop_task_get_creation_time:
 * @task: a task
 *
 * Gets when @task was created, in microseconds of the monotonic clock
 * (g_get_monotonic_time()), to within a few milliseconds (it is read from
 * the kernel's coarse clock, which is four times cheaper); subtract it
 * from [method@Coop.Loop.time] to get its age.
 *
 * Returns: the creation time of @task
 */
gint64
coop_task_get_creation_time (CoopTask *task)
{
  g_return_val_if_fail (COOP_IS_TASK (task), 0);

  return task->created_usec;
}

/**
 * coop_task_detach:
 * @task: a task
 *
 * Declares that nobody will await @task, on purpose: a fire-and-forget
 * task, or one that a library owns (a [class@Coop.Server] detaches the task
 * of each connection).  Debug mode's never-awaited check
 * (%COOP_DEBUG_NEVER_AWAITED) does not report it.  Nothing else changes: a
 * pending task keeps itself alive until it ends, so the caller may drop
 * its reference right after, and an error nobody reads is still reported
 * (%COOP_DEBUG_NEVER_RETRIEVED and the loop's exception handler).
 *
 * |[<!-- language="C" -->
 * g_autoptr(CoopTask) task = coop_task_new (loop, log_in_background, data, NULL);
 * coop_task_detach (task);
 * ]|
 */
void
coop_task_detach (CoopTask *task)
{
  g_return_if_fail (COOP_IS_TASK (task));

  coop_future_mark_observed (COOP_FUTURE (task));
}

/* For coop-debug.c: the fiber and the state of a task. */
CoopFiber *
coop_task_get_fiber_internal (CoopTask *task,
                              gboolean *started,
                              gboolean *running)
{
  *started = task->started && !task->done;
  *running = task->fiber.running;
  return &task->fiber;
}
