/* coop-loop.c: the event loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-loop-private.h"

/**
 * CoopLoop:
 *
 * The event loop of a #GMainContext, in the sense of asyncio's event loop.
 *
 * A loop never runs a loop of its own.  Everything it does is dispatched by
 * two #GSource objects attached to its context, so it works unchanged inside
 * `gtk_main()`, `g_application_run()` or `g_main_loop_run()`:
 *
 * - the *ready queue*, which runs callbacks given to
 *   [method@Coop.Loop.call_soon], the steps of tasks and the done callbacks
 *   of futures, in FIFO order, in batches: a batch runs exactly the entries
 *   that were queued when it began, and what they queue runs in the next
 *   batch.  One dispatch runs batches (and the timers that come due between
 *   them) until the queue is empty or for at most 1 ms, so other sources
 *   (input, drawing, I/O) get their turn in between;
 * - the *timer* source, one binary heap of every pending
 *   [method@Coop.Loop.call_later] / [method@Coop.Loop.call_at] callback, with
 *   its ready time set to the earliest deadline (and, on Linux, a timerfd
 *   armed for it, so the poll wakes on time rather than at GLib's next whole
 *   millisecond).  Its cost per main-loop iteration does not depend on the
 *   number of pending timers.
 *
 * Both share one priority, by default %G_PRIORITY_DEFAULT_IDLE, so GTK's
 * input, layout and painting go first, as with g_idle_add().
 *
 * There is one loop per #GMainContext: [ctor@Coop.Loop.new] returns the
 * existing loop of a context if it has one, and [func@Coop.Loop.get_default]
 * returns (creating it when needed) the loop of the thread-default context.
 * A loop belongs to the thread that runs its context; of its methods only
 * [method@Coop.Loop.call_soon_threadsafe] may be called from other threads
 * (and [method@Coop.Future.cancel_threadsafe] for its futures and tasks).
 * The others refuse, with a critical warning, a call made while another
 * thread iterates the loop's context (see the "Threads" guide).
 */

/**
 * CoopHandle:
 *
 * A callback scheduled on a loop, which can be cancelled until it runs.
 *
 * Handles are reference counted; the functions that return one give the
 * caller a reference, which it releases with [method@Coop.Handle.unref]
 * (the loop keeps its own until the callback has run or is cancelled).
 * Handles are used from the loop's thread only.
 */
struct _CoopHandle
{
  gint            ref_count;
  guint           cancelled : 1;
  guint           done : 1;
  guint           is_timer : 1;
  guint           running : 1;       /* inside its callback */
  guint           heap_index;        /* position in the timer heap, timers only */
  CoopLoop       *loop;              /* not a reference; cleared when the loop drops the handle */
  CoopCallback    callback;
  gpointer        user_data;
  GDestroyNotify  notify;
  gint64          when;
  guint64         seq;               /* FIFO among equal deadlines */
};

typedef CoopReadyEntry ReadyEntry;


enum {
  PROP_0,
  PROP_CONTEXT,
  PROP_PRIORITY,
  PROP_STACK_SIZE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (CoopLoop, coop_loop, G_TYPE_OBJECT)

G_DEFINE_BOXED_TYPE (CoopHandle, coop_handle, coop_handle_ref, coop_handle_unref)

#define DEFAULT_STACK_SIZE (256 * 1024)

/* --- the registry: one loop per context ----------------------------------- */

static GMutex registry_lock;
static GHashTable *registry;     /* GMainContext* -> GWeakRef* */

static CoopLoop *
registry_lookup_locked (GMainContext *context)
{
  GWeakRef *ref;

  if (registry == NULL)
    return NULL;
  ref = g_hash_table_lookup (registry, context);
  return ref != NULL ? g_weak_ref_get (ref) : NULL;
}

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

static void
registry_insert_locked (GMainContext *context,
                        CoopLoop     *loop)
{
  GWeakRef *ref;

  if (registry == NULL)
    registry = g_hash_table_new_full (NULL, NULL, NULL, weak_ref_free);
  ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, loop);
  g_hash_table_replace (registry, context, ref);
}

static void
registry_remove (CoopLoop *loop)
{
  /* coop_mutex_lock: loops are made and closed on several threads at
   * once (a CoopLoopPool's workers), and TSan must see the lock. */
  coop_mutex_lock (&registry_lock);
  if (registry != NULL)
    {
      GWeakRef *ref = g_hash_table_lookup (registry, loop->context);

      if (ref != NULL)
        {
          CoopLoop *current = g_weak_ref_get (ref);

          /* Only remove the entry if it is ours (or dead). */
          if (current == NULL || current == loop)
            g_hash_table_remove (registry, loop->context);
          /* Dropping this reference cannot finalize anything: either it is
           * another loop, alive, or our own, and we hold one. */
          g_clear_object (&current);
        }
    }
  coop_mutex_unlock (&registry_lock);
}

/* --- handles ---------------------------------------------------------------- */

static CoopHandle *
handle_new (CoopLoop       *loop,
            CoopCallback    callback,
            gpointer        user_data,
            GDestroyNotify  notify)
{
  CoopHandle *handle = g_new (CoopHandle, 1);

  handle->ref_count = 2;         /* the caller's and the loop's */
  handle->cancelled = FALSE;
  handle->done = FALSE;
  handle->is_timer = FALSE;
  handle->running = FALSE;
  handle->heap_index = G_MAXUINT;
  handle->loop = loop;
  handle->callback = callback;
  handle->user_data = user_data;
  handle->notify = notify;
  handle->when = 0;
  handle->seq = 0;
  return handle;
}

/* Drops the callback and its data; runs the destroy notify once. */
static void
handle_release_callback (CoopHandle *handle)
{
  GDestroyNotify notify = handle->notify;
  gpointer user_data = handle->user_data;

  handle->done = TRUE;
  handle->callback = NULL;
  handle->notify = NULL;
  handle->user_data = NULL;
  if (notify != NULL)
    notify (user_data);
}

/**
 * coop_handle_ref:
 * @handle: a handle
 *
 * Takes a reference on @handle.
 *
 * Returns: (transfer full): @handle
 */
CoopHandle *
coop_handle_ref (CoopHandle *handle)
{
  g_return_val_if_fail (handle != NULL, NULL);
  g_return_val_if_fail (handle->ref_count > 0, NULL);

  g_atomic_int_inc (&handle->ref_count);
  return handle;
}

/**
 * coop_handle_unref:
 * @handle: (transfer full): a handle
 *
 * Releases a reference on @handle.  This does not cancel the callback: the
 * loop keeps its own reference until the callback has run.
 */
void
coop_handle_unref (CoopHandle *handle)
{
  g_return_if_fail (handle != NULL);
  g_return_if_fail (handle->ref_count > 0);

  if (g_atomic_int_dec_and_test (&handle->ref_count))
    {
      /* The loop holds a reference while the callback is pending, so the
       * callback is gone by now. */
      g_assert (handle->callback == NULL);
      g_free (handle);
    }
}

/* Handles of repeating callbacks (fd readers and writers): the I/O code
 * owns one reference and runs the callback each time the fd is ready. */
