/* test-task-group.c: structured concurrency.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

typedef struct
{
  CoopLoop *loop;
  GString  *log;
  int       cleaned;
} Shared;

/* Sleeps `ms` then finishes, or fails if ms is negative (after -ms). */
typedef struct
{
  Shared     *shared;
  int         ms;
  const char *name;
} Job;

static void
job_body (CoopTask *task, gpointer data)
{
  Job *job = data;
  g_autoptr(CoopFuture) nap = coop_sleep (job->shared->loop, ABS (job->ms) * 1000);
  g_autoptr(GError) error = NULL;

  if (!coop_await (nap, &error))
    {
      g_string_append_printf (job->shared->log, "%s-cancelled;", job->name);
      job->shared->cleaned++;
      if (job->name[0] == '!')
        {
          /* Its clean-up fails: a second failure, after the first. */
          coop_future_take_error (COOP_FUTURE (task),
                                  g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "%s failed", job->name));
          return;
        }
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }
  if (job->ms < 0)
    {
      g_string_append_printf (job->shared->log, "%s-fails;", job->name);
      coop_future_take_error (COOP_FUTURE (task),
                              g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "%s failed", job->name));
      return;
    }
  g_string_append_printf (job->shared->log, "%s-done;", job->name);
  coop_future_set_int64 (COOP_FUTURE (task), job->ms);
}

static void
all_ok_body (CoopTask *task, gpointer data)
{
  Shared *shared = data;
  g_autoptr(CoopTaskGroup) group = coop_task_group_new (shared->loop);
  Job jobs[3] = { { shared, 100, "a" }, { shared, 20, "b" }, { shared, 60, "c" } };
  CoopTask *members[3];
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) failed = NULL;
  int i;

  /* References: the group lets go of members once they are done. */
  for (i = 0; i < 3; i++)
    members[i] = g_object_ref (coop_task_group_spawn (group, jobs[i].name, job_body, &jobs[i], NULL));
  g_assert_cmpuint (coop_task_group_get_n_pending (group), ==, 3);
  g_assert_true (coop_task_group_join (group, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (coop_task_group_get_n_pending (group), ==, 0);
  for (i = 0; i < 3; i++)
    {
      g_assert_true (coop_future_is_done (COOP_FUTURE (members[i])));
      g_assert_cmpint (coop_future_get_int64 (COOP_FUTURE (members[i]), NULL), ==, jobs[i].ms);
      g_object_unref (members[i]);
    }
  failed = coop_task_group_get_failed (group);
  g_assert_cmpuint (failed->len, ==, 0);
}

/* join waits for every member. */
static void
test_all_ok (CoopFixture *f, gconstpointer data)
{
  Shared shared = { f->loop, g_string_new (NULL), 0 };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, all_ok_body, &shared, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_cmpstr (shared.log->str, ==, "b-done;c-done;a-done;");
  g_string_free (shared.log, TRUE);
}

static void
failure_body (CoopTask *task, gpointer data)
{
  Shared *shared = data;
  g_autoptr(CoopTaskGroup) group = coop_task_group_new (shared->loop);
  Job jobs[3] = { { shared, 50, "slow" }, { shared, -2, "bad" }, { shared, -4, "worse" } };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) failed = NULL;
  CoopTask *members[3];
  int i;

  for (i = 0; i < 3; i++)
    members[i] = g_object_ref (coop_task_group_spawn (group, jobs[i].name, job_body, &jobs[i], NULL));
  g_assert_false (coop_task_group_join (group, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "bad failed");
  /* The siblings were cancelled, and all are done: none outlives the group. */
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (members[0])));
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (members[2])));
  for (i = 0; i < 3; i++)
    g_assert_true (coop_future_is_done (COOP_FUTURE (members[i])));
  failed = coop_task_group_get_failed (group);
  g_assert_cmpuint (failed->len, ==, 1);
  g_assert_true (g_ptr_array_index (failed, 0) == members[1]);

  /* Finished: spawning is refused. */
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*finished*");
  g_assert_null (coop_task_group_spawn (group, "late", job_body, &jobs[0], NULL));
  g_test_assert_expected_messages ();
  for (i = 0; i < 3; i++)
    g_object_unref (members[i]);
}

/* The first failure cancels the siblings; the group fails with it. */
static void
test_failure_cancels_siblings (CoopFixture *f, gconstpointer data)
{
  Shared shared = { f->loop, g_string_new (NULL), 0 };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, failure_body, &shared, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  /* The siblings' order depends on timing (worse's timer may fire in the
   * same dispatch as bad's). */
  g_assert_true (g_str_has_prefix (shared.log->str, "bad-fails;"));
  g_assert_nonnull (strstr (shared.log->str, "slow-cancelled;"));
  g_assert_nonnull (strstr (shared.log->str, "worse-cancelled;"));
  g_assert_cmpint (shared.cleaned, ==, 2);
  g_string_free (shared.log, TRUE);
}

