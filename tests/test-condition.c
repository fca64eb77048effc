/* test-condition.c: CoopCondition — wait, wait_for, notify, cancellation.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

/* A task that takes the lock, waits once (or until a predicate holds) and
 * records what it saw when its await returned. */
typedef struct
{
  CoopCondition *condition;
  GString       *log;
  const char    *name;
  int           *shared;          /* wait_for: wait until *shared >= target */
  int            target;
  int            evaluations;     /* of the predicate */
  int            freed;           /* the predicate's data was freed */
  gboolean       wait_for;
  gboolean       ok;
  gboolean       held_after;      /* the lock was held when the await returned */
  gboolean       finished;
  GError        *error;
} Waiter;

static gboolean
reached (gpointer data)
{
  Waiter *w = data;

  /* Always evaluated with the lock held. */
  g_assert_true (coop_lock_is_locked (coop_condition_get_lock (w->condition)));
  w->evaluations++;
  return *w->shared >= w->target;
}

static void
waiter_freed (gpointer data)
{
  ((Waiter *) data)->freed++;
}

static void
waiter_body (CoopTask *task, gpointer data)
{
  Waiter *w = data;
  CoopLock *lock = coop_condition_get_lock (w->condition);
  g_autoptr(CoopFuture) wait = NULL;

  g_assert_true (coop_lock_lock (lock, NULL));
  if (w->wait_for)
    wait = coop_condition_wait_for (w->condition, reached, w, waiter_freed);
  else
    wait = coop_condition_wait (w->condition);
  w->ok = coop_await (wait, &w->error);
  w->held_after = coop_lock_is_locked (lock);
  if (w->log != NULL)
    g_string_append_printf (w->log, "%s:%s;", w->name, w->ok ? "woke" : "cancelled");
  coop_lock_release (lock);
  w->finished = TRUE;
  if (g_error_matches (w->error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    coop_future_set_error (COOP_FUTURE (task), w->error);
}

static void
waiter_clear (Waiter *w)
{
  g_clear_error (&w->error);
}

/* Notifies from the test's own code (not a task), holding the lock. */
static void
notify_now (CoopCondition *condition,
            guint          n)
{
  CoopLock *lock = coop_condition_get_lock (condition);

  g_assert_true (coop_lock_try_acquire (lock));
  if (n == G_MAXUINT)
    coop_condition_notify_all (condition);
  else
    coop_condition_notify (condition, n);
  coop_lock_release (lock);
}

/* --- construction ----------------------------------------------------------------------- */

static void
test_new (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopCondition) own = coop_condition_new (f->loop, NULL);
  g_autoptr(CoopLock) lock = coop_lock_new (f->loop);
  g_autoptr(CoopCondition) bound = coop_condition_new (NULL, lock);
  g_autoptr(CoopCondition) shared = coop_condition_new (f->loop, lock);
  g_autoptr(CoopCondition) plain = g_object_new (COOP_TYPE_CONDITION, NULL);
  g_autoptr(CoopLoop) loop = NULL;
  g_autoptr(CoopLock) prop_lock = NULL;

  /* A lock of its own, unlocked. */
  g_assert_true (COOP_IS_LOCK (coop_condition_get_lock (own)));
  g_assert_false (coop_lock_is_locked (coop_condition_get_lock (own)));
  g_object_get (own, "loop", &loop, "lock", &prop_lock, NULL);
  g_assert_true (loop == f->loop);
  g_assert_true (prop_lock == coop_condition_get_lock (own));
  g_clear_object (&loop);
  g_clear_object (&prop_lock);

  /* Bound to a given lock, whose loop it takes; several may share one. */
  g_assert_true (coop_condition_get_lock (bound) == lock);
  g_assert_true (coop_condition_get_lock (shared) == lock);
  g_object_get (bound, "loop", &loop, NULL);
  g_assert_true (loop == f->loop);
  g_clear_object (&loop);

  /* Defaults: the thread's default loop, a new lock. */
  g_object_get (plain, "loop", &loop, NULL);
  g_assert_true (loop == f->loop);
  g_assert_nonnull (coop_condition_get_lock (plain));
}

static void
test_new_wrong_loop (CoopFixture *f, gconstpointer data)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *other = coop_loop_new (context);
  g_autoptr(CoopLock) lock = coop_lock_new (other);
  g_autoptr(CoopCondition) condition = NULL;

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*lock belongs to another loop*");
  condition = coop_condition_new (f->loop, lock);
  g_test_assert_expected_messages ();

  g_clear_object (&condition);
  g_clear_object (&lock);
  coop_loop_close (other);
  g_object_unref (other);
  g_main_context_unref (context);
}

