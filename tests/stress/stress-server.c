/* stress-server.c: an echo server (CoopServer) under 1,000 clients that
 * misbehave.
 *
 * Four client threads (plain blocking sockets, independent of the loop)
 * each keep up to 16 connections open and, for each, pick at random:
 * echo a message and close politely; send and reset (SO_LINGER 0);
 * connect and reset at once; connect and close without a word; send
 * half a message and vanish without reading the echo; shut down the
 * write side and read to the end.  The server must keep serving (a last
 * polite client checks the echo), and once it is closed no fd and no task
 * may be left.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "stress.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#define N_CLIENTS      1000
#define N_CLIENT_THREADS 4
#define MAX_OPEN       16

typedef enum
{
  CLIENT_POLITE,
  CLIENT_SEND_RESET,
  CLIENT_CONNECT_RESET,
  CLIENT_SILENT_CLOSE,
  CLIENT_VANISH,
  CLIENT_HALF_CLOSE,
  N_KINDS
} ClientKind;

static const char *kind_names[N_KINDS] = {
  "polite", "send+reset", "connect+reset", "silent close", "vanish", "half close",
};

typedef struct
{
  CoopLoop *loop;
  guint16   port;
  guint     per_thread;
  gint      kinds[N_KINDS];   /* atomic */
  gint      echo_errors;      /* atomic: a polite client got a wrong echo */
  gint      threads_done;     /* atomic */
  CoopEvent *all_done;
  /* server side, loop thread only */
  guint     handled;
  guint     clean_eof;
  guint     read_errors;
  guint     write_errors;
  guint64   bytes;
  guint     exceptions;
} State;

typedef struct
{
  State  *state;
  guint   index;
  guint64 rng;
} ClientThread;

static void
echo_handler (CoopTask *task, CoopStream *stream, gpointer user_data)
{
  State *state = user_data;

  state->handled++;
  for (;;)
    {
      g_autoptr(CoopFuture) read = coop_stream_read (stream, 65536);
      g_autoptr(GError) error = NULL;
      GBytes *data;

      if (!coop_await (read, &error))
        {
          state->read_errors++;
          return;
        }
      data = (GBytes *) coop_future_get_boxed (read, NULL);
      if (g_bytes_get_size (data) == 0)
        {
          state->clean_eof++;
          return;
        }
      state->bytes += g_bytes_get_size (data);
      if (!coop_stream_write (stream, data, &error))
        {
          state->write_errors++;
          return;
        }
      {
        g_autoptr(CoopFuture) drained = coop_stream_drain (stream);

        if (!coop_await (drained, &error))
          {
            state->write_errors++;
            return;
          }
      }
    }
}

static void
count_exception (CoopLoop *loop, const char *message, CoopFuture *future, const GError *error,
                 gpointer data)
{
  ((State *) data)->exceptions++;
}

static int
client_connect (guint16 port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = g_htons (port),
                              .sin_addr.s_addr = g_htonl (INADDR_LOOPBACK) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval tv = { 10, 0 };

  g_assert_cmpint (fd, >=, 0);
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  return fd;
}

