/* coop-pipeline.c: a crawler-shaped pipeline.
 *
 * Two producers feed "URLs" into a bounded queue (back-pressure when the
 * workers fall behind); a pool of workers in a task group fetches them,
 * each fetch under a timeout scope; when the producers are done the queue
 * is shut down and the workers drain it and stop.  "Fetching" is simulated
 * with sleeps of random length, so the example needs no network.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>

#define N_PRODUCERS   2
#define N_PER_PRODUCER 200
#define N_WORKERS     8
#define QUEUE_SIZE    16
#define FETCH_LIMIT_MS 40

typedef struct
{
  CoopLoop  *loop;
  CoopQueue *urls;
  guint      fetched;
  guint      timed_out;
  guint      failed;
  guint      max_queued;
} Crawl;

typedef struct
{
  Crawl *crawl;
  guint  id;
} Producer;

static void
produce (CoopTask *task, gpointer data)
{
  Producer *p = data;
  guint i;

  for (i = 0; i < N_PER_PRODUCER; i++)
    {
      g_autofree char *url = g_strdup_printf ("https://example.org/%u/%u", p->id, i);
      g_auto(GValue) value = G_VALUE_INIT;
      g_autoptr(CoopFuture) put = NULL;
      g_autoptr(GError) error = NULL;

      g_value_init (&value, G_TYPE_STRING);
      g_value_set_string (&value, url);
      put = coop_queue_put (p->crawl->urls, &value, 0);   /* waits while the queue is full */
      if (!coop_await (put, &error))
        {
          coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
          return;
        }
      p->crawl->max_queued = MAX (p->crawl->max_queued, coop_queue_get_size (p->crawl->urls));
    }
}

/* Pretends to fetch: most pages take 1-30 ms, some 100 ms, a few fail. */
static gboolean
fetch (Crawl *crawl, const char *url, GError **error)
{
  guint r = g_random_int_range (0, 100);
  g_autoptr(CoopFuture) wait = coop_sleep (crawl->loop, (r < 10 ? 100 : 1 + r % 30) * G_TIME_SPAN_MILLISECOND);

  if (!coop_await (wait, error))
    return FALSE;
  if (r >= 97)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: 404", url);
      return FALSE;
    }
  return TRUE;
}

static void
work (CoopTask *task, gpointer data)
{
  Crawl *crawl = data;

  for (;;)
    {
      g_autoptr(CoopFuture) next = coop_queue_get (crawl->urls);
      g_autoptr(GError) error = NULL;
      g_autoptr(CoopTimeout) limit = NULL;
      const char *url;

      if (!coop_await (next, &error))
        {
          if (g_error_matches (error, COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN))
            return;   /* drained: this worker is done */
          coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
          return;
        }
      url = coop_future_get_string (next, NULL);

      limit = coop_timeout_enter (FETCH_LIMIT_MS * G_TIME_SPAN_MILLISECOND, NULL);
      fetch (crawl, url, &error);
      if (!coop_timeout_exit (limit, &error))
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
            crawl->timed_out++;
          else
            crawl->failed++;
        }
      else
        crawl->fetched++;
      coop_queue_task_done (crawl->urls);
    }
}

static void
crawl_main (CoopTask *task, gpointer data)
{
  Crawl *crawl = data;
  g_autoptr(CoopTaskGroup) producers = coop_task_group_new (crawl->loop);
  g_autoptr(CoopTaskGroup) workers = coop_task_group_new (crawl->loop);
  Producer ids[N_PRODUCERS];
  g_autoptr(GError) error = NULL;
  guint i;

  for (i = 0; i < N_WORKERS; i++)
    {
      g_autofree char *name = g_strdup_printf ("worker-%u", i);

      coop_task_group_spawn (workers, name, work, crawl, NULL);
    }
  for (i = 0; i < N_PRODUCERS; i++)
    {
      ids[i] = (Producer) { crawl, i };
      coop_task_group_spawn (producers, "producer", produce, &ids[i], NULL);
    }

  if (!coop_task_group_join (producers, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }
  /* Everything is queued: let the workers drain the queue and stop. */
  coop_queue_shutdown (crawl->urls, FALSE);
  if (!coop_task_group_join (workers, &error))
    coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

int
main (int argc, char **argv)
{
  CoopLoop *loop = coop_loop_get_default ();
  Crawl crawl = { loop, coop_queue_new (loop, QUEUE_SIZE, COOP_QUEUE_FIFO), 0, 0, 0, 0 };
  g_autoptr(CoopTask) task = coop_task_new_full (loop, "crawl", 0, crawl_main, &crawl, NULL);
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  if (!coop_loop_run_until_complete (loop, COOP_FUTURE (task), &error))
    {
      g_printerr ("crawl failed: %s\n", error->message);
      return 1;
    }
  g_print ("%u URLs through a queue of %u (never more than %u waiting) to %u workers in %.0f ms:\n"
           "  %u fetched, %u timed out after %d ms, %u failed\n",
           N_PRODUCERS * N_PER_PRODUCER, QUEUE_SIZE, crawl.max_queued, N_WORKERS,
           (g_get_monotonic_time () - start) / 1000.0,
           crawl.fetched, crawl.timed_out, FETCH_LIMIT_MS, crawl.failed);
  g_object_unref (crawl.urls);
  coop_loop_close (loop);
  return crawl.fetched + crawl.timed_out + crawl.failed == N_PRODUCERS * N_PER_PRODUCER ? 0 : 1;
}
