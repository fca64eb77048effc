/* coop-dbus-export.c: a D-Bus object whose methods are served by tasks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <gio/gunixfdlist.h>

#include "coop-dbus-private.h"

/**
 * CoopDBusExport:
 *
 * One D-Bus interface exported at an object path, whose methods are C
 * functions that run as tasks: each incoming call is a task of its own
 * on the loop, so a method may await (a timer, another D-Bus call, a
 * thread-pool job) while the other calls are served.
 *
 * ```c
 * static GVariant *
 * slow_echo (GDBusMethodInvocation *invocation, GVariant *parameters,
 *            gpointer user_data, GError **error)
 * {
 *   const char *text;
 *
 *   g_variant_get (parameters, "(&s)", &text);
 *   if (!coop_await (coop_sleep (loop, G_USEC_PER_SEC), error))
 *     return NULL;                          // cancelled: the caller left
 *   return g_variant_new ("(s)", text);
 * }
 *
 * g_autoptr(CoopDBusExport) export =
 *   coop_dbus_export_new_for_xml (loop, bus, "/org/example/Echo", xml,
 *                                 "org.example.Echo", &error);
 * coop_dbus_export_add_method (export, "SlowEcho", slow_echo, NULL, NULL);
 * coop_dbus_export_register (export, &error);
 * ```
 *
 * A method's task is cancelled when its caller leaves the bus (its unique
 * name loses its owner), when the connection closes and when the object
 * is unexported ([method@Coop.DBusExport.unregister]; the caller then gets
 * `org.freedesktop.DBus.Error.UnknownObject`).
 *
 * What a method returns is the reply; the error it fails with is replied
 * as a D-Bus error:
 *
 * - errors of registered domains (`G_DBUS_ERROR`, and any registered with
 *   g_dbus_error_register_error()) get their D-Bus names;
 * - an error made with g_dbus_error_new_for_dbus_error() (or that a
 *   D-Bus call of the method failed with) keeps its D-Bus name, so a
 *   method picks a custom error name that way;
 * - `G_IO_ERROR` codes with a standard D-Bus error get that name
 *   (`NOT_FOUND` is `org.freedesktop.DBus.Error.FileNotFound`, `EXISTS`
 *   `FileExists`, `PERMISSION_DENIED` `AccessDenied`, `INVALID_ARGUMENT`
 *   `InvalidArgs`, `NOT_SUPPORTED` `NotSupported`, `TIMED_OUT` `TimedOut`,
 *   `ADDRESS_IN_USE` `AddressInUse`);
 * - any other error is encoded as GIO does, so that a GIO caller gets
 *   back the same domain and code (`G_IO_ERROR_CANCELLED` included).
 *
 * Properties are values the export holds: [method@Coop.DBusExport.set_property]
 * sets one (and announces it with `PropertiesChanged`), `Get` and `GetAll`
 * read them, and a caller's `Set` of a writable property stores the value,
 * announces it too and emits [signal@Coop.DBusExport::property-set].  [method@Coop.DBusExport.emit_signal] emits a
 * signal of the interface.
 *
 * An export is registered until [method@Coop.DBusExport.unregister]: the
 * registration keeps it alive.  Use it on the loop's thread, with a
 * connection made on the loop's context (so that its
 * [signal@Gio.DBusConnection::closed] signal arrives there).
 */

typedef enum
{
  REASON_NONE,
  REASON_UNEXPORTED,
  REASON_VANISHED,
  REASON_CLOSED,
} CancelReason;

typedef struct
{
  gint                ref_count;
  CoopDBusMethodFunc  func;
  gpointer            user_data;
  GDestroyNotify      notify;
} Method;

typedef struct _Sender Sender;

typedef struct
{
  GList                  link;         /* in the export's calls */
  CoopDBusExport        *export;       /* a reference */
  GDBusMethodInvocation *invocation;   /* a reference */
  Method                *method;       /* a reference */
  CoopTask              *task;         /* a reference */
  Sender                *sender;       /* a reference, or NULL (peer-to-peer) */
  CancelReason           reason;
  gboolean               detached;
} Call;

/* One caller with calls running: its NameOwnerChanged subscription. */
struct _Sender
{
  gint            ref_count;
  CoopDBusExport *export;        /* not a reference; NULL once removed */
  char           *name;
  guint           n_calls;
  guint           subscription;
  GCancellable   *check;         /* the GetNameOwner check */
};

