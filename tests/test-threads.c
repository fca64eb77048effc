/* test-threads.c: call_soon_threadsafe from many threads.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/threads/many-threads", test_many_threads);
  coop_test_add ("/coop/threads/wakeup", test_wakeup);
  coop_test_add ("/coop/threads/notify", test_notify);

  return g_test_run ();
}
