/* coop-future.c: a result that will be available later.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-future-private.h"

/**
 * CoopFuture:
 *
 * A result that is not available yet, as asyncio's `Future`.
 *
 * A future starts %COOP_FUTURE_STATE_PENDING and is completed exactly once:
 * with a result (%COOP_FUTURE_STATE_FINISHED), with a #GError
 * (%COOP_FUTURE_STATE_FAILED) or by [method@Coop.Future.cancel]
 * (%COOP_FUTURE_STATE_CANCELLED, with a `G_IO_ERROR_CANCELLED` error).
 * Completing it twice is a programming error, reported with a critical
 * warning.
 *
 * The result is stored in a #GValue, so every binding can read it
 * ([method@Coop.Future.get_value]); C code uses the typed helpers
 * (`coop_future_set_int64()` / `coop_future_get_int64()` and so on).
 *
 * Nothing runs inside the call that completes a future: the callbacks
 * added with [method@Coop.Future.add_done_callback] and the handlers of the
 * [signal@Coop.Future::done] signal run later, from the loop's ready queue.
 * The signal is only emitted when a handler is connected, so futures that
 * nobody watches that way pay nothing for it.
 *
 * A failed future whose error nobody read (with a getter,
 * [method@Coop.Future.propagate], [func@Coop.await] or a combinator) is
 * reported to the loop's exception handler when it is finalized.
 */


enum {
  PROP_0,
  PROP_LOOP,
  PROP_STATE,
  N_PROPS
};

enum {
  SIGNAL_DONE,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_TYPE_WITH_PRIVATE (CoopFuture, coop_future, G_TYPE_OBJECT)

gint coop_future_private_offset;

#define PRIV(f) COOP_FUTURE_PRIV (f)

/* Futures and tasks are made on hot paths: the loop is passed through a
 * thread-local instead of a construct property, which would cost GValue
 * marshalling for every future. */
static COOP_TLS CoopLoop *constructing_loop;

/* --- completion ---------------------------------------------------------------- */

static void
emit_done (gpointer data)
{
  CoopFuture *future = data;

  g_signal_emit (future, signals[SIGNAL_DONE], 0);
  g_object_unref (future);
}

/* Runs the internal continuations (which only queue work) and queues the
 * signal emission if anyone will hear it.
 *
 * A waiter may drop the last reference to @future: a wait_for that only
 * its own timer holds cancels that timer when it completes, which
 * finalized it in the middle of its completion (found by fuzz-ops).  So
 * a completion holds a reference until it is through, taken before the
 * first waiter that could do that: the waiters of paused tasks only queue
 * a step, and an await is the common case, so most completions take none
 * (each reference is an atomic instruction, a tenth of a hand-off). */
static void
future_complete (CoopFuture      *future,
                 CoopFutureState  state)
{
  CoopFuturePrivate *priv = PRIV (future);
  CoopWaiter *waiter;
  gboolean held = FALSE;

  priv->state = state;

  while ((waiter = priv->waiters_head) != NULL)
    {
      priv->waiters_head = waiter->next;
      if (priv->waiters_head != NULL)
        priv->waiters_head->prev = NULL;
      else
        priv->waiters_tail = NULL;
      waiter->next = waiter->prev = NULL;
      if (G_UNLIKELY (waiter->func != coop_task_wake && !held))
        {
          coop_object_ref (future);
          held = TRUE;
        }
      waiter->func (waiter, future);
    }

  if (G_UNLIKELY (COOP_FUTURE_GET_CLASS (future)->done != NULL ||
                  (coop_object_may_have_handlers (future) &&
                   g_signal_has_handler_pending (future, signals[SIGNAL_DONE], 0, TRUE))))
    {
      priv->had_handlers = TRUE;
      coop_loop_push_ready (future_loop (priv), emit_done, (CoopReadyFunc) g_object_unref,
                          g_object_ref (future));
    }

  coop_future_unpool (future);
  if (held)
    coop_object_unref (future);
}

void
coop_future_add_waiter (CoopFuture *future,
                        CoopWaiter *waiter)
{
  CoopFuturePrivate *priv = PRIV (future);

  priv->observed = TRUE;
  waiter->next = NULL;
  waiter->prev = priv->waiters_tail;
  if (priv->waiters_tail != NULL)
    priv->waiters_tail->next = waiter;
  else
    priv->waiters_head = waiter;
  priv->waiters_tail = waiter;
}

void
coop_future_remove_waiter (CoopFuture *future,
                           CoopWaiter *waiter)
{
  CoopFuturePrivate *priv = PRIV (future);

  if (waiter->prev != NULL)
    waiter->prev->next = waiter->next;
  else if (priv->waiters_head == waiter)
    priv->waiters_head = waiter->next;
  else
    return;   /* not attached */
  if (waiter->next != NULL)
    waiter->next->prev = waiter->prev;
  else
    priv->waiters_tail = waiter->prev;
  waiter->next = waiter->prev = NULL;
}

void
coop_future_hold (CoopFuture *future)
{
  PRIV (future)->held = TRUE;
}

void
coop_future_release (CoopFuture *future)
{
  CoopFuturePrivate *priv = PRIV (future);

  priv->held = FALSE;
  if (priv->state == COOP_FUTURE_STATE_PENDING && priv->held_state != COOP_FUTURE_STATE_PENDING)
    future_complete (future, priv->held_state);
}

gboolean
coop_future_has_result (CoopFuture *future)
{
  CoopFuturePrivate *priv = PRIV (future);

  return priv->state != COOP_FUTURE_STATE_PENDING || priv->held_state != COOP_FUTURE_STATE_PENDING;
}

/* The critical of begin_set(), out of line. */
static G_GNUC_NO_INLINE gboolean
refuse_set_done (CoopFuture *future,
                 const char *func)
{
  g_autofree char *what = coop_future_get_label (future);

  g_critical ("%s: %s is already done; a future's result can be set only once",
              func, what);
  return FALSE;
}

/* Checks that a result may be set; the caller then fills it in and calls
 * finish_set().  Inlined: this is every completion (the thread check is
 * one load and one compare). */
static inline __attribute__ ((always_inline)) gboolean
begin_set (CoopFuture *future,
           const char *func)
{
  CoopFuturePrivate *priv = PRIV (future);

  /* Completing a future queues its waiters' work on the loop. */
  if (G_UNLIKELY (!coop_loop_check_thread (future_loop (priv), func, COOP_INSTEAD_THREADSAFE)))
    return FALSE;
  if (G_UNLIKELY (priv->state != COOP_FUTURE_STATE_PENDING ||
                  priv->held_state != COOP_FUTURE_STATE_PENDING))
    return refuse_set_done (future, func);
  return TRUE;
}

static void
finish_set (CoopFuture      *future,
            CoopFutureState  state)
{
  CoopFuturePrivate *priv = PRIV (future);

  if (priv->held)
    priv->held_state = state;
  else
    future_complete (future, state);
}

/* --- GObject ------------------------------------------------------------------- */

static gboolean
coop_future_real_cancel (CoopFuture *future,
                         const char *message)
{
  coop_future_set_cancelled (future, message);
  return TRUE;
}

static void
coop_future_init (CoopFuture *future)
{
  PRIV (future)->pool_slot = COOP_FUTURE_NOT_POOLED;
}

static void
coop_future_constructed (GObject *object)
{
  CoopFuturePrivate *priv = PRIV (COOP_FUTURE (object));

  G_OBJECT_CLASS (coop_future_parent_class)->constructed (object);

  if (priv->loop == NULL && constructing_loop != NULL)
    priv->loop = g_object_ref (constructing_loop);
}

static void
coop_future_finalize (GObject *object)
{
  CoopFuture *future = COOP_FUTURE (object);
  CoopFuturePrivate *priv = PRIV (future);

  if (priv->state == COOP_FUTURE_STATE_FAILED && !priv->retrieved && priv->loop != NULL)
    {
      g_autofree char *what = coop_future_get_label (future);
      g_autoptr(GString) message = g_string_new (NULL);

      g_string_printf (message, "The error of %s was never retrieved", what);
      if (G_UNLIKELY (priv->site != NULL))
        coop_debug_site_append (priv->site, message, " (created ");
      coop_loop_report_exception (priv->loop, message->str, future, priv->error);
    }
  if (G_UNLIKELY (priv->site != NULL))
    {
      if (priv->loop != NULL)
        coop_debug_future_finalized (future, priv->loop, priv->observed);
      g_clear_pointer (&priv->site, coop_debug_site_free);
    }

  future_clear_undo (priv);
  if (priv->pointer_notify != NULL)
    priv->pointer_notify (g_value_get_pointer (&priv->value));
  /* Not G_IS_VALUE(), which takes GType's lock: the future's own value is
   * either unset or valid. */
  future_value_clear (&priv->value);
  g_clear_error (&priv->error);
  g_clear_object (&priv->loop);

  G_OBJECT_CLASS (coop_future_parent_class)->finalize (object);
}

static void
coop_future_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  CoopFuturePrivate *priv = PRIV (COOP_FUTURE (object));

