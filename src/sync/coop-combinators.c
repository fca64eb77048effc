/* coop-combinators.c: sleep, gather, wait, wait_for, shield.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"

/* All combinators but sleep (a plain future, below) return an instance of
 * one private CoopFuture subclass, which holds its children, one embedded
 * waiter per child and, for wait_for, a timer handle.  The children's waiters complete the outer
 * future synchronously (they are internal continuations: no user code
 * runs), and a waiter on the outer future itself detaches everything once
 * it is done, however that happened. */

typedef enum
{
  KIND_GATHER,
  KIND_WAIT,
  KIND_WAIT_FOR,
  KIND_SHIELD,
} Kind;

#define COOP_TYPE_COMPOSITE (coop_composite_get_type ())
G_DECLARE_FINAL_TYPE (CoopComposite, coop_composite, COOP, COMPOSITE, CoopFuture)

struct _CoopComposite
{
  CoopFuture    parent_instance;

  Kind          kind;
  guint         n_children;
  guint         n_done;
  CoopFuture  **children;        /* strong */
  CoopWaiter   *waiters;         /* one per child */
  CoopWaiter    self_waiter;     /* on the composite itself */
  CoopHandle   *timer;
  CoopWaitMode  mode;
  guint         wait_all : 1;
  guint         timed_out : 1;
  guint         cancelling : 1;
  guint         finished : 1;    /* self_waiter fired */
  guint         cancel_pass;     /* the last cancellation it passed on */
};

/* One cancellation request goes down a graph of composites once per
 * composite: a gather of gathers that share children (gather (g, g),
 * nested) otherwise cancelled each shared child once per path, 2^depth
 * times (found by fuzz-ops).  A pass is one top-level cancel, with
 * everything it reaches; a later request (a retry) is a new pass. */
static __thread guint composite_cancel_pass;
static __thread guint composite_cancel_depth;

G_DEFINE_FINAL_TYPE (CoopComposite, coop_composite, COOP_TYPE_FUTURE)

static void
detach_children (CoopComposite *self)
{
  guint i;

  for (i = 0; i < self->n_children; i++)
    coop_future_remove_waiter (self->children[i], &self->waiters[i]);
}

static void
cancel_timer (CoopComposite *self)
{
  if (self->timer != NULL)
    {
      coop_handle_cancel (self->timer);
      g_clear_pointer (&self->timer, coop_handle_unref);
    }
}

static void
composite_done (CoopWaiter *waiter,
                CoopFuture *future)
{
  CoopComposite *self = COOP_COMPOSITE (future);
  guint i;

  self->finished = TRUE;
  cancel_timer (self);
  detach_children (self);

  /* Children that fail after the composite completed are read by it, as
   * asyncio's gather does, so they are not reported as lost. */
  if (self->kind == KIND_GATHER || self->kind == KIND_SHIELD)
    for (i = 0; i < self->n_children; i++)
      if (!coop_future_is_done (self->children[i]))
        coop_future_mark_retrieved (self->children[i]);

  /* A gather that ends cancelled gives back what its finished children
   * were granted (a lock, a queue item): nobody will see it. */
  if (self->kind == KIND_GATHER && coop_future_is_cancelled (future))
    for (i = 0; i < self->n_children; i++)
      coop_future_run_undo (self->children[i]);
}

static gboolean
coop_composite_cancel (CoopFuture *future,
                       const char *message)
{
  CoopComposite *self = COOP_COMPOSITE (future);
  gboolean any = FALSE;
  guint i;

  switch (self->kind)
    {
    case KIND_GATHER:
    case KIND_WAIT_FOR:
      /* Cancel the children; the composite ends cancelled once they are
       * done (at once for plain futures). */
      if (composite_cancel_depth == 0)
        composite_cancel_pass++;
      else if (self->cancel_pass == composite_cancel_pass)
        return TRUE;   /* reached again by the same request: done that */
      self->cancel_pass = composite_cancel_pass;
      self->cancelling = TRUE;
      cancel_timer (self);
      g_object_ref (self);
      composite_cancel_depth++;
      for (i = 0; i < self->n_children && !coop_future_is_done (future); i++)
        any |= coop_future_cancel (self->children[i], message);
      composite_cancel_depth--;
      if (!coop_future_is_done (future) && !any)
        coop_future_set_cancelled (future, message);
      g_object_unref (self);
      return TRUE;

    case KIND_WAIT:
    case KIND_SHIELD:
    default:
      coop_future_set_cancelled (future, message);
      return TRUE;
    }
}

