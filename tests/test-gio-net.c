/* test-gio-net.c: the GIO wrappers for sockets, the resolver,
 * subprocesses and async initables, against loopback sockets, real
 * processes and GIO's own thread-pool initialization.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

static GError *
run (CoopFixture *fx,
     CoopFuture  *future)
{
  GError *error = NULL;

  coop_loop_run_until_complete (fx->loop, future, &error);
  return error;
}

static void
run_ok (CoopFixture *fx,
        CoopFuture  *future)
{
  g_autoptr(GError) error = run (fx, future);

  g_assert_no_error (error);
}

/* --- sockets ----------------------------------------------------------------------- */

static guint16
listen_loopback (GSocketListener *listener)
{
  g_autoptr(GError) error = NULL;
  guint16 port = g_socket_listener_add_any_inet_port (listener, NULL, &error);

  g_assert_no_error (error);
  return port;
}

static void
test_connect_accept (CoopFixture   *fx,
                     gconstpointer  data)
{
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  guint16 port = listen_loopback (listener);
  g_autofree char *host_and_port = g_strdup_printf ("127.0.0.1:%u", port);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new_from_string ("127.0.0.1", port);
  g_autoptr(CoopFuture) accepted = coop_socket_listener_accept (fx->loop, listener, NULL);
  g_autoptr(CoopFuture) connected = coop_socket_client_connect_to_host (fx->loop, client, host_and_port, 0, NULL);
  g_autoptr(CoopFuture) accepted2 = NULL, connected2 = NULL;
  g_autoptr(GSocketAddress) local = NULL, remote = NULL;
  GSocketConnection *in, *out;

  run_ok (fx, connected);
  run_ok (fx, accepted);
  out = coop_future_get_socket_connection (connected, NULL);
  in = coop_future_get_socket_connection (accepted, NULL);
  g_assert_true (G_IS_TCP_CONNECTION (out));
  local = g_socket_connection_get_local_address (out, NULL);
  remote = g_socket_connection_get_remote_address (in, NULL);
  g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)), ==,
                    g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (remote)));

  /* connect() with a socket address, the accept awaited first. */
  accepted2 = coop_socket_listener_accept (fx->loop, listener, NULL);
  connected2 = coop_socket_client_connect (fx->loop, client, G_SOCKET_CONNECTABLE (address), NULL);
  run_ok (fx, accepted2);
  run_ok (fx, connected2);
  g_assert_nonnull (coop_future_get_socket_connection (connected2, NULL));
}

static void
test_connect_errors (CoopFixture   *fx,
                     gconstpointer  data)
{
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  guint16 port = listen_loopback (listener);
  g_autofree char *host_and_port = NULL;
  g_autoptr(CoopFuture) refused = NULL, accept = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;

  /* Nobody listens on this port once the listener is closed. */
  g_socket_listener_close (listener);
  host_and_port = g_strdup_printf ("127.0.0.1:%u", port);
  refused = coop_socket_client_connect_to_host (fx->loop, client, host_and_port, 0, NULL);
  error = run (fx, refused);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_clear_error (&error);

  /* An accept nobody answers, cancelled by the caller's cancellable. */
  g_clear_object (&listener);
  listener = g_socket_listener_new ();
  listen_loopback (listener);
  accept = coop_socket_listener_accept (fx->loop, listener, cancellable);
  coop_test_drain ();
  g_assert_false (coop_future_is_done (accept));
  g_cancellable_cancel (cancellable);
  error = run (fx, accept);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (coop_future_is_cancelled (accept));
}

/* --- the resolver ------------------------------------------------------------------ */

