/* fuzz-ops.c: libFuzzer target that reads its input as a program of API
 * operations on one loop.
 *
 * The main program creates futures, sets, fails and cancels them,
 * combines them (gather, wait_for, shield, sleep), puts items on a
 * queue, spawns and cancels tasks, drops references and iterates the
 * loop.  Each task reads its own operations from the same input when it
 * runs: await a slot's future, yield, sleep, get from the queue under a
 * timeout, return a value, fail.  Misuse is allowed where it is a
 * documented error (awaiting a cancelled future, setting a done one is
 * avoided since it is a critical).  After the input: every task is
 * cancelled and the loop run until all are done, then invariants are
 * checked (every task done and its destroy notify run once; a finished
 * gather's children all done; a finished wait_for's or shield's inner
 * future finished), the loop closed and everything released (LeakSanitizer
 * checks the rest).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <coop.h>

#include <stdlib.h>
#include <string.h>

#define N_SLOTS 8
#define N_TASKS 4

typedef enum { SLOT_PLAIN, SLOT_GATHER, SLOT_WAIT_FOR, SLOT_SHIELD, SLOT_SLEEP, SLOT_TASK } SlotKind;

typedef struct
{
  CoopFuture *future;
  SlotKind    kind;
  CoopFuture *inputs[2];    /* gather's children, wait_for's/shield's inner */
  int         dep;          /* highest task index it depends on, or -1 */
} Slot;

typedef struct
{
  const guint8 *data;
  gsize         size;
  gsize         pos;
  CoopLoop     *loop;
  GMainContext *context;
  Slot          slots[N_SLOTS];
  CoopTask     *tasks[N_TASKS];
  guint         notified[N_TASKS];
  CoopQueue    *queue;
} Fuzz;

static Fuzz *fz;

static guint8
next (void)
{
  return fz->pos < fz->size ? fz->data[fz->pos++] : 0xff;
}

static gboolean
exhausted (void)
{
  return fz->pos >= fz->size;
}

static void
slot_clear (Slot *slot)
{
  g_clear_object (&slot->future);
  g_clear_object (&slot->inputs[0]);
  g_clear_object (&slot->inputs[1]);
  slot->kind = SLOT_PLAIN;
  slot->dep = -1;
}

static void
slot_set (guint i, SlotKind kind, CoopFuture *future, CoopFuture *in0, CoopFuture *in1, int dep)
{
  Slot *slot = &fz->slots[i % N_SLOTS];

  slot_clear (slot);
  slot->dep = dep;
  slot->future = future;
  slot->kind = kind;
  slot->inputs[0] = in0 != NULL ? g_object_ref (in0) : NULL;
  slot->inputs[1] = in1 != NULL ? g_object_ref (in1) : NULL;
}

static CoopFuture *
slot_future (guint i)
{
  return fz->slots[i % N_SLOTS].future;
}

static int
slot_dep (guint i)
{
  return fz->slots[i % N_SLOTS].future != NULL ? fz->slots[i % N_SLOTS].dep : -1;
}

static void
task_body (CoopTask *task, gpointer data)
{
  for (;;)
    {
      guint8 op = next ();
      g_autoptr(GError) error = NULL;
      gboolean ok = TRUE;

      if (exhausted () && op == 0xff)
        op = 4;   /* out of input: return */
      switch (op % 6)
        {
        case 0:
          {
            guint8 which = next ();
            CoopFuture *f = slot_future (which);

            /* Only what depends on lower-numbered tasks: a cycle of
             * awaits is a deadlock (tested in test-task), not a bug. */
            if (f != NULL && slot_dep (which) < (int) GPOINTER_TO_UINT (data))
              {
                g_object_ref (f);
                ok = coop_await (f, &error);
                if (!ok)
                  g_assert_nonnull (error);
                g_object_unref (f);
              }
            break;
          }
        case 1:
          ok = coop_yield (&error);
          break;
        case 2:
          {
            g_autoptr(CoopFuture) nap = coop_sleep (fz->loop, next () % 200);

            ok = coop_await (nap, &error);
            g_assert_true (coop_future_is_done (nap));
            break;
          }
        case 3:
          {
            g_autoptr(CoopFuture) get = coop_queue_get (fz->queue);
            g_autoptr(CoopFuture) limited = coop_wait_for (get, next () % 300);

            ok = coop_await (limited, &error);
            g_assert_true (coop_future_is_done (get));
            if (!ok && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
              {
                ok = TRUE;
                g_clear_error (&error);
              }
            break;
          }
        case 4:
          coop_future_set_int64 (COOP_FUTURE (task), 42);
          return;
        default:
          coop_future_take_error (COOP_FUTURE (task), g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "x"));
          return;
        }
      if (!ok)
        {
          /* Cancelled (itself, or what it awaited was): end cancelled.
           * Other failures of what it awaited are read and ignored. */
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            {
              coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
              return;
            }
        }
    }
}

static void
task_notify (gpointer data)
{
  fz->notified[GPOINTER_TO_UINT (data)]++;
}