struct _CoopDBusExport
{
  GObject             parent_instance;

  CoopLoop           *loop;
  GDBusConnection    *connection;
  char               *object_path;
  GDBusInterfaceInfo *info;
  GHashTable         *methods;        /* name -> Method */
  GHashTable         *properties;     /* name -> GVariant */
  GHashTable         *senders;        /* unique name -> Sender */
  GQueue              calls;          /* Call, by their link */
  guint               registration;
  gulong              closed_handler;
};

G_DEFINE_FINAL_TYPE (CoopDBusExport, coop_dbus_export, G_TYPE_OBJECT)

enum
{
  SIGNAL_PROPERTY_SET,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
method_unref (gpointer data)
{
  Method *method = data;

  if (--method->ref_count > 0)
    return;
  if (method->notify != NULL)
    method->notify (method->user_data);
  g_free (method);
}

/* --- callers leaving the bus -------------------------------------------------------- */

static Sender *
sender_ref (Sender *sender)
{
  sender->ref_count++;
  return sender;
}

static void
sender_unref (gpointer data)
{
  Sender *sender = data;

  if (--sender->ref_count > 0)
    return;
  g_object_unref (sender->check);
  g_free (sender->name);
  g_free (sender);
}

static void cancel_calls (CoopDBusExport *self,
                          Sender         *sender,
                          CancelReason    reason,
                          const char     *message);

static void
sender_gone (Sender *sender)
{
  if (sender->export != NULL)
    cancel_calls (sender->export, sender, REASON_VANISHED, "The caller left the bus");
}

static void
sender_name_owner_changed (GDBusConnection *connection,
                           const char      *sender_name,
                           const char      *object_path,
                           const char      *interface_name,
                           const char      *signal_name,
                           GVariant        *parameters,
                           gpointer         data)
{
  const char *name, *old_owner, *new_owner;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(sss)")))
    return;
  g_variant_get (parameters, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (new_owner[0] == '\0')
    sender_gone (data);
}

/* The caller may have left before the subscription was in place: one
 * GetNameOwner, sent after the AddMatch, answers for the time between. */
static void
sender_checked (GObject      *source,
                GAsyncResult *result,
                gpointer      data)
{
  Sender *sender = data;
  GError *error = NULL;
  GVariant *reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);

  if (reply == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    sender_gone (sender);
  g_clear_pointer (&reply, g_variant_unref);
  g_clear_error (&error);
  sender_unref (sender);
}

static Sender *
sender_add (CoopDBusExport *self,
            const char     *name)
{
  Sender *sender = g_hash_table_lookup (self->senders, name);

  if (sender != NULL)
    {
      sender->n_calls++;
      return sender_ref (sender);
    }
  sender = g_new0 (Sender, 1);
  sender->ref_count = 1;   /* the table's */
  sender->export = self;
  sender->name = g_strdup (name);
  sender->n_calls = 1;
  sender->check = g_cancellable_new ();
  g_hash_table_insert (self->senders, sender->name, sender);
  /* Called on the loop's context (the method call came there): the
   * subscription and the check report there. */
  sender->subscription =
    g_dbus_connection_signal_subscribe (self->connection, "org.freedesktop.DBus",
                                        "org.freedesktop.DBus", "NameOwnerChanged",
                                        "/org/freedesktop/DBus", name,
                                        G_DBUS_SIGNAL_FLAGS_NONE, sender_name_owner_changed,
                                        sender_ref (sender), sender_unref);
  g_dbus_connection_call (self->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetNameOwner", g_variant_new ("(s)", name),
                          G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NONE, -1, sender->check,
                          sender_checked, sender_ref (sender));
  return sender_ref (sender);
}

static void
sender_remove_call (CoopDBusExport *self,
                    Sender         *sender)
{
  if (--sender->n_calls > 0 || sender->export == NULL)
    return;
  sender->export = NULL;
  g_cancellable_cancel (sender->check);
  g_dbus_connection_signal_unsubscribe (self->connection, sender->subscription);
  g_hash_table_remove (self->senders, sender->name);   /* drops the table's reference */
}

/* --- the calls ------------------------------------------------------------------------ */

static void
call_detach (Call *call)
{
  CoopDBusExport *self = call->export;

  if (call->detached)
    return;
  call->detached = TRUE;
  g_queue_unlink (&self->calls, &call->link);
  if (call->sender != NULL)
    sender_remove_call (self, call->sender);
}

static void
call_free (gpointer data)
{
  Call *call = data;

  /* Also reached without call_done() when the loop closed first. */
  call_detach (call);
  g_clear_pointer (&call->sender, sender_unref);
  g_object_unref (call->task);
  method_unref (call->method);
  g_object_unref (call->invocation);
  g_object_unref (call->export);
  g_free (call);
}

static void
cancel_calls (CoopDBusExport *self,
              Sender         *sender,
              CancelReason    reason,
              const char     *message)
{
  g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func (g_object_unref);

  /* Cancelling runs no user code here (done callbacks are queued), but
   * the list is copied all the same: cancel hooks are user code. */
  for (GList *l = self->calls.head; l != NULL; l = l->next)
    {
      Call *call = l->data;

      if (sender != NULL && call->sender != sender)
        continue;
      if (call->reason == REASON_NONE)
        call->reason = reason;
      g_ptr_array_add (tasks, g_object_ref (call->task));
    }
  for (guint i = 0; i < tasks->len; i++)
    coop_task_cancel (tasks->pdata[i], message);
}

static GQuark
reply_fd_list_quark (void)
{
  static GQuark quark;

  if (G_UNLIKELY (quark == 0))
    quark = g_quark_from_static_string ("coop-dbus-reply-fd-list");
  return quark;
}

static void
return_value (GDBusMethodInvocation *invocation,
              GVariant              *reply)
{
  GUnixFDList *fd_list = g_object_get_qdata (G_OBJECT (invocation), reply_fd_list_quark ());

  /* Each return function takes the invocation's reference: ours stays. */
  g_object_ref (invocation);
  if (fd_list != NULL)
    g_dbus_method_invocation_return_value_with_unix_fd_list (invocation, reply, fd_list);
  else
    g_dbus_method_invocation_return_value (invocation, reply);
}

/* The D-Bus name of a G_IO_ERROR that has a standard one, or -1. */
static int
io_error_to_dbus (int code)
{
  switch (code)
    {
    case G_IO_ERROR_NOT_FOUND:          return G_DBUS_ERROR_FILE_NOT_FOUND;
    case G_IO_ERROR_EXISTS:             return G_DBUS_ERROR_FILE_EXISTS;
    case G_IO_ERROR_PERMISSION_DENIED:  return G_DBUS_ERROR_ACCESS_DENIED;
    case G_IO_ERROR_INVALID_ARGUMENT:   return G_DBUS_ERROR_INVALID_ARGS;
    case G_IO_ERROR_NOT_SUPPORTED:      return G_DBUS_ERROR_NOT_SUPPORTED;
    case G_IO_ERROR_TIMED_OUT:          return G_DBUS_ERROR_TIMED_OUT;
    case G_IO_ERROR_ADDRESS_IN_USE:     return G_DBUS_ERROR_ADDRESS_IN_USE;
    default:                            return -1;
    }
}

static void
return_error (GDBusMethodInvocation *invocation,
              const GError          *error)
{
  int code;

  g_object_ref (invocation);
  if (g_dbus_error_is_remote_error (error))
    {
      g_autofree char *name = g_dbus_error_get_remote_error (error);
      g_autoptr(GError) copy = g_error_copy (error);

      g_dbus_error_strip_remote_error (copy);
      g_dbus_method_invocation_return_dbus_error (invocation, name, copy->message);
    }
  else if (error->domain == G_IO_ERROR && (code = io_error_to_dbus (error->code)) >= 0)
    g_dbus_method_invocation_return_error_literal (invocation, G_DBUS_ERROR, code, error->message);
  else
    g_dbus_method_invocation_return_gerror (invocation, error);
}

/* The type of the method's reply, from its out-arguments. */
static GString *
out_signature (GDBusMethodInvocation *invocation)
{
  const GDBusMethodInfo *info = g_dbus_method_invocation_get_method_info (invocation);
  GString *signature = g_string_new ("(");

  for (guint i = 0; info != NULL && info->out_args != NULL && info->out_args[i] != NULL; i++)
    g_string_append (signature, info->out_args[i]->signature);
  g_string_append_c (signature, ')');
  return signature;
}

/* The task is done: its outcome is the reply. */
static void
call_done (CoopFuture *future,
           gpointer    data)
{
  Call *call = data;
  const GError *error;

  call_detach (call);
  if (coop_future_get_state (future) == COOP_FUTURE_STATE_FINISHED)
    {
      const GValue *value = coop_future_get_value (future, NULL);

      GVariant *reply = NULL;
      g_autoptr(GString) expected = out_signature (call->invocation);

      if (value != NULL && G_VALUE_HOLDS_VARIANT (value))
        reply = g_value_get_variant (value);
      if (g_strcmp0 (reply != NULL ? g_variant_get_type_string (reply) : "()", expected->str) == 0)
        {
          return_value (call->invocation, reply);   /* NULL is `()` */
          return;
        }
      /* A bug of the method: said here, and the caller gets an answer. */
      g_critical ("The D-Bus method %s.%s returned %s, not %s",
                  g_dbus_method_invocation_get_interface_name (call->invocation),
                  g_dbus_method_invocation_get_method_name (call->invocation),
                  reply != NULL ? g_variant_get_type_string (reply) : "()", expected->str);
      g_object_ref (call->invocation);
      g_dbus_method_invocation_return_error (call->invocation, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                                             "The method's reply is of type %s, not %s",
                                             reply != NULL ? g_variant_get_type_string (reply) : "()",
                                             expected->str);
      return;
    }

  error = coop_future_get_error (future);
  if (call->reason == REASON_UNEXPORTED && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_object_ref (call->invocation);
      g_dbus_method_invocation_return_error (call->invocation, G_DBUS_ERROR,
                                             G_DBUS_ERROR_UNKNOWN_OBJECT,
                                             "The object %s was unexported during the call",
                                             call->export->object_path);
    }
  else
    /* After the caller left or the connection closed, this goes nowhere. */
    return_error (call->invocation, error);
}

static void
call_body (CoopTask *task,
           gpointer  data)
{
  Call *call = data;
  GError *error = NULL;
  GVariant *reply;

  reply = call->method->func (call->invocation,
                              g_dbus_method_invocation_get_parameters (call->invocation),
                              call->method->user_data, &error);
  if (reply != NULL)
    {
      GValue value = G_VALUE_INIT;

      g_clear_error (&error);
      g_value_init (&value, G_TYPE_VARIANT);
      g_value_take_variant (&value, g_variant_take_ref (reply));
      coop_future_set_value (COOP_FUTURE (task), &value);
      g_value_unset (&value);
    }
  else if (error != NULL)
    coop_future_take_error (COOP_FUTURE (task), error);
}

static void
export_method_call (GDBusConnection       *connection,
                    const char            *sender,
                    const char            *object_path,
                    const char            *interface_name,
                    const char            *method_name,
                    GVariant              *parameters,
                    GDBusMethodInvocation *invocation,
                    gpointer               data)
{
  CoopDBusExport *self = data;
  Method *method = g_hash_table_lookup (self->methods, method_name);
  Call *call;

  if (method == NULL || coop_loop_is_closed (self->loop))
    {
      /* The return functions take our reference. */
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                             "The method %s.%s is not served", interface_name,
                                             method_name);
      return;
    }

  call = g_new0 (Call, 1);
  call->link.data = call;
  call->export = g_object_ref (self);
  call->invocation = invocation;
  call->method = method;
  method->ref_count++;
  call->task = coop_task_new_full (self->loop, method_name, 0, call_body, call, NULL);
  g_queue_push_tail_link (&self->calls, &call->link);
  if (sender != NULL && g_dbus_connection_get_unique_name (connection) != NULL)
    call->sender = sender_add (self, sender);
  coop_future_add_done_callback (COOP_FUTURE (call->task), call_done, call, call_free);
}

/* --- properties ---------------------------------------------------------------------- */

static GVariant *
export_get_property (GDBusConnection  *connection,
                     const char       *sender,
                     const char       *object_path,
                     const char       *interface_name,
                     const char       *property_name,
                     GError          **error,
                     gpointer          data)
{
  CoopDBusExport *self = data;
  GVariant *value = g_hash_table_lookup (self->properties, property_name);

  if (value == NULL)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_FAILED,
                   "The property %s has no value yet", property_name);
      return NULL;
    }
  return g_variant_ref (value);
}