  switch (prop_id)
    {
    case PROP_LOOP:
      g_value_set_object (value, future_loop (priv));
      break;
    case PROP_STATE:
      g_value_set_enum (value, priv->state);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_future_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  CoopFuturePrivate *priv = PRIV (COOP_FUTURE (object));

  switch (prop_id)
    {
    case PROP_LOOP:
      if (g_value_get_object (value) == NULL || g_value_get_object (value) == (gpointer) priv->loop)
        break;
      if (priv->loop != NULL)
        {
          g_critical ("CoopFuture:loop can only be set when the future is created");
          break;
        }
      priv->loop = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_future_class_init (CoopFutureClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  coop_future_private_offset = CoopFuture_private_offset;
  object_class->constructed = coop_future_constructed;
  object_class->finalize = coop_future_finalize;
  object_class->get_property = coop_future_get_property;
  object_class->set_property = coop_future_set_property;

  klass->cancel = coop_future_real_cancel;

  /**
   * CoopFuture:loop:
   *
   * The loop the future belongs to: its callbacks run there.  It can be
   * given when the future is created (g_object_new()); otherwise it is the
   * default loop of the thread that first needs it.
   */
  properties[PROP_LOOP] =
    g_param_spec_object ("loop", NULL, NULL,
                         COOP_TYPE_LOOP,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);

  /**
   * CoopFuture:state:
   *
   * The state of the future.  Changes are not notified (that would cost
   * every future a notification); connect to [signal@Coop.Future::done].
   */
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL,
                       COOP_TYPE_FUTURE_STATE, COOP_FUTURE_STATE_PENDING,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  coop_gobject_probe ();

  /**
   * CoopFuture::done:
   * @future: the future
   *
   * Emitted from the loop's ready queue after the future is done (never from
   * inside the call that completed it).  It is only emitted if a handler is
   * connected when the future completes.
   */
  signals[SIGNAL_DONE] =
    g_signal_new ("done",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  G_STRUCT_OFFSET (CoopFutureClass, done),
                  NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

/* --- public API -------------------------------------------------------------------- */

/**
 * coop_future_new:
 * @loop: the loop the future belongs to
 *
 * Creates a pending future.
 *
 * Futures made on the loop's thread come from the loop's pool: once nobody
 * holds a future any more (no references, weak references or qdata), the
 * loop may hand it out again, reset to a fresh pending state, instead of
 * paying for a new GObject.  Results that hold resources (objects, boxed
 * values, pointers with a destroy notify) and errors are released, or
 * reported if never read, as soon as the last reference goes, as usual.
 * The exception is a #GBytes of at most 64 KiB (what stream reads give),
 * which is only memory: it is released when the loop lends the future
 * again or trims its pool (at most 64 such futures wait, 4 MiB at worst,
 * beyond what the loop uses at once).
 *
 * Returns: (transfer full): a new future
 */
CoopFuture *
coop_future_new (CoopLoop *loop)
{
  CoopFuturePool *pool;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);

  /* Debug mode records where each future was made: no recycling then. */
  pool = coop_future_pool_for_thread (loop);
  if (G_LIKELY (pool != NULL))
    return coop_future_pool_take (pool, loop);
  return coop_future_new_internal (COOP_TYPE_FUTURE, loop);
}

gpointer
coop_future_new_internal (GType     type,
                          CoopLoop *loop)
{
  gpointer future;

  constructing_loop = loop;
  future = g_object_new_with_properties (type, 0, NULL, NULL);
  constructing_loop = NULL;
  if (G_UNLIKELY (coop_debug_capture) && loop != NULL)
    PRIV (future)->site = coop_debug_site_capture (loop);
  return future;
}

/**
 * coop_future_get_loop:
 * @future: a future
 *
 * Gets the loop that runs the callbacks of @future.
 *
 * Returns: (transfer none): the loop @future belongs to
 */
CoopLoop *
coop_future_get_loop (CoopFuture *future)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  return future_loop (PRIV (future));
}

/* The same as the public getters, for callers that checked @future. */
CoopLoop *
coop_future_loop_unchecked (CoopFuture *future)
{
  return future_loop (PRIV (future));
}

gboolean
coop_future_done_unchecked (CoopFuture *future)
{
  return PRIV (future)->state != COOP_FUTURE_STATE_PENDING;
}

/**
 * coop_future_get_state:
 * @future: a future
 *
 * Gets the state of @future.
 *
 * Returns: the state of @future
 */
CoopFutureState
coop_future_get_state (CoopFuture *future)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), COOP_FUTURE_STATE_PENDING);

