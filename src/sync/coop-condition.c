/* coop-condition.c: a condition variable for tasks, bound to a lock.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"

/**
 * CoopCondition:
 *
 * A condition variable for tasks, as asyncio's `Condition`: tasks wait,
 * with a [class@Coop.Lock] held, until another task that changed the
 * shared state notifies them.
 *
 * [method@Coop.Condition.wait] must be called with the condition's lock
 * held.  It releases the lock, waits to be notified, and acquires the lock
 * again before its future completes, so the waiting task owns the lock
 * once its await returns — whether it was notified or cancelled.
 * [method@Coop.Condition.wait_for] loops on it until a predicate holds:
 *
 * ```c
 * // consumer
 * if (!coop_lock_lock (lock, &error))
 *   return;
 * g_autoptr(CoopFuture) ready = coop_condition_wait_for (cond, has_item, state, NULL);
 * if (coop_await (ready, &error))
 *   take_item (state);
 * coop_lock_release (lock);   // held again in any case
 *
 * // producer, with the lock held
 * add_item (state);
 * coop_condition_notify (cond, 1);
 * ```
 *
 * [method@Coop.Condition.notify] wakes the longest-waiting tasks, and
 * [method@Coop.Condition.notify_all] all of them; both must be called with
 * the lock held, and the woken tasks get the lock, one after the other,
 * once the notifier releases it.
 *
 * Cancelling a waiting task (or the future of a wait) takes it out of the
 * waiting line and completes its future as %COOP_FUTURE_STATE_CANCELLED
 * only once the lock has been acquired again, as asyncio does: the await
 * in a cancelled task returns %FALSE with `G_IO_ERROR_CANCELLED` and the
 * task owns the lock.  A notification that a cancelled task received but
 * could not act on is passed on to the next waiting task, so it is not
 * lost; a task cancelled while nobody had notified it leaves the other
 * waiters alone.
 *
 * The future of a wait owns the lock once it completes (except when it
 * failed at once with %COOP_ERROR_INVALID_STATE because the lock was not
 * held): whoever holds that future must release the lock.
 *
 * A condition belongs to the thread of its loop.  If it is finalized while
 * tasks wait on it, their waits are cancelled (and re-acquire the lock).
 */

struct _CoopCondition
{
  GObject    parent_instance;

  CoopLoop  *loop;
  CoopLock  *lock;
  GQueue     waiters;   /* CoopConditionWaiter, oldest first, one reference each */
};

enum {
  PROP_0,
  PROP_LOOP,
  PROP_LOCK,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (CoopCondition, coop_condition, G_TYPE_OBJECT)

/* --- the future of a wait -----------------------------------------------------------
 *
 * One private future subclass serves wait() and wait_for().  It goes
 * through these stages:
 *
 *   WAITING    in the condition's line, the lock released; the condition
 *              holds a reference on the future, the future only a borrowed
 *              pointer to the condition (the condition cancels the waits
 *              left when it is finalized);
 *   ACQUIRING  notified or cancelled, waiting for the lock's acquire
 *              future; holds a reference on the condition;
 *   CHECKING   wait_for() only: the lock is held again and the predicate
 *              is about to be evaluated from the ready queue (user code
 *              never runs inside the lock's completion of the acquire);
 *   DONE       completed.
 *
 * The cancel vfunc does not complete the future: a waiting one leaves the
 * line and starts acquiring, and whatever the stage, the future ends
 * CANCELLED once the lock is held.  coop_await() in a cancelled task
 * waits for that, so the task resumes owning the lock. */

typedef enum
{
  STAGE_WAITING,
  STAGE_ACQUIRING,
  STAGE_CHECKING,
  STAGE_DONE,
} Stage;

#define COOP_TYPE_CONDITION_WAITER (coop_condition_waiter_get_type ())
G_DECLARE_FINAL_TYPE (CoopConditionWaiter, coop_condition_waiter, COOP, CONDITION_WAITER, CoopFuture)

struct _CoopConditionWaiter
{
  CoopFuture      parent_instance;

