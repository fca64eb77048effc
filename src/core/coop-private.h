/* coop-private.h: what the parts of Coop share and users do not see.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before coop-private.h"
#endif

#include <time.h>

#include "coop.h"
#include "coop-fiber-private.h"

G_BEGIN_DECLS

/* --- ThreadSanitizer ------------------------------------------------------ */

/* GLib is not built with ThreadSanitizer, so the synchronisation inside it
 * is invisible to TSan: GMutex (a futex and atomics on Linux) and the
 * queue that hands a job to a GThreadPool worker.  In TSan builds Coop
 * states the happens-before edges they make (scripts/check-tsan.sh); in
 * every other build these are plain GLib calls and no-ops. */
#if defined(__SANITIZE_THREAD__)
# define COOP_TSAN 1
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define COOP_TSAN 1
# endif
#endif

#ifdef COOP_TSAN
# include <sanitizer/tsan_interface.h>
static inline void
coop_mutex_lock (GMutex *mutex)
{
  g_mutex_lock (mutex);
  __tsan_acquire (mutex);
}

static inline void
coop_mutex_unlock (GMutex *mutex)
{
  __tsan_release (mutex);
  g_mutex_unlock (mutex);
}
# define coop_tsan_release(addr) __tsan_release (addr)
# define coop_tsan_acquire(addr) __tsan_acquire (addr)
#else
# define coop_mutex_lock(mutex) g_mutex_lock (mutex)
# define coop_mutex_unlock(mutex) g_mutex_unlock (mutex)
# define coop_tsan_release(addr) ((void) 0)
# define coop_tsan_acquire(addr) ((void) 0)
#endif

/* Stack sizes beyond this are refused (a task's stack is reserved, not
 * committed, but address space is not infinite either). */
#define COOP_STACK_SIZE_MAX ((gsize) 1024 * 1024 * 1024)

/* --- the ready queue ------------------------------------------------------ */

/* Sysprof marks (coop-task.c): asks the collector, once per dispatch,
 * whether a profiler listens. */
#ifdef HAVE_SYSPROF
void      coop_marks_refresh     (void);
#else
# define  coop_marks_refresh()   G_STMT_START { } G_STMT_END
#endif

/* One entry of the ready queue: three words, stored by value in a ring, so
 * queueing a task step allocates nothing.  @discard runs instead of @func
 * when the loop is closed with the entry still queued. */
typedef void (*CoopReadyFunc) (gpointer data);

typedef struct
{
  CoopReadyFunc func;
  CoopReadyFunc discard;
  gpointer      data;
} CoopReadyEntry;

/* The ring of a loop's ready queue; used on the loop's thread only. */
typedef struct
{
  CoopReadyEntry *ring;
  guint           mask;      /* capacity - 1, capacity is a power of two */
  guint           head;
  guint           len;
  gboolean        closed;    /* the loop is closed: nothing is queued */
} CoopReadyQueue;

/* How every CoopLoop begins (checked in coop-loop.c). */
typedef struct
{
  GObject        parent_instance;
  CoopReadyQueue ready;
  gconstpointer  owner;      /* the loop's thread, as &coop_thread_marker
                              * there; relaxed atomic (see below) */
} CoopLoopHead;

/* --- the loop's thread -------------------------------------------------------
 * A loop, and everything that belongs to it, is used from the thread that
 * iterates its context.  Functions that touch a loop's state refuse a call
 * from any other thread with a critical that names the thread-safe way
 * (docs/threads.md, "Which thread owns a loop").
 *
 * The check must cost nothing on the hot paths (call_soon, completing a
 * future): the loop caches the identity of its thread (the address of a
 * thread-local, which is one instruction to compute and needs no call),
 * set when the loop is made and whenever its sources dispatch or it runs.
 * A call from that thread is one load and one compare.  Any other thread
 * takes the slow path, coop_loop_check_thread_slow(): allowed if it iterates
 * the context itself (it then becomes the owner) or if nobody iterates it
 * (a loop being set up by the thread that will run it); refused if
 * another thread does. */
extern COOP_TLS char coop_thread_marker;

