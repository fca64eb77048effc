/* coop-dbus-call.c: GDBusConnection's asynchronous calls as futures.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <gio/gunixfdlist.h>

#include "coop-private.h"
#include "coop-dbus-private.h"

/* --- one GIO call behind a future -------------------------------------------------
 *
 * Every wrapper here starts one `_async` call with the callback below and
 * a cancellable of its own, and returns a plain future.  The future's
 * waiter carries its cancellation to the call: cancelling the future ends
 * it at once (asyncio's way: a cancelled future is done) and cancels the
 * call; when GIO's callback comes later, its `_finish` still runs, to
 * release whatever arrived, and the result is dropped.  GIO calls back in
 * the thread-default context of the `_async` call: the loop's context is
 * pushed around it if needed (coop_loop_push_context()). */

struct _CoopDBusOp
{
  CoopFuture       *future;
  CoopWaiter        waiter;
  GCancellable     *cancellable;
  CoopDBusOpFinish  finish;
  gboolean          finished;
};

static void
op_waiter_done (CoopWaiter *waiter,
                CoopFuture *future)
{
  CoopDBusOp *op = waiter->data;

  if (op->finished)
    return;
  op->finished = TRUE;
  /* GDBus only queues its reaction to this. */
  g_cancellable_cancel (op->cancellable);
}

CoopDBusOp *
coop_dbus_op_begin (CoopLoop          *loop,
                    const char        *what,
                    CoopDBusOpFinish   finish,
                    CoopFuture       **out_future,
                    GMainContext     **pushed)
{
  CoopDBusOp *op;
  GError *error = NULL;
  CoopFuture *future = coop_future_new (loop);

  *out_future = future;
  *pushed = NULL;
  if (!coop_loop_check_usable (loop, &error) ||
      !coop_loop_push_context (loop, what, pushed, &error))
    {
      coop_future_take_error (future, error);
      return NULL;
    }
  op = g_new0 (CoopDBusOp, 1);
  op->future = g_object_ref (future);
  op->cancellable = g_cancellable_new ();
  op->finish = finish;
  op->waiter.func = op_waiter_done;
  op->waiter.data = op;
  coop_future_add_waiter (future, &op->waiter);
  return op;
}

void
coop_dbus_op_end (GMainContext *pushed)
{
  if (pushed != NULL)
    g_main_context_pop_thread_default (pushed);
}

/* The GAsyncReadyCallback of every call: user data is the op. */
void
coop_dbus_op_callback (GObject      *source,
                       GAsyncResult *result,
                       gpointer      data)
{
  CoopDBusOp *op = data;

  if (!op->finished)
    {
      op->finished = TRUE;
      coop_future_remove_waiter (op->future, &op->waiter);
      op->finish (source, result, op->future);
    }
  else
    op->finish (source, result, NULL);   /* cancelled: release the result */
  g_object_unref (op->future);
  g_object_unref (op->cancellable);
  g_free (op);
}

/* The value of a finished future of one of these calls, checked. */
static const GValue *
op_value (CoopFuture  *future,
          GType        type,
          const char  *what,
          GError     **error)
{
  const GValue *value = coop_future_get_value (future, error);

  if (value == NULL)
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT, "The future's result is not %s", what);
      return NULL;
    }
  if (!G_VALUE_HOLDS (value, type))
    {
      g_set_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT, "The future's result is not %s", what);
      return NULL;
    }
  return value;
}

/* --- connections ------------------------------------------------------------------- */

static void
connection_finish (GObject      *source,
                   GAsyncResult *result,
                   CoopFuture   *future,
                   GDBusConnection *(*finish) (GAsyncResult *, GError **))
{
  GError *error = NULL;
  GDBusConnection *connection = finish (result, &error);

  if (future == NULL)
    ;
  else if (connection != NULL)
    coop_future_set_object (future, G_OBJECT (connection));
  else
    coop_future_take_error (future, g_steal_pointer (&error));
  g_clear_error (&error);
  g_clear_object (&connection);
}