  Stage           stage;
  CoopCondition  *condition;       /* see above; NULL once the condition is gone */
  CoopLock       *lock;            /* strong */
  GList           link;            /* in condition->waiters while WAITING */
  CoopWaiter      self_waiter;     /* on itself: notices a completion from elsewhere */
  CoopFuture     *acquire;         /* the lock request while ACQUIRING, strong */
  CoopWaiter      acquire_waiter;  /* on acquire */

  CoopPredicate   predicate;       /* wait_for() */
  gpointer        user_data;
  GDestroyNotify  notify;

  char           *cancel_message;
  guint           cancelled : 1;
  guint           notified : 1;    /* consumed a notification since it last waited */
};

G_DEFINE_FINAL_TYPE (CoopConditionWaiter, coop_condition_waiter, COOP_TYPE_FUTURE)

static void waiter_acquired (CoopConditionWaiter *self);
static void condition_wake (CoopCondition *condition,
                            guint          n);

static void
waiter_clear_predicate (CoopConditionWaiter *self)
{
  GDestroyNotify notify = self->notify;
  gpointer user_data = self->user_data;

  self->predicate = NULL;
  self->notify = NULL;
  self->user_data = NULL;
  if (notify != NULL)
    notify (user_data);
}

/* Lets go of everything the stage holds; used when the future was
 * completed by someone else or is finalized before it was done. */
static void
waiter_detach (CoopConditionWaiter *self)
{
  Stage stage = self->stage;

  self->stage = STAGE_DONE;
  switch (stage)
    {
    case STAGE_WAITING:
      if (self->condition != NULL)
        {
          /* The condition's reference: whoever completed us holds one. */
          g_queue_unlink (&self->condition->waiters, &self->link);
          self->condition = NULL;
          g_object_unref (self);
        }
      break;
    case STAGE_ACQUIRING:
      coop_future_remove_waiter (self->acquire, &self->acquire_waiter);
      /* A pending request is withdrawn; a granted one was seen already. */
      coop_future_cancel (self->acquire, NULL);
      g_clear_object (&self->acquire);
      g_clear_object (&self->condition);
      break;
    case STAGE_CHECKING:
      g_clear_object (&self->condition);
      /* Nobody will use the lock we were granted: pass it on. */
      coop_lock_release (self->lock);
      break;
    case STAGE_DONE:
    default:
      break;
    }
  waiter_clear_predicate (self);
}

static void
waiter_self_completed (CoopWaiter *waiter,
                       CoopFuture *future)
{
  CoopConditionWaiter *self = waiter->data;

  /* Our own completions set STAGE_DONE first. */
  if (self->stage != STAGE_DONE)
    waiter_detach (self);
}

static void
waiter_undo (CoopFuture *future,
             gpointer    data)
{
  /* The task that awaited us was cancelled after we got the lock back,
   * before it resumed: it owns the lock but will not act on the
   * notification it consumed, so another waiter gets it. */
  condition_wake (data, 1);
}

/* Completes the wait, with the lock held: TRUE, or cancelled. */
static void
waiter_finish (CoopConditionWaiter *self,
               gboolean             cancelled)
{
  CoopFuture *future = COOP_FUTURE (self);
  CoopCondition *condition = g_steal_pointer (&self->condition);   /* strong or NULL */

  self->stage = STAGE_DONE;
  coop_future_remove_waiter (future, &self->self_waiter);
  waiter_clear_predicate (self);

  if (!cancelled)
    {
      if (condition != NULL && self->notified)
        coop_future_set_undo (future, waiter_undo, g_steal_pointer (&condition), g_object_unref);
      coop_future_set_boolean (future, TRUE);
    }
  else
    {
      if (condition != NULL && self->notified)
        condition_wake (condition, 1);
      coop_future_take_error (future, coop_cancelled_error_new (self->cancel_message));
    }
  g_clear_object (&condition);
}

static void
waiter_acquire_done (CoopWaiter *waiter,
                     CoopFuture *future)
{
  waiter_acquired (waiter->data);
}

/* Leaves the line (the caller took care of the reference the condition
 * held) and asks for the lock again. */
static void
waiter_start_acquiring (CoopConditionWaiter *self)
{
  self->stage = STAGE_ACQUIRING;
  self->acquire = coop_lock_acquire (self->lock);
  if (coop_future_is_done (self->acquire))
    waiter_acquired (self);
  else
    coop_future_add_waiter (self->acquire, &self->acquire_waiter);
}

static void
waiter_check (gpointer data)
{
  CoopConditionWaiter *self = data;
  CoopCondition *condition;
  gboolean result;

  if (self->stage != STAGE_CHECKING)
    {
      g_object_unref (self);   /* completed by someone else meanwhile */
      return;
    }

  result = !self->cancelled && self->predicate (self->user_data);
  if (self->stage != STAGE_CHECKING)
    ;   /* the predicate completed us by other means */
  else if (self->cancelled || result)
    waiter_finish (self, self->cancelled);
  else
    {
      /* Not yet: back in line, at the end, and let go of the lock. */
      condition = g_steal_pointer (&self->condition);
      self->stage = STAGE_WAITING;
      self->notified = FALSE;
      self->condition = condition;
      g_queue_push_tail_link (&condition->waiters, &self->link);
      g_object_ref (self);   /* the condition's */
      coop_lock_release (self->lock);
      g_object_unref (condition);   /* may finalize it, which cancels us */
    }
  g_object_unref (self);
}

static void
waiter_discard (gpointer data)
{
  g_object_unref (data);
}

/* The lock is ours again (or the request failed). */
static void
waiter_acquired (CoopConditionWaiter *self)
{
  CoopFuture *acquire = g_steal_pointer (&self->acquire);
  gboolean granted = coop_future_get_state (acquire) == COOP_FUTURE_STATE_FINISHED;

  if (granted)
    coop_future_clear_undo (acquire);   /* the lock is ours to keep */
  else if (!self->cancelled)
    {
      /* Only a destroyed lock fails a request; we hold a reference on it,
       * so this does not happen.  Report it as a cancellation. */
      self->cancelled = TRUE;
    }
  g_object_unref (acquire);

  if (self->predicate != NULL && !self->cancelled)
    {
      self->stage = STAGE_CHECKING;
      coop_loop_push_ready (coop_future_get_loop (COOP_FUTURE (self)),
                            waiter_check, waiter_discard, g_object_ref (self));
      return;
    }
  waiter_finish (self, self->cancelled);
}

static gboolean
coop_condition_waiter_cancel (CoopFuture *future,
                              const char *message)
{
  CoopConditionWaiter *self = COOP_CONDITION_WAITER (future);

  if (self->stage == STAGE_DONE)
    return FALSE;
  if (self->cancelled)
    return TRUE;
  self->cancelled = TRUE;
  self->cancel_message = g_strdup (message);

  if (self->stage == STAGE_WAITING)
    {
      CoopCondition *condition = self->condition;

      /* Leave the line; the condition's reference passes to the caller's
       * side (whoever cancels holds a reference). */
      if (condition != NULL)
        {
          g_queue_unlink (&condition->waiters, &self->link);
          self->condition = g_object_ref (condition);
        }
      waiter_start_acquiring (self);
      if (condition != NULL)
        g_object_unref (self);
    }
  /* ACQUIRING and CHECKING see the flag once they hold the lock. */
  return TRUE;
}

static void
coop_condition_waiter_init (CoopConditionWaiter *self)
{
  self->link.data = self;
  self->self_waiter.func = waiter_self_completed;
  self->self_waiter.data = self;
  self->acquire_waiter.func = waiter_acquire_done;
  self->acquire_waiter.data = self;
  self->stage = STAGE_DONE;
}

static void
coop_condition_waiter_finalize (GObject *object)
{
  CoopConditionWaiter *self = COOP_CONDITION_WAITER (object);

  /* A waiting future is held by its condition, so only ACQUIRING can be
   * left here (a future dropped by everyone, such as that of an abandoned
   * task); CHECKING holds a reference from the ready queue. */
  waiter_detach (self);
  g_clear_object (&self->lock);
  g_free (self->cancel_message);

  G_OBJECT_CLASS (coop_condition_waiter_parent_class)->finalize (object);
}

static void
coop_condition_waiter_class_init (CoopConditionWaiterClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = coop_condition_waiter_finalize;
  COOP_FUTURE_CLASS (klass)->cancel = coop_condition_waiter_cancel;
}

/* Wakes up to @n waiters, oldest first: they leave the line and ask for
 * the lock, which they get in that order once it is released. */
static void
condition_wake (CoopCondition *condition,
                guint          n)
{
  GList *link;

  while (n > 0 && (link = g_queue_pop_head_link (&condition->waiters)) != NULL)
    {
      CoopConditionWaiter *self = link->data;

      self->notified = TRUE;
      self->condition = g_object_ref (condition);
      waiter_start_acquiring (self);
      g_object_unref (self);   /* the condition's */
      n--;
    }
}

/* --- GObject ---------------------------------------------------------------------------- */

static void
coop_condition_init (CoopCondition *condition)
{
  g_queue_init (&condition->waiters);
}

static void
coop_condition_constructed (GObject *object)
{
  CoopCondition *condition = COOP_CONDITION (object);

  G_OBJECT_CLASS (coop_condition_parent_class)->constructed (object);

  if (condition->loop == NULL && condition->lock != NULL)
    g_object_get (condition->lock, "loop", &condition->loop, NULL);
  if (condition->loop == NULL)
    condition->loop = g_object_ref (coop_loop_get_default ());
  if (condition->lock == NULL)
    condition->lock = coop_lock_new (condition->loop);
}

static void
coop_condition_finalize (GObject *object)
{
  CoopCondition *condition = COOP_CONDITION (object);
  GList *link;

  /* Those still waiting are cancelled: they re-acquire the lock and end
   * CANCELLED, without a condition any more. */
  while ((link = g_queue_pop_head_link (&condition->waiters)) != NULL)
    {
      CoopConditionWaiter *self = link->data;

      self->condition = NULL;
      self->cancelled = TRUE;
      self->cancel_message = g_strdup ("The condition was destroyed");
      waiter_start_acquiring (self);
      g_object_unref (self);
    }
  g_clear_object (&condition->lock);
  g_clear_object (&condition->loop);

  G_OBJECT_CLASS (coop_condition_parent_class)->finalize (object);
}

static void
coop_condition_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  CoopCondition *condition = COOP_CONDITION (object);

