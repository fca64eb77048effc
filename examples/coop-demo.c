/* coop-demo.c: thousands of concurrent C tasks on the GLib main loop.
 *
 * Workers sleep and return results, relays await the workers, a gather
 * collects them all, slow tasks run into a time limit and others are
 * cancelled (and one kind swallows the cancellation).  Everything runs on
 * one thread, inside an ordinary GMainContext.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>

#include <signal.h>
#include <string.h>

#define N_WORKERS  5000
#define N_RELAYS   1000
#define N_SLOW     500
#define N_DOOMED   500

typedef struct
{
  CoopLoop *loop;
  guint     timed_out;
  guint     cancelled;
  guint     swallowed;
} Demo;

/* Sleeps a little, then returns twice its number. */
static void
worker (CoopTask *task, gpointer data)
{
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  gint64 n = GPOINTER_TO_INT (data);
  g_autoptr(CoopFuture) nap = coop_sleep (loop, g_random_int_range (10, 200) * G_TIME_SPAN_MILLISECOND);
  g_autoptr(GError) error = NULL;

  if (!coop_await (nap, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }
  coop_future_set_int64 (COOP_FUTURE (task), 2 * n);
}

/* Awaits another task and passes its result on, plus one. */
static void
relay (CoopTask *task, gpointer data)
{
  CoopFuture *source = data;
  g_autoptr(GError) error = NULL;

  if (!coop_await (source, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }
  coop_future_set_int64 (COOP_FUTURE (task), coop_future_get_int64 (source, NULL) + 1);
}

/* Would take a second: the caller gives it 50 ms. */
static void
slowpoke (CoopTask *task, gpointer data)
{
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(CoopFuture) nap = coop_sleep (loop, G_USEC_PER_SEC);
  g_autoptr(GError) error = NULL;

  if (!coop_await (nap, &error))
    coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

/* Sleeps forever; half of them swallow their cancellation. */
static void
doomed (CoopTask *task, gpointer data)
{
  Demo *demo = data;
  g_autoptr(CoopFuture) nap = coop_sleep (demo->loop, (gint64) 3600 * G_USEC_PER_SEC);
  g_autoptr(GError) error = NULL;

  if (coop_await (nap, &error))
    return;
  if (g_str_has_suffix (coop_task_get_name (task), "odd"))
    {
      demo->swallowed++;
      coop_future_set_string (COOP_FUTURE (task), "I was busy anyway");
      return;
    }
  coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

static double
ms_since (gint64 start)
{
  return (g_get_monotonic_time () - start) / 1000.0;
}

static void
main_task (CoopTask *task, gpointer data)
{
  Demo *demo = data;
  CoopLoop *loop = demo->loop;
  g_autoptr(GPtrArray) workers = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) relays = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) limited = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) victims = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(CoopFuture) all_workers = NULL;
  g_autoptr(CoopFuture) all_relays = NULL;
  g_autoptr(CoopFuture) all_limited = NULL;
  g_autoptr(CoopFuture) all_victims = NULL;
  g_autoptr(CoopFuture) pause = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 sum = 0, relay_sum = 0;
  guint i;

  for (i = 0; i < N_WORKERS; i++)
    {
      g_autofree char *name = g_strdup_printf ("worker-%u", i);

      g_ptr_array_add (workers, coop_task_new_full (loop, name, 0, worker, GINT_TO_POINTER (i), NULL));
    }
  for (i = 0; i < N_RELAYS; i++)
    g_ptr_array_add (relays, coop_task_new (loop, relay, g_ptr_array_index (workers, i * (N_WORKERS / N_RELAYS)), NULL));
  for (i = 0; i < N_SLOW; i++)
    {
      CoopTask *slow = coop_task_new (loop, slowpoke, NULL, NULL);

      g_ptr_array_add (limited, coop_wait_for (COOP_FUTURE (slow), 50 * G_TIME_SPAN_MILLISECOND));
      g_object_unref (slow);
    }
  for (i = 0; i < N_DOOMED; i++)
    {
      g_autofree char *name = g_strdup_printf ("doomed-%u-%s", i, i % 2 ? "odd" : "even");

      g_ptr_array_add (victims, coop_task_new_full (loop, name, 0, doomed, demo, NULL));
    }
  g_print ("started %u tasks in %.1f ms\n",
           N_WORKERS + N_RELAYS + N_SLOW + N_DOOMED + 1, ms_since (start));

  /* Give the doomed ones 20 ms, then cancel them all. */
  pause = coop_sleep (loop, 20 * G_TIME_SPAN_MILLISECOND);
  coop_await (pause, NULL);
  for (i = 0; i < victims->len; i++)
    coop_task_cancel (g_ptr_array_index (victims, i), "demo is over");
  all_victims = coop_gather (loop, (CoopFuture **) victims->pdata, victims->len, TRUE);
  coop_await (all_victims, NULL);
  for (i = 0; i < victims->len; i++)
    demo->cancelled += coop_future_is_cancelled (g_ptr_array_index (victims, i));
  g_print ("cancelled %u tasks after %.1f ms; %u were cancelled, %u swallowed it\n",
           victims->len, ms_since (start), demo->cancelled, demo->swallowed);

  /* The slow ones run into their time limit. */
  all_limited = coop_gather (loop, (CoopFuture **) limited->pdata, limited->len, TRUE);
  coop_await (all_limited, NULL);
  for (i = 0; i < limited->len; i++)
    {
      const GError *e = coop_future_get_error (g_ptr_array_index (limited, i));

      demo->timed_out += e != NULL && g_error_matches (e, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
    }
  g_print ("%u slow tasks timed out at 50 ms (%.1f ms in)\n", demo->timed_out, ms_since (start));

  /* Gather every worker: fails fast if any one fails. */
  all_workers = coop_gather (loop, (CoopFuture **) workers->pdata, workers->len, FALSE);
  if (!coop_await (all_workers, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }
  for (i = 0; i < workers->len; i++)
    sum += coop_future_get_int64 (g_ptr_array_index (workers, i), NULL);
  g_print ("%u workers finished after %.1f ms, sum of results %" G_GINT64_FORMAT " (expected %" G_GINT64_FORMAT ")\n",
           workers->len, ms_since (start), sum, (gint64) N_WORKERS * (N_WORKERS - 1));

  all_relays = coop_gather (loop, (CoopFuture **) relays->pdata, relays->len, FALSE);
  if (!coop_await (all_relays, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }
  for (i = 0; i < relays->len; i++)
    relay_sum += coop_future_get_int64 (g_ptr_array_index (relays, i), NULL);
  g_print ("%u relays passed on their worker's result, sum %" G_GINT64_FORMAT "\n",
           relays->len, relay_sum);

  coop_future_set_int64 (COOP_FUTURE (task), sum);
}

/* --dump: what every task waits for, 10 ms in. */
static void
print_dump (gpointer data)
{
  g_autofree char *dump = coop_loop_dump_tasks (data);

  g_print ("%s", dump);
}

int
main (int argc, char **argv)
{
  Demo demo = { coop_loop_get_default (), 0, 0, 0 };
  g_autoptr(CoopTask) task = coop_task_new_full (demo.loop, "main", 0, main_task, &demo, NULL);
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  /* kill -USR1 <pid> prints the task dump on stderr. */
  coop_loop_install_dump_signal (demo.loop, SIGUSR1);
  if (argc > 1 && strcmp (argv[1], "--dump") == 0)
    coop_handle_unref (coop_loop_call_later (demo.loop, 10 * G_TIME_SPAN_MILLISECOND, print_dump,
                                             demo.loop, NULL));

  g_print ("Coop demo: %d concurrent tasks on one thread, in a GMainContext\n",
           N_WORKERS + N_RELAYS + N_SLOW + N_DOOMED + 1);
  if (!coop_loop_run_until_complete (demo.loop, COOP_FUTURE (task), &error))
    {
      g_printerr ("demo failed: %s\n", error->message);
      return 1;
    }
  g_print ("all done in %.1f ms\n", ms_since (start));
  coop_loop_close (demo.loop);
  return 0;
}