/* --- notify ---------------------------------------------------------------------------- */

/* notify(n) wakes the n longest-waiting tasks, notify_all all of them; the
 * woken get the lock one after the other. */
static void
test_notify_one_vs_all (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopCondition) condition = coop_condition_new (f->loop, NULL);
  CoopLock *lock = coop_condition_get_lock (condition);
  g_autoptr(GString) log = g_string_new (NULL);
  Waiter w[5];
  CoopTask *tasks[5];
  static const char *names[] = { "a", "b", "c", "d", "e" };
  int i;

  for (i = 0; i < 5; i++)
    {
      w[i] = (Waiter) { .condition = condition, .log = log, .name = names[i] };
      tasks[i] = coop_task_new (f->loop, waiter_body, &w[i], NULL);
    }
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "");
  g_assert_false (coop_lock_is_locked (lock));   /* every waiter released it */

  /* Nobody is woken by notify(0), or by a notification while holding. */
  g_assert_true (coop_lock_try_acquire (lock));
  coop_condition_notify (condition, 0);
  coop_condition_notify (condition, 1);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "");   /* a needs the lock first */
  coop_lock_release (lock);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:woke;");

  notify_now (condition, 2);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:woke;b:woke;c:woke;");

  notify_now (condition, G_MAXUINT);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:woke;b:woke;c:woke;d:woke;e:woke;");

  /* Nobody waits: a notification is not remembered. */
  notify_now (condition, G_MAXUINT);
  notify_now (condition, 3);

  for (i = 0; i < 5; i++)
    {
      g_assert_true (w[i].ok && w[i].held_after);
      g_assert_true (coop_future_propagate (COOP_FUTURE (tasks[i]), NULL));
      g_object_unref (tasks[i]);
    }
  g_assert_false (coop_lock_is_locked (lock));
}

static void
test_notify_unlocked (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopCondition) condition = coop_condition_new (f->loop, NULL);
  g_autoptr(GString) log = g_string_new (NULL);
  Waiter w = { .condition = condition, .log = log, .name = "a" };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, waiter_body, &w, NULL);

  coop_test_drain ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*coop_condition_notify*lock is not held*");
  coop_condition_notify (condition, 1);
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*coop_condition_notify_all*lock is not held*");
  coop_condition_notify_all (condition);
  g_test_assert_expected_messages ();
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "");   /* nobody was woken */

  notify_now (condition, 1);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:woke;");
}

/* --- wait without the lock ----------------------------------------------------------------- */

static gboolean
never (gpointer data)
{
  g_assert_not_reached ();
  return FALSE;
}

static void
count_free (gpointer data)
{
  (*(int *) data)++;
}

