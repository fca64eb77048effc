/* coop-stream.h: TCP and Unix-socket streams and servers on the loop
 * (asyncio's open_connection / start_server).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-task.h"

G_BEGIN_DECLS

#define COOP_TYPE_STREAM (coop_stream_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopStream, coop_stream, COOP, STREAM, GObject)

COOP_AVAILABLE_IN_ALL
CoopFuture     *coop_stream_open_tcp       (CoopLoop    *loop,
                                            const char  *host,
                                            guint16      port);
COOP_AVAILABLE_IN_ALL
CoopFuture     *coop_stream_open_unix      (CoopLoop    *loop,
                                            const char  *path);
COOP_AVAILABLE_IN_ALL
CoopStream     *coop_stream_open_finish    (CoopFuture  *future,
                                            GError     **error);
COOP_AVAILABLE_IN_ALL
CoopStream     *coop_stream_new_for_fd     (CoopLoop    *loop,
                                            int          fd,
                                            GError     **error);

COOP_AVAILABLE_IN_ALL
CoopFuture     *coop_stream_read           (CoopStream  *stream,
                                            gsize        max);
COOP_AVAILABLE_IN_ALL
CoopFuture     *coop_stream_read_exactly   (CoopStream  *stream,
                                            gsize        n);
COOP_AVAILABLE_IN_ALL
CoopFuture     *coop_stream_read_line      (CoopStream  *stream);
COOP_AVAILABLE_IN_ALL
CoopFuture     *coop_stream_read_until     (CoopStream   *stream,
                                            const guint8 *separator,
                                            gsize         separator_len);
COOP_AVAILABLE_IN_ALL
gsize           coop_stream_get_limit      (CoopStream  *stream);
COOP_AVAILABLE_IN_ALL
void            coop_stream_set_limit      (CoopStream  *stream,
                                            gsize        limit);
COOP_AVAILABLE_IN_ALL
gsize           coop_stream_get_read_buffer_size (CoopStream *stream);
COOP_AVAILABLE_IN_ALL
gboolean        coop_stream_at_eof         (CoopStream  *stream);

COOP_AVAILABLE_IN_ALL
gboolean        coop_stream_write          (CoopStream  *stream,
                                            GBytes      *data,
                                            GError     **error);
COOP_AVAILABLE_IN_ALL
gboolean        coop_stream_write_data     (CoopStream    *stream,
                                            const guint8  *data,
                                            gsize          len,
                                            GError       **error);
COOP_AVAILABLE_IN_ALL
gboolean        coop_stream_write_eof      (CoopStream  *stream,
                                            GError     **error);
COOP_AVAILABLE_IN_ALL
CoopFuture     *coop_stream_drain          (CoopStream  *stream);
COOP_AVAILABLE_IN_ALL
void            coop_stream_set_write_buffer_limits (CoopStream *stream,
                                                     gsize       high,
                                                     gsize       low);
COOP_AVAILABLE_IN_ALL
void            coop_stream_get_write_buffer_limits (CoopStream *stream,
                                                     gsize      *high,
                                                     gsize      *low);
COOP_AVAILABLE_IN_ALL
gsize           coop_stream_get_write_buffer_size (CoopStream *stream);

COOP_AVAILABLE_IN_ALL
void            coop_stream_close          (CoopStream  *stream);
COOP_AVAILABLE_IN_ALL
void            coop_stream_abort          (CoopStream  *stream);
COOP_AVAILABLE_IN_ALL
gboolean        coop_stream_is_closing     (CoopStream  *stream);
COOP_AVAILABLE_IN_ALL
CoopFuture     *coop_stream_wait_closed    (CoopStream  *stream);

COOP_AVAILABLE_IN_ALL
GSocketAddress *coop_stream_get_peer_address  (CoopStream  *stream,
                                               GError     **error);
COOP_AVAILABLE_IN_ALL
GSocketAddress *coop_stream_get_local_address (CoopStream  *stream,
                                               GError     **error);
COOP_AVAILABLE_IN_ALL
int             coop_stream_get_fd         (CoopStream  *stream);

/**
 * CoopStreamHandler:
 * @task: the task running this connection (its body is this handler)
 * @stream: the accepted connection; the server closes it when the handler
 *   returns (unless it is closed already)
 * @user_data: (closure): the data given to the server's constructor
 *
 * Serves one connection accepted by a [class@Coop.Server].  It runs as the
 * body of a C task, on its own stack, exactly as a [callback@Coop.TaskFunc],
 * so it may call [func@Coop.await]; it sets the task's result (or error)
 * the same way, and an error nobody reads is reported to the loop's
 * exception handler.  Like every task function it must be C code.
 */
