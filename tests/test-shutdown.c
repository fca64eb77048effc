/* test-shutdown.c: closing a loop with work in flight, and
 * coop_loop_shutdown().
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"
#include "coop-private.h"   /* coop_threadpool_get_n_jobs() */

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* --- a server with connected clients ----------------------------------------- */

typedef struct
{
  guint   accepted;
  guint   in_drain;     /* handlers paused in drain() (their peer does not read) */
  guint   in_read;      /* handlers paused in read() */
  guint   freed;        /* the server's user data was freed */
} EchoState;

/* Awaits @future, which the task owns from now on (until its next await
 * or its end): a task abandoned by a closing loop never unwinds, so a
 * reference held on its stack would leak, and with it the loop (a future
 * holds its loop).  A reference the task itself holds goes with the task. */
static gboolean
await_owned (CoopTask *task, CoopFuture *future)
{
  g_object_set_data_full (G_OBJECT (task), "in-flight", future, g_object_unref);
  return coop_await (future, NULL);
}

/* The echo of examples/coop-echo-server.c: read, write back, drain. */
static void
echo_handler (CoopTask *task, CoopStream *stream, gpointer data)
{
  EchoState *s = data;

  s->accepted++;
  for (;;)
    {
      CoopFuture *read = coop_stream_read (stream, 64 * 1024);
      CoopFuture *drain;
      GBytes *chunk;
      gboolean ok;

      s->in_read++;
      ok = await_owned (task, read);
      s->in_read--;
      if (!ok)
        return;
      chunk = (GBytes *) coop_future_get_boxed (read, NULL);
      if (g_bytes_get_size (chunk) == 0 || !coop_stream_write (stream, chunk, NULL))
        return;
      drain = coop_stream_drain (stream);
      if (!coop_future_is_done (drain))
        s->in_drain++;
      if (!await_owned (task, drain))
        return;
    }
}

static void
echo_state_freed (gpointer data)
{
  ((EchoState *) data)->freed++;
}

static int
client_connect (guint16 port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = g_htons (port),
                              .sin_addr.s_addr = g_htonl (INADDR_LOOPBACK) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

  g_assert_cmpint (fd, >=, 0);
  /* Loopback: the kernel completes the handshake before anyone accepts. */
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0)
    g_assert_cmpint (errno, ==, EINPROGRESS);
  return fd;
}

/* Writes until the socket takes no more; TRUE if it took anything. */
static gboolean
client_flood (int fd)
{
  static char buf[64 * 1024];
  gboolean wrote = FALSE;

  for (;;)
    {
      ssize_t n = send (fd, buf, sizeof buf, MSG_NOSIGNAL);

      if (n > 0)
        {
          wrote = TRUE;
          continue;
        }
      g_assert_true (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN));
      return wrote;
    }
}

typedef struct
{
  GMainContext *context;
  CoopLoop     *loop;
  EchoState     state;
  int           clients[3];
  GWeakRef      server_ref;
  GWeakRef      loop_ref;
} ServerFixture;

/* A server (the test keeps no reference on it) with three clients: one
 * connected and silent, one that sent a line and waits, one that sends
 * and never reads, so its handler is paused in drain(). */
static void
server_fixture_setup (ServerFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  CoopServer *server;
  guint16 port;
  guint i;

  f->context = g_main_context_new ();
  g_main_context_push_thread_default (f->context);
  f->loop = coop_loop_new (f->context);
  g_weak_ref_init (&f->loop_ref, f->loop);

  server = coop_server_new_tcp (f->loop, "127.0.0.1", 0, 0, echo_handler, &f->state,
                                echo_state_freed, &error);
  g_assert_no_error (error);
  port = coop_server_get_port (server);
  g_weak_ref_init (&f->server_ref, server);
  g_object_unref (server);   /* a server keeps serving with no references */

  for (i = 0; i < G_N_ELEMENTS (f->clients); i++)
    f->clients[i] = client_connect (port);
  g_assert_cmpint (send (f->clients[1], "hello\n", 6, MSG_NOSIGNAL), ==, 6);

  /* Feed the third one until its handler waits in drain() (the server's
   * output buffer is over its high-water mark because we never read). */
  coop_test_wait_until (f->state.accepted == 3);
  while (f->state.in_drain == 0)
    {
      client_flood (f->clients[2]);
      g_main_context_iteration (f->context, TRUE);
    }
  /* The first two wait in read(). */
  coop_test_wait_until (f->state.in_read == 2);
  g_assert_cmpuint (coop_server_get_n_connections (server), ==, 3);
}

