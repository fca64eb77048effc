/* test-future.c: states, results, errors, callbacks and the done signal.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"
#ifndef COOP_TEST_PUBLIC_API_ONLY   /* set for the installed tests */
# include "coop-private.h"
#endif

static void
test_states (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) future = coop_future_new (f->loop);
  g_autoptr(GError) error = NULL;
  CoopFutureState state;

  g_assert_true (coop_future_get_loop (future) == f->loop);
  g_assert_cmpint (coop_future_get_state (future), ==, COOP_FUTURE_STATE_PENDING);
  g_assert_false (coop_future_is_done (future));

  /* Reading a pending future is an error, not a crash. */
  g_assert_null (coop_future_get_value (future, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_clear_error (&error);
  g_assert_false (coop_future_propagate (future, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_clear_error (&error);
  g_assert_null (coop_future_get_error (future));

  coop_future_set_int64 (future, G_MAXINT64);
  g_assert_true (coop_future_is_done (future));
  g_object_get (future, "state", &state, NULL);
  g_assert_cmpint (state, ==, COOP_FUTURE_STATE_FINISHED);
  g_assert_cmpint (coop_future_get_int64 (future, &error), ==, G_MAXINT64);
  g_assert_no_error (error);
  g_assert_true (coop_future_propagate (future, &error));
  g_assert_null (coop_future_get_error (future));
}

typedef struct
{
  int freed;
} Payload;

static void
payload_free (gpointer data)
{
  ((Payload *) data)->freed++;
}

/* Every typed helper stores what it is given and reads it back; types that
 * convert (integers, numbers) do, others report COOP_ERROR_NO_RESULT. */
static void
test_typed_results (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  CoopFuture *future;
  Payload payload = { 0 };
  GValue value = G_VALUE_INIT;
  const GValue *out;
  g_autoptr(GObject) object = g_object_new (G_TYPE_OBJECT, NULL);
  g_autoptr(GBytes) bytes = g_bytes_new_static ("abc", 3);

  future = coop_future_new (f->loop);
  coop_future_set_boolean (future, TRUE);
  g_assert_true (coop_future_get_boolean (future, &error));
  g_assert_no_error (error);
  g_assert_null (coop_future_get_string (future, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT);
  g_clear_error (&error);
  g_object_unref (future);

  future = coop_future_new (f->loop);
  coop_future_set_double (future, 2.5);
  g_assert_cmpfloat (coop_future_get_double (future, NULL), ==, 2.5);
  g_object_unref (future);

  future = coop_future_new (f->loop);
  coop_future_set_string (future, "hello");
  g_assert_cmpstr (coop_future_get_string (future, NULL), ==, "hello");
  g_assert_cmpstr (coop_future_get_pointer (future, NULL), ==, "hello");
  g_assert_cmpint (coop_future_get_int64 (future, &error), ==, 0);
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT);
  g_clear_error (&error);
  g_object_unref (future);

  /* A pointer with a destroy notify is owned by the future. */
  future = coop_future_new (f->loop);
  coop_future_set_pointer (future, &payload, payload_free);
  g_assert_true (coop_future_get_pointer (future, NULL) == &payload);
  g_assert_cmpint (payload.freed, ==, 0);
  g_object_unref (future);
  g_assert_cmpint (payload.freed, ==, 1);

  future = coop_future_new (f->loop);
  coop_future_set_object (future, object);
  g_assert_true (coop_future_get_object (future, NULL) == object);
  g_object_unref (future);

  future = coop_future_new (f->loop);
  coop_future_set_boxed (future, G_TYPE_BYTES, bytes);
  g_assert_true (coop_future_get_boxed (future, NULL) == bytes);
  g_object_unref (future);

  /* A GValue, and integers of other widths converting to int64. */
  future = coop_future_new (f->loop);
  g_value_init (&value, G_TYPE_UINT);
  g_value_set_uint (&value, 7);
  coop_future_set_value (future, &value);
  g_value_unset (&value);
  out = coop_future_get_value (future, NULL);
  g_assert_true (G_VALUE_HOLDS_UINT (out));
  g_assert_cmpint (coop_future_get_int64 (future, NULL), ==, 7);
  g_object_unref (future);

  /* No value. */
  future = coop_future_new (f->loop);
  coop_future_set_none (future);
  g_assert_null (coop_future_get_value (future, &error));
  g_assert_no_error (error);
  g_assert_true (coop_future_propagate (future, NULL));
  g_object_unref (future);
}

static void
test_errors (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) mine = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "gone");
  CoopFuture *future;

  future = coop_future_new (f->loop);
  coop_future_set_error (future, mine);
  g_assert_cmpint (coop_future_get_state (future), ==, COOP_FUTURE_STATE_FAILED);
  g_assert_cmpint (coop_future_get_int64 (future, &error), ==, 0);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_error ((GError *) coop_future_get_error (future), G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_object_unref (future);

  /* A cancelled error makes a cancelled future. */
  future = coop_future_new (f->loop);
  coop_future_take_error (future, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "stop"));
  g_assert_true (coop_future_is_cancelled (future));
  g_object_unref (future);
}

static void
test_cancel (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) future = coop_future_new (f->loop);
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_future_cancel (future, "no longer needed"));
  g_assert_cmpint (coop_future_get_state (future), ==, COOP_FUTURE_STATE_CANCELLED);
  g_assert_true (coop_future_is_done (future));
  g_assert_false (coop_future_propagate (future, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpstr (error->message, ==, "no longer needed");
  /* Cancelling a done future does nothing. */
  g_assert_false (coop_future_cancel (future, NULL));
}

typedef struct
{
  GArray *order;
  int     value;
  int     freed;
} Cb;

static void
done_cb (CoopFuture *future, gpointer data)
{
  Cb *cb = data;

  g_assert_true (coop_future_is_done (future));
  g_array_append_val (cb->order, cb->value);
}

static void
cb_free (gpointer data)
{
  ((Cb *) data)->freed++;
}

/* Done callbacks are queued when the future completes, run in the order
 * they were added, never inside set_*() or add_done_callback(). */
static void
test_done_callbacks (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GArray) order = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr(CoopFuture) future = coop_future_new (f->loop);
  Cb cbs[5];
  int i;

  for (i = 0; i < 5; i++)
    {
      cbs[i] = (Cb) { order, i, 0 };
      coop_future_add_done_callback (future, done_cb, &cbs[i], cb_free);
    }
  /* Removing one: it never runs; its notify runs now. */
  g_assert_true (coop_future_remove_done_callback (future, done_cb, &cbs[2]));
  g_assert_cmpint (cbs[2].freed, ==, 1);
  g_assert_false (coop_future_remove_done_callback (future, done_cb, &cbs[2]));

  coop_test_drain ();
  g_assert_cmpuint (order->len, ==, 0);

  coop_future_set_none (future);
  g_assert_cmpuint (order->len, ==, 0);   /* not inside set_*() */

  coop_test_drain ();
  g_assert_cmpuint (order->len, ==, 4);
  g_assert_cmpint (g_array_index (order, int, 0), ==, 0);
  g_assert_cmpint (g_array_index (order, int, 1), ==, 1);
  g_assert_cmpint (g_array_index (order, int, 2), ==, 3);
  g_assert_cmpint (g_array_index (order, int, 3), ==, 4);
  for (i = 0; i < 5; i++)
    g_assert_cmpint (cbs[i].freed, ==, 1);

  /* Added after completion: queued, not run inside the call. */
  g_array_set_size (order, 0);
  cbs[0].freed = 0;
  coop_future_add_done_callback (future, done_cb, &cbs[0], cb_free);
  g_assert_cmpuint (order->len, ==, 0);
  coop_test_drain ();
  g_assert_cmpuint (order->len, ==, 1);
  g_assert_cmpint (cbs[0].freed, ==, 1);
}

