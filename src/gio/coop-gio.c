/* coop-gio.c: bridges to GIO's asynchronous world.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"
#include "coop-gio-private.h"

/* --- cancellable links --------------------------------------------------------------
 *
 * A link carries the cancellation of a GCancellable, which may happen on
 * any thread, to a future (a task) on its loop's thread: the "cancelled"
 * handler only queues a call with coop_loop_call_soon_threadsafe().  It is
 * disconnected once the future is done.  A link bound both ways
 * (coop_task_bind_cancellable()) also trips the cancellable when the task
 * is asked to cancel, from a cancel hook of the task; the echo of that
 * back through the handler is ignored, so one request counts once.
 *
 * References: the handler, each queued hop, the done callback and the
 * cancel hook each hold one on the link; the link holds the loop and the
 * cancellable, and the future until it is done (the cancel hook lives as
 * long as the task, so the link must not keep the task alive). */

typedef struct
{
  gint          ref_count;     /* atomic */
  CoopLoop     *loop;
  CoopFuture   *future;
  GCancellable *cancellable;
  gulong        handler;       /* 0 once disconnected; loop thread only */
  gint          from_task;     /* atomic: we are tripping the cancellable ourselves */
} CancelLink;

static CancelLink *
cancel_link_ref (CancelLink *link)
{
  g_atomic_int_inc (&link->ref_count);
  return link;
}

static void
cancel_link_unref (gpointer data)
{
  CancelLink *link = data;

  if (!g_atomic_int_dec_and_test (&link->ref_count))
    return;
  g_object_unref (link->cancellable);
  g_clear_object (&link->future);
  g_object_unref (link->loop);
  g_free (link);
}

/* On the loop's thread. */
static void
cancel_link_fire (gpointer data)
{
  CancelLink *link = data;

  if (link->future != NULL)
    coop_future_cancel (link->future, "The GCancellable was cancelled");
}

/* The "cancelled" handler: any thread. */
static void
cancel_link_cancelled (GCancellable *cancellable,
                       gpointer      data)
{
  CancelLink *link = data;

  if (g_atomic_int_get (&link->from_task))
    return;
  /* Dropped, with its reference, if the loop is closed. */
  coop_loop_call_soon_threadsafe (link->loop, cancel_link_fire,
                                  cancel_link_ref (link), cancel_link_unref);
}

/* Once the future is done (loop thread).  The link lets go of the future
 * too: a task's cancel hook keeps the link until the task is finalized,
 * which must not wait for the link. */
static void
cancel_link_disconnect (CancelLink *link)
{
  gulong handler = link->handler;

  link->handler = 0;
  /* Waits for a handler running on another thread; releases its reference. */
  if (handler != 0)
    g_cancellable_disconnect (link->cancellable, handler);
  g_clear_object (&link->future);
}

static void
cancel_link_future_done (CoopFuture *future,
                         gpointer    data)
{
  cancel_link_disconnect (data);
}

static void
cancel_link_release (gpointer data)
{
  /* Also reached without the callback when the loop is closed first. */
  cancel_link_disconnect (data);
  cancel_link_unref (data);
}

/* Makes the cancellation of @cancellable cancel @future until @future is
 * done.  Called on the loop's thread.  Returns the link (a reference). */
static CancelLink *
cancel_link_new (CoopFuture   *future,
                 GCancellable *cancellable)
{
  CancelLink *link = g_new0 (CancelLink, 1);

  link->ref_count = 1;
  link->loop = g_object_ref (coop_future_get_loop (future));
  link->cancellable = g_object_ref (cancellable);
  if (coop_future_is_done (future))
    return link;

  link->future = g_object_ref (future);
  coop_future_add_done_callback (future, cancel_link_future_done,
                                 cancel_link_ref (link), cancel_link_release);

  /* Already cancelled: at once, so a task never starts. */
  if (g_cancellable_is_cancelled (cancellable))
    {
      coop_future_cancel (future, "The GCancellable was cancelled");
      return link;
    }

  /* If it gets cancelled right now, on another thread, connect() calls
   * the handler at once and returns 0; the handler queues the call. */
  link->handler = g_cancellable_connect (cancellable, G_CALLBACK (cancel_link_cancelled),
                                         cancel_link_ref (link), cancel_link_unref);
  return link;
}

/* Trips @cancellable from inside the task's cancellation, without the
 * handler echoing it back as a second request. */
static void
cancel_link_trip (CancelLink *link)
{
  g_atomic_int_set (&link->from_task, TRUE);
  g_cancellable_cancel (link->cancellable);
  g_atomic_int_set (&link->from_task, FALSE);
}

/* --- CoopAsyncFuture -------------------------------------------------------------- */

