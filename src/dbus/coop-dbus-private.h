/* coop-dbus-private.h: shared between the D-Bus files.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "coop-private.h"

G_BEGIN_DECLS

/* One GIO `_async` call behind a plain future (coop-dbus-call.c). */
typedef struct _CoopDBusOp CoopDBusOp;

/* Sets @future's outcome from @result; @future is NULL when it was
 * cancelled meanwhile: then only release the result. */
typedef void (*CoopDBusOpFinish) (GObject      *source,
                                  GAsyncResult *result,
                                  CoopFuture   *future);

CoopDBusOp   *coop_dbus_op_begin           (CoopLoop          *loop,
                                            const char        *what,
                                            CoopDBusOpFinish   finish,
                                            CoopFuture       **out_future,
                                            GMainContext     **pushed);
void          coop_dbus_op_end             (GMainContext      *pushed);
void          coop_dbus_op_callback        (GObject           *source,
                                            GAsyncResult      *result,
                                            gpointer           data);

G_END_DECLS
