/* coop-future-list-model.h: a GListModel of futures' results, in completion order.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include <gio/gio.h>

#include "coop-future.h"

G_BEGIN_DECLS

#define COOP_TYPE_FUTURE_LIST_MODEL (coop_future_list_model_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopFutureListModel, coop_future_list_model, COOP, FUTURE_LIST_MODEL, GObject)

COOP_AVAILABLE_IN_ALL
CoopFutureListModel *coop_future_list_model_new           (GType                item_type);
COOP_AVAILABLE_IN_ALL
void                 coop_future_list_model_add           (CoopFutureListModel *self,
                                                           CoopFuture          *future);
COOP_AVAILABLE_IN_ALL
guint                coop_future_list_model_get_n_pending (CoopFutureListModel *self);
COOP_AVAILABLE_IN_ALL
guint                coop_future_list_model_get_n_failed  (CoopFutureListModel *self);

G_END_DECLS
