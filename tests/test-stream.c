/* test-stream.c: TCP and Unix streams and servers, over real sockets.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define TEST_TIMEOUT (20 * G_USEC_PER_SEC)

/* --- helpers (for task bodies) ------------------------------------------------- */

/* Awaits a read and returns its bytes (a new reference), or NULL. */
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

static CoopStream *
await_stream (CoopFuture  *future,
              GError     **error)
{
  CoopStream *stream = NULL;

  if (coop_await (future, error))
    stream = g_object_ref (COOP_STREAM (coop_future_get_object (future, NULL)));
  g_object_unref (future);
  return stream;
}

static gboolean
await_done (CoopFuture  *future,
            GError     **error)
{
  gboolean ok = coop_await (future, error);

  g_object_unref (future);
  return ok;
}

static gboolean
write_str (CoopStream  *stream,
           const char  *str,
           GError     **error)
{
  g_autoptr(GBytes) bytes = g_bytes_new (str, strlen (str));

  return coop_stream_write (stream, bytes, error);
}

#define assert_bytes_str(bytes, str)                                              \
  G_STMT_START {                                                                  \
    GBytes *_b = (bytes);                                                         \
    g_assert_nonnull (_b);                                                        \
    g_assert_cmpmem (g_bytes_get_data (_b, NULL), g_bytes_get_size (_b),         \
                     (str), strlen (str));                                        \
  } G_STMT_END

/* Reads and checks; frees the bytes. */
static void
expect_read (CoopFuture *future,
             const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = await_bytes (future, &error);

  g_assert_no_error (error);
  assert_bytes_str (bytes, expected);
}

static void
expect_read_error (CoopFuture *future,
                   GQuark      domain,
                   int         code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = await_bytes (future, &error);

  g_assert_null (bytes);
  g_assert_error (error, domain, code);
}

/* Runs a task body to completion from the test's main function. */
static void
run_task (CoopLoop     *loop,
          CoopTaskFunc  func,
          gpointer      data)
{
  g_autoptr(CoopTask) task = coop_task_new_full (loop, "test", 0, func, data, NULL);
  g_autoptr(CoopFuture) limited = coop_wait_for (COOP_FUTURE (task), TEST_TIMEOUT);
  g_autoptr(GError) error = NULL;

  coop_loop_run_until_complete (loop, limited, &error);
  g_assert_no_error (error);
}

/* Consumes @future. */
static void
run_future (CoopLoop   *loop,
            CoopFuture *future)
{
  g_autoptr(CoopFuture) owned = future;
  g_autoptr(CoopFuture) limited = coop_wait_for (owned, TEST_TIMEOUT);
  g_autoptr(GError) error = NULL;

  coop_loop_run_until_complete (loop, limited, &error);
  g_assert_no_error (error);
}

/* A connected pair: a stream on one end, a raw non-blocking socket on the
 * other. */
static CoopStream *
stream_pair (CoopLoop *loop,
             int      *peer)
{
  int fds[2];
  g_autoptr(GError) error = NULL;
  CoopStream *stream;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  stream = coop_stream_new_for_fd (loop, fds[0], &error);
  g_assert_no_error (error);
  g_assert_cmpint (coop_stream_get_fd (stream), ==, fds[0]);
  g_assert_true (fcntl (fds[0], F_GETFL) & O_NONBLOCK);
  g_assert_cmpint (fcntl (fds[1], F_SETFL, O_NONBLOCK), ==, 0);
  *peer = fds[1];
  return stream;
}

/* A raw TCP listener on 127.0.0.1, ephemeral port. */
static int
raw_listener (guint16 *port,
              int      rcvbuf)
{
  struct sockaddr_in sin = { 0, };
  socklen_t len = sizeof sin;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

  g_assert_cmpint (fd, >=, 0);
  if (rcvbuf > 0)
    g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), ==, 0);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sin, sizeof sin), ==, 0);
  g_assert_cmpint (listen (fd, 16), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &sin, &len), ==, 0);
  *port = ntohs (sin.sin_port);
  return fd;
}

/* Accepts on a raw listener, from a task. */
static int
raw_accept (CoopLoop *loop,
            int       listener)
{
  for (;;)
    {
      int fd = accept4 (listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

      if (fd >= 0)
        return fd;
      g_assert_true (errno == EAGAIN || errno == EWOULDBLOCK);
      g_assert_true (await_done (coop_loop_wait_readable (loop, listener), NULL));
    }
}

/* Writes all of @data to a raw non-blocking socket, from a task. */
static void
raw_write_all (CoopLoop   *loop,
               int         fd,
               const void *data,
               gsize       len)
{
  while (len > 0)
    {
      gssize n = send (fd, data, len, MSG_NOSIGNAL);

      if (n < 0)
        {
          g_assert_true (errno == EAGAIN || errno == EWOULDBLOCK);
          g_assert_true (await_done (coop_loop_wait_writable (loop, fd), NULL));
          continue;
        }
      data = (const char *) data + n;
      len -= n;
    }
}

/* A peer that writes chunks to a raw socket with pauses in between (so each
 * arrives as its own packet), then optionally closes it. */
typedef struct
{
  CoopLoop    *loop;
  int          fd;
  const char **chunks;
  gboolean     close_after;
} Script;

static void
script_body (CoopTask *task,
             gpointer  data)
{
  Script *script = data;

  for (guint i = 0; script->chunks[i] != NULL; i++)
    {
      g_assert_true (await_done (coop_sleep (script->loop, 5000), NULL));
      raw_write_all (script->loop, script->fd, script->chunks[i], strlen (script->chunks[i]));
    }
  if (script->close_after)
    {
      close (script->fd);
      script->fd = -1;
    }
}

/* --- an echo server ---------------------------------------------------------------- */

typedef struct
{
  guint   handled;
  guint   finished;
  guint   errors;
  guint   freed;
} EchoState;

static void
echo_handler (CoopTask   *task,
              CoopStream *stream,
              gpointer    user_data)
{
  EchoState *state = user_data;
  g_autoptr(GError) error = NULL;

  state->handled++;
  g_assert_true (coop_task_get_current () == task);
  g_assert_true (g_str_has_prefix (coop_task_get_name (task), "conn "));
  for (;;)
    {
      g_autoptr(GBytes) data = await_bytes (coop_stream_read (stream, 65536), &error);

      if (data == NULL)
        break;
      if (g_bytes_get_size (data) == 0)
        {
          state->finished++;
          return;   /* the server closes the stream */
        }
      if (!coop_stream_write (stream, data, &error) ||
          !await_done (coop_stream_drain (stream), &error))
        break;
    }
  state->errors++;
}

static void
echo_state_free (gpointer data)
{
  ((EchoState *) data)->freed++;
}

/* --- echo over TCP and Unix sockets ------------------------------------------------ */

typedef struct
{
  CoopLoop   *loop;
  guint16     port;
  const char *path;
  const char *host;
} Client;

static void
echo_client_body (CoopTask *task,
                  gpointer  data)
{
  Client *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) stream = NULL;
  g_autoptr(GSocketAddress) peer = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GBytes) eof = NULL;

  if (c->path != NULL)
    stream = await_stream (coop_stream_open_unix (c->loop, c->path), &error);
  else
    stream = await_stream (coop_stream_open_tcp (c->loop, c->host, c->port), &error);
  g_assert_no_error (error);
  g_assert_nonnull (stream);
  g_assert_cmpint (coop_stream_get_fd (stream), >=, 0);
  g_assert_false (coop_stream_is_closing (stream));

  peer = coop_stream_get_peer_address (stream, &error);
  g_assert_no_error (error);
  local = coop_stream_get_local_address (stream, &error);
  g_assert_no_error (error);
  if (c->path == NULL)
    {
      g_autofree char *ip = NULL;

      g_assert_true (G_IS_INET_SOCKET_ADDRESS (peer));
      g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (peer)), ==, c->port);
      ip = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (peer)));
      g_assert_cmpstr (ip, ==, "127.0.0.1");
      g_assert_true (G_IS_INET_SOCKET_ADDRESS (local));
    }
  else
    {
      g_assert_true (G_IS_UNIX_SOCKET_ADDRESS (peer));
      g_assert_cmpstr (g_unix_socket_address_get_path (G_UNIX_SOCKET_ADDRESS (peer)), ==, c->path);
    }

  /* read_exactly across the echo. */
  g_assert_true (write_str (stream, "hello\n", &error));
  g_assert_true (await_done (coop_stream_drain (stream), &error));
  expect_read (coop_stream_read_exactly (stream, 6), "hello\n");

  /* Several lines in one write: read_line takes them one at a time. */
  g_assert_true (write_str (stream, "one\ntwo\nthree\n", &error));
  expect_read (coop_stream_read_line (stream), "one\n");
  expect_read (coop_stream_read_line (stream), "two\n");
  expect_read (coop_stream_read_line (stream), "three\n");

  /* Half-close: the server sees EOF, returns, and its side closes. */
  g_assert_true (coop_stream_write_eof (stream, &error));
  g_assert_no_error (error);
  g_assert_true (coop_stream_write_eof (stream, &error));   /* again: fine */
  g_assert_false (write_str (stream, "late", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&error);
  eof = await_bytes (coop_stream_read (stream, 100), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (eof), ==, 0);
  g_assert_true (coop_stream_at_eof (stream));

  coop_stream_close (stream);
  g_assert_true (coop_stream_is_closing (stream));
  g_assert_true (await_done (coop_stream_wait_closed (stream), &error));
  g_assert_cmpint (coop_stream_get_fd (stream), ==, -1);
  coop_stream_close (stream);   /* again: nothing */
}

