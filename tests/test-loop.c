/* test-loop.c: the ready queue, timers, running and closing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

typedef struct
{
  GArray   *order;
  CoopLoop *loop;
  int       value;
} Record;

static void
record_cb (gpointer data)
{
  Record *r = data;

  g_array_append_val (r->order, r->value);
}

static void
free_record (gpointer data)
{
  g_free (data);
}

static Record *
record_new (GArray *order, int value)
{
  Record *r = g_new0 (Record, 1);

  r->order = order;
  r->value = value;
  return r;
}

/* call_soon callbacks run in FIFO order, never inside call_soon. */
static void
test_call_soon_fifo (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GArray) order = g_array_new (FALSE, FALSE, sizeof (int));
  int i;

  for (i = 0; i < 1000; i++)
    coop_handle_unref (coop_loop_call_soon (f->loop, record_cb, record_new (order, i), free_record));
  g_assert_cmpuint (order->len, ==, 0);   /* nothing ran inside call_soon */

  coop_test_drain ();
  g_assert_cmpuint (order->len, ==, 1000);
  for (i = 0; i < 1000; i++)
    g_assert_cmpint (g_array_index (order, int, i), ==, i);
}

typedef struct
{
  CoopLoop *loop;
  int       generation;
  int       ran[3];
} Chain;

static void
chain_cb (gpointer data)
{
  Chain *c = data;

  c->ran[c->generation]++;
  if (c->generation < 2)
    {
      c->generation++;
      coop_handle_unref (coop_loop_call_soon (c->loop, chain_cb, c, NULL));
    }
}

/* Callbacks run in batches: each batch is exactly what was queued when it
 * began, and what its callbacks queue runs in the next batch.  The next
 * batch runs in the same dispatch (no trip through the main loop), so one
 * iteration runs the whole chain, in order. */
static void
test_batch (CoopFixture *f, gconstpointer data)
{
  Chain c = { f->loop, 0, { 0, } };

  coop_handle_unref (coop_loop_call_soon (f->loop, chain_cb, &c, NULL));
  g_assert_true (coop_test_iterate ());
  g_assert_cmpint (c.ran[0], ==, 1);
  g_assert_cmpint (c.ran[1], ==, 1);
  g_assert_cmpint (c.ran[2], ==, 1);
  g_assert_false (coop_test_iterate ());
}

typedef struct
{
  CoopLoop *loop;
  GString  *log;
} Order;

static void
order_log_cb (gpointer data)
{
  Order *o = data;

  g_string_append (o->log, "b;");
}

static void
order_timer_cb (gpointer data)
{
  Order *o = data;

  g_string_append (o->log, "timer;");
}

static void
order_second_cb (gpointer data)
{
  Order *o = data;

  g_string_append (o->log, "a2;");
}

static void
order_first_cb (gpointer data)
{
  Order *o = data;

  g_string_append (o->log, "a;");
  /* Queued by this batch: runs after everything already queued (b). */
  coop_handle_unref (coop_loop_call_soon (o->loop, order_second_cb, o, NULL));
  /* Due at once: runs between this batch and the next, as it would
   * between two iterations (timers before the ready queue). */
  coop_handle_unref (coop_loop_call_later (o->loop, 0, order_timer_cb, o, NULL));
}

static void
test_batch_order (CoopFixture *f, gconstpointer data)
{
  Order o = { f->loop, g_string_new (NULL) };

  coop_handle_unref (coop_loop_call_soon (f->loop, order_first_cb, &o, NULL));
  coop_handle_unref (coop_loop_call_soon (f->loop, order_log_cb, &o, NULL));
  g_assert_true (coop_test_iterate ());
  g_assert_cmpstr (o.log->str, ==, "a;b;timer;a2;");
  g_string_free (o.log, TRUE);
}

static void
forever_cb (gpointer data)
{
  Chain *c = data;

  c->ran[0]++;
  coop_handle_unref (coop_loop_call_soon (c->loop, forever_cb, c, NULL));
}

static gboolean
other_source_cb (gpointer data)
{
  (*(int *) data)++;
  return G_SOURCE_CONTINUE;
}

/* A callback that requeues itself forever does not starve other sources
 * of the context: neither a higher-priority timeout nor an idle source of
 * the same priority. */
static void
test_no_starvation (CoopFixture *f, gconstpointer data)
{
  Chain c = { f->loop, 0, { 0, } };
  int idle_runs = 0, default_runs = 0;
  GSource *idle = g_idle_source_new ();
  GSource *timeout = g_timeout_source_new (1);

  g_source_set_callback (idle, other_source_cb, &idle_runs, NULL);
  g_source_attach (idle, f->context);
  g_source_set_callback (timeout, other_source_cb, &default_runs, NULL);
  g_source_attach (timeout, f->context);

  coop_handle_unref (coop_loop_call_soon (f->loop, forever_cb, &c, NULL));
  coop_test_wait_until (default_runs >= 5 && c.ran[0] >= 10 && idle_runs >= 10);

  g_source_destroy (idle);
  g_source_unref (idle);
  g_source_destroy (timeout);
  g_source_unref (timeout);
}

