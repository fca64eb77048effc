/* coop-combinators.h: sleep, gather, wait, wait_for, shield.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-future.h"

G_BEGIN_DECLS

COOP_AVAILABLE_IN_ALL
CoopFuture *coop_sleep    (CoopLoop     *loop,
                           gint64        delay_usec);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_gather   (CoopLoop     *loop,
                           CoopFuture  **futures,
                           guint         n_futures,
                           gboolean      wait_all);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_wait     (CoopLoop     *loop,
                           CoopFuture  **futures,
                           guint         n_futures,
                           CoopWaitMode  mode);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_wait_for (CoopFuture   *future,
                           gint64        timeout_usec);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_shield   (CoopFuture   *future);

#define COOP_TYPE_AS_COMPLETED (coop_as_completed_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopAsCompleted, coop_as_completed, COOP, AS_COMPLETED, GObject)

COOP_AVAILABLE_IN_ALL
CoopAsCompleted *coop_as_completed_new       (CoopLoop        *loop,
                                              CoopFuture     **futures,
                                              guint            n_futures);
COOP_AVAILABLE_IN_ALL
CoopFuture      *coop_as_completed_next      (CoopAsCompleted *self);
COOP_AVAILABLE_IN_ALL
guint            coop_as_completed_get_n_left (CoopAsCompleted *self);

G_END_DECLS