static void
test_echo_tcp (CoopFixture *f, gconstpointer data)
{
  EchoState state = { 0, };
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopServer) server = NULL;
  Client client = { f->loop, 0, NULL, "127.0.0.1" };

  server = coop_server_new_tcp (f->loop, "127.0.0.1", 0, 0, echo_handler, &state, echo_state_free, &error);
  g_assert_no_error (error);
  g_assert_true (G_TYPE_CHECK_INSTANCE_TYPE (server, coop_server_get_type ()));
  g_assert_true (g_type_is_a (coop_stream_get_type (), G_TYPE_OBJECT));
  g_assert_true (coop_server_is_serving (server));
  client.port = coop_server_get_port (server);
  g_assert_cmpuint (client.port, !=, 0);
  g_assert_cmpuint (coop_server_get_n_connections (server), ==, 0);

  run_task (f->loop, echo_client_body, &client);
  run_task (f->loop, echo_client_body, &client);

  coop_server_close (server);
  g_assert_false (coop_server_is_serving (server));
  run_future (f->loop, coop_server_wait_closed (server));
  g_assert_cmpuint (coop_server_get_n_connections (server), ==, 0);
  g_assert_cmpuint (state.handled, ==, 2);
  g_assert_cmpuint (state.finished, ==, 2);
  g_assert_cmpuint (state.errors, ==, 0);
  g_clear_object (&server);
  g_assert_cmpuint (state.freed, ==, 1);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);
}

static void
test_echo_unix (CoopFixture *f, gconstpointer data)
{
  EchoState state = { 0, };
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopServer) server = NULL;
  g_autofree char *dir = g_dir_make_tmp ("coop-stream-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "echo.sock", NULL);
  Client client = { f->loop, 0, path, NULL };

  g_assert_no_error (error);
  /* A stale socket file is replaced, as asyncio does. */
  {
    struct sockaddr_un sun = { 0, };
    int fd = socket (AF_UNIX, SOCK_STREAM, 0);

    sun.sun_family = AF_UNIX;
    strcpy (sun.sun_path, path);
    g_assert_cmpint (bind (fd, (struct sockaddr *) &sun, sizeof sun), ==, 0);
    close (fd);
  }
  server = coop_server_new_unix (f->loop, path, 0, echo_handler, &state, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (coop_server_get_port (server), ==, 0);

  run_task (f->loop, echo_client_body, &client);

  coop_server_close (server);
  run_future (f->loop, coop_server_wait_closed (server));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));   /* removed at close */
  g_assert_cmpuint (state.finished, ==, 1);
  g_rmdir (dir);
}

/* --- read_exactly, read_line, EOF ---------------------------------------------------- */

typedef struct
{
  CoopLoop   *loop;
  CoopStream *stream;
  int         peer;
} Pair;

static void
read_exactly_body (CoopTask *task,
                   gpointer  data)
{
  Pair *p = data;
  const char *chunks[] = { "ef", "ghi", NULL };
  Script script = { p->loop, p->peer, chunks, FALSE };
  g_autoptr(CoopTask) writer = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) rest = NULL;

  g_assert_cmpint (write (p->peer, "abcd", 4), ==, 4);
  expect_read (coop_stream_read_exactly (p->stream, 4), "abcd");
  expect_read (coop_stream_read_exactly (p->stream, 0), "");

  /* Spread over packets. */
  writer = coop_task_new (p->loop, script_body, &script, NULL);
  expect_read (coop_stream_read_exactly (p->stream, 5), "efghi");
  g_assert_true (await_done (g_object_ref (COOP_FUTURE (writer)), NULL));

  /* The stream ends first: PARTIAL_INPUT, and what came stays readable. */
  g_assert_cmpint (write (p->peer, "xy", 2), ==, 2);
  close (p->peer);
  p->peer = -1;
  expect_read_error (coop_stream_read_exactly (p->stream, 5), G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT);
  g_assert_cmpuint (coop_stream_get_read_buffer_size (p->stream), ==, 2);
  g_assert_false (coop_stream_at_eof (p->stream));
  expect_read (coop_stream_read (p->stream, 100), "xy");
  g_assert_true (coop_stream_at_eof (p->stream));
  expect_read (coop_stream_read (p->stream, 100), "");
  expect_read_error (coop_stream_read_exactly (p->stream, 1), G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT);
  expect_read (coop_stream_read_line (p->stream), "");
}

static void
test_read_exactly (CoopFixture *f, gconstpointer data)
{
  Pair p = { f->loop, NULL, -1 };

  p.stream = stream_pair (f->loop, &p.peer);
  run_task (f->loop, read_exactly_body, &p);
  g_object_unref (p.stream);   /* the last reference closes it */
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);
}

static void
read_line_body (CoopTask *task,
                gpointer  data)
{
  Pair *p = data;
  const char *chunks[] = { "one\ntwo\nthr", "ee\n", "fo", "ur", NULL };
  Script script = { p->loop, p->peer, chunks, TRUE };
  g_autoptr(CoopTask) writer = coop_task_new (p->loop, script_body, &script, NULL);

  expect_read (coop_stream_read_line (p->stream), "one\n");
  expect_read (coop_stream_read_line (p->stream), "two\n");
  expect_read (coop_stream_read_line (p->stream), "three\n");   /* split across packets */
  expect_read (coop_stream_read_line (p->stream), "four");      /* EOF mid-line */
  expect_read (coop_stream_read_line (p->stream), "");
  g_assert_true (coop_stream_at_eof (p->stream));
  g_assert_true (await_done (g_object_ref (COOP_FUTURE (writer)), NULL));
  p->peer = -1;
}

static void
test_read_line (CoopFixture *f, gconstpointer data)
{
  Pair p = { f->loop, NULL, -1 };

  p.stream = stream_pair (f->loop, &p.peer);
  run_task (f->loop, read_line_body, &p);
  g_object_unref (p.stream);
}

