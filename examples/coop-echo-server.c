/* coop-echo-server.c: a TCP echo server on Coop streams.
 *
 *   coop-echo-server [--host H] [--port N] [--grace SECONDS]
 *
 * A CoopServer accepts connections and runs one C task per connection (the
 * handler below): it reads whatever arrives and writes it back, awaiting
 * drain() after each write so that a client that sends faster than it reads
 * cannot make the server buffer without limit (back-pressure).
 *
 * With --port 0 the system picks a free port; either way the server prints
 * "listening on PORT" once it accepts connections, so scripts can find it.
 * SIGINT or SIGTERM shuts it down gracefully: stop accepting, close the
 * open connections, wait for every handler to finish, print a summary and
 * exit 0.  A graceful close needs a deadline: a client that sends but never
 * reads keeps its handler waiting in drain() for ever, so after --grace
 * seconds (default 5) the connections still open are aborted.  The loop is
 * then shut down with coop_loop_shutdown(), which cancels whatever tasks
 * are left and waits (briefly) for them to clean up.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>
#include <signal.h>
#include <stdio.h>

#define CHUNK_SIZE (64 * 1024)

typedef struct
{
  CoopLoop   *loop;
  CoopServer *server;
  CoopEvent  *stop;          /* set by the signal handlers */
  int         signum;        /* the signal that stopped us */
  gint64      grace_usec;    /* how long closing connections may take */
  guint       aborted;       /* connections still open after the grace period */
  guint       served;        /* connections accepted so far */
  guint       peak;          /* most connections open at once */
  guint64     bytes;         /* bytes echoed back */
} Echo;

typedef struct
{
  Echo *echo;
  int   signum;
} SignalWatch;

/* One connection: the body of its own task.  The server closes the stream
 * when this returns. */
static void
handle_connection (CoopTask *task, CoopStream *stream, gpointer data)
{
  Echo *echo = data;

  echo->served++;
  echo->peak = MAX (echo->peak, coop_server_get_n_connections (echo->server));

  for (;;)
    {
      g_autoptr(CoopFuture) read = coop_stream_read (stream, CHUNK_SIZE);
      g_autoptr(CoopFuture) drain = NULL;
      g_autoptr(GError) error = NULL;
      GBytes *chunk;

      /* Pauses this task (only) until some bytes arrive. */
      if (!coop_await (read, &error))
        {
          /* A reset peer, or our own shutdown closing the stream, is how
           * connections end; neither is worth reporting as a failure. */
          if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED) &&
              !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
            coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
          return;
        }
      chunk = (GBytes *) coop_future_get_boxed (read, NULL);
      if (g_bytes_get_size (chunk) == 0)
        return;                         /* end of file: the client is done */

      /* write() never blocks: what the socket does not take is buffered.
       * drain() finishes at once unless that buffer is over its high-water
       * mark, in which case it waits until the peer has read enough. */
      if (!coop_stream_write (stream, chunk, &error))
        return;
      echo->bytes += g_bytes_get_size (chunk);
      drain = coop_stream_drain (stream);
      if (!coop_await (drain, &error))
        return;
    }
}

/* Runs on the loop (not in a task) when SIGINT or SIGTERM arrives. */
static void
on_signal (gpointer data)
{
  SignalWatch *watch = data;

  if (watch->echo->signum == 0)
    watch->echo->signum = watch->signum;
  coop_event_set (watch->echo->stop);
}

