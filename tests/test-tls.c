/* test-tls.c: TLS streams and servers against a peer written with Python's
 * ssl module (tests/tls-peer.py, OpenSSL), with certificates it generates
 * at run time.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define TEST_TIMEOUT (30 * G_USEC_PER_SEC)

#define current_loop() coop_future_get_loop (COOP_FUTURE (coop_task_get_current ()))

static char *cert_dir;
static char *peer_script;

static gboolean
tls_usable (void)
{
  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      g_test_skip ("no GIO TLS backend (glib-networking)");
      return FALSE;
    }
  if (cert_dir == NULL)
    {
      g_test_skip ("the test certificates could not be made (python3-cryptography)");
      return FALSE;
    }
  return TRUE;
}

static char *
cert_path (const char *name)
{
  return g_build_filename (cert_dir, name, NULL);
}

static GTlsDatabase *
test_database (void)
{
  g_autofree char *ca = cert_path ("ca.pem");
  g_autoptr(GError) error = NULL;
  GTlsDatabase *db = g_tls_file_database_new (ca, &error);

  g_assert_no_error (error);
  return db;
}

/* --- the foreign peer ------------------------------------------------------------- */

typedef struct
{
  GSubprocess      *proc;
  GDataInputStream *out;
  guint16           port;
} Peer;

static void
peer_start (Peer       *peer,
            const char *role,
            const char *arg,
            const char *mode)
{
  g_autoptr(GError) error = NULL;

  peer->proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                                 "/usr/bin/python3", peer_script, role, cert_dir, arg, mode, NULL);
  g_assert_no_error (error);
  peer->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (peer->proc));
  if (g_str_equal (role, "server"))
    {
      g_autofree char *line = g_data_input_stream_read_line (peer->out, NULL, NULL, &error);

      g_assert_no_error (error);
      g_assert_nonnull (line);
      g_assert_true (g_str_has_prefix (line, "PORT "));
      peer->port = (guint16) atoi (line + 5);
    }
}

/* Waits for the peer to exit (it does once Coop's side is done) and
 * returns what it printed. */
static char *
peer_finish (Peer *peer)
{
  g_autoptr(GError) error = NULL;
  GString *all = g_string_new (NULL);
  char *line;

  while ((line = g_data_input_stream_read_line (peer->out, NULL, NULL, &error)) != NULL)
    {
      g_string_append_printf (all, "%s\n", line);
      g_free (line);
    }
  g_assert_no_error (error);
  g_subprocess_wait (peer->proc, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (peer->proc));
  g_assert_cmpint (g_subprocess_get_exit_status (peer->proc), ==, 0);
  g_clear_object (&peer->out);
  g_clear_object (&peer->proc);
  return g_string_free (all, FALSE);
}

/* In a task: waits for the peer process without holding the loop. */
static void
peer_await_exit (Peer *peer)
{
  g_autoptr(CoopAsyncFuture) op = coop_async_future_new (current_loop ());
  g_autoptr(GError) error = NULL;

  g_subprocess_wait_async (peer->proc, coop_async_future_get_cancellable (op),
                           coop_async_future_callback, op);
  coop_await (COOP_FUTURE (op), &error);
  g_assert_no_error (error);
}

#define run_task(loop, func, data) coop_test_run_task ((loop), (func), (data), TEST_TIMEOUT)

static GBytes *
await_bytes (CoopFuture  *future,
             GError     **error)
{
  GBytes *bytes = NULL;

  if (coop_await (future, error))
    bytes = g_bytes_ref ((GBytes *) coop_future_get_boxed (future, NULL));
  g_object_unref (future);
  return bytes;
}

static void
expect_read (CoopFuture *future,
             const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = await_bytes (future, &error);

  g_assert_no_error (error);
  g_assert_nonnull (bytes);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                   expected, strlen (expected));
}

static void
write_str (CoopStream *stream,
           const char *str)
{
  g_autoptr(GBytes) bytes = g_bytes_new (str, strlen (str));
  g_autoptr(GError) error = NULL;

  coop_stream_write (stream, bytes, &error);
  g_assert_no_error (error);
}

