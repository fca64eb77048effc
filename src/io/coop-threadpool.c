/* coop-threadpool.c: blocking functions on a thread pool, awaited on the loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"

/*
 * How it fits together
 *
 * Each loop gets one GThreadPool, made on first use and kept in an
 * "executor" hung on the loop as qdata, so it goes when the loop is
 * finalized.  A job holds a reference on the loop, its future and the
 * GCancellable handed to the function.  The worker runs the function,
 * then hands the job back to the loop's thread with
 * coop_loop_call_soon_threadsafe(); everything that touches the future
 * (completing it, dropping a late result, dropping the reference) happens
 * there.  Because every job holds the loop, the loop (and with it the
 * pool) cannot be finalized while a job is queued or running.
 *
 * If the loop was closed before the job came back, nothing can run on its
 * thread any more: coop_loop_call_soon_threadsafe() drops the item and
 * runs its notify, job_free(), at once on the worker, which so releases
 * the job itself (the future stays pending, as every other future of a
 * closed loop).  If the loop is closed with the item queued, closing
 * discards it and job_free() runs on the loop's thread.
 *
 * The future is a private subclass whose cancel vfunc resolves it at once
 * and trips the job's GCancellable.  It holds no pointer to the job, so a
 * job released on a worker leaves nothing dangling behind.
 */

/* --- the future ---------------------------------------------------------------- */

#define COOP_TYPE_THREAD_FUTURE (coop_thread_future_get_type ())
G_DECLARE_FINAL_TYPE (CoopThreadFuture, coop_thread_future, COOP, THREAD_FUTURE, CoopFuture)

struct _CoopThreadFuture
{
  CoopFuture    parent_instance;
  GCancellable *cancellable;
};

G_DEFINE_FINAL_TYPE (CoopThreadFuture, coop_thread_future, COOP_TYPE_FUTURE)

static gboolean
coop_thread_future_cancel (CoopFuture *future,
                           const char *message)
{
  CoopThreadFuture *self = COOP_THREAD_FUTURE (future);

  /* Resolved at once; the function learns about it through its
   * cancellable and may stop early, but its thread runs to the end. */
  coop_future_set_cancelled (future, message);
  g_cancellable_cancel (self->cancellable);
  return TRUE;
}

static void
coop_thread_future_finalize (GObject *object)
{
  g_clear_object (&COOP_THREAD_FUTURE (object)->cancellable);

  G_OBJECT_CLASS (coop_thread_future_parent_class)->finalize (object);
}

static void
coop_thread_future_init (CoopThreadFuture *self)
{
}

static void
coop_thread_future_class_init (CoopThreadFutureClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = coop_thread_future_finalize;
  COOP_FUTURE_CLASS (klass)->cancel = coop_thread_future_cancel;
}

/* --- the executor: one pool per loop ---------------------------------------------- */

typedef struct
{
  GThreadPool *pool;          /* made on first use, let go by a shutdown */
  guint        max_threads;
  guint        n_jobs;        /* handed out, not yet back (loop thread only) */
} Executor;

/* The executor whose job this worker thread is running, if any: a pool
 * must not wait for its own threads. */
static COOP_TLS Executor *current_executor;

static GQuark
executor_quark (void)
{
  static GQuark quark;

  if (G_UNLIKELY (quark == 0))
    quark = g_quark_from_static_string ("coop-executor");
  return quark;
}

static guint
default_max_threads (void)
{
  /* Python's ThreadPoolExecutor: min(32, cpus + 4). */
  return MIN (32, g_get_num_processors () + 4);
}

static void
executor_free (gpointer data)
{
  Executor *executor = data;

  /* Every job holds the loop, so no job is queued or running when the
   * loop goes -- except the one whose release dropped the last reference,
   * which may be a worker thread of this very pool: that one must not wait
   * for itself (the pool frees itself when its last thread is idle). */
  if (executor->pool != NULL)
    g_thread_pool_free (executor->pool, FALSE, current_executor != executor);
  g_free (executor);
}

static Executor *
executor_get (CoopLoop *loop)
{
  Executor *executor;

  executor = g_object_get_qdata (G_OBJECT (loop), executor_quark ());
  if (executor == NULL)
    {
      executor = g_new0 (Executor, 1);
      executor->max_threads = default_max_threads ();
      g_object_set_qdata_full (G_OBJECT (loop), executor_quark (), executor, executor_free);
    }
  return executor;
}

/* --- jobs --------------------------------------------------------------------------- */

typedef struct
{
  CoopLoop       *loop;          /* a reference */
  Executor       *executor;      /* the loop's, which the reference keeps */
  CoopFuture     *future;        /* a reference; used on the loop's thread only */
  GCancellable   *cancellable;   /* a reference */
  CoopThreadFunc  func;
  gpointer        user_data;
  GDestroyNotify  notify;
  GValue          result;
  GError         *error;
  gboolean        ran;
  gboolean        ok;
} Job;

