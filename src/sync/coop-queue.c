/* coop-queue.c: a queue between tasks, with back-pressure.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"

/**
 * CoopQueue:
 *
 * A queue of items between tasks, as asyncio's `Queue`, `LifoQueue` and
 * `PriorityQueue` (with the `shutdown()` of Python 3.13).
 *
 * Items are #GValues, copied in ([method@Coop.Queue.put]), or, from C,
 * pointers with a destroy notify (`coop_queue_put_pointer()`), which the
 * queue owns until the item is taken.  [method@Coop.Queue.get] returns a
 * future that finishes with the next item: read it with
 * [method@Coop.Future.get_value] or the typed getters
 * ([method@Coop.Future.get_int64], [method@Coop.Future.get_string],
 * `coop_future_get_pointer()`...).  A pointer item belongs to that future
 * and is freed with it.
 *
 * ```c
 * static void
 * consumer (CoopTask *task, gpointer user_data)
 * {
 *   CoopQueue *queue = user_data;
 *
 *   for (;;)
 *     {
 *       g_autoptr(CoopFuture) item = coop_queue_get (queue);
 *
 *       if (!coop_await (item, NULL))
 *         break;   // shut down (or cancelled)
 *       handle (coop_future_get_int64 (item, NULL));
 *       coop_queue_task_done (queue);
 *     }
 * }
 * ```
 *
 * A queue made with a [property@Coop.Queue:maxsize] holds at most that
 * many items: a [method@Coop.Queue.put] on a full queue returns a pending
 * future that finishes once the item has entered the queue, when a
 * [method@Coop.Queue.get] made room (back-pressure).  Waiting putters are
 * served first in, first out, and so are waiting getters.  An item put
 * while a getter waits goes straight to the oldest getter.
 *
 * The [property@Coop.Queue:order] says which item comes out next: the
 * oldest (%COOP_QUEUE_FIFO), the newest (%COOP_QUEUE_LIFO) or the one with
 * the lowest priority number (%COOP_QUEUE_PRIORITY; the oldest among equal
 * priorities).
 *
 * [method@Coop.Queue.task_done] and [method@Coop.Queue.join] count the items
 * that consumers have finished with, and [method@Coop.Queue.shutdown] ends
 * the queue: later puts fail with %COOP_ERROR_QUEUE_SHUT_DOWN, and getters
 * fail with that error once no item is left.
 *
 * Cancellation is safe at every waiting point.  A cancelled getter leaves
 * the queue; a getter whose task is cancelled after an item was handed to
 * it but before it resumed puts the item back where it came from (the
 * front of the queue), so another consumer gets it; a cancelled putter's
 * item is released without ever entering the queue.  A put whose future
 * has finished has added its item, even if the awaiting task is cancelled
 * before it resumes: the future's state tells whether the item was put.
 *
 * A queue belongs to the thread of its loop.  When it is finalized, the
 * futures still waiting on it are cancelled and the items it holds are
 * released.
 */

/* --- items ------------------------------------------------------------------------- */

typedef struct
{
  GValue          value;
  GDestroyNotify  notify;     /* owns the G_TYPE_POINTER value when set */
  int             priority;   /* PRIORITY order only */
  guint64         seq;        /* PRIORITY order only: FIFO among equals */
} QueueItem;

static void
queue_item_release (QueueItem *item)
{
  if (item->notify != NULL)
    item->notify (g_value_get_pointer (&item->value));
  item->notify = NULL;
  if (G_IS_VALUE (&item->value))
    g_value_unset (&item->value);
}

/* --- waiters ------------------------------------------------------------------------
 *
 * Getters are futures of a private subclass, so everything about one lives
 * in the object: its link in the queue, the waiter that notices it was
 * cancelled, and, once an item was delivered, what is needed to put the
 * item back.  Putters and joiners are plain (recycled) futures with a
 * small record beside them. */

#define COOP_TYPE_QUEUE_GETTER (coop_queue_getter_get_type ())
G_DECLARE_FINAL_TYPE (CoopQueueGetter, coop_queue_getter, COOP, QUEUE_GETTER, CoopFuture)

struct _CoopQueueGetter
{
  CoopFuture      parent_instance;

  CoopWaiter      waiter;     /* on itself, while queued: notices a cancellation */
  GList           link;       /* in queue->getters */
  CoopQueue      *queue;      /* while queued; the queue holds a reference on us */
  gpointer        pointer;    /* a delivered pointer item, owned while notify is set */
  GDestroyNotify  notify;
  int             priority;   /* of the delivered item, to put it back */
  guint64         seq;
};

G_DEFINE_FINAL_TYPE (CoopQueueGetter, coop_queue_getter, COOP_TYPE_FUTURE)

typedef struct
{
  CoopWaiter   waiter;     /* on future: notices a cancellation */
  GList        link;       /* in list */
  GQueue      *list;       /* queue->putters or queue->joiners */
  CoopQueue   *queue;      /* borrowed: the queue holds the pending entry */
  CoopFuture  *future;     /* strong */
  QueueItem    item;       /* putters only */
} Pending;

struct _CoopQueue
{
  GObject         parent_instance;

  CoopLoop       *loop;
  guint           maxsize;
  CoopQueueOrder  order;