/**
 * CoopAsyncFuture:
 *
 * A future completed by a GIO `GAsyncReadyCallback`: with it a C task
 * awaits any `_async`/`_finish` pair of GIO (or of any library that
 * follows GIO's conventions).
 *
 * ```c
 * g_autoptr(CoopAsyncFuture) op = coop_async_future_new (loop);
 * g_autoptr(GError) error = NULL;
 * g_autoptr(GBytes) bytes = NULL;
 *
 * g_file_load_bytes_async (file, coop_async_future_get_cancellable (op),
 *                          coop_async_future_callback, op);
 * if (coop_await (COOP_FUTURE (op), &error))
 *   bytes = g_file_load_bytes_finish (file, coop_async_future_get_result (op),
 *                                     NULL, &error);
 * ```
 *
 * For the common case, [ctor@Coop.AsyncFuture.new_for_finish] (or the
 * `COOP_ASYNC_CALL()` macro, one line) calls the `_finish` function itself
 * and finishes with its result; Coop also has ready-made wrappers for
 * most of GIO ([GIO integration](gio.html)).
 *
 * The future finishes when the callback runs, with the #GAsyncResult as
 * its value (also returned by [method@Coop.AsyncFuture.get_result]); the
 * outcome of the operation itself is what the `_finish` function says.
 *
 * Cancelling the future (which is what cancelling the task that awaits it
 * does) cancels its #GCancellable, but the future stays pending until
 * GIO's callback has run, so the operation has really stopped when the
 * await returns.  It then ends %COOP_FUTURE_STATE_CANCELLED, and the await
 * reports `G_IO_ERROR_CANCELLED`, whatever the operation did; the
 * #GAsyncResult is kept all the same, so `_finish` can still be called to
 * release a result that arrived anyway (it usually reports
 * `G_IO_ERROR_CANCELLED` too).  Cancelling the #GCancellable directly
 * only affects the operation: the future then finishes normally and
 * `_finish` reports the cancellation.
 *
 * GIO calls the callback in the thread-default #GMainContext of the thread
 * that made the `_async` call.  Inside a task that is the loop's thread;
 * make sure the loop's context is the thread-default one there (it is for
 * loops made with [ctor@Coop.Loop.new] with %NULL or
 * [func@Coop.Loop.get_default], and in GTK and #GApplication programs).  A
 * callback that arrives anywhere else (another context, another thread) is
 * forwarded to the loop's thread with
 * [method@Coop.Loop.call_soon_threadsafe], so the future is only ever
 * completed on its loop's thread.
 *
 * A future serves one operation: one `_async` call, one callback.
 */

struct _CoopAsyncFuture
{
  CoopFuture    parent_instance;

  GCancellable *cancellable;
  GAsyncResult *result;
  char         *cancel_message;
  gboolean      cancel_requested;
  gint          called;             /* atomic: the callback arrived */

  /* Set for the futures that call the _finish function themselves
   * (coop_async_future_new_for_finish() and the wrappers): they hold a
   * reference on themselves until the callback ran, so the caller may
   * drop theirs. */
  CoopGioFinishHook  hook;
  gpointer           hook_data;
  GDestroyNotify     hook_notify;
  GMainContext      *pushed;       /* made thread-default for the _async call */
  GType              finish_type;  /* coop_async_future_new_for_finish() */
  GCallback          finish_func;
};

G_DEFINE_FINAL_TYPE (CoopAsyncFuture, coop_async_future, COOP_TYPE_FUTURE)

static gboolean
coop_async_future_cancel (CoopFuture *future,
                          const char *message)
{
  CoopAsyncFuture *self = COOP_ASYNC_FUTURE (future);

  if (!self->cancel_requested)
    {
      self->cancel_requested = TRUE;
      self->cancel_message = g_strdup (message);
    }
  /* GIO may complete the operation right here (its callback then marks the
   * future cancelled): the request is recorded first. */
  g_cancellable_cancel (self->cancellable);
  return TRUE;
}

static void
coop_async_future_finalize (GObject *object)
{
  CoopAsyncFuture *self = COOP_ASYNC_FUTURE (object);

  g_clear_object (&self->cancellable);
  g_clear_object (&self->result);
  g_free (self->cancel_message);
  if (self->hook_notify != NULL)
    g_clear_pointer (&self->hook_data, self->hook_notify);

  G_OBJECT_CLASS (coop_async_future_parent_class)->finalize (object);
}

static void
coop_async_future_init (CoopAsyncFuture *self)
{
  self->cancellable = g_cancellable_new ();
}

static void
coop_async_future_class_init (CoopAsyncFutureClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = coop_async_future_finalize;
  COOP_FUTURE_CLASS (klass)->cancel = coop_async_future_cancel;
}

/* The _finish function runs whatever happened to the future, so that
 * a result that arrived anyway is released. */
static void
async_future_finish (CoopAsyncFuture *self,
                     GObject         *source,
                     GAsyncResult    *result)
{
  CoopFuture *future = COOP_FUTURE (self);
  GValue value = G_VALUE_INIT;
  GError *error = NULL;
  gboolean ok;

  ok = self->hook (source, result, self->hook_data, &value, &error);
  /* A hook that fails must say why. */
  if (!ok && error == NULL)
    g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_FAILED,
                         "The operation failed without saying why");
  if (coop_future_is_done (future))
    ;   /* completed by someone else: nothing to say */
  else if (self->cancel_requested)
    coop_future_set_cancelled (future, self->cancel_message);
  else if (ok)
    coop_future_set_value (future, G_IS_VALUE (&value) ? &value : NULL);
  else
    coop_future_take_error (future, g_steal_pointer (&error));

  g_clear_error (&error);
  if (G_IS_VALUE (&value))
    g_value_unset (&value);
  /* Progress callbacks and the like are done with. */
  if (self->hook_notify != NULL)
    g_clear_pointer (&self->hook_data, self->hook_notify);
  self->hook = NULL;
  /* The reference the operation held (coop_gio_op_new()). */
  g_object_unref (self);
}

/* On the loop's thread. */
static void
async_future_complete (CoopAsyncFuture *self,
                       GObject         *source,
                       GAsyncResult    *result)
{
  CoopFuture *future = COOP_FUTURE (self);

  g_set_object (&self->result, result);
  if (self->hook != NULL)
    {
      async_future_finish (self, source, result);
      return;
    }
  if (coop_future_is_done (future))
    return;   /* completed by someone else: nothing to say */
  if (self->cancel_requested)
    coop_future_set_cancelled (future, self->cancel_message);
  else
    coop_future_set_object (future, G_OBJECT (result));
}

