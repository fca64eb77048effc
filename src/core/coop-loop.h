/* coop-loop.h: the event loop, one per GMainContext.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-types.h"

G_BEGIN_DECLS

#define COOP_TYPE_LOOP (coop_loop_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopLoop, coop_loop, COOP, LOOP, GObject)

#define COOP_TYPE_HANDLE (coop_handle_get_type ())
COOP_AVAILABLE_IN_ALL
GType coop_handle_get_type (void) G_GNUC_CONST;

/**
 * CoopExceptionHandler:
 * @loop: the loop
 * @message: what happened, in words
 * @future: (nullable): the future concerned, if any
 * @error: (nullable): the error concerned, if any
 * @user_data: (closure): data given to [method@Coop.Loop.set_exception_handler]
 *
 * Receives what the loop cannot report anywhere else: a failed future that
 * was finalized without anyone reading its error, a task destroyed while
 * still pending.  The default handler logs a warning.
 */
typedef void (*CoopExceptionHandler) (CoopLoop     *loop,
                                      const char   *message,
                                      CoopFuture   *future,
                                      const GError *error,
                                      gpointer      user_data);

COOP_AVAILABLE_IN_ALL
CoopLoop     *coop_loop_new                  (GMainContext *context);
COOP_AVAILABLE_IN_ALL
CoopLoop     *coop_loop_get_default          (void);
COOP_AVAILABLE_IN_ALL
GMainContext *coop_loop_get_context          (CoopLoop     *loop);
COOP_AVAILABLE_IN_ALL
gint64        coop_loop_time                 (CoopLoop     *loop);
COOP_AVAILABLE_IN_ALL
int           coop_loop_get_priority         (CoopLoop     *loop);
COOP_AVAILABLE_IN_ALL
void          coop_loop_set_priority         (CoopLoop     *loop,
                                              int           priority);
COOP_AVAILABLE_IN_ALL
gsize         coop_loop_get_stack_size       (CoopLoop     *loop);
COOP_AVAILABLE_IN_ALL
void          coop_loop_set_stack_size       (CoopLoop     *loop,
                                              gsize         stack_size);

COOP_AVAILABLE_IN_ALL
CoopHandle   *coop_loop_call_soon            (CoopLoop     *loop,
                                              CoopCallback  callback,
                                              gpointer      user_data,
                                              GDestroyNotify notify);
COOP_AVAILABLE_IN_ALL
CoopHandle   *coop_loop_call_later           (CoopLoop     *loop,
                                              gint64        delay_usec,
                                              CoopCallback  callback,
                                              gpointer      user_data,
                                              GDestroyNotify notify);
COOP_AVAILABLE_IN_ALL
CoopHandle   *coop_loop_call_at              (CoopLoop     *loop,
                                              gint64        when_usec,
                                              CoopCallback  callback,
                                              gpointer      user_data,
                                              GDestroyNotify notify);
COOP_AVAILABLE_IN_ALL
void          coop_loop_call_soon_threadsafe (CoopLoop     *loop,
                                              CoopCallback  callback,
                                              gpointer      user_data,
                                              GDestroyNotify notify);

COOP_AVAILABLE_IN_ALL
gboolean      coop_loop_run_until_complete   (CoopLoop     *loop,
                                              CoopFuture   *future,
                                              GError      **error);
COOP_AVAILABLE_IN_ALL
void          coop_loop_run_forever          (CoopLoop     *loop);
COOP_AVAILABLE_IN_ALL
void          coop_loop_stop                 (CoopLoop     *loop);
COOP_AVAILABLE_IN_ALL
gboolean      coop_loop_is_running           (CoopLoop     *loop);
COOP_AVAILABLE_IN_ALL
void          coop_loop_close                (CoopLoop     *loop);
COOP_AVAILABLE_IN_ALL
gboolean      coop_loop_is_closed            (CoopLoop     *loop);
COOP_AVAILABLE_IN_ALL
gboolean      coop_loop_shutdown             (CoopLoop     *loop,
                                              gint64        timeout_usec,
                                              GError      **error);

COOP_AVAILABLE_IN_ALL
GList        *coop_loop_list_tasks           (CoopLoop     *loop);
COOP_AVAILABLE_IN_ALL
void          coop_loop_set_exception_handler (CoopLoop            *loop,
                                               CoopExceptionHandler handler,
                                               gpointer             user_data,
                                               GDestroyNotify       notify);
COOP_AVAILABLE_IN_ALL
void          coop_loop_report_exception     (CoopLoop     *loop,
                                              const char   *message,
                                              CoopFuture   *future,
                                              const GError *error);

COOP_AVAILABLE_IN_ALL
CoopHandle   *coop_handle_ref                (CoopHandle   *handle);
COOP_AVAILABLE_IN_ALL
void          coop_handle_unref              (CoopHandle   *handle);
COOP_AVAILABLE_IN_ALL
void          coop_handle_cancel             (CoopHandle   *handle);
COOP_AVAILABLE_IN_ALL
gboolean      coop_handle_is_cancelled       (CoopHandle   *handle);
COOP_AVAILABLE_IN_ALL
gint64        coop_handle_get_when           (CoopHandle   *handle);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CoopHandle, coop_handle_unref)

G_END_DECLS