static void
two_failures_body (CoopTask *task, gpointer data)
{
  Shared *shared = data;
  g_autoptr(CoopTaskGroup) group = coop_task_group_new (shared->loop);
  Job jobs[3] = { { shared, -1, "x" }, { shared, 100, "!y" }, { shared, 100, "z" } };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) failed = NULL;
  int i;

  for (i = 0; i < 3; i++)
    coop_task_group_spawn (group, jobs[i].name, job_body, &jobs[i], NULL);
  g_assert_false (coop_task_group_join (group, &error));
  g_assert_cmpstr (error->message, ==, "x failed");
  /* y failed too, while being cancelled; its error is kept, readable. */
  failed = coop_task_group_get_failed (group);
  g_assert_cmpuint (failed->len, ==, 2);
  g_assert_cmpstr (coop_future_get_error (g_ptr_array_index (failed, 1))->message, ==, "!y failed");
}

static void
test_failures_retrievable (CoopFixture *f, gconstpointer data)
{
  Shared shared = { f->loop, g_string_new (NULL), 0 };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, two_failures_body, &shared, NULL);

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_string_free (shared.log, TRUE);
}

static void
cancelled_parent_body (CoopTask *task, gpointer data)
{
  Shared *shared = data;
  g_autoptr(CoopTaskGroup) group = coop_task_group_new (shared->loop);
  Job jobs[2] = { { shared, 1000, "p" }, { shared, 2000, "q" } };
  g_autoptr(GError) error = NULL;

  coop_task_group_spawn (group, "p", job_body, &jobs[0], NULL);
  coop_task_group_spawn (group, "q", job_body, &jobs[1], NULL);
  g_assert_false (coop_task_group_join (group, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (coop_task_group_get_n_pending (group), ==, 0);
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (group)));
  g_string_append (shared->log, "parent-out;");
  coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

/* Cancels the parent once it and both members are suspended (a fixed
 * delay was not enough under valgrind: members cancelled before their
 * first step never run, so they logged nothing). */
static void
cancel_cb (gpointer data)
{
  CoopTask *parent = data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (parent));
  GList *tasks = coop_loop_list_tasks (loop), *l;
  guint waiting = 0;

  for (l = tasks; l != NULL; l = l->next)
    waiting += coop_task_get_awaiting (l->data) != NULL;
  if (waiting == 3)
    coop_task_cancel (parent, NULL);
  else
    coop_handle_unref (coop_loop_call_later (loop, 1000, cancel_cb, parent, NULL));
  g_list_free_full (tasks, g_object_unref);
}

/* Cancelling the task that joins the group cancels the members; the join
 * returns once they are all done. */
static void
test_cancel_parent (CoopFixture *f, gconstpointer data)
{
  Shared shared = { f->loop, g_string_new (NULL), 0 };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, cancelled_parent_body, &shared, NULL);

  coop_handle_unref (coop_loop_call_later (f->loop, 2000, cancel_cb, task, NULL));
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_cmpstr (shared.log->str, ==, "p-cancelled;q-cancelled;parent-out;");
  g_string_free (shared.log, TRUE);
}

/* Futures can join a group; an empty closed group is done at once; a
 * future of another loop is refused; join outside a task is an error. */
static void
test_add_and_close (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopTaskGroup) group = coop_task_group_new (f->loop);
  g_autoptr(CoopTaskGroup) empty = coop_task_group_new (f->loop);
  g_autoptr(CoopFuture) plain = coop_future_new (f->loop);
  g_autoptr(GError) error = NULL;
  GMainContext *other_context = g_main_context_new ();
  CoopLoop *other = coop_loop_new (other_context);
  CoopFuture *foreign = coop_future_new (other);

  g_assert_true (coop_task_group_add (group, plain, &error));
  g_assert_false (coop_task_group_add (group, COOP_FUTURE (group), &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_clear_error (&error);
  g_assert_false (coop_task_group_add (group, foreign, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_WRONG_LOOP);
  g_clear_error (&error);
  coop_task_group_close (group);
  g_assert_false (coop_future_is_done (COOP_FUTURE (group)));
  coop_future_set_int64 (plain, 1);
  g_assert_true (coop_future_is_done (COOP_FUTURE (group)));
  g_assert_cmpint (coop_future_get_state (COOP_FUTURE (group)), ==, COOP_FUTURE_STATE_FINISHED);
  g_assert_false (coop_task_group_add (group, plain, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_clear_error (&error);

  coop_task_group_close (empty);
  g_assert_true (coop_future_is_done (COOP_FUTURE (empty)));

  g_assert_false (coop_task_group_join (group, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NOT_IN_TASK);

  g_object_unref (foreign);
  coop_loop_close (other);
  g_object_unref (other);
  g_main_context_unref (other_context);
}

/* Cancelling the group from outside: members cancelled, group cancelled. */
static void
test_cancel_group (CoopFixture *f, gconstpointer data)
{
  Shared shared = { f->loop, g_string_new (NULL), 0 };
  g_autoptr(CoopTaskGroup) group = coop_task_group_new (f->loop);
  Job job = { &shared, 1000, "m" };
  g_autoptr(CoopTask) member = g_object_ref (coop_task_group_spawn (group, "m", job_body, &job, NULL));

  coop_test_drain ();
  g_assert_true (coop_future_cancel (COOP_FUTURE (group), NULL));
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (group), NULL));
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (group)));
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (member)));
  g_string_free (shared.log, TRUE);
}

