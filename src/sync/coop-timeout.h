/* coop-timeout.h: deadlines over a block of a task (asyncio.timeout).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-task.h"

G_BEGIN_DECLS

typedef struct _CoopTimeout CoopTimeout;

#define COOP_TYPE_TIMEOUT (coop_timeout_get_type ())
COOP_AVAILABLE_IN_ALL
GType        coop_timeout_get_type       (void) G_GNUC_CONST;

COOP_AVAILABLE_IN_ALL
CoopTimeout *coop_timeout_enter          (gint64        delay_usec,
                                          GError      **error);
COOP_AVAILABLE_IN_ALL
CoopTimeout *coop_timeout_enter_at       (gint64        when_usec,
                                          GError      **error);
COOP_AVAILABLE_IN_ALL
gboolean     coop_timeout_exit           (CoopTimeout  *timeout,
                                          GError      **error);
COOP_AVAILABLE_IN_ALL
void         coop_timeout_reschedule     (CoopTimeout  *timeout,
                                          gint64        when_usec);
COOP_AVAILABLE_IN_ALL
gint64       coop_timeout_get_when       (CoopTimeout  *timeout);
COOP_AVAILABLE_IN_ALL
gboolean     coop_timeout_expired        (CoopTimeout  *timeout);
COOP_AVAILABLE_IN_ALL
CoopTimeout *coop_timeout_ref            (CoopTimeout  *timeout);
COOP_AVAILABLE_IN_ALL
void         coop_timeout_unref          (CoopTimeout  *timeout);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CoopTimeout, coop_timeout_unref)

G_END_DECLS
