/* tcp-server-coop.c: the Coop peer of the TCP echo benchmark (bench/README.md).
 *
 * A CoopServer whose per-connection task echoes with coop_stream_read(),
 * coop_stream_write() and coop_stream_drain().  Prints the port on stdout
 * once listening; runs until killed.  COOP_IO_BACKEND=poll selects the
 * fallback readiness backend.
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

int
main (int argc, char **argv)
{
  int port = 0;
  GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "TCP port on 127.0.0.1, 0 for any", "N" },
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
  server = coop_server_new_tcp (loop, "127.0.0.1", (guint16) port, 4096,
                                echo_connection, NULL, NULL, &error);
  if (server == NULL)
    {
      fprintf (stderr, "tcp-server-coop: %s\n", error->message);
      return 1;
    }
  printf ("%u\n", coop_server_get_port (server));
  fflush (stdout);
  coop_loop_run_forever (loop);
  return 0;
}