static void
main_op (guint8 op)
{
  guint8 a = next (), b = next ();
  CoopFuture *fa = slot_future (a), *fb = slot_future (b);

  switch (op % 14)
    {
    case 0:
      slot_set (a, SLOT_PLAIN, coop_future_new (fz->loop), NULL, NULL, -1);
      break;
    case 1:
      if (fa != NULL && !coop_future_is_done (fa) && fz->slots[a % N_SLOTS].kind == SLOT_PLAIN)
        coop_future_set_int64 (fa, b);
      break;
    case 2:
      if (fa != NULL && !coop_future_is_done (fa) && fz->slots[a % N_SLOTS].kind == SLOT_PLAIN)
        coop_future_take_error (fa, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "y"));
      break;
    case 3:
      if (fa != NULL)
        coop_future_cancel (fa, NULL);
      break;
    case 4:
      if (fa != NULL && fb != NULL)
        {
          CoopFuture *in[2] = { fa, fb };

          slot_set (next (), SLOT_GATHER, coop_gather (fz->loop, in, 2, b & 1), fa, fb,
                    MAX (slot_dep (a), slot_dep (b)));
        }
      break;
    case 5:
      if (fa != NULL)
        slot_set (next (), SLOT_WAIT_FOR, coop_wait_for (fa, (gint64) b * 2 - 16), fa, NULL, slot_dep (a));
      break;
    case 6:
      if (fa != NULL)
        slot_set (next (), SLOT_SHIELD, coop_shield (fa), fa, NULL, slot_dep (a));
      break;
    case 7:
      slot_set (a, SLOT_SLEEP, coop_sleep (fz->loop, b), NULL, NULL, -1);
      break;
    case 8:
      {
        guint t = a % N_TASKS;

        if (fz->tasks[t] == NULL)
          {
            fz->tasks[t] = coop_task_new (fz->loop, task_body, GUINT_TO_POINTER (t), task_notify);
            slot_set (b, SLOT_TASK, g_object_ref (COOP_FUTURE (fz->tasks[t])), NULL, NULL, (int) t);
          }
        break;
      }
    case 9:
      if (fz->tasks[a % N_TASKS] != NULL)
        coop_task_cancel (fz->tasks[a % N_TASKS], NULL);
      break;
    case 10:
      {
        GValue v = G_VALUE_INIT;

        g_value_init (&v, G_TYPE_INT);
        g_value_set_int (&v, a);
        g_assert_true (coop_queue_put_nowait (fz->queue, &v, 0, NULL));
      }
      break;
    case 11:
      slot_clear (&fz->slots[a % N_SLOTS]);
      break;
    default:
      g_main_context_iteration (fz->context, FALSE);
      break;
    }
}

static void
check_slot (Slot *slot)
{
  CoopFutureState state;

  if (slot->future == NULL)
    return;
  state = coop_future_get_state (slot->future);
  switch (slot->kind)
    {
    case SLOT_GATHER:
      if (state == COOP_FUTURE_STATE_FINISHED)
        g_assert_true (coop_future_is_done (slot->inputs[0]) && coop_future_is_done (slot->inputs[1]));
      break;
    case SLOT_WAIT_FOR:
    case SLOT_SHIELD:
      if (state == COOP_FUTURE_STATE_FINISHED)
        g_assert_cmpint (coop_future_get_state (slot->inputs[0]), ==, COOP_FUTURE_STATE_FINISHED);
      break;
    case SLOT_TASK:
      g_assert_true (coop_future_is_done (slot->future));
      break;
    default:
      break;
    }
}

static void
ignore_exception (CoopLoop *loop, const char *message, CoopFuture *future, const GError *error, gpointer data)
{
}

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  Fuzz state = { data, size, 0 };
  gint64 deadline;
  guint i;

  fz = &state;
  for (i = 0; i < N_SLOTS; i++)
    state.slots[i].dep = -1;
  state.context = g_main_context_new ();
  g_main_context_push_thread_default (state.context);
  state.loop = coop_loop_new (state.context);
  /* Failures nobody reads are expected here: count them as read. */
  coop_loop_set_exception_handler (state.loop, ignore_exception, NULL, NULL);
  state.queue = coop_queue_new (state.loop, 0, COOP_QUEUE_FIFO);

  while (!exhausted ())
    main_op (next ());

  /* Wind down: cancel every task and run until all are done. */
  for (i = 0; i < N_TASKS; i++)
    if (state.tasks[i] != NULL)
      coop_task_cancel (state.tasks[i], NULL);
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  for (;;)
    {
      gboolean all_done = TRUE;

      for (i = 0; i < N_TASKS; i++)
        all_done &= state.tasks[i] == NULL || coop_future_is_done (COOP_FUTURE (state.tasks[i]));
      if (all_done)
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (state.context, TRUE);
    }
  while (g_main_context_iteration (state.context, FALSE))
    ;

  for (i = 0; i < N_SLOTS; i++)
    check_slot (&state.slots[i]);

  coop_loop_close (state.loop);
  for (i = 0; i < N_SLOTS; i++)
    slot_clear (&state.slots[i]);
  for (i = 0; i < N_TASKS; i++)
    {
      if (state.tasks[i] == NULL)
        continue;
      g_object_unref (state.tasks[i]);
      g_assert_cmpuint (state.notified[i], ==, 1);
    }
  g_object_unref (state.queue);
  g_object_unref (state.loop);
  while (g_main_context_iteration (state.context, FALSE))
    ;
  g_main_context_pop_thread_default (state.context);
  g_main_context_unref (state.context);
  fz = NULL;
  return 0;
}
