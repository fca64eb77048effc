/* coop-error.h: the COOP_ERROR domain.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-types.h"

G_BEGIN_DECLS

/**
 * COOP_ERROR:
 *
 * Error domain for misuse of Coop.  Errors in this domain are from the
 * [error@Coop.Error] enumeration.  Cancellation and timeouts use
 * `G_IO_ERROR_CANCELLED` and `G_IO_ERROR_TIMED_OUT` instead, so that Coop
 * code interoperates with #GCancellable code.
 */
#define COOP_ERROR (coop_error_quark ())

/**
 * CoopError:
 * @COOP_ERROR_FAILED: generic failure; treat unknown codes like this one
 * @COOP_ERROR_NOT_IN_TASK: a call that must run inside a C task (such as
 *   [func@Coop.await]) was made outside one
 * @COOP_ERROR_INVALID_STATE: the object is not in a state that allows the
 *   call (a result read from a pending future, a task awaiting itself, a
 *   loop run from inside one of its own tasks)
 * @COOP_ERROR_LOOP_CLOSED: the loop was closed
 * @COOP_ERROR_WRONG_LOOP: a future of one loop was awaited or combined on
 *   another loop
 * @COOP_ERROR_NO_RESULT: the result has another type than the one asked for
 * @COOP_ERROR_NOT_SUPPORTED: the operation is not possible here, such as a
 *   task whose function is a language binding's callback
 * @COOP_ERROR_QUEUE_EMPTY: a [class@Coop.Queue] had no item to get at once
 * @COOP_ERROR_QUEUE_FULL: a [class@Coop.Queue] had no room for an item at once
 * @COOP_ERROR_QUEUE_SHUT_DOWN: the [class@Coop.Queue] was shut down
 * @COOP_ERROR_BROKEN_BARRIER: the [class@Coop.Barrier] was reset or aborted
 *   while waiting, or is broken
 *
 * Error codes of the %COOP_ERROR domain.
 */
typedef enum
{
  COOP_ERROR_FAILED,
  COOP_ERROR_NOT_IN_TASK,
  COOP_ERROR_INVALID_STATE,
  COOP_ERROR_LOOP_CLOSED,
  COOP_ERROR_WRONG_LOOP,
  COOP_ERROR_NO_RESULT,
  COOP_ERROR_NOT_SUPPORTED,
  COOP_ERROR_QUEUE_EMPTY,
  COOP_ERROR_QUEUE_FULL,
  COOP_ERROR_QUEUE_SHUT_DOWN,
  COOP_ERROR_BROKEN_BARRIER,
} CoopError;

COOP_AVAILABLE_IN_ALL
GQuark coop_error_quark (void);

COOP_AVAILABLE_IN_ALL
GType coop_error_get_type (void) G_GNUC_CONST;
#define COOP_TYPE_ERROR (coop_error_get_type ())

G_END_DECLS