static void
read_line_limit_body (CoopTask *task,
                      gpointer  data)
{
  Pair *p = data;

  coop_stream_set_limit (p->stream, 8);
  g_assert_cmpuint (coop_stream_get_limit (p->stream), ==, 8);

  /* A line longer than the limit, with its '\n' in the buffer: it fails
   * and is dropped up to and including its '\n', as asyncio's readline()
   * drops it, so the next read_line() gets the next line. */
  raw_write_all (p->loop, p->peer, "short\n0123456789abc\nok\n", 23);
  expect_read (coop_stream_read_line (p->stream), "short\n");
  expect_read_error (coop_stream_read_line (p->stream), G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  g_assert_cmpuint (coop_stream_get_read_buffer_size (p->stream), ==, 3);
  expect_read (coop_stream_read_line (p->stream), "ok\n");

  /* Exactly the limit (without the '\n') is fine. */
  raw_write_all (p->loop, p->peer, "12345678\n", 9);
  expect_read (coop_stream_read_line (p->stream), "12345678\n");

  /* More than the limit without a '\n': fails as soon as it is known, and
   * what was buffered is dropped (asyncio clears its buffer); the rest of
   * that line, when it comes, is read as a line of its own. */
  raw_write_all (p->loop, p->peer, "0123456789", 10);
  expect_read_error (coop_stream_read_line (p->stream), G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  g_assert_cmpuint (coop_stream_get_read_buffer_size (p->stream), ==, 0);
  raw_write_all (p->loop, p->peer, "tail\nnext\n", 10);
  expect_read (coop_stream_read_line (p->stream), "tail\n");
  expect_read (coop_stream_read_line (p->stream), "next\n");

  /* A larger limit lets a long line through. */
  coop_stream_set_limit (p->stream, 16);
  raw_write_all (p->loop, p->peer, "0123456789abcdef\n", 17);
  expect_read (coop_stream_read_line (p->stream), "0123456789abcdef\n");
}

/* A server whose handler skips over-long lines, as a readline() loop in
 * asyncio may: it answers "too long" and reads on.  After the error the
 * retry must wait for the next line, not fail again at once: a handler
 * failing without ever yielding would hold the whole loop (no other client
 * answered, no signal handled).  The handler gives up after a few errors
 * in a row, so that such a regression fails the test instead of hanging it. */
#define SKIP_LIMIT      16
#define SKIP_MAX_ERRORS 8

typedef struct
{
  guint errors;         /* limit errors, in all */
  guint gave_up;        /* handlers that hit SKIP_MAX_ERRORS in a row */
} SkipState;

static void
skip_handler (CoopTask   *task,
              CoopStream *stream,
              gpointer    user_data)
{
  SkipState *state = user_data;
  guint in_a_row = 0;

  coop_stream_set_limit (stream, SKIP_LIMIT);
  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) line = await_bytes (coop_stream_read_line (stream), &error);
      g_autofree char *reply = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE))
        {
          state->errors++;
          if (++in_a_row == SKIP_MAX_ERRORS)
            {
              state->gave_up++;
              return;
            }
          if (!write_str (stream, "too long\n", NULL))
            return;
          continue;
        }
      if (line == NULL || g_bytes_get_size (line) == 0)
        return;
      in_a_row = 0;
      reply = g_strdup_printf ("got %.*s", (int) g_bytes_get_size (line),
                               (const char *) g_bytes_get_data (line, NULL));
      if (!write_str (stream, reply, NULL) || !await_done (coop_stream_drain (stream), NULL))
        return;
    }
}

typedef struct
{
  CoopLoop   *loop;
  const char *path;
} SkipClients;

static void
skip_clients_body (CoopTask *task,
                   gpointer  data)
{
  SkipClients *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) a = await_stream (coop_stream_open_unix (c->loop, c->path), &error);
  g_autoptr(CoopStream) b = NULL;
  char overlong[4 * SKIP_LIMIT + 2];

  g_assert_no_error (error);
  memset (overlong, 'x', sizeof overlong - 2);
  overlong[sizeof overlong - 2] = '\n';
  overlong[sizeof overlong - 1] = '\0';

  /* Client a: an over-long line.  The answer proves its handler has seen
   * the error and is retrying. */
  g_assert_true (write_str (a, overlong, &error));
  expect_read (coop_stream_read_line (a), "too long\n");

  /* Meanwhile another client is served by the same loop. */
  b = await_stream (coop_stream_open_unix (c->loop, c->path), &error);
  g_assert_no_error (error);
  g_assert_true (write_str (b, "ping\n", &error));
  expect_read (coop_stream_read_line (b), "got ping\n");

  /* And client a's next line gets through. */
  g_assert_true (write_str (a, "good\n", &error));
  expect_read (coop_stream_read_line (a), "got good\n");
  coop_stream_close (a);
  coop_stream_close (b);
}

static void
test_read_line_skip_overlong (CoopFixture *f, gconstpointer data)
{
  g_autofree char *dir = g_dir_make_tmp ("coop-skip-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "sock", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopServer) server = NULL;
  SkipState state = { 0, };
  SkipClients clients = { f->loop, path };

  server = coop_server_new_unix (f->loop, path, 0, skip_handler, &state, NULL, &error);
  g_assert_no_error (error);
  run_task (f->loop, skip_clients_body, &clients);
  coop_server_close (server);
  run_future (f->loop, coop_server_wait_closed (server));
  g_assert_cmpuint (state.errors, ==, 1);
  g_assert_cmpuint (state.gave_up, ==, 0);
  g_rmdir (dir);
}

static void
test_read_line_limit (CoopFixture *f, gconstpointer data)
{
  Pair p = { f->loop, NULL, -1 };

  p.stream = stream_pair (f->loop, &p.peer);
  run_task (f->loop, read_line_limit_body, &p);
  g_object_unref (p.stream);
  close (p.peer);
}

/* A read that fails at once still lets the loop turn before the task
 * awaiting it resumes, so a task that retries failed reads in a loop
 * cannot hold the loop (the other tasks, timers and signal handlers run).
 * A callback queued before the read has run when the read's await returns. */
static void
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
}

static void
expect_read_error_yields (CoopLoop   *loop,
                          CoopFuture *future,
                          GQuark      domain,
                          int         code)
{
  gboolean ran = FALSE;
  g_autoptr(CoopHandle) handle = coop_loop_call_soon (loop, set_flag, &ran, NULL);

  expect_read_error (future, domain, code);
  g_assert_true (ran);
}

