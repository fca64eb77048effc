/* test-dbus.c: D-Bus calls as futures, methods served by tasks, bus names,
 * against a private dbus-daemon started by the test.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <gio/gunixfdlist.h>

/* The address of the test's own dbus-daemon.  No test reaches any other
 * bus: the session and system bus variables point at it too. */
static char *bus_address;

static const char service_xml[] =
  "<node>"
  "  <interface name='org.coop.Test'>"
  "    <method name='Echo'><arg type='s' direction='in'/><arg type='s' direction='out'/></method>"
  "    <method name='Wait'><arg type='s' direction='out'/></method>"
  "    <method name='Open'/>"
  "    <method name='Fail'><arg type='s' direction='in'/></method>"
  "    <method name='WrongReply'><arg type='s' direction='out'/></method>"
  "    <method name='NotServed'/>"
  "    <method name='ReadFd'><arg type='h' direction='in'/><arg type='s' direction='out'/></method>"
  "    <method name='GiveFd'><arg type='h' direction='out'/></method>"
  "    <property name='Count' type='i' access='readwrite'/>"
  "    <property name='Label' type='s' access='read'/>"
  "    <signal name='Ticked'><arg type='i'/></signal>"
  "  </interface>"
  "</node>";

#define TEST_PATH "/org/coop/Test"
#define TEST_IFACE "org.coop.Test"

/* --- the daemon ---------------------------------------------------------------------- */

/* The daemon goes with the test, even when the test aborts: otherwise it
 * would keep the test's stderr open and the harness waiting. */
