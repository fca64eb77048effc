/* test-io.c: fd readiness.  Runs once per backend (COOP_IO_BACKEND).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib/gstdio.h>

static void
make_socketpair (int fds[2])
{
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), ==, 0);
}

static void
test_backend (CoopFixture *f, gconstpointer data)
{
  const char *wanted = g_getenv ("COOP_IO_BACKEND");

  g_test_message ("backend: %s", coop_loop_get_io_backend (f->loop));
  if (g_strcmp0 (wanted, "poll") == 0)
    g_assert_cmpstr (coop_loop_get_io_backend (f->loop), ==, "poll");
  else
    g_assert_cmpstr (coop_loop_get_io_backend (f->loop), ==, "epoll");
}

static void
write_byte_cb (gpointer data)
{
  g_assert_cmpint (write (GPOINTER_TO_INT (data), "x", 1), ==, 1);
}

/* A pipe becomes readable when written to; the future finishes then, not
 * before. */
static void
test_pipe_readable (CoopFixture *f, gconstpointer data)
{
  int fds[2];
  g_autoptr(CoopFuture) readable = NULL;
  char c;

  g_assert_cmpint (pipe2 (fds, O_NONBLOCK | O_CLOEXEC), ==, 0);
  readable = coop_loop_wait_readable (f->loop, fds[0]);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 1);
  for (int i = 0; i < 5; i++)
    coop_test_iterate ();
  g_assert_false (coop_future_is_done (readable));

  coop_handle_unref (coop_loop_call_later (f->loop, 2000, write_byte_cb, GINT_TO_POINTER (fds[1]), NULL));
  g_assert_true (coop_loop_run_until_complete (f->loop, readable, NULL));
  g_assert_cmpint (read (fds[0], &c, 1), ==, 1);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);
  close (fds[0]);
  close (fds[1]);
}

typedef struct
{
  int fd;
  int calls;
  int freed;
  int consume_after;
} Reader;

static void
reader_cb (gpointer data)
{
  Reader *r = data;
  char buf[16];

  r->calls++;
  if (r->calls >= r->consume_after)
    while (read (r->fd, buf, sizeof buf) > 0)
      ;
}

static void
reader_free (gpointer data)
{
  ((Reader *) data)->freed++;
}

/* Readers are level-triggered: called every iteration while data waits. */
static void
test_reader_level_triggered (CoopFixture *f, gconstpointer data)
{
  int fds[2];
  Reader r = { 0, 0, 0, 3 };
  CoopHandle *handle;

  make_socketpair (fds);
  r.fd = fds[0];
  handle = coop_loop_add_reader (f->loop, fds[0], reader_cb, &r, reader_free);
  g_assert_nonnull (handle);
  g_assert_cmpint (write (fds[1], "abc", 3), ==, 3);
  coop_test_wait_until (r.calls >= 3);
  for (int i = 0; i < 5; i++)
    coop_test_iterate ();
  g_assert_cmpint (r.calls, ==, 3);   /* consumed: no more calls */

  g_assert_true (coop_loop_remove_reader (f->loop, fds[0]));
  g_assert_cmpint (r.freed, ==, 1);
  g_assert_false (coop_loop_remove_reader (f->loop, fds[0]));
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);
  coop_handle_unref (handle);
  close (fds[0]);
  close (fds[1]);
}

/* Adding a second reader replaces the first; cancelling the handle
 * removes it. */
static void
test_reader_replaced_and_cancelled (CoopFixture *f, gconstpointer data)
{
  int fds[2];
  Reader a = { 0, 0, 0, 1 }, b = { 0, 0, 0, 1 };
  CoopHandle *ha, *hb;

  make_socketpair (fds);
  a.fd = b.fd = fds[0];
  ha = coop_loop_add_reader (f->loop, fds[0], reader_cb, &a, reader_free);
  hb = coop_loop_add_reader (f->loop, fds[0], reader_cb, &b, reader_free);
  g_assert_cmpint (a.freed, ==, 1);
  g_assert_cmpint (write (fds[1], "z", 1), ==, 1);
  coop_test_wait_until (b.calls == 1);
  g_assert_cmpint (a.calls, ==, 0);

  coop_handle_cancel (hb);
  g_assert_cmpint (b.freed, ==, 1);
  g_assert_cmpint (write (fds[1], "z", 1), ==, 1);
  for (int i = 0; i < 5; i++)
    coop_test_iterate ();
  g_assert_cmpint (b.calls, ==, 1);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);
  coop_handle_unref (ha);
  coop_handle_unref (hb);
  close (fds[0]);
  close (fds[1]);
}