typedef struct
{
  CoopAsyncFuture *future;
  GObject         *source;
  GAsyncResult    *result;
  gboolean         ran;
} Forward;

static void
forward_run (gpointer data)
{
  Forward *forward = data;

  forward->ran = TRUE;
  async_future_complete (forward->future, forward->source, forward->result);
}

static void
forward_free (gpointer data)
{
  Forward *forward = data;
  CoopAsyncFuture *self = forward->future;

  /* Dropped unrun: the loop was closed.  The future stays pending, but a
   * _finish hook still releases the result, its data and the reference
   * the operation held. */
  if (!forward->ran && self->hook != NULL)
    {
      GValue value = G_VALUE_INIT;
      GError *error = NULL;

      self->hook (forward->source, forward->result, self->hook_data, &value, &error);
      g_clear_error (&error);
      if (G_IS_VALUE (&value))
        g_value_unset (&value);
      if (self->hook_notify != NULL)
        g_clear_pointer (&self->hook_data, self->hook_notify);
      self->hook = NULL;
      g_object_unref (self);
    }
  g_clear_object (&forward->source);
  g_object_unref (forward->result);
  g_object_unref (forward->future);
  g_free (forward);
}

/* GIO does not say which call a result is for until it arrives. */
static void
async_future_describe (CoopFuture *future,
                       gpointer    data,
                       GString    *out)
{
  CoopAsyncFuture *self = COOP_ASYNC_FUTURE (future);

  g_string_append_printf (out, "GIO call (cancellable %p%s)", (gpointer) self->cancellable,
                          self->cancel_requested ? ", cancel requested" : "");
}

/**
 * coop_async_future_new:
 * @loop: the loop the future belongs to
 *
 * Creates a future for one GIO asynchronous call: pass
 * [method@Coop.AsyncFuture.get_cancellable] as the call's cancellable,
 * `coop_async_future_callback()` as its callback and the future as the
 * callback's user data, then await the future and give
 * [method@Coop.AsyncFuture.get_result] to the `_finish` function.
 *
 * Returns: (transfer full): a new pending future
 */
CoopAsyncFuture *
coop_async_future_new (CoopLoop *loop)
{
  CoopAsyncFuture *future;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);

  future = coop_future_new_internal (COOP_TYPE_ASYNC_FUTURE, loop);
  coop_future_set_describe (COOP_FUTURE (future), async_future_describe, NULL);
  return future;
}

/**
 * coop_async_future_get_cancellable:
 * @future: a future
 *
 * Returns the cancellable to give to the `_async` call.  It is cancelled
 * when @future is cancelled.
 *
 * Returns: (transfer none): the cancellable of @future
 */
GCancellable *
coop_async_future_get_cancellable (CoopAsyncFuture *future)
{
  g_return_val_if_fail (COOP_IS_ASYNC_FUTURE (future), NULL);

  return future->cancellable;
}

/**
 * coop_async_future_get_result:
 * @future: a future
 *
 * Returns the #GAsyncResult that GIO gave the callback, to pass to the
 * `_finish` function.  It is there once the callback ran, even when
 * @future ended cancelled.
 *
 * Returns: (transfer none) (nullable): the result, or %NULL if the
 *   callback has not run yet
 */
GAsyncResult *
coop_async_future_get_result (CoopAsyncFuture *future)
{
  g_return_val_if_fail (COOP_IS_ASYNC_FUTURE (future), NULL);

  return future->result;
}

/**
 * coop_async_future_callback: (skip)
 * @source_object: (nullable): the source object of the operation
 * @result: the result of the operation
 * @future: (type Coop.AsyncFuture): the future, given as the user data of
 *   the `_async` call
 *
 * The `GAsyncReadyCallback` that completes a [class@Coop.AsyncFuture].
 * Pass it to any `_async` function with the future as its user data.
 *
 * It takes no reference on the future: whoever made the call keeps one
 * until the callback has run (a future made with
 * [ctor@Coop.AsyncFuture.new_for_finish] keeps one on itself).  Awaiting
 * the future does that, since the future is not done before the callback
 * ran, even when it is cancelled.
 * The future is completed on its loop's thread; a callback that runs
 * elsewhere is forwarded there.
 *
 * Language bindings have their own ways to call asynchronous functions.
 */
void
coop_async_future_callback (GObject      *source_object,
                            GAsyncResult *result,
                            gpointer      future)
{
  CoopAsyncFuture *self = future;
  CoopLoop *loop;

  g_return_if_fail (COOP_IS_ASYNC_FUTURE (self));
  g_return_if_fail (G_IS_ASYNC_RESULT (result));

  if (!g_atomic_int_compare_and_exchange (&self->called, FALSE, TRUE))
    {
      g_critical ("coop_async_future_callback: the future already had its callback; "
                  "a CoopAsyncFuture serves one asynchronous call");
      return;
    }

  loop = coop_future_get_loop (COOP_FUTURE (self));
  if (g_main_context_is_owner (coop_loop_get_context (loop)))
    async_future_complete (self, source_object, result);
  else
    {
      Forward *forward = g_new0 (Forward, 1);

      forward->future = g_object_ref (self);
      forward->source = source_object != NULL ? g_object_ref (source_object) : NULL;
      forward->result = g_object_ref (result);
      coop_loop_call_soon_threadsafe (loop, forward_run, forward, forward_free);
    }
}

/* --- futures that call the _finish function ----------------------------------------
 *
 * GIO's _finish functions come in a few shapes: a gboolean, a gssize byte
 * count, or a pointer the caller owns (object, string, boxed, variant).
 * The shape is named by a GType, so that the future's value can be set
 * with the right ownership and C callers read it with a typed getter.
 * The function is called through a pointer of its real type: a gboolean
 * or gssize return read as a pointer would be garbage in the high bits. */

