/* coop-loop-pool.c: a pool of loops, each on a thread of its own.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"

/**
 * CoopLoopPool:
 *
 * A fixed set of worker threads, each running a [class@Coop.Loop] on a
 * #GMainContext of its own, for CPU-bound tasks that should use every core
 * while the main loop stays free.
 *
 * [method@Coop.LoopPool.spawn] starts a C task on the least-loaded worker
 * and returns a future of the caller's loop (the "home" loop) that ends as
 * the task ends, as [method@Coop.Loop.run_task_threadsafe] does for one
 * loop: await it, combine it, or add it to a [class@Coop.TaskGroup] of the
 * home loop, which may so hold tasks on several workers (cancelling the
 * group cancels them all; a failing one cancels the others).  A task stays
 * on the worker it started on until it ends: its stack is bound to that
 * thread.
 *
 * The workers' loops are ordinary loops ([method@Coop.LoopPool.get_loop]):
 * a task on one of them may await futures of the home loop or of another
 * worker, start tasks on its own loop, sleep, do I/O.
 *
 * [method@Coop.LoopPool.shutdown] ends every worker the way
 * [method@Coop.Loop.shutdown] ends a loop (pending tasks are cancelled and
 * run to their end, under one deadline) and joins the threads.
 *
 * Spawning tasks is for C: a task's body is a C function on a stack of its
 * own.  From Python or JavaScript, make the pool and shut it down, and
 * spawn C tasks that a C library exposes (docs/bindings.md).
 */

typedef struct
{
  CoopLoopPool *pool;        /* borrowed: the pool joins the thread first */
  guint         index;
  GThread      *thread;
  CoopLoop     *loop;        /* a reference, made on the worker's thread */
  gint          load;        /* atomic: tasks spawned here and not through */

  /* The start-up hand-shake and the shutdown's outcome. */
  GMutex        lock;
  GCond         cond;
  gboolean      ready;
  gint64        timeout_usec;
  GError       *error;
} Worker;

struct _CoopLoopPool
{
  GObject  parent_instance;

  guint    n_loops;
  Worker  *workers;
  guint    next;             /* atomic: where the next search starts */
  gboolean shut_down;        /* the owner's thread only */
};

G_DEFINE_FINAL_TYPE (CoopLoopPool, coop_loop_pool, G_TYPE_OBJECT)

static gpointer
worker_main (gpointer data)
{
  Worker *worker = data;
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop;
  GError *error = NULL;
  gint64 timeout_usec;

  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);

  coop_mutex_lock (&worker->lock);
  worker->loop = g_object_ref (loop);
  worker->ready = TRUE;
  g_cond_signal (&worker->cond);
  coop_mutex_unlock (&worker->lock);

  /* Until coop_loop_pool_shutdown() queues the stop. */
  coop_loop_run_forever (loop);
  coop_mutex_lock (&worker->lock);
  timeout_usec = worker->timeout_usec;
  coop_mutex_unlock (&worker->lock);
  coop_loop_shutdown (loop, timeout_usec, &error);

  coop_mutex_lock (&worker->lock);
  worker->error = error;
  coop_mutex_unlock (&worker->lock);

  g_object_unref (loop);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  return NULL;
}

#ifdef COOP_TSAN
static void
warm_up_body (CoopTask *task,
              gpointer  data)
{
}

/* GLib's once-only initialisations (type classes, quarks, the lazily
 * allocated locks inside GLib) synchronise through GLib's own locks and
 * atomics, which ThreadSanitizer cannot see (GLib is not built with it).
 * The workers of a new pool would be the first to run many of them, all at
 * once: in TSan builds the calling thread runs a worker's life once
 * first (a loop, a task, a cross-loop future, a shutdown). */
