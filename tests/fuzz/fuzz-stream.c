/* fuzz-stream.c: libFuzzer target for the stream layer's readers.
 *
 * The input is split in two: a payload (what the peer sends) and a
 * script.  The peer end of a socketpair writes the payload in chunks
 * whose sizes the script picks, between main-loop iterations; a reader
 * task on the stream end takes it apart with read(n), read_exactly(n) and
 * read_line() (limit 1..64, so over-long lines happen), some of them
 * cancelled at random, after which a new reader task carries on.  Once
 * the peer has closed and the reader has seen the end, what the readers
 * got, in order, must be exactly the payload: cancelling a read loses
 * nothing, an over-long line and a short read_exactly leave their bytes
 * in the buffer, nothing is duplicated.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <coop.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct
{
  const guint8 *script;
  gsize         script_len;
  gsize         pos;
  GByteArray   *got;
  CoopStream   *stream;
  gboolean      eof;
  guint         readers;
} Fuzz;

static guint8
next_byte (Fuzz *fz)
{
  if (fz->pos >= fz->script_len)
    return 0;
  return fz->script[fz->pos++];
}

static void
reader_body (CoopTask *task, gpointer data)
{
  Fuzz *fz = data;

  while (!fz->eof)
    {
      guint8 op = next_byte (fz);
      gsize n = 1 + (next_byte (fz) % 48);
      g_autoptr(CoopFuture) read = NULL;
      g_autoptr(GError) error = NULL;
      GBytes *bytes;
      gsize size;

      switch (op % 3)
        {
        case 0: read = coop_stream_read (fz->stream, n); break;
        case 1: read = coop_stream_read_exactly (fz->stream, n); break;
        default: read = coop_stream_read_line (fz->stream); break;
        }
      if (!coop_await (read, &error))
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            {
              coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
              return;
            }
          /* Both leave the data in the buffer. */
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE) ||
              g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT))
            {
              g_assert_true (coop_future_is_done (read));
              continue;
            }
          g_error ("unexpected read error: %s", error->message);
        }
      bytes = (GBytes *) coop_future_get_boxed (read, NULL);
      size = g_bytes_get_size (bytes);
      if (op % 3 == 1)
        g_assert_cmpuint (size, ==, n);
      else if (op % 3 == 0)
        g_assert_cmpuint (size, <=, n);
      else if (size > 0)
        {
          const guint8 *p = g_bytes_get_data (bytes, NULL);
          const guint8 *nl = memchr (p, '\n', size);

          /* A line: no '\n' but its last byte (none at all only at EOF). */
          g_assert_true (nl == NULL || nl == p + size - 1);
        }
      if (size == 0)
        fz->eof = TRUE;
      else
        g_byte_array_append (fz->got, g_bytes_get_data (bytes, NULL), size);
    }
  coop_future_set_none (COOP_FUTURE (task));
}

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  GMainContext *context;
  CoopLoop *loop;
  Fuzz fz = { 0 };
  CoopTask *reader;
  gsize split, written = 0;
  const guint8 *payload;
  gsize payload_len;
  int fds[2];
  guint spins = 0;

  if (size < 2)
    return 0;
  split = 1 + data[0] % (size - 1);      /* payload: data[1..split) */
  payload = data + 1;
  payload_len = split - 1;
  fz.script = data + split;
  fz.script_len = size - split;
  fz.got = g_byte_array_new ();

  context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  fz.stream = coop_stream_new_for_fd (loop, fds[0], NULL);
  g_assert_nonnull (fz.stream);
  coop_stream_set_limit (fz.stream, 1 + next_byte (&fz) % 64);
  reader = coop_task_new (loop, reader_body, &fz, NULL);
  fz.readers = 1;

  while (!fz.eof)
    {
      guint8 op = next_byte (&fz);

      g_assert_cmpuint (++spins, <, 100000);
      if (written < payload_len && op % 4 != 3)
        {
          gsize chunk = MIN (payload_len - written, 1 + (gsize) (op % 32));
          ssize_t n = send (fds[1], payload + written, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);

          if (n > 0)
            written += n;
          else
            g_assert_true (errno == EAGAIN);
          if (written == payload_len)
            shutdown (fds[1], SHUT_WR);
        }
      else if (written == payload_len && payload_len == 0 && spins == 1)
        shutdown (fds[1], SHUT_WR);

      /* Now and then, cancel the reader while it waits and start another. */
      if (op >= 0xf0 && !coop_future_is_done (COOP_FUTURE (reader)))
        {
          coop_task_cancel (reader, NULL);
          while (!coop_future_is_done (COOP_FUTURE (reader)))
            g_main_context_iteration (context, FALSE);
        }
      if (coop_future_is_done (COOP_FUTURE (reader)) && !fz.eof)
        {
          g_assert_true (coop_future_is_cancelled (COOP_FUTURE (reader)));
          g_object_unref (reader);
          reader = coop_task_new (loop, reader_body, &fz, NULL);
          fz.readers++;
        }
      g_main_context_iteration (context, written == payload_len && fz.pos >= fz.script_len);
    }

  /* Everything, in order, exactly once. */
  g_assert_cmpmem (fz.got->data, fz.got->len, payload, payload_len);

  g_object_unref (reader);
  coop_stream_close (fz.stream);
  g_object_unref (fz.stream);
  close (fds[1]);
  coop_loop_close (loop);
  g_object_unref (loop);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  g_byte_array_unref (fz.got);
  return 0;
}
