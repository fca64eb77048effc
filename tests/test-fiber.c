/* test-fiber.c: fibers and the stack pool, through the private API.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "coop-fiber-private.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_H
# include <valgrind/valgrind.h>
#else
# define RUNNING_ON_VALGRIND 0
#endif

#if defined(__SANITIZE_ADDRESS__)
# define COOP_ASAN 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer)
#  define COOP_ASAN 1
# endif
#endif

/* --- helpers ------------------------------------------------------------- */

static gsize
read_vm_rss_kib (void)
{
  char *contents = NULL;
  const char *line;
  gsize kib = 0;

  g_assert_true (g_file_get_contents ("/proc/self/status", &contents, NULL, NULL));
  line = strstr (contents, "VmRSS:");
  g_assert_nonnull (line);
  kib = (gsize) g_ascii_strtoull (line + strlen ("VmRSS:"), NULL, 10);
  g_free (contents);
  return kib;
}

static guint
count_maps (void)
{
  char *contents = NULL;
  guint n = 0;
  const char *p;

  g_assert_true (g_file_get_contents ("/proc/self/maps", &contents, NULL, NULL));
  for (p = contents; *p != '\0'; p++)
    if (*p == '\n')
      n++;
  g_free (contents);
  return n;
}

static CoopStack *
current_stack (void)
{
  CoopFiber *self = coop_fiber_current ();

  g_assert_nonnull (self);
  g_assert_nonnull (self->stack);
  return self->stack;
}

/* --- resume/suspend order ------------------------------------------------ */

typedef struct
{
  GString *log;
} LogData;

static void
order_fiber (gpointer data)
{
  LogData *ld = data;

  g_string_append (ld->log, "f1 ");
  coop_fiber_suspend ();
  g_string_append (ld->log, "f2 ");
  coop_fiber_suspend ();
  g_string_append (ld->log, "f3 ");
}

static void
test_order (void)
{
  CoopStackPool *pool = coop_stack_pool_new (0);
  LogData ld = { g_string_new ("") };
  CoopFiber fiber;

  coop_fiber_init (&fiber, pool, 0, order_fiber, &ld);
  g_assert_false (fiber.started);
  g_assert_null (fiber.stack);
  g_string_append (ld.log, "m0 ");

  coop_fiber_resume (&fiber);
  g_assert_true (fiber.started);
  g_assert_false (fiber.finished);
  g_assert_nonnull (fiber.stack);
  g_assert_cmpuint (coop_stack_pool_get_n_in_use (pool), ==, 1);
  g_string_append (ld.log, "m1 ");

  coop_fiber_resume (&fiber);
  g_string_append (ld.log, "m2 ");

  coop_fiber_resume (&fiber);
  g_string_append (ld.log, "m3");
  g_assert_true (fiber.finished);
  g_assert_null (fiber.stack);
  g_assert_cmpuint (coop_stack_pool_get_n_in_use (pool), ==, 0);

  g_assert_cmpstr (ld.log->str, ==, "m0 f1 m1 f2 m2 f3 m3");

  coop_fiber_clear (&fiber);
  coop_stack_pool_free (pool);
  g_string_free (ld.log, TRUE);
}

/* --- coop_fiber_current and nesting -------------------------------------- */

typedef struct
{
  CoopFiber a;
  CoopFiber b;
  GString  *log;
} Nest;

static void
nest_b (gpointer data)
{
  Nest *n = data;

  g_assert_true (coop_fiber_current () == &n->b);
  g_string_append (n->log, "B1 ");
  coop_fiber_suspend ();                 /* back to A, which resumed us */
  g_assert_true (coop_fiber_current () == &n->b);
  g_string_append (n->log, "B2 ");       /* resumed by main this time */
}

static void
nest_a (gpointer data)
{
  Nest *n = data;

  g_assert_true (coop_fiber_current () == &n->a);
  g_string_append (n->log, "A1 ");
  coop_fiber_resume (&n->b);             /* a fiber resuming a fiber */
  g_assert_true (coop_fiber_current () == &n->a);
  g_assert_false (n->b.running);
  g_string_append (n->log, "A2 ");
  coop_fiber_suspend ();
  g_assert_true (coop_fiber_current () == &n->a);
  g_string_append (n->log, "A3 ");
}

static void
test_nesting (void)
{
  CoopStackPool *pool = coop_stack_pool_new (0);
  Nest n;

  memset (&n, 0, sizeof n);
  n.log = g_string_new ("");
  coop_fiber_init (&n.a, pool, 0, nest_a, &n);
  coop_fiber_init (&n.b, pool, 0, nest_b, &n);

  g_assert_null (coop_fiber_current ());
  coop_fiber_resume (&n.a);
  g_assert_null (coop_fiber_current ());
  g_string_append (n.log, "M1 ");
  g_assert_cmpuint (coop_stack_pool_get_n_in_use (pool), ==, 2);

  coop_fiber_resume (&n.b);
  g_assert_null (coop_fiber_current ());
  g_assert_true (n.b.finished);
  g_string_append (n.log, "M2 ");

  coop_fiber_resume (&n.a);
  g_assert_true (n.a.finished);
  g_string_append (n.log, "M3");

  g_assert_cmpstr (n.log->str, ==, "A1 B1 A2 M1 B2 M2 A3 M3");
  g_assert_cmpuint (coop_stack_pool_get_n_in_use (pool), ==, 0);

  coop_fiber_clear (&n.a);
  coop_fiber_clear (&n.b);
  coop_stack_pool_free (pool);
  g_string_free (n.log, TRUE);
}

