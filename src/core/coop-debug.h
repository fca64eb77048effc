/* coop-debug.h: seeing what a loop's tasks do, and debug mode.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-loop.h"

G_BEGIN_DECLS

/**
 * CoopDebugFlags:
 * @COOP_DEBUG_NONE: debug mode off
 * @COOP_DEBUG_SLOW: warn about callbacks and task steps that run longer
 *   than [method@Coop.Loop.set_slow_duration] (100 ms unless changed)
 * @COOP_DEBUG_NEVER_RETRIEVED: name where a failed future whose error
 *   nobody read was created (the warning itself is always given)
 * @COOP_DEBUG_NEVER_AWAITED: warn about tasks finalized without anyone
 *   having awaited them, watched them or read their result
 * @COOP_DEBUG_DESTROY_PENDING: when a pending task is destroyed (its loop
 *   closed), say what it awaited, where it was created and where its stack
 *   stood
 * @COOP_DEBUG_STALL: a watchdog thread warns when one callback or task
 *   step holds the loop longer than [method@Coop.Loop.set_stall_duration]
 *   (1 s unless changed)
 * @COOP_DEBUG_BACKTRACES: record where every future and task is created,
 *   and show the stacks of paused tasks in [method@Coop.Loop.dump_tasks]
 *
 * What debug mode checks, from [method@Coop.Loop.set_debug] or the
 * `COOP_DEBUG` environment variable (`COOP_DEBUG=slow,stall`,
 * `COOP_DEBUG=all`, `COOP_DEBUG=help`).  Every flag but
 * %COOP_DEBUG_STALL also records where futures and tasks are created (a
 * few return addresses each), which makes creating them slower.
 */
typedef enum /*< flags >*/
{
  COOP_DEBUG_NONE            = 0,
  COOP_DEBUG_SLOW            = 1 << 0,
  COOP_DEBUG_NEVER_RETRIEVED = 1 << 1,
  COOP_DEBUG_NEVER_AWAITED   = 1 << 2,
  COOP_DEBUG_DESTROY_PENDING = 1 << 3,
  COOP_DEBUG_STALL           = 1 << 4,
  COOP_DEBUG_BACKTRACES      = 1 << 5,
} CoopDebugFlags;

COOP_AVAILABLE_IN_ALL
GType coop_debug_flags_get_type (void) G_GNUC_CONST;
#define COOP_TYPE_DEBUG_FLAGS (coop_debug_flags_get_type ())

COOP_AVAILABLE_IN_ALL
void            coop_loop_set_debug            (CoopLoop       *loop,
                                                CoopDebugFlags  flags);
COOP_AVAILABLE_IN_ALL
CoopDebugFlags  coop_loop_get_debug            (CoopLoop       *loop);
COOP_AVAILABLE_IN_ALL
void            coop_loop_set_slow_duration    (CoopLoop       *loop,
                                                gint64          duration_usec);
COOP_AVAILABLE_IN_ALL
gint64          coop_loop_get_slow_duration    (CoopLoop       *loop);
COOP_AVAILABLE_IN_ALL
void            coop_loop_set_stall_duration   (CoopLoop       *loop,
                                                gint64          duration_usec);
COOP_AVAILABLE_IN_ALL
gint64          coop_loop_get_stall_duration   (CoopLoop       *loop);

COOP_AVAILABLE_IN_ALL
char           *coop_loop_dump_tasks           (CoopLoop       *loop);
COOP_AVAILABLE_IN_ALL
gboolean        coop_loop_dump_tasks_to_fd     (CoopLoop       *loop,
                                                int             fd);
COOP_AVAILABLE_IN_ALL
gboolean        coop_loop_install_dump_signal  (CoopLoop       *loop,
                                                int             signum);

G_END_DECLS
