/* coop-task-group.c: structured concurrency (asyncio's TaskGroup).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"

/**
 * CoopTaskGroup:
 *
 * A set of tasks that end together, as asyncio's `TaskGroup` (trio's
 * nursery).
 *
 * Tasks are spawned into the group with `coop_task_group_spawn()`
 * (or adopted with [method@Coop.TaskGroup.add]).  The group is itself a
 * [class@Coop.Future]: once it is closed ([method@Coop.TaskGroup.close]) it
 * finishes when every member is done, so no task outlives its group.
 * [method@Coop.TaskGroup.join] closes and awaits it from a task:
 *
 * ```c
 * g_autoptr(CoopTaskGroup) group = coop_task_group_new (loop);
 *
 * coop_task_group_spawn (group, "fetch-a", fetch, url_a, NULL);
 * coop_task_group_spawn (group, "fetch-b", fetch, url_b, NULL);
 * if (!coop_task_group_join (group, &error))
 *   return;   // the first failure; the other member was cancelled
 * ```
 *
 * The first member that fails makes the group cancel every other member;
 * the group then fails with that first error once all are done.  Every
 * failed member stays readable with [method@Coop.TaskGroup.get_failed].  A
 * member that ends cancelled is not a failure.  Cancelling the group
 * cancels its members; it ends cancelled (or failed, if a member failed)
 * once they are done.
 */

typedef struct
{
  CoopWaiter     waiter;
  CoopTaskGroup *group;
  CoopFuture    *member;      /* strong */
  GList          link;        /* in group->members */
} Member;

struct _CoopTaskGroup
{
  CoopFuture  parent_instance;

  GQueue      members;        /* Member, pending ones only */
  GPtrArray  *failed;         /* CoopFuture*, strong */
  GError     *first_error;
  guint       n_pending;
  guint       closed : 1;
  guint       aborting : 1;   /* a member failed: the others are cancelled */
  guint       cancelling : 1; /* the group itself was cancelled */
};

G_DEFINE_FINAL_TYPE (CoopTaskGroup, coop_task_group, COOP_TYPE_FUTURE)

static void
cancel_pending_members (CoopTaskGroup *group,
                        const char    *message)
{
  guint i;

  GPtrArray *pending = g_ptr_array_new_with_free_func (g_object_unref);
  GList *l;

  /* Cancelling may complete members (and drop them from the list) at
   * once: work on a snapshot. */
  for (l = group->members.head; l != NULL; l = l->next)
    g_ptr_array_add (pending, g_object_ref (((Member *) l->data)->member));
  g_object_ref (group);
  for (i = 0; i < pending->len; i++)
    if (!coop_future_is_done (g_ptr_array_index (pending, i)))
      coop_future_cancel (g_ptr_array_index (pending, i), message);
  g_object_unref (group);
  g_ptr_array_unref (pending);
}

static void
maybe_complete (CoopTaskGroup *group)
{
  CoopFuture *future = COOP_FUTURE (group);

  if (group->n_pending > 0 || coop_future_is_done (future))
    return;
  if (!group->closed && !group->aborting && !group->cancelling)
    return;

  group->closed = TRUE;
  if (group->first_error != NULL)
    coop_future_set_error (future, group->first_error);
  else if (group->cancelling)
    coop_future_set_cancelled (future, "The task group was cancelled");
  else
    coop_future_set_none (future);
}

static void
member_free (Member *m)
{
  coop_future_remove_waiter (m->member, &m->waiter);
  g_object_unref (m->member);
  g_free (m);
}

static void
member_done (CoopWaiter *waiter,
             CoopFuture *member)
{
  Member *m = (Member *) waiter;
  CoopTaskGroup *group = m->group;

  /* Done members leave (a long-lived group spawning many short tasks must
   * not grow); failed ones stay readable through get_failed(). */
  g_queue_unlink (&group->members, &m->link);
  g_object_ref (member);
  member_free (m);
  group->n_pending--;
  if (coop_future_get_state (member) == COOP_FUTURE_STATE_FAILED)
    {
      const GError *error = coop_future_peek_error (member);   /* read: the group reports it */

      g_ptr_array_add (group->failed, g_object_ref (member));
      if (group->first_error == NULL)
        {
          group->first_error = g_error_copy (error);
          group->aborting = TRUE;
          cancel_pending_members (group, "A sibling task failed");
        }
    }
  g_object_unref (member);
  maybe_complete (group);
}

