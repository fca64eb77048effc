/* coop-gio.h: bridges to GIO's asynchronous world.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-task.h"

G_BEGIN_DECLS

#define COOP_TYPE_ASYNC_FUTURE (coop_async_future_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopAsyncFuture, coop_async_future, COOP, ASYNC_FUTURE, CoopFuture)

/* Awaiting GIO's _async/_finish pairs. */
COOP_AVAILABLE_IN_ALL
CoopAsyncFuture *coop_async_future_new             (CoopLoop        *loop);
COOP_AVAILABLE_IN_ALL
CoopAsyncFuture *coop_async_future_new_for_finish  (CoopLoop        *loop,
                                                    GType            result_type,
                                                    GCallback        finish_func);
COOP_AVAILABLE_IN_ALL
GCancellable    *coop_async_future_get_cancellable (CoopAsyncFuture *future);
COOP_AVAILABLE_IN_ALL
GAsyncResult    *coop_async_future_get_result      (CoopAsyncFuture *future);
COOP_AVAILABLE_IN_ALL
void             coop_async_future_callback        (GObject         *source_object,
                                                    GAsyncResult    *result,
                                                    gpointer         future);

/**
 * COOP_ASYNC_CALL:
 * @loop: the loop of the future
 * @result_type: what @finish_func returns, as for
 *   [ctor@Coop.AsyncFuture.new_for_finish]
 * @finish_func: the `_finish` function of the call
 * @async_func: the `_async` function to call
 * @...: the arguments of @async_func before its cancellable
 *
 * Calls `async_func (..., cancellable, callback, future)` and returns
 * the future (transfer full) of a
 * [ctor@Coop.AsyncFuture.new_for_finish], whose value is what
 * @finish_func returns:
 *
 * ```c
 * g_autoptr(CoopFuture) f = COOP_ASYNC_CALL (loop, G_TYPE_BYTES, g_input_stream_read_bytes_finish,
 *                                            g_input_stream_read_bytes_async, stream, 4096,
 *                                            G_PRIORITY_DEFAULT);
 * ```
 *
 * The trailing cancellable, callback and user data of the `_async` call
 * are filled in.  Call it on the loop's thread, with the loop's context
 * thread-default there (GIO calls back in that context).  It needs GCC
 * or Clang (a statement expression), as g_autoptr() does.
 */
#if defined (__GNUC__)
#define COOP_ASYNC_CALL(loop, result_type, finish_func, async_func, ...)                          \
  (__extension__ ({                                                                               \
    CoopAsyncFuture *coop_async_call_op_ =                                                        \
      coop_async_future_new_for_finish ((loop), (result_type), G_CALLBACK (finish_func));         \
    async_func (__VA_ARGS__, coop_async_future_get_cancellable (coop_async_call_op_),             \
                coop_async_future_callback, coop_async_call_op_);                                 \
    COOP_FUTURE (coop_async_call_op_);                                                            \
  }))
#endif

/* A future (a task) behind a GTask-based _async/_finish API. */
COOP_AVAILABLE_IN_ALL
void             coop_future_return_to_gtask       (CoopFuture      *future,
                                                    GTask           *gtask);
COOP_AVAILABLE_IN_ALL
CoopTask        *coop_task_new_for_gtask           (CoopLoop        *loop,
                                                    GTask           *gtask,
                                                    CoopTaskFunc     func,
                                                    gpointer         user_data,
                                                    GDestroyNotify   notify);

/* GCancellable and task cancellation. */
COOP_AVAILABLE_IN_ALL
void             coop_task_bind_cancellable        (CoopTask        *task,
                                                    GCancellable    *cancellable);
COOP_AVAILABLE_IN_ALL
GCancellable    *coop_task_get_cancellable         (CoopTask        *task);

/* Waiting for a future from callback-style code (and Vala's yield). */
COOP_AVAILABLE_IN_ALL
void             coop_future_wait_async            (CoopFuture          *future,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
COOP_AVAILABLE_IN_ALL
gboolean         coop_future_wait_finish           (CoopFuture          *future,
                                                    GAsyncResult        *result,
                                                    GError             **error);

G_END_DECLS