static void
coop_composite_finalize (GObject *object)
{
  CoopComposite *self = COOP_COMPOSITE (object);
  guint i;

  cancel_timer (self);
  if (!self->finished)
    detach_children (self);
  for (i = 0; i < self->n_children; i++)
    g_object_unref (self->children[i]);
  g_free (self->children);
  g_free (self->waiters);

  G_OBJECT_CLASS (coop_composite_parent_class)->finalize (object);
}

static void
coop_composite_class_init (CoopCompositeClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = coop_composite_finalize;
  COOP_FUTURE_CLASS (klass)->cancel = coop_composite_cancel;
}

static void
coop_composite_init (CoopComposite *self)
{
  self->self_waiter.func = composite_done;
}

static void child_done (CoopWaiter *waiter, CoopFuture *child);

/* ", due in 1.5 s" or, once due but not yet run (the loop is busy),
 * ", overdue by 3 ms". */
static void
append_deadline (GString    *out,
                 const char *what,
                 CoopHandle *timer)
{
  gint64 left = coop_handle_get_when (timer) - g_get_monotonic_time ();

  if (left < 0)
    {
      g_string_append (out, ", overdue by ");
      left = -left;
    }
  else
    g_string_append_printf (out, ", %s ", what);
  if (left < 10 * G_TIME_SPAN_MILLISECOND)
    g_string_append_printf (out, "%.3f ms", left / 1000.0);
  else
    g_string_append_printf (out, "%.3f s", left / (double) G_TIME_SPAN_SECOND);
}

static void
composite_describe (CoopFuture *future,
                    gpointer    data,
                    GString    *out)
{
  CoopComposite *self = COOP_COMPOSITE (future);
  guint i, n_pending = 0;
  CoopFuture *first = NULL;

  for (i = 0; i < self->n_children; i++)
    if (!coop_future_is_done (self->children[i]))
      {
        if (first == NULL)
          first = self->children[i];
        n_pending++;
      }

  switch (self->kind)
    {
    case KIND_GATHER:
      g_string_append_printf (out, "gather of %u, %u pending", self->n_children, n_pending);
      break;
    case KIND_WAIT:
      g_string_append_printf (out, "wait (%s) on %u, %u pending",
                              self->mode == COOP_WAIT_FIRST_COMPLETED ? "first completed" :
                              self->mode == COOP_WAIT_FIRST_EXCEPTION ? "first exception" : "all completed",
                              self->n_children, n_pending);
      break;
    case KIND_WAIT_FOR:
      g_string_append (out, "wait_for");
      if (self->timer != NULL)
        append_deadline (out, "times out in", self->timer);
      else if (self->timed_out)
        g_string_append (out, ", timed out, waiting for the inner future to stop");
      break;
    case KIND_SHIELD:
    default:
      g_string_append (out, "shield");
      break;
    }
  if (first != NULL)
    {
      g_string_append (out, self->kind == KIND_WAIT_FOR || self->kind == KIND_SHIELD ? " on: " : "; first: ");
      coop_future_append_description (first, out, 2);
    }
}

static CoopComposite *
composite_new (CoopLoop    *loop,
               Kind         kind,
               CoopFuture **children,
               guint        n_children)
{
  CoopComposite *self = coop_future_new_internal (COOP_TYPE_COMPOSITE, loop);
  guint i;

  self->kind = kind;
  self->n_children = n_children;
  /* None for an empty gather or wait. */
  self->children = n_children > 0 ? g_new (CoopFuture *, n_children) : NULL;
  self->waiters = n_children > 0 ? g_new0 (CoopWaiter, n_children) : NULL;
  for (i = 0; i < n_children; i++)
    {
      self->children[i] = g_object_ref (children[i]);
      self->waiters[i].func = child_done;
      self->waiters[i].data = self;
    }
  coop_future_set_describe (COOP_FUTURE (self), composite_describe, NULL);
  coop_future_add_waiter (COOP_FUTURE (self), &self->self_waiter);
  return self;
}