CoopHandle *
coop_handle_new_repeating (CoopLoop       *loop,
                           CoopCallback    callback,
                           gpointer        user_data,
                           GDestroyNotify  notify)
{
  CoopHandle *handle = handle_new (loop, callback, user_data, notify);

  handle->ref_count = 1;
  return handle;
}

gboolean
coop_handle_run_repeating (CoopHandle *handle)
{
  gboolean live = TRUE;

  if (handle->cancelled || handle->done)
    return FALSE;
  /* The callback may remove itself, dropping its owner's reference. */
  coop_handle_ref (handle);
  handle->running = TRUE;
  handle->callback (handle->user_data);
  handle->running = FALSE;
  if (handle->cancelled)
    {
      handle_release_callback (handle);
      live = FALSE;
    }
  coop_handle_unref (handle);
  return live;
}

gboolean
coop_handle_is_live (CoopHandle *handle)
{
  return !handle->cancelled && !handle->done;
}

/* The owner drops a repeating handle: its callback will not run again. */
void
coop_handle_finish_repeating (CoopHandle *handle)
{
  if (!handle->done)
    {
      if (handle->running)
        handle->cancelled = TRUE;   /* released when the callback returns */
      else
        handle_release_callback (handle);
    }
  coop_handle_unref (handle);
}

static void heap_remove (CoopLoop *loop, CoopHandle *handle);
static void timer_source_update (CoopLoop *loop);

/**
 * coop_handle_cancel:
 * @handle: a handle
 *
 * Cancels the callback of @handle: it will not run, and its destroy notify
 * runs now.  Cancelling a handle whose callback already ran, or was already
 * cancelled, does nothing.  A cancelled timer leaves the timer heap at once.
 */
void
coop_handle_cancel (CoopHandle *handle)
{
  g_return_if_fail (handle != NULL);
  g_return_if_fail (handle->ref_count > 0);

  /* A handle may outlive its loop: its loop is looked at only while the
   * callback is pending, which keeps the loop alive. */
  if (handle->cancelled || handle->done)
    return;
  coop_return_if_wrong_thread (handle->loop, COOP_INSTEAD_THREADSAFE);

  handle->cancelled = TRUE;
  /* Cancelled from its own callback: its data is released when the
   * callback returns, not under its feet. */
  if (handle->running)
    return;
  if (handle->is_timer && handle->heap_index != G_MAXUINT)
    {
      CoopLoop *loop = handle->loop;
      gboolean was_first = handle->heap_index == 0;

      heap_remove (loop, handle);
      if (was_first)
        timer_source_update (loop);
      handle_release_callback (handle);
      coop_handle_unref (handle);   /* the heap's reference */
      return;
    }

  /* Still in the ready ring: it stays there, as a no-op. */
  handle_release_callback (handle);
}

/**
 * coop_handle_is_cancelled:
 * @handle: a handle
 *
 * Tells whether @handle was cancelled.
 *
 * Returns: whether [method@Coop.Handle.cancel] was called on @handle before
 *   its callback ran
 */
gboolean
coop_handle_is_cancelled (CoopHandle *handle)
{
  g_return_val_if_fail (handle != NULL, FALSE);

  return handle->cancelled;
}

/**
 * coop_handle_get_when:
 * @handle: a handle
 *
 * Gets the time at which a timer handle is due.
 *
 * Returns: the deadline of a timer handle, in microseconds of the monotonic
 *   clock, or 0 for a handle made by [method@Coop.Loop.call_soon]
 */
gint64
coop_handle_get_when (CoopHandle *handle)
{
  g_return_val_if_fail (handle != NULL, 0);

  return handle->when;
}

/* --- the ready queue ---------------------------------------------------------- */

static void
ready_grow (CoopLoop *loop)
{
  guint old_cap = loop->ready.mask + 1;
  guint new_cap = old_cap * 2;
  ReadyEntry *ring = g_new (ReadyEntry, new_cap);
  guint first = MIN (loop->ready.len, old_cap - loop->ready.head);

  /* Unwrap the ring into the new array. */
  memcpy (ring, loop->ready.ring + loop->ready.head, first * sizeof (ReadyEntry));
  memcpy (ring + first, loop->ready.ring, (loop->ready.len - first) * sizeof (ReadyEntry));
  g_free (loop->ready.ring);
  loop->ready.ring = ring;
  loop->ready.head = 0;
  loop->ready.mask = new_cap - 1;
}

/* What the inlined coop_loop_push_ready() leaves to a call: a closed
 * loop, or a full ring. */
void
coop_loop_push_ready_slow (CoopLoop      *loop,
                           CoopReadyFunc  func,
                           CoopReadyFunc  discard,
                           gpointer       data)
{
  ReadyEntry *entry;

  /* Nothing runs on a closed loop: what would have been queued is
   * released at once (it may hold references on the loop itself). */
  if (G_UNLIKELY (loop->ready.closed))
    {
      if (discard != NULL)
        discard (data);
      return;
    }
  if (loop->ready.len > loop->ready.mask)
    ready_grow (loop);
  entry = &loop->ready.ring[(loop->ready.head + loop->ready.len) & loop->ready.mask];
  entry->func = func;
  entry->discard = discard;
  entry->data = data;
  loop->ready.len++;
}

static void
run_handle (gpointer data)
{
  CoopHandle *handle = data;

  if (G_LIKELY (!handle->cancelled))
    {
      handle->running = TRUE;
      handle->callback (handle->user_data);
      handle->running = FALSE;
      handle_release_callback (handle);
    }
  coop_handle_unref (handle);
}

static void
discard_handle (gpointer data)
{
  CoopHandle *handle = data;

  if (!handle->done)
    {
      handle->cancelled = TRUE;
      handle_release_callback (handle);
    }
  coop_handle_unref (handle);
}

static void
run_threadsafe_item (gpointer data)
{
  ThreadsafeItem *item = data;

  item->callback (item->user_data);
  if (item->notify != NULL)
    item->notify (item->user_data);
  g_free (item);
}

static void
discard_threadsafe_item (gpointer data)
{
  ThreadsafeItem *item = data;

  if (item->notify != NULL)
    item->notify (item->user_data);
  g_free (item);
}

/* Moves what other threads queued into the ready ring. */
static void
take_threadsafe_items (CoopLoop *loop)
{
  ThreadsafeItem *item;

  coop_mutex_lock (&loop->ts_lock);
  item = loop->ts_head;
  loop->ts_head = loop->ts_tail = NULL;
  /* Reset under the lock: a producer that queues after this point sees the
   * flag down and wakes the context again, so no wake-up is lost. */
  g_atomic_int_set (&loop->ts_pending, FALSE);
  coop_mutex_unlock (&loop->ts_lock);

  while (item != NULL)
    {
      ThreadsafeItem *next = item->next;

      coop_loop_push_ready (loop, run_threadsafe_item, discard_threadsafe_item, item);
      item = next;
    }
}

static gboolean
ready_source_prepare (GSource *source,
                      int     *timeout)
{
  CoopLoop *loop = ((LoopSource *) source)->loop;

  *timeout = -1;
  if (loop->ready.len > 0 || g_atomic_int_get (&loop->ts_pending))
    {
      *timeout = 0;
      return TRUE;
    }
  return FALSE;
}