gboolean  coop_loop_push_context      (CoopLoop      *loop,
                                       const char    *what,
                                       GMainContext **pushed,
                                       GError       **error);
gboolean  coop_loop_check_thread_slow (CoopLoop   *loop,
                                       const char *func,
                                       const char *instead);

static inline void
coop_loop_set_owner_self (CoopLoop *loop)
{
  __atomic_store_n (&((CoopLoopHead *) loop)->owner, (gconstpointer) &coop_thread_marker,
                    __ATOMIC_RELAXED);
}

static inline gboolean
coop_loop_check_thread (CoopLoop   *loop,
                        const char *func,
                        const char *instead)
{
  if (G_LIKELY (__atomic_load_n (&((CoopLoopHead *) loop)->owner, __ATOMIC_RELAXED) ==
                (gconstpointer) &coop_thread_marker))
    return TRUE;
  return coop_loop_check_thread_slow (loop, func, instead);
}

/* What the criticals suggest instead. */
#define COOP_INSTEAD_THREADSAFE \
  "call it on the loop's thread, e.g. from a callback queued with coop_loop_call_soon_threadsafe()"
#define COOP_INSTEAD_CANCEL \
  "use coop_future_cancel_threadsafe(), or cancel a GCancellable bound to the task " \
  "with coop_task_bind_cancellable()"

/* One line at the top of every loop-bound function, after its argument
 * checks: g_return_if_fail() for the calling thread. */
#define coop_return_if_wrong_thread(loop, instead)                          \
  G_STMT_START {                                                            \
    if (G_UNLIKELY (!coop_loop_check_thread ((loop), G_STRFUNC, (instead)))) \
      return;                                                               \
  } G_STMT_END
#define coop_return_val_if_wrong_thread(loop, instead, val)                 \
  G_STMT_START {                                                            \
    if (G_UNLIKELY (!coop_loop_check_thread ((loop), G_STRFUNC, (instead)))) \
      return (val);                                                         \
  } G_STMT_END

void      coop_loop_push_ready_slow (CoopLoop      *loop,
                                     CoopReadyFunc  func,
                                     CoopReadyFunc  discard,
                                     gpointer       data);

/* Queues @func (@data) at the tail of the ready queue.  Inlined: this is
 * every task wake-up and every call_soon. */
static inline void
coop_loop_push_ready (CoopLoop      *loop,
                      CoopReadyFunc  func,
                      CoopReadyFunc  discard,
                      gpointer       data)
{
  CoopReadyQueue *queue = &((CoopLoopHead *) loop)->ready;
  CoopReadyEntry *entry;

  if (G_UNLIKELY (queue->closed || queue->len > queue->mask))
    {
      coop_loop_push_ready_slow (loop, func, discard, data);
      return;
    }
  entry = &queue->ring[(queue->head + queue->len) & queue->mask];
  entry->func = func;
  entry->discard = discard;
  entry->data = data;
  queue->len++;
}
gboolean  coop_loop_check_usable (CoopLoop      *loop,
                                  GError       **error);
CoopStackPool *coop_loop_get_stack_pool (CoopLoop *loop);
/* now + delay, saturating (a huge delay means "never", not "at once"). */
gint64    coop_time_after (gint64 delay_usec);
/* The monotonic clock to within a few milliseconds, for bookkeeping on hot
 * paths (a task's creation time): CLOCK_MONOTONIC_COARSE costs a quarter
 * of g_get_monotonic_time() and reads the same clock. */
static inline gint64
coop_time_coarse (void)
{
#ifdef CLOCK_MONOTONIC_COARSE
  struct timespec ts;

  if (G_LIKELY (clock_gettime (CLOCK_MONOTONIC_COARSE, &ts) == 0))
    return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
#endif
  return g_get_monotonic_time ();
}
/* Returns the task's number (from 1, per loop). */
/* coop_loop_shutdown() (coop-shutdown.c): the loop tells it about tasks
 * that start and finish while it waits. */
typedef struct _CoopShutdown CoopShutdown;
GQueue       *coop_loop_get_tasks_internal    (CoopLoop     *loop);
/* Live dense tasks (coop-dense-task.c), kept like tasks for close and
 * shutdown. */