static void
bus_get_finish (GObject      *source,
                GAsyncResult *result,
                CoopFuture   *future)
{
  connection_finish (source, result, future, g_bus_get_finish);
}

/**
 * coop_bus_get:
 * @loop: the loop
 * @bus_type: the bus: %G_BUS_TYPE_SESSION or %G_BUS_TYPE_SYSTEM
 *
 * Connects to a message bus, as g_bus_get(): the future finishes with the
 * shared #GDBusConnection of that bus (read it with
 * [func@Coop.bus_get_finish]).  Cancelling the future cancels the call.
 * Call this on the loop's thread.  For a private bus, or any address, see
 * [func@Coop.dbus_connection_new_for_address].
 *
 * Returns: (transfer full): a future for the connection
 */
CoopFuture *
coop_bus_get (CoopLoop *loop,
              GBusType  bus_type)
{
  CoopFuture *future;
  GMainContext *pushed;
  CoopDBusOp *op;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  op = coop_dbus_op_begin (loop, "A bus connection", bus_get_finish, &future, &pushed);
  if (op == NULL)
    return future;
  g_bus_get (bus_type, op->cancellable, coop_dbus_op_callback, op);
  coop_dbus_op_end (pushed);
  return future;
}

static GDBusConnection *
connection_result (CoopFuture  *future,
                   GError     **error)
{
  const GValue *value = op_value (future, G_TYPE_DBUS_CONNECTION, "a D-Bus connection", error);

  return value != NULL ? g_value_dup_object (value) : NULL;
}

/**
 * coop_bus_get_finish:
 * @future: a finished future of [func@Coop.bus_get]
 * @error: return location for an error
 *
 * Gets the connection [func@Coop.bus_get] made.
 *
 * Returns: (transfer full) (nullable): the connection, or %NULL with
 *   @error set (the call failed, is not done, or @future is not one of
 *   these: `COOP_ERROR_NO_RESULT`)
 */
GDBusConnection *
coop_bus_get_finish (CoopFuture  *future,
                     GError     **error)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return connection_result (future, error);
}

static void
new_for_address_finish (GObject      *source,
                        GAsyncResult *result,
                        CoopFuture   *future)
{
  connection_finish (source, result, future, g_dbus_connection_new_for_address_finish);
}

/**
 * coop_dbus_connection_new_for_address:
 * @loop: the loop
 * @address: a D-Bus address, such as the one a private `dbus-daemon`
 *   prints
 * @flags: how to connect: %G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
 *   and %G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION for a message bus
 * @observer: (nullable): a #GDBusAuthObserver
 *
 * Connects to @address, as g_dbus_connection_new_for_address(): the
 * future finishes with a new connection of its own (read it with
 * [func@Coop.dbus_connection_new_for_address_finish]).  Cancelling the
 * future cancels the call.  Call this on the loop's thread: the
 * connection's signals ([signal@Gio.DBusConnection::closed]) are then
 * delivered on the loop's context.
 *
 * Returns: (transfer full): a future for the connection
 */
CoopFuture *
coop_dbus_connection_new_for_address (CoopLoop             *loop,
                                      const char           *address,
                                      GDBusConnectionFlags  flags,
                                      GDBusAuthObserver    *observer)
{
  CoopFuture *future;
  GMainContext *pushed;
  CoopDBusOp *op;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (address != NULL, NULL);
  g_return_val_if_fail (observer == NULL || G_IS_DBUS_AUTH_OBSERVER (observer), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  op = coop_dbus_op_begin (loop, "A D-Bus connection", new_for_address_finish, &future, &pushed);
  if (op == NULL)
    return future;
  g_dbus_connection_new_for_address (address, flags, observer, op->cancellable,
                                     coop_dbus_op_callback, op);
  coop_dbus_op_end (pushed);
  return future;
}

/**
 * coop_dbus_connection_new_for_address_finish:
 * @future: a finished future of [func@Coop.dbus_connection_new_for_address]
 * @error: return location for an error
 *
 * Gets the connection [func@Coop.dbus_connection_new_for_address] made.
 *
 * Returns: (transfer full) (nullable): the connection, or %NULL with
 *   @error set (the connection failed, is not done, or @future is not one
 *   of these: `COOP_ERROR_NO_RESULT`)
 */
GDBusConnection *
coop_dbus_connection_new_for_address_finish (CoopFuture  *future,
                                             GError     **error)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return connection_result (future, error);
}