static gboolean
ready_source_check (GSource *source)
{
  CoopLoop *loop = ((LoopSource *) source)->loop;

  return loop->ready.len > 0 || g_atomic_int_get (&loop->ts_pending);
}

/* GIO delivers callbacks to the thread-default context of an _async call:
 * while the loop runs callbacks and tasks, that must be the loop's own,
 * even when some other main loop iterates it without pushing it. */
static gboolean
push_context_if_needed (CoopLoop *loop)
{
  GMainContext *current = g_main_context_get_thread_default ();

  if (current == loop->context || (current == NULL && loop->context == g_main_context_default ()))
    return FALSE;
  g_main_context_push_thread_default (loop->context);
  return TRUE;
}

static void run_due_timers (CoopLoop *loop,
                            gint64    now);

/* How long one dispatch of the ready source may run batch after batch, and
 * how often it looks at the clock when no timer is pending. */
#define READY_BUDGET_USEC 1000
#define READY_ROUNDS_PER_CLOCK_CHECK 32
#define READY_ENTRIES_PER_CLOCK_CHECK 64

/* Whether the dispatch of @source, at @now, has used up its budget of the
 * iteration (which began at g_source_get_time()). */
static inline gboolean
over_budget_at (GSource *source,
                gint64   now)
{
  return now - g_source_get_time (source) >= READY_BUDGET_USEC;
}


/* Takes the entry at the head of the ready queue (which is not empty). */
static inline ReadyEntry
ready_pop (CoopLoop *loop)
{
  ReadyEntry entry = loop->ready.ring[loop->ready.head];

  loop->ready.head = (loop->ready.head + 1) & loop->ready.mask;
  loop->ready.len--;
  return entry;
}

/* A batch of @n entries in debug mode (coop-debug.c times each entry);
 * returns whether the budget ran out. */
static gboolean
run_batch_debug (CoopLoop *loop,
                 GSource  *source,
                 guint     n,
                 guint    *since_clock)
{
  while (n-- > 0 && loop->ready.len > 0)
    {
      ReadyEntry entry = ready_pop (loop);

      coop_debug_run_entry (loop, entry.func, entry.data,
                            entry.func == run_handle ? (gpointer) ((CoopHandle *) entry.data)->callback
                                                     : (gpointer) entry.func);
      if (++*since_clock == READY_ENTRIES_PER_CLOCK_CHECK)
        {
          *since_clock = 0;
          if (over_budget_at (source, g_get_monotonic_time ()))
            return TRUE;
        }
    }
  return FALSE;
}

static inline void loop_schedule_stack_trim (CoopLoop *loop);

static gboolean
ready_source_dispatch (GSource     *source,
                       GSourceFunc  callback,
                       gpointer     user_data)
{
  CoopLoop *loop = ((LoopSource *) source)->loop;
  GMainContext *context = loop->context;
  gboolean pushed;
  gboolean over_budget = FALSE;
  guint since_clock = 0;
  guint rounds;
  guint n;

  /* Whoever dispatches owns the context: the loop's thread now. */
  coop_loop_set_owner_self (loop);
  if (g_atomic_int_get (&loop->ts_pending))
    take_threadsafe_items (loop);

  g_object_ref (loop);
  pushed = push_context_if_needed (loop);
  coop_marks_refresh ();

  /* Batches: exactly the entries queued before each began.  Entries queued
   * by a batch run in the next one, as in asyncio, but the next batch runs
   * in this same dispatch rather than after a trip through the main loop
   * (a task hand-off then costs under 50 ns and a chained callback about
   * 20 ns, not a GLib iteration each), until the queue is empty, the loop
   * is asked to stop, or the dispatch has run for READY_BUDGET_USEC
   * (checked inside a batch too): then the other sources of the context
   * (GTK's, timers, I/O) get their turn. */
  for (rounds = 0; ; rounds++)
    {
      n = loop->ready.len;
      if (G_UNLIKELY (loop->debug_flags != 0))
        over_budget = run_batch_debug (loop, source, n, &since_clock);
      else
        {
          while (n-- > 0 && loop->ready.len > 0)
            {
              ReadyEntry entry = ready_pop (loop);
              CoopReadyFunc func = entry.func;
              gpointer data = entry.data;

              if (G_LIKELY (func == coop_task_step))
                coop_task_step_inline (data);
              else
                func (data);
              /* A batch of thousands of task steps can take milliseconds:
               * the budget holds inside a batch too.  What is left of it
               * stays at the head of the queue, in order, for the next
               * dispatch. */
              if (G_UNLIKELY (++since_clock == READY_ENTRIES_PER_CLOCK_CHECK))
                {
                  since_clock = 0;
                  if (over_budget_at (source, g_get_monotonic_time ()))
                    {
                      over_budget = TRUE;
                      break;
                    }
                }
            }
        }
      if (over_budget)
        break;

      if (loop->ready.len == 0 && !g_atomic_int_get (&loop->ts_pending))
        break;
      /* The hint is cheap; coop_loop_stop_pending() asks GLib. */
      if (G_UNLIKELY (loop->stop_hint || loop->ready.closed) &&
          (loop->ready.closed || coop_loop_stop_pending (loop)))
        break;
      if (loop->heap_len > 0)
        {
          /* Between batches, as between iterations: due timers first. */
          gint64 now = g_get_monotonic_time ();

          if (over_budget_at (source, now))
            break;
          if (loop->heap[0]->when <= now)
            run_due_timers (loop, now);
        }
      else if (rounds % READY_ROUNDS_PER_CLOCK_CHECK == READY_ROUNDS_PER_CLOCK_CHECK - 1 &&
               over_budget_at (source, g_get_monotonic_time ()))
        break;
      if (g_atomic_int_get (&loop->ts_pending))
        take_threadsafe_items (loop);
    }

  /* Nothing ready: a burst is over, a good time to give back what it left
   * in the future pool and the stack pool (a compare or two while they
   * are small). */
  if (loop->ready.len == 0)
    {
      coop_future_pool_trim (loop->future_pool);
      loop_schedule_stack_trim (loop);
    }

  if (pushed)
    g_main_context_pop_thread_default (context);
  g_object_unref (loop);

  return G_SOURCE_CONTINUE;
}

/* --- giving back the stacks of a burst -------------------------------------
 *
 * The stacks a burst of tasks leaves behind stay warm, so the next burst
 * faults in no page (coop-fiber.c).  The pages go back in slices from a
 * source of low priority, which runs only when nothing else is ready: the
 * pool decides how much and when (half per round, a round at most once a
 * second), the source gives it the time. */

#define STACK_TRIM_BUDGET 256   /* stacks per slice: a fraction of a ms */