static void
failed_read_yields_body (CoopTask *task,
                         gpointer  data)
{
  Pair *p = data;
  g_autoptr(CoopFuture) first = NULL;

  /* Over the limit (the line is dropped, and so the retry waits). */
  coop_stream_set_limit (p->stream, 4);
  raw_write_all (p->loop, p->peer, "0123456789\nok\n", 14);
  expect_read_error_yields (p->loop, coop_stream_read_line (p->stream), G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  expect_read (coop_stream_read_line (p->stream), "ok\n");

  /* A second read while one waits. */
  first = coop_stream_read (p->stream, 10);
  for (guint i = 0; i < 3; i++)
    expect_read_error_yields (p->loop, coop_stream_read (p->stream, 10), COOP_ERROR, COOP_ERROR_INVALID_STATE);
  raw_write_all (p->loop, p->peer, "x", 1);
  expect_read (g_steal_pointer (&first), "x");

  /* The stream ended short of what read_exactly() wants: every retry. */
  raw_write_all (p->loop, p->peer, "ab", 2);
  shutdown (p->peer, SHUT_WR);
  for (guint i = 0; i < 3; i++)
    expect_read_error_yields (p->loop, coop_stream_read_exactly (p->stream, 3), G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT);
  expect_read (coop_stream_read (p->stream, 10), "ab");

  /* A closed stream. */
  coop_stream_close (p->stream);
  for (guint i = 0; i < 3; i++)
    {
      expect_read_error_yields (p->loop, coop_stream_read (p->stream, 10), G_IO_ERROR, G_IO_ERROR_CLOSED);
      expect_read_error_yields (p->loop, coop_stream_read_line (p->stream), G_IO_ERROR, G_IO_ERROR_CLOSED);
    }
}

static void
test_failed_read_yields (CoopFixture *f, gconstpointer data)
{
  Pair p = { f->loop, NULL, -1 };

  p.stream = stream_pair (f->loop, &p.peer);
  run_task (f->loop, failed_read_yields_body, &p);
  g_object_unref (p.stream);
  close (p.peer);
}

static void
eof_body (CoopTask *task,
          gpointer  data)
{
  Pair *p = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) empty = NULL;

  g_assert_false (coop_stream_at_eof (p->stream));
  close (p->peer);
  p->peer = -1;
  empty = await_bytes (coop_stream_read (p->stream, 10), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (empty), ==, 0);
  g_assert_true (coop_stream_at_eof (p->stream));
  /* EOF is sticky. */
  expect_read (coop_stream_read (p->stream, 10), "");
  expect_read (coop_stream_read_line (p->stream), "");
  expect_read_error (coop_stream_read_exactly (p->stream, 3), G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT);
  /* read(0) is empty at once. */
  expect_read (coop_stream_read (p->stream, 0), "");
}

static void
test_eof (CoopFixture *f, gconstpointer data)
{
  Pair p = { f->loop, NULL, -1 };

  p.stream = stream_pair (f->loop, &p.peer);
  run_task (f->loop, eof_body, &p);
  /* A stream at EOF no longer watches its fd. */
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);
  g_object_unref (p.stream);
}

/* --- back-pressure --------------------------------------------------------------------- */

#define BIG_SIZE (4 * 1024 * 1024)

static guint8
pattern_byte (gsize i)
{
  return (guint8) ((i * 7 + i / 251) & 0xff);
}

typedef struct
{
  CoopLoop   *loop;
  int         fd;
  gsize       received;
  gboolean    intact;
} SlowReader;

/* Reads 16 KiB at a time, one chunk per millisecond. */
static void
slow_reader_body (CoopTask *task,
                  gpointer  data)
{
  SlowReader *r = data;
  guint8 buf[16 * 1024];

  r->intact = TRUE;
  while (r->received < BIG_SIZE)
    {
      gssize n = recv (r->fd, buf, sizeof buf, 0);

      if (n < 0)
        {
          g_assert_true (errno == EAGAIN);
          g_assert_true (await_done (coop_loop_wait_readable (r->loop, r->fd), NULL));
          continue;
        }
      g_assert_cmpint (n, >, 0);
      for (gssize i = 0; i < n; i++)
        if (buf[i] != pattern_byte (r->received + i))
          r->intact = FALSE;
      r->received += n;
      g_assert_true (await_done (coop_sleep (r->loop, 1000), NULL));
    }
}

typedef struct
{
  CoopLoop *loop;
  guint16   port;
  int       listener;
  gsize     size_at_drain;
  guint     drains_waited;
} Pressure;

static void
record_size_cb (CoopFuture *future,
                gpointer    data)
{
  Pressure *pr = data;
  CoopStream *stream = g_object_get_data (G_OBJECT (future), "stream");

  pr->size_at_drain = coop_stream_get_write_buffer_size (stream);
}

static void
pressure_body (CoopTask *task,
               gpointer  data)
{
  Pressure *pr = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) stream = NULL;
  g_autoptr(CoopTask) reader = NULL;
  g_autoptr(CoopFuture) drain = NULL;
  SlowReader slow = { pr->loop, -1, 0, FALSE };
  guint8 *big = g_malloc (BIG_SIZE);
  gsize high, low, sent;
  int sndbuf = 4096;

  for (gsize i = 0; i < BIG_SIZE; i++)
    big[i] = pattern_byte (i);

  stream = await_stream (coop_stream_open_tcp (pr->loop, "127.0.0.1", pr->port), &error);
  g_assert_no_error (error);
  g_assert_cmpint (setsockopt (coop_stream_get_fd (stream), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), ==, 0);
  slow.fd = raw_accept (pr->loop, pr->listener);

  coop_stream_get_write_buffer_limits (stream, &high, &low);
  g_assert_cmpuint (high, ==, 64 * 1024);
  g_assert_cmpuint (low, ==, 16 * 1024);

  /* Half of it in one write: most of it stays buffered, over the
   * high-water mark, and drain waits until the buffer is down to the
   * low-water mark. */
  {
    g_autoptr(GBytes) half = g_bytes_new_static (big, BIG_SIZE / 2);

    g_assert_true (coop_stream_write (stream, half, &error));
    g_assert_no_error (error);
  }
  g_assert_cmpuint (coop_stream_get_write_buffer_size (stream), >, high);
  drain = coop_stream_drain (stream);
  g_assert_false (coop_future_is_done (drain));
  g_object_set_data (G_OBJECT (drain), "stream", stream);
  coop_future_add_done_callback (drain, record_size_cb, pr, NULL);
  reader = coop_task_new (pr->loop, slow_reader_body, &slow, NULL);
  g_assert_true (coop_await (drain, &error));
  g_assert_cmpuint (pr->size_at_drain, <=, low);
  g_assert_cmpuint (coop_stream_get_write_buffer_size (stream), <=, low);

  /* The other half in 64 KiB writes, each followed by a drain (the usual
   * loop): partial sends, and drains that wait. */
  for (sent = BIG_SIZE / 2; sent < BIG_SIZE; sent += 64 * 1024)
    {
      g_autoptr(GBytes) piece = g_bytes_new_static (big + sent, 64 * 1024);
      g_autoptr(CoopFuture) d = NULL;

      g_assert_true (coop_stream_write (stream, piece, &error));
      d = coop_stream_drain (stream);
      if (!coop_future_is_done (d))
        pr->drains_waited++;
      g_assert_true (coop_await (d, &error));
    }
  g_assert_cmpuint (pr->drains_waited, >, 0);

  /* Close flushes the rest in the background. */
  coop_stream_close (stream);
  g_assert_true (await_done (coop_stream_wait_closed (stream), &error));
  g_assert_no_error (error);
  g_assert_true (await_done (g_object_ref (COOP_FUTURE (reader)), &error));
  g_assert_cmpuint (slow.received, ==, BIG_SIZE);
  g_assert_true (slow.intact);
  close (slow.fd);
  g_free (big);
}

static void
test_drain_backpressure (CoopFixture *f, gconstpointer data)
{
  Pressure pr = { f->loop, 0, -1, 0, 0 };

  pr.listener = raw_listener (&pr.port, 4096);
  run_task (f->loop, pressure_body, &pr);
  close (pr.listener);
}

/* Limits 0/0: every drain waits for an empty buffer; raising the marks
 * releases a waiting drain. */
