/* coop-gio-subprocess.c: GSubprocess's asynchronous calls as futures.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-gio-private.h"

/* See coop-gio-file.c for how a wrapper is made.  These are named
 * coop_gsubprocess_*: coop_subprocess_* are the methods of CoopSubprocess,
 * asyncio's Process over a GSubprocess. */

#define CHECK_COMMON(loop, cancellable)                                                   \
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);                                       \
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL)

/**
 * coop_gsubprocess_wait:
 * @loop: the loop of the future
 * @subprocess: a process
 * @cancellable: (nullable): cancels the future (and the wait, not the
 *   process)
 *
 * Waits for @subprocess to exit, as g_subprocess_wait_async() does; read
 * how with g_subprocess_get_exit_status() and its friends.  (Named
 * `gsubprocess`: [method@Coop.Subprocess.wait] is the method of
 * [class@Coop.Subprocess].)  See [func@Coop.file_load_contents] for how
 * the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with %TRUE once the
 *   process exited, or fails with GIO's error
 */
CoopFuture *
coop_gsubprocess_wait (CoopLoop     *loop,
                       GSubprocess  *subprocess,
                       GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_SUBPROCESS (subprocess), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_BOOLEAN, G_CALLBACK (g_subprocess_wait_finish));
  g_subprocess_wait_async (subprocess, coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_gsubprocess_wait_check:
 * @loop: the loop of the future
 * @subprocess: a process
 * @cancellable: (nullable): cancels the future (and the wait, not the
 *   process)
 *
 * Waits for @subprocess to exit and checks that it succeeded, as
 * g_subprocess_wait_check_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with %TRUE if the
 *   process exited with status 0, else fails (`G_SPAWN_EXIT_ERROR` with
 *   the status as its code, or `G_SPAWN_ERROR` for a signal)
 */
CoopFuture *
coop_gsubprocess_wait_check (CoopLoop     *loop,
                             GSubprocess  *subprocess,
                             GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_SUBPROCESS (subprocess), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_BOOLEAN, G_CALLBACK (g_subprocess_wait_check_finish));
  g_subprocess_wait_check_async (subprocess, coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

static gboolean
communicate_finish (GObject       *source,
                    GAsyncResult  *result,
                    gpointer       data,
                    GValue        *value,
                    GError       **error)
{
  GBytes *out = NULL, *err = NULL;

  if (!g_subprocess_communicate_finish (G_SUBPROCESS (source), result, &out, &err, error))
    return FALSE;
  g_value_init (value, COOP_TYPE_SUBPROCESS_OUTPUT);
  g_value_take_boxed (value, coop_subprocess_output_new_take (out, err));
  return TRUE;
}

/**
 * coop_gsubprocess_communicate:
 * @loop: the loop of the future
 * @subprocess: a process started with the pipes to use
 *   (%G_SUBPROCESS_FLAGS_STDIN_PIPE and so on)
 * @stdin_buf: (nullable): what to write to its standard input (which is
 *   then closed): required, possibly empty, with
 *   %G_SUBPROCESS_FLAGS_STDIN_PIPE (GIO aborts on %NULL there), and %NULL
 *   without it
 * @cancellable: (nullable): cancels the future (and the communication,
 *   not the process)
 *
 * Writes @stdin_buf to @subprocess, reads its output up to the end and
 * waits for it to exit, as g_subprocess_communicate_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with a
 *   [struct@Coop.SubprocessOutput]
 *   ([method@Coop.Future.get_subprocess_output]), or fails with GIO's
 *   error
 */
CoopFuture *
coop_gsubprocess_communicate (CoopLoop     *loop,
                              GSubprocess  *subprocess,
                              GBytes       *stdin_buf,
                              GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_SUBPROCESS (subprocess), NULL);

  op = coop_gio_op_new_hook (loop, cancellable, communicate_finish, NULL, NULL);
  g_subprocess_communicate_async (subprocess, stdin_buf, coop_gio_op_cancellable (op),
                                  coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

static GBytes *
text_bytes (char *text)
{
  /* The string's NUL stays after the data, so the bytes read as a string. */
  return text != NULL ? g_bytes_new_take (text, strlen (text)) : NULL;
}

static gboolean
communicate_utf8_finish (GObject       *source,
                         GAsyncResult  *result,
                         gpointer       data,
                         GValue        *value,
                         GError       **error)
{
  char *out = NULL, *err = NULL;

  if (!g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &out, &err, error))
    return FALSE;
  g_value_init (value, COOP_TYPE_SUBPROCESS_OUTPUT);
  g_value_take_boxed (value, coop_subprocess_output_new_take (text_bytes (out), text_bytes (err)));
  return TRUE;
}

/**
 * coop_gsubprocess_communicate_utf8:
 * @loop: the loop of the future
 * @subprocess: a process started with the pipes to use
 * @stdin_buf: (nullable): text to write to its standard input (which is
 *   then closed), or %NULL for none (only with
 *   %G_SUBPROCESS_FLAGS_STDIN_PIPE)
 * @cancellable: (nullable): cancels the future (and the communication,
 *   not the process)
 *
 * As [func@Coop.gsubprocess_communicate], for text, as
 * g_subprocess_communicate_utf8_async() does: the output must be valid
 * UTF-8 (else the future fails with `G_IO_ERROR_FAILED`).  The #GBytes of
 * the output hold the text without its NUL, but a NUL follows their data,
 * so `g_bytes_get_data()` can be read as a string.
 *
 * Returns: (transfer full): a future that finishes with a
 *   [struct@Coop.SubprocessOutput]
 *   ([method@Coop.Future.get_subprocess_output]), or fails with GIO's
 *   error
 */
CoopFuture *
coop_gsubprocess_communicate_utf8 (CoopLoop     *loop,
                                   GSubprocess  *subprocess,
                                   const char   *stdin_buf,
                                   GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_SUBPROCESS (subprocess), NULL);

  op = coop_gio_op_new_hook (loop, cancellable, communicate_utf8_finish, NULL, NULL);
  g_subprocess_communicate_utf8_async (subprocess, stdin_buf, coop_gio_op_cancellable (op),
                                       coop_async_future_callback, op);
  return coop_gio_op_started (op);
}
