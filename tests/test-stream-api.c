/* test-stream-api.c: read_until(), writing from memory, the typed bytes
 * getter and open_finish(), over real sockets.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TEST_TIMEOUT (20 * G_USEC_PER_SEC)

typedef struct
{
  CoopLoop   *loop;
  CoopStream *stream;
  int         peer;
} Pair;

#define run_task(loop, func, data) coop_test_run_task ((loop), (func), (data), TEST_TIMEOUT)

static void
pair_init (Pair     *p,
           CoopLoop *loop)
{
  int fds[2];
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  p->loop = loop;
  p->stream = coop_stream_new_for_fd (loop, fds[0], &error);
  g_assert_no_error (error);
  g_assert_cmpint (fcntl (fds[1], F_SETFL, O_NONBLOCK), ==, 0);
  p->peer = fds[1];
}

static void
pair_clear (Pair *p)
{
  g_clear_object (&p->stream);
  if (p->peer >= 0)
    close (p->peer);
}

/* Writes all of @data to the raw peer, from a task. */
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
          g_autoptr(CoopFuture) writable = coop_loop_wait_writable (loop, fd);

          g_assert_true (errno == EAGAIN || errno == EWOULDBLOCK);
          g_assert_true (coop_await (writable, NULL));
          continue;
        }
      data = (const char *) data + n;
      len -= n;
    }
}

static void
raw_write_str (Pair       *p,
               const char *str)
{
  raw_write_all (p->loop, p->peer, str, strlen (str));
}

/* Awaits @future (consumed) and checks it gave @expected. */
static void
expect_read (CoopFuture *future,
             const char *expected)
{
  g_autoptr(CoopFuture) owned = future;
  g_autoptr(GError) error = NULL;
  GBytes *bytes;

  g_assert_true (coop_await (owned, &error));
  g_assert_no_error (error);
  bytes = coop_future_get_bytes (owned, &error);   /* typed: no cast */
  g_assert_no_error (error);
  g_assert_nonnull (bytes);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                   expected, strlen (expected));
}

static void
expect_error (CoopFuture *future,
              GQuark      domain,
              int         code)
{
  g_autoptr(CoopFuture) owned = future;
  g_autoptr(GError) error = NULL;

  g_assert_false (coop_await (owned, &error));
  g_assert_error (error, domain, code);
  g_assert_null (coop_future_get_bytes (owned, NULL));
}

static CoopFuture *
read_until_str (CoopStream *stream,
                const char *sep)
{
  return coop_stream_read_until (stream, (const guint8 *) sep, strlen (sep));
}

/* --- read_until ------------------------------------------------------------------ */

/* Separators of lengths 1 to 8, each record sent one byte at a time with
 * the read waiting, so every separator arrives split across receives;
 * and a near-miss prefix ("\r\r\n" before "\r\n") that a naive resumed
 * search would step over. */
static void
read_until_body (CoopTask *task,
                 gpointer  data)
{
  Pair *p = data;
  static const char *seps[] = { ";", "\r\n", "--|", "<END>", "@@@@@@@@" };

  for (guint s = 0; s < G_N_ELEMENTS (seps); s++)
    {
      g_autofree char *record = g_strdup_printf ("record %u%s", s, seps[s]);
      g_autoptr(CoopFuture) read = read_until_str (p->stream, seps[s]);

      for (const char *c = record; *c != '\0'; c++)
        {
          g_assert_false (coop_future_is_done (read));
          raw_write_all (p->loop, p->peer, c, 1);
          /* Let the stream receive this byte alone (one loop turn at
           * least), so the next one comes in another receive. */
          g_assert_true (coop_yield (NULL));
          while (!coop_future_is_done (read) &&
                 coop_stream_get_read_buffer_size (p->stream) < (gsize) (c - record + 1))
            {
              g_autoptr(CoopFuture) nap = coop_sleep (p->loop, 1000);
              g_assert_true (coop_await (nap, NULL));
            }
        }
      expect_read (g_steal_pointer (&read), record);
    }

  /* Several records in one receive, and a separator whose first byte
   * repeats before it. */
  raw_write_str (p, "a\r\r\nb\r\nc\r\n\r\n");
  expect_read (read_until_str (p->stream, "\r\n"), "a\r\r\n");
  expect_read (read_until_str (p->stream, "\r\n"), "b\r\n");
  expect_read (read_until_str (p->stream, "\r\n"), "c\r\n");
  expect_read (read_until_str (p->stream, "\r\n"), "\r\n");
  g_assert_cmpuint (coop_stream_get_read_buffer_size (p->stream), ==, 0);

  /* A separator that overlaps itself: "aab" in "aaab". */
  raw_write_str (p, "xaaaab");
  expect_read (read_until_str (p->stream, "aab"), "xaaaab");
}

static void
test_read_until (CoopFixture *f, gconstpointer data)
{
  Pair p;

  pair_init (&p, f->loop);
  run_task (f->loop, read_until_body, &p);
  pair_clear (&p);
}