static gboolean
coop_task_group_cancel (CoopFuture *future,
                        const char *message)
{
  CoopTaskGroup *group = COOP_TASK_GROUP (future);

  group->cancelling = TRUE;
  cancel_pending_members (group, message);
  maybe_complete (group);
  return TRUE;
}

static void
coop_task_group_dispose (GObject *object)
{
  CoopTaskGroup *group = COOP_TASK_GROUP (object);

  /* No member outlives its group: whatever is still running is cancelled
   * (after detaching, so that nothing completes the group as it goes). */
  if (group->n_pending > 0)
    {
      GList *link;

      while ((link = g_queue_pop_head_link (&group->members)) != NULL)
        {
          Member *m = link->data;
          CoopFuture *member = g_object_ref (m->member);

          member_free (m);
          coop_future_cancel (member, "The task group was destroyed");
          g_object_unref (member);
        }
      group->n_pending = 0;
    }

  G_OBJECT_CLASS (coop_task_group_parent_class)->dispose (object);
}

static void
coop_task_group_finalize (GObject *object)
{
  CoopTaskGroup *group = COOP_TASK_GROUP (object);

  g_assert (group->members.length == 0);
  g_clear_pointer (&group->failed, g_ptr_array_unref);
  g_clear_error (&group->first_error);

  G_OBJECT_CLASS (coop_task_group_parent_class)->finalize (object);
}

static void
coop_task_group_class_init (CoopTaskGroupClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = coop_task_group_dispose;
  G_OBJECT_CLASS (klass)->finalize = coop_task_group_finalize;
  COOP_FUTURE_CLASS (klass)->cancel = coop_task_group_cancel;
}

static void
coop_task_group_init (CoopTaskGroup *group)
{
  g_queue_init (&group->members);
  group->failed = g_ptr_array_new_with_free_func (g_object_unref);
}

static void
task_group_describe (CoopFuture *future,
                     gpointer    data,
                     GString    *out)
{
  CoopTaskGroup *group = COOP_TASK_GROUP (future);

  g_string_append_printf (out, "task group (%u members pending%s%s)", group->n_pending,
                          group->closed ? ", closed" : "", group->aborting ? ", aborting" : "");
}

/**
 * coop_task_group_new:
 * @loop: the loop of the group and its members
 *
 * Creates an empty, open task group.
 *
 * Returns: (transfer full): a new group
 */
CoopTaskGroup *
coop_task_group_new (CoopLoop *loop)
{
  CoopTaskGroup *group;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);

  group = coop_future_new_internal (COOP_TYPE_TASK_GROUP, loop);
  coop_future_set_describe (COOP_FUTURE (group), task_group_describe, NULL);
  return group;
}

static gboolean
check_open (CoopTaskGroup  *group,
            GError        **error)
{
  /* As asyncio and trio: members may spawn siblings until the group is
   * done, even while it is being joined. */
  if (coop_future_is_done (COOP_FUTURE (group)))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                           "The task group is finished");
      return FALSE;
    }
  return TRUE;
}

static void
adopt (CoopTaskGroup *group,
       CoopFuture    *member)
{
  Member *m = g_new0 (Member, 1);

  m->waiter.func = member_done;
  m->group = group;
  m->member = g_object_ref (member);
  m->link.data = m;
  g_queue_push_tail_link (&group->members, &m->link);

  if (coop_future_is_done (member))
    {
      group->n_pending++;
      member_done (&m->waiter, member);
      return;
    }
  group->n_pending++;
  coop_future_add_waiter (member, &m->waiter);
  if (group->aborting || group->cancelling)
    coop_future_cancel (member, "The task group is shutting down");
}

/**
 * coop_task_group_spawn: (skip)
 * @group: an open task group
 * @name: (nullable): a name for the task
 * @func: (scope notified) (closure user_data) (destroy notify): the body of
 *   the task, a C function
 * @user_data: data for @func
 * @notify: (nullable): frees @user_data once the task is done
 *
 * Creates a task in @group (see `coop_task_new_full()`).  Members may
 * spawn more members until the group is done, even while it is being
 * joined.  If a member already failed or the group is being cancelled, the
 * task is cancelled at once (its function never runs).  Spawning into a
 * finished group is a programming error.
 *
 * The group holds the task while it runs, and lets go of it once it is done
 * (a failed one stays in [method@Coop.TaskGroup.get_failed]): take a
 * reference to use the task after it finished.
 *
 * Not for language bindings (`(skip)`, a task function runs on a fiber):
 * they add a future of their own coroutine with [method@Coop.TaskGroup.add].
 *
 * Returns: (transfer none) (nullable): the task, or %NULL if the group is
 *   finished
 */