static void
emit_properties_changed (CoopDBusExport *self,
                         const char     *property_name,
                         GVariant       *value)
{
  GVariantBuilder changed;

  if (self->registration == 0)
    return;
  g_variant_builder_init (&changed, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&changed, "{sv}", property_name, value);
  /* Fails only on a closed connection, where nobody listens. */
  g_dbus_connection_emit_signal (self->connection, NULL, self->object_path,
                                 "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                 g_variant_new ("(sa{sv}as)", self->info->name, &changed, NULL),
                                 NULL);
}

static gboolean
export_set_property (GDBusConnection  *connection,
                     const char       *sender,
                     const char       *object_path,
                     const char       *interface_name,
                     const char       *property_name,
                     GVariant         *value,
                     GError          **error,
                     gpointer          data)
{
  CoopDBusExport *self = data;

  /* GDBus has checked that the property is writable and of this type. */
  g_hash_table_insert (self->properties, g_strdup (property_name), g_variant_ref (value));
  emit_properties_changed (self, property_name, value);
  g_signal_emit (self, signals[SIGNAL_PROPERTY_SET], g_quark_from_string (property_name),
                 property_name, value);
  return TRUE;
}

static const GDBusInterfaceVTable export_vtable = {
  export_method_call,
  export_get_property,
  export_set_property,
  { NULL },
};

