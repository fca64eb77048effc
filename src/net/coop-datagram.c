/* coop-datagram.c: UDP endpoints on the loop (asyncio's
 * create_datagram_endpoint).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coop-private.h"

/* A CoopDatagram is a non-blocking UDP socket (a GSocket, which does the
 * address conversions, bind, connect and the multicast options) driven by
 * the loop's readiness source (coop-io.c).
 *
 * Receiving.  Nothing is read ahead: datagrams wait in the kernel's
 * receive buffer, which is the queue (and whose overflow is the loss a
 * sender's flow control must avoid).  A receive tries recvmsg(2) at once
 * and, if nothing waits, registers a reader until one arrives; the reader
 * goes when no receive waits (level-triggered, it would fire for ever).
 * One receive at a time, as a stream's reads.  recvmsg() is given
 * MSG_TRUNC, so it returns a datagram's real size: one larger than the
 * limit fails its receive with G_IO_ERROR_MESSAGE_TOO_LARGE, never arrives
 * cut short without a word.  Errors the kernel queues on the socket (an
 * ICMP port unreachable after sending on a connected socket) come out of
 * the next recvmsg() or sendto(); one that a send meets is kept for the
 * next receive, and the send is tried again (the error was about an
 * earlier datagram).  None of these errors is sticky: the next receive
 * reads on.  A receive that fails as it starts fails on the loop's next
 * turn, so a retry loop yields (as a stream's reads do).  A received
 * message that a cancelled task never saw goes back to the front (undo).
 *
 * Sending.  send() never blocks: sendto(MSG_DONTWAIT) at once when nothing
 * is queued; a datagram the socket does not take (EAGAIN, ENOBUFS) is
 * queued, with its address, and a writer callback flushes the queue.
 * drain() gives asyncio's back-pressure: it waits while more than the
 * high-water mark is queued, until the queue is down to the low-water
 * mark.  A queued datagram that fails as it is flushed is dropped; its
 * error is reported by the next receive (asyncio's error_received()).
 */

#define DEFAULT_MAX_SIZE   65536       /* more than any UDP payload */
#define HIGH_WATER         (64 * 1024)
#define LOW_WATER          (16 * 1024)

/* --- messages ---------------------------------------------------------------- */

struct _CoopDatagramMessage
{
  gatomicrefcount  ref_count;
  GBytes          *data;
  GSocketAddress  *address;
};

/**
 * CoopDatagramMessage:
 *
 * One received datagram: its bytes and its sender.  The result of a
 * [method@Coop.Datagram.receive] (read it with
 * [func@Coop.Datagram.receive_finish]).
 */
G_DEFINE_BOXED_TYPE (CoopDatagramMessage, coop_datagram_message,
                     coop_datagram_message_ref, coop_datagram_message_unref)

static CoopDatagramMessage *
message_new (GBytes         *data,
             GSocketAddress *address)
{
  CoopDatagramMessage *message = g_new0 (CoopDatagramMessage, 1);

  g_atomic_ref_count_init (&message->ref_count);
  message->data = data;
  message->address = address;
  return message;
}

/**
 * coop_datagram_message_ref:
 * @message: a message
 *
 * Takes a reference.
 *
 * Returns: (transfer full): @message
 */
CoopDatagramMessage *
coop_datagram_message_ref (CoopDatagramMessage *message)
{
  g_return_val_if_fail (message != NULL, NULL);

  g_atomic_ref_count_inc (&message->ref_count);
  return message;
}

/**
 * coop_datagram_message_unref:
 * @message: (nullable) (transfer full): a message
 *
 * Drops a reference.
 */
void
coop_datagram_message_unref (CoopDatagramMessage *message)
{
  if (message == NULL || !g_atomic_ref_count_dec (&message->ref_count))
    return;
  g_bytes_unref (message->data);
  g_clear_object (&message->address);
  g_free (message);
}

/**
 * coop_datagram_message_get_data:
 * @message: a message
 *
 * Gets the bytes of the datagram.
 *
 * Returns: (transfer none): the datagram's payload, owned by @message
 */
GBytes *
coop_datagram_message_get_data (CoopDatagramMessage *message)
{
  g_return_val_if_fail (message != NULL, NULL);

  return message->data;
}

/**
 * coop_datagram_message_get_address:
 * @message: a message
 *
 * Gets the sender of the datagram.
 *
 * Returns: (transfer none) (nullable): the address the datagram came
 *   from, owned by @message (%NULL if the kernel gave none)
 */
GSocketAddress *
coop_datagram_message_get_address (CoopDatagramMessage *message)
{
  g_return_val_if_fail (message != NULL, NULL);

  return message->address;
}

/* --- the endpoint --------------------------------------------------------------- */

typedef struct
{
  GBytes                  *data;
  struct sockaddr_storage  addr;
  socklen_t                addr_len;   /* 0: the connected peer */
} Outgoing;