static void
count_cb (gpointer data)
{
  (*(int *) data)++;
}

static void
count_notify (gpointer data)
{
  (*(int *) data) += 1000;
}

/* A cancelled handle never runs; its notify runs once, at cancel time. */
static void
test_handle_cancel (CoopFixture *f, gconstpointer data)
{
  int count = 0;
  CoopHandle *handle = coop_loop_call_soon (f->loop, count_cb, &count, count_notify);

  g_assert_false (coop_handle_is_cancelled (handle));
  g_assert_true (coop_handle_ref (handle) == handle);
  coop_handle_unref (handle);
  coop_handle_cancel (handle);
  g_assert_true (coop_handle_is_cancelled (handle));
  g_assert_cmpint (count, ==, 1000);
  coop_handle_cancel (handle);   /* twice: nothing */
  g_assert_cmpint (count, ==, 1000);
  coop_test_drain ();
  g_assert_cmpint (count, ==, 1000);
  coop_handle_unref (handle);

  /* After it ran, cancel does nothing; notify ran once, after the callback. */
  count = 0;
  handle = coop_loop_call_soon (f->loop, count_cb, &count, count_notify);
  coop_test_drain ();
  g_assert_cmpint (count, ==, 1001);
  coop_handle_cancel (handle);
  g_assert_false (coop_handle_is_cancelled (handle));
  g_assert_cmpint (count, ==, 1001);
  coop_handle_unref (handle);
}

typedef struct
{
  GArray *order;
  int     value;
  gint64  when;
  gint64  ran_at;
} Timer;

static void
timer_cb (gpointer data)
{
  Timer *t = data;

  t->ran_at = g_get_monotonic_time ();
  g_array_append_val (t->order, t->value);
}

/* Timers run in deadline order, FIFO among equal deadlines, not before
 * their deadline; a cancelled timer leaves the heap. */
static void
test_timers_order (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GArray) order = g_array_new (FALSE, FALSE, sizeof (int));
  enum { N = 2000 };
  Timer *timers = g_new0 (Timer, N);
  CoopHandle *handles[N];
  gint64 base = coop_loop_time (f->loop) + 20000;
  GRand *rand = g_rand_new_with_seed (42);
  int i, last_expected = -1;
  gint64 last_when = G_MININT64;

  for (i = 0; i < N; i++)
    {
      timers[i].order = order;
      timers[i].value = i;
      /* Coarse deadlines so that many are equal. */
      timers[i].when = base + g_rand_int_range (rand, 0, 40) * 1000;
      handles[i] = coop_loop_call_at (f->loop, timers[i].when, timer_cb, &timers[i], NULL);
      g_assert_cmpint (coop_handle_get_when (handles[i]), ==, timers[i].when);
    }
  /* Cancel every third. */
  for (i = 0; i < N; i += 3)
    coop_handle_cancel (handles[i]);

  coop_test_wait_until (order->len == N - (N + 2) / 3);

  for (i = 0; i < (int) order->len; i++)
    {
      int v = g_array_index (order, int, i);

      g_assert_cmpint (v % 3, !=, 0);
      g_assert_cmpint (timers[v].ran_at, >=, timers[v].when);
      g_assert_cmpint (timers[v].when, >=, last_when);
      if (timers[v].when == last_when)
        g_assert_cmpint (v, >, last_expected);
      last_when = timers[v].when;
      last_expected = v;
    }
  for (i = 0; i < N; i++)
    coop_handle_unref (handles[i]);
  g_rand_free (rand);
  g_free (timers);
}

/* call_later with a past or zero delay runs on the next iteration, not
 * inside the call. */
static void
test_timer_zero (CoopFixture *f, gconstpointer data)
{
  int count = 0;

  coop_handle_unref (coop_loop_call_later (f->loop, 0, count_cb, &count, NULL));
  coop_handle_unref (coop_loop_call_later (f->loop, -5000, count_cb, &count, NULL));
  coop_handle_unref (coop_loop_call_at (f->loop, 0, count_cb, &count, NULL));
  g_assert_cmpint (count, ==, 0);
  coop_test_wait_until (count == 3);
}