/* --- misuse -------------------------------------------------------------- */

static void
self_resume_fiber (gpointer data G_GNUC_UNUSED)
{
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*already running*");
  coop_fiber_resume (coop_fiber_current ());
  g_test_assert_expected_messages ();
}

static void
test_misuse (void)
{
  CoopStackPool *pool = coop_stack_pool_new (0);
  CoopFiber fiber;

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*no current fiber*");
  coop_fiber_suspend ();
  g_test_assert_expected_messages ();

  coop_fiber_init (&fiber, pool, 0, self_resume_fiber, NULL);
  coop_fiber_resume (&fiber);
  g_assert_true (fiber.finished);

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*finished*");
  coop_fiber_resume (&fiber);
  g_test_assert_expected_messages ();

  coop_fiber_clear (&fiber);
  coop_stack_pool_free (pool);
}

/* --- stack reuse --------------------------------------------------------- */

static void
record_stack_fiber (gpointer data)
{
  CoopStack **out = data;

  *out = current_stack ();
}

static void
record_and_suspend_fiber (gpointer data)
{
  CoopStack **out = data;

  *out = current_stack ();
  coop_fiber_suspend ();
  g_assert_not_reached ();
}

static void
test_stack_reuse (void)
{
  CoopStackPool *pool = coop_stack_pool_new (0);
  CoopStack *first = NULL, *second = NULL, *third = NULL;
  CoopFiber fiber;

  coop_fiber_init (&fiber, pool, 0, record_stack_fiber, &first);
  coop_fiber_resume (&fiber);
  g_assert_true (fiber.finished);
  g_assert_nonnull (first);
  /* Returned by resume itself, as soon as the fiber finished. */
  g_assert_null (fiber.stack);
  g_assert_cmpuint (coop_stack_pool_get_n_in_use (pool), ==, 0);
  g_assert_cmpuint (coop_stack_pool_get_n_free (pool), >=, 1);
  coop_fiber_clear (&fiber);

  coop_fiber_init (&fiber, pool, 0, record_stack_fiber, &second);
  coop_fiber_resume (&fiber);
  g_assert_true (second == first);
  coop_fiber_clear (&fiber);

  /* A fiber abandoned while suspended gives its stack back on clear. */
  coop_fiber_init (&fiber, pool, 0, record_and_suspend_fiber, &third);
  coop_fiber_resume (&fiber);
  g_assert_true (third == first);
  g_assert_false (fiber.finished);
  g_assert_cmpuint (coop_stack_pool_get_n_in_use (pool), ==, 1);
  coop_fiber_clear (&fiber);
  g_assert_null (fiber.stack);
  g_assert_cmpuint (coop_stack_pool_get_n_in_use (pool), ==, 0);

  third = NULL;
  coop_fiber_init (&fiber, pool, 0, record_stack_fiber, &third);
  coop_fiber_resume (&fiber);
  g_assert_true (third == first);
  coop_fiber_clear (&fiber);

  coop_stack_pool_free (pool);
}

/* --- stack sizes --------------------------------------------------------- */

typedef struct
{
  gsize    want;        /* bytes of stack the fiber will use */
  gsize    size;        /* usable size it found */
  gboolean ok;
} SizeData;

static guint64 __attribute__ ((noinline))
use_stack (guintptr  limit,
           guint     depth)
{
  volatile guint8 frame[512];
  guint64 sum;

  memset ((void *) frame, (int) depth, sizeof frame);
  if ((guintptr) __builtin_frame_address (0) <= limit)
    return frame[0];
  sum = use_stack (limit, depth + 1);
  return sum + frame[depth % sizeof frame];
}

static void
size_fiber (gpointer data)
{
  SizeData *sd = data;
  CoopStack *stack = current_stack ();
  guintptr here = (guintptr) __builtin_frame_address (0);

  sd->size = coop_stack_get_size (stack);
  /* Use all but the last 4 KiB of what was asked for. */
  use_stack (here - (sd->want - 4096), 0);
  sd->ok = TRUE;
}

static void
run_size_fiber (CoopStackPool *pool,
                gsize          stack_size,
                gsize          want,
                SizeData      *sd)
{
  CoopFiber fiber;

  memset (sd, 0, sizeof *sd);
  sd->want = want;
  coop_fiber_init (&fiber, pool, stack_size, size_fiber, sd);
  coop_fiber_resume (&fiber);
  g_assert_true (fiber.finished);
  g_assert_true (sd->ok);
  coop_fiber_clear (&fiber);
}

static void
test_stack_sizes (void)
{
  CoopStackPool *pool = coop_stack_pool_new (0);
  SizeData sd;

  g_assert_cmpuint (coop_stack_pool_get_default_size (pool), ==, 256 * 1024);

  run_size_fiber (pool, 0, 200 * 1024, &sd);
  g_assert_cmpuint (sd.size, >=, 256 * 1024);

  /* Other sizes, rounded up to pages, mapped on their own. */
  run_size_fiber (pool, 1024 * 1024, 900 * 1024, &sd);
  g_assert_cmpuint (sd.size, >=, 1024 * 1024);
  run_size_fiber (pool, 64 * 1024 + 1, 60 * 1024, &sd);
  g_assert_cmpuint (sd.size, >=, 64 * 1024 + 1);
  g_assert_cmpuint (sd.size % 4096, ==, 0);
  /* and cached for the next fiber of the same size */
  g_assert_cmpuint (coop_stack_pool_get_n_free (pool), >=, 3);
  run_size_fiber (pool, 1024 * 1024, 900 * 1024, &sd);

  /* A new default size applies to the next fibers; the old slab goes. */
  coop_stack_pool_set_default_size (pool, 512 * 1024);
  g_assert_cmpuint (coop_stack_pool_get_default_size (pool), ==, 512 * 1024);
  run_size_fiber (pool, 0, 480 * 1024, &sd);
  g_assert_cmpuint (sd.size, >=, 512 * 1024);

  coop_stack_pool_free (pool);

  /* A pool whose default is not a page multiple. */
  pool = coop_stack_pool_new (100 * 1000);
  g_assert_cmpuint (coop_stack_pool_get_default_size (pool) % 4096, ==, 0);
  g_assert_cmpuint (coop_stack_pool_get_default_size (pool), >=, 100 * 1000);
  run_size_fiber (pool, 0, 90 * 1000, &sd);
  coop_stack_pool_free (pool);
}