/* A finished array of futures, as the result of gather and wait. */
static void
finish_with_array (CoopComposite *self,
                   gboolean       done_only)
{
  GPtrArray *array = g_ptr_array_new_full (self->n_children, g_object_unref);
  guint i;

  for (i = 0; i < self->n_children; i++)
    if (!done_only || coop_future_is_done (self->children[i]))
      g_ptr_array_add (array, g_object_ref (self->children[i]));
  coop_future_set_boxed (COOP_FUTURE (self), G_TYPE_PTR_ARRAY, array);
  g_ptr_array_unref (array);
}

/* A task cancelled after a gather, wait_for or shield finished, but before
 * it resumed, throws the result away: give back what the children granted
 * (a lock, a queue item). */
static void
composite_undo (CoopFuture *future,
                gpointer    data)
{
  CoopComposite *self = COOP_COMPOSITE (future);
  guint i;

  for (i = 0; i < self->n_children; i++)
    coop_future_run_undo (self->children[i]);
}

/* The composite takes the outcome of @child. */
static void
copy_outcome (CoopComposite *self,
              CoopFuture    *child)
{
  CoopFuture *future = COOP_FUTURE (self);

  switch (coop_future_get_state (child))
    {
    case COOP_FUTURE_STATE_FINISHED:
      coop_future_set_undo (future, composite_undo, NULL, NULL);
      coop_future_set_value (future, coop_future_get_value (child, NULL));
      break;
    case COOP_FUTURE_STATE_FAILED:
      coop_future_set_error (future, coop_future_peek_error (child));
      break;
    case COOP_FUTURE_STATE_CANCELLED:
      coop_future_set_error (future, coop_future_peek_error (child));
      break;
    case COOP_FUTURE_STATE_PENDING:
    default:
      g_assert_not_reached ();
    }
}

static void
gather_child_done (CoopComposite *self,
                   CoopFuture    *child)
{
  CoopFuture *future = COOP_FUTURE (self);
  CoopFutureState state = coop_future_get_state (child);

  if (state != COOP_FUTURE_STATE_FINISHED)
    {
      if (self->wait_all)
        coop_future_mark_retrieved (child);
      else
        {
          /* Fail fast, with the first error. */
          coop_future_set_error (future, coop_future_peek_error (child));
          return;
        }
    }

  if (self->n_done == self->n_children)
    {
      if (self->cancelling)
        coop_future_set_cancelled (future, NULL);
      else
        {
          coop_future_set_undo (future, composite_undo, NULL, NULL);
          finish_with_array (self, FALSE);
        }
    }
}

static gboolean
wait_satisfied (CoopComposite *self,
                CoopFuture    *child)
{
  if (self->n_done == self->n_children)
    return TRUE;
  switch (self->mode)
    {
    case COOP_WAIT_FIRST_COMPLETED:
      return self->n_done > 0;
    case COOP_WAIT_FIRST_EXCEPTION:
      return child != NULL && coop_future_get_state (child) == COOP_FUTURE_STATE_FAILED;
    case COOP_WAIT_ALL_COMPLETED:
    default:
      return FALSE;
    }
}

static void
wait_for_child_done (CoopComposite *self,
                     CoopFuture    *child)
{
  CoopFuture *future = COOP_FUTURE (self);

  if (self->timed_out && coop_future_get_state (child) == COOP_FUTURE_STATE_CANCELLED)
    {
      coop_future_mark_retrieved (child);
      coop_future_take_error (future,
                              g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                                   "The operation timed out"));
    }
  else if (self->cancelling)
    {
      coop_future_mark_retrieved (child);
      coop_future_set_cancelled (future, NULL);
    }
  else
    copy_outcome (self, child);
}

static void
child_done (CoopWaiter *waiter,
            CoopFuture *child)
{
  CoopComposite *self = waiter->data;

  self->n_done++;
  if (coop_future_is_done (COOP_FUTURE (self)))
    return;

  switch (self->kind)
    {
    case KIND_GATHER:
      gather_child_done (self, child);
      break;
    case KIND_WAIT:
      if (wait_satisfied (self, child))
        finish_with_array (self, TRUE);
      break;
    case KIND_WAIT_FOR:
      wait_for_child_done (self, child);
      break;
    case KIND_SHIELD:
      copy_outcome (self, child);
      break;
    default:
      g_assert_not_reached ();
    }
}

/* Attaches the children's waiters, or runs them now for children that are
 * already done. */