/* --- the object ------------------------------------------------------------------------ */

static void
export_closed (GDBusConnection *connection,
               gboolean         remote_peer_vanished,
               GError          *error,
               gpointer         data)
{
  cancel_calls (data, NULL, REASON_CLOSED, "The D-Bus connection closed");
}

static void
coop_dbus_export_dispose (GObject *object)
{
  CoopDBusExport *self = COOP_DBUS_EXPORT (object);

  /* No calls are left (each holds a reference), nor a registration. */
  if (self->closed_handler != 0)
    g_clear_signal_handler (&self->closed_handler, self->connection);
  G_OBJECT_CLASS (coop_dbus_export_parent_class)->dispose (object);
}

static void
coop_dbus_export_finalize (GObject *object)
{
  CoopDBusExport *self = COOP_DBUS_EXPORT (object);

  g_hash_table_unref (self->senders);
  g_hash_table_unref (self->properties);
  g_hash_table_unref (self->methods);
  g_dbus_interface_info_unref (self->info);
  g_free (self->object_path);
  g_object_unref (self->connection);
  g_object_unref (self->loop);
  G_OBJECT_CLASS (coop_dbus_export_parent_class)->finalize (object);
}

static void
coop_dbus_export_init (CoopDBusExport *self)
{
  self->methods = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, method_unref);
  self->properties = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify) g_variant_unref);
  self->senders = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, sender_unref);
}