typedef gboolean (*FinishBoolean) (gpointer, GAsyncResult *, GError **);
typedef gssize   (*FinishSsize)   (gpointer, GAsyncResult *, GError **);
typedef gpointer (*FinishPointer) (gpointer, GAsyncResult *, GError **);

static gboolean
finish_by_type (GObject       *source,
                GAsyncResult  *result,
                gpointer       data,
                GValue        *value,
                GError       **error)
{
  CoopAsyncFuture *self = data;
  GType type = self->finish_type;
  GType fundamental = G_TYPE_FUNDAMENTAL (type);
  gpointer pointer;

  if (type == G_TYPE_BOOLEAN)
    {
      if (!((FinishBoolean) self->finish_func) (source, result, error))
        return FALSE;
      g_value_init (value, G_TYPE_BOOLEAN);
      g_value_set_boolean (value, TRUE);
      return TRUE;
    }
  if (type == G_TYPE_INT64)
    {
      gssize n = ((FinishSsize) self->finish_func) (source, result, error);

      if (n < 0)
        return FALSE;
      g_value_init (value, G_TYPE_INT64);
      g_value_set_int64 (value, n);
      return TRUE;
    }

  pointer = ((FinishPointer) self->finish_func) (source, result, error);
  if (pointer == NULL && error != NULL && *error != NULL)
    return FALSE;
  g_value_init (value, type);
  if (fundamental == G_TYPE_STRING)
    g_value_take_string (value, pointer);
  else if (fundamental == G_TYPE_VARIANT)
    g_value_take_variant (value, pointer);
  else if (fundamental == G_TYPE_BOXED)
    g_value_take_boxed (value, pointer);
  else
    g_value_take_object (value, pointer);
  return TRUE;
}

static gboolean
finish_type_is_valid (GType type)
{
  GType fundamental = G_TYPE_FUNDAMENTAL (type);

  return type == G_TYPE_BOOLEAN || type == G_TYPE_INT64 ||
         fundamental == G_TYPE_STRING || fundamental == G_TYPE_VARIANT ||
         fundamental == G_TYPE_BOXED || fundamental == G_TYPE_OBJECT ||
         fundamental == G_TYPE_INTERFACE;
}

/**
 * coop_async_future_new_for_finish: (skip)
 * @loop: the loop the future belongs to
 * @result_type: what @finish_func returns: %G_TYPE_BOOLEAN, %G_TYPE_INT64
 *   (for a #gssize), %G_TYPE_STRING, %G_TYPE_VARIANT, or an object,
 *   interface or boxed type
 * @finish_func: the `_finish` function of the call, taking the source
 *   object, the #GAsyncResult and a #GError location
 *
 * Creates a future for one GIO asynchronous call that calls its
 * `_finish` function itself, so that the future's value is the
 * operation's result.  Pass [method@Coop.AsyncFuture.get_cancellable],
 * `coop_async_future_callback()` and the future to the `_async` call, or
 * let the `COOP_ASYNC_CALL()` macro do it in one line:
 *
 * ```c
 * g_autoptr(CoopFuture) f = COOP_ASYNC_CALL (loop, G_TYPE_FILE_INFO, g_file_query_info_finish,
 *                                            g_file_query_info_async, file, "standard::*",
 *                                            G_FILE_QUERY_INFO_NONE, G_PRIORITY_DEFAULT);
 * ```
 *
 * How @result_type maps:
 *
 * | @finish_func returns | @result_type | the future finishes with |
 * |---|---|---|
 * | #gboolean | %G_TYPE_BOOLEAN | %TRUE ([method@Coop.Future.get_boolean]); %FALSE is its error |
 * | #gssize | %G_TYPE_INT64 | the count ([method@Coop.Future.get_int64]); a negative count is its error |
 * | `char *` (transfer full) | %G_TYPE_STRING | the string ([method@Coop.Future.get_string]) |
 * | #GVariant (transfer full) | %G_TYPE_VARIANT | the variant |
 * | an object (transfer full) | its type (or a parent type) | the object ([method@Coop.Future.get_object]) |
 * | a boxed value (transfer full) | its type, %G_TYPE_BYTES for example | the value ([method@Coop.Future.get_bytes], [method@Coop.Future.get_boxed]) |
 *
 * A pointer result of %NULL is the failure when the `_finish` function
 * set its error, else a %NULL value.  The future owns the result, and
 * frees it with itself.
 *
 * `_finish` functions with extra out arguments, or without a source
 * object, do not fit: use [ctor@Coop.AsyncFuture.new] and call them after
 * the await.
 *
 * The future keeps itself alive until GIO's callback has run, so the
 * caller may drop its reference at any time; it must make the `_async`
 * call, or the future is never freed.  Cancelling it cancels the call (see
 * [class@Coop.AsyncFuture]): it then ends cancelled, after `_finish` has
 * released whatever arrived.
 *
 * Not for language bindings (`(skip)`: @finish_func is a C function
 * pointer); they have their own ways to call GIO's asynchronous functions.
 *
 * Returns: (transfer full): a new pending future
 */
CoopAsyncFuture *
coop_async_future_new_for_finish (CoopLoop  *loop,
                                  GType      result_type,
                                  GCallback  finish_func)
{
  CoopAsyncFuture *future;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (finish_type_is_valid (result_type), NULL);
  g_return_val_if_fail (finish_func != NULL, NULL);

  future = coop_async_future_new (loop);
  future->finish_type = result_type;
  future->finish_func = finish_func;
  future->hook = finish_by_type;
  future->hook_data = future;
  g_object_ref (future);   /* until the callback ran */
  return future;
}