static void
client_reset (int fd)
{
  struct linger lg = { 1, 0 };

  setsockopt (fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close (fd);
}

/* Reads exactly n bytes (or fails). */
static gboolean
read_all (int fd, char *buf, gsize n)
{
  gsize got = 0;

  while (got < n)
    {
      ssize_t r = read (fd, buf + got, n - got);

      if (r <= 0)
        return FALSE;
      got += r;
    }
  return TRUE;
}

static void
polite_exchange (State *state, int fd, guint64 *rng)
{
  char out[4096], in[4096];
  gsize n = 1 + stress_rand_below (rng, sizeof out);
  gsize i;

  for (i = 0; i < n; i++)
    out[i] = (char) stress_rand (rng);
  if (write (fd, out, n) != (ssize_t) n || !read_all (fd, in, n) || memcmp (in, out, n) != 0)
    g_atomic_int_inc (&state->echo_errors);
}

static void
client_finish (State *state, int fd, ClientKind kind, guint64 *rng)
{
  char buf[2048];

  switch (kind)
    {
    case CLIENT_POLITE:
      polite_exchange (state, fd, rng);
      close (fd);
      break;
    case CLIENT_SEND_RESET:
      memset (buf, 'r', sizeof buf);
      if (write (fd, buf, 1 + stress_rand_below (rng, sizeof buf)) < 0)
        break;
      client_reset (fd);
      break;
    case CLIENT_CONNECT_RESET:
      client_reset (fd);
      break;
    case CLIENT_SILENT_CLOSE:
      close (fd);
      break;
    case CLIENT_VANISH:
      memset (buf, 'v', sizeof buf);
      if (write (fd, buf, sizeof buf) < 0)
        break;
      close (fd);   /* the echo arrives on a closed socket: RST */
      break;
    case CLIENT_HALF_CLOSE:
      {
        gsize total = 0;
        ssize_t r;

        memset (buf, 'h', 100);
        if (write (fd, buf, 100) == 100)
          {
            shutdown (fd, SHUT_WR);
            while ((r = read (fd, buf, sizeof buf)) > 0)
              total += r;
            if (total != 100)
              g_atomic_int_inc (&state->echo_errors);
          }
        close (fd);
        break;
      }
    default:
      g_assert_not_reached ();
    }
  g_atomic_int_inc (&state->kinds[kind]);
}

static void
set_event_cb (gpointer data)
{
  coop_event_set (data);
}

static gpointer
client_thread (gpointer data)
{
  ClientThread *ct = data;
  State *state = ct->state;
  int open_fds[MAX_OPEN];
  ClientKind open_kinds[MAX_OPEN];
  guint n_open = 0, started = 0;

  while (started < state->per_thread || n_open > 0)
    {
      /* Open more, or finish one of those open, at random. */
      if (started < state->per_thread && (n_open == 0 || (n_open < MAX_OPEN && stress_rand_below (&ct->rng, 2))))
        {
          open_fds[n_open] = client_connect (state->port);
          open_kinds[n_open] = stress_rand_below (&ct->rng, N_KINDS);
          n_open++;
          started++;
        }
      else
        {
          guint k = stress_rand_below (&ct->rng, n_open);

          client_finish (state, open_fds[k], open_kinds[k], &ct->rng);
          open_fds[k] = open_fds[n_open - 1];
          open_kinds[k] = open_kinds[n_open - 1];
          n_open--;
        }
    }
  if (g_atomic_int_add (&state->threads_done, 1) == N_CLIENT_THREADS - 1)
    coop_loop_call_soon_threadsafe (state->loop, set_event_cb, g_object_ref (state->all_done),
                                    g_object_unref);
  return NULL;
}

static gpointer
last_client_thread (gpointer data)
{
  ClientThread *ct = data;

  client_finish (ct->state, client_connect (ct->state->port), CLIENT_POLITE, &ct->rng);
  coop_loop_call_soon_threadsafe (ct->state->loop, set_event_cb, g_object_ref (ct->state->all_done),
                                  g_object_unref);
  return NULL;
}

static void
test_server (CoopFixture *f, gconstpointer data)
{
  State state = { .loop = f->loop };
  ClientThread cts[N_CLIENT_THREADS];
  GThread *threads[N_CLIENT_THREADS];
  g_autoptr(CoopServer) server = NULL;
  g_autoptr(CoopFuture) done = NULL;
  g_autoptr(CoopFuture) limited = NULL;
  g_autoptr(CoopFuture) closed = NULL;
  g_autoptr(GError) error = NULL;
  guint64 seed = stress_seed ();
  guint fds_before, fds_after, i, n_clients;
  gint64 start = g_get_monotonic_time ();
  GList *live;

  n_clients = stress_count (N_CLIENTS);
  state.per_thread = MAX (1, n_clients / N_CLIENT_THREADS);
  state.all_done = coop_event_new (f->loop);
  coop_loop_set_exception_handler (f->loop, count_exception, &state, NULL);
  fds_before = stress_count_fds ();

  server = coop_server_new_tcp (f->loop, "127.0.0.1", 0, 128, echo_handler, &state, NULL, &error);
  g_assert_no_error (error);
  state.port = coop_server_get_port (server);

  for (i = 0; i < N_CLIENT_THREADS; i++)
    {
      cts[i] = (ClientThread) { &state, i, seed + i * G_GUINT64_CONSTANT (0x9e3779b97f4a7c15) };
      stress_rand (&cts[i].rng);
      threads[i] = g_thread_new ("client", client_thread, &cts[i]);
    }
  done = coop_event_wait (state.all_done);
  limited = coop_wait_for (done, 120 * G_USEC_PER_SEC);
  g_assert_true (coop_loop_run_until_complete (f->loop, limited, &error));
  g_assert_no_error (error);
  for (i = 0; i < N_CLIENT_THREADS; i++)
    g_thread_join (threads[i]);

  /* Still serving: one more polite client, after all that. */
  {
    ClientThread last = { &state, N_CLIENT_THREADS, seed ^ 0x5555 };
    g_autoptr(CoopFuture) last_done = NULL;
    GThread *thread;

    coop_event_clear (state.all_done);
    last_done = coop_event_wait (state.all_done);
    thread = g_thread_new ("last", last_client_thread, &last);
    g_clear_object (&limited);
    limited = coop_wait_for (last_done, 30 * G_USEC_PER_SEC);
    g_assert_true (coop_loop_run_until_complete (f->loop, limited, &error));
    g_assert_no_error (error);
    g_thread_join (thread);
    g_assert_cmpint (g_atomic_int_get (&state.kinds[CLIENT_POLITE]), >, 0);
  }

  g_test_message ("%u clients in %.1f s", state.per_thread * N_CLIENT_THREADS,
                  (g_get_monotonic_time () - start) / 1e6);
  for (i = 0; i < N_KINDS; i++)
    g_test_message ("  %s: %d", kind_names[i], g_atomic_int_get (&state.kinds[i]));
  g_test_message ("server: %u connections handled, %u clean EOF, %u read errors, %u write errors, "
                  "%" G_GUINT64_FORMAT " bytes echoed, %u exceptions reported",
                  state.handled, state.clean_eof, state.read_errors, state.write_errors,
                  state.bytes, state.exceptions);
  g_assert_cmpint (g_atomic_int_get (&state.echo_errors), ==, 0);

  coop_server_close (server);
  closed = coop_server_wait_closed (server);
  g_clear_object (&limited);
  limited = coop_wait_for (closed, 30 * G_USEC_PER_SEC);
  g_assert_true (coop_loop_run_until_complete (f->loop, limited, &error));
  g_assert_no_error (error);
  g_clear_object (&server);
  coop_test_drain ();

  live = coop_loop_list_tasks (f->loop);
  g_assert_cmpuint (g_list_length (live), ==, 0);
  /* Closing the loop releases its epoll fd, made on first use. */
  coop_loop_close (f->loop);
  fds_after = stress_count_fds ();
  g_test_message ("fds: %u before, %u after", fds_before, fds_after);
  g_assert_cmpuint (fds_after, ==, fds_before);
  g_object_unref (state.all_done);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/stress/server", test_server);

  return g_test_run ();
}