static void
writer_cb (gpointer data)
{
  Reader *w = data;
  CoopLoop *loop = coop_loop_get_default ();

  w->calls++;
  coop_loop_remove_writer (loop, w->fd);   /* from inside its own callback */
}

static void
test_writer (CoopFixture *f, gconstpointer data)
{
  int fds[2];
  Reader w = { 0, 0, 0, 0 };
  CoopHandle *handle;

  make_socketpair (fds);
  w.fd = fds[0];
  handle = coop_loop_add_writer (f->loop, fds[0], writer_cb, &w, reader_free);
  coop_test_wait_until (w.calls == 1);
  for (int i = 0; i < 3; i++)
    coop_test_iterate ();
  g_assert_cmpint (w.calls, ==, 1);
  g_assert_cmpint (w.freed, ==, 1);
  coop_handle_unref (handle);
  close (fds[0]);
  close (fds[1]);
}

/* Several futures and a reader may wait on one fd: all are woken. */
static void
test_many_waiters_one_fd (CoopFixture *f, gconstpointer data)
{
  int fds[2];
  CoopFuture *waiters[3];
  Reader r = { 0, 0, 0, 1000 };
  CoopHandle *handle;
  int i;

  make_socketpair (fds);
  r.fd = fds[0];
  for (i = 0; i < 3; i++)
    waiters[i] = coop_loop_wait_readable (f->loop, fds[0]);
  handle = coop_loop_add_reader (f->loop, fds[0], reader_cb, &r, NULL);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 1);
  g_assert_cmpint (write (fds[1], "!", 1), ==, 1);
  coop_test_wait_until (coop_future_is_done (waiters[2]) && r.calls > 0);
  for (i = 0; i < 3; i++)
    {
      g_assert_cmpint (coop_future_get_state (waiters[i]), ==, COOP_FUTURE_STATE_FINISHED);
      g_object_unref (waiters[i]);
    }
  coop_loop_remove_reader (f->loop, fds[0]);
  coop_handle_unref (handle);
  close (fds[0]);
  close (fds[1]);
}

/* The writing end closing makes the reader see end-of-file: readable. */
static void
test_hangup (CoopFixture *f, gconstpointer data)
{
  int fds[2];
  g_autoptr(CoopFuture) readable = NULL;
  g_autoptr(CoopFuture) writable = NULL;
  char c;

  g_assert_cmpint (pipe2 (fds, O_NONBLOCK | O_CLOEXEC), ==, 0);
  readable = coop_loop_wait_readable (f->loop, fds[0]);
  close (fds[1]);
  g_assert_true (coop_loop_run_until_complete (f->loop, readable, NULL));
  g_assert_cmpint (read (fds[0], &c, 1), ==, 0);
  close (fds[0]);

  /* Writing to a socket whose peer is gone: the wait ends (the write will
   * then report the error), it never hangs. */
  make_socketpair (fds);
  close (fds[1]);
  writable = coop_loop_wait_writable (f->loop, fds[0]);
  coop_test_wait_until (coop_future_is_done (writable));
  g_assert_cmpint (send (fds[0], "x", 1, MSG_NOSIGNAL), ==, -1);
  close (fds[0]);
}