static void
close_and_wait (CoopStream *stream)
{
  g_autoptr(CoopFuture) closed = NULL;
  g_autoptr(GError) error = NULL;

  coop_stream_close (stream);
  closed = coop_stream_wait_closed (stream);
  coop_await (closed, &error);
  g_assert_no_error (error);
}

static CoopStream *
await_open_tls (const char   *host,
                guint16       port,
                const char  **alpn,
                GError      **error)
{
  g_autoptr(GTlsDatabase) db = test_database ();
  g_autoptr(CoopFuture) open = coop_stream_open_tls (current_loop (), host, port, db, alpn);

  if (!coop_await (open, error))
    return NULL;
  return g_object_ref (COOP_STREAM (coop_future_get_object (open, NULL)));
}

/* --- Coop client, foreign server ---------------------------------------------------- */

#define BULK (1024 * 1024)

typedef struct
{
  CoopStream *stream;
  gsize       n;
} Bulk;

static void
bulk_writer_body (CoopTask *task,
                  gpointer  data)
{
  Bulk *bulk = data;
  g_autofree guint8 *chunk = g_malloc (100000);
  gsize sent = 0;

  for (gsize i = 0; i < 100000; i++)
    chunk[i] = (guint8) (i % 251);
  while (sent < bulk->n)
    {
      gsize n = MIN (100000, bulk->n - sent);
      g_autoptr(GBytes) bytes = g_bytes_new (chunk, n);
      g_autoptr(CoopFuture) drained = NULL;
      g_autoptr(GError) error = NULL;

      coop_stream_write (bulk->stream, bytes, &error);
      g_assert_no_error (error);
      sent += n;
      drained = coop_stream_drain (bulk->stream);
      coop_await (drained, &error);
      g_assert_no_error (error);
    }
}

static void
client_echo_body (CoopTask *task,
                  gpointer  data)
{
  Peer *peer = data;
  const char *alpn[] = { "x-coop-test", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) stream = await_open_tls ("localhost", peer->port, alpn, &error);
  g_autoptr(CoopTask) writer = NULL;
  GTlsConnection *conn;
  Bulk bulk;
  gsize got = 0;

  g_assert_no_error (error);
  conn = coop_stream_get_tls_connection (stream);
  g_assert_true (G_IS_TLS_CLIENT_CONNECTION (conn));
  g_assert_cmpstr (g_tls_connection_get_negotiated_protocol (conn), ==, "x-coop-test");
  g_assert_true (G_IS_TLS_CERTIFICATE (g_tls_connection_get_peer_certificate (conn)));

  write_str (stream, "first line\nsecond");
  write_str (stream, " line\n0123456789");
  expect_read (coop_stream_read_line (stream), "first line\n");
  expect_read (coop_stream_read_line (stream), "second line\n");
  expect_read (coop_stream_read_exactly (stream, 4), "0123");
  /* Small reads leave the rest of a TLS record in GIO: still readable. */
  expect_read (coop_stream_read (stream, 3), "456");
  expect_read (coop_stream_read (stream, 3), "789");

  /* A megabyte both ways with back-pressure, read in odd-sized pieces. */
  bulk.stream = stream;
  bulk.n = BULK;
  writer = coop_task_new (current_loop (), bulk_writer_body, &bulk, NULL);
  while (got < BULK)
    {
      g_autoptr(GBytes) bytes = await_bytes (got % 2 ? coop_stream_read (stream, 777)
                                                     : coop_stream_read_exactly (stream, MIN (1000, BULK - got)),
                                             &error);
      const guint8 *p;
      gsize size;

      g_assert_no_error (error);
      p = g_bytes_get_data (bytes, &size);
      g_assert_cmpuint (size, >, 0);
      for (gsize i = 0; i < size; i++)
        g_assert_cmpuint (p[i], ==, ((got + i) % 100000) % 251);
      got += size;
    }
  coop_await (COOP_FUTURE (writer), &error);
  g_assert_no_error (error);

  close_and_wait (stream);
}

