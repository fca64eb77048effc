/* stress-faults.c: faults injected under tasks that wait.
 *
 *  - fds closed (told and untold), pipes broken, sockets reset, streams
 *    closed and peer processes killed while tasks wait on them: every
 *    waiter ends (an error, or end-of-file where that is what the fault
 *    means), none hangs, and no fd is left behind;
 *  - a task that overflows its stack: the process says which task;
 *  - a loop closed with tasks, timers, callbacks, thread-safe callbacks,
 *    fd readers and readiness waiters pending: everything is cancelled
 *    and released, the pending tasks are reported, and the loop goes away.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "stress.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_ROUNDS 40

typedef enum
{
  FAULT_PIPE_WRITER_CLOSED,   /* wait_readable; the write end closes: readable, EOF */
  FAULT_FORGET_AND_CLOSE,     /* wait_readable; forget_fd + close: G_IO_ERROR_CLOSED */
  FAULT_CLOSE_UNTOLD,         /* wait_readable; close without telling: the sweep */
  FAULT_PEER_KILLED,          /* stream read; the peer process is killed: EOF */
  FAULT_PEER_RESET,           /* stream write; the peer resets: an error, no SIGPIPE */
  FAULT_STREAM_CLOSED,        /* stream read; another task closes the stream: CLOSED */
  FAULT_WRITABLE_PEER_GONE,   /* wait_writable on a full socket; the peer closes */
  N_FAULTS
} Fault;

static const char *fault_names[N_FAULTS] = {
  "pipe writer closed", "forget_fd + close", "close untold (sweep)", "peer process killed",
  "peer reset under a write", "stream closed by another task", "writable, peer gone",
};

typedef struct
{
  CoopLoop   *loop;
  Fault       fault;
  int         fds[2];
  pid_t       child;
  CoopStream *stream;
  gboolean    waiting;     /* the task reached its wait */
  GError     *error;       /* what the wait ended with */
  gboolean    eof;
} Case;

static void
case_body (CoopTask *task, gpointer data)
{
  Case *c = data;
  g_autoptr(CoopFuture) wait = NULL;

  switch (c->fault)
    {
    case FAULT_PIPE_WRITER_CLOSED:
    case FAULT_FORGET_AND_CLOSE:
    case FAULT_CLOSE_UNTOLD:
      wait = coop_loop_wait_readable (c->loop, c->fds[0]);
      break;
    case FAULT_WRITABLE_PEER_GONE:
      wait = coop_loop_wait_writable (c->loop, c->fds[0]);
      break;
    case FAULT_PEER_KILLED:
    case FAULT_STREAM_CLOSED:
      wait = coop_stream_read (c->stream, 4096);
      break;
    case FAULT_PEER_RESET:
      {
        /* Keep writing until the reset shows (the first writes may fit in
         * the buffers). */
        g_autoptr(GBytes) chunk = g_bytes_new_take (g_malloc0 (65536), 65536);

        c->waiting = TRUE;
        for (;;)
          {
            g_autoptr(CoopFuture) drained = NULL;

            if (!coop_stream_write (c->stream, chunk, &c->error))
              break;
            drained = coop_stream_drain (c->stream);
            if (!coop_await (drained, &c->error))
              break;
          }
        coop_future_set_none (COOP_FUTURE (task));
        return;
      }
    default:
      g_assert_not_reached ();
    }

  c->waiting = TRUE;
  if (coop_await (wait, &c->error) && (c->fault == FAULT_PEER_KILLED || c->fault == FAULT_STREAM_CLOSED))
    c->eof = g_bytes_get_size ((GBytes *) coop_future_get_boxed (wait, NULL)) == 0;
  coop_future_set_none (COOP_FUTURE (task));
}

/* A child process that holds @fd and waits to be killed. */
static pid_t
spawn_holder (int fd, int other)
{
  pid_t pid = fork ();

  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      close (other);
      for (;;)
        pause ();
    }
  return pid;
}

static void
case_setup (CoopLoop *loop, Case *c)
{
  g_autoptr(GError) error = NULL;

  switch (c->fault)
    {
    case FAULT_PIPE_WRITER_CLOSED:
    case FAULT_FORGET_AND_CLOSE:
    case FAULT_CLOSE_UNTOLD:
      g_assert_cmpint (pipe2 (c->fds, O_CLOEXEC | O_NONBLOCK), ==, 0);
      break;
    case FAULT_WRITABLE_PEER_GONE:
      {
        char buf[4096] = { 0 };

        g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, c->fds), ==, 0);
        while (write (c->fds[0], buf, sizeof buf) > 0)
          ;
        break;
      }
    case FAULT_PEER_KILLED:
      g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c->fds), ==, 0);
      c->child = spawn_holder (c->fds[1], c->fds[0]);
      close (c->fds[1]);
      c->fds[1] = -1;
      c->stream = coop_stream_new_for_fd (loop, c->fds[0], &error);
      g_assert_no_error (error);
      break;
    case FAULT_PEER_RESET:
    case FAULT_STREAM_CLOSED:
      g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c->fds), ==, 0);
      c->stream = coop_stream_new_for_fd (loop, c->fds[0], &error);
      g_assert_no_error (error);
      break;
    default:
      g_assert_not_reached ();
    }
}

