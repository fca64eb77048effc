/* test-server-callback.c: servers whose connections a callback serves
 * (coop_server_new_tcp_with_callback / _unix_with_callback), the variant
 * for code that cannot run on a fiber: the callback runs on the loop's
 * thread and returns the future the server tracks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>

#include <glib/gstdio.h>
#include <string.h>

#include "coop-test.h"

typedef struct
{
  CoopLoop *loop;
  guint     calls;
  gboolean  on_fiber;
  GPtrArray *tracked;   /* the futures the callback returned */
} Served;

/* The echo, as a C task the callback starts: one line back, then done. */
static void
echo_body (CoopTask *task,
           gpointer  data)
{
  CoopStream *stream = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopFuture) line = coop_stream_read_line (stream);
  GBytes *bytes;

  if (!coop_await (line, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }
  bytes = (GBytes *) coop_future_get_boxed (line, NULL);
  if (g_bytes_get_size (bytes) > 0)
    {
      g_autoptr(CoopFuture) drained = NULL;

      coop_stream_write (stream, bytes, NULL);
      drained = coop_stream_drain (stream);
      coop_await (drained, NULL);
    }
  coop_future_set_none (COOP_FUTURE (task));
}

static CoopFuture *
echo_callback (CoopServer *server,
               CoopStream *stream,
               gpointer    data)
{
  Served *s = data;
  CoopTask *task;

  s->calls++;
  s->on_fiber = coop_task_get_current () != NULL;
  task = coop_task_new (s->loop, echo_body, g_object_ref (stream), g_object_unref);
  g_ptr_array_add (s->tracked, g_object_ref (task));
  return COOP_FUTURE (task);
}

/* Pending forever: only abort_clients() ends it. */
static CoopFuture *
forever_callback (CoopServer *server,
                  CoopStream *stream,
                  gpointer    data)
{
  Served *s = data;
  CoopFuture *future = coop_future_new (s->loop);

  s->calls++;
  g_ptr_array_add (s->tracked, g_object_ref (future));
  return future;
}

/* Done at once: returns NULL after a greeting, and the stream is closed. */
static CoopFuture *
greet_callback (CoopServer *server,
                CoopStream *stream,
                gpointer    data)
{
  Served *s = data;
  g_autoptr(GBytes) hello = g_bytes_new_static ("hi\n", 3);

  s->calls++;
  coop_stream_write (stream, hello, NULL);
  return NULL;
}

typedef struct
{
  CoopLoop   *loop;
  guint16     port;
  const char *path;
  const char *send;      /* a line, or NULL */
  char       *reply;     /* what came back up to EOF */
} Client;

static void
client_body (CoopTask *task,
             gpointer  data)
{
  Client *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopFuture) opening = c->path != NULL ? coop_stream_open_unix (c->loop, c->path)
                                                  : coop_stream_open_tcp (c->loop, "127.0.0.1", c->port);
  CoopStream *stream;
  GString *got = g_string_new (NULL);

  g_assert_true (coop_await (opening, &error));
  g_assert_no_error (error);
  stream = COOP_STREAM (coop_future_get_object (opening, NULL));
  if (c->send != NULL)
    {
      g_autoptr(GBytes) line = g_bytes_new_static (c->send, strlen (c->send));

      g_assert_true (coop_stream_write (stream, line, NULL));
    }
  for (;;)
    {
      g_autoptr(CoopFuture) chunk = coop_stream_read (stream, 100);
      GBytes *bytes;

      if (!coop_await (chunk, &error))
        break;   /* an aborted connection may end with a reset */
      bytes = (GBytes *) coop_future_get_boxed (chunk, NULL);
      if (g_bytes_get_size (bytes) == 0)
        break;
      g_string_append_len (got, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
    }
  c->reply = g_string_free (got, FALSE);
  coop_stream_close (stream);
  coop_future_set_none (COOP_FUTURE (task));
}

static void
run_client (Client *c)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopTask) task = coop_task_new (c->loop, client_body, c, NULL);

  g_assert_true (coop_loop_run_until_complete (c->loop, COOP_FUTURE (task), &error));
  g_assert_no_error (error);
}