static void
test_write_buffer_limits (CoopFixture *f, gconstpointer data)
{
  int peer;
  g_autoptr(CoopStream) stream = stream_pair (f->loop, &peer);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) big = NULL;
  g_autoptr(CoopFuture) drain = NULL;
  gsize high, low;
  guint8 *buf = g_malloc0 (1024 * 1024);

  coop_stream_set_write_buffer_limits (stream, 0, 0);
  coop_stream_get_write_buffer_limits (stream, &high, &low);
  g_assert_cmpuint (high, ==, 0);
  g_assert_cmpuint (low, ==, 0);
  big = g_bytes_new_take (buf, 1024 * 1024);
  g_assert_true (coop_stream_write (stream, big, &error));
  g_assert_cmpuint (coop_stream_get_write_buffer_size (stream), >, 0);
  drain = coop_stream_drain (stream);
  g_assert_false (coop_future_is_done (drain));
  coop_stream_set_write_buffer_limits (stream, 4 * 1024 * 1024, 2 * 1024 * 1024);
  g_assert_cmpint (coop_future_get_state (drain), ==, COOP_FUTURE_STATE_FINISHED);

  /* abort: the buffer goes, waiting drains fail. */
  coop_stream_set_write_buffer_limits (stream, 0, 0);
  g_assert_true (coop_stream_write (stream, big, &error));
  g_clear_object (&drain);
  drain = coop_stream_drain (stream);
  g_assert_false (coop_future_is_done (drain));
  coop_stream_abort (stream);
  g_assert_true (coop_stream_is_closing (stream));
  g_assert_cmpuint (coop_stream_get_write_buffer_size (stream), ==, 0);
  g_assert_false (coop_future_propagate (drain, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&error);
  g_clear_object (&drain);
  drain = coop_stream_drain (stream);
  g_assert_false (coop_future_propagate (drain, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&error);
  close (peer);
}

/* --- failures ------------------------------------------------------------------------- */

typedef struct
{
  CoopLoop *loop;
  guint16   port;
  int       listener;
} Reset;

static void
reset_peer (int fd)
{
  struct linger lg = { 1, 0 };

  g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), ==, 0);
  close (fd);   /* sends RST */
}