static void
server_fixture_teardown (ServerFixture *f, gconstpointer data)
{
  GObject *alive;
  guint i;

  /* Nothing is left: the server and the loop went with their last
   * references, and the handler's data was freed once. */
  alive = g_weak_ref_get (&f->server_ref);
  g_assert_null (alive);
  g_assert_cmpuint (f->state.freed, ==, 1);
  g_clear_object (&f->loop);
  alive = g_weak_ref_get (&f->loop_ref);
  g_assert_null (alive);
  g_weak_ref_clear (&f->server_ref);
  g_weak_ref_clear (&f->loop_ref);

  for (i = 0; i < G_N_ELEMENTS (f->clients); i++)
    close (f->clients[i]);
  g_main_context_pop_thread_default (f->context);
  g_main_context_unref (f->context);
}

static void
count_report (CoopLoop *loop, const char *message, CoopFuture *future, const GError *error,
              gpointer data)
{
  GPtrArray *reports = data;

  g_ptr_array_add (reports, g_strdup (message));
}

/* Closing the loop while connection tasks (which nobody else holds) wait
 * on their sockets: they are abandoned, each exactly once, and the loop
 * reports them in one summary.  Closing used to wake them through the I/O
 * shutdown, drop their last reference with the discarded step and then
 * walk the freed tasks. */
static void
test_server_close (ServerFixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) reports = g_ptr_array_new_with_free_func (g_free);

  g_test_summary ("Closing a loop whose server has connected clients abandons the connection tasks safely");

  coop_loop_set_exception_handler (f->loop, count_report, reports, NULL);
  coop_loop_close (f->loop);

  g_assert_cmpuint (reports->len, ==, 1);
  g_assert_nonnull (strstr (reports->pdata[0], "3 tasks"));
  g_assert_nonnull (strstr (reports->pdata[0], "'conn 127.0.0.1:"));
}

/* Shutting the loop down instead: the connection tasks are cancelled, their
 * handlers return, their streams close and nothing is abandoned. */
static void
test_server_shutdown (ServerFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_test_summary ("Shutting down a loop whose server has connected clients ends every connection task");

  g_assert_true (coop_loop_shutdown (f->loop, 60 * G_USEC_PER_SEC, &error));
  g_assert_no_error (error);
  g_assert_true (coop_loop_is_closed (f->loop));
  g_assert_cmpuint (f->state.in_read, ==, 0);
}

/* --- shutdown: cancellation, clean-up, the deadline, the thread pool ---------- */

typedef struct
{
  GMainContext *context;
  CoopLoop  *loop;
  CoopLock  *lock;
  guint      cleaned;        /* tasks whose clean-up ran to its end */
  guint      started_late;   /* bodies of tasks started during the shutdown that ran */
  GMutex     mutex;
  GCond      cond;
  gboolean   job_cancelled;  /* the job's cancellable tripped */
  gboolean   job_returned;   /* the job's function returned */
  gint       job_started;    /* atomic */
} Shared;

static void
late_body (CoopTask *task, gpointer data)
{
  ((Shared *) data)->started_late++;
}

/* Holds the lock and sleeps; cancelled, it cleans up: starts a task (which
 * the shutdown cancels before it runs), awaits a short sleep, then lets go
 * of the lock. */
