/* coop-echo-client.c: a load generator for coop-echo-server.
 *
 *   coop-echo-client --port N [--host H] [--clients 100] [--rounds 2000] [--size 64]
 *
 * Runs --clients concurrent tasks in a task group, each with its own TCP
 * connection.  Every task makes --rounds request/response round trips: it
 * writes --size bytes, awaits drain(), then read_exactly() the echo and
 * checks it.  Each round trip is timed; at the end the program prints the
 * throughput and the latency percentiles.
 *
 * The task group is asyncio's TaskGroup: if one client fails (say the
 * server goes away) the others are cancelled and the group reports the
 * first error, so the program exits non-zero instead of hanging.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  CoopLoop   *loop;
  const char *host;
  guint16     port;
  guint       clients;
  guint       rounds;
  guint       size;
  gint64     *latencies;   /* clients × rounds, in µs */
  guint       n_done;      /* round trips completed */
} Load;

typedef struct
{
  Load  *load;
  guint  id;
} Client;

/* Awaits @future from inside a task; on failure hands the error to the task
 * (its result) and returns FALSE. */
static gboolean
await_or_fail (CoopTask *task, CoopFuture *future)
{
  GError *error = NULL;

  if (coop_await (future, &error))
    return TRUE;
  /* When one client fails, the group cancels the others; one whose
   * connection had failed too is resumed with the cancellation, not with
   * that failure.  Reading the future's error marks it as seen, so the loop
   * does not also warn that it was never retrieved. */
  if (coop_future_is_done (future))
    coop_future_get_error (future);
  coop_future_take_error (COOP_FUTURE (task), error);
  return FALSE;
}

static void
client (CoopTask *task, gpointer data)
{
  Client *c = data;
  Load *load = c->load;
  g_autoptr(CoopFuture) connect = coop_stream_open_tcp (load->loop, load->host, load->port);
  g_autofree guint8 *payload = g_malloc (load->size);
  CoopStream *stream;
  GError *error = NULL;
  guint r, i;

  if (!await_or_fail (task, connect))
    return;
  stream = COOP_STREAM (coop_future_get_object (connect, NULL));   /* owned by the future */

  for (r = 0; r < load->rounds; r++)
    {
      g_autoptr(GBytes) request = NULL;
      g_autoptr(CoopFuture) drain = NULL;
      g_autoptr(CoopFuture) reply = NULL;
      gint64 start = g_get_monotonic_time ();
      GBytes *echoed;

      /* A different payload each round, so a mixed-up reply is caught. */
      for (i = 0; i < load->size; i++)
        payload[i] = (guint8) ('a' + (c->id + r + i) % 26);
      request = g_bytes_new (payload, load->size);

      if (!coop_stream_write (stream, request, &error))
        {
          coop_future_take_error (COOP_FUTURE (task), error);
          return;
        }
      drain = coop_stream_drain (stream);       /* waits only if the socket is backed up */
      if (!await_or_fail (task, drain))
        return;
      reply = coop_stream_read_exactly (stream, load->size);
      if (!await_or_fail (task, reply))         /* other clients run meanwhile */
        return;

      echoed = (GBytes *) coop_future_get_boxed (reply, NULL);
      if (!g_bytes_equal (echoed, request))
        {
          coop_future_take_error (COOP_FUTURE (task),
                                  g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                               "client %u round %u: the echo differs", c->id, r));
          return;
        }
      load->latencies[load->n_done++] = g_get_monotonic_time () - start;
    }
  coop_stream_close (stream);
}

/* The main task: spawn every client in one group and wait for all. */
static void
run_load (CoopTask *task, gpointer data)
{
  Load *load = data;
  g_autoptr(CoopTaskGroup) group = coop_task_group_new (load->loop);
  g_autofree Client *clients = g_new (Client, load->clients);
  GError *error = NULL;
  guint i;

  for (i = 0; i < load->clients; i++)
    {
      g_autofree char *name = g_strdup_printf ("client-%u", i);

      clients[i] = (Client) { load, i };
      coop_task_group_spawn (group, name, client, &clients[i], NULL);
    }
  if (!coop_task_group_join (group, &error))
    {
      /* The group reports the first failure.  Several clients may have
       * failed together (a refused connection fails them all in the same
       * iteration): read their errors too, so that none is reported as
       * "never retrieved", and say how many there were. */
      g_autoptr(GPtrArray) failed = coop_task_group_get_failed (group);

      for (i = 0; i < failed->len; i++)
        coop_future_get_error (g_ptr_array_index (failed, i));
      g_prefix_error (&error, "%u of %u clients failed, the first with: ",
                      failed->len, load->clients);
      coop_future_take_error (COOP_FUTURE (task), error);
    }
}

static int
compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

/* The value below which @p of the sorted samples fall (nearest rank). */
static gint64
percentile (const gint64 *sorted, guint n, double p)
{
  guint rank = (guint) (p * n + 0.999999);

  return sorted[CLAMP (rank, 1, n) - 1];
}

int
main (int argc, char **argv)
{
  g_autofree char *host = NULL;
  int port = 0, clients = 100, rounds = 2000, size = 64;
  GOptionEntry entries[] = {
    { "host", 'H', 0, G_OPTION_ARG_STRING, &host, "Server address (default: 127.0.0.1)", "H" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "Server port (required)", "N" },
    { "clients", 'c', 0, G_OPTION_ARG_INT, &clients, "Concurrent connections (default: 100)", "N" },
    { "rounds", 'r', 0, G_OPTION_ARG_INT, &rounds, "Round trips per connection (default: 2000)", "N" },
    { "size", 's', 0, G_OPTION_ARG_INT, &size, "Bytes per request (default: 64)", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- load an echo server");
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopTask) task = NULL;
  Load load = { 0 };
  gint64 start, elapsed;
  guint total;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context,
      "Concurrent clients, each doing request/response round trips against an\n"
      "echo server (see coop-echo-server); prints requests/s and latencies.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (port <= 0 || port > 65535 || clients <= 0 || rounds <= 0 || size <= 0)
    {
      g_printerr ("need --port between 1 and 65535, and positive --clients, --rounds, --size\n");
      return 2;
    }

  load.loop = coop_loop_get_default ();
  load.host = host != NULL ? host : "127.0.0.1";
  load.port = (guint16) port;
  load.clients = clients;
  load.rounds = rounds;
  load.size = size;
  total = load.clients * load.rounds;
  load.latencies = g_new (gint64, total);

  task = coop_task_new_full (load.loop, "load", 0, run_load, &load, NULL);
  start = g_get_monotonic_time ();
  if (!coop_loop_run_until_complete (load.loop, COOP_FUTURE (task), &error))
    {
      g_printerr ("load failed after %u of %u round trips: %s\n",
                  load.n_done, total, error->message);
      g_free (load.latencies);
      return 1;
    }
  elapsed = MAX (g_get_monotonic_time () - start, 1);

  qsort (load.latencies, load.n_done, sizeof (gint64), compare_gint64);
  g_print ("%u clients x %u rounds x %u bytes: %u requests in %.2f s, %.0f requests/s\n",
           load.clients, load.rounds, load.size, load.n_done,
           elapsed / 1e6, load.n_done * 1e6 / elapsed);
  g_print ("latency: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
           percentile (load.latencies, load.n_done, 0.50) / 1000.0,
           percentile (load.latencies, load.n_done, 0.99) / 1000.0,
           load.latencies[load.n_done - 1] / 1000.0);

  g_free (load.latencies);
  coop_loop_close (load.loop);
  return load.n_done == total ? 0 : 1;
}