/* --- the wrappers' side (coop-gio-private.h) --------------------------------------- */

CoopAsyncFuture *
coop_gio_op_new_hook (CoopLoop          *loop,
                      GCancellable      *cancellable,
                      CoopGioFinishHook  hook,
                      gpointer           data,
                      GDestroyNotify     notify)
{
  CoopAsyncFuture *future = coop_async_future_new (loop);
  GMainContext *context = coop_loop_get_context (loop);

  future->hook = hook;
  future->hook_data = data;
  future->hook_notify = notify;
  g_object_ref (future);   /* until the callback ran */

  /* GIO calls back in the thread-default context of the _async call: make
   * it the loop's for the call, whoever calls. */
  if (g_main_context_get_thread_default () != context &&
      !(context == g_main_context_default () && g_main_context_get_thread_default () == NULL))
    {
      g_main_context_push_thread_default (context);
      future->pushed = context;
    }
  if (cancellable != NULL)
    cancel_link_unref (cancel_link_new (COOP_FUTURE (future), cancellable));
  return future;
}

CoopAsyncFuture *
coop_gio_op_new (CoopLoop     *loop,
                 GCancellable *cancellable,
                 GType         result_type,
                 GCallback     finish_func)
{
  CoopAsyncFuture *future = coop_gio_op_new_hook (loop, cancellable, finish_by_type, NULL, NULL);

  future->finish_type = result_type;
  future->finish_func = finish_func;
  future->hook_data = future;
  return future;
}

GCancellable *
coop_gio_op_cancellable (CoopAsyncFuture *op)
{
  return op->cancellable;
}

CoopFuture *
coop_gio_op_started (CoopAsyncFuture *op)
{
  if (op->pushed != NULL)
    {
      g_main_context_pop_thread_default (op->pushed);
      op->pushed = NULL;
    }
  return COOP_FUTURE (op);
}

/* --- a future behind a GTask ------------------------------------------------------ */

/* Boxed results are handed to the GTask as copies, freed with
 * g_boxed_free() if nobody propagates them.  A GDestroyNotify gets only the
 * pointer, so the type of each copy still owned by a GTask is looked up
 * here; the entry goes when the copy is freed or when its GTask is
 * finalized (then the copy was propagated and belongs to the caller). */
typedef struct
{
  GType    type;
  gpointer owner;      /* the GTask, for identity only */
} BoxedEntry;

typedef struct
{
  gpointer boxed;
  gpointer owner;
} BoxedKey;

G_LOCK_DEFINE_STATIC (boxed_results);
static GHashTable *boxed_results;   /* copy -> BoxedEntry */

static void
boxed_result_free (gpointer boxed)
{
  BoxedEntry *entry;
  GType type = G_TYPE_INVALID;

  G_LOCK (boxed_results);
  entry = boxed_results != NULL ? g_hash_table_lookup (boxed_results, boxed) : NULL;
  if (entry != NULL)
    {
      type = entry->type;
      g_hash_table_remove (boxed_results, boxed);
    }
  G_UNLOCK (boxed_results);

  if (type != G_TYPE_INVALID)
    g_boxed_free (type, boxed);
  else
    g_critical ("coop: a boxed task result of unknown type was not freed");
}

static void
boxed_result_forget (gpointer data)
{
  BoxedKey *key = data;
  BoxedEntry *entry;

  G_LOCK (boxed_results);
  entry = g_hash_table_lookup (boxed_results, key->boxed);
  if (entry != NULL && entry->owner == key->owner)
    g_hash_table_remove (boxed_results, key->boxed);
  G_UNLOCK (boxed_results);
  g_free (key);
}

static void
return_boxed (GTask   *gtask,
              GType    type,
              gpointer copy)
{
  BoxedEntry *entry = g_new (BoxedEntry, 1);
  BoxedKey *key = g_new (BoxedKey, 1);

  entry->type = type;
  entry->owner = gtask;
  key->boxed = copy;
  key->owner = gtask;

  G_LOCK (boxed_results);
  if (boxed_results == NULL)
    boxed_results = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  g_hash_table_insert (boxed_results, copy, entry);
  G_UNLOCK (boxed_results);

  /* GTask frees an unpropagated result in its finalize, before its qdata
   * goes: the entry is still there for boxed_result_free(). */
  g_object_set_data_full (G_OBJECT (gtask), "coop-boxed-result", key, boxed_result_forget);
  g_task_return_pointer (gtask, copy, boxed_result_free);
}

/* Returns the outcome of a done @future through @gtask (see
 * coop_future_return_to_gtask() for the mapping). */
