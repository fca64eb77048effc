/* coop-stream-private.h: the transport seam of CoopStream.
 *
 * A plain stream reads and writes its socket with recv(2)/send(2).  A
 * stream with a transport (TLS, coop-tls.c) goes through the transport's
 * functions instead and keeps everything else: the read buffer,
 * read_line/read_exactly, the write queue, drain and back-pressure,
 * closing.  Readiness is still the fd's, waited for on the loop's I/O
 * source.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sys/socket.h>

#include "coop.h"
#include "coop-private.h"

G_BEGIN_DECLS

typedef struct
{
  /* Reads up to @len bytes.  Returns the count (> 0), 0 at the end of the
   * stream, or -1: with *error set on failure, without it when it would
   * block (the stream then waits for the fd to be readable). */
  gssize   (*recv)           (gpointer      data,
                              guint8       *buf,
                              gsize         len,
                              GError      **error);
  /* Writes what it can of @len bytes, as recv().  After it would block,
   * the stream calls it again with the same bytes (TLS needs it). */
  gssize   (*send)           (gpointer      data,
                              const guint8 *buf,
                              gsize         len,
                              GError      **error);
  /* Ends the writing side (TLS: sends close_notify); also called by a
   * graceful close(), before the fd is closed. */
  gboolean (*shutdown_write) (gpointer      data,
                              GError      **error);
  void     (*free)           (gpointer      data);
} CoopStreamTransport;

/* Sets the transport (once): I/O goes through it from now on.  A
 * transport's reads may leave data in its own buffers with the fd no
 * longer readable (a TLS record read in part), so the stream does not take
 * a short read as "drained" and re-polls it from the ready queue. */
void        coop_stream_set_transport (CoopStream                *stream,
                                       const CoopStreamTransport *transport,
                                       gpointer                   data);
gpointer    coop_stream_get_transport_data (CoopStream                *stream,
                                            const CoopStreamTransport *transport);
/* While suspended (a handshake runs on the fd elsewhere), the stream neither
 * reads nor writes its fd: writes are queued, reads wait. */
void        coop_stream_set_suspended (CoopStream *stream,
                                       gboolean    suspended);
/* Bytes already read from the fd and buffered, or queued to write. */
gboolean    coop_stream_has_buffered  (CoopStream *stream);
CoopLoop   *coop_stream_get_loop_internal (CoopStream *stream);

/* Shared by the stream and the server (coop-stream.c, coop-server.c). */
/* Adopts a connected, non-blocking stream socket (an accepted one). */
CoopStream *coop_stream_adopt_fd      (CoopLoop              *loop,
                                       int                    fd,
                                       const struct sockaddr *peer,
                                       socklen_t              peer_len);
/* Releases a reference from the ready queue, never inside a callback that
 * may be running (a callback may remove itself). */
void        coop_net_unref_later      (CoopLoop      *loop,
                                       CoopReadyFunc  unref,
                                       gpointer       data);
GError     *coop_net_errno_error_new  (int         err,
                                       const char *what);
/* Completes (and unrefs) every future in @queue. */
void        coop_net_complete_queue   (GQueue       *queue,
                                       const GError *error);
/* Drops futures that were cancelled meanwhile from a long queue. */
void        coop_net_queue_prune      (GQueue *queue);
/* "127.0.0.1:80", "[::1]:80", "unix:/path" */
char       *coop_net_describe_native  (const struct sockaddr *sa,
                                       socklen_t              len,
                                       const char            *unix_path);

/* A server's hook: runs in the connection's task before the handler; the
 * handler runs only if it returns TRUE. */
typedef gboolean (*CoopServerPrepareFunc) (CoopTask   *task,
                                           CoopStream *stream,
                                           gpointer    data);
void        coop_server_set_prepare   (CoopServer            *server,
                                       CoopServerPrepareFunc  prepare,
                                       gpointer               data,
                                       GDestroyNotify         notify);

G_END_DECLS