static void
attach_children (CoopComposite *self)
{
  guint i;

  g_object_ref (self);
  for (i = 0; i < self->n_children && !coop_future_is_done (COOP_FUTURE (self)); i++)
    {
      if (coop_future_is_done (self->children[i]))
        child_done (&self->waiters[i], self->children[i]);
      else
        coop_future_add_waiter (self->children[i], &self->waiters[i]);
    }
  g_object_unref (self);
}

static CoopFuture *
failed_future (CoopLoop   *loop,
               GError     *error)
{
  CoopFuture *future = coop_future_new (loop);

  coop_future_take_error (future, error);
  return future;
}

static CoopFuture *
check_children (CoopLoop    *loop,
                CoopFuture **futures,
                guint        n_futures)
{
  guint i;

  for (i = 0; i < n_futures; i++)
    {
      if (!COOP_IS_FUTURE (futures[i]))
        {
          g_critical ("%s: element %u is not a CoopFuture", G_STRFUNC, i);
          return failed_future (loop, g_error_new (COOP_ERROR, COOP_ERROR_FAILED,
                                                   "Element %u is not a future", i));
        }
      if (coop_future_get_loop (futures[i]) != loop)
        return failed_future (loop, g_error_new (COOP_ERROR, COOP_ERROR_WRONG_LOOP,
                                                 "Future %u belongs to another loop", i));
    }
  return NULL;
}

/* --- sleep ---------------------------------------------------------------------------
 *
 * A sleep is a plain future from the loop's pool and a small record its
 * timer owns: no GObject is made or finalized per sleep once the pool is
 * warm (a composite cost about 3,000 instructions more, most of them in
 * GLib's last unref).  Whatever completes the future (the timer, a
 * cancellation) runs the record's waiter, which removes the timer if it
 * has not fired; the record goes when the timer lets go of it. */

typedef struct
{
  CoopWaiter  waiter;   /* on the future; first, so a waiter is its record */
  CoopFuture *future;   /* the timer's reference */
  CoopHandle *timer;
  gboolean    firing;
} Sleep;

static void
sleep_fire (gpointer data)
{
  Sleep *sleep = data;

  sleep->firing = TRUE;
  if (!coop_future_is_done (sleep->future))
    coop_future_set_none (sleep->future);
}

/* The future is done: cancelled, or set by sleep_fire().  Cancelling the
 * timer releases the record at once (sleep_release()); the future is held
 * by its completion meanwhile. */
static void
sleep_done (CoopWaiter *waiter,
            CoopFuture *future)
{
  Sleep *sleep = (Sleep *) waiter;

  if (!sleep->firing)
    coop_handle_cancel (sleep->timer);
}

/* The timer lets go of the sleep.  Without sleep_fire() having run, that
 * happens only when the timer was cancelled: by cancelling the sleep (then
 * already done) or by closing the loop.  A sleep left pending by a closed
 * loop would never finish, and whoever awaits it (a binding, another
 * loop's code) would wait for ever: it ends cancelled, as the loop's
 * readiness futures do. */
static void
sleep_release (gpointer data)
{
  Sleep *sleep = data;
  CoopFuture *future = sleep->future;

  coop_future_remove_waiter (future, &sleep->waiter);
  if (!coop_future_is_done (future))
    coop_future_set_cancelled (future, "The loop was closed");
  coop_future_set_describe (future, NULL, NULL);
  if (sleep->timer != NULL)
    coop_handle_unref (sleep->timer);
  g_object_unref (future);
  g_free (sleep);
}

static void
sleep_describe (CoopFuture *future,
                gpointer    data,
                GString    *out)
{
  Sleep *sleep = data;

  g_string_append (out, "sleep");
  if (!coop_future_is_done (future))
    append_deadline (out, "due in", sleep->timer);
}

/* --- public API --------------------------------------------------------------------- */

/**
 * coop_sleep:
 * @loop: a loop
 * @delay_usec: how long, in microseconds (negative counts as 0)
 *
 * Returns a future that finishes, with no value, after @delay_usec.
 * Cancelling it removes its timer; closing the loop cancels it.  From a
 * task:
 *
 * ```c
 * g_autoptr(CoopFuture) nap = coop_sleep (loop, 50 * G_TIME_SPAN_MILLISECOND);
 * if (!coop_await (nap, &error))
 *   return;   // cancelled
 * ```
 *
 * Returns: (transfer full): a new future
 */