static gboolean
stack_trim_dispatch (GSource     *source,
                     GSourceFunc  callback,
                     gpointer     user_data)
{
  CoopLoop *loop = ((LoopSource *) source)->loop;
  gint64 next;

  if (loop == NULL)
    return G_SOURCE_CONTINUE;
  next = coop_stack_pool_trim_idle (loop->stack_pool, g_get_monotonic_time (), STACK_TRIM_BUDGET);
  g_source_set_ready_time (source, next != 0 ? next : -1);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs stack_trim_funcs = {
  NULL,
  NULL,
  stack_trim_dispatch,
  NULL, NULL, NULL,
};

/* When the ready queue runs dry: a compare or two unless a burst left
 * stacks to give back and no slice is scheduled yet. */
static inline void
loop_schedule_stack_trim (CoopLoop *loop)
{
  GSource *source = (GSource *) loop->stack_trim_source;

  if (G_UNLIKELY (coop_stack_pool_has_surplus (loop->stack_pool)) &&
      source != NULL && g_source_get_ready_time (source) == -1)
    g_source_set_ready_time (source, 0);
}

static GSourceFuncs ready_source_funcs = {
  ready_source_prepare,
  ready_source_check,
  ready_source_dispatch,
  NULL, NULL, NULL,
};

/* --- timers ------------------------------------------------------------------- */

static inline gboolean
handle_before (const CoopHandle *a,
               const CoopHandle *b)
{
  return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static inline void
heap_set (CoopLoop   *loop,
          guint       i,
          CoopHandle *handle)
{
  loop->heap[i] = handle;
  handle->heap_index = i;
}

static void
heap_sift_up (CoopLoop *loop,
              guint     i)
{
  CoopHandle *handle = loop->heap[i];

  while (i > 0)
    {
      guint parent = (i - 1) / 2;

      if (!handle_before (handle, loop->heap[parent]))
        break;
      heap_set (loop, i, loop->heap[parent]);
      i = parent;
    }
  heap_set (loop, i, handle);
}

static void
heap_sift_down (CoopLoop *loop,
                guint     i)
{
  CoopHandle *handle = loop->heap[i];

  for (;;)
    {
      guint child = 2 * i + 1;

      if (child >= loop->heap_len)
        break;
      if (child + 1 < loop->heap_len && handle_before (loop->heap[child + 1], loop->heap[child]))
        child++;
      if (!handle_before (loop->heap[child], handle))
        break;
      heap_set (loop, i, loop->heap[child]);
      i = child;
    }
  heap_set (loop, i, handle);
}

static void
heap_push (CoopLoop   *loop,
           CoopHandle *handle)
{
  if (loop->heap_len == loop->heap_cap)
    {
      loop->heap_cap = MAX (64, loop->heap_cap * 2);
      loop->heap = g_renew (CoopHandle *, loop->heap, loop->heap_cap);
    }
  loop->heap[loop->heap_len] = handle;
  handle->heap_index = loop->heap_len;
  loop->heap_len++;
  heap_sift_up (loop, handle->heap_index);
}

static void
heap_remove (CoopLoop   *loop,
             CoopHandle *handle)
{
  guint i = handle->heap_index;
  CoopHandle *last;

  g_assert (i < loop->heap_len && loop->heap[i] == handle);

  handle->heap_index = G_MAXUINT;
  loop->heap_len--;
  if (i == loop->heap_len)
    return;
  last = loop->heap[loop->heap_len];
  heap_set (loop, i, last);
  if (i > 0 && handle_before (last, loop->heap[(i - 1) / 2]))
    heap_sift_up (loop, i);
  else
    heap_sift_down (loop, i);
}

static void
timer_source_update (CoopLoop *loop)
{
  gint64 earliest;

  if (loop->timer_source == NULL)
    return;
  earliest = loop->heap_len > 0 ? loop->heap[0]->when : -1;
  g_source_set_ready_time ((GSource *) loop->timer_source, earliest);
  coop_timer_fd_arm (&loop->timer_fd, (GSource *) loop->timer_source, earliest);
}

/* Runs the timers due at @now.  Every expired timer is taken first, then
 * run: a timer scheduled by one of these callbacks waits for the next
 * iteration, even if it is already due (asyncio's _run_once does the
 * same). */
static void
run_due_timers (CoopLoop *loop,
                gint64    now)
{
  GPtrArray *expired;
  guint i;

  expired = loop->expired;
  loop->expired = NULL;
  if (expired == NULL)
    expired = g_ptr_array_new ();
  while (loop->heap_len > 0 && loop->heap[0]->when <= now)
    {
      CoopHandle *handle = loop->heap[0];

      heap_remove (loop, handle);
      g_ptr_array_add (expired, handle);
    }
  timer_source_update (loop);

  for (i = 0; i < expired->len; i++)
    {
      CoopHandle *handle = g_ptr_array_index (expired, i);

      if (G_UNLIKELY (loop->closed))
        discard_handle (handle);   /* closed by an earlier one: release, don't run */
      else if (G_UNLIKELY (loop->debug_flags != 0))
        coop_debug_run_entry (loop, run_handle, handle, (gpointer) handle->callback);
      else
        run_handle (handle);
    }
  g_ptr_array_set_size (expired, 0);
  if (loop->expired == NULL)
    loop->expired = expired;
  else
    g_ptr_array_unref (expired);
}

static gboolean
timer_source_dispatch (GSource     *source,
                       GSourceFunc  callback,
                       gpointer     user_data)
{
  CoopLoop *loop = ((LoopSource *) source)->loop;
  GMainContext *context = loop->context;
  gboolean pushed;
  gint64 now;

  coop_loop_set_owner_self (loop);
  g_object_ref (loop);
  pushed = push_context_if_needed (loop);
  now = g_get_monotonic_time ();
  coop_timer_fd_fired (&loop->timer_fd, source, now);
  run_due_timers (loop, now);
  if (pushed)
    g_main_context_pop_thread_default (context);
  g_object_unref (loop);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_source_funcs = {
  NULL,
  NULL,
  timer_source_dispatch,
  NULL, NULL, NULL,
};

static LoopSource *
loop_source_new (CoopLoop     *loop,
                 GSourceFuncs *funcs,
                 const char   *name)
{
  LoopSource *source = (LoopSource *) g_source_new (funcs, sizeof (LoopSource));

  source->loop = loop;
  g_source_set_static_name ((GSource *) source, name);
  g_source_set_priority ((GSource *) source, loop->priority);
  g_source_set_can_recurse ((GSource *) source, TRUE);
  g_source_attach ((GSource *) source, loop->context);
  return source;
}

static void
loop_source_destroy (LoopSource **sourcep)
{
  LoopSource *source = *sourcep;

  if (source == NULL)
    return;
  *sourcep = NULL;
  source->loop = NULL;
  g_source_destroy ((GSource *) source);
  g_source_unref ((GSource *) source);
}

/* For the tests: the timerfd that wakes the loop's poll, or -1. */
int
coop_loop_get_timer_fd (CoopLoop *loop)
{
  return loop->timer_fd.fd;
}

/* --- GObject -------------------------------------------------------------------- */

G_STATIC_ASSERT (G_STRUCT_OFFSET (CoopLoop, ready) == G_STRUCT_OFFSET (CoopLoopHead, ready));
G_STATIC_ASSERT (G_STRUCT_OFFSET (CoopLoop, owner) == G_STRUCT_OFFSET (CoopLoopHead, owner));

static void
coop_loop_init (CoopLoop *loop)
{
  loop->priority = G_PRIORITY_DEFAULT_IDLE;
  loop->ready.mask = 256 - 1;
  loop->ready.ring = g_new (ReadyEntry, 256);
  g_mutex_init (&loop->ts_lock);
  g_queue_init (&loop->tasks);
  g_queue_init (&loop->dense_tasks);
  g_queue_init (&loop->thens);
  loop->run_stack = g_array_new (FALSE, FALSE, sizeof (RunFrame));
  loop->stack_pool = coop_stack_pool_new (DEFAULT_STACK_SIZE);
  loop->future_pool = coop_future_pool_new ();
  coop_timer_fd_init (&loop->timer_fd);
  coop_loop_set_owner_self (loop);
}

static void
coop_loop_constructed (GObject *object)
{
  CoopLoop *loop = COOP_LOOP (object);

  G_OBJECT_CLASS (coop_loop_parent_class)->constructed (object);

  if (loop->context == NULL)
    loop->context = g_main_context_ref_thread_default ();

  /* The timer source is attached first, so that in an iteration where both
   * are ready the expired timers run before the ready queue. */
  loop->timer_source = loop_source_new (loop, &timer_source_funcs, "[coop-timers]");
  loop->ready_source = loop_source_new (loop, &ready_source_funcs, "[coop-ready]");
  loop->stack_trim_source = loop_source_new (loop, &stack_trim_funcs, "[coop-stack-trim]");
  g_source_set_priority ((GSource *) loop->stack_trim_source, G_PRIORITY_LOW);

  coop_debug_loop_init (loop);
}

/* Cancels and releases everything still queued.  Used by close and
 * finalize. */
static void
loop_drain (CoopLoop *loop)
{
  ThreadsafeItem *item;

  /* Tasks that can never run again, in one report. */
  coop_task_abandon_all (loop, &loop->tasks);
  coop_dense_task_abandon_all (loop, &loop->dense_tasks);

  /* then() callbacks on futures that can no longer complete through this
   * loop: neither callback will run, both destroy notifies do. */
  while (loop->thens.head != NULL)
    coop_future_drop_then (loop->thens.head);

  while (loop->ready.len > 0)
    {
      ReadyEntry entry = ready_pop (loop);

      if (entry.discard != NULL)
        entry.discard (entry.data);
    }

  while (loop->heap_len > 0)
    {
      CoopHandle *handle = loop->heap[loop->heap_len - 1];

      heap_remove (loop, handle);
      handle->cancelled = TRUE;
      handle_release_callback (handle);
      coop_handle_unref (handle);
    }

  coop_mutex_lock (&loop->ts_lock);
  item = loop->ts_head;
  loop->ts_head = loop->ts_tail = NULL;
  g_atomic_int_set (&loop->ts_pending, FALSE);
  coop_mutex_unlock (&loop->ts_lock);
  while (item != NULL)
    {
      ThreadsafeItem *next = item->next;

      discard_threadsafe_item (item);
      item = next;
    }
}

static void
coop_loop_finalize (GObject *object)
{
  CoopLoop *loop = COOP_LOOP (object);

  registry_remove (loop);
  coop_debug_loop_shutdown (loop);
  coop_io_shutdown (loop);
  loop_drain (loop);
  loop_source_destroy (&loop->ready_source);
  loop_source_destroy (&loop->stack_trim_source);
  coop_timer_fd_clear (&loop->timer_fd, (GSource *) loop->timer_source);
  loop_source_destroy (&loop->timer_source);
  g_clear_pointer (&loop->future_pool, coop_future_pool_free);

  if (loop->exception_notify != NULL)
    loop->exception_notify (loop->exception_data);

  coop_stack_pool_free (loop->stack_pool);
  g_clear_pointer (&loop->expired, g_ptr_array_unref);
  g_free (loop->heap);
  g_free (loop->ready.ring);
  g_array_unref (loop->run_stack);
  g_mutex_clear (&loop->ts_lock);
  g_main_context_unref (loop->context);

  G_OBJECT_CLASS (coop_loop_parent_class)->finalize (object);
}

static void
coop_loop_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  CoopLoop *loop = COOP_LOOP (object);

  switch (prop_id)
    {
    case PROP_CONTEXT:
      g_value_set_boxed (value, loop->context);
      break;
    case PROP_PRIORITY:
      g_value_set_int (value, loop->priority);
      break;
    case PROP_STACK_SIZE:
      g_value_set_uint64 (value, coop_stack_pool_get_default_size (loop->stack_pool));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_loop_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  CoopLoop *loop = COOP_LOOP (object);

  switch (prop_id)
    {
    case PROP_CONTEXT:
      loop->context = g_value_dup_boxed (value);
      break;
    case PROP_PRIORITY:
      coop_loop_set_priority (loop, g_value_get_int (value));
      break;
    case PROP_STACK_SIZE:
      coop_loop_set_stack_size (loop, g_value_get_uint64 (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_loop_class_init (CoopLoopClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = coop_loop_constructed;
  object_class->finalize = coop_loop_finalize;
  object_class->get_property = coop_loop_get_property;
  object_class->set_property = coop_loop_set_property;

  /**
   * CoopLoop:context:
   *
   * The #GMainContext whose sources run this loop.
   */
  properties[PROP_CONTEXT] =
    g_param_spec_boxed ("context", NULL, NULL,
                        G_TYPE_MAIN_CONTEXT,
                        G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * CoopLoop:priority:
   *
   * The priority of the loop's sources, %G_PRIORITY_DEFAULT_IDLE unless
   * changed.
   */
  properties[PROP_PRIORITY] =
    g_param_spec_int ("priority", NULL, NULL,
                      G_MININT, G_MAXINT, G_PRIORITY_DEFAULT_IDLE,
                      G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * CoopLoop:stack-size:
   *
   * The stack size, in bytes, of tasks that do not ask for their own.
   */
  properties[PROP_STACK_SIZE] =
    g_param_spec_uint64 ("stack-size", NULL, NULL,
                         16 * 1024, G_MAXUINT32, DEFAULT_STACK_SIZE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

/* --- public API ------------------------------------------------------------------- */

/**
 * coop_loop_new:
 * @context: (nullable): a #GMainContext, or %NULL for the thread-default one
 *
 * Returns the loop of @context, creating it if the context has none yet.
 * There is at most one loop per context: calling this twice for the same
 * context returns the same loop (with a new reference) until it is closed.
 *
 * Returns: (transfer full): the loop of @context
 */
CoopLoop *
coop_loop_new (GMainContext *context)
{
  g_autoptr(GMainContext) ctx = NULL;
  CoopLoop *loop;

  ctx = context != NULL ? g_main_context_ref (context) : g_main_context_ref_thread_default ();

  coop_mutex_lock (&registry_lock);
  loop = registry_lookup_locked (ctx);
  if (loop == NULL)
    {
      loop = g_object_new (COOP_TYPE_LOOP, "context", ctx, NULL);
      registry_insert_locked (ctx, loop);
    }
  coop_mutex_unlock (&registry_lock);

  return loop;
}

static GPrivate default_loops = G_PRIVATE_INIT ((GDestroyNotify) g_ptr_array_unref);

/**
 * coop_loop_get_default:
 *
 * Returns the loop of the thread-default #GMainContext, creating it when
 * needed.  In a GTK or #GApplication program this is the loop that runs
 * inside the application's own main loop, with no extra call.  The thread
 * keeps a reference to the loops it made this way until it exits or the
 * loop is closed.
 *
 * Returns: (transfer none): the loop of the thread-default context
 */
CoopLoop *
coop_loop_get_default (void)
{
  GPtrArray *loops = g_private_get (&default_loops);
  GMainContext *context = g_main_context_get_thread_default ();
  CoopLoop *loop;
  guint i;

  if (context == NULL)
    context = g_main_context_default ();

  if (loops != NULL)
    {
      for (i = 0; i < loops->len; i++)
        {
          loop = g_ptr_array_index (loops, i);
          if (loop->context == context)
            {
              if (!coop_loop_is_closed (loop))
                return loop;
              g_ptr_array_remove_index_fast (loops, i);
              break;
            }
        }
    }
  else
    {
      loops = g_ptr_array_new_with_free_func (g_object_unref);
      g_private_set (&default_loops, loops);
    }

  loop = coop_loop_new (context);
  g_ptr_array_add (loops, loop);
  return loop;
}

/**
 * coop_loop_get_context:
 * @loop: a loop
 *
 * Gets the main context that @loop is attached to.
 *
 * Returns: (transfer none): the #GMainContext whose sources run @loop
 */
GMainContext *
coop_loop_get_context (CoopLoop *loop)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);

  return loop->context;
}

/**
 * coop_loop_time:
 * @loop: a loop
 *
 * The loop's clock: microseconds of the monotonic clock, the time base of
 * every `_usec` deadline in Coop.
 *
 * Returns: the current time, in microseconds
 */
gint64
coop_loop_time (CoopLoop *loop)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), 0);

  return g_get_monotonic_time ();
}

/**
 * coop_loop_get_priority:
 * @loop: a loop
 *
 * Gets the priority shared by the sources of @loop.
 *
 * Returns: the priority of the loop's sources
 */
int
coop_loop_get_priority (CoopLoop *loop)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), G_PRIORITY_DEFAULT_IDLE);

  return loop->priority;
}

/**
 * coop_loop_set_priority:
 * @loop: a loop
 * @priority: a #GSource priority
 *
 * Sets the priority of all of the loop's sources (they always share one).
 * The default, %G_PRIORITY_DEFAULT_IDLE, lets GTK's input, layout and
 * painting go first.
 */
void
coop_loop_set_priority (CoopLoop *loop,
                        int       priority)
{
  g_return_if_fail (COOP_IS_LOOP (loop));

  if (loop->priority == priority)
    return;
  loop->priority = priority;
  if (loop->ready_source != NULL)
    g_source_set_priority ((GSource *) loop->ready_source, priority);
  if (loop->timer_source != NULL)
    g_source_set_priority ((GSource *) loop->timer_source, priority);
  coop_io_set_priority (loop, priority);
  g_object_notify_by_pspec (G_OBJECT (loop), properties[PROP_PRIORITY]);
}

/**
 * coop_loop_get_stack_size:
 * @loop: a loop
 *
 * Gets the default stack size of the tasks of @loop.
 *
 * Returns: the stack size, in bytes, given to tasks that do not ask for one
 */
gsize
coop_loop_get_stack_size (CoopLoop *loop)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), 0);

  return coop_stack_pool_get_default_size (loop->stack_pool);
}

