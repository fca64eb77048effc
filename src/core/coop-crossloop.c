/* coop-crossloop.c: awaiting a future of another loop, and starting a task
 * on another loop (asyncio's wrap_future() and run_coroutine_threadsafe()).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"

/*
 * How it fits together
 *
 * A future belongs to its loop and is touched on that loop's thread only.
 * To follow a future of a "remote" loop from a "home" loop, a link joins a
 * mirror (a future of the home loop) to the remote future:
 *
 *   home thread                         remote thread
 *   -----------                         -------------
 *   make mirror + link  --queue-->      attach: coop_future_then() on the
 *                                       remote future (or, for a spawn,
 *                                       make the task first)
 *                                       ... remote future done ...
 *                       <--queue--      record: copy the outcome into the
 *   deliver: complete the mirror        link, drop the remote future
 *
 *   cancel the mirror   --queue-->      cancel the remote future
 *
 * "queue" is coop_loop_call_soon_threadsafe(): a burst of completions
 * costs the home loop one wake-up.  The outcome (state, a copy of the
 * value, a copy of the error) is written on the remote thread before the
 * delivery is queued, and read on the home thread after, so the queue's
 * lock orders them; the link's own lock guards only what both sides may
 * change at any time (the cancellation request, whether the remote side
 * has started).  The remote future is released on its own thread: the
 * last reference on a task frees its stack into its loop's pool.
 *
 * A mirror stays pending until the remote side reports, even when it is
 * cancelled: cancelling it asks the remote future to cancel, and the
 * mirror then ends the way the remote future ended (CANCELLED, usually),
 * as an await of a task of the same loop waits until that task stopped.
 * If the remote loop is closed before the remote side could report, the
 * mirror fails with COOP_ERROR_LOOP_CLOSED (or ends as the remote future
 * ended, if it did).
 */

typedef struct _CrossLink CrossLink;

struct _CrossLink
{
  gint            ref_count;       /* atomic */
  GMutex          lock;            /* cancel_*, started, settled */
  CoopLoop       *home;            /* a reference */
  CoopLoop       *remote_loop;     /* a reference */
  CoopFuture     *remote;          /* a reference until recorded; remote thread
                                    * once attached */
  CoopFuture     *mirror;          /* home thread only; borrowed (the mirror
                                    * holds the link and clears this) */

  /* A spawn: the task to make on the remote loop. */
  char           *name;
  CoopTaskFunc    func;
  gpointer        user_data;
  GDestroyNotify  notify;

  /* Called on the remote side once it is through (the pool's load). */
  void          (*done_hook) (gpointer data);
  gpointer        done_data;

  /* Under the lock. */
  gboolean        started;         /* the remote side ran its attach */
  gboolean        settled;         /* the outcome is recorded */
  gboolean        cancel_requested;
  char           *cancel_message;

  /* The outcome: written on the remote thread before the delivery is
   * queued, read on the home thread after. */
  CoopFutureState state;
  GValue          value;
  GError         *error;
};

static CrossLink *
link_ref (CrossLink *link)
{
  g_atomic_int_inc (&link->ref_count);
  return link;
}

static void
link_unref (gpointer data)
{
  CrossLink *link = data;

  if (!g_atomic_int_dec_and_test (&link->ref_count))
    return;
  /* The remote future is gone by now (released on its thread), unless the
   * request never reached the remote loop: then nobody else touches it. */
  g_clear_object (&link->remote);
  if (G_VALUE_TYPE (&link->value) != G_TYPE_INVALID)
    g_value_unset (&link->value);
  g_clear_error (&link->error);
  g_free (link->cancel_message);
  g_free (link->name);
  g_clear_object (&link->home);
  g_clear_object (&link->remote_loop);
  g_mutex_clear (&link->lock);
  g_free (link);
}

/* --- the mirror: a future of the home loop ---------------------------------- */

#define COOP_TYPE_MIRROR (coop_mirror_get_type ())
G_DECLARE_FINAL_TYPE (CoopMirror, coop_mirror, COOP, MIRROR, CoopFuture)

struct _CoopMirror
{
  CoopFuture  parent_instance;
  CrossLink  *link;
};

G_DEFINE_FINAL_TYPE (CoopMirror, coop_mirror, COOP_TYPE_FUTURE)

