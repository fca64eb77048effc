/* coop-types.h: shared declarations for Coop's public headers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include <glib-object.h>
#include <gio/gio.h>

G_BEGIN_DECLS

#define COOP_AVAILABLE_IN_ALL __attribute__((visibility ("default"))) extern

typedef struct _CoopLoop   CoopLoop;
typedef struct _CoopFuture CoopFuture;
typedef struct _CoopTask   CoopTask;
typedef struct _CoopHandle CoopHandle;

/**
 * CoopCallback:
 * @user_data: (closure): the data passed when the callback was scheduled
 *
 * A callback scheduled on a [class@Coop.Loop] with
 * [method@Coop.Loop.call_soon], [method@Coop.Loop.call_later] and friends.
 */
typedef void (*CoopCallback) (gpointer user_data);

/**
 * CoopFutureCallback:
 * @future: the future that is done
 * @user_data: (closure): the data passed to [method@Coop.Future.add_done_callback]
 *
 * Called from the loop's ready queue once @future is done.
 */
typedef void (*CoopFutureCallback) (CoopFuture *future,
                                    gpointer    user_data);

/**
 * CoopTaskFunc:
 * @task: the task whose body this is
 * @user_data: (closure): the data passed to `coop_task_new()`
 *
 * The body of a C task.  It runs on its own stack (a fiber) and may call
 * [func@Coop.await] to pause until a future is done.  It sets the task's
 * result with the `coop_future_set_*()` functions (or
 * [method@Coop.Future.take_error]) on `COOP_FUTURE (task)`; returning without
 * one finishes the task with no value.
 */
typedef void (*CoopTaskFunc) (CoopTask *task,
                              gpointer  user_data);

/**
 * CoopFutureState:
 * @COOP_FUTURE_STATE_PENDING: not done yet
 * @COOP_FUTURE_STATE_FINISHED: done, with a result (possibly none)
 * @COOP_FUTURE_STATE_FAILED: done, with a #GError
 * @COOP_FUTURE_STATE_CANCELLED: done, cancelled (the error is
 *   `G_IO_ERROR_CANCELLED`)
 *
 * The state of a [class@Coop.Future].  A future leaves
 * %COOP_FUTURE_STATE_PENDING exactly once.
 */
typedef enum
{
  COOP_FUTURE_STATE_PENDING,
  COOP_FUTURE_STATE_FINISHED,
  COOP_FUTURE_STATE_FAILED,
  COOP_FUTURE_STATE_CANCELLED,
} CoopFutureState;

/**
 * CoopWaitMode:
 * @COOP_WAIT_FIRST_COMPLETED: complete as soon as any future is done
 * @COOP_WAIT_FIRST_EXCEPTION: complete when any future fails (or is
 *   cancelled), or when all are done
 * @COOP_WAIT_ALL_COMPLETED: complete when all futures are done
 *
 * When [func@Coop.wait] completes, as asyncio's `return_when`.
 */
typedef enum
{
  COOP_WAIT_FIRST_COMPLETED,
  COOP_WAIT_FIRST_EXCEPTION,
  COOP_WAIT_ALL_COMPLETED,
} CoopWaitMode;

COOP_AVAILABLE_IN_ALL
GType coop_future_state_get_type (void) G_GNUC_CONST;
#define COOP_TYPE_FUTURE_STATE (coop_future_state_get_type ())

COOP_AVAILABLE_IN_ALL
GType coop_wait_mode_get_type (void) G_GNUC_CONST;
#define COOP_TYPE_WAIT_MODE (coop_wait_mode_get_type ())

G_END_DECLS