/* A group dropped while members run cancels them: none outlives it. */
static void
test_destroyed_group (CoopFixture *f, gconstpointer data)
{
  Shared shared = { f->loop, g_string_new (NULL), 0 };
  CoopTaskGroup *group = coop_task_group_new (f->loop);
  Job job = { &shared, 1000, "orphan" };
  CoopTask *member = g_object_ref (coop_task_group_spawn (group, "orphan", job_body, &job, NULL));

  coop_test_drain ();
  g_object_unref (group);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (member), NULL) == FALSE);
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (member)));
  g_object_unref (member);
  g_string_free (shared.log, TRUE);
}

typedef struct
{
  Shared        *shared;
  CoopTaskGroup *group;
  guint          spawned;
} Spawner;

static void
leaf_body (CoopTask *task, gpointer data)
{
  ((Spawner *) data)->shared->cleaned++;
}

static void
spawner_body (CoopTask *task, gpointer data)
{
  Spawner *sp = data;
  g_autoptr(CoopFuture) nap = coop_sleep (sp->shared->loop, 2000);

  /* The parent is already joining: members may still spawn siblings. */
  g_assert_true (coop_await (nap, NULL));
  for (guint i = 0; i < 100; i++)
    g_assert_nonnull (coop_task_group_spawn (sp->group, "leaf", leaf_body, sp, NULL));
  sp->spawned = 100;
}

static void
spawn_while_joining_body (CoopTask *task, gpointer data)
{
  Spawner *sp = data;
  g_autoptr(GError) error = NULL;

  coop_task_group_spawn (sp->group, "spawner", spawner_body, sp, NULL);
  g_assert_true (coop_task_group_join (sp->group, &error));
  g_assert_cmpuint (sp->spawned, ==, 100);
  g_assert_cmpint (sp->shared->cleaned, ==, 100);
}

/* Spawning from a member while the group is joined; finished members are
 * let go, so a long-lived group does not grow. */
static void
test_spawn_while_joining (CoopFixture *f, gconstpointer data)
{
  Shared shared = { f->loop, g_string_new (NULL), 0 };
  g_autoptr(CoopTaskGroup) group = coop_task_group_new (f->loop);
  Spawner sp = { &shared, group, 0 };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, spawn_while_joining_body, &sp, NULL);
  GWeakRef leaf_ref;
  CoopTask *leaf;

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));

  /* A member that finished is no longer held by the group. */
  g_clear_object (&group);
  group = coop_task_group_new (f->loop);
  sp.group = group;
  leaf = coop_task_group_spawn (group, "leaf", leaf_body, &sp, NULL);
  g_weak_ref_init (&leaf_ref, leaf);
  coop_test_wait_until (coop_task_group_get_n_pending (group) == 0);
  coop_test_drain ();
  leaf = g_weak_ref_get (&leaf_ref);
  g_assert_null (leaf);
  g_weak_ref_clear (&leaf_ref);
  g_string_free (shared.log, TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/task-group/all-ok", test_all_ok);
  coop_test_add ("/coop/task-group/failure-cancels-siblings", test_failure_cancels_siblings);
  coop_test_add ("/coop/task-group/failures-retrievable", test_failures_retrievable);
  coop_test_add ("/coop/task-group/cancel-parent", test_cancel_parent);
  coop_test_add ("/coop/task-group/add-and-close", test_add_and_close);
  coop_test_add ("/coop/task-group/cancel-group", test_cancel_group);
  coop_test_add ("/coop/task-group/destroyed-group", test_destroyed_group);
  coop_test_add ("/coop/task-group/spawn-while-joining", test_spawn_while_joining);

  return g_test_run ();
}
