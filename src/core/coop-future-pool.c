/* coop-future-pool.c: the loop's pool of plain futures, lent again once
 * nobody holds them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-future-private.h"

#define PRIV(f) COOP_FUTURE_PRIV (f)
#define NOT_POOLED COOP_FUTURE_NOT_POOLED

/* --- recycling ---------------------------------------------------------------------
 *
 * Creating and finalizing a GObject costs a few hundred nanoseconds (GData
 * locks, class references, the notify queue), more than everything else an
 * await does.  So plain futures made with coop_future_new() on the loop's
 * thread are recycled: the loop's pool keeps one reference on each future it
 * lent, and a future whose only reference is the pool's, with no qdata (no
 * weak or toggle references, no binding wrapper) and nobody waiting, is
 * reset and lent again.
 *
 * Taking one first looks at the future a task last came back from
 * awaiting (coop_future_pool_note_awaited()): in a hand-off a task awaits
 * a future, drops it and makes the next, so that one is free again and
 * still warm in the cache, whatever else is lent meanwhile.  Otherwise it
 * looks at the oldest lent future; one still in use there moves to the tail
 * (still lent), so one held for long never blocks the others, and after
 * POOL_PROBES of them a new future is made: the ring grows with the number
 * of futures in use, with no cap (a cap made every future past it a new
 * GObject, 6x the cost of a recycled one).  Once the loop has nothing
 * ready, at most once a second, half of the futures nobody uses beyond
 * COOP_FUTURE_POOL_FLOOR are let go (coop_future_pool_trim()), so what a
 * burst made goes back within seconds of its end. */

/* Its address identifies the calling thread (see CoopFuturePool.thread). */
static COOP_TLS char pool_thread_marker;

CoopFuturePool *
coop_future_pool_new (void)
{
  CoopFuturePool *pool = g_new0 (CoopFuturePool, 1);

  pool->thread = &pool_thread_marker;
  pool->mask = 64 - 1;
  pool->ring = g_new0 (CoopFuture *, 64);
  return pool;
}

void
coop_future_pool_free (CoopFuturePool *pool)
{
  while (pool->n_tasks > 0)
    coop_object_unref_last (pool->tasks[--pool->n_tasks]);
  g_free (pool->tasks);

  for (; pool->head < pool->tail; pool->head++)
    {
      CoopFuture *future = pool->ring[pool->head & pool->mask];

      if (future != NULL)
        {
          PRIV (future)->pool_slot = NOT_POOLED;
          coop_object_unref_last (future);   /* or an unref, if still in use */
        }
    }
  g_free (pool->ring);
  g_free (pool);
}

static void
future_pool_grow (CoopFuturePool *pool)
{
  guint new_mask = pool->mask * 2 + 1;
  CoopFuture **ring = g_new0 (CoopFuture *, new_mask + 1);
  guint64 pos;

  for (pos = pool->head; pos < pool->tail; pos++)
    ring[pos & new_mask] = pool->ring[pos & pool->mask];
  g_free (pool->ring);
  pool->ring = ring;
  pool->mask = new_mask;
}

static inline gboolean
future_reclaimable (CoopFuture *future)
{
  GObject *object = G_OBJECT (future);

  return __atomic_load_n ((gint *) &object->ref_count, __ATOMIC_ACQUIRE) == 1 &&
         ((gsize) object->qdata & ~(gsize) 0x3) == 0 &&
         PRIV (future)->waiters_head == NULL;
}

/* Brings a future nobody holds any more back to a fresh pending state.
 * Only light results get here (see future_unpool()). */
static inline void
future_reset (CoopFuture *future)
{
  CoopFuturePrivate *priv = PRIV (future);

  /* Handlers connected in its previous life (even after it completed,
   * where nobody saw them) must not hear about the next one. */
  if (G_UNLIKELY (coop_object_may_have_handlers (future)))
    g_signal_handlers_destroy (future);
  /* G_IS_VALUE() takes GType's lock: test the type directly. */
  future_value_clear (&priv->value);
  if (G_UNLIKELY (priv->error != NULL))
    g_clear_error (&priv->error);
  priv->state = COOP_FUTURE_STATE_PENDING;
  priv->held_state = COOP_FUTURE_STATE_PENDING;
  priv->held = FALSE;
  priv->retrieved = FALSE;
  priv->had_handlers = FALSE;
  priv->observed = FALSE;
  priv->describe = NULL;
  priv->describe_data = NULL;
  if (G_UNLIKELY (priv->site != NULL))
    g_clear_pointer (&priv->site, coop_debug_site_free);
  if (G_UNLIKELY (priv->undo != NULL || priv->undo_notify != NULL))
    future_clear_undo (priv);
}