/* The main task: wait for a signal, then shut down in order. */
static void
serve (CoopTask *task, gpointer data)
{
  Echo *echo = data;
  g_autoptr(CoopFuture) stopped = coop_event_wait (echo->stop);
  g_autoptr(CoopFuture) closed = NULL;
  g_autoptr(GError) error = NULL;

  if (!coop_await (stopped, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }

  coop_server_close (echo->server);          /* stop accepting */
  coop_server_close_clients (echo->server);  /* pending reads fail: handlers return */

  /* ...except a handler waiting in drain() for a client that never reads:
   * give them the grace period, then abort what is left (buffered output
   * is dropped, the pending drain() fails, the handler returns). */
  closed = coop_server_wait_closed (echo->server);
  {
    g_autoptr(CoopFuture) in_time = coop_wait_for (closed, echo->grace_usec);

    if (coop_await (in_time, &error))
      return;
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
      {
        coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
        return;
      }
    g_clear_error (&error);
  }
  echo->aborted = coop_server_get_n_connections (echo->server);
  coop_server_abort_clients (echo->server);
  g_clear_object (&closed);
  closed = coop_server_wait_closed (echo->server);
  if (!coop_await (closed, &error))
    coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

int
main (int argc, char **argv)
{
  g_autofree char *host = NULL;
  int port = 8888;
  double grace = 5.0;
  GOptionEntry entries[] = {
    { "host", 'H', 0, G_OPTION_ARG_STRING, &host, "Address to listen on (default: every interface)", "H" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "TCP port, 0 for any free one (default: 8888)", "N" },
    { "grace", 'g', 0, G_OPTION_ARG_DOUBLE, &grace,
      "Seconds open connections get to finish after SIGINT/SIGTERM before they are aborted (default: 5)", "SECONDS" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- echo TCP connections back");
  g_autoptr(GError) error = NULL;
  Echo echo = { 0 };
  SignalWatch on_int, on_term;
  g_autoptr(CoopTask) task = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context,
      "A TCP echo server: one Coop task per connection, writes with back-pressure.\n"
      "Prints \"listening on PORT\" when ready; SIGINT/SIGTERM stop it cleanly.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (port < 0 || port > 65535)
    {
      g_printerr ("--port must be between 0 and 65535\n");
      return 2;
    }
  if (!(grace >= 0 && grace <= 86400))
    {
      g_printerr ("--grace must be between 0 and 86400 seconds\n");
      return 2;
    }

  echo.loop = coop_loop_get_default ();
  echo.grace_usec = (gint64) (grace * G_USEC_PER_SEC);
  echo.stop = coop_event_new (echo.loop);

  /* Listens at once; each accepted connection gets handle_connection() as
   * the body of a new task. */
  echo.server = coop_server_new_tcp (echo.loop, host, (guint16) port, 0,
                                     handle_connection, &echo, NULL, &error);
  if (echo.server == NULL)
    {
      g_printerr ("cannot listen on %s port %d: %s\n",
                  host != NULL ? host : "*", port, error->message);
      g_object_unref (echo.stop);
      return 1;
    }
  g_print ("listening on %u\n", coop_server_get_port (echo.server));
  fflush (stdout);   /* a script may be waiting for that line on a pipe */

  on_int = (SignalWatch) { &echo, SIGINT };
  on_term = (SignalWatch) { &echo, SIGTERM };
  coop_loop_add_signal_handler (echo.loop, SIGINT, on_signal, &on_int, NULL);
  coop_loop_add_signal_handler (echo.loop, SIGTERM, on_signal, &on_term, NULL);

  task = coop_task_new_full (echo.loop, "serve", 0, serve, &echo, NULL);
  if (!coop_loop_run_until_complete (echo.loop, COOP_FUTURE (task), &error))
    {
      g_printerr ("server failed: %s\n", error->message);
      return 1;
    }

  g_print ("%s: served %u connections (at most %u at once), echoed %" G_GUINT64_FORMAT " bytes",
           echo.signum == SIGINT ? "SIGINT" : "SIGTERM",
           echo.served, echo.peak, echo.bytes);
  if (echo.aborted > 0)
    g_print ("; aborted %u still open after %.1f s", echo.aborted, grace);
  g_print ("\n");
  g_object_unref (echo.server);
  g_object_unref (echo.stop);
  g_clear_object (&task);
  /* asyncio.run()'s ending: cancel what is left, let it clean up (a
   * second at most), stop the thread pool, close the loop. */
  if (!coop_loop_shutdown (echo.loop, G_USEC_PER_SEC, &error))
    {
      g_printerr ("shutdown: %s\n", error->message);
      return 1;
    }
  return 0;
}