  return PRIV (future)->state;
}

/**
 * coop_future_is_done:
 * @future: a future
 *
 * Tells whether @future is done, whatever the outcome.
 *
 * Returns: whether @future is finished, failed or cancelled
 */
gboolean
coop_future_is_done (CoopFuture *future)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), FALSE);

  return PRIV (future)->state != COOP_FUTURE_STATE_PENDING;
}

/**
 * coop_future_is_cancelled:
 * @future: a future
 *
 * Tells whether @future was cancelled.
 *
 * Returns: whether @future is %COOP_FUTURE_STATE_CANCELLED
 */
gboolean
coop_future_is_cancelled (CoopFuture *future)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), FALSE);

  return PRIV (future)->state == COOP_FUTURE_STATE_CANCELLED;
}

/**
 * coop_future_set_value:
 * @future: a pending future
 * @value: (nullable): the result, copied; %NULL finishes with no value
 *
 * Finishes @future with a copy of @value.
 */
void
coop_future_set_value (CoopFuture   *future,
                       const GValue *value)
{
  CoopFuturePrivate *priv;

  g_return_if_fail (COOP_IS_FUTURE (future));
  g_return_if_fail (value == NULL || G_IS_VALUE (value));

  if (!begin_set (future, G_STRFUNC))
    return;
  priv = PRIV (future);
  if (value != NULL)
    {
      g_value_init (&priv->value, G_VALUE_TYPE (value));
      g_value_copy (value, &priv->value);
    }
  finish_set (future, COOP_FUTURE_STATE_FINISHED);
}

/**
 * coop_future_set_pointer: (skip)
 * @future: a pending future
 * @data: (nullable): the result
 * @notify: (nullable): frees @data when the future is finalized
 *
 * Finishes @future with a pointer, owned by the future if @notify is given.
 */
void
coop_future_set_pointer (CoopFuture     *future,
                         gpointer        data,
                         GDestroyNotify  notify)
{
  CoopFuturePrivate *priv;

  g_return_if_fail (COOP_IS_FUTURE (future));

  if (!begin_set (future, G_STRFUNC))
    {
      if (notify != NULL)
        notify (data);
      return;
    }
  priv = PRIV (future);
  g_value_init (&priv->value, G_TYPE_POINTER);
  g_value_set_pointer (&priv->value, data);
  priv->pointer_notify = notify;
  finish_set (future, COOP_FUTURE_STATE_FINISHED);
}

#define DEFINE_SETTER(Name, CType, GTYPE, setter)             \
void                                                          \
coop_future_set_##Name (CoopFuture *future,                   \
                        CType       value)                    \
{                                                             \
  CoopFuturePrivate *priv;                                    \
                                                              \
  g_return_if_fail (COOP_IS_FUTURE (future));                 \
                                                              \
  if (!begin_set (future, G_STRFUNC))                         \
    return;                                                   \
  priv = PRIV (future);                                       \
  g_value_init (&priv->value, GTYPE);                         \
  setter (&priv->value, value);                               \
  finish_set (future, COOP_FUTURE_STATE_FINISHED);            \
}

/**
 * coop_future_set_boolean:
 * @future: a pending future
 * @value: the result
 *
 * Finishes @future with a boolean.
 */
DEFINE_SETTER (boolean, gboolean, G_TYPE_BOOLEAN, g_value_set_boolean)

/**
 * coop_future_set_int64:
 * @future: a pending future
 * @value: the result
 *
 * Finishes @future with a 64-bit integer.
 */
DEFINE_SETTER (int64, gint64, G_TYPE_INT64, g_value_set_int64)

/**
 * coop_future_set_double:
 * @future: a pending future
 * @value: the result
 *
 * Finishes @future with a double.
 */
DEFINE_SETTER (double, double, G_TYPE_DOUBLE, g_value_set_double)

/**
 * coop_future_set_string:
 * @future: a pending future
 * @value: (nullable): the result, copied
 *
 * Finishes @future with a string.
 */
DEFINE_SETTER (string, const char *, G_TYPE_STRING, g_value_set_string)

/**
 * coop_future_set_object:
 * @future: a pending future
 * @value: (nullable) (type GObject.Object): the result; the future takes
 *   a reference
 *
 * Finishes @future with an object.
 */
void
coop_future_set_object (CoopFuture *future,
                        GObject    *value)
{
  CoopFuturePrivate *priv;

  g_return_if_fail (COOP_IS_FUTURE (future));
  g_return_if_fail (value == NULL || G_IS_OBJECT (value));

  if (!begin_set (future, G_STRFUNC))
    return;
  priv = PRIV (future);
  g_value_init (&priv->value, value != NULL ? G_OBJECT_TYPE (value) : G_TYPE_OBJECT);
  g_value_set_object (&priv->value, value);
  finish_set (future, COOP_FUTURE_STATE_FINISHED);
}