/* forget_fd fails the waiters at once with G_IO_ERROR_CLOSED. */
static void
test_forget_fd (CoopFixture *f, gconstpointer data)
{
  int fds[2];
  g_autoptr(CoopFuture) readable = NULL;
  g_autoptr(GError) error = NULL;
  Reader r = { 0, 0, 0, 1 };
  CoopHandle *handle;

  make_socketpair (fds);
  readable = coop_loop_wait_readable (f->loop, fds[0]);
  handle = coop_loop_add_reader (f->loop, fds[0], reader_cb, &r, reader_free);
  coop_loop_forget_fd (f->loop, fds[0]);
  close (fds[0]);
  g_assert_true (coop_future_is_done (readable));
  g_assert_false (coop_future_propagate (readable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_assert_cmpint (r.freed, ==, 1);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);
  coop_handle_unref (handle);
  close (fds[1]);
}

typedef struct
{
  CoopLoop *loop;
  int       fd;
  GError   *error;
} CloseState;

static void
wait_closed_body (CoopTask *task, gpointer data)
{
  CloseState *s = data;
  g_autoptr(CoopFuture) readable = coop_loop_wait_readable (s->loop, s->fd);

  coop_await (readable, &s->error);
}

static void
close_fd_cb (gpointer data)
{
  close (GPOINTER_TO_INT (data));
}

/* An fd closed under a waiting task (without forget_fd): the task gets
 * G_IO_ERROR_CLOSED within the sweep interval instead of hanging. */
static void
test_closed_underneath (CoopFixture *f, gconstpointer data)
{
  int fds[2];
  CloseState s = { f->loop, -1, NULL };
  g_autoptr(CoopTask) task = NULL;
  g_autoptr(CoopFuture) limited = NULL;

  make_socketpair (fds);
  s.fd = fds[0];
  task = coop_task_new (f->loop, wait_closed_body, &s, NULL);
  coop_test_wait_until (coop_loop_get_n_watched_fds (f->loop) == 1);   /* it waits */
  coop_handle_unref (coop_loop_call_soon (f->loop, close_fd_cb, GINT_TO_POINTER (fds[0]), NULL));
  limited = coop_wait_for (COOP_FUTURE (task), 10 * G_USEC_PER_SEC);
  g_assert_true (coop_loop_run_until_complete (f->loop, limited, NULL));
  g_assert_error (s.error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&s.error);
  close (fds[1]);
}

/* Bad fds: clear errors, no crash. */
static void
test_bad_fds (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) negative = coop_loop_wait_readable (f->loop, -1);
  g_autoptr(CoopFuture) regular = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  int fd;

  g_assert_false (coop_future_propagate (negative, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  fd = g_file_open_tmp ("coop-io-XXXXXX", &path, NULL);
  regular = coop_loop_wait_writable (f->loop, fd);
  g_assert_false (coop_future_propagate (regular, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*regular file*");
  g_assert_null (coop_loop_add_reader (f->loop, fd, (CoopCallback) g_free, NULL, NULL));
  g_test_assert_expected_messages ();
  close (fd);
  g_unlink (path);

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*not an open file descriptor*");
  g_assert_null (coop_loop_add_writer (f->loop, fd, (CoopCallback) g_free, NULL, NULL));
  g_test_assert_expected_messages ();
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);
}

/* Cancels the task once it waits (a fixed delay was not enough under
 * valgrind: a task cancelled before its first step never runs). */
static void
cancel_cb (gpointer data)
{
  CoopTask *task = data;

  if (coop_task_get_awaiting (task) != NULL || coop_future_is_done (COOP_FUTURE (task)))
    coop_task_cancel (task, NULL);
  else
    coop_handle_unref (coop_loop_call_later (coop_future_get_loop (COOP_FUTURE (task)), 1000,
                                             cancel_cb, task, NULL));
}

/* A task cancelled while waiting stops watching the fd. */
static void
test_cancel_waiting_task (CoopFixture *f, gconstpointer data)
{
  int fds[2];
  CloseState s = { f->loop, -1, NULL };
  g_autoptr(CoopTask) task = NULL;

  make_socketpair (fds);
  s.fd = fds[0];
  task = coop_task_new (f->loop, wait_closed_body, &s, NULL);
  coop_test_drain ();            /* it waits for the fd */
  cancel_cb (task);
  coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL);
  g_assert_error (s.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&s.error);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);
  close (fds[0]);
  close (fds[1]);
}

typedef struct
{
  CoopLoop *loop;
  int       fd;
  guint     rounds;
  guint     done;
} Echo;

/* Reads until it has a byte, with awaits on readiness. */
static gboolean
read_byte (Echo *e, char *c, GError **error)
{
  for (;;)
    {
      g_autoptr(CoopFuture) readable = NULL;
      ssize_t n = read (e->fd, c, 1);

      if (n == 1)
        return TRUE;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "read failed");
          return FALSE;
        }
      readable = coop_loop_wait_readable (e->loop, e->fd);
      if (!coop_await (readable, error))
        return FALSE;
    }
}

