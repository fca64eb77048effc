/* coop-future-private.h: what the futures (coop-future.c) and their pool
 * (coop-future-pool.c) share: the private part of a CoopFuture and the
 * small helpers both use.  Internal, never installed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "coop-private.h"

G_BEGIN_DECLS

typedef struct
{
  CoopLoop        *loop;
  CoopWaiter      *waiters_head;
  CoopWaiter      *waiters_tail;
  GError          *error;
  GDestroyNotify   pointer_notify;   /* owns the value of set_pointer */
  GValue           value;
  guint8           state;            /* CoopFutureState */
  guint8           held_state;       /* the result recorded while held */
  guint            held : 1;
  guint            retrieved : 1;
  guint            had_handlers : 1;  /* ::done had handlers at completion */
  guint            observed : 1;      /* awaited, watched or read (debug mode's never-awaited) */
  guint64          pool_slot;         /* position in the loop's pool, or COOP_FUTURE_NOT_POOLED */
  CoopUndoFunc     undo;              /* see coop_future_set_undo() */
  gpointer         undo_data;
  GDestroyNotify   undo_notify;
  CoopDescribeFunc describe;          /* see coop_future_set_describe() */
  gpointer         describe_data;
  CoopDebugSite   *site;              /* where it was made, in debug mode only */
} CoopFuturePrivate;

/* Where the private part is in an instance: G_DEFINE_TYPE_WITH_PRIVATE's
 * offset, copied at class init, so both files reach it with one load as
 * the generated coop_future_get_instance_private() does. */
extern gint coop_future_private_offset;

#define COOP_FUTURE_PRIV(f) ((CoopFuturePrivate *) G_STRUCT_MEMBER_P ((f), coop_future_private_offset))

/* CoopFuturePrivate.pool_slot of a future the pool does not hold. */
#define COOP_FUTURE_NOT_POOLED G_MAXUINT64

/* The loop, resolved lazily for futures built by bindings without one:
 * "loop" is not a construct property, because GObject would then marshal
 * its default for every future and task. */
static inline CoopLoop *
future_loop (CoopFuturePrivate *priv)
{
  if (G_UNLIKELY (priv->loop == NULL))
    priv->loop = g_object_ref (coop_loop_get_default ());
  return priv->loop;
}

/* The result's GValue, unset.  Stream reads finish futures with a #GBytes
 * by the thousand, so that type skips the GValue machinery (a type-table
 * lookup and a boxed-copy dispatch each way): a boxed GValue holds its
 * pointer in data[0] (gboxed.c), which is all these paths touch. */
static inline void
future_value_clear (GValue *value)
{
  if (G_VALUE_TYPE (value) == G_TYPE_BYTES)
    {
      GBytes *bytes = value->data[0].v_pointer;

      memset (value, 0, sizeof *value);
      if (bytes != NULL)
        g_bytes_unref (bytes);
    }
  else if (G_VALUE_TYPE (value) != G_TYPE_INVALID)
    g_value_unset (value);
}

static inline void
future_clear_undo (CoopFuturePrivate *priv)
{
  GDestroyNotify notify = priv->undo_notify;
  gpointer data = priv->undo_data;

  priv->undo = NULL;
  priv->undo_data = NULL;
  priv->undo_notify = NULL;
  if (notify != NULL)
    notify (data);
}

/* The pool (coop-future-pool.c). */

/* A pending future lent by @pool, the caller's reference. */
CoopFuture *coop_future_pool_take (CoopFuturePool *pool,
                                   CoopLoop       *loop);

/* At completion: the pool lets go of a future whose result holds
 * resources, so it is finalized when its last user drops it. */
void        coop_future_unpool    (CoopFuture     *future);

G_END_DECLS
