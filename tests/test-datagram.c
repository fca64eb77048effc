/* test-datagram.c: UDP endpoints, over real loopback sockets.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#define TEST_TIMEOUT (20 * G_USEC_PER_SEC)

#define run_task(loop, func, data) coop_test_run_task ((loop), (func), (data), TEST_TIMEOUT)

static GSocketAddress *
address_new (const char *host,
             guint16     port)
{
  return g_inet_socket_address_new_from_string (host, port);
}

static guint16
address_port (GSocketAddress *address)
{
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
}

/* A bound endpoint on @host, any port. */
static CoopDatagram *
bound_new (CoopLoop   *loop,
           const char *host,
           GError    **error)
{
  g_autoptr(GSocketAddress) local = address_new (host, 0);

  return coop_datagram_new (loop, local, NULL, error);
}

static GSocketAddress *
local_of (CoopDatagram *datagram)
{
  g_autoptr(GError) error = NULL;
  GSocketAddress *address = coop_datagram_get_local_address (datagram, &error);

  g_assert_no_error (error);
  return address;
}

static gboolean
send_str (CoopDatagram   *datagram,
          const char     *str,
          GSocketAddress *to,
          GError        **error)
{
  g_autoptr(GBytes) bytes = g_bytes_new (str, strlen (str));

  return coop_datagram_send (datagram, bytes, to, error);
}

/* Awaits the next datagram; returns it (the caller's) or NULL. */
static CoopDatagramMessage *
receive (CoopDatagram  *datagram,
         GError       **error)
{
  g_autoptr(CoopFuture) future = coop_datagram_receive (datagram);

  if (!coop_await (future, error))
    return NULL;
  return coop_datagram_receive_finish (future, error);
}

static void
assert_message (CoopDatagramMessage *message,
                const char          *str,
                GSocketAddress      *from)
{
  GBytes *data;

  g_assert_nonnull (message);
  data = coop_datagram_message_get_data (message);
  g_assert_cmpmem (g_bytes_get_data (data, NULL), g_bytes_get_size (data), str, strlen (str));
  if (from != NULL)
    {
      GSocketAddress *sender = coop_datagram_message_get_address (message);

      g_assert_nonnull (sender);
      g_assert_cmpuint (address_port (sender), ==, address_port (from));
    }
}

/* --- a ping-pong, IPv4 and IPv6 -------------------------------------------------- */

typedef struct
{
  CoopLoop   *loop;
  const char *host;
} Family;

