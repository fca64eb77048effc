/* coop-io.h: file-descriptor readiness on the loop.
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
CoopHandle *coop_loop_add_reader     (CoopLoop      *loop,
                                      int            fd,
                                      CoopCallback   callback,
                                      gpointer       user_data,
                                      GDestroyNotify notify);
COOP_AVAILABLE_IN_ALL
gboolean    coop_loop_remove_reader  (CoopLoop      *loop,
                                      int            fd);
COOP_AVAILABLE_IN_ALL
CoopHandle *coop_loop_add_writer     (CoopLoop      *loop,
                                      int            fd,
                                      CoopCallback   callback,
                                      gpointer       user_data,
                                      GDestroyNotify notify);
COOP_AVAILABLE_IN_ALL
gboolean    coop_loop_remove_writer  (CoopLoop      *loop,
                                      int            fd);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_loop_wait_readable  (CoopLoop      *loop,
                                      int            fd);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_loop_wait_writable  (CoopLoop      *loop,
                                      int            fd);
COOP_AVAILABLE_IN_ALL
void        coop_loop_forget_fd      (CoopLoop      *loop,
                                      int            fd);
COOP_AVAILABLE_IN_ALL
guint       coop_loop_get_n_watched_fds (CoopLoop   *loop);
COOP_AVAILABLE_IN_ALL
const char *coop_loop_get_io_backend (CoopLoop      *loop);

G_END_DECLS