/**
 * coop_loop_set_stack_size:
 * @loop: a loop
 * @stack_size: a size in bytes, from 16 KiB to 1 GiB
 *
 * Sets the stack size of tasks created from now on that do not ask for their
 * own (see `coop_task_new_full()`).  Stack memory is reserved, not
 * committed: a task costs only the pages it touches.
 */
void
coop_loop_set_stack_size (CoopLoop *loop,
                          gsize     stack_size)
{
  g_return_if_fail (COOP_IS_LOOP (loop));
  g_return_if_fail (stack_size >= 16 * 1024);
  g_return_if_fail (stack_size <= COOP_STACK_SIZE_MAX);

  if (coop_stack_pool_get_default_size (loop->stack_pool) == stack_size)
    return;
  coop_stack_pool_set_default_size (loop->stack_pool, stack_size);
  g_object_notify_by_pspec (G_OBJECT (loop), properties[PROP_STACK_SIZE]);
}

/* GIO continues an async call on the thread-default context of the thread
 * that starts it: makes that the loop's for the call.  *pushed is the
 * context to pop afterwards, or NULL when it already was the loop's.
 * Fails (@what names the call) if another thread owns the context. */
gboolean
coop_loop_push_context (CoopLoop      *loop,
                        const char    *what,
                        GMainContext **pushed,
                        GError       **error)
{
  GMainContext *context = loop->context;
  GMainContext *current = g_main_context_get_thread_default ();

  *pushed = NULL;
  if (current == NULL)
    current = g_main_context_default ();
  if (current == context)
    return TRUE;
  if (!g_main_context_acquire (context))
    {
      g_set_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                   "%s must be started from its loop's thread "
                   "(the loop's context is owned by another thread)", what);
      return FALSE;
    }
  g_main_context_push_thread_default (context);
  g_main_context_release (context);
  *pushed = context;
  return TRUE;
}