/* --- method calls ------------------------------------------------------------------ */

static void
set_variant (CoopFuture *future,
             GVariant   *variant)
{
  GValue value = G_VALUE_INIT;

  g_value_init (&value, G_TYPE_VARIANT);
  g_value_take_variant (&value, variant);
  coop_future_set_value (future, &value);
  g_value_unset (&value);
}

static void
call_finish (GObject      *source,
             GAsyncResult *result,
             CoopFuture   *future)
{
  GError *error = NULL;
  GVariant *reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);

  if (future == NULL)
    g_clear_pointer (&reply, g_variant_unref);
  else if (reply != NULL)
    set_variant (future, reply);
  else
    coop_future_take_error (future, g_steal_pointer (&error));
  g_clear_error (&error);
}

/**
 * coop_dbus_connection_call:
 * @loop: the loop
 * @connection: a connection
 * @bus_name: (nullable): the unique or well-known name of the peer, or
 *   %NULL on a peer-to-peer connection
 * @object_path: the path of the remote object
 * @interface_name: the D-Bus interface of the method
 * @method_name: the method
 * @parameters: (nullable): a tuple of the arguments, or %NULL for none
 *   (a floating reference is sunk)
 * @reply_type: (nullable): the type the reply must have, or %NULL
 * @flags: flags of the call
 * @timeout_msec: the timeout in milliseconds, -1 for the default, or
 *   %G_MAXINT for none
 *
 * Calls a D-Bus method, as g_dbus_connection_call(): the future finishes
 * with the reply, a tuple of the out-arguments (read it with
 * [func@Coop.dbus_connection_call_finish]), or fails with the error.  An
 * error the peer replied with is a #GError that
 * g_dbus_error_get_remote_error() names (and a GIO peer's own errors come
 * back in their own domain).  Cancelling the future cancels the call.
 * Call this on the loop's thread.
 *
 * ```c
 * g_autoptr(CoopFuture) call =
 *   coop_dbus_connection_call (loop, bus, "org.example.Clock", "/org/example/Clock",
 *                              "org.example.Clock", "Now", NULL, G_VARIANT_TYPE ("(x)"),
 *                              G_DBUS_CALL_FLAGS_NONE, -1);
 * if (coop_await (call, &error))
 *   reply = coop_dbus_connection_call_finish (call, &error);
 * ```
 *
 * Returns: (transfer full): a future for the reply
 */