/**
 * coop_future_set_boxed: (skip)
 * @future: a pending future
 * @boxed_type: a boxed #GType
 * @value: (nullable): the result, copied with the boxed type's copy function
 *
 * Finishes @future with a boxed value.  Bindings use
 * [method@Coop.Future.set_value].
 */
void
coop_future_set_boxed (CoopFuture    *future,
                       GType          boxed_type,
                       gconstpointer  value)
{
  CoopFuturePrivate *priv;

  g_return_if_fail (COOP_IS_FUTURE (future));
  g_return_if_fail (G_TYPE_IS_BOXED (boxed_type));

  if (!begin_set (future, G_STRFUNC))
    return;
  priv = PRIV (future);
  if (boxed_type == G_TYPE_BYTES)
    {
      /* What g_value_init() and g_value_set_boxed() would store (see
       * future_value_clear()). */
      priv->value.g_type = G_TYPE_BYTES;
      priv->value.data[0].v_pointer = value != NULL ? g_bytes_ref ((GBytes *) value) : NULL;
    }
  else
    {
      g_value_init (&priv->value, boxed_type);
      g_value_set_boxed (&priv->value, value);
    }
  finish_set (future, COOP_FUTURE_STATE_FINISHED);
}

/**
 * coop_future_set_none:
 * @future: a pending future
 *
 * Finishes @future with no value.
 */
void
coop_future_set_none (CoopFuture *future)
{
  g_return_if_fail (COOP_IS_FUTURE (future));

  if (!begin_set (future, G_STRFUNC))
    return;
  finish_set (future, COOP_FUTURE_STATE_FINISHED);
}

/**
 * coop_future_take_error:
 * @future: a pending future
 * @error: (transfer full): the error
 *
 * Fails @future with @error.  An error of `G_IO_ERROR_CANCELLED` makes the
 * future %COOP_FUTURE_STATE_CANCELLED instead.
 */
void
coop_future_take_error (CoopFuture *future,
                        GError     *error)
{
  CoopFuturePrivate *priv;

  g_return_if_fail (COOP_IS_FUTURE (future));
  g_return_if_fail (error != NULL);

  if (!begin_set (future, G_STRFUNC))
    {
      g_error_free (error);
      return;
    }
  priv = PRIV (future);
  priv->error = error;
  finish_set (future,
              g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                ? COOP_FUTURE_STATE_CANCELLED : COOP_FUTURE_STATE_FAILED);
}

/**
 * coop_future_set_error:
 * @future: a pending future
 * @error: the error, copied
 *
 * Fails @future with a copy of @error; see [method@Coop.Future.take_error].
 */
void
coop_future_set_error (CoopFuture   *future,
                       const GError *error)
{
  g_return_if_fail (COOP_IS_FUTURE (future));
  g_return_if_fail (error != NULL);

  coop_future_take_error (future, g_error_copy (error));
}

void
coop_future_set_cancelled (CoopFuture *future,
                           const char *message)
{
  CoopFuturePrivate *priv = PRIV (future);

  if (priv->state != COOP_FUTURE_STATE_PENDING)
    return;
  /* Cancellation wins over a result recorded while held. */
  if (priv->held_state != COOP_FUTURE_STATE_PENDING)
    {
      if (priv->pointer_notify != NULL)
        priv->pointer_notify (g_value_get_pointer (&priv->value));
      priv->pointer_notify = NULL;
      future_value_clear (&priv->value);
      g_clear_error (&priv->error);
    }
  priv->error = coop_cancelled_error_new (message);
  priv->held_state = COOP_FUTURE_STATE_CANCELLED;
  if (!priv->held)
    future_complete (future, COOP_FUTURE_STATE_CANCELLED);
}

/**
 * coop_future_cancel:
 * @future: a future
 * @message: (nullable): why, for the `G_IO_ERROR_CANCELLED` error
 *
 * Cancels @future.  A pending plain future becomes
 * %COOP_FUTURE_STATE_CANCELLED at once; a task is asked to stop (see
 * [method@Coop.Task.cancel]).  Cancelling a future that is done does
 * nothing.
 *
 * Returns: %TRUE if @future was pending and is now cancelled or cancelling
 */
gboolean
coop_future_cancel (CoopFuture *future,
                    const char *message)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), FALSE);
  coop_return_val_if_wrong_thread (future_loop (PRIV (future)), COOP_INSTEAD_CANCEL, FALSE);

  if (PRIV (future)->state != COOP_FUTURE_STATE_PENDING)
    return FALSE;
  return COOP_FUTURE_GET_CLASS (future)->cancel (future, message);
}

typedef struct
{
  CoopFuture *future;
  char       *message;
} CancelRequest;

static void
cancel_request_run (gpointer data)
{
  CancelRequest *request = data;

  coop_future_cancel (request->future, request->message);
}

static void
cancel_request_free (gpointer data)
{
  CancelRequest *request = data;

  g_object_unref (request->future);
  g_free (request->message);
  g_free (request);
}

/**
 * coop_future_cancel_threadsafe:
 * @future: a future (or a task)
 * @message: (nullable): why, for the `G_IO_ERROR_CANCELLED` error
 *
 * Like [method@Coop.Future.cancel], but may be called from any thread:
 * the cancellation is queued with [method@Coop.Loop.call_soon_threadsafe]
 * and happens on the loop's thread, in its next dispatch.  @future is kept
 * alive until then.  Cancelling a future that is done by then does
 * nothing, and neither does a cancellation that arrives after the loop
 * was closed (closing it cancels its tasks anyway).
 *
 * This is the way to stop a task from another thread; cancelling a
 * #GCancellable bound to the task with [method@Coop.Task.bind_cancellable]
 * is the other.
 */
