/* coop-connect.h: awaitable name resolution, and TCP connections with
 * happy eyeballs (RFC 8305) and a timeout.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include <gio/gio.h>

#include "coop-task.h"

G_BEGIN_DECLS

COOP_AVAILABLE_IN_ALL
CoopFuture *coop_resolve                (CoopLoop    *loop,
                                         GResolver   *resolver,
                                         const char  *host);
COOP_AVAILABLE_IN_ALL
GPtrArray  *coop_resolve_finish         (CoopFuture  *future,
                                         GError     **error);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_stream_open_tcp_full   (CoopLoop    *loop,
                                         const char  *host,
                                         guint16      port,
                                         gint64       happy_eyeballs_delay,
                                         gint64       timeout);

G_END_DECLS
