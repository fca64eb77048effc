/* stress-tasks.c: a million tasks that sleep, await each other, gather,
 * time out and get cancelled at random.
 *
 * Tasks run in waves of WAVE at a time.  Each task takes a few random
 * steps (sleep, yield, wait_for with a timeout, a CoopTimeout scope, a
 * gather with a cancelled child, the wave's event, an earlier task of the
 * wave), then finishes with its index, fails, or gets cancelled from
 * outside (about one task in eight, at a random moment, some before they
 * start).  After each wave every task must be done and consistent with
 * what it did, every future it made must have been done when it let go of
 * it, every destroy notify must have run exactly once, and the loop must
 * hold no task.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "stress.h"

#define N_TASKS 1000000
#define WAVE    10000

typedef struct
{
  guint64 finished, failed, cancelled, cancel_requests;
  guint64 sleeps, yields, wait_fors, wait_for_timeouts, scopes, scope_timeouts;
  guint64 gathers, events, peer_awaits, futures_checked;
} Stats;

typedef struct _Wave Wave;

typedef struct
{
  Wave      *wave;
  guint      index;          /* within the wave */
  guint64    rng;
  guint      notified;       /* destroy notify runs: must end at 1 */
  gboolean   ran;
  gboolean   outcome_failed; /* what the function decided, if it got there */
  gboolean   outcome_set;
} Rec;

struct _Wave
{
  CoopLoop  *loop;
  CoopEvent *event;
  CoopTask **tasks;
  Rec       *recs;
  guint      n;
  Stats     *stats;
};

static GQuark
stress_error_quark (void)
{
  return g_quark_from_static_string ("stress-error");
}

/* A future the task made and is about to drop must be done. */
static void
check_done (Rec *rec, CoopFuture *future)
{
  g_assert_true (coop_future_is_done (future));
  rec->wave->stats->futures_checked++;
}

/* Returns FALSE on G_IO_ERROR_CANCELLED: the task was cancelled, or the
 * awaited task was (which, as in asyncio, cancels the awaiter too); the
 * task then ends cancelled.  Other failures (an awaited task that failed)
 * are read and ignored. */
