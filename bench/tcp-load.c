/* tcp-load.c: the load generator of the TCP echo benchmark (bench/README.md).
 *
 * The same program drives every server, as a separate process.  Plain C and
 * GLib (for option parsing only): non-blocking sockets, one epoll, one thread.
 *
 *   tcp-load --port P [--clients C] [--rounds R] [--size S] [--idle I]
 *            [--tls | --udp]
 *
 * C clients connect to 127.0.0.1:P; each does R round trips of S bytes
 * (write S bytes, read back S bytes), all at once.  With --idle I, I idle
 * connections are opened first (each does one round trip, so the server has
 * accepted it and is serving it) and stay open, silent, while the C active
 * clients run.  Prints one line of JSON: requests/s over the active phase and
 * the latency of a round trip (p50/p99/max, µs).
 *
 * --tls: every connection speaks TLS 1.3 (OpenSSL, non-blocking, on the same
 * epoll; the server's certificate is not checked: this measures, it does not
 * trust).  The handshakes are part of the active phase: 100 of them against
 * 200,000 round trips.  --udp: each client is a connected UDP socket and a
 * round trip is one datagram of S bytes each way (requests/s are packets/s
 * each way); a datagram lost is sent again after a second of silence and
 * counted in "lost".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_OPENSSL
#include <openssl/err.h>
#include <openssl/ssl.h>
#else
typedef struct ssl_st SSL;
#endif

typedef struct
{
  int      fd;
  int      rounds_left;
  gsize    sent;
  gsize    received;
  gint64   t0;
  gboolean connected;
  gboolean want_out;
  SSL     *ssl;          /* --tls */
  gboolean handshaking;
} Client;

static int    opt_port;
static int    opt_clients = 100;
static int    opt_rounds = 2000;
static int    opt_size = 64;
static int    opt_idle = 0;
static int    opt_connect_batch = 256;
static double opt_timeout = 120.0;
static gboolean opt_tls;
static gboolean opt_udp;
static gsize    n_lost;
#ifdef HAVE_OPENSSL
static SSL_CTX *ssl_ctx;
#endif

static int      epfd;
static guint8  *payload;
static guint8  *scratch;
static double  *lat;       /* µs, one per completed round trip */
static gsize    n_lat;
static gsize    cap_lat;
static gboolean record_latency;

static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void G_GNUC_NORETURN
die (const char *what)
{
  fprintf (stderr, "tcp-load: %s: %s\n", what, g_strerror (errno));
  exit (1);
}

static void
watch (Client *c, int op, gboolean out)
{
  struct epoll_event ev = { .events = out ? EPOLLOUT : EPOLLIN, .data.ptr = c };

  c->want_out = out;
  if (epoll_ctl (epfd, op, c->fd, &ev) != 0)
    die ("epoll_ctl");
}