static void
test_wait_unlocked (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopCondition) condition = coop_condition_new (f->loop, NULL);
  g_autoptr(CoopFuture) wait = coop_condition_wait (condition);
  g_autoptr(CoopFuture) wait_for = NULL;
  int freed = 0;

  g_assert_cmpint (coop_future_get_state (wait), ==, COOP_FUTURE_STATE_FAILED);
  g_assert_error (coop_future_get_error (wait), COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_assert_false (coop_lock_is_locked (coop_condition_get_lock (condition)));

  /* The predicate is not evaluated, its data is freed. */
  wait_for = coop_condition_wait_for (condition, never, &freed, count_free);
  g_assert_cmpint (coop_future_get_state (wait_for), ==, COOP_FUTURE_STATE_FAILED);
  g_assert_error (coop_future_get_error (wait_for), COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_assert_cmpint (freed, ==, 1);
  g_assert_false (coop_lock_is_locked (coop_condition_get_lock (condition)));
}

static void
unlocked_body (CoopTask *task, gpointer data)
{
  Waiter *w = data;
  g_autoptr(CoopFuture) wait = coop_condition_wait (w->condition);

  w->ok = coop_await (wait, &w->error);
}

/* The same from a task: the await fails at once. */
static void
test_wait_unlocked_task (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopCondition) condition = coop_condition_new (f->loop, NULL);
  Waiter w = { .condition = condition };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, unlocked_body, &w, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_false (w.ok);
  g_assert_error (w.error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  waiter_clear (&w);
}

/* --- wait_for ------------------------------------------------------------------------------ */

static void
test_wait_for (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopCondition) condition = coop_condition_new (f->loop, NULL);
  CoopLock *lock = coop_condition_get_lock (condition);
  g_autoptr(GString) log = g_string_new (NULL);
  int shared = 0;
  Waiter w = { .condition = condition, .log = log, .name = "w", .shared = &shared,
               .target = 3, .wait_for = TRUE };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, waiter_body, &w, NULL);
  g_autoptr(CoopFuture) at_once = NULL;
  Waiter done = { .condition = condition, .shared = &shared, .target = 0 };

  coop_test_drain ();
  g_assert_cmpint (w.evaluations, ==, 1);   /* evaluated once, false: waits */
  g_assert_false (coop_lock_is_locked (lock));

  /* Each notification re-evaluates it; false sends it back to wait. */
  for (shared = 1; shared <= 2; shared++)
    {
      notify_now (condition, 1);
      coop_test_drain ();
      g_assert_cmpint (w.evaluations, ==, shared + 1);
      g_assert_false (w.finished);
      g_assert_false (coop_lock_is_locked (lock));
    }
  /* Changed without a notification: nothing happens. */
  shared = 3;
  coop_test_drain ();
  g_assert_cmpint (w.evaluations, ==, 3);
  notify_now (condition, 1);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "w:woke;");
  g_assert_cmpint (w.evaluations, ==, 4);
  g_assert_true (w.ok && w.held_after);
  g_assert_cmpint (w.freed, ==, 1);
  g_assert_true (coop_future_propagate (COOP_FUTURE (task), NULL));

  /* Already true: finished at once, the lock kept. */
  g_assert_true (coop_lock_try_acquire (lock));
  at_once = coop_condition_wait_for (condition, reached, &done, waiter_freed);
  g_assert_cmpint (coop_future_get_state (at_once), ==, COOP_FUTURE_STATE_FINISHED);
  g_assert_true (coop_future_get_boolean (at_once, NULL));
  g_assert_cmpint (done.evaluations, ==, 1);
  g_assert_cmpint (done.freed, ==, 1);
  g_assert_true (coop_lock_is_locked (lock));
  coop_lock_release (lock);
}

/* --- producer / consumer ---------------------------------------------------------------------- */

typedef struct
{
  CoopCondition *condition;
  GQueue         items;
  int            n_items;
  int            consumed[200];
  int            n_consumed;
  gboolean       closed;
} Buffer;

static gboolean
has_item_or_closed (gpointer data)
{
  Buffer *b = data;

  return b->items.length > 0 || b->closed;
}

static void
consumer_body (CoopTask *task, gpointer data)
{
  Buffer *b = data;
  CoopLock *lock = coop_condition_get_lock (b->condition);

  for (;;)
    {
      g_autoptr(CoopFuture) ready = NULL;
      int item;

      g_assert_true (coop_lock_lock (lock, NULL));
      ready = coop_condition_wait_for (b->condition, has_item_or_closed, b, NULL);
      g_assert_true (coop_await (ready, NULL));
      g_assert_true (coop_lock_is_locked (lock));
      if (b->items.length == 0)
        {
          coop_lock_release (lock);
          return;   /* closed */
        }
      item = GPOINTER_TO_INT (g_queue_pop_head (&b->items));
      b->consumed[b->n_consumed++] = item;
      coop_lock_release (lock);
      g_assert_true (coop_yield (NULL));
    }
}

