/* coop-dbus.h: D-Bus calls as futures, D-Bus methods served by tasks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-task.h"

G_BEGIN_DECLS

/* --- awaitable GDBusConnection calls (coop-dbus-call.c) --- */

COOP_AVAILABLE_IN_ALL
CoopFuture      *coop_bus_get                                (CoopLoop             *loop,
                                                              GBusType              bus_type);
COOP_AVAILABLE_IN_ALL
GDBusConnection *coop_bus_get_finish                         (CoopFuture           *future,
                                                              GError              **error);
COOP_AVAILABLE_IN_ALL
CoopFuture      *coop_dbus_connection_new_for_address        (CoopLoop             *loop,
                                                              const char           *address,
                                                              GDBusConnectionFlags  flags,
                                                              GDBusAuthObserver    *observer);
COOP_AVAILABLE_IN_ALL
GDBusConnection *coop_dbus_connection_new_for_address_finish (CoopFuture           *future,
                                                              GError              **error);
COOP_AVAILABLE_IN_ALL
CoopFuture      *coop_dbus_connection_call                   (CoopLoop             *loop,
                                                              GDBusConnection      *connection,
                                                              const char           *bus_name,
                                                              const char           *object_path,
                                                              const char           *interface_name,
                                                              const char           *method_name,
                                                              GVariant             *parameters,
                                                              const GVariantType   *reply_type,
                                                              GDBusCallFlags        flags,
                                                              int                   timeout_msec);
COOP_AVAILABLE_IN_ALL
GVariant        *coop_dbus_connection_call_finish            (CoopFuture           *future,
                                                              GError              **error);
COOP_AVAILABLE_IN_ALL
CoopFuture      *coop_dbus_connection_call_with_unix_fd_list (CoopLoop             *loop,
                                                              GDBusConnection      *connection,
                                                              const char           *bus_name,
                                                              const char           *object_path,
                                                              const char           *interface_name,
                                                              const char           *method_name,
                                                              GVariant             *parameters,
                                                              const GVariantType   *reply_type,
                                                              GDBusCallFlags        flags,
                                                              int                   timeout_msec,
                                                              GUnixFDList          *fd_list);
COOP_AVAILABLE_IN_ALL
GVariant        *coop_dbus_connection_call_with_unix_fd_list_finish (CoopFuture    *future,
                                                                     GUnixFDList  **out_fd_list,
                                                                     GError       **error);
COOP_AVAILABLE_IN_ALL
CoopFuture      *coop_dbus_connection_send_message_with_reply (CoopLoop             *loop,
                                                               GDBusConnection      *connection,
                                                               GDBusMessage         *message,
                                                               GDBusSendMessageFlags flags,
                                                               int                   timeout_msec);
COOP_AVAILABLE_IN_ALL
GDBusMessage    *coop_dbus_connection_send_message_with_reply_finish (CoopFuture    *future,
                                                                      GError       **error);
COOP_AVAILABLE_IN_ALL
CoopFuture      *coop_dbus_connection_flush                  (CoopLoop             *loop,
                                                              GDBusConnection      *connection);
COOP_AVAILABLE_IN_ALL
CoopFuture      *coop_dbus_connection_close                  (CoopLoop             *loop,
                                                              GDBusConnection      *connection);

/* --- bus names (coop-dbus-name.c) --- */

COOP_AVAILABLE_IN_ALL
CoopFuture      *coop_bus_own_name                           (CoopLoop             *loop,
                                                              GDBusConnection      *connection,
                                                              const char           *name,
                                                              GBusNameOwnerFlags    flags);
COOP_AVAILABLE_IN_ALL
guint            coop_bus_own_name_finish                    (CoopFuture           *future,
                                                              GError              **error);
COOP_AVAILABLE_IN_ALL
CoopFuture      *coop_bus_wait_name_lost                     (CoopLoop             *loop,
                                                              guint                 owner_id);
COOP_AVAILABLE_IN_ALL
void             coop_bus_unown_name                         (guint                 owner_id);
COOP_AVAILABLE_IN_ALL
CoopFuture      *coop_bus_watch_name                         (CoopLoop             *loop,
                                                              GDBusConnection      *connection,
                                                              const char           *name,
                                                              GBusNameWatcherFlags  flags);