struct _CoopDatagram
{
  GObject      parent_instance;

  CoopLoop    *loop;
  GSocket     *socket;
  int          fd;            /* -1 once closed */
  gboolean     connected;
  gsize        max_size;

  /* Receiving. */
  CoopFuture  *recv_future;   /* the pending receive (a reference) */
  CoopWaiter   recv_waiter;
  gboolean     recv_starting; /* inside receive(): failures wait a turn */
  gboolean     reading;       /* reader callback registered */
  CoopHandle  *reader_handle;
  GQueue       returned;      /* CoopDatagramMessage given back by undo */
  GError      *pending_error; /* for the next receive */

  /* Sending. */
  GQueue       squeue;        /* Outgoing */
  gsize        ssize;
  gboolean     paused;
  gboolean     writing;
  CoopHandle  *writer_handle;
  GQueue       drain_waiters; /* CoopFuture, a reference each */
};

/**
 * CoopDatagram:
 *
 * A UDP endpoint, as the transport of asyncio's
 * `create_datagram_endpoint()`, with awaitable receives instead of a
 * protocol's callbacks.
 *
 * Make one with [ctor@Coop.Datagram.new]: bound to a local address,
 * connected to a remote one, or both; IPv4 or IPv6.  Send with
 * [method@Coop.Datagram.send] (to an address, or to the connected peer),
 * await the next datagram and its sender with
 * [method@Coop.Datagram.receive].  Sending never blocks: a datagram the
 * socket cannot take at once is queued, and [method@Coop.Datagram.drain]
 * waits while the queue is over its high-water mark.  Broadcast and
 * multicast membership are options ([method@Coop.Datagram.set_broadcast],
 * [method@Coop.Datagram.join_multicast_group]).
 *
 * Errors are in the `G_IO_ERROR` domain.  An endpoint is used from the
 * thread of its loop only.
 */
G_DEFINE_FINAL_TYPE (CoopDatagram, coop_datagram, G_TYPE_OBJECT)

static void dgram_update_reading (CoopDatagram *self);
static void dgram_update_writing (CoopDatagram *self);

static void
outgoing_free (gpointer data)
{
  Outgoing *out = data;

  g_bytes_unref (out->data);
  g_free (out);
}

static GError *
closed_error_new (void)
{
  return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED, "The datagram endpoint is closed");
}

static GError *
errno_error_new (int         err,
                 const char *what)
{
  return g_error_new (G_IO_ERROR, g_io_error_from_errno (err), "%s: %s", what, g_strerror (err));
}

/* Releases a handle from the ready queue: a callback may remove itself. */
static void
handle_unref_later (CoopLoop   *loop,
                    CoopHandle *handle)
{
  if (handle != NULL)
    coop_loop_push_ready (loop, (CoopReadyFunc) coop_handle_unref,
                          (CoopReadyFunc) coop_handle_unref, handle);
}

static void
complete_drains (CoopDatagram *self,
                 const GError *error)
{
  CoopFuture *future;

  while ((future = g_queue_pop_head (&self->drain_waiters)) != NULL)
    {
      if (!coop_future_is_done (future))
        {
          if (error != NULL)
            coop_future_set_error (future, error);
          else
            coop_future_set_none (future);
        }
      g_object_unref (future);
    }
}

/* --- receiving ---------------------------------------------------------------------- */

typedef struct
{
  CoopFuture *future;
  GError     *error;
} LateFailure;

static void
late_failure_run (gpointer data)
{
  LateFailure *late = data;

  if (!coop_future_is_done (late->future))
    coop_future_take_error (late->future, late->error);
  else
    g_error_free (late->error);
  g_object_unref (late->future);
  g_free (late);
}

/* A receive failing as it starts fails on the loop's next turn, so that
 * awaiting it yields: a task retrying in a loop never holds the loop. */
static void
fail_later (CoopDatagram *self,
            CoopFuture   *future,
            GError       *error)
{
  LateFailure *late = g_new (LateFailure, 1);

  late->future = g_object_ref (future);
  late->error = error;
  coop_loop_push_ready (self->loop, late_failure_run, late_failure_run, late);
}

/* Someone else completed the pending receive (it was cancelled). */
static void
recv_waiter_done (CoopWaiter *waiter,
                  CoopFuture *future)
{
  CoopDatagram *self = waiter->data;

  if (self->recv_future != future)
    return;
  self->recv_future = NULL;
  coop_loop_push_ready (self->loop, (CoopReadyFunc) g_object_unref,
                        (CoopReadyFunc) g_object_unref, future);
  dgram_update_reading (self);
}

static CoopFuture *
recv_steal (CoopDatagram *self)
{
  CoopFuture *future = self->recv_future;

  self->recv_future = NULL;
  coop_future_remove_waiter (future, &self->recv_waiter);
  return future;
}

