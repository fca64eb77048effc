/* coop-datagram.h: UDP endpoints on the loop (asyncio's
 * create_datagram_endpoint).
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

typedef struct _CoopDatagramMessage CoopDatagramMessage;

#define COOP_TYPE_DATAGRAM_MESSAGE (coop_datagram_message_get_type ())
COOP_AVAILABLE_IN_ALL
GType                coop_datagram_message_get_type    (void) G_GNUC_CONST;
COOP_AVAILABLE_IN_ALL
CoopDatagramMessage *coop_datagram_message_ref         (CoopDatagramMessage *message);
COOP_AVAILABLE_IN_ALL
void                 coop_datagram_message_unref       (CoopDatagramMessage *message);
COOP_AVAILABLE_IN_ALL
GBytes              *coop_datagram_message_get_data    (CoopDatagramMessage *message);
COOP_AVAILABLE_IN_ALL
GSocketAddress      *coop_datagram_message_get_address (CoopDatagramMessage *message);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CoopDatagramMessage, coop_datagram_message_unref)

#define COOP_TYPE_DATAGRAM (coop_datagram_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopDatagram, coop_datagram, COOP, DATAGRAM, GObject)

COOP_AVAILABLE_IN_ALL
CoopDatagram        *coop_datagram_new                 (CoopLoop       *loop,
                                                        GSocketAddress *local_address,
                                                        GSocketAddress *remote_address,
                                                        GError        **error);
COOP_AVAILABLE_IN_ALL
CoopFuture          *coop_datagram_receive             (CoopDatagram   *datagram);
COOP_AVAILABLE_IN_ALL
CoopDatagramMessage *coop_datagram_receive_finish      (CoopFuture     *future,
                                                        GError        **error);
COOP_AVAILABLE_IN_ALL
gboolean             coop_datagram_send                (CoopDatagram   *datagram,
                                                        GBytes         *data,
                                                        GSocketAddress *address,
                                                        GError        **error);
COOP_AVAILABLE_IN_ALL
CoopFuture          *coop_datagram_drain               (CoopDatagram   *datagram);
COOP_AVAILABLE_IN_ALL
gsize                coop_datagram_get_write_buffer_size (CoopDatagram *datagram);
COOP_AVAILABLE_IN_ALL
gsize                coop_datagram_get_max_size        (CoopDatagram   *datagram);
COOP_AVAILABLE_IN_ALL
void                 coop_datagram_set_max_size        (CoopDatagram   *datagram,
                                                        gsize           max_size);
COOP_AVAILABLE_IN_ALL
gboolean             coop_datagram_set_broadcast       (CoopDatagram   *datagram,
                                                        gboolean        broadcast,
                                                        GError        **error);
COOP_AVAILABLE_IN_ALL
gboolean             coop_datagram_join_multicast_group  (CoopDatagram *datagram,
                                                          GInetAddress *group,
                                                          const char   *iface,
                                                          GError      **error);
COOP_AVAILABLE_IN_ALL
gboolean             coop_datagram_leave_multicast_group (CoopDatagram *datagram,
                                                          GInetAddress *group,
                                                          const char   *iface,
                                                          GError      **error);
COOP_AVAILABLE_IN_ALL
GSocketAddress      *coop_datagram_get_local_address   (CoopDatagram   *datagram,
                                                        GError        **error);
COOP_AVAILABLE_IN_ALL
GSocketAddress      *coop_datagram_get_remote_address  (CoopDatagram   *datagram,
                                                        GError        **error);
COOP_AVAILABLE_IN_ALL
int                  coop_datagram_get_fd              (CoopDatagram   *datagram);
COOP_AVAILABLE_IN_ALL
void                 coop_datagram_close               (CoopDatagram   *datagram);
COOP_AVAILABLE_IN_ALL
gboolean             coop_datagram_is_closed           (CoopDatagram   *datagram);

G_END_DECLS