static void
client_connect (Client *c, const struct sockaddr_in *sa)
{
  int one = 1;

  c->fd = socket (AF_INET, (opt_udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    die ("socket");
  if (!opt_udp)
    setsockopt (c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect (c->fd, (const struct sockaddr *) sa, sizeof *sa) != 0 && errno != EINPROGRESS)
    die ("connect");
  c->connected = FALSE;
  watch (c, EPOLL_CTL_ADD, TRUE);
}

/* write(2) and read(2), or their TLS counterparts: -1 with errno EAGAIN
 * when the call would block. */
static ssize_t
io_write (Client *c, const guint8 *buf, gsize len)
{
#ifdef HAVE_OPENSSL
  if (c->ssl != NULL)
    {
      int n = SSL_write (c->ssl, buf, (int) len);

      if (n > 0)
        return n;
      switch (SSL_get_error (c->ssl, n))
        {
        case SSL_ERROR_WANT_WRITE:
        case SSL_ERROR_WANT_READ:
          errno = EAGAIN;
          return -1;
        default:
          ERR_print_errors_fp (stderr);
          errno = EPROTO;
          return -1;
        }
    }
#endif
  return write (c->fd, buf, len);
}

static ssize_t
io_read (Client *c, guint8 *buf, gsize len)
{
#ifdef HAVE_OPENSSL
  if (c->ssl != NULL)
    {
      int n = SSL_read (c->ssl, buf, (int) len);

      if (n > 0)
        return n;
      switch (SSL_get_error (c->ssl, n))
        {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
          errno = EAGAIN;
          return -1;
        case SSL_ERROR_ZERO_RETURN:
          return 0;
        default:
          ERR_print_errors_fp (stderr);
          errno = EPROTO;
          return -1;
        }
    }
#endif
  return read (c->fd, buf, len);
}

/* Starts a round trip: writes as much of the request as the socket takes. */
static void
client_send (Client *c)
{
  while (c->sent < (gsize) opt_size)
    {
      ssize_t n = io_write (c, payload + c->sent, opt_size - c->sent);

      if (n < 0)
        {
          if (errno == EAGAIN)
            {
              if (!c->want_out)
                watch (c, EPOLL_CTL_MOD, TRUE);
              return;
            }
          die ("write");
        }
      c->sent += n;
    }
  if (c->want_out)
    watch (c, EPOLL_CTL_MOD, FALSE);
}

static void
client_start_round (Client *c)
{
  c->sent = 0;
  c->received = 0;
  c->t0 = now_ns ();
  client_send (c);
}

#ifdef HAVE_OPENSSL
/* Drives the TLS handshake; starts the first round once it is done. */
static void
client_handshake (Client *c)
{
  int r = SSL_do_handshake (c->ssl);

  if (r == 1)
    {
      c->handshaking = FALSE;
      if (c->want_out)
        watch (c, EPOLL_CTL_MOD, FALSE);
      client_start_round (c);
      return;
    }
  switch (SSL_get_error (c->ssl, r))
    {
    case SSL_ERROR_WANT_READ:
      if (c->want_out)
        watch (c, EPOLL_CTL_MOD, FALSE);
      return;
    case SSL_ERROR_WANT_WRITE:
      if (!c->want_out)
        watch (c, EPOLL_CTL_MOD, TRUE);
      return;
    default:
      ERR_print_errors_fp (stderr);
      fprintf (stderr, "tcp-load: the TLS handshake failed\n");
      exit (1);
    }
}
#endif

/* Returns TRUE when the client has finished its rounds. */
static gboolean
client_event (Client *c, guint32 events)
{
  if (!c->connected)
    {
      int err = 0;
      socklen_t len = sizeof err;

      getsockopt (c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0)
        {
          errno = err;
          die ("connect (async)");
        }
      c->connected = TRUE;
#ifdef HAVE_OPENSSL
      if (opt_tls)
        {
          c->ssl = SSL_new (ssl_ctx);
          SSL_set_fd (c->ssl, c->fd);
          SSL_set_connect_state (c->ssl);
          c->handshaking = TRUE;
          client_handshake (c);
          return FALSE;
        }
#endif
      client_start_round (c);
      return FALSE;
    }
#ifdef HAVE_OPENSSL
  if (c->handshaking)
    {
      client_handshake (c);
      return FALSE;
    }
#endif
  if ((events & EPOLLOUT) && c->sent < (gsize) opt_size)
    client_send (c);
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
    return FALSE;

  for (;;)
    {
      ssize_t n = io_read (c, scratch, opt_size - c->received);

      if (n < 0 && errno == EAGAIN)
        return FALSE;
      if (n < 0)
        die ("read");
      if (n == 0)
        {
          fprintf (stderr, "tcp-load: the server closed a connection\n");
          exit (1);
        }
      c->received += n;
      if (c->received == (gsize) opt_size)
        break;
    }

  if (record_latency)
    {
      if (n_lat == cap_lat)
        {
          cap_lat = MAX (1024, cap_lat * 2);
          lat = g_renew (double, lat, cap_lat);
        }
      lat[n_lat++] = (now_ns () - c->t0) / 1000.0;
    }
  if (--c->rounds_left == 0)
    return TRUE;
  client_start_round (c);
  return FALSE;
}

/* Runs @n clients of @rounds round trips each, at most @batch connecting or
 * running at once (0: all); returns the elapsed seconds.  Clients that are
 * done leave the epoll set but stay open. */
static double
run_clients (Client                   *clients,
             int                       n,
             int                       rounds,
             int                       batch,
             const struct sockaddr_in *sa)
{
  struct epoll_event events[256];
  int started = 0, active = 0, done = 0;
  gint64 t_start = now_ns ();
  gint64 deadline = t_start + (gint64) (opt_timeout * 1e9);

  if (batch <= 0)
    batch = n;
  while (done < n)
    {
      int k;

      while (started < n && active < batch)
        {
          clients[started].rounds_left = rounds;
          client_connect (&clients[started++], sa);
          active++;
        }
      k = epoll_wait (epfd, events, G_N_ELEMENTS (events), 1000);
      if (k < 0 && errno != EINTR)
        die ("epoll_wait");
      if (k == 0 && opt_udp)
        {
          /* A second of silence: a datagram was lost; send again. */
          for (int i = 0; i < started; i++)
            if (clients[i].rounds_left > 0 && clients[i].connected && clients[i].received == 0)
              {
                n_lost++;
                clients[i].sent = 0;
                client_send (&clients[i]);
              }
        }
      for (int i = 0; i < k; i++)
        {
          Client *c = events[i].data.ptr;

          if (client_event (c, events[i].events))
            {
              if (epoll_ctl (epfd, EPOLL_CTL_DEL, c->fd, NULL) != 0)
                die ("epoll_ctl (del)");
              active--;
              done++;
            }
        }
      if (now_ns () > deadline)
        {
          fprintf (stderr, "tcp-load: timed out (%d of %d clients done)\n", done, n);
          exit (2);
        }
    }
  return (now_ns () - t_start) / 1e9;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static double
percentile (double p)
{
  gsize i = (gsize) (p / 100.0 * (n_lat - 1) + 0.5);

  return n_lat ? lat[MIN (i, n_lat - 1)] : 0.0;
}

static void
close_all (Client *clients, int n)
{
  /* An abortive close (RST): no TIME_WAIT left behind, so repeated runs
   * don't run out of ephemeral ports. */
  struct linger lg = { 1, 0 };

  for (int i = 0; i < n; i++)
    {
#ifdef HAVE_OPENSSL
      if (clients[i].ssl != NULL)
        SSL_free (clients[i].ssl);
#endif
      if (!opt_udp)
        setsockopt (clients[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      close (clients[i].fd);
    }
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &opt_port, "Server port on 127.0.0.1", "P" },
    { "clients", 'c', 0, G_OPTION_ARG_INT, &opt_clients, "Concurrent active clients (100)", "C" },
    { "rounds", 'r', 0, G_OPTION_ARG_INT, &opt_rounds, "Round trips per active client (2000)", "R" },
    { "size", 's', 0, G_OPTION_ARG_INT, &opt_size, "Bytes per request and per reply (64)", "S" },
    { "idle", 'i', 0, G_OPTION_ARG_INT, &opt_idle, "Idle connections held open meanwhile (0)", "I" },
    { "connect-batch", 0, 0, G_OPTION_ARG_INT, &opt_connect_batch, "Idle connections being opened at once (256)", "N" },
    { "timeout", 't', 0, G_OPTION_ARG_DOUBLE, &opt_timeout, "Give up after this many seconds per phase (120)", "S" },
    { "tls", 0, 0, G_OPTION_ARG_NONE, &opt_tls, "Speak TLS 1.3 (OpenSSL; the certificate is not checked)", NULL },
    { "udp", 0, 0, G_OPTION_ARG_NONE, &opt_udp, "UDP datagrams instead of TCP", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- TCP echo load generator");
  g_autoptr(GError) error = NULL;
  struct sockaddr_in sa = { .sin_family = AF_INET };
  struct rlimit rl;
  Client *idle, *active;
  double t_idle = 0.0, t_active;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "tcp-load: %s\n", error->message);
      return 1;
    }
  if (opt_port <= 0 || opt_port > 65535 || opt_clients <= 0 || opt_rounds <= 0 ||
      opt_size <= 0 || opt_idle < 0)
    {
      fprintf (stderr, "tcp-load: bad arguments (--port is required)\n");
      return 1;
    }

  if ((opt_tls && opt_udp) || (opt_udp && opt_idle > 0))
    {
      fprintf (stderr, "tcp-load: --udp goes with neither --tls nor --idle\n");
      return 1;
    }
  if (opt_tls)
    {
#ifdef HAVE_OPENSSL
      ssl_ctx = SSL_CTX_new (TLS_client_method ());
      SSL_CTX_set_min_proto_version (ssl_ctx, TLS1_3_VERSION);
      SSL_CTX_set_verify (ssl_ctx, SSL_VERIFY_NONE, NULL);
#else
      fprintf (stderr, "tcp-load: built without OpenSSL (libssl-dev): no --tls\n");
      return 3;
#endif
    }

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 &&
      rl.rlim_cur < (rlim_t) opt_idle + opt_clients + 16)
    {
      fprintf (stderr, "tcp-load: RLIMIT_NOFILE %lu is too low for %d connections\n",
               (unsigned long) rl.rlim_cur, opt_idle + opt_clients);
      return 1;
    }

  sa.sin_port = htons (opt_port);
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (epfd < 0)
    die ("epoll_create1");
  payload = g_malloc (opt_size);
  scratch = g_malloc (opt_size);
  for (int i = 0; i < opt_size; i++)
    payload[i] = 'a' + i % 26;

  idle = g_new0 (Client, opt_idle);
  active = g_new0 (Client, opt_clients);

  if (opt_idle > 0)
    t_idle = run_clients (idle, opt_idle, 1, opt_connect_batch, &sa);

  record_latency = TRUE;
  t_active = run_clients (active, opt_clients, opt_rounds, 0, &sa);
  qsort (lat, n_lat, sizeof *lat, cmp_double);

  printf ("{\"clients\": %d, \"rounds\": %d, \"size\": %d, \"idle\": %d, "
          "\"idle_open_s\": %.3f, \"seconds\": %.4f, \"requests\": %" G_GSIZE_FORMAT ", "
          "\"rps\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f, "
          "\"lost\": %" G_GSIZE_FORMAT "}\n",
          opt_clients, opt_rounds, opt_size, opt_idle, t_idle, t_active, n_lat,
          n_lat / t_active, percentile (50), percentile (99), n_lat ? lat[n_lat - 1] : 0.0,
          n_lost);
  fflush (stdout);

  close_all (active, opt_clients);
  close_all (idle, opt_idle);
  return 0;
}
