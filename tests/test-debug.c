/* test-debug.c: the task dump, future descriptions, backtraces of paused
 * tasks and debug mode.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

/* coop_loop_list_tasks() returns references: drop them. */
static gboolean
no_live_tasks (CoopLoop *loop)
{
  GList *live = coop_loop_list_tasks (loop);
  gboolean none = live == NULL;

  g_list_free_full (live, g_object_unref);
  return none;
}

static void
await_body (CoopTask *task,
            gpointer  user_data)
{
  g_autoptr(GError) error = NULL;

  coop_await (user_data, &error);
}

/* Runs until every task of @loop is paused (or @n iterations). */
static void
run_a_little (void)
{
  for (int i = 0; i < 20; i++)
    coop_test_iterate ();
}

/* Multi-line text as TAP comments. */
static void
show (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (lines[i][0] != '\0')
      g_test_message ("%s", lines[i]);
}

static void
assert_contains (const char *haystack,
                 const char *needle)
{
  if (strstr (haystack, needle) == NULL)
    g_error ("expected to find \"%s\" in:\n%s", needle, haystack);
}

static void
test_dump_kinds (CoopFixture   *f,
                 gconstpointer  data)
{
  g_autoptr(GPtrArray) futures = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(CoopLock) lock = coop_lock_new (f->loop);
  g_autoptr(CoopEvent) event = coop_event_new (f->loop);
  g_autoptr(CoopQueue) empty = coop_queue_new (f->loop, 0, COOP_QUEUE_FIFO);
  g_autoptr(CoopQueue) full = coop_queue_new (f->loop, 1, COOP_QUEUE_FIFO);
  g_autoptr(CoopSubprocess) child = NULL;
  g_autoptr(GError) error = NULL;
  const char *argv[] = { "sleep", "30", NULL };
  CoopAsyncFuture *gio;
  CoopFuture *sleeps[2];
  g_autofree char *dump = NULL;
  int fds[2];
  GValue one = G_VALUE_INIT;

  g_test_summary ("The dump names what each task awaits: sleep, fd, lock, queue get and put, "
                  "gather, event, wait_for, a GIO call, a subprocess");

  g_assert_no_errno (pipe (fds));
  g_assert_true (coop_lock_try_acquire (lock));
  g_value_init (&one, G_TYPE_INT);
  g_value_set_int (&one, 1);
  g_assert_true (coop_queue_put_nowait (full, &one, 0, NULL));

  g_ptr_array_add (futures, coop_sleep (f->loop, 60 * G_USEC_PER_SEC));
  g_ptr_array_add (futures, coop_loop_wait_readable (f->loop, fds[0]));
  g_ptr_array_add (futures, coop_lock_acquire (lock));
  g_ptr_array_add (futures, coop_queue_get (empty));
  g_ptr_array_add (futures, coop_queue_put (full, &one, 0));
  sleeps[0] = coop_sleep (f->loop, 60 * G_USEC_PER_SEC);
  sleeps[1] = coop_event_wait (event);
  g_ptr_array_add (futures, coop_gather (f->loop, sleeps, 2, FALSE));
  g_ptr_array_add (futures, coop_event_wait (event));
  g_ptr_array_add (futures, coop_wait_for (g_ptr_array_index (futures, 6), 30 * G_USEC_PER_SEC));
  child = coop_subprocess_new (f->loop, argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  gio = coop_async_future_new (f->loop);
  g_input_stream_read_bytes_async (coop_subprocess_get_stdout_pipe (child), 16, G_PRIORITY_DEFAULT,
                                   coop_async_future_get_cancellable (gio),
                                   coop_async_future_callback, gio);
  g_ptr_array_add (futures, gio);
  g_ptr_array_add (futures, coop_subprocess_wait (child));

  for (guint i = 0; i < futures->len; i++)
    {
      g_autofree char *name = g_strdup_printf ("waiter-%u", i);

      g_ptr_array_add (tasks, coop_task_new_full (f->loop, name, 0, await_body,
                                                  g_ptr_array_index (futures, i), NULL));
    }
  run_a_little ();

  dump = coop_loop_dump_tasks (f->loop);
  show (dump);
  assert_contains (dump, "Coop loop");
  assert_contains (dump, "'waiter-0': paused");
  assert_contains (dump, "awaiting: sleep, due in ");
  {
    g_autofree char *fd_wait = g_strdup_printf ("awaiting: fd %d readable", fds[0]);

    assert_contains (dump, fd_wait);
  }
  assert_contains (dump, "awaiting: lock ");
  assert_contains (dump, "(locked, 1 waiting)");
  assert_contains (dump, "get (size 0, 1 getters");
  assert_contains (dump, "put (size 1/1");
  assert_contains (dump, "awaiting: gather of 2, 2 pending; first: sleep, due in");
  assert_contains (dump, "awaiting: event ");
  assert_contains (dump, "(not set, 2 waiting)");
  assert_contains (dump, "awaiting: wait_for, times out in ");
  assert_contains (dump, "awaiting: GIO call (cancellable ");
  assert_contains (dump, "awaiting: subprocess wait (pid ");

  /* The same descriptions, one future at a time. */
  {
    g_autofree char *text = coop_future_describe (g_ptr_array_index (futures, 0));

    g_assert_true (g_str_has_prefix (text, "sleep, due in "));
  }

  coop_subprocess_kill (child);
  for (guint i = 0; i < tasks->len; i++)
    coop_task_cancel (g_ptr_array_index (tasks, i), NULL);
  coop_test_wait_until (no_live_tasks (f->loop));

  {
    g_autofree char *text = coop_future_describe (g_ptr_array_index (futures, 0));

    assert_contains (text, "[cancelled]");
  }
  g_object_unref (sleeps[0]);
  g_object_unref (sleeps[1]);
  g_value_unset (&one);
  close (fds[0]);
  close (fds[1]);
}

static void
parent_body (CoopTask *task,
             gpointer  user_data)
{
  CoopFuture *nap = coop_sleep (coop_future_get_loop (COOP_FUTURE (task)), 60 * G_USEC_PER_SEC);
  g_autoptr(CoopTask) child = coop_task_new_full (coop_future_get_loop (COOP_FUTURE (task)), "child", 0,
                                                  await_body, nap, g_object_unref);

  coop_await (COOP_FUTURE (child), NULL);
}

static void
test_dump_parent (CoopFixture   *f,
                  gconstpointer  data)
{
  g_autoptr(CoopTask) parent = coop_task_new_full (f->loop, "parent", 0, parent_body, NULL, NULL);
  g_autofree char *dump = NULL;
  GList *tasks;
  CoopTask *child;

  g_test_summary ("A task's parent, age and state appear in the dump; the API gives them too");

  run_a_little ();
  tasks = coop_loop_list_tasks (f->loop);
  g_assert_cmpuint (g_list_length (tasks), ==, 2);
  child = tasks->next->data;
  g_assert_true (coop_task_get_parent (child) == parent);
  g_assert_null (coop_task_get_parent (parent));
  g_assert_cmpint (coop_task_get_creation_time (child), >=, coop_task_get_creation_time (parent));
  g_assert_cmpuint (coop_task_get_id (child), >, coop_task_get_id (parent));

  dump = coop_loop_dump_tasks (f->loop);
  show (dump);
  assert_contains (dump, "'parent': paused, age ");
  assert_contains (dump, "awaiting: task #");
  assert_contains (dump, "'child': paused, age ");
  assert_contains (dump, ", parent #");
  g_list_free_full (tasks, g_object_unref);

  coop_task_cancel (parent, NULL);
  coop_test_wait_until (coop_future_is_done (COOP_FUTURE (parent)));
}

/* Not static and never inlined: the backtrace must name it. */
G_GNUC_NO_INLINE void debug_test_sleeper (CoopTask *task, gpointer user_data);

G_GNUC_NO_INLINE void
debug_test_sleeper (CoopTask *task,
                    gpointer  user_data)
{
  /* The sleep is the caller's when it gives one: a task abandoned while
   * paused (test_destroy_pending) then holds nothing of its own. */
  g_autoptr(CoopFuture) mine = user_data == NULL ?
      coop_sleep (coop_future_get_loop (COOP_FUTURE (task)), 60 * G_USEC_PER_SEC) : NULL;
  CoopFuture *nap = user_data != NULL ? user_data : mine;
  char *own = coop_task_dump_backtrace (task);

  /* Its own stack is the one running.  (Freed before the await: a task
   * destroyed while paused never runs its cleanups.) */
  g_assert_nonnull (strstr (own, "running"));
  g_free (own);
  coop_await (nap, NULL);
  /* Keep this frame from being a tail call. */
  g_assert_nonnull (task);
}

static void
test_backtrace (CoopFixture   *f,
                gconstpointer  data)
{
  g_autoptr(CoopTask) task = coop_task_new_full (f->loop, "sleeper", 0, debug_test_sleeper, NULL, NULL);
  g_autofree char *before = coop_task_dump_backtrace (task);
  g_autofree char *paused = NULL;
  g_autofree char *after = NULL;

  g_test_summary ("The backtrace of a paused task names its function; other states are said");

  assert_contains (before, "not started");
  run_a_little ();
  paused = coop_task_dump_backtrace (task);
  show (paused);
  assert_contains (paused, "#0 ");
  assert_contains (paused, "debug_test_sleeper");

  /* With the backtraces flag the dump shows stacks too. */
  coop_loop_set_debug (f->loop, COOP_DEBUG_BACKTRACES);
  {
    g_autofree char *dump = coop_loop_dump_tasks (f->loop);

    assert_contains (dump, "stack:");
    assert_contains (dump, "debug_test_sleeper");
  }
  coop_loop_set_debug (f->loop, COOP_DEBUG_NONE);

  coop_task_cancel (task, NULL);
  coop_test_wait_until (coop_future_is_done (COOP_FUTURE (task)));
  after = coop_task_dump_backtrace (task);
  assert_contains (after, "done");
}

/* libunwind is opened only when a backtrace is wanted, and locally: its
 * _Unwind_* exports must never become the process's (they would take
 * over every C++ exception).  In a fresh process: libgcc_s's are the
 * ones found, before and after a backtrace.  Where libunwind is there, a
 * backtrace loads it and names a static function, which only it can. */
static G_GNUC_NO_INLINE void
static_sleeper (CoopTask *task,
                gpointer  user_data)
{
  coop_await (user_data, NULL);
  g_assert_nonnull (task);
}

static void
assert_unwind_abi_is_libgcc (void)
{
  void *sym = dlsym (RTLD_DEFAULT, "_Unwind_RaiseException");
  Dl_info info;

  g_assert_nonnull (sym);
  g_assert_true (dladdr (sym, &info) != 0);
  g_test_message ("_Unwind_RaiseException from %s", info.dli_fname);
  g_assert_null (strstr (info.dli_fname, "libunwind"));
}

static void
test_libunwind_local (CoopFixture   *f,
                      gconstpointer  data)
{
  g_autoptr(CoopFuture) never = NULL;
  g_autoptr(CoopTask) task = NULL;
  g_autofree char *paused = NULL;

  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  /* As a C++ library would bring it. */
  g_assert_nonnull (dlopen ("libgcc_s.so.1", RTLD_NOW | RTLD_GLOBAL));
  assert_unwind_abi_is_libgcc ();
  g_assert_null (dlopen ("libunwind.so.8", RTLD_NOW | RTLD_NOLOAD));

  never = coop_future_new (f->loop);
  task = coop_task_new_full (f->loop, "static", 0, static_sleeper, never, NULL);
  run_a_little ();
  paused = coop_task_dump_backtrace (task);
  show (paused);
  if (dlopen ("libunwind.so.8", RTLD_NOW | RTLD_NOLOAD) != NULL)
    assert_contains (paused, "static_sleeper");
  else
    g_test_message ("libunwind not loaded (not built with it, or not installed)");
  assert_unwind_abi_is_libgcc ();
  coop_task_cancel (task, NULL);
  coop_test_wait_until (coop_future_is_done (COOP_FUTURE (task)));
}

/* --- debug mode ---------------------------------------------------------------- */

/* Not static: without libunwind, dladdr() names exported symbols only. */
G_GNUC_NO_INLINE void slow_callback (gpointer data);

G_GNUC_NO_INLINE void
slow_callback (gpointer data)
{
  g_usleep (30 * 1000);
}

static void
slow_task_body (CoopTask *task,
                gpointer  user_data)
{
  g_usleep (30 * 1000);
}

void test_slow (CoopFixture *f, gconstpointer data);

void
test_slow (CoopFixture   *f,
           gconstpointer  data)
{
  g_autoptr(CoopTask) task = NULL;

  g_test_summary ("COOP_DEBUG_SLOW warns about a slow callback and a slow task step, naming them");

  coop_loop_set_debug (f->loop, COOP_DEBUG_SLOW);
  coop_loop_set_slow_duration (f->loop, 10 * 1000);
  g_assert_cmpint (coop_loop_get_slow_duration (f->loop), ==, 10 * 1000);

  g_test_expect_message ("Coop", G_LOG_LEVEL_WARNING, "Executing callback slow_callback*took*");
  coop_handle_unref (coop_loop_call_soon (f->loop, slow_callback, NULL, NULL));
  run_a_little ();
  g_test_assert_expected_messages ();

  g_test_expect_message ("Coop", G_LOG_LEVEL_WARNING,
                         "Executing a step of task #* 'slowpoke' (created outside any task at *test_slow*took*");
  task = coop_task_new_full (f->loop, "slowpoke", 0, slow_task_body, NULL, NULL);
  coop_test_wait_until (coop_future_is_done (COOP_FUTURE (task)));
  g_test_assert_expected_messages ();
  coop_loop_set_debug (f->loop, COOP_DEBUG_NONE);
}

void test_never_retrieved (CoopFixture *f, gconstpointer data);

void
test_never_retrieved (CoopFixture   *f,
                      gconstpointer  data)
{
  CoopFuture *future;

  g_test_summary ("In debug mode the never-retrieved warning says where the future was made");

  coop_loop_set_debug (f->loop, COOP_DEBUG_NEVER_RETRIEVED);
  future = coop_future_new (f->loop);
  coop_future_take_error (future, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "lost"));
  g_test_expect_message ("Coop", G_LOG_LEVEL_WARNING,
                         "The error of CoopFuture * was never retrieved (created outside any task at "
                         "*test_never_retrieved*)*lost*");
  g_object_unref (future);
  g_test_assert_expected_messages ();
  coop_loop_set_debug (f->loop, COOP_DEBUG_NONE);
}