static void
lock_holder (CoopTask *task, gpointer data)
{
  Shared *s = data;
  g_autoptr(CoopFuture) nap = coop_sleep (s->loop, G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC);
  g_autoptr(CoopFuture) tidy = NULL;
  g_autoptr(CoopTask) late = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_lock_lock (s->lock, NULL));
  g_assert_false (coop_await (nap, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  late = coop_task_new_full (s->loop, "late", 0, late_body, s, NULL);
  tidy = coop_sleep (s->loop, 1000);
  g_assert_true (coop_await (tidy, NULL));   /* clean-up may await */
  coop_lock_release (s->lock);
  s->cleaned++;
}

/* Waits for the lock: the shutdown cancels the request. */
static void
lock_waiter (CoopTask *task, gpointer data)
{
  Shared *s = data;
  g_autoptr(GError) error = NULL;

  g_assert_false (coop_lock_lock (s->lock, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  s->cleaned++;
}

/* Ignores cancellation for ever: every await after the first is a fresh
 * one, which nobody cancels.  Its futures are the task's own (qdata), not
 * its stack's, since an abandoned task never unwinds. */
static void
stubborn (CoopTask *task, gpointer data)
{
  Shared *s = data;

  for (;;)
    {
      CoopFuture *nap = coop_sleep (s->loop, G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC);

      g_object_set_data_full (G_OBJECT (task), "nap", nap, g_object_unref);
      coop_await (nap, NULL);
    }
}

static void
job_cancelled_cb (GCancellable *cancellable, gpointer data)
{
  Shared *s = data;

  g_mutex_lock (&s->mutex);
  s->job_cancelled = TRUE;
  g_cond_signal (&s->cond);
  g_mutex_unlock (&s->mutex);
}

/* A blocking job that runs until its cancellable trips. */
static gboolean
blocking_job (gpointer data, GCancellable *cancellable, GValue *result, GError **error)
{
  Shared *s = data;

  g_atomic_int_set (&s->job_started, TRUE);
  g_main_context_wakeup (s->context);
  g_mutex_lock (&s->mutex);
  while (!s->job_cancelled)
    g_cond_wait (&s->cond, &s->mutex);
  s->job_returned = TRUE;
  g_mutex_unlock (&s->mutex);
  g_cancellable_set_error_if_cancelled (cancellable, error);
  return FALSE;
}

/* Awaits the blocking job, which its cancellation cancels. */
static void
job_waiter (CoopTask *task, gpointer data)
{
  Shared *s = data;
  g_autoptr(CoopFuture) job = coop_loop_run_in_thread (s->loop, blocking_job, s, NULL);
  GCancellable *cancellable = coop_task_get_cancellable (task);

  g_assert_nonnull (cancellable);
  g_signal_connect (cancellable, "cancelled", G_CALLBACK (job_cancelled_cb), s);
  g_assert_false (coop_await (job, NULL));
  s->cleaned++;
}

static void
test_shutdown_deadline (void)
{
  GMainContext *context = g_main_context_new ();
  Shared s = { 0 };
  g_autoptr(GError) error = NULL;
  CoopTask *task;
  GWeakRef loop_ref;
  GObject *alive;
  guint i;

  g_test_summary ("Shutdown: cancelled tasks clean up and release their locks, the thread pool's "
                  "jobs come back, stubborn tasks are abandoned at the deadline in one report");

  g_main_context_push_thread_default (context);
  s.context = context;
  s.loop = coop_loop_new (context);
  g_mutex_init (&s.mutex);
  g_cond_init (&s.cond);
  s.lock = coop_lock_new (s.loop);
  g_weak_ref_init (&loop_ref, s.loop);

  /* Nobody holds these tasks but themselves. */
  task = coop_task_new_full (s.loop, "holder", 0, lock_holder, &s, NULL);
  g_object_unref (task);
  task = coop_task_new_full (s.loop, "waiter", 0, lock_waiter, &s, NULL);
  g_object_unref (task);
  task = coop_task_new_full (s.loop, "job", 0, job_waiter, &s, NULL);
  g_object_unref (task);
  for (i = 0; i < 7; i++)
    {
      g_autofree char *name = g_strdup_printf ("stubborn-%u", i);

      task = coop_task_new_full (s.loop, name, 0, stubborn, &s, NULL);
      g_object_unref (task);
    }
  /* The job is running on its thread (one not started yet would be
   * dropped by the cancellation, never run). */
  coop_test_wait_until (coop_lock_is_locked (s.lock) && g_atomic_int_get (&s.job_started));
  coop_test_drain ();

  g_test_expect_message ("Coop", G_LOG_LEVEL_WARNING,
                         "7 tasks were destroyed while still pending (their loop was closed): "
                         "'stubborn-0', 'stubborn-1', 'stubborn-2', 'stubborn-3', 'stubborn-4', ... "
                         "(the first 5 of 7)");
  g_assert_false (coop_loop_shutdown (s.loop, G_USEC_PER_SEC / 2, &error));
  g_test_assert_expected_messages ();
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_nonnull (strstr (error->message, "7 tasks abandoned"));
  g_assert_nonnull (strstr (error->message, "0 thread-pool jobs"));

  g_assert_true (coop_loop_is_closed (s.loop));
  g_assert_cmpuint (s.cleaned, ==, 3);
  g_assert_cmpuint (s.started_late, ==, 0);
  g_assert_false (coop_lock_is_locked (s.lock));
  g_assert_true (s.job_returned);                       /* waited for */
  g_assert_cmpuint (coop_threadpool_get_n_jobs (s.loop), ==, 0);

  g_object_unref (s.lock);
  g_object_unref (s.loop);
  alive = g_weak_ref_get (&loop_ref);
  g_assert_null (alive);   /* the abandoned tasks' futures went with them */
  g_weak_ref_clear (&loop_ref);
  g_mutex_clear (&s.mutex);
  g_cond_clear (&s.cond);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
}

/* --- misuse and edge cases ---------------------------------------------------- */

static void
shutdown_from_task (CoopTask *task, gpointer data)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (coop_loop_shutdown (data, -1, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
}

typedef struct
{
  CoopLoop *loop;
  GError   *error;
} Attempt;

static void
shutdown_from_callback (gpointer data)
{
  Attempt *attempt = data;

  g_assert_false (coop_loop_shutdown (attempt->loop, -1, &attempt->error));
}

/* Another source of the context, not the loop's. */
static gboolean
shutdown_from_idle (gpointer data)
{
  shutdown_from_callback (data);
  return G_SOURCE_REMOVE;
}

static void
shutdown_then_stop (gpointer data)
{
  shutdown_from_callback (data);
  coop_loop_stop (((Attempt *) data)->loop);
}

static void
cleanup_then_finish (CoopTask *task, gpointer data)
{
  guint *cleaned = data;
  g_autoptr(CoopFuture) nap = coop_sleep (coop_future_get_loop (COOP_FUTURE (task)), G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC);
  g_autoptr(CoopFuture) tidy = NULL;

  g_assert_false (coop_await (nap, NULL));
  tidy = coop_sleep (coop_future_get_loop (COOP_FUTURE (task)), 1000);
  g_assert_true (coop_await (tidy, NULL));
  (*cleaned)++;
}

static void
test_shutdown_misuse (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopTask) task = NULL;
  g_autoptr(CoopHandle) handle = NULL;
  g_autoptr(GError) error = NULL;
  Attempt attempt = { f->loop, NULL };
  GSource *idle;
  guint cleaned = 0;

  g_test_summary ("Shutdown from a task or a running loop is refused; a negative timeout waits; twice is nothing");

  /* From inside one of the loop's tasks. */
  task = coop_task_new (f->loop, shutdown_from_task, f->loop, NULL);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_false (coop_loop_is_closed (f->loop));
  g_clear_object (&task);

  /* From a callback, while the context runs the loop: by a plain
   * iteration, and by a run of the loop. */
  task = coop_task_new (f->loop, cleanup_then_finish, &cleaned, NULL);
  handle = coop_loop_call_soon (f->loop, shutdown_from_callback, &attempt, NULL);
  coop_test_drain ();
  g_assert_error (attempt.error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_assert_false (coop_loop_is_closed (f->loop));
  g_clear_error (&attempt.error);
  g_clear_pointer (&handle, coop_handle_unref);
  idle = g_idle_source_new ();
  g_source_set_callback (idle, shutdown_from_idle, &attempt, NULL);
  g_source_attach (idle, f->context);
  g_source_unref (idle);
  coop_test_drain ();
  g_assert_error (attempt.error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_clear_error (&attempt.error);
  handle = coop_loop_call_soon (f->loop, shutdown_then_stop, &attempt, NULL);
  coop_loop_run_forever (f->loop);
  g_assert_error (attempt.error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_assert_false (coop_loop_is_closed (f->loop));
  g_clear_error (&attempt.error);

  /* No deadline: the task's clean-up (which awaits) gets all it needs. */
  g_assert_true (coop_loop_shutdown (f->loop, -1, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (cleaned, ==, 1);
  /* It swallowed the cancellation and returned: done, with no value. */
  g_assert_true (coop_future_is_done (COOP_FUTURE (task)));
  g_assert_false (coop_future_is_cancelled (COOP_FUTURE (task)));
  g_assert_true (coop_loop_is_closed (f->loop));

  /* Twice: nothing to do. */
  g_assert_true (coop_loop_shutdown (f->loop, 0, &error));
  g_assert_no_error (error);
}

/* No task and no job: nothing runs, the loop closes. */
static void
test_shutdown_idle (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_loop_shutdown (f->loop, 0, &error));
  g_assert_no_error (error);
  g_assert_true (coop_loop_is_closed (f->loop));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/coop/shutdown/server-close", ServerFixture, NULL, server_fixture_setup,
              test_server_close, server_fixture_teardown);
  g_test_add ("/coop/shutdown/server-shutdown", ServerFixture, NULL, server_fixture_setup,
              test_server_shutdown, server_fixture_teardown);
  g_test_add_func ("/coop/shutdown/deadline", test_shutdown_deadline);
  coop_test_add ("/coop/shutdown/misuse", test_shutdown_misuse);
  coop_test_add ("/coop/shutdown/idle", test_shutdown_idle);

  return g_test_run ();
}