void          coop_loop_register_dense_task   (CoopLoop      *loop,
                                               CoopDenseTask *task,
                                               GList         *link);
void          coop_loop_unregister_dense_task (CoopLoop      *loop,
                                               GList         *link);
GQueue       *coop_loop_get_dense_tasks_internal (CoopLoop   *loop);
void          coop_dense_task_abandon_all     (CoopLoop      *loop,
                                               GQueue        *tasks);
CoopShutdown *coop_loop_get_shutdown_internal (CoopLoop     *loop);
void          coop_loop_set_shutdown_internal (CoopLoop     *loop,
                                               CoopShutdown *shutdown);
void          coop_shutdown_task_added        (CoopShutdown *shutdown,
                                               CoopFuture   *task);
void          coop_shutdown_check             (CoopShutdown *shutdown);

/* The thread pool (coop-threadpool.c): jobs handed out and not yet back on
 * the loop's thread, and letting the pool go. */
guint         coop_threadpool_get_n_jobs      (CoopLoop     *loop);
void          coop_threadpool_shutdown        (CoopLoop     *loop);

guint64   coop_loop_register_task   (CoopLoop *loop,
                                     CoopTask *task,
                                     GList    *link);
void      coop_loop_unregister_task (CoopLoop *loop,
                                     GList    *link);
/* Records of coop_future_then() on pending futures, dropped (both destroy
 * notifies run, neither callback) when the loop is closed. */
void      coop_loop_register_then   (CoopLoop *loop,
                                     GList    *link);
void      coop_loop_unregister_then (CoopLoop *loop,
                                     GList    *link);
void      coop_future_drop_then     (GList    *link);
/* Schedules a timer for an internal user; the handle is owned by the
 * caller (one reference).  The same as coop_loop_call_at. */

/* Repeating handles (fd readers/writers, see coop-io.c). */
CoopHandle *coop_handle_new_repeating    (CoopLoop       *loop,
                                          CoopCallback    callback,
                                          gpointer        user_data,
                                          GDestroyNotify  notify);
gboolean    coop_handle_run_repeating    (CoopHandle     *handle);
gboolean    coop_handle_is_live          (CoopHandle     *handle);
void        coop_handle_finish_repeating (CoopHandle     *handle);

/* File I/O (src/fs/coop-fs.c): a closing loop cancels the operations in
 * flight and waits until none of them uses a caller's buffer any more. */
void        coop_fs_loop_closing         (CoopLoop       *loop);

/* The I/O source, attached on first use (coop-io.c). */
void        coop_io_shutdown             (CoopLoop       *loop);
void        coop_io_set_priority         (CoopLoop       *loop,
                                          int             priority);

/* --- futures: internal continuations ---------------------------------------
 * Waiters are embedded in their owner (a task, a combinator) and called
 * synchronously when the future completes.  They must only queue work or
 * update bookkeeping: user code never runs inside coop_future_set_*(). */
typedef struct _CoopWaiter CoopWaiter;
typedef void (*CoopWaiterFunc) (CoopWaiter *waiter,
                                CoopFuture *future);
struct _CoopWaiter
{
  CoopWaiter     *next;
  CoopWaiter     *prev;
  CoopWaiterFunc  func;
  gpointer        data;
};

/* The waiter of a task paused in coop_await(): it only queues the task's
 * step, so completing a future it waits on needs no reference of its own
 * on the future (see future_complete()). */
void     coop_task_wake            (CoopWaiter *waiter,
                                    CoopFuture *future);

gpointer coop_future_new_internal  (GType       type,
                                    CoopLoop   *loop);
void     coop_future_add_waiter    (CoopFuture *future,
                                    CoopWaiter *waiter);
void     coop_future_remove_waiter (CoopFuture *future,
                                    CoopWaiter *waiter);
/* While held, coop_future_set_*() records the result but the future stays
 * PENDING until release (a task's body sets its result before returning). */
void     coop_future_hold          (CoopFuture *future);
void     coop_future_release       (CoopFuture *future);
gboolean coop_future_has_result    (CoopFuture *future);
/* Marks a pending future CANCELLED without the class vfunc. */
void     coop_future_set_cancelled (CoopFuture *future,
                                    const char *message);