/* The done signal: emitted once, from the ready queue, not from set_*(). */
static void
test_done_signal (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GtSignalLogger) logger = gt_signal_logger_new ();
  g_autoptr(CoopFuture) future = coop_future_new (f->loop);
  g_autoptr(CoopFuture) quiet = coop_future_new (f->loop);

  gt_signal_logger_connect (logger, future, "done");
  coop_future_set_string (future, "x");
  coop_future_set_string (quiet, "y");
  gt_signal_logger_assert_no_emissions (logger);

  coop_test_drain ();
  gt_signal_logger_assert_emission_pop (logger, future, "done", NULL);
  gt_signal_logger_assert_no_emissions (logger);
}

/* The class is derivable and its cancel vfunc is honoured. */
typedef struct { CoopFuture parent; int cancels; } StubbornFuture;
typedef struct { CoopFutureClass parent_class; } StubbornFutureClass;
static GType stubborn_future_get_type (void);
G_DEFINE_TYPE (StubbornFuture, stubborn_future, COOP_TYPE_FUTURE)

static gboolean
stubborn_cancel (CoopFuture *future, const char *message)
{
  ((StubbornFuture *) future)->cancels++;
  return FALSE;
}

static void
stubborn_future_class_init (StubbornFutureClass *klass)
{
  COOP_FUTURE_CLASS (klass)->cancel = stubborn_cancel;
}