static void
return_outcome (CoopFuture *future,
                GTask      *gtask)
{
  GError *error = NULL;
  const GValue *value = coop_future_get_value (future, &error);
  GType type;

  if (error != NULL)
    {
      g_task_return_error (gtask, error);
      return;
    }
  if (value == NULL)
    {
      g_task_return_boolean (gtask, TRUE);
      return;
    }

  type = G_VALUE_TYPE (value);
  if (G_VALUE_HOLDS_OBJECT (value))
    {
      gpointer object = g_value_dup_object (value);

      g_task_return_pointer (gtask, object, object != NULL ? g_object_unref : NULL);
      return;
    }

  switch (G_TYPE_FUNDAMENTAL (type))
    {
    case G_TYPE_BOOLEAN:
      g_task_return_boolean (gtask, g_value_get_boolean (value));
      break;
    case G_TYPE_CHAR:
      g_task_return_int (gtask, g_value_get_schar (value));
      break;
    case G_TYPE_UCHAR:
      g_task_return_int (gtask, g_value_get_uchar (value));
      break;
    case G_TYPE_INT:
      g_task_return_int (gtask, g_value_get_int (value));
      break;
    case G_TYPE_UINT:
      g_task_return_int (gtask, (gssize) g_value_get_uint (value));
      break;
    case G_TYPE_LONG:
      g_task_return_int (gtask, g_value_get_long (value));
      break;
    case G_TYPE_ULONG:
      g_task_return_int (gtask, (gssize) g_value_get_ulong (value));
      break;
    case G_TYPE_INT64:
      g_task_return_int (gtask, (gssize) g_value_get_int64 (value));
      break;
    case G_TYPE_UINT64:
      g_task_return_int (gtask, (gssize) g_value_get_uint64 (value));
      break;
    case G_TYPE_ENUM:
      g_task_return_int (gtask, g_value_get_enum (value));
      break;
    case G_TYPE_FLAGS:
      g_task_return_int (gtask, (gssize) g_value_get_flags (value));
      break;
    case G_TYPE_STRING:
      g_task_return_pointer (gtask, g_value_dup_string (value), g_free);
      break;
    case G_TYPE_POINTER:
      if (type != G_TYPE_POINTER)
        {
          /* Types derived from pointers (GType...) are values, not pointers. */
          g_task_return_value (gtask, (GValue *) value);
          break;
        }
      /* Still owned by the future (and its destroy notify, if any): keep
       * the future alive as long as the GTask. */
      g_object_set_data_full (G_OBJECT (gtask), "coop-future",
                              g_object_ref (future), g_object_unref);
      g_task_return_pointer (gtask, g_value_get_pointer (value), NULL);
      break;
    case G_TYPE_BOXED:
      {
        gpointer copy = g_value_dup_boxed (value);

        if (copy != NULL)
          return_boxed (gtask, type, copy);
        else
          g_task_return_pointer (gtask, NULL, NULL);
      }
      break;
    case G_TYPE_VARIANT:
      {
        GVariant *variant = g_value_dup_variant (value);

        g_task_return_pointer (gtask, variant, variant != NULL ? (GDestroyNotify) g_variant_unref : NULL);
      }
      break;
    default:
      /* double, float, GType, param specs...: no native GTask slot. */
      g_task_return_value (gtask, (GValue *) value);
      break;
    }
}

typedef struct
{
  GTask      *gtask;
  gboolean    returned;
} GTaskReturn;

static void
gtask_return_done (CoopFuture *future,
                   gpointer    data)
{
  GTaskReturn *ret = data;

  ret->returned = TRUE;
  return_outcome (future, ret->gtask);
}

static void
gtask_return_free (gpointer data)
{
  GTaskReturn *ret = data;

  /* The loop was closed before the future could report: say so rather
   * than leave the caller without an answer. */
  if (!ret->returned)
    g_task_return_new_error (ret->gtask, COOP_ERROR, COOP_ERROR_LOOP_CLOSED,
                             "The loop was closed before the operation completed");
  g_object_unref (ret->gtask);
  g_free (ret);
}

/**
 * coop_future_return_to_gtask:
 * @future: a future, typically a [class@Coop.Task]
 * @gtask: a #GTask that has not returned yet
 *
 * Returns the outcome of @future through @gtask once @future is done, so a
 * library can offer a GIO-style `_async`/`_finish` pair implemented with
 * Coop (see `coop_task_new_for_gtask()` for the usual case of a task).
 * Cancelling the cancellable of @gtask, from any thread, cancels @future.
 *
 * The result is returned from the loop's ready queue, never inside this
 * call, and mapped so that the usual `g_task_propagate_*()` functions
 * work in the `_finish` function:
 *
 * | @future ends | `_finish` uses | and gets |
 * |---|---|---|
 * | finished with no value | g_task_propagate_boolean() | %TRUE |
 * | a boolean | g_task_propagate_boolean() | the boolean |
 * | any integer, enum or flags | g_task_propagate_int() | the value as a #gssize |
 * | a string | g_task_propagate_pointer() | a copy (free with g_free()) |
 * | an object | g_task_propagate_pointer() | a new reference |
 * | a boxed value | g_task_propagate_pointer() | a copy (free it as that type) |
 * | a #GVariant | g_task_propagate_pointer() | a new reference |
 * | a pointer (`coop_future_set_pointer()`) | g_task_propagate_pointer() | the pointer itself |
 * | any other value (double, ...) | g_task_propagate_value() | a copy of the value |
 * | failed | any of them | the error |
 * | cancelled | any of them | `G_IO_ERROR_CANCELLED` |
 *
 * Results that are not propagated are freed with the #GTask.  A pointer
 * result stays owned by @future, which the #GTask keeps alive: set it with
 * no destroy notify to hand it over to the `_finish` caller, or prefer a
 * string, object or boxed result.  If the loop is closed before @future
 * is done, @gtask returns %COOP_ERROR_LOOP_CLOSED.
 *
 * The #GTask calls its callback in its own context (the thread-default one
 * when it was created), as usual.
 */
void
coop_future_return_to_gtask (CoopFuture *future,
                             GTask      *gtask)
{
  GTaskReturn *ret;
  GCancellable *cancellable;

  g_return_if_fail (COOP_IS_FUTURE (future));
  g_return_if_fail (G_IS_TASK (gtask));

  /* The link disconnects itself from a done callback added before ours. */
  cancellable = g_task_get_cancellable (gtask);
  if (cancellable != NULL)
    cancel_link_unref (cancel_link_new (future, cancellable));

  ret = g_new0 (GTaskReturn, 1);
  ret->gtask = g_object_ref (gtask);
  coop_future_add_done_callback (future, gtask_return_done, ret, gtask_return_free);
}

