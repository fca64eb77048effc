/* coop-driver.c: a foreign scheduler hosted by a loop.
 *
 * A language binding with its own scheduler (Python's asyncio keeps its
 * ready queue and timer heap in Python) runs it from one GSource on the
 * loop's context.  The source's prepare and check run in C: the scheduler
 * says when it next wants to run (a ready time) and which fd wakes it (for
 * asyncio, its selector's epoll fd), and the binding is entered once per
 * main-loop iteration that has work for it, never per callback.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"
#include "coop-driver.h"

/**
 * CoopDriver:
 *
 * Runs a foreign scheduler from the main-loop context of a
 * [class@Coop.Loop].
 *
 * A driver is one `GSource` on the loop's context, at the loop's priority.
 * It calls its [callback@Coop.DriverFunc] when the ready time it last asked
 * for has come or when its file descriptor is readable; the function returns
 * the next ready time.  Everything else (the scheduler's queues, timers and
 * fd bookkeeping) stays in the scheduler.
 *
 * This is how Coop's Python package runs asyncio on the GLib main loop: the
 * fd is the asyncio selector's epoll fd, the ready time is asyncio's next
 * timer (or "now" while callbacks are queued), and one call runs one or more
 * asyncio iterations.  Whatever iterates the context (the loop itself,
 * `GMainLoop`, `GtkApplication`) drives the scheduler.
 *
 * The function is never re-entered: while it runs, a nested main loop does
 * not dispatch the driver again.
 */

/* The ready time is the source's own, not GLib's (g_source_set_ready_time):
 * GLib wakes the context (an eventfd write) on every change of that one,
 * even from the dispatch of the source itself, and the poll that follows
 * returns at once, so every dispatch whose answer differs from the last
 * one cost an extra main-loop iteration (a poll and a read that acknowledge
 * the wake-up) and a write.  Here the answer is stored, and prepare/check
 * read it; only a change made from a thread that does not own the context
 * (which may be blocked in poll()) wakes it.
 *
 * For the same reason the source may recurse (G_SOURCE_CAN_RECURSE): GLib
 * blocks a source that may not while it is dispatched, which takes its fd
 * out of the poll set and puts it back, and both wake the context, so that
 * was two more eventfd writes and a spurious iteration per dispatch.  The
 * function is kept from being re-entered here instead: a nested main loop
 * inside it finds the source not ready, and on the first nested dispatch
 * (its fd polled readable) the fd stops being polled until the outer
 * dispatch ends, so a nested loop does not spin on it. */
typedef struct
{
  GSource         base;
  gpointer        tag;
  CoopDriverFunc  func;
  gpointer        user_data;
  GDestroyNotify  notify;
  gboolean        dispatching;
  gboolean        fd_muted;     /* the fd is out of the poll set (nested) */
  GMutex          lock;         /* ready_time, which other threads may set */
  gint64          ready_time;   /* monotonic µs, 0 = at once, -1 = none */
} DriverSource;

struct _CoopDriver
{
  GObject       parent_instance;
  CoopLoop     *loop;
  DriverSource *source;     /* kept until finalize, so other threads may */
  int           destroyed;  /* set the ready time while holding a ref */
};

G_DEFINE_FINAL_TYPE (CoopDriver, coop_driver, G_TYPE_OBJECT)

/* Frees the function's data: once the driver is destroyed and the function
 * is not running. */
static void
driver_source_release (DriverSource *self)
{
  GDestroyNotify notify = self->notify;
  gpointer data = self->user_data;

  self->func = NULL;
  self->notify = NULL;
  self->user_data = NULL;
  if (notify != NULL)
    notify (data);
}

static gint64
driver_source_get_ready_time (DriverSource *self)
{
  gint64 t;

  coop_mutex_lock (&self->lock);
  t = self->ready_time;
  coop_mutex_unlock (&self->lock);
  return t;
}

static void
driver_source_store_ready_time (DriverSource *self,
                                gint64        ready_time)
{
  coop_mutex_lock (&self->lock);
  self->ready_time = ready_time;
  coop_mutex_unlock (&self->lock);
}