static void
stubborn_future_init (StubbornFuture *self)
{
}

static void
test_subclass (CoopFixture *f, gconstpointer data)
{
  StubbornFuture *future = g_object_new (stubborn_future_get_type (), "loop", f->loop, NULL);

  g_assert_true (coop_future_get_loop (COOP_FUTURE (future)) == f->loop);
  g_assert_false (coop_future_cancel (COOP_FUTURE (future), NULL));
  g_assert_cmpint (future->cancels, ==, 1);
  g_assert_false (coop_future_is_done (COOP_FUTURE (future)));
  coop_future_set_int64 (COOP_FUTURE (future), 1);
  g_assert_false (coop_future_cancel (COOP_FUTURE (future), NULL));
  g_assert_cmpint (future->cancels, ==, 1);
  g_object_unref (future);
}

/* A future built without a loop (as bindings do) takes the default one. */
static void
test_default_loop (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) future = g_object_new (COOP_TYPE_FUTURE, NULL);

  g_assert_true (coop_future_get_loop (future) == coop_loop_get_default ());
  g_assert_true (coop_loop_get_default () == f->loop);
}

static void
count_done (CoopFuture *future, gpointer data)
{
  (*(int *) data)++;
}

/* Plain futures are recycled once nobody holds them; a recycled future is
 * a fresh one: pending, no value, no handlers of its previous life. */
static void
test_recycling (CoopFixture *f, gconstpointer data)
{
  CoopFuture *first, *second;
  int emissions = 0;

  first = coop_future_new (f->loop);
  g_signal_connect (first, "done", G_CALLBACK (count_done), &emissions);
  coop_future_set_int64 (first, 1);
  coop_test_drain ();
  g_assert_cmpint (emissions, ==, 1);
  g_object_unref (first);

  second = coop_future_new (f->loop);
  g_test_message ("recycled: %s", second == first ? "yes" : "no");
  g_assert_true (second == first);   /* the pool gave it back */
  g_assert_cmpint (coop_future_get_state (second), ==, COOP_FUTURE_STATE_PENDING);
  g_assert_null (coop_future_get_value (second, NULL));
  coop_future_set_string (second, "again");
  coop_test_drain ();
  g_assert_cmpint (emissions, ==, 1);  /* the old handler is gone */
  g_assert_cmpstr (coop_future_get_string (second, NULL), ==, "again");
  g_object_unref (second);
}

/* A handler connected after completion (so never seen firing) must not
 * hear about the future's next life either. */
static void
test_recycling_late_handler (CoopFixture *f, gconstpointer data)
{
  CoopFuture *first, *second;
  int emissions = 0;

  first = coop_future_new (f->loop);
  coop_future_set_int64 (first, 1);
  g_signal_connect (first, "done", G_CALLBACK (count_done), &emissions);
  g_object_unref (first);
  second = coop_future_new (f->loop);
  g_assert_true (second == first);
  coop_future_set_int64 (second, 2);
  coop_test_drain ();
  g_assert_cmpint (emissions, ==, 0);
  g_object_unref (second);
}

static void
noop_task (CoopTask *task, gpointer data)
{
}

/* The shortcut that skips GLib's signal lookups for futures nobody ever
 * connected to: the probe found GLib's handler bit (on the GLib versions
 * known to have one), a fresh future has it clear, a connection sets it,
 * and every kind of connection is still heard. */