gboolean
coop_loop_check_usable (CoopLoop  *loop,
                        GError   **error)
{
  if (G_UNLIKELY (g_atomic_int_get (&loop->closed)))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_LOOP_CLOSED,
                           "The loop is closed");
      return FALSE;
    }
  return TRUE;
}

CoopFuturePool *
coop_loop_get_future_pool (CoopLoop *loop)
{
  return loop->future_pool;
}

gint64
coop_time_after (gint64 delay_usec)
{
  gint64 now = g_get_monotonic_time ();

  if (delay_usec <= 0)
    return now;
  return delay_usec > G_MAXINT64 - now ? G_MAXINT64 : now + delay_usec;
}

CoopStackPool *
coop_loop_get_stack_pool (CoopLoop *loop)
{
  return loop->stack_pool;
}

/* The loop's lists of live tasks, stackful and dense: a task started while
 * the loop shuts down is cancelled too, and each finished one costs one
 * compare (a shutdown waits for the last). */
static void
live_task_add (CoopLoop   *loop,
               GQueue     *live,
               CoopFuture *task,
               GList      *link)
{
  link->data = task;
  g_queue_push_tail_link (live, link);
  if (G_UNLIKELY (loop->shutdown != NULL))
    coop_shutdown_task_added (loop->shutdown, task);
}

static void
live_task_remove (CoopLoop *loop,
                  GQueue   *live,
                  GList    *link)
{
  g_queue_unlink (live, link);
  if (G_UNLIKELY (loop->shutdown != NULL))
    coop_shutdown_check (loop->shutdown);
}

guint64
coop_loop_register_task (CoopLoop *loop,
                         CoopTask *task,
                         GList    *link)
{
  live_task_add (loop, &loop->tasks, COOP_FUTURE (task), link);
  return ++loop->next_task_id;
}

void
coop_loop_unregister_task (CoopLoop *loop,
                           GList    *link)
{
  live_task_remove (loop, &loop->tasks, link);
}

GQueue *
coop_loop_get_tasks_internal (CoopLoop *loop)
{
  return &loop->tasks;
}

void
coop_loop_register_dense_task (CoopLoop      *loop,
                               CoopDenseTask *task,
                               GList         *link)
{
  live_task_add (loop, &loop->dense_tasks, COOP_FUTURE (task), link);
}

