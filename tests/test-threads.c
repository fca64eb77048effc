/* test-threads.c: call_soon_threadsafe from many threads.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <unistd.h>

#define N_THREADS 8
#define N_CALLS 100000

typedef struct
{
  CoopLoop *loop;
  guint     thread;
  guint     next[N_THREADS];   /* next expected sequence number, per thread */
  guint     total;
  guint     out_of_order;
} Counter;

typedef struct
{
  Counter *counter;
  guint    thread;
} Producer;

static void
count_cb (gpointer data)
{
  Counter *counter = ((Producer *) data)->counter;
  guint thread = ((Producer *) data)->thread;

  counter->total++;
  counter->next[thread]++;
}

/* Encodes the thread and the sequence number in the pointer itself, so the
 * callbacks allocate nothing and the order can be checked. */
static Counter *the_counter;

static void
ordered_cb (gpointer data)
{
  guint64 v = GPOINTER_TO_SIZE (data);
  guint thread = v >> 32;
  guint seq = v & 0xffffffff;

  if (the_counter->next[thread] != seq)
    the_counter->out_of_order++;
  the_counter->next[thread] = seq + 1;
  the_counter->total++;
}

static gpointer
producer_thread (gpointer data)
{
  Producer *p = data;
  guint i;

  for (i = 0; i < N_CALLS; i++)
    coop_loop_call_soon_threadsafe (p->counter->loop, ordered_cb,
                                    GSIZE_TO_POINTER (((guint64) p->thread << 32) | i), NULL);
  return NULL;
}

/* 8 threads x 100,000 calls each: every callback runs exactly once, on the
 * loop's thread, in each thread's order. */
static void
test_many_threads (CoopFixture *f, gconstpointer data)
{
  Counter counter = { .loop = f->loop };
  Producer producers[N_THREADS];
  GThread *threads[N_THREADS];
  guint i;

  the_counter = &counter;
  for (i = 0; i < N_THREADS; i++)
    {
      producers[i] = (Producer) { &counter, i };
      threads[i] = g_thread_new ("producer", producer_thread, &producers[i]);
    }
  /* The loop runs (blocking in poll when idle) while they produce. */
  coop_test_wait_until (counter.total == N_THREADS * N_CALLS);
  for (i = 0; i < N_THREADS; i++)
    g_thread_join (threads[i]);
  coop_test_drain ();

  g_assert_cmpuint (counter.total, ==, N_THREADS * N_CALLS);
  g_assert_cmpuint (counter.out_of_order, ==, 0);
  for (i = 0; i < N_THREADS; i++)
    g_assert_cmpuint (counter.next[i], ==, N_CALLS);
}

static gpointer
late_thread (gpointer data)
{
  Producer *p = data;

  g_usleep (50000);
  coop_loop_call_soon_threadsafe (p->counter->loop, count_cb, p, NULL);
  return NULL;
}

/* A loop blocked in poll with nothing to do is woken by another thread. */
static void
test_wakeup (CoopFixture *f, gconstpointer data)
{
  Counter counter = { .loop = f->loop };
  Producer p = { &counter, 0 };
  GThread *thread = g_thread_new ("late", late_thread, &p);
  gint64 start = g_get_monotonic_time ();

  /* A blocking iteration returns only because of the wake-up. */
  while (counter.total == 0)
    {
      g_main_context_iteration (f->context, TRUE);
      g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
    }
  g_thread_join (thread);
  g_assert_cmpuint (counter.total, ==, 1);
}

static void
free_cb (gpointer data)
{
  g_atomic_int_inc ((gint *) data);
}

static void
noop_cb (gpointer data)
{
}

/* The destroy notify runs exactly once, after the callback. */
static void
test_notify (CoopFixture *f, gconstpointer data)
{
  gint freed = 0;
  int i;

  for (i = 0; i < 100; i++)
    coop_loop_call_soon_threadsafe (f->loop, noop_cb, &freed, free_cb);
  g_assert_cmpint (freed, ==, 0);
  coop_test_drain ();
  g_assert_cmpint (freed, ==, 100);
}

/* --- loop-bound calls from the wrong thread ------------------------------------ */

typedef struct
{
  CoopLoop   *loop;
  CoopTask   *task;
  CoopEvent  *go;
  CoopLock   *lock;
  CoopQueue  *queue;
  CoopFuture *plain;
  CoopHandle *timer;
  int         fds[2];
  GThread    *thread;
  gboolean    threadsafe_cancel;
} Cross;