static void
producer_body (CoopTask *task, gpointer data)
{
  Buffer *b = data;
  CoopLock *lock = coop_condition_get_lock (b->condition);
  int i;

  for (i = 0; i < b->n_items; i++)
    {
      g_assert_true (coop_lock_lock (lock, NULL));
      g_queue_push_tail (&b->items, GINT_TO_POINTER (i));
      coop_condition_notify (b->condition, 1);
      coop_lock_release (lock);
      if (i % 7 == 0)
        g_assert_true (coop_yield (NULL));
    }
  g_assert_true (coop_lock_lock (lock, NULL));
  b->closed = TRUE;
  coop_condition_notify_all (b->condition);
  coop_lock_release (lock);
}

static void
test_producer_consumer (CoopFixture *f, gconstpointer data)
{
  Buffer b = { .n_items = 200 };
  CoopTask *tasks[4];
  gboolean seen[200] = { FALSE };
  int i;

  b.condition = coop_condition_new (f->loop, NULL);
  g_queue_init (&b.items);
  for (i = 0; i < 3; i++)
    tasks[i] = coop_task_new (f->loop, consumer_body, &b, NULL);
  tasks[3] = coop_task_new (f->loop, producer_body, &b, NULL);
  for (i = 0; i < 4; i++)
    {
      g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (tasks[i]), NULL));
      g_object_unref (tasks[i]);
    }
  g_assert_cmpint (b.n_consumed, ==, 200);
  for (i = 0; i < 200; i++)
    {
      g_assert_false (seen[b.consumed[i]]);
      seen[b.consumed[i]] = TRUE;
      if (i > 0)
        g_assert_cmpint (b.consumed[i], >, b.consumed[i - 1]);   /* FIFO buffer */
    }
  g_assert_false (coop_lock_is_locked (coop_condition_get_lock (b.condition)));
  g_object_unref (b.condition);
}

/* --- cancellation -------------------------------------------------------------------------------- */

/* A waiter cancelled while the lock is held elsewhere resumes only once it
 * has the lock again; the other waiters are not affected. */
static void
test_cancel_waiting (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopCondition) condition = coop_condition_new (f->loop, NULL);
  CoopLock *lock = coop_condition_get_lock (condition);
  g_autoptr(GString) log = g_string_new (NULL);
  Waiter a = { .condition = condition, .log = log, .name = "a" };
  Waiter b = { .condition = condition, .log = log, .name = "b" };
  g_autoptr(CoopTask) ta = coop_task_new (f->loop, waiter_body, &a, NULL);
  g_autoptr(CoopTask) tb = coop_task_new (f->loop, waiter_body, &b, NULL);

  coop_test_drain ();
  g_assert_true (coop_lock_try_acquire (lock));   /* someone else holds it */
  g_assert_true (coop_task_cancel (ta, NULL));
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "");             /* still needs the lock */
  g_assert_false (a.finished);
  coop_lock_release (lock);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:cancelled;");
  g_assert_true (a.held_after);
  g_assert_error (a.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (ta)));
  g_assert_false (coop_lock_is_locked (lock));

  /* b still waits, and is the one a notification wakes. */
  g_assert_false (b.finished);
  notify_now (condition, 1);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:cancelled;b:woke;");
  g_assert_true (b.held_after);
  waiter_clear (&a);
}

/* Cancelled while the lock is free: it gets the lock at once. */
static void
test_cancel_waiting_free_lock (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopCondition) condition = coop_condition_new (f->loop, NULL);
  g_autoptr(GString) log = g_string_new (NULL);
  Waiter a = { .condition = condition, .log = log, .name = "a", .shared = &(int) { 0 },
               .target = 1, .wait_for = TRUE };
  g_autoptr(CoopTask) ta = coop_task_new (f->loop, waiter_body, &a, NULL);

  coop_test_drain ();
  g_assert_true (coop_task_cancel (ta, NULL));
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:cancelled;");
  g_assert_true (a.held_after);
  g_assert_cmpint (a.evaluations, ==, 1);   /* not evaluated again */
  g_assert_cmpint (a.freed, ==, 1);
  g_assert_false (coop_lock_is_locked (coop_condition_get_lock (condition)));
  waiter_clear (&a);
}