static void
coop_dbus_export_class_init (CoopDBusExportClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = coop_dbus_export_dispose;
  G_OBJECT_CLASS (klass)->finalize = coop_dbus_export_finalize;

  /**
   * CoopDBusExport::property-set:
   * @self: the export
   * @property_name: the property a caller set
   * @value: its new value, of the property's type
   *
   * A caller set a writable property with
   * `org.freedesktop.DBus.Properties.Set`: the export holds the new value
   * (and has announced it) when this is emitted.  The signal's detail is
   * the property's name (`property-set::Count`).
   */
  signals[SIGNAL_PROPERTY_SET] =
    g_signal_new ("property-set", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_VARIANT);
}

/**
 * coop_dbus_export_new:
 * @loop: the loop the methods' tasks run on
 * @connection: the connection to export on
 * @object_path: the object path
 * @interface_info: the interface to export
 *
 * Creates an export of @interface_info at @object_path, not registered
 * yet: add its methods with [method@Coop.DBusExport.add_method], then
 * register it with [method@Coop.DBusExport.register].
 *
 * Returns: (transfer full): a new export
 */
CoopDBusExport *
coop_dbus_export_new (CoopLoop           *loop,
                      GDBusConnection    *connection,
                      const char         *object_path,
                      GDBusInterfaceInfo *interface_info)
{
  CoopDBusExport *self;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  g_return_val_if_fail (object_path != NULL && g_variant_is_object_path (object_path), NULL);
  g_return_val_if_fail (interface_info != NULL, NULL);

  self = g_object_new (COOP_TYPE_DBUS_EXPORT, NULL);
  self->loop = g_object_ref (loop);
  self->connection = g_object_ref (connection);
  self->object_path = g_strdup (object_path);
  self->info = g_dbus_interface_info_ref (interface_info);
  return self;
}