static void
reset_body (CoopTask *task,
            gpointer  data)
{
  Reset *r = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) a = NULL;
  g_autoptr(CoopStream) b = NULL;
  g_autoptr(GSocketAddress) peer = NULL;
  g_autoptr(GBytes) chunk = g_bytes_new_static ("0123456789", 10);
  int raw;
  guint i;

  /* A read waiting when the peer resets fails. */
  a = await_stream (coop_stream_open_tcp (r->loop, "127.0.0.1", r->port), &error);
  g_assert_no_error (error);
  raw = raw_accept (r->loop, r->listener);
  g_assert_true (write_str (a, "ping", &error));
  {
    char buf[4];

    g_assert_true (await_done (coop_loop_wait_readable (r->loop, raw), NULL));
    g_assert_cmpint (recv (raw, buf, 4, 0), ==, 4);
  }
  g_assert_cmpint (send (raw, "pong", 4, 0), ==, 4);
  expect_read (coop_stream_read_exactly (a, 4), "pong");
  {
    g_autoptr(CoopFuture) pending = coop_stream_read (a, 100);

    g_assert_true (await_done (coop_sleep (r->loop, 2000), NULL));
    g_assert_false (coop_future_is_done (pending));
    reset_peer (raw);
    expect_read_error (g_steal_pointer (&pending), G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  }
  /* Sticky. */
  expect_read_error (coop_stream_read (a, 100), G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  /* The peer's address is still known. */
  peer = coop_stream_get_peer_address (a, &error);
  g_assert_no_error (error);
  g_assert_nonnull (peer);

  /* Writing to a reset peer: an error (never SIGPIPE, which would kill
   * this test), then the same error from drain and later writes. */
  b = await_stream (coop_stream_open_tcp (r->loop, "127.0.0.1", r->port), &error);
  g_assert_no_error (error);
  raw = raw_accept (r->loop, r->listener);
  reset_peer (raw);
  g_assert_true (await_done (coop_sleep (r->loop, 2000), NULL));
  for (i = 0; i < 1000 && coop_stream_write (b, chunk, &error); i++)
    g_assert_true (await_done (coop_sleep (r->loop, 100), NULL));
  g_assert_nonnull (error);
  g_assert_true (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
                 g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED));
  g_clear_error (&error);
  g_assert_false (await_done (coop_stream_drain (b), &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_false (coop_stream_write (b, chunk, &error));
  g_clear_error (&error);
  g_assert_false (coop_stream_write_eof (b, &error));
  g_clear_error (&error);
  coop_stream_close (a);
  coop_stream_close (b);
  g_assert_true (await_done (coop_stream_wait_closed (a), NULL));
}

static void
test_peer_reset (CoopFixture *f, gconstpointer data)
{
  Reset r = { f->loop, 0, -1 };

  r.listener = raw_listener (&r.port, 0);
  run_task (f->loop, reset_body, &r);
  close (r.listener);
}

typedef struct
{
  CoopLoop   *loop;
  CoopStream *stream;
  GError     *error;
  gboolean    waiting;
} Waiter;

static void
wait_read_body (CoopTask *task,
                gpointer  data)
{
  Waiter *w = data;
  g_autoptr(GBytes) bytes = NULL;

  w->waiting = TRUE;
  bytes = await_bytes (coop_stream_read (w->stream, 100), &w->error);
  w->waiting = FALSE;
  g_assert_null (bytes);
}

static void
close_stream_cb (gpointer data)
{
  coop_stream_close (data);
}

/* Closing a stream while a task waits on a read: the read fails with
 * G_IO_ERROR_CLOSED, at once. */
static void
test_close_while_reading (CoopFixture *f, gconstpointer data)
{
  int peer;
  g_autoptr(CoopStream) stream = stream_pair (f->loop, &peer);
  Waiter w = { f->loop, stream, NULL, FALSE };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, wait_read_body, &w, NULL);
  g_autoptr(CoopFuture) closed = coop_stream_wait_closed (stream);
  g_autoptr(GError) error = NULL;

  coop_test_wait_until (w.waiting);
  g_assert_false (coop_future_is_done (closed));
  coop_handle_unref (coop_loop_call_soon (f->loop, close_stream_cb, stream, NULL));
  run_future (f->loop, g_object_ref (COOP_FUTURE (task)));
  g_assert_error (w.error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&w.error);
  g_assert_true (coop_future_is_done (closed));
  g_assert_true (coop_future_propagate (closed, NULL));
  g_assert_cmpint (coop_stream_get_fd (stream), ==, -1);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);

  /* Everything after fails with G_IO_ERROR_CLOSED. */
  {
    g_autoptr(CoopFuture) read = coop_stream_read (stream, 1);
    g_autoptr(GSocketAddress) local = coop_stream_get_local_address (stream, &error);

    g_assert_null (local);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
    g_clear_error (&error);
    /* A failed read completes on the loop's next turn (see
     * failed-read-yields). */
    coop_test_wait_until (coop_future_is_done (read));
    g_assert_false (coop_future_propagate (read, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
    g_clear_error (&error);
    g_assert_false (write_str (stream, "x", &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
    g_clear_error (&error);
    g_assert_false (coop_stream_write_eof (stream, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  }
  close (peer);
}

/* Only one read at a time, as asyncio. */
static void
concurrent_body (CoopTask *task,
                 gpointer  data)
{
  Pair *p = data;
  g_autoptr(CoopFuture) first = coop_stream_read (p->stream, 100);

  expect_read_error (coop_stream_read (p->stream, 100), COOP_ERROR, COOP_ERROR_INVALID_STATE);
  expect_read_error (coop_stream_read_line (p->stream), COOP_ERROR, COOP_ERROR_INVALID_STATE);
  expect_read_error (coop_stream_read_exactly (p->stream, 1), COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_assert_false (coop_future_is_done (first));
  raw_write_all (p->loop, p->peer, "data", 4);
  expect_read (g_steal_pointer (&first), "data");
  /* Free again. */
  raw_write_all (p->loop, p->peer, "more", 4);
  expect_read (coop_stream_read (p->stream, 100), "more");
}

static void
test_concurrent_reads (CoopFixture *f, gconstpointer data)
{
  Pair p = { f->loop, NULL, -1 };

  p.stream = stream_pair (f->loop, &p.peer);
  run_task (f->loop, concurrent_body, &p);
  g_object_unref (p.stream);
  close (p.peer);
}

/* A cancelled read loses no data: cancelled while waiting, the stream is
 * free for the next read; cancelled after its bytes were taken but before
 * the task resumed, they go back into the buffer. */
static void
cancel_read_body (CoopTask *task,
                  gpointer  data)
{
  Pair *p = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopFuture) read = NULL;

  /* wait_for times out a waiting read. */
  read = coop_stream_read (p->stream, 100);
  expect_read_error (coop_wait_for (read, 20000), G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_true (coop_future_is_cancelled (read));
  g_clear_object (&read);
  raw_write_all (p->loop, p->peer, "hello", 5);
  expect_read (coop_stream_read_exactly (p->stream, 1), "h");
  g_assert_cmpuint (coop_stream_get_read_buffer_size (p->stream), ==, 4);

  /* A cancellation pending when the task awaits a finished read. */
  coop_task_cancel (task, "test");
  read = coop_stream_read (p->stream, 2);
  g_assert_true (coop_future_is_done (read));
  g_assert_cmpuint (coop_stream_get_read_buffer_size (p->stream), ==, 2);
  g_assert_false (coop_await (read, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (coop_stream_get_read_buffer_size (p->stream), ==, 4);   /* given back */
  expect_read (coop_stream_read (p->stream, 100), "ello");

  /* Cancelling the future itself. */
  g_clear_object (&read);
  read = coop_stream_read_line (p->stream);
  g_assert_true (coop_future_cancel (read, NULL));
  g_assert_true (coop_future_is_cancelled (read));
  raw_write_all (p->loop, p->peer, "line\n", 5);
  expect_read (coop_stream_read_line (p->stream), "line\n");
}

static void
test_cancel_read (CoopFixture *f, gconstpointer data)
{
  Pair p = { f->loop, NULL, -1 };

  p.stream = stream_pair (f->loop, &p.peer);
  run_task (f->loop, cancel_read_body, &p);
  g_object_unref (p.stream);
  close (p.peer);
}

/* --- servers -------------------------------------------------------------------------- */

typedef struct
{
  CoopLoop    *loop;
  guint16      port;
  CoopStream  *streams[3];
} Clients;

static void
connect_three_body (CoopTask *task,
                    gpointer  data)
{
  Clients *c = data;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 3; i++)
    {
      c->streams[i] = await_stream (coop_stream_open_tcp (c->loop, "127.0.0.1", c->port), &error);
      g_assert_no_error (error);
      g_assert_true (write_str (c->streams[i], "hi\n", &error));
      expect_read (coop_stream_read_line (c->streams[i]), "hi\n");
    }
}

static void
after_close_body (CoopTask *task,
                  gpointer  data)
{
  Clients *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) refused = NULL;

  /* No new connections... */
  refused = await_stream (coop_stream_open_tcp (c->loop, "127.0.0.1", c->port), &error);
  g_assert_null (refused);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_clear_error (&error);
  /* ...but the handlers run on. */
  for (guint i = 0; i < 3; i++)
    {
      g_assert_true (write_str (c->streams[i], "still\n", &error));
      expect_read (coop_stream_read_line (c->streams[i]), "still\n");
    }
}

static void
test_server_close_with_clients (CoopFixture *f, gconstpointer data)
{
  EchoState state = { 0, };
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopServer) server = NULL;
  g_autoptr(CoopFuture) closed = NULL;
  Clients c = { f->loop, 0, { NULL, } };

  server = coop_server_new_tcp (f->loop, "127.0.0.1", 0, 16, echo_handler, &state, NULL, &error);
  g_assert_no_error (error);
  c.port = coop_server_get_port (server);
  run_task (f->loop, connect_three_body, &c);
  g_assert_cmpuint (coop_server_get_n_connections (server), ==, 3);

  coop_server_close (server);
  coop_server_close (server);   /* again: nothing */
  closed = coop_server_wait_closed (server);
  run_task (f->loop, after_close_body, &c);
  g_assert_false (coop_future_is_done (closed));
  g_assert_cmpuint (coop_server_get_n_connections (server), ==, 3);

  /* Each client leaving ends its handler; the last one ends the wait. */
  for (guint i = 0; i < 3; i++)
    {
      coop_stream_close (c.streams[i]);
      g_clear_object (&c.streams[i]);
      if (i < 2)
        {
          coop_test_wait_until (coop_server_get_n_connections (server) == 2 - i);
          g_assert_false (coop_future_is_done (closed));
        }
    }
  run_future (f->loop, g_object_ref (closed));
  g_assert_cmpuint (coop_server_get_n_connections (server), ==, 0);
  g_assert_cmpuint (state.finished, ==, 3);
}

static void
connect_and_wait_body (CoopTask *task,
                       gpointer  data)
{
  Clients *c = data;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 3; i++)
    {
      c->streams[i] = await_stream (coop_stream_open_tcp (c->loop, "::1", c->port), &error);
      g_assert_no_error (error);
      g_assert_true (write_str (c->streams[i], "x", &error));
      expect_read (coop_stream_read (c->streams[i], 10), "x");
    }
}

/* close_clients / abort_clients end the handlers. */
static void
test_server_close_clients (CoopFixture *f, gconstpointer data)
{
  EchoState state = { 0, };
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopServer) server = NULL;
  Clients c = { f->loop, 0, { NULL, } };

  /* Every interface: one dual-stack socket. */
  server = coop_server_new_tcp (f->loop, NULL, 0, 0, echo_handler, &state, NULL, &error);
  g_assert_no_error (error);
  c.port = coop_server_get_port (server);
  run_task (f->loop, connect_and_wait_body, &c);
  g_assert_cmpuint (coop_server_get_n_connections (server), ==, 3);
  coop_server_close_clients (server);
  coop_test_wait_until (coop_server_get_n_connections (server) == 0);
  g_assert_cmpuint (state.errors, ==, 3);   /* their reads failed: closed */
  for (guint i = 0; i < 3; i++)
    {
      coop_stream_close (c.streams[i]);
      g_clear_object (&c.streams[i]);
    }

  run_task (f->loop, connect_and_wait_body, &c);
  coop_server_abort_clients (server);
  coop_server_close (server);
  run_future (f->loop, coop_server_wait_closed (server));
  g_assert_cmpuint (state.errors, ==, 6);
  for (guint i = 0; i < 3; i++)
    g_clear_object (&c.streams[i]);
}

/* A server nobody references serves until it is closed; a handler that
 * fails is reported to the exception handler. */
static void
failing_handler (CoopTask   *task,
                 CoopStream *stream,
                 gpointer    user_data)
{
  coop_future_take_error (COOP_FUTURE (task), g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "handler failed"));
}

static void
count_exceptions (CoopLoop     *loop,
                  const char   *message,
                  CoopFuture   *future,
                  const GError *error,
                  gpointer      user_data)
{
  if (error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_FAILED))
    (*(guint *) user_data)++;
}

static void
read_eof_body (CoopTask *task,
               gpointer  data)
{
  Client *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) stream = await_stream (coop_stream_open_tcp (c->loop, c->host, c->port), &error);

  g_assert_no_error (error);
  expect_read (coop_stream_read (stream, 10), "");   /* the server closed it */
}

static void
test_server_unreferenced (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  CoopServer *server;
  GWeakRef weak;
  guint reported = 0;
  Client client = { f->loop, 0, NULL, "127.0.0.1" };

  coop_loop_set_exception_handler (f->loop, count_exceptions, &reported, NULL);
  server = coop_server_new_tcp (f->loop, "127.0.0.1", 0, 0, failing_handler, NULL, NULL, &error);
  g_assert_no_error (error);
  client.port = coop_server_get_port (server);
  g_weak_ref_init (&weak, server);
  g_object_unref (server);
  run_task (f->loop, read_eof_body, &client);
  coop_test_wait_until (reported == 1);

  server = g_weak_ref_get (&weak);
  g_assert_nonnull (server);
  coop_server_close (server);
  g_object_unref (server);
  g_assert_null (g_weak_ref_get (&weak));
  g_weak_ref_clear (&weak);
  coop_loop_set_exception_handler (f->loop, NULL, NULL, NULL);
}

/* --- connecting ---------------------------------------------------------------------- */

static void
refused_body (CoopTask *task,
              gpointer  data)
{
  Client *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) stream = NULL;
  g_autofree char *dir = g_dir_make_tmp ("coop-stream-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "nobody.sock", NULL);
  g_autofree char *long_path = g_strnfill (200, 'x');

  stream = await_stream (coop_stream_open_tcp (c->loop, "127.0.0.1", c->port), &error);
  g_assert_null (stream);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_clear_error (&error);

  /* Nothing at the path. */
  stream = await_stream (coop_stream_open_unix (c->loop, path), &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* A socket file nobody listens on. */
  {
    struct sockaddr_un sun = { 0, };
    int fd = socket (AF_UNIX, SOCK_STREAM, 0);

    sun.sun_family = AF_UNIX;
    strcpy (sun.sun_path, path);
    g_assert_cmpint (bind (fd, (struct sockaddr *) &sun, sizeof sun), ==, 0);
    stream = await_stream (coop_stream_open_unix (c->loop, path), &error);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
    g_clear_error (&error);
    close (fd);
    g_unlink (path);
  }

  stream = await_stream (coop_stream_open_unix (c->loop, long_path), &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_rmdir (dir);
}

static void
test_connection_refused (CoopFixture *f, gconstpointer data)
{
  Client client = { f->loop, 0, NULL, NULL };
  int fd = raw_listener (&client.port, 0);

  close (fd);   /* nobody listens on that port now */
  run_task (f->loop, refused_body, &client);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);
}

static void
resolve_body (CoopTask *task,
              gpointer  data)
{
  Client *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) stream = NULL;
  g_autoptr(CoopStream) none = NULL;
  g_autoptr(GSocketAddress) peer = NULL;
  g_autofree char *ip = NULL;

  stream = await_stream (coop_stream_open_tcp (c->loop, "localhost", c->port), &error);
  g_assert_no_error (error);
  peer = coop_stream_get_peer_address (stream, &error);
  g_assert_no_error (error);
  /* 127.0.0.1 or ::1, whichever the resolver gave first. */
  g_assert_true (g_inet_address_get_is_loopback (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (peer))));
  ip = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (peer)));
  g_test_message ("localhost: connected to %s", ip);
  g_assert_true (write_str (stream, "resolved\n", &error));
  expect_read (coop_stream_read_line (stream), "resolved\n");

  none = await_stream (coop_stream_open_tcp (c->loop, "no-such-host.invalid", c->port), &error);
  g_assert_null (none);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND);
}

