/* coop-threadpool.h: blocking functions on a thread pool, awaited on the loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-task.h"

G_BEGIN_DECLS

/**
 * CoopThreadFunc:
 * @user_data: (closure): the data given to [method@Coop.Loop.run_in_thread]
 * @cancellable: cancelled when the future is cancelled: check it now and
 *   then, or pass it to the blocking calls made here, to stop early
 * @result: (out caller-allocates): an unset #GValue: initialise it with
 *   g_value_init() and set it to give the future a value; leave it unset
 *   for no value
 * @error: return location for the error, if the function fails
 *
 * A blocking function run on a worker thread by
 * [method@Coop.Loop.run_in_thread].  It must not touch the loop, its
 * futures or its tasks: the loop belongs to another thread.
 *
 * Returns: %TRUE on success, %FALSE with @error set on failure
 */
typedef gboolean (*CoopThreadFunc) (gpointer       user_data,
                                    GCancellable  *cancellable,
                                    GValue        *result,
                                    GError       **error);

COOP_AVAILABLE_IN_ALL
CoopFuture *coop_loop_run_in_thread   (CoopLoop       *loop,
                                       CoopThreadFunc  func,
                                       gpointer        user_data,
                                       GDestroyNotify  notify);
COOP_AVAILABLE_IN_ALL
void        coop_loop_set_max_threads (CoopLoop       *loop,
                                       guint           max_threads);
COOP_AVAILABLE_IN_ALL
guint       coop_loop_get_max_threads (CoopLoop       *loop);

G_END_DECLS