static void
ping_body (CoopTask *task, gpointer data)
{
  Echo *e = data;
  char c;

  for (guint i = 0; i < e->rounds; i++)
    {
      g_assert_cmpint (write (e->fd, "p", 1), ==, 1);
      g_assert_true (read_byte (e, &c, NULL));
      g_assert_cmpint (c, ==, 'q');
      e->done++;
    }
}

static void
pong_body (CoopTask *task, gpointer data)
{
  Echo *e = data;
  char c;

  for (guint i = 0; i < e->rounds; i++)
    {
      g_assert_true (read_byte (e, &c, NULL));
      g_assert_cmpint (c, ==, 'p');
      g_assert_cmpint (write (e->fd, "q", 1), ==, 1);
      e->done++;
    }
}

/* Two tasks talk over a socket pair, 2,000 round trips, and 500 other
 * sockets sit idle, watched, meanwhile. */
static void
test_tasks_over_sockets (CoopFixture *f, gconstpointer data)
{
  int fds[2];
  int idle[500][2];
  CoopFuture *idle_waits[500];
  Echo a = { f->loop, -1, 2000, 0 }, b = { f->loop, -1, 2000, 0 };
  g_autoptr(CoopTask) ping = NULL;
  g_autoptr(CoopTask) pong = NULL;
  int i;

  for (i = 0; i < 500; i++)
    {
      make_socketpair (idle[i]);
      idle_waits[i] = coop_loop_wait_readable (f->loop, idle[i][0]);
    }
  make_socketpair (fds);
  a.fd = fds[0];
  b.fd = fds[1];
  pong = coop_task_new (f->loop, pong_body, &b, NULL);
  ping = coop_task_new (f->loop, ping_body, &a, NULL);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (ping), NULL));
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (pong), NULL));
  g_assert_cmpuint (a.done + b.done, ==, 4000);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 500);
  for (i = 0; i < 500; i++)
    {
      g_assert_false (coop_future_is_done (idle_waits[i]));
      coop_future_cancel (idle_waits[i], NULL);
      g_object_unref (idle_waits[i]);
      close (idle[i][0]);
      close (idle[i][1]);
    }
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);
  close (fds[0]);
  close (fds[1]);
}

/* A fresh socketpair whose first end is number @n (just closed, so the
 * lowest free number, as the kernel hands them out). */
static void
socketpair_at (int n,
               int fds[2])
{
  make_socketpair (fds);
  if (fds[0] != n)
    {
      g_assert_cmpint (fds[1], !=, n);
      g_assert_cmpint (dup3 (fds[0], n, O_CLOEXEC), ==, n);
      close (fds[0]);
      fds[0] = n;
    }
}

/* Runs the loop until @future is done (bounded: a bug fails, not hangs);
 * returns whether it succeeded.  Consumes @future. */
static gboolean
run_bounded (CoopLoop    *loop,
             CoopFuture  *future,
             GError     **error)
{
  g_autoptr(CoopFuture) owned = future;
  g_autoptr(CoopFuture) limited = coop_wait_for (owned, 10 * G_USEC_PER_SEC);

  return coop_loop_run_until_complete (loop, limited, error);
}