static void
test_client_echo (CoopFixture   *f,
                  gconstpointer  data)
{
  Peer peer = { 0 };
  g_autofree char *said = NULL;

  if (!tls_usable ())
    return;
  peer_start (&peer, "server", "server", "echo");
  run_task (f->loop, client_echo_body, &peer);
  said = peer_finish (&peer);
  g_assert_nonnull (strstr (said, "alpn x-coop-test\n"));
  /* close() sent close_notify: the peer saw a clean end, not a truncation. */
  g_assert_nonnull (strstr (said, "clean-eof\n"));
}

static void
client_abort_body (CoopTask *task,
                   gpointer  data)
{
  Peer *peer = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) stream = await_open_tls ("localhost", peer->port, NULL, &error);

  g_assert_no_error (error);
  write_str (stream, "ping\n");
  expect_read (coop_stream_read_line (stream), "ping\n");
  coop_stream_abort (stream);
}

/* abort() sends no close_notify: the peer sees a truncated connection. */
static void
test_client_abort (CoopFixture   *f,
                   gconstpointer  data)
{
  Peer peer = { 0 };
  g_autofree char *said = NULL;

  if (!tls_usable ())
    return;
  peer_start (&peer, "server", "server", "echo");
  run_task (f->loop, client_abort_body, &peer);
  said = peer_finish (&peer);
  g_assert_cmpstr (said, ==, "alpn None\nragged-eof\n");
}

typedef struct
{
  Peer        peer;
  const char *host;
  GQuark      domain;
  int         code;
  const char *message_part;
} Failure;

static void
client_fails_body (CoopTask *task,
                   gpointer  data)
{
  Failure *fail = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) stream = await_open_tls (fail->host, fail->peer.port, NULL, &error);

  g_assert_null (stream);
  g_assert_nonnull (error);
  g_test_message ("open_tls failed: %s", error->message);
  if (fail->domain != 0 && fail->code < 0)
    g_assert_true (error->domain == fail->domain);   /* the code is the backend's choice */
  else if (fail->domain != 0)
    g_assert_error (error, fail->domain, fail->code);
  else
    g_assert_true (error->domain == G_TLS_ERROR || error->domain == G_IO_ERROR);
  if (fail->message_part != NULL)
    g_assert_nonnull (strstr (error->message, fail->message_part));
}

static void
check_client_fails (CoopFixture *f,
                    const char  *cert,
                    const char  *mode,
                    const char  *host,
                    GQuark       domain,
                    int          code,
                    const char  *message_part)
{
  Failure fail = { { 0 }, host, domain, code, message_part };
  g_autofree char *said = NULL;

  if (!tls_usable ())
    return;
  peer_start (&fail.peer, "server", cert, mode);
  run_task (f->loop, client_fails_body, &fail);
  said = peer_finish (&fail.peer);
  g_assert_null (strstr (said, "clean-eof"));
}

static void
test_client_unknown_ca (CoopFixture *f, gconstpointer data)
{
  check_client_fails (f, "untrusted", "echo", "localhost", G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                      "not signed by a trusted certificate authority");
}

static void
test_client_wrong_host (CoopFixture *f, gconstpointer data)
{
  check_client_fails (f, "wronghost", "echo", "localhost", G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                      "does not match the host name");
}

static void
test_client_expired (CoopFixture *f, gconstpointer data)
{
  check_client_fails (f, "expired", "echo", "127.0.0.1", G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                      "has expired");
}

static void
test_client_peer_closes (CoopFixture *f, gconstpointer data)
{
  check_client_fails (f, "server", "close-in-handshake", "localhost", 0, 0, NULL);
}

static void
test_client_garbage (CoopFixture *f, gconstpointer data)
{
  check_client_fails (f, "server", "garbage", "localhost", G_TLS_ERROR, -1, NULL);
}