static void
quiet_body (CoopTask *task,
            gpointer  user_data)
{
}

void test_never_awaited (CoopFixture *f, gconstpointer data);

void
test_never_awaited (CoopFixture   *f,
                    gconstpointer  data)
{
  CoopTask *task;

  g_test_summary ("COOP_DEBUG_NEVER_AWAITED warns about a task nobody awaited, with its creation site");

  coop_loop_set_debug (f->loop, COOP_DEBUG_NEVER_AWAITED);
  g_test_expect_message ("Coop", G_LOG_LEVEL_WARNING,
                         "Task #* 'forgotten' was never awaited*created outside any task at *test_never_awaited*");
  task = coop_task_new_full (f->loop, "forgotten", 0, quiet_body, NULL, NULL);
  g_object_unref (task);
  run_a_little ();
  g_test_assert_expected_messages ();

  /* An awaited one is not reported. */
  task = coop_task_new_full (f->loop, "awaited", 0, quiet_body, NULL, NULL);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_object_unref (task);
  run_a_little ();
  coop_loop_set_debug (f->loop, COOP_DEBUG_NONE);
}

static void
failing_body (CoopTask *task,
              gpointer  user_data)
{
  coop_future_take_error (COOP_FUTURE (task),
                          g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "detached and failed"));
}

