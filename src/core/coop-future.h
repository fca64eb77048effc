/* coop-future.h: a result that will be available later.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-types.h"

G_BEGIN_DECLS

#define COOP_TYPE_FUTURE (coop_future_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_DERIVABLE_TYPE (CoopFuture, coop_future, COOP, FUTURE, GObject)

/**
 * CoopFutureClass:
 * @parent_class: the parent class
 * @cancel: cancels the future; returns %TRUE if a cancellation was started
 *   or done.  The default marks a pending future %COOP_FUTURE_STATE_CANCELLED.
 * @done: class handler of the [signal@Coop.Future::done] signal
 *
 * The class structure of [class@Coop.Future].
 */
struct _CoopFutureClass
{
  GObjectClass parent_class;

  gboolean (*cancel) (CoopFuture *future,
                      const char *message);
  void     (*done)   (CoopFuture *future);

  /*< private >*/
  gpointer padding[12];
};

/**
 * CoopFutureFulfilledFunc:
 * @value: (nullable): the result of the future, or %NULL if it finished
 *   with no value (or with a raw pointer or an array of futures, see
 *   [method@Coop.Future.then])
 * @user_data: (closure): the data passed to [method@Coop.Future.then]
 *
 * Called by [method@Coop.Future.then] when the future finished with a
 * result.  @value is owned by the future and valid during the call.
 */
typedef void (*CoopFutureFulfilledFunc) (const GValue *value,
                                         gpointer      user_data);

/**
 * CoopFutureRejectedFunc:
 * @error: the error of the future: `G_IO_ERROR_CANCELLED` if it was
 *   cancelled
 * @user_data: (closure): the data passed to [method@Coop.Future.then]
 *
 * Called by [method@Coop.Future.then] when the future failed or was
 * cancelled.  @error is owned by the future and valid during the call.
 */
typedef void (*CoopFutureRejectedFunc) (const GError *error,
                                        gpointer      user_data);

COOP_AVAILABLE_IN_ALL
CoopFuture      *coop_future_new               (CoopLoop      *loop);
COOP_AVAILABLE_IN_ALL
CoopLoop        *coop_future_get_loop          (CoopFuture    *future);
COOP_AVAILABLE_IN_ALL
CoopFutureState  coop_future_get_state         (CoopFuture    *future);
COOP_AVAILABLE_IN_ALL
gboolean         coop_future_is_done           (CoopFuture    *future);
COOP_AVAILABLE_IN_ALL
gboolean         coop_future_is_cancelled      (CoopFuture    *future);

COOP_AVAILABLE_IN_ALL
void             coop_future_set_value         (CoopFuture    *future,
                                                const GValue  *value);
COOP_AVAILABLE_IN_ALL
void             coop_future_set_pointer       (CoopFuture    *future,
                                                gpointer       data,
                                                GDestroyNotify notify);
COOP_AVAILABLE_IN_ALL
void             coop_future_set_boolean       (CoopFuture    *future,
                                                gboolean       value);
COOP_AVAILABLE_IN_ALL
void             coop_future_set_int64         (CoopFuture    *future,
                                                gint64         value);
COOP_AVAILABLE_IN_ALL
void             coop_future_set_double        (CoopFuture    *future,
                                                double         value);
COOP_AVAILABLE_IN_ALL
void             coop_future_set_string        (CoopFuture    *future,
                                                const char    *value);
COOP_AVAILABLE_IN_ALL
void             coop_future_set_object        (CoopFuture    *future,
                                                GObject       *value);
COOP_AVAILABLE_IN_ALL
void             coop_future_set_boxed         (CoopFuture    *future,
                                                GType          boxed_type,
                                                gconstpointer  value);
COOP_AVAILABLE_IN_ALL
void             coop_future_set_none          (CoopFuture    *future);
COOP_AVAILABLE_IN_ALL
void             coop_future_set_error         (CoopFuture    *future,
                                                const GError  *error);
COOP_AVAILABLE_IN_ALL
void             coop_future_take_error        (CoopFuture    *future,
                                                GError        *error);
COOP_AVAILABLE_IN_ALL
gboolean         coop_future_cancel            (CoopFuture    *future,
                                                const char    *message);
COOP_AVAILABLE_IN_ALL
void             coop_future_cancel_threadsafe (CoopFuture    *future,
                                                const char    *message);

COOP_AVAILABLE_IN_ALL
gboolean         coop_future_propagate         (CoopFuture    *future,
                                                GError       **error);
COOP_AVAILABLE_IN_ALL
const GError    *coop_future_get_error         (CoopFuture    *future);
COOP_AVAILABLE_IN_ALL
const GValue    *coop_future_get_value         (CoopFuture    *future,
                                                GError       **error);
COOP_AVAILABLE_IN_ALL
gpointer         coop_future_get_pointer       (CoopFuture    *future,
                                                GError       **error);
COOP_AVAILABLE_IN_ALL
gboolean         coop_future_get_boolean       (CoopFuture    *future,
                                                GError       **error);
COOP_AVAILABLE_IN_ALL
gint64           coop_future_get_int64         (CoopFuture    *future,
                                                GError       **error);
COOP_AVAILABLE_IN_ALL
double           coop_future_get_double        (CoopFuture    *future,
                                                GError       **error);
COOP_AVAILABLE_IN_ALL
const char      *coop_future_get_string        (CoopFuture    *future,
                                                GError       **error);
COOP_AVAILABLE_IN_ALL
GObject         *coop_future_get_object        (CoopFuture    *future,
                                                GError       **error);
COOP_AVAILABLE_IN_ALL
GPtrArray       *coop_future_get_futures       (CoopFuture    *future,
                                                GError       **error);
COOP_AVAILABLE_IN_ALL
gconstpointer    coop_future_get_boxed         (CoopFuture    *future,
                                                GError       **error);
COOP_AVAILABLE_IN_ALL
GBytes          *coop_future_get_bytes         (CoopFuture    *future,
                                                GError       **error);

COOP_AVAILABLE_IN_ALL
char            *coop_future_describe          (CoopFuture    *future);

COOP_AVAILABLE_IN_ALL
void             coop_future_add_done_callback (CoopFuture        *future,
                                                CoopFutureCallback callback,
                                                gpointer           user_data,
                                                GDestroyNotify     notify);
COOP_AVAILABLE_IN_ALL
void             coop_future_then              (CoopFuture             *future,
                                                CoopFutureFulfilledFunc on_fulfilled,
                                                gpointer                fulfilled_data,
                                                GDestroyNotify          fulfilled_destroy,
                                                CoopFutureRejectedFunc  on_rejected,
                                                gpointer                rejected_data,
                                                GDestroyNotify          rejected_destroy);
COOP_AVAILABLE_IN_ALL
gboolean         coop_future_remove_done_callback (CoopFuture        *future,
                                                   CoopFutureCallback callback,
                                                   gpointer           user_data);

G_END_DECLS