static void
warm_up (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop;
  CoopTask *task;
  CoopFuture *wrapped;

  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);
  task = coop_task_new (loop, warm_up_body, NULL, NULL);
  coop_loop_run_until_complete (loop, COOP_FUTURE (task), NULL);
  wrapped = coop_crossloop_spawn (loop, loop, NULL, warm_up_body, NULL, NULL, NULL, NULL);
  coop_loop_run_until_complete (loop, wrapped, NULL);
  g_object_unref (wrapped);
  g_object_unref (task);
  coop_loop_shutdown (loop, -1, NULL);
  g_object_unref (loop);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
}
#endif

static void
worker_stop (gpointer data)
{
  coop_loop_stop (data);
}

static void
coop_loop_pool_dispose (GObject *object)
{
  CoopLoopPool *pool = COOP_LOOP_POOL (object);

  /* Dropped without a shutdown: the same, waiting as long as it takes. */
  if (!pool->shut_down)
    coop_loop_pool_shutdown (pool, -1, NULL);

  G_OBJECT_CLASS (coop_loop_pool_parent_class)->dispose (object);
}

static void
coop_loop_pool_finalize (GObject *object)
{
  CoopLoopPool *pool = COOP_LOOP_POOL (object);
  guint i;

  /* The last reference dropped on a worker's thread, which cannot join
   * itself (the shutdown said so): the workers still run and use their
   * records, which are left to them. */
  for (i = 0; i < pool->n_loops; i++)
    if (pool->workers[i].thread != NULL)
      {
        G_OBJECT_CLASS (coop_loop_pool_parent_class)->finalize (object);
        return;
      }
  for (i = 0; i < pool->n_loops; i++)
    {
      Worker *worker = &pool->workers[i];

      g_clear_object (&worker->loop);
      g_clear_error (&worker->error);
      g_mutex_clear (&worker->lock);
      g_cond_clear (&worker->cond);
    }
  g_free (pool->workers);

  G_OBJECT_CLASS (coop_loop_pool_parent_class)->finalize (object);
}

static void
coop_loop_pool_init (CoopLoopPool *pool)
{
}

static void
coop_loop_pool_class_init (CoopLoopPoolClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = coop_loop_pool_dispose;
  object_class->finalize = coop_loop_pool_finalize;
}

/**
 * coop_loop_pool_new:
 * @n_loops: how many worker threads (and loops); 0 for the number of
 *   processors (g_get_num_processors())
 *
 * Starts @n_loops threads, each with a new #GMainContext pushed as its
 * thread-default and a [class@Coop.Loop] on it, running until
 * [method@Coop.LoopPool.shutdown].  The loops exist when this returns.
 *
 * Dropping the last reference without a shutdown shuts the pool down,
 * waiting as long as the tasks take to end; drop it on the thread that made
 * the pool (a worker cannot join itself).
 *
 * Returns: (transfer full): a new pool
 */
CoopLoopPool *
coop_loop_pool_new (guint n_loops)
{
  CoopLoopPool *pool;
  guint i;

  g_return_val_if_fail (n_loops <= 4096, NULL);

  if (n_loops == 0)
    n_loops = MAX (1, g_get_num_processors ());

#ifdef COOP_TSAN
  {
    static gsize warm;

    /* Not from inside a task, which cannot run a loop. */
    if (coop_task_current_internal () == NULL && g_once_init_enter (&warm))
      {
        warm_up ();
        g_once_init_leave (&warm, 1);
      }
  }
#endif
  pool = g_object_new (COOP_TYPE_LOOP_POOL, NULL);
  pool->n_loops = n_loops;
  pool->workers = g_new0 (Worker, n_loops);
  for (i = 0; i < n_loops; i++)
    {
      Worker *worker = &pool->workers[i];
      g_autofree char *name = g_strdup_printf ("coop-pool-%u", i);

      worker->pool = pool;
      worker->index = i;
      worker->timeout_usec = -1;
      g_mutex_init (&worker->lock);
      g_cond_init (&worker->cond);
      worker->thread = g_thread_new (name, worker_main, worker);
    }
  for (i = 0; i < n_loops; i++)
    {
      Worker *worker = &pool->workers[i];

      coop_mutex_lock (&worker->lock);
      while (!worker->ready)
        {
          coop_tsan_release (&worker->lock);
          g_cond_wait (&worker->cond, &worker->lock);
          coop_tsan_acquire (&worker->lock);
        }
      coop_mutex_unlock (&worker->lock);
    }
  return pool;
}

