/* coop-shutdown.c: coop_loop_shutdown(), asyncio.run()'s ending in one call.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"

/*
 * How it fits together
 *
 * asyncio.Runner.close() cancels every task, runs the loop until they are
 * done, waits for the default executor and closes the loop.  Here the
 * same steps share one deadline.  While the shutdown waits, the loop
 * points at its CoopShutdown: a task that starts is cancelled at once
 * (coop_loop_register_task()), and the last task to finish
 * (coop_loop_unregister_task()) or the last thread-pool job to come back
 * (coop-threadpool.c) checks whether everything is quiet, which completes
 * the future the loop runs until.  Nothing polls, and the cost outside a
 * shutdown is one compare per finished task.
 */

struct _CoopShutdown
{
  CoopLoop   *loop;
  CoopFuture *quiet;        /* done when nothing is left, or at the deadline */
  gboolean    timed_out;
};

static const char shutdown_message[] = "The loop is shutting down";

void
coop_shutdown_task_added (CoopShutdown *shutdown,
                          CoopFuture   *task)
{
  coop_future_cancel (task, shutdown_message);
}

/* Live tasks, stackful and dense. */
static guint
live_tasks (CoopLoop *loop)
{
  return coop_loop_get_tasks_internal (loop)->length +
         coop_loop_get_dense_tasks_internal (loop)->length;
}

void
coop_shutdown_check (CoopShutdown *shutdown)
{
  if (coop_future_is_done (shutdown->quiet))
    return;
  if (live_tasks (shutdown->loop) == 0 &&
      coop_threadpool_get_n_jobs (shutdown->loop) == 0)
    coop_future_set_none (shutdown->quiet);
}

static void
shutdown_deadline (gpointer data)
{
  CoopShutdown *shutdown = data;

  shutdown->timed_out = TRUE;
  if (!coop_future_is_done (shutdown->quiet))
    coop_future_set_none (shutdown->quiet);
}

/* Asks every live task to cancel.  Cancelling one may finish others (and
 * take them off the list), so the walk goes over a copy, holding each. */
static void
cancel_all (CoopLoop *loop)
{
  GQueue *tasks = coop_loop_get_tasks_internal (loop);
  GQueue *dense = coop_loop_get_dense_tasks_internal (loop);
  GPtrArray *pinned = g_ptr_array_new_full (tasks->length + dense->length, g_object_unref);
  guint i;

  for (GList *l = tasks->head; l != NULL; l = l->next)
    g_ptr_array_add (pinned, g_object_ref (l->data));
  for (GList *l = dense->head; l != NULL; l = l->next)
    g_ptr_array_add (pinned, g_object_ref (l->data));
  for (i = 0; i < pinned->len; i++)
    coop_future_cancel (pinned->pdata[i], shutdown_message);
  g_ptr_array_unref (pinned);
}

/**
 * coop_loop_shutdown:
 * @loop: a loop
 * @timeout_usec: how long the tasks and the thread pool get to finish, in
 *   microseconds; negative to wait as long as they take
 * @error: return location for an error
 *
 * Ends @loop's life the way `asyncio.run()` and `asyncio.Runner` do: asks
 * every pending task to cancel, runs the loop until they have all finished
 * (their clean-up code runs, locks they hold are released, their stacks
 * unwind), waits for the jobs of [method@Coop.Loop.run_in_thread] to come
 * back and lets the thread pool go (asyncio's `shutdown_default_executor()`),
 * then closes the loop ([method@Coop.Loop.close]).  A task started while
 * this runs is cancelled at once too.  The tasks and the jobs share one
 * deadline, @timeout_usec from the call.
 *
 * What is still pending at the deadline is abandoned by the close, as
 * [method@Coop.Loop.close] abandons tasks (they end cancelled without
 * unwinding), and reported to the exception handler in one summary (how
 * many, and the first names); a job still running on its thread finishes
 * there and its result is dropped.  A zero timeout gives the tasks no
 * time: only what finishes at once is not abandoned.
 *
 * Call it where the program is done with the loop: at the end of `main()`,
 * or in a #GApplication's `shutdown` handler.  Nothing may run the loop at
 * the time ([method@Coop.Loop.is_running]), and it may be called neither
 * from one of the loop's tasks nor from a callback dispatched by the
 * loop's #GMainContext (the loop's own sources could not run until that
 * callback returned): these fail with %COOP_ERROR_INVALID_STATE and leave
 * the loop as it was.  On a closed loop (a second call, say) it does
 * nothing and returns %TRUE.
 *
 * Returns: %TRUE if everything finished in time and the loop is closed;
 *   %FALSE with %G_IO_ERROR_TIMED_OUT if tasks had to be abandoned or jobs
 *   were still running at the deadline (the loop is closed all the same),
 *   or with %COOP_ERROR_INVALID_STATE for the misuses above (the loop is
 *   not closed)
 */
gboolean
coop_loop_shutdown (CoopLoop  *loop,
                    gint64     timeout_usec,
                    GError   **error)
{
  CoopShutdown shutdown = { .loop = loop };
  g_autoptr(GError) run_error = NULL;
  CoopHandle *deadline = NULL;
  CoopTask *current;
  GSource *source;
  guint n_tasks, n_jobs;

  g_return_val_if_fail (COOP_IS_LOOP (loop), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (coop_loop_is_closed (loop))
    return TRUE;
  current = coop_task_current_internal ();
  if (current != NULL && coop_future_get_loop (COOP_FUTURE (current)) == loop)
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                           "A loop cannot be shut down from inside one of its tasks");
      return FALSE;
    }
  /* Inside a dispatch of the loop's context (a callback of the loop, or of
   * any source beside it), the loop's own sources could not run again
   * until that dispatch returns: the wait would last until the deadline. */
  source = g_main_current_source ();
  if (coop_loop_is_running (loop) ||
      (source != NULL && g_source_get_context (source) == coop_loop_get_context (loop)))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                           "The loop is running (or one of its context's callbacks called): "
                           "shut it down once the run has returned");
      return FALSE;
    }

  g_object_ref (loop);
  shutdown.quiet = coop_future_new (loop);
  coop_loop_set_shutdown_internal (loop, &shutdown);
  cancel_all (loop);
  if (timeout_usec >= 0)
    deadline = coop_loop_call_later (loop, timeout_usec, shutdown_deadline, &shutdown, NULL);

  coop_shutdown_check (&shutdown);
  if (!coop_future_is_done (shutdown.quiet))
    {
      /* coop_loop_stop() during the wait also ends it: what is left is
       * abandoned, as at the deadline. */
      coop_loop_run_until_complete (loop, shutdown.quiet, &run_error);
    }

  coop_loop_set_shutdown_internal (loop, NULL);
  if (deadline != NULL)
    {
      coop_handle_cancel (deadline);
      coop_handle_unref (deadline);
    }
  g_clear_object (&shutdown.quiet);

  n_tasks = live_tasks (loop);
  n_jobs = coop_threadpool_get_n_jobs (loop);
  coop_threadpool_shutdown (loop);
  coop_loop_close (loop);
  g_object_unref (loop);

  if (n_tasks == 0 && n_jobs == 0)
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
               "The loop was shut down with %u task%s abandoned and %u thread-pool job%s still running%s%s",
               n_tasks, n_tasks == 1 ? "" : "s", n_jobs, n_jobs == 1 ? "" : "s",
               run_error != NULL ? ": " : "", run_error != NULL ? run_error->message : "");
  return FALSE;
}
