/* coop-gio-wrappers.h: GIO's asynchronous calls as futures.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-gio.h"
#include "coop-unix.h"

G_BEGIN_DECLS

/* Typed results (coop-gio-results.c). */
COOP_AVAILABLE_IN_ALL
GInputStream         *coop_future_get_input_stream      (CoopFuture  *future,
                                                         GError     **error);
COOP_AVAILABLE_IN_ALL
GOutputStream        *coop_future_get_output_stream     (CoopFuture  *future,
                                                         GError     **error);
COOP_AVAILABLE_IN_ALL
GFileInfo            *coop_future_get_file_info         (CoopFuture  *future,
                                                         GError     **error);
COOP_AVAILABLE_IN_ALL
GFileEnumerator      *coop_future_get_file_enumerator   (CoopFuture  *future,
                                                         GError     **error);
COOP_AVAILABLE_IN_ALL
GPtrArray            *coop_future_get_file_infos        (CoopFuture  *future,
                                                         GError     **error);
COOP_AVAILABLE_IN_ALL
GSocketConnection    *coop_future_get_socket_connection (CoopFuture  *future,
                                                         GError     **error);
COOP_AVAILABLE_IN_ALL
GPtrArray            *coop_future_get_inet_addresses    (CoopFuture  *future,
                                                         GError     **error);
COOP_AVAILABLE_IN_ALL
GVariant             *coop_future_get_records           (CoopFuture  *future,
                                                         GError     **error);
COOP_AVAILABLE_IN_ALL
CoopSubprocessOutput *coop_future_get_subprocess_output (CoopFuture  *future,
                                                         GError     **error);

/* GFile (coop-gio-file.c). */
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_load_contents         (CoopLoop             *loop,
                                             GFile                *file,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_replace_contents      (CoopLoop             *loop,
                                             GFile                *file,
                                             GBytes               *contents,
                                             const char           *etag,
                                             gboolean              make_backup,
                                             GFileCreateFlags      flags,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_read                  (CoopLoop             *loop,
                                             GFile                *file,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_create                (CoopLoop             *loop,
                                             GFile                *file,
                                             GFileCreateFlags      flags,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_append_to             (CoopLoop             *loop,
                                             GFile                *file,
                                             GFileCreateFlags      flags,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_replace               (CoopLoop             *loop,
                                             GFile                *file,
                                             const char           *etag,
                                             gboolean              make_backup,
                                             GFileCreateFlags      flags,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_query_info            (CoopLoop             *loop,
                                             GFile                *file,
                                             const char           *attributes,
                                             GFileQueryInfoFlags   flags,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_query_exists          (CoopLoop             *loop,
                                             GFile                *file,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_enumerate_children    (CoopLoop             *loop,
                                             GFile                *file,
                                             const char           *attributes,
                                             GFileQueryInfoFlags   flags,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_enumerator_next_files (CoopLoop             *loop,
                                             GFileEnumerator      *enumerator,
                                             int                   num_files,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_enumerator_close      (CoopLoop             *loop,
                                             GFileEnumerator      *enumerator,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_make_directory        (CoopLoop             *loop,
                                             GFile                *file,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_make_directory_with_parents (CoopLoop       *loop,
                                             GFile                *file,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_delete                (CoopLoop             *loop,
                                             GFile                *file,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_trash                 (CoopLoop             *loop,
                                             GFile                *file,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_copy                  (CoopLoop             *loop,
                                             GFile                *source,
                                             GFile                *destination,
                                             GFileCopyFlags        flags,
                                             int                   io_priority,
                                             GFileProgressCallback progress_callback,
                                             gpointer              progress_data,
                                             GDestroyNotify        progress_notify,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_file_move                  (CoopLoop             *loop,
                                             GFile                *source,
                                             GFile                *destination,
                                             GFileCopyFlags        flags,
                                             int                   io_priority,
                                             GFileProgressCallback progress_callback,
                                             gpointer              progress_data,
                                             GDestroyNotify        progress_notify,
                                             GCancellable         *cancellable);

/* GInputStream and GOutputStream (coop-gio-stream.c). */
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_input_stream_read          (CoopLoop             *loop,
                                             GInputStream         *stream,
                                             void                 *buffer,
                                             gsize                 count,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_input_stream_read_all      (CoopLoop             *loop,
                                             GInputStream         *stream,
                                             void                 *buffer,
                                             gsize                 count,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_input_stream_read_bytes    (CoopLoop             *loop,
                                             GInputStream         *stream,
                                             gsize                 count,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_input_stream_skip          (CoopLoop             *loop,
                                             GInputStream         *stream,
                                             gsize                 count,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_input_stream_close         (CoopLoop             *loop,
                                             GInputStream         *stream,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_output_stream_write        (CoopLoop             *loop,
                                             GOutputStream        *stream,
                                             const void           *buffer,
                                             gsize                 count,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_output_stream_write_all    (CoopLoop             *loop,
                                             GOutputStream        *stream,
                                             const void           *buffer,
                                             gsize                 count,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_output_stream_write_bytes  (CoopLoop             *loop,
                                             GOutputStream        *stream,
                                             GBytes               *bytes,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_output_stream_splice       (CoopLoop             *loop,
                                             GOutputStream        *stream,
                                             GInputStream         *source,
                                             GOutputStreamSpliceFlags flags,
                                             int                   io_priority,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_output_stream_close        (CoopLoop             *loop,
                                             GOutputStream        *stream,
                                             int                   io_priority,
                                             GCancellable         *cancellable);

/* Sockets, names, initables (coop-gio-net.c). */
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_socket_client_connect      (CoopLoop             *loop,
                                             GSocketClient        *client,
                                             GSocketConnectable   *connectable,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_socket_client_connect_to_host (CoopLoop          *loop,
                                             GSocketClient        *client,
                                             const char           *host_and_port,
                                             guint16               default_port,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_socket_listener_accept     (CoopLoop             *loop,
                                             GSocketListener      *listener,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_resolver_lookup_by_name    (CoopLoop             *loop,
                                             GResolver            *resolver,
                                             const char           *hostname,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_resolver_lookup_by_address (CoopLoop             *loop,
                                             GResolver            *resolver,
                                             GInetAddress         *address,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_resolver_lookup_records    (CoopLoop             *loop,
                                             GResolver            *resolver,
                                             const char           *rrname,
                                             GResolverRecordType   record_type,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_async_initable_init        (CoopLoop             *loop,
                                             GAsyncInitable       *initable,
                                             int                   io_priority,
                                             GCancellable         *cancellable);

/* GSubprocess (coop-gio-subprocess.c): coop_gsubprocess_*, since
 * coop_subprocess_* are the methods of CoopSubprocess. */
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_gsubprocess_wait           (CoopLoop             *loop,
                                             GSubprocess          *subprocess,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_gsubprocess_wait_check     (CoopLoop             *loop,
                                             GSubprocess          *subprocess,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_gsubprocess_communicate    (CoopLoop             *loop,
                                             GSubprocess          *subprocess,
                                             GBytes               *stdin_buf,
                                             GCancellable         *cancellable);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_gsubprocess_communicate_utf8 (CoopLoop           *loop,
                                             GSubprocess          *subprocess,
                                             const char           *stdin_buf,
                                             GCancellable         *cancellable);

G_END_DECLS