CoopFuture *
coop_sleep (CoopLoop *loop,
            gint64    delay_usec)
{
  CoopFuture *future;
  Sleep *sleep;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  future = coop_future_new (loop);
  if (coop_loop_is_closed (loop))
    {
      coop_future_take_error (future,
                              g_error_new_literal (COOP_ERROR, COOP_ERROR_LOOP_CLOSED, "The loop is closed"));
      return future;
    }
  sleep = g_new0 (Sleep, 1);
  sleep->waiter.func = sleep_done;
  sleep->waiter.data = sleep;
  sleep->future = g_object_ref (future);
  coop_future_add_waiter (future, &sleep->waiter);
  coop_future_set_describe (future, sleep_describe, sleep);
  sleep->timer = coop_loop_call_later (loop, delay_usec, sleep_fire, sleep, sleep_release);
  return future;
}

/**
 * coop_gather:
 * @loop: a loop
 * @futures: (array length=n_futures): the futures to wait for
 * @n_futures: the number of futures
 * @wait_all: %FALSE to fail as soon as one future fails (with its error);
 *   %TRUE to wait for all of them whatever their outcome
 *
 * Waits for several futures, as asyncio's `gather()`.  The returned future
 * finishes with a #GPtrArray (a boxed value) of @futures, in the given
 * order, once all are done; read each one's result from it.  Without
 * @wait_all it fails with the first error (or ends cancelled if a future
 * was cancelled); the others keep running.  With @wait_all the errors stay
 * in the futures, to be read there.  Cancelling the returned future cancels
 * every future in it.
 *
 * Returns: (transfer full): a new future
 */
CoopFuture *
coop_gather (CoopLoop    *loop,
             CoopFuture **futures,
             guint        n_futures,
             gboolean     wait_all)
{
  CoopComposite *self;
  CoopFuture *bad;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (futures != NULL || n_futures == 0, NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  if ((bad = check_children (loop, futures, n_futures)) != NULL)
    return bad;

  self = composite_new (loop, KIND_GATHER, futures, n_futures);
  self->wait_all = !!wait_all;
  if (n_futures == 0)
    finish_with_array (self, FALSE);
  else
    attach_children (self);
  return COOP_FUTURE (self);
}

/**
 * coop_wait:
 * @loop: a loop
 * @futures: (array length=n_futures): the futures to wait for
 * @n_futures: the number of futures
 * @mode: when to complete
 *
 * Waits for some of @futures, as asyncio's `wait()`: the returned future
 * finishes with a #GPtrArray (a boxed value) of those of @futures that are
 * done, in the given order (the others are still pending), when @mode is
 * satisfied.  %COOP_WAIT_FIRST_EXCEPTION completes when a future fails
 * (cancellation does not count) or when all are done.  It never fails
 * because one of @futures did, and cancelling it does not cancel them.
 * With no futures it finishes at once with an empty array.
 *
 * Returns: (transfer full): a new future
 */
CoopFuture *
coop_wait (CoopLoop     *loop,
           CoopFuture  **futures,
           guint         n_futures,
           CoopWaitMode  mode)
{
  CoopComposite *self;
  CoopFuture *bad;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (futures != NULL || n_futures == 0, NULL);
  g_return_val_if_fail (mode <= COOP_WAIT_ALL_COMPLETED, NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  if ((bad = check_children (loop, futures, n_futures)) != NULL)
    return bad;

  self = composite_new (loop, KIND_WAIT, futures, n_futures);
  self->mode = mode;
  if (n_futures == 0)
    finish_with_array (self, TRUE);
  else
    attach_children (self);
  return COOP_FUTURE (self);
}

static void
wait_for_timeout (gpointer data)
{
  CoopComposite *self = data;

  g_clear_pointer (&self->timer, coop_handle_unref);
  if (coop_future_is_done (COOP_FUTURE (self)))
    return;
  self->timed_out = TRUE;
  /* The outcome is settled when the inner future is done: at once for a
   * plain future, once it has stopped for a task. */
  if (!coop_future_cancel (self->children[0], "Timed out") &&
      !coop_future_is_done (COOP_FUTURE (self)))
    copy_outcome (self, self->children[0]);
}

/**
 * coop_wait_for:
 * @future: the future to wait for
 * @timeout_usec: the time limit in microseconds, or a negative value for
 *   none
 *
 * Returns a future that takes the outcome of @future, unless @timeout_usec
 * passes first: then @future is cancelled and, once it is done, the
 * returned future fails with `G_IO_ERROR_TIMED_OUT` (asyncio's
 * `wait_for()`).  Cancelling the returned future cancels @future.
 *
 * Returns: (transfer full): a new future
 */
CoopFuture *
coop_wait_for (CoopFuture *future,
               gint64      timeout_usec)
{
  CoopComposite *self;
  CoopLoop *loop;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);
  coop_return_val_if_wrong_thread (coop_future_get_loop (future), COOP_INSTEAD_THREADSAFE, NULL);

  loop = coop_future_get_loop (future);
  self = composite_new (loop, KIND_WAIT_FOR, &future, 1);
  attach_children (self);
  if (!coop_future_is_done (COOP_FUTURE (self)) && timeout_usec >= 0 && !coop_loop_is_closed (loop))
    self->timer = coop_loop_call_later (loop, timeout_usec, wait_for_timeout,
                                        g_object_ref (self), g_object_unref);
  return COOP_FUTURE (self);
}

/**
 * coop_shield:
 * @future: the future to protect
 *
 * Returns a future that takes the outcome of @future but whose
 * cancellation does not reach @future (asyncio's `shield()`): a task
 * cancelled while awaiting the shield stops waiting, and @future carries on.
 *
 * Returns: (transfer full): a new future
 */
CoopFuture *
coop_shield (CoopFuture *future)
{
  CoopComposite *self;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);
  coop_return_val_if_wrong_thread (coop_future_get_loop (future), COOP_INSTEAD_THREADSAFE, NULL);

  self = composite_new (coop_future_get_loop (future), KIND_SHIELD, &future, 1);
  attach_children (self);
  return COOP_FUTURE (self);
}