static void
daemon_child_setup (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static GSubprocess *
daemon_start (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  GSubprocess *daemon;
  gsize length;

  /* Its stderr has only its complaints about this machine's limits. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_set_child_setup (launcher, daemon_child_setup, NULL, NULL);
  daemon = g_subprocess_launcher_spawn (launcher, &error, "dbus-daemon", "--session", "--nofork",
                                        "--print-address", NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (daemon));
  bus_address = g_data_input_stream_read_line (out, &length, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (bus_address);
  g_strstrip (bus_address);
  g_assert_cmpuint (strlen (bus_address), >, 0);
  g_setenv ("DBUS_SESSION_BUS_ADDRESS", bus_address, TRUE);
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", bus_address, TRUE);
  g_unsetenv ("DBUS_STARTER_ADDRESS");
  g_unsetenv ("DBUS_STARTER_BUS_TYPE");
  return daemon;
}

/* --- helpers, run inside tasks ------------------------------------------------------------- */

static GDBusConnection *
await_connection (CoopLoop *loop)
{
  g_autoptr(CoopFuture) future =
    coop_dbus_connection_new_for_address (loop, bus_address,
                                          G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                          G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL);
  g_autoptr(GError) error = NULL;
  GDBusConnection *connection;

  g_assert_true (coop_await (future, &error));
  connection = coop_dbus_connection_new_for_address_finish (future, &error);
  g_assert_no_error (error);
  g_assert_true (G_IS_DBUS_CONNECTION (connection));
  return connection;
}

static CoopFuture *
call (CoopLoop        *loop,
      GDBusConnection *client,
      GDBusConnection *server,
      const char      *method,
      GVariant        *parameters)
{
  return coop_dbus_connection_call (loop, client, g_dbus_connection_get_unique_name (server),
                                    TEST_PATH, TEST_IFACE, method, parameters, NULL,
                                    G_DBUS_CALL_FLAGS_NONE, -1);
}

/* Awaits a call and returns its reply (which must come). */
static GVariant *
await_reply (CoopFuture *future)
{
  g_autoptr(GError) error = NULL;
  GVariant *reply;

  g_assert_true (coop_await (future, &error));
  g_assert_no_error (error);
  reply = coop_dbus_connection_call_finish (future, &error);
  g_assert_no_error (error);
  g_assert_nonnull (reply);
  return reply;
}

/* Awaits a call that must fail, and returns its error. */
static GError *
await_error (CoopFuture *future)
{
  GError *error = NULL;

  g_assert_false (coop_await (future, &error));
  g_assert_nonnull (error);
  return error;
}

/* The same, for a future made for the purpose. */
static GVariant *
take_reply (CoopFuture *future)
{
  GVariant *reply = await_reply (future);

  g_object_unref (future);
  return reply;
}

static GError *
take_error (CoopFuture *future)
{
  GError *error = await_error (future);

  g_object_unref (future);
  return error;
}

/* A round trip to the bus: everything sent before on @connection (match
 * rules, calls) has been processed by the bus and the peers it reached. */
static void
await_bus_round_trip (CoopLoop        *loop,
                      GDBusConnection *connection)
{
  g_autoptr(CoopFuture) id = coop_dbus_connection_call (loop, connection, "org.freedesktop.DBus",
                                                        "/org/freedesktop/DBus",
                                                        "org.freedesktop.DBus", "GetId", NULL,
                                                        G_VARIANT_TYPE ("(s)"),
                                                        G_DBUS_CALL_FLAGS_NONE, -1);
  g_autoptr(GVariant) reply = await_reply (id);
}

/* --- the service --------------------------------------------------------------------------- */

typedef struct
{
  CoopLoop       *loop;
  CoopFuture     *gate;        /* Wait awaits it; Open finishes it */
  CoopFuture     *cancelled;   /* finished when a Wait is cancelled */
  guint           n_started;
  guint           n_cancelled;
} Service;

static GVariant *
method_echo (GDBusMethodInvocation  *invocation,
             GVariant               *parameters,
             gpointer                data,
             GError                **error)
{
  const char *text;

  g_variant_get (parameters, "(&s)", &text);
  return g_variant_new ("(s)", text);
}

static GVariant *
method_wait (GDBusMethodInvocation  *invocation,
             GVariant               *parameters,
             gpointer                data,
             GError                **error)
{
  Service *service = data;
  /* Shielded: cancelling this task must not cancel the shared gate. */
  g_autoptr(CoopFuture) gate = coop_shield (service->gate);

  service->n_started++;
  if (!coop_await (gate, error))
    {
      g_assert_true (g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
      service->n_cancelled++;
      if (!coop_future_is_done (service->cancelled))
        coop_future_set_none (service->cancelled);
      return NULL;
    }
  return g_variant_new ("(s)", g_dbus_method_invocation_get_sender (invocation));
}

static GVariant *
method_open (GDBusMethodInvocation  *invocation,
             GVariant               *parameters,
             gpointer                data,
             GError                **error)
{
  Service *service = data;

  coop_future_set_none (service->gate);
  return NULL;
}

static GVariant *
method_fail (GDBusMethodInvocation  *invocation,
             GVariant               *parameters,
             gpointer                data,
             GError                **error)
{
  const char *how;

  g_variant_get (parameters, "(&s)", &how);
  if (g_str_equal (how, "not-found"))
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no such thing");
  else if (g_str_equal (how, "broken-pipe"))
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "pipe broke");
  else if (g_str_equal (how, "custom"))
    *error = g_dbus_error_new_for_dbus_error ("org.coop.Test.Error.Custom", "custom failure");
  else if (g_str_equal (how, "dbus"))
    g_set_error_literal (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED, "go away");
  else
    g_set_error_literal (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_NOT_FOUND, "some other domain");
  return NULL;
}

static GVariant *
method_wrong_reply (GDBusMethodInvocation  *invocation,
                    GVariant               *parameters,
                    gpointer                data,
                    GError                **error)
{
  return g_variant_new ("(i)", 42);
}

static char *
read_all_fd (int fd)
{
  GString *text = g_string_new (NULL);
  char buffer[64];
  gssize n;

  while ((n = read (fd, buffer, sizeof buffer)) > 0)
    g_string_append_len (text, buffer, n);
  g_assert_cmpint (n, ==, 0);
  return g_string_free (text, FALSE);
}

static GVariant *
method_read_fd (GDBusMethodInvocation  *invocation,
                GVariant               *parameters,
                gpointer                data,
                GError                **error)
{
  GUnixFDList *fds = g_dbus_message_get_unix_fd_list (g_dbus_method_invocation_get_message (invocation));
  g_autofree char *text = NULL;
  gint32 handle;
  int fd;

  g_variant_get (parameters, "(h)", &handle);
  g_assert_nonnull (fds);
  fd = g_unix_fd_list_get (fds, handle, error);
  if (fd < 0)
    return NULL;
  text = read_all_fd (fd);
  close (fd);
  return g_variant_new ("(s)", text);
}

static GVariant *
method_give_fd (GDBusMethodInvocation  *invocation,
                GVariant               *parameters,
                gpointer                data,
                GError                **error)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  int pipe_fds[2];
  int handle;

  g_assert_cmpint (pipe (pipe_fds), ==, 0);
  g_assert_cmpint (write (pipe_fds[1], "from the server", 15), ==, 15);
  close (pipe_fds[1]);
  handle = g_unix_fd_list_append (fds, pipe_fds[0], error);
  close (pipe_fds[0]);
  if (handle < 0)
    return NULL;
  coop_dbus_method_set_reply_fd_list (invocation, fds);
  return g_variant_new ("(h)", handle);
}

static void
service_init (Service  *service,
              CoopLoop *loop)
{
  service->loop = loop;
  service->gate = coop_future_new (loop);
  service->cancelled = coop_future_new (loop);
  service->n_started = 0;
  service->n_cancelled = 0;
}

static void
service_clear (Service *service)
{
  g_clear_object (&service->gate);
  g_clear_object (&service->cancelled);
}

static CoopDBusExport *
service_export (Service         *service,
                GDBusConnection *connection)
{
  g_autoptr(GError) error = NULL;
  CoopDBusExport *export = coop_dbus_export_new_for_xml (service->loop, connection, TEST_PATH,
                                                         service_xml, TEST_IFACE, &error);

  g_assert_no_error (error);
  coop_dbus_export_add_method (export, "Echo", method_echo, service, NULL);
  coop_dbus_export_add_method (export, "Wait", method_wait, service, NULL);
  coop_dbus_export_add_method (export, "Open", method_open, service, NULL);
  coop_dbus_export_add_method (export, "Fail", method_fail, service, NULL);
  coop_dbus_export_add_method (export, "WrongReply", method_wrong_reply, service, NULL);
  coop_dbus_export_add_method (export, "ReadFd", method_read_fd, service, NULL);
  coop_dbus_export_add_method (export, "GiveFd", method_give_fd, service, NULL);
  g_assert_true (coop_dbus_export_register (export, &error));
  g_assert_no_error (error);
  g_assert_true (coop_dbus_export_is_registered (export));
  return export;
}

/* A service on a connection of its own, and a client connection. */
typedef struct
{
  CoopLoop        *loop;
  Service          service;
  GDBusConnection *server;
  GDBusConnection *client;
  CoopDBusExport  *export;
} Peers;

static void
peers_setup (Peers    *peers,
             CoopLoop *loop)
{
  peers->loop = loop;
  service_init (&peers->service, loop);
  peers->server = await_connection (loop);
  peers->client = await_connection (loop);
  peers->export = service_export (&peers->service, peers->server);
}

static void
peers_teardown (Peers *peers)
{
  coop_dbus_export_unregister (peers->export);
  g_assert_false (coop_dbus_export_is_registered (peers->export));
  g_clear_object (&peers->export);
  g_clear_object (&peers->client);
  g_clear_object (&peers->server);
  service_clear (&peers->service);
}

/* Runs @body (a task function given the Peers) with a service and client. */
typedef void (*PeersBody) (Peers *peers);

typedef struct
{
  CoopLoop  *loop;
  PeersBody  body;
} PeersRun;

static void
peers_task (CoopTask *task,
            gpointer  data)
{
  PeersRun *run = data;
  Peers peers;

  peers_setup (&peers, run->loop);
  run->body (&peers);
  peers_teardown (&peers);
}

static void
run_with_peers (CoopFixture *fixture,
                PeersBody    body)
{
  PeersRun run = { fixture->loop, body };

  coop_test_run_task (fixture->loop, peers_task, &run, 30 * G_USEC_PER_SEC);
  /* What the connections and the daemon still send settles. */
  coop_test_drain ();
}

/* --- calls ------------------------------------------------------------------------------- */

static void
body_call (Peers *peers)
{
  g_autoptr(CoopFuture) echo = call (peers->loop, peers->client, peers->server, "Echo",
                                     g_variant_new ("(s)", "hello"));
  g_autoptr(GVariant) reply = await_reply (echo);
  const char *text;

  g_variant_get (reply, "(&s)", &text);
  g_assert_cmpstr (text, ==, "hello");
  /* The reply stays with the future: read twice. */
  g_clear_pointer (&reply, g_variant_unref);
  reply = coop_dbus_connection_call_finish (echo, NULL);
  g_assert_true (g_variant_is_of_type (reply, G_VARIANT_TYPE ("(s)")));
  g_assert_cmpuint (coop_dbus_export_get_n_calls (peers->export), ==, 0);
  g_assert_true (coop_dbus_export_get_connection (peers->export) == peers->server);
  g_assert_cmpstr (coop_dbus_export_get_object_path (peers->export), ==, TEST_PATH);
  g_assert_cmpstr (coop_dbus_export_get_interface_info (peers->export)->name, ==, TEST_IFACE);
}

static void
test_call (CoopFixture   *fixture,
           gconstpointer  data)
{
  run_with_peers (fixture, body_call);
}

/* coop_bus_get(), flush and the message-level call. */
static void
body_bus_get (Peers *peers)
{
  g_autoptr(CoopFuture) get = coop_bus_get (peers->loop, G_BUS_TYPE_SESSION);
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GDBusMessage) message = NULL;
  g_autoptr(GDBusMessage) reply = NULL;
  g_autoptr(CoopFuture) sent = NULL;
  g_autoptr(CoopFuture) flushed = NULL;
  g_autoptr(GError) error = NULL;
  const char *text;

  g_assert_true (coop_await (get, &error));
  bus = coop_bus_get_finish (get, &error);
  g_assert_no_error (error);
  g_assert_true (G_IS_DBUS_CONNECTION (bus));

  message = g_dbus_message_new_method_call (g_dbus_connection_get_unique_name (peers->server),
                                            TEST_PATH, TEST_IFACE, "Echo");
  g_dbus_message_set_body (message, g_variant_new ("(s)", "by message"));
  sent = coop_dbus_connection_send_message_with_reply (peers->loop, bus, message,
                                                       G_DBUS_SEND_MESSAGE_FLAGS_NONE, -1);
  g_assert_cmpuint (g_dbus_message_get_serial (message), >, 0);
  g_assert_true (coop_await (sent, &error));
  reply = coop_dbus_connection_send_message_with_reply_finish (sent, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_dbus_message_get_message_type (reply), ==, G_DBUS_MESSAGE_TYPE_METHOD_RETURN);
  g_assert_cmpuint (g_dbus_message_get_reply_serial (reply), ==, g_dbus_message_get_serial (message));
  g_variant_get (g_dbus_message_get_body (reply), "(&s)", &text);
  g_assert_cmpstr (text, ==, "by message");

  flushed = coop_dbus_connection_flush (peers->loop, bus);
  g_assert_true (coop_await (flushed, &error));
  g_assert_no_error (error);

  /* A future of another kind has no connection to give. */
  g_assert_null (coop_dbus_connection_call_finish (flushed, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT);
}

static void
test_bus_get (CoopFixture   *fixture,
              gconstpointer  data)
{
  run_with_peers (fixture, body_bus_get);
}

static void
body_fds (Peers *peers)
{
  g_autoptr(GUnixFDList) out = g_unix_fd_list_new ();
  g_autoptr(GUnixFDList) back = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopFuture) sent = NULL;
  g_autoptr(CoopFuture) given = NULL;
  g_autofree char *text = NULL;
  const char *echoed;
  int pipe_fds[2];
  gint32 handle;
  int fd;

  /* A pipe's read end to the server, which reads what we wrote. */
  g_assert_cmpint (pipe (pipe_fds), ==, 0);
  handle = g_unix_fd_list_append (out, pipe_fds[0], &error);
  g_assert_no_error (error);
  close (pipe_fds[0]);
  g_assert_cmpint (write (pipe_fds[1], "through a pipe", 14), ==, 14);
  close (pipe_fds[1]);
  sent = coop_dbus_connection_call_with_unix_fd_list (peers->loop, peers->client,
                                                      g_dbus_connection_get_unique_name (peers->server),
                                                      TEST_PATH, TEST_IFACE, "ReadFd",
                                                      g_variant_new ("(h)", handle),
                                                      G_VARIANT_TYPE ("(s)"),
                                                      G_DBUS_CALL_FLAGS_NONE, -1, out);
  g_assert_true (coop_await (sent, &error));
  reply = coop_dbus_connection_call_with_unix_fd_list_finish (sent, &back, &error);
  g_assert_no_error (error);
  g_assert_null (back);
  g_variant_get (reply, "(&s)", &echoed);
  g_assert_cmpstr (echoed, ==, "through a pipe");
  g_clear_pointer (&reply, g_variant_unref);

  /* And one back, with the reply. */
  given = coop_dbus_connection_call_with_unix_fd_list (peers->loop, peers->client,
                                                       g_dbus_connection_get_unique_name (peers->server),
                                                       TEST_PATH, TEST_IFACE, "GiveFd", NULL,
                                                       G_VARIANT_TYPE ("(h)"),
                                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL);
  g_assert_true (coop_await (given, &error));
  reply = coop_dbus_connection_call_with_unix_fd_list_finish (given, &back, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  g_variant_get (reply, "(h)", &handle);
  fd = g_unix_fd_list_get (back, handle, &error);
  g_assert_no_error (error);
  text = read_all_fd (fd);
  close (fd);
  g_assert_cmpstr (text, ==, "from the server");
}

static void
test_fds (CoopFixture   *fixture,
          gconstpointer  data)
{
  run_with_peers (fixture, body_fds);
}

/* --- errors -------------------------------------------------------------------------------- */

static GError *
await_failure (Peers      *peers,
               const char *method,
               GVariant   *parameters)
{
  g_autoptr(CoopFuture) future = call (peers->loop, peers->client, peers->server, method, parameters);
  GError *error = await_error (future);
  GError *again = NULL;

  /* The finish function reports the same. */
  g_assert_null (coop_dbus_connection_call_finish (future, &again));
  g_assert_true (g_error_matches (again, error->domain, error->code));
  g_error_free (again);
  return error;
}

static void
body_errors (Peers *peers)
{
  GError *error;
  char *name;

  error = await_failure (peers, "Fail", g_variant_new ("(s)", "not-found"));
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_FILE_NOT_FOUND);
  name = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (name, ==, "org.freedesktop.DBus.Error.FileNotFound");
  g_free (name);
  g_dbus_error_strip_remote_error (error);
  g_assert_cmpstr (error->message, ==, "no such thing");
  g_error_free (error);

  /* No standard name: GIO's own encoding, decoded back by GIO. */
  error = await_failure (peers, "Fail", g_variant_new ("(s)", "broken-pipe"));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
  g_error_free (error);

  error = await_failure (peers, "Fail", g_variant_new ("(s)", "other"));
  g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_NOT_FOUND);
  g_error_free (error);

  error = await_failure (peers, "Fail", g_variant_new ("(s)", "custom"));
  g_assert_true (g_dbus_error_is_remote_error (error));
  name = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (name, ==, "org.coop.Test.Error.Custom");
  g_free (name);
  g_dbus_error_strip_remote_error (error);
  g_assert_cmpstr (error->message, ==, "custom failure");
  g_error_free (error);

  error = await_failure (peers, "Fail", g_variant_new ("(s)", "dbus"));
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED);
  g_error_free (error);

  error = await_failure (peers, "NotServed", NULL);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD);
  g_error_free (error);

  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*WrongReply returned (i), not (s)*");
  error = await_failure (peers, "WrongReply", NULL);
  g_test_assert_expected_messages ();
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_error_free (error);

  /* Arguments that do not match the interface: GDBus answers itself. */
  error = await_failure (peers, "Echo", g_variant_new ("(i)", 1));
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_error_free (error);

  g_assert_cmpuint (coop_dbus_export_get_n_calls (peers->export), ==, 0);
}

