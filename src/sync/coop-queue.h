/* coop-queue.h: a queue between tasks, with back-pressure.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-future.h"

G_BEGIN_DECLS

/**
 * CoopQueueOrder:
 * @COOP_QUEUE_FIFO: first in, first out (asyncio's `Queue`)
 * @COOP_QUEUE_LIFO: last in, first out (asyncio's `LifoQueue`)
 * @COOP_QUEUE_PRIORITY: lowest priority number first, FIFO among equal
 *   priorities (asyncio's `PriorityQueue`)
 *
 * The order in which a [class@Coop.Queue] hands out its items.
 */
typedef enum
{
  COOP_QUEUE_FIFO,
  COOP_QUEUE_LIFO,
  COOP_QUEUE_PRIORITY,
} CoopQueueOrder;

COOP_AVAILABLE_IN_ALL
GType coop_queue_order_get_type (void) G_GNUC_CONST;
#define COOP_TYPE_QUEUE_ORDER (coop_queue_order_get_type ())

#define COOP_TYPE_QUEUE (coop_queue_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopQueue, coop_queue, COOP, QUEUE, GObject)

COOP_AVAILABLE_IN_ALL
CoopQueue  *coop_queue_new                (CoopLoop       *loop,
                                           guint           maxsize,
                                           CoopQueueOrder  order);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_queue_put                (CoopQueue      *queue,
                                           const GValue   *value,
                                           int             priority);
COOP_AVAILABLE_IN_ALL
gboolean    coop_queue_put_nowait         (CoopQueue      *queue,
                                           const GValue   *value,
                                           int             priority,
                                           GError        **error);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_queue_put_pointer        (CoopQueue      *queue,
                                           gpointer        data,
                                           GDestroyNotify  notify,
                                           int             priority);
COOP_AVAILABLE_IN_ALL
gboolean    coop_queue_put_pointer_nowait (CoopQueue      *queue,
                                           gpointer        data,
                                           GDestroyNotify  notify,
                                           int             priority,
                                           GError        **error);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_queue_get                (CoopQueue      *queue);
COOP_AVAILABLE_IN_ALL
gboolean    coop_queue_get_nowait         (CoopQueue      *queue,
                                           GValue         *value,
                                           GError        **error);
COOP_AVAILABLE_IN_ALL
gpointer    coop_queue_get_pointer_nowait (CoopQueue      *queue,
                                           GDestroyNotify *notify,
                                           GError        **error);
COOP_AVAILABLE_IN_ALL
void        coop_queue_task_done          (CoopQueue      *queue);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_queue_join               (CoopQueue      *queue);
COOP_AVAILABLE_IN_ALL
void        coop_queue_shutdown           (CoopQueue      *queue,
                                           gboolean        immediate);
COOP_AVAILABLE_IN_ALL
guint       coop_queue_get_size           (CoopQueue      *queue);
COOP_AVAILABLE_IN_ALL
guint       coop_queue_get_maxsize        (CoopQueue      *queue);
COOP_AVAILABLE_IN_ALL
gboolean    coop_queue_is_empty           (CoopQueue      *queue);
COOP_AVAILABLE_IN_ALL
gboolean    coop_queue_is_full            (CoopQueue      *queue);
COOP_AVAILABLE_IN_ALL
gboolean    coop_queue_is_shut_down       (CoopQueue      *queue);

G_END_DECLS
