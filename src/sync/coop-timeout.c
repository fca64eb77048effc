/* coop-timeout.c: deadlines over a block of a task (asyncio.timeout).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"

/**
 * CoopTimeout:
 *
 * A deadline over a block of a C task, as asyncio's `timeout()`.
 *
 * [func@Coop.Timeout.enter] starts the block; when the deadline passes
 * while the block runs, the task is cancelled, so the await it is paused in
 * returns `G_IO_ERROR_CANCELLED`.  [method@Coop.Timeout.exit] ends the block
 * and turns that cancellation into `G_IO_ERROR_TIMED_OUT`:
 *
 * ```c
 * g_autoptr(GError) error = NULL;
 * g_autoptr(CoopTimeout) scope = coop_timeout_enter (2 * G_USEC_PER_SEC, NULL);
 *
 * if (coop_await (fetch_a, &error))
 *   coop_await (fetch_b, &error);
 *
 * if (!coop_timeout_exit (scope, &error))
 *   g_print ("failed: %s\n", error->message);   // "timed out" after 2 s
 * ```
 *
 * The deadline can be moved or removed while the block runs
 * ([method@Coop.Timeout.reschedule]).  Scopes belong to C tasks; Python and
 * JavaScript use their own languages' timeouts over Coop futures.  Scopes nest: a cancellation is turned
 * into a timeout only by the scope whose deadline caused it, and not if
 * someone else cancelled the task too (as asyncio counts cancellation
 * requests).
 */

typedef enum
{
  STATE_ENTERED,
  STATE_EXPIRING,      /* the deadline passed: the task was cancelled */
  STATE_EXITED,
} State;

struct _CoopTimeout
{
  gint        ref_count;
  State       state;
  CoopTask   *task;                /* strong while entered */
  CoopHandle *timer;
  gint64      when;                /* -1: no deadline */
  guint       cancels_at_enter;
  gboolean    expired;
};

G_DEFINE_BOXED_TYPE (CoopTimeout, coop_timeout, coop_timeout_ref, coop_timeout_unref)

/**
 * coop_timeout_ref: (skip)
 * @timeout: a timeout scope
 *
 * Takes a reference on @timeout.
 *
 * Returns: (transfer full): @timeout
 */
CoopTimeout *
coop_timeout_ref (CoopTimeout *timeout)
{
  g_return_val_if_fail (timeout != NULL, NULL);

  timeout->ref_count++;
  return timeout;
}

static void
clear_timer (CoopTimeout *timeout)
{
  if (timeout->timer != NULL)
    {
      coop_handle_cancel (timeout->timer);
      g_clear_pointer (&timeout->timer, coop_handle_unref);
    }
}

/**
 * coop_timeout_unref: (skip)
 * @timeout: (transfer full): a timeout scope
 *
 * Releases a reference.  Dropping the last one of a scope that was not
 * exited removes its deadline (and leaves the task's cancellation state
 * alone).
 */
void
coop_timeout_unref (CoopTimeout *timeout)
{
  g_return_if_fail (timeout != NULL);

  if (--timeout->ref_count > 0)
    return;
  clear_timer (timeout);
  g_clear_object (&timeout->task);
  g_free (timeout);
}

static void
timeout_fire (gpointer data)
{
  CoopTimeout *timeout = data;

  g_clear_pointer (&timeout->timer, coop_handle_unref);
  if (timeout->state != STATE_ENTERED)
    return;
  timeout->state = STATE_EXPIRING;
  timeout->expired = TRUE;
  coop_task_cancel (timeout->task, "Timed out");
}

static void
schedule (CoopTimeout *timeout)
{
  CoopLoop *loop = coop_task_get_loop_internal (timeout->task);

  clear_timer (timeout);
  if (timeout->when < 0)
    return;
  /* Borrowed: the last unref cancels the timer, so a scope that is dropped
   * takes its deadline with it. */
  timeout->timer = coop_loop_call_at (loop, timeout->when, timeout_fire, timeout, NULL);
}

/**
 * coop_timeout_enter_at: (skip)
 * @when_usec: the deadline, in microseconds of the monotonic clock, or a
 *   negative value for none (yet)
 * @error: return location for an error
 *
 * Starts a timeout scope in the calling task, with an absolute deadline.
 * See [func@Coop.Timeout.enter].
 *
 * Returns: (transfer full) (nullable): the scope, or %NULL with
 *   %COOP_ERROR_NOT_IN_TASK outside a task
 */
