/* coop-dense-task.h: stackless tasks, for programs with a million of them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(COOP_INSIDE) && !defined(COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-future.h"

G_BEGIN_DECLS

#define COOP_TYPE_DENSE_TASK (coop_dense_task_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopDenseTask, coop_dense_task, COOP, DENSE_TASK, CoopFuture)

/**
 * CoopDenseFunc:
 * @task: the dense task being stepped
 * @completed: (nullable): the future the previous step returned, now done
 *   (%NULL on the first step); borrowed, valid during the call
 * @user_data: (closure): the data given to [ctor@Coop.DenseTask.new]
 *
 * One step of a dense task: runs until the task must wait, and returns
 * what it waits for.  Locals that must survive a wait live in @user_data
 * (the task's state struct), never on the C stack.
 *
 * To finish, set the task's result with a `coop_future_set_*()` setter on
 * `COOP_FUTURE (task)` (or none) and return %NULL.
 *
 * Returns: (transfer full) (nullable): the future to wait for before the
 *   next step, or %NULL when the task is done
 */
typedef CoopFuture *(*CoopDenseFunc) (CoopDenseTask *task,
                                      CoopFuture    *completed,
                                      gpointer       user_data);

COOP_AVAILABLE_IN_ALL
CoopDenseTask *coop_dense_task_new            (CoopLoop       *loop,
                                               CoopDenseFunc   func,
                                               gpointer        user_data,
                                               GDestroyNotify  notify);
COOP_AVAILABLE_IN_ALL
gboolean       coop_dense_task_is_cancelling  (CoopDenseTask  *task);
COOP_AVAILABLE_IN_ALL
CoopFuture    *coop_dense_task_get_awaiting   (CoopDenseTask  *task);

G_END_DECLS