/* Futures still in use that future_pool_take() moves on before it makes
 * a new one. */
#define POOL_PROBES 2

/* future_pool_take() when the futures it looked at are all still in use. */
static G_GNUC_NO_INLINE CoopFuture *
future_pool_take_slow (CoopFuturePool *pool,
                       CoopLoop       *loop)
{
  CoopFuture *future;

  future = coop_future_new_internal (COOP_TYPE_FUTURE, loop);   /* the pool's reference */
  if (pool->tail - pool->head > pool->mask)
    future_pool_grow (pool);
  PRIV (future)->pool_slot = pool->tail;
  pool->ring[pool->tail++ & pool->mask] = future;
  return coop_object_ref (future);
}

CoopFuture *
coop_future_pool_take (CoopFuturePool *pool,
                       CoopLoop       *loop)
{
  CoopFuture **ring = pool->ring;
  guint64 head = pool->head;
  guint64 tail = pool->tail;
  guint mask = pool->mask;
  CoopFuture *recent = pool->recent;
  guint probes;

  if (recent != NULL)
    {
      pool->recent = NULL;
      if (G_LIKELY (future_reclaimable (recent)))
        {
          /* Lent again from where it is in the ring. */
          future_reset (recent);
          __atomic_store_n ((gint *) &G_OBJECT (recent)->ref_count, 2, __ATOMIC_RELAXED);
          return recent;
        }
    }

  for (probes = 0; probes < POOL_PROBES; probes++)
    {
      CoopFuture *oldest = NULL;

      while (head < tail && (oldest = ring[head & mask]) == NULL)
        head++;
      if (head == tail)
        break;
      /* From the head of the ring to the tail, with the pool's reference,
       * whether it is free again or still in use. */
      ring[head & mask] = NULL;
      head++;
      PRIV (oldest)->pool_slot = tail;
      ring[tail & mask] = oldest;
      tail++;
      if (G_LIKELY (future_reclaimable (oldest)))
        {
          pool->head = head;
          pool->tail = tail;
          future_reset (oldest);
          /* Nobody else holds it (count 1, no qdata), so nobody can touch
           * the count meanwhile: the caller's reference is a plain store,
           * not an atomic increment. */
          __atomic_store_n ((gint *) &G_OBJECT (oldest)->ref_count, 2, __ATOMIC_RELAXED);
          return oldest;
        }
    }
  pool->head = head;
  pool->tail = tail;
  return future_pool_take_slow (pool, loop);
}

void
coop_future_pool_trim_slow (CoopFuturePool *pool)
{
  gint64 now;
  guint64 pos, out;
  guint n_free = 0, n_kept = 0, n_drop;
  guint n = 0;

  /* Only its own thread touches the pool. */
  if (pool->thread != &pool_thread_marker)
    return;
  now = g_get_monotonic_time ();
  if (now < pool->next_trim)
    return;
  pool->next_trim = now + G_USEC_PER_SEC;
  pool->recent = NULL;
  for (pos = pool->head; pos < pool->tail; pos++)
    {
      CoopFuture *future = pool->ring[pos & pool->mask];

      if (future != NULL)
        {
          n++;
          if (future_reclaimable (future))
            n_free++;
        }
    }
  /* Half of the free ones (rounded up), keeping the floor. */
  n_drop = MIN ((n_free + 1) / 2, n > COOP_FUTURE_POOL_FLOOR ? n - COOP_FUTURE_POOL_FLOOR : 0);

  /* Compacts the ring towards its head as it goes: the slots are
   * renumbered, in order. */
  for (pos = out = pool->head; pos < pool->tail; pos++)
    {
      CoopFuture *future = pool->ring[pos & pool->mask];

      pool->ring[pos & pool->mask] = NULL;
      if (future == NULL)
        continue;
      if (n_drop > 0 && future_reclaimable (future))
        {
          n_drop--;
          PRIV (future)->pool_slot = NOT_POOLED;
          coop_object_unref_last (future);   /* the pool's, the only one */
          continue;
        }
      /* A free one kept lets go of its result now (a #GBytes), not when
       * it is next lent. */
      if (G_VALUE_TYPE (&PRIV (future)->value) != G_TYPE_INVALID && future_reclaimable (future))
        future_reset (future);
      PRIV (future)->pool_slot = out;
      pool->ring[out++ & pool->mask] = future;
      n_kept++;
    }
  pool->tail = out;

  /* A ring four times larger than what it holds shrinks by half. */
  if (pool->mask + 1 > 64 && (guint64) (pool->mask + 1) > 4 * (guint64) n_kept)
    {
      guint new_mask = pool->mask / 2;
      CoopFuture **ring = g_new0 (CoopFuture *, new_mask + 1);

      for (pos = pool->head; pos < pool->tail; pos++)
        ring[pos & new_mask] = pool->ring[pos & pool->mask];
      g_free (pool->ring);
      pool->ring = ring;
      pool->mask = new_mask;
    }
}