static void
connection_handler (CoopTask   *task,
                    CoopStream *stream,
                    gpointer    user_data)
{
  guint *handled = user_data;

  (*handled)++;
}

static void
test_never_awaited_detached (CoopFixture   *f,
                             gconstpointer  data)
{
  g_autoptr(CoopServer) server = NULL;
  g_autoptr(GError) error = NULL;
  guint handled = 0;
  CoopTask *task;
  int i;

  g_test_summary ("coop_task_detach() and a server's connection tasks keep never-awaited quiet; "
                  "a detached task's unread error is still reported");

  coop_loop_set_debug (f->loop, COOP_DEBUG_NEVER_AWAITED | COOP_DEBUG_NEVER_RETRIEVED);

  /* Fire and forget, as the docs show it: no warning (any warning would
   * fail the test: tests run with G_DEBUG=fatal-warnings). */
  task = coop_task_new_full (f->loop, "detached", 0, quiet_body, NULL, NULL);
  coop_task_detach (task);
  g_object_unref (task);
  run_a_little ();

  /* Tasks the library owns: each connection a server accepts. */
  server = coop_server_new_tcp (f->loop, "127.0.0.1", 0, 0, connection_handler, &handled, NULL, &error);
  g_assert_no_error (error);
  for (i = 0; i < 3; i++)
    {
      g_autoptr(CoopFuture) connect = coop_stream_open_tcp (f->loop, "127.0.0.1",
                                                            coop_server_get_port (server));
      CoopStream *client;

      g_assert_true (coop_loop_run_until_complete (f->loop, connect, &error));
      g_assert_no_error (error);
      client = COOP_STREAM (coop_future_get_object (connect, NULL));
      while (handled < (guint) i + 1)
        g_main_context_iteration (coop_loop_get_context (f->loop), TRUE);
      coop_stream_close (client);
    }
  coop_server_close (server);
  {
    g_autoptr(CoopFuture) closed = coop_server_wait_closed (server);

    g_assert_true (coop_loop_run_until_complete (f->loop, closed, NULL));
  }
  g_clear_object (&server);
  run_a_little ();

  /* Detaching silences never-awaited only: a failure nobody read is
   * still a failure nobody read. */
  g_test_expect_message ("Coop", G_LOG_LEVEL_WARNING, "*detached and failed*");
  task = coop_task_new_full (f->loop, "detached-failing", 0, failing_body, NULL, NULL);
  coop_task_detach (task);
  g_object_unref (task);
  run_a_little ();
  g_test_assert_expected_messages ();
  coop_loop_set_debug (f->loop, COOP_DEBUG_NONE);
}

