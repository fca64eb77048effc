/* coop-fetch-many.c: many connections at once, with a cap.
 *
 *   coop-fetch-many --port N [--host H] [--count 1000] [--limit 50] [--timeout 5000]
 *
 * Starts --count fetch tasks at once, the way one would fetch a list of
 * URLs.  A CoopSemaphore of --limit slots keeps at most that many
 * connections open: the other tasks wait in FIFO order for a slot.  Each
 * fetch connects, sends "GET\n" and reads one line back, all under a
 * timeout scope of --timeout ms; it is counted as ok, failed or timed out.
 *
 * It fetches from coop-echo-server (which sends "GET\n" back), so it needs
 * no network.  The exit status is 0 only if every fetch succeeded.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>
#include <string.h>

#define REQUEST "GET\n"

typedef struct
{
  CoopLoop      *loop;
  const char    *host;
  guint16        port;
  guint          count;
  gint64         timeout_ms;
  CoopSemaphore *slots;
  guint          active;       /* connections open right now */
  guint          peak;         /* most ever open at once */
  guint          ok;
  guint          failed;
  guint          timed_out;
  char          *first_error;  /* the first failure's message, for the summary */
} Fetch;

/* The fetch itself: connect, send the request, read the reply line. */
static gboolean
fetch_one (Fetch *f, GError **error)
{
  g_autoptr(CoopFuture) connect = coop_stream_open_tcp (f->loop, f->host, f->port);
  g_autoptr(CoopFuture) line = NULL;
  g_autoptr(GBytes) request = g_bytes_new_static (REQUEST, strlen (REQUEST));
  CoopStream *stream;
  GBytes *reply;
  gboolean ok;

  if (!coop_await (connect, error))
    return FALSE;
  stream = COOP_STREAM (coop_future_get_object (connect, NULL));   /* owned by the future */

  f->active++;
  f->peak = MAX (f->peak, f->active);
  ok = coop_stream_write (stream, request, error);
  if (ok)
    {
      line = coop_stream_read_line (stream);
      ok = coop_await (line, error);
    }
  f->active--;
  if (!ok)
    return FALSE;

  reply = (GBytes *) coop_future_get_boxed (line, NULL);
  if (!g_bytes_equal (reply, request))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "unexpected reply of %" G_GSIZE_FORMAT " bytes", g_bytes_get_size (reply));
      return FALSE;
    }
  coop_stream_close (stream);
  return TRUE;
}

/* One task per fetch.  It never fails itself: it counts the outcome, so
 * one bad fetch does not cancel the others in the group. */
static void
fetch_task (CoopTask *task, gpointer data)
{
  Fetch *f = data;
  g_autoptr(CoopFuture) slot = coop_semaphore_acquire (f->slots);
  g_autoptr(CoopTimeout) limit = NULL;
  g_autoptr(GError) error = NULL;

  /* Wait for one of the --limit slots (FIFO: first come, first served). */
  if (!coop_await (slot, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;   /* cancelled while queued: we hold no slot */
    }

  /* The deadline covers the fetch only, not the wait for a slot.  When it
   * passes, the task is cancelled wherever it is awaiting, and exit turns
   * that cancellation into G_IO_ERROR_TIMED_OUT. */
  limit = coop_timeout_enter (f->timeout_ms * G_TIME_SPAN_MILLISECOND, NULL);
  fetch_one (f, &error);
  coop_timeout_exit (limit, &error);

  if (error == NULL)
    f->ok++;
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    f->timed_out++;
  else
    f->failed++;
  if (error != NULL && f->first_error == NULL)
    f->first_error = g_strdup (error->message);

  coop_semaphore_release (f->slots, NULL);   /* hands the slot to the next waiter */
}

static void
fetch_all (CoopTask *task, gpointer data)
{
  Fetch *f = data;
  g_autoptr(CoopTaskGroup) group = coop_task_group_new (f->loop);
  GError *error = NULL;
  guint i;

  for (i = 0; i < f->count; i++)
    coop_task_group_spawn (group, "fetch", fetch_task, f, NULL);
  if (!coop_task_group_join (group, &error))
    coop_future_take_error (COOP_FUTURE (task), error);
}

int
main (int argc, char **argv)
{
  g_autofree char *host = NULL;
  int port = 0, count = 1000, limit = 50, timeout_ms = 5000;
  GOptionEntry entries[] = {
    { "host", 'H', 0, G_OPTION_ARG_STRING, &host, "Server address (default: 127.0.0.1)", "H" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "Server port (required)", "N" },
    { "count", 'n', 0, G_OPTION_ARG_INT, &count, "Fetches to make (default: 1000)", "N" },
    { "limit", 'l', 0, G_OPTION_ARG_INT, &limit, "Most connections open at once (default: 50)", "N" },
    { "timeout", 't', 0, G_OPTION_ARG_INT, &timeout_ms, "Time limit of one fetch, in ms (default: 5000)", "MS" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- many fetches, a few at a time");
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopTask) task = NULL;
  Fetch f = { 0 };
  gint64 start;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context,
      "Fetches a line from an echo server (see coop-echo-server) --count times,\n"
      "with at most --limit connections open at once, each under a time limit.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (port <= 0 || port > 65535 || count <= 0 || limit <= 0 || timeout_ms <= 0)
    {
      g_printerr ("need --port between 1 and 65535, and positive --count, --limit, --timeout\n");
      return 2;
    }

  f.loop = coop_loop_get_default ();
  f.host = host != NULL ? host : "127.0.0.1";
  f.port = (guint16) port;
  f.count = count;
  f.timeout_ms = timeout_ms;
  f.slots = coop_semaphore_new (f.loop, limit);

  task = coop_task_new_full (f.loop, "fetch-all", 0, fetch_all, &f, NULL);
  start = g_get_monotonic_time ();
  if (!coop_loop_run_until_complete (f.loop, COOP_FUTURE (task), &error))
    {
      g_printerr ("fetching failed: %s\n", error->message);
      return 1;
    }

  g_print ("%d fetches, at most %u connections at once (limit %d), in %.0f ms:\n"
           "  %u ok, %u failed, %u timed out after %d ms\n",
           count, f.peak, limit, (g_get_monotonic_time () - start) / 1000.0,
           f.ok, f.failed, f.timed_out, timeout_ms);
  if (f.first_error != NULL)
    g_print ("  first error: %s\n", f.first_error);

  g_free (f.first_error);
  g_object_unref (f.slots);
  coop_loop_close (f.loop);
  return f.ok == (guint) count ? 0 : 1;
}