static void
test_handler_flag (CoopFixture *f, gconstpointer data)
{
  CoopFuture *future = coop_future_new (f->loop);
  CoopTask *task;
  GClosure *closure;
  int emissions = 0;
  gulong id;

#ifndef COOP_TEST_PUBLIC_API_ONLY
  g_test_message ("handler bit: %#x", coop_handler_flag);
# if GLIB_SIZEOF_VOID_P == 8
  if (glib_major_version == 2 && glib_minor_version >= 74 && glib_minor_version <= 86)
    g_assert_cmpuint (coop_handler_flag, !=, 0);
# endif
  if (coop_handler_flag != 0)
    g_assert_false (coop_object_may_have_handlers (future));
#endif

  /* Connected and disconnected again: the bit stays, GLib is asked. */
  id = g_signal_connect (future, "done", G_CALLBACK (count_done), &emissions);
#ifndef COOP_TEST_PUBLIC_API_ONLY
  g_assert_true (coop_object_may_have_handlers (future));
#endif
  g_signal_handler_disconnect (future, id);
#ifndef COOP_TEST_PUBLIC_API_ONLY
  g_assert_true (coop_object_may_have_handlers (future));
#endif
  coop_future_set_int64 (future, 1);
  coop_test_drain ();
  g_assert_cmpint (emissions, ==, 0);
  g_object_unref (future);

  /* A closure connected by id, and an after-handler, on fresh futures. */
  future = coop_future_new (f->loop);
  closure = g_cclosure_new (G_CALLBACK (count_done), &emissions, NULL);
  g_signal_connect_closure_by_id (future, g_signal_lookup ("done", COOP_TYPE_FUTURE), 0, closure, FALSE);
  coop_future_set_none (future);
  g_object_unref (future);
  future = coop_future_new (f->loop);
  g_signal_connect_after (future, "done", G_CALLBACK (count_done), &emissions);
  coop_future_set_none (future);
  g_object_unref (future);
  coop_test_drain ();
  g_assert_cmpint (emissions, ==, 2);

  /* A handler connected on a subclass instance (a task). */
  task = coop_task_new (f->loop, noop_task, NULL, NULL);
  g_signal_connect (task, "done", G_CALLBACK (count_done), &emissions);
  coop_test_drain ();
  g_assert_cmpint (emissions, ==, 3);
  g_object_unref (task);
}

static void
weak_notify (gpointer data, GObject *where)
{
  (*(int *) data)++;
}

/* A future someone watches with a weak reference is never recycled: it is
 * finalized as usual. */
static void
test_no_recycling_when_watched (CoopFixture *f, gconstpointer data)
{
  CoopFuture *future = coop_future_new (f->loop);
  CoopFuture *next;
  int finalized = 0;

  g_object_weak_ref (G_OBJECT (future), weak_notify, &finalized);
  coop_future_set_int64 (future, 1);
  g_object_unref (future);
  next = coop_future_new (f->loop);
  g_assert_true (next != future);
  g_object_unref (next);
  coop_loop_close (f->loop);   /* lets the pool go */
  g_assert_cmpint (finalized, ==, 1);
}

#ifndef COOP_TEST_PUBLIC_API_ONLY   /* the pool is internal */
/* Futures the loop's pool has lent (it holds one reference on each). */
static guint
pool_n_lent (CoopLoop *loop)
{
  CoopFuturePool *pool = coop_loop_get_future_pool (loop);
  guint64 pos;
  guint n = 0;

  for (pos = pool->head; pos < pool->tail; pos++)
    n += pool->ring[pos & pool->mask] != NULL;
  return n;
}

#define MANY_FUTURES 10000

static void
pool_noop (gpointer data)
{
}

/* The pool grows with the number of futures in use at once: a burst of
 * more than it used to keep (4,096) is recycled whole, not rebuilt as new
 * GObjects past the cap. */
static void
test_pool_grows_with_demand (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GHashTable) first = g_hash_table_new (NULL, NULL);
  CoopFuture **futures = g_new (CoopFuture *, MANY_FUTURES);
  guint i;

  for (i = 0; i < MANY_FUTURES; i++)
    {
      futures[i] = coop_future_new (f->loop);
      g_hash_table_add (first, futures[i]);
    }
  g_assert_cmpuint (pool_n_lent (f->loop), ==, MANY_FUTURES);
  for (i = 0; i < MANY_FUTURES; i++)
    {
      coop_future_set_none (futures[i]);
      g_object_unref (futures[i]);
    }

  /* The pool still holds every one of them (so no new future can have
   * an old one's address): all the next ones are recycled. */
  for (i = 0; i < MANY_FUTURES; i++)
    {
      futures[i] = coop_future_new (f->loop);
      g_assert_true (g_hash_table_contains (first, futures[i]));
      g_assert_cmpint (coop_future_get_state (futures[i]), ==, COOP_FUTURE_STATE_PENDING);
    }
  g_assert_cmpuint (pool_n_lent (f->loop), ==, MANY_FUTURES);
  for (i = 0; i < MANY_FUTURES; i++)
    g_object_unref (futures[i]);
  g_free (futures);
}

/* A future held for long does not stop the others from being recycled:
 * the pool stays the size of what is in use. */
static void
test_pool_held_future_does_not_block (CoopFixture *f, gconstpointer data)
{
  CoopFuture *held = coop_future_new (f->loop);
  guint i;

  for (i = 0; i < MANY_FUTURES; i++)
    {
      CoopFuture *future = coop_future_new (f->loop);

      coop_future_set_none (future);
      g_object_unref (future);
    }
  g_assert_cmpuint (pool_n_lent (f->loop), <=, 4);
  g_assert_cmpint (coop_future_get_state (held), ==, COOP_FUTURE_STATE_PENDING);
  g_object_unref (held);
}

