/* coop-udp-echo.c: a UDP echo server and its client, with CoopDatagram.
 *
 *   coop-udp-echo [--count 100]                   both, in one process, on loopback
 *   coop-udp-echo --server [--host H] [--port N]  the server alone
 *   coop-udp-echo --port N [--host H] [--count N] the client alone
 *
 * The server is one task: await a datagram, send it back to its sender.
 * The client sends --count numbered requests, one at a time, and awaits
 * each echo with a timeout (UDP may lose a datagram; the client then
 * sends it again, up to three times).  Without --server or --port, both
 * run as two tasks of one loop, on a port the system picks, and the
 * program exits 0 once every echo came back.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>
#include <stdio.h>
#include <string.h>

#define REPLY_TIMEOUT_USEC (500 * 1000)
#define ATTEMPTS           3

/* Echoes every datagram to its sender, until cancelled. */
static void
server (CoopTask *task, gpointer data)
{
  CoopDatagram *endpoint = data;

  for (;;)
    {
      g_autoptr(CoopFuture) next = coop_datagram_receive (endpoint);
      g_autoptr(CoopDatagramMessage) message = NULL;
      GError *error = NULL;

      if (!coop_await (next, &error))
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            {
              coop_future_take_error (COOP_FUTURE (task), error);
              return;
            }
          /* A datagram too large, say: it is dropped; serve the next. */
          g_printerr ("server: %s\n", error->message);
          g_error_free (error);
          continue;
        }
      message = coop_datagram_receive_finish (next, NULL);
      if (!coop_datagram_send (endpoint, coop_datagram_message_get_data (message),
                               coop_datagram_message_get_address (message), &error))
        {
          g_printerr ("server: %s\n", error->message);
          g_error_free (error);
        }
    }
}

typedef struct
{
  CoopLoop       *loop;
  GSocketAddress *server;
  guint           count;
} ClientArgs;

static void
client (CoopTask *task, gpointer data)
{
  ClientArgs *args = data;
  GError *error = NULL;
  g_autoptr(CoopDatagram) endpoint = coop_datagram_new (args->loop, NULL, args->server, &error);

  if (endpoint == NULL)
    {
      coop_future_take_error (COOP_FUTURE (task), error);
      return;
    }
  for (guint i = 0; i < args->count; i++)
    {
      g_autofree char *request = g_strdup_printf ("request %u", i);
      g_autoptr(GBytes) bytes = g_bytes_new (request, strlen (request));
      gboolean answered = FALSE;

      for (guint attempt = 0; attempt < ATTEMPTS && !answered; attempt++)
        {
          g_autoptr(CoopFuture) reply = NULL;
          g_autoptr(CoopFuture) limited = NULL;
          g_autoptr(CoopDatagramMessage) message = NULL;
          GBytes *echo;

          /* Connected: no address needed. */
          if (!coop_datagram_send (endpoint, bytes, NULL, &error))
            {
              coop_future_take_error (COOP_FUTURE (task), error);
              return;
            }
          reply = coop_datagram_receive (endpoint);
          limited = coop_wait_for (reply, REPLY_TIMEOUT_USEC);
          if (!coop_await (limited, &error))
            {
              /* Lost (timed out) or refused (nobody on that port): try
               * again; a cancellation ends the client. */
              if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                {
                  coop_future_take_error (COOP_FUTURE (task), error);
                  return;
                }
              g_printerr ("client: request %u: %s\n", i, error->message);
              g_clear_error (&error);
              continue;
            }
          message = coop_datagram_receive_finish (reply, NULL);
          echo = coop_datagram_message_get_data (message);
          if (!g_bytes_equal (echo, bytes))
            continue;   /* a late echo of an earlier attempt */
          answered = TRUE;
        }
      if (!answered)
        {
          coop_future_take_error (COOP_FUTURE (task),
                                  g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                               "request %u: no echo after %u attempts", i, ATTEMPTS));
          return;
        }
    }
  g_print ("%u echoes received\n", args->count);
}

int
main (int argc, char **argv)
{
  g_autofree char *host = NULL;
  gboolean server_only = FALSE;
  int port = -1, count = 100;
  GOptionEntry entries[] = {
    { "server", 0, 0, G_OPTION_ARG_NONE, &server_only, "Run the server only", NULL },
    { "host", 'H', 0, G_OPTION_ARG_STRING, &host, "Address (default: 127.0.0.1)", "H" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "Port (server: default 0, any; client: required)", "N" },
    { "count", 'c', 0, G_OPTION_ARG_INT, &count, "Requests to send (default: 100)", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- UDP echo with Coop");
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopDatagram) endpoint = NULL;
  g_autoptr(CoopTask) server_task = NULL;
  g_autoptr(CoopTask) client_task = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  CoopLoop *loop;
  ClientArgs args;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (port > 65535 || count <= 0 || (!server_only && port == 0))
    {
      g_printerr ("need --port between 1 and 65535 for the client, and a positive --count\n");
      return 2;
    }
  loop = coop_loop_get_default ();
  address = g_inet_socket_address_new_from_string (host != NULL ? host : "127.0.0.1",
                                                   port < 0 ? 0 : port);
  if (address == NULL)
    {
      g_printerr ("not a numeric address: %s\n", host);
      return 2;
    }

  if (server_only || port < 0)
    {
      g_autoptr(GSocketAddress) local = NULL;

      endpoint = coop_datagram_new (loop, address, NULL, &error);
      if (endpoint == NULL)
        {
          g_printerr ("%s\n", error->message);
          return 1;
        }
      local = coop_datagram_get_local_address (endpoint, NULL);
      g_print ("listening on %u\n", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
      fflush (stdout);
      server_task = coop_task_new_full (loop, "server", 0, server, endpoint, NULL);
      if (server_only)
        {
          coop_loop_run_until_complete (loop, COOP_FUTURE (server_task), NULL);
          return 0;
        }
      g_set_object (&address, local);
    }

  args = (ClientArgs) { loop, address, (guint) count };
  client_task = coop_task_new_full (loop, "client", 0, client, &args, NULL);
  if (!coop_loop_run_until_complete (loop, COOP_FUTURE (client_task), &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  if (server_task != NULL)
    {
      coop_task_cancel (server_task, "done");
      coop_loop_run_until_complete (loop, COOP_FUTURE (server_task), NULL);
    }
  return 0;
}
