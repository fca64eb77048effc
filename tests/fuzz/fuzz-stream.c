/* fuzz-stream.c: libFuzzer target for the stream layer's readers.
 *
 * The input is split in two: a payload (what the peer sends) and a
 * script.  The peer end of a socketpair writes the payload in chunks
 * whose sizes the script picks, between main-loop iterations; a reader
 * task on the stream end takes it apart with read(n), read_exactly(n) and
 * read_line() (limit 1..64, so over-long lines happen), some of them
 * cancelled at random, after which a new reader task carries on.  Once
 * the peer has closed and the reader has seen the end, what the readers
 * got, in order, and what over-long lines dropped must be exactly the
 * payload: cancelling a read loses nothing, a short read_exactly leaves its
 * bytes in the buffer, an over-long line drops exactly what asyncio's
 * readline() drops (the line up to its '\n' if that is buffered, else all
 * that is buffered, more than the limit and no '\n'), nothing is
 * duplicated.  What was dropped is counted from what the stream received
 * (sent, less what the socket still holds) and what it still buffers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <coop.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct
{
  const guint8 *script;
  gsize         script_len;
  gsize         pos;
  const guint8 *payload;
  gsize         payload_len;
  gsize         written;   /* sent by the peer */
  gsize         consumed;  /* of the payload: read or dropped */
  gsize         limit;
  int           fd;        /* the stream's end */
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

/* Bytes the stream took from its socket so far. */
static gsize
received (Fuzz *fz)
{
  int queued = 0;

  g_assert_cmpint (ioctl (fz->fd, FIONREAD, &queued), ==, 0);
  return fz->written - (gsize) queued;
}

/* What a failed read_line() dropped, if anything: a line and its '\n',
 * or no '\n' at all, over the limit either way.  Counted as consumed. */
static gsize
account_drop (Fuzz *fz)
{
  gsize dropped = received (fz) - coop_stream_get_read_buffer_size (fz->stream) - fz->consumed;
  const guint8 *p = fz->payload + fz->consumed;
  const guint8 *nl;

  if (dropped == 0)
    return 0;
  g_assert_cmpuint (dropped, <=, fz->payload_len - fz->consumed);
  nl = memchr (p, '\n', dropped);
  if (nl != NULL)
    {
      g_assert_true (nl == p + dropped - 1);
      g_assert_cmpuint (dropped - 1, >, fz->limit);
    }
  else
    g_assert_cmpuint (dropped, >, fz->limit);
  fz->consumed += dropped;
  return dropped;
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
              /* The read may have failed over the limit first. */
              account_drop (fz);
              coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
              return;
            }
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE))
            {
              g_assert_cmpuint (op % 3, ==, 2);
              g_assert_cmpuint (account_drop (fz), >, 0);
              continue;
            }
          /* It leaves the data in the buffer. */
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT))
            {
              g_assert_cmpuint (received (fz) - coop_stream_get_read_buffer_size (fz->stream), ==,
                                fz->consumed);
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
        {
          /* The next bytes of the payload, in order. */
          g_assert_cmpuint (size, <=, fz->payload_len - fz->consumed);
          g_assert_cmpmem (g_bytes_get_data (bytes, NULL), size, fz->payload + fz->consumed, size);
          fz->consumed += size;
        }
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
  gsize split;
  int fds[2];
  guint spins = 0;

  if (size < 2)
    return 0;
  split = 1 + data[0] % (size - 1);      /* payload: data[1..split) */
  fz.payload = data + 1;
  fz.payload_len = split - 1;
  fz.script = data + split;
  fz.script_len = size - split;

  context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  fz.stream = coop_stream_new_for_fd (loop, fds[0], NULL);
  g_assert_nonnull (fz.stream);
  fz.fd = fds[0];
  fz.limit = 1 + next_byte (&fz) % 64;
  coop_stream_set_limit (fz.stream, fz.limit);
  reader = coop_task_new (loop, reader_body, &fz, NULL);
  fz.readers = 1;

  while (!fz.eof)
    {
      guint8 op = next_byte (&fz);

      g_assert_cmpuint (++spins, <, 100000);
      if (fz.written < fz.payload_len && op % 4 != 3)
        {
          gsize chunk = MIN (fz.payload_len - fz.written, 1 + (gsize) (op % 32));
          ssize_t n = send (fds[1], fz.payload + fz.written, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);

          if (n > 0)
            fz.written += n;
          else
            g_assert_true (errno == EAGAIN);
          if (fz.written == fz.payload_len)
            shutdown (fds[1], SHUT_WR);
        }
      else if (fz.written == fz.payload_len && fz.payload_len == 0 && spins == 1)
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
      g_main_context_iteration (context, fz.written == fz.payload_len && fz.pos >= fz.script_len);
    }

  /* Everything, in order, exactly once. */
  g_assert_cmpuint (fz.consumed, ==, fz.payload_len);

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
  return 0;
}