typedef void (*CoopStreamHandler) (CoopTask   *task,
                                   CoopStream *stream,
                                   gpointer    user_data);

#define COOP_TYPE_SERVER (coop_server_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopServer, coop_server, COOP, SERVER, GObject)

/**
 * CoopConnectionCallback:
 * @server: the server that accepted the connection
 * @stream: the accepted connection
 * @user_data: (closure): the data given to the server's constructor
 *
 * Serves one connection accepted by a server made with
 * [ctor@Coop.Server.new_tcp_with_callback] or
 * [ctor@Coop.Server.new_unix_with_callback].  It is called on the loop's
 * thread, not on a fiber, so any language binding's function can be one:
 * it starts the connection's work and returns at once.
 *
 * Returns: (transfer full) (nullable): a future the server tracks (it
 *   closes @stream when the future is done and cancels it in
 *   [method@Coop.Server.abort_clients]), or %NULL if the callback is done
 *   with @stream, which is then closed
 */
typedef CoopFuture *(*CoopConnectionCallback) (CoopServer *server,
                                               CoopStream *stream,
                                               gpointer    user_data);

COOP_AVAILABLE_IN_ALL
CoopServer *coop_server_new_tcp           (CoopLoop          *loop,
                                           const char        *host,
                                           guint16            port,
                                           int                backlog,
                                           CoopStreamHandler  handler,
                                           gpointer           user_data,
                                           GDestroyNotify     notify,
                                           GError           **error);
COOP_AVAILABLE_IN_ALL
CoopServer *coop_server_new_unix          (CoopLoop          *loop,
                                           const char        *path,
                                           int                backlog,
                                           CoopStreamHandler  handler,
                                           gpointer           user_data,
                                           GDestroyNotify     notify,
                                           GError           **error);
COOP_AVAILABLE_IN_ALL
CoopServer *coop_server_new_tcp_with_callback  (CoopLoop              *loop,
                                                const char            *host,
                                                guint16                port,
                                                int                    backlog,
                                                CoopConnectionCallback callback,
                                                gpointer               user_data,
                                                GDestroyNotify         notify,
                                                GError               **error);
COOP_AVAILABLE_IN_ALL
CoopServer *coop_server_new_unix_with_callback (CoopLoop              *loop,
                                                const char            *path,
                                                int                    backlog,
                                                CoopConnectionCallback callback,
                                                gpointer               user_data,
                                                GDestroyNotify         notify,
                                                GError               **error);
COOP_AVAILABLE_IN_ALL
guint16     coop_server_get_port          (CoopServer        *server);
COOP_AVAILABLE_IN_ALL
gboolean    coop_server_is_serving        (CoopServer        *server);
COOP_AVAILABLE_IN_ALL
void        coop_server_close             (CoopServer        *server);
COOP_AVAILABLE_IN_ALL
void        coop_server_close_clients     (CoopServer        *server);
COOP_AVAILABLE_IN_ALL
void        coop_server_abort_clients     (CoopServer        *server);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_server_wait_closed       (CoopServer        *server);
COOP_AVAILABLE_IN_ALL
guint       coop_server_get_n_connections (CoopServer        *server);

G_END_DECLS