static void
assert_closed (CoopFuture *future)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_future_is_done (future));
  g_assert_false (coop_future_propagate (future, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

/* An fd closed without forget_fd (the documented misuse) whose number is
 * reused at once: a waiter on the new fd works at once (it used to wait
 * for the sweep, two seconds, and then fail as "closed"), and the old
 * fd's waiter fails with G_IO_ERROR_CLOSED as the number is taken. */
static void
test_fd_reused_waiter (CoopFixture *f, gconstpointer data)
{
  int old[2], fresh[2], n;
  g_autoptr(CoopFuture) stale = NULL;
  g_autoptr(CoopFuture) stale_writable = NULL;
  g_autoptr(CoopFuture) readable = NULL;
  g_autoptr(GError) error = NULL;

  make_socketpair (old);
  n = old[0];
  stale = coop_loop_wait_readable (f->loop, n);
  coop_test_iterate ();
  close (n);
  socketpair_at (n, fresh);

  readable = coop_loop_wait_readable (f->loop, n);
  assert_closed (stale);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 1);
  g_assert_cmpint (write (fresh[1], "x", 1), ==, 1);
  g_assert_true (run_bounded (f->loop, g_object_ref (readable), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (f->loop), ==, 0);

  /* The same with a writable waiter first, and the loop not run between. */
  stale_writable = coop_loop_wait_writable (f->loop, n);
  close (n);
  socketpair_at (n, fresh);
  g_clear_object (&readable);
  readable = coop_loop_wait_readable (f->loop, n);
  assert_closed (stale_writable);
  g_assert_cmpint (write (fresh[1], "x", 1), ==, 1);
  g_assert_true (run_bounded (f->loop, g_object_ref (readable), &error));
  g_assert_no_error (error);

  close (n);
  close (fresh[1]);
  close (old[1]);
}

static void
nothing_cb (gpointer data)
{
}

/* The same for reader callbacks: the new fd's reader runs (it never did),
 * the old one is dropped (its notify runs) and never called. */
static void
test_fd_reused_reader (CoopFixture *f, gconstpointer data)
{
  int old[2], fresh[2], n;
  Reader r_old = { 0, 0, 0, 1 }, r_new = { 0, 0, 0, 1 };
  CoopHandle *h_old, *h_new;
  g_autoptr(CoopHandle) bound = NULL;

  make_socketpair (old);
  n = old[0];
  r_old.fd = n;
  h_old = coop_loop_add_reader (f->loop, n, reader_cb, &r_old, reader_free);
  coop_test_iterate ();
  close (n);
  socketpair_at (n, fresh);

  r_new.fd = n;
  h_new = coop_loop_add_reader (f->loop, n, reader_cb, &r_new, reader_free);
  g_assert_nonnull (h_new);
  g_assert_cmpint (r_old.freed, ==, 1);
  g_assert_cmpint (write (fresh[1], "x", 1), ==, 1);
  /* A timer wakes the context, so that coop_test_wait_until()'s bound
   * holds even if the reader never runs. */
  bound = coop_loop_call_later (f->loop, 10 * G_USEC_PER_SEC, nothing_cb, NULL, NULL);
  coop_test_wait_until (r_new.calls >= 1);
  coop_handle_cancel (bound);
  g_assert_cmpint (r_old.calls, ==, 0);

  g_assert_true (coop_loop_remove_reader (f->loop, n));
  g_assert_cmpint (r_new.freed, ==, 1);
  coop_handle_unref (h_old);
  coop_handle_unref (h_new);
  close (n);
  close (fresh[1]);
  close (old[1]);
}

/* The old fd's file outlives the close (a dup holds it): epoll keeps its
 * registration under the old number, beyond reach of epoll_ctl() (which
 * names the file by fd).  When that file turns readable, it must neither
 * wake the new fd's waiter nor keep the loop busy for ever. */
static void
test_fd_reused_file_lives (CoopFixture *f, gconstpointer data)
{
  int old[2], fresh[2], n, keep;
  g_autoptr(CoopFuture) stale = NULL;
  g_autoptr(CoopFuture) readable = NULL;
  g_autoptr(GError) error = NULL;
  guint iterations = 0;

  make_socketpair (old);
  n = old[0];
  keep = dup (n);
  g_assert_cmpint (keep, >, n);
  stale = coop_loop_wait_readable (f->loop, n);
  coop_test_iterate ();
  close (n);
  socketpair_at (n, fresh);

  readable = coop_loop_wait_readable (f->loop, n);
  assert_closed (stale);
  g_assert_cmpint (write (old[1], "x", 1), ==, 1);
  while (coop_test_iterate ())
    g_assert_cmpuint (++iterations, <, 100);   /* the loop goes idle */
  g_assert_false (coop_future_is_done (readable));

  g_assert_cmpint (write (fresh[1], "y", 1), ==, 1);
  g_assert_true (run_bounded (f->loop, g_object_ref (readable), &error));
  g_assert_no_error (error);
  close (keep);
  close (n);
  close (fresh[1]);
  close (old[1]);
}

/* The kernel may hold a registration the loop has forgotten: an fd
 * closed without forget_fd while a dup keeps its file, its reader removed
 * (epoll_ctl() cannot remove it: the number is closed), then the file put
 * back under the same number.  Watching it again must work (the kernel
 * answers EEXIST to an add). */
static void
test_fd_reused_same_file (CoopFixture *f, gconstpointer data)
{
  int fds[2], n, keep;
  Reader r = { 0, 0, 0, 1 };
  CoopHandle *handle;
  g_autoptr(CoopFuture) readable = NULL;
  g_autoptr(GError) error = NULL;

  make_socketpair (fds);
  n = fds[0];
  keep = dup (n);
  handle = coop_loop_add_reader (f->loop, n, reader_cb, &r, reader_free);
  coop_test_iterate ();
  close (n);
  g_assert_true (coop_loop_remove_reader (f->loop, n));
  coop_handle_unref (handle);
  g_assert_cmpint (dup3 (keep, n, O_CLOEXEC), ==, n);

  readable = coop_loop_wait_readable (f->loop, n);
  g_assert_false (coop_future_is_done (readable));
  g_assert_cmpint (write (fds[1], "x", 1), ==, 1);
  g_assert_true (run_bounded (f->loop, g_object_ref (readable), &error));
  g_assert_no_error (error);
  r.fd = n;
  handle = coop_loop_add_reader (f->loop, n, reader_cb, &r, reader_free);
  g_assert_nonnull (handle);
  coop_test_wait_until (r.calls >= 1);   /* data is waiting: at once */
  g_assert_true (coop_loop_remove_reader (f->loop, n));
  coop_handle_unref (handle);
  close (keep);
  close (n);
  close (fds[1]);
}

/* Closing the loop ends every watch: futures cancelled, notifies run. */
static void
test_close_loop_with_watches (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop = coop_loop_new (context);
  int fds[2];
  Reader r = { 0, 0, 0, 1 };
  CoopFuture *readable;
  CoopHandle *handle;

  make_socketpair (fds);
  readable = coop_loop_wait_readable (loop, fds[0]);
  handle = coop_loop_add_writer (loop, fds[1], reader_cb, &r, reader_free);
  coop_loop_close (loop);
  g_assert_true (coop_future_is_cancelled (readable));
  g_assert_cmpint (r.freed, ==, 1);
  g_assert_cmpuint (coop_loop_get_n_watched_fds (loop), ==, 0);
  g_object_unref (readable);
  coop_handle_unref (handle);
  g_object_unref (loop);
  g_main_context_unref (context);
  close (fds[0]);
  close (fds[1]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/io/backend", test_backend);
  coop_test_add ("/coop/io/pipe-readable", test_pipe_readable);
  coop_test_add ("/coop/io/reader-level-triggered", test_reader_level_triggered);
  coop_test_add ("/coop/io/reader-replaced-and-cancelled", test_reader_replaced_and_cancelled);
  coop_test_add ("/coop/io/writer", test_writer);
  coop_test_add ("/coop/io/many-waiters-one-fd", test_many_waiters_one_fd);
  coop_test_add ("/coop/io/hangup", test_hangup);
  coop_test_add ("/coop/io/forget-fd", test_forget_fd);
  coop_test_add ("/coop/io/closed-underneath", test_closed_underneath);
  coop_test_add ("/coop/io/bad-fds", test_bad_fds);
  coop_test_add ("/coop/io/fd-reused-waiter", test_fd_reused_waiter);
  coop_test_add ("/coop/io/fd-reused-reader", test_fd_reused_reader);
  coop_test_add ("/coop/io/fd-reused-file-lives", test_fd_reused_file_lives);
  coop_test_add ("/coop/io/fd-reused-same-file", test_fd_reused_same_file);
  coop_test_add ("/coop/io/cancel-waiting-task", test_cancel_waiting_task);
  coop_test_add ("/coop/io/tasks-over-sockets", test_tasks_over_sockets);
  g_test_add_func ("/coop/io/close-loop-with-watches", test_close_loop_with_watches);

  return g_test_run ();
}