/**
 * coop_loop_pool_get_n_loops:
 * @pool: a pool
 *
 * Gets the number of worker loops.
 *
 * Returns: how many loops (and threads) @pool has
 */
guint
coop_loop_pool_get_n_loops (CoopLoopPool *pool)
{
  g_return_val_if_fail (COOP_IS_LOOP_POOL (pool), 0);

  return pool->n_loops;
}

/**
 * coop_loop_pool_get_loop:
 * @pool: a pool
 * @index: which worker, from 0 to [method@Coop.LoopPool.get_n_loops] - 1
 *
 * Gets the loop of one worker, to start a task on it with
 * [method@Coop.Loop.run_task_threadsafe] or to queue callbacks with
 * [method@Coop.Loop.call_soon_threadsafe].  The loop runs on the worker's
 * thread: everything but its thread-safe functions is called there.  After
 * [method@Coop.LoopPool.shutdown] it is closed.
 *
 * Returns: (transfer none): the worker's loop
 */
CoopLoop *
coop_loop_pool_get_loop (CoopLoopPool *pool,
                         guint         index)
{
  g_return_val_if_fail (COOP_IS_LOOP_POOL (pool), NULL);
  g_return_val_if_fail (index < pool->n_loops, NULL);

  return pool->workers[index].loop;
}

/**
 * coop_loop_pool_get_load:
 * @pool: a pool
 * @index: which worker
 *
 * Gets how many tasks spawned with [method@Coop.LoopPool.spawn] on one
 * worker have not ended yet: the figure the pool balances.  It changes
 * under the caller's feet as workers finish tasks.
 *
 * Returns: the worker's load
 */
guint
coop_loop_pool_get_load (CoopLoopPool *pool,
                         guint         index)
{
  g_return_val_if_fail (COOP_IS_LOOP_POOL (pool), 0);
  g_return_val_if_fail (index < pool->n_loops, 0);

  return (guint) g_atomic_int_get (&pool->workers[index].load);
}

static void
worker_task_done (gpointer data)
{
  Worker *worker = data;

  g_atomic_int_add (&worker->load, -1);
}

/**
 * coop_loop_pool_spawn: (skip)
 * @pool: a pool
 * @home: (nullable): the loop of the returned future; %NULL for the
 *   calling task's loop, or the loop of the thread-default context
 * @name: (nullable): the task's name
 * @func: (scope notified) (closure user_data) (destroy notify): the body of
 *   the task, a C function
 * @user_data: data for @func
 * @notify: (nullable): frees @user_data once the task is done (on its
 *   worker's thread), or once the request is dropped
 *
 * Starts a C task on the least-loaded worker and returns a future of @home
 * that ends as the task ends; see [method@Coop.Loop.run_task_threadsafe]
 * for the details (cancellation in both directions, the result copied).
 *
 * The policy: the worker with the fewest tasks spawned by the pool and not
 * ended yet ([method@Coop.LoopPool.get_load]); among equals, the search
 * starts one worker further each time, so equal loads are served round
 * robin.  The load counts tasks, not their cost, and a task never moves
 * once started: a long task keeps its worker busy while short ones go
 * elsewhere.
 *
 * After [method@Coop.LoopPool.shutdown], the returned future fails with
 * %COOP_ERROR_LOOP_CLOSED.  Call it on @home's thread.
 *
 * Returns: (transfer full): a future of @home
 */
