/* test-scale.c: many concurrent tasks (the 'slow' suite).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

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

int
main (int argc, char **argv)
{
  const char *env = g_getenv ("COOP_SCALE_TASKS");

  g_test_init (&argc, &argv, NULL);
  if (env != NULL && *env != '\0')
    n_tasks = MAX (1000, (guint) g_ascii_strtoull (env, NULL, 10));

  coop_test_add ("/coop/scale/many-sleeping-tasks", test_many_sleeping_tasks);
  coop_test_add ("/coop/scale/many-short-tasks", test_many_short_tasks);

  return g_test_run ();
}
