/* coop-tutorial.c: the program that docs/tutorial.md builds step by step.
 *
 * It "checks" a list of mirrors and picks the fastest.  Each check is a C
 * task that takes a simulated round trip (a sleep, so no network is
 * needed); at most three checks run at a time (a semaphore); each has a
 * time limit (a timeout scope); a checksum is computed on a worker thread;
 * main gathers every check and reports.  It runs in about a third of a
 * second.
 *
 * Build it against the installed library:
 *   cc coop-tutorial.c $(pkg-config --cflags --libs coop-1)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>

#define MAX_CONCURRENT 3
#define LIMIT_MS       150

typedef struct
{
  const char *host;
  guint       latency_ms;   /* how long the simulated round trip takes */
} Mirror;

static const Mirror mirrors[] = {
  { "deb.example.org",     40 },
  { "ftp.example.net",     90 },
  { "mirror.example.com",  20 },
  { "slow.example.org",   500 },   /* over the time limit */
  { "far.example.net",    120 },
};

#define N_MIRRORS G_N_ELEMENTS (mirrors)

typedef struct
{
  CoopSemaphore *slots;     /* shared by every check */
  const Mirror  *mirror;
} Check;

/* Step 5: blocking work runs on the loop's thread pool, never on the loop's
 * thread.  This one only hashes a string, but it could read a file. */
static gboolean
hash_host (gpointer      user_data,
           GCancellable *cancellable,
           GValue       *result,
           GError      **error)
{
  const char *host = user_data;

  g_value_init (result, G_TYPE_STRING);
  g_value_take_string (result, g_compute_checksum_for_string (G_CHECKSUM_SHA256, host, -1));
  return TRUE;
}

/* Steps 2 to 5: one check, as the body of a task.  Its result is the round
 * trip in milliseconds (an int64); its error says why it failed. */
static void
check_mirror (CoopTask *task,
              gpointer  user_data)
{
  Check *check = user_data;
  CoopFuture *self = COOP_FUTURE (task);
  CoopLoop *loop = coop_future_get_loop (self);
  g_autoptr(CoopFuture) slot = coop_semaphore_acquire (check->slots);
  g_autoptr(CoopFuture) trip = NULL;
  g_autoptr(CoopFuture) hash = NULL;
  g_autoptr(CoopTimeout) limit = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start;

  /* Step 4: wait for one of the MAX_CONCURRENT slots. */
  if (!coop_await (slot, &error))
    {
      coop_future_take_error (self, g_steal_pointer (&error));
      return;
    }

  /* Step 3: the round trip, under a deadline. */
  start = coop_loop_time (loop);
  limit = coop_timeout_enter (LIMIT_MS * G_TIME_SPAN_MILLISECOND, NULL);
  trip = coop_sleep (loop, check->mirror->latency_ms * G_TIME_SPAN_MILLISECOND);
  coop_await (trip, &error);
  coop_timeout_exit (limit, &error);          /* CANCELLED becomes TIMED_OUT */
  coop_semaphore_release (check->slots, NULL);
  if (error != NULL)
    {
      coop_future_take_error (self, g_steal_pointer (&error));
      return;
    }

  /* Step 5: a checksum from a worker thread. */
  hash = coop_loop_run_in_thread (loop, hash_host, (gpointer) check->mirror->host, NULL);
  if (!coop_await (hash, &error))
    {
      coop_future_take_error (self, g_steal_pointer (&error));
      return;
    }
  g_print ("  %-20s %3" G_GINT64_FORMAT " ms  sha256 %.12s...\n", check->mirror->host,
           (coop_loop_time (loop) - start) / 1000, coop_future_get_string (hash, NULL));

  coop_future_set_int64 (self, (coop_loop_time (loop) - start) / 1000);
}

/* Step 1: main makes the loop, starts the work and runs the loop until the
 * work is done.  Step 2 and 6: a task per mirror, gathered. */
int
main (void)
{
  CoopLoop *loop = coop_loop_get_default ();
  g_autoptr(CoopSemaphore) slots = coop_semaphore_new (loop, MAX_CONCURRENT);
  Check checks[N_MIRRORS];
  CoopFuture *tasks[N_MIRRORS];
  g_autoptr(CoopFuture) all = NULL;
  g_autoptr(GError) error = NULL;
  const char *fastest = NULL;
  gint64 best = G_MAXINT64;
  guint i, n_ok = 0;

  for (i = 0; i < N_MIRRORS; i++)
    {
      checks[i] = (Check) { slots, &mirrors[i] };
      tasks[i] = COOP_FUTURE (coop_task_new_full (loop, mirrors[i].host, 0,
                                                  check_mirror, &checks[i], NULL));
    }

  /* Step 6: wait for all of them, whatever their outcome. */
  g_print ("checking %u mirrors, %d at a time, %d ms each at most:\n",
           (guint) N_MIRRORS, MAX_CONCURRENT, LIMIT_MS);
  all = coop_gather (loop, tasks, N_MIRRORS, TRUE);
  if (!coop_loop_run_until_complete (loop, all, &error))
    {
      g_printerr ("gather failed: %s\n", error->message);
      return 1;
    }

  for (i = 0; i < N_MIRRORS; i++)
    {
      const GError *failure = coop_future_get_error (tasks[i]);

      if (failure != NULL)
        {
          g_print ("  %-20s failed: %s\n", mirrors[i].host, failure->message);
          continue;
        }
      n_ok++;
      if (coop_future_get_int64 (tasks[i], NULL) < best)
        {
          best = coop_future_get_int64 (tasks[i], NULL);
          fastest = mirrors[i].host;
        }
    }
  g_print ("%u of %u answered; the fastest is %s (%" G_GINT64_FORMAT " ms)\n",
           n_ok, (guint) N_MIRRORS, fastest, best);

  for (i = 0; i < N_MIRRORS; i++)
    g_object_unref (tasks[i]);
  coop_loop_close (loop);
  return n_ok == N_MIRRORS - 1 ? 0 : 1;
}
