/* coop-gio-stream.c: GInputStream's and GOutputStream's asynchronous
 * calls as futures.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-gio-private.h"

/* See coop-gio-file.c for how a wrapper is made.  The reads and writes
 * that take the caller's memory are skipped by bindings: the memory must
 * stay valid until the future is done, which a binding cannot promise;
 * the GBytes versions are theirs. */

#define CHECK_COMMON(loop, cancellable)                                                   \
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);                                       \
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL)

/**
 * coop_input_stream_read: (skip)
 * @loop: the loop of the future
 * @stream: a stream
 * @buffer: where to read, valid until the future is done
 * @count: how many bytes to read at most
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the read)
 *
 * Reads what is there, up to @count bytes, as g_input_stream_read_async()
 * does.  @buffer must stay valid until the future is done, even when it is
 * cancelled (the read stops when GIO calls back).  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work; bindings
 * use [func@Coop.input_stream_read_bytes].
 *
 * Returns: (transfer full): a future that finishes with the number of
 *   bytes read, 0 at the end of the stream ([method@Coop.Future.get_int64]),
 *   or fails with GIO's error
 */
CoopFuture *
coop_input_stream_read (CoopLoop     *loop,
                        GInputStream *stream,
                        void         *buffer,
                        gsize         count,
                        int           io_priority,
                        GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_INPUT_STREAM (stream), NULL);
  g_return_val_if_fail (buffer != NULL || count == 0, NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_INT64, G_CALLBACK (g_input_stream_read_finish));
  g_input_stream_read_async (stream, buffer, count, io_priority, coop_gio_op_cancellable (op),
                             coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

typedef gboolean (*FinishAll) (gpointer, GAsyncResult *, gsize *, GError **);

/* read_all and write_all: a gboolean and the count as an out argument. */
static gboolean
all_finish (GObject       *source,
            GAsyncResult  *result,
            gpointer       data,
            GValue        *value,
            GError       **error)
{
  gsize count = 0;

  if (!((FinishAll) data) (source, result, &count, error))
    return FALSE;
  g_value_init (value, G_TYPE_INT64);
  g_value_set_int64 (value, (gint64) count);
  return TRUE;
}

/**
 * coop_input_stream_read_all: (skip)
 * @loop: the loop of the future
 * @stream: a stream
 * @buffer: where to read, valid until the future is done
 * @count: how many bytes to read
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the read)
 *
 * Reads @count bytes, or up to the end of the stream, as
 * g_input_stream_read_all_async() does.  @buffer must stay valid until the
 * future is done.  On an error, what was read before it is in @buffer but
 * its length is not known (as with GIO's own call when it fails).  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with the number of
 *   bytes read, less than @count only at the end of the stream
 *   ([method@Coop.Future.get_int64]), or fails with GIO's error
 */
CoopFuture *
coop_input_stream_read_all (CoopLoop     *loop,
                            GInputStream *stream,
                            void         *buffer,
                            gsize         count,
                            int           io_priority,
                            GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_INPUT_STREAM (stream), NULL);
  g_return_val_if_fail (buffer != NULL || count == 0, NULL);

  op = coop_gio_op_new_hook (loop, cancellable, all_finish, g_input_stream_read_all_finish, NULL);
  g_input_stream_read_all_async (stream, buffer, count, io_priority, coop_gio_op_cancellable (op),
                                 coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_input_stream_read_bytes:
 * @loop: the loop of the future
 * @stream: a stream
 * @count: how many bytes to read at most
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the read)
 *
 * Reads what is there, up to @count bytes, as
 * g_input_stream_read_bytes_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with a #GBytes, empty
 *   at the end of the stream ([method@Coop.Future.get_bytes]), or fails
 *   with GIO's error
 */
CoopFuture *
coop_input_stream_read_bytes (CoopLoop     *loop,
                              GInputStream *stream,
                              gsize         count,
                              int           io_priority,
                              GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_INPUT_STREAM (stream), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_BYTES, G_CALLBACK (g_input_stream_read_bytes_finish));
  g_input_stream_read_bytes_async (stream, count, io_priority, coop_gio_op_cancellable (op),
                                   coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_input_stream_skip:
 * @loop: the loop of the future
 * @stream: a stream
 * @count: how many bytes to skip at most
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Skips up to @count bytes, as g_input_stream_skip_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with the number of
 *   bytes skipped ([method@Coop.Future.get_int64]), or fails with GIO's
 *   error
 */
CoopFuture *
coop_input_stream_skip (CoopLoop     *loop,
                        GInputStream *stream,
                        gsize         count,
                        int           io_priority,
                        GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_INPUT_STREAM (stream), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_INT64, G_CALLBACK (g_input_stream_skip_finish));
  g_input_stream_skip_async (stream, count, io_priority, coop_gio_op_cancellable (op),
                             coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_input_stream_close:
 * @loop: the loop of the future
 * @stream: a stream
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Closes @stream, as g_input_stream_close_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with %TRUE, or fails
 *   with GIO's error
 */
CoopFuture *
coop_input_stream_close (CoopLoop     *loop,
                         GInputStream *stream,
                         int           io_priority,
                         GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_INPUT_STREAM (stream), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_BOOLEAN, G_CALLBACK (g_input_stream_close_finish));
  g_input_stream_close_async (stream, io_priority, coop_gio_op_cancellable (op),
                              coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_output_stream_write: (skip)
 * @loop: the loop of the future
 * @stream: a stream
 * @buffer: what to write, valid until the future is done
 * @count: its size in bytes
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the write)
 *
 * Writes some of @buffer, as g_output_stream_write_async() does.
 * @buffer must stay valid until the future is done.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work; bindings
 * use [func@Coop.output_stream_write_bytes].
 *
 * Returns: (transfer full): a future that finishes with the number of
 *   bytes written ([method@Coop.Future.get_int64]), or fails with GIO's
 *   error
 */
CoopFuture *
coop_output_stream_write (CoopLoop      *loop,
                          GOutputStream *stream,
                          const void    *buffer,
                          gsize          count,
                          int            io_priority,
                          GCancellable  *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_OUTPUT_STREAM (stream), NULL);
  g_return_val_if_fail (buffer != NULL || count == 0, NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_INT64, G_CALLBACK (g_output_stream_write_finish));
  g_output_stream_write_async (stream, buffer, count, io_priority, coop_gio_op_cancellable (op),
                               coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_output_stream_write_all: (skip)
 * @loop: the loop of the future
 * @stream: a stream
 * @buffer: what to write, valid until the future is done
 * @count: its size in bytes
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the write)
 *
 * Writes all of @buffer, as g_output_stream_write_all_async() does.
 * @buffer must stay valid until the future is done.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with the number of
 *   bytes written, @count ([method@Coop.Future.get_int64]), or fails with
 *   GIO's error
 */
CoopFuture *
coop_output_stream_write_all (CoopLoop      *loop,
                              GOutputStream *stream,
                              const void    *buffer,
                              gsize          count,
                              int            io_priority,
                              GCancellable  *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_OUTPUT_STREAM (stream), NULL);
  g_return_val_if_fail (buffer != NULL || count == 0, NULL);

  op = coop_gio_op_new_hook (loop, cancellable, all_finish, g_output_stream_write_all_finish, NULL);
  g_output_stream_write_all_async (stream, buffer, count, io_priority, coop_gio_op_cancellable (op),
                                   coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_output_stream_write_bytes:
 * @loop: the loop of the future
 * @stream: a stream
 * @bytes: what to write
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the write)
 *
 * Writes some of @bytes, as g_output_stream_write_bytes_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with the number of
 *   bytes written ([method@Coop.Future.get_int64]), or fails with GIO's
 *   error
 */
CoopFuture *
coop_output_stream_write_bytes (CoopLoop      *loop,
                                GOutputStream *stream,
                                GBytes        *bytes,
                                int            io_priority,
                                GCancellable  *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_OUTPUT_STREAM (stream), NULL);
  g_return_val_if_fail (bytes != NULL, NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_INT64, G_CALLBACK (g_output_stream_write_bytes_finish));
  g_output_stream_write_bytes_async (stream, bytes, io_priority, coop_gio_op_cancellable (op),
                                     coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_output_stream_splice:
 * @loop: the loop of the future
 * @stream: the stream to write to
 * @source: the stream to read from, up to its end
 * @flags: whether to close either stream at the end
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the splice)
 *
 * Copies all of @source into @stream, as g_output_stream_splice_async()
 * does.  See [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with the number of
 *   bytes copied ([method@Coop.Future.get_int64]), or fails with GIO's
 *   error
 */
CoopFuture *
coop_output_stream_splice (CoopLoop                 *loop,
                           GOutputStream            *stream,
                           GInputStream             *source,
                           GOutputStreamSpliceFlags  flags,
                           int                       io_priority,
                           GCancellable             *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_OUTPUT_STREAM (stream), NULL);
  g_return_val_if_fail (G_IS_INPUT_STREAM (source), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_INT64, G_CALLBACK (g_output_stream_splice_finish));
  g_output_stream_splice_async (stream, source, flags, io_priority, coop_gio_op_cancellable (op),
                                coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_output_stream_close:
 * @loop: the loop of the future
 * @stream: a stream
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Flushes and closes @stream, as g_output_stream_close_async() does (for a
 * stream of [func@Coop.file_replace], this is when the file is replaced).
 * See [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with %TRUE, or fails
 *   with GIO's error
 */
CoopFuture *
coop_output_stream_close (CoopLoop      *loop,
                          GOutputStream *stream,
                          int            io_priority,
                          GCancellable  *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_OUTPUT_STREAM (stream), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_BOOLEAN, G_CALLBACK (g_output_stream_close_finish));
  g_output_stream_close_async (stream, io_priority, coop_gio_op_cancellable (op),
                               coop_async_future_callback, op);
  return coop_gio_op_started (op);
}