CoopFuture *
coop_loop_pool_spawn (CoopLoopPool   *pool,
                      CoopLoop       *home,
                      const char     *name,
                      CoopTaskFunc    func,
                      gpointer        user_data,
                      GDestroyNotify  notify)
{
  Worker *best;
  guint start, i;

  g_return_val_if_fail (COOP_IS_LOOP_POOL (pool), NULL);
  g_return_val_if_fail (home == NULL || COOP_IS_LOOP (home), NULL);
  g_return_val_if_fail (func != NULL, NULL);

  if (home == NULL)
    {
      CoopTask *task = coop_task_current_internal ();

      home = task != NULL ? coop_task_get_loop_internal (task) : coop_loop_get_default ();
    }
  coop_return_val_if_wrong_thread (home, COOP_INSTEAD_THREADSAFE, NULL);

  start = (guint) g_atomic_int_add ((gint *) &pool->next, 1) % pool->n_loops;
  best = &pool->workers[start];
  for (i = 1; i < pool->n_loops; i++)
    {
      Worker *worker = &pool->workers[(start + i) % pool->n_loops];

      if (g_atomic_int_get (&worker->load) < g_atomic_int_get (&best->load))
        best = worker;
    }
  g_atomic_int_inc (&best->load);
  return coop_crossloop_spawn (best->loop, home, name, func, user_data, notify,
                               worker_task_done, best);
}

/**
 * coop_loop_pool_shutdown:
 * @pool: a pool
 * @timeout_usec: how long each worker's tasks get to finish, in
 *   microseconds; negative to wait as long as they take
 * @error: return location for an error
 *
 * Ends every worker as [method@Coop.Loop.shutdown] ends a loop: its tasks
 * are cancelled and run until they have finished (or until the deadline,
 * after which what is left is abandoned and reported once), its loop is
 * closed, and its thread ends; this call joins the threads, so it blocks
 * until then.  The futures of tasks spawned on the pool end on their home
 * loops, when those loops run next: cancelled, for tasks that were
 * cancelled by the shutdown.
 *
 * A second call does nothing and returns %TRUE.  Call it from the thread
 * that made the pool (not from a worker's task: a worker cannot join
 * itself).
 *
 * Returns: %TRUE if every worker ended in time; %FALSE with
 *   %G_IO_ERROR_TIMED_OUT if a worker had to abandon tasks (the workers are
 *   ended all the same)
 */
gboolean
coop_loop_pool_shutdown (CoopLoopPool  *pool,
                         gint64         timeout_usec,
                         GError       **error)
{
  GError *first = NULL;
  guint i;

  g_return_val_if_fail (COOP_IS_LOOP_POOL (pool), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  for (i = 0; i < pool->n_loops; i++)
    if (g_thread_self () == pool->workers[i].thread)
      {
        g_critical ("coop_loop_pool_shutdown: called from a worker of the pool, "
                    "which cannot join itself");
        return FALSE;
      }
  if (pool->shut_down)
    return TRUE;
  pool->shut_down = TRUE;

  for (i = 0; i < pool->n_loops; i++)
    {
      Worker *worker = &pool->workers[i];

      coop_mutex_lock (&worker->lock);
      worker->timeout_usec = timeout_usec;
      coop_mutex_unlock (&worker->lock);
      coop_loop_call_soon_threadsafe (worker->loop, worker_stop, worker->loop, NULL);
    }
  for (i = 0; i < pool->n_loops; i++)
    {
      Worker *worker = &pool->workers[i];

      g_thread_join (g_steal_pointer (&worker->thread));
      coop_mutex_lock (&worker->lock);
      if (worker->error != NULL && first == NULL)
        first = g_steal_pointer (&worker->error);
      coop_mutex_unlock (&worker->lock);
    }
  if (first != NULL)
    {
      g_propagate_error (error, first);
      return FALSE;
    }
  return TRUE;
}