void
coop_future_cancel_threadsafe (CoopFuture *future,
                               const char *message)
{
  CancelRequest *request;

  g_return_if_fail (COOP_IS_FUTURE (future));

  request = g_new (CancelRequest, 1);
  request->future = g_object_ref (future);
  request->message = g_strdup (message);
  coop_loop_call_soon_threadsafe (future_loop (PRIV (future)), cancel_request_run, request,
                                  cancel_request_free);
}

void
coop_future_mark_retrieved (CoopFuture *future)
{
  PRIV (future)->retrieved = TRUE;
}

const GError *
coop_future_peek_error (CoopFuture *future)
{
  CoopFuturePrivate *priv = PRIV (future);

  priv->retrieved = TRUE;
  priv->observed = TRUE;
  return priv->error;
}

/**
 * coop_future_propagate:
 * @future: a future
 * @error: return location for the future's error
 *
 * Reports the outcome of @future: %TRUE if it finished with a result,
 * otherwise %FALSE with @error set to a copy of its error (or
 * %COOP_ERROR_INVALID_STATE if it is still pending).
 *
 * Returns: whether @future finished
 */
gboolean
coop_future_propagate (CoopFuture  *future,
                       GError     **error)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return coop_future_propagate_unchecked (future, error);
}

gboolean
coop_future_propagate_unchecked (CoopFuture  *future,
                                 GError     **error)
{
  CoopFuturePrivate *priv = PRIV (future);

  priv->observed = TRUE;
  switch ((CoopFutureState) priv->state)
    {
    case COOP_FUTURE_STATE_FINISHED:
      return TRUE;
    case COOP_FUTURE_STATE_FAILED:
    case COOP_FUTURE_STATE_CANCELLED:
      priv->retrieved = TRUE;
      if (error != NULL)
        *error = g_error_copy (priv->error);
      return FALSE;
    case COOP_FUTURE_STATE_PENDING:
    default:
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                           "The future is still pending");
      return FALSE;
    }
}

/**
 * coop_future_get_error:
 * @future: a future
 *
 * Returns the error of a failed or cancelled future, and marks it as
 * retrieved.
 *
 * Returns: (nullable) (transfer none): the error, or %NULL if @future is
 *   pending or finished
 */
const GError *
coop_future_get_error (CoopFuture *future)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  return coop_future_peek_error (future);
}

/* The common part of the getters: the finished value, or an error. */
static const GValue *
get_finished_value (CoopFuture  *future,
                    GError     **error)
{
  CoopFuturePrivate *priv = PRIV (future);

  if (!coop_future_propagate (future, error))
    return NULL;
  return &priv->value;
}

/**
 * coop_future_get_value:
 * @future: a future
 * @error: return location for the future's error
 *
 * Returns the result of a finished future.  A future that finished with no
 * value returns %NULL without setting @error.
 *
 * Returns: (nullable) (transfer none): the result, owned by @future
 */
const GValue *
coop_future_get_value (CoopFuture  *future,
                       GError     **error)
{
  const GValue *value;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  value = get_finished_value (future, error);
  return value != NULL && G_IS_VALUE (value) ? value : NULL;
}

static gboolean
transform_result (CoopFuture  *future,
                  GType        type,
                  GValue      *out,
                  GError     **error)
{
  const GValue *value = get_finished_value (future, error);

  if (value == NULL)
    return FALSE;
  g_value_init (out, type);
  /* The common case, without the transform machinery. */
  if (G_LIKELY (G_VALUE_TYPE (value) == type))
    {
      *out = *value;
      return TRUE;
    }
  if (!G_IS_VALUE (value) ||
      !g_value_type_transformable (G_VALUE_TYPE (value), type) ||
      !g_value_transform (value, out))
    {
      g_set_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT,
                   "The future's result is not a %s (it is %s)",
                   g_type_name (type),
                   G_IS_VALUE (value) ? G_VALUE_TYPE_NAME (value) : "no value");
      return FALSE;
    }
  return TRUE;
}

/**
 * coop_future_get_boolean:
 * @future: a future
 * @error: return location for an error
 *
 * Gets the result of a finished future as a boolean.
 *
 * Returns: the result as a boolean, or %FALSE with @error set
 */
gboolean
coop_future_get_boolean (CoopFuture  *future,
                         GError     **error)
{
  GValue out = G_VALUE_INIT;

  g_return_val_if_fail (COOP_IS_FUTURE (future), FALSE);

  return transform_result (future, G_TYPE_BOOLEAN, &out, error) ? g_value_get_boolean (&out) : FALSE;
}

/**
 * coop_future_get_int64:
 * @future: a future
 * @error: return location for an error
 *
 * Returns the result as a 64-bit integer (any integer result converts).
 *
 * Returns: the result, or 0 with @error set
 */
gint64
coop_future_get_int64 (CoopFuture  *future,
                       GError     **error)
{
  GValue out = G_VALUE_INIT;

  g_return_val_if_fail (COOP_IS_FUTURE (future), 0);

  return transform_result (future, G_TYPE_INT64, &out, error) ? g_value_get_int64 (&out) : 0;
}

/**
 * coop_future_get_double:
 * @future: a future
 * @error: return location for an error
 *
 * Returns the result as a double (any numeric result converts).
 *
 * Returns: the result, or 0 with @error set
 */
double
coop_future_get_double (CoopFuture  *future,
                        GError     **error)
{
  GValue out = G_VALUE_INIT;

  g_return_val_if_fail (COOP_IS_FUTURE (future), 0.0);

  return transform_result (future, G_TYPE_DOUBLE, &out, error) ? g_value_get_double (&out) : 0.0;
}

static const GValue *
get_typed (CoopFuture  *future,
           GType        type,
           GError     **error)
{
  const GValue *value = get_finished_value (future, error);

  if (value == NULL)
    return NULL;
  /* The exact type, or asked for a fundamental type the value derives
   * from (a #GBytes as a boxed): no walk of the type tree. */
  if (G_LIKELY (G_VALUE_TYPE (value) == type) ||
      (G_TYPE_IS_FUNDAMENTAL (type) && G_TYPE_FUNDAMENTAL (G_VALUE_TYPE (value)) == type))
    return value;
  if (!G_IS_VALUE (value) || !G_VALUE_HOLDS (value, type))
    {
      g_set_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT,
                   "The future's result is not a %s (it is %s)",
                   g_type_name (type),
                   G_IS_VALUE (value) ? G_VALUE_TYPE_NAME (value) : "no value");
      return NULL;
    }
  return value;
}