static void
test_resolve_localhost (CoopFixture *f, gconstpointer data)
{
  EchoState state = { 0, };
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopServer) server = NULL;
  Client client = { f->loop, 0, NULL, NULL };

  /* A host name for the server too (resolved synchronously). */
  server = coop_server_new_tcp (f->loop, "localhost", 0, 0, echo_handler, &state, NULL, &error);
  g_assert_no_error (error);
  client.port = coop_server_get_port (server);
  run_task (f->loop, resolve_body, &client);
  coop_server_close (server);
  run_future (f->loop, coop_server_wait_closed (server));
}

/* A name with several addresses: each is tried in turn.  The server
 * listens on 127.0.0.1 only; "localhost" may resolve to ::1 first, which
 * refuses. */
static void
each_address_body (CoopTask *task,
                   gpointer  data)
{
  Client *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) stream = await_stream (coop_stream_open_tcp (c->loop, "localhost", c->port), &error);

  g_assert_no_error (error);
  g_assert_true (write_str (stream, "v4\n", &error));
  expect_read (coop_stream_read_line (stream), "v4\n");
}

static void
test_each_address (CoopFixture *f, gconstpointer data)
{
  EchoState state = { 0, };
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopServer) server = NULL;
  Client client = { f->loop, 0, NULL, NULL };

  server = coop_server_new_tcp (f->loop, "127.0.0.1", 0, 0, echo_handler, &state, NULL, &error);
  g_assert_no_error (error);
  client.port = coop_server_get_port (server);
  run_task (f->loop, each_address_body, &client);
  coop_server_close (server);
  run_future (f->loop, coop_server_wait_closed (server));
  g_assert_cmpuint (state.finished, ==, 1);
}

/* A Unix listener whose backlog is full: a non-blocking connect says
 * EAGAIN, and the stream retries until there is room. */
typedef struct
{
  CoopLoop   *loop;
  const char *path;
  int         listener;
} Backlog;

static void
backlog_body (CoopTask *task,
              gpointer  data)
{
  Backlog *b = data;
  g_autoptr(GError) error = NULL;
  CoopFuture *opening[4];
  int accepted = 0;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (opening); i++)
    opening[i] = coop_stream_open_unix (b->loop, b->path);
  g_assert_true (await_done (coop_sleep (b->loop, 20000), NULL));
  /* Some are still waiting for room (how many the kernel queues varies). */
  for (i = 0; i < G_N_ELEMENTS (opening); i++)
    {
      g_autoptr(CoopStream) stream = NULL;

      while (!coop_future_is_done (opening[i]))
        {
          int fd = accept4 (b->listener, NULL, NULL, SOCK_CLOEXEC);

          if (fd >= 0)
            {
              close (fd);
              accepted++;
            }
          g_assert_true (await_done (coop_sleep (b->loop, 2000), NULL));
        }
      stream = await_stream (opening[i], &error);
      g_assert_no_error (error);
      coop_stream_abort (stream);
    }
  g_test_message ("accepted %d while connecting", accepted);
}

static void
test_unix_backlog_full (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("coop-stream-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "full.sock", NULL);
  struct sockaddr_un sun = { 0, };
  Backlog b = { f->loop, path, -1 };

  b.listener = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sun.sun_family = AF_UNIX;
  strcpy (sun.sun_path, path);
  g_assert_cmpint (bind (b.listener, (struct sockaddr *) &sun, sizeof sun), ==, 0);
  g_assert_cmpint (listen (b.listener, 0), ==, 0);
  run_task (f->loop, backlog_body, &b);
  close (b.listener);
  g_unlink (path);
  g_rmdir (dir);
}

/* Cancelling a connection attempt closes its socket. */
static void
test_cancel_connect (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) opening = NULL;
  g_autoptr(CoopFuture) resolving = NULL;

  /* 192.0.2.1 (TEST-NET-1) never answers: the connect stays in progress,
   * or fails at once where there is no route. */
  opening = coop_stream_open_tcp (f->loop, "192.0.2.1", 9);
  resolving = coop_stream_open_tcp (f->loop, "localhost", 9);
  coop_future_cancel (resolving, NULL);
  g_assert_true (coop_future_is_cancelled (resolving));
  if (!coop_future_is_done (opening))
    {
      coop_test_iterate ();
      coop_future_cancel (opening, NULL);
      g_assert_true (coop_future_is_done (opening));
    }
  else
    coop_future_get_error (opening);
  for (int i = 0; i < 20; i++)
    coop_test_iterate ();
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);
}

