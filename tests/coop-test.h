/* coop-test.h: small helpers shared by the tests.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "config.h"

#include <coop.h>
#include <libglib-testing/signal-logger.h>

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