static void
test_resolver (CoopFixture   *fx,
               gconstpointer  data)
{
  g_autoptr(GResolver) resolver = g_resolver_get_default ();
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(CoopFuture) by_name = coop_resolver_lookup_by_name (fx->loop, resolver, "localhost", NULL);
  g_autoptr(CoopFuture) literal = coop_resolver_lookup_by_name (fx->loop, resolver, "127.0.0.1", NULL);
  g_autoptr(CoopFuture) by_address = coop_resolver_lookup_by_address (fx->loop, resolver, loopback, NULL);
  g_autoptr(CoopFuture) failed = coop_resolver_lookup_by_name (fx->loop, resolver, "no-such-host.invalid", NULL);
  g_autoptr(GError) error = NULL;
  GPtrArray *addresses;
  gboolean has_loopback = FALSE;

  run_ok (fx, by_name);
  addresses = coop_future_get_inet_addresses (by_name, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (addresses->len, >, 0);
  for (guint i = 0; i < addresses->len; i++)
    has_loopback |= g_inet_address_get_is_loopback (addresses->pdata[i]);
  g_assert_true (has_loopback);

  run_ok (fx, literal);
  addresses = coop_future_get_inet_addresses (literal, NULL);
  g_assert_cmpuint (addresses->len, ==, 1);
  g_assert_true (g_inet_address_equal (addresses->pdata[0], loopback));

  /* /etc/hosts names 127.0.0.1; whatever the name, it is one. */
  run_ok (fx, by_address);
  g_assert_cmpstr (coop_future_get_string (by_address, NULL), !=, "");

  error = run (fx, failed);
  g_assert_true (error != NULL && error->domain == G_RESOLVER_ERROR);
}

/* A resolver whose records come from the test, to check the wrapper's
 * handling of GIO's list of variants without a DNS server. */
typedef struct { GResolver parent_instance; } TestResolver;
typedef struct { GResolverClass parent_class; } TestResolverClass;
static GType test_resolver_get_type (void);
G_DEFINE_TYPE (TestResolver, test_resolver, G_TYPE_RESOLVER)

static void
free_records (gpointer records)
{
  g_list_free_full (records, (GDestroyNotify) g_variant_unref);
}

static void
test_resolver_lookup_records_async (GResolver           *resolver,
                                    const char          *rrname,
                                    GResolverRecordType  record_type,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (resolver, cancellable, callback, user_data);
  GList *records = NULL;

  if (g_strcmp0 (rrname, "_coop._tcp.example") != 0 || record_type != G_RESOLVER_RECORD_SRV)
    {
      g_task_return_new_error (task, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND, "no records for %s", rrname);
      return;
    }
  records = g_list_append (records, g_variant_ref_sink (g_variant_new ("(qqqs)", 1, 2, 8080, "a.example")));
  records = g_list_append (records, g_variant_ref_sink (g_variant_new ("(qqqs)", 3, 4, 8081, "b.example")));
  /* Freed by the GTask if nobody propagates it (a cancelled lookup). */
  g_task_return_pointer (task, records, free_records);
}

static GList *
test_resolver_lookup_records_finish (GResolver     *resolver,
                                     GAsyncResult  *result,
                                     GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
test_resolver_class_init (TestResolverClass *klass)
{
  GResolverClass *resolver_class = G_RESOLVER_CLASS (klass);

  resolver_class->lookup_records_async = test_resolver_lookup_records_async;
  resolver_class->lookup_records_finish = test_resolver_lookup_records_finish;
}

static void
test_resolver_init (TestResolver *self)
{
}

static void
test_records (CoopFixture   *fx,
              gconstpointer  data)
{
  g_autoptr(GResolver) resolver = g_object_new (test_resolver_get_type (), NULL);
  g_autoptr(CoopFuture) found = coop_resolver_lookup_records (fx->loop, resolver, "_coop._tcp.example",
                                                              G_RESOLVER_RECORD_SRV, NULL);
  g_autoptr(CoopFuture) missing = coop_resolver_lookup_records (fx->loop, resolver, "nothing.example",
                                                                G_RESOLVER_RECORD_SRV, NULL);
  g_autoptr(GVariant) second = NULL, inner = NULL;
  g_autoptr(GError) error = NULL;
  GVariant *records;
  const char *target;
  guint16 port;

  run_ok (fx, found);
  records = coop_future_get_records (found, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (records), ==, 2);
  second = g_variant_get_child_value (records, 1);
  inner = g_variant_get_variant (second);
  g_variant_get (inner, "(qqq&s)", NULL, NULL, &port, &target);
  g_assert_cmpuint (port, ==, 8081);
  g_assert_cmpstr (target, ==, "b.example");

  error = run (fx, missing);
  g_assert_error (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND);
  g_clear_error (&error);
  /* Not a list of addresses. */
  g_assert_null (coop_future_get_inet_addresses (found, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT);
}

/* A lookup cancelled before GIO answers ends cancelled, and the records
 * that arrived anyway are freed (valgrind, ASan). */
static void
test_resolver_cancel (CoopFixture   *fx,
                      gconstpointer  data)
{
  g_autoptr(GResolver) resolver = g_object_new (test_resolver_get_type (), NULL);
  g_autoptr(GResolver) system = g_resolver_get_default ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(CoopFuture) records = coop_resolver_lookup_records (fx->loop, resolver, "_coop._tcp.example",
                                                                G_RESOLVER_RECORD_SRV, NULL);
  g_autoptr(CoopFuture) by_name = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_future_cancel (records, "never mind"));
  g_assert_false (coop_future_is_done (records));   /* until GIO called back */
  error = run (fx, records);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  g_cancellable_cancel (cancellable);
  by_name = coop_resolver_lookup_by_name (fx->loop, system, "localhost", cancellable);
  error = run (fx, by_name);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* --- subprocesses ------------------------------------------------------------------ */

static GSubprocess *
spawn (GSubprocessFlags flags,
       ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  GSubprocess *process;
  va_list args;
  const char *arg;

  va_start (args, flags);
  while ((arg = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  process = g_subprocess_newv ((const char * const *) argv->pdata, flags, &error);
  g_assert_no_error (error);
  return process;
}

static void
test_subprocess_wait (CoopFixture   *fx,
                      gconstpointer  data)
{
  g_autoptr(GSubprocess) ok = spawn (G_SUBPROCESS_FLAGS_NONE, "true", NULL);
  g_autoptr(GSubprocess) bad = spawn (G_SUBPROCESS_FLAGS_NONE, "sh", "-c", "exit 3", NULL);
  g_autoptr(GSubprocess) bad2 = spawn (G_SUBPROCESS_FLAGS_NONE, "sh", "-c", "exit 4", NULL);
  g_autoptr(CoopFuture) waited = coop_gsubprocess_wait (fx->loop, ok, NULL);
  g_autoptr(CoopFuture) checked = coop_gsubprocess_wait_check (fx->loop, bad, NULL);
  g_autoptr(CoopFuture) waited_bad = coop_gsubprocess_wait (fx->loop, bad2, NULL);
  g_autoptr(GError) error = NULL;

  run_ok (fx, waited);
  g_assert_true (g_subprocess_get_successful (ok));
  run_ok (fx, waited_bad);
  g_assert_cmpint (g_subprocess_get_exit_status (bad2), ==, 4);
  error = run (fx, checked);
  g_assert_error (error, G_SPAWN_EXIT_ERROR, 3);
}

static void
test_subprocess_communicate (CoopFixture   *fx,
                             gconstpointer  data)
{
  g_autoptr(GSubprocess) cat = spawn (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, "cat", NULL);
  g_autoptr(GSubprocess) sh = spawn (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                                     "sh", "-c", "echo out; echo err >&2", NULL);
  g_autoptr(GSubprocess) binary = spawn (G_SUBPROCESS_FLAGS_STDOUT_PIPE, "printf", "\\377\\376", NULL);
  g_autoptr(GBytes) input = g_bytes_new_static ("a\0b", 3);
  g_autoptr(CoopFuture) echoed = coop_gsubprocess_communicate (fx->loop, cat, input, NULL);
  g_autoptr(CoopFuture) text = coop_gsubprocess_communicate_utf8 (fx->loop, sh, NULL, NULL);
  g_autoptr(CoopFuture) not_text = coop_gsubprocess_communicate_utf8 (fx->loop, binary, NULL, NULL);
  g_autoptr(GError) error = NULL;
  CoopSubprocessOutput *output;

  run_ok (fx, echoed);
  output = coop_future_get_subprocess_output (echoed, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (coop_subprocess_output_get_stdout (output), input));
  g_assert_null (coop_subprocess_output_get_stderr (output));

  run_ok (fx, text);
  output = coop_future_get_subprocess_output (text, NULL);
  g_assert_cmpstr (g_bytes_get_data (coop_subprocess_output_get_stdout (output), NULL), ==, "out\n");
  g_assert_cmpuint (g_bytes_get_size (coop_subprocess_output_get_stdout (output)), ==, 4);
  g_assert_cmpstr (g_bytes_get_data (coop_subprocess_output_get_stderr (output), NULL), ==, "err\n");

  error = run (fx, not_text);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
}

/* A wait on a process that does not exit (cat on an open pipe): cancelling
 * the future stops the wait, not the process. */
static void
test_subprocess_cancel (CoopFixture   *fx,
                        gconstpointer  data)
{
  g_autoptr(GSubprocess) cat = spawn (G_SUBPROCESS_FLAGS_STDIN_PIPE, "cat", NULL);
  g_autoptr(CoopFuture) waited = coop_gsubprocess_wait (fx->loop, cat, NULL);
  g_autoptr(CoopFuture) communicated = NULL, waited_again = NULL;
  g_autoptr(GBytes) nothing = g_bytes_new_static ("", 0);
  g_autoptr(GError) error = NULL;

  coop_test_drain ();
  g_assert_false (coop_future_is_done (waited));
  coop_future_cancel (waited, "enough");
  error = run (fx, waited);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  /* Still running: closing its input ends it. */
  g_assert_nonnull (g_subprocess_get_identifier (cat));
  communicated = coop_gsubprocess_communicate (fx->loop, cat, nothing, NULL);
  run_ok (fx, communicated);
  waited_again = coop_gsubprocess_wait_check (fx->loop, cat, NULL);
  run_ok (fx, waited_again);
}

/* --- async initables --------------------------------------------------------------- */

/* GIO's default GAsyncInitable runs GInitable's init in its thread pool. */
typedef struct { GObject parent_instance; gboolean fail; gboolean inited; } TestInitable;
typedef struct { GObjectClass parent_class; } TestInitableClass;
static GType test_initable_get_type (void);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestInitable, g_object_unref)

static gboolean
test_initable_init_sync (GInitable     *initable,
                         GCancellable  *cancellable,
                         GError       **error)
{
  TestInitable *self = (TestInitable *) initable;

  if (self->fail)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED, "refused");
      return FALSE;
    }
  self->inited = TRUE;
  return TRUE;
}

static void
test_initable_iface_init (GInitableIface *iface)
{
  iface->init = test_initable_init_sync;
}

static void
test_async_initable_iface_init (GAsyncInitableIface *iface)
{
}

G_DEFINE_TYPE_WITH_CODE (TestInitable, test_initable, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE, test_initable_iface_init)
                         G_IMPLEMENT_INTERFACE (G_TYPE_ASYNC_INITABLE, test_async_initable_iface_init))

static void
test_initable_class_init (TestInitableClass *klass)
{
}

static void
test_initable_init (TestInitable *self)
{
}

static void
test_initable (CoopFixture   *fx,
               gconstpointer  data)
{
  g_autoptr(TestInitable) good = g_object_new (test_initable_get_type (), NULL);
  g_autoptr(TestInitable) bad = g_object_new (test_initable_get_type (), NULL);
  g_autoptr(CoopFuture) ok = NULL, failed = NULL;
  g_autoptr(GError) error = NULL;

  bad->fail = TRUE;
  ok = coop_async_initable_init (fx->loop, G_ASYNC_INITABLE (good), G_PRIORITY_DEFAULT, NULL);
  failed = coop_async_initable_init (fx->loop, G_ASYNC_INITABLE (bad), G_PRIORITY_DEFAULT, NULL);
  run_ok (fx, ok);
  g_assert_true (good->inited);
  g_assert_true (coop_future_get_boolean (ok, NULL));
  error = run (fx, failed);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED);
}

