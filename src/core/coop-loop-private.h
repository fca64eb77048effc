/* coop-loop-private.h: the loop's structure, for the files that make up
 * the loop: coop-loop.c (the ready queue, timers, the loop object) and
 * coop-loop-run.c (running and stopping it).  Internal, never installed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "coop-private.h"

G_BEGIN_DECLS

typedef struct _ThreadsafeItem ThreadsafeItem;
struct _ThreadsafeItem
{
  ThreadsafeItem *next;
  CoopCallback    callback;
  gpointer        user_data;
  GDestroyNotify  notify;
};

typedef struct
{
  GSource   source;
  CoopLoop *loop;               /* not a reference: the loop destroys its sources */
} LoopSource;

typedef struct
{
  GMainLoop *main_loop;
} RunFrame;

struct _CoopLoop
{
  GObject         parent_instance;

  /* The ready queue, right after the GObject header: CoopLoopHead in
   * coop-private.h, so that coop_loop_push_ready() is inlined. */
  CoopReadyQueue  ready;
  gconstpointer   owner;         /* the loop's thread (CoopLoopHead.owner) */

  GMainContext   *context;
  int             priority;

  /* Timers: a binary min-heap on (when, seq). */
  CoopHandle    **heap;
  guint           heap_len;
  guint           heap_cap;
  guint64         next_seq;
  GPtrArray      *expired;       /* scratch, reused by every timer dispatch */

  /* From other threads: a list under a lock plus a flag saying that a
   * wake-up is already on its way, so a burst of calls costs one wake-up. */
  GMutex          ts_lock;
  ThreadsafeItem *ts_head;
  ThreadsafeItem *ts_tail;
  gint            ts_pending;    /* atomic */
  gint            closed;        /* atomic, read by other threads */

  LoopSource     *ready_source;
  LoopSource     *timer_source;
  LoopSource     *stack_trim_source;  /* G_PRIORITY_LOW, see loop_schedule_stack_trim() */
  CoopTimerFd     timer_fd;      /* wakes the poll at the earliest deadline */

  GQueue          tasks;         /* live tasks, links embedded in the tasks */
  GQueue          dense_tasks;   /* live CoopDenseTasks, the same way */
  CoopShutdown   *shutdown;      /* while coop_loop_shutdown() waits */
  GQueue          thens;         /* coop_future_then() records on pending futures */
  guint64         next_task_id;  /* the last number given to a task */
  CoopFuturePool *future_pool;   /* NULL once closed */
  CoopStackPool  *stack_pool;

  GArray         *run_stack;     /* RunFrame, innermost last */
  gboolean        stop_requested;
  gboolean        stop_hint;     /* a run may have been told to return:
                                  * set by everything that quits a run's
                                  * main loop, recomputed when a run ends */

  CoopExceptionHandler exception_handler;
  gpointer             exception_data;
  GDestroyNotify       exception_notify;

  /* Debug mode (coop-debug.c): the only thing hot paths look at is
   * debug_flags, once per dispatch. */
  guint           debug_flags;   /* CoopDebugFlags */
  gpointer        debug_state;
};

/* Whether run_forever()/run_until_complete() was told to return (its main
 * loop quit) or stop() was called before a run: then no further batch. */
static inline gboolean
coop_loop_stop_pending (CoopLoop *loop)
{
  if (loop->run_stack->len == 0)
    return loop->stop_requested;
  return !g_main_loop_is_running (g_array_index (loop->run_stack, RunFrame,
                                                 loop->run_stack->len - 1).main_loop);
}

G_END_DECLS
