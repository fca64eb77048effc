/* coop-loop-pool.h: a pool of loops, each on a thread of its own.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-task.h"

G_BEGIN_DECLS

#define COOP_TYPE_LOOP_POOL (coop_loop_pool_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopLoopPool, coop_loop_pool, COOP, LOOP_POOL, GObject)

COOP_AVAILABLE_IN_ALL
CoopLoopPool *coop_loop_pool_new         (guint           n_loops);
COOP_AVAILABLE_IN_ALL
guint         coop_loop_pool_get_n_loops (CoopLoopPool   *pool);
COOP_AVAILABLE_IN_ALL
CoopLoop     *coop_loop_pool_get_loop    (CoopLoopPool   *pool,
                                          guint           index);
COOP_AVAILABLE_IN_ALL
guint         coop_loop_pool_get_load    (CoopLoopPool   *pool,
                                          guint           index);
COOP_AVAILABLE_IN_ALL
CoopFuture   *coop_loop_pool_spawn       (CoopLoopPool   *pool,
                                          CoopLoop       *home,
                                          const char     *name,
                                          CoopTaskFunc    func,
                                          gpointer        user_data,
                                          GDestroyNotify  notify);
COOP_AVAILABLE_IN_ALL
gboolean      coop_loop_pool_shutdown    (CoopLoopPool   *pool,
                                          gint64          timeout_usec,
                                          GError        **error);

G_END_DECLS