/* The error of a FAILED/CANCELLED future, marking it retrieved. */
const GError *coop_future_peek_error (CoopFuture *future);
/* The public getters without the argument check, for callers that did it. */
CoopLoop *coop_future_loop_unchecked      (CoopFuture  *future);
gboolean  coop_future_done_unchecked      (CoopFuture  *future);
gboolean  coop_future_propagate_unchecked (CoopFuture  *future,
                                           GError     **error);
void     coop_future_mark_retrieved (CoopFuture *future);
/* Undo: what a synchronisation primitive does when the result of a future
 * it completed is thrown away.  A task cancelled after its lock (semaphore
 * slot, queue item...) was granted but before it resumed gets
 * G_IO_ERROR_CANCELLED from coop_await(); the awaited future then runs its
 * undo function (release the lock, put the item back) so nothing is lost.
 * Runs at most once; @notify frees @data when the undo function is run
 * or dropped (the future recycled or finalized). */
typedef void (*CoopUndoFunc) (CoopFuture *future,
                              gpointer    data);
void     coop_future_set_undo      (CoopFuture    *future,
                                    CoopUndoFunc   func,
                                    gpointer       data,
                                    GDestroyNotify notify);
/* Runs and clears the undo function of a FINISHED future, if it has one. */
void     coop_future_run_undo      (CoopFuture   *future);
/* Drops it without running it: the result was delivered. */
void     coop_future_clear_undo    (CoopFuture   *future);

/* How a future names itself in warnings ("task 'x'", "CoopFuture 0x…"). */
char    *coop_future_get_label     (CoopFuture *future);

/* What a pending future stands for, in words, for coop_future_describe()
 * and the task dump (coop-debug.c): set by whoever makes the future (a
 * sleep, a lock request, an fd wait...), from a static function and a
 * borrowed pointer, so it costs two stores.  @data must stay valid while
 * the future is pending; the function is never called once it is done.
 * It appends a short phrase to @out ("sleep, due in 0.5 s"). */
typedef void (*CoopDescribeFunc) (CoopFuture *future,
                                  gpointer    data,
                                  GString    *out);
void     coop_future_set_describe  (CoopFuture      *future,
                                    CoopDescribeFunc func,
                                    gpointer         data);
/* Appends the description of @future to @out (nesting at most @depth
 * futures deep, for combinators that describe their children). */
void     coop_future_append_description (CoopFuture *future,
                                         GString    *out,
                                         guint       depth);

/* --- GObject shortcuts for the hot paths (see coop-gobject.c, "GObject
 * shortcuts") ------------------------------------------------------------ */

/* The bit GLib sets in an object's header the first time any signal
 * handler is connected to it, found by a probe at start-up; 0 if this
 * GLib has no such bit, or it could not be confirmed. */
extern guint coop_handler_flag;
void coop_gobject_probe (void);

/* FALSE only if no signal handler was ever connected to @object: then
 * g_signal_has_handler_pending() and g_signal_handlers_destroy() (each
 * takes GLib's global signal lock) have nothing to find. */
static inline gboolean
coop_object_may_have_handlers (gpointer object)
{
#if GLIB_SIZEOF_VOID_P == 8
  if (G_LIKELY (coop_handler_flag != 0))
    return ((guint) g_atomic_int_get ((gint *) &((GObject *) object)->ref_count + 1) & coop_handler_flag) != 0;
#endif
  return TRUE;
}

/* g_object_ref() and g_object_unref() for objects without qdata (no
 * toggle or weak references, no binding wrapper, no user data): the
 * reference count is all there is to change then, and GLib's type check
 * and toggle test cost more than the change.  The last reference still
 * goes through g_object_unref(). */
static inline gpointer
coop_object_ref (gpointer object)
{
  GObject *gobject = object;

  if (G_LIKELY (gobject->qdata == NULL))
    {
      g_atomic_int_inc ((gint *) &gobject->ref_count);
      return object;
    }
  return g_object_ref (object);
}

