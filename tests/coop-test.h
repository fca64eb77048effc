/* coop-test.h: small helpers shared by the tests.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "config.h"

#include <coop.h>
#include <libglib-testing/signal-logger.h>

/* ThreadSanitizer builds (scripts/check-tsan.sh): GLib is not built with
 * TSan, so the tests' own GMutex/GCond hand-offs would look like races.
 * State the happens-before edges they make, as src/core/coop-private.h does
 * for the library. */
#if defined(__SANITIZE_THREAD__)
# define COOP_TEST_TSAN 1
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define COOP_TEST_TSAN 1
# endif
#endif
#ifdef COOP_TEST_TSAN
# include <sanitizer/tsan_interface.h>
static inline void
coop_test_mutex_lock (GMutex *mutex)
{
  (g_mutex_lock) (mutex);
  __tsan_acquire (mutex);
}

static inline void
coop_test_mutex_unlock (GMutex *mutex)
{
  __tsan_release (mutex);
  (g_mutex_unlock) (mutex);
}

static inline void
coop_test_cond_wait (GCond  *cond,
                     GMutex *mutex)
{
  __tsan_release (mutex);
  (g_cond_wait) (cond, mutex);
  __tsan_acquire (mutex);
}

static inline gboolean
coop_test_cond_wait_until (GCond  *cond,
                           GMutex *mutex,
                           gint64  end_time)
{
  gboolean ok;

  __tsan_release (mutex);
  ok = (g_cond_wait_until) (cond, mutex, end_time);
  __tsan_acquire (mutex);
  return ok;
}
# define g_mutex_lock coop_test_mutex_lock
# define g_mutex_unlock coop_test_mutex_unlock
# define g_cond_wait coop_test_cond_wait
# define g_cond_wait_until coop_test_cond_wait_until
#endif

/* Iterates the thread-default context until cond holds (bounded, so a bug shows
 * as a failure rather than a hang). */
#define coop_test_wait_until(cond)                                        \
  G_STMT_START {                                                          \
    gint64 _deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;     \
    while (!(cond))                                                       \
      {                                                                   \
        g_assert_cmpint (g_get_monotonic_time (), <, _deadline);          \
        g_main_context_iteration (g_main_context_get_thread_default (), TRUE);                            \
      }                                                                   \
  } G_STMT_END

/* Runs whatever is ready without blocking. */
static inline void
coop_test_drain (void)
{
  while (g_main_context_iteration (g_main_context_get_thread_default (), FALSE))
    ;
}

/* A fresh loop on a fresh thread-default context per test. */
typedef struct
{
  GMainContext *context;
  CoopLoop     *loop;
} CoopFixture;

static inline void
coop_fixture_setup (CoopFixture   *fixture,
                    gconstpointer  data)
{
  fixture->context = g_main_context_new ();
  g_main_context_push_thread_default (fixture->context);
  fixture->loop = coop_loop_new (fixture->context);
}

static inline void
coop_fixture_teardown (CoopFixture   *fixture,
                       gconstpointer  data)
{
  coop_loop_close (fixture->loop);
  g_clear_object (&fixture->loop);
  g_main_context_pop_thread_default (fixture->context);
  g_main_context_unref (fixture->context);
}

#define coop_test_add(path, func) \
  g_test_add (path, CoopFixture, NULL, coop_fixture_setup, func, coop_fixture_teardown)

/* One iteration of the thread-default context, without blocking. */
static inline gboolean
coop_test_iterate (void)
{
  return g_main_context_iteration (g_main_context_get_thread_default (), FALSE);
}

static inline void
coop_test_append_int (gpointer user_data)
{
  GArray **pair = user_data;

  g_array_append_val (pair[0], *(int *) pair[1]);
}

/* Runs @func as a task to its end on @loop, under a deadline that turns a
 * hang into a failure; the task must not fail. */
static inline void
coop_test_run_task (CoopLoop     *loop,
                    CoopTaskFunc  func,
                    gpointer      data,
                    gint64        timeout_usec)
{
  g_autoptr(CoopTask) task = coop_task_new_full (loop, "test", 0, func, data, NULL);
  g_autoptr(CoopFuture) limited = coop_wait_for (COOP_FUTURE (task), timeout_usec);
  g_autoptr(GError) error = NULL;

  coop_loop_run_until_complete (loop, limited, &error);
  g_assert_no_error (error);
}
