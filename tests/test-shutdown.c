/* test-shutdown.c: closing a loop with work in flight, and
 * coop_loop_shutdown().
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* --- a server with connected clients ----------------------------------------- */

typedef struct
{
  guint   accepted;
  guint   in_drain;     /* handlers paused in drain() (their peer does not read) */
  guint   in_read;      /* handlers paused in read() */
  guint   freed;        /* the server's user data was freed */
} EchoState;

/* Awaits @future, which the task owns from now on (until its next await
 * or its end): a task abandoned by a closing loop never unwinds, so a
 * reference held on its stack would leak, and with it the loop (a future
 * holds its loop).  A reference the task itself holds goes with the task. */
static gboolean
await_owned (CoopTask *task, CoopFuture *future)
{
  g_object_set_data_full (G_OBJECT (task), "in-flight", future, g_object_unref);
  return coop_await (future, NULL);
}

/* The echo of examples/coop-echo-server.c: read, write back, drain. */
static void
echo_handler (CoopTask *task, CoopStream *stream, gpointer data)
{
  EchoState *s = data;

  s->accepted++;
  for (;;)
    {
      CoopFuture *read = coop_stream_read (stream, 64 * 1024);
      CoopFuture *drain;
      GBytes *chunk;
      gboolean ok;

      s->in_read++;
      ok = await_owned (task, read);
      s->in_read--;
      if (!ok)
        return;
      chunk = (GBytes *) coop_future_get_boxed (read, NULL);
      if (g_bytes_get_size (chunk) == 0 || !coop_stream_write (stream, chunk, NULL))
        return;
      drain = coop_stream_drain (stream);
      if (!coop_future_is_done (drain))
        s->in_drain++;
      if (!await_owned (task, drain))
        return;
    }
}

static void
echo_state_freed (gpointer data)
{
  ((EchoState *) data)->freed++;
}

static int
client_connect (guint16 port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = g_htons (port),
                              .sin_addr.s_addr = g_htonl (INADDR_LOOPBACK) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

  g_assert_cmpint (fd, >=, 0);
  /* Loopback: the kernel completes the handshake before anyone accepts. */
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0)
    g_assert_cmpint (errno, ==, EINPROGRESS);
  return fd;
}

/* Writes until the socket takes no more; TRUE if it took anything. */
static gboolean
client_flood (int fd)
{
  static char buf[64 * 1024];
  gboolean wrote = FALSE;

  for (;;)
    {
      ssize_t n = send (fd, buf, sizeof buf, MSG_NOSIGNAL);

      if (n > 0)
        {
          wrote = TRUE;
          continue;
        }
      g_assert_true (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN));
      return wrote;
    }
}

typedef struct
{
  GMainContext *context;
  CoopLoop     *loop;
  EchoState     state;
  int           clients[3];
  GWeakRef      server_ref;
  GWeakRef      loop_ref;
} ServerFixture;

/* A server (the test keeps no reference on it) with three clients: one
 * connected and silent, one that sent a line and waits, one that sends
 * and never reads, so its handler is paused in drain(). */
static void
server_fixture_setup (ServerFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  CoopServer *server;
  guint16 port;
  guint i;

  f->context = g_main_context_new ();
  g_main_context_push_thread_default (f->context);
  f->loop = coop_loop_new (f->context);
  g_weak_ref_init (&f->loop_ref, f->loop);

  server = coop_server_new_tcp (f->loop, "127.0.0.1", 0, 0, echo_handler, &f->state,
                                echo_state_freed, &error);
  g_assert_no_error (error);
  port = coop_server_get_port (server);
  g_weak_ref_init (&f->server_ref, server);
  g_object_unref (server);   /* a server keeps serving with no references */

  for (i = 0; i < G_N_ELEMENTS (f->clients); i++)
    f->clients[i] = client_connect (port);
  g_assert_cmpint (send (f->clients[1], "hello\n", 6, MSG_NOSIGNAL), ==, 6);

  /* Feed the third one until its handler waits in drain() (the server's
   * output buffer is over its high-water mark because we never read). */
  coop_test_wait_until (f->state.accepted == 3);
  while (f->state.in_drain == 0)
    {
      client_flood (f->clients[2]);
      g_main_context_iteration (f->context, TRUE);
    }
  /* The first two wait in read(). */
  coop_test_wait_until (f->state.in_read == 2);
  g_assert_cmpuint (coop_server_get_n_connections (server), ==, 3);
}

static void
server_fixture_teardown (ServerFixture *f, gconstpointer data)
{
  GObject *alive;
  guint i;

  /* Nothing is left: the server and the loop went with their last
   * references, and the handler's data was freed once. */
  alive = g_weak_ref_get (&f->server_ref);
  g_assert_null (alive);
  g_assert_cmpuint (f->state.freed, ==, 1);
  g_clear_object (&f->loop);
  alive = g_weak_ref_get (&f->loop_ref);
  g_assert_null (alive);
  g_weak_ref_clear (&f->server_ref);
  g_weak_ref_clear (&f->loop_ref);

  for (i = 0; i < G_N_ELEMENTS (f->clients); i++)
    close (f->clients[i]);
  g_main_context_pop_thread_default (f->context);
  g_main_context_unref (f->context);
}

static void
count_report (CoopLoop *loop, const char *message, CoopFuture *future, const GError *error,
              gpointer data)
{
  GPtrArray *reports = data;

  g_ptr_array_add (reports, g_strdup (message));
}

/* Closing the loop while connection tasks (which nobody else holds) wait
 * on their sockets: they are abandoned, each exactly once, and the loop
 * reports them in one summary.  Closing used to wake them through the I/O
 * shutdown, drop their last reference with the discarded step and then
 * walk the freed tasks. */
static void
test_server_close (ServerFixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) reports = g_ptr_array_new_with_free_func (g_free);

  g_test_summary ("Closing a loop whose server has connected clients abandons the connection tasks safely");

  coop_loop_set_exception_handler (f->loop, count_report, reports, NULL);
  coop_loop_close (f->loop);

  g_assert_cmpuint (reports->len, ==, 1);
  g_assert_nonnull (strstr (reports->pdata[0], "3 tasks"));
  g_assert_nonnull (strstr (reports->pdata[0], "'conn 127.0.0.1:"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/coop/shutdown/server-close", ServerFixture, NULL, server_fixture_setup,
              test_server_close, server_fixture_teardown);

  return g_test_run ();
}