static void
ping_pong_body (CoopTask *task,
                gpointer  data)
{
  Family *fam = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopDatagram) a = bound_new (fam->loop, fam->host, &error);
  g_autoptr(CoopDatagram) b = NULL;
  g_autoptr(GSocketAddress) a_addr = NULL;
  g_autoptr(GSocketAddress) b_addr = NULL;
  g_autoptr(CoopDatagramMessage) m1 = NULL;
  g_autoptr(CoopDatagramMessage) m2 = NULL;
  g_autoptr(CoopDatagramMessage) m3 = NULL;

  g_assert_no_error (error);
  a_addr = local_of (a);
  g_assert_cmpuint (address_port (a_addr), !=, 0);

  /* b is connected to a: sends there by default. */
  b = coop_datagram_new (fam->loop, NULL, a_addr, &error);
  g_assert_no_error (error);
  b_addr = local_of (b);
  {
    g_autoptr(GSocketAddress) remote = coop_datagram_get_remote_address (b, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (address_port (remote), ==, address_port (a_addr));
  }

  g_assert_true (send_str (b, "ping", NULL, &error));
  g_assert_no_error (error);
  m1 = receive (a, &error);
  g_assert_no_error (error);
  assert_message (m1, "ping", b_addr);

  /* a answers the sender it got. */
  g_assert_true (send_str (a, "pong", coop_datagram_message_get_address (m1), &error));
  g_assert_no_error (error);
  m2 = receive (b, &error);
  g_assert_no_error (error);
  assert_message (m2, "pong", a_addr);

  /* An empty datagram is a datagram. */
  g_assert_true (send_str (b, "", NULL, &error));
  m3 = receive (a, &error);
  g_assert_no_error (error);
  assert_message (m3, "", b_addr);

  /* a is not connected: sending needs an address. */
  g_assert_false (send_str (a, "x", NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  {
    g_autoptr(GSocketAddress) remote = coop_datagram_get_remote_address (a, &error);
    g_assert_null (remote);
    g_assert_nonnull (error);
    g_clear_error (&error);
  }
}

static void
test_ipv4 (CoopFixture *f, gconstpointer data)
{
  Family fam = { f->loop, "127.0.0.1" };

  run_task (f->loop, ping_pong_body, &fam);
}

static gboolean
ipv6_loopback_works (void)
{
  struct sockaddr_in6 sin6 = { 0, };
  int fd = socket (AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  gboolean ok;

  if (fd < 0)
    return FALSE;
  sin6.sin6_family = AF_INET6;
  sin6.sin6_addr = in6addr_loopback;
  ok = bind (fd, (struct sockaddr *) &sin6, sizeof sin6) == 0;
  close (fd);
  return ok;
}

static void
test_ipv6 (CoopFixture *f, gconstpointer data)
{
  Family fam = { f->loop, "::1" };

  if (!ipv6_loopback_works ())
    {
      g_test_skip ("IPv6 loopback (::1) is not available here: binding a UDP socket to it failed");
      return;
    }
  run_task (f->loop, ping_pong_body, &fam);
}

/* --- a lost peer ------------------------------------------------------------------ */

/* A connected endpoint whose peer is gone: the ICMP port unreachable it
 * gets back fails the next receive with CONNECTION_REFUSED, and the
 * endpoint goes on (the next error is the next datagram's). */
static void
lost_peer_body (CoopTask *task,
                gpointer  data)
{
  CoopLoop *loop = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) gone_addr = NULL;
  g_autoptr(CoopDatagram) client = NULL;
  g_autoptr(CoopDatagramMessage) message = NULL;

  {
    /* A port that was just free: bound, then closed. */
    g_autoptr(CoopDatagram) gone = bound_new (loop, "127.0.0.1", &error);
    g_assert_no_error (error);
    gone_addr = local_of (gone);
    coop_datagram_close (gone);
    g_assert_true (coop_datagram_is_closed (gone));
  }
  client = coop_datagram_new (loop, NULL, gone_addr, &error);
  g_assert_no_error (error);
  g_assert_true (send_str (client, "anyone?", NULL, &error));
  g_assert_no_error (error);
  message = receive (client, &error);
  g_assert_null (message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_clear_error (&error);

  /* Once more: the error is per datagram, not sticky. */
  g_assert_true (send_str (client, "still?", NULL, &error));
  g_assert_no_error (error);
  message = receive (client, &error);
  g_assert_null (message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
}

static void
test_lost_peer (CoopFixture *f, gconstpointer data)
{
  run_task (f->loop, lost_peer_body, f->loop);
}

/* --- oversized datagrams ------------------------------------------------------------ */

static void
oversized_body (CoopTask *task,
                gpointer  data)
{
  CoopLoop *loop = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopDatagram) rx = bound_new (loop, "127.0.0.1", &error);
  g_autoptr(CoopDatagram) tx = NULL;
  g_autoptr(GSocketAddress) rx_addr = local_of (rx);
  g_autofree char *big = g_strnfill (200, 'x');
  g_autoptr(CoopDatagramMessage) m = NULL;

  g_assert_no_error (error);
  tx = bound_new (loop, "127.0.0.1", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (coop_datagram_get_max_size (rx), ==, 65536);
  coop_datagram_set_max_size (rx, 100);
  g_assert_cmpuint (coop_datagram_get_max_size (rx), ==, 100);

  g_assert_true (send_str (tx, big, rx_addr, &error));
  g_assert_true (send_str (tx, "small", rx_addr, &error));
  g_assert_no_error (error);
  m = receive (rx, &error);
  g_assert_null (m);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  g_assert_nonnull (strstr (error->message, "200 bytes"));
  g_clear_error (&error);
  m = receive (rx, &error);   /* dropped, and the next one is whole */
  g_assert_no_error (error);
  assert_message (m, "small", NULL);
  g_clear_pointer (&m, coop_datagram_message_unref);

  /* Exactly the limit is whole. */
  big[100] = '\0';
  g_assert_true (send_str (tx, big, rx_addr, &error));
  m = receive (rx, &error);
  g_assert_no_error (error);
  assert_message (m, big, NULL);

  /* Over what UDP carries at all: the send says so. */
  {
    g_autoptr(GBytes) huge = g_bytes_new_take (g_malloc0 (70000), 70000);
    g_assert_false (coop_datagram_send (tx, huge, rx_addr, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  }
}

static void
test_oversized (CoopFixture *f, gconstpointer data)
{
  run_task (f->loop, oversized_body, f->loop);
}

/* --- 10,000 datagrams, none lost ------------------------------------------------------ */

#define N_DATAGRAMS 10000
#define WINDOW      64      /* in flight at most: well under the receive buffer */

typedef struct
{
  CoopLoop      *loop;
  CoopDatagram  *rx;
  CoopFuture    *window;        /* the sender waits for the receiver here */
  guint          window_end;
  guint          received;
  guint          out_of_order;
} Flow;

static void
flow_receiver (CoopTask *task,
               gpointer  data)
{
  Flow *flow = data;

  while (flow->received < N_DATAGRAMS)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(CoopDatagramMessage) m = receive (flow->rx, &error);
      guint32 seq;

      g_assert_no_error (error);
      g_assert_cmpuint (g_bytes_get_size (coop_datagram_message_get_data (m)), ==, 512);
      memcpy (&seq, g_bytes_get_data (coop_datagram_message_get_data (m), NULL), sizeof seq);
      if (seq != flow->received)
        flow->out_of_order++;
      flow->received++;
      if (flow->window != NULL && flow->received >= flow->window_end)
        coop_future_set_none (flow->window);
    }
}

/* The sender sends a window, then waits until the receiver has all of it:
 * the receive buffer never holds more than a window, so nothing is
 * dropped for want of room (UDP's loss is the receiver's to prevent). */
static void
flow_body (CoopTask *task,
           gpointer  data)
{
  Flow *flow = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopDatagram) tx = bound_new (flow->loop, "127.0.0.1", &error);
  g_autoptr(GSocketAddress) rx_addr = local_of (flow->rx);
  g_autoptr(CoopTask) receiver = coop_task_new (flow->loop, flow_receiver, flow, NULL);
  guint8 payload[512] = { 0, };

  g_assert_no_error (error);
  for (guint32 seq = 0; seq < N_DATAGRAMS; seq++)
    {
      g_autoptr(GBytes) bytes = NULL;

      memcpy (payload, &seq, sizeof seq);
      bytes = g_bytes_new (payload, sizeof payload);
      g_assert_true (coop_datagram_send (tx, bytes, rx_addr, &error));
      g_assert_no_error (error);
      if ((seq + 1) % WINDOW == 0 || seq + 1 == N_DATAGRAMS)
        {
          g_autoptr(CoopFuture) drain = coop_datagram_drain (tx);

          g_assert_true (coop_await (drain, &error));
          g_assert_no_error (error);
          if (flow->received < seq + 1)
            {
              g_autoptr(CoopFuture) window = coop_future_new (flow->loop);

              flow->window = window;
              flow->window_end = seq + 1;
              g_assert_true (coop_await (window, &error));
              g_assert_no_error (error);
              flow->window = NULL;
            }
        }
    }
  g_assert_true (coop_await (COOP_FUTURE (receiver), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (flow->received, ==, N_DATAGRAMS);
  g_assert_cmpuint (flow->out_of_order, ==, 0);
}

static void
test_ten_thousand (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  Flow flow = { f->loop, NULL, NULL, 0, 0, 0 };

  flow.rx = bound_new (f->loop, "127.0.0.1", &error);
  g_assert_no_error (error);
  run_task (f->loop, flow_body, &flow);
  g_object_unref (flow.rx);
}

/* --- options, closing, cancelling -------------------------------------------------------- */

static void
test_options (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopDatagram) d = NULL;
  g_autoptr(GInetAddress) group = g_inet_address_new_from_string ("239.255.77.1");
  g_autoptr(GInetAddress) unicast = g_inet_address_new_from_string ("127.0.0.1");
  g_autoptr(GSocketAddress) any = address_new ("0.0.0.0", 0);

  d = coop_datagram_new (f->loop, any, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (coop_datagram_get_fd (d), >=, 0);

  g_assert_true (coop_datagram_set_broadcast (d, TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (coop_datagram_set_broadcast (d, FALSE, &error));

  g_assert_false (coop_datagram_join_multicast_group (d, unicast, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* On "lo", which every Linux has. */
  if (!coop_datagram_join_multicast_group (d, group, "lo", &error))
    {
      g_test_message ("multicast join refused here: %s", error->message);
      g_clear_error (&error);
    }
  else
    {
      g_assert_true (coop_datagram_leave_multicast_group (d, group, "lo", &error));
      g_assert_no_error (error);
    }

  /* Neither address; mixed families. */
  g_assert_null (coop_datagram_new (f->loop, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  {
    g_autoptr(GSocketAddress) v6 = address_new ("::1", 9);
    g_assert_null (coop_datagram_new (f->loop, any, v6, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
  }

  coop_datagram_close (d);
  coop_datagram_close (d);
  g_assert_cmpint (coop_datagram_get_fd (d), ==, -1);
  g_assert_false (send_str (d, "x", any, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&error);
  g_assert_false (coop_datagram_set_broadcast (d, TRUE, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

typedef struct
{
  CoopLoop     *loop;
  CoopDatagram *rx;
  gboolean      yielded;
} CloseState;

static void
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
}

static void
close_body (CoopTask *task,
            gpointer  data)
{
  CloseState *s = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopFuture) pending = coop_datagram_receive (s->rx);
  g_autoptr(CoopFuture) second = coop_datagram_receive (s->rx);
  g_autoptr(CoopHandle) h = NULL;

  /* One receive at a time; the second fails, on the next turn. */
  g_assert_false (coop_future_is_done (second));
  g_assert_false (coop_await (second, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_INVALID_STATE);
  g_clear_error (&error);

  coop_datagram_close (s->rx);
  g_assert_false (coop_await (pending, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&error);

  /* A receive on a closed endpoint fails, but only after a loop turn. */
  h = coop_loop_call_soon (s->loop, set_flag, &s->yielded, NULL);
  {
    g_autoptr(CoopFuture) late = coop_datagram_receive (s->rx);
    g_assert_false (coop_await (late, &error));
  }
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_assert_true (s->yielded);
}

static void
test_close (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  CloseState s = { f->loop, NULL, FALSE };

  s.rx = bound_new (f->loop, "127.0.0.1", &error);
  g_assert_no_error (error);
  run_task (f->loop, close_body, &s);
  g_object_unref (s.rx);
}

/* A task cancelled after its datagram was received, before it resumed:
 * the datagram goes to the next receive, as a stream's read gives its
 * bytes back. */
static void
cancel_body (CoopTask *task,
             gpointer  data)
{
  CoopLoop *loop = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopDatagram) rx = bound_new (loop, "127.0.0.1", &error);
  g_autoptr(CoopDatagram) tx = bound_new (loop, "127.0.0.1", &error);
  g_autoptr(GSocketAddress) rx_addr = local_of (rx);
  g_autoptr(CoopDatagramMessage) m = NULL;
  g_autoptr(CoopFuture) received = NULL;

  g_assert_true (send_str (tx, "kept", rx_addr, &error));
  {
    g_autoptr(CoopFuture) readable = coop_loop_wait_readable (loop, coop_datagram_get_fd (rx));
    g_assert_true (coop_await (readable, &error));
  }
  coop_task_cancel (task, "test");
  received = coop_datagram_receive (rx);
  g_assert_true (coop_future_is_done (received));
  g_assert_false (coop_await (received, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  m = receive (rx, &error);
  g_assert_no_error (error);
  assert_message (m, "kept", NULL);
}

static void
test_cancel_keeps (CoopFixture *f, gconstpointer data)
{
  run_task (f->loop, cancel_body, f->loop);
}

/* Closing the loop cancels a waiting receive; the endpoint can still be
 * closed and released afterwards. */
static void
test_close_loop (void)
{
  GMainContext *context = g_main_context_new ();
  g_autoptr(GError) error = NULL;
  CoopLoop *loop;
  CoopDatagram *rx;
  CoopFuture *waiting;

  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);
  rx = bound_new (loop, "127.0.0.1", &error);
  g_assert_no_error (error);
  waiting = coop_datagram_receive (rx);
  g_assert_false (coop_future_is_done (waiting));
  coop_loop_close (loop);
  g_assert_true (coop_future_is_cancelled (waiting));
  coop_datagram_close (rx);
  g_object_unref (rx);
  g_object_unref (waiting);
  g_object_unref (loop);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/datagram/ipv4", test_ipv4);
  coop_test_add ("/coop/datagram/ipv6", test_ipv6);
  coop_test_add ("/coop/datagram/lost-peer", test_lost_peer);
  coop_test_add ("/coop/datagram/oversized", test_oversized);
  coop_test_add ("/coop/datagram/ten-thousand", test_ten_thousand);
  coop_test_add ("/coop/datagram/options", test_options);
  coop_test_add ("/coop/datagram/close", test_close);
  coop_test_add ("/coop/datagram/cancel-keeps", test_cancel_keeps);
  g_test_add_func ("/coop/datagram/close-loop", test_close_loop);

  return g_test_run ();
}