  switch (prop_id)
    {
    case PROP_LOOP:
      g_value_set_object (value, condition->loop);
      break;
    case PROP_LOCK:
      g_value_set_object (value, condition->lock);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_condition_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  CoopCondition *condition = COOP_CONDITION (object);

  switch (prop_id)
    {
    case PROP_LOOP:
      condition->loop = g_value_dup_object (value);
      break;
    case PROP_LOCK:
      condition->lock = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_condition_class_init (CoopConditionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = coop_condition_constructed;
  object_class->finalize = coop_condition_finalize;
  object_class->get_property = coop_condition_get_property;
  object_class->set_property = coop_condition_set_property;

  /**
   * CoopCondition:loop:
   *
   * The loop whose tasks use the condition; its futures belong to it.
   * When not given at construction, the loop of
   * [property@Coop.Condition:lock] if one was given, otherwise the default
   * loop of the thread.
   */
  properties[PROP_LOOP] =
    g_param_spec_object ("loop", NULL, NULL,
                         COOP_TYPE_LOOP,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * CoopCondition:lock:
   *
   * The lock the condition is bound to.  When not given at construction,
   * a new lock of the condition's own.
   */
  properties[PROP_LOCK] =
    g_param_spec_object ("lock", NULL, NULL,
                         COOP_TYPE_LOCK,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

/* --- public API ------------------------------------------------------------------------------ */

/**
 * coop_condition_new:
 * @loop: (nullable): the loop whose tasks use the condition, or %NULL for
 *   the loop of @lock (or the default loop of the thread)
 * @lock: (nullable): the lock to bind the condition to, or %NULL for a new
 *   one
 *
 * Creates a condition variable bound to @lock, which several conditions
 * may share.
 *
 * Returns: (transfer full): a new condition
 */
CoopCondition *
coop_condition_new (CoopLoop *loop,
                    CoopLock *lock)
{
  CoopCondition *condition;

  g_return_val_if_fail (loop == NULL || COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (lock == NULL || COOP_IS_LOCK (lock), NULL);

  condition = g_object_new (COOP_TYPE_CONDITION, "loop", loop, "lock", lock, NULL);
  if (lock != NULL && loop != NULL)
    {
      g_autoptr(CoopLoop) lock_loop = NULL;

      g_object_get (lock, "loop", &lock_loop, NULL);
      if (lock_loop != loop)
        g_critical ("%s: the lock belongs to another loop", G_STRFUNC);
    }
  return condition;
}

/**
 * coop_condition_get_lock:
 * @condition: a condition
 *
 * Gets the lock that @condition was made with.
 *
 * Returns: (transfer none): the lock @condition is bound to
 */
CoopLock *
coop_condition_get_lock (CoopCondition *condition)
{
  g_return_val_if_fail (COOP_IS_CONDITION (condition), NULL);

  return condition->lock;
}

static void
condition_describe (CoopFuture *future,
                    gpointer    data,
                    GString    *out)
{
  CoopCondition *condition = data;

  g_string_append_printf (out, "condition %p (%u waiting, lock %p %s)", (gpointer) condition,
                          condition->waiters.length, (gpointer) condition->lock,
                          coop_lock_is_locked (condition->lock) ? "locked" : "free");
}

/* The common start of wait() and wait_for(): a new future, failed at once
 * if the lock is not held, cancelled at once (the lock kept) if the calling
 * task is being cancelled, otherwise waiting in line with the lock
 * released. */
static CoopFuture *
condition_wait (CoopCondition  *condition,
                CoopPredicate   predicate,
                gpointer        user_data,
                GDestroyNotify  notify)
{
  CoopConditionWaiter *self;
  CoopTask *task;

  self = coop_future_new_internal (COOP_TYPE_CONDITION_WAITER, condition->loop);
  self->lock = g_object_ref (condition->lock);
  coop_future_set_describe (COOP_FUTURE (self), condition_describe, condition);

  if (!coop_lock_is_locked (condition->lock))
    {
      if (notify != NULL)
        notify (user_data);
      coop_future_take_error (COOP_FUTURE (self),
                              g_error_new_literal (COOP_ERROR, COOP_ERROR_INVALID_STATE,
                                                   "Waiting on a condition requires holding its lock"));
      return COOP_FUTURE (self);
    }
  if (predicate != NULL && predicate (user_data))
    {
      if (notify != NULL)
        notify (user_data);
      coop_future_set_boolean (COOP_FUTURE (self), TRUE);
      return COOP_FUTURE (self);
    }
  /* A task whose cancellation is pending would get it at its await
   * without waiting for the lock: keep the lock and say so now. */
  task = coop_task_get_current ();
  if (task != NULL && coop_task_is_cancelling (task))
    {
      if (notify != NULL)
        notify (user_data);
      coop_future_take_error (COOP_FUTURE (self), coop_cancelled_error_new (NULL));
      return COOP_FUTURE (self);
    }

  self->predicate = predicate;
  self->user_data = user_data;
  self->notify = notify;
  self->stage = STAGE_WAITING;
  self->condition = condition;
  coop_future_add_waiter (COOP_FUTURE (self), &self->self_waiter);
  g_queue_push_tail_link (&condition->waiters, &self->link);
  g_object_ref (self);   /* the condition's */
  coop_lock_release (condition->lock);
  return COOP_FUTURE (self);
}

/**
 * coop_condition_wait:
 * @condition: a condition whose lock the caller holds
 *
 * Releases the lock, waits until another task calls
 * [method@Coop.Condition.notify] or [method@Coop.Condition.notify_all],
 * and acquires the lock again.
 *
 * The returned future finishes with %TRUE once the lock is held again.
 * Cancelling it (or the task awaiting it) takes it out of the line; it then
 * ends %COOP_FUTURE_STATE_CANCELLED, also only once the lock is held
 * again, so a task always owns the lock when its await returns.  If the
 * lock is not held when this is called, the future fails at once with
 * %COOP_ERROR_INVALID_STATE (and the lock is not touched).
 *
 * Returns: (transfer full): a future that completes, the lock held, once
 *   the caller was notified
 */
CoopFuture *
coop_condition_wait (CoopCondition *condition)
{
  g_return_val_if_fail (COOP_IS_CONDITION (condition), NULL);
  coop_return_val_if_wrong_thread (condition->loop, COOP_INSTEAD_THREADSAFE, NULL);

  return condition_wait (condition, NULL, NULL, NULL);
}

/**
 * coop_condition_wait_for:
 * @condition: a condition whose lock the caller holds
 * @predicate: (scope notified) (closure user_data) (destroy notify): the
 *   state to wait for, evaluated with the lock held
 * @user_data: data for @predicate
 * @notify: (nullable): frees @user_data once the future is done
 *
 * Waits until @predicate returns %TRUE: it is evaluated now and, while it
 * returns %FALSE, again each time the caller is woken up by a notification
 * (as [method@Coop.Condition.wait] loops would), always with the lock
 * held.  The predicate runs from the loop, never inside a call that
 * completes a future.
 *
 * The returned future finishes with %TRUE, the lock held, once @predicate
 * held (at once if it already does).  Cancelling works as for
 * [method@Coop.Condition.wait]: it ends cancelled with the lock held.  If
 * the lock is not held when this is called, the future fails at once with
 * %COOP_ERROR_INVALID_STATE, without evaluating @predicate.
 *
 * Returns: (transfer full): a future that finishes, the lock held, once
 *   @predicate holds
 */
CoopFuture *
coop_condition_wait_for (CoopCondition  *condition,
                         CoopPredicate   predicate,
                         gpointer        user_data,
                         GDestroyNotify  notify)
{
  g_return_val_if_fail (COOP_IS_CONDITION (condition), NULL);
  g_return_val_if_fail (predicate != NULL, NULL);
  coop_return_val_if_wrong_thread (condition->loop, COOP_INSTEAD_THREADSAFE, NULL);

  return condition_wait (condition, predicate, user_data, notify);
}

/**
 * coop_condition_notify:
 * @condition: a condition whose lock the caller holds
 * @n: how many waiting tasks to wake up at most
 *
 * Wakes up to @n of the tasks waiting on @condition, those that have
 * waited longest first.  They leave the line at once and acquire the lock,
 * in that order, once the caller releases it.
 *
 * Calling it without holding the lock is a programming error, reported
 * with a critical warning.
 */
void
coop_condition_notify (CoopCondition *condition,
                       guint          n)
{
  g_return_if_fail (COOP_IS_CONDITION (condition));
  coop_return_if_wrong_thread (condition->loop, COOP_INSTEAD_THREADSAFE);

  if (G_UNLIKELY (!coop_lock_is_locked (condition->lock)))
    {
      g_critical ("%s: the condition's lock is not held", G_STRFUNC);
      return;
    }
  condition_wake (condition, n);
}

/**
 * coop_condition_notify_all:
 * @condition: a condition whose lock the caller holds
 *
 * Wakes up every task waiting on @condition; see
 * [method@Coop.Condition.notify].
 */
void
coop_condition_notify_all (CoopCondition *condition)
{
  g_return_if_fail (COOP_IS_CONDITION (condition));
  coop_return_if_wrong_thread (condition->loop, COOP_INSTEAD_THREADSAFE);

  if (G_UNLIKELY (!coop_lock_is_locked (condition->lock)))
    {
      g_critical ("%s: the condition's lock is not held", G_STRFUNC);
      return;
    }
  condition_wake (condition, G_MAXUINT);
}