/**
 * coop_task_new_for_gtask: (skip)
 * @loop: the loop to run on
 * @gtask: the #GTask of an `_async` call, not returned yet
 * @func: (scope notified) (closure user_data) (destroy notify): the body of
 *   the task, a C function
 * @user_data: data for @func
 * @notify: (nullable): frees @user_data once the task is done
 *
 * Runs @func as a task whose outcome is returned through @gtask (see
 * [method@Coop.Future.return_to_gtask] for how values map), so that a
 * library implements a GIO-style `_async`/`_finish` pair as a C coroutine:
 *
 * ```c
 * void
 * foo_fetch_async (Foo *self, GCancellable *cancellable,
 *                  GAsyncReadyCallback callback, gpointer user_data)
 * {
 *   g_autoptr(GTask) gtask = g_task_new (self, cancellable, callback, user_data);
 *
 *   g_task_set_source_tag (gtask, foo_fetch_async);
 *   g_object_unref (coop_task_new_for_gtask (coop_loop_get_default (), gtask, fetch_body,
 *                                            g_object_ref (self), g_object_unref));
 * }
 *
 * GBytes *
 * foo_fetch_finish (Foo *self, GAsyncResult *result, GError **error)
 * {
 *   return g_task_propagate_pointer (G_TASK (result), error);
 * }
 * ```
 *
 * Cancelling the cancellable of @gtask cancels the task.  The task takes
 * the name of @gtask, if it has one.
 *
 * Not for language bindings (`(skip)`, @func runs on a fiber): they return
 * a future of their own coroutine with [method@Coop.Future.return_to_gtask].
 *
 * Returns: (transfer full): the task
 */
CoopTask *
coop_task_new_for_gtask (CoopLoop       *loop,
                         GTask          *gtask,
                         CoopTaskFunc    func,
                         gpointer        user_data,
                         GDestroyNotify  notify)
{
  CoopTask *task;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (G_IS_TASK (gtask), NULL);
  g_return_val_if_fail (func != NULL, NULL);

  task = coop_task_new_full (loop, g_task_get_name (gtask), 0, func, user_data, notify);
  coop_future_return_to_gtask (COOP_FUTURE (task), gtask);
  return task;
}

/* --- GCancellable and tasks -------------------------------------------------------- */

static void
bind_cancel_hook (CoopTask *task,
                  gpointer  data)
{
  cancel_link_trip (data);
}

/**
 * coop_task_bind_cancellable:
 * @task: a task, not done yet
 * @cancellable: a cancellable
 *
 * Links @cancellable and @task both ways until @task is done:
 *
 * - cancelling @cancellable, from any thread, cancels @task (on the loop's
 *   thread, as [method@Coop.Task.cancel]); if it is already cancelled,
 *   @task is cancelled at once (and, if it has not started, never runs);
 * - asking @task to cancel cancels @cancellable, inside
 *   [method@Coop.Task.cancel], so its `cancelled` handlers run there, on
 *   the loop's thread.  If @task is being cancelled already, @cancellable
 *   is cancelled at once.
 *
 * One cancellation counts once, whichever side it comes from.  A
 * #GCancellable stays cancelled: a task that swallows its cancellation and
 * goes on should not use @cancellable any further.  A task may be bound to
 * several cancellables.
 */
void
coop_task_bind_cancellable (CoopTask     *task,
                            GCancellable *cancellable)
{
  CancelLink *link;

  g_return_if_fail (COOP_IS_TASK (task));
  g_return_if_fail (G_IS_CANCELLABLE (cancellable));

  if (coop_future_is_done (COOP_FUTURE (task)))
    return;

  link = cancel_link_new (COOP_FUTURE (task), cancellable);
  if (!coop_future_is_done (COOP_FUTURE (task)))
    {
      coop_task_add_cancel_hook (task, bind_cancel_hook, cancel_link_ref (link), cancel_link_unref);
      if (coop_task_is_cancelling (task))
        cancel_link_trip (link);
    }
  cancel_link_unref (link);
}

static void
trip_cancellable_hook (CoopTask *task,
                       gpointer  data)
{
  g_cancellable_cancel (data);
}

/**
 * coop_task_get_cancellable:
 * @task: a task
 *
 * Returns a cancellable that is cancelled when @task is asked to cancel
 * (inside [method@Coop.Task.cancel], on the loop's thread), for the
 * blocking or GIO calls the task makes, or for code running on its
 * behalf elsewhere.  If @task is being cancelled already, it is cancelled
 * at once.  Cancelling it does not cancel @task (use
 * [method@Coop.Task.bind_cancellable] for that).
 *
 * The same cancellable is returned every time; it stays cancelled once
 * cancelled.  Awaiting a [class@Coop.AsyncFuture] needs none of this: its
 * own cancellable is cancelled when the awaiting task is.
 *
 * Returns: (transfer none): the cancellable of @task
 */
GCancellable *
coop_task_get_cancellable (CoopTask *task)
{
  static GQuark quark;
  GCancellable *cancellable;

  g_return_val_if_fail (COOP_IS_TASK (task), NULL);

  if (G_UNLIKELY (quark == 0))
    quark = g_quark_from_static_string ("coop-task-cancellable");

  cancellable = g_object_get_qdata (G_OBJECT (task), quark);
  if (cancellable != NULL)
    return cancellable;

  cancellable = g_cancellable_new ();
  g_object_set_qdata_full (G_OBJECT (task), quark, cancellable, g_object_unref);
  if (coop_task_is_cancelling (task))
    g_cancellable_cancel (cancellable);
  else if (!coop_future_is_done (COOP_FUTURE (task)))
    coop_task_add_cancel_hook (task, trip_cancellable_hook, g_object_ref (cancellable), g_object_unref);
  return cancellable;
}