static void
test_destroy_pending (CoopFixture   *f,
                      gconstpointer  data)
{
  CoopFuture *nap;
  CoopTask *task;

  g_test_summary ("COOP_DEBUG_DESTROY_PENDING says what a destroyed task awaited, and its stack");

  coop_loop_set_debug (f->loop, COOP_DEBUG_DESTROY_PENDING);
  nap = coop_sleep (f->loop, 60 * G_USEC_PER_SEC);
  task = coop_task_new_full (f->loop, "stuck", 0, debug_test_sleeper, nap, NULL);
  run_a_little ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_WARNING,
                         "Task 'stuck' was destroyed while still pending*awaiting: sleep, due in*"
                         "created outside any task*debug_test_sleeper*");
  coop_loop_close (f->loop);
  g_test_assert_expected_messages ();
  g_object_unref (task);
  g_object_unref (nap);
}

static gboolean stall_done;

G_GNUC_NO_INLINE void stall_callback (gpointer data);

G_GNUC_NO_INLINE void
stall_callback (gpointer data)
{
  g_usleep (400 * 1000);
  stall_done = TRUE;
}

static void
test_stall (CoopFixture   *f,
            gconstpointer  data)
{
  g_test_summary ("COOP_DEBUG_STALL: a watchdog thread names the callback that holds the loop");

  if (g_test_subprocess ())
    {
      coop_loop_set_stall_duration (f->loop, 50 * 1000);
      coop_loop_set_debug (f->loop, COOP_DEBUG_STALL);
      coop_handle_unref (coop_loop_call_soon (f->loop, stall_callback, NULL, NULL));
      coop_test_wait_until (stall_done);
      coop_loop_set_debug (f->loop, COOP_DEBUG_NONE);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();   /* warnings are fatal in tests */
  g_test_trap_assert_stderr ("*WARNING*The loop has been stalled for*callback stall_callback*");
}

static void
test_dump_signal (CoopFixture   *f,
                  gconstpointer  data)
{
  g_test_summary ("A loop with the dump signal installed prints its dump to stderr on SIGUSR1");

  if (g_test_subprocess ())
    {
      g_autoptr(CoopFuture) nap = coop_sleep (f->loop, 60 * G_USEC_PER_SEC);
      g_autoptr(CoopTask) task = coop_task_new_full (f->loop, "napper", 0, await_body, nap, NULL);

      g_assert_true (coop_loop_install_dump_signal (f->loop, SIGUSR1));
      run_a_little ();
      raise (SIGUSR1);
      for (int i = 0; i < 50; i++)
        {
          g_main_context_iteration (f->context, FALSE);
          g_usleep (1000);
        }
      coop_task_cancel (task, NULL);
      coop_test_wait_until (coop_future_is_done (COOP_FUTURE (task)));
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*Coop loop *1 live task*task #* 'napper': paused*awaiting: sleep, due in*");
}

static void
test_flags_type (void)
{
  g_autoptr(GFlagsClass) klass = g_type_class_ref (COOP_TYPE_DEBUG_FLAGS);

  g_test_summary ("CoopDebugFlags is a registered flags type whose nicks are the COOP_DEBUG keys");
  g_assert_cmpstr (g_flags_get_first_value (klass, COOP_DEBUG_SLOW)->value_nick, ==, "slow");
  g_assert_cmpstr (g_flags_get_first_value (klass, COOP_DEBUG_NEVER_RETRIEVED)->value_nick, ==, "never-retrieved");
  g_assert_cmpstr (g_flags_get_first_value (klass, COOP_DEBUG_STALL)->value_nick, ==, "stall");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/debug/dump-kinds", test_dump_kinds);
  coop_test_add ("/coop/debug/dump-parent", test_dump_parent);
  coop_test_add ("/coop/debug/backtrace", test_backtrace);
  coop_test_add ("/coop/debug/libunwind-local", test_libunwind_local);
  coop_test_add ("/coop/debug/slow", test_slow);
  coop_test_add ("/coop/debug/never-retrieved", test_never_retrieved);
  coop_test_add ("/coop/debug/never-awaited", test_never_awaited);
  coop_test_add ("/coop/debug/never-awaited-detached", test_never_awaited_detached);
  coop_test_add ("/coop/debug/destroy-pending", test_destroy_pending);
  coop_test_add ("/coop/debug/stall", test_stall);
  coop_test_add ("/coop/debug/dump-signal", test_dump_signal);
  g_test_add_func ("/coop/debug/flags-type", test_flags_type);

  return g_test_run ();
}