static void
dgram_unref_later (gpointer data)
{
  CoopDatagram *self = data;

  coop_loop_push_ready (self->loop, (CoopReadyFunc) g_object_unref,
                        (CoopReadyFunc) g_object_unref, self);
}

/* The message of a receive whose task was cancelled before it resumed
 * goes back to the front. */
static void
recv_undo (CoopFuture *future,
           gpointer    data)
{
  CoopDatagram *self = data;
  CoopDatagramMessage *message;

  if (self->fd < 0)
    return;
  message = (CoopDatagramMessage *) coop_future_get_boxed (future, NULL);
  if (message == NULL)
    return;
  g_queue_push_head (&self->returned, coop_datagram_message_ref (message));
  if (self->recv_future != NULL)
    {
      CoopFuture *pending = recv_steal (self);

      message = g_queue_pop_head (&self->returned);
      coop_future_set_undo (pending, recv_undo, g_object_ref (self), dgram_unref_later);
      coop_future_set_boxed (pending, COOP_TYPE_DATAGRAM_MESSAGE, message);
      coop_datagram_message_unref (message);
      g_object_unref (pending);
      dgram_update_reading (self);
    }
}

/* Completes @future with @message (consumed) or @error (consumed). */
static void
recv_complete (CoopDatagram        *self,
               CoopFuture          *future,
               CoopDatagramMessage *message,
               GError              *error)
{
  if (message != NULL)
    {
      coop_future_set_undo (future, recv_undo, g_object_ref (self), dgram_unref_later);
      coop_future_set_boxed (future, COOP_TYPE_DATAGRAM_MESSAGE, message);
      coop_datagram_message_unref (message);
    }
  else if (self->recv_starting)
    fail_later (self, future, error);
  else
    coop_future_take_error (future, error);
}

/* One recvmsg(2).  Returns a message, or NULL with *error set, or NULL
 * without (nothing waits). */
static CoopDatagramMessage *
dgram_recv (CoopDatagram  *self,
            GError       **error)
{
  struct sockaddr_storage from;
  struct iovec iov;
  struct msghdr msg = { 0, };
  guint8 *buf;
  gssize n;

  if (self->pending_error != NULL)
    {
      *error = g_steal_pointer (&self->pending_error);
      return NULL;
    }
  if (self->returned.length > 0)
    return g_queue_pop_head (&self->returned);

  buf = g_malloc (self->max_size);
  iov.iov_base = buf;
  iov.iov_len = self->max_size;
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  do
    n = recvmsg (self->fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      int err = errno;

      g_free (buf);
      if (err != EAGAIN && err != EWOULDBLOCK)
        *error = errno_error_new (err, "Error receiving a datagram");
      return NULL;
    }
  if ((gsize) n > self->max_size || (msg.msg_flags & MSG_TRUNC))
    {
      g_free (buf);
      *error = g_error_new (G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                            "A datagram of %" G_GSSIZE_FORMAT " bytes was larger than the "
                            "receive limit (%" G_GSIZE_FORMAT " bytes); it was dropped",
                            n, self->max_size);
      return NULL;
    }
  return message_new (g_bytes_new_take (g_realloc (buf, n), n),
                      msg.msg_namelen > 0 ? g_socket_address_new_from_native (&from, msg.msg_namelen)
                                          : NULL);
}

/* Serves the pending receive if anything (a datagram, an error) is there. */
static void
dgram_pump (CoopDatagram *self)
{
  GError *error = NULL;
  CoopDatagramMessage *message;

  if (self->recv_future == NULL)
    return;
  message = dgram_recv (self, &error);
  if (message != NULL || error != NULL)
    {
      CoopFuture *future = recv_steal (self);

      recv_complete (self, future, message, error);
      g_object_unref (future);
    }
  dgram_update_reading (self);
}

static void
dgram_readable_cb (gpointer data)
{
  dgram_pump (data);
}

/* The loop dropped our reader or writer without being asked: it was
 * closed.  What waits is cancelled. */
static void
dgram_loop_gone (CoopDatagram *self)
{
  GError *error;

  if (!coop_loop_is_closed (self->loop))
    return;
  g_object_ref (self);
  error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "The loop was closed");
  if (self->recv_future != NULL)
    {
      CoopFuture *future = recv_steal (self);

      coop_future_set_error (future, error);
      g_object_unref (future);
    }
  complete_drains (self, error);
  g_error_free (error);
  g_object_unref (self);
}

static void
dgram_reader_removed (gpointer data)
{
  CoopDatagram *self = data;

  if (!self->reading)
    return;   /* we removed it */
  self->reading = FALSE;
  dgram_loop_gone (self);
}