/**
 * coop_dbus_export_new_for_xml:
 * @loop: the loop the methods' tasks run on
 * @connection: the connection to export on
 * @object_path: the object path
 * @xml: introspection XML that describes the interface
 * @interface_name: the name of the interface in @xml to export
 * @error: return location for an error
 *
 * Creates an export of an interface described in introspection XML, as
 * [ctor@Coop.DBusExport.new].
 *
 * Returns: (transfer full) (nullable): a new export, or %NULL with @error
 *   set if @xml does not parse (`G_MARKUP_ERROR`) or lacks the interface
 *   (`G_IO_ERROR_NOT_FOUND`)
 */
CoopDBusExport *
coop_dbus_export_new_for_xml (CoopLoop         *loop,
                              GDBusConnection  *connection,
                              const char       *object_path,
                              const char       *xml,
                              const char       *interface_name,
                              GError          **error)
{
  g_autoptr(GDBusNodeInfo) node = NULL;
  GDBusInterfaceInfo *info;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  g_return_val_if_fail (object_path != NULL && g_variant_is_object_path (object_path), NULL);
  g_return_val_if_fail (xml != NULL, NULL);
  g_return_val_if_fail (interface_name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  node = g_dbus_node_info_new_for_xml (xml, error);
  if (node == NULL)
    return NULL;
  info = g_dbus_node_info_lookup_interface (node, interface_name);
  if (info == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "The introspection XML has no interface %s", interface_name);
      return NULL;
    }
  return coop_dbus_export_new (loop, connection, object_path, info);
}

/**
 * coop_dbus_export_add_method: (skip)
 * @self: an export
 * @method_name: a method of the interface
 * @func: (scope notified) (closure user_data) (destroy notify): the body
 *   of the method's tasks
 * @user_data: data for @func
 * @notify: (nullable): frees @user_data once the method is replaced or
 *   the export finalized
 *
 * Serves @method_name with @func: each call runs @func as a task of its
 * own.  A method of the interface that has no function replies
 * `org.freedesktop.DBus.Error.UnknownMethod`.  Adding a method again
 * replaces its function for the calls that come next.
 *
 * Not for language bindings (@func runs on a fiber, where no interpreter
 * may run): Python and JavaScript serve D-Bus objects with their own
 * libraries (or Gio.DBusConnection.register_object()).
 */
void
coop_dbus_export_add_method (CoopDBusExport     *self,
                             const char         *method_name,
                             CoopDBusMethodFunc  func,
                             gpointer            user_data,
                             GDestroyNotify      notify)
{
  Method *method;

  g_return_if_fail (COOP_IS_DBUS_EXPORT (self));
  g_return_if_fail (method_name != NULL);
  g_return_if_fail (func != NULL);

  if (g_dbus_interface_info_lookup_method (self->info, method_name) == NULL)
    {
      g_critical ("coop_dbus_export_add_method: the interface %s has no method %s",
                  self->info->name, method_name);
      if (notify != NULL)
        notify (user_data);
      return;
    }
  method = g_new0 (Method, 1);
  method->ref_count = 1;
  method->func = func;
  method->user_data = user_data;
  method->notify = notify;
  g_hash_table_insert (self->methods, g_strdup (method_name), method);
}

/**
 * coop_dbus_export_register:
 * @self: an export
 * @error: return location for an error
 *
 * Exports the object: calls are served from now on, as tasks of the loop.
 * The registration holds a reference on @self until
 * [method@Coop.DBusExport.unregister].  Call this on the loop's thread.
 *
 * Returns: %TRUE if it is exported; %FALSE with @error set if the path
 *   and interface are exported already (`G_IO_ERROR_EXISTS`), the export
 *   is registered already or the loop is closed
 */