static void
test_initable_cancel (CoopFixture   *fx,
                      gconstpointer  data)
{
  g_autoptr(TestInitable) obj = g_object_new (test_initable_get_type (), NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(CoopFuture) init = NULL;
  g_autoptr(GError) error = NULL;

  g_cancellable_cancel (cancellable);
  init = coop_async_initable_init (fx->loop, G_ASYNC_INITABLE (obj), G_PRIORITY_DEFAULT, cancellable);
  error = run (fx, init);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (coop_future_is_cancelled (init));
}

/* A wrapper called from code whose thread-default context is not the
 * loop's still completes on the loop (it makes the call there). */
static void
test_other_context (CoopFixture   *fx,
                    gconstpointer  data)
{
  GMainContext *other = g_main_context_new ();
  g_autoptr(TestInitable) obj = g_object_new (test_initable_get_type (), NULL);
  g_autoptr(CoopFuture) init = NULL;

  g_main_context_push_thread_default (other);
  init = coop_async_initable_init (fx->loop, G_ASYNC_INITABLE (obj), G_PRIORITY_DEFAULT, NULL);
  g_main_context_pop_thread_default (other);
  run_ok (fx, init);
  g_assert_true (obj->inited);
  g_main_context_unref (other);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/gio-net/connect-accept", test_connect_accept);
  coop_test_add ("/gio-net/connect-errors", test_connect_errors);
  coop_test_add ("/gio-net/resolver", test_resolver);
  coop_test_add ("/gio-net/records", test_records);
  coop_test_add ("/gio-net/resolver-cancel", test_resolver_cancel);
  coop_test_add ("/gio-net/process/wait", test_subprocess_wait);
  coop_test_add ("/gio-net/process/communicate", test_subprocess_communicate);
  coop_test_add ("/gio-net/process/cancel", test_subprocess_cancel);
  coop_test_add ("/gio-net/initable", test_initable);
  coop_test_add ("/gio-net/initable-cancel", test_initable_cancel);
  coop_test_add ("/gio-net/other-context", test_other_context);

  return g_test_run ();
}