CoopFuturePool *
coop_future_pool_for_thread (CoopLoop *loop)
{
  CoopFuturePool *pool = coop_loop_get_future_pool (loop);

  if (G_LIKELY (pool != NULL && pool->thread == &pool_thread_marker && !coop_debug_capture))
    return pool;
  return NULL;
}

void
coop_future_pool_note_awaited (CoopFuture *future)
{
  CoopFuturePrivate *priv = PRIV (future);
  CoopFuturePool *pool;

  if (priv->pool_slot == NOT_POOLED)
    return;
  pool = coop_loop_get_future_pool (future_loop (priv));
  if (pool != NULL && pool->thread == &pool_thread_marker)
    pool->recent = future;
}

static gboolean future_result_is_light (CoopFuturePrivate *priv);

gboolean
coop_future_reset_if_unused (CoopFuture *future)
{
  CoopFuturePrivate *priv = PRIV (future);

  if (!future_reclaimable (future) || coop_object_may_have_handlers (future) ||
      priv->held || priv->site != NULL || !future_result_is_light (priv))
    return FALSE;
  future_reset (future);
  return TRUE;
}

/* Results that hold resources (an object, a boxed value, a pointer with a
 * destroy notify) or an error that must be reported if nobody reads it are
 * not kept in the pool: the pool lets go of the future as soon as it
 * completes, so it is finalized, and its result released, as soon as the
 * last user drops it.
 *
 * One boxed type is the exception: a #GBytes of at most
 * COOP_FUTURE_POOL_BYTES_MAX, the result of every stream read.  It is
 * only memory, so it may wait in a free pooled future until the pool
 * lends that future again or trims it (which resets the free futures it
 * keeps); a read then recycles its future instead of building and
 * finalizing a GObject (half of a TCP echo's cost). */
#define COOP_FUTURE_POOL_BYTES_MAX ((gsize) 64 * 1024)

static gboolean
future_result_is_light (CoopFuturePrivate *priv)
{
  GType type;

  if (priv->state == COOP_FUTURE_STATE_FAILED || priv->pointer_notify != NULL ||
      priv->undo != NULL)
    return FALSE;
  if (G_VALUE_TYPE (&priv->value) == G_TYPE_INVALID)
    return TRUE;
  if (G_VALUE_TYPE (&priv->value) == G_TYPE_BYTES)
    {
      GBytes *bytes = priv->value.data[0].v_pointer;

      return bytes == NULL || g_bytes_get_size (bytes) <= COOP_FUTURE_POOL_BYTES_MAX;
    }
  type = G_TYPE_FUNDAMENTAL (G_VALUE_TYPE (&priv->value));
  return type != G_TYPE_OBJECT && type != G_TYPE_BOXED && type != G_TYPE_VARIANT &&
         type != G_TYPE_PARAM && type != G_TYPE_INTERFACE;
}

void
coop_future_unpool (CoopFuture *future)
{
  CoopFuturePrivate *priv = PRIV (future);
  CoopFuturePool *pool;

  if (G_LIKELY (priv->pool_slot == NOT_POOLED) || future_result_is_light (priv))
    return;
  pool = coop_loop_get_future_pool (future_loop (priv));
  g_assert (pool != NULL && pool->ring[priv->pool_slot & pool->mask] == future);
  pool->ring[priv->pool_slot & pool->mask] = NULL;
  if (pool->recent == future)
    pool->recent = NULL;
  priv->pool_slot = NOT_POOLED;
  g_object_unref (future);
}

/* A plain future that left the pool only because of its undo goes back once
 * the undo is cleared (coop_await() delivered the result). */
static void
future_repool (CoopFuture *future)
{
  CoopFuturePrivate *priv = PRIV (future);
  CoopFuturePool *pool;

  if (priv->pool_slot != NOT_POOLED || G_OBJECT_TYPE (future) != COOP_TYPE_FUTURE ||
      !future_result_is_light (priv))
    return;
  pool = coop_loop_get_future_pool (future_loop (priv));
  if (pool == NULL || pool->thread != &pool_thread_marker)
    return;
  if (pool->tail - pool->head > pool->mask)
    future_pool_grow (pool);
  priv->pool_slot = pool->tail;
  pool->ring[pool->tail++ & pool->mask] = g_object_ref (future);
}

void
coop_future_clear_undo (CoopFuture *future)
{
  CoopFuturePrivate *priv = PRIV (future);

  if (priv->undo != NULL)
    {
      future_clear_undo (priv);
      future_repool (future);
    }
}
