/* coop-gio-net.c: GSocketClient, GSocketListener, GResolver and
 * GAsyncInitable calls as futures.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-gio-private.h"

/* See coop-gio-file.c for how a wrapper is made. */

#define CHECK_COMMON(loop, cancellable)                                                   \
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);                                       \
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL)

/**
 * coop_socket_client_connect:
 * @loop: the loop of the future
 * @client: a socket client, with the options of the connection
 * @connectable: where to connect, a #GNetworkAddress or a
 *   #GInetSocketAddress for example
 * @cancellable: (nullable): cancels the future (and the connection)
 *
 * Connects to @connectable, as g_socket_client_connect_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with a
 *   #GSocketConnection ([method@Coop.Future.get_socket_connection]), or
 *   fails with GIO's error
 */
CoopFuture *
coop_socket_client_connect (CoopLoop           *loop,
                            GSocketClient      *client,
                            GSocketConnectable *connectable,
                            GCancellable       *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_SOCKET_CLIENT (client), NULL);
  g_return_val_if_fail (G_IS_SOCKET_CONNECTABLE (connectable), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_SOCKET_CONNECTION,
                        G_CALLBACK (g_socket_client_connect_finish));
  g_socket_client_connect_async (client, connectable, coop_gio_op_cancellable (op),
                                 coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_socket_client_connect_to_host:
 * @loop: the loop of the future
 * @client: a socket client, with the options of the connection
 * @host_and_port: the host, with or without a port (`"example.com:80"`)
 * @default_port: the port when @host_and_port has none
 * @cancellable: (nullable): cancels the future (and the connection)
 *
 * Resolves a host name and connects to it, as
 * g_socket_client_connect_to_host_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with a
 *   #GSocketConnection ([method@Coop.Future.get_socket_connection]), or
 *   fails with GIO's error
 */
CoopFuture *
coop_socket_client_connect_to_host (CoopLoop      *loop,
                                    GSocketClient *client,
                                    const char    *host_and_port,
                                    guint16        default_port,
                                    GCancellable  *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_SOCKET_CLIENT (client), NULL);
  g_return_val_if_fail (host_and_port != NULL, NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_SOCKET_CONNECTION,
                        G_CALLBACK (g_socket_client_connect_to_host_finish));
  g_socket_client_connect_to_host_async (client, host_and_port, default_port,
                                         coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

static gboolean
accept_finish (GObject       *source,
               GAsyncResult  *result,
               gpointer       data,
               GValue        *value,
               GError       **error)
{
  GSocketConnection *connection;

  connection = g_socket_listener_accept_finish (G_SOCKET_LISTENER (source), result, NULL, error);
  if (connection == NULL)
    return FALSE;
  g_value_init (value, G_TYPE_SOCKET_CONNECTION);
  g_value_take_object (value, connection);
  return TRUE;
}

/**
 * coop_socket_listener_accept:
 * @loop: the loop of the future
 * @listener: a listener, with at least one address or socket added
 * @cancellable: (nullable): cancels the future (and the accept)
 *
 * Waits for the next connection, as g_socket_listener_accept_async()
 * does.  (The source object that a listener can attach to each of its
 * sockets is not returned: with several sockets, ask the connection for
 * its local address.)  See [func@Coop.file_load_contents] for how the GIO
 * wrappers work.
 *
 * Returns: (transfer full): a future that finishes with a
 *   #GSocketConnection ([method@Coop.Future.get_socket_connection]), or
 *   fails with GIO's error
 */
CoopFuture *
coop_socket_listener_accept (CoopLoop        *loop,
                             GSocketListener *listener,
                             GCancellable    *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_SOCKET_LISTENER (listener), NULL);

  op = coop_gio_op_new_hook (loop, cancellable, accept_finish, NULL, NULL);
  g_socket_listener_accept_async (listener, coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

static gboolean
lookup_by_name_finish (GObject       *source,
                       GAsyncResult  *result,
                       gpointer       data,
                       GValue        *value,
                       GError       **error)
{
  GList *addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, error);
  GPtrArray *array;

  if (addresses == NULL)
    return FALSE;
  array = g_ptr_array_new_with_free_func (g_object_unref);
  for (GList *l = addresses; l != NULL; l = l->next)
    g_ptr_array_add (array, l->data);   /* the list's reference */
  g_list_free (addresses);
  g_value_init (value, G_TYPE_PTR_ARRAY);
  g_value_take_boxed (value, array);
  return TRUE;
}

/**
 * coop_resolver_lookup_by_name:
 * @loop: the loop of the future
 * @resolver: a resolver, g_resolver_get_default() as a rule
 * @hostname: the host name (or an IP address literal)
 * @cancellable: (nullable): cancels the future (and the lookup)
 *
 * Finds the addresses of @hostname, as g_resolver_lookup_by_name_async()
 * does.  See [func@Coop.file_load_contents] for how the GIO wrappers work,
 * and [func@Coop.resolve] for the lookup that [func@Coop.Stream.open_tcp]
 * uses.
 *
 * Returns: (transfer full): a future that finishes with a #GPtrArray of
 *   #GInetAddress, never empty ([method@Coop.Future.get_inet_addresses]),
 *   or fails with GIO's error (%G_RESOLVER_ERROR_NOT_FOUND...)
 */
CoopFuture *
coop_resolver_lookup_by_name (CoopLoop     *loop,
                              GResolver    *resolver,
                              const char   *hostname,
                              GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_RESOLVER (resolver), NULL);
  g_return_val_if_fail (hostname != NULL, NULL);

  op = coop_gio_op_new_hook (loop, cancellable, lookup_by_name_finish, NULL, NULL);
  g_resolver_lookup_by_name_async (resolver, hostname, coop_gio_op_cancellable (op),
                                   coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_resolver_lookup_by_address:
 * @loop: the loop of the future
 * @resolver: a resolver, g_resolver_get_default() as a rule
 * @address: the address to look up
 * @cancellable: (nullable): cancels the future (and the lookup)
 *
 * Finds the host name of @address, as
 * g_resolver_lookup_by_address_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with the host name, a
 *   string ([method@Coop.Future.get_string]), or fails with GIO's error
 */
CoopFuture *
coop_resolver_lookup_by_address (CoopLoop     *loop,
                                 GResolver    *resolver,
                                 GInetAddress *address,
                                 GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_RESOLVER (resolver), NULL);
  g_return_val_if_fail (G_IS_INET_ADDRESS (address), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_STRING, G_CALLBACK (g_resolver_lookup_by_address_finish));
  g_resolver_lookup_by_address_async (resolver, address, coop_gio_op_cancellable (op),
                                      coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

static gboolean
lookup_records_finish (GObject       *source,
                       GAsyncResult  *result,
                       gpointer       data,
                       GValue        *value,
                       GError       **error)
{
  GList *records = g_resolver_lookup_records_finish (G_RESOLVER (source), result, error);
  GVariantBuilder builder;

  if (records == NULL)
    return FALSE;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("av"));
  for (GList *l = records; l != NULL; l = l->next)
    g_variant_builder_add (&builder, "v", l->data);
  g_list_free_full (records, (GDestroyNotify) g_variant_unref);
  g_value_init (value, G_TYPE_VARIANT);
  g_value_take_variant (value, g_variant_ref_sink (g_variant_builder_end (&builder)));
  return TRUE;
}

/**
 * coop_resolver_lookup_records:
 * @loop: the loop of the future
 * @resolver: a resolver, g_resolver_get_default() as a rule
 * @rrname: the DNS name to look up
 * @record_type: the type of record
 * @cancellable: (nullable): cancels the future (and the lookup)
 *
 * Looks up DNS records, as g_resolver_lookup_records_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with the records, a
 *   #GVariant of type `av` ([method@Coop.Future.get_records]), or fails
 *   with GIO's error
 */
CoopFuture *
coop_resolver_lookup_records (CoopLoop            *loop,
                              GResolver           *resolver,
                              const char          *rrname,
                              GResolverRecordType  record_type,
                              GCancellable        *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_RESOLVER (resolver), NULL);
  g_return_val_if_fail (rrname != NULL, NULL);

  op = coop_gio_op_new_hook (loop, cancellable, lookup_records_finish, NULL, NULL);
  g_resolver_lookup_records_async (resolver, rrname, record_type, coop_gio_op_cancellable (op),
                                   coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_async_initable_init:
 * @loop: the loop of the future
 * @initable: an object to initialize, not initialized yet
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the initialization)
 *
 * Initializes @initable, as g_async_initable_init_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with %TRUE, or fails
 *   with the initialization's error
 */
CoopFuture *
coop_async_initable_init (CoopLoop       *loop,
                          GAsyncInitable *initable,
                          int             io_priority,
                          GCancellable   *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_ASYNC_INITABLE (initable), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_BOOLEAN, G_CALLBACK (g_async_initable_init_finish));
  g_async_initable_init_async (initable, io_priority, coop_gio_op_cancellable (op),
                               coop_async_future_callback, op);
  return coop_gio_op_started (op);
}