  /* FIFO and LIFO: a ring of capacity slots (a power of two) starting at
   * head.  PRIORITY: a binary min-heap in items[0 .. size - 1]. */
  QueueItem      *items;
  guint           capacity;
  guint           head;
  guint           size;
  guint64         next_seq;

  GQueue          getters;     /* CoopQueueGetter, oldest first */
  GQueue          putters;     /* Pending, oldest first */
  GQueue          joiners;     /* Pending */
  guint           unfinished;  /* items put and not yet marked done */
  guint           shut_down : 1;
  guint           dropping : 1;  /* shut down immediately: items are dropped */
};

enum {
  PROP_0,
  PROP_LOOP,
  PROP_MAXSIZE,
  PROP_ORDER,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (CoopQueue, coop_queue, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (CoopQueueOrder, coop_queue_order,
  G_DEFINE_ENUM_VALUE (COOP_QUEUE_FIFO, "fifo"),
  G_DEFINE_ENUM_VALUE (COOP_QUEUE_LIFO, "lifo"),
  G_DEFINE_ENUM_VALUE (COOP_QUEUE_PRIORITY, "priority"))

/* --- storage ------------------------------------------------------------------------ */

static void
items_grow (CoopQueue *queue)
{
  guint capacity = queue->capacity > 0 ? queue->capacity * 2 : 16;
  QueueItem *items = g_new (QueueItem, capacity);
  guint i;

  /* Unwrap the ring (a heap has head == 0 and never wraps). */
  for (i = 0; i < queue->size; i++)
    items[i] = queue->items[(queue->head + i) & (queue->capacity - 1)];
  g_free (queue->items);
  queue->items = items;
  queue->capacity = capacity;
  queue->head = 0;
}

static inline gboolean
item_before (const QueueItem *a,
             const QueueItem *b)
{
  return a->priority < b->priority || (a->priority == b->priority && a->seq < b->seq);
}

/* Moves *item into the storage.  @front puts it where the next item comes
 * out (where an item given back came from); a priority item keeps its
 * place through its priority and sequence number. */
static void
items_push (CoopQueue *queue,
            QueueItem *item,
            gboolean   front)
{
  guint mask;

  if (queue->size == queue->capacity)
    items_grow (queue);
  mask = queue->capacity - 1;

  switch (queue->order)
    {
    case COOP_QUEUE_PRIORITY:
      {
        guint i = queue->size;

        while (i > 0)
          {
            guint parent = (i - 1) / 2;

            if (!item_before (item, &queue->items[parent]))
              break;
            queue->items[i] = queue->items[parent];
            i = parent;
          }
        queue->items[i] = *item;
      }
      break;
    case COOP_QUEUE_FIFO:
      if (front)
        {
          queue->head = (queue->head - 1) & mask;
          queue->items[queue->head] = *item;
          break;
        }
      G_GNUC_FALLTHROUGH;
    case COOP_QUEUE_LIFO:
    default:
      /* LIFO's front is its top, where every item goes in. */
      queue->items[(queue->head + queue->size) & mask] = *item;
      break;
    }
  queue->size++;
}

/* The item that comes out next. */
static QueueItem *
items_peek (CoopQueue *queue)
{
  g_assert (queue->size > 0);

  switch (queue->order)
    {
    case COOP_QUEUE_PRIORITY:
      return &queue->items[0];
    case COOP_QUEUE_LIFO:
      return &queue->items[(queue->head + queue->size - 1) & (queue->capacity - 1)];
    case COOP_QUEUE_FIFO:
    default:
      return &queue->items[queue->head];
    }
}

/* Moves the next item out into *out. */
static void
items_pop (CoopQueue *queue,
           QueueItem *out)
{
  g_assert (queue->size > 0);

  switch (queue->order)
    {
    case COOP_QUEUE_PRIORITY:
      {
        QueueItem *items = queue->items;
        guint size = --queue->size;
        guint i = 0;

        *out = items[0];
        if (size == 0)
          break;
        for (;;)
          {
            guint child = 2 * i + 1;

            if (child >= size)
              break;
            if (child + 1 < size && item_before (&items[child + 1], &items[child]))
              child++;
            if (!item_before (&items[child], &items[size]))
              break;
            items[i] = items[child];
            i = child;
          }
        items[i] = items[size];
      }
      break;
    case COOP_QUEUE_LIFO:
      queue->size--;
      *out = queue->items[(queue->head + queue->size) & (queue->capacity - 1)];
      break;
    case COOP_QUEUE_FIFO:
    default:
      *out = queue->items[queue->head];
      queue->head = (queue->head + 1) & (queue->capacity - 1);
      queue->size--;
      break;
    }
}

static inline gboolean
queue_full (CoopQueue *queue)
{
  return queue->maxsize > 0 && queue->size >= queue->maxsize;
}

static GError *
shut_down_error_new (void)
{
  return g_error_new_literal (COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN, "The queue was shut down");
}

/* --- getters ------------------------------------------------------------------------- */

static void
getter_waiter_fired (CoopWaiter *waiter,
                     CoopFuture *future)
{
  CoopQueueGetter *getter = waiter->data;
  CoopQueue *queue = getter->queue;

  /* Completed while queued: cancelled by its task (or someone else).  The
   * one who completed it holds a reference, so dropping the queue's is
   * safe here. */
  if (queue == NULL)
    return;
  g_queue_unlink (&queue->getters, &getter->link);
  getter->queue = NULL;
  g_object_unref (getter);
}

static void
coop_queue_getter_init (CoopQueueGetter *getter)
{
  getter->waiter.func = getter_waiter_fired;
  getter->waiter.data = getter;
  getter->link.data = getter;
}

static void
coop_queue_getter_finalize (GObject *object)
{
  CoopQueueGetter *getter = COOP_QUEUE_GETTER (object);

  /* A delivered pointer item is freed with the future. */
  if (getter->notify != NULL)
    getter->notify (getter->pointer);

  G_OBJECT_CLASS (coop_queue_getter_parent_class)->finalize (object);
}

static void
coop_queue_getter_class_init (CoopQueueGetterClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = coop_queue_getter_finalize;
}

/* Takes the oldest waiting getter out of the queue, with the queue's
 * reference. */
static CoopQueueGetter *
getters_pop (CoopQueue *queue)
{
  GList *link = g_queue_pop_head_link (&queue->getters);
  CoopQueueGetter *getter = link->data;

  coop_future_remove_waiter (COOP_FUTURE (getter), &getter->waiter);
  getter->queue = NULL;
  return getter;
}

static void getter_undo (CoopFuture *future,
                         gpointer    data);

/* Finishes @getter with the item, which moves into the future.  If the
 * task awaiting it is cancelled before it resumes, coop_await() runs the
 * undo function, which puts the item back. */
static void
getter_deliver (CoopQueue       *queue,
                CoopQueueGetter *getter,
                QueueItem       *item)
{
  CoopFuture *future = COOP_FUTURE (getter);

  getter->priority = item->priority;
  getter->seq = item->seq;
  coop_future_set_undo (future, getter_undo, g_object_ref (queue), g_object_unref);
  if (item->notify != NULL)
    {
      /* The getter owns the pointer from now on; the future only shows it. */
      getter->pointer = g_value_get_pointer (&item->value);
      getter->notify = item->notify;
      item->notify = NULL;
      coop_future_set_pointer (future, getter->pointer, NULL);
    }
  else
    coop_future_set_value (future, &item->value);
  g_value_unset (&item->value);
}

static void
finish_joiners (CoopQueue *queue)
{
  GList *link;

  while ((link = g_queue_pop_head_link (&queue->joiners)) != NULL)
    {
      Pending *joiner = link->data;

      coop_future_remove_waiter (joiner->future, &joiner->waiter);
      coop_future_set_none (joiner->future);
      g_object_unref (joiner->future);
      g_free (joiner);
    }
}

static void
count_done (CoopQueue *queue)
{
  queue->unfinished--;
  if (queue->unfinished == 0)
    finish_joiners (queue);
}

/* An item that was delivered comes back (its getter's task was cancelled
 * before it resumed): it goes to the oldest waiting getter, or to the
 * front of the queue.  The queue may briefly hold one more item than its
 * maxsize. */
static void
queue_give_back (CoopQueue *queue,
                 QueueItem *item)
{
  if (queue->dropping)
    {
      queue_item_release (item);
      if (queue->unfinished > 0)
        count_done (queue);
    }
  else if (queue->getters.head != NULL)
    {
      CoopQueueGetter *getter = getters_pop (queue);

      getter_deliver (queue, getter, item);
      g_object_unref (getter);
    }
  else
    items_push (queue, item, TRUE);
}

static void
getter_undo (CoopFuture *future,
             gpointer    data)
{
  CoopQueueGetter *getter = COOP_QUEUE_GETTER (future);
  CoopQueue *queue = data;
  QueueItem item = { G_VALUE_INIT, NULL, getter->priority, getter->seq };

  if (getter->notify != NULL)
    {
      g_value_init (&item.value, G_TYPE_POINTER);
      g_value_set_pointer (&item.value, getter->pointer);
      item.notify = getter->notify;
      getter->notify = NULL;
      getter->pointer = NULL;
    }
  else
    {
      const GValue *value = coop_future_get_value (future, NULL);

      g_assert (value != NULL);
      g_value_init (&item.value, G_VALUE_TYPE (value));
      g_value_copy (value, &item.value);
    }
  queue_give_back (queue, &item);
}

/* --- putters and joiners ------------------------------------------------------------------ */

static void
pending_waiter_fired (CoopWaiter *waiter,
                      CoopFuture *future)
{
  Pending *pending = waiter->data;

  /* Completed while queued: cancelled.  A putter's item never entered the
   * queue; release it. */
  g_queue_unlink (pending->list, &pending->link);
  queue_item_release (&pending->item);
  g_object_unref (pending->future);
  g_free (pending);
}

static void
queue_describe (CoopFuture *future,
                gpointer    data,
                GString    *out)
{
  CoopQueue *queue;
  const char *what;

  if (COOP_IS_QUEUE_GETTER (future))
    {
      queue = data;
      what = "get";
    }
  else
    {
      Pending *pending = data;

      queue = pending->queue;
      what = pending->list == &queue->putters ? "put" : "join";
    }

  g_string_append_printf (out, "queue %p %s (size %u", (gpointer) queue, what, queue->size);
  if (queue->maxsize > 0)
    g_string_append_printf (out, "/%u", queue->maxsize);
  g_string_append_printf (out, ", %u getters, %u putters waiting, %u unfinished%s)",
                          queue->getters.length, queue->putters.length, queue->unfinished,
                          queue->shut_down ? ", shut down" : "");
}

static Pending *
pending_new (CoopQueue *queue,
             GQueue    *list)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->waiter.func = pending_waiter_fired;
  pending->waiter.data = pending;
  pending->link.data = pending;
  pending->list = list;
  pending->queue = queue;
  pending->future = coop_future_new (queue->loop);
  coop_future_set_describe (pending->future, queue_describe, pending);
  coop_future_add_waiter (pending->future, &pending->waiter);
  g_queue_push_tail_link (list, &pending->link);
  return pending;
}

/* Room was made: the oldest waiting putters move their items in. */
static void
admit_putters (CoopQueue *queue)
{
  GList *link;

  while (!queue_full (queue) && (link = g_queue_pop_head_link (&queue->putters)) != NULL)
    {
      Pending *putter = link->data;

      coop_future_remove_waiter (putter->future, &putter->waiter);
      putter->item.seq = queue->next_seq++;
      items_push (queue, &putter->item, FALSE);
      queue->unfinished++;
      coop_future_set_none (putter->future);
      g_object_unref (putter->future);
      g_free (putter);
    }
}

/* --- GObject -------------------------------------------------------------------------- */

static void
coop_queue_init (CoopQueue *queue)
{
  g_queue_init (&queue->getters);
  g_queue_init (&queue->putters);
  g_queue_init (&queue->joiners);
}

static void
coop_queue_constructed (GObject *object)
{
  CoopQueue *queue = COOP_QUEUE (object);

  G_OBJECT_CLASS (coop_queue_parent_class)->constructed (object);

  if (queue->loop == NULL)
    queue->loop = g_object_ref (coop_loop_get_default ());
}

static void
coop_queue_finalize (GObject *object)
{
  CoopQueue *queue = COOP_QUEUE (object);
  GList *link;
  QueueItem item;

  /* Getters that were given an item hold a reference on the queue (for
   * their undo function), so those left are all still waiting. */
  while (queue->getters.head != NULL)
    {
      CoopQueueGetter *getter = getters_pop (queue);

      coop_future_cancel (COOP_FUTURE (getter), "The queue was destroyed");
      g_object_unref (getter);
    }
  while ((link = g_queue_pop_head_link (&queue->putters)) != NULL)
    {
      Pending *putter = link->data;

      coop_future_remove_waiter (putter->future, &putter->waiter);
      queue_item_release (&putter->item);
      coop_future_cancel (putter->future, "The queue was destroyed");
      g_object_unref (putter->future);
      g_free (putter);
    }
  while ((link = g_queue_pop_head_link (&queue->joiners)) != NULL)
    {
      Pending *joiner = link->data;

      coop_future_remove_waiter (joiner->future, &joiner->waiter);
      coop_future_cancel (joiner->future, "The queue was destroyed");
      g_object_unref (joiner->future);
      g_free (joiner);
    }
  while (queue->size > 0)
    {
      items_pop (queue, &item);
      queue_item_release (&item);
    }
  g_free (queue->items);
  g_clear_object (&queue->loop);

  G_OBJECT_CLASS (coop_queue_parent_class)->finalize (object);
}

static void
coop_queue_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  CoopQueue *queue = COOP_QUEUE (object);