static void
cancel_remote_run (gpointer data)
{
  CrossLink *link = data;
  CoopFuture *remote = link->remote;   /* still held: not recorded yet */

  if (remote != NULL && !coop_future_is_done (remote))
    coop_future_cancel (remote, link->cancel_message);
}

/* Cancelling the mirror cancels the remote future, through its loop's
 * queue; the mirror ends when the remote side reports how it ended. */
static gboolean
coop_mirror_cancel (CoopFuture *future,
                    const char *message)
{
  CrossLink *link = COOP_MIRROR (future)->link;
  gboolean forward;

  coop_mutex_lock (&link->lock);
  if (link->settled || link->cancel_requested)
    {
      /* Already on its way: the mirror ends when the remote side reports. */
      coop_mutex_unlock (&link->lock);
      return TRUE;
    }
  link->cancel_requested = TRUE;
  link->cancel_message = g_strdup (message);
  /* Before the remote side started, it sees the request when it does. */
  forward = link->started;
  coop_mutex_unlock (&link->lock);

  if (forward)
    coop_loop_call_soon_threadsafe (link->remote_loop, cancel_remote_run, link_ref (link),
                                    link_unref);
  return TRUE;
}

static void
coop_mirror_finalize (GObject *object)
{
  CoopMirror *mirror = COOP_MIRROR (object);

  if (mirror->link != NULL)
    {
      mirror->link->mirror = NULL;
      link_unref (mirror->link);
    }
  G_OBJECT_CLASS (coop_mirror_parent_class)->finalize (object);
}

static void
coop_mirror_init (CoopMirror *mirror)
{
}

static void
coop_mirror_class_init (CoopMirrorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  CoopFutureClass *future_class = COOP_FUTURE_CLASS (klass);

  object_class->finalize = coop_mirror_finalize;
  future_class->cancel = coop_mirror_cancel;
}

static void
describe_mirror (CoopFuture *future,
                 gpointer    data,
                 GString    *out)
{
  CrossLink *link = data;

  g_string_append_printf (out, "a future of another loop (%p)", (gpointer) link->remote_loop);
}

/* --- delivery on the home thread ------------------------------------------ */

static void
deliver_run (gpointer data)
{
  CrossLink *link = data;
  CoopFuture *mirror = link->mirror;

  if (mirror == NULL || coop_future_is_done (mirror))
    return;   /* nobody holds it any more */
  switch (link->state)
    {
    case COOP_FUTURE_STATE_FINISHED:
      coop_future_set_value (mirror, G_VALUE_TYPE (&link->value) != G_TYPE_INVALID ? &link->value : NULL);
      break;
    case COOP_FUTURE_STATE_FAILED:
    case COOP_FUTURE_STATE_CANCELLED:
    default:
      coop_future_take_error (mirror, g_steal_pointer (&link->error));
      break;
    }
}

/* --- the remote side ---------------------------------------------------------- */

/* Records the outcome of the remote future (or @error if it has none) and
 * queues the delivery.  On the remote thread, or on the thread that found
 * the remote loop closed. */
static void
record (CrossLink *link,
        GError    *error)
{
  CoopFuture *remote = g_steal_pointer (&link->remote);

  coop_mutex_lock (&link->lock);
  if (link->settled)
    {
      coop_mutex_unlock (&link->lock);
      g_clear_error (&error);
      g_clear_object (&remote);
      return;
    }
  link->settled = TRUE;
  coop_mutex_unlock (&link->lock);

  if (error == NULL && remote != NULL && coop_future_is_done (remote))
    {
      const GValue *value;

      link->state = coop_future_get_state (remote);
      if (link->state == COOP_FUTURE_STATE_FINISHED)
        {
          value = coop_future_get_value (remote, NULL);
          if (value != NULL)
            {
              g_value_init (&link->value, G_VALUE_TYPE (value));
              g_value_copy (value, &link->value);
            }
        }
      else
        link->error = g_error_copy (coop_future_get_error (remote));
    }
  else
    {
      link->state = COOP_FUTURE_STATE_FAILED;
      link->error = error != NULL ? error
        : g_error_new_literal (COOP_ERROR, COOP_ERROR_LOOP_CLOSED,
                               "The other loop was closed before the future was done");
      error = NULL;
    }
  g_clear_object (&remote);

  if (link->done_hook != NULL)
    link->done_hook (link->done_data);
  coop_loop_call_soon_threadsafe (link->home, deliver_run, link_ref (link), link_unref);
}