/* --- freeing a pool with stacks in use ----------------------------------- */

static void
suspend_once_fiber (gpointer data G_GNUC_UNUSED)
{
  coop_fiber_suspend ();
}

static void
test_pool_free_in_use (void)
{
  CoopStackPool *pool = coop_stack_pool_new (0);
  CoopFiber fiber, custom;

  coop_fiber_init (&fiber, pool, 0, suspend_once_fiber, NULL);
  coop_fiber_init (&custom, pool, 128 * 1024, suspend_once_fiber, NULL);
  coop_fiber_resume (&fiber);
  coop_fiber_resume (&custom);

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*still in use*");
  coop_stack_pool_free (pool);
  g_test_assert_expected_messages ();

  /* Leaked, not crashed: the fibers can still run and be cleared. */
  coop_fiber_resume (&fiber);
  g_assert_true (fiber.finished);
  coop_fiber_clear (&custom);
  coop_fiber_clear (&fiber);
}

/* --- 100,000 suspended fibers -------------------------------------------- */

static guint64 __attribute__ ((noinline))
small_call (guint64 *counter)
{
  volatile guint8 scratch[64];

  memset ((void *) scratch, 1, sizeof scratch);
  return ++*counter + scratch[3];
}

static void
many_fiber (gpointer data)
{
  guint64 *counter = data;

  small_call (counter);
  coop_fiber_suspend ();
  small_call (counter);
}

static void
test_many (void)
{
  guint n = RUNNING_ON_VALGRIND ? 2000 : 100000;
  CoopStackPool *pool = coop_stack_pool_new (0);
  CoopFiber *fibers = g_new0 (CoopFiber, n);
  guint maps_before, maps_peak, maps_after;
  gsize rss_before, rss_peak, rss_after;
  guint64 counter = 0;
  guint i, n_guarded = 0;
#ifdef COOP_ASAN
  gboolean measure_rss = FALSE;
#else
  gboolean measure_rss = !RUNNING_ON_VALGRIND;
#endif

  for (i = 0; i < n; i++)
    coop_fiber_init (&fibers[i], pool, 0, many_fiber, &counter);
  maps_before = count_maps ();
  rss_before = read_vm_rss_kib ();

  for (i = 0; i < n; i++)
    coop_fiber_resume (&fibers[i]);
  g_assert_cmpuint (counter, ==, n);
  g_assert_cmpuint (coop_stack_pool_get_n_in_use (pool), ==, n);

  maps_peak = count_maps ();
  rss_peak = read_vm_rss_kib ();
  for (i = 0; i < n; i++)
    if (coop_stack_is_guarded (fibers[i].stack))
      n_guarded++;

  g_test_message ("%u suspended fibers: %u guarded stacks, /proc/self/maps %u -> %u lines, "
                  "RSS %" G_GSIZE_FORMAT " -> %" G_GSIZE_FORMAT " KiB (%.2f KiB per fiber)",
                  n, n_guarded, maps_before, maps_peak, rss_before, rss_peak,
                  (double) (rss_peak - rss_before) / n);

  /* Well below vm.max_map_count = 65530, with the default guard budget
   * (a budget set from outside may legitimately go up to the limit). */
  if (g_getenv ("COOP_STACK_GUARD_BUDGET") == NULL)
    g_assert_cmpuint (maps_peak, <, 40000);
  /* With guard regions (Linux 6.13) every stack has a guard page, and a
   * slab of 64 stacks is still one mapping (ASan maps fake stacks of its
   * own as fibers start). */
  if (coop_stack_guard_regions_in_use ())
    {
      g_assert_cmpuint (n_guarded, ==, n);
#ifndef COOP_ASAN
      g_assert_cmpuint (maps_peak - MIN (maps_peak, maps_before), <, n / 64 + 10);
#endif
    }
  /* One page per suspended fiber, give or take; not the two a separate
   * canary or guard page would cost.  (Sanitizers and valgrind add their
   * own shadow memory.) */
  if (measure_rss)
    g_assert_cmpfloat ((double) (rss_peak - rss_before) / n, <, 6.0);

  for (i = 0; i < n; i++)
    {
      coop_fiber_resume (&fibers[i]);
      g_assert_true (fibers[i].finished);
    }
  g_assert_cmpuint (counter, ==, 2 * (guint64) n);
  g_assert_cmpuint (coop_stack_pool_get_n_in_use (pool), ==, 0);

  /* After the burst the stacks stay warm for the next one, until the loop
   * is idle: then, once a second, half of them give their pages back (and
   * slabs left all cold are unmapped), down to a few. */
  g_assert_cmpuint (coop_stack_pool_get_n_free (pool), >=, n);
  {
    gint64 now = g_get_monotonic_time ();
    guint before = coop_stack_pool_get_n_free (pool), rounds = 0;

    gint64 next;
    guint slices = 0;

    /* A round, in slices of 256 stacks. */
    while ((next = coop_stack_pool_trim_idle (pool, now, 256)) == now)
      slices++;
    g_assert_cmpuint (slices, >, 0);
    g_assert_cmpint (next, ==, now + G_USEC_PER_SEC);   /* the next round */
    g_assert_cmpint (coop_stack_pool_trim_idle (pool, now + G_USEC_PER_SEC / 2, 256), ==, next);
    /* Then the rest, round by round, without a budget. */
    while ((next = coop_stack_pool_trim_idle (pool, next, 0)) != 0 && rounds < 64)
      rounds++;
    g_test_message ("given back in %u slices, then %u more rounds", slices, rounds);
    g_assert_cmpuint (rounds, <, 40);
    g_assert_false (coop_stack_pool_has_surplus (pool));
    (void) before;
  }
  rss_after = read_vm_rss_kib ();
  maps_after = count_maps ();
  g_test_message ("after the burst: %u free stacks, RSS %" G_GSIZE_FORMAT " KiB, maps %u",
                  coop_stack_pool_get_n_free (pool), rss_after, maps_after);
  if (measure_rss)
    g_assert_cmpuint (rss_after - MIN (rss_after, rss_before), <, (rss_peak - rss_before) / 4);
  g_assert_cmpuint (coop_stack_pool_get_n_free (pool), <, 1000);

  for (i = 0; i < n; i++)
    coop_fiber_clear (&fibers[i]);
  coop_stack_pool_free (pool);
  g_free (fibers);

  /* The sanitizers' allocators map a few regions of their own. */
  g_assert_cmpuint (count_maps (), <=, maps_before + (measure_rss ? 4 : 64));
}

