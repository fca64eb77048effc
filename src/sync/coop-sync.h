/* coop-sync.h: locks, events, semaphores and barriers for tasks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-future.h"

G_BEGIN_DECLS

#define COOP_TYPE_LOCK (coop_lock_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopLock, coop_lock, COOP, LOCK, GObject)

COOP_AVAILABLE_IN_ALL
CoopLock   *coop_lock_new          (CoopLoop  *loop);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_lock_acquire      (CoopLock  *lock);
COOP_AVAILABLE_IN_ALL
gboolean    coop_lock_try_acquire  (CoopLock  *lock);
COOP_AVAILABLE_IN_ALL
void        coop_lock_release      (CoopLock  *lock);
COOP_AVAILABLE_IN_ALL
gboolean    coop_lock_is_locked    (CoopLock  *lock);
COOP_AVAILABLE_IN_ALL
gboolean    coop_lock_lock         (CoopLock  *lock,
                                    GError   **error);

#define COOP_TYPE_EVENT (coop_event_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopEvent, coop_event, COOP, EVENT, GObject)

COOP_AVAILABLE_IN_ALL
CoopEvent  *coop_event_new         (CoopLoop  *loop);
COOP_AVAILABLE_IN_ALL
void        coop_event_set         (CoopEvent *event);
COOP_AVAILABLE_IN_ALL
void        coop_event_clear       (CoopEvent *event);
COOP_AVAILABLE_IN_ALL
gboolean    coop_event_is_set      (CoopEvent *event);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_event_wait        (CoopEvent *event);

#define COOP_TYPE_SEMAPHORE (coop_semaphore_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopSemaphore, coop_semaphore, COOP, SEMAPHORE, GObject)

COOP_AVAILABLE_IN_ALL
CoopSemaphore *coop_semaphore_new         (CoopLoop      *loop,
                                           guint          value);
COOP_AVAILABLE_IN_ALL
CoopSemaphore *coop_semaphore_new_bounded (CoopLoop      *loop,
                                           guint          value);
COOP_AVAILABLE_IN_ALL
CoopFuture    *coop_semaphore_acquire     (CoopSemaphore *semaphore);
COOP_AVAILABLE_IN_ALL
gboolean       coop_semaphore_try_acquire (CoopSemaphore *semaphore);
COOP_AVAILABLE_IN_ALL
gboolean       coop_semaphore_release     (CoopSemaphore *semaphore,
                                           GError       **error);
COOP_AVAILABLE_IN_ALL
guint          coop_semaphore_get_value   (CoopSemaphore *semaphore);
COOP_AVAILABLE_IN_ALL
gboolean       coop_semaphore_is_locked   (CoopSemaphore *semaphore);

#define COOP_TYPE_BARRIER (coop_barrier_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopBarrier, coop_barrier, COOP, BARRIER, GObject)

COOP_AVAILABLE_IN_ALL
CoopBarrier *coop_barrier_new           (CoopLoop    *loop,
                                         guint        parties);
COOP_AVAILABLE_IN_ALL
CoopFuture  *coop_barrier_wait          (CoopBarrier *barrier);
COOP_AVAILABLE_IN_ALL
void         coop_barrier_reset         (CoopBarrier *barrier);
COOP_AVAILABLE_IN_ALL
void         coop_barrier_abort         (CoopBarrier *barrier);
COOP_AVAILABLE_IN_ALL
guint        coop_barrier_get_parties   (CoopBarrier *barrier);
COOP_AVAILABLE_IN_ALL
guint        coop_barrier_get_n_waiting (CoopBarrier *barrier);
COOP_AVAILABLE_IN_ALL
gboolean     coop_barrier_is_broken     (CoopBarrier *barrier);

G_END_DECLS