static void
dgram_writer_removed (gpointer data)
{
  CoopDatagram *self = data;

  if (!self->writing)
    return;
  self->writing = FALSE;
  dgram_loop_gone (self);
}

static void
dgram_update_reading (CoopDatagram *self)
{
  gboolean want = self->fd >= 0 && self->recv_future != NULL;

  if (want == self->reading)
    return;
  if (want)
    {
      CoopHandle *handle;

      if (coop_loop_is_closed (self->loop))
        return;
      self->reading = TRUE;
      handle = coop_loop_add_reader (self->loop, self->fd, dgram_readable_cb, self,
                                     dgram_reader_removed);
      if (handle == NULL)
        self->reading = FALSE;
      handle_unref_later (self->loop, self->reader_handle);
      self->reader_handle = handle;
    }
  else
    {
      self->reading = FALSE;   /* first: our remove notify checks it */
      if (!coop_loop_is_closed (self->loop))
        coop_loop_remove_reader (self->loop, self->fd);
    }
}

static void
dgram_describe (CoopFuture *future,
                gpointer    data,
                GString    *out)
{
  CoopDatagram *self = data;

  if (future == self->recv_future)
    g_string_append_printf (out, "datagram %p receive (fd %d)", (gpointer) self, self->fd);
  else
    g_string_append_printf (out, "datagram %p drain (fd %d, %" G_GSIZE_FORMAT " bytes to send)",
                            (gpointer) self, self->fd, self->ssize);
}

/* --- sending ------------------------------------------------------------------------ */

/* One sendto(2).  Returns 1 if sent, 0 if the socket is full, -1 with
 * @error set.  An error queued by an earlier datagram (ICMP) is kept for
 * the next receive, and this one is tried again. */
static int
dgram_sendto (CoopDatagram  *self,
              GBytes        *data,
              const struct sockaddr_storage *addr,
              socklen_t      addr_len,
              GError       **error)
{
  gsize len;
  const guint8 *bytes = g_bytes_get_data (data, &len);

  for (guint attempt = 0; ; attempt++)
    {
      gssize n;
      int err;

      do
        n = sendto (self->fd, bytes, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                    addr_len > 0 ? (const struct sockaddr *) addr : NULL, addr_len);
      while (n < 0 && errno == EINTR);
      if (n >= 0)
        return 1;
      err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS)
        return 0;
      if (err == ECONNREFUSED && attempt == 0)
        {
          if (self->pending_error == NULL)
            self->pending_error = errno_error_new (err, "A datagram sent earlier was refused");
          continue;
        }
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "Error sending a datagram: %s",
                   g_strerror (err));
      return -1;
    }
}

static void
dgram_flush (CoopDatagram *self)
{
  Outgoing *out;

  while ((out = g_queue_peek_head (&self->squeue)) != NULL)
    {
      GError *error = NULL;
      int r = dgram_sendto (self, out->data, &out->addr, out->addr_len, &error);

      if (r == 0)
        break;
      if (r < 0)
        {
          /* Dropped; reported by the next receive (error_received()). */
          if (self->pending_error == NULL)
            self->pending_error = error;
          else
            g_error_free (error);
        }
      self->ssize -= g_bytes_get_size (out->data);
      outgoing_free (g_queue_pop_head (&self->squeue));
    }
  if (self->paused && self->ssize <= LOW_WATER)
    {
      self->paused = FALSE;
      complete_drains (self, NULL);
    }
  if (self->pending_error != NULL)
    dgram_pump (self);
  dgram_update_writing (self);
}

static void
dgram_writable_cb (gpointer data)
{
  dgram_flush (data);
}

static void
dgram_update_writing (CoopDatagram *self)
{
  gboolean want = self->fd >= 0 && self->squeue.length > 0;

  if (want == self->writing)
    return;
  if (want)
    {
      CoopHandle *handle;

      if (coop_loop_is_closed (self->loop))
        return;
      self->writing = TRUE;
      handle = coop_loop_add_writer (self->loop, self->fd, dgram_writable_cb, self,
                                     dgram_writer_removed);
      if (handle == NULL)
        self->writing = FALSE;
      handle_unref_later (self->loop, self->writer_handle);
      self->writer_handle = handle;
    }
  else
    {
      self->writing = FALSE;
      if (!coop_loop_is_closed (self->loop))
        coop_loop_remove_writer (self->loop, self->fd);
    }
}

/* --- GObject ---------------------------------------------------------------------------- */