/* Waits for the event with a deadline an hour away: the task sits on the
 * event's queue and its timeout in the loop's timer heap. */
static void
waiter_body (CoopTask *task,
             gpointer  data)
{
  Cross *c = data;
  g_autoptr(CoopFuture) wait = coop_event_wait (c->go);
  g_autoptr(CoopFuture) limited = coop_wait_for (wait, (gint64) 3600 * G_USEC_PER_SEC);
  GError *error = NULL;

  if (!coop_await (limited, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), error);
      return;
    }
  coop_future_set_string (COOP_FUTURE (task), "finished");
}

static void
set_go_cb (gpointer data)
{
  coop_event_set (((Cross *) data)->go);
}

static void
refused_body (CoopTask *task,
              gpointer  data)
{
  g_assert_not_reached ();
}

#define EXPECT_REFUSED(func) \
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, func ": called from a thread that does not run the loop*")

/* On another thread, while the loop's thread runs it: every loop-bound
 * call is refused with a critical naming it, and changes nothing. */
static gpointer
misuse_thread (gpointer data)
{
  Cross *c = data;

  EXPECT_REFUSED ("coop_task_cancel");
  g_assert_false (coop_task_cancel (c->task, "from the wrong thread"));
  EXPECT_REFUSED ("coop_future_cancel");
  g_assert_false (coop_future_cancel (COOP_FUTURE (c->task), NULL));
  EXPECT_REFUSED ("coop_future_set_none");
  coop_future_set_none (c->plain);
  EXPECT_REFUSED ("coop_future_cancel");
  g_assert_false (coop_future_cancel (c->plain, NULL));
  EXPECT_REFUSED ("coop_loop_call_soon");
  g_assert_null (coop_loop_call_soon (c->loop, noop_cb, NULL, NULL));
  EXPECT_REFUSED ("coop_loop_call_later");
  g_assert_null (coop_loop_call_later (c->loop, 0, noop_cb, NULL, NULL));
  EXPECT_REFUSED ("coop_handle_cancel");
  coop_handle_cancel (c->timer);
  EXPECT_REFUSED ("coop_loop_add_reader");
  g_assert_null (coop_loop_add_reader (c->loop, c->fds[0], noop_cb, NULL, NULL));
  EXPECT_REFUSED ("coop_task_new_full");
  g_assert_null (coop_task_new (c->loop, refused_body, NULL, NULL));
  EXPECT_REFUSED ("coop_event_set");
  coop_event_set (c->go);
  EXPECT_REFUSED ("coop_lock_try_acquire");
  g_assert_false (coop_lock_try_acquire (c->lock));
  EXPECT_REFUSED ("coop_queue_put_pointer_nowait");
  g_assert_false (coop_queue_put_pointer_nowait (c->queue, c, NULL, 0, NULL));
  EXPECT_REFUSED ("coop_resolve");
  g_assert_null (coop_resolve (c->loop, NULL, "localhost"));
  EXPECT_REFUSED ("coop_stream_open_tcp_full");
  g_assert_null (coop_stream_open_tcp_full (c->loop, "localhost", 9, 0, -1));
  EXPECT_REFUSED ("coop_datagram_new");
  g_assert_null (coop_datagram_new (c->loop, NULL, NULL, NULL));
  EXPECT_REFUSED ("coop_loop_stop");
  coop_loop_stop (c->loop);
  EXPECT_REFUSED ("coop_loop_close");
  coop_loop_close (c->loop);
  g_test_assert_expected_messages ();

  /* The ways that work from any thread. */
  if (c->threadsafe_cancel)
    coop_future_cancel_threadsafe (COOP_FUTURE (c->task), "from afar");
  else
    coop_loop_call_soon_threadsafe (c->loop, set_go_cb, c, NULL);
  return NULL;
}

static void
start_misuse_cb (gpointer data)
{
  Cross *c = data;

  c->thread = g_thread_new ("misuse", misuse_thread, c);
}

static void
cross_setup (Cross       *c,
             CoopFixture *f)
{
  c->loop = f->loop;
  c->go = coop_event_new (f->loop);
  c->lock = coop_lock_new (f->loop);
  c->queue = coop_queue_new (f->loop, 0, COOP_QUEUE_FIFO);
  c->plain = coop_future_new (f->loop);
  c->timer = coop_loop_call_later (f->loop, (gint64) 3600 * G_USEC_PER_SEC, noop_cb, NULL, NULL);
  g_assert_no_errno (pipe (c->fds));
  c->task = coop_task_new (f->loop, waiter_body, c, NULL);
  /* The thread starts once the loop runs: its context is then owned by
   * this thread for the whole run. */
  coop_handle_unref (coop_loop_call_soon (f->loop, start_misuse_cb, c, NULL));
}