CoopTask *
coop_task_group_spawn (CoopTaskGroup  *group,
                       const char     *name,
                       CoopTaskFunc    func,
                       gpointer        user_data,
                       GDestroyNotify  notify)
{
  g_autoptr(GError) error = NULL;
  CoopTask *task;

  g_return_val_if_fail (COOP_IS_TASK_GROUP (group), NULL);
  g_return_val_if_fail (func != NULL, NULL);

  if (!check_open (group, &error))
    {
      g_critical ("coop_task_group_spawn: %s", error->message);
      if (notify != NULL)
        notify (user_data);
      return NULL;
    }

  task = coop_task_new_full (coop_future_get_loop (COOP_FUTURE (group)), name, 0,
                             func, user_data, notify);
  adopt (group, COOP_FUTURE (task));
  g_object_unref (task);   /* the group holds it while it runs */
  return task;
}

/**
 * coop_task_group_add:
 * @group: an open task group
 * @future: a future (usually a task) of the group's loop
 * @error: return location for an error
 *
 * Makes @future a member of @group, as if it had been spawned there.
 *
 * Returns: %TRUE, or %FALSE with %COOP_ERROR_INVALID_STATE if the group is
 *   finished (or @future is the group itself) or %COOP_ERROR_WRONG_LOOP if
 *   @future belongs to another loop
 */
gboolean
coop_task_group_add (CoopTaskGroup  *group,
                     CoopFuture     *future,
                     GError        **error)
{
  g_return_val_if_fail (COOP_IS_TASK_GROUP (group), FALSE);
  g_return_val_if_fail (COOP_IS_FUTURE (future), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (coop_future_get_loop (future) != coop_future_get_loop (COOP_FUTURE (group)))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_WRONG_LOOP,
                           "The future belongs to another loop");
      return FALSE;
    }
  if (future == COOP_FUTURE (group))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                           "A task group cannot be a member of itself");
      return FALSE;
    }
  if (!check_open (group, error))
    return FALSE;
  adopt (group, future);
  return TRUE;
}

/**
 * coop_task_group_close:
 * @group: a task group
 *
 * Closes @group to new members: it finishes once every member is done
 * (at once if none is pending).  Closing twice does nothing.
 */
void
coop_task_group_close (CoopTaskGroup *group)
{
  g_return_if_fail (COOP_IS_TASK_GROUP (group));

  group->closed = TRUE;
  maybe_complete (group);
}

/**
 * coop_task_group_join:
 * @group: a task group
 * @error: return location for the group's error
 *
 * From a C task: closes @group and waits until every member is done.  If
 * the calling task is cancelled meanwhile, the members are cancelled and
 * this returns once they are done.
 *
 * Returns: %TRUE if no member failed; %FALSE with the first member's error
 *   (or `G_IO_ERROR_CANCELLED`, or %COOP_ERROR_NOT_IN_TASK outside a task)
 */
gboolean
coop_task_group_join (CoopTaskGroup  *group,
                      GError        **error)
{
  g_return_val_if_fail (COOP_IS_TASK_GROUP (group), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (coop_task_get_current () == NULL)
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_NOT_IN_TASK,
                           "coop_task_group_join() can only be called from inside a C task");
      return FALSE;
    }
  coop_task_group_close (group);
  return coop_await (COOP_FUTURE (group), error);
}

/**
 * coop_task_group_get_failed:
 * @group: a task group
 *
 * Lists the members that failed, in the order they failed.  The group
 * reports the first one's error; the others are here.
 *
 * Returns: (transfer container) (element-type Coop.Future): the failed
 *   members
 */
GPtrArray *
coop_task_group_get_failed (CoopTaskGroup *group)
{
  GPtrArray *result;
  guint i;

  g_return_val_if_fail (COOP_IS_TASK_GROUP (group), NULL);

  result = g_ptr_array_new_full (group->failed->len, NULL);
  for (i = 0; i < group->failed->len; i++)
    g_ptr_array_add (result, g_ptr_array_index (group->failed, i));
  return result;
}

/**
 * coop_task_group_get_n_pending:
 * @group: a task group
 *
 * Gets the number of members of @group still running.
 *
 * Returns: how many members are not done yet
 */
guint
coop_task_group_get_n_pending (CoopTaskGroup *group)
{
  g_return_val_if_fail (COOP_IS_TASK_GROUP (group), 0);

  return group->n_pending;
}