static void
dgram_shut (CoopDatagram *self)
{
  GError *error;
  int fd = self->fd;

  if (fd < 0)
    return;
  /* Whatever the socket takes now goes; the rest is dropped. */
  while (self->squeue.length > 0)
    {
      Outgoing *out = g_queue_pop_head (&self->squeue);

      dgram_sendto (self, out->data, &out->addr, out->addr_len, NULL);
      outgoing_free (out);
    }
  self->ssize = 0;
  self->fd = -1;
  dgram_update_reading (self);
  dgram_update_writing (self);
  error = closed_error_new ();
  if (self->recv_future != NULL)
    {
      CoopFuture *future = recv_steal (self);

      coop_future_set_error (future, error);
      g_object_unref (future);
    }
  complete_drains (self, error);
  g_error_free (error);
  g_queue_clear_full (&self->returned, (GDestroyNotify) coop_datagram_message_unref);
  g_clear_error (&self->pending_error);
  if (!coop_loop_is_closed (self->loop))
    coop_loop_forget_fd (self->loop, fd);
  g_socket_close (self->socket, NULL);
}

static void
coop_datagram_dispose (GObject *object)
{
  dgram_shut (COOP_DATAGRAM (object));

  G_OBJECT_CLASS (coop_datagram_parent_class)->dispose (object);
}

static void
coop_datagram_finalize (GObject *object)
{
  CoopDatagram *self = COOP_DATAGRAM (object);

  g_clear_pointer (&self->reader_handle, coop_handle_unref);
  g_clear_pointer (&self->writer_handle, coop_handle_unref);
  g_clear_object (&self->socket);
  g_clear_object (&self->loop);

  G_OBJECT_CLASS (coop_datagram_parent_class)->finalize (object);
}

static void
coop_datagram_class_init (CoopDatagramClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = coop_datagram_dispose;
  object_class->finalize = coop_datagram_finalize;
}

static void
coop_datagram_init (CoopDatagram *self)
{
  self->fd = -1;
  self->max_size = DEFAULT_MAX_SIZE;
  g_queue_init (&self->returned);
  g_queue_init (&self->squeue);
  g_queue_init (&self->drain_waiters);
}

/* --- the public API --------------------------------------------------------------------- */

/**
 * coop_datagram_new:
 * @loop: the loop
 * @local_address: (nullable): the address to bind to (port 0: any free
 *   port), or %NULL
 * @remote_address: (nullable): the peer to connect to, or %NULL
 * @error: return location for an error
 *
 * Makes a UDP endpoint, as asyncio's `create_datagram_endpoint()` with
 * numeric addresses: bound to @local_address if given, connected to
 * @remote_address if given (then it receives only from that peer, sends
 * there by default, and an ICMP "port unreachable" from it fails the next
 * receive with `G_IO_ERROR_CONNECTION_REFUSED`).  At least one address is
 * needed; the endpoint's family (IPv4 or IPv6) is theirs.
 *
 * Returns: (transfer full): the endpoint, or %NULL with @error set
 */
CoopDatagram *
coop_datagram_new (CoopLoop        *loop,
                   GSocketAddress  *local_address,
                   GSocketAddress  *remote_address,
                   GError         **error)
{
  CoopDatagram *self;
  GSocket *socket;
  GSocketFamily family;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (local_address == NULL || G_IS_SOCKET_ADDRESS (local_address), NULL);
  g_return_val_if_fail (remote_address == NULL || G_IS_SOCKET_ADDRESS (remote_address), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!coop_loop_check_usable (loop, error))
    return NULL;
  if (local_address == NULL && remote_address == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "A datagram endpoint needs a local or a remote address");
      return NULL;
    }
  family = g_socket_address_get_family (local_address != NULL ? local_address : remote_address);
  if (local_address != NULL && remote_address != NULL &&
      g_socket_address_get_family (remote_address) != family)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "The local and remote addresses are of different families");
      return NULL;
    }
  socket = g_socket_new (family, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, error);
  if (socket == NULL)
    return NULL;
  if ((local_address != NULL && !g_socket_bind (socket, local_address, FALSE, error)) ||
      (remote_address != NULL && !g_socket_connect (socket, remote_address, NULL, error)))
    {
      g_object_unref (socket);
      return NULL;
    }

  self = g_object_new (COOP_TYPE_DATAGRAM, NULL);
  self->loop = g_object_ref (loop);
  self->socket = socket;
  self->fd = g_socket_get_fd (socket);
  self->connected = remote_address != NULL;
  self->recv_waiter.func = recv_waiter_done;
  self->recv_waiter.data = self;
  return self;
}