  switch (prop_id)
    {
    case PROP_LOOP:
      g_value_set_object (value, queue->loop);
      break;
    case PROP_MAXSIZE:
      g_value_set_uint (value, queue->maxsize);
      break;
    case PROP_ORDER:
      g_value_set_enum (value, queue->order);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_queue_set_property (GObject      *object,
                         guint         prop_id,
                         const GValue *value,
                         GParamSpec   *pspec)
{
  CoopQueue *queue = COOP_QUEUE (object);

  switch (prop_id)
    {
    case PROP_LOOP:
      queue->loop = g_value_dup_object (value);
      break;
    case PROP_MAXSIZE:
      queue->maxsize = g_value_get_uint (value);
      break;
    case PROP_ORDER:
      queue->order = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_queue_class_init (CoopQueueClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = coop_queue_constructed;
  object_class->finalize = coop_queue_finalize;
  object_class->get_property = coop_queue_get_property;
  object_class->set_property = coop_queue_set_property;

  /**
   * CoopQueue:loop:
   *
   * The loop the queue's futures belong to.  When not given at
   * construction, the default loop of the thread
   * ([func@Coop.Loop.get_default]).
   */
  properties[PROP_LOOP] =
    g_param_spec_object ("loop", NULL, NULL,
                         COOP_TYPE_LOOP,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * CoopQueue:maxsize:
   *
   * How many items the queue holds at most; 0 means no limit.
   */
  properties[PROP_MAXSIZE] =
    g_param_spec_uint ("maxsize", NULL, NULL,
                       0, G_MAXUINT, 0,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * CoopQueue:order:
   *
   * Which item comes out next.
   */
  properties[PROP_ORDER] =
    g_param_spec_enum ("order", NULL, NULL,
                       COOP_TYPE_QUEUE_ORDER, COOP_QUEUE_FIFO,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

/* --- public API ------------------------------------------------------------------------ */

/**
 * coop_queue_new:
 * @loop: (nullable): the loop the queue's futures belong to, or %NULL for
 *   the default loop of the thread
 * @maxsize: how many items the queue holds at most, or 0 for no limit
 * @order: which item comes out next
 *
 * Creates an empty queue.
 *
 * Returns: (transfer full): a new queue
 */
CoopQueue *
coop_queue_new (CoopLoop       *loop,
                guint           maxsize,
                CoopQueueOrder  order)
{
  g_return_val_if_fail (loop == NULL || COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail ((guint) order <= COOP_QUEUE_PRIORITY, NULL);

  return g_object_new (COOP_TYPE_QUEUE,
                       "loop", loop,
                       "maxsize", maxsize,
                       "order", order,
                       NULL);
}

static CoopFuture *
finished_future_new (CoopQueue *queue)
{
  CoopFuture *future = coop_future_new (queue->loop);

  coop_future_set_none (future);
  return future;
}

/* Puts an item, which moves in, without waiting.  Returns FALSE (and
 * leaves the item alone) if the queue is full or shut down. */
static gboolean
try_put (CoopQueue  *queue,
         QueueItem  *item,
         GError    **error)
{
  if (queue->shut_down)
    {
      g_propagate_error (error, shut_down_error_new ());
      return FALSE;
    }
  if (queue->getters.head != NULL)
    {
      CoopQueueGetter *getter = getters_pop (queue);

      /* Hand-off: a getter waits only while the queue is empty. */
      queue->unfinished++;
      item->seq = queue->next_seq++;
      getter_deliver (queue, getter, item);
      g_object_unref (getter);
      return TRUE;
    }
  if (queue_full (queue))
    {
      g_set_error (error, COOP_ERROR, COOP_ERROR_QUEUE_FULL,
                   "The queue is full (%u items)", queue->maxsize);
      return FALSE;
    }
  item->seq = queue->next_seq++;
  items_push (queue, item, FALSE);
  queue->unfinished++;
  return TRUE;
}

/* Puts an item, which moves in, and returns the future of the put. */
static CoopFuture *
put_item (CoopQueue *queue,
          QueueItem *item)
{
  CoopFuture *future;
  Pending *putter;

  if (queue->shut_down)
    {
      queue_item_release (item);
      future = coop_future_new (queue->loop);
      coop_future_take_error (future, shut_down_error_new ());
      return future;
    }
  if (try_put (queue, item, NULL))
    return finished_future_new (queue);

  /* Full: wait for room, behind the putters already waiting. */
  putter = pending_new (queue, &queue->putters);
  putter->item = *item;
  return g_object_ref (putter->future);
}

static void
value_item_init (QueueItem    *item,
                 const GValue *value,
                 int           priority)
{
  item->value = (GValue) G_VALUE_INIT;
  g_value_init (&item->value, G_VALUE_TYPE (value));
  g_value_copy (value, &item->value);
  item->notify = NULL;
  item->priority = priority;
  item->seq = 0;
}

static void
pointer_item_init (QueueItem      *item,
                   gpointer        data,
                   GDestroyNotify  notify,
                   int             priority)
{
  item->value = (GValue) G_VALUE_INIT;
  g_value_init (&item->value, G_TYPE_POINTER);
  g_value_set_pointer (&item->value, data);
  item->notify = notify;
  item->priority = priority;
  item->seq = 0;
}

/**
 * coop_queue_put:
 * @queue: a queue
 * @value: the item, copied
 * @priority: the item's priority for a %COOP_QUEUE_PRIORITY queue (lower
 *   numbers come out first); ignored by the other orders
 *
 * Puts an item into @queue, waiting for room if the queue is full.
 *
 * The returned future finishes once the item is in the queue (or was
 * handed to a waiting getter): at once if there is room, otherwise when a
 * get makes room, after the putters that were waiting before.  It fails
 * with %COOP_ERROR_QUEUE_SHUT_DOWN if the queue is, or gets, shut down
 * first.  Cancelling it while it waits drops the item.
 *
 * Returns: (transfer full): a future that finishes, with no value, once
 *   the item is in the queue
 */
CoopFuture *
coop_queue_put (CoopQueue    *queue,
                const GValue *value,
                int           priority)
{
  QueueItem item;

  g_return_val_if_fail (COOP_IS_QUEUE (queue), NULL);
  g_return_val_if_fail (G_IS_VALUE (value), NULL);
  coop_return_val_if_wrong_thread (queue->loop, COOP_INSTEAD_THREADSAFE, NULL);

  value_item_init (&item, value, priority);
  return put_item (queue, &item);
}

/**
 * coop_queue_put_nowait:
 * @queue: a queue
 * @value: the item, copied
 * @priority: the item's priority for a %COOP_QUEUE_PRIORITY queue (lower
 *   numbers come out first); ignored by the other orders
 * @error: return location for an error
 *
 * Puts an item into @queue if there is room now: otherwise fails with
 * %COOP_ERROR_QUEUE_FULL (or %COOP_ERROR_QUEUE_SHUT_DOWN once the queue
 * was shut down).
 *
 * Returns: whether the item was put
 */
gboolean
coop_queue_put_nowait (CoopQueue     *queue,
                       const GValue  *value,
                       int            priority,
                       GError       **error)
{
  QueueItem item;

  g_return_val_if_fail (COOP_IS_QUEUE (queue), FALSE);
  g_return_val_if_fail (G_IS_VALUE (value), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  coop_return_val_if_wrong_thread (queue->loop, COOP_INSTEAD_THREADSAFE, FALSE);

  value_item_init (&item, value, priority);
  if (try_put (queue, &item, error))
    return TRUE;
  queue_item_release (&item);
  return FALSE;
}

/**
 * coop_queue_put_pointer: (skip)
 * @queue: a queue
 * @data: (nullable) (transfer full): the item
 * @notify: (nullable): frees @data
 * @priority: the item's priority for a %COOP_QUEUE_PRIORITY queue (lower
 *   numbers come out first); ignored by the other orders
 *
 * Puts a pointer into @queue, as [method@Coop.Queue.put] does with a
 * #GValue.  The queue owns @data until it is taken: the future of
 * [method@Coop.Queue.get] that receives it frees it, with @notify, when it
 * is finalized (read it with `coop_future_get_pointer()`), and
 * `coop_queue_get_pointer_nowait()` hands it over with its @notify.  An
 * item that never enters the queue (the put failed or was cancelled) or
 * that is dropped (the queue was shut down immediately or finalized) is
 * freed with @notify.
 *
 * Returns: (transfer full): a future that finishes, with no value, once
 *   the item is in the queue
 */
CoopFuture *
coop_queue_put_pointer (CoopQueue      *queue,
                        gpointer        data,
                        GDestroyNotify  notify,
                        int             priority)
{
  QueueItem item;

  g_return_val_if_fail (COOP_IS_QUEUE (queue), NULL);
  coop_return_val_if_wrong_thread (queue->loop, COOP_INSTEAD_THREADSAFE, NULL);

  pointer_item_init (&item, data, notify, priority);
  return put_item (queue, &item);
}

/**
 * coop_queue_put_pointer_nowait: (skip)
 * @queue: a queue
 * @data: (nullable): the item
 * @notify: (nullable): frees @data
 * @priority: the item's priority for a %COOP_QUEUE_PRIORITY queue (lower
 *   numbers come out first); ignored by the other orders
 * @error: return location for an error
 *
 * Puts a pointer into @queue if there is room now, as
 * [method@Coop.Queue.put_nowait] does with a #GValue.  On success the queue
 * owns @data (see `coop_queue_put_pointer()`); on failure
 * (%COOP_ERROR_QUEUE_FULL, %COOP_ERROR_QUEUE_SHUT_DOWN) nothing is freed
 * and @data stays the caller's.
 *
 * Returns: whether the item was put
 */
gboolean
coop_queue_put_pointer_nowait (CoopQueue      *queue,
                               gpointer        data,
                               GDestroyNotify  notify,
                               int             priority,
                               GError        **error)
{
  QueueItem item;

  g_return_val_if_fail (COOP_IS_QUEUE (queue), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  coop_return_val_if_wrong_thread (queue->loop, COOP_INSTEAD_THREADSAFE, FALSE);

  pointer_item_init (&item, data, notify, priority);
  if (try_put (queue, &item, error))
    return TRUE;
  g_value_unset (&item.value);   /* the pointer stays the caller's */
  return FALSE;
}

/* A get that finds an item ready returns a plain (recyclable) future, with
 * an undo that puts the item back where it was. */
typedef struct
{
  CoopQueue *queue;
  int        priority;
  guint64    seq;
} FastUndo;

static void
fast_undo_free (gpointer data)
{
  FastUndo *undo = data;
  g_object_unref (undo->queue);
  g_free (undo);
}

static void
fast_undo (CoopFuture *future,
           gpointer    data)
{
  FastUndo *undo = data;
  QueueItem item = { G_VALUE_INIT, NULL, undo->priority, undo->seq };
  const GValue *value = coop_future_get_value (future, NULL);

  g_value_init (&item.value, G_VALUE_TYPE (value));
  g_value_copy (value, &item.value);
  queue_give_back (undo->queue, &item);
}

/**
 * coop_queue_get:
 * @queue: a queue
 *
 * Takes the next item out of @queue, waiting for one if the queue is empty.
 *
 * The returned future finishes with the item as its result: read it with
 * [method@Coop.Future.get_value] or a typed getter.  If the queue is empty,
 * the future waits, behind the getters that were waiting before, for an
 * item to be put.  Once the queue is shut down and empty it fails with
 * %COOP_ERROR_QUEUE_SHUT_DOWN.
 *
 * Cancelling the future while it waits takes it out of the line.  If the
 * task awaiting it is cancelled after the item was delivered but before it
 * resumed, [func@Coop.await] reports the cancellation and the item goes
 * back to the front of the queue (or to the next waiting getter).
 *
 * Returns: (transfer full): a future whose result is the item
 */
CoopFuture *
coop_queue_get (CoopQueue *queue)
{
  CoopQueueGetter *getter;

  g_return_val_if_fail (COOP_IS_QUEUE (queue), NULL);
  coop_return_val_if_wrong_thread (queue->loop, COOP_INSTEAD_THREADSAFE, NULL);

  if (queue->size > 0 && items_peek (queue)->notify == NULL)
    {
      QueueItem item;
      CoopFuture *future = coop_future_new (queue->loop);
      FastUndo *undo = g_new (FastUndo, 1);

      items_pop (queue, &item);
      undo->queue = g_object_ref (queue);
      undo->priority = item.priority;
      undo->seq = item.seq;
      coop_future_set_undo (future, fast_undo, undo, fast_undo_free);
      coop_future_set_value (future, &item.value);
      g_value_unset (&item.value);
      admit_putters (queue);
      return future;
    }
  getter = coop_future_new_internal (COOP_TYPE_QUEUE_GETTER, queue->loop);
  if (queue->size > 0)
    {
      QueueItem item;

      items_pop (queue, &item);
      getter_deliver (queue, getter, &item);
      admit_putters (queue);
    }
  else if (queue->shut_down)
    coop_future_take_error (COOP_FUTURE (getter), shut_down_error_new ());
  else
    {
      coop_future_set_describe (COOP_FUTURE (getter), queue_describe, queue);
      getter->queue = queue;
      coop_future_add_waiter (COOP_FUTURE (getter), &getter->waiter);
      g_queue_push_tail_link (&queue->getters, &getter->link);
      g_object_ref (getter);   /* the queue's */
    }
  return COOP_FUTURE (getter);
}

/* The checks of the nowait getters: the next item, or NULL and an error. */
static QueueItem *
peek_nowait (CoopQueue  *queue,
             GError    **error)
{
  if (queue->size > 0)
    return items_peek (queue);
  if (queue->shut_down)
    g_propagate_error (error, shut_down_error_new ());
  else
    g_set_error_literal (error, COOP_ERROR, COOP_ERROR_QUEUE_EMPTY, "The queue is empty");
  return NULL;
}

/**
 * coop_queue_get_nowait:
 * @queue: a queue
 * @value: (out caller-allocates): an uninitialized #GValue that receives
 *   the item
 * @error: return location for an error
 *
 * Takes the next item out of @queue if there is one now: otherwise fails
 * with %COOP_ERROR_QUEUE_EMPTY (or %COOP_ERROR_QUEUE_SHUT_DOWN once the
 * queue was shut down).  The caller unsets @value.
 *
 * An item that owns a pointer (put with `coop_queue_put_pointer()` and a
 * destroy notify) cannot be handed over in a #GValue: this fails with
 * %COOP_ERROR_NO_RESULT and leaves it in the queue; take it with
 * `coop_queue_get_pointer_nowait()`.
 *
 * Returns: whether an item was taken
 */
gboolean
coop_queue_get_nowait (CoopQueue  *queue,
                       GValue     *value,
                       GError    **error)
{
  QueueItem *next;
  QueueItem item;

  g_return_val_if_fail (COOP_IS_QUEUE (queue), FALSE);
  g_return_val_if_fail (value != NULL && G_VALUE_TYPE (value) == G_TYPE_INVALID, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  coop_return_val_if_wrong_thread (queue->loop, COOP_INSTEAD_THREADSAFE, FALSE);

  next = peek_nowait (queue, error);
  if (next == NULL)
    return FALSE;
  if (next->notify != NULL)
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_NO_RESULT,
                           "The next item owns a pointer: take it with coop_queue_get_pointer_nowait()");
      return FALSE;
    }
  items_pop (queue, &item);
  *value = item.value;   /* moves in */
  admit_putters (queue);
  return TRUE;
}

/**
 * coop_queue_get_pointer_nowait: (skip)
 * @queue: a queue
 * @notify: (out) (optional) (nullable): return location for the function
 *   that frees the item
 * @error: return location for an error
 *
 * Takes the next item out of @queue if there is one now, when it is a
 * pointer (put with `coop_queue_put_pointer()`, or a %G_TYPE_POINTER
 * value).  The caller owns it from now on and frees it with @notify.
 * Fails with %COOP_ERROR_QUEUE_EMPTY, %COOP_ERROR_QUEUE_SHUT_DOWN (as
 * [method@Coop.Queue.get_nowait]) or, leaving the item in the queue,
 * %COOP_ERROR_NO_RESULT if the next item is not a pointer.
 *
 * Returns: (nullable) (transfer full): the item, or %NULL with @error set
 *   (a %NULL item is returned without an error)
 */
gpointer
coop_queue_get_pointer_nowait (CoopQueue       *queue,
                               GDestroyNotify  *notify,
                               GError         **error)
{
  QueueItem *next;
  QueueItem item;
  gpointer data;

  g_return_val_if_fail (COOP_IS_QUEUE (queue), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  coop_return_val_if_wrong_thread (queue->loop, COOP_INSTEAD_THREADSAFE, NULL);

  if (notify != NULL)
    *notify = NULL;
  next = peek_nowait (queue, error);
  if (next == NULL)
    return NULL;
  if (!G_VALUE_HOLDS_POINTER (&next->value))
    {
      g_set_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT,
                   "The next item is not a pointer (it is %s)", G_VALUE_TYPE_NAME (&next->value));
      return NULL;
    }
  items_pop (queue, &item);
  data = g_value_get_pointer (&item.value);
  if (notify != NULL)
    *notify = item.notify;
  admit_putters (queue);
  return data;
}

/**
 * coop_queue_task_done:
 * @queue: a queue
 *
 * Tells @queue that a consumer has finished with an item it took, for
 * [method@Coop.Queue.join].  Calling it more times than items were put is a
 * programming error.
 */
void
coop_queue_task_done (CoopQueue *queue)
{
  g_return_if_fail (COOP_IS_QUEUE (queue));
  coop_return_if_wrong_thread (queue->loop, COOP_INSTEAD_THREADSAFE);

  if (queue->unfinished == 0)
    {
      g_critical ("coop_queue_task_done: called more times than there were items put");
      return;
    }
  count_done (queue);
}

/**
 * coop_queue_join:
 * @queue: a queue
 *
 * Waits until every item put into @queue has been marked done with
 * [method@Coop.Queue.task_done] (items dropped by an immediate
 * [method@Coop.Queue.shutdown] count as done).
 *
 * Returns: (transfer full): a future that finishes, with no value, once no
 *   item is unfinished; at once if none is
 */
CoopFuture *
coop_queue_join (CoopQueue *queue)
{
  g_return_val_if_fail (COOP_IS_QUEUE (queue), NULL);
  coop_return_val_if_wrong_thread (queue->loop, COOP_INSTEAD_THREADSAFE, NULL);

  if (queue->unfinished == 0)
    return finished_future_new (queue);
  return g_object_ref (pending_new (queue, &queue->joiners)->future);
}

/**
 * coop_queue_shutdown:
 * @queue: a queue
 * @immediate: whether to drop the items left in the queue
 *
 * Shuts @queue down, as Python 3.13's `Queue.shutdown()`.  Puts fail with
 * %COOP_ERROR_QUEUE_SHUT_DOWN from now on, and so do the putters that are
 * waiting (their items are released).  Getters keep taking the items left
 * and fail with %COOP_ERROR_QUEUE_SHUT_DOWN once the queue is empty; the
 * getters that are waiting fail at once.
 *
 * With @immediate, the items left are dropped (released, and counted as
 * done for [method@Coop.Queue.join]) first, so every getter fails.  Calling
 * it again, for example with @immediate after a first call without, is
 * allowed.
 */
void
coop_queue_shutdown (CoopQueue *queue,
                     gboolean   immediate)
{
  GList *link;

  g_return_if_fail (COOP_IS_QUEUE (queue));
  coop_return_if_wrong_thread (queue->loop, COOP_INSTEAD_THREADSAFE);

  queue->shut_down = TRUE;
  if (immediate)
    {
      QueueItem item;

      queue->dropping = TRUE;
      while (queue->size > 0)
        {
          items_pop (queue, &item);
          queue_item_release (&item);
          if (queue->unfinished > 0)
            queue->unfinished--;
        }
      if (queue->unfinished == 0)
        finish_joiners (queue);
    }

  /* Getters wait only on an empty queue: there is nothing left for them. */
  while (queue->getters.head != NULL)
    {
      CoopQueueGetter *getter = getters_pop (queue);

      coop_future_take_error (COOP_FUTURE (getter), shut_down_error_new ());
      g_object_unref (getter);
    }
  while ((link = g_queue_pop_head_link (&queue->putters)) != NULL)
    {
      Pending *putter = link->data;

      coop_future_remove_waiter (putter->future, &putter->waiter);
      queue_item_release (&putter->item);
      coop_future_take_error (putter->future, shut_down_error_new ());
      g_object_unref (putter->future);
      g_free (putter);
    }
}

/**
 * coop_queue_get_size:
 * @queue: a queue
 *
 * Gets the number of items in @queue.
 *
 * Returns: how many items @queue holds (not counting the items of waiting
 *   putters)
 */
guint
coop_queue_get_size (CoopQueue *queue)
{
  g_return_val_if_fail (COOP_IS_QUEUE (queue), 0);

  return queue->size;
}

/**
 * coop_queue_get_maxsize:
 * @queue: a queue
 *
 * Gets the capacity of @queue.
 *
 * Returns: how many items @queue holds at most, or 0 for no limit
 */
guint
coop_queue_get_maxsize (CoopQueue *queue)
{
  g_return_val_if_fail (COOP_IS_QUEUE (queue), 0);

  return queue->maxsize;
}

/**
 * coop_queue_is_empty:
 * @queue: a queue
 *
 * Tells whether @queue is empty.
 *
 * Returns: whether @queue holds no item
 */
gboolean
coop_queue_is_empty (CoopQueue *queue)
{
  g_return_val_if_fail (COOP_IS_QUEUE (queue), TRUE);

  return queue->size == 0;
}

/**
 * coop_queue_is_full:
 * @queue: a queue
 *
 * Tells whether @queue is full.
 *
 * Returns: whether @queue holds [property@Coop.Queue:maxsize] items (never
 *   for a queue without a limit)
 */
gboolean
coop_queue_is_full (CoopQueue *queue)
{
  g_return_val_if_fail (COOP_IS_QUEUE (queue), FALSE);

  return queue_full (queue);
}

/**
 * coop_queue_is_shut_down:
 * @queue: a queue
 *
 * Tells whether @queue was shut down.
 *
 * Returns: whether [method@Coop.Queue.shutdown] was called
 */
gboolean
coop_queue_is_shut_down (CoopQueue *queue)
{
  g_return_val_if_fail (COOP_IS_QUEUE (queue), FALSE);

  return queue->shut_down;
}
