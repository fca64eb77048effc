/* tcp-server-coop.c: the Coop peer of the TCP echo benchmark (bench/README.md).
 *
 * A CoopServer whose per-connection task echoes with coop_stream_read(),
 * coop_stream_write() and coop_stream_drain().  Prints the port on stdout
 * once listening; runs until killed.  COOP_IO_BACKEND=poll selects the
 * fallback readiness backend.
 *
 * --cert FILE --key FILE: the TLS echo benchmark's server, the same handler
 * on a TLS server (coop_server_set_tls(), GIO's TLS).  --udp: the UDP echo
 * benchmark's server instead, one task echoing every datagram to its
 * sender with coop_datagram_receive() and coop_datagram_send().
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>

#include <stdio.h>
#include <sys/resource.h>

static void
echo_connection (CoopTask *task, CoopStream *stream, gpointer data)
{
  (void) task;
  (void) data;

  for (;;)
    {
      CoopFuture *read = coop_stream_read (stream, 65536);
      CoopFuture *drain;
      GBytes *chunk;
      gboolean ok;

      /* A reset or closed peer ends the connection; not worth a report. */
      if (!coop_await (read, NULL))
        {
          g_object_unref (read);
          return;
        }
      chunk = (GBytes *) coop_future_get_boxed (read, NULL);
      ok = g_bytes_get_size (chunk) > 0 && coop_stream_write (stream, chunk, NULL);
      g_object_unref (read);
      if (!ok)
        return;
      drain = coop_stream_drain (stream);
      ok = coop_await (drain, NULL);
      g_object_unref (drain);
      if (!ok)
        return;
    }
}

static void
udp_echo (CoopTask *task, gpointer data)
{
  CoopDatagram *endpoint = data;

  (void) task;
  for (;;)
    {
      CoopFuture *next = coop_datagram_receive (endpoint);
      CoopDatagramMessage *message;

      if (!coop_await (next, NULL))
        {
          g_object_unref (next);
          continue;   /* an ICMP error from a client gone: go on */
        }
      message = coop_datagram_receive_finish (next, NULL);
      g_object_unref (next);
      coop_datagram_send (endpoint, coop_datagram_message_get_data (message),
                          coop_datagram_message_get_address (message), NULL);
      coop_datagram_message_unref (message);
    }
}

static int
serve_udp (CoopLoop *loop, int port)
{
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) local = g_inet_socket_address_new (lo, (guint16) port);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;
  CoopDatagram *endpoint = coop_datagram_new (loop, local, NULL, &error);

  if (endpoint == NULL ||
      (bound = coop_datagram_get_local_address (endpoint, &error)) == NULL)
    {
      fprintf (stderr, "tcp-server-coop: %s\n", error->message);
      return 1;
    }
  printf ("%u\n", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  fflush (stdout);
  coop_task_new (loop, udp_echo, endpoint, NULL);
  coop_loop_run_forever (loop);
  return 0;
}

int
main (int argc, char **argv)
{
  int port = 0;
  gboolean udp = FALSE;
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "TCP port on 127.0.0.1, 0 for any", "N" },
    { "cert", 0, 0, G_OPTION_ARG_FILENAME, &cert, "Serve TLS with this certificate (PEM)", "FILE" },
    { "key", 0, 0, G_OPTION_ARG_FILENAME, &key, "The certificate's private key (PEM)", "FILE" },
    { "udp", 0, 0, G_OPTION_ARG_NONE, &udp, "Echo UDP datagrams instead", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- Coop TCP echo server");
  g_autoptr(GError) error = NULL;
  struct rlimit rl;
  CoopLoop *loop;
  CoopServer *server;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || port < 0 || port > 65535)
    {
      fprintf (stderr, "tcp-server-coop: %s\n", error != NULL ? error->message : "bad --port");
      return 2;
    }
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }

  loop = coop_loop_new (NULL);
  if (udp)
    return serve_udp (loop, port);
  server = coop_server_new_tcp (loop, "127.0.0.1", (guint16) port, 4096,
                                echo_connection, NULL, NULL, &error);
  if (server == NULL)
    {
      fprintf (stderr, "tcp-server-coop: %s\n", error->message);
      return 1;
    }
  if (cert != NULL)
    {
      g_autoptr(GTlsCertificate) certificate =
        g_tls_certificate_new_from_files (cert, key != NULL ? key : cert, &error);

      if (certificate == NULL)
        {
          fprintf (stderr, "tcp-server-coop: %s\n", error->message);
          return 1;
        }
      coop_server_set_tls (server, certificate, NULL, 0);
    }
  printf ("%u\n", coop_server_get_port (server));
  fflush (stdout);
  coop_loop_run_forever (loop);
  return 0;
}
