/* coop-crossloop.h: futures and tasks across loops on different threads.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-task.h"

G_BEGIN_DECLS

COOP_AVAILABLE_IN_ALL
CoopFuture *coop_future_wrap              (CoopFuture     *future,
                                           CoopLoop       *loop);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_loop_run_task_threadsafe (CoopLoop       *loop,
                                           CoopLoop       *home,
                                           const char     *name,
                                           CoopTaskFunc    func,
                                           gpointer        user_data,
                                           GDestroyNotify  notify);

G_END_DECLS