/* --- waiting for a future, GIO style ------------------------------------------------
 *
 * coop_future_wait_async() is a GAsyncResult over a future: a done callback
 * on the future returns the GTask.  A wait given a cancellable also has a
 * cancellable source on the loop's context, so that both ends run on the
 * loop's thread whichever thread cancels: the first one returns the GTask
 * and removes the other.  Cancelling the wait does not cancel the future
 * (several waiters may share it; the caller may cancel it itself). */

typedef struct
{
  GTask      *gtask;       /* a reference until returned */
  CoopFuture *future;      /* a reference */
  GSource    *cancel;      /* ours, attached to the loop's context, or NULL */
} Wait;

static void
wait_free (gpointer data)
{
  Wait *wait = data;

  /* The done callback was dropped unrun (the loop was closed): the future
   * stays pending, and so would the wait; end it with the loop's error. */
  if (wait->gtask != NULL)
    {
      g_task_return_new_error (wait->gtask, COOP_ERROR, COOP_ERROR_LOOP_CLOSED,
                               "The future's loop was closed while it was pending");
      g_clear_object (&wait->gtask);
    }
  if (wait->cancel != NULL)
    {
      g_source_destroy (wait->cancel);
      g_source_unref (wait->cancel);
    }
  g_object_unref (wait->future);
  g_free (wait);
}

static void
wait_future_done (CoopFuture *future,
                  gpointer    data)
{
  Wait *wait = data;
  GTask *gtask = g_steal_pointer (&wait->gtask);

  if (gtask == NULL)
    return;   /* the wait was cancelled after this call was queued */
  if (coop_future_get_state (future) == COOP_FUTURE_STATE_FINISHED)
    g_task_return_boolean (gtask, TRUE);
  else
    {
      const GError *error = coop_future_get_error (future);   /* retrieved */

      if (error != NULL)
        g_task_return_error (gtask, g_error_copy (error));
      else
        g_task_return_new_error (gtask, G_IO_ERROR, G_IO_ERROR_CANCELLED, "The future was cancelled");
    }
  g_object_unref (gtask);
}

static gboolean
wait_cancelled (GCancellable *cancellable,
                gpointer      data)
{
  Wait *wait = data;
  GTask *gtask = g_steal_pointer (&wait->gtask);

  /* Removing the done callback frees the wait (and this source). */
  g_task_return_error_if_cancelled (gtask);
  g_object_unref (gtask);
  coop_future_remove_done_callback (wait->future, wait_future_done, wait);
  return G_SOURCE_REMOVE;
}

/**
 * coop_future_wait_async:
 * @future: a future
 * @cancellable: (nullable): stops the wait (not the future)
 * @callback: (scope async) (closure user_data): called once @future is done
 *   or the wait is cancelled
 * @user_data: data for @callback
 *
 * Waits for @future without a task, in the way of GIO's asynchronous
 * functions: @callback is called once @future is done, and gets the outcome
 * with [method@Coop.Future.wait_finish].  This lets callback-style C code,
 * GIO code and languages with their own coroutines wait for a future:
 * Vala sees the pair as `async bool wait (Cancellable? cancellable = null)
 * throws Error`, so `yield future.wait ()` awaits it.
 *
 * @callback runs in the main context of @future's loop (its thread-default
 * context while it runs).  Call this on the loop's thread.
 *
 * Cancelling @cancellable ends the wait with `G_IO_ERROR_CANCELLED` but
 * leaves @future alone: a future may have several waiters, and whoever
 * waits by callback decides whether the work itself should stop (then
 * cancel @future with [method@Coop.Future.cancel]).  If the loop is closed
 * while @future is pending, the wait fails with %COOP_ERROR_LOOP_CLOSED.
 */
void
coop_future_wait_async (CoopFuture          *future,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  GMainContext *context, *current;
  Wait *wait;

  g_return_if_fail (COOP_IS_FUTURE (future));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  /* GTask returns in the thread-default context of its creation: make it
   * the loop's, which is already the case on the loop's thread as a rule. */
  context = coop_loop_get_context (coop_future_get_loop (future));
  current = g_main_context_ref_thread_default ();
  if (current != context)
    g_main_context_push_thread_default (context);
  wait = g_new0 (Wait, 1);
  wait->gtask = g_task_new (future, cancellable, callback, user_data);
  g_task_set_source_tag (wait->gtask, coop_future_wait_async);
  if (current != context)
    g_main_context_pop_thread_default (context);
  g_main_context_unref (current);
  wait->future = g_object_ref (future);

  if (cancellable != NULL)
    {
      wait->cancel = g_cancellable_source_new (cancellable);
      g_source_set_callback (wait->cancel, G_SOURCE_FUNC (wait_cancelled), wait, NULL);
      g_source_set_static_name (wait->cancel, "coop_future_wait_async");
      g_source_attach (wait->cancel, context);
    }
  coop_future_add_done_callback (future, wait_future_done, wait, wait_free);
}

/**
 * coop_future_wait_finish:
 * @future: the future given to [method@Coop.Future.wait_async]
 * @result: the result given to its callback
 * @error: return location for the future's error
 *
 * Gets the outcome of [method@Coop.Future.wait_async].  The value of a
 * finished future is read from @future itself
 * ([method@Coop.Future.get_value] and the typed getters).
 *
 * Returns: %TRUE if @future finished; %FALSE with its error if it failed
 *   or was cancelled (`G_IO_ERROR_CANCELLED`), or if the wait was
 *   cancelled or its loop closed
 */
gboolean
coop_future_wait_finish (CoopFuture    *future,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, future), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