/* Notified, then cancelled before it got the lock: it ends cancelled (the
 * lock held) and the notification goes to the next waiter. */
static void
test_cancel_notified (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopCondition) condition = coop_condition_new (f->loop, NULL);
  CoopLock *lock = coop_condition_get_lock (condition);
  g_autoptr(GString) log = g_string_new (NULL);
  Waiter a = { .condition = condition, .log = log, .name = "a" };
  Waiter b = { .condition = condition, .log = log, .name = "b" };
  Waiter c = { .condition = condition, .log = log, .name = "c" };
  g_autoptr(CoopTask) ta = coop_task_new (f->loop, waiter_body, &a, NULL);
  g_autoptr(CoopTask) tb = coop_task_new (f->loop, waiter_body, &b, NULL);
  g_autoptr(CoopTask) tc = coop_task_new (f->loop, waiter_body, &c, NULL);

  coop_test_drain ();
  g_assert_true (coop_lock_try_acquire (lock));
  coop_condition_notify (condition, 1);   /* a */
  g_assert_true (coop_task_cancel (ta, NULL));
  coop_lock_release (lock);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:cancelled;b:woke;");
  g_assert_true (a.held_after && b.held_after);
  g_assert_false (c.finished);
  notify_now (condition, 1);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:cancelled;b:woke;c:woke;");
  waiter_clear (&a);
}

/* The hand-off race: notified, the lock handed over, and the task is
 * cancelled before it resumes.  Its await reports the cancellation with the
 * lock held, and the notification it will not act on goes to the next
 * waiter. */
static void
test_cancel_before_resume (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopCondition) condition = coop_condition_new (f->loop, NULL);
  CoopLock *lock = coop_condition_get_lock (condition);
  g_autoptr(GString) log = g_string_new (NULL);
  Waiter a = { .condition = condition, .log = log, .name = "a" };
  Waiter b = { .condition = condition, .log = log, .name = "b" };
  Waiter c = { .condition = condition, .log = log, .name = "c" };
  g_autoptr(CoopTask) ta = coop_task_new (f->loop, waiter_body, &a, NULL);
  g_autoptr(CoopTask) tb = coop_task_new (f->loop, waiter_body, &b, NULL);
  g_autoptr(CoopTask) tc = coop_task_new (f->loop, waiter_body, &c, NULL);

  coop_test_drain ();
  g_assert_true (coop_lock_try_acquire (lock));
  coop_condition_notify (condition, 1);
  coop_lock_release (lock);                    /* handed to a's wait */
  g_assert_true (coop_future_is_done (coop_task_get_awaiting (ta)));
  g_assert_true (coop_lock_is_locked (lock));
  g_assert_true (coop_task_cancel (ta, NULL));
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:cancelled;b:woke;");
  g_assert_true (a.held_after);
  g_assert_false (c.finished);
  g_assert_false (coop_lock_is_locked (lock));
  notify_now (condition, 1);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:cancelled;b:woke;c:woke;");
  waiter_clear (&a);
}

/* wait_for cancelled after it got the lock back, before its predicate was
 * evaluated again: it ends cancelled without evaluating it, and passes the
 * notification on. */