static void
job_free (gpointer data)
{
  Job *job = data;
  GDestroyNotify notify = job->notify;

  job->notify = NULL;
  if (notify != NULL)
    notify (job->user_data);
  if (G_IS_VALUE (&job->result))
    g_value_unset (&job->result);
  g_clear_error (&job->error);
  g_clear_object (&job->cancellable);
  g_clear_object (&job->future);
  /* Last: this may be the loop's last reference. */
  g_clear_object (&job->loop);
  g_free (job);
}

/* A shutdown waits for the last job to come back (asyncio's
 * shutdown_default_executor()). */
static void
job_back (Job *job)
{
  CoopShutdown *shutdown;

  if (job->executor->n_jobs == 0 &&
      (shutdown = coop_loop_get_shutdown_internal (job->loop)) != NULL)
    coop_shutdown_check (shutdown);
}

/* On the loop's thread, after the function returned (or was skipped). */
static void
job_complete (gpointer data)
{
  Job *job = data;
  CoopFuture *future = job->future;

  job->executor->n_jobs--;
  if (coop_future_is_done (future))
    {
      /* Cancelled meanwhile: the late result is dropped by job_free(). */
      job_back (job);
      return;
    }

  if (!job->ran)
    coop_future_set_cancelled (future, NULL);
  else if (!job->ok)
    {
      if (job->error == NULL)
        job->error = g_error_new_literal (COOP_ERROR, COOP_ERROR_FAILED,
                                          "The thread function failed without setting an error");
      coop_future_take_error (future, g_steal_pointer (&job->error));
    }
  else if (G_IS_VALUE (&job->result))
    coop_future_set_value (future, &job->result);
  else
    coop_future_set_none (future);
  job_back (job);
}

static void
job_run (gpointer data,
         gpointer pool_data)
{
  Job *job = data;

  coop_tsan_acquire (job);
  current_executor = pool_data;

  /* Cancelled (or the loop closed) before it started: never run it. */
  if (!g_cancellable_is_cancelled (job->cancellable) && !coop_loop_is_closed (job->loop))
    {
      GError *error = NULL;

      job->ok = job->func (job->user_data, job->cancellable, &job->result, &error);
      job->ran = TRUE;
      if (job->ok && error != NULL)
        {
          g_warning ("A CoopThreadFunc returned TRUE but set an error: %s", error->message);
          g_clear_error (&error);
        }
      job->error = error;
    }

  /* Back to the loop's thread.  On a closed loop the item is dropped and
   * job_free() runs here, at once (checked under the loop's lock, so there
   * is no window between a check and the call). */
  coop_loop_call_soon_threadsafe (job->loop, job_complete, job, job_free);

  current_executor = NULL;
}

/* --- public API ----------------------------------------------------------------- */

static void
thread_future_describe (CoopFuture *future,
                        gpointer    data,
                        GString    *out)
{
  g_string_append (out, "thread pool job ");
  coop_debug_append_code (out, data);
}

/**
 * coop_loop_run_in_thread:
 * @loop: a loop
 * @func: (scope notified) (closure user_data) (destroy notify): the blocking
 *   function to run on a worker thread
 * @user_data: data for @func
 * @notify: (nullable): frees @user_data once @func has returned (or will
 *   never run)
 *
 * Runs @func on a worker thread of the loop's thread pool and returns a
 * future of its outcome, as asyncio's `loop.run_in_executor()`.  Await it
 * from a task, or watch it like any future: it is completed on the loop's
 * thread, never from the worker.
 *
 * - If @func returns %TRUE, the future finishes with the value @func put in
 *   its `result` argument, or with no value if it left it unset.
 * - If @func returns %FALSE, the future fails with the error it set
 *   (`G_IO_ERROR_CANCELLED` makes it cancelled).
 *
 * Cancelling the future resolves it %COOP_FUTURE_STATE_CANCELLED at once
 * and cancels the #GCancellable given to @func, whose `cancelled` handlers
 * therefore run on the loop's thread.  A thread cannot be interrupted:
 * @func runs to its end (or stops early if it watches its cancellable),
 * and what it returns then is dropped.  If the future is cancelled before
 * @func started, @func is not called at all.
 *
 * @notify runs exactly once, on the loop's thread, after @func has
 * returned (or once it is known that @func will never run).  The one
 * exception is a loop closed while @func runs: nothing runs on the loop's
 * thread any more, so @notify runs on the worker thread and the future
 * stays pending, like every other future of a closed loop.  Jobs that
 * have not started when the loop is closed are not run.
 *
 * At most [method@Coop.Loop.get_max_threads] functions of a loop run at the
 * same time; the others wait in FIFO order.  The pool is made on first use.
 *
 * From a binding, @func is called on a worker thread (PyGObject takes the
 * interpreter lock there), with a #GValue to fill in for the result.  GJS
 * cannot run JavaScript on another thread: its `Coop` override makes this
 * method throw %COOP_ERROR_NOT_SUPPORTED.
 *
 * Returns: (transfer full): a future of the outcome of @func
 */
