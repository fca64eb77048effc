/* test-scale.c: many concurrent tasks (the 'slow' suite).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"
#include "coop-private.h"   /* coop_loop_get_tasks_internal() */

#include <string.h>

/* COOP_SCALE_TASKS overrides the count (scripts/check-valgrind.sh runs
 * this test with a few thousand: 100,000 take over ten minutes there). */
static guint n_tasks = 100000;

typedef struct
{
  CoopLoop  *loop;
  CoopEvent *gate;
  guint      finished;
  guint      notified;
} Shared;

static void
sleeper_body (CoopTask *task, gpointer data)
{
  Shared *shared = data;
  g_autoptr(CoopFuture) opened = coop_event_wait (shared->gate);
  g_autoptr(CoopFuture) nap = NULL;

  /* All of them are suspended here at once, whatever the machine's speed;
   * then they all sleep at once, 100,000 pending timers. */
  g_assert_true (coop_await (opened, NULL));
  nap = coop_sleep (shared->loop, 100000 + g_random_int_range (0, 200000));
  g_assert_true (coop_await (nap, NULL));
  shared->finished++;
}

static void
shared_notify (gpointer data)
{
  ((Shared *) data)->notified++;
}

static guint
count_maps (void)
{
  g_autofree char *maps = NULL;
  guint n = 0;
  char *p;

  g_assert_true (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL));
  for (p = maps; *p; p++)
    n += *p == '\n';
  return n;
}

/* 100,000 tasks (n_tasks) sleep at the same time, all suspended on their own stacks,
 * and all complete; the number of memory mappings stays far below
 * vm.max_map_count (65530). */
static void
test_many_sleeping_tasks (CoopFixture *f, gconstpointer data)
{
  Shared shared = { f->loop, coop_event_new (f->loop), 0, 0 };
  GPtrArray *tasks = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(CoopFuture) all = NULL;
  guint maps_before = count_maps ();
  guint maps_during, i;
  GList *live;

  for (i = 0; i < n_tasks; i++)
    g_ptr_array_add (tasks, coop_task_new (f->loop, sleeper_body, &shared, shared_notify));

  /* Let them all start and suspend. */
  coop_test_drain ();
  live = coop_loop_list_tasks (f->loop);
  g_assert_cmpuint (g_list_length (live), ==, n_tasks);
  g_list_free_full (live, g_object_unref);
  maps_during = count_maps ();
  g_test_message ("%u tasks suspended: %u mappings (before: %u)", n_tasks, maps_during, maps_before);
  g_assert_cmpuint (maps_during, <, 60000);
  g_assert_cmpuint (shared.finished, ==, 0);

  coop_event_set (shared.gate);
  all = coop_gather (f->loop, (CoopFuture **) tasks->pdata, tasks->len, FALSE);
  g_assert_true (coop_loop_run_until_complete (f->loop, all, NULL));
  g_assert_cmpuint (shared.finished, ==, n_tasks);
  g_assert_cmpuint (shared.notified, ==, n_tasks);
  g_ptr_array_unref (tasks);
  g_object_unref (shared.gate);
}

static void
spawn_body (CoopTask *task, gpointer data)
{
  ((Shared *) data)->finished++;
}

/* 100,000 short tasks (n_tasks), one after the other in batches: stacks are reused. */
static void
test_many_short_tasks (CoopFixture *f, gconstpointer data)
{
  Shared shared = { f->loop, NULL, 0, 0 };
  guint i;

  for (i = 0; i < n_tasks; i++)
    {
      CoopTask *task = coop_task_new (f->loop, spawn_body, &shared, NULL);

      g_object_unref (task);
      if (i % 1000 == 999)
        coop_test_drain ();
    }
  coop_test_drain ();
  g_assert_cmpuint (shared.finished, ==, n_tasks);
}

static void
noop_body (CoopTask *task, gpointer data)
{
  g_assert_not_reached ();   /* abandoned before it starts */
}

static void
collect_report (CoopLoop *loop, const char *message, CoopFuture *future, const GError *error,
                gpointer data)
{
  g_ptr_array_add (data, g_strdup (message));
}

/* Closing a loop with 1,000,000 tasks (ten times n_tasks) that never started: one report,
 * not a million lines. */
static void
test_close_million_unstarted (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop = coop_loop_new (context);
  g_autoptr(GPtrArray) reports = g_ptr_array_new_with_free_func (g_free);
  guint i, n = 10 * n_tasks;
  g_autofree char *prefix = g_strdup_printf ("%u tasks were destroyed while still pending", n);

  coop_loop_set_exception_handler (loop, collect_report, reports, NULL);
  for (i = 0; i < n; i++)
    g_object_unref (coop_task_new (loop, noop_body, NULL, NULL));
  g_assert_cmpuint (coop_loop_get_tasks_internal (loop)->length, ==, n);
  coop_loop_close (loop);

  g_assert_cmpuint (reports->len, ==, 1);
  g_test_message ("%s", (char *) reports->pdata[0]);
  g_assert_true (g_str_has_prefix (reports->pdata[0], prefix));
  g_assert_nonnull (strstr (reports->pdata[0], "#1 (unnamed), #2 (unnamed)"));
  g_object_unref (loop);
  g_main_context_unref (context);
}

int
main (int argc, char **argv)
{
  const char *env = g_getenv ("COOP_SCALE_TASKS");

  g_test_init (&argc, &argv, NULL);
  if (env != NULL && *env != '\0')
    n_tasks = MAX (1000, (guint) g_ascii_strtoull (env, NULL, 10));

  coop_test_add ("/coop/scale/many-sleeping-tasks", test_many_sleeping_tasks);
  coop_test_add ("/coop/scale/many-short-tasks", test_many_short_tasks);
  g_test_add_func ("/coop/scale/close-million-unstarted", test_close_million_unstarted);

  return g_test_run ();
}