/* There is one loop per context. */
static void
test_one_loop_per_context (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *a = coop_loop_new (context);
  CoopLoop *b = coop_loop_new (context);
  CoopLoop *c;

  g_assert_true (a == b);
  g_assert_true (coop_loop_get_context (a) == context);
  g_object_unref (b);

  coop_loop_close (a);
  g_assert_true (coop_loop_is_closed (a));
  c = coop_loop_new (context);
  g_assert_true (c != a);
  g_assert_false (coop_loop_is_closed (c));
  coop_loop_close (c);
  g_object_unref (c);
  g_object_unref (a);
  g_main_context_unref (context);
}

/* The default loop follows the thread-default context. */
static void
test_default_loop (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *outer = coop_loop_get_default ();
  CoopLoop *inner;

  g_assert_true (coop_loop_get_context (outer) == g_main_context_default ());
  g_assert_true (coop_loop_get_default () == outer);

  g_main_context_push_thread_default (context);
  inner = coop_loop_get_default ();
  g_assert_true (inner != outer);
  g_assert_true (coop_loop_get_context (inner) == context);
  g_main_context_pop_thread_default (context);

  g_assert_true (coop_loop_get_default () == outer);
  coop_loop_close (inner);
  g_main_context_unref (context);
}

static void
set_result_cb (gpointer data)
{
  coop_future_set_int64 (data, 42);
}

static void
stop_cb (gpointer data)
{
  CoopLoop *loop = data;

  g_assert_true (coop_loop_is_running (loop));
  coop_loop_stop (loop);
}

static void
test_run (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) future = coop_future_new (f->loop);
  g_autoptr(CoopFuture) never = coop_future_new (f->loop);
  g_autoptr(GError) error = NULL;
  int count = 0;

  g_assert_false (coop_loop_is_running (f->loop));
  coop_handle_unref (coop_loop_call_later (f->loop, 1000, set_result_cb, future, NULL));
  g_assert_true (coop_loop_run_until_complete (f->loop, future, &error));
  g_assert_no_error (error);
  g_assert_cmpint (coop_future_get_int64 (future, NULL), ==, 42);
  g_assert_false (coop_loop_is_running (f->loop));

  /* Already done: returns at once. */
  g_assert_true (coop_loop_run_until_complete (f->loop, future, &error));

  /* Stopped before the future is done. */
  coop_handle_unref (coop_loop_call_soon (f->loop, stop_cb, f->loop, NULL));
  g_assert_false (coop_loop_run_until_complete (f->loop, never, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_clear_error (&error);

  /* run_forever until stop. */
  coop_handle_unref (coop_loop_call_soon (f->loop, count_cb, &count, NULL));
  coop_handle_unref (coop_loop_call_later (f->loop, 2000, stop_cb, f->loop, NULL));
  coop_loop_run_forever (f->loop);
  g_assert_cmpint (count, ==, 1);

  /* stop() before run: one iteration, then return. */
  coop_handle_unref (coop_loop_call_soon (f->loop, count_cb, &count, NULL));
  coop_loop_stop (f->loop);
  coop_loop_run_forever (f->loop);
  g_assert_cmpint (count, ==, 2);
}

static void
fail_cb (gpointer data)
{
  coop_future_take_error (data, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "nope"));
}

