/* stress.h: what the stress tests (meson suite 'stress') share.
 *
 * Each test does a fixed amount of work scaled by COOP_STRESS_SCALE (a
 * factor, default 1) and stops early when its time budget runs out
 * (COOP_STRESS_SECONDS, default 60), then checks its invariants on
 * whatever it did and reports the counts as TAP comments.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "../coop-test.h"

#include <dirent.h>
#include <unistd.h>

static inline double
stress_scale (void)
{
  const char *env = g_getenv ("COOP_STRESS_SCALE");
  double scale = env != NULL && *env != '\0' ? g_ascii_strtod (env, NULL) : 1.0;

  return scale > 0 ? scale : 1.0;
}

static inline guint
stress_count (guint full)
{
  return MAX (1, (guint) (full * stress_scale ()));
}

/* The deadline of a test's main phase, in monotonic microseconds. */
static inline gint64
stress_deadline (void)
{
  const char *env = g_getenv ("COOP_STRESS_SECONDS");
  gint64 seconds = env != NULL && *env != '\0' ? g_ascii_strtoll (env, NULL, 10) : 60;

  return g_get_monotonic_time () + MAX (1, seconds) * G_USEC_PER_SEC;
}

/* Open file descriptors of this process. */
static inline guint
stress_count_fds (void)
{
  DIR *dir = opendir ("/proc/self/fd");
  struct dirent *entry;
  guint n = 0;

  g_assert_nonnull (dir);
  while ((entry = readdir (dir)) != NULL)
    {
      char path[64], target[256];
      ssize_t len;

      if (entry->d_name[0] == '.')
        continue;
      n++;
      if (g_getenv ("COOP_STRESS_SHOW_FDS") == NULL)
        continue;
      g_snprintf (path, sizeof path, "/proc/self/fd/%s", entry->d_name);
      len = readlink (path, target, sizeof target - 1);
      target[MAX (len, 0)] = '\0';
      g_test_message ("fd %s -> %s", entry->d_name, target);
    }
  closedir (dir);
  return n - 1;   /* the directory's own fd */
}

/* A small fast generator (xorshift64*), one per task, so a run is
 * reproducible from its seed whatever the interleaving. */
static inline guint64
stress_rand (guint64 *state)
{
  guint64 x = *state;

  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * G_GUINT64_CONSTANT (2685821657736338717);
}

static inline guint
stress_rand_below (guint64 *state, guint n)
{
  return (guint) (stress_rand (state) % n);
}

static inline guint64
stress_seed (void)
{
  const char *env = g_getenv ("COOP_STRESS_SEED");
  guint64 seed = env != NULL && *env != '\0' ? g_ascii_strtoull (env, NULL, 10)
                                             : (guint64) g_get_real_time ();

  g_test_message ("seed %" G_GUINT64_FORMAT " (COOP_STRESS_SEED to repeat)", seed);
  return seed | 1;
}