COOP_AVAILABLE_IN_ALL
char            *coop_bus_watch_name_finish                  (CoopFuture           *future,
                                                              GError              **error);

/* --- objects served by tasks (coop-dbus-export.c) --- */

#define COOP_TYPE_DBUS_EXPORT (coop_dbus_export_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopDBusExport, coop_dbus_export, COOP, DBUS_EXPORT, GObject)

/**
 * CoopDBusMethodFunc:
 * @invocation: the call: its sender, its message (with the #GUnixFDList
 *   of any file descriptors that came with it), its method info
 * @parameters: the call's arguments, a tuple of the method's in-arguments
 * @user_data: (closure): the data given to [method@Coop.DBusExport.add_method]
 * @error: return location for the error to reply with
 *
 * The body of a D-Bus method served by [class@Coop.DBusExport].  It runs
 * as a task of its own (one per call), so it may await: other calls are
 * served meanwhile.  It is cancelled when the caller leaves the bus, the
 * connection closes or the object is unexported.
 *
 * Returns: (transfer full) (nullable): the reply, a tuple of the method's
 *   out-arguments (a floating reference is sunk); %NULL with no error is
 *   the empty reply `()`; %NULL with @error set replies with that error
 */
typedef GVariant *(*CoopDBusMethodFunc) (GDBusMethodInvocation  *invocation,
                                         GVariant               *parameters,
                                         gpointer                user_data,
                                         GError                **error);

COOP_AVAILABLE_IN_ALL
CoopDBusExport  *coop_dbus_export_new                (CoopLoop           *loop,
                                                      GDBusConnection    *connection,
                                                      const char         *object_path,
                                                      GDBusInterfaceInfo *interface_info);
COOP_AVAILABLE_IN_ALL
CoopDBusExport  *coop_dbus_export_new_for_xml        (CoopLoop           *loop,
                                                      GDBusConnection    *connection,
                                                      const char         *object_path,
                                                      const char         *xml,
                                                      const char         *interface_name,
                                                      GError            **error);
COOP_AVAILABLE_IN_ALL
void             coop_dbus_export_add_method         (CoopDBusExport     *self,
                                                      const char         *method_name,
                                                      CoopDBusMethodFunc  func,
                                                      gpointer            user_data,
                                                      GDestroyNotify      notify);
COOP_AVAILABLE_IN_ALL
gboolean         coop_dbus_export_register           (CoopDBusExport     *self,
                                                      GError            **error);
COOP_AVAILABLE_IN_ALL
void             coop_dbus_export_unregister         (CoopDBusExport     *self);
COOP_AVAILABLE_IN_ALL
gboolean         coop_dbus_export_is_registered      (CoopDBusExport     *self);
COOP_AVAILABLE_IN_ALL
guint            coop_dbus_export_get_n_calls        (CoopDBusExport     *self);
COOP_AVAILABLE_IN_ALL
GDBusConnection *coop_dbus_export_get_connection     (CoopDBusExport     *self);
COOP_AVAILABLE_IN_ALL
const char      *coop_dbus_export_get_object_path    (CoopDBusExport     *self);
COOP_AVAILABLE_IN_ALL
GDBusInterfaceInfo *coop_dbus_export_get_interface_info (CoopDBusExport  *self);
COOP_AVAILABLE_IN_ALL
gboolean         coop_dbus_export_set_property       (CoopDBusExport     *self,
                                                      const char         *property_name,
                                                      GVariant           *value,
                                                      GError            **error);
COOP_AVAILABLE_IN_ALL
GVariant        *coop_dbus_export_get_property       (CoopDBusExport     *self,
                                                      const char         *property_name);
COOP_AVAILABLE_IN_ALL
gboolean         coop_dbus_export_emit_signal        (CoopDBusExport     *self,
                                                      const char         *signal_name,
                                                      GVariant           *parameters,
                                                      GError            **error);
COOP_AVAILABLE_IN_ALL
void             coop_dbus_method_set_reply_fd_list  (GDBusMethodInvocation *invocation,
                                                      GUnixFDList           *fd_list);

G_END_DECLS
