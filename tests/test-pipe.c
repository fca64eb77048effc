/* test-pipe.c: a subprocess's standard streams as CoopStreams, with real
 * child processes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <string.h>

#ifdef HAVE_VALGRIND_H
# include <valgrind/valgrind.h>
#else
# define RUNNING_ON_VALGRIND 0
#endif

#define TEST_TIMEOUT (120 * G_USEC_PER_SEC)

#define run_task(loop, func, data) coop_test_run_task ((loop), (func), (data), TEST_TIMEOUT)

static CoopSubprocess *
spawn (CoopLoop         *loop,
       GSubprocessFlags  flags,
       const char       *first,
       ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  CoopSubprocess *process;
  va_list ap;

  va_start (ap, first);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (argv, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  process = coop_subprocess_new_with_streams (loop, (const char * const *) argv->pdata, flags, &error);
  g_assert_no_error (error);
  return process;
}

static gint64
await_exit (CoopSubprocess *process)
{
  g_autoptr(CoopFuture) wait = coop_subprocess_wait (process);
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_await (wait, &error));
  g_assert_no_error (error);
  return coop_future_get_int64 (wait, NULL);
}

/* --- 10 MB of lines -------------------------------------------------------------- */

/* "1\n" .. "1500000\n": 10.3 MB.  Under valgrind, which runs seq too
 * (--trace-children), a tenth: the path is the same. */
#define N_LINES (RUNNING_ON_VALGRIND ? 150000u : 1500000u)

static void
many_lines_body (CoopTask *task,
                 gpointer  data)
{
  CoopLoop *loop = data;
  g_autofree char *last = g_strdup_printf ("%u", N_LINES);
  g_autoptr(CoopSubprocess) child = spawn (loop, G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                                           "seq", "1", last, NULL);
  CoopStream *out = coop_subprocess_get_stdout_stream (child);
  gsize total = 0;
  char expected[16];

  g_assert_nonnull (out);
  g_assert_null (coop_subprocess_get_stdin_stream (child));
  g_assert_null (coop_subprocess_get_stderr_stream (child));
  g_assert_null (coop_subprocess_get_stdout_pipe (child));   /* no GIO pipe */

  for (guint i = 1; ; i++)
    {
      g_autoptr(CoopFuture) line = coop_stream_read_line (out);
      g_autoptr(GError) error = NULL;
      GBytes *bytes;
      gsize len;

      g_assert_true (coop_await (line, &error));
      g_assert_no_error (error);
      bytes = coop_future_get_bytes (line, NULL);
      len = g_bytes_get_size (bytes);
      if (len == 0)
        {
          g_assert_cmpuint (i, ==, N_LINES + 1);
          break;
        }
      g_snprintf (expected, sizeof expected, "%u\n", i);
      if (len != strlen (expected) || memcmp (g_bytes_get_data (bytes, NULL), expected, len) != 0)
        g_error ("line %u differs", i);
      total += len;
    }
  g_assert_cmpuint (total, >=, RUNNING_ON_VALGRIND ? 900 * 1000 : 10 * 1000 * 1000);
  g_assert_true (coop_stream_at_eof (out));
  g_assert_cmpint (await_exit (child), ==, 0);
}

static void
test_many_lines (CoopFixture *f, gconstpointer data)
{
  run_task (f->loop, many_lines_body, f->loop);
}

/* --- a child that exits early ------------------------------------------------------- */

static void
early_exit_body (CoopTask *task,
                 gpointer  data)
{
  CoopLoop *loop = data;
  g_autoptr(CoopSubprocess) child = spawn (loop,
                                           G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                           G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                           G_SUBPROCESS_FLAGS_STDERR_PIPE,
                                           "sh", "-c", "echo out; echo err >&2; exit 3", NULL);
  CoopStream *in = coop_subprocess_get_stdin_stream (child);
  CoopStream *out = coop_subprocess_get_stdout_stream (child);
  CoopStream *err = coop_subprocess_get_stderr_stream (child);
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopFuture) l1 = coop_stream_read_line (out);
  g_autoptr(CoopFuture) l2 = NULL;
  g_autoptr(CoopFuture) e1 = coop_stream_read_line (err);
  g_autoptr(CoopFuture) drain = NULL;
  gboolean failed = FALSE;

  g_assert_true (coop_await (l1, &error));
  g_assert_cmpmem (g_bytes_get_data (coop_future_get_bytes (l1, NULL), NULL),
                   g_bytes_get_size (coop_future_get_bytes (l1, NULL)), "out\n", 4);
  g_assert_true (coop_await (e1, &error));
  g_assert_cmpuint (g_bytes_get_size (coop_future_get_bytes (e1, NULL)), ==, 4);
  l2 = coop_stream_read_line (out);   /* the end: empty */
  g_assert_true (coop_await (l2, &error));
  g_assert_cmpuint (g_bytes_get_size (coop_future_get_bytes (l2, NULL)), ==, 0);
  g_assert_cmpint (await_exit (child), ==, 3);

  /* Its input is gone: writing fails, with an error, not a SIGPIPE. */
  for (guint i = 0; i < 4 && !failed; i++)
    {
      g_autoptr(GBytes) bytes = g_bytes_new_static ("hello\n", 6);

      failed = !coop_stream_write (in, bytes, &error);
    }
  if (!failed)
    {
      drain = coop_stream_drain (in);
      failed = !coop_await (drain, &error);
    }
  g_assert_true (failed);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
}