/**
 * coop_datagram_receive:
 * @datagram: an endpoint
 *
 * Waits for the next datagram (asyncio's `datagram_received()`, awaited).
 * The future finishes with a [struct@Coop.DatagramMessage]: the bytes and
 * the sender (read it with [func@Coop.Datagram.receive_finish]).
 *
 * It fails, without ending the endpoint (the next receive reads on), with
 * `G_IO_ERROR_MESSAGE_TOO_LARGE` for a datagram larger than
 * [method@Coop.Datagram.set_max_size] allows (it is dropped, never
 * delivered cut short), with `G_IO_ERROR_CONNECTION_REFUSED` once the
 * connected peer answered a datagram with ICMP "port unreachable", and
 * with the error of a queued datagram that could not be sent
 * (asyncio's `error_received()`).  Also `G_IO_ERROR_CLOSED` after
 * [method@Coop.Datagram.close], and `COOP_ERROR_INVALID_STATE` while
 * another receive waits.  A receive that fails at once still finishes on
 * the loop's next turn, so a retry loop yields.
 *
 * Cancelling the awaiting task loses nothing: a datagram received for it
 * is given to the next receive.
 *
 * Returns: (transfer full): a future for a [struct@Coop.DatagramMessage]
 */
CoopFuture *
coop_datagram_receive (CoopDatagram *datagram)
{
  CoopFuture *future;
  GError *error = NULL;

  g_return_val_if_fail (COOP_IS_DATAGRAM (datagram), NULL);
  coop_return_val_if_wrong_thread (datagram->loop, COOP_INSTEAD_THREADSAFE, NULL);

  future = coop_future_new (datagram->loop);
  coop_future_set_describe (future, dgram_describe, datagram);
  if (datagram->fd < 0)
    {
      fail_later (datagram, future, closed_error_new ());
      return future;
    }
  if (datagram->recv_future != NULL)
    {
      fail_later (datagram, future,
                  g_error_new_literal (COOP_ERROR, COOP_ERROR_INVALID_STATE,
                                       "Another receive is already waiting on this endpoint"));
      return future;
    }
  if (!coop_loop_check_usable (datagram->loop, &error))
    {
      coop_future_take_error (future, error);
      return future;
    }
  datagram->recv_future = g_object_ref (future);
  coop_future_add_waiter (future, &datagram->recv_waiter);
  datagram->recv_starting = TRUE;
  dgram_pump (datagram);
  datagram->recv_starting = FALSE;
  return future;
}

/**
 * coop_datagram_receive_finish:
 * @future: a finished future of [method@Coop.Datagram.receive]
 * @error: return location for an error
 *
 * Gets the datagram a receive produced, with a reference of the caller's.
 *
 * Returns: (transfer full) (nullable): the message, or %NULL with @error
 *   set (the receive failed, is not done, or @future is not a receive's:
 *   `COOP_ERROR_NO_RESULT`)
 */
CoopDatagramMessage *
coop_datagram_receive_finish (CoopFuture  *future,
                              GError     **error)
{
  const GValue *value;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  value = coop_future_get_value (future, error);
  if (value == NULL)
    return NULL;
  if (!G_IS_VALUE (value) || !G_VALUE_HOLDS (value, COOP_TYPE_DATAGRAM_MESSAGE))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_NO_RESULT,
                           "The future's result is not a CoopDatagramMessage");
      return NULL;
    }
  return coop_datagram_message_ref (g_value_get_boxed (value));
}

/**
 * coop_datagram_send:
 * @datagram: an endpoint
 * @data: the payload
 * @address: (nullable): where to send it; %NULL for the connected peer
 * @error: return location for an error
 *
 * Sends one datagram, as asyncio's `sendto()`: never blocks.  If the
 * socket cannot take it now it is queued (@data referenced, not copied)
 * and sent as the socket drains; await [method@Coop.Datagram.drain] to
 * respect back-pressure.  UDP itself may still lose a datagram on the way
 * (a receiver whose buffer is full drops it): that is the receiver's flow
 * control to arrange.
 *
 * Fails with `G_IO_ERROR_CLOSED` after [method@Coop.Datagram.close],
 * `G_IO_ERROR_INVALID_ARGUMENT` without an address on an endpoint that is
 * not connected, and with the socket's error
 * (`G_IO_ERROR_MESSAGE_TOO_LARGE` for a datagram over the size UDP
 * allows, `G_IO_ERROR_NETWORK_UNREACHABLE`...).
 *
 * Returns: %TRUE if the datagram was sent or queued
 */