CoopFuture *
coop_loop_run_in_thread (CoopLoop       *loop,
                         CoopThreadFunc  func,
                         gpointer        user_data,
                         GDestroyNotify  notify)
{
  CoopThreadFuture *future;
  Executor *executor;
  Job *job;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (func != NULL, NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  future = coop_future_new_internal (COOP_TYPE_THREAD_FUTURE, loop);
  future->cancellable = g_cancellable_new ();
  coop_future_set_describe (COOP_FUTURE (future), thread_future_describe, (gpointer) func);

  if (coop_loop_is_closed (loop))
    {
      g_critical ("coop_loop_run_in_thread: the loop is closed");
      if (notify != NULL)
        notify (user_data);
      coop_future_take_error (COOP_FUTURE (future),
                              g_error_new_literal (COOP_ERROR, COOP_ERROR_LOOP_CLOSED, "The loop is closed"));
      coop_future_mark_retrieved (COOP_FUTURE (future));
      return COOP_FUTURE (future);
    }

  executor = executor_get (loop);
  if (executor->pool == NULL)
    {
      GError *error = NULL;

      /* Shared (non-exclusive) threads: idle ones go back to GLib's common
       * pool instead of sitting there per loop. */
      executor->pool = g_thread_pool_new (job_run, executor, (int) executor->max_threads, FALSE, &error);
      g_assert_no_error (error);   /* non-exclusive pools never fail */
    }

  job = g_new0 (Job, 1);
  job->loop = g_object_ref (loop);
  job->executor = executor;
  executor->n_jobs++;
  job->future = g_object_ref (COOP_FUTURE (future));
  job->cancellable = g_object_ref (future->cancellable);
  job->func = func;
  job->user_data = user_data;
  job->notify = notify;

  /* The worker thread reads the job (and what the caller wrote before). */
  coop_tsan_release (job);
  g_thread_pool_push (executor->pool, job, NULL);
  return COOP_FUTURE (future);
}

/**
 * coop_loop_set_max_threads:
 * @loop: a loop
 * @max_threads: how many functions may run at the same time, at least 1
 *
 * Sets the size of the thread pool of [method@Coop.Loop.run_in_thread].
 * The default is `MIN (32, number of processors + 4)`, as Python's
 * `ThreadPoolExecutor`.  Growing it starts waiting functions at once;
 * shrinking it lets running functions finish.  Call it on the loop's
 * thread.
 */
void
coop_loop_set_max_threads (CoopLoop *loop,
                           guint     max_threads)
{
  Executor *executor;

  g_return_if_fail (COOP_IS_LOOP (loop));
  g_return_if_fail (max_threads >= 1 && max_threads <= G_MAXINT);

  executor = executor_get (loop);
  executor->max_threads = max_threads;
  if (executor->pool != NULL)
    {
      GError *error = NULL;

      g_thread_pool_set_max_threads (executor->pool, (int) max_threads, &error);
      g_assert_no_error (error);   /* non-exclusive pools never fail */
    }
}

/**
 * coop_loop_get_max_threads:
 * @loop: a loop
 *
 * Returns the size of the thread pool of [method@Coop.Loop.run_in_thread],
 * the default if it was never set.
 *
 * Returns: the most functions of [method@Coop.Loop.run_in_thread] that run
 *   at the same time (see [method@Coop.Loop.set_max_threads])
 */
guint
coop_loop_get_max_threads (CoopLoop *loop)
{
  Executor *executor;

  g_return_val_if_fail (COOP_IS_LOOP (loop), 0);

  executor = g_object_get_qdata (G_OBJECT (loop), executor_quark ());
  return executor != NULL ? executor->max_threads : default_max_threads ();
}

guint
coop_threadpool_get_n_jobs (CoopLoop *loop)
{
  Executor *executor = g_object_get_qdata (G_OBJECT (loop), executor_quark ());

  return executor != NULL ? executor->n_jobs : 0;
}

/* Lets the pool go (coop_loop_shutdown(), before the loop closes).  With
 * every job back, the threads are idle and the wait is short; a job still
 * running at the shutdown's deadline is not waited for: it finishes on its
 * own, finds the loop closed, and the pool frees itself after it. */
void
coop_threadpool_shutdown (CoopLoop *loop)
{
  Executor *executor = g_object_get_qdata (G_OBJECT (loop), executor_quark ());

  if (executor == NULL || executor->pool == NULL)
    return;
  g_thread_pool_free (g_steal_pointer (&executor->pool), FALSE, executor->n_jobs == 0);
}
