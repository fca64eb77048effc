/* coop-condition.h: a condition variable for tasks, bound to a lock.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-sync.h"

G_BEGIN_DECLS

/**
 * CoopPredicate:
 * @user_data: (closure): the data given with the predicate
 *
 * A test that [method@Coop.Condition.wait_for] evaluates, with the
 * condition's lock held.
 *
 * Returns: whether the awaited state has been reached
 */
typedef gboolean (*CoopPredicate) (gpointer user_data);

#define COOP_TYPE_CONDITION (coop_condition_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopCondition, coop_condition, COOP, CONDITION, GObject)

COOP_AVAILABLE_IN_ALL
CoopCondition *coop_condition_new        (CoopLoop      *loop,
                                          CoopLock      *lock);
COOP_AVAILABLE_IN_ALL
CoopLock      *coop_condition_get_lock   (CoopCondition *condition);
COOP_AVAILABLE_IN_ALL
CoopFuture    *coop_condition_wait       (CoopCondition *condition);
COOP_AVAILABLE_IN_ALL
CoopFuture    *coop_condition_wait_for   (CoopCondition *condition,
                                          CoopPredicate  predicate,
                                          gpointer       user_data,
                                          GDestroyNotify notify);
COOP_AVAILABLE_IN_ALL
void           coop_condition_notify     (CoopCondition *condition,
                                          guint          n);
COOP_AVAILABLE_IN_ALL
void           coop_condition_notify_all (CoopCondition *condition);

G_END_DECLS