static gboolean
driver_source_prepare (GSource *source,
                       gint    *timeout)
{
  DriverSource *self = (DriverSource *) source;
  gint64 ready_time;
  gint64 now;

  /* A nested main loop inside the function: not before it returns. */
  if (self->dispatching)
    {
      *timeout = -1;
      return FALSE;
    }
  ready_time = driver_source_get_ready_time (self);
  if (ready_time == -1)
    {
      *timeout = -1;
      return FALSE;
    }
  if (ready_time == 0)
    {
      *timeout = 0;
      return TRUE;
    }
  now = g_source_get_time (source);
  if (ready_time <= now)
    {
      *timeout = 0;
      return TRUE;
    }
  /* Milliseconds, rounded up as GLib does for its own ready times: never
   * early. */
  *timeout = (gint) MIN ((ready_time - now + 999) / 1000, G_MAXINT);
  return FALSE;
}

static gboolean
driver_source_check (GSource *source)
{
  DriverSource *self = (DriverSource *) source;
  gint64 ready_time;

  if (self->dispatching)
    return FALSE;
  ready_time = driver_source_get_ready_time (self);
  /* (A readable fd makes GLib dispatch the source as well.) */
  return ready_time == 0 || (ready_time > 0 && ready_time <= g_source_get_time (source));
}

static gboolean
driver_source_dispatch (GSource     *source,
                        GSourceFunc  callback,
                        gpointer     user_data)
{
  DriverSource *self = (DriverSource *) source;
  gboolean fd_ready = FALSE;
  gint64 next;

  if (self->dispatching)
    {
      /* A nested main loop inside the function saw the fd readable: the
       * function is not re-entered, and the fd is not polled again until it
       * returns (it would stay readable, and the nested loop spin). */
      if (self->tag != NULL && !self->fd_muted)
        {
          self->fd_muted = TRUE;
          g_source_modify_unix_fd (source, self->tag, 0);
        }
      return G_SOURCE_CONTINUE;
    }

  if (self->tag != NULL)
    fd_ready = (g_source_query_unix_fd (source, self->tag) & (G_IO_IN | G_IO_HUP | G_IO_ERR)) != 0;

  /* A ready time set while the function runs (from the function itself or
   * another thread) is overridden by its answer. */
  self->dispatching = TRUE;
  next = self->func (fd_ready, self->user_data);
  self->dispatching = FALSE;
  if (self->fd_muted)
    {
      self->fd_muted = FALSE;
      if (!g_source_is_destroyed (source))
        g_source_modify_unix_fd (source, self->tag, G_IO_IN);
    }

  if (g_source_is_destroyed (source))
    driver_source_release (self);
  else
    driver_source_store_ready_time (self, next < -1 ? -1 : next);
  return G_SOURCE_CONTINUE;
}

static void
driver_source_finalize (GSource *source)
{
  driver_source_release ((DriverSource *) source);
  g_mutex_clear (&((DriverSource *) source)->lock);
}

static GSourceFuncs driver_source_funcs = {
  driver_source_prepare,
  driver_source_check,
  driver_source_dispatch,
  driver_source_finalize,
  NULL, NULL,
};

static void
coop_driver_dispose (GObject *object)
{
  coop_driver_destroy (COOP_DRIVER (object));
  G_OBJECT_CLASS (coop_driver_parent_class)->dispose (object);
}

static void
coop_driver_finalize (GObject *object)
{
  CoopDriver *self = COOP_DRIVER (object);

  g_clear_pointer ((GSource **) &self->source, g_source_unref);
  g_clear_object (&self->loop);
  G_OBJECT_CLASS (coop_driver_parent_class)->finalize (object);
}

static void
coop_driver_class_init (CoopDriverClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = coop_driver_dispose;
  object_class->finalize = coop_driver_finalize;
}

static void
coop_driver_init (CoopDriver *self)
{
}

/**
 * coop_driver_new:
 * @loop: a loop
 * @fd: a file descriptor whose readability wakes the driver, or -1 for none;
 *   it stays owned by the caller and must stay open until the driver is
 *   destroyed
 * @func: (scope notified) (closure user_data) (destroy notify): the
 *   scheduler's step
 * @user_data: data for @func
 * @notify: (nullable): frees @user_data once the driver is destroyed and
 *   its function can no longer run
 * @error: return location for a #GError
 *
 * Attaches a driver to the context of @loop.  It first runs at the ready
 * time set with [method@Coop.Driver.set_ready_time], or when @fd polls
 * readable.
 *
 * On failure (a closed @loop, %COOP_ERROR_LOOP_CLOSED) @notify is called
 * before this returns.
 *
 * Returns: (transfer full): a new driver, or %NULL on error
 */
