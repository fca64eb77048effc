/* coop-sync.c: locks, events, semaphores and barriers for tasks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"

/* How the four primitives wait.
 *
 * Each one keeps a FIFO queue of the plain futures it handed out and has not
 * completed yet, holding a reference on each.  Every queued future carries
 * an internal waiter (an entry of this queue): if anyone else completes the
 * future (a cancelled task cancels the future it awaits, a combinator
 * cancels its children on timeout, a user cancels the future), the waiter
 * fires synchronously and takes the entry out of the queue, so a queued
 * future is always pending and the queue never holds anybody who stopped
 * waiting.  When a primitive completes a future itself it first detaches
 * the entry, so the waiter only ever sees completions from elsewhere.
 *
 * The lock and the semaphore hand what they release directly to the first
 * waiter (the lock stays locked, the slot is never counted as free), so a
 * later caller cannot barge in: while anybody waits, the lock is locked and
 * the semaphore's value is 0.  A hand-off finishes the waiter's future with
 * an undo function (see coop_future_set_undo()): if the task that awaited
 * it is cancelled before it resumes, coop_await() throws the result away
 * and runs the undo, which passes the lock or slot on again.  The undo is
 * set before the future completes, so the future leaves the loop's
 * recycling pool and the reference the undo holds on the primitive goes
 * with the future's last reference.
 *
 * The primitives belong to their loop's thread and are not thread-safe. */

typedef struct
{
  CoopWaiter  waiter;    /* first: the waiter is the entry */
  GList       link;      /* in @queue; link.data is the entry */
  GQueue     *queue;
  CoopFuture *future;    /* strong */
} SyncEntry;

/* The future was completed by somebody else (cancelled, mostly): it does not
 * wait any more. */
static void
sync_entry_completed (CoopWaiter *waiter,
                      CoopFuture *future)
{
  SyncEntry *entry = (SyncEntry *) waiter;

  g_queue_unlink (entry->queue, &entry->link);
  /* Whoever completed the future holds a reference on it. */
  g_object_unref (entry->future);
  g_free (entry);
}

/* Queues a new pending future and returns it (transfer full). */
static CoopFuture *
sync_queue_push_new (GQueue          *queue,
                     CoopLoop        *loop,
                     CoopDescribeFunc describe,
                     gpointer         owner)
{
  SyncEntry *entry = g_new0 (SyncEntry, 1);
  CoopFuture *future = coop_future_new (loop);

  coop_future_set_describe (future, describe, owner);

  entry->waiter.func = sync_entry_completed;
  entry->link.data = entry;
  entry->queue = queue;
  entry->future = g_object_ref (future);
  coop_future_add_waiter (future, &entry->waiter);
  g_queue_push_tail_link (queue, &entry->link);
  return future;
}

/* Takes the oldest waiting future out of the queue, detached from its
 * entry (transfer full), or NULL if nobody waits.  It is pending. */
static CoopFuture *
sync_queue_pop (GQueue *queue)
{
  GList *link = g_queue_pop_head_link (queue);
  SyncEntry *entry;
  CoopFuture *future;

  if (link == NULL)
    return NULL;
  entry = link->data;
  coop_future_remove_waiter (entry->future, &entry->waiter);
  future = entry->future;
  g_free (entry);
  return future;
}

/* Empties the queue into an array (transfer full), oldest first, so the
 * primitive's state is settled before any future completes. */
static GPtrArray *
sync_queue_steal (GQueue *queue)
{
  GPtrArray *futures = g_ptr_array_new_full (queue->length, g_object_unref);
  CoopFuture *future;

  while ((future = sync_queue_pop (queue)) != NULL)
    g_ptr_array_add (futures, future);
  return futures;
}

/* A primitive that goes away cancels whoever still waits on it. */
static void
sync_queue_cancel_all (GQueue     *queue,
                       const char *message)
{
  GPtrArray *futures = sync_queue_steal (queue);
  guint i;

  for (i = 0; i < futures->len; i++)
    coop_future_cancel (g_ptr_array_index (futures, i), message);
  g_ptr_array_unref (futures);
}

/* Finishes @future with TRUE, as the owner of what @undo gives back if the
 * result is thrown away. */
static void
sync_grant (CoopFuture   *future,
            CoopUndoFunc  undo,
            gpointer      primitive)
{
  coop_future_set_undo (future, undo, g_object_ref (primitive), g_object_unref);
  coop_future_set_boolean (future, TRUE);
}

/* After coop_await() failed on a future that a primitive may have granted:
 * a pending future stops waiting, and what a finished one was granted is
 * given back (coop_await() already did that if the task was cancelled;
 * running the undo twice does nothing). */
static void
sync_abandon (CoopFuture *future)
{
  if (!coop_future_is_done (future))
    coop_future_cancel (future, NULL);
  else
    coop_future_run_undo (future);
}

static CoopLoop *
sync_default_loop (CoopLoop *loop)
{
  return loop != NULL ? loop : g_object_ref (coop_loop_get_default ());
}

/* ===========================================================================
 * CoopLock
 * ======================================================================== */

/**
 * CoopLock:
 *
 * A mutual exclusion lock for tasks, as asyncio's `Lock`.
 *
 * [method@Coop.Lock.acquire] returns a future that finishes (with %TRUE)
 * once the caller owns the lock: at once if the lock was free, otherwise
 * when the owners before it have released it.  A C task usually calls
 * [method@Coop.Lock.lock] instead, which awaits that future:
 *
 * ```c
 * if (!coop_lock_lock (lock, &error))
 *   return;          // cancelled: the lock is not ours
 * ... // the critical section, which may await
 * coop_lock_release (lock);
 * ```
 *
 * The lock is fair: [method@Coop.Lock.release] hands it directly to the
 * oldest waiter, so the lock stays locked and a later
 * [method@Coop.Lock.try_acquire] or [method@Coop.Lock.acquire] cannot take
 * it first.  A waiter whose future is cancelled (which is what happens when
 * the task awaiting it is cancelled) leaves the queue; a task cancelled
 * after the lock was handed to it but before it resumed gives the lock on
 * to the next waiter, so a cancellation never loses the lock.
 *
 * The lock does not know its owner: any code may release it, as in asyncio.
 * Releasing a lock that is not locked is a programming error.  If the lock
 * is finalized while futures still wait on it, they are cancelled.
 *
 * A lock belongs to the thread of its loop.
 */