/* --- warm stacks: a second burst reuses the first one's pages ------------ */

static void
test_warm_after_burst (void)
{
  guint n = 2000, i, total = 0;
  CoopStackPool *pool = coop_stack_pool_new (0);
  CoopFiber *fibers = g_new0 (CoopFiber, n);
  guint64 counter = 0;
  gsize rss0, rss1 = 0, rss2 = 0;
  guint burst;
#ifdef COOP_ASAN
  gboolean measure_rss = FALSE;
#else
  gboolean measure_rss = !RUNNING_ON_VALGRIND;
#endif

  rss0 = read_vm_rss_kib ();
  for (burst = 0; burst < 2; burst++)
    {
      for (i = 0; i < n; i++)
        {
          coop_fiber_init (&fibers[i], pool, 0, many_fiber, &counter);
          coop_fiber_resume (&fibers[i]);
        }
      if (burst == 0)
        {
          rss1 = read_vm_rss_kib ();
          total = coop_stack_pool_get_n_in_use (pool) + coop_stack_pool_get_n_free (pool);
        }
      else
        {
          rss2 = read_vm_rss_kib ();
          /* No new slab: the same stacks, still warm. */
          g_assert_cmpuint (coop_stack_pool_get_n_in_use (pool) + coop_stack_pool_get_n_free (pool), ==, total);
        }
      for (i = 0; i < n; i++)
        {
          coop_fiber_resume (&fibers[i]);
          g_assert_true (fibers[i].finished);
          coop_fiber_clear (&fibers[i]);
        }
      g_assert_cmpuint (coop_stack_pool_get_n_free (pool), >=, n);
    }
  g_test_message ("RSS %" G_GSIZE_FORMAT " KiB, first burst %" G_GSIZE_FORMAT
                  " KiB, second burst %" G_GSIZE_FORMAT " KiB", rss0, rss1, rss2);
  /* The first burst faulted in a page per stack; the second one none. */
  if (measure_rss)
    g_assert_cmpuint (rss2 - MIN (rss2, rss1), <, (rss1 - MIN (rss1, rss0)) / 4);

  coop_stack_pool_free (pool);
  g_free (fibers);
}

/* --- stack release bookkeeping after a burst ----------------------------- */

static void
run_trim_keeps_neighbours (gboolean guarded)
{
  /* Release every other fiber of a slab-sized run, give the released
   * stacks' pages back (as an idle loop does) while their neighbours are
   * in use, then release the rest, and check the survivors' canaries were
   * never zeroed by a neighbour's trim (a damaged canary would abort at
   * their suspend/finish). */
  CoopStackPool *pool = coop_stack_pool_new (32 * 1024);
  guint n = 600, i, pass;
  CoopFiber *fibers = g_new0 (CoopFiber, n);
  guint64 counter = 0;
  gint64 now = g_get_monotonic_time ();

  for (pass = 0; pass < 2; pass++)
    {
      for (i = 0; i < n; i++)
        {
          coop_fiber_init (&fibers[i], pool, 0, many_fiber, &counter);
          coop_fiber_resume (&fibers[i]);
          if (!guarded)
            g_assert_false (coop_stack_is_guarded (fibers[i].stack));
        }
      for (i = pass; i < n; i += 2)
        coop_fiber_resume (&fibers[i]);
      g_assert_cmpint (coop_stack_pool_trim_idle (pool, now += 2 * G_USEC_PER_SEC, 0), !=, now);
      for (i = 1 - pass; i < n; i += 2)
        coop_fiber_resume (&fibers[i]);
      for (i = 0; i < n; i++)
        {
          g_assert_true (fibers[i].finished);
          coop_fiber_clear (&fibers[i]);
        }
      g_assert_cmpuint (coop_stack_pool_get_n_in_use (pool), ==, 0);
      coop_stack_pool_trim_idle (pool, now += 2 * G_USEC_PER_SEC, 0);
    }

  coop_stack_pool_free (pool);
  g_free (fibers);
}

