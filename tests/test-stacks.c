/* test-stacks.c: what happens when stacks run out or overflow, with many
 * tasks alive: a task whose stack cannot be mapped fails (and a server
 * closes that one connection), and an overflow is reported naming its
 * task whatever guard its stack has.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include "coop-private.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_H
# include <valgrind/valgrind.h>
#else
# define RUNNING_ON_VALGRIND 0
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
# define COOP_TEST_SANITIZER 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#  define COOP_TEST_SANITIZER 1
# endif
#endif
#if defined(__SANITIZE_ADDRESS__)
# define COOP_TEST_ASAN 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer)
#  define COOP_TEST_ASAN 1
# endif
#endif

/* --- helpers --------------------------------------------------------------- */

/* Sanitizers reserve terabytes of shadow memory and valgrind maps its own
 * tool into the process: an address-space limit is not testable there. */
static gboolean
skip_address_space_limit (void)
{
#ifdef COOP_TEST_SANITIZER
  g_test_skip ("RLIMIT_AS cannot be tested under a sanitizer (shadow memory)");
  return TRUE;
#else
  if (RUNNING_ON_VALGRIND)
    {
      g_test_skip ("RLIMIT_AS cannot be tested under valgrind");
      return TRUE;
    }
  return FALSE;
#endif
}

/* Limits the address space to what the process uses now plus @headroom
 * bytes: room for small allocations, not for many stacks (256 KiB each,
 * mapped 16 MiB at a time). */
static void
limit_address_space (gsize headroom)
{
  g_autofree char *statm = NULL;
  struct rlimit limit;
  gsize pages;

  g_assert_true (g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL));
  pages = (gsize) g_ascii_strtoull (statm, NULL, 10);
  limit.rlim_cur = limit.rlim_max = (rlim_t) (pages * (gsize) sysconf (_SC_PAGESIZE) + headroom);
  g_assert_cmpint (setrlimit (RLIMIT_AS, &limit), ==, 0);
}

static CoopLoop *
new_loop (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop;

  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);
  g_main_context_unref (context);   /* pushed: still the thread default */
  return loop;
}

/* --- a task without a stack fails, the process goes on ---------------------- */

typedef struct
{
  CoopFuture *gate;
  guint       started;
  guint       finished;
} Waiters;

static void
wait_gate_body (CoopTask *task,
                gpointer  data)
{
  Waiters *w = data;

  w->started++;
  g_assert_true (coop_await (w->gate, NULL));
  w->finished++;
}

/* --- after a burst: the stacks stay warm, then an idle loop gives their
 * pages back, in slices, from a source of low priority ----------------------- */

#define N_BURST 1000

static void
test_burst_then_idle (void)
{
  CoopLoop *loop = new_loop ();
  CoopStackPool *pool = coop_loop_get_stack_pool (loop);
  Waiters w = { coop_future_new (loop), 0, 0 };
  guint i, warm;

  for (i = 0; i < N_BURST; i++)
    g_object_unref (coop_task_new (loop, wait_gate_body, &w, NULL));
  coop_test_wait_until (w.started == N_BURST);
  g_assert_cmpuint (coop_stack_pool_get_n_in_use (pool), ==, N_BURST);
  g_assert_true (coop_stack_pool_has_surplus (pool) == FALSE);

  /* All finish in one go, the ready queue still busy: every stack is
   * released warm, none given back yet. */
  coop_future_set_none (w.gate);
  coop_test_wait_until (w.finished == N_BURST);
  g_assert_cmpuint (coop_stack_pool_get_n_in_use (pool), ==, 0);
  g_assert_cmpuint (coop_stack_pool_get_n_warm (pool), >=, N_BURST);

  /* Idle: the loop's first round gives back half of them, and stops
   * there until a second has passed. */
  coop_test_drain ();
  warm = coop_stack_pool_get_n_warm (pool);
  g_test_message ("warm stacks after the first idle round: %u", warm);
  g_assert_cmpuint (warm, <=, N_BURST / 2);
  g_assert_cmpuint (warm, >=, 16);
  g_assert_true (coop_stack_pool_has_surplus (pool));

  g_object_unref (w.gate);
  coop_loop_close (loop);
  g_object_unref (loop);
  g_main_context_pop_thread_default (g_main_context_get_thread_default ());
}

