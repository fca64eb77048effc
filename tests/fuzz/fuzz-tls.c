/* fuzz-tls.c: libFuzzer target for a TLS client handshake against garbage.
 *
 * A stream on one end of a socketpair starts TLS as a client
 * (coop_stream_start_tls(), GIO's TLS); the other end plays the server
 * with the input: it sends it in pieces (the first byte picks their size,
 * 1 to 64 bytes) between main-loop iterations, throws away whatever the
 * client sends (its ClientHello), then closes.  Whatever the bytes, the
 * handshake must fail cleanly, with a G_TLS_ERROR or G_IO_ERROR (a
 * certificate no authority signed cannot be forged by a fuzzer): no crash,
 * no hang (libFuzzer's -timeout), no leak, and the stream is closed after.
 *
 * Each input pays for one GTlsConnection (glib-networking loads the
 * system's trust store for each), so this target runs a few inputs a
 * second: scripts/check-fuzz.sh gives it a shorter time than the others.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <coop.h>

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  GMainContext *context;
  CoopLoop *loop;
  CoopStream *stream;
  CoopFuture *start;
  const GError *error;
  gsize piece, sent = 0;
  gboolean shut = FALSE;
  int fds[2];

  if (size < 1)
    return 0;
  piece = 1 + data[0] % 64;
  data++;
  size--;

  context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  stream = coop_stream_new_for_fd (loop, fds[0], NULL);
  g_assert_nonnull (stream);
  start = coop_stream_start_tls (stream, "localhost", NULL, NULL);

  while (!coop_future_is_done (start))
    {
      guint8 sink[4096];

      if (sent < size)
        {
          ssize_t n = send (fds[1], data + sent, MIN (piece, size - sent),
                            MSG_NOSIGNAL | MSG_DONTWAIT);

          if (n > 0)
            sent += n;
          else
            g_assert_true (errno == EAGAIN || errno == EPIPE || errno == ECONNRESET);
        }
      if (sent == size && !shut)
        {
          shutdown (fds[1], SHUT_WR);
          shut = TRUE;
        }
      while (recv (fds[1], sink, sizeof sink, MSG_DONTWAIT) > 0)
        ;
      /* Blocks only once everything is sent: the handshake's thread then
       * reports to this context when it gives up. */
      g_main_context_iteration (context, shut);
    }

  error = coop_future_get_error (start);
  g_assert_nonnull (error);
  g_assert_true (error->domain == G_TLS_ERROR || error->domain == G_IO_ERROR);
  g_assert_true (coop_stream_is_closing (stream));

  g_object_unref (start);
  g_object_unref (stream);
  close (fds[1]);
  coop_loop_close (loop);
  g_object_unref (loop);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  return 0;
}