CoopFuture *
coop_dbus_connection_call (CoopLoop           *loop,
                           GDBusConnection    *connection,
                           const char         *bus_name,
                           const char         *object_path,
                           const char         *interface_name,
                           const char         *method_name,
                           GVariant           *parameters,
                           const GVariantType *reply_type,
                           GDBusCallFlags      flags,
                           int                 timeout_msec)
{
  CoopFuture *future;
  GMainContext *pushed;
  CoopDBusOp *op;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  g_return_val_if_fail (object_path != NULL && g_variant_is_object_path (object_path), NULL);
  g_return_val_if_fail (interface_name != NULL, NULL);
  g_return_val_if_fail (method_name != NULL, NULL);
  g_return_val_if_fail (parameters == NULL || g_variant_is_of_type (parameters, G_VARIANT_TYPE_TUPLE), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  op = coop_dbus_op_begin (loop, "A D-Bus call", call_finish, &future, &pushed);
  if (op == NULL)
    {
      if (parameters != NULL)
        g_variant_unref (g_variant_ref_sink (parameters));
      return future;
    }
  g_dbus_connection_call (connection, bus_name, object_path, interface_name, method_name,
                          parameters, reply_type, flags, timeout_msec, op->cancellable,
                          coop_dbus_op_callback, op);
  coop_dbus_op_end (pushed);
  return future;
}

/**
 * coop_dbus_connection_call_finish:
 * @future: a finished future of [func@Coop.dbus_connection_call]
 * @error: return location for an error
 *
 * Gets the reply of a D-Bus call.
 *
 * Returns: (transfer full) (nullable): the reply, a tuple, or %NULL with
 *   @error set (the call failed, is not done, or @future is not one of
 *   these: `COOP_ERROR_NO_RESULT`)
 */
GVariant *
coop_dbus_connection_call_finish (CoopFuture  *future,
                                  GError     **error)
{
  const GValue *value;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  value = op_value (future, G_TYPE_VARIANT, "a D-Bus reply", error);
  return value != NULL ? g_value_dup_variant (value) : NULL;
}

static GQuark
fd_list_quark (void)
{
  static GQuark quark;

  if (G_UNLIKELY (quark == 0))
    quark = g_quark_from_static_string ("coop-dbus-out-fd-list");
  return quark;
}

static void
call_fd_finish (GObject      *source,
                GAsyncResult *result,
                CoopFuture   *future)
{
  GError *error = NULL;
  GUnixFDList *fd_list = NULL;
  GVariant *reply = g_dbus_connection_call_with_unix_fd_list_finish (G_DBUS_CONNECTION (source),
                                                                     &fd_list, result, &error);

  if (future == NULL)
    g_clear_pointer (&reply, g_variant_unref);
  else if (reply != NULL)
    {
      /* Beside the value, set first: whoever sees the future done finds it. */
      if (fd_list != NULL)
        g_object_set_qdata_full (G_OBJECT (future), fd_list_quark (),
                                 g_steal_pointer (&fd_list), g_object_unref);
      set_variant (future, reply);
    }
  else
    coop_future_take_error (future, g_steal_pointer (&error));
  g_clear_object (&fd_list);   /* closes the descriptors nobody took */
  g_clear_error (&error);
}

/**
 * coop_dbus_connection_call_with_unix_fd_list:
 * @loop: the loop
 * @connection: a connection
 * @bus_name: (nullable): the unique or well-known name of the peer, or
 *   %NULL on a peer-to-peer connection
 * @object_path: the path of the remote object
 * @interface_name: the D-Bus interface of the method
 * @method_name: the method
 * @parameters: (nullable): a tuple of the arguments, or %NULL for none
 *   (a floating reference is sunk); `h` arguments index @fd_list
 * @reply_type: (nullable): the type the reply must have, or %NULL
 * @flags: flags of the call
 * @timeout_msec: the timeout in milliseconds, -1 for the default, or
 *   %G_MAXINT for none
 * @fd_list: (nullable): the file descriptors to send
 *
 * Calls a D-Bus method with file descriptors, as
 * g_dbus_connection_call_with_unix_fd_list(): as
 * [func@Coop.dbus_connection_call], and the future's reply comes with the
 * descriptors the peer sent back, read with
 * [func@Coop.dbus_connection_call_with_unix_fd_list_finish].
 *
 * Returns: (transfer full): a future for the reply
 */
CoopFuture *
coop_dbus_connection_call_with_unix_fd_list (CoopLoop           *loop,
                                             GDBusConnection    *connection,
                                             const char         *bus_name,
                                             const char         *object_path,
                                             const char         *interface_name,
                                             const char         *method_name,
                                             GVariant           *parameters,
                                             const GVariantType *reply_type,
                                             GDBusCallFlags      flags,
                                             int                 timeout_msec,
                                             GUnixFDList        *fd_list)
{
  CoopFuture *future;
  GMainContext *pushed;
  CoopDBusOp *op;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  g_return_val_if_fail (object_path != NULL && g_variant_is_object_path (object_path), NULL);
  g_return_val_if_fail (interface_name != NULL, NULL);
  g_return_val_if_fail (method_name != NULL, NULL);
  g_return_val_if_fail (parameters == NULL || g_variant_is_of_type (parameters, G_VARIANT_TYPE_TUPLE), NULL);
  g_return_val_if_fail (fd_list == NULL || G_IS_UNIX_FD_LIST (fd_list), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  op = coop_dbus_op_begin (loop, "A D-Bus call", call_fd_finish, &future, &pushed);
  if (op == NULL)
    {
      if (parameters != NULL)
        g_variant_unref (g_variant_ref_sink (parameters));
      return future;
    }
  g_dbus_connection_call_with_unix_fd_list (connection, bus_name, object_path, interface_name,
                                            method_name, parameters, reply_type, flags,
                                            timeout_msec, fd_list, op->cancellable,
                                            coop_dbus_op_callback, op);
  coop_dbus_op_end (pushed);
  return future;
}

/**
 * coop_dbus_connection_call_with_unix_fd_list_finish:
 * @future: a finished future of
 *   [func@Coop.dbus_connection_call_with_unix_fd_list]
 * @out_fd_list: (out) (optional) (nullable) (transfer full): the file
 *   descriptors of the reply, or %NULL if it had none
 * @error: return location for an error
 *
 * Gets the reply of a D-Bus call with file descriptors.  Each call of this
 * returns a new reference on the same #GUnixFDList: take the descriptors
 * out of it with g_unix_fd_list_steal_fds() or dup them with
 * g_unix_fd_list_get().
 *
 * Returns: (transfer full) (nullable): the reply, a tuple, or %NULL with
 *   @error set (the call failed, is not done, or @future is not one of
 *   these: `COOP_ERROR_NO_RESULT`)
 */
GVariant *
coop_dbus_connection_call_with_unix_fd_list_finish (CoopFuture   *future,
                                                    GUnixFDList **out_fd_list,
                                                    GError      **error)
{
  const GValue *value;
  GUnixFDList *fd_list;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (out_fd_list != NULL)
    *out_fd_list = NULL;
  value = op_value (future, G_TYPE_VARIANT, "a D-Bus reply", error);
  if (value == NULL)
    return NULL;
  fd_list = g_object_get_qdata (G_OBJECT (future), fd_list_quark ());
  if (out_fd_list != NULL && fd_list != NULL)
    *out_fd_list = g_object_ref (fd_list);
  return g_value_dup_variant (value);
}

/* --- messages ---------------------------------------------------------------------- */

static void
send_message_finish (GObject      *source,
                     GAsyncResult *result,
                     CoopFuture   *future)
{
  GError *error = NULL;
  GDBusMessage *reply = g_dbus_connection_send_message_with_reply_finish (G_DBUS_CONNECTION (source),
                                                                          result, &error);

  if (future == NULL)
    ;
  else if (reply != NULL)
    coop_future_set_object (future, G_OBJECT (reply));
  else
    coop_future_take_error (future, g_steal_pointer (&error));
  g_clear_object (&reply);
  g_clear_error (&error);
}

/**
 * coop_dbus_connection_send_message_with_reply:
 * @loop: the loop
 * @connection: a connection
 * @message: a message that expects a reply (a method call), not locked
 *   yet
 * @flags: flags of the send
 * @timeout_msec: the timeout in milliseconds, -1 for the default, or
 *   %G_MAXINT for none
 *
 * Sends @message and waits for its reply, as
 * g_dbus_connection_send_message_with_reply(): the future finishes with
 * the reply message (read it with
 * [func@Coop.dbus_connection_send_message_with_reply_finish]).  A reply of
 * type %G_DBUS_MESSAGE_TYPE_ERROR is a reply too: turn it into a #GError
 * with g_dbus_message_to_gerror().  The serial given to @message is
 * g_dbus_message_get_serial() once this returns.  Cancelling the future
 * stops the wait.  Call this on the loop's thread.
 *
 * Returns: (transfer full): a future for the reply message
 */
CoopFuture *
coop_dbus_connection_send_message_with_reply (CoopLoop              *loop,
                                              GDBusConnection       *connection,
                                              GDBusMessage          *message,
                                              GDBusSendMessageFlags  flags,
                                              int                    timeout_msec)
{
  CoopFuture *future;
  GMainContext *pushed;
  CoopDBusOp *op;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  g_return_val_if_fail (G_IS_DBUS_MESSAGE (message), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  op = coop_dbus_op_begin (loop, "A D-Bus message", send_message_finish, &future, &pushed);
  if (op == NULL)
    return future;
  g_dbus_connection_send_message_with_reply (connection, message, flags, timeout_msec, NULL,
                                             op->cancellable, coop_dbus_op_callback, op);
  coop_dbus_op_end (pushed);
  return future;
}

/**
 * coop_dbus_connection_send_message_with_reply_finish:
 * @future: a finished future of
 *   [func@Coop.dbus_connection_send_message_with_reply]
 * @error: return location for an error
 *
 * Gets the reply message.
 *
 * Returns: (transfer full) (nullable): the reply, or %NULL with @error
 *   set (the send failed or timed out, is not done, or @future is not one
 *   of these: `COOP_ERROR_NO_RESULT`)
 */
GDBusMessage *
coop_dbus_connection_send_message_with_reply_finish (CoopFuture  *future,
                                                     GError     **error)
{
  const GValue *value;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  value = op_value (future, G_TYPE_DBUS_MESSAGE, "a D-Bus message", error);
  return value != NULL ? g_value_dup_object (value) : NULL;
}

/* --- flush and close --------------------------------------------------------------- */

static void
flush_finish (GObject      *source,
              GAsyncResult *result,
              CoopFuture   *future)
{
  GError *error = NULL;

  if (g_dbus_connection_flush_finish (G_DBUS_CONNECTION (source), result, &error))
    {
      if (future != NULL)
        coop_future_set_none (future);
    }
  else if (future != NULL)
    coop_future_take_error (future, g_steal_pointer (&error));
  g_clear_error (&error);
}

/**
 * coop_dbus_connection_flush:
 * @loop: the loop
 * @connection: a connection
 *
 * Writes out every queued outgoing message, as g_dbus_connection_flush():
 * the future finishes with no value once they are written, or fails.
 * Call this on the loop's thread.
 *
 * Returns: (transfer full): a future
 */
CoopFuture *
coop_dbus_connection_flush (CoopLoop        *loop,
                            GDBusConnection *connection)
{
  CoopFuture *future;
  GMainContext *pushed;
  CoopDBusOp *op;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  op = coop_dbus_op_begin (loop, "A D-Bus flush", flush_finish, &future, &pushed);
  if (op == NULL)
    return future;
  g_dbus_connection_flush (connection, op->cancellable, coop_dbus_op_callback, op);
  coop_dbus_op_end (pushed);
  return future;
}

static void
close_finish (GObject      *source,
              GAsyncResult *result,
              CoopFuture   *future)
{
  GError *error = NULL;

  if (g_dbus_connection_close_finish (G_DBUS_CONNECTION (source), result, &error))
    {
      if (future != NULL)
        coop_future_set_none (future);
    }
  else if (future != NULL)
    coop_future_take_error (future, g_steal_pointer (&error));
  g_clear_error (&error);
}

/**
 * coop_dbus_connection_close:
 * @loop: the loop
 * @connection: a connection
 *
 * Closes @connection, as g_dbus_connection_close(): the future finishes
 * with no value once it is closed, or fails.  Objects served on it by a [class@Coop.DBusExport]
 * see their calls cancelled.  Call this on the loop's thread.
 *
 * Returns: (transfer full): a future
 */
CoopFuture *
coop_dbus_connection_close (CoopLoop        *loop,
                            GDBusConnection *connection)
{
  CoopFuture *future;
  GMainContext *pushed;
  CoopDBusOp *op;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  op = coop_dbus_op_begin (loop, "A D-Bus close", close_finish, &future, &pushed);
  if (op == NULL)
    return future;
  g_dbus_connection_close (connection, op->cancellable, coop_dbus_op_callback, op);
  coop_dbus_op_end (pushed);
  return future;
}