gboolean
coop_datagram_send (CoopDatagram    *datagram,
                    GBytes          *data,
                    GSocketAddress  *address,
                    GError         **error)
{
  Outgoing *out;
  int r;

  g_return_val_if_fail (COOP_IS_DATAGRAM (datagram), FALSE);
  g_return_val_if_fail (data != NULL, FALSE);
  coop_return_val_if_wrong_thread (datagram->loop, COOP_INSTEAD_THREADSAFE, FALSE);
  g_return_val_if_fail (address == NULL || G_IS_SOCKET_ADDRESS (address), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (datagram->fd < 0)
    {
      g_propagate_error (error, closed_error_new ());
      return FALSE;
    }
  if (address == NULL && !datagram->connected)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "No address, and the datagram endpoint is not connected");
      return FALSE;
    }
  out = g_new0 (Outgoing, 1);
  if (address != NULL)
    {
      gssize len = g_socket_address_get_native_size (address);

      if (len < 0 || (gsize) len > sizeof out->addr ||
          !g_socket_address_to_native (address, &out->addr, sizeof out->addr, error))
        {
          if (len < 0 || (gsize) len > sizeof out->addr)
            g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                 "The address cannot be used by a socket");
          g_free (out);
          return FALSE;
        }
      out->addr_len = len;
    }
  if (datagram->squeue.length == 0)
    {
      r = dgram_sendto (datagram, data, &out->addr, out->addr_len, error);
      if (r != 0)
        {
          g_free (out);
          return r > 0;
        }
    }
  out->data = g_bytes_ref (data);
  g_queue_push_tail (&datagram->squeue, out);
  datagram->ssize += g_bytes_get_size (data);
  if (datagram->ssize > HIGH_WATER)
    datagram->paused = TRUE;
  dgram_update_writing (datagram);
  return TRUE;
}

/**
 * coop_datagram_drain:
 * @datagram: an endpoint
 *
 * Waits until the queue of unsent datagrams is small enough: finishes at
 * once unless more than 64 KiB are queued, and then once the queue is
 * down to 16 KiB (asyncio's flow control, awaited).  Fails with
 * `G_IO_ERROR_CLOSED` if the endpoint is closed meanwhile.
 *
 * Returns: (transfer full): a future
 */
CoopFuture *
coop_datagram_drain (CoopDatagram *datagram)
{
  CoopFuture *future;

  g_return_val_if_fail (COOP_IS_DATAGRAM (datagram), NULL);
  coop_return_val_if_wrong_thread (datagram->loop, COOP_INSTEAD_THREADSAFE, NULL);

  future = coop_future_new (datagram->loop);
  if (datagram->fd < 0)
    coop_future_take_error (future, closed_error_new ());
  else if (!datagram->paused)
    coop_future_set_none (future);
  else
    {
      coop_future_set_describe (future, dgram_describe, datagram);
      g_queue_push_tail (&datagram->drain_waiters, g_object_ref (future));
    }
  return future;
}

/**
 * coop_datagram_get_write_buffer_size:
 * @datagram: an endpoint
 *
 * Gets the number of bytes queued for sending.
 *
 * Returns: the payload bytes of the datagrams not sent yet
 */
gsize
coop_datagram_get_write_buffer_size (CoopDatagram *datagram)
{
  g_return_val_if_fail (COOP_IS_DATAGRAM (datagram), 0);

  return datagram->ssize;
}

/**
 * coop_datagram_get_max_size:
 * @datagram: an endpoint
 *
 * Gets the largest datagram a receive accepts.
 *
 * Returns: a size in bytes
 */
gsize
coop_datagram_get_max_size (CoopDatagram *datagram)
{
  g_return_val_if_fail (COOP_IS_DATAGRAM (datagram), 0);

  return datagram->max_size;
}

/**
 * coop_datagram_set_max_size:
 * @datagram: an endpoint
 * @max_size: a size in bytes, more than 0
 *
 * Sets the largest datagram a receive accepts (64 KiB by default, more
 * than any UDP payload).  A larger one fails its receive with
 * `G_IO_ERROR_MESSAGE_TOO_LARGE` and is dropped.  Each receive allocates
 * this much while it reads.
 */
void
coop_datagram_set_max_size (CoopDatagram *datagram,
                            gsize         max_size)
{
  g_return_if_fail (COOP_IS_DATAGRAM (datagram));
  g_return_if_fail (max_size > 0);

  datagram->max_size = max_size;
}

/**
 * coop_datagram_set_broadcast:
 * @datagram: an endpoint
 * @broadcast: whether sending to a broadcast address is allowed
 * @error: return location for an error
 *
 * Sets `SO_BROADCAST` (asyncio's `allow_broadcast`).
 *
 * Returns: %TRUE on success
 */
gboolean
coop_datagram_set_broadcast (CoopDatagram  *datagram,
                             gboolean       broadcast,
                             GError       **error)
{
  g_return_val_if_fail (COOP_IS_DATAGRAM (datagram), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (datagram->fd < 0)
    {
      g_propagate_error (error, closed_error_new ());
      return FALSE;
    }
  g_socket_set_broadcast (datagram->socket, broadcast);
  if (g_socket_get_broadcast (datagram->socket) != !!broadcast)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Could not change SO_BROADCAST");
      return FALSE;
    }
  return TRUE;
}

static gboolean
multicast_check (CoopDatagram  *datagram,
                 GInetAddress  *group,
                 GError       **error)
{
  if (datagram->fd < 0)
    {
      g_propagate_error (error, closed_error_new ());
      return FALSE;
    }
  if (!g_inet_address_get_is_multicast (group))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "The address is not a multicast group");
      return FALSE;
    }
  return TRUE;
}

