/* test-future.c: states, results, errors, callbacks and the done signal.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

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
  coop_test_add ("/coop/future/heavy-results-released", test_heavy_results_released);

  return g_test_run ();
}