static inline void
coop_object_unref (gpointer object)
{
  GObject *gobject = object;

  if (G_LIKELY (gobject->qdata == NULL))
    {
      guint old = (guint) g_atomic_int_get (&gobject->ref_count);

      if (old > 1 && g_atomic_int_compare_and_exchange ((gint *) &gobject->ref_count, (gint) old, (gint) old - 1))
        return;
    }
  g_object_unref (object);
}

/* Drops the last reference to @object (the caller's): for an object
 * nothing watches (no qdata, no signal handler ever connected, GObject's
 * own dispose), finalizes and frees it without GLib's teardown of what it
 * does not have; anything else goes through g_object_unref(). */
void coop_object_unref_last (gpointer object);

/* Recycled plain futures, one pool per loop (see coop-future-pool.c).  Slots
 * are absolute positions, so a future can leave the ring from the middle
 * (its slot becomes NULL) and the ring can grow without renumbering.  The
 * ring grows with demand; coop_future_pool_trim() gives back what a burst
 * left over once the loop has nothing ready. */
#define COOP_FUTURE_POOL_FLOOR 64
typedef struct
{
  gconstpointer thread;   /* the only thread that may use the pool (the
                           * address of a thread-local, cheaper to compare
                           * than g_thread_self ()) */
  guint64      head;       /* position of the oldest entry */
  guint64      tail;       /* one past the newest */
  guint        mask;       /* capacity - 1 */
  CoopFuture **ring;
  CoopFuture  *recent;     /* lent, last awaited by a task: likely free
                            * again and warm (borrowed; cleared when it
                            * leaves the ring) */
  gint64       next_trim;  /* monotonic time of the next trim, µs */
  /* Finished tasks nobody holds, reset, ready to be handed out again by
   * coop_task_new() (see coop-task.c, "recycling"); one reference each. */
  CoopFuture **tasks;
  guint        n_tasks;
} CoopFuturePool;

#define COOP_TASK_POOL_MAX 1024

/* For tasks: whether @future, whose only reference is the caller's, can
 * be reused (no qdata, no handler ever, no waiter, a light outcome, no
 * debug site); if so it is reset to a fresh pending future. */
gboolean        coop_future_reset_if_unused (CoopFuture *future);
/* The pool of @loop if the calling thread may use it (and debug mode is
 * off), else NULL. */
CoopFuturePool *coop_future_pool_for_thread (CoopLoop *loop);

/* A task's await of @future has returned: the task usually drops it at
 * once, so it is the one the next coop_future_new() should lend (still in
 * the cache). */
void            coop_future_pool_note_awaited (CoopFuture *future);
CoopFuturePool *coop_future_pool_new  (void);
void            coop_future_pool_free (CoopFuturePool *pool);
/* Called when the loop's ready queue has run dry: at most once a second,
 * lets go of half the futures nobody uses beyond COOP_FUTURE_POOL_FLOOR.
 * A compare while the pool is that small. */
void            coop_future_pool_trim_slow (CoopFuturePool *pool);
static inline void
coop_future_pool_trim (CoopFuturePool *pool)
{
  if (G_UNLIKELY (pool != NULL && pool->tail - pool->head > COOP_FUTURE_POOL_FLOOR))
    coop_future_pool_trim_slow (pool);
}
CoopFuturePool *coop_loop_get_future_pool (CoopLoop *loop);

/* --- tasks ------------------------------------------------------------------ */

/* Here rather than in coop-task.c so that the loop can inline a task step
 * (coop_task_step_inline()); nothing outside coop-task.c touches it
 * otherwise. */
struct _CoopTask
{
  CoopFuture      parent_instance;

  /* Hot: what a hand-off touches, next to the GObject header (its
   * reference count) and the fiber's own hot fields, which come first in
   * CoopFiber: 96 bytes in all (docs/fibers.md, "Hot fields"). */
  CoopWaiter      waiter;          /* on the awaited future */
  CoopLoop       *loop;            /* the future's loop, borrowed */
  CoopFuture     *awaiting;        /* while paused in coop_await(); the caller holds it */
  guint           started : 1;
  guint           done : 1;             /* function returned or task abandoned */
  guint           cancel_requested : 1; /* to deliver at the next await */
  guint           step_queued : 1;
  guint           cancelling_awaited : 1; /* inside coop_future_cancel (awaiting) */
  guint           alive_ref : 1;        /* holds a reference on itself */
  guint           n_cancels;            /* requests not yet withdrawn (asyncio's
                                         * cancelling()); cold, in what was padding */
  CoopFiber       fiber;                /* its stack size too, from creation on */