/**
 * coop_future_get_string:
 * @future: a future
 * @error: return location for an error
 *
 * Gets the result of a finished future as a string.
 *
 * Returns: (nullable) (transfer none): the string result, owned by @future,
 *   or %NULL with @error set
 */
const char *
coop_future_get_string (CoopFuture  *future,
                        GError     **error)
{
  const GValue *value;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  value = get_typed (future, G_TYPE_STRING, error);
  return value != NULL ? g_value_get_string (value) : NULL;
}

/**
 * coop_future_get_object:
 * @future: a future
 * @error: return location for an error
 *
 * Gets the result of a finished future as an object.
 *
 * Returns: (nullable) (transfer none): the object result, owned by @future,
 *   or %NULL with @error set
 */
GObject *
coop_future_get_object (CoopFuture  *future,
                        GError     **error)
{
  const GValue *value;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  value = get_typed (future, G_TYPE_OBJECT, error);
  return value != NULL ? g_value_get_object (value) : NULL;
}

/**
 * coop_future_get_futures:
 * @future: a future
 * @error: return location for an error
 *
 * Returns the result of a future that finished with an array of futures:
 * the result of [func@Coop.gather] (all its inputs, in order) and of
 * [func@Coop.wait] (those done, in order).  Bindings read such results
 * here, since a #GPtrArray in a #GValue carries no element type.
 *
 * Returns: (nullable) (transfer none) (element-type Coop.Future): the
 *   futures, owned by @future, or %NULL with @error set
 *   (%COOP_ERROR_NO_RESULT if the result is not an array of futures)
 */
GPtrArray *
coop_future_get_futures (CoopFuture  *future,
                         GError     **error)
{
  const GValue *value;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  value = get_typed (future, G_TYPE_PTR_ARRAY, error);
  return value != NULL ? g_value_get_boxed (value) : NULL;
}

/**
 * coop_future_get_boxed: (skip)
 * @future: a future
 * @error: return location for an error
 *
 * Gets the result of a finished future as a boxed value.
 *
 * Returns: (nullable) (transfer none): the boxed result, owned by @future,
 *   or %NULL with @error set
 */
gconstpointer
coop_future_get_boxed (CoopFuture  *future,
                       GError     **error)
{
  const GValue *value;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  value = get_typed (future, G_TYPE_BOXED, error);
  /* g_value_get_boxed() without its second type check (see future_value_clear()). */
  return value != NULL ? value->data[0].v_pointer : NULL;
}

/**
 * coop_future_get_bytes:
 * @future: a future
 * @error: return location for an error
 *
 * Gets the result of a finished future that produced a #GBytes (the reads
 * of a [class@Coop.Stream], for example), without a cast.
 *
 * Returns: (nullable) (transfer none): the bytes, owned by @future (take a
 *   reference with g_bytes_ref() to keep them longer), or %NULL with
 *   @error set (the future failed, is not done, or its result is not a
 *   #GBytes: %COOP_ERROR_NO_RESULT)
 */
GBytes *
coop_future_get_bytes (CoopFuture  *future,
                       GError     **error)
{
  const GValue *value;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  value = get_typed (future, G_TYPE_BYTES, error);
  return value != NULL ? value->data[0].v_pointer : NULL;
}

/**
 * coop_future_get_pointer: (skip)
 * @future: a future
 * @error: return location for an error
 *
 * Returns the pointer result set with [method@Coop.Future.set_pointer] (or
 * the pointer held by a boxed, object or string result).
 *
 * Returns: (nullable) (transfer none): the result, owned by @future, or
 *   %NULL with @error set
 */
gpointer
coop_future_get_pointer (CoopFuture  *future,
                         GError     **error)
{
  const GValue *value;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  value = get_finished_value (future, error);
  if (value == NULL)
    return NULL;
  if (G_IS_VALUE (value) && G_VALUE_HOLDS_POINTER (value))
    return g_value_get_pointer (value);
  if (G_IS_VALUE (value) && g_type_check_value_holds (value, G_TYPE_BOXED))
    return g_value_get_boxed (value);
  if (G_IS_VALUE (value) && g_type_check_value_holds (value, G_TYPE_OBJECT))
    return g_value_get_object (value);
  if (G_IS_VALUE (value) && G_VALUE_HOLDS_STRING (value))
    return (gpointer) g_value_get_string (value);
  g_set_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT,
               "The future's result is not a pointer (it is %s)",
               G_IS_VALUE (value) ? G_VALUE_TYPE_NAME (value) : "no value");
  return NULL;
}

/* --- done callbacks ---------------------------------------------------------------- */

typedef struct
{
  CoopWaiter          waiter;
  CoopFuture         *future;
  CoopFutureCallback  callback;
  gpointer            user_data;
  GDestroyNotify      notify;
} DoneCallback;

static void
done_callback_free (DoneCallback *record)
{
  if (record->notify != NULL)
    record->notify (record->user_data);
  g_object_unref (record->future);
  g_free (record);
}

static void
done_callback_run (gpointer data)
{
  DoneCallback *record = data;

  record->callback (record->future, record->user_data);
  done_callback_free (record);
}

static void
done_callback_discard (gpointer data)
{
  done_callback_free (data);
}

static void
done_callback_fire (CoopWaiter *waiter,
                    CoopFuture *future)
{
  DoneCallback *record = (DoneCallback *) waiter;

  coop_loop_push_ready (future_loop (PRIV (future)), done_callback_run, done_callback_discard, record);
}

/**
 * coop_future_add_done_callback:
 * @future: a future
 * @callback: (scope notified) (closure user_data) (destroy notify): called
 *   once @future is done
 * @user_data: data for @callback
 * @notify: (nullable): frees @user_data after @callback ran (or was removed)
 *
 * Calls @callback from the loop's ready queue once @future is done, after
 * the callbacks added before it.  If @future is already done, @callback is
 * queued now; it never runs inside this call.
 */