struct _CoopLock
{
  GObject   parent_instance;

  CoopLoop *loop;
  GQueue    waiters;     /* of SyncEntry: pending futures, oldest first */
  gboolean  locked;
};

enum {
  LOCK_PROP_0,
  LOCK_PROP_LOOP,
  LOCK_PROP_LOCKED,
  LOCK_N_PROPS
};

static GParamSpec *lock_properties[LOCK_N_PROPS];

G_DEFINE_FINAL_TYPE (CoopLock, coop_lock, G_TYPE_OBJECT)

/* Hands the lock to the oldest waiter, or unlocks it if nobody waits. */
static void lock_pass_on (CoopLock *lock);

static void
lock_undo (CoopFuture *future,
           gpointer    data)
{
  CoopLock *lock = data;

  /* Only a misuse (somebody released the lock for its new owner) can have
   * unlocked it meanwhile. */
  if (lock->locked)
    lock_pass_on (lock);
}

static void
lock_pass_on (CoopLock *lock)
{
  CoopFuture *next = sync_queue_pop (&lock->waiters);

  if (next == NULL)
    {
      lock->locked = FALSE;
      return;
    }
  sync_grant (next, lock_undo, lock);
  g_object_unref (next);
}

static void
coop_lock_init (CoopLock *lock)
{
  g_queue_init (&lock->waiters);
}

static void
coop_lock_constructed (GObject *object)
{
  CoopLock *lock = COOP_LOCK (object);

  G_OBJECT_CLASS (coop_lock_parent_class)->constructed (object);
  lock->loop = sync_default_loop (lock->loop);
}

static void
coop_lock_dispose (GObject *object)
{
  sync_queue_cancel_all (&COOP_LOCK (object)->waiters, "The lock was destroyed");

  G_OBJECT_CLASS (coop_lock_parent_class)->dispose (object);
}

static void
coop_lock_finalize (GObject *object)
{
  g_clear_object (&COOP_LOCK (object)->loop);

  G_OBJECT_CLASS (coop_lock_parent_class)->finalize (object);
}