/* --- as_completed ------------------------------------------------------------------- */

/**
 * CoopAsCompleted:
 *
 * Hands out futures in the order they complete, as asyncio's
 * `as_completed()`.  Each call to [method@Coop.AsCompleted.next] returns a
 * future that finishes with the next input future to be done (as an object
 * result); it returns %NULL once every input has been handed out.
 *
 * ```c
 * g_autoptr(CoopAsCompleted) it = coop_as_completed_new (loop, futures, n);
 * CoopFuture *next;
 *
 * while ((next = coop_as_completed_next (it)) != NULL)
 *   {
 *     if (coop_await (next, NULL))
 *       use (COOP_FUTURE (coop_future_get_object (next, NULL)));
 *     g_object_unref (next);
 *   }
 * ```
 *
 * A `next` future that is cancelled (its task was cancelled) gives its
 * place back: the input it would have delivered goes to the next request.
 */

struct _CoopAsCompleted
{
  GObject      parent_instance;

  CoopLoop    *loop;
  guint        n_children;
  CoopFuture **children;     /* strong */
  CoopWaiter  *waiters;      /* one per child */
  GQueue       ready;        /* done inputs not handed out yet (borrowed from children) */
  GQueue       requests;     /* pending next() futures (strong) */
  guint        n_handed;     /* next() futures created */
};

G_DEFINE_FINAL_TYPE (CoopAsCompleted, coop_as_completed, G_TYPE_OBJECT)

static void as_completed_serve (CoopAsCompleted *self);

static void
as_completed_undo (CoopFuture *request,
                   gpointer    data)
{
  CoopAsCompleted *self = data;
  GObject *input = coop_future_get_object (request, NULL);

  /* The task that asked was cancelled before it saw the input: hand the
   * input to the next request instead. */
  if (input != NULL)
    {
      g_queue_push_head (&self->ready, input);
      self->n_handed--;
      as_completed_serve (self);
    }
}

static void
as_completed_serve (CoopAsCompleted *self)
{
  while (!g_queue_is_empty (&self->ready) && !g_queue_is_empty (&self->requests))
    {
      CoopFuture *request = g_queue_pop_head (&self->requests);

      if (!coop_future_is_done (request))
        {
          CoopFuture *input = g_queue_pop_head (&self->ready);

          coop_future_set_undo (request, as_completed_undo, g_object_ref (self), g_object_unref);
          coop_future_set_object (request, G_OBJECT (input));
        }
      else
        self->n_handed--;     /* cancelled before it was served */
      g_object_unref (request);
    }
}

