/* coop-loop-run.c: running a loop's context until a future is done or
 * until coop_loop_stop(), as asyncio's run_until_complete() and
 * run_forever(); calls nest, as GTK's modal dialogs do.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-loop-private.h"

typedef struct
{
  CoopWaiter  waiter;
  GMainLoop  *main_loop;
  CoopLoop   *loop;
} QuitWaiter;

static void
quit_on_done (CoopWaiter *waiter,
              CoopFuture *future)
{
  QuitWaiter *quit = (QuitWaiter *) waiter;

  quit->loop->stop_hint = TRUE;
  g_main_loop_quit (quit->main_loop);
}

static gboolean
loop_run (CoopLoop    *loop,
          CoopFuture  *future,
          GError     **error)
{
  RunFrame frame;
  QuitWaiter quit = { { 0, }, NULL };

  if (!coop_loop_check_usable (loop, error))
    return FALSE;
  if (coop_task_current_internal () != NULL)
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                           "A loop cannot be run from inside a task; await instead");
      return FALSE;
    }
  if (!g_main_context_acquire (loop->context))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                           "The loop's main context is owned by another thread");
      return FALSE;
    }
  coop_loop_set_owner_self (loop);

  /* GIO continues async operations on the thread-default context: make it
   * the loop's while the loop runs. */
  g_main_context_push_thread_default (loop->context);
  frame.main_loop = g_main_loop_new (loop->context, FALSE);
  g_array_append_val (loop->run_stack, frame);

  if (future != NULL)
    {
      quit.waiter.func = quit_on_done;
      quit.main_loop = frame.main_loop;
      quit.loop = loop;
      coop_future_add_waiter (future, &quit.waiter);
    }

  if (loop->stop_requested)
    {
      /* stop() before run: run one iteration, then return (asyncio). */
      loop->stop_requested = FALSE;
      g_main_context_iteration (loop->context, FALSE);
    }
  else
    g_main_loop_run (frame.main_loop);

  if (future != NULL && !coop_future_is_done (future))
    coop_future_remove_waiter (future, &quit.waiter);

  g_array_set_size (loop->run_stack, loop->run_stack->len - 1);
  g_main_loop_unref (frame.main_loop);
  loop->stop_hint = coop_loop_stop_pending (loop);
  g_main_context_pop_thread_default (loop->context);
  g_main_context_release (loop->context);

  return TRUE;
}

/**
 * coop_loop_run_until_complete:
 * @loop: a loop
 * @future: the future to wait for
 * @error: return location for the future's error
 *
 * Runs the loop's #GMainContext until @future is done (or
 * [method@Coop.Loop.stop] is called), then reports its outcome.  This runs
 * a #GMainLoop on the context, so any other source of the context runs too;
 * calls may nest, as GTK's modal dialogs do.  It may not be called from
 * inside a task (await the future instead).
 *
 * Returns: %TRUE if @future finished with a result; %FALSE with @error set
 *   if it failed or was cancelled, if the loop was stopped first
 *   (%COOP_ERROR_INVALID_STATE), or if the loop is closed
 */
gboolean
coop_loop_run_until_complete (CoopLoop    *loop,
                              CoopFuture  *future,
                              GError     **error)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), FALSE);
  g_return_val_if_fail (COOP_IS_FUTURE (future), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (coop_future_get_loop (future) != loop)
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_WRONG_LOOP,
                           "The future belongs to another loop");
      return FALSE;
    }

  g_object_ref (future);
  if (!coop_future_is_done (future) && !loop_run (loop, future, error))
    {
      g_object_unref (future);
      return FALSE;
    }
  if (!coop_future_is_done (future))
    {
      g_object_unref (future);
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                           "The loop stopped before the future completed");
      return FALSE;
    }
  if (!coop_future_propagate (future, error))
    {
      g_object_unref (future);
      return FALSE;
    }
  g_object_unref (future);
  return TRUE;
}

/**
 * coop_loop_run_forever:
 * @loop: a loop
 *
 * Runs the loop's #GMainContext until [method@Coop.Loop.stop] is called.
 * If stop was called before, runs one iteration and returns.  A closed loop
 * or a call from inside a task is reported with a critical warning.
 */
void
coop_loop_run_forever (CoopLoop *loop)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (COOP_IS_LOOP (loop));

  if (!loop_run (loop, NULL, &error))
    g_critical ("coop_loop_run_forever: %s", error->message);
}

/**
 * coop_loop_stop:
 * @loop: a loop
 *
 * Makes the innermost [method@Coop.Loop.run_forever] or
 * [method@Coop.Loop.run_until_complete] return once the current dispatch is
 * over.  If the loop is not running, the next run returns after one
 * iteration.
 */
void
coop_loop_stop (CoopLoop *loop)
{
  RunFrame *frame;

  g_return_if_fail (COOP_IS_LOOP (loop));
  coop_return_if_wrong_thread (loop, "queue coop_loop_stop() with coop_loop_call_soon_threadsafe()");

  loop->stop_hint = TRUE;
  if (loop->run_stack->len == 0)
    {
      loop->stop_requested = TRUE;
      return;
    }
  frame = &g_array_index (loop->run_stack, RunFrame, loop->run_stack->len - 1);
  g_main_loop_quit (frame->main_loop);
}

/**
 * coop_loop_is_running:
 * @loop: a loop
 *
 * Tells whether @loop runs its own main loop.
 *
 * Returns: whether [method@Coop.Loop.run_forever] or
 *   [method@Coop.Loop.run_until_complete] is running.  A loop driven by
 *   another main loop (GTK's) works without being "running" in this sense.
 */
gboolean
coop_loop_is_running (CoopLoop *loop)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), FALSE);

  return loop->run_stack->len > 0;
}