void
coop_future_add_done_callback (CoopFuture         *future,
                               CoopFutureCallback  callback,
                               gpointer            user_data,
                               GDestroyNotify      notify)
{
  DoneCallback *record;

  g_return_if_fail (COOP_IS_FUTURE (future));
  g_return_if_fail (callback != NULL);
  coop_return_if_wrong_thread (future_loop (PRIV (future)), COOP_INSTEAD_THREADSAFE);

  record = g_new0 (DoneCallback, 1);
  record->waiter.func = done_callback_fire;
  record->future = g_object_ref (future);
  record->callback = callback;
  record->user_data = user_data;
  record->notify = notify;
  PRIV (future)->observed = TRUE;

  if (PRIV (future)->state != COOP_FUTURE_STATE_PENDING)
    done_callback_fire (&record->waiter, future);
  else
    coop_future_add_waiter (future, &record->waiter);
}

/* --- then ----------------------------------------------------------------------- */

typedef struct
{
  CoopWaiter               waiter;
  GList                    link;       /* in the loop's list while pending */
  CoopFuture              *future;     /* a reference, as an await holds one */
  CoopLoop                *loop;       /* registered with; the future holds it */
  CoopFutureFulfilledFunc  on_fulfilled;
  gpointer                 fulfilled_data;
  GDestroyNotify           fulfilled_destroy;
  CoopFutureRejectedFunc   on_rejected;
  gpointer                 rejected_data;
  GDestroyNotify           rejected_destroy;
} ThenRecord;

/* Both destroy notifies, whichever callback ran (or none). */
static void
then_record_free (ThenRecord *record)
{
  if (record->fulfilled_destroy != NULL)
    record->fulfilled_destroy (record->fulfilled_data);
  if (record->rejected_destroy != NULL)
    record->rejected_destroy (record->rejected_data);
  g_object_unref (record->future);
  g_free (record);
}

/* The value passed to on_fulfilled: none for "no value", and none for the
 * values that no binding can convert from a bare GValue (a raw pointer, an
 * array without an element type), which would otherwise fail in the
 * binding's marshaller and leave its promise unsettled forever. */
static const GValue *
then_value (CoopFuturePrivate *priv)
{
  GType type = G_VALUE_TYPE (&priv->value);

  if (type == G_TYPE_INVALID || type == G_TYPE_POINTER ||
      type == G_TYPE_PTR_ARRAY || type == G_TYPE_ARRAY)
    return NULL;
  return &priv->value;
}

static void
then_run (gpointer data)
{
  ThenRecord *record = data;
  CoopFuture *future = record->future;
  CoopFuturePrivate *priv = PRIV (future);

  if (priv->state == COOP_FUTURE_STATE_FINISHED)
    {
      if (record->on_fulfilled != NULL)
        record->on_fulfilled (then_value (priv), record->fulfilled_data);
    }
  else if (record->on_rejected != NULL)
    {
      /* A rejection handler counts as reading the error; without one the
       * error stays unretrieved and is reported as usual. */
      record->on_rejected (coop_future_peek_error (future), record->rejected_data);
    }
  then_record_free (record);
}

static void
then_discard (gpointer data)
{
  then_record_free (data);
}

static void
then_fire (CoopWaiter *waiter,
           CoopFuture *future)
{
  ThenRecord *record = (ThenRecord *) waiter;

  coop_loop_unregister_then (record->loop, &record->link);
  coop_loop_push_ready (record->loop, then_run, then_discard, record);
}

void
coop_future_drop_then (GList *link)
{
  ThenRecord *record = link->data;

  coop_loop_unregister_then (record->loop, &record->link);
  coop_future_remove_waiter (record->future, &record->waiter);
  then_record_free (record);
}

/**
 * coop_future_then:
 * @future: a future
 * @on_fulfilled: (nullable) (scope notified) (closure fulfilled_data) (destroy fulfilled_destroy):
 *   called with the result if @future finishes with one
 * @fulfilled_data: data for @on_fulfilled
 * @fulfilled_destroy: (nullable): frees @fulfilled_data
 * @on_rejected: (nullable) (scope notified) (closure rejected_data) (destroy rejected_destroy):
 *   called with the error if @future fails or is cancelled
 * @rejected_data: data for @on_rejected
 * @rejected_destroy: (nullable): frees @rejected_data
 *
 * Calls @on_fulfilled with the result, or @on_rejected with the error, once
 * @future is done: the `then` of a JavaScript thenable, so that `await
 * future` works in GJS.  A cancelled future rejects with
 * `G_IO_ERROR_CANCELLED`.
 *
 * @on_fulfilled gets %NULL for a future that finished with no value, and
 * also for the results that a binding cannot convert from a #GValue: a
 * raw pointer ([method@Coop.Future.get_pointer]) and an array of futures
 * (the result of [func@Coop.gather] and [func@Coop.wait], read with
 * [method@Coop.Future.get_futures]).
 *
 * At most one of the callbacks runs, from the loop's ready queue on the
 * future's loop (as [method@Coop.Future.add_done_callback]), never inside
 * this call, even if @future is already done.  Both destroy notifies run
 * exactly once, on the loop's thread: right after the callback that ran, or
 * when the loop is closed while @future is still pending (then neither
 * callback runs).  Until then the future is kept alive, as an await keeps
 * what it awaits.
 *
 * A rejection with @on_rejected counts as reading the error; without it an
 * error nobody reads is reported when the future is finalized.
 */
