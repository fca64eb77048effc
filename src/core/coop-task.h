/* coop-task.h: a C function running as a coroutine on the loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-future.h"

G_BEGIN_DECLS

#define COOP_TYPE_TASK (coop_task_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopTask, coop_task, COOP, TASK, CoopFuture)

COOP_AVAILABLE_IN_ALL
CoopTask   *coop_task_new            (CoopLoop      *loop,
                                      CoopTaskFunc   func,
                                      gpointer       user_data,
                                      GDestroyNotify notify);
COOP_AVAILABLE_IN_ALL
CoopTask   *coop_task_new_full       (CoopLoop      *loop,
                                      const char    *name,
                                      gsize          stack_size,
                                      CoopTaskFunc   func,
                                      gpointer       user_data,
                                      GDestroyNotify notify);
COOP_AVAILABLE_IN_ALL
CoopTask   *coop_task_get_current    (void);
COOP_AVAILABLE_IN_ALL
gboolean    coop_task_cancel         (CoopTask      *task,
                                      const char    *message);
COOP_AVAILABLE_IN_ALL
void        coop_task_set_name       (CoopTask      *task,
                                      const char    *name);
COOP_AVAILABLE_IN_ALL
const char *coop_task_get_name       (CoopTask      *task);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_task_get_awaiting   (CoopTask      *task);
COOP_AVAILABLE_IN_ALL
gboolean    coop_task_is_cancelling  (CoopTask      *task);
COOP_AVAILABLE_IN_ALL
guint64     coop_task_get_id         (CoopTask      *task);
COOP_AVAILABLE_IN_ALL
CoopTask   *coop_task_get_parent     (CoopTask      *task);
COOP_AVAILABLE_IN_ALL
gint64      coop_task_get_creation_time (CoopTask   *task);
COOP_AVAILABLE_IN_ALL
void        coop_task_detach         (CoopTask      *task);
COOP_AVAILABLE_IN_ALL
char       *coop_task_dump_backtrace (CoopTask      *task);

COOP_AVAILABLE_IN_ALL
gboolean    coop_await               (CoopFuture    *future,
                                      GError       **error);
COOP_AVAILABLE_IN_ALL
gboolean    coop_yield               (GError       **error);

G_END_DECLS
