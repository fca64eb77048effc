/* coop-gobject.c: shortcuts around GObject's costs on the hot paths:
 * whether an object may have signal handlers, and the last unref of an
 * object nothing watches.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"

/* --- GObject shortcuts ------------------------------------------------------------
 *
 * Every completion would ask g_signal_has_handler_pending() whether ::done
 * has handlers, and every recycling would call g_signal_handlers_destroy():
 * both take GLib's global signal lock and look the object up in a hash
 * table, which cost more than the rest of an await.  Since 2.74, GLib
 * (64-bit) keeps flags in the padding after GObject.ref_count, one of them
 * set, and never cleared, when a handler is first connected to the object.
 * That layout is private, so it is not assumed: the probe below connects
 * handlers (both ways GLib offers) to a signal of fresh objects and keeps
 * the bit only if exactly that one bit appears each time, and nothing else
 * sets it.  Without it
 * (another GLib, a 32-bit build), coop_object_may_have_handlers() is always
 * TRUE and GLib is asked as before. */

guint coop_handler_flag;
/* GObject's own dispose (coop_object_unref_last()), found by the probe. */
static void (*coop_default_dispose) (GObject *object);

#if GLIB_SIZEOF_VOID_P == 8
static void
probe_handler (void)
{
}

static void
probe_class_init (gpointer klass,
                  gpointer data)
{
  g_signal_new ("coop-probe", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static guint
probe_flags (GObject *object)
{
  return (guint) g_atomic_int_get ((gint *) &object->ref_count + 1);
}
#endif

void
coop_gobject_probe (void)
{
#if GLIB_SIZEOF_VOID_P == 8
  static gsize done;

  if (g_once_init_enter (&done))
    {
      /* A type of its own, with a signal that is not ::notify (which has a
       * bit of its own as well). */
      GType type = g_type_register_static_simple (G_TYPE_OBJECT, "CoopHandlerProbe",
                                                  sizeof (GObjectClass), probe_class_init,
                                                  sizeof (GObject), NULL, 0);
      GObject *a = g_object_new (type, NULL);
      GObject *b = g_object_new (type, NULL);
      guint before_a = probe_flags (a), before_b = probe_flags (b);
      guint bit_a, bit_b, other;
      GClosure *closure;

      /* What other uses of an object must not set. */
      g_object_set_data (a, "coop-probe", a);
      g_object_freeze_notify (a);
      g_object_thaw_notify (a);
      g_object_ref (a);
      g_object_unref (a);
      other = probe_flags (a) ^ before_a;

      g_signal_connect (a, "coop-probe", G_CALLBACK (probe_handler), NULL);
      closure = g_cclosure_new (G_CALLBACK (probe_handler), NULL, NULL);
      g_signal_connect_closure_by_id (b, g_signal_lookup ("coop-probe", type), 0, closure, FALSE);
      bit_a = probe_flags (a) & ~before_a;
      bit_b = probe_flags (b) & ~before_b;
      /* Exactly one new bit, the same both ways, set by nothing else. */
      if (bit_a != 0 && (bit_a & (bit_a - 1)) == 0 && bit_a == bit_b &&
          before_a == before_b && (other & bit_a) == 0 &&
          glib_check_version (2, 74, 0) == NULL)
        coop_handler_flag = bit_a;

      g_object_unref (a);
      g_object_unref (b);
      coop_default_dispose = G_OBJECT_CLASS (g_type_class_peek_static (G_TYPE_OBJECT))->dispose;
      g_once_init_leave (&done, 1);
    }
#endif
}

/* The last unref of an object that nothing watches, without GLib's
 * teardown.  GLib 2.74 spends about 1,500 instructions around an object's
 * finalize: it freezes the notify queue (a global lock and a queue
 * allocated in the object's GData, then freed), destroys signal handlers
 * (the global signal lock and a hash lookup), and clears four GData keys.
 * For an object with no qdata at all (no weak, toggle or GWeakRef
 * references, no user data, not floating), no signal handler ever
 * connected (the probed bit) and GObject's own dispose, all of that finds
 * nothing: what is left is finalize and freeing the instance.  The
 * reference count goes to 0 first, as GLib's does, so finalize sees what
 * it would see there.  Anything else goes through g_object_unref(). */
void
coop_object_unref_last (gpointer object)
{
  GObject *gobject = object;

  if (G_LIKELY (coop_handler_flag != 0 && coop_default_dispose != NULL) &&
      G_OBJECT_GET_CLASS (gobject)->dispose == coop_default_dispose &&
      gobject->qdata == NULL && !coop_object_may_have_handlers (gobject) &&
      g_atomic_int_compare_and_exchange ((gint *) &gobject->ref_count, 1, 0))
    {
      G_OBJECT_GET_CLASS (gobject)->finalize (gobject);
      g_type_free_instance ((GTypeInstance *) gobject);
      return;
    }
  g_object_unref (object);
}