typedef struct
{
  CoopFuture *awaited;   /* the task's reference */
  CoopFuture *next;      /* what the task made after it */
} AwaitThenNew;

static void
await_then_new (CoopTask *task, gpointer data)
{
  AwaitThenNew *a = data;

  g_assert_true (coop_await (a->awaited, NULL));
  g_object_unref (a->awaited);
  a->next = coop_future_new (coop_future_get_loop (COOP_FUTURE (task)));
}

/* After an await, the future the task just dropped is the one lent next
 * (still in the cache), not the oldest free one. */
static void
test_pool_lends_last_awaited (CoopFixture *f, gconstpointer data)
{
  AwaitThenNew a = { NULL, NULL };
  CoopFuture *older = coop_future_new (f->loop);
  CoopFuture *awaited = coop_future_new (f->loop);

  a.awaited = awaited;
  coop_future_set_none (older);
  g_object_unref (older);          /* free, the oldest in the pool */
  g_object_unref (coop_task_new (f->loop, await_then_new, &a, NULL));
  coop_test_drain ();
  g_assert_null (a.next);
  coop_future_set_none (awaited);
  coop_test_drain ();
  g_assert_true (a.next == awaited);
  g_object_unref (a.next);
}

/* Once the loop has nothing ready, the pool gives back half of what a
 * burst left unused at each trim (at most one a second, which the test
 * skips by clearing next_trim), down to its floor; futures in use stay. */
static void
test_pool_trims_when_idle (CoopFixture *f, gconstpointer data)
{
  CoopFuturePool *pool = coop_loop_get_future_pool (f->loop);
  CoopFuture **futures = g_new (CoopFuture *, MANY_FUTURES);
  guint i, n, rounds = 0;

  for (i = 0; i < MANY_FUTURES; i++)
    futures[i] = coop_future_new (f->loop);
  for (i = 100; i < MANY_FUTURES; i++)
    g_object_unref (futures[i]);
  g_assert_cmpuint (pool_n_lent (f->loop), ==, MANY_FUTURES);

  /* The loop's dispatch trims once its ready queue is empty. */
  pool->next_trim = 0;
  coop_handle_unref (coop_loop_call_soon (f->loop, pool_noop, NULL, NULL));
  coop_test_drain ();
  n = pool_n_lent (f->loop);
  g_assert_cmpuint (n, ==, MANY_FUTURES - (MANY_FUTURES - 100) / 2);

  /* And a second later (or here, at once) half of the rest. */
  do
    {
      pool->next_trim = 0;
      coop_future_pool_trim (pool);
      g_assert_cmpuint (pool_n_lent (f->loop), <, n);
      n = pool_n_lent (f->loop);
      rounds++;
    }
  while (n > COOP_FUTURE_POOL_FLOOR + 1 && n > 100 + 1);
  g_assert_cmpuint (rounds, <, 20);
  g_assert_cmpuint (n, >=, 100);
  /* Nothing changes below the floor. */
  pool->next_trim = 0;
  coop_future_pool_trim (pool);
  g_assert_cmpuint (pool_n_lent (f->loop), >=, 100);

  /* The ones in use were kept, and still work. */
  for (i = 0; i < 100; i++)
    {
      g_assert_cmpint (coop_future_get_state (futures[i]), ==, COOP_FUTURE_STATE_PENDING);
      coop_future_set_int64 (futures[i], i);
      g_assert_cmpint (coop_future_get_int64 (futures[i], NULL), ==, i);
      g_object_unref (futures[i]);
    }
  g_free (futures);
}
#endif

/* Results holding resources are released as soon as the last user lets
 * go, pooled or not; so are unread errors reported. */
static void
test_heavy_results_released (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GObject) object = g_object_new (G_TYPE_OBJECT, NULL);
  GObject *weak = object;
  CoopFuture *future = coop_future_new (f->loop);

  g_object_add_weak_pointer (object, (gpointer *) &weak);
  coop_future_set_object (future, object);
  g_clear_object (&object);
  g_assert_nonnull (weak);
  g_object_unref (future);
  g_assert_null (weak);
}

/* A #GBytes result is memory only: up to 64 KiB (a stream read's), the
 * future is recycled, and the bytes go when the pool lends it again or
 * trims; larger ones go with the last user, as other boxed results do.
 * Read either way through get_boxed() and get_bytes(). */
typedef struct
{
  int      *freed;
  gpointer  data;
} WatchedBytes;