/**
 * coop_datagram_join_multicast_group:
 * @datagram: an endpoint
 * @group: a multicast group address
 * @iface: (nullable): the name of the interface to join on, or %NULL for
 *   the default one
 * @error: return location for an error
 *
 * Joins a multicast group (`IP_ADD_MEMBERSHIP`, `IPV6_JOIN_GROUP`): the
 * endpoint, bound to the group's port, receives what is sent to the group.
 *
 * Returns: %TRUE on success
 */
gboolean
coop_datagram_join_multicast_group (CoopDatagram  *datagram,
                                    GInetAddress  *group,
                                    const char    *iface,
                                    GError       **error)
{
  g_return_val_if_fail (COOP_IS_DATAGRAM (datagram), FALSE);
  g_return_val_if_fail (G_IS_INET_ADDRESS (group), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return multicast_check (datagram, group, error) &&
         g_socket_join_multicast_group (datagram->socket, group, FALSE, iface, error);
}

/**
 * coop_datagram_leave_multicast_group:
 * @datagram: an endpoint
 * @group: a multicast group address joined before
 * @iface: (nullable): the interface it was joined on, or %NULL
 * @error: return location for an error
 *
 * Leaves a multicast group joined with
 * [method@Coop.Datagram.join_multicast_group].
 *
 * Returns: %TRUE on success
 */
gboolean
coop_datagram_leave_multicast_group (CoopDatagram  *datagram,
                                     GInetAddress  *group,
                                     const char    *iface,
                                     GError       **error)
{
  g_return_val_if_fail (COOP_IS_DATAGRAM (datagram), FALSE);
  g_return_val_if_fail (G_IS_INET_ADDRESS (group), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return multicast_check (datagram, group, error) &&
         g_socket_leave_multicast_group (datagram->socket, group, FALSE, iface, error);
}

/**
 * coop_datagram_get_local_address:
 * @datagram: an endpoint
 * @error: return location for an error
 *
 * Gets the address the endpoint is bound to (with the port the system
 * chose for port 0).
 *
 * Returns: (transfer full) (nullable): the local address, or %NULL with
 *   @error set
 */
GSocketAddress *
coop_datagram_get_local_address (CoopDatagram  *datagram,
                                 GError       **error)
{
  g_return_val_if_fail (COOP_IS_DATAGRAM (datagram), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (datagram->fd < 0)
    {
      g_propagate_error (error, closed_error_new ());
      return NULL;
    }
  return g_socket_get_local_address (datagram->socket, error);
}

/**
 * coop_datagram_get_remote_address:
 * @datagram: an endpoint
 * @error: return location for an error
 *
 * Gets the peer the endpoint is connected to.
 *
 * Returns: (transfer full) (nullable): the remote address, or %NULL with
 *   @error set (`G_IO_ERROR_NOT_CONNECTED` if it is not connected)
 */
GSocketAddress *
coop_datagram_get_remote_address (CoopDatagram  *datagram,
                                  GError       **error)
{
  g_return_val_if_fail (COOP_IS_DATAGRAM (datagram), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (datagram->fd < 0)
    {
      g_propagate_error (error, closed_error_new ());
      return NULL;
    }
  return g_socket_get_remote_address (datagram->socket, error);
}

/**
 * coop_datagram_get_fd:
 * @datagram: an endpoint
 *
 * Gets the socket's file descriptor, for socket options Coop does not
 * cover.  It stays the endpoint's: do not close it.
 *
 * Returns: the fd, or -1 once closed
 */
int
coop_datagram_get_fd (CoopDatagram *datagram)
{
  g_return_val_if_fail (COOP_IS_DATAGRAM (datagram), -1);

  return datagram->fd;
}

/**
 * coop_datagram_close:
 * @datagram: an endpoint
 *
 * Closes the endpoint at once: what the socket takes of the queued
 * datagrams is sent, the rest is dropped (UDP promises no delivery
 * anyway); a waiting receive and drains fail with `G_IO_ERROR_CLOSED`.
 * Dropping the last reference closes it too.  Closing twice does nothing.
 */
void
coop_datagram_close (CoopDatagram *datagram)
{
  g_return_if_fail (COOP_IS_DATAGRAM (datagram));
  coop_return_if_wrong_thread (datagram->loop, COOP_INSTEAD_THREADSAFE);

  dgram_shut (datagram);
}

/**
 * coop_datagram_is_closed:
 * @datagram: an endpoint
 *
 * Tells whether [method@Coop.Datagram.close] was called.
 *
 * Returns: whether the endpoint is closed
 */
gboolean
coop_datagram_is_closed (CoopDatagram *datagram)
{
  g_return_val_if_fail (COOP_IS_DATAGRAM (datagram), TRUE);

  return datagram->fd < 0;
}