void
coop_future_then (CoopFuture              *future,
                  CoopFutureFulfilledFunc  on_fulfilled,
                  gpointer                 fulfilled_data,
                  GDestroyNotify           fulfilled_destroy,
                  CoopFutureRejectedFunc   on_rejected,
                  gpointer                 rejected_data,
                  GDestroyNotify           rejected_destroy)
{
  ThenRecord *record;

  g_return_if_fail (COOP_IS_FUTURE (future));
  coop_return_if_wrong_thread (future_loop (PRIV (future)), COOP_INSTEAD_THREADSAFE);

  record = g_new0 (ThenRecord, 1);
  record->waiter.func = then_fire;
  record->link.data = record;
  record->future = g_object_ref (future);
  record->loop = future_loop (PRIV (future));
  record->on_fulfilled = on_fulfilled;
  record->fulfilled_data = fulfilled_data;
  record->fulfilled_destroy = fulfilled_destroy;
  record->on_rejected = on_rejected;
  record->rejected_data = rejected_data;
  record->rejected_destroy = rejected_destroy;

  if (PRIV (future)->state != COOP_FUTURE_STATE_PENDING)
    coop_loop_push_ready (record->loop, then_run, then_discard, record);
  else if (coop_loop_is_closed (record->loop))
    then_record_free (record);   /* nothing will ever run it */
  else
    {
      coop_loop_register_then (record->loop, &record->link);
      coop_future_add_waiter (future, &record->waiter);
    }
}

/**
 * coop_future_remove_done_callback: (skip)
 * @future: a future
 * @callback: (scope call): the callback given to
 *   [method@Coop.Future.add_done_callback]
 * @user_data: its data
 *
 * Removes the first callback added with @callback and @user_data that has
 * not been queued yet (its destroy notify runs).
 *
 * Returns: %TRUE if a callback was removed
 */
gboolean
coop_future_remove_done_callback (CoopFuture         *future,
                                  CoopFutureCallback  callback,
                                  gpointer            user_data)
{
  CoopWaiter *waiter;

  g_return_val_if_fail (COOP_IS_FUTURE (future), FALSE);
  coop_return_val_if_wrong_thread (future_loop (PRIV (future)), COOP_INSTEAD_THREADSAFE, FALSE);

  for (waiter = PRIV (future)->waiters_head; waiter != NULL; waiter = waiter->next)
    {
      DoneCallback *record = (DoneCallback *) waiter;

      if (waiter->func == done_callback_fire &&
          record->callback == callback && record->user_data == user_data)
        {
          coop_future_remove_waiter (future, waiter);
          done_callback_free (record);
          return TRUE;
        }
    }
  return FALSE;
}

void
coop_future_set_undo (CoopFuture     *future,
                      CoopUndoFunc    func,
                      gpointer        data,
                      GDestroyNotify  notify)
{
  CoopFuturePrivate *priv = PRIV (future);

  future_clear_undo (priv);
  priv->undo = func;
  priv->undo_data = data;
  priv->undo_notify = notify;
}

void
coop_future_run_undo (CoopFuture *future)
{
  CoopFuturePrivate *priv = PRIV (future);
  CoopUndoFunc undo = priv->undo;

  if (undo == NULL || priv->state != COOP_FUTURE_STATE_FINISHED)
    return;
  priv->undo = NULL;
  undo (future, priv->undo_data);
  future_clear_undo (priv);
}


char *
coop_future_get_label (CoopFuture *future)
{
  if (COOP_IS_TASK (future))
    {
      const char *name = coop_task_get_name (COOP_TASK (future));

      return g_strdup_printf ("task '%s'", name != NULL ? name : "(unnamed)");
    }
  return g_strdup_printf ("%s %p", G_OBJECT_TYPE_NAME (future), future);
}

void
coop_future_set_describe (CoopFuture      *future,
                          CoopDescribeFunc func,
                          gpointer         data)
{
  CoopFuturePrivate *priv = PRIV (future);

  priv->describe = func;
  priv->describe_data = data;
}

CoopDebugSite *
coop_future_get_site (CoopFuture *future)
{
  return PRIV (future)->site;
}

gboolean
coop_future_was_observed (CoopFuture *future)
{
  return PRIV (future)->observed;
}

/* coop_task_detach(): never-awaited has nothing to report. */
void
coop_future_mark_observed (CoopFuture *future)
{
  PRIV (future)->observed = TRUE;
}

static COOP_TLS guint describe_nesting;

void
coop_future_append_description (CoopFuture *future,
                                GString    *out,
                                guint       depth)
{
  CoopFuturePrivate *priv = PRIV (future);

  if (COOP_IS_TASK (future))
    {
      CoopTask *task = COOP_TASK (future);
      const char *name = coop_task_get_name (task);

      g_string_append_printf (out, "task #%" G_GUINT64_FORMAT " '%s'",
                              coop_task_get_id (task), name != NULL ? name : "(unnamed)");
    }
  else if (priv->state == COOP_FUTURE_STATE_PENDING && priv->describe != NULL && describe_nesting < depth)
    {
      /* Combinators describe their children: nest a few levels at most. */
      describe_nesting++;
      priv->describe (future, priv->describe_data, out);
      describe_nesting--;
    }
  else if (priv->state == COOP_FUTURE_STATE_PENDING && priv->describe != NULL)
    g_string_append (out, "...");
  else
    g_string_append_printf (out, "%s %p", G_OBJECT_TYPE_NAME (future), future);

  switch ((CoopFutureState) priv->state)
    {
    case COOP_FUTURE_STATE_PENDING:
      break;
    case COOP_FUTURE_STATE_FINISHED:
      g_string_append (out, " [finished]");
      break;
    case COOP_FUTURE_STATE_FAILED:
      g_string_append_printf (out, " [failed: %s]", priv->error != NULL ? priv->error->message : "?");
      break;
    case COOP_FUTURE_STATE_CANCELLED:
    default:
      g_string_append (out, " [cancelled]");
      break;
    }
}

/**
 * coop_future_describe:
 * @future: a future
 *
 * Says in words what @future stands for, for debugging: a pending sleep
 * names its deadline, an fd wait the fd and direction, a lock or queue
 * request the primitive and its state, a combinator how many futures it
 * still waits for (and what the first of them is), a task its number and
 * name.  A done future gives its type and outcome.
 *
 * The wording is for people and may change between versions: don't parse
 * it.  See [method@Coop.Loop.dump_tasks] for the same descriptions of what
 * every task waits for.
 *
 * Returns: (transfer full): a new string
 */
char *
coop_future_describe (CoopFuture *future)
{
  GString *out;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  out = g_string_new (NULL);
  coop_future_append_description (future, out, 3);
  return g_string_free (out, FALSE);
}