void
coop_loop_unregister_dense_task (CoopLoop *loop,
                                 GList    *link)
{
  live_task_remove (loop, &loop->dense_tasks, link);
}

GQueue *
coop_loop_get_dense_tasks_internal (CoopLoop *loop)
{
  return &loop->dense_tasks;
}

CoopShutdown *
coop_loop_get_shutdown_internal (CoopLoop *loop)
{
  return loop->shutdown;
}

void
coop_loop_set_shutdown_internal (CoopLoop     *loop,
                                 CoopShutdown *shutdown)
{
  loop->shutdown = shutdown;
}

void
coop_loop_register_then (CoopLoop *loop,
                         GList    *link)
{
  g_queue_push_tail_link (&loop->thens, link);
}

void
coop_loop_unregister_then (CoopLoop *loop,
                           GList    *link)
{
  g_queue_unlink (&loop->thens, link);
}

/* --- the loop's thread (see coop-private.h) ---------------------------------- */

/* Its address identifies the calling thread. */
COOP_TLS char coop_thread_marker;

/* The caller is not the thread the loop last knew as its own.  It may use
 * the loop if it iterates the context now (it is the loop's thread from
 * then on), or if nobody does: a loop being set up before it runs, by the
 * thread that will run it or the one that made it, as asyncio allows calls
 * on a loop that is not running.  If another thread iterates the context,
 * the call would race with that thread's dispatch (a task cancelled from
 * another thread rearranged the timer heap under it): refused, touching
 * nothing. */
gboolean
coop_loop_check_thread_slow (CoopLoop   *loop,
                             const char *func,
                             const char *instead)
{
  GMainContext *context = loop->context;

  if (g_main_context_is_owner (context))
    {
      coop_loop_set_owner_self (loop);
      return TRUE;
    }
  /* Nobody iterates it if it can be acquired.  It is given back at once:
   * the thread that runs the loop takes it when it starts. */
  if (g_main_context_acquire (context))
    {
      g_main_context_release (context);
      return TRUE;
    }
  g_critical ("%s: called from a thread that does not run the loop (another thread is "
              "iterating its main context); a loop and its tasks, futures, locks, queues "
              "and streams belong to the loop's thread: %s", func, instead);
  return FALSE;
}

/* Scheduling on a closed loop is a programming error: say so and release
 * the data at once. */
static gboolean
refuse_if_closed (CoopLoop       *loop,
                  const char     *func,
                  gpointer        user_data,
                  GDestroyNotify  notify)
{
  if (!g_atomic_int_get (&loop->closed))
    return FALSE;
  g_critical ("%s: the loop is closed", func);
  if (notify != NULL)
    notify (user_data);
  return TRUE;
}

/**
 * coop_loop_call_soon:
 * @loop: a loop
 * @callback: (scope notified) (closure user_data) (destroy notify): the
 *   function to call
 * @user_data: data for @callback
 * @notify: (nullable): called with @user_data once @callback has run or was
 *   cancelled
 *
 * Queues @callback on the ready queue: it runs on a later dispatch, after
 * the callbacks queued before it (FIFO), never inside this call.
 *
 * Returns: (transfer full) (nullable): a handle that can cancel the
 *   callback, or %NULL if the loop is closed
 */
CoopHandle *
coop_loop_call_soon (CoopLoop       *loop,
                     CoopCallback    callback,
                     gpointer        user_data,
                     GDestroyNotify  notify)
{
  CoopHandle *handle;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (callback != NULL, NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  if (G_UNLIKELY (refuse_if_closed (loop, G_STRFUNC, user_data, notify)))
    return NULL;

  handle = handle_new (loop, callback, user_data, notify);
  coop_loop_push_ready (loop, run_handle, discard_handle, handle);
  return handle;
}

/**
 * coop_loop_call_at:
 * @loop: a loop
 * @when_usec: when to run, in microseconds of the monotonic clock (see
 *   [method@Coop.Loop.time])
 * @callback: (scope notified) (closure user_data) (destroy notify): the
 *   function to call
 * @user_data: data for @callback
 * @notify: (nullable): called with @user_data once @callback has run or was
 *   cancelled
 *
 * Schedules @callback to run at @when_usec, or as soon as possible after.
 * Timers with the same deadline run in the order they were scheduled.
 *
 * Returns: (transfer full) (nullable): a handle that can cancel the timer,
 *   or %NULL if the loop is closed
 */
CoopHandle *
coop_loop_call_at (CoopLoop       *loop,
                   gint64          when_usec,
                   CoopCallback    callback,
                   gpointer        user_data,
                   GDestroyNotify  notify)
{
  CoopHandle *handle;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (callback != NULL, NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  if (G_UNLIKELY (refuse_if_closed (loop, G_STRFUNC, user_data, notify)))
    return NULL;

  handle = handle_new (loop, callback, user_data, notify);
  handle->is_timer = TRUE;
  handle->when = when_usec;
  handle->seq = loop->next_seq++;
  heap_push (loop, handle);
  if (handle->heap_index == 0)
    timer_source_update (loop);
  return handle;
}

/**
 * coop_loop_call_later:
 * @loop: a loop
 * @delay_usec: the delay in microseconds (negative counts as 0)
 * @callback: (scope notified) (closure user_data) (destroy notify): the
 *   function to call
 * @user_data: data for @callback
 * @notify: (nullable): called with @user_data once @callback has run or was
 *   cancelled
 *
 * Schedules @callback to run after @delay_usec microseconds.
 *
 * Returns: (transfer full) (nullable): a handle that can cancel the timer,
 *   or %NULL if the loop is closed
 */
CoopHandle *
coop_loop_call_later (CoopLoop       *loop,
                      gint64          delay_usec,
                      CoopCallback    callback,
                      gpointer        user_data,
                      GDestroyNotify  notify)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  return coop_loop_call_at (loop, coop_time_after (delay_usec), callback, user_data, notify);
}

/**
 * coop_loop_call_soon_threadsafe:
 * @loop: a loop
 * @callback: (scope notified) (closure user_data) (destroy notify): the
 *   function to call
 * @user_data: data for @callback
 * @notify: (nullable): called with @user_data once @callback has run, or
 *   at once if the loop is closed (the callback is then dropped silently:
 *   a thread cannot know that the loop is about to close)
 *
 * Like [method@Coop.Loop.call_soon], but may be called from any thread.
 * The loop's context is woken up; a burst of calls made before the loop
 * gets to run costs one wake-up.  Callbacks queued from one thread run in
 * the order that thread queued them, on the loop's thread.
 */
void
coop_loop_call_soon_threadsafe (CoopLoop       *loop,
                                CoopCallback    callback,
                                gpointer        user_data,
                                GDestroyNotify  notify)
{
  ThreadsafeItem *item;

  g_return_if_fail (COOP_IS_LOOP (loop));
  g_return_if_fail (callback != NULL);

  item = g_new (ThreadsafeItem, 1);
  item->next = NULL;
  item->callback = callback;
  item->user_data = user_data;
  item->notify = notify;

  coop_mutex_lock (&loop->ts_lock);
  if (G_UNLIKELY (g_atomic_int_get (&loop->closed)))
    {
      /* Another thread cannot know that the loop is about to close: not a
       * programming error, the callback is just dropped. */
      coop_mutex_unlock (&loop->ts_lock);
      discard_threadsafe_item (item);
      return;
    }
  if (loop->ts_tail != NULL)
    loop->ts_tail->next = item;
  else
    loop->ts_head = item;
  loop->ts_tail = item;
  /* The first item of a batch wakes the context, still under the lock.
   * Once the lock is released the loop's thread may run the item, and what
   * it releases may be the last reference on the loop and its context (a
   * thread pool job's); the loop's thread takes this lock before it can
   * see the item, so the wake-up (one eventfd write) always happens before
   * anything the item leads to, the context's end included.  Later items
   * of the same batch only append. */
  if (!g_atomic_int_get (&loop->ts_pending))
    {
      g_atomic_int_set (&loop->ts_pending, TRUE);
      g_main_context_wakeup (loop->context);
    }
  coop_mutex_unlock (&loop->ts_lock);
}

/**
 * coop_loop_close:
 * @loop: a loop
 *
 * Closes @loop: pending callbacks and timers are cancelled (their destroy
 * notifies run), tasks still pending are abandoned (they end cancelled
 * without running again or unwinding, and are reported to the exception
 * handler in one summary: how many, and the first few names) and the
 * loop's sources leave the context, and the loop lets go of the futures it keeps for recycling
 * (they hold references on the loop: a loop that is never closed stays
 * alive).  Calls that schedule work on a closed loop are programming
 * errors.  Closing twice does nothing; closing a running loop is a
 * programming error.  Afterwards [ctor@Coop.Loop.new] makes a fresh loop
 * for the context.
 *
 * To let pending tasks finish their clean-up first, as `asyncio.run()`
 * does, use [method@Coop.Loop.shutdown] instead.
 */
void
coop_loop_close (CoopLoop *loop)
{
  g_return_if_fail (COOP_IS_LOOP (loop));
  coop_return_if_wrong_thread (loop, "close it on the loop's thread, once it stopped running");

  if (g_atomic_int_get (&loop->closed))
    return;
  if (loop->run_stack->len > 0)
    {
      g_critical ("coop_loop_close: the loop is running; stop it first");
      return;
    }
  if (coop_task_current_internal () != NULL &&
      coop_future_get_loop (COOP_FUTURE (coop_task_current_internal ())) == loop)
    {
      g_critical ("coop_loop_close: cannot close a loop from inside one of its tasks");
      return;
    }

  g_object_ref (loop);
  coop_mutex_lock (&loop->ts_lock);
  g_atomic_int_set (&loop->closed, TRUE);
  coop_mutex_unlock (&loop->ts_lock);
  loop->ready.closed = TRUE;

  registry_remove (loop);
  /* Before the tasks are abandoned (their data freed): no kernel or worker
   * thread may still write into a buffer of theirs. */
  coop_fs_loop_closing (loop);
  coop_io_shutdown (loop);
  loop_drain (loop);
  loop_source_destroy (&loop->ready_source);
  loop_source_destroy (&loop->stack_trim_source);
  coop_timer_fd_clear (&loop->timer_fd, (GSource *) loop->timer_source);
  loop_source_destroy (&loop->timer_source);
  /* The pooled futures hold references on the loop: let them go. */
  g_clear_pointer (&loop->future_pool, coop_future_pool_free);
  g_object_unref (loop);
}

/**
 * coop_loop_is_closed:
 * @loop: a loop
 *
 * Tells whether @loop is closed.
 *
 * Returns: whether [method@Coop.Loop.close] was called
 */
gboolean
coop_loop_is_closed (CoopLoop *loop)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), TRUE);

  return g_atomic_int_get (&loop->closed);
}