static void
test_cancel_wait_for_checking (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopCondition) condition = coop_condition_new (f->loop, NULL);
  g_autoptr(GString) log = g_string_new (NULL);
  int shared = 0;
  Waiter a = { .condition = condition, .log = log, .name = "a", .shared = &shared,
               .target = 1, .wait_for = TRUE };
  Waiter b = { .condition = condition, .log = log, .name = "b", .shared = &shared,
               .target = 1, .wait_for = TRUE };
  g_autoptr(CoopTask) ta = coop_task_new (f->loop, waiter_body, &a, NULL);
  g_autoptr(CoopTask) tb = coop_task_new (f->loop, waiter_body, &b, NULL);

  coop_test_drain ();
  g_assert_cmpint (a.evaluations, ==, 1);
  shared = 1;
  notify_now (condition, 1);   /* a has the lock again; its check is queued */
  g_assert_true (coop_lock_is_locked (coop_condition_get_lock (condition)));
  g_assert_true (coop_task_cancel (ta, NULL));
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:cancelled;b:woke;");
  g_assert_cmpint (a.evaluations, ==, 1);
  g_assert_cmpint (b.evaluations, ==, 2);
  g_assert_true (a.held_after && b.held_after);
  g_assert_cmpint (a.freed, ==, 1);
  g_assert_cmpint (b.freed, ==, 1);
  g_assert_false (coop_lock_is_locked (coop_condition_get_lock (condition)));
  waiter_clear (&a);
}

/* A task that is already being cancelled when it waits: it keeps the lock
 * and gets the cancellation at its await. */
static void
self_cancel_body (CoopTask *task, gpointer data)
{
  Waiter *w = data;
  CoopLock *lock = coop_condition_get_lock (w->condition);
  g_autoptr(CoopFuture) wait = NULL;

  g_assert_true (coop_lock_lock (lock, NULL));
  coop_task_cancel (task, NULL);
  wait = coop_condition_wait (w->condition);
  g_assert_true (coop_lock_is_locked (lock));
  w->ok = coop_await (wait, &w->error);
  w->held_after = coop_lock_is_locked (lock);
  coop_lock_release (lock);
}

static void
test_cancel_before_wait (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopCondition) condition = coop_condition_new (f->loop, NULL);
  Waiter w = { .condition = condition };
  Waiter other = { .condition = condition, .log = g_string_new (NULL), .name = "o" };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, self_cancel_body, &w, NULL);
  g_autoptr(CoopTask) other_task = coop_task_new (f->loop, waiter_body, &other, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_false (w.ok);
  g_assert_error (w.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (w.held_after);
  coop_test_drain ();
  g_assert_cmpstr (other.log->str, ==, "");   /* no spurious wake-up */
  notify_now (condition, 1);
  coop_test_drain ();
  g_assert_cmpstr (other.log->str, ==, "o:woke;");
  waiter_clear (&w);
  g_string_free (other.log, TRUE);
}

/* The future of a wait cancelled directly, outside a task: it completes
 * once the lock is held again, and whoever holds the future owns it. */
static void
test_cancel_future (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopCondition) condition = coop_condition_new (f->loop, NULL);
  CoopLock *lock = coop_condition_get_lock (condition);
  g_autoptr(CoopFuture) first = NULL;
  g_autoptr(CoopFuture) second = NULL;
  g_autoptr(CoopFuture) holder = NULL;

  g_assert_true (coop_lock_try_acquire (lock));
  first = coop_condition_wait (condition);
  g_assert_false (coop_lock_is_locked (lock));
  g_assert_false (coop_future_is_done (first));
  /* The lock is free: cancelled, and the lock held, at once. */
  g_assert_true (coop_future_cancel (first, "stop"));
  g_assert_true (coop_future_is_cancelled (first));
  g_assert_cmpstr (coop_future_get_error (first)->message, ==, "stop");
  g_assert_true (coop_lock_is_locked (lock));
  g_assert_false (coop_future_cancel (first, NULL));   /* done */

  second = coop_condition_wait (condition);
  g_assert_true (coop_lock_try_acquire (lock));       /* someone else */
  g_assert_true (coop_future_cancel (second, NULL));
  g_assert_false (coop_future_is_done (second));      /* waits for the lock */
  g_assert_true (coop_future_cancel (second, NULL));  /* cancelling again is fine */
  coop_lock_release (lock);
  g_assert_true (coop_future_is_cancelled (second));
  g_assert_true (coop_lock_is_locked (lock));
  coop_lock_release (lock);

  /* A notified wait finishes with TRUE once the lock is free. */
  g_assert_true (coop_lock_try_acquire (lock));
  holder = coop_condition_wait (condition);
  notify_now (condition, 1);
  g_assert_cmpint (coop_future_get_state (holder), ==, COOP_FUTURE_STATE_FINISHED);
  g_assert_true (coop_future_get_boolean (holder, NULL));
  g_assert_true (coop_lock_is_locked (lock));
  coop_lock_release (lock);
}

