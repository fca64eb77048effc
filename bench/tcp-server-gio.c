/* tcp-server-gio.c: the GIO peer of the TCP echo benchmark (bench/README.md).
 *
 * The way a GNOME program writes an echo server today: a GSocketService,
 * and per connection a chain of g_input_stream_read_async() and
 * g_output_stream_write_all_async() callbacks on the default main context.
 * TCP_NODELAY is set on each connection, as Coop, asyncio and uvloop do.
 * Prints the port on stdout once listening; runs until killed.
 *
 * --cert FILE --key FILE: the TLS echo benchmark's GIO peer: each
 * connection is wrapped in a GTlsServerConnection (glib-networking), which
 * handshakes with g_tls_connection_handshake_async() and then echoes
 * through the TLS connection's streams with the same callbacks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gio/gio.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/resource.h>

#define BUF_SIZE 65536

static GTlsCertificate *certificate;   /* --cert: serve TLS */

typedef struct
{
  GIOStream         *conn;
  GInputStream      *in;
  GOutputStream     *out;
  guint8             buf[BUF_SIZE];
} Conn;

static void start_read (Conn *c);

static void
conn_free (Conn *c)
{
  g_io_stream_close (c->conn, NULL, NULL);
  g_object_unref (c->conn);
  g_free (c);
}

static void
write_done (GObject *source, GAsyncResult *res, gpointer data)
{
  Conn *c = data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL, NULL))
    {
      conn_free (c);
      return;
    }
  start_read (c);
}

static void
read_done (GObject *source, GAsyncResult *res, gpointer data)
{
  Conn *c = data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, NULL);

  if (n <= 0)
    {
      conn_free (c);
      return;
    }
  g_output_stream_write_all_async (c->out, c->buf, n, G_PRIORITY_DEFAULT, NULL, write_done, c);
}

static void
start_read (Conn *c)
{
  g_input_stream_read_async (c->in, c->buf, BUF_SIZE, G_PRIORITY_DEFAULT, NULL, read_done, c);
}

static void
handshake_done (GObject *source, GAsyncResult *res, gpointer data)
{
  Conn *c = data;

  if (!g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), res, NULL))
    {
      conn_free (c);
      return;
    }
  start_read (c);
}

static gboolean
on_incoming (GSocketService     *service,
             GSocketConnection  *connection,
             GObject            *source_object,
             gpointer            user_data)
{
  Conn *c = g_new (Conn, 1);

  (void) service;
  (void) source_object;
  (void) user_data;
  g_socket_set_option (g_socket_connection_get_socket (connection),
                       IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  if (certificate != NULL)
    {
      GIOStream *tls = g_tls_server_connection_new (G_IO_STREAM (connection), certificate, NULL);

      if (tls == NULL)
        {
          g_free (c);
          return TRUE;
        }
      c->conn = tls;
    }
  else
    c->conn = g_object_ref (G_IO_STREAM (connection));
  c->in = g_io_stream_get_input_stream (c->conn);
  c->out = g_io_stream_get_output_stream (c->conn);
  if (certificate != NULL)
    g_tls_connection_handshake_async (G_TLS_CONNECTION (c->conn), G_PRIORITY_DEFAULT, NULL,
                                      handshake_done, c);
  else
    start_read (c);
  return TRUE;
}

int
main (int argc, char **argv)
{
  int port = 0;
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "TCP port on 127.0.0.1, 0 for any", "N" },
    { "cert", 0, 0, G_OPTION_ARG_FILENAME, &cert, "Serve TLS with this certificate (PEM)", "FILE" },
    { "key", 0, 0, G_OPTION_ARG_FILENAME, &key, "The certificate's private key (PEM)", "FILE" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- GIO TCP echo server");
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketService) service = NULL;
  g_autoptr(GInetAddress) lo = NULL;
  g_autoptr(GSocketAddress) addr = NULL;
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GMainLoop) main_loop = NULL;
  struct rlimit rl;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || port < 0 || port > 65535)
    {
      fprintf (stderr, "tcp-server-gio: %s\n", error != NULL ? error->message : "bad --port");
      return 2;
    }
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }

  if (cert != NULL &&
      (certificate = g_tls_certificate_new_from_files (cert, key != NULL ? key : cert, &error)) == NULL)
    {
      fprintf (stderr, "tcp-server-gio: %s\n", error->message);
      return 1;
    }
  service = g_socket_service_new ();
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (service), 4096);
  lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  addr = g_inet_socket_address_new (lo, (guint16) port);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (service), addr,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                      NULL, &effective, &error))
    {
      fprintf (stderr, "tcp-server-gio: %s\n", error->message);
      return 1;
    }
  g_signal_connect (service, "incoming", G_CALLBACK (on_incoming), NULL);
  g_socket_service_start (service);
  printf ("%u\n", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective)));
  fflush (stdout);
  main_loop = g_main_loop_new (NULL, FALSE);
  g_main_loop_run (main_loop);
  return 0;
}
