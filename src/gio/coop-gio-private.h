/* coop-gio-private.h: what the GIO wrappers share with the bridge.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "coop-private.h"

G_BEGIN_DECLS

/* Calls the _finish function of an operation (on the loop's thread, once,
 * whatever happened to the future, so that a result that arrived anyway
 * is released) and gives the future's value: fills @value (or leaves it
 * unset for no value) and returns TRUE, or returns FALSE with @error. */
typedef gboolean (*CoopGioFinishHook) (GObject       *source,
                                       GAsyncResult  *result,
                                       gpointer       data,
                                       GValue        *value,
                                       GError       **error);

/* An operation's future, for one _async call on the loop's thread:
 *
 *   op = coop_gio_op_new (loop, cancellable, G_TYPE_BYTES, G_CALLBACK (finish));
 *   g_foo_async (..., coop_gio_op_cancellable (op), coop_async_future_callback, op);
 *   return coop_gio_op_started (op);
 *
 * The future holds itself until the callback ran (the caller may drop
 * it), the loop's context is thread-default from _new to _started, and
 * cancelling @cancellable (nullable) cancels the future, which cancels
 * the operation.  @notify frees @data once the hook ran, or with the
 * future. */
CoopAsyncFuture *coop_gio_op_new         (CoopLoop          *loop,
                                          GCancellable      *cancellable,
                                          GType              result_type,
                                          GCallback          finish_func);
CoopAsyncFuture *coop_gio_op_new_hook    (CoopLoop          *loop,
                                          GCancellable      *cancellable,
                                          CoopGioFinishHook  hook,
                                          gpointer           data,
                                          GDestroyNotify     notify);
GCancellable    *coop_gio_op_cancellable (CoopAsyncFuture   *op);
CoopFuture      *coop_gio_op_started     (CoopAsyncFuture   *op);

G_END_DECLS