  /* Cold. */
  GList           link;            /* in the loop's live tasks */
  CoopTaskFunc    func;
  gpointer        user_data;
  GDestroyNotify  notify;
  char           *name;
  char           *cancel_message;
  GSList         *cancel_hooks;    /* CancelHook*, run on each cancel request */
  guint64         id;              /* per loop, from 1, for dumps */
  guint64         parent_id;       /* the task that made it, 0 outside a task */
  gint64          created_usec;
};

extern COOP_TLS CoopTask *coop_current_task;
#ifdef HAVE_SYSPROF
extern COOP_TLS gboolean coop_marks_active;
# define COOP_MARKS_ACTIVE() coop_marks_active
#else
# define COOP_MARKS_ACTIVE() FALSE
#endif

/* The ready-queue function of every task step. */
void      coop_task_step             (gpointer data);
void      coop_task_finish_step      (CoopTask *task);

/* coop_task_step() for a started task with no profiler listening, inlined
 * into the loop's dispatch: the switch back from the task then lands in
 * the dispatch loop itself, with no `ret` left to miss (see
 * COOP_FIBER_SWITCH_INLINE). */
static inline __attribute__ ((always_inline)) void
coop_task_step_inline (CoopTask *task)
{
  CoopTask *previous;

  if (G_UNLIKELY (task->done || !task->started || COOP_MARKS_ACTIVE ()))
    {
      coop_task_step (task);
      return;
    }
  task->step_queued = FALSE;
  previous = coop_current_task;
  coop_current_task = task;
  coop_fiber_resume_inline (&task->fiber);
  coop_current_task = previous;
  if (G_UNLIKELY (task->fiber.finished && !task->done))
    coop_task_finish_step (task);
}


CoopTask *coop_task_current_internal (void);
/* FALSE for code made at run time (a binding's libffi closure), which must
 * not run on a fiber stack.  Used for task functions and stream handlers. */
gboolean  coop_is_static_code        (gpointer func);
void      coop_task_abandon_all      (CoopLoop *loop,
                                      GQueue   *tasks);
guint     coop_task_get_n_cancels    (CoopTask *task);
/* Called on the loop's thread each time a cancellation of @task is
 * requested while it is pending (before it is delivered at an await).
 * @notify frees @data when the task is finalized. */
typedef void (*CoopTaskCancelHook) (CoopTask *task,
                                    gpointer  data);
void      coop_task_add_cancel_hook  (CoopTask          *task,
                                      CoopTaskCancelHook func,
                                      gpointer           data,
                                      GDestroyNotify     notify);
guint     coop_task_uncancel         (CoopTask *task);
CoopLoop *coop_task_get_loop_internal (CoopTask *task);

CoopFiber *coop_task_get_fiber_internal (CoopTask *task,
                                         gboolean *started,
                                         gboolean *running);
guint64   coop_task_get_parent_id    (CoopTask *task);
gboolean  coop_task_is_step          (CoopReadyFunc func,
                                      gpointer      data);
/* Appends the C stack of a paused task (coop-debug.c). */
void      coop_task_append_backtrace (CoopTask *task,
                                      GString  *out,
                                      const char *indent);

/* --- debugging (coop-debug.c) ------------------------------------------------
 * coop_debug_capture is non-zero once any loop records creation sites (a
 * debug flag that reports them); with it zero, futures and tasks pay one
 * predictable branch for all of this. */
extern int coop_debug_capture;

typedef struct _CoopDebugSite CoopDebugSite;
CoopDebugSite *coop_debug_site_capture (CoopLoop      *loop);
void           coop_debug_site_free    (CoopDebugSite *site);
void           coop_debug_site_append  (CoopDebugSite *site,
                                        GString       *out,
                                        const char    *prefix);