static gboolean
await_or_cancelled (CoopFuture *future, GError **error)
{
  if (coop_await (future, error))
    return TRUE;
  if (g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return FALSE;
  g_clear_error (error);
  return TRUE;
}

static void
stress_body (CoopTask *task, gpointer data)
{
  Rec *rec = data;
  Wave *wave = rec->wave;
  Stats *stats = wave->stats;
  GError *error = NULL;
  guint steps = 1 + stress_rand_below (&rec->rng, 4);
  guint i;

  rec->ran = TRUE;
  for (i = 0; i < steps; i++)
    {
      switch (stress_rand_below (&rec->rng, 8))
        {
        case 0: /* sleep */
          {
            CoopFuture *nap = coop_sleep (wave->loop, stress_rand_below (&rec->rng, 2000));
            gboolean ok = await_or_cancelled (nap, &error);

            stats->sleeps++;
            check_done (rec, nap);
            g_object_unref (nap);
            if (!ok)
              goto cancelled;
            break;
          }
        case 1: /* yield */
          stats->yields++;
          if (!coop_yield (&error))
            goto cancelled;
          break;
        case 2: /* wait_for: the inner sleep may outlast the timeout */
          {
            CoopFuture *nap = coop_sleep (wave->loop, stress_rand_below (&rec->rng, 2000));
            CoopFuture *limited = coop_wait_for (nap, stress_rand_below (&rec->rng, 2000));

            stats->wait_fors++;
            if (!coop_await (limited, &error))
              {
                if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
                  {
                    stats->wait_for_timeouts++;
                    g_assert_true (coop_future_is_cancelled (nap));
                    g_clear_error (&error);
                  }
                else
                  {
                    check_done (rec, nap);
                    g_object_unref (limited);
                    g_object_unref (nap);
                    goto cancelled;
                  }
              }
            check_done (rec, nap);
            check_done (rec, limited);
            g_object_unref (limited);
            g_object_unref (nap);
            break;
          }
        case 3: /* a timeout scope */
          {
            CoopTimeout *scope = coop_timeout_enter (stress_rand_below (&rec->rng, 2000), &error);
            CoopFuture *nap;
            gboolean awaited;

            g_assert_no_error (error);
            nap = coop_sleep (wave->loop, stress_rand_below (&rec->rng, 2000));
            stats->scopes++;
            awaited = coop_await (nap, &error);
            check_done (rec, nap);
            g_object_unref (nap);
            /* The block's error goes in; a cancellation the deadline
             * caused comes out as G_IO_ERROR_TIMED_OUT. */
            g_assert_true (awaited == (error == NULL));
            coop_timeout_exit (scope, &error);
            coop_timeout_unref (scope);
            if (error != NULL)
              {
                if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
                  {
                    stats->scope_timeouts++;
                    g_clear_error (&error);
                  }
                else
                  {
                    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
                    goto cancelled;
                  }
              }
            break;
          }
        case 4: /* gather three sleeps, one of them cancelled */
          {
            CoopFuture *naps[3];
            CoopFuture *all;
            gboolean ok;
            guint k;

            for (k = 0; k < 3; k++)
              naps[k] = coop_sleep (wave->loop, stress_rand_below (&rec->rng, 1500));
            coop_future_cancel (naps[stress_rand_below (&rec->rng, 3)], NULL);
            all = coop_gather (wave->loop, naps, 3, TRUE);
            stats->gathers++;
            ok = coop_await (all, &error);
            for (k = 0; k < 3; k++)
              {
                check_done (rec, naps[k]);
                g_object_unref (naps[k]);
              }
            check_done (rec, all);
            g_object_unref (all);
            if (!ok)
              {
                g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
                goto cancelled;
              }
            break;
          }
        case 5: /* the wave's event, set once half the wave has started */
          {
            CoopFuture *set = coop_event_wait (wave->event);
            gboolean ok = await_or_cancelled (set, &error);

            stats->events++;
            check_done (rec, set);
            g_object_unref (set);
            if (!ok)
              goto cancelled;
            break;
          }
        default: /* an earlier task of the wave (never a later one: no cycle) */
          if (rec->index > 0)
            {
              CoopFuture *peer = COOP_FUTURE (wave->tasks[stress_rand_below (&rec->rng, rec->index)]);

              stats->peer_awaits++;
              if (!await_or_cancelled (peer, &error))
                goto cancelled;
              check_done (rec, peer);
            }
          break;
        }
    }

  rec->outcome_set = TRUE;
  if (stress_rand_below (&rec->rng, 10) == 0)
    {
      rec->outcome_failed = TRUE;
      coop_future_take_error (COOP_FUTURE (task),
                              g_error_new (stress_error_quark (), 1, "task %u failed", rec->index));
    }
  else
    coop_future_set_int64 (COOP_FUTURE (task), rec->index);
  return;

cancelled:
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  coop_future_take_error (COOP_FUTURE (task), error);
}

static void
rec_notify (gpointer data)
{
  ((Rec *) data)->notified++;
}

static void
cancel_cb (gpointer data)
{
  coop_task_cancel (data, NULL);
}

static void
set_event_cb (gpointer data)
{
  coop_event_set (data);
}

static void
test_tasks (CoopFixture *f, gconstpointer data)
{
  guint total = stress_count (N_TASKS);
  guint64 seed = stress_seed ();
  gint64 deadline = stress_deadline ();
  gint64 start = g_get_monotonic_time ();
  Stats stats = { 0 };
  guint done = 0, waves = 0;

  while (done < total && g_get_monotonic_time () < deadline)
    {
      Wave wave = { f->loop, coop_event_new (f->loop), NULL, NULL, MIN (WAVE, total - done), &stats };
      g_autoptr(CoopFuture) all = NULL;
      g_autoptr(GError) error = NULL;
      GList *live;
      guint i;

      wave.tasks = g_new (CoopTask *, wave.n);
      wave.recs = g_new0 (Rec, wave.n);
      for (i = 0; i < wave.n; i++)
        {
          Rec *rec = &wave.recs[i];

          rec->wave = &wave;
          rec->index = i;
          rec->rng = seed ^ ((guint64) (done + i) * G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
          stress_rand (&rec->rng);
          wave.tasks[i] = coop_task_new (f->loop, stress_body, rec, rec_notify);
          if (stress_rand_below (&rec->rng, 8) == 0)
            {
              stats.cancel_requests++;
              coop_handle_unref (coop_loop_call_later (f->loop, stress_rand_below (&rec->rng, 3000),
                                                       cancel_cb, g_object_ref (wave.tasks[i]),
                                                       g_object_unref));
            }
        }
      coop_handle_unref (coop_loop_call_later (f->loop, 500, set_event_cb,
                                               g_object_ref (wave.event), g_object_unref));

      all = coop_gather (f->loop, (CoopFuture **) wave.tasks, wave.n, TRUE);
      g_assert_true (coop_loop_run_until_complete (f->loop, all, &error));
      g_assert_no_error (error);

      for (i = 0; i < wave.n; i++)
        {
          CoopFuture *task = COOP_FUTURE (wave.tasks[i]);
          Rec *rec = &wave.recs[i];

          switch (coop_future_get_state (task))
            {
            case COOP_FUTURE_STATE_FINISHED:
              g_assert_true (rec->outcome_set && !rec->outcome_failed);
              g_assert_cmpint (coop_future_get_int64 (task, NULL), ==, i);
              stats.finished++;
              break;
            case COOP_FUTURE_STATE_FAILED:
              g_assert_true (rec->outcome_set && rec->outcome_failed);
              g_assert_error (coop_future_get_error (task), stress_error_quark (), 1);
              stats.failed++;
              break;
            case COOP_FUTURE_STATE_CANCELLED:
              g_assert_false (rec->outcome_set);
              stats.cancelled++;
              break;
            default:
              g_assert_not_reached ();
            }
        }

      g_clear_object (&all);
      for (i = 0; i < wave.n; i++)
        g_object_unref (wave.tasks[i]);
      g_object_unref (wave.event);
      /* The timers' references (cancel_cb, set_event_cb) are gone once
       * they ran; run what is left. */
      coop_test_drain ();
      for (i = 0; i < wave.n; i++)
        g_assert_cmpuint (wave.recs[i].notified, ==, 1);
      live = coop_loop_list_tasks (f->loop);
      g_assert_null (live);

      g_free (wave.tasks);
      g_free (wave.recs);
      done += wave.n;
      waves++;
    }

  g_test_message ("%u tasks in %u waves of up to %u in %.1f s (asked for %u)",
                  done, waves, WAVE, (g_get_monotonic_time () - start) / 1e6, total);
  g_test_message ("finished %" G_GUINT64_FORMAT ", failed %" G_GUINT64_FORMAT
                  ", cancelled %" G_GUINT64_FORMAT " (cancel requests %" G_GUINT64_FORMAT ")",
                  stats.finished, stats.failed, stats.cancelled, stats.cancel_requests);
  g_test_message ("sleeps %" G_GUINT64_FORMAT ", yields %" G_GUINT64_FORMAT
                  ", wait_for %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " timed out)"
                  ", timeout scopes %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " timed out)",
                  stats.sleeps, stats.yields, stats.wait_fors, stats.wait_for_timeouts,
                  stats.scopes, stats.scope_timeouts);
  g_test_message ("gathers %" G_GUINT64_FORMAT ", event waits %" G_GUINT64_FORMAT
                  ", awaits of other tasks %" G_GUINT64_FORMAT ", futures checked done %" G_GUINT64_FORMAT,
                  stats.gathers, stats.events, stats.peer_awaits, stats.futures_checked);
  g_assert_cmpuint (stats.finished + stats.failed + stats.cancelled, ==, done);
  g_assert_cmpuint (stats.cancelled, >, 0);
  g_assert_cmpuint (stats.wait_for_timeouts, >, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/stress/tasks", test_tasks);

  return g_test_run ();
}