static void
test_trim_keeps_neighbours (void)
{
  /* With canaries, where neighbouring stacks share a page: in a process
   * of its own, which reads the settings before its first stack. */
  if (g_test_subprocess ())
    {
      g_setenv ("COOP_STACK_GUARD_BUDGET", "0", TRUE);
      g_setenv ("COOP_STACK_GUARD_REGIONS", "0", TRUE);
      run_trim_keeps_neighbours (FALSE);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();

  /* And with whatever guards this kernel gives. */
  run_trim_keeps_neighbours (TRUE);
}

/* --- threads: one pool each ---------------------------------------------- */

typedef struct
{
  CoopFiber fibers[200];
  guint     steps;
} ThreadData;

static void
thread_fiber (gpointer data)
{
  ThreadData *td = data;
  guint i;

  for (i = 0; i < 50; i++)
    {
      g_assert_nonnull (coop_fiber_current ());
      td->steps++;
      coop_fiber_suspend ();
    }
}

static gpointer
thread_func (gpointer data)
{
  ThreadData *td = data;
  CoopStackPool *pool = coop_stack_pool_new (64 * 1024);
  guint i, round;

  g_assert_null (coop_fiber_current ());
  for (i = 0; i < G_N_ELEMENTS (td->fibers); i++)
    coop_fiber_init (&td->fibers[i], pool, 0, thread_fiber, td);
  for (round = 0; round <= 50; round++)
    for (i = 0; i < G_N_ELEMENTS (td->fibers); i++)
      coop_fiber_resume (&td->fibers[i]);
  for (i = 0; i < G_N_ELEMENTS (td->fibers); i++)
    {
      g_assert_true (td->fibers[i].finished);
      coop_fiber_clear (&td->fibers[i]);
    }
  g_assert_null (coop_fiber_current ());
  coop_stack_pool_free (pool);
  return NULL;
}

static void
test_threads (void)
{
  ThreadData *td = g_new0 (ThreadData, 3);
  GThread *threads[3];
  guint i;

  for (i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("fibers", thread_func, &td[i]);
  for (i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      g_thread_join (threads[i]);
      g_assert_cmpuint (td[i].steps, ==, 200 * 50);
    }
  g_free (td);
}

/* --- guard budget -------------------------------------------------------- */

static void
test_guard_budget (void)
{
  if (g_test_subprocess ())
    {
      CoopStackPool *pool;
      CoopFiber fibers[200];
      guint i, n_guarded = 0;

      /* Read once, at the first pool of the process: this one.  The
       * budget is what kernels without guard regions get. */
      g_setenv ("COOP_STACK_GUARD_BUDGET", "100", TRUE);
      g_setenv ("COOP_STACK_GUARD_REGIONS", "0", TRUE);
      pool = coop_stack_pool_new (0);
      for (i = 0; i < G_N_ELEMENTS (fibers); i++)
        {
          coop_fiber_init (&fibers[i], pool, 0, suspend_once_fiber, NULL);
          coop_fiber_resume (&fibers[i]);
          if (coop_stack_is_guarded (fibers[i].stack))
            n_guarded++;
        }
      /* Slabs of 8, 8, 16, 32 fit in the budget; the next 64 do not. */
      g_assert_cmpuint (n_guarded, ==, 64);
      g_assert_true (coop_stack_is_guarded (fibers[0].stack));
      g_assert_false (coop_stack_is_guarded (fibers[199].stack));
      for (i = 0; i < G_N_ELEMENTS (fibers); i++)
        coop_fiber_clear (&fibers[i]);
      coop_stack_pool_free (pool);

      /* Freed slabs give their guard pages back to the budget. */
      pool = coop_stack_pool_new (0);
      coop_fiber_init (&fibers[0], pool, 0, suspend_once_fiber, NULL);
      coop_fiber_resume (&fibers[0]);
      g_assert_true (coop_stack_is_guarded (fibers[0].stack));
      coop_fiber_clear (&fibers[0]);

      /* Stacks of another size always have a guard page, budget or not. */
      g_setenv ("COOP_STACK_GUARD_BUDGET", "0", TRUE);
      for (i = 0; i < 200; i++)
        {
          coop_fiber_init (&fibers[i], pool, i % 2 ? 64 * 1024 : 96 * 1024, suspend_once_fiber, NULL);
          coop_fiber_resume (&fibers[i]);
          g_assert_true (coop_stack_is_guarded (fibers[i].stack));
        }
      for (i = 0; i < 200; i++)
        coop_fiber_clear (&fibers[i]);
      coop_stack_pool_free (pool);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* With guard regions, no budget applies: every stack is guarded. */
static void
test_guard_regions (void)
{
  if (g_test_subprocess ())
    {
      CoopStackPool *pool;
      CoopFiber fibers[200];
      guint i;

      g_setenv ("COOP_STACK_GUARD_BUDGET", "0", TRUE);
      pool = coop_stack_pool_new (0);
      g_assert_true (coop_stack_guard_regions_in_use ());
      for (i = 0; i < G_N_ELEMENTS (fibers); i++)
        {
          coop_fiber_init (&fibers[i], pool, i % 10 == 0 ? 96 * 1024 : 0, suspend_once_fiber, NULL);
          coop_fiber_resume (&fibers[i]);
          g_assert_true (coop_stack_is_guarded (fibers[i].stack));
        }
      for (i = 0; i < G_N_ELEMENTS (fibers); i++)
        coop_fiber_clear (&fibers[i]);
      coop_stack_pool_free (pool);
      return;
    }

  if (!coop_stack_guard_regions_in_use ())
    {
      g_test_skip ("this kernel has no guard regions (MADV_GUARD_INSTALL, Linux 6.13)");
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* --- overflow detection -------------------------------------------------- */

static const char *
deep_recursion_name (gpointer data G_GNUC_UNUSED)
{
  return "deep-recursion";
}

static volatile guint recursion_limit = G_MAXUINT;

static guint64 __attribute__ ((noinline))
recurse_forever (guint depth)
{
  volatile guint8 frame[256];

  memset ((void *) frame, (int) depth, sizeof frame);
  if (depth >= recursion_limit)
    return frame[0];
  return recurse_forever (depth + 1) + frame[depth % sizeof frame];
}

/* Recurses down to a few KiB above @low, then writes one contiguous
 * block running 512 bytes past it: every byte just below the stack (where
 * the canary is) gets overwritten whatever the compiler's frame layout
 * (ASan, for one, leaves its redzones between frames unwritten). */
static guint64 __attribute__ ((noinline))
overflow_past (guintptr low,
               guint    depth)
{
  volatile guint8 frame[256];
  guintptr here = (guintptr) __builtin_frame_address (0);
  volatile guint8 *block;
  gsize size, i;

  memset ((void *) frame, 0x5a, sizeof frame);
  if (here > low + 4096)
    return overflow_past (low, depth + 1) + frame[depth % sizeof frame];

  /* No call from here on (memset might be a lazily bound PLT entry, and
   * the dynamic linker's resolver would need more stack than is left). */
  size = here - low + 512;
  block = g_alloca (size);
  for (i = 0; i < size; i++)
    block[i] = 0x5a;
  return block[0] + frame[0];
}

static void
guard_overflow_fiber (gpointer data)
{
  gboolean *guarded = data;

  *guarded = coop_stack_is_guarded (current_stack ());
  if (!*guarded)
    {
      fprintf (stderr, "expected a guarded stack\n");
      exit (3);
    }
  recurse_forever (0);
}

static void
run_guard_overflow (gsize stack_size)
{
  CoopStackPool *pool;
  CoopFiber fiber;
  gboolean guarded = FALSE;

  g_setenv ("COOP_STACK_GUARD_BUDGET", "16384", TRUE);
  pool = coop_stack_pool_new (0);
  coop_fiber_init (&fiber, pool, stack_size, guard_overflow_fiber, &guarded);
  coop_fiber_set_name_func (&fiber, deep_recursion_name, NULL);
  coop_fiber_resume (&fiber);
  g_assert_not_reached ();
}

/* Runs the test's subprocess; under ASan its report is expected, so it
 * goes to stderr even where scripts/check-sanitizers.sh collects reports
 * in files (log_path), where it would count as a failure. */
static void
trap_overflow_subprocess (void)
{
#ifdef COOP_ASAN
  const char *options = g_getenv ("ASAN_OPTIONS");
  g_autofree char *saved = g_strdup (options);
  g_autofree char *with_stderr = g_strconcat (options != NULL ? options : "",
                                              options != NULL && *options != '\0' ? ":" : "",
                                              "log_path=stderr", NULL);

  g_setenv ("ASAN_OPTIONS", with_stderr, TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  if (saved != NULL)
    g_setenv ("ASAN_OPTIONS", saved, TRUE);
  else
    g_unsetenv ("ASAN_OPTIONS");
#else
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
#endif
}

static void
check_guard_overflow_output (void)
{
  g_test_trap_assert_failed ();
#ifdef COOP_ASAN
  /* No handler of ours under ASan: its own report names the overflow,
   * and Coop's death callback the task. */
  g_test_trap_assert_stderr ("*AddressSanitizer: stack-overflow*");
  g_test_trap_assert_stderr ("*Coop: AddressSanitizer stopped the process in task 'deep-recursion'*");
#else
  g_test_trap_assert_stderr ("*Coop: stack overflow in task 'deep-recursion' (guard page)*");
#endif
}

static void
test_overflow_guard_page (void)
{
  if (g_test_subprocess ())
    {
      run_guard_overflow (0);
      return;
    }
  trap_overflow_subprocess ();
  check_guard_overflow_output ();
}

static void
test_overflow_guard_page_custom_size (void)
{
  if (g_test_subprocess ())
    {
      run_guard_overflow (96 * 1024);
      return;
    }
  trap_overflow_subprocess ();
  check_guard_overflow_output ();
}

/* Without process_madvise() on ourselves (COOP_STACK_BATCH_MADVISE=0, as
 * on kernels before 6.13): a new slab's guards are installed one madvise()
 * at a time and its stacks' first pages faulted in on first touch; every
 * stack still has its guard, and an overflow still hits it. */
static void
test_overflow_guard_page_unbatched (void)
{
  if (g_test_subprocess ())
    {
      CoopStackPool *pool;
      CoopFiber fibers[200];
      guint i;

      g_setenv ("COOP_STACK_BATCH_MADVISE", "0", TRUE);
      g_assert_false (coop_stack_batch_madvise_in_use ());
      pool = coop_stack_pool_new (0);
      for (i = 0; i < G_N_ELEMENTS (fibers); i++)
        {
          coop_fiber_init (&fibers[i], pool, 0, suspend_once_fiber, NULL);
          coop_fiber_resume (&fibers[i]);
          if (coop_stack_guard_regions_in_use ())
            g_assert_true (coop_stack_is_guarded (fibers[i].stack));
        }
      for (i = 0; i < G_N_ELEMENTS (fibers); i++)
        {
          coop_fiber_resume (&fibers[i]);
          g_assert_true (fibers[i].finished);
          coop_fiber_clear (&fibers[i]);
        }
      coop_stack_pool_free (pool);
      run_guard_overflow (0);
      return;
    }
  trap_overflow_subprocess ();
  check_guard_overflow_output ();
}

/* A stack whose pages the pool gave back and handed out again keeps its
 * guard: guard regions survive MADV_DONTNEED, which the pool's trim runs
 * over whole slots, guard pages included (done here by hand on a stack
 * known to come back next, the hot list's head). */
static void
test_overflow_guard_region_recycled (void)
{
  if (g_test_subprocess ())
    {
      CoopStackPool *pool = coop_stack_pool_new (0);
      gsize page = (gsize) sysconf (_SC_PAGESIZE);
      CoopFiber first, fiber;
      gboolean guarded = FALSE;
      guint8 *low;
      gsize size;

      coop_fiber_init (&first, pool, 0, suspend_once_fiber, NULL);
      coop_fiber_resume (&first);
      low = coop_stack_get_low (first.stack);
      size = coop_stack_get_size (first.stack);
      coop_fiber_resume (&first);
      g_assert_true (first.finished);
      g_assert_cmpint (madvise (low - page, size + page, MADV_DONTNEED), ==, 0);

      /* That stack is the next one handed out. */
      coop_fiber_init (&first, pool, 0, suspend_once_fiber, NULL);
      coop_fiber_resume (&first);
      g_assert_true (coop_stack_get_low (first.stack) == (gpointer) low);
      coop_fiber_resume (&first);

      coop_fiber_init (&fiber, pool, 0, guard_overflow_fiber, &guarded);
      coop_fiber_set_name_func (&fiber, deep_recursion_name, NULL);
      coop_fiber_resume (&fiber);
      g_assert_not_reached ();
    }

  if (!coop_stack_guard_regions_in_use ())
    {
      g_test_skip ("this kernel has no guard regions (MADV_GUARD_INSTALL, Linux 6.13)");
      return;
    }
  trap_overflow_subprocess ();
  check_guard_overflow_output ();
}

/* These subprocesses write outside their stack, or touch a PROT_NONE
 * page, on purpose; under valgrind (scripts/check-valgrind.sh traces
 * children) that is an error report, as it should be, so they run only
 * natively and under ASan. */
static gboolean
skip_deliberate_fault (void)
{
  if (!RUNNING_ON_VALGRIND || g_test_subprocess ())
    return FALSE;
  g_test_skip ("deliberate invalid access: valgrind would report it");
  return TRUE;
}

static CoopFiber nested_fiber;

typedef enum
{
  OVERFLOW_THEN_FINISH,
  OVERFLOW_THEN_SUSPEND,
  OVERFLOW_THEN_RESUME,
} CanaryMode;

static void
canary_overflow_fiber (gpointer data)
{
  CanaryMode *mode = data;
  CoopStack *stack = current_stack ();
  guintptr low = (guintptr) coop_stack_get_low (stack);

  if (coop_stack_is_guarded (stack))
    {
      fprintf (stderr, "expected a canary stack\n");
      exit (3);
    }
  /* A harmless run first, high on the stack, so that whatever it calls
   * (sanitizer runtime hooks) is bound before the run that goes deep:
   * lazy PLT binding needs kilobytes of stack. */
  overflow_past ((guintptr) __builtin_frame_address (0) - 16 * 1024, 0);

  /* Overflow past the low end by a few hundred bytes (the canary lies
   * just below it), then come back: frames written below a stack's end
   * are exactly what the canary is for. */
  overflow_past (low, 0);
  if (*mode == OVERFLOW_THEN_SUSPEND)
    coop_fiber_suspend ();
  else if (*mode == OVERFLOW_THEN_RESUME)
    coop_fiber_resume (&nested_fiber);
}

static void
nested_fiber_func (gpointer data G_GNUC_UNUSED)
{
  fprintf (stderr, "nested fiber ran\n");
}

static void
run_canary_overflow (CanaryMode mode)
{
  CoopStackPool *pool;
  CoopFiber fiber;

  g_setenv ("COOP_STACK_GUARD_BUDGET", "0", TRUE);
  g_setenv ("COOP_STACK_GUARD_REGIONS", "0", TRUE);
  pool = coop_stack_pool_new (0);
  coop_fiber_init (&nested_fiber, pool, 0, nested_fiber_func, NULL);
  coop_fiber_init (&fiber, pool, 0, canary_overflow_fiber, &mode);
  coop_fiber_set_name_func (&fiber, deep_recursion_name, NULL);
  coop_fiber_resume (&fiber);
  fprintf (stderr, "overflow went unnoticed\n");
}

static void
test_overflow_canary_finish (void)
{
  if (skip_deliberate_fault ())
    return;
  if (g_test_subprocess ())
    {
      run_canary_overflow (OVERFLOW_THEN_FINISH);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*Coop: stack overflow in task 'deep-recursion' (canary)*");
  g_test_trap_assert_stderr_unmatched ("*unnoticed*");
}

static void
test_overflow_canary_suspend (void)
{
  if (skip_deliberate_fault ())
    return;
  if (g_test_subprocess ())
    {
      run_canary_overflow (OVERFLOW_THEN_SUSPEND);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*Coop: stack overflow in task 'deep-recursion' (canary)*");
  g_test_trap_assert_stderr_unmatched ("*unnoticed*");
}

/* A fiber that resumes another one (a task running a nested main loop)
 * is checked first: the other might be the stack it overflowed into. */
static void
test_overflow_canary_resume (void)
{
  if (skip_deliberate_fault ())
    return;
  if (g_test_subprocess ())
    {
      run_canary_overflow (OVERFLOW_THEN_RESUME);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*Coop: stack overflow in task 'deep-recursion' (canary)*");
  g_test_trap_assert_stderr_unmatched ("*nested fiber ran*");
  g_test_trap_assert_stderr_unmatched ("*unnoticed*");
}

#ifndef COOP_ASAN

/* Faults that are not ours go to whoever handled SIGSEGV before. */

static guint8 *bad_page;

static void
previous_segv_handler (int        sig G_GNUC_UNUSED,
                       siginfo_t *info,
                       void      *uctx G_GNUC_UNUSED)
{
  static const char msg[] = "previous handler called\n";
  ssize_t r;

  if (info->si_addr == bad_page)
    {
      r = write (STDERR_FILENO, msg, sizeof msg - 1);
      (void) r;
      _exit (0);
    }
  _exit (5);
}

static void
touch_bad_page_fiber (gpointer data G_GNUC_UNUSED)
{
  *(volatile guint8 *) bad_page = 1;
}

static void
test_segv_chain_handler (void)
{
  if (skip_deliberate_fault ())
    return;
  if (g_test_subprocess ())
    {
      struct sigaction sa;
      CoopStackPool *pool;
      CoopFiber fiber;

      memset (&sa, 0, sizeof sa);
      sa.sa_sigaction = previous_segv_handler;
      sa.sa_flags = SA_SIGINFO;
      sigaction (SIGSEGV, &sa, NULL);

      bad_page = mmap (NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      pool = coop_stack_pool_new (0);
      coop_fiber_init (&fiber, pool, 0, touch_bad_page_fiber, NULL);
      coop_fiber_resume (&fiber);
      g_assert_not_reached ();
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*previous handler called*");
  g_test_trap_assert_stderr_unmatched ("*stack overflow*");
}

static void
test_segv_chain_default (void)
{
  if (skip_deliberate_fault ())
    return;
  if (g_test_subprocess ())
    {
      CoopStackPool *pool;
      CoopFiber fiber;

      bad_page = mmap (NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      pool = coop_stack_pool_new (0);
      coop_fiber_init (&fiber, pool, 0, touch_bad_page_fiber, NULL);
      coop_fiber_resume (&fiber);
      g_assert_not_reached ();
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr_unmatched ("*stack overflow*");
}

#endif /* !COOP_ASAN */

/* --- hot path ------------------------------------------------------------ */

#define N_ROUND_TRIPS 1000000

static void
bench_fiber (gpointer data)
{
  gboolean *stop = data;

  while (!*stop)
    coop_fiber_suspend ();
}

static void
test_round_trip (void)
{
  CoopStackPool *pool = coop_stack_pool_new (0);
  guint n = RUNNING_ON_VALGRIND ? 10000 : N_ROUND_TRIPS;
  gboolean stop = FALSE;
  CoopFiber fiber;
  guint i;

  coop_fiber_init (&fiber, pool, 0, bench_fiber, &stop);
  coop_fiber_resume (&fiber);
  for (i = 0; i < n; i++)
    coop_fiber_resume (&fiber);
  g_test_message ("%s: %u resumes and suspends", coop_fiber_backend_name (), n);
  stop = TRUE;
  coop_fiber_resume (&fiber);
  g_assert_true (fiber.finished);
  coop_fiber_clear (&fiber);
  coop_stack_pool_free (pool);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/coop/fiber/order", test_order);
  g_test_add_func ("/coop/fiber/nesting", test_nesting);
  g_test_add_func ("/coop/fiber/misuse", test_misuse);
  g_test_add_func ("/coop/fiber/stack-reuse", test_stack_reuse);
  g_test_add_func ("/coop/fiber/stack-sizes", test_stack_sizes);
  g_test_add_func ("/coop/fiber/pool-free-in-use", test_pool_free_in_use);
  g_test_add_func ("/coop/fiber/many", test_many);
  g_test_add_func ("/coop/fiber/trim-neighbours", test_trim_keeps_neighbours);
  g_test_add_func ("/coop/fiber/warm-after-burst", test_warm_after_burst);
  g_test_add_func ("/coop/fiber/threads", test_threads);
  g_test_add_func ("/coop/fiber/guard-budget", test_guard_budget);
  g_test_add_func ("/coop/fiber/guard-regions", test_guard_regions);
  g_test_add_func ("/coop/fiber/overflow/guard-page", test_overflow_guard_page);
  g_test_add_func ("/coop/fiber/overflow/guard-page-unbatched", test_overflow_guard_page_unbatched);
  g_test_add_func ("/coop/fiber/overflow/guard-page-custom-size",
                   test_overflow_guard_page_custom_size);
  g_test_add_func ("/coop/fiber/overflow/guard-region-recycled",
                   test_overflow_guard_region_recycled);
  g_test_add_func ("/coop/fiber/overflow/canary-finish", test_overflow_canary_finish);
  g_test_add_func ("/coop/fiber/overflow/canary-suspend", test_overflow_canary_suspend);
  g_test_add_func ("/coop/fiber/overflow/canary-resume", test_overflow_canary_resume);
#ifndef COOP_ASAN
  g_test_add_func ("/coop/fiber/segv/chain-handler", test_segv_chain_handler);
  g_test_add_func ("/coop/fiber/segv/chain-default", test_segv_chain_default);
#endif
  g_test_add_func ("/coop/fiber/round-trip", test_round_trip);

  return g_test_run ();
}