/* Injects the fault, once the task waits. */
static void
case_inject (CoopLoop *loop, Case *c)
{
  switch (c->fault)
    {
    case FAULT_PIPE_WRITER_CLOSED:
      close (c->fds[1]);
      c->fds[1] = -1;
      break;
    case FAULT_FORGET_AND_CLOSE:
      coop_loop_forget_fd (loop, c->fds[0]);
      close (c->fds[0]);
      c->fds[0] = -1;
      break;
    case FAULT_CLOSE_UNTOLD:
      close (c->fds[0]);
      c->fds[0] = -1;
      break;
    case FAULT_WRITABLE_PEER_GONE:
      close (c->fds[1]);
      c->fds[1] = -1;
      break;
    case FAULT_PEER_KILLED:
      kill (c->child, SIGKILL);
      g_assert_cmpint (waitpid (c->child, NULL, 0), ==, c->child);
      break;
    case FAULT_PEER_RESET:
      {
        struct linger lg = { 1, 0 };

        setsockopt (c->fds[1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close (c->fds[1]);
        c->fds[1] = -1;
        break;
      }
    case FAULT_STREAM_CLOSED:
      coop_stream_close (c->stream);
      break;
    default:
      g_assert_not_reached ();
    }
}

static void
case_check (Case *c, guint *counts_error, guint *counts_eof)
{
  switch (c->fault)
    {
    case FAULT_PIPE_WRITER_CLOSED:
      /* A hang-up is readiness: the read that follows sees end-of-file. */
      g_assert_no_error (c->error);
      {
        char b;
        g_assert_cmpint (read (c->fds[0], &b, 1), ==, 0);
      }
      (*counts_eof)++;
      break;
    case FAULT_FORGET_AND_CLOSE:
    case FAULT_CLOSE_UNTOLD:
      g_assert_error (c->error, G_IO_ERROR, G_IO_ERROR_CLOSED);
      (*counts_error)++;
      break;
    case FAULT_STREAM_CLOSED:
      g_assert_error (c->error, G_IO_ERROR, G_IO_ERROR_CLOSED);
      (*counts_error)++;
      break;
    case FAULT_PEER_KILLED:
      g_assert_no_error (c->error);
      g_assert_true (c->eof);
      (*counts_eof)++;
      break;
    case FAULT_PEER_RESET:
      g_assert_nonnull (c->error);
      g_assert_true (c->error->domain == G_IO_ERROR);
      (*counts_error)++;
      break;
    case FAULT_WRITABLE_PEER_GONE:
      /* Writable with the socket's error (EPIPE), or plain readiness
       * where the error shows at the next write. */
      if (c->error != NULL)
        (*counts_error)++;
      else
        (*counts_eof)++;
      break;
    default:
      g_assert_not_reached ();
    }
}

static void
case_clear (CoopLoop *loop, Case *c)
{
  if (c->stream != NULL)
    {
      coop_stream_abort (c->stream);
      g_clear_object (&c->stream);
      c->fds[0] = -1;   /* the stream owned it */
    }
  if (c->fds[0] >= 0)
    {
      coop_loop_forget_fd (loop, c->fds[0]);
      close (c->fds[0]);
    }
  if (c->fds[1] >= 0)
    close (c->fds[1]);
  g_clear_error (&c->error);
}

static void
test_fds (CoopFixture *f, gconstpointer data)
{
  guint rounds = stress_count (N_ROUNDS);
  guint counts_error[N_FAULTS] = { 0 }, counts_eof[N_FAULTS] = { 0 };
  guint fds_before, fds_after, r, i;
  gint64 start = g_get_monotonic_time ();
  gint64 deadline = stress_deadline ();
  void (*old_sigpipe) (int) = signal (SIGPIPE, SIG_DFL);   /* a SIGPIPE would kill us */

  fds_before = stress_count_fds ();

  for (r = 0; r < rounds && g_get_monotonic_time () < deadline; r++)
    {
      Case cases[N_FAULTS];
      CoopTask *tasks[N_FAULTS];
      g_autoptr(CoopFuture) all = NULL;
      g_autoptr(CoopFuture) limited = NULL;
      g_autoptr(GError) error = NULL;

      for (i = 0; i < N_FAULTS; i++)
        {
          cases[i] = (Case) { f->loop, i, { -1, -1 }, 0, NULL, FALSE, NULL, FALSE };
          /* The slow one (a 2 s sweep) only in the first round. */
          if (i == FAULT_CLOSE_UNTOLD && r > 0)
            cases[i].fault = FAULT_FORGET_AND_CLOSE;
          case_setup (f->loop, &cases[i]);
          tasks[i] = coop_task_new_full (f->loop, fault_names[i], 0, case_body, &cases[i], NULL);
        }
      coop_test_wait_until (({ gboolean w = TRUE; for (i = 0; i < N_FAULTS; i++) w &= cases[i].waiting; w; }));
      for (i = 0; i < N_FAULTS; i++)
        case_inject (f->loop, &cases[i]);

      all = coop_gather (f->loop, (CoopFuture **) tasks, N_FAULTS, TRUE);
      limited = coop_wait_for (all, 10 * G_USEC_PER_SEC);
      g_assert_true (coop_loop_run_until_complete (f->loop, limited, &error));
      g_assert_no_error (error);

      for (i = 0; i < N_FAULTS; i++)
        {
          g_assert_cmpint (coop_future_get_state (COOP_FUTURE (tasks[i])), ==, COOP_FUTURE_STATE_FINISHED);
          case_check (&cases[i], &counts_error[cases[i].fault], &counts_eof[cases[i].fault]);
          case_clear (f->loop, &cases[i]);
          g_object_unref (tasks[i]);
        }
    }
  coop_test_drain ();

  g_test_message ("%u rounds of %u faults in %.1f s", r, N_FAULTS, (g_get_monotonic_time () - start) / 1e6);
  for (i = 0; i < N_FAULTS; i++)
    g_test_message ("  %s: %u errors, %u end-of-file", fault_names[i], counts_error[i], counts_eof[i]);
  g_assert_null (coop_loop_list_tasks (f->loop));
  /* Closing the loop releases its epoll fd, made on first use. */
  coop_loop_close (f->loop);
  fds_after = stress_count_fds ();
  g_test_message ("fds: %u before, %u after", fds_before, fds_after);
  g_assert_cmpuint (fds_after, ==, fds_before);
  signal (SIGPIPE, old_sigpipe);
}

/* --- stack overflow ------------------------------------------------------- */

static volatile guint recursion_limit = G_MAXUINT;

static guint64 __attribute__ ((noinline))
recurse (guint depth)
{
  volatile guint8 frame[512];

  memset ((void *) frame, (int) depth, sizeof frame);
  if (depth >= recursion_limit)
    return frame[0];
  return recurse (depth + 1) + frame[depth % sizeof frame];
}

static void
runaway_body (CoopTask *task, gpointer data)
{
  recurse (0);
}

static void
test_overflow (void)
{
  if (g_test_subprocess ())
    {
      CoopLoop *loop = coop_loop_get_default ();
      g_autoptr(CoopTask) task = coop_task_new_full (loop, "runaway", 64 * 1024, runaway_body, NULL, NULL);

      coop_loop_run_until_complete (loop, COOP_FUTURE (task), NULL);
      g_printerr ("overflow went unnoticed\n");
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr_unmatched ("*unnoticed*");
#if defined(__SANITIZE_ADDRESS__)
  g_test_trap_assert_stderr ("*AddressSanitizer stopped the process in task 'runaway'*");
#else
  g_test_trap_assert_stderr ("*Coop: stack overflow in task 'runaway' (guard page)*");
#endif
}

/* --- closing a busy loop ---------------------------------------------------- */

typedef struct
{
  guint notified;
  guint ran;
  guint reported;
  char *report;     /* the first report's message */
  guint task_ends;
} Busy;

static void
busy_notify (gpointer data)
{
  ((Busy *) data)->notified++;
}

static guint task_notified;

static void
task_notify (gpointer data)
{
  task_notified++;
}

static void
busy_cb (gpointer data)
{
  ((Busy *) data)->ran++;
}

static void
busy_report (CoopLoop *loop, const char *message, CoopFuture *future, const GError *error, gpointer data)
{
  Busy *busy = data;

  if (busy->reported++ == 0)
    busy->report = g_strdup (message);
}

/* The futures the tasks await are kept by the test, not by the tasks:
 * an abandoned task's stack is never unwound, so what its locals hold
 * (a g_autoptr, say) would stay referenced for good, and each future
 * holds a reference on its loop. */
static CoopFuture *awaited[200];

static void
sleeper_body (CoopTask *task, gpointer data)
{
  CoopFuture **slot = data;

  *slot = coop_sleep (coop_future_get_loop (COOP_FUTURE (task)), (gint64) 3600 * G_USEC_PER_SEC);
  coop_await (*slot, NULL);
  g_assert_not_reached ();   /* abandoned, never resumed */
}

static int reader_fds[G_N_ELEMENTS (awaited)];

static void
reader_body (CoopTask *task, gpointer data)
{
  CoopFuture **slot = data;

  *slot = coop_loop_wait_readable (coop_future_get_loop (COOP_FUTURE (task)), reader_fds[slot - awaited]);
  coop_await (*slot, NULL);
  g_assert_not_reached ();
}

static gpointer
threadsafe_thread (gpointer data)
{
  gpointer *args = data;
  guint i;

  for (i = 0; i < 100; i++)
    coop_loop_call_soon_threadsafe (args[0], busy_cb, args[1], busy_notify);
  return NULL;
}

static void
test_close_busy_loop (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop = coop_loop_new (context);
  Busy busy = { 0 };
  GPtrArray *tasks = g_ptr_array_new_with_free_func (g_object_unref);
  int pipes[8][2];
  gpointer args[2] = { loop, &busy };
  GWeakRef weak;
  GThread *thread;
  guint fds_before = stress_count_fds ();
  guint i, n_tasks = 200;
  GObject *alive;

  g_assert_cmpuint (n_tasks, <=, G_N_ELEMENTS (awaited));
  g_main_context_push_thread_default (context);
  coop_loop_set_exception_handler (loop, busy_report, &busy, NULL);
  for (i = 0; i < G_N_ELEMENTS (pipes); i++)
    g_assert_cmpint (pipe2 (pipes[i], O_CLOEXEC | O_NONBLOCK), ==, 0);

  for (i = 0; i < n_tasks; i++)
    {
      CoopTask *task;

      reader_fds[i] = pipes[i % 8][0];
      task = i % 4 == 0
        ? coop_task_new (loop, reader_body, &awaited[i], task_notify)
        : coop_task_new (loop, sleeper_body, &awaited[i], task_notify);

      g_ptr_array_add (tasks, task);
    }
  /* Let them start and suspend. */
  while (g_main_context_iteration (context, FALSE))
    ;
  /* Then pile up work that never runs. */
  for (i = 0; i < 100; i++)
    {
      coop_handle_unref (coop_loop_call_soon (loop, busy_cb, &busy, busy_notify));
      coop_handle_unref (coop_loop_call_later (loop, (gint64) 3600 * G_USEC_PER_SEC, busy_cb, &busy, busy_notify));
    }
  for (i = 0; i < G_N_ELEMENTS (pipes); i++)
    coop_handle_unref (coop_loop_add_reader (loop, pipes[i][0], busy_cb, &busy, busy_notify));
  thread = g_thread_new ("threadsafe", threadsafe_thread, args);
  g_thread_join (thread);

  g_weak_ref_init (&weak, loop);
  coop_loop_close (loop);

  /* 200 callbacks + 100 thread-safe + 8 readers released, none ran. */
  g_test_message ("closed with %u tasks, 300 callbacks and timers, 100 thread-safe callbacks, "
                  "8 fd readers pending: %u destroy notifies, %u tasks reported",
                  n_tasks, busy.notified, busy.reported);
  g_assert_cmpuint (busy.ran, ==, 0);
  g_assert_cmpuint (busy.notified, ==, 200 + 100 + 8);
  /* The abandoned tasks come in one summary, not one report each. */
  g_assert_cmpuint (busy.reported, ==, 1);
  {
    g_autofree char *count = g_strdup_printf ("%u tasks were destroyed while still pending", n_tasks);

    g_assert_nonnull (strstr (busy.report, count));
  }
  g_free (busy.report);
  for (i = 0; i < n_tasks; i++)
    g_assert_true (coop_future_is_cancelled (g_ptr_array_index (tasks, i)));

  g_ptr_array_unref (tasks);
  g_assert_cmpuint (task_notified, ==, n_tasks);
  for (i = 0; i < n_tasks; i++)
    {
      /* Sleeps and readiness waits end cancelled with their loop. */
      g_assert_true (coop_future_is_cancelled (awaited[i]));
      g_clear_object (&awaited[i]);
    }
  g_object_unref (loop);
  while (g_main_context_iteration (context, FALSE))
    ;
  alive = g_weak_ref_get (&weak);
  g_assert_null (alive);
  g_weak_ref_clear (&weak);

  for (i = 0; i < G_N_ELEMENTS (pipes); i++)
    {
      close (pipes[i][0]);
      close (pipes[i][1]);
    }
  g_assert_cmpuint (stress_count_fds (), ==, fds_before);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/stress/faults/fds", test_fds);
  g_test_add_func ("/coop/stress/faults/stack-overflow", test_overflow);
  g_test_add_func ("/coop/stress/faults/close-busy-loop", test_close_busy_loop);

  return g_test_run ();
}