CoopDebugSite *coop_future_get_site    (CoopFuture    *future);
void           coop_debug_future_finalized (CoopFuture *future,
                                            CoopLoop   *loop,
                                            gboolean    observed);
gboolean       coop_future_was_observed (CoopFuture *future);
void           coop_future_mark_observed (CoopFuture *future);

/* The loop's debug flags (0 unless debug mode is on). */
guint     coop_loop_get_debug_internal (CoopLoop *loop);
void      coop_loop_set_debug_flags_internal (CoopLoop *loop,
                                              guint     flags);
/* Runs one ready-queue or timer entry with the debug checks. */
void      coop_debug_run_entry       (CoopLoop      *loop,
                                      CoopReadyFunc  func,
                                      gpointer       data,
                                      gpointer       what);
void      coop_debug_loop_init       (CoopLoop *loop);
void      coop_debug_loop_shutdown   (CoopLoop *loop);
/* Appends a one-line symbolic name for a return address, or for the
 * address of a function (a callback). */
void      coop_debug_append_symbol   (GString  *out,
                                      gpointer  address);
void      coop_debug_append_code     (GString  *out,
                                      gpointer  address);
/* Loop internals the dump shows. */
void      coop_loop_get_counts       (CoopLoop *loop,
                                      guint    *n_ready,
                                      guint    *n_timers,
                                      guint    *n_tasks);
CoopTask *coop_loop_find_task        (CoopLoop *loop,
                                      guint64   id);
gpointer  coop_loop_get_debug_state  (CoopLoop *loop);
void      coop_loop_set_debug_state  (CoopLoop *loop,
                                      gpointer  state);
CoopCallback coop_handle_get_callback (CoopHandle *handle);

/* Across loops (coop-crossloop.c): coop_await() of a future of another
 * loop, and a task started on another loop with a future of @home for its
 * outcome; @done_hook (if any) runs once the remote side is through, on
 * @loop's thread (or the thread that found @loop closed). */
gboolean    coop_crossloop_await (CoopTask       *task,
                                  CoopFuture     *future,
                                  GError        **error);
CoopFuture *coop_crossloop_spawn (CoopLoop       *loop,
                                  CoopLoop       *home,
                                  const char     *name,
                                  CoopTaskFunc    func,
                                  gpointer        user_data,
                                  GDestroyNotify  notify,
                                  void          (*done_hook) (gpointer data),
                                  gpointer        done_data);

/* Frequently used errors. */
GError   *coop_cancelled_error_new   (const char *message);

/* --- fork (coop-fork.c) ------------------------------------------------------ */

/* Bumped in the child of each fork(); holders of kernel objects a child
 * must not share record it (coop_fork_watch() registers the handler) and
 * make their own when it changes. */
extern guint coop_fork_generation;
guint coop_fork_watch (void);

/* --- precise timer wake-ups (coop-timer-fd.c) ----------------------------- */

/* A timerfd in a source's poll set, armed for the earliest deadline, so
 * the poll wakes when the timer is due instead of at GLib's next whole
 * millisecond.  fd is -1 until the first deadline, and where there is none
 * (then GLib's ready time alone wakes the loop, as before). */
typedef struct
{
  int      fd;
  gpointer tag;               /* from g_source_add_unix_fd() */
  gint64   armed;             /* the deadline it is set to; G_MAXINT64: none */
  guint    fork_generation;
  gboolean opened;            /* made (or found impossible) on the first deadline */
} CoopTimerFd;

void coop_timer_fd_init  (CoopTimerFd *tfd);
void coop_timer_fd_arm   (CoopTimerFd *tfd, GSource *source, gint64 deadline);
void coop_timer_fd_fired (CoopTimerFd *tfd, GSource *source, gint64 now);
void coop_timer_fd_clear (CoopTimerFd *tfd, GSource *source);
int  coop_loop_get_timer_fd (CoopLoop *loop);
/* A subprocess output holding @stdout_buf and @stderr_buf (both nullable,
 * taken). */
CoopSubprocessOutput *coop_subprocess_output_new_take (GBytes *stdout_buf,
                                                       GBytes *stderr_buf);

G_END_DECLS