static guint
count_done (GPtrArray *tasks)
{
  guint i, n = 0;

  for (i = 0; i < tasks->len; i++)
    if (coop_future_is_done (g_ptr_array_index (tasks, i)))
      n++;
  return n;
}

static void
test_exhaustion_tasks (void)
{
  if (skip_address_space_limit ())
    return;

  if (g_test_subprocess ())
    {
      CoopLoop *loop = new_loop ();
      g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func (g_object_unref);
      Waiters w = { coop_future_new (loop), 0, 0 };
      guint i, n_failed = 0, n_tasks = 1000;
      g_autoptr(CoopTask) later = NULL;

      for (i = 0; i < n_tasks; i++)
        g_ptr_array_add (tasks, coop_task_new (loop, wait_gate_body, &w, NULL));

      /* Room for about a hundred 256 KiB stacks, not a thousand. */
      limit_address_space (48 * 1024 * 1024);
      coop_test_wait_until (w.started + count_done (tasks) == n_tasks);

      for (i = 0; i < n_tasks; i++)
        {
          CoopFuture *task = g_ptr_array_index (tasks, i);
          const GError *error;

          if (!coop_future_is_done (task))
            continue;
          error = coop_future_get_error (task);
          g_assert_error ((GError *) error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
          n_failed++;
        }
      g_test_message ("%u tasks started, %u found no stack", w.started, n_failed);
      g_assert_cmpuint (w.started, >, 0);
      g_assert_cmpuint (n_failed, >, 0);
      g_assert_cmpuint (w.started + n_failed, ==, n_tasks);

      /* The tasks that did start run to completion, and their stacks
       * serve the next ones. */
      coop_future_set_none (w.gate);
      coop_test_wait_until (count_done (tasks) == n_tasks);
      g_assert_cmpuint (w.finished, ==, w.started);

      w.gate = coop_future_new (loop);
      coop_future_set_none (w.gate);
      later = coop_task_new (loop, wait_gate_body, &w, NULL);
      g_assert_true (coop_loop_run_until_complete (loop, COOP_FUTURE (later), NULL));
      g_assert_cmpuint (w.finished, ==, w.started);

      g_ptr_array_set_size (tasks, 0);
      g_object_unref (w.gate);
      coop_loop_close (loop);
      g_object_unref (loop);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* --- a server closes the connections it has no stack for ------------------- */

typedef struct
{
  guint   handled;
  guint   reports;
  GError *report_error;
} ServerState;

static void
echo_line_handler (CoopTask   *task,
                   CoopStream *stream,
                   gpointer    user_data)
{
  ServerState *state = user_data;

  state->handled++;
  for (;;)
    {
      CoopFuture *read = coop_stream_read (stream, 64);
      g_autoptr(GBytes) data = NULL;

      if (coop_await (read, NULL))
        data = g_bytes_ref ((GBytes *) coop_future_get_boxed (read, NULL));
      g_object_unref (read);
      if (data == NULL || g_bytes_get_size (data) == 0 ||
          !coop_stream_write (stream, data, NULL))
        return;
    }
}

static void
count_reports (CoopLoop     *loop,
               const char   *message,
               CoopFuture   *future,
               const GError *error,
               gpointer      user_data)
{
  ServerState *state = user_data;

  state->reports++;
  if (state->report_error == NULL && error != NULL)
    state->report_error = g_error_copy (error);
}

static int
connect_client (guint16 port)
{
  struct sockaddr_in addr = { 0 };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  addr.sin_family = AF_INET;
  addr.sin_port = g_htons (port);
  addr.sin_addr.s_addr = g_htonl (INADDR_LOOPBACK);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  return fd;
}

/* Clients whose connection the server has closed (they read end of file). */
static guint
count_closed (GArray *fds)
{
  guint i, n = 0;

  for (i = 0; i < fds->len; i++)
    {
      struct pollfd p = { g_array_index (fds, int, i), POLLIN, 0 };
      char c;

      if (poll (&p, 1, 0) == 1 && recv (p.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
        n++;
    }
  return n;
}

static void
test_exhaustion_server (void)
{
  if (skip_address_space_limit ())
    return;

  if (g_test_subprocess ())
    {
      CoopLoop *loop = new_loop ();
      ServerState state = { 0 };
      g_autoptr(GError) error = NULL;
      g_autoptr(GArray) fds = g_array_new (FALSE, FALSE, sizeof (int));
      CoopServer *server;
      guint i, n_closed = 0, n_clients = 600;
      char reply[16];
      int fd;

      coop_loop_set_exception_handler (loop, count_reports, &state, NULL);
      server = coop_server_new_tcp (loop, "127.0.0.1", 0, 128, echo_line_handler, &state, NULL, &error);
      g_assert_no_error (error);

      limit_address_space (48 * 1024 * 1024);

      /* In batches that fit the listen backlog; the server accepts each
       * batch, and its connections either run or are closed. */
      for (i = 0; i < n_clients; i++)
        {
          fd = connect_client (coop_server_get_port (server));
          g_array_append_val (fds, fd);
          if (fds->len % 64 == 0 || i + 1 == n_clients)
            coop_test_wait_until (state.handled + (n_closed = count_closed (fds)) == fds->len);
        }
      g_test_message ("%u connections served, %u closed for want of a stack, %u reports",
                      state.handled, n_closed, state.reports);
      g_assert_cmpuint (state.handled, >, 0);
      g_assert_cmpuint (n_closed, >, 0);
      /* One report for the shortage, not one per connection. */
      g_assert_cmpuint (state.reports, ==, 1);
      g_assert_error (state.report_error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
      g_assert_cmpuint (coop_server_get_n_connections (server), ==, state.handled);

      /* The clients hang up; their handlers end and give their stacks
       * back, and a later client is answered. */
      for (i = 0; i < fds->len; i++)
        close (g_array_index (fds, int, i));
      coop_test_wait_until (coop_server_get_n_connections (server) == 0);

      fd = connect_client (coop_server_get_port (server));
      g_assert_cmpint (write (fd, "hello\n", 6), ==, 6);
      g_array_set_size (fds, 0);
      coop_test_wait_until (poll (&(struct pollfd) { fd, POLLIN, 0 }, 1, 0) == 1);
      g_assert_cmpint (read (fd, reply, sizeof reply), ==, 6);
      g_assert_cmpmem (reply, 6, "hello\n", 6);
      close (fd);

      coop_server_close (server);
      coop_test_wait_until (coop_server_get_n_connections (server) == 0);
      g_object_unref (server);
      coop_loop_close (loop);
      g_object_unref (loop);
      g_clear_error (&state.report_error);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* --- an overflow in task number 20,000 --------------------------------------- */

#define N_ALIVE 19999

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

static void
overflow_body (CoopTask *task,
               gpointer  data)
{
  /* So the parent can tell where the guard was. */
  CoopFiber *fiber = coop_fiber_current ();

  fprintf (stderr, "overflowing on a %s stack\n",
           coop_stack_is_guarded (fiber->stack) ? "guarded" : "canary");
  recurse_forever (0);
}

static void
run_overflow_20000 (void)
{
  CoopLoop *loop = new_loop ();
  Waiters w = { coop_future_new (loop), 0, 0 };
  CoopTask *last;
  guint i;

  for (i = 0; i < N_ALIVE; i++)
    {
      g_autofree char *name = g_strdup_printf ("waiter-%u", i + 1);

      g_object_unref (coop_task_new_full (loop, name, 0, wait_gate_body, &w, NULL));
    }
  coop_test_wait_until (w.started == N_ALIVE);
  g_assert_cmpuint (coop_stack_pool_get_n_in_use (coop_loop_get_stack_pool (loop)), ==, N_ALIVE);

  last = coop_task_new_full (loop, "overflow-20000", 0, overflow_body, NULL, NULL);
  coop_loop_run_until_complete (loop, COOP_FUTURE (last), NULL);
  fprintf (stderr, "overflow went unnoticed\n");
  exit (0);
}

/* Under ASan our handler is not installed: ASan reports the error and
 * Coop's death callback names the task. */
static void
check_overflow_20000 (const char *how)
{
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr_unmatched ("*unnoticed*");
#ifdef COOP_TEST_ASAN
  g_test_trap_assert_stderr ("*Coop: AddressSanitizer stopped the process in task 'overflow-20000'*");
#else
  g_test_trap_assert_stderr ("*Coop: stack overflow in task 'overflow-20000' (*");
  if (how != NULL)
    g_test_trap_assert_stderr (how);
#endif
}

/* These children write over stacks on purpose: valgrind would report it. */
static gboolean
skip_deliberate_fault (void)
{
  if (!RUNNING_ON_VALGRIND || g_test_subprocess ())
    return FALSE;
  g_test_skip ("deliberate invalid access: valgrind would report it");
  return TRUE;
}

/* Runs the child; under ASan its report is expected, so it goes to stderr
 * even where scripts/check-sanitizers.sh collects reports in files. */
static void
trap_overflow_subprocess (void)
{
#ifdef COOP_TEST_ASAN
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

/* With guard regions where the kernel has them (Linux 6.13): every stack
 * has a guard page, so the 20,000th does too.  (Without them, or with
 * COOP_STACK_GUARD_REGIONS=0 in the environment, this is the fallback.) */
static void
test_overflow_20000 (void)
{
  if (skip_deliberate_fault ())
    return;
  if (g_test_subprocess ())
    {
      run_overflow_20000 ();
      return;
    }

  trap_overflow_subprocess ();
  if (coop_stack_guard_regions_in_use ())
    {
      g_test_trap_assert_stderr ("*overflowing on a guarded stack*");
      check_overflow_20000 ("*(guard page)*");
    }
  else
    {
      g_test_message ("this kernel has no guard regions: the fallback was tested");
      check_overflow_20000 (NULL);
    }
}

/* What kernels without guard regions get: the first 16,384 stacks have a
 * PROT_NONE guard page, the 20,000th is in a canary slab (index 31 of its
 * slab of 64) and runs over the 31 stacks below it, waiting tasks' stacks,
 * into the guard page below the slab. */
static void
test_overflow_20000_fallback (void)
{
  if (skip_deliberate_fault ())
    return;
  if (g_test_subprocess ())
    {
      run_overflow_20000 ();
      return;
    }

  {
    g_autofree char *regions = g_strdup (g_getenv ("COOP_STACK_GUARD_REGIONS"));
    g_autofree char *budget = g_strdup (g_getenv ("COOP_STACK_GUARD_BUDGET"));

    /* The default budget (16,384 stacks), no guard regions. */
    g_setenv ("COOP_STACK_GUARD_REGIONS", "0", TRUE);
    if (budget != NULL)
      g_unsetenv ("COOP_STACK_GUARD_BUDGET");
    trap_overflow_subprocess ();
    if (regions != NULL)
      g_setenv ("COOP_STACK_GUARD_REGIONS", regions, TRUE);
    else
      g_unsetenv ("COOP_STACK_GUARD_REGIONS");
    if (budget != NULL)
      g_setenv ("COOP_STACK_GUARD_BUDGET", budget, TRUE);
  }
  g_test_trap_assert_stderr ("*overflowing on a canary stack*");
  check_overflow_20000 ("*(no guard page of its own: it overwrote the 31 stacks below it "
                        "up to its slab's guard page)*");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/coop/stacks/burst-then-idle", test_burst_then_idle);
  g_test_add_func ("/coop/stacks/exhaustion/tasks", test_exhaustion_tasks);
  g_test_add_func ("/coop/stacks/exhaustion/server", test_exhaustion_server);
  g_test_add_func ("/coop/stacks/overflow/task-20000", test_overflow_20000);
  g_test_add_func ("/coop/stacks/overflow/task-20000-fallback", test_overflow_20000_fallback);

  return g_test_run ();
}