static void
test_echo (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopServer) server = NULL;
  g_autoptr(CoopFuture) closed = NULL;
  Served s = { f->loop, 0, FALSE, g_ptr_array_new_with_free_func (g_object_unref) };
  Client c = { f->loop, 0, NULL, "hello\n", NULL };
  guint i;

  server = coop_server_new_tcp_with_callback (f->loop, "127.0.0.1", 0, 0, echo_callback, &s, NULL, &error);
  g_assert_no_error (error);
  c.port = coop_server_get_port (server);
  for (i = 0; i < 3; i++)
    {
      run_client (&c);
      g_assert_cmpstr (c.reply, ==, "hello\n");   /* echoed, then closed */
      g_clear_pointer (&c.reply, g_free);
    }
  g_assert_cmpuint (s.calls, ==, 3);
  g_assert_false (s.on_fiber);
  coop_server_close (server);
  closed = coop_server_wait_closed (server);
  g_assert_true (coop_loop_run_until_complete (f->loop, closed, &error));
  for (i = 0; i < s.tracked->len; i++)
    g_assert_true (coop_future_is_done (g_ptr_array_index (s.tracked, i)));
  g_ptr_array_unref (s.tracked);
}

static void
test_null_and_abort (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopServer) greeter = NULL, holder = NULL;
  g_autoptr(CoopFuture) closed = NULL;
  g_autofree char *dir = g_dir_make_tmp ("coop-server-cb-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "s.sock", NULL);
  Served s = { f->loop, 0, FALSE, g_ptr_array_new_with_free_func (g_object_unref) };
  Client c = { f->loop, 0, NULL, NULL, NULL };

  /* NULL: the callback is done with the stream, which is closed after it. */
  greeter = coop_server_new_unix_with_callback (f->loop, path, 0, greet_callback, &s, NULL, &error);
  g_assert_no_error (error);
  c.path = path;
  run_client (&c);
  g_assert_cmpstr (c.reply, ==, "hi\n");
  g_clear_pointer (&c.reply, g_free);
  g_assert_cmpuint (coop_server_get_n_connections (greeter), ==, 0);
  coop_server_close (greeter);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));

  /* A future that never finishes: the connection lasts until
   * abort_clients() cancels it, and the client then sees the end. */
  holder = coop_server_new_tcp_with_callback (f->loop, "127.0.0.1", 0, 0, forever_callback, &s, NULL, &error);
  g_assert_no_error (error);
  c.path = NULL;
  c.port = coop_server_get_port (holder);
  {
    g_autoptr(CoopTask) client = coop_task_new (f->loop, client_body, &c, NULL);

    coop_test_wait_until (coop_server_get_n_connections (holder) == 1);
    coop_server_close (holder);
    coop_server_abort_clients (holder);
    g_assert_true (coop_future_is_cancelled (g_ptr_array_index (s.tracked, 0)));
    closed = coop_server_wait_closed (holder);
    g_assert_true (coop_loop_run_until_complete (f->loop, closed, &error));
    g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (client), &error));
    g_assert_cmpstr (c.reply, ==, "");
    g_clear_pointer (&c.reply, g_free);
  }
  g_ptr_array_unref (s.tracked);
  g_rmdir (dir);
}

static void
notify_count (gpointer data)
{
  (*(guint *) data)++;
}

static void
test_listen_fails (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopServer) server = NULL;
  Served s = { f->loop, 0, FALSE, NULL };
  guint freed = 0;
  CoopServer *second;

  server = coop_server_new_tcp_with_callback (f->loop, "127.0.0.1", 0, 0, greet_callback, &s, NULL, &error);
  g_assert_no_error (error);
  second = coop_server_new_tcp_with_callback (f->loop, "127.0.0.1", coop_server_get_port (server), 0,
                                              greet_callback, &freed, notify_count, &error);
  g_assert_null (second);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_assert_cmpuint (freed, ==, 1);   /* the user data is freed at once */
  coop_server_close (server);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  coop_test_add ("/coop/server-callback/echo", test_echo);
  coop_test_add ("/coop/server-callback/null-and-abort", test_null_and_abort);
  coop_test_add ("/coop/server-callback/listen-fails", test_listen_fails);
  return g_test_run ();
}