static void
cross_teardown (Cross *c)
{
  g_thread_join (c->thread);
  /* Nothing the other thread tried happened. */
  g_assert_false (coop_future_is_done (c->plain));
  g_assert_false (coop_handle_is_cancelled (c->timer));
  g_assert_cmpuint (coop_loop_get_n_watched_fds (c->loop), ==, 0);
  g_assert_false (coop_loop_is_closed (c->loop));
  g_assert_false (coop_lock_is_locked (c->lock));
  g_assert_cmpuint (coop_queue_get_size (c->queue), ==, 0);
  /* The heap is whole: the timer still cancels here. */
  coop_handle_cancel (c->timer);
  g_assert_true (coop_handle_is_cancelled (c->timer));
  coop_test_drain ();
  coop_handle_unref (c->timer);
  g_object_unref (c->plain);
  g_object_unref (c->go);
  g_object_unref (c->lock);
  g_object_unref (c->queue);
  g_object_unref (c->task);
  close (c->fds[0]);
  close (c->fds[1]);
}

/* coop_task_cancel() from another thread used to rearrange the timer heap
 * under the loop's thread (a wait_for's timeout is cancelled with the
 * task).  Now it is refused, with the way to do it; the task goes on and
 * finishes normally once the event is set the thread-safe way. */
static void
test_wrong_thread_refused (CoopFixture *f, gconstpointer data)
{
  Cross c = { NULL, };
  g_autoptr(GError) error = NULL;

  cross_setup (&c, f);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (c.task), &error));
  g_assert_no_error (error);
  g_assert_cmpstr (coop_future_get_string (COOP_FUTURE (c.task), NULL), ==, "finished");
  cross_teardown (&c);
}

/* coop_future_cancel_threadsafe() cancels the task from the other thread:
 * the cancellation happens on the loop's thread, where the task's timeout
 * leaves the heap. */
static void
test_cancel_threadsafe (CoopFixture *f, gconstpointer data)
{
  Cross c = { .threadsafe_cancel = TRUE };
  g_autoptr(GError) error = NULL;

  cross_setup (&c, f);
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (c.task), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (c.task)));
  cross_teardown (&c);
}

/* Many threads cancel many tasks at once, the thread-safe way, while the
 * loop runs them: each task ends cancelled exactly once (run under TSan by
 * scripts/check-tsan.sh). */
#define N_CANCEL_TASKS 200

typedef struct
{
  CoopTask *tasks[N_CANCEL_TASKS];
  guint     first;
} CancelBatch;

static void
sleeper_body (CoopTask *task,
              gpointer  data)
{
  g_autoptr(CoopFuture) nap = coop_sleep (coop_future_get_loop (COOP_FUTURE (task)),
                                          (gint64) 3600 * G_USEC_PER_SEC);
  GError *error = NULL;

  if (!coop_await (nap, &error))
    coop_future_take_error (COOP_FUTURE (task), error);
}

static gpointer
canceller_thread (gpointer data)
{
  CancelBatch *batch = data;
  guint i;

  /* Two threads cancel every task: a second request changes nothing. */
  for (i = 0; i < N_CANCEL_TASKS; i++)
    coop_future_cancel_threadsafe (COOP_FUTURE (batch->tasks[(batch->first + i) % N_CANCEL_TASKS]), NULL);
  return NULL;
}

static void
test_cancel_threadsafe_many (CoopFixture *f, gconstpointer data)
{
  CancelBatch batches[2];
  GThread *threads[2];
  guint i, n_done;

  for (i = 0; i < N_CANCEL_TASKS; i++)
    batches[0].tasks[i] = coop_task_new (f->loop, sleeper_body, NULL, NULL);
  coop_test_drain ();
  batches[1] = batches[0];
  batches[0].first = 0;
  batches[1].first = N_CANCEL_TASKS / 2;
  for (i = 0; i < 2; i++)
    threads[i] = g_thread_new ("canceller", canceller_thread, &batches[i]);
  do
    {
      g_main_context_iteration (f->context, TRUE);
      for (i = 0, n_done = 0; i < N_CANCEL_TASKS; i++)
        n_done += coop_future_is_done (COOP_FUTURE (batches[0].tasks[i]));
    }
  while (n_done < N_CANCEL_TASKS);
  for (i = 0; i < 2; i++)
    g_thread_join (threads[i]);
  coop_test_drain ();
  for (i = 0; i < N_CANCEL_TASKS; i++)
    {
      g_assert_true (coop_future_is_cancelled (COOP_FUTURE (batches[0].tasks[i])));
      g_object_unref (batches[0].tasks[i]);
    }
}