CoopTimeout *
coop_timeout_enter_at (gint64   when_usec,
                       GError **error)
{
  CoopTask *task = coop_task_get_current ();
  CoopTimeout *timeout;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (task == NULL)
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_NOT_IN_TASK,
                           "A timeout scope can only be entered inside a C task");
      return NULL;
    }

  timeout = g_new0 (CoopTimeout, 1);
  timeout->ref_count = 1;
  timeout->state = STATE_ENTERED;
  timeout->task = g_object_ref (task);
  timeout->when = when_usec < 0 ? -1 : when_usec;
  timeout->cancels_at_enter = coop_task_get_n_cancels (task);
  schedule (timeout);
  return timeout;
}

/**
 * coop_timeout_enter: (skip)
 * @delay_usec: the time allowed, in microseconds from now, or a negative
 *   value for no deadline (yet)
 * @error: return location for an error
 *
 * Starts a timeout scope in the calling task: if the block between this
 * call and [method@Coop.Timeout.exit] is still running after @delay_usec,
 * the task is cancelled and `exit` reports `G_IO_ERROR_TIMED_OUT`.
 *
 * Returns: (transfer full) (nullable): the scope, or %NULL with
 *   %COOP_ERROR_NOT_IN_TASK outside a task
 */
CoopTimeout *
coop_timeout_enter (gint64   delay_usec,
                    GError **error)
{
  return coop_timeout_enter_at (delay_usec < 0 ? -1 : coop_time_after (delay_usec), error);
}

/**
 * coop_timeout_exit: (skip)
 * @timeout: a timeout scope entered by the calling task
 * @error: the error the
 *   block ended with, if any; replaced by `G_IO_ERROR_TIMED_OUT` when it is
 *   the cancellation this scope's deadline caused
 *
 * Ends the block.  Pass the error the block failed with (or none): a
 * `G_IO_ERROR_CANCELLED` caused by this scope's deadline becomes
 * `G_IO_ERROR_TIMED_OUT`; any other error passes through.  A deadline that
 * passed while the block finished without awaiting again is withdrawn, so
 * the task is not cancelled later by it.
 *
 * Returns: %FALSE if *@error is set on return
 */
gboolean
coop_timeout_exit (CoopTimeout  *timeout,
                   GError      **error)
{
  g_return_val_if_fail (timeout != NULL, FALSE);

  if (timeout->state == STATE_EXITED)
    {
      g_critical ("coop_timeout_exit: the scope was already exited");
      return error == NULL || *error == NULL;
    }
  if (coop_task_get_current () != timeout->task)
    g_critical ("coop_timeout_exit: called outside the task that entered the scope");

  clear_timer (timeout);
  if (timeout->state == STATE_EXPIRING)
    {
      guint remaining = coop_task_uncancel (timeout->task);

      if (remaining <= timeout->cancels_at_enter && error != NULL && *error != NULL &&
          g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_clear_error (error);
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "Timed out");
        }
    }
  timeout->state = STATE_EXITED;
  g_clear_object (&timeout->task);
  return error == NULL || *error == NULL;
}

/**
 * coop_timeout_reschedule: (skip)
 * @timeout: a timeout scope that has not expired
 * @when_usec: the new deadline, in microseconds of the monotonic clock, or
 *   a negative value to remove the deadline
 *
 * Moves the deadline of a running scope (earlier, later, or away).  A
 * deadline already in the past fires on the next iteration.  Moving the
 * deadline of a scope that expired or exited is a programming error.
 */
void
coop_timeout_reschedule (CoopTimeout *timeout,
                         gint64       when_usec)
{
  g_return_if_fail (timeout != NULL);
  g_return_if_fail (timeout->state == STATE_ENTERED);

  timeout->when = when_usec < 0 ? -1 : when_usec;
  schedule (timeout);
}

/**
 * coop_timeout_get_when: (skip)
 * @timeout: a timeout scope
 *
 * Gets the deadline of @timeout.
 *
 * Returns: the deadline in microseconds of the monotonic clock, or -1 if
 *   there is none
 */
gint64
coop_timeout_get_when (CoopTimeout *timeout)
{
  g_return_val_if_fail (timeout != NULL, -1);

  return timeout->when;
}

/**
 * coop_timeout_expired: (skip)
 * @timeout: a timeout scope
 *
 * Tells whether the deadline of @timeout passed.
 *
 * Returns: whether the deadline passed while the block was running
 */
gboolean
coop_timeout_expired (CoopTimeout *timeout)
{
  g_return_val_if_fail (timeout != NULL, FALSE);

  return timeout->expired;
}
