/* coop-driver.h: a foreign scheduler hosted by a loop.
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
 * CoopDriverFunc:
 * @fd_ready: whether the driver's file descriptor polled readable (or hung
 *   up) in this main-loop iteration
 * @user_data: the data given to [ctor@Coop.Driver.new]
 *
 * Runs one step of a foreign scheduler.  It is called from the loop's
 * context when the driver's ready time has come or its file descriptor is
 * readable, and returns when the driver wants to run again.
 *
 * Returns: the next ready time on the monotonic clock in microseconds (see
 *   g_get_monotonic_time()): 0 to run again in the next main-loop iteration,
 *   -1 to wait for the file descriptor or a call to
 *   [method@Coop.Driver.set_ready_time]
 */
typedef gint64 (*CoopDriverFunc) (gboolean fd_ready,
                                  gpointer user_data);

#define COOP_TYPE_DRIVER (coop_driver_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopDriver, coop_driver, COOP, DRIVER, GObject)

COOP_AVAILABLE_IN_ALL
CoopDriver *coop_driver_new            (CoopLoop       *loop,
                                        int             fd,
                                        CoopDriverFunc  func,
                                        gpointer        user_data,
                                        GDestroyNotify  notify,
                                        GError        **error);
COOP_AVAILABLE_IN_ALL
CoopLoop   *coop_driver_get_loop       (CoopDriver     *driver);
COOP_AVAILABLE_IN_ALL
void        coop_driver_set_ready_time (CoopDriver     *driver,
                                        gint64          ready_time);
COOP_AVAILABLE_IN_ALL
gboolean    coop_driver_is_dispatching (CoopDriver     *driver);
COOP_AVAILABLE_IN_ALL
void        coop_driver_destroy        (CoopDriver     *driver);
COOP_AVAILABLE_IN_ALL
gboolean    coop_driver_is_destroyed   (CoopDriver     *driver);

G_END_DECLS