static void
client_timeout_body (CoopTask *task,
                     gpointer  data)
{
  Peer *peer = data;
  g_autoptr(GTlsDatabase) db = test_database ();
  g_autoptr(CoopFuture) open = coop_stream_open_tls (current_loop (), "localhost",
                                                     peer->port, db, NULL);
  g_autoptr(CoopFuture) limited = coop_wait_for (open, G_USEC_PER_SEC / 5);
  g_autoptr(GError) error = NULL;

  g_assert_false (coop_await (limited, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_true (coop_future_is_cancelled (open));
}

/* The server never answers: the caller's deadline cancels the handshake
 * (GIO's call included), and the connection is closed. */
static void
test_client_handshake_timeout (CoopFixture   *f,
                               gconstpointer  data)
{
  Peer peer = { 0 };
  g_autofree char *said = NULL;

  if (!tls_usable ())
    return;
  peer_start (&peer, "server", "server", "silent");
  run_task (f->loop, client_timeout_body, &peer);
  said = peer_finish (&peer);
  g_assert_cmpstr (said, ==, "closed\n");
}

/* The same deadline while building the connection itself: the worker
 * threads that build it are all busy, so the deadline passes before the
 * construction even starts.  The construction still holds the socket's
 * duplicate (until the loop runs again to free it); the peer must see
 * the connection end at the deadline anyway.  peer_finish() does not run
 * the loop, as a caller busy elsewhere would not. */
static gboolean
blocked_func (gpointer user_data, GCancellable *cancellable, GValue *result, GError **error)
{
  GMutex *gate = user_data;

  g_mutex_lock (gate);
  g_mutex_unlock (gate);
  return TRUE;
}

static void
test_client_construction_timeout (CoopFixture   *f,
                                  gconstpointer  data)
{
  Peer peer = { 0 };
  g_autofree char *said = NULL;
  g_autoptr(CoopFuture) blocker = NULL;
  GMutex gate;

  if (!tls_usable ())
    return;
  g_mutex_init (&gate);
  g_mutex_lock (&gate);
  coop_loop_set_max_threads (f->loop, 1);
  blocker = coop_loop_run_in_thread (f->loop, blocked_func, &gate, NULL);
  peer_start (&peer, "server", "server", "silent");
  run_task (f->loop, client_timeout_body, &peer);
  said = peer_finish (&peer);
  g_assert_cmpstr (said, ==, "closed\n");
  g_mutex_unlock (&gate);
  g_assert_true (coop_loop_run_until_complete (f->loop, blocker, NULL));
  g_mutex_clear (&gate);
}

static void
starttls_body (CoopTask *task,
               gpointer  data)
{
  Peer *peer = data;
  g_autoptr(GTlsDatabase) db = test_database ();
  g_autoptr(CoopFuture) open = coop_stream_open_tcp (current_loop (), "127.0.0.1", peer->port);
  g_autoptr(CoopFuture) upgrade = NULL;
  g_autoptr(GError) error = NULL;
  CoopStream *stream;

  coop_await (open, &error);
  g_assert_no_error (error);
  stream = COOP_STREAM (coop_future_get_object (open, NULL));
  g_assert_null (coop_stream_get_tls_connection (stream));
  expect_read (coop_stream_read_line (stream), "220 hello\r\n");
  write_str (stream, "STARTTLS\r\n");
  expect_read (coop_stream_read_line (stream), "220 go ahead\r\n");

  upgrade = coop_stream_start_tls (stream, "localhost", db, NULL);
  /* Written during the handshake: sent encrypted after it. */
  write_str (stream, "over tls\n");
  coop_await (upgrade, &error);
  g_assert_no_error (error);
  g_assert_nonnull (coop_stream_get_tls_connection (stream));
  expect_read (coop_stream_read_line (stream), "over tls\n");
  close_and_wait (stream);
}

static void
test_starttls (CoopFixture   *f,
               gconstpointer  data)
{
  Peer peer = { 0 };
  g_autofree char *said = NULL;

  if (!tls_usable ())
    return;
  peer_start (&peer, "server", "server", "starttls");
  run_task (f->loop, starttls_body, &peer);
  said = peer_finish (&peer);
  g_assert_cmpstr (said, ==, "upgraded\nclean-eof\n");
}

static void
starttls_buffered_body (CoopTask *task,
                        gpointer  data)
{
  int fds[2];
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) stream = NULL;
  g_autoptr(CoopFuture) upgrade = NULL;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  stream = coop_stream_new_for_fd (current_loop (), fds[0], &error);
  g_assert_no_error (error);
  g_assert_cmpint (write (fds[1], "ok\ninjected", 11), ==, 11);
  expect_read (coop_stream_read_line (stream), "ok\n");

  upgrade = coop_stream_start_tls (stream, "localhost", NULL, NULL);
  g_assert_false (coop_await (upgrade, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_assert_null (coop_stream_get_tls_connection (stream));
  g_assert_true (coop_stream_is_closing (stream));
  close (fds[1]);
}

/* Bytes that arrived before the upgrade were not protected: refused. */
static void
test_starttls_buffered (CoopFixture   *f,
                        gconstpointer  data)
{
  if (!tls_usable ())
    return;
  run_task (f->loop, starttls_buffered_body, NULL);
}

/* --- foreign client, Coop server ----------------------------------------------------- */

typedef struct
{
  guint handled;
} Served;

static void
echo_handler (CoopTask   *task,
              CoopStream *stream,
              gpointer    data)
{
  Served *served = data;
  GTlsConnection *conn = coop_stream_get_tls_connection (stream);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) line = NULL;

  served->handled++;
  g_assert_true (G_IS_TLS_SERVER_CONNECTION (conn));
  g_assert_cmpstr (g_tls_connection_get_negotiated_protocol (conn), ==, "x-coop-test");
  line = await_bytes (coop_stream_read_line (stream), &error);
  g_assert_no_error (error);
  coop_stream_write (stream, line, &error);
  g_assert_no_error (error);
  /* Returning closes the stream: close_notify. */
}

typedef struct
{
  Peer        peer;
  CoopServer *server;
} ServerRun;

static void
server_run_body (CoopTask *task,
                 gpointer  data)
{
  ServerRun *run = data;

  peer_await_exit (&run->peer);
}

static void
check_server (CoopFixture *f,
              const char  *mode,
              gint64       timeout_usec,
              guint        expect_handled,
              const char  *expect_said)
{
  const char *alpn[] = { "x-coop-test", "http/1.1", NULL };
  g_autofree char *cert_file = cert_path ("server.pem");
  g_autofree char *key_file = cert_path ("server.key");
  g_autoptr(GTlsCertificate) cert = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *port = NULL;
  g_autofree char *said = NULL;
  Served served = { 0 };
  ServerRun run = { { 0 } };
  g_autoptr(CoopFuture) closed = NULL;

  if (!tls_usable ())
    return;
  cert = g_tls_certificate_new_from_files (cert_file, key_file, &error);
  g_assert_no_error (error);
  run.server = coop_server_new_tcp (f->loop, "127.0.0.1", 0, 16, echo_handler, &served, NULL, &error);
  g_assert_no_error (error);
  coop_server_set_tls (run.server, cert, alpn, timeout_usec);
  port = g_strdup_printf ("%u", coop_server_get_port (run.server));

  peer_start (&run.peer, "client", port, mode);
  run_task (f->loop, server_run_body, &run);
  said = peer_finish (&run.peer);
  g_assert_cmpstr (said, ==, expect_said);
  coop_server_close (run.server);
  closed = coop_server_wait_closed (run.server);
  coop_loop_run_until_complete (f->loop, closed, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (served.handled, ==, expect_handled);
  g_object_unref (run.server);
}

static void
test_server_echo (CoopFixture *f, gconstpointer data)
{
  check_server (f, "echo", 0, 1, "alpn x-coop-test\nline hello coop\nclean-eof\n");
}

/* Garbage instead of a ClientHello: closed, the handler never runs. */
static void
test_server_garbage (CoopFixture *f, gconstpointer data)
{
  check_server (f, "garbage", 0, 0, "closed\n");
}

/* A client that says nothing is closed at the handshake deadline. */
static void
test_server_handshake_timeout (CoopFixture *f, gconstpointer data)
{
  check_server (f, "silent", G_USEC_PER_SEC / 5, 0, "closed\n");
}

/* A client that rejects our certificate: no handler, no report. */
static void
test_server_distrusted (CoopFixture *f, gconstpointer data)
{
  check_server (f, "distrust", 0, 0, "rejected\n");
}

/* --- misuse ------------------------------------------------------------------------- */

static void
test_misuse (CoopFixture   *f,
             gconstpointer  data)
{
  int fds[2];
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) stream = NULL;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  stream = coop_stream_new_for_fd (f->loop, fds[0], &error);
  g_assert_no_error (error);
  g_assert_null (coop_stream_get_tls_connection (stream));

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*server_identity != NULL*");
  g_assert_null (coop_stream_start_tls (stream, NULL, NULL, NULL));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*host != NULL*");
  g_assert_null (coop_stream_open_tls (f->loop, NULL, 443, NULL, NULL));
  g_test_assert_expected_messages ();
  coop_stream_abort (stream);
  close (fds[1]);
}

/* --- main ------------------------------------------------------------------------------ */

static void
make_certs (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("coop-tls-XXXXXX", &error);
  int status = -1;
  char *argv[] = { "/usr/bin/python3", peer_script, "certs", dir, NULL };

  g_assert_no_error (error);
  if (g_spawn_sync (NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, NULL) &&
      g_spawn_check_wait_status (status, NULL))
    cert_dir = g_steal_pointer (&dir);
  else
    rmdir (dir);
}

static void
remove_certs (void)
{
  const char *names[] = { "ca", "server", "expired", "wronghost", "untrusted" };

  if (cert_dir == NULL)
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    for (gsize k = 0; k < 2; k++)
      {
        g_autofree char *file = g_strconcat (names[i], k ? ".key" : ".pem", NULL);
        g_autofree char *path = cert_path (file);

        g_unlink (path);
      }
  g_rmdir (cert_dir);
  g_clear_pointer (&cert_dir, g_free);
}

int
main (int    argc,
      char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  peer_script = g_test_build_filename (G_TEST_DIST, "tls-peer.py", NULL);
  make_certs ();

  coop_test_add ("/coop/tls/client-echo", test_client_echo);
  coop_test_add ("/coop/tls/client-abort", test_client_abort);
  coop_test_add ("/coop/tls/client-unknown-ca", test_client_unknown_ca);
  coop_test_add ("/coop/tls/client-wrong-host", test_client_wrong_host);
  coop_test_add ("/coop/tls/client-expired", test_client_expired);
  coop_test_add ("/coop/tls/client-peer-closes", test_client_peer_closes);
  coop_test_add ("/coop/tls/client-garbage", test_client_garbage);
  coop_test_add ("/coop/tls/client-handshake-timeout", test_client_handshake_timeout);
  coop_test_add ("/coop/tls/client-construction-timeout", test_client_construction_timeout);
  coop_test_add ("/coop/tls/starttls", test_starttls);
  coop_test_add ("/coop/tls/starttls-buffered", test_starttls_buffered);
  coop_test_add ("/coop/tls/server-echo", test_server_echo);
  coop_test_add ("/coop/tls/server-garbage", test_server_garbage);
  coop_test_add ("/coop/tls/server-handshake-timeout", test_server_handshake_timeout);
  coop_test_add ("/coop/tls/server-distrusted", test_server_distrusted);
  coop_test_add ("/coop/tls/misuse", test_misuse);

  ret = g_test_run ();
  remove_certs ();
  g_free (peer_script);
  return ret;
}