static void
bytes_freed (gpointer data)
{
  WatchedBytes *watched = data;

  (*watched->freed)++;
  g_free (watched->data);
  g_free (watched);
}

static GBytes *
bytes_watched (gsize size, int *freed)
{
  WatchedBytes *watched = g_new (WatchedBytes, 1);

  watched->freed = freed;
  watched->data = g_malloc0 (size);
  return g_bytes_new_with_free_func (watched->data, size, bytes_freed, watched);
}

static void
test_bytes_results (CoopFixture *f, gconstpointer data)
{
  int small_freed = 0, large_freed = 0;
  g_autoptr(GError) error = NULL;
  CoopFuture *future, *next;
  GBytes *bytes;

  /* Large: not kept. */
  future = coop_future_new (f->loop);
  bytes = bytes_watched (65 * 1024, &large_freed);
  g_assert_cmpint (large_freed, ==, 0);
  coop_future_set_boxed (future, G_TYPE_BYTES, bytes);
  g_bytes_unref (bytes);
  g_assert_true (coop_future_get_boxed (future, &error) == bytes);
  g_assert_true (coop_future_get_bytes (future, &error) == bytes);
  g_assert_no_error (error);
  g_object_unref (future);
  g_assert_cmpint (large_freed, ==, 1);

  /* Small: the future is lent again, and lets go of its bytes then. */
  future = coop_future_new (f->loop);
  bytes = bytes_watched (64 * 1024, &small_freed);
  coop_future_set_boxed (future, G_TYPE_BYTES, bytes);
  g_bytes_unref (bytes);
  g_assert_true (coop_future_get_bytes (future, &error) == bytes);
  g_assert_cmpuint (g_bytes_get_size ((GBytes *) coop_future_get_boxed (future, NULL)), ==, 64 * 1024);
  g_assert_null (coop_future_get_string (future, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT);
  g_clear_error (&error);
  g_object_unref (future);
#ifndef COOP_TEST_PUBLIC_API_ONLY   /* the pool is internal */
  g_assert_cmpint (small_freed, ==, 0);   /* waits in the pool */
#endif
  next = coop_future_new (f->loop);
  g_assert_cmpint (small_freed, ==, 1);
  g_assert_null (coop_future_get_value (next, NULL));
  coop_future_set_boxed (next, G_TYPE_BYTES, NULL);
  g_assert_null (coop_future_get_bytes (next, &error));
  g_assert_no_error (error);
  g_object_unref (next);

#ifndef COOP_TEST_PUBLIC_API_ONLY
  {
    /* Trimmed: a free future the trim keeps lets go of its bytes too. */
    CoopFuturePool *pool = coop_loop_get_future_pool (f->loop);
    CoopFuture **many = g_new (CoopFuture *, 200);
    int freed = 0;

    for (guint i = 0; i < 200; i++)
      many[i] = coop_future_new (f->loop);
    for (guint i = 0; i < 200; i++)
      {
        bytes = bytes_watched (16, &freed);
        coop_future_set_boxed (many[i], G_TYPE_BYTES, bytes);
        g_bytes_unref (bytes);
        g_object_unref (many[i]);
      }
    g_assert_cmpint (freed, ==, 0);
    pool->next_trim = 0;
    coop_future_pool_trim (pool);
    g_assert_cmpint (freed, ==, 200);
    g_free (many);
  }
#endif
}

/* --- then -------------------------------------------------------------------------- */

typedef struct
{
  int          fulfilled;
  int          rejected;
  int          fulfilled_freed;
  int          rejected_freed;
  GValue       value;       /* a copy of what on_fulfilled got */
  gboolean     got_null;
  GError      *error;       /* a copy of what on_rejected got */
} ThenLog;

static void
then_log_clear (ThenLog *log)
{
  if (G_IS_VALUE (&log->value))
    g_value_unset (&log->value);
  g_clear_error (&log->error);
}

static void
on_fulfilled (const GValue *value, gpointer data)
{
  ThenLog *log = data;

  log->fulfilled++;
  if (value == NULL)
    log->got_null = TRUE;
  else
    {
      g_value_init (&log->value, G_VALUE_TYPE (value));
      g_value_copy (value, &log->value);
    }
}

static void
on_rejected (const GError *error, gpointer data)
{
  ThenLog *log = data;

  log->rejected++;
  log->error = g_error_copy (error);
}

static void
fulfilled_free (gpointer data)
{
  ((ThenLog *) data)->fulfilled_freed++;
}

static void
rejected_free (gpointer data)
{
  ((ThenLog *) data)->rejected_freed++;
}

static void
then_with_log (CoopFuture *future, ThenLog *log)
{
  coop_future_then (future, on_fulfilled, log, fulfilled_free,
                    on_rejected, log, rejected_free);
}

/* One callback runs, from the ready queue (never inside then() or set_*());
 * both destroy notifies run exactly once right after it. */
static void
test_then_fulfilled (CoopFixture *f, gconstpointer data)
{
  ThenLog log = { 0 }, early = { 0 };
  /* Not from the pool, so the last unref finalizes it. */
  CoopFuture *future = g_object_new (COOP_TYPE_FUTURE, "loop", f->loop, NULL);
  CoopFuture *weak = future;

  g_object_add_weak_pointer (G_OBJECT (future), (gpointer *) &weak);
  then_with_log (future, &log);
  g_object_unref (future);           /* then() keeps it alive, as an await */
  g_assert_nonnull (weak);
  coop_test_drain ();
  g_assert_cmpint (log.fulfilled + log.rejected + log.fulfilled_freed, ==, 0);

  coop_future_set_int64 (weak, 42);
  g_assert_cmpint (log.fulfilled, ==, 0);
  coop_test_drain ();
  g_assert_null (weak);
  g_assert_cmpint (log.fulfilled, ==, 1);
  g_assert_cmpint (log.rejected, ==, 0);
  g_assert_cmpint (g_value_get_int64 (&log.value), ==, 42);
  g_assert_cmpint (log.fulfilled_freed, ==, 1);
  g_assert_cmpint (log.rejected_freed, ==, 1);

  /* then() on a future already done: queued, not run inside the call. */
  future = coop_future_new (f->loop);
  coop_future_set_string (future, "late");
  then_with_log (future, &early);
  g_assert_cmpint (early.fulfilled, ==, 0);
  coop_test_drain ();
  g_assert_cmpint (early.fulfilled, ==, 1);
  g_assert_cmpstr (g_value_get_string (&early.value), ==, "late");
  g_assert_cmpint (early.fulfilled_freed + early.rejected_freed, ==, 2);
  g_object_unref (future);

  then_log_clear (&log);
  then_log_clear (&early);
}

static void
test_then_none_and_unconvertible (CoopFixture *f, gconstpointer data)
{
  ThenLog none = { 0 }, gathered = { 0 };
  g_autoptr(CoopFuture) future = coop_future_new (f->loop);
  g_autoptr(CoopFuture) child = coop_future_new (f->loop);
  g_autoptr(CoopFuture) gather = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *futures;

  coop_future_set_none (future);
  then_with_log (future, &none);
  coop_future_set_int64 (child, 1);
  gather = coop_gather (f->loop, &child, 1, FALSE);
  then_with_log (gather, &gathered);
  coop_test_wait_until (gathered.fulfilled_freed == 1);
  g_assert_cmpint (none.fulfilled, ==, 1);
  g_assert_true (none.got_null);
  /* An array of futures carries no element type: %NULL, read it apart. */
  g_assert_cmpint (gathered.fulfilled, ==, 1);
  g_assert_true (gathered.got_null);
  futures = coop_future_get_futures (gather, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (futures->len, ==, 1);
  g_assert_true (g_ptr_array_index (futures, 0) == child);
  g_assert_null (coop_future_get_futures (child, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT);
}

static int n_reported;

static void
count_reports (CoopLoop *loop, const char *message, CoopFuture *future,
               const GError *error, gpointer data)
{
  n_reported++;
}

static void
test_then_rejected (CoopFixture *f, gconstpointer data)
{
  ThenLog failed = { 0 }, cancelled = { 0 }, unheard = { 0 };
  CoopFuture *future;

  n_reported = 0;
  coop_loop_set_exception_handler (f->loop, count_reports, NULL, NULL);

  future = coop_future_new (f->loop);
  then_with_log (future, &failed);
  coop_future_take_error (future, g_error_new_literal (COOP_ERROR, COOP_ERROR_QUEUE_EMPTY, "empty"));
  g_object_unref (future);
  coop_test_drain ();
  g_assert_cmpint (failed.rejected, ==, 1);
  g_assert_cmpint (failed.fulfilled, ==, 0);
  g_assert_error (failed.error, COOP_ERROR, COOP_ERROR_QUEUE_EMPTY);
  g_assert_cmpint (failed.fulfilled_freed + failed.rejected_freed, ==, 2);
  g_assert_cmpint (n_reported, ==, 0);   /* a rejection handler read it */

  future = coop_future_new (f->loop);
  then_with_log (future, &cancelled);
  coop_future_cancel (future, "stop");
  g_object_unref (future);
  coop_test_drain ();
  g_assert_cmpint (cancelled.rejected, ==, 1);
  g_assert_error (cancelled.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (cancelled.fulfilled_freed + cancelled.rejected_freed, ==, 2);

  /* Without a rejection handler the error is not read, so it is reported. */
  future = coop_future_new (f->loop);
  coop_future_then (future, on_fulfilled, &unheard, fulfilled_free, NULL, NULL, NULL);
  coop_future_take_error (future, g_error_new_literal (COOP_ERROR, COOP_ERROR_FAILED, "lost"));
  g_object_unref (future);
  coop_test_drain ();
  g_assert_cmpint (unheard.fulfilled + unheard.rejected, ==, 0);
  g_assert_cmpint (unheard.fulfilled_freed, ==, 1);
  g_assert_cmpint (n_reported, ==, 1);

  coop_loop_set_exception_handler (f->loop, NULL, NULL, NULL);
  then_log_clear (&failed);
  then_log_clear (&cancelled);
}

/* Closing the loop drops the then() of a pending future: neither callback,
 * both destroy notifies, and the future is let go.  So does a then() on a
 * future of a closed loop, and one whose callback was queued at close. */
static void
test_then_loop_closed (CoopFixture *f, gconstpointer data)
{
  ThenLog pending = { 0 }, queued = { 0 }, after = { 0 };
  CoopFuture *future = coop_future_new (f->loop);
  CoopFuture *weak = future;
  g_autoptr(CoopFuture) done = coop_future_new (f->loop);
  g_autoptr(CoopFuture) never = NULL;

  g_object_add_weak_pointer (G_OBJECT (future), (gpointer *) &weak);
  then_with_log (future, &pending);
  g_object_unref (future);
  coop_future_set_int64 (done, 1);
  then_with_log (done, &queued);

  coop_loop_close (f->loop);
  g_assert_null (weak);
  g_assert_cmpint (pending.fulfilled + pending.rejected, ==, 0);
  g_assert_cmpint (pending.fulfilled_freed, ==, 1);
  g_assert_cmpint (pending.rejected_freed, ==, 1);
  g_assert_cmpint (queued.fulfilled + queued.rejected, ==, 0);
  g_assert_cmpint (queued.fulfilled_freed + queued.rejected_freed, ==, 2);

  never = g_object_new (COOP_TYPE_FUTURE, "loop", f->loop, NULL);
  then_with_log (never, &after);
  g_assert_cmpint (after.fulfilled_freed + after.rejected_freed, ==, 2);
  coop_test_drain ();
  g_assert_cmpint (after.fulfilled + after.rejected, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/future/states", test_states);
  coop_test_add ("/coop/future/typed-results", test_typed_results);
  coop_test_add ("/coop/future/errors", test_errors);
  coop_test_add ("/coop/future/cancel", test_cancel);
  coop_test_add ("/coop/future/done-callbacks", test_done_callbacks);
  coop_test_add ("/coop/future/done-signal", test_done_signal);
  coop_test_add ("/coop/future/subclass", test_subclass);
  coop_test_add ("/coop/future/default-loop", test_default_loop);
  coop_test_add ("/coop/future/recycling", test_recycling);
  coop_test_add ("/coop/future/recycling-late-handler", test_recycling_late_handler);
  coop_test_add ("/coop/future/no-recycling-when-watched", test_no_recycling_when_watched);
  coop_test_add ("/coop/future/bytes-results", test_bytes_results);
#ifndef COOP_TEST_PUBLIC_API_ONLY
  coop_test_add ("/coop/future/pool-grows-with-demand", test_pool_grows_with_demand);
  coop_test_add ("/coop/future/pool-held-future-does-not-block", test_pool_held_future_does_not_block);
  coop_test_add ("/coop/future/pool-trims-when-idle", test_pool_trims_when_idle);
  coop_test_add ("/coop/future/pool-lends-last-awaited", test_pool_lends_last_awaited);
#endif
  coop_test_add ("/coop/future/handler-flag", test_handler_flag);
  coop_test_add ("/coop/future/heavy-results-released", test_heavy_results_released);
  coop_test_add ("/coop/future/then-fulfilled", test_then_fulfilled);
  coop_test_add ("/coop/future/then-none-and-unconvertible", test_then_none_and_unconvertible);
  coop_test_add ("/coop/future/then-rejected", test_then_rejected);
  coop_test_add ("/coop/future/then-loop-closed", test_then_loop_closed);

  return g_test_run ();
}