static void
read_until_limit_body (CoopTask *task,
                       gpointer  data)
{
  Pair *p = data;

  coop_stream_set_limit (p->stream, 8);

  /* The separator may start exactly limit bytes in. */
  raw_write_str (p, "12345678--");
  expect_read (read_until_str (p->stream, "--"), "12345678--");

  /* One byte more: the read fails, and the record goes up to and
   * including its separator, so a retry reads the next record. */
  raw_write_str (p, "123456789--ok--");
  expect_error (read_until_str (p->stream, "--"), G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  g_assert_cmpuint (coop_stream_get_read_buffer_size (p->stream), ==, 4);
  expect_read (read_until_str (p->stream, "--"), "ok--");

  /* No separator, more than limit bytes that cannot start one: they go,
   * except the last byte, which may be the start of "--". */
  raw_write_str (p, "abcdefghij-");
  expect_error (read_until_str (p->stream, "--"), G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  g_assert_cmpuint (coop_stream_get_read_buffer_size (p->stream), ==, 1);
  raw_write_str (p, "-next--");
  expect_read (read_until_str (p->stream, "--"), "--");
  expect_read (read_until_str (p->stream, "--"), "next--");

  /* The end of the stream before a separator: PARTIAL_INPUT, and the
   * bytes stay for read(). */
  raw_write_str (p, "tail");
  shutdown (p->peer, SHUT_WR);
  expect_error (read_until_str (p->stream, "--"), G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT);
  g_assert_cmpuint (coop_stream_get_read_buffer_size (p->stream), ==, 4);
  expect_read (coop_stream_read (p->stream, 100), "tail");
}

static void
test_read_until_limit (CoopFixture *f, gconstpointer data)
{
  Pair p;

  pair_init (&p, f->loop);
  run_task (f->loop, read_until_limit_body, &p);
  pair_clear (&p);
}

/* read_until() and read_line() keep how far they searched; one must not
 * trust what the other searched for. */
static void
until_then_line_body (CoopTask *task,
                      gpointer  data)
{
  Pair *p = data;
  CoopFuture *until;

  raw_write_str (p, "a\nbcd");
  until = read_until_str (p->stream, "--");
  while (coop_stream_get_read_buffer_size (p->stream) < 5)
    g_assert_true (coop_yield (NULL));
  g_assert_false (coop_future_is_done (until));
  coop_future_cancel (until, NULL);
  g_object_unref (until);
  expect_read (coop_stream_read_line (p->stream), "a\n");

  raw_write_str (p, "e--f\n");
  expect_read (read_until_str (p->stream, "--"), "bcde--");
  expect_read (coop_stream_read_line (p->stream), "f\n");
}

static void
test_until_then_line (CoopFixture *f, gconstpointer data)
{
  Pair p;

  pair_init (&p, f->loop);
  run_task (f->loop, until_then_line_body, &p);
  pair_clear (&p);
}

static void
test_read_until_misuse (CoopFixture *f, gconstpointer data)
{
  Pair p;

  pair_init (&p, f->loop);
  if (g_test_subprocess ())
    {
      coop_stream_read_until (p.stream, (const guint8 *) "", 0);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*separator_len > 0*");
  pair_clear (&p);
}

/* --- writing from memory --------------------------------------------------------- */

#define BIG (4 * 1024 * 1024)

static guint8
pattern_byte (gsize i)
{
  return (guint8) ((i * 7 + i / 251) & 0xff);
}

static void
reader_body (CoopTask *task,
             gpointer  data)
{
  Pair *p = data;
  g_autofree guint8 *buf = g_malloc (65536);
  gsize got = 0;

  while (got < BIG)
    {
      gssize n = recv (p->peer, buf, 65536, 0);

      if (n < 0)
        {
          g_autoptr(CoopFuture) readable = coop_loop_wait_readable (p->loop, p->peer);

          g_assert_true (errno == EAGAIN || errno == EWOULDBLOCK);
          g_assert_true (coop_await (readable, NULL));
          continue;
        }
      g_assert_cmpint (n, >, 0);
      for (gssize i = 0; i < n; i++)
        if (buf[i] != pattern_byte (got + i))
          g_error ("byte %" G_GSIZE_FORMAT " differs", got + i);
      got += n;
    }
}

/* 4 MiB written from one reused 64 KiB block: most of it is buffered (the
 * peer is not reading yet), so the copies must be made, and the block
 * overwritten after each call must not show through. */
static void
write_data_body (CoopTask *task,
                 gpointer  data)
{
  Pair *p = data;
  g_autofree guint8 *block = g_malloc (65536);
  g_autoptr(CoopTask) reader = NULL;
  g_autoptr(GError) error = NULL;

  for (gsize off = 0; off < BIG; off += 65536)
    {
      for (gsize i = 0; i < 65536; i++)
        block[i] = pattern_byte (off + i);
      g_assert_true (coop_stream_write_data (p->stream, block, 65536, &error));
      g_assert_no_error (error);
      memset (block, 0xee, 65536);
    }
  g_assert_cmpuint (coop_stream_get_write_buffer_size (p->stream), >, 0);
  g_assert_true (coop_stream_write_data (p->stream, NULL, 0, &error));   /* nothing */
  g_assert_no_error (error);

  reader = coop_task_new (p->loop, reader_body, p, NULL);
  {
    g_autoptr(CoopFuture) drain = coop_stream_drain (p->stream);
    g_assert_true (coop_await (drain, &error));
    g_assert_no_error (error);
  }
  g_assert_true (coop_await (COOP_FUTURE (reader), &error));
  g_assert_no_error (error);

  /* After close, writing from memory fails as write() does. */
  coop_stream_close (p->stream);
  g_assert_false (coop_stream_write_data (p->stream, (const guint8 *) "x", 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

static void
test_write_data (CoopFixture *f, gconstpointer data)
{
  Pair p;

  pair_init (&p, f->loop);
  run_task (f->loop, write_data_body, &p);
  pair_clear (&p);
}

/* --- typed results and stream ownership ------------------------------------------ */

static void
test_get_bytes (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) bytes_future = coop_future_new (f->loop);
  g_autoptr(CoopFuture) int_future = coop_future_new (f->loop);
  g_autoptr(CoopFuture) pending = coop_future_new (f->loop);
  g_autoptr(GBytes) bytes = g_bytes_new_static ("abc", 3);
  g_autoptr(GError) error = NULL;

  coop_future_set_boxed (bytes_future, G_TYPE_BYTES, bytes);
  g_assert_true (coop_future_get_bytes (bytes_future, &error) == bytes);
  g_assert_no_error (error);

  coop_future_set_int64 (int_future, 3);
  g_assert_null (coop_future_get_bytes (int_future, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT);
  g_clear_error (&error);

  g_assert_null (coop_future_get_bytes (pending, &error));
  g_assert_nonnull (error);
}

static void
noop_handler (CoopTask   *task,
              CoopStream *stream,
              gpointer    user_data)
{
  g_autoptr(CoopFuture) line = coop_stream_read_line (stream);

  if (coop_await (line, NULL))
    {
      GBytes *bytes = coop_future_get_bytes (line, NULL);

      coop_stream_write (stream, bytes, NULL);
      g_autoptr(CoopFuture) drain = coop_stream_drain (stream);
      coop_await (drain, NULL);
    }
}

typedef struct
{
  CoopLoop *loop;
  guint16   port;
} OpenState;

/* The stream taken with open_finish() outlives its future. */
static void
open_finish_body (CoopTask *task,
                  gpointer  data)
{
  OpenState *s = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopStream) stream = NULL;
  CoopFuture *open = coop_stream_open_tcp (s->loop, "127.0.0.1", s->port);
  GWeakRef weak;

  g_assert_null (coop_stream_open_finish (open, &error));   /* not done yet */
  g_assert_nonnull (error);
  g_clear_error (&error);

  g_assert_true (coop_await (open, &error));
  g_assert_no_error (error);
  stream = coop_stream_open_finish (open, &error);
  g_assert_no_error (error);
  g_assert_true (COOP_IS_STREAM (stream));
  g_weak_ref_init (&weak, open);
  g_object_unref (open);

  g_assert_true (coop_stream_write_data (stream, (const guint8 *) "hi\n", 3, &error));
  g_assert_no_error (error);
  {
    g_autoptr(CoopFuture) line = coop_stream_read_line (stream);
    g_assert_true (coop_await (line, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (g_bytes_get_size (coop_future_get_bytes (line, NULL)), ==, 3);
  }
  g_weak_ref_clear (&weak);
  coop_stream_close (stream);

  /* A failed open: NULL and the error. */
  {
    g_autoptr(CoopFuture) bad = coop_future_new (s->loop);
    g_autoptr(CoopFuture) other = coop_future_new (s->loop);

    coop_future_take_error (bad, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, "no"));
    g_assert_null (coop_stream_open_finish (bad, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
    g_clear_error (&error);

    coop_future_set_object (other, G_OBJECT (s->loop));
    g_assert_null (coop_stream_open_finish (other, &error));
    g_assert_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT);
  }
}

static void
test_open_finish (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopServer) server = coop_server_new_tcp (f->loop, "127.0.0.1", 0, 0, noop_handler,
                                                      NULL, NULL, &error);
  OpenState s = { f->loop, 0 };

  g_assert_no_error (error);
  s.port = coop_server_get_port (server);
  run_task (f->loop, open_finish_body, &s);
  coop_server_close (server);
  {
    g_autoptr(CoopFuture) closed = coop_server_wait_closed (server);
    coop_loop_run_until_complete (f->loop, closed, &error);
    g_assert_no_error (error);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/stream-api/read-until", test_read_until);
  coop_test_add ("/coop/stream-api/read-until-limit", test_read_until_limit);
  coop_test_add ("/coop/stream-api/until-then-line", test_until_then_line);
  coop_test_add ("/coop/stream-api/read-until-misuse", test_read_until_misuse);
  coop_test_add ("/coop/stream-api/write-data", test_write_data);
  coop_test_add ("/coop/stream-api/get-bytes", test_get_bytes);
  coop_test_add ("/coop/stream-api/open-finish", test_open_finish);

  return g_test_run ();
}