static void
remote_fulfilled (const GValue *value,
                  gpointer      data)
{
  record (data, NULL);
}

static void
remote_rejected (const GError *error,
                 gpointer      data)
{
  record (data, NULL);
}

/* Both then() callbacks share this notify; it runs once, after the one that
 * ran, or when the remote loop closed with the future pending. */
static void
remote_then_done (gpointer data)
{
  CrossLink *link = data;

  record (link, NULL);
  link_unref (link);
}

static void
attach_run (gpointer data)
{
  CrossLink *link = data;
  gboolean cancel;

  if (link->func != NULL)
    {
      CoopTask *task = coop_task_new_full (link->remote_loop, link->name, 0, link->func,
                                           link->user_data, link->notify);

      /* The task owns user_data now. */
      link->func = NULL;
      link->notify = NULL;
      link->remote = COOP_FUTURE (task);
    }

  coop_mutex_lock (&link->lock);
  link->started = TRUE;
  cancel = link->cancel_requested;
  coop_mutex_unlock (&link->lock);

  if (cancel)
    coop_future_cancel (link->remote, link->cancel_message);
  coop_future_then (link->remote, remote_fulfilled, link_ref (link), remote_then_done,
                    remote_rejected, link, NULL);
}

/* The notify of the attach request: after it ran, or instead of it when
 * the remote loop is closed. */
static void
attach_done (gpointer data)
{
  CrossLink *link = data;
  gboolean started;

  coop_mutex_lock (&link->lock);
  started = link->started;
  coop_mutex_unlock (&link->lock);
  if (!started)
    {
      GDestroyNotify notify = g_steal_pointer (&link->notify);

      record (link, g_error_new_literal (COOP_ERROR, COOP_ERROR_LOOP_CLOSED,
                                         link->func != NULL
                                           ? "The other loop was closed before the task started"
                                           : "The other loop was closed before the future was done"));
      /* The task will never be made: its data goes now. */
      link->func = NULL;
      if (notify != NULL)
        notify (link->user_data);
    }
  link_unref (link);
}

/* Makes a mirror on @home for the remote side of @link and sends the
 * attach request.  Takes @link. */
static CoopFuture *
link_start (CrossLink *link)
{
  CoopMirror *mirror = coop_future_new_internal (COOP_TYPE_MIRROR, link->home);

  mirror->link = link;   /* the caller's reference */
  link->mirror = COOP_FUTURE (mirror);
  coop_future_set_describe (COOP_FUTURE (mirror), describe_mirror, link);
  coop_loop_call_soon_threadsafe (link->remote_loop, attach_run, link_ref (link), attach_done);
  return COOP_FUTURE (mirror);
}

static CrossLink *
link_new (CoopLoop *home,
          CoopLoop *remote_loop)
{
  CrossLink *link = g_new0 (CrossLink, 1);

  link->ref_count = 1;
  g_mutex_init (&link->lock);
  link->home = g_object_ref (home);
  link->remote_loop = g_object_ref (remote_loop);
  return link;
}

/* The home loop when none is given: the calling task's, else the
 * thread-default context's. */
static CoopLoop *
default_home (void)
{
  CoopTask *task = coop_task_current_internal ();

  if (task != NULL)
    return coop_task_get_loop_internal (task);
  return coop_loop_get_default ();
}

/**
 * coop_future_wrap:
 * @future: a future, of any loop
 * @loop: (nullable): the loop the returned future belongs to; %NULL for the
 *   calling task's loop, or the loop of the thread-default context
 *
 * Returns a future of @loop that ends as @future ends, for a @future of a
 * loop that runs on another thread: asyncio's `wrap_future()`.  With it,
 * a future of another loop can be combined ([func@Coop.gather],
 * [func@Coop.wait_for]) or added to a [class@Coop.TaskGroup] on this one.
 * [func@Coop.await] does this by itself for a future of another loop.
 *
 * The outcome crosses through the two loops' thread-safe queues
 * ([method@Coop.Loop.call_soon_threadsafe]): the returned future finishes
 * with a copy of @future's value (a raw pointer is copied as it is, and
 * stays owned by @future) or fails with a copy of its error.  Cancelling
 * the returned future cancels @future on its own loop; the returned future
 * then ends as @future does. If @future's loop is closed before @future
 * is done, the returned future fails with %COOP_ERROR_LOOP_CLOSED.
 *
 * Call it on @loop's thread (@future may belong to any loop). A @future
 * of @loop itself is returned as it is, with a new reference.
 *
 * Returns: (transfer full): a future of @loop
 */
