/* coop-task-group.h: structured concurrency (asyncio's TaskGroup).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-task.h"

G_BEGIN_DECLS

#define COOP_TYPE_TASK_GROUP (coop_task_group_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopTaskGroup, coop_task_group, COOP, TASK_GROUP, CoopFuture)

COOP_AVAILABLE_IN_ALL
CoopTaskGroup *coop_task_group_new        (CoopLoop      *loop);
COOP_AVAILABLE_IN_ALL
CoopTask      *coop_task_group_spawn      (CoopTaskGroup *group,
                                           const char    *name,
                                           CoopTaskFunc   func,
                                           gpointer       user_data,
                                           GDestroyNotify notify);
COOP_AVAILABLE_IN_ALL
gboolean       coop_task_group_add        (CoopTaskGroup *group,
                                           CoopFuture    *future,
                                           GError       **error);
COOP_AVAILABLE_IN_ALL
void           coop_task_group_close      (CoopTaskGroup *group);
COOP_AVAILABLE_IN_ALL
gboolean       coop_task_group_join       (CoopTaskGroup *group,
                                           GError       **error);
COOP_AVAILABLE_IN_ALL
GPtrArray     *coop_task_group_get_failed (CoopTaskGroup *group);
COOP_AVAILABLE_IN_ALL
guint          coop_task_group_get_n_pending (CoopTaskGroup *group);

G_END_DECLS