static void
test_early_exit (CoopFixture *f, gconstpointer data)
{
  run_task (f->loop, early_exit_body, f->loop);
}

/* --- stdin back-pressure ------------------------------------------------------------ */

/* More than every buffer on the way (two socket buffers, cat's own). */
#define PRESSURE_BYTES ((RUNNING_ON_VALGRIND ? 2 : 8) * 1024 * 1024)
#define PRESSURE_CHUNK (64 * 1024)

typedef struct
{
  CoopLoop   *loop;
  CoopStream *out;
  gsize       received;
  guint8      mismatch;
} Drainer;

static guint8
pattern_byte (gsize i)
{
  return (guint8) ((i * 13 + i / 4093) & 0xff);
}

static void
reader_body (CoopTask *task,
             gpointer  data)
{
  Drainer *d = data;

  for (;;)
    {
      g_autoptr(CoopFuture) read = coop_stream_read (d->out, 65536);
      g_autoptr(GError) error = NULL;
      GBytes *bytes;
      const guint8 *p;
      gsize len;

      g_assert_true (coop_await (read, &error));
      g_assert_no_error (error);
      bytes = coop_future_get_bytes (read, NULL);
      p = g_bytes_get_data (bytes, &len);
      if (len == 0)
        return;
      for (gsize i = 0; i < len; i++)
        if (p[i] != pattern_byte (d->received + i))
          d->mismatch = 1;
      d->received += len;
    }
}

/* cat copies stdin to stdout.  While nobody reads its stdout, cat blocks,
 * its stdin fills, and the writer must be held back by drain() (the write
 * buffer never grows past what one write adds to the high-water mark);
 * once a reader runs, everything flows and arrives intact. */
static void
pressure_body (CoopTask *task,
               gpointer  data)
{
  CoopLoop *loop = data;
  g_autoptr(CoopSubprocess) child = spawn (loop,
                                           G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                           G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                                           "cat", NULL);
  CoopStream *in = coop_subprocess_get_stdin_stream (child);
  Drainer d = { loop, coop_subprocess_get_stdout_stream (child), 0, 0 };
  g_autoptr(CoopTask) reader = NULL;
  g_autofree guint8 *chunk = g_malloc (PRESSURE_CHUNK);
  g_autoptr(GError) error = NULL;
  gsize high, low, max_buffered = 0;
  gboolean held_back = FALSE;

  coop_stream_get_write_buffer_limits (in, &high, &low);
  for (gsize off = 0; off < PRESSURE_BYTES; off += PRESSURE_CHUNK)
    {
      g_autoptr(CoopFuture) drain = NULL;

      for (gsize i = 0; i < PRESSURE_CHUNK; i++)
        chunk[i] = pattern_byte (off + i);
      g_assert_true (coop_stream_write_data (in, chunk, PRESSURE_CHUNK, &error));
      g_assert_no_error (error);
      max_buffered = MAX (max_buffered, coop_stream_get_write_buffer_size (in));
      drain = coop_stream_drain (in);
      if (!coop_future_is_done (drain))
        {
          held_back = TRUE;
          /* Nobody reads cat's output yet: start the reader once the
           * writer is held back, and only then can the drain finish. */
          if (reader == NULL)
            reader = coop_task_new (loop, reader_body, &d, NULL);
        }
      g_assert_true (coop_await (drain, &error));
      g_assert_no_error (error);
    }
  g_assert_true (held_back);
  g_assert_cmpuint (max_buffered, <=, high + PRESSURE_CHUNK);
  g_assert_true (coop_stream_write_eof (in, &error));
  g_assert_no_error (error);
  if (reader == NULL)
    reader = coop_task_new (loop, reader_body, &d, NULL);
  g_assert_true (coop_await (COOP_FUTURE (reader), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (d.received, ==, PRESSURE_BYTES);
  g_assert_cmpuint (d.mismatch, ==, 0);
  g_assert_cmpint (await_exit (child), ==, 0);
}

static void
test_stdin_pressure (CoopFixture *f, gconstpointer data)
{
  run_task (f->loop, pressure_body, f->loop);
}

static void
test_spawn_fails (CoopFixture *f, gconstpointer data)
{
  const char *argv[] = { "/nonexistent/coop-no-such-program", NULL };
  g_autoptr(GError) error = NULL;
  CoopSubprocess *child;
  guint before = coop_loop_get_n_watched_fds (f->loop);

  child = coop_subprocess_new_with_streams (f->loop, argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_null (child);
  g_assert_nonnull (error);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, before);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/pipe/many-lines", test_many_lines);
  coop_test_add ("/coop/pipe/early-exit", test_early_exit);
  coop_test_add ("/coop/pipe/stdin-pressure", test_stdin_pressure);
  coop_test_add ("/coop/pipe/spawn-fails", test_spawn_fails);

  return g_test_run ();
}