gboolean
coop_dbus_export_register (CoopDBusExport  *self,
                           GError         **error)
{
  GMainContext *pushed;

  g_return_val_if_fail (COOP_IS_DBUS_EXPORT (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  coop_return_val_if_wrong_thread (self->loop, COOP_INSTEAD_THREADSAFE, FALSE);

  if (self->registration != 0)
    {
      g_set_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                   "The object %s is registered already", self->object_path);
      return FALSE;
    }
  if (!coop_loop_check_usable (self->loop, error) ||
      !coop_loop_push_context (self->loop, "Exporting a D-Bus object", &pushed, error))
    return FALSE;
  /* Method calls are dispatched to the thread-default context of now.
   * The registration's reference is taken only once it succeeded (GIO
   * does not free the user data of a failed registration), and dropped
   * by unregister(): GDBus checks a registration is still there before
   * it dispatches a queued call to it. */
  self->registration = g_dbus_connection_register_object (self->connection, self->object_path,
                                                          self->info, &export_vtable,
                                                          self, NULL, error);
  coop_dbus_op_end (pushed);
  if (self->registration == 0)
    return FALSE;
  g_object_ref (self);
  if (self->closed_handler == 0)
    self->closed_handler = g_signal_connect (self->connection, "closed",
                                             G_CALLBACK (export_closed), self);
  return TRUE;
}

/**
 * coop_dbus_export_unregister:
 * @self: an export
 *
 * Stops exporting the object.  The calls still running are cancelled;
 * their callers get `org.freedesktop.DBus.Error.UnknownObject` (unless a
 * method swallows its cancellation and replies).  It may be registered
 * again later.  Call this on the loop's thread.
 */
void
coop_dbus_export_unregister (CoopDBusExport *self)
{
  guint registration;

  g_return_if_fail (COOP_IS_DBUS_EXPORT (self));
  coop_return_if_wrong_thread (self->loop, COOP_INSTEAD_THREADSAFE);

  registration = self->registration;
  if (registration == 0)
    return;
  self->registration = 0;
  g_object_ref (self);
  cancel_calls (self, NULL, REASON_UNEXPORTED, "The D-Bus object was unexported");
  g_clear_signal_handler (&self->closed_handler, self->connection);
  g_dbus_connection_unregister_object (self->connection, registration);
  g_object_unref (self);   /* the registration's */
  g_object_unref (self);
}

/**
 * coop_dbus_export_is_registered:
 * @self: an export
 *
 * Tells whether the object is exported now.
 *
 * Returns: whether the object is exported
 */
gboolean
coop_dbus_export_is_registered (CoopDBusExport *self)
{
  g_return_val_if_fail (COOP_IS_DBUS_EXPORT (self), FALSE);

  return self->registration != 0;
}

/**
 * coop_dbus_export_get_n_calls:
 * @self: an export
 *
 * Counts the calls being served: one task each, from the call's arrival
 * until its reply is sent.
 *
 * Returns: the number of calls whose tasks have not finished yet
 */
guint
coop_dbus_export_get_n_calls (CoopDBusExport *self)
{
  g_return_val_if_fail (COOP_IS_DBUS_EXPORT (self), 0);

  return self->calls.length;
}

/**
 * coop_dbus_export_get_connection:
 * @self: an export
 *
 * Gets the connection the object is exported on.
 *
 * Returns: (transfer none): the connection @self is exported on
 */
GDBusConnection *
coop_dbus_export_get_connection (CoopDBusExport *self)
{
  g_return_val_if_fail (COOP_IS_DBUS_EXPORT (self), NULL);

  return self->connection;
}

/**
 * coop_dbus_export_get_object_path:
 * @self: an export
 *
 * Gets the path the object is exported at.
 *
 * Returns: the object path of @self
 */
const char *
coop_dbus_export_get_object_path (CoopDBusExport *self)
{
  g_return_val_if_fail (COOP_IS_DBUS_EXPORT (self), NULL);

  return self->object_path;
}

/**
 * coop_dbus_export_get_interface_info:
 * @self: an export
 *
 * Gets the description of the exported interface.
 *
 * Returns: (transfer none): the interface @self exports
 */
GDBusInterfaceInfo *
coop_dbus_export_get_interface_info (CoopDBusExport *self)
{
  g_return_val_if_fail (COOP_IS_DBUS_EXPORT (self), NULL);

  return self->info;
}

/**
 * coop_dbus_export_set_property:
 * @self: an export
 * @property_name: a property of the interface
 * @value: its value, of the property's type (a floating reference is
 *   sunk)
 * @error: return location for an error
 *
 * Sets the value of a property, which `Get` and `GetAll` return from now
 * on.  If @self is exported and the value changed, it is announced with
 * `org.freedesktop.DBus.Properties.PropertiesChanged`.
 *
 * Returns: %TRUE if set; %FALSE with @error set
 *   (`G_DBUS_ERROR_INVALID_ARGS`) if the interface has no such property
 *   or @value is not of its type
 */
gboolean
coop_dbus_export_set_property (CoopDBusExport  *self,
                               const char      *property_name,
                               GVariant        *value,
                               GError         **error)
{
  g_autoptr(GVariant) owned = NULL;
  GDBusPropertyInfo *info;
  GVariant *old;

  g_return_val_if_fail (COOP_IS_DBUS_EXPORT (self), FALSE);
  g_return_val_if_fail (property_name != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  owned = g_variant_ref_sink (value);
  info = g_dbus_interface_info_lookup_property (self->info, property_name);
  if (info == NULL)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "The interface %s has no property %s", self->info->name, property_name);
      return FALSE;
    }
  if (g_strcmp0 (g_variant_get_type_string (owned), info->signature) != 0)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "The property %s is of type %s, not %s", property_name, info->signature,
                   g_variant_get_type_string (owned));
      return FALSE;
    }
  old = g_hash_table_lookup (self->properties, property_name);
  if (old != NULL && g_variant_equal (old, owned))
    return TRUE;
  g_hash_table_insert (self->properties, g_strdup (property_name), g_variant_ref (owned));
  emit_properties_changed (self, property_name, owned);
  return TRUE;
}