static void
test_errors (CoopFixture   *fixture,
             gconstpointer  data)
{
  run_with_peers (fixture, body_errors);
}

/* --- tasks per call ---------------------------------------------------------------------- */

/* Three calls wait on the gate at once, each its own task, while an Echo
 * is served; Open lets them all reply. */
static void
body_concurrent (Peers *peers)
{
  CoopFuture *waits[3];
  g_autoptr(CoopFuture) open = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (waits); i++)
    waits[i] = call (peers->loop, peers->client, peers->server, "Wait", NULL);
  /* Served after the Waits were dispatched (one connection keeps order). */
  g_variant_unref (take_reply (call (peers->loop, peers->client, peers->server, "Echo",
                                      g_variant_new ("(s)", "meanwhile"))));
  g_assert_cmpuint (peers->service.n_started, ==, 3);
  g_assert_cmpuint (coop_dbus_export_get_n_calls (peers->export), ==, 3);
  for (guint i = 0; i < G_N_ELEMENTS (waits); i++)
    g_assert_false (coop_future_is_done (waits[i]));

  open = call (peers->loop, peers->client, peers->server, "Open", NULL);
  g_variant_unref (await_reply (open));
  for (guint i = 0; i < G_N_ELEMENTS (waits); i++)
    {
      g_autoptr(GVariant) reply = await_reply (waits[i]);
      const char *sender;

      g_variant_get (reply, "(&s)", &sender);
      g_assert_cmpstr (sender, ==, g_dbus_connection_get_unique_name (peers->client));
      g_object_unref (waits[i]);
    }
  g_assert_cmpuint (peers->service.n_cancelled, ==, 0);
  g_assert_cmpuint (coop_dbus_export_get_n_calls (peers->export), ==, 0);
}