static void
test_run_error (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) future = coop_future_new (f->loop);
  g_autoptr(GError) error = NULL;

  coop_handle_unref (coop_loop_call_soon (f->loop, fail_cb, future, NULL));
  g_assert_false (coop_loop_run_until_complete (f->loop, future, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

static void
test_priority (CoopFixture *f, gconstpointer data)
{
  int priority = 0;

  g_assert_cmpint (coop_loop_get_priority (f->loop), ==, G_PRIORITY_DEFAULT_IDLE);
  coop_loop_set_priority (f->loop, G_PRIORITY_HIGH);
  g_object_get (f->loop, "priority", &priority, NULL);
  g_assert_cmpint (priority, ==, G_PRIORITY_HIGH);

  g_assert_cmpuint (coop_loop_get_stack_size (f->loop), ==, 256 * 1024);
  coop_loop_set_stack_size (f->loop, 64 * 1024);
  g_assert_cmpuint (coop_loop_get_stack_size (f->loop), ==, 64 * 1024);
}

/* Closing releases what is queued: every notify runs, nothing runs. */
static void
test_close (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop = coop_loop_new (context);
  int count = 0;

  coop_handle_unref (coop_loop_call_soon (loop, count_cb, &count, count_notify));
  coop_handle_unref (coop_loop_call_later (loop, 100000, count_cb, &count, count_notify));
  coop_loop_call_soon_threadsafe (loop, count_cb, &count, count_notify);
  coop_loop_close (loop);
  g_assert_cmpint (count, ==, 3000);
  coop_loop_close (loop);   /* twice: nothing */
  while (g_main_context_iteration (context, FALSE))
    ;
  g_assert_cmpint (count, ==, 3000);
  g_object_unref (loop);
  g_main_context_unref (context);
}

static void
exception_handler (CoopLoop *loop, const char *message, CoopFuture *future,
                   const GError *error, gpointer user_data)
{
  GPtrArray *messages = user_data;

  g_assert_nonnull (error);
  g_ptr_array_add (messages, g_strdup (message));
}

/* A failed future finalized with its error never read is reported. */
static void
test_unretrieved_error (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func (g_free);
  CoopFuture *future;

  coop_loop_set_exception_handler (f->loop, exception_handler, messages, NULL);

  future = coop_future_new (f->loop);
  coop_future_take_error (future, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "lost"));
  g_object_unref (future);
  g_assert_cmpuint (messages->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (messages, 0), "never retrieved"));

  /* Read: not reported. */
  future = coop_future_new (f->loop);
  coop_future_take_error (future, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "read"));
  g_assert_nonnull (coop_future_get_error (future));
  g_object_unref (future);

  /* Cancelled: not reported. */
  future = coop_future_new (f->loop);
  coop_future_cancel (future, NULL);
  g_object_unref (future);
  g_assert_cmpuint (messages->len, ==, 1);

  /* Reported directly. */
  {
    g_autoptr(GError) e = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "direct");

    coop_loop_report_exception (f->loop, "reported by hand", NULL, e);
    g_assert_cmpuint (messages->len, ==, 2);
    g_assert_cmpstr (g_ptr_array_index (messages, 1), ==, "reported by hand");
  }

  coop_loop_set_exception_handler (f->loop, NULL, NULL, NULL);
}

/* The default handler logs a warning. */
static void
test_unretrieved_default (void)
{
  if (g_test_subprocess ())
    {
      CoopLoop *loop = coop_loop_get_default ();
      CoopFuture *future = coop_future_new (loop);

      coop_future_take_error (future, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "lost"));
      g_object_unref (future);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();   /* warnings are fatal in tests */
  g_test_trap_assert_stderr ("*WARNING*CoopFuture*never retrieved*lost*");
}

typedef struct
{
  GApplication *app;
  int           steps;
} AppState;

static void
app_task (CoopTask *task, gpointer data)
{
  AppState *state = data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  int i;

  for (i = 0; i < 3; i++)
    {
      g_autoptr(CoopFuture) nap = coop_sleep (loop, 1000);

      g_assert_true (coop_await (nap, NULL));
      state->steps++;
    }
  g_application_release (state->app);
}

static void
app_activate (GApplication *app, gpointer data)
{
  AppState *state = data;

  /* No set-up: the default loop runs inside the application's main loop. */
  g_application_hold (app);
  g_object_unref (coop_task_new (coop_loop_get_default (), app_task, state, NULL));
}

/* A GApplication gets Coop running inside its own main loop with no extra
 * call: coop_loop_get_default() is the loop of the context it iterates. */
static void
test_inside_gapplication (void)
{
  GApplication *app = g_application_new ("org.gnome.Coop.Test", G_APPLICATION_NON_UNIQUE);
  AppState state = { app, 0 };
  char *argv[] = { (char *) "test", NULL };

  g_signal_connect (app, "activate", G_CALLBACK (app_activate), &state);
  g_assert_cmpint (g_application_run (app, 1, argv), ==, 0);
  g_assert_cmpint (state.steps, ==, 3);
  g_object_unref (app);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/loop/call-soon-fifo", test_call_soon_fifo);
  coop_test_add ("/coop/loop/batch", test_batch);
  coop_test_add ("/coop/loop/batch-order", test_batch_order);
  coop_test_add ("/coop/loop/no-starvation", test_no_starvation);
  coop_test_add ("/coop/loop/handle-cancel", test_handle_cancel);
  coop_test_add ("/coop/loop/timers-order", test_timers_order);
  coop_test_add ("/coop/loop/timer-zero", test_timer_zero);
  g_test_add_func ("/coop/loop/one-per-context", test_one_loop_per_context);
  g_test_add_func ("/coop/loop/default", test_default_loop);
  coop_test_add ("/coop/loop/run", test_run);
  coop_test_add ("/coop/loop/run-error", test_run_error);
  coop_test_add ("/coop/loop/priority", test_priority);
  g_test_add_func ("/coop/loop/close", test_close);
  coop_test_add ("/coop/loop/unretrieved-error", test_unretrieved_error);
  g_test_add_func ("/coop/loop/unretrieved-default", test_unretrieved_default);
  g_test_add_func ("/coop/loop/inside-gapplication", test_inside_gapplication);

  return g_test_run ();
}