/**
 * coop_dbus_export_get_property:
 * @self: an export
 * @property_name: a property of the interface
 *
 * Gets the value of a property that `Get` returns.
 *
 * Returns: (transfer full) (nullable): the property's value (as set, or
 *   as a caller's `Set` left it), or %NULL if it has none
 */
GVariant *
coop_dbus_export_get_property (CoopDBusExport *self,
                               const char     *property_name)
{
  GVariant *value;

  g_return_val_if_fail (COOP_IS_DBUS_EXPORT (self), NULL);
  g_return_val_if_fail (property_name != NULL, NULL);

  value = g_hash_table_lookup (self->properties, property_name);
  return value != NULL ? g_variant_ref (value) : NULL;
}

/**
 * coop_dbus_export_emit_signal:
 * @self: an export
 * @signal_name: a signal of the interface
 * @parameters: (nullable): a tuple of the signal's arguments, or %NULL
 *   for none (a floating reference is sunk)
 * @error: return location for an error
 *
 * Emits a signal of the interface from the object, to every listener.
 *
 * Returns: %TRUE if it was sent; %FALSE with @error set if the interface
 *   has no such signal, the arguments are not of its type
 *   (`G_DBUS_ERROR_INVALID_ARGS`) or the connection is closed
 */
gboolean
coop_dbus_export_emit_signal (CoopDBusExport  *self,
                              const char      *signal_name,
                              GVariant        *parameters,
                              GError         **error)
{
  g_autoptr(GVariant) owned = NULL;
  g_autoptr(GString) signature = NULL;
  GDBusSignalInfo *info;

  g_return_val_if_fail (COOP_IS_DBUS_EXPORT (self), FALSE);
  g_return_val_if_fail (signal_name != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  owned = parameters != NULL ? g_variant_ref_sink (parameters) : g_variant_ref_sink (g_variant_new ("()"));
  info = g_dbus_interface_info_lookup_signal (self->info, signal_name);
  if (info == NULL)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "The interface %s has no signal %s", self->info->name, signal_name);
      return FALSE;
    }
  signature = g_string_new ("(");
  for (guint i = 0; info->args != NULL && info->args[i] != NULL; i++)
    g_string_append (signature, info->args[i]->signature);
  g_string_append_c (signature, ')');
  if (g_strcmp0 (g_variant_get_type_string (owned), signature->str) != 0)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "The signal %s has arguments %s, not %s", signal_name, signature->str,
                   g_variant_get_type_string (owned));
      return FALSE;
    }
  return g_dbus_connection_emit_signal (self->connection, NULL, self->object_path,
                                        self->info->name, signal_name, owned, error);
}

/**
 * coop_dbus_method_set_reply_fd_list:
 * @invocation: the invocation a [callback@Coop.DBusMethodFunc] was given
 * @fd_list: (nullable): file descriptors to send with the reply
 *
 * Sends @fd_list with the reply of a method served by
 * [class@Coop.DBusExport]: its `h` out-arguments index it.  Call it from
 * the method, before it returns.
 */
void
coop_dbus_method_set_reply_fd_list (GDBusMethodInvocation *invocation,
                                    GUnixFDList           *fd_list)
{
  g_return_if_fail (G_IS_DBUS_METHOD_INVOCATION (invocation));
  g_return_if_fail (fd_list == NULL || G_IS_UNIX_FD_LIST (fd_list));

  g_object_set_qdata_full (G_OBJECT (invocation), reply_fd_list_quark (),
                           fd_list != NULL ? g_object_ref (fd_list) : NULL, g_object_unref);
}