static void
as_completed_child_done (CoopWaiter *waiter,
                         CoopFuture *child)
{
  CoopAsCompleted *self = waiter->data;

  g_queue_push_tail (&self->ready, child);
  as_completed_serve (self);
}

static void
coop_as_completed_finalize (GObject *object)
{
  CoopAsCompleted *self = COOP_AS_COMPLETED (object);
  guint i;

  for (i = 0; i < self->n_children; i++)
    {
      coop_future_remove_waiter (self->children[i], &self->waiters[i]);
      g_object_unref (self->children[i]);
    }
  g_free (self->children);
  g_free (self->waiters);
  g_queue_clear (&self->ready);
  g_queue_clear_full (&self->requests, g_object_unref);
  g_clear_object (&self->loop);

  G_OBJECT_CLASS (coop_as_completed_parent_class)->finalize (object);
}

static void
coop_as_completed_class_init (CoopAsCompletedClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = coop_as_completed_finalize;
}

static void
coop_as_completed_init (CoopAsCompleted *self)
{
  g_queue_init (&self->ready);
  g_queue_init (&self->requests);
}

/**
 * coop_as_completed_new:
 * @loop: a loop
 * @futures: (array length=n_futures): the futures, all of @loop
 * @n_futures: how many
 *
 * Starts watching @futures.  Futures of another loop are a programming
 * error (critical warning; the iterator then hands out nothing).
 *
 * Returns: (transfer full): the iterator
 */
CoopAsCompleted *
coop_as_completed_new (CoopLoop    *loop,
                       CoopFuture **futures,
                       guint        n_futures)
{
  CoopAsCompleted *self;
  guint i;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (futures != NULL || n_futures == 0, NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  self = g_object_new (COOP_TYPE_AS_COMPLETED, NULL);
  self->loop = g_object_ref (loop);
  for (i = 0; i < n_futures; i++)
    if (!COOP_IS_FUTURE (futures[i]) || coop_future_get_loop (futures[i]) != loop)
      {
        g_critical ("coop_as_completed_new: element %u is not a future of this loop", i);
        return self;
      }

  self->n_children = n_futures;
  self->children = g_new (CoopFuture *, MAX (n_futures, 1));
  self->waiters = g_new0 (CoopWaiter, MAX (n_futures, 1));
  for (i = 0; i < n_futures; i++)
    {
      self->children[i] = g_object_ref (futures[i]);
      self->waiters[i].func = as_completed_child_done;
      self->waiters[i].data = self;
      if (coop_future_is_done (futures[i]))
        g_queue_push_tail (&self->ready, futures[i]);
      else
        coop_future_add_waiter (futures[i], &self->waiters[i]);
    }
  return self;
}

/* Requests cancelled before they were served give their place back. */
static void
purge_cancelled_requests (CoopAsCompleted *self)
{
  GList *l = self->requests.head;

  while (l != NULL)
    {
      GList *next = l->next;

      if (coop_future_is_done (l->data))
        {
          g_object_unref (l->data);
          g_queue_delete_link (&self->requests, l);
          self->n_handed--;
        }
      l = next;
    }
}

/**
 * coop_as_completed_next:
 * @self: an iterator
 *
 * Asks for the next input future to complete.
 *
 * Returns: (transfer full) (nullable): a future that finishes with that
 *   input as its object result, or %NULL once every input has been asked
 *   for
 */
CoopFuture *
coop_as_completed_next (CoopAsCompleted *self)
{
  CoopFuture *request;

  g_return_val_if_fail (COOP_IS_AS_COMPLETED (self), NULL);

  purge_cancelled_requests (self);
  if (self->n_handed >= self->n_children)
    return NULL;
  self->n_handed++;
  request = coop_future_new (self->loop);
  g_queue_push_tail (&self->requests, g_object_ref (request));
  as_completed_serve (self);
  return request;
}

/**
 * coop_as_completed_get_n_left:
 * @self: an iterator
 *
 * Gets the number of inputs whose results have not been asked for.
 *
 * Returns: how many inputs have not been asked for yet
 */
guint
coop_as_completed_get_n_left (CoopAsCompleted *self)
{
  g_return_val_if_fail (COOP_IS_AS_COMPLETED (self), 0);

  purge_cancelled_requests (self);
  return self->n_children - self->n_handed;
}