/* A condition finalized while tasks wait: their waits are cancelled, and
 * they get the lock back. */
static void
test_finalize_with_waiters (CoopFixture *f, gconstpointer data)
{
  CoopCondition *condition = coop_condition_new (f->loop, NULL);
  g_autoptr(CoopLock) lock = g_object_ref (coop_condition_get_lock (condition));
  g_autoptr(GString) log = g_string_new (NULL);
  Waiter a = { .condition = condition, .log = log, .name = "a" };
  Waiter b = { .condition = condition, .log = log, .name = "b", .shared = &(int) { 0 },
               .target = 1, .wait_for = TRUE };
  g_autoptr(CoopTask) ta = coop_task_new (f->loop, waiter_body, &a, NULL);
  g_autoptr(CoopTask) tb = coop_task_new (f->loop, waiter_body, &b, NULL);

  coop_test_drain ();
  /* waiter_body reads the lock through the condition: give it a copy. */
  g_assert_true (coop_lock_try_acquire (lock));
  g_object_unref (condition);
  a.condition = b.condition = NULL;
  g_assert_false (a.finished || b.finished);
  coop_lock_release (lock);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:cancelled;b:cancelled;");
  g_assert_true (a.held_after && b.held_after);
  g_assert_cmpint (b.freed, ==, 1);
  g_assert_false (coop_lock_is_locked (lock));
  waiter_clear (&a);
  waiter_clear (&b);
}

/* Two conditions on one lock: notifying one wakes only its own waiters. */
static void
test_shared_lock (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopLock) lock = coop_lock_new (f->loop);
  g_autoptr(CoopCondition) one = coop_condition_new (f->loop, lock);
  g_autoptr(CoopCondition) two = coop_condition_new (f->loop, lock);
  g_autoptr(GString) log = g_string_new (NULL);
  Waiter a = { .condition = one, .log = log, .name = "a" };
  Waiter b = { .condition = two, .log = log, .name = "b" };
  g_autoptr(CoopTask) ta = coop_task_new (f->loop, waiter_body, &a, NULL);
  g_autoptr(CoopTask) tb = coop_task_new (f->loop, waiter_body, &b, NULL);

  coop_test_drain ();
  notify_now (two, G_MAXUINT);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "b:woke;");
  notify_now (one, 1);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "b:woke;a:woke;");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/condition/new", test_new);
  coop_test_add ("/coop/condition/new-wrong-loop", test_new_wrong_loop);
  coop_test_add ("/coop/condition/notify-one-vs-all", test_notify_one_vs_all);
  coop_test_add ("/coop/condition/notify-unlocked", test_notify_unlocked);
  coop_test_add ("/coop/condition/wait-unlocked", test_wait_unlocked);
  coop_test_add ("/coop/condition/wait-unlocked-task", test_wait_unlocked_task);
  coop_test_add ("/coop/condition/wait-for", test_wait_for);
  coop_test_add ("/coop/condition/producer-consumer", test_producer_consumer);
  coop_test_add ("/coop/condition/shared-lock", test_shared_lock);
  coop_test_add ("/coop/condition/cancel/waiting", test_cancel_waiting);
  coop_test_add ("/coop/condition/cancel/waiting-free-lock", test_cancel_waiting_free_lock);
  coop_test_add ("/coop/condition/cancel/notified", test_cancel_notified);
  coop_test_add ("/coop/condition/cancel/before-resume", test_cancel_before_resume);
  coop_test_add ("/coop/condition/cancel/wait-for-checking", test_cancel_wait_for_checking);
  coop_test_add ("/coop/condition/cancel/before-wait", test_cancel_before_wait);
  coop_test_add ("/coop/condition/cancel/future", test_cancel_future);
  coop_test_add ("/coop/condition/finalize-with-waiters", test_finalize_with_waiters);

  return g_test_run ();
}