/* --- many clients ---------------------------------------------------------------------- */

#define N_CLIENTS 200
#define N_ROUNDS  10

typedef struct
{
  CoopLoop *loop;
  guint16   port;
  guint     index;
  guint    *done;
} ManyClient;

static void
many_client_body (CoopTask *task,
                  gpointer  data)
{
  ManyClient *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) stream = await_stream (coop_stream_open_tcp (c->loop, "127.0.0.1", c->port), &error);

  g_assert_no_error (error);
  for (guint j = 0; j < N_ROUNDS; j++)
    {
      g_autofree char *line = g_strdup_printf ("client %u message %u\n", c->index, j);

      g_assert_true (write_str (stream, line, &error));
      expect_read (coop_stream_read_line (stream), line);
    }
  coop_stream_close (stream);
  g_assert_true (await_done (coop_stream_wait_closed (stream), &error));
  (*c->done)++;
}

static void
test_many_clients (CoopFixture *f, gconstpointer data)
{
  EchoState state = { 0, };
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopServer) server = NULL;
  ManyClient clients[N_CLIENTS];
  CoopFuture *tasks[N_CLIENTS];
  g_autoptr(CoopFuture) all = NULL;
  guint done = 0;

  server = coop_server_new_tcp (f->loop, "127.0.0.1", 0, 0, echo_handler, &state, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      clients[i] = (ManyClient) { f->loop, coop_server_get_port (server), i, &done };
      tasks[i] = COOP_FUTURE (coop_task_new (f->loop, many_client_body, &clients[i], NULL));
    }
  all = coop_gather (f->loop, tasks, N_CLIENTS, FALSE);
  run_future (f->loop, g_object_ref (all));
  g_assert_cmpuint (done, ==, N_CLIENTS);
  coop_server_close (server);
  run_future (f->loop, coop_server_wait_closed (server));
  g_assert_cmpuint (state.handled, ==, N_CLIENTS);
  g_assert_cmpuint (state.finished, ==, N_CLIENTS);
  for (guint i = 0; i < N_CLIENTS; i++)
    g_object_unref (tasks[i]);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);
}

/* --- misuse and odd cases ------------------------------------------------------------------ */

static void
bad_fds_body (CoopTask *task, gpointer data)
{
}

static void
test_misuse (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopServer) server = NULL;
  g_autoptr(CoopServer) clash = NULL;
  g_autofree char *path = NULL;
  EchoState state = { 0, };
  int fd;

  /* new_for_fd wants an open stream socket, and leaves the fd alone
   * otherwise. */
  g_assert_null (coop_stream_new_for_fd (f->loop, -1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  fd = g_file_open_tmp ("coop-stream-XXXXXX", &path, NULL);
  g_assert_null (coop_stream_new_for_fd (f->loop, fd, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpint (fcntl (fd, F_GETFD), >=, 0);   /* still open */
  close (fd);
  fd = socket (AF_INET, SOCK_DGRAM, 0);
  g_assert_null (coop_stream_new_for_fd (f->loop, fd, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  close (fd);

  /* A port in use. */
  server = coop_server_new_tcp (f->loop, "127.0.0.1", 0, 0, echo_handler, &state, echo_state_free, &error);
  g_assert_no_error (error);
  clash = coop_server_new_tcp (f->loop, "127.0.0.1", coop_server_get_port (server), 0,
                               echo_handler, &state, echo_state_free, &error);
  g_assert_null (clash);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_clear_error (&error);
  g_assert_cmpuint (state.freed, ==, 1);   /* the failed one's notify ran */

  /* A Unix path that is a regular file. */
  clash = coop_server_new_unix (f->loop, path, 0, echo_handler, NULL, NULL, &error);
  g_assert_null (clash);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_clear_error (&error);
  g_unlink (path);

  /* A handler that is not C code (here: heap memory) is refused up front. */
  {
    gpointer heap = g_malloc (64);

    clash = coop_server_new_tcp (f->loop, "127.0.0.1", 0, 0, (CoopStreamHandler) heap,
                                 &state, echo_state_free, &error);
    g_assert_null (clash);
    g_assert_error (error, COOP_ERROR, COOP_ERROR_NOT_SUPPORTED);
    g_clear_error (&error);
    g_assert_cmpuint (state.freed, ==, 2);
    g_free (heap);
  }

  /* Unresolvable host for a server. */
  clash = coop_server_new_tcp (f->loop, "no-such-host.invalid", 0, 0, echo_handler, NULL, NULL, &error);
  g_assert_null (clash);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND);
  g_clear_error (&error);

  coop_server_close (server);
  g_clear_object (&server);
  g_assert_cmpuint (state.freed, ==, 3);
  (void) bad_fds_body;
}

/* Closing the loop with a read and a drain waiting cancels them. */
static void
test_close_loop (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop;
  int peer;
  CoopStream *stream;
  CoopFuture *read, *drain;
  g_autoptr(GBytes) big = g_bytes_new_take (g_malloc0 (4 * 1024 * 1024), 4 * 1024 * 1024);

  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);
  stream = stream_pair (loop, &peer);
  read = coop_stream_read (stream, 10);
  g_assert_true (coop_stream_write (stream, big, NULL));
  drain = coop_stream_drain (stream);
  g_assert_false (coop_future_is_done (drain));
  coop_stream_close (stream);   /* flushing in the background */
  g_object_unref (stream);
  g_assert_true (coop_future_is_done (read));
  coop_future_get_error (read);
  coop_loop_close (loop);
  g_assert_true (coop_future_is_cancelled (drain));
  g_object_unref (read);
  g_object_unref (drain);
  g_object_unref (loop);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  close (peer);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/stream/echo-tcp", test_echo_tcp);
  coop_test_add ("/coop/stream/echo-unix", test_echo_unix);
  coop_test_add ("/coop/stream/read-exactly", test_read_exactly);
  coop_test_add ("/coop/stream/read-line", test_read_line);
  coop_test_add ("/coop/stream/read-line-limit", test_read_line_limit);
  coop_test_add ("/coop/stream/read-line-skip-overlong", test_read_line_skip_overlong);
  coop_test_add ("/coop/stream/failed-read-yields", test_failed_read_yields);
  coop_test_add ("/coop/stream/eof", test_eof);
  coop_test_add ("/coop/stream/drain-backpressure", test_drain_backpressure);
  coop_test_add ("/coop/stream/write-buffer-limits", test_write_buffer_limits);
  coop_test_add ("/coop/stream/peer-reset", test_peer_reset);
  coop_test_add ("/coop/stream/close-while-reading", test_close_while_reading);
  coop_test_add ("/coop/stream/concurrent-reads", test_concurrent_reads);
  coop_test_add ("/coop/stream/cancel-read", test_cancel_read);
  coop_test_add ("/coop/stream/server-close-with-clients", test_server_close_with_clients);
  coop_test_add ("/coop/stream/server-close-clients", test_server_close_clients);
  coop_test_add ("/coop/stream/server-unreferenced", test_server_unreferenced);
  coop_test_add ("/coop/stream/connection-refused", test_connection_refused);
  coop_test_add ("/coop/stream/resolve-localhost", test_resolve_localhost);
  coop_test_add ("/coop/stream/each-address", test_each_address);
  coop_test_add ("/coop/stream/unix-backlog-full", test_unix_backlog_full);
  coop_test_add ("/coop/stream/cancel-connect", test_cancel_connect);
  coop_test_add ("/coop/stream/many-clients", test_many_clients);
  coop_test_add ("/coop/stream/misuse", test_misuse);
  g_test_add_func ("/coop/stream/close-loop", test_close_loop);

  return g_test_run ();
}