CoopFuture *
coop_future_wrap (CoopFuture *future,
                  CoopLoop   *loop)
{
  CrossLink *link;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);
  g_return_val_if_fail (loop == NULL || COOP_IS_LOOP (loop), NULL);

  if (loop == NULL)
    loop = default_home ();
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);
  if (coop_future_loop_unchecked (future) == loop)
    return g_object_ref (future);

  link = link_new (loop, coop_future_loop_unchecked (future));
  link->remote = g_object_ref (future);
  return link_start (link);
}

/* coop_await() of a future of another loop: await a mirror on the task's
 * loop.  Costs two small allocations and two trips through the queues. */
gboolean
coop_crossloop_await (CoopTask    *task,
                      CoopFuture  *future,
                      GError     **error)
{
  CrossLink *link = link_new (coop_task_get_loop_internal (task),
                              coop_future_loop_unchecked (future));
  g_autoptr(CoopFuture) mirror = NULL;

  link->remote = g_object_ref (future);
  mirror = link_start (link);
  return coop_await (mirror, error);
}

CoopFuture *
coop_crossloop_spawn (CoopLoop       *loop,
                      CoopLoop       *home,
                      const char     *name,
                      CoopTaskFunc    func,
                      gpointer        user_data,
                      GDestroyNotify  notify,
                      void          (*done_hook) (gpointer data),
                      gpointer        done_data)
{
  CrossLink *link = link_new (home, loop);

  link->name = g_strdup (name);
  link->func = func;
  link->user_data = user_data;
  link->notify = notify;
  link->done_hook = done_hook;
  link->done_data = done_data;
  return link_start (link);
}

/**
 * coop_loop_run_task_threadsafe: (skip)
 * @loop: the loop to run the task on
 * @home: (nullable): the loop of the returned future; %NULL for the
 *   calling task's loop, or the loop of the thread-default context
 * @name: (nullable): the task's name
 * @func: (scope notified) (closure user_data) (destroy notify): the body of
 *   the task, a C function
 * @user_data: data for @func
 * @notify: (nullable): frees @user_data once the task is done (on @loop's
 *   thread), or once the request is dropped because @loop was closed first
 *
 * Starts a C task on @loop, which runs on another thread, and returns a
 * future of @home that ends as the task ends: asyncio's
 * `run_coroutine_threadsafe()`, with the result already wrapped for the
 * caller's loop ([method@Coop.Future.wrap]).  The task is made on @loop's
 * thread, in its next dispatch, and stays on that thread (its stack is
 * bound to it).
 *
 * Cancellation passes both ways: cancelling the returned future cancels
 * the task (through @loop's queue; a task not started yet never runs), and
 * the returned future ends as the task ends, so a task cancelled on @loop
 * leaves it %COOP_FUTURE_STATE_CANCELLED.  If @loop is closed before the
 * task started, the returned future fails with %COOP_ERROR_LOOP_CLOSED;
 * if it is shut down ([method@Coop.Loop.shutdown]) or closed while the task
 * runs, the task is cancelled and so is the returned future.
 *
 * The task's value is copied into the returned future; a raw pointer
 * ([method@Coop.Future.set_pointer]) is copied as it is and is only valid
 * while the task lives, which it does not after it is done: hand results
 * across loops as values that own their data (strings, objects, boxed
 * types).
 *
 * Call it on @home's thread; @loop may be any loop, even @home.
 *
 * Returns: (transfer full): a future of @home
 */
CoopFuture *
coop_loop_run_task_threadsafe (CoopLoop       *loop,
                               CoopLoop       *home,
                               const char     *name,
                               CoopTaskFunc    func,
                               gpointer        user_data,
                               GDestroyNotify  notify)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (home == NULL || COOP_IS_LOOP (home), NULL);
  g_return_val_if_fail (func != NULL, NULL);

  if (home == NULL)
    home = default_home ();
  coop_return_val_if_wrong_thread (home, COOP_INSTEAD_THREADSAFE, NULL);

  return coop_crossloop_spawn (loop, home, name, func, user_data, notify, NULL, NULL);
}
