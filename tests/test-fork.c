/* test-fork.c: a loop with I/O registrations across fork().
 *
 * The parent watches a real listening socket and a stream; the child, made
 * with a real fork(), closes what it inherited, keeps using it, or makes a
 * loop of its own.  Whatever the child does, the parent must go on hearing
 * its listener and its stream.  Runs on both I/O backends (meson runs it
 * again with COOP_IO_BACKEND=poll).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The child reports through its exit status, never through GTest (its
 * output would mix with the parent's TAP stream).  A critical in the
 * child is fatal too (G_DEBUG / g_test_init): it dies of SIGTRAP. */
#define CHILD_CHECK(cond)                                                 \
  G_STMT_START {                                                          \
    if (!(cond))                                                          \
      {                                                                   \
        g_printerr ("child: %s failed at line %d\n", #cond, __LINE__);   \
        _exit (1);                                                        \
      }                                                                   \
  } G_STMT_END

typedef struct
{
  CoopLoop   *loop;
  int         listener;
  guint16     port;
  guint       accepted;
  CoopHandle *accept_handle;
  CoopStream *stream;        /* one end of a socket pair, on the loop */
  int         peer;          /* the other end, a plain socket */
} Parent;

static void
noop_cb (gpointer data)
{
}

static void
accept_cb (gpointer data)
{
  Parent *p = data;
  int fd;

  while ((fd = accept4 (p->listener, NULL, NULL, SOCK_CLOEXEC)) >= 0)
    {
      p->accepted++;
      close (fd);
    }
}

static void
parent_setup (Parent   *p,
              CoopLoop *loop)
{
  struct sockaddr_in addr = { .sin_family = AF_INET };
  socklen_t len = sizeof addr;
  g_autoptr(GError) error = NULL;
  int sv[2];

  p->loop = loop;
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  p->listener = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  g_assert_cmpint (p->listener, >=, 0);
  g_assert_no_errno (bind (p->listener, (struct sockaddr *) &addr, sizeof addr));
  g_assert_no_errno (listen (p->listener, 16));
  g_assert_no_errno (getsockname (p->listener, (struct sockaddr *) &addr, &len));
  p->port = ntohs (addr.sin_port);
  p->accept_handle = coop_loop_add_reader (loop, p->listener, accept_cb, p, NULL);
  g_assert_nonnull (p->accept_handle);

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
  p->stream = coop_stream_new_for_fd (loop, sv[0], &error);
  g_assert_no_error (error);
  p->peer = sv[1];
  coop_test_drain ();
}

static int
connect_to (guint16 port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  addr.sin_port = htons (port);
  if (fd >= 0 && connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

/* One connection on @p's listener and one message on its stream, seen
 * through @p's loop: iterates @context until both arrived (for at most
 * ten seconds).  Returns whether they did. */
static gboolean
hears_both (Parent       *p,
            GMainContext *context,
            const char   *message)
{
  guint accepted = p->accepted;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  g_autoptr(CoopFuture) read = NULL;
  gsize len = strlen (message);
  /* Wakes the blocking iterations at the deadline if nothing else does. */
  CoopHandle *wake = coop_loop_call_later (p->loop, 10 * G_USEC_PER_SEC, noop_cb, NULL, NULL);
  GBytes *bytes = NULL;
  int client;

  client = connect_to (p->port);
  if (client < 0)
    goto out;
  while (p->accepted == accepted && g_get_monotonic_time () < deadline)
    g_main_context_iteration (context, TRUE);
  close (client);
  if (p->accepted != accepted + 1)
    goto out;

  if (write (p->peer, message, len) != (gssize) len)
    goto out;
  read = coop_stream_read_exactly (p->stream, len);
  while (!coop_future_is_done (read) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (context, TRUE);
  if (coop_future_get_state (read) == COOP_FUTURE_STATE_FINISHED)
    bytes = (GBytes *) coop_future_get_boxed (read, NULL);

out:
  coop_handle_cancel (wake);
  coop_handle_unref (wake);
  return bytes != NULL && g_bytes_get_size (bytes) == len &&
         memcmp (g_bytes_get_data (bytes, NULL), message, len) == 0;
}

static void
parent_teardown (Parent *p)
{
  coop_handle_cancel (p->accept_handle);
  coop_handle_unref (p->accept_handle);
  coop_stream_abort (p->stream);
  g_object_unref (p->stream);
  close (p->listener);
  close (p->peer);
  coop_test_drain ();
}

typedef void (*ChildFunc) (Parent       *p,
                           GMainContext *context);

/* Runs @func in a child made with fork() and waits for it: it must exit
 * with status 0. */
static void
in_child (Parent       *p,
          GMainContext *context,
          ChildFunc     func)
{
  int status;
  pid_t pid;

  fflush (stdout);
  fflush (stderr);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      alarm (20);   /* a child that hangs dies, and the parent sees it */
      func (p, context);
      _exit (0);
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  if (WIFSIGNALED (status))
    g_error ("the child died of signal %d", WTERMSIG (status));
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
}

/* The child closes the stream and the loop it inherited, as a child that
 * goes on to do something else does. */
static void
close_inherited_child (Parent       *p,
                       GMainContext *context)
{
  coop_stream_abort (p->stream);
  coop_loop_forget_fd (p->loop, p->listener);
  close (p->listener);
  coop_loop_close (p->loop);
  CHILD_CHECK (coop_loop_is_closed (p->loop));
}

/* It used to take the parent's registrations with it: the child's
 * EPOLL_CTL_DEL acted on the epoll instance both share, and the parent
 * never heard its listener or its stream again. */
static void
test_child_closes_inherited (CoopFixture *f, gconstpointer data)
{
  Parent p = { NULL, };

  parent_setup (&p, f->loop);
  g_assert_true (hears_both (&p, f->context, "before"));
  in_child (&p, f->context, close_inherited_child);
  g_assert_true (hears_both (&p, f->context, "after"));
  parent_teardown (&p);
}

/* The child makes a loop of its own, on a new context, and does I/O with
 * it; it leaves the inherited loop alone. */
static void
new_loop_child (Parent       *p,
                GMainContext *inherited)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop;
  g_autoptr(CoopFuture) readable = NULL;
  const char *backend = g_strcmp0 (g_getenv ("COOP_IO_BACKEND"), "poll") == 0 ? "poll" : "epoll";
  int sv[2];

  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);
  CHILD_CHECK (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  readable = coop_loop_wait_readable (loop, sv[0]);
  CHILD_CHECK (write (sv[1], "x", 1) == 1);
  while (!coop_future_is_done (readable))
    g_main_context_iteration (context, TRUE);
  CHILD_CHECK (coop_future_get_state (readable) == COOP_FUTURE_STATE_FINISHED);
  CHILD_CHECK (g_strcmp0 (coop_loop_get_io_backend (loop), backend) == 0);
  coop_loop_forget_fd (loop, sv[0]);
  close (sv[0]);
  close (sv[1]);
  coop_loop_close (loop);
  g_object_unref (loop);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
}

static void
test_child_new_loop (CoopFixture *f, gconstpointer data)
{
  Parent p = { NULL, };

  parent_setup (&p, f->loop);
  in_child (&p, f->context, new_loop_child);
  g_assert_true (hears_both (&p, f->context, "after"));
  parent_teardown (&p);
}

/* The child keeps using the inherited loop: its registrations were moved
 * to an epoll instance of its own, so it hears its copies of the listener
 * and the stream (the parent is not listening meanwhile), then closes the
 * loop. */
static void
use_inherited_child (Parent       *p,
                     GMainContext *context)
{
  CHILD_CHECK (hears_both (p, context, "child"));
  coop_stream_abort (p->stream);
  coop_loop_close (p->loop);
}

static void
test_child_uses_inherited (CoopFixture *f, gconstpointer data)
{
  Parent p = { NULL, };

  parent_setup (&p, f->loop);
  in_child (&p, f->context, use_inherited_child);
  g_assert_true (hears_both (&p, f->context, "after"));
  g_assert_cmpuint (p.accepted, ==, 1);   /* the child's connection was the child's */
  parent_teardown (&p);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/fork/child-closes-inherited", test_child_closes_inherited);
  coop_test_add ("/coop/fork/child-new-loop", test_child_new_loop);
  coop_test_add ("/coop/fork/child-uses-inherited", test_child_uses_inherited);

  return g_test_run ();
}
