/* coop-tls.h: TLS streams and servers on GIO's TLS backend.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-stream.h"

G_BEGIN_DECLS

COOP_AVAILABLE_IN_ALL
CoopFuture     *coop_stream_open_tls           (CoopLoop           *loop,
                                                const char         *host,
                                                guint16             port,
                                                GTlsDatabase       *database,
                                                const char * const *alpn_protocols);
COOP_AVAILABLE_IN_ALL
CoopFuture     *coop_stream_start_tls          (CoopStream         *stream,
                                                const char         *server_identity,
                                                GTlsDatabase       *database,
                                                const char * const *alpn_protocols);
COOP_AVAILABLE_IN_ALL
GTlsConnection *coop_stream_get_tls_connection (CoopStream         *stream);

COOP_AVAILABLE_IN_ALL
void            coop_server_set_tls            (CoopServer         *server,
                                                GTlsCertificate    *certificate,
                                                const char * const *alpn_protocols,
                                                gint64              handshake_timeout_usec);

G_END_DECLS