static void
coop_lock_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  CoopLock *lock = COOP_LOCK (object);

  switch (prop_id)
    {
    case LOCK_PROP_LOOP:
      g_value_set_object (value, lock->loop);
      break;
    case LOCK_PROP_LOCKED:
      g_value_set_boolean (value, lock->locked);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_lock_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  CoopLock *lock = COOP_LOCK (object);

  switch (prop_id)
    {
    case LOCK_PROP_LOOP:
      g_clear_object (&lock->loop);
      lock->loop = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_lock_class_init (CoopLockClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = coop_lock_constructed;
  object_class->dispose = coop_lock_dispose;
  object_class->finalize = coop_lock_finalize;
  object_class->get_property = coop_lock_get_property;
  object_class->set_property = coop_lock_set_property;

  /**
   * CoopLock:loop:
   *
   * The loop whose tasks use the lock; its futures belong to it.  When not
   * given at construction, the default loop of the thread
   * ([func@Coop.Loop.get_default]).
   */
  lock_properties[LOCK_PROP_LOOP] =
    g_param_spec_object ("loop", NULL, NULL,
                         COOP_TYPE_LOOP,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * CoopLock:locked:
   *
   * Whether the lock is locked, as [method@Coop.Lock.is_locked].  Changes
   * are not notified.
   */
  lock_properties[LOCK_PROP_LOCKED] =
    g_param_spec_boolean ("locked", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, LOCK_N_PROPS, lock_properties);
}

/**
 * coop_lock_new:
 * @loop: the loop whose tasks use the lock
 *
 * Creates a lock, unlocked.
 *
 * Returns: (transfer full): a new lock
 */
CoopLock *
coop_lock_new (CoopLoop *loop)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);

  return g_object_new (COOP_TYPE_LOCK, "loop", loop, NULL);
}

static void
lock_describe (CoopFuture *future,
               gpointer    data,
               GString    *out)
{
  CoopLock *lock = data;

  g_string_append_printf (out, "lock %p (%s, %u waiting)", (gpointer) lock,
                          lock->locked ? "locked" : "free", lock->waiters.length);
}

/**
 * coop_lock_acquire:
 * @lock: a lock
 *
 * Asks for @lock.  The returned future finishes with %TRUE once the caller
 * owns the lock: it is already finished if the lock was free and nobody
 * waited, otherwise it finishes when the lock is handed on to it, after
 * everyone who asked before.  The owner releases the lock with
 * [method@Coop.Lock.release].
 *
 * Cancelling the future (or the task awaiting it) withdraws the request.
 * If the task awaiting the future with [func@Coop.await] is cancelled after
 * the lock was handed to it, the lock is passed on, since the task never
 * learns it owned it.  A caller whose await fails for another reason (a
 * cancellation already requested before the await, which leaves the future
 * pending) should cancel the future so that the request does not stay
 * queued; [method@Coop.Lock.lock] does all this.
 *
 * Returns: (transfer full): a future that finishes when the caller owns
 *   @lock
 */
CoopFuture *
coop_lock_acquire (CoopLock *lock)
{
  CoopFuture *future;

  g_return_val_if_fail (COOP_IS_LOCK (lock), NULL);
  coop_return_val_if_wrong_thread (lock->loop, COOP_INSTEAD_THREADSAFE, NULL);

  if (lock->locked)
    return sync_queue_push_new (&lock->waiters, lock->loop, lock_describe, lock);

  /* Nobody waits on a free lock. */
  lock->locked = TRUE;
  future = coop_future_new (lock->loop);
  sync_grant (future, lock_undo, lock);
  return future;
}

/**
 * coop_lock_try_acquire:
 * @lock: a lock
 *
 * Takes @lock if it is free, without waiting.
 *
 * Returns: %TRUE if the caller now owns @lock, %FALSE if it was locked
 */
gboolean
coop_lock_try_acquire (CoopLock *lock)
{
  g_return_val_if_fail (COOP_IS_LOCK (lock), FALSE);
  coop_return_val_if_wrong_thread (lock->loop, COOP_INSTEAD_THREADSAFE, FALSE);

  if (lock->locked)
    return FALSE;
  lock->locked = TRUE;
  return TRUE;
}

/**
 * coop_lock_release:
 * @lock: a locked lock
 *
 * Releases @lock: the oldest waiter, if any, owns it now (its future
 * finishes and the lock stays locked); otherwise it is unlocked.
 *
 * Releasing a lock that is not locked is a programming error, reported
 * with a critical warning.
 */
void
coop_lock_release (CoopLock *lock)
{
  g_return_if_fail (COOP_IS_LOCK (lock));
  coop_return_if_wrong_thread (lock->loop, COOP_INSTEAD_THREADSAFE);

  if (G_UNLIKELY (!lock->locked))
    {
      g_critical ("%s: the lock is not locked; release it only once for each acquire",
                  G_STRFUNC);
      return;
    }
  lock_pass_on (lock);
}

/**
 * coop_lock_is_locked:
 * @lock: a lock
 *
 * Tells whether @lock is held.
 *
 * Returns: whether @lock is locked (someone owns it, or it is being handed
 *   to a waiter)
 */
gboolean
coop_lock_is_locked (CoopLock *lock)
{
  g_return_val_if_fail (COOP_IS_LOCK (lock), FALSE);

  return lock->locked;
}

/**
 * coop_lock_lock:
 * @lock: a lock
 * @error: return location for an error
 *
 * Waits, in a C task, until the task owns @lock: this awaits
 * [method@Coop.Lock.acquire] with [func@Coop.await], and returns at once
 * if the lock is free.  The task releases the lock with
 * [method@Coop.Lock.release].
 *
 * If the task is cancelled meanwhile this returns %FALSE with
 * `G_IO_ERROR_CANCELLED`, and the task does not own the lock.  Outside a C
 * task it fails with %COOP_ERROR_NOT_IN_TASK, and in a task of another loop
 * with %COOP_ERROR_WRONG_LOOP, without touching the lock.
 *
 * Returns: %TRUE if the task owns @lock, %FALSE with @error set otherwise
 */
gboolean
coop_lock_lock (CoopLock  *lock,
                GError   **error)
{
  CoopTask *task;
  CoopFuture *future;
  gboolean ok;

  g_return_val_if_fail (COOP_IS_LOCK (lock), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  coop_return_val_if_wrong_thread (lock->loop, COOP_INSTEAD_THREADSAFE, FALSE);

  task = coop_task_get_current ();
  if (G_UNLIKELY (task == NULL))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_NOT_IN_TASK,
                           "coop_lock_lock() can only be called from inside a C task");
      return FALSE;
    }
  if (G_UNLIKELY (coop_future_get_loop (COOP_FUTURE (task)) != lock->loop))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_WRONG_LOOP,
                           "The lock belongs to another loop");
      return FALSE;
    }

  /* A free lock, no cancellation to deliver: what awaiting a finished
   * future would do, without the future. */
  if (!lock->locked && !coop_task_is_cancelling (task))
    {
      lock->locked = TRUE;
      return TRUE;
    }

  future = coop_lock_acquire (lock);
  ok = coop_await (future, error);
  if (ok)
    coop_future_set_undo (future, NULL, NULL, NULL);   /* ours for good */
  else
    sync_abandon (future);
  g_object_unref (future);
  return ok;
}

/* ===========================================================================
 * CoopEvent
 * ======================================================================== */

/**
 * CoopEvent:
 *
 * A flag that tasks can wait for, as asyncio's `Event`.
 *
 * An event starts clear.  [method@Coop.Event.wait] returns a future that
 * finishes (with %TRUE) once the event is set: at once if it is set
 * already.  [method@Coop.Event.set] sets the event and wakes every waiter;
 * [method@Coop.Event.clear] clears it, so later waiters wait for the next
 * set.  Clearing the event right after setting it does not take back the
 * wake-ups of that set: every future that waited when it was set is
 * finished.
 *
 * Cancelling a waiting future (or the task awaiting it) withdraws it.  If
 * the event is finalized while futures wait on it, they are cancelled.
 *
 * An event belongs to the thread of its loop.
 */

struct _CoopEvent
{
  GObject   parent_instance;

  CoopLoop *loop;
  GQueue    waiters;     /* of SyncEntry */
  gboolean  is_set;
};

enum {
  EVENT_PROP_0,
  EVENT_PROP_LOOP,
  EVENT_PROP_IS_SET,
  EVENT_N_PROPS
};

static GParamSpec *event_properties[EVENT_N_PROPS];

G_DEFINE_FINAL_TYPE (CoopEvent, coop_event, G_TYPE_OBJECT)

static void
coop_event_init (CoopEvent *event)
{
  g_queue_init (&event->waiters);
}

static void
coop_event_constructed (GObject *object)
{
  CoopEvent *event = COOP_EVENT (object);

  G_OBJECT_CLASS (coop_event_parent_class)->constructed (object);
  event->loop = sync_default_loop (event->loop);
}