CoopDriver *
coop_driver_new (CoopLoop       *loop,
                 int             fd,
                 CoopDriverFunc  func,
                 gpointer        user_data,
                 GDestroyNotify  notify,
                 GError        **error)
{
  CoopDriver *self;
  DriverSource *source;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (fd >= -1, NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!coop_loop_check_usable (loop, error))
    {
      if (notify != NULL)
        notify (user_data);
      return NULL;
    }

  self = g_object_new (COOP_TYPE_DRIVER, NULL);
  self->loop = g_object_ref (loop);

  source = (DriverSource *) g_source_new (&driver_source_funcs, sizeof (DriverSource));
  source->func = func;
  source->user_data = user_data;
  source->notify = notify;
  g_mutex_init (&source->lock);
  source->ready_time = -1;
  g_source_set_static_name ((GSource *) source, "CoopDriver");
  g_source_set_priority ((GSource *) source, coop_loop_get_priority (loop));
  g_source_set_can_recurse ((GSource *) source, TRUE);   /* see DriverSource */
  if (fd >= 0)
    source->tag = g_source_add_unix_fd ((GSource *) source, fd, G_IO_IN);
  g_source_attach ((GSource *) source, coop_loop_get_context (loop));
  self->source = source;

  return self;
}

/**
 * coop_driver_get_loop:
 * @driver: a driver
 *
 * Gets the loop that @driver was made for.
 *
 * Returns: (transfer none): the loop whose context runs @driver
 */
CoopLoop *
coop_driver_get_loop (CoopDriver *driver)
{
  g_return_val_if_fail (COOP_IS_DRIVER (driver), NULL);

  return driver->loop;
}

/**
 * coop_driver_set_ready_time:
 * @driver: a driver
 * @ready_time: a time on the monotonic clock in microseconds, 0 for the
 *   next main-loop iteration, or -1 for none
 *
 * Sets when the driver's function runs next (besides when its fd polls
 * readable).  While the function runs, its return value replaces whatever
 * is set here.  This may be called from any thread; from one that does not
 * own the context it wakes the context (its owner reads the new time at its
 * next iteration without being woken).  It does nothing on a destroyed
 * driver.
 */
void
coop_driver_set_ready_time (CoopDriver *driver,
                            gint64      ready_time)
{
  GMainContext *context;

  g_return_if_fail (COOP_IS_DRIVER (driver));

  if (g_atomic_int_get (&driver->destroyed))
    return;
  driver_source_store_ready_time (driver->source, ready_time < -1 ? -1 : ready_time);
  /* The thread that owns the context is not in its poll() (it is here), and
   * its next iteration's prepare reads the new time: only another thread
   * needs to wake it. */
  context = coop_loop_get_context (driver->loop);
  if (!g_main_context_is_owner (context))
    g_main_context_wakeup (context);
}

/**
 * coop_driver_is_dispatching:
 * @driver: a driver
 *
 * Tells whether the function of @driver is running.
 *
 * Returns: whether the driver's function is running now
 */
gboolean
coop_driver_is_dispatching (CoopDriver *driver)
{
  g_return_val_if_fail (COOP_IS_DRIVER (driver), FALSE);

  return driver->source->dispatching;
}

/**
 * coop_driver_destroy:
 * @driver: a driver
 *
 * Detaches @driver from its context: its function never runs again, and its
 * user data is freed (after the function returns, when this is called from
 * inside it).  Calling this twice is harmless.  Dropping the last reference
 * to a driver destroys it too.
 */
void
coop_driver_destroy (CoopDriver *driver)
{
  g_return_if_fail (COOP_IS_DRIVER (driver));

  if (!g_atomic_int_compare_and_exchange (&driver->destroyed, FALSE, TRUE))
    return;
  g_source_destroy ((GSource *) driver->source);
  if (!driver->source->dispatching)
    driver_source_release (driver->source);
}

/**
 * coop_driver_is_destroyed:
 * @driver: a driver
 *
 * Tells whether @driver was destroyed.
 *
 * Returns: whether [method@Coop.Driver.destroy] was called
 */
gboolean
coop_driver_is_destroyed (CoopDriver *driver)
{
  g_return_val_if_fail (COOP_IS_DRIVER (driver), TRUE);

  return g_atomic_int_get (&driver->destroyed);
}