/**
 * coop_loop_list_tasks:
 * @loop: a loop
 *
 * Lists the loop's live tasks: created and not yet done, in creation order.
 *
 * Returns: (transfer full) (element-type Coop.Task): the tasks
 */
GList *
coop_loop_list_tasks (CoopLoop *loop)
{
  GList *result = NULL;
  GList *l;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);

  for (l = loop->tasks.tail; l != NULL; l = l->prev)
    result = g_list_prepend (result, g_object_ref (l->data));
  return result;
}

/**
 * coop_loop_set_exception_handler:
 * @loop: a loop
 * @handler: (nullable) (scope notified) (closure user_data) (destroy notify):
 *   the handler, or %NULL for the default
 * @user_data: data for @handler
 * @notify: (nullable): destroys @user_data
 *
 * Sets the function that receives errors nobody else can receive, such as
 * a failed future finalized while its error was never read.  The default
 * handler logs a warning.
 */
void
coop_loop_set_exception_handler (CoopLoop            *loop,
                                 CoopExceptionHandler handler,
                                 gpointer             user_data,
                                 GDestroyNotify       notify)
{
  GDestroyNotify old_notify;
  gpointer old_data;

  g_return_if_fail (COOP_IS_LOOP (loop));

  old_notify = loop->exception_notify;
  old_data = loop->exception_data;
  loop->exception_handler = handler;
  loop->exception_data = user_data;
  loop->exception_notify = notify;
  if (old_notify != NULL)
    old_notify (old_data);
}

/**
 * coop_loop_report_exception:
 * @loop: a loop
 * @message: what happened
 * @future: (nullable): the future concerned
 * @error: (nullable): the error concerned
 *
 * Passes a problem to the loop's exception handler (see
 * [method@Coop.Loop.set_exception_handler]).
 */
void
coop_loop_report_exception (CoopLoop     *loop,
                            const char   *message,
                            CoopFuture   *future,
                            const GError *error)
{
  g_return_if_fail (COOP_IS_LOOP (loop));
  g_return_if_fail (message != NULL);

  if (loop->exception_handler != NULL)
    loop->exception_handler (loop, message, future, error, loop->exception_data);
  else if (error != NULL)
    g_warning ("%s: %s (%s, %d)", message, error->message,
               g_quark_to_string (error->domain), error->code);
  else
    g_warning ("%s", message);
}

/* --- for coop-debug.c ------------------------------------------------------------ */

guint
coop_loop_get_debug_internal (CoopLoop *loop)
{
  return loop->debug_flags;
}

void
coop_loop_set_debug_flags_internal (CoopLoop *loop,
                                    guint     flags)
{
  loop->debug_flags = flags;
}

gpointer
coop_loop_get_debug_state (CoopLoop *loop)
{
  return loop->debug_state;
}

void
coop_loop_set_debug_state (CoopLoop *loop,
                           gpointer  state)
{
  loop->debug_state = state;
}

void
coop_loop_get_counts (CoopLoop *loop,
                      guint    *n_ready,
                      guint    *n_timers,
                      guint    *n_tasks)
{
  *n_ready = loop->ready.len;
  *n_timers = loop->heap_len;
  *n_tasks = loop->tasks.length;
}

CoopTask *
coop_loop_find_task (CoopLoop *loop,
                     guint64   id)
{
  for (GList *l = loop->tasks.head; l != NULL; l = l->next)
    if (coop_task_get_id (l->data) == id)
      return l->data;
  return NULL;
}

CoopCallback
coop_handle_get_callback (CoopHandle *handle)
{
  return handle->callback;
}