static void
coop_event_dispose (GObject *object)
{
  sync_queue_cancel_all (&COOP_EVENT (object)->waiters, "The event was destroyed");

  G_OBJECT_CLASS (coop_event_parent_class)->dispose (object);
}

static void
coop_event_finalize (GObject *object)
{
  g_clear_object (&COOP_EVENT (object)->loop);

  G_OBJECT_CLASS (coop_event_parent_class)->finalize (object);
}

static void
coop_event_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  CoopEvent *event = COOP_EVENT (object);

  switch (prop_id)
    {
    case EVENT_PROP_LOOP:
      g_value_set_object (value, event->loop);
      break;
    case EVENT_PROP_IS_SET:
      g_value_set_boolean (value, event->is_set);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_event_set_property (GObject      *object,
                         guint         prop_id,
                         const GValue *value,
                         GParamSpec   *pspec)
{
  CoopEvent *event = COOP_EVENT (object);

  switch (prop_id)
    {
    case EVENT_PROP_LOOP:
      g_clear_object (&event->loop);
      event->loop = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_event_class_init (CoopEventClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = coop_event_constructed;
  object_class->dispose = coop_event_dispose;
  object_class->finalize = coop_event_finalize;
  object_class->get_property = coop_event_get_property;
  object_class->set_property = coop_event_set_property;

  /**
   * CoopEvent:loop:
   *
   * The loop whose tasks use the event; its futures belong to it.  When
   * not given at construction, the default loop of the thread
   * ([func@Coop.Loop.get_default]).
   */
  event_properties[EVENT_PROP_LOOP] =
    g_param_spec_object ("loop", NULL, NULL,
                         COOP_TYPE_LOOP,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * CoopEvent:is-set:
   *
   * Whether the event is set, as [method@Coop.Event.is_set].  Changes are
   * not notified.
   */
  event_properties[EVENT_PROP_IS_SET] =
    g_param_spec_boolean ("is-set", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, EVENT_N_PROPS, event_properties);
}

/**
 * coop_event_new:
 * @loop: the loop whose tasks use the event
 *
 * Creates an event, clear.
 *
 * Returns: (transfer full): a new event
 */
CoopEvent *
coop_event_new (CoopLoop *loop)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);

  return g_object_new (COOP_TYPE_EVENT, "loop", loop, NULL);
}

/**
 * coop_event_set:
 * @event: an event
 *
 * Sets @event and finishes the future of every waiter (the tasks awaiting
 * them resume later, from the loop).  Until [method@Coop.Event.clear] is
 * called, [method@Coop.Event.wait] returns finished futures.  Setting an
 * event that is set does nothing.
 */
void
coop_event_set (CoopEvent *event)
{
  GPtrArray *futures;
  guint i;

  g_return_if_fail (COOP_IS_EVENT (event));
  coop_return_if_wrong_thread (event->loop, COOP_INSTEAD_THREADSAFE);

  if (event->is_set)
    return;
  event->is_set = TRUE;

  futures = sync_queue_steal (&event->waiters);
  for (i = 0; i < futures->len; i++)
    {
      CoopFuture *future = g_ptr_array_index (futures, i);

      if (!coop_future_is_done (future))
        coop_future_set_boolean (future, TRUE);
    }
  g_ptr_array_unref (futures);
}

/**
 * coop_event_clear:
 * @event: an event
 *
 * Clears @event: later calls to [method@Coop.Event.wait] wait for the
 * next [method@Coop.Event.set].  The waiters woken by an earlier set stay
 * woken.
 */
void
coop_event_clear (CoopEvent *event)
{
  g_return_if_fail (COOP_IS_EVENT (event));
  coop_return_if_wrong_thread (event->loop, COOP_INSTEAD_THREADSAFE);

  event->is_set = FALSE;
}

/**
 * coop_event_is_set:
 * @event: an event
 *
 * Tells whether the flag of @event is set.
 *
 * Returns: whether @event is set
 */
gboolean
coop_event_is_set (CoopEvent *event)
{
  g_return_val_if_fail (COOP_IS_EVENT (event), FALSE);

  return event->is_set;
}

static void
event_describe (CoopFuture *future,
                gpointer    data,
                GString    *out)
{
  CoopEvent *event = data;

  g_string_append_printf (out, "event %p (%s, %u waiting)", (gpointer) event,
                          event->is_set ? "set" : "not set", event->waiters.length);
}

/**
 * coop_event_wait:
 * @event: an event
 *
 * Waits for @event to be set.  The returned future finishes with %TRUE
 * when it is; it is already finished if @event is set now.  Cancelling the
 * future (or the task awaiting it) stops the wait.
 *
 * Returns: (transfer full): a future that finishes once @event is set
 */
CoopFuture *
coop_event_wait (CoopEvent *event)
{
  CoopFuture *future;

  g_return_val_if_fail (COOP_IS_EVENT (event), NULL);
  coop_return_val_if_wrong_thread (event->loop, COOP_INSTEAD_THREADSAFE, NULL);

  if (!event->is_set)
    return sync_queue_push_new (&event->waiters, event->loop, event_describe, event);

  future = coop_future_new (event->loop);
  coop_future_set_boolean (future, TRUE);
  return future;
}

/* ===========================================================================
 * CoopSemaphore
 * ======================================================================== */

/**
 * CoopSemaphore:
 *
 * A counter of free slots that tasks can wait for, as asyncio's
 * `Semaphore` and `BoundedSemaphore`.
 *
 * [method@Coop.Semaphore.acquire] takes a slot: its future finishes (with
 * %TRUE) at once if the value is above zero (and the value goes down by
 * one), otherwise once a slot is released for it.
 * [method@Coop.Semaphore.release] gives a slot back: the oldest waiter
 * gets it directly (the value stays 0), or, if nobody waits, the value
 * goes up by one.  Waiters are served in FIFO order, and while anybody
 * waits the value is 0, so [method@Coop.Semaphore.try_acquire] cannot take
 * a slot before them.
 *
 * A semaphore made with [ctor@Coop.Semaphore.new_bounded] refuses to be
 * released above its initial value (%COOP_ERROR_INVALID_STATE), which
 * catches a release too many.
 *
 * As with [class@Coop.Lock], cancelling a waiting future (or the task
 * awaiting it) withdraws it, and a task cancelled after a slot was handed
 * to it, before it resumed, gives the slot back.  If the semaphore is
 * finalized while futures wait on it, they are cancelled.
 *
 * A semaphore belongs to the thread of its loop.
 */

struct _CoopSemaphore
{
  GObject   parent_instance;

  CoopLoop *loop;
  GQueue    waiters;     /* of SyncEntry; non-empty only while value is 0 */
  guint     value;
  guint     bound;       /* the initial value */
  gboolean  bounded;
};

enum {
  SEMAPHORE_PROP_0,
  SEMAPHORE_PROP_LOOP,
  SEMAPHORE_PROP_VALUE,
  SEMAPHORE_PROP_BOUNDED,
  SEMAPHORE_N_PROPS
};

static GParamSpec *semaphore_properties[SEMAPHORE_N_PROPS];

G_DEFINE_FINAL_TYPE (CoopSemaphore, coop_semaphore, G_TYPE_OBJECT)

static void semaphore_pass_on (CoopSemaphore *semaphore);

static void
semaphore_undo (CoopFuture *future,
                gpointer    data)
{
  semaphore_pass_on (data);
}

/* Gives a slot to the oldest waiter, or back to the count. */
static void
semaphore_pass_on (CoopSemaphore *semaphore)
{
  CoopFuture *next = sync_queue_pop (&semaphore->waiters);

  if (next == NULL)
    {
      /* Only a misuse can bring an undo here with a full bounded
       * semaphore; never go past the bound. */
      if (!semaphore->bounded || semaphore->value < semaphore->bound)
        semaphore->value++;
      return;
    }
  sync_grant (next, semaphore_undo, semaphore);
  g_object_unref (next);
}

static void
coop_semaphore_init (CoopSemaphore *semaphore)
{
  g_queue_init (&semaphore->waiters);
  semaphore->value = 1;
}

static void
coop_semaphore_constructed (GObject *object)
{
  CoopSemaphore *semaphore = COOP_SEMAPHORE (object);

  G_OBJECT_CLASS (coop_semaphore_parent_class)->constructed (object);
  semaphore->loop = sync_default_loop (semaphore->loop);
  semaphore->bound = semaphore->value;
}

static void
coop_semaphore_dispose (GObject *object)
{
  sync_queue_cancel_all (&COOP_SEMAPHORE (object)->waiters, "The semaphore was destroyed");

  G_OBJECT_CLASS (coop_semaphore_parent_class)->dispose (object);
}

static void
coop_semaphore_finalize (GObject *object)
{
  g_clear_object (&COOP_SEMAPHORE (object)->loop);

  G_OBJECT_CLASS (coop_semaphore_parent_class)->finalize (object);
}

static void
coop_semaphore_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  CoopSemaphore *semaphore = COOP_SEMAPHORE (object);

  switch (prop_id)
    {
    case SEMAPHORE_PROP_LOOP:
      g_value_set_object (value, semaphore->loop);
      break;
    case SEMAPHORE_PROP_VALUE:
      g_value_set_uint (value, semaphore->value);
      break;
    case SEMAPHORE_PROP_BOUNDED:
      g_value_set_boolean (value, semaphore->bounded);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_semaphore_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  CoopSemaphore *semaphore = COOP_SEMAPHORE (object);

  switch (prop_id)
    {
    case SEMAPHORE_PROP_LOOP:
      g_clear_object (&semaphore->loop);
      semaphore->loop = g_value_dup_object (value);
      break;
    case SEMAPHORE_PROP_VALUE:
      semaphore->value = g_value_get_uint (value);
      break;
    case SEMAPHORE_PROP_BOUNDED:
      semaphore->bounded = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_semaphore_class_init (CoopSemaphoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = coop_semaphore_constructed;
  object_class->dispose = coop_semaphore_dispose;
  object_class->finalize = coop_semaphore_finalize;
  object_class->get_property = coop_semaphore_get_property;
  object_class->set_property = coop_semaphore_set_property;

  /**
   * CoopSemaphore:loop:
   *
   * The loop whose tasks use the semaphore; its futures belong to it.
   * When not given at construction, the default loop of the thread
   * ([func@Coop.Loop.get_default]).
   */
  semaphore_properties[SEMAPHORE_PROP_LOOP] =
    g_param_spec_object ("loop", NULL, NULL,
                         COOP_TYPE_LOOP,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * CoopSemaphore:value:
   *
   * The number of free slots: set once at construction (1 if not given,
   * as asyncio), then read as [method@Coop.Semaphore.get_value].  Changes
   * are not notified.
   */
  semaphore_properties[SEMAPHORE_PROP_VALUE] =
    g_param_spec_uint ("value", NULL, NULL,
                       0, G_MAXUINT, 1,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * CoopSemaphore:bounded:
   *
   * Whether releasing the semaphore above its initial value is refused
   * (asyncio's `BoundedSemaphore`).
   */
  semaphore_properties[SEMAPHORE_PROP_BOUNDED] =
    g_param_spec_boolean ("bounded", NULL, NULL,
                          FALSE,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, SEMAPHORE_N_PROPS, semaphore_properties);
}

/**
 * coop_semaphore_new:
 * @loop: the loop whose tasks use the semaphore
 * @value: the initial number of free slots
 *
 * Creates a semaphore with @value free slots.  Releasing it more often than
 * it was acquired raises its value (see [ctor@Coop.Semaphore.new_bounded]
 * for one that refuses).
 *
 * Returns: (transfer full): a new semaphore
 */
CoopSemaphore *
coop_semaphore_new (CoopLoop *loop,
                    guint     value)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);

  return g_object_new (COOP_TYPE_SEMAPHORE, "loop", loop, "value", value, NULL);
}

/**
 * coop_semaphore_new_bounded:
 * @loop: the loop whose tasks use the semaphore
 * @value: the initial number of free slots, and the most it may have
 *
 * Creates a bounded semaphore: as [ctor@Coop.Semaphore.new], but
 * [method@Coop.Semaphore.release] fails with %COOP_ERROR_INVALID_STATE
 * instead of raising the value above @value.
 *
 * Returns: (transfer full): a new semaphore
 */
CoopSemaphore *
coop_semaphore_new_bounded (CoopLoop *loop,
                            guint     value)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);

  return g_object_new (COOP_TYPE_SEMAPHORE, "loop", loop, "value", value, "bounded", TRUE, NULL);
}

static void
semaphore_describe (CoopFuture *future,
                    gpointer    data,
                    GString    *out)
{
  CoopSemaphore *semaphore = data;

  g_string_append_printf (out, "semaphore %p (value %u, %u waiting)", (gpointer) semaphore,
                          semaphore->value, semaphore->waiters.length);
}

/**
 * coop_semaphore_acquire:
 * @semaphore: a semaphore
 *
 * Takes a slot of @semaphore.  The returned future finishes with %TRUE
 * once the caller holds the slot: it is already finished if one was free
 * (the value went down by one), otherwise it finishes when a slot is
 * released for it, after everyone who asked before.  The holder gives the
 * slot back with [method@Coop.Semaphore.release].
 *
 * Cancelling the future (or the task awaiting it) withdraws the request.
 * If the task awaiting the future with [func@Coop.await] is cancelled after
 * the slot was handed to it, the slot is passed on.  A caller whose await
 * fails while the future is still pending (a cancellation requested before
 * the await) should cancel the future, so that the request does not stay
 * queued.
 *
 * Returns: (transfer full): a future that finishes when the caller holds a
 *   slot
 */
CoopFuture *
coop_semaphore_acquire (CoopSemaphore *semaphore)
{
  CoopFuture *future;

  g_return_val_if_fail (COOP_IS_SEMAPHORE (semaphore), NULL);
  coop_return_val_if_wrong_thread (semaphore->loop, COOP_INSTEAD_THREADSAFE, NULL);

  if (semaphore->value == 0)
    return sync_queue_push_new (&semaphore->waiters, semaphore->loop, semaphore_describe, semaphore);

  /* Nobody waits while a slot is free. */
  semaphore->value--;
  future = coop_future_new (semaphore->loop);
  sync_grant (future, semaphore_undo, semaphore);
  return future;
}

/**
 * coop_semaphore_try_acquire:
 * @semaphore: a semaphore
 *
 * Takes a slot of @semaphore if one is free, without waiting.
 *
 * Returns: %TRUE if the caller now holds a slot, %FALSE if none was free
 */
gboolean
coop_semaphore_try_acquire (CoopSemaphore *semaphore)
{
  g_return_val_if_fail (COOP_IS_SEMAPHORE (semaphore), FALSE);
  coop_return_val_if_wrong_thread (semaphore->loop, COOP_INSTEAD_THREADSAFE, FALSE);

  if (semaphore->value == 0)
    return FALSE;
  semaphore->value--;
  return TRUE;
}

/**
 * coop_semaphore_release:
 * @semaphore: a semaphore
 * @error: return location for an error
 *
 * Gives a slot back to @semaphore: the oldest waiter, if any, holds it
 * now; otherwise the value goes up by one.
 *
 * A bounded semaphore ([ctor@Coop.Semaphore.new_bounded]) already at its
 * initial value is left unchanged, and this fails with
 * %COOP_ERROR_INVALID_STATE.  Any other semaphore only fails if its value
 * would overflow a #guint.
 *
 * Returns: %TRUE if the slot was given back, %FALSE with @error set
 *   otherwise
 */
gboolean
coop_semaphore_release (CoopSemaphore  *semaphore,
                        GError        **error)
{
  g_return_val_if_fail (COOP_IS_SEMAPHORE (semaphore), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  coop_return_val_if_wrong_thread (semaphore->loop, COOP_INSTEAD_THREADSAFE, FALSE);

  if (G_UNLIKELY (semaphore->bounded && semaphore->value >= semaphore->bound))
    {
      g_set_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                   "The bounded semaphore was released too many times (its value is %u, its bound)",
                   semaphore->bound);
      return FALSE;
    }
  if (G_UNLIKELY (semaphore->value == G_MAXUINT))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                           "The semaphore's value would overflow");
      return FALSE;
    }
  semaphore_pass_on (semaphore);
  return TRUE;
}

/**
 * coop_semaphore_get_value:
 * @semaphore: a semaphore
 *
 * Gets the number of free slots of @semaphore.
 *
 * Returns: the number of free slots of @semaphore (0 while anybody waits)
 */
guint
coop_semaphore_get_value (CoopSemaphore *semaphore)
{
  g_return_val_if_fail (COOP_IS_SEMAPHORE (semaphore), 0);

  return semaphore->value;
}

/**
 * coop_semaphore_is_locked:
 * @semaphore: a semaphore
 *
 * Tells whether acquiring @semaphore would wait.
 *
 * Returns: whether [method@Coop.Semaphore.acquire] would have to wait:
 *   no slot is free (or somebody waits, which implies it)
 */
gboolean
coop_semaphore_is_locked (CoopSemaphore *semaphore)
{
  g_return_val_if_fail (COOP_IS_SEMAPHORE (semaphore), FALSE);

  return semaphore->value == 0 || semaphore->waiters.length > 0;
}

/* ===========================================================================
 * CoopBarrier
 * ======================================================================== */

/**
 * CoopBarrier:
 *
 * A meeting point for a fixed number of tasks, as asyncio's `Barrier`.
 *
 * [method@Coop.Barrier.wait] returns a future that finishes once
 * [property@Coop.Barrier:parties] futures wait together; each finishes
 * with its arrival index, a 64-bit integer from 0 (the first to arrive) to
 * `parties - 1` (the one that completed the group).  The barrier is then
 * empty and ready for the next round: it is cyclic.
 *
 * A waiting future that is cancelled (or whose task is cancelled) leaves
 * the group, so the barrier then needs one more arrival.
 * [method@Coop.Barrier.reset] fails the waiting futures with
 * %COOP_ERROR_BROKEN_BARRIER and leaves the barrier empty and usable;
 * [method@Coop.Barrier.abort] does the same but leaves the barrier broken:
 * every later wait fails at once, until it is reset.  If the barrier is
 * finalized while futures wait on it, they are cancelled.
 *
 * A barrier belongs to the thread of its loop.
 */

struct _CoopBarrier
{
  GObject   parent_instance;

  CoopLoop *loop;
  GQueue    waiters;     /* of SyncEntry, in arrival order */
  guint     parties;
  gboolean  broken;
};

enum {
  BARRIER_PROP_0,
  BARRIER_PROP_LOOP,
  BARRIER_PROP_PARTIES,
  BARRIER_PROP_N_WAITING,
  BARRIER_PROP_BROKEN,
  BARRIER_N_PROPS
};

static GParamSpec *barrier_properties[BARRIER_N_PROPS];

G_DEFINE_FINAL_TYPE (CoopBarrier, coop_barrier, G_TYPE_OBJECT)

static void
coop_barrier_init (CoopBarrier *barrier)
{
  g_queue_init (&barrier->waiters);
  barrier->parties = 1;
}

static void
coop_barrier_constructed (GObject *object)
{
  CoopBarrier *barrier = COOP_BARRIER (object);

  G_OBJECT_CLASS (coop_barrier_parent_class)->constructed (object);
  barrier->loop = sync_default_loop (barrier->loop);
}

static void
coop_barrier_dispose (GObject *object)
{
  sync_queue_cancel_all (&COOP_BARRIER (object)->waiters, "The barrier was destroyed");

  G_OBJECT_CLASS (coop_barrier_parent_class)->dispose (object);
}

static void
coop_barrier_finalize (GObject *object)
{
  g_clear_object (&COOP_BARRIER (object)->loop);

  G_OBJECT_CLASS (coop_barrier_parent_class)->finalize (object);
}

static void
coop_barrier_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  CoopBarrier *barrier = COOP_BARRIER (object);

  switch (prop_id)
    {
    case BARRIER_PROP_LOOP:
      g_value_set_object (value, barrier->loop);
      break;
    case BARRIER_PROP_PARTIES:
      g_value_set_uint (value, barrier->parties);
      break;
    case BARRIER_PROP_N_WAITING:
      g_value_set_uint (value, barrier->waiters.length);
      break;
    case BARRIER_PROP_BROKEN:
      g_value_set_boolean (value, barrier->broken);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_barrier_set_property (GObject      *object,
                           guint         prop_id,
                           const GValue *value,
                           GParamSpec   *pspec)
{
  CoopBarrier *barrier = COOP_BARRIER (object);

  switch (prop_id)
    {
    case BARRIER_PROP_LOOP:
      g_clear_object (&barrier->loop);
      barrier->loop = g_value_dup_object (value);
      break;
    case BARRIER_PROP_PARTIES:
      barrier->parties = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_barrier_class_init (CoopBarrierClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = coop_barrier_constructed;
  object_class->dispose = coop_barrier_dispose;
  object_class->finalize = coop_barrier_finalize;
  object_class->get_property = coop_barrier_get_property;
  object_class->set_property = coop_barrier_set_property;

  /**
   * CoopBarrier:loop:
   *
   * The loop whose tasks use the barrier; its futures belong to it.  When
   * not given at construction, the default loop of the thread
   * ([func@Coop.Loop.get_default]).
   */
  barrier_properties[BARRIER_PROP_LOOP] =
    g_param_spec_object ("loop", NULL, NULL,
                         COOP_TYPE_LOOP,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * CoopBarrier:parties:
   *
   * How many waiters the barrier gathers before it lets them all go, at
   * least 1 (1 if not given at construction).
   */
  barrier_properties[BARRIER_PROP_PARTIES] =
    g_param_spec_uint ("parties", NULL, NULL,
                       1, G_MAXUINT, 1,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * CoopBarrier:n-waiting:
   *
   * How many futures wait on the barrier now, as
   * [method@Coop.Barrier.get_n_waiting].  Changes are not notified.
   */
  barrier_properties[BARRIER_PROP_N_WAITING] =
    g_param_spec_uint ("n-waiting", NULL, NULL,
                       0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * CoopBarrier:broken:
   *
   * Whether the barrier was aborted and not reset since, as
   * [method@Coop.Barrier.is_broken].  Changes are not notified.
   */
  barrier_properties[BARRIER_PROP_BROKEN] =
    g_param_spec_boolean ("broken", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, BARRIER_N_PROPS, barrier_properties);
}

/**
 * coop_barrier_new:
 * @loop: the loop whose tasks use the barrier
 * @parties: how many waiters to gather each round, at least 1
 *
 * Creates a barrier for @parties waiters.
 *
 * Returns: (transfer full): a new barrier (%NULL only after a critical
 *   warning, if @parties is 0)
 */
CoopBarrier *
coop_barrier_new (CoopLoop *loop,
                  guint     parties)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (parties > 0, NULL);

  return g_object_new (COOP_TYPE_BARRIER, "loop", loop, "parties", parties, NULL);
}

static void
barrier_describe (CoopFuture *future,
                  gpointer    data,
                  GString    *out)
{
  CoopBarrier *barrier = data;

  g_string_append_printf (out, "barrier %p (%u of %u parties waiting)", (gpointer) barrier,
                          barrier->waiters.length, barrier->parties);
}

/**
 * coop_barrier_wait:
 * @barrier: a barrier
 *
 * Waits at @barrier until [property@Coop.Barrier:parties] waiters are
 * there (this one included).  The returned future then finishes with this
 * waiter's arrival index (an int64, read with
 * [method@Coop.Future.get_int64]): 0 for the first waiter of the round,
 * `parties - 1` for the one that completed it, whose future is finished
 * at once.
 *
 * If the barrier is reset or aborted while waiting, the future fails with
 * %COOP_ERROR_BROKEN_BARRIER; if it is broken now, the future has already
 * failed so.  Cancelling the future (or the task awaiting it) leaves the
 * group.
 *
 * Returns: (transfer full): a future that finishes with the arrival index
 */
CoopFuture *
coop_barrier_wait (CoopBarrier *barrier)
{
  CoopFuture *future;
  GPtrArray *futures;
  guint i;

  g_return_val_if_fail (COOP_IS_BARRIER (barrier), NULL);
  coop_return_val_if_wrong_thread (barrier->loop, COOP_INSTEAD_THREADSAFE, NULL);

  if (barrier->broken)
    {
      future = coop_future_new (barrier->loop);
      coop_future_take_error (future,
                              g_error_new_literal (COOP_ERROR, COOP_ERROR_BROKEN_BARRIER,
                                                   "The barrier is broken"));
      return future;
    }

  if (barrier->waiters.length + 1 < barrier->parties)
    return sync_queue_push_new (&barrier->waiters, barrier->loop, barrier_describe, barrier);

  /* The last one: let the round go, in arrival order.  The barrier is
   * empty and ready for the next round before anything completes. */
  futures = sync_queue_steal (&barrier->waiters);
  for (i = 0; i < futures->len; i++)
    {
      CoopFuture *waiting = g_ptr_array_index (futures, i);

      if (!coop_future_is_done (waiting))
        coop_future_set_int64 (waiting, i);
    }
  future = coop_future_new (barrier->loop);
  coop_future_set_int64 (future, futures->len);
  g_ptr_array_unref (futures);
  return future;
}

/* Fails every waiter with COOP_ERROR_BROKEN_BARRIER. */
static void
barrier_break_waiters (CoopBarrier *barrier,
                       const char  *message)
{
  GPtrArray *futures = sync_queue_steal (&barrier->waiters);
  guint i;

  for (i = 0; i < futures->len; i++)
    {
      CoopFuture *future = g_ptr_array_index (futures, i);

      if (!coop_future_is_done (future))
        coop_future_take_error (future,
                                g_error_new_literal (COOP_ERROR, COOP_ERROR_BROKEN_BARRIER, message));
    }
  g_ptr_array_unref (futures);
}

/**
 * coop_barrier_reset:
 * @barrier: a barrier
 *
 * Brings @barrier back to its first state, empty and not broken: the
 * futures waiting on it fail with %COOP_ERROR_BROKEN_BARRIER, and later
 * waits start a new round.
 */
void
coop_barrier_reset (CoopBarrier *barrier)
{
  g_return_if_fail (COOP_IS_BARRIER (barrier));
  coop_return_if_wrong_thread (barrier->loop, COOP_INSTEAD_THREADSAFE);

  barrier->broken = FALSE;
  barrier_break_waiters (barrier, "The barrier was reset");
}

/**
 * coop_barrier_abort:
 * @barrier: a barrier
 *
 * Breaks @barrier: the futures waiting on it fail with
 * %COOP_ERROR_BROKEN_BARRIER, and so does every later
 * [method@Coop.Barrier.wait], at once, until [method@Coop.Barrier.reset]
 * is called.
 */
void
coop_barrier_abort (CoopBarrier *barrier)
{
  g_return_if_fail (COOP_IS_BARRIER (barrier));
  coop_return_if_wrong_thread (barrier->loop, COOP_INSTEAD_THREADSAFE);

  barrier->broken = TRUE;
  barrier_break_waiters (barrier, "The barrier was aborted");
}

/**
 * coop_barrier_get_parties:
 * @barrier: a barrier
 *
 * Gets the number of waiters that make up one round of @barrier.
 *
 * Returns: how many waiters @barrier gathers each round
 */
guint
coop_barrier_get_parties (CoopBarrier *barrier)
{
  g_return_val_if_fail (COOP_IS_BARRIER (barrier), 0);

  return barrier->parties;
}

/**
 * coop_barrier_get_n_waiting:
 * @barrier: a barrier
 *
 * Gets the number of waiters of the current round.
 *
 * Returns: how many futures wait on @barrier now
 */
guint
coop_barrier_get_n_waiting (CoopBarrier *barrier)
{
  g_return_val_if_fail (COOP_IS_BARRIER (barrier), 0);

  return barrier->waiters.length;
}

/**
 * coop_barrier_is_broken:
 * @barrier: a barrier
 *
 * Tells whether @barrier is broken.
 *
 * Returns: whether @barrier was aborted and not reset since
 */
gboolean
coop_barrier_is_broken (CoopBarrier *barrier)
{
  g_return_val_if_fail (COOP_IS_BARRIER (barrier), FALSE);

  return barrier->broken;
}