static void
test_concurrent (CoopFixture   *fixture,
                 gconstpointer  data)
{
  run_with_peers (fixture, body_concurrent);
}

/* Cancelling the client's future cancels the call: the await ends at once
 * with G_IO_ERROR_CANCELLED, and the reply that comes later is dropped. */
static void
body_cancel_call (Peers *peers)
{
  g_autoptr(CoopFuture) waiting = call (peers->loop, peers->client, peers->server, "Wait", NULL);
  g_autoptr(GError) error = NULL;

  g_variant_unref (take_reply (call (peers->loop, peers->client, peers->server, "Echo",
                                      g_variant_new ("(s)", "x"))));
  g_assert_cmpuint (peers->service.n_started, ==, 1);
  g_assert_true (coop_future_cancel (waiting, "no longer needed"));
  g_assert_true (coop_future_is_cancelled (waiting));
  g_assert_false (coop_await (waiting, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_null (coop_dbus_connection_call_finish (waiting, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  /* The served side finishes normally; its reply finds no one waiting. */
  g_variant_unref (take_reply (call (peers->loop, peers->client, peers->server, "Open", NULL)));
  await_bus_round_trip (peers->loop, peers->server);
  await_bus_round_trip (peers->loop, peers->client);
  g_assert_cmpuint (peers->service.n_cancelled, ==, 0);
}

static void
test_cancel_call (CoopFixture   *fixture,
                  gconstpointer  data)
{
  run_with_peers (fixture, body_cancel_call);
}

/* A caller that leaves the bus mid-call: its handler task is cancelled,
 * the other caller's is not. */
static void
body_caller_leaves (Peers *peers)
{
  g_autoptr(GDBusConnection) leaver = await_connection (peers->loop);
  g_autoptr(CoopFuture) doomed = call (peers->loop, leaver, peers->server, "Wait", NULL);
  g_autoptr(CoopFuture) staying = call (peers->loop, peers->client, peers->server, "Wait", NULL);
  g_autoptr(CoopFuture) closed = NULL;
  g_autoptr(GError) error = NULL;
  GError *failure;

  g_variant_unref (take_reply (call (peers->loop, leaver, peers->server, "Echo",
                                      g_variant_new ("(s)", "x"))));
  g_variant_unref (take_reply (call (peers->loop, peers->client, peers->server, "Echo",
                                      g_variant_new ("(s)", "x"))));
  g_assert_cmpuint (peers->service.n_started, ==, 2);

  closed = coop_dbus_connection_close (peers->loop, leaver);
  g_assert_true (coop_await (closed, &error));
  g_assert_no_error (error);
  failure = await_error (doomed);
  g_assert_error (failure, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_error_free (failure);

  g_assert_true (coop_await (peers->service.cancelled, &error));
  g_assert_cmpuint (peers->service.n_cancelled, ==, 1);
  /* Its task ends (the done callback replies into the void). */
  while (coop_dbus_export_get_n_calls (peers->export) > 1)
    g_assert_true (coop_yield (NULL));

  g_variant_unref (take_reply (call (peers->loop, peers->client, peers->server, "Open", NULL)));
  g_variant_unref (await_reply (staying));
  g_assert_cmpuint (peers->service.n_cancelled, ==, 1);
}

static void
test_caller_leaves (CoopFixture   *fixture,
                    gconstpointer  data)
{
  run_with_peers (fixture, body_caller_leaves);
}

/* A caller that leaves right after its call, before the service could
 * watch it: the service's subscription to NameOwnerChanged comes too late
 * for the signal, and asking the bus for the caller's owner makes up for
 * it.  The handler's task is cancelled all the same. */
static void
body_caller_leaves_early (Peers *peers)
{
  for (guint round = 0; round < 5; round++)
    {
      g_autoptr(GDBusConnection) leaver = await_connection (peers->loop);
      g_autoptr(CoopFuture) doomed = call (peers->loop, leaver, peers->server, "Wait", NULL);
      g_autoptr(CoopFuture) flushed = coop_dbus_connection_flush (peers->loop, leaver);
      g_autoptr(CoopFuture) closed = NULL;
      g_autoptr(GError) error = NULL;

      /* Written out (a close right away may drop the queued call), then gone. */
      g_assert_true (coop_await (flushed, &error));
      closed = coop_dbus_connection_close (peers->loop, leaver);
      g_assert_true (coop_await (closed, &error));
      g_assert_false (coop_await (doomed, NULL));
      coop_await (peers->service.cancelled, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (peers->service.n_cancelled, ==, round + 1);
      while (coop_dbus_export_get_n_calls (peers->export) > 0)
        g_assert_true (coop_yield (NULL));
      g_clear_object (&peers->service.cancelled);
      peers->service.cancelled = coop_future_new (peers->loop);
    }
}

static void
test_caller_leaves_early (CoopFixture   *fixture,
                          gconstpointer  data)
{
  run_with_peers (fixture, body_caller_leaves_early);
}

/* The service sees the call only after its caller has gone: the bus
 * announced it (NameOwnerChanged) before the service could subscribe,
 * so only asking the bus tells.  The loop is held still (blocking calls)
 * until the bus no longer knows the caller. */
typedef struct
{
  char *sender;
  gint  answered;   /* atomic: the filter, on GDBus's thread, saw the reply go */
  gint  reply_type;
} Arrival;

static GDBusMessage *
arrival_filter (GDBusConnection *connection,
                GDBusMessage    *message,
                gboolean         incoming,
                gpointer         data)
{
  Arrival *arrival = data;

  /* The reply is the last thing a served call does. */
  if (!incoming && g_strcmp0 (g_dbus_message_get_destination (message), arrival->sender) == 0)
    {
      g_atomic_int_set (&arrival->reply_type, g_dbus_message_get_message_type (message));
      g_atomic_int_set (&arrival->answered, TRUE);
    }
  return message;
}

static void
body_caller_gone_before_served (Peers *peers)
{
  g_autoptr(GDBusConnection) leaver = await_connection (peers->loop);
  g_autoptr(CoopFuture) doomed = NULL;
  g_autoptr(GError) error = NULL;
  Arrival arrival = { g_strdup (g_dbus_connection_get_unique_name (leaver)), FALSE, 0 };
  guint filter = g_dbus_connection_add_filter (peers->server, arrival_filter, &arrival, NULL);
  guint rounds = 0;
  GVariant *owner;

  doomed = call (peers->loop, leaver, peers->server, "Wait", NULL);
  g_assert_true (g_dbus_connection_flush_sync (leaver, NULL, &error));
  g_assert_true (g_dbus_connection_close_sync (leaver, NULL, &error));
  do
    {
      g_clear_error (&error);
      owner = g_dbus_connection_call_sync (peers->client, "org.freedesktop.DBus",
                                           "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                           "GetNameOwner", g_variant_new ("(s)", arrival.sender),
                                           G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NONE, -1,
                                           NULL, &error);
      g_clear_pointer (&owner, g_variant_unref);
      g_assert_cmpuint (++rounds, <, 10000);
    }
  while (error == NULL);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER);

  /* Now the service sees the call, and must cancel it (before or after
   * its handler started): its reply is an error, into the void. */
  rounds = 0;
  while (!g_atomic_int_get (&arrival.answered))
    {
      await_bus_round_trip (peers->loop, peers->server);
      g_assert_cmpuint (++rounds, <, 10000);
    }
  g_assert_cmpint (g_atomic_int_get (&arrival.reply_type), ==, G_DBUS_MESSAGE_TYPE_ERROR);
  g_assert_cmpuint (peers->service.n_cancelled, ==, peers->service.n_started);
  g_assert_cmpuint (coop_dbus_export_get_n_calls (peers->export), ==, 0);
  g_assert_false (coop_await (doomed, NULL));
  g_dbus_connection_remove_filter (peers->server, filter);
  g_free (arrival.sender);
}

static void
test_caller_gone_before_served (CoopFixture   *fixture,
                                gconstpointer  data)
{
  run_with_peers (fixture, body_caller_gone_before_served);
}

/* The server's connection closes: every handler task is cancelled, and the
 * callers hear from the bus that no reply will come. */
static void
body_connection_closes (Peers *peers)
{
  g_autoptr(CoopFuture) first = call (peers->loop, peers->client, peers->server, "Wait", NULL);
  g_autoptr(CoopFuture) second = call (peers->loop, peers->client, peers->server, "Wait", NULL);
  g_autoptr(CoopFuture) closed = NULL;
  g_autoptr(CoopFuture) again = NULL;
  g_autoptr(GError) error = NULL;
  GError *failure;

  g_variant_unref (take_reply (call (peers->loop, peers->client, peers->server, "Echo",
                                      g_variant_new ("(s)", "x"))));
  g_assert_cmpuint (coop_dbus_export_get_n_calls (peers->export), ==, 2);

  closed = coop_dbus_connection_close (peers->loop, peers->server);
  g_assert_true (coop_await (closed, &error));
  g_assert_no_error (error);
  failure = await_error (first);
  g_assert_error (failure, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY);
  g_error_free (failure);
  failure = await_error (second);
  g_assert_error (failure, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY);
  g_error_free (failure);

  g_assert_true (coop_await (peers->service.cancelled, &error));
  /* Both tasks finish their cancellation (the first one set the future). */
  while (coop_dbus_export_get_n_calls (peers->export) > 0)
    g_assert_true (coop_yield (NULL));
  g_assert_cmpuint (peers->service.n_cancelled, ==, 2);

  /* Closing again does no harm. */
  again = coop_dbus_connection_close (peers->loop, peers->server);
  coop_await (again, NULL);
  g_assert_true (coop_future_is_done (again));
}

static void
test_connection_closes (CoopFixture   *fixture,
                        gconstpointer  data)
{
  run_with_peers (fixture, body_connection_closes);
}

/* Unexporting with calls running cancels them; their callers get
 * UnknownObject, and so do later calls. */
static void
body_unexport (Peers *peers)
{
  g_autoptr(CoopFuture) first = call (peers->loop, peers->client, peers->server, "Wait", NULL);
  g_autoptr(CoopFuture) second = call (peers->loop, peers->client, peers->server, "Wait", NULL);
  g_autoptr(GError) error = NULL;
  GError *failure;

  g_variant_unref (take_reply (call (peers->loop, peers->client, peers->server, "Echo",
                                      g_variant_new ("(s)", "x"))));
  g_assert_cmpuint (coop_dbus_export_get_n_calls (peers->export), ==, 2);

  coop_dbus_export_unregister (peers->export);
  g_assert_false (coop_dbus_export_is_registered (peers->export));
  failure = await_error (first);
  g_assert_error (failure, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT);
  g_error_free (failure);
  failure = await_error (second);
  g_assert_error (failure, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT);
  g_error_free (failure);
  g_assert_cmpuint (peers->service.n_cancelled, ==, 2);
  g_assert_cmpuint (coop_dbus_export_get_n_calls (peers->export), ==, 0);

  failure = await_failure (peers, "Echo", g_variant_new ("(s)", "x"));
  g_assert_error (failure, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD);
  g_error_free (failure);

  /* Registered again, it serves again. */
  g_assert_true (coop_dbus_export_register (peers->export, &error));
  g_assert_no_error (error);
  g_assert_false (coop_dbus_export_register (peers->export, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_variant_unref (take_reply (call (peers->loop, peers->client, peers->server, "Echo",
                                      g_variant_new ("(s)", "back"))));
}

static void
test_unexport (CoopFixture   *fixture,
               gconstpointer  data)
{
  run_with_peers (fixture, body_unexport);
}

/* --- properties and signals ---------------------------------------------------------------- */

typedef struct
{
  CoopFuture *ticked;
  CoopFuture *changed;
} Heard;

static void
on_signal (GDBusConnection *connection,
           const char      *sender,
           const char      *path,
           const char      *interface,
           const char      *signal,
           GVariant        *parameters,
           gpointer         data)
{
  Heard *heard = data;
  GValue value = G_VALUE_INIT;
  CoopFuture *future = g_str_equal (signal, "Ticked") ? heard->ticked : heard->changed;

  if (coop_future_is_done (future))
    return;
  g_value_init (&value, G_TYPE_VARIANT);
  g_value_set_variant (&value, parameters);
  coop_future_set_value (future, &value);
  g_value_unset (&value);
}

static void
on_property_set (CoopDBusExport *export,
                 const char     *name,
                 GVariant       *value,
                 gpointer        data)
{
  g_assert_cmpstr (name, ==, "Count");
  *(gint32 *) data = g_variant_get_int32 (value);
}

static void
body_properties (Peers *peers)
{
  Heard heard = { coop_future_new (peers->loop), coop_future_new (peers->loop) };
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GVariant) changes = NULL;
  g_autoptr(GError) error = NULL;
  const char *server = g_dbus_connection_get_unique_name (peers->server);
  guint ticked, changed;
  gint32 count, set_count = 0;
  gulong set_handler;
  GError *failure;

  ticked = g_dbus_connection_signal_subscribe (peers->client, server, TEST_IFACE, "Ticked",
                                               TEST_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                               on_signal, &heard, NULL);
  changed = g_dbus_connection_signal_subscribe (peers->client, server,
                                                "org.freedesktop.DBus.Properties",
                                                "PropertiesChanged", TEST_PATH, NULL,
                                                G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &heard, NULL);
  await_bus_round_trip (peers->loop, peers->client);

  /* No value yet. */
  failure = take_error (coop_dbus_connection_call (peers->loop, peers->client, server, TEST_PATH,
                                                    "org.freedesktop.DBus.Properties", "Get",
                                                    g_variant_new ("(ss)", TEST_IFACE, "Count"),
                                                    NULL, G_DBUS_CALL_FLAGS_NONE, -1));
  g_assert_error (failure, G_DBUS_ERROR, G_DBUS_ERROR_FAILED);
  g_error_free (failure);
  g_assert_null (coop_dbus_export_get_property (peers->export, "Count"));

  g_assert_true (coop_dbus_export_set_property (peers->export, "Count", g_variant_new_int32 (7), &error));
  g_assert_no_error (error);
  g_assert_true (coop_dbus_export_set_property (peers->export, "Label", g_variant_new_string ("seven"), &error));
  g_assert_false (coop_dbus_export_set_property (peers->export, "Count", g_variant_new_string ("x"), &error));
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  g_assert_false (coop_dbus_export_set_property (peers->export, "Nope", g_variant_new_int32 (1), &error));
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_clear_error (&error);

  /* Announced... */
  g_assert_true (coop_await (heard.changed, &error));
  g_assert_no_error (error);
  changes = g_value_dup_variant (coop_future_get_value (heard.changed, NULL));
  g_assert_cmpstr (g_variant_get_type_string (changes), ==, "(sa{sv}as)");
  /* ... and read. */
  reply = take_reply (coop_dbus_connection_call (peers->loop, peers->client, server, TEST_PATH,
                                                  "org.freedesktop.DBus.Properties", "Get",
                                                  g_variant_new ("(ss)", TEST_IFACE, "Count"),
                                                  G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, -1));
  g_variant_get (reply, "(v)", &value);
  g_assert_cmpint (g_variant_get_int32 (value), ==, 7);
  g_clear_pointer (&reply, g_variant_unref);
  g_clear_pointer (&value, g_variant_unref);

  /* A caller's Set of a writable property (the signal says so)... */
  set_handler = g_signal_connect (peers->export, "property-set::Count", G_CALLBACK (on_property_set), &set_count);
  g_variant_unref (take_reply (coop_dbus_connection_call (peers->loop, peers->client, server, TEST_PATH,
                                                           "org.freedesktop.DBus.Properties", "Set",
                                                           g_variant_new ("(ssv)", TEST_IFACE, "Count",
                                                                          g_variant_new_int32 (9)),
                                                           NULL, G_DBUS_CALL_FLAGS_NONE, -1)));
  value = coop_dbus_export_get_property (peers->export, "Count");
  g_assert_cmpint (g_variant_get_int32 (value), ==, 9);
  g_clear_pointer (&value, g_variant_unref);
  g_assert_cmpint (set_count, ==, 9);
  g_signal_handler_disconnect (peers->export, set_handler);
  /* ... not of a read-only one. */
  failure = take_error (coop_dbus_connection_call (peers->loop, peers->client, server, TEST_PATH,
                                                    "org.freedesktop.DBus.Properties", "Set",
                                                    g_variant_new ("(ssv)", TEST_IFACE, "Label",
                                                                   g_variant_new_string ("x")),
                                                    NULL, G_DBUS_CALL_FLAGS_NONE, -1));
  g_assert_error (failure, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);   /* GDBus says so */
  g_error_free (failure);

  /* Signals. */
  g_assert_false (coop_dbus_export_emit_signal (peers->export, "Ticked", g_variant_new ("(s)", "x"), &error));
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  g_assert_false (coop_dbus_export_emit_signal (peers->export, "Tocked", NULL, &error));
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  g_assert_true (coop_dbus_export_emit_signal (peers->export, "Ticked", g_variant_new ("(i)", 3), &error));
  g_assert_no_error (error);
  g_assert_true (coop_await (heard.ticked, &error));
  value = g_value_dup_variant (coop_future_get_value (heard.ticked, NULL));
  g_variant_get (value, "(i)", &count);
  g_assert_cmpint (count, ==, 3);

  g_dbus_connection_signal_unsubscribe (peers->client, ticked);
  g_dbus_connection_signal_unsubscribe (peers->client, changed);
  g_object_unref (heard.ticked);
  g_object_unref (heard.changed);
}

static void
test_properties (CoopFixture   *fixture,
                 gconstpointer  data)
{
  run_with_peers (fixture, body_properties);
}

/* --- names ------------------------------------------------------------------------------------ */

#define OWNED_NAME "org.coop.Test.Owned"

static void
body_own_name (Peers *peers)
{
  g_autoptr(CoopFuture) first = coop_bus_own_name (peers->loop, peers->server, OWNED_NAME,
                                                   G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT);
  g_autoptr(CoopFuture) refused = NULL;
  g_autoptr(CoopFuture) taker = NULL;
  g_autoptr(CoopFuture) lost = NULL;
  g_autoptr(CoopFuture) lost_after = NULL;
  g_autoptr(CoopFuture) unknown = NULL;
  g_autoptr(GError) error = NULL;
  guint first_id, taker_id;
  GError *failure;

  g_assert_true (coop_await (first, &error));
  first_id = coop_bus_own_name_finish (first, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (first_id, >, 0);

  /* Without replacing, another connection does not get it. */
  refused = coop_bus_own_name (peers->loop, peers->client, OWNED_NAME,
                               G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE);
  failure = await_error (refused);
  g_assert_error (failure, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_error_free (failure);
  g_assert_cmpuint (coop_bus_own_name_finish (refused, &error), ==, 0);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);

  /* With it, it does, and the first owner loses it. */
  lost = coop_bus_wait_name_lost (peers->loop, first_id);
  g_assert_false (coop_future_is_done (lost));
  taker = coop_bus_own_name (peers->loop, peers->client, OWNED_NAME,
                             G_BUS_NAME_OWNER_FLAGS_REPLACE | G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE);
  g_assert_true (coop_await (taker, &error));
  taker_id = coop_bus_own_name_finish (taker, &error);
  g_assert_no_error (error);
  g_assert_true (coop_await (lost, &error));
  g_assert_no_error (error);
  /* Not owned now: at once. */
  lost_after = coop_bus_wait_name_lost (peers->loop, first_id);
  g_assert_true (coop_future_is_done (lost_after));
  coop_bus_unown_name (first_id);

  unknown = coop_bus_wait_name_lost (peers->loop, first_id);
  failure = await_error (unknown);
  g_assert_error (failure, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_error_free (failure);

  /* Giving it up ends the wait for its loss. */
  g_clear_object (&lost);
  lost = coop_bus_wait_name_lost (peers->loop, taker_id);
  g_assert_false (coop_future_is_done (lost));
  coop_bus_unown_name (taker_id);
  g_assert_true (coop_await (lost, &error));
  g_assert_no_error (error);
}

static void
test_own_name (CoopFixture   *fixture,
               gconstpointer  data)
{
  run_with_peers (fixture, body_own_name);
}

/* Cancelling the request withdraws it: the name is free for others. */
static void
body_own_name_cancel (Peers *peers)
{
  g_autoptr(CoopFuture) holder = coop_bus_own_name (peers->loop, peers->server, OWNED_NAME "2",
                                                    G_BUS_NAME_OWNER_FLAGS_NONE);
  g_autoptr(CoopFuture) queued = NULL;
  g_autoptr(CoopFuture) next = NULL;
  g_autoptr(GError) error = NULL;
  guint holder_id;

  g_assert_true (coop_await (holder, &error));
  holder_id = coop_bus_own_name_finish (holder, NULL);
  /* Queued, so GIO calls it lost at once: the future fails. */
  queued = coop_bus_own_name (peers->loop, peers->client, OWNED_NAME "2", G_BUS_NAME_OWNER_FLAGS_NONE);
  g_assert_false (coop_await (queued, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);
  /* The queued request is gone: after the holder gives up, a third
   * request (not the withdrawn one) gets the name. */
  coop_bus_unown_name (holder_id);
  next = coop_bus_own_name (peers->loop, peers->server, OWNED_NAME "2", G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE);
  g_assert_true (coop_await (next, &error));
  g_assert_no_error (error);
  coop_bus_unown_name (coop_bus_own_name_finish (next, NULL));
}

static void
test_own_name_cancel (CoopFixture   *fixture,
                      gconstpointer  data)
{
  run_with_peers (fixture, body_own_name_cancel);
}

#define APPEARING_NAME "org.coop.Test.Appearing"

static void
body_watch_name (Peers *peers)
{
  g_autoptr(CoopFuture) seen = coop_bus_watch_name (peers->loop, peers->client, APPEARING_NAME,
                                                    G_BUS_NAME_WATCHER_FLAGS_NONE);
  g_autoptr(CoopFuture) owned = NULL;
  g_autoptr(CoopFuture) again = NULL;
  g_autoptr(CoopFuture) watching = NULL;
  g_autoptr(CoopFuture) never = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *owner = NULL;
  g_autofree char *owner_again = NULL;

  /* Not there yet: the watch waits (a round trip to the bus answers
   * "no owner" first). */
  await_bus_round_trip (peers->loop, peers->client);
  g_assert_false (coop_future_is_done (seen));

  owned = coop_bus_own_name (peers->loop, peers->server, APPEARING_NAME, G_BUS_NAME_OWNER_FLAGS_NONE);
  g_assert_true (coop_await (seen, &error));
  g_assert_no_error (error);
  owner = coop_bus_watch_name_finish (seen, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (owner, ==, g_dbus_connection_get_unique_name (peers->server));

  /* There already: at once (after one round trip). */
  again = coop_bus_watch_name (peers->loop, peers->client, APPEARING_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE);
  g_assert_true (coop_await (again, &error));
  owner_again = coop_bus_watch_name_finish (again, NULL);
  g_assert_cmpstr (owner_again, ==, owner);

  /* A name that never comes, under a timeout: the watch ends with it. */
  watching = coop_bus_watch_name (peers->loop, peers->client, "org.coop.Test.Never",
                                  G_BUS_NAME_WATCHER_FLAGS_NONE);
  never = coop_wait_for (watching, G_USEC_PER_SEC / 20);
  g_assert_false (coop_await (never, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_clear_error (&error);
  g_assert_true (coop_future_is_cancelled (watching));
  g_assert_null (coop_bus_watch_name_finish (watching, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  g_assert_true (coop_await (owned, &error));
  coop_bus_unown_name (coop_bus_own_name_finish (owned, NULL));
}

static void
test_watch_name (CoopFixture   *fixture,
                 gconstpointer  data)
{
  run_with_peers (fixture, body_watch_name);
}

/* --- peer to peer ------------------------------------------------------------------------------- */

/* Both ends of a socketpair as D-Bus connections, no bus between them:
 * calls carry no sender, and the service learns of the peer's end from
 * the connection closing. */
static void
peer_pair (CoopLoop         *loop,
           GDBusConnection **server,
           GDBusConnection **client)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) a = NULL;
  g_autoptr(GSocket) b = NULL;
  g_autoptr(GSocketConnection) server_stream = NULL;
  g_autoptr(GSocketConnection) client_stream = NULL;
  g_autoptr(CoopAsyncFuture) server_op = coop_async_future_new (loop);
  g_autoptr(CoopAsyncFuture) client_op = coop_async_future_new (loop);
  g_autofree char *guid = g_dbus_generate_guid ();
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  a = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  b = g_socket_new_from_fd (fds[1], &error);
  g_assert_no_error (error);
  server_stream = g_socket_connection_factory_create_connection (a);
  client_stream = g_socket_connection_factory_create_connection (b);
  /* The handshake needs both ends going at once. */
  g_dbus_connection_new (G_IO_STREAM (server_stream), guid,
                         G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER, NULL,
                         coop_async_future_get_cancellable (server_op), coop_async_future_callback, server_op);
  g_dbus_connection_new (G_IO_STREAM (client_stream), NULL,
                         G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL,
                         coop_async_future_get_cancellable (client_op), coop_async_future_callback, client_op);
  g_assert_true (coop_await (COOP_FUTURE (server_op), &error));
  g_assert_true (coop_await (COOP_FUTURE (client_op), &error));
  *server = g_dbus_connection_new_finish (coop_async_future_get_result (server_op), &error);
  g_assert_no_error (error);
  *client = g_dbus_connection_new_finish (coop_async_future_get_result (client_op), &error);
  g_assert_no_error (error);
}

static void
peer_task (CoopTask *task,
           gpointer  data)
{
  CoopLoop *loop = data;
  g_autoptr(GDBusConnection) server = NULL;
  g_autoptr(GDBusConnection) client = NULL;
  g_autoptr(CoopDBusExport) export = NULL;
  g_autoptr(CoopFuture) echo = NULL;
  g_autoptr(CoopFuture) waiting = NULL;
  g_autoptr(CoopFuture) closed = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  Service service;
  const char *text;

  peer_pair (loop, &server, &client);
  g_assert_null (g_dbus_connection_get_unique_name (server));
  service_init (&service, loop);
  export = service_export (&service, server);

  echo = coop_dbus_connection_call (loop, client, NULL, TEST_PATH, TEST_IFACE, "Echo",
                                    g_variant_new ("(s)", "direct"), G_VARIANT_TYPE ("(s)"),
                                    G_DBUS_CALL_FLAGS_NONE, -1);
  reply = await_reply (echo);
  g_variant_get (reply, "(&s)", &text);
  g_assert_cmpstr (text, ==, "direct");

  /* The peer goes: its connection's end closes, and so does the task. */
  waiting = coop_dbus_connection_call (loop, client, NULL, TEST_PATH, TEST_IFACE, "Wait", NULL,
                                       NULL, G_DBUS_CALL_FLAGS_NONE, -1);
  g_clear_pointer (&reply, g_variant_unref);
  g_clear_object (&echo);
  echo = coop_dbus_connection_call (loop, client, NULL, TEST_PATH, TEST_IFACE, "Echo",
                                    g_variant_new ("(s)", "x"), NULL, G_DBUS_CALL_FLAGS_NONE, -1);
  reply = await_reply (echo);
  g_assert_cmpuint (coop_dbus_export_get_n_calls (export), ==, 1);
  closed = coop_dbus_connection_close (loop, client);
  g_assert_true (coop_await (closed, &error));
  g_assert_true (coop_await (service.cancelled, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (service.n_cancelled, ==, 1);
  g_assert_false (coop_await (waiting, NULL));
  while (coop_dbus_export_get_n_calls (export) > 0)
    g_assert_true (coop_yield (NULL));

  coop_dbus_export_unregister (export);
  service_clear (&service);
}

static void
test_peer_to_peer (CoopFixture   *fixture,
                   gconstpointer  data)
{
  coop_test_run_task (fixture->loop, peer_task, fixture->loop, 30 * G_USEC_PER_SEC);
  coop_test_drain ();
}

/* --- misuse ------------------------------------------------------------------------------------- */

static void
body_misuse (Peers *peers)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopDBusExport) bad = NULL;

  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*has no method Missing*");
  coop_dbus_export_add_method (peers->export, "Missing", method_echo, NULL, NULL);
  g_test_assert_expected_messages ();

  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*no bus name is owned with id 4242*");
  coop_bus_unown_name (4242);
  g_test_assert_expected_messages ();

  bad = coop_dbus_export_new_for_xml (peers->loop, peers->server, TEST_PATH, service_xml,
                                      "org.coop.Absent", &error);
  g_assert_null (bad);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);
  bad = coop_dbus_export_new_for_xml (peers->loop, peers->server, TEST_PATH, "<node><oops", TEST_IFACE, &error);
  g_assert_null (bad);
  g_assert_error (error, G_MARKUP_ERROR, G_MARKUP_ERROR_PARSE);
  g_clear_error (&error);

  /* The same path and interface twice. */
  bad = coop_dbus_export_new_for_xml (peers->loop, peers->server, TEST_PATH, service_xml, TEST_IFACE, &error);
  g_assert_no_error (error);
  g_assert_false (coop_dbus_export_register (bad, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
}

static void
test_misuse (CoopFixture   *fixture,
             gconstpointer  data)
{
  run_with_peers (fixture, body_misuse);
}

/* A closed loop: calls fail at once rather than never finish. */
static void
test_closed_loop (void)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(CoopLoop) loop = NULL;
  g_autoptr(CoopFuture) future = NULL;
  g_autoptr(GError) error = NULL;

  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);
  coop_loop_close (loop);
  future = coop_dbus_connection_new_for_address (loop, bus_address,
                                                 G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                 G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL);
  g_assert_true (coop_future_is_done (future));
  g_assert_null (coop_dbus_connection_new_for_address_finish (future, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_LOOP_CLOSED);
  g_main_context_pop_thread_default (context);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GSubprocess) daemon = NULL;
  g_autofree char *program = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

  program = g_find_program_in_path ("dbus-daemon");
  if (program == NULL)
    {
      g_test_skip ("dbus-daemon is not installed");
      return g_test_run ();
    }
  daemon = daemon_start ();

  coop_test_add ("/coop/dbus/call", test_call);
  coop_test_add ("/coop/dbus/bus-get", test_bus_get);
  coop_test_add ("/coop/dbus/fds", test_fds);
  coop_test_add ("/coop/dbus/errors", test_errors);
  coop_test_add ("/coop/dbus/concurrent", test_concurrent);
  coop_test_add ("/coop/dbus/cancel-call", test_cancel_call);
  coop_test_add ("/coop/dbus/caller-leaves", test_caller_leaves);
  coop_test_add ("/coop/dbus/caller-leaves-early", test_caller_leaves_early);
  coop_test_add ("/coop/dbus/caller-gone-before-served", test_caller_gone_before_served);
  coop_test_add ("/coop/dbus/connection-closes", test_connection_closes);
  coop_test_add ("/coop/dbus/unexport", test_unexport);
  coop_test_add ("/coop/dbus/properties", test_properties);
  coop_test_add ("/coop/dbus/own-name", test_own_name);
  coop_test_add ("/coop/dbus/own-name-refused", test_own_name_cancel);
  coop_test_add ("/coop/dbus/watch-name", test_watch_name);
  coop_test_add ("/coop/dbus/peer-to-peer", test_peer_to_peer);
  coop_test_add ("/coop/dbus/misuse", test_misuse);
  g_test_add_func ("/coop/dbus/closed-loop", test_closed_loop);

  status = g_test_run ();
  g_subprocess_force_exit (daemon);
  g_subprocess_wait (daemon, NULL, NULL);
  g_free (bus_address);
  return status;
}