/* A GCancellable bound to a task, cancelled from another thread. */
static gpointer
cancel_cancellable_thread (gpointer data)
{
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_cancel_bound_cancellable (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopTask) task = coop_task_new (f->loop, sleeper_body, NULL, NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  GThread *thread;

  coop_task_bind_cancellable (task, cancellable);
  coop_test_drain ();
  thread = g_thread_new ("canceller", cancel_cancellable_thread, cancellable);
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_thread_join (thread);
}

/* A loop nobody iterates yet may be set up from another thread: made on
 * this thread, handed to a new one that adds a task and runs it, then used
 * here again once that thread is done with it. */
static void
handed_body (CoopTask *task,
             gpointer  data)
{
  coop_future_set_int64 (COOP_FUTURE (task), 42);
}

static gpointer
runner_thread (gpointer data)
{
  CoopLoop *loop = data;
  g_autoptr(CoopTask) task = coop_task_new (loop, handed_body, NULL, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (task);
  g_assert_true (coop_loop_run_until_complete (loop, COOP_FUTURE (task), &error));
  g_assert_no_error (error);
  g_assert_cmpint (coop_future_get_int64 (COOP_FUTURE (task), NULL), ==, 42);
  return NULL;
}

static void
test_handed_over (void)
{
  /* Not pushed as thread-default here: pushing a context acquires it. */
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop = coop_loop_new (context);
  g_autoptr(CoopTask) task = NULL;

  g_thread_join (g_thread_new ("runner", runner_thread, loop));
  task = coop_task_new (loop, handed_body, NULL, NULL);
  while (!coop_future_is_done (COOP_FUTURE (task)))
    g_main_context_iteration (context, TRUE);
  g_assert_cmpint (coop_future_get_int64 (COOP_FUTURE (task), NULL), ==, 42);
  coop_loop_close (loop);
  g_object_unref (loop);
  g_main_context_unref (context);
}

/* A worker thread with a loop of its own (coop_loop_get_default() on its
 * thread-default context) uses it freely while the main loop runs. */
static gpointer
own_loop_thread (gpointer data)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop;
  g_autoptr(CoopTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_main_context_push_thread_default (context);
  loop = coop_loop_get_default ();
  task = coop_task_new (loop, handed_body, NULL, NULL);
  g_assert_true (coop_loop_run_until_complete (loop, COOP_FUTURE (task), &error));
  g_assert_no_error (error);
  coop_loop_close (loop);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  coop_loop_call_soon_threadsafe (data, (CoopCallback) coop_loop_stop, data, NULL);
  return NULL;
}

static void
start_own_loop_cb (gpointer data)
{
  *(GThread **) ((gpointer *) data)[1] = g_thread_new ("own-loop", own_loop_thread, ((gpointer *) data)[0]);
}

static void
test_thread_own_loop (CoopFixture *f, gconstpointer data)
{
  GThread *thread = NULL;
  gpointer args[2] = { f->loop, &thread };

  coop_handle_unref (coop_loop_call_soon (f->loop, start_own_loop_cb, args, NULL));
  coop_loop_run_forever (f->loop);
  g_thread_join (thread);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/threads/many-threads", test_many_threads);
  coop_test_add ("/coop/threads/wakeup", test_wakeup);
  coop_test_add ("/coop/threads/notify", test_notify);
  coop_test_add ("/coop/threads/wrong-thread-refused", test_wrong_thread_refused);
  coop_test_add ("/coop/threads/cancel-threadsafe", test_cancel_threadsafe);
  coop_test_add ("/coop/threads/cancel-threadsafe-many", test_cancel_threadsafe_many);
  coop_test_add ("/coop/threads/cancel-bound-cancellable", test_cancel_bound_cancellable);
  g_test_add_func ("/coop/threads/handed-over", test_handed_over);
  coop_test_add ("/coop/threads/thread-own-loop", test_thread_own_loop);

  return g_test_run ();
}
