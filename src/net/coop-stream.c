/* coop-stream.c: TCP and Unix-socket streams on the loop (asyncio's
 * open_connection); servers are in coop-server.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "coop-private.h"
#include "coop-stream-private.h"

/* A CoopStream is a connected, non-blocking stream socket with a read
 * buffer and a write buffer, driven by the loop's readiness source
 * (coop-io.c), never by one GIO _async call per operation.
 *
 * Reading.  While the stream is open, not at end-of-file and not failed, a
 * reader callback stays registered on the fd (level-triggered), as
 * asyncio's transports keep theirs: registering and unregistering costs an
 * epoll_ctl(), and a busy connection should make none.  The callback reads
 * (one recv(2) of up to READ_CHUNK bytes per iteration) into the buffer, or
 * straight into the result when a read() is waiting on an empty buffer.
 * Without a pending read it keeps reading ahead until 2 × limit bytes are
 * buffered, then pauses (asyncio's pause_reading()).
 * A new read is served from the buffer if it can be; otherwise it tries
 * recv(2) at once — unless the last recv(2) already found the socket
 * drained and the reader callback has not run since, in which case the
 * syscall would only say EAGAIN — and else waits for the reader callback.
 * So a read costs one successful recv(2) and no readiness syscall.
 *
 * One read at a time: its future is a plain CoopFuture, completed by the
 * code above; an internal waiter on it notices when someone else completes
 * it (cancellation) so the stream forgets it.  A read that delivered bytes
 * sets an undo function (coop_future_set_undo()): a task cancelled after
 * the bytes were taken from the buffer but before it resumed gives them
 * back to the front of the buffer, so no data is lost.
 *
 * Writing.  write() sends at once with send(MSG_NOSIGNAL) when nothing is
 * buffered (so there is never a SIGPIPE); what the socket does not take is
 * kept (the GBytes are referenced, not copied) and a writer callback
 * flushes it with sendmsg() as the socket drains.  asyncio's flow control:
 * the stream is "paused" once the buffer exceeds the high-water mark and
 * resumes when a flush brings it down to the low-water mark; drain()
 * finishes at once unless paused.
 *
 * Closing.  close() fails a pending read with G_IO_ERROR_CLOSED, drops the
 * read buffer, flushes the write buffer in the background (the stream keeps
 * a reference on itself meanwhile), then calls coop_loop_forget_fd() and
 * close(2).  abort() drops the write buffer and closes at once.  Dropping
 * the last reference to an open stream aborts it (a pending read holds no
 * reference on its stream; it fails with G_IO_ERROR_CLOSED then).  The
 * stream holds a reference on its pending read's future, so dropping that
 * future without cancelling it leaves the read in place: cancel it.
 *
 * Errors are G_IO_ERROR codes from errno (g_io_error_from_errno():
 * ECONNRESET and EPIPE are G_IO_ERROR_CONNECTION_CLOSED, the same code as
 * G_IO_ERROR_BROKEN_PIPE), plus G_IO_ERROR_CLOSED, PARTIAL_INPUT,
 * MESSAGE_TOO_LARGE and HOST_NOT_FOUND (GResolver's errors are mapped to
 * it), and COOP_ERROR_INVALID_STATE for a second concurrent read.  Read
 * and write errors are sticky.  A read that fails as it starts fails on
 * the loop's next turn (fail_later()), so that awaiting it yields: a task
 * retrying failed reads in a loop never holds the loop.  read_line() over
 * the limit drops the line (asyncio's readline()), so its retry progresses.
 *
 * Lifetimes.  Stream and server are used from their loop's thread only.
 * Neither is ever finalized inside one of its own fd callbacks, and the
 * handles of those callbacks are released from the ready queue (see
 * coop_net_unref_later()), because a callback may remove itself.  When the
 * loop is closed its I/O source drops our callbacks; their destroy
 * notifies notice it and cancel what waits (reads, drains), as coop-io.c
 * cancels its own waiters.  Servers are in coop-server.c.
 */

#define DEFAULT_LIMIT       (64 * 1024)
#define DEFAULT_HIGH_WATER  (64 * 1024)
#define DEFAULT_LOW_WATER   (16 * 1024)
#define READ_CHUNK          (64 * 1024)
#define READ_BUDGET         (4 * READ_CHUNK)  /* per call, for fairness */
#define MAX_IOV             64

typedef enum
{
  READ_SOME,
  READ_EXACTLY,
  READ_LINE,
  READ_UNTIL,
} ReadKind;

struct _CoopStream
{
  GObject      parent_instance;

  CoopLoop    *loop;
  int          fd;
  int          family;

  /* Read side. */
  guint8      *rbuf;
  gsize        rstart;          /* offset of the first unread byte */
  gsize        rlen;            /* bytes buffered */
  gsize        rcap;
  gsize        line_scan;       /* bytes from rstart known to start no separator */
  guint8      *sep;             /* read_until()'s separator (read_line: '\n') */
  gsize        sep_len;
  gboolean     scan_is_until;   /* line_scan was counted for sep, not '\n' */
  gsize        limit;
  gboolean     eof;
  GError      *read_error;
  gboolean     reading;         /* reader callback registered */
  CoopHandle  *reader_handle;   /* ours, released later (see coop_net_unref_later) */
  gboolean     maybe_readable;  /* recv() might find data */
  CoopFuture  *read_future;     /* the pending read (a reference) */
  ReadKind     read_kind;
  gboolean     read_starting;   /* inside stream_read_start(): see fail_later() */
  gsize        read_n;
  CoopWaiter   read_waiter;

  /* Write side. */
  GQueue       wqueue;          /* GBytes */
  gsize        woffset;         /* into the head of wqueue */
  gsize        wsize;
  gsize        high_water;
  gsize        low_water;
  gboolean     paused;
  gboolean     writing;         /* writer callback registered */
  CoopHandle  *writer_handle;
  gboolean     eof_requested;
  gboolean     eof_sent;
  GError      *write_error;
  GQueue       drain_waiters;   /* CoopFuture, a reference each */

  /* Life cycle. */
  gboolean     closing;
  gboolean     closed;
  gboolean     self_ref;        /* held while close() flushes */
  GError      *close_error;
  GQueue       closed_waiters;  /* CoopFuture, a reference each */

  struct sockaddr_storage peer;
  socklen_t    peer_len;        /* 0: not known yet */

  /* The transport seam (coop-stream-private.h): NULL for recv/send. */
  const CoopStreamTransport *transport;
  gpointer     transport_data;
  gboolean     suspended;       /* the fd is someone else's for now */
  gboolean     rewake_pending;  /* a re-poll of the transport is queued */
};

/**
 * CoopStream:
 *
 * A connected TCP or Unix-domain stream socket, as the reader and writer
 * pair of asyncio's `open_connection()` in one object.
 *
 * Make one with [func@Coop.Stream.open_tcp] or [func@Coop.Stream.open_unix]
 * (futures that finish with the connected stream), wrap a connected socket
 * with [ctor@Coop.Stream.new_for_fd], or receive one in the
 * [callback@Coop.StreamHandler] of a [class@Coop.Server].
 *
 * Reads ([method@Coop.Stream.read], [method@Coop.Stream.read_exactly],
 * [method@Coop.Stream.read_line]) return futures that finish with a
 * #GBytes; one read may be pending at a time.  [method@Coop.Stream.write]
 * never blocks: what the socket does not take at once is buffered, and
 * [method@Coop.Stream.drain] waits until the buffer is below its low-water
 * mark, which gives a writer asyncio's back-pressure.
 * [method@Coop.Stream.close] flushes and closes in the background;
 * [method@Coop.Stream.wait_closed] waits for it.
 *
 * Errors are in the `G_IO_ERROR` domain.  A stream is used from the thread
 * of its loop only.
 */
G_DEFINE_FINAL_TYPE (CoopStream, coop_stream, G_TYPE_OBJECT)

static void stream_update_reading (CoopStream *self);
static void stream_loop_gone      (CoopStream *self);
static void stream_update_writing (CoopStream *self);
static void stream_finish_close   (CoopStream *self);
static void read_undo             (CoopFuture *future,
                                   gpointer    data);
static gboolean stream_write      (CoopStream    *stream,
                                   const guint8  *bytes,
                                   gsize          len,
                                   GBytes        *owner,
                                   GError       **error);

/* --- small helpers ------------------------------------------------------------ */

static GPrivate scratch_key = G_PRIVATE_INIT (g_free);

/* One READ_CHUNK buffer per thread: recv(2) lands there, so an idle stream
 * owns no read buffer at all. */
static guint8 *
scratch_get (void)
{
  guint8 *buf = g_private_get (&scratch_key);

  if (G_UNLIKELY (buf == NULL))
    {
      buf = g_malloc (READ_CHUNK);
      g_private_set (&scratch_key, buf);
    }
  return buf;
}

/* Releases a reference from the ready queue, never inside a callback that
 * may be running: a stream or server is never finalized inside one of its
 * own fd callbacks, and a reader or writer handle removed from inside its
 * callback is never freed before that callback returns. */
void
coop_net_unref_later (CoopLoop      *loop,
                      CoopReadyFunc  unref,
                      gpointer       data)
{
  coop_loop_push_ready (loop, unref, unref, data);
}

/* Every read's undo holds the stream: the reference goes with
 * coop_object_unref(), which skips GLib's type check and toggle test while
 * others hold the stream too. */
static void
stream_unref (gpointer data)
{
  coop_object_unref (data);
}

static void
stream_unref_later (gpointer data)
{
  coop_net_unref_later (COOP_STREAM (data)->loop, stream_unref, data);
}

static GError *
closed_error_new (void)
{
  return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED, "The stream is closed");
}

GError *
coop_net_errno_error_new (int         err,
                          const char *what)
{
  return g_error_new (G_IO_ERROR, g_io_error_from_errno (err), "%s: %s", what, g_strerror (err));
}

void
coop_net_complete_queue (GQueue       *queue,
                         const GError *error)
{
  CoopFuture *future;

  while ((future = g_queue_pop_head (queue)) != NULL)
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

/* Keeps a queue of waiting futures from growing with ones that were
 * cancelled meanwhile. */
void
coop_net_queue_prune (GQueue *queue)
{
  GList *l, *next;

  if (queue->length < 16)
    return;
  for (l = queue->head; l != NULL; l = next)
    {
      next = l->next;
      if (coop_future_is_done (l->data))
        {
          g_object_unref (l->data);
          g_queue_delete_link (queue, l);
        }
    }
}

/* "127.0.0.1:80", "[::1]:80", "unix:/path" */
char *
coop_net_describe_native (const struct sockaddr *sa,
                          socklen_t              len,
                          const char            *unix_path)
{
  char host[INET6_ADDRSTRLEN];

  if (sa->sa_family == AF_INET && len >= sizeof (struct sockaddr_in))
    {
      const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

      inet_ntop (AF_INET, &in->sin_addr, host, sizeof host);
      return g_strdup_printf ("%s:%u", host, ntohs (in->sin_port));
    }
  if (sa->sa_family == AF_INET6 && len >= sizeof (struct sockaddr_in6))
    {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

      inet_ntop (AF_INET6, &in6->sin6_addr, host, sizeof host);
      return g_strdup_printf ("[%s]:%u", host, ntohs (in6->sin6_port));
    }
  if (sa->sa_family == AF_UNIX)
    return g_strdup_printf ("unix:%s", unix_path != NULL ? unix_path : "");
  return g_strdup ("?");
}

/* --- the read buffer ------------------------------------------------------------ */

static void
rbuf_reserve (CoopStream *self,
              gsize       extra)
{
  gsize cap;
  guint8 *data;

  if (self->rstart + self->rlen + extra <= self->rcap)
    return;
  if (self->rlen + extra <= self->rcap)
    {
      memmove (self->rbuf, self->rbuf + self->rstart, self->rlen);
      self->rstart = 0;
      return;
    }
  cap = MAX (MAX (self->rcap * 2, self->rlen + extra), 4096);
  data = g_malloc (cap);
  if (self->rlen > 0)
    memcpy (data, self->rbuf + self->rstart, self->rlen);
  g_free (self->rbuf);
  self->rbuf = data;
  self->rcap = cap;
  self->rstart = 0;
}

static void
rbuf_append (CoopStream   *self,
             const guint8 *data,
             gsize         n)
{
  rbuf_reserve (self, n);
  memcpy (self->rbuf + self->rstart + self->rlen, data, n);
  self->rlen += n;
}

/* Puts bytes back in front (a read's undo). */
static void
rbuf_prepend (CoopStream   *self,
              const guint8 *data,
              gsize         n)
{
  if (self->rstart < n)
    {
      gsize cap = MAX (self->rlen + n, 4096);
      guint8 *buf = g_malloc (cap);

      if (self->rlen > 0)
        memcpy (buf + n, self->rbuf + self->rstart, self->rlen);
      g_free (self->rbuf);
      self->rbuf = buf;
      self->rcap = cap;
      self->rstart = n;
    }
  self->rstart -= n;
  memcpy (self->rbuf + self->rstart, data, n);
  self->rlen += n;
  self->line_scan = 0;
}

static void
rbuf_clear (CoopStream *self)
{
  g_clear_pointer (&self->rbuf, g_free);
  self->rstart = self->rlen = self->rcap = self->line_scan = 0;
}

/* Throws @n bytes off the front away. */
static void
rbuf_drop (CoopStream *self,
           gsize       n)
{
  self->rstart += n;
  self->rlen -= n;
  self->line_scan = self->line_scan > n ? self->line_scan - n : 0;
  if (self->rlen == 0)
    rbuf_clear (self);   /* an idle stream holds no buffer */
}

/* Takes @n bytes off the front. */
static GBytes *
rbuf_take (CoopStream *self,
           gsize       n)
{
  GBytes *bytes = g_bytes_new (self->rbuf != NULL ? self->rbuf + self->rstart : NULL, n);

  rbuf_drop (self, n);
  return bytes;
}

/* --- reads ------------------------------------------------------------------------ */

/* Someone else completed the pending read (it was cancelled). */
static void
read_waiter_done (CoopWaiter *waiter,
                  CoopFuture *future)
{
  CoopStream *self = waiter->data;

  if (self->read_future != future)
    return;
  self->read_future = NULL;
  /* Never drop a future's reference from inside its own completion. */
  coop_loop_push_ready (self->loop, (CoopReadyFunc) g_object_unref,
                        (CoopReadyFunc) g_object_unref, future);
}

/* Detaches the pending read; the caller completes it and drops the
 * returned reference. */
static CoopFuture *
read_steal (CoopStream *self)
{
  CoopFuture *future = self->read_future;

  self->read_future = NULL;
  coop_future_remove_waiter (future, &self->read_waiter);
  return future;
}

static void
read_deliver (CoopStream *self,
              GBytes     *bytes)
{
  CoopFuture *future = read_steal (self);

  if (g_bytes_get_size (bytes) > 0)
    coop_future_set_undo (future, read_undo, coop_object_ref (self), stream_unref_later);
  coop_future_set_boxed (future, G_TYPE_BYTES, bytes);
  g_bytes_unref (bytes);
  coop_object_unref (future);
}

/* A read failing as it starts fails on the loop's next turn, not at once:
 * its await then yields, so a task that retries failed reads in a loop
 * (on a stream that ended, failed or closed, or beside another read)
 * never holds the loop, which goes on serving everything else. */
typedef struct
{
  CoopFuture *future;
  GError     *error;
} LateFailure;

static void
late_failure_describe (CoopFuture *future,
                       gpointer    data,
                       GString    *out)
{
  g_string_append_printf (out, "stream read, failing: %s", ((LateFailure *) data)->error->message);
}

/* Runs from the ready queue, or at once on a closed loop. */
static void
late_failure_run (gpointer data)
{
  LateFailure *late = data;

  coop_future_set_describe (late->future, NULL, NULL);
  if (!coop_future_is_done (late->future))   /* else cancelled meanwhile */
    coop_future_take_error (late->future, late->error);
  else
    g_error_free (late->error);
  g_object_unref (late->future);
  g_free (late);
}

static void
fail_later (CoopStream *self,
            CoopFuture *future,
            GError     *error)
{
  LateFailure *late = g_new (LateFailure, 1);

  late->future = g_object_ref (future);
  late->error = error;
  coop_future_set_describe (future, late_failure_describe, late);
  coop_loop_push_ready (self->loop, late_failure_run, late_failure_run, late);
}

static void
read_fail (CoopStream *self,
           GError     *error)
{
  CoopFuture *future = read_steal (self);

  if (self->read_starting)
    fail_later (self, future, error);
  else
    coop_future_take_error (future, error);
  g_object_unref (future);
}

/* read_until(): asyncio 3.11's readuntil() limits, with readline()'s
 * dropping so that a retry progresses.  The separator may start at most
 * limit bytes in; one found further fails the read and goes with what
 * precedes it.  Without a separator, more than limit bytes that could not
 * start one fail the read and go; the last sep_len - 1 bytes stay, since
 * they may be the start of a separator still arriving.  line_scan counts
 * the bytes known to start no separator, so each byte is searched once. */
static gboolean
read_until_try_complete (CoopStream *self)
{
  const guint8 *head = self->rbuf != NULL ? self->rbuf + self->rstart : NULL;
  const guint8 *found = NULL;
  gsize scanned;

  if (self->rlen >= self->sep_len && self->rlen - self->line_scan >= self->sep_len)
    found = memmem (head + self->line_scan, self->rlen - self->line_scan, self->sep, self->sep_len);
  if (found != NULL)
    {
      gsize at = (gsize) (found - head);

      if (at > self->limit)
        {
          rbuf_drop (self, at + self->sep_len);
          read_fail (self, g_error_new (G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                                        "The separator was found %" G_GSIZE_FORMAT " bytes in, beyond "
                                        "the limit (%" G_GSIZE_FORMAT "); the bytes up to and "
                                        "including it were dropped", at, self->limit));
          return TRUE;
        }
      read_deliver (self, rbuf_take (self, at + self->sep_len));
      return TRUE;
    }
  scanned = self->rlen >= self->sep_len ? self->rlen - self->sep_len + 1 : 0;
  self->line_scan = MAX (self->line_scan, scanned);
  if (scanned > self->limit)
    {
      rbuf_drop (self, scanned);
      read_fail (self, g_error_new (G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                                    "No separator within the limit (%" G_GSIZE_FORMAT " bytes > %"
                                    G_GSIZE_FORMAT "); they were dropped", scanned, self->limit));
      return TRUE;
    }
  return FALSE;
}

/* Completes the pending read if what is buffered (or the end of the
 * stream, or an error) allows it.  Returns whether it did. */
static gboolean
read_try_complete (CoopStream *self)
{
  switch (self->read_kind)
    {
    case READ_SOME:
      if (self->rlen > 0)
        {
          read_deliver (self, rbuf_take (self, MIN (self->read_n, self->rlen)));
          return TRUE;
        }
      break;

    case READ_EXACTLY:
      if (self->rlen >= self->read_n)
        {
          read_deliver (self, rbuf_take (self, self->read_n));
          return TRUE;
        }
      break;

    case READ_LINE:
      {
        const guint8 *head = self->rbuf != NULL ? self->rbuf + self->rstart : NULL;
        const guint8 *nl = NULL;

        if (self->rlen > self->line_scan)
          nl = memchr (head + self->line_scan, '\n', self->rlen - self->line_scan);
        if (nl != NULL)
          {
            gsize line = (gsize) (nl - head);   /* without the '\n' */

            /* Over the limit: the line goes, '\n' included, as asyncio's
             * readline() drops it, so that a retry reads the next line
             * (leaving it would fail every retry at once, for ever). */
            if (line > self->limit)
              {
                rbuf_drop (self, line + 1);
                read_fail (self, g_error_new (G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                                              "The line is longer than the limit (%" G_GSIZE_FORMAT
                                              " bytes > %" G_GSIZE_FORMAT "); it was dropped",
                                              line, self->limit));
                return TRUE;
              }
            read_deliver (self, rbuf_take (self, line + 1));
            return TRUE;
          }
        self->line_scan = self->rlen;
        if (self->rlen > self->limit)
          {
            gsize dropped = self->rlen;

            /* No end in sight: what is buffered goes (asyncio clears its
             * buffer); the rest of that line will read as a line. */
            rbuf_drop (self, dropped);
            read_fail (self, g_error_new (G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                                          "No end of line within the limit (%" G_GSIZE_FORMAT
                                          " bytes > %" G_GSIZE_FORMAT "); they were dropped",
                                          dropped, self->limit));
            return TRUE;
          }
      }
      break;

    case READ_UNTIL:
      if (read_until_try_complete (self))
        return TRUE;
      break;
    }

  if (self->read_error != NULL)
    {
      read_fail (self, g_error_copy (self->read_error));
      return TRUE;
    }
  if (self->eof)
    {
      if (self->read_kind == READ_UNTIL)
        read_fail (self, g_error_new (G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                                      "The stream ended after %" G_GSIZE_FORMAT " bytes without the "
                                      "separator; they stay in the read buffer", self->rlen));
      else if (self->read_kind == READ_EXACTLY)
        read_fail (self, g_error_new (G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                                      "The stream ended after %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
                                      " bytes; they stay in the read buffer",
                                      self->rlen, self->read_n));
      else
        read_deliver (self, rbuf_take (self, self->rlen));
      return TRUE;
    }
  return FALSE;
}

/* One recv(2).  Returns the byte count, 0 at end-of-stream (self->eof is
 * set), or -1 (would block, or self->read_error is set). */
static gssize
stream_recv (CoopStream *self,
             guint8     *buf,
             gsize       len)
{
  gssize n;
  int err;

  if (self->transport != NULL)
    {
      GError *error = NULL;

      n = self->transport->recv (self->transport_data, buf, len, &error);
      if (n > 0)
        return n;   /* short or not, the transport may hold more */
      if (n == 0)
        {
          self->eof = TRUE;
          return 0;
        }
      self->maybe_readable = FALSE;
      if (error != NULL)
        self->read_error = error;
      return -1;
    }

  do
    n = recv (self->fd, buf, len, 0);
  while (G_UNLIKELY (n < 0 && errno == EINTR));

  if (G_LIKELY (n > 0))
    {
      /* A short read drained the socket: the next recv() would block. */
      if ((gsize) n < len)
        self->maybe_readable = FALSE;
      return n;
    }
  if (n == 0)
    {
      self->eof = TRUE;
      return 0;
    }
  err = errno;
  self->maybe_readable = FALSE;
  if (err == EAGAIN || err == EWOULDBLOCK)
    return -1;
  self->read_error = coop_net_errno_error_new (err, "Error reading from the connection");
  return -1;
}

/* Serves the pending read from the buffer and, if @may_recv, from the
 * socket; without a pending read, reads ahead (once).  Then (un)registers
 * the reader as needed. */
static void
stream_pump (CoopStream *self,
             gboolean    may_recv)
{
  gsize budget = READ_BUDGET;

  for (;;)
    {
      guint8 *scratch;
      gssize n;

      if (self->read_future != NULL && read_try_complete (self))
        break;
      if (!may_recv || self->eof || self->read_error != NULL || self->closing || self->fd < 0 ||
          self->suspended)
        break;

      scratch = scratch_get ();
      if (self->read_future != NULL && self->read_kind == READ_SOME && self->rlen == 0)
        {
          /* Straight into the result: the rest stays in the socket. */
          n = stream_recv (self, scratch, MIN (self->read_n, READ_CHUNK));
          if (n > 0)
            {
              read_deliver (self, g_bytes_new (scratch, n));
              break;
            }
        }
      else
        {
          if (self->read_future == NULL && self->rlen >= 2 * self->limit)
            break;
          n = stream_recv (self, scratch, READ_CHUNK);
          if (n > 0)
            rbuf_append (self, scratch, n);
        }

      if (n < 0 && self->read_error == NULL)
        break;              /* would block: the reader callback takes over */
      if (n > 0)
        {
          budget = (gsize) n < budget ? budget - n : 0;
          /* Read ahead only once; for a read, go on while data may wait. */
          may_recv = self->read_future != NULL && self->maybe_readable && budget > 0;
        }
      /* EOF or an error: loop once more so the read sees it. */
    }
  stream_update_reading (self);
}

static void
stream_readable_cb (gpointer data)
{
  CoopStream *self = data;

  self->maybe_readable = TRUE;
  stream_pump (self, TRUE);
}

/* The loop dropped our reader or writer without being asked: it was
 * closed.  What waits is cancelled, as coop-io.c cancels its waiters, and
 * a background flush ends. */
static void
stream_loop_gone (CoopStream *self)
{
  GError *error;

  if (!coop_loop_is_closed (self->loop))
    return;   /* someone replaced our callback on the fd: their business */
  g_object_ref (self);
  error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "The loop was closed");
  if (self->read_future != NULL)
    read_fail (self, g_error_copy (error));
  coop_net_complete_queue (&self->drain_waiters, error);
  g_error_free (error);
  if (self->self_ref)
    stream_finish_close (self);
  g_object_unref (self);
}

static void
stream_reader_removed (gpointer data)
{
  CoopStream *self = data;

  if (!self->reading)
    return;   /* we removed it */
  self->reading = FALSE;
  stream_loop_gone (self);
}

static void
stream_writer_removed (gpointer data)
{
  CoopStream *self = data;

  if (!self->writing)
    return;
  self->writing = FALSE;
  stream_loop_gone (self);
}

/* A transport may hold data the fd no longer signals (a TLS record read
 * in part): while the reader wants more and the last read did not say
 * "would block", the pump runs again from the ready queue, as a
 * level-triggered fd would make it. */
static void
stream_rewake_cb (gpointer data)
{
  CoopStream *self = data;

  self->rewake_pending = FALSE;
  if (self->reading && self->maybe_readable && !self->closing)
    stream_pump (self, TRUE);
  stream_unref_later (self);
}

static void
stream_rewake_discard (gpointer data)
{
  CoopStream *self = data;

  self->rewake_pending = FALSE;
  g_object_unref (self);
}

static void
stream_update_reading (CoopStream *self)
{
  gboolean want = !self->closing && !self->eof && self->read_error == NULL && self->fd >= 0 &&
                  !self->suspended &&
                  (self->read_future != NULL || self->rlen < 2 * self->limit);

  if (G_UNLIKELY (self->transport != NULL) && want && self->maybe_readable &&
      !self->rewake_pending && !coop_loop_is_closed (self->loop))
    {
      self->rewake_pending = TRUE;
      coop_loop_push_ready (self->loop, stream_rewake_cb, stream_rewake_discard,
                            g_object_ref (self));
    }
  if (want == self->reading)
    return;
  if (want)
    {
      CoopHandle *handle;

      if (coop_loop_is_closed (self->loop))
        return;
      self->reading = TRUE;
      handle = coop_loop_add_reader (self->loop, self->fd, stream_readable_cb, self,
                                     stream_reader_removed);
      if (handle == NULL)
        self->reading = FALSE;
      if (self->reader_handle != NULL)
        coop_net_unref_later (self->loop, (CoopReadyFunc) coop_handle_unref, self->reader_handle);
      self->reader_handle = handle;
    }
  else
    {
      self->reading = FALSE;   /* first: our remove notify checks it */
      if (!coop_loop_is_closed (self->loop))
        coop_loop_remove_reader (self->loop, self->fd);
    }
}

/* The undo of a read whose bytes were thrown away (the awaiting task was
 * cancelled before it resumed): they go back to the front of the buffer. */
static void
read_undo (CoopFuture *future,
           gpointer    data)
{
  CoopStream *self = data;
  GBytes *bytes;
  gsize size;
  gconstpointer bytes_data;

  if (self->closing)
    return;
  bytes = (GBytes *) coop_future_get_boxed (future, NULL);
  if (bytes == NULL)
    return;
  bytes_data = g_bytes_get_data (bytes, &size);
  if (size == 0)
    return;
  rbuf_prepend (self, bytes_data, size);
  if (self->read_future != NULL)
    stream_pump (self, FALSE);
}

static void
stream_describe (CoopFuture *future,
                 gpointer    data,
                 GString    *out)
{
  CoopStream *self = data;

  if (future == self->read_future)
    g_string_append_printf (out, "stream %p %s (fd %d, %" G_GSIZE_FORMAT " bytes buffered)",
                            (gpointer) self,
                            self->read_kind == READ_SOME ? "read" :
                            self->read_kind == READ_EXACTLY ? "read_exactly" :
                            self->read_kind == READ_UNTIL ? "read_until" : "read_line",
                            self->fd, self->rlen);
  else
    g_string_append_printf (out, "stream %p drain (fd %d, %" G_GSIZE_FORMAT " bytes to write)",
                            (gpointer) self, self->fd, self->wsize);
}

static CoopFuture *
stream_read_start (CoopStream *self,
                   ReadKind    kind,
                   gsize       n)
{
  CoopFuture *future = coop_future_new (self->loop);
  GError *error = NULL;

  coop_future_set_describe (future, stream_describe, self);

  if (self->closing)
    {
      fail_later (self, future, closed_error_new ());
      return future;
    }
  if (self->read_future != NULL)
    {
      fail_later (self, future, g_error_new_literal (COOP_ERROR, COOP_ERROR_INVALID_STATE,
                                                     "Another read is already waiting on this stream; "
                                                     "a stream allows one read at a time"));
      return future;
    }
  if (!coop_loop_check_usable (self->loop, &error))
    {
      coop_future_take_error (future, error);
      return future;
    }

  /* line_scan means "no separator starts here": reset it when the
   * separator changes. */
  if (kind == READ_UNTIL || (kind == READ_LINE && self->scan_is_until))
    self->line_scan = 0;
  if (kind == READ_LINE || kind == READ_UNTIL)
    self->scan_is_until = kind == READ_UNTIL;

  self->read_future = coop_object_ref (future);
  self->read_kind = kind;
  self->read_n = n;
  self->read_waiter.func = read_waiter_done;
  self->read_waiter.data = self;
  coop_future_add_waiter (future, &self->read_waiter);
  self->read_starting = TRUE;
  stream_pump (self, self->maybe_readable);
  self->read_starting = FALSE;
  return future;
}

/* --- writes ------------------------------------------------------------------------- */

static void
wqueue_clear (CoopStream *self)
{
  g_queue_clear_full (&self->wqueue, (GDestroyNotify) g_bytes_unref);
  self->woffset = 0;
  self->wsize = 0;
}

static void
wqueue_consume (CoopStream *self,
                gsize       n)
{
  self->wsize -= n;
  while (n > 0)
    {
      GBytes *head = g_queue_peek_head (&self->wqueue);
      gsize left = g_bytes_get_size (head) - self->woffset;

      if (n < left)
        {
          self->woffset += n;
          return;
        }
      n -= left;
      g_bytes_unref (g_queue_pop_head (&self->wqueue));
      self->woffset = 0;
    }
}

static void
stream_set_write_error (CoopStream *self,
                        int         err)
{
  if (self->write_error == NULL)
    self->write_error = coop_net_errno_error_new (err, "Error writing to the connection");
}

/* Sends what the socket takes.  Sets write_error on failure. */
static void
stream_flush (CoopStream *self)
{
  if (self->suspended)
    return;
  while (self->transport != NULL && self->wsize > 0)
    {
      /* One buffer at a time, from the same place after "would block". */
      gsize size;
      const guint8 *data = g_bytes_get_data (g_queue_peek_head (&self->wqueue), &size);
      GError *error = NULL;
      gssize n = self->transport->send (self->transport_data, data + self->woffset,
                                        size - self->woffset, &error);

      if (n < 0)
        {
          if (error != NULL && self->write_error == NULL)
            self->write_error = error;
          else
            g_clear_error (&error);
          return;
        }
      wqueue_consume (self, n);
    }
  while (self->wsize > 0)
    {
      struct iovec iov[MAX_IOV];
      struct msghdr msg = { 0, };
      gsize offset = self->woffset;
      gsize total = 0;
      GList *l;
      int n_iov = 0;
      gssize n;

      for (l = self->wqueue.head; l != NULL && n_iov < MAX_IOV; l = l->next)
        {
          gsize size;
          const guint8 *data = g_bytes_get_data (l->data, &size);

          iov[n_iov].iov_base = (void *) (data + offset);
          iov[n_iov].iov_len = size - offset;
          total += size - offset;
          offset = 0;
          n_iov++;
        }
      msg.msg_iov = iov;
      msg.msg_iovlen = n_iov;
      do
        n = sendmsg (self->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      while (n < 0 && errno == EINTR);
      if (n < 0)
        {
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            stream_set_write_error (self, errno);
          return;
        }
      wqueue_consume (self, n);
      if ((gsize) n < total)
        return;   /* the socket is full */
    }
}

/* A graceful close ends a transport's writing side before the fd closes
 * (TLS's close_notify); an abort does not. */
static void
stream_transport_goodbye (CoopStream *self)
{
  if (self->transport != NULL && self->transport_data != NULL && !self->eof_sent &&
      self->write_error == NULL && !self->suspended && self->fd >= 0)
    {
      self->eof_sent = TRUE;
      self->transport->shutdown_write (self->transport_data, NULL);
    }
}

/* After the buffer changed: flow control, end-of-stream, the writer, a
 * close that waited for the flush.  May drop the last reference. */
static void
stream_after_write (CoopStream *self)
{
  if (self->write_error != NULL)
    {
      if (self->closing && self->wsize > 0 && self->close_error == NULL)
        self->close_error = g_error_copy (self->write_error);
      wqueue_clear (self);
      self->paused = FALSE;
      coop_net_complete_queue (&self->drain_waiters, self->write_error);
    }
  else if (self->paused && self->wsize <= self->low_water)
    {
      self->paused = FALSE;
      coop_net_complete_queue (&self->drain_waiters, NULL);
    }
  if (self->wsize == 0 && self->write_error == NULL && self->eof_requested && !self->eof_sent &&
      self->fd >= 0)
    {
      self->eof_sent = TRUE;
      if (self->transport != NULL)
        {
          GError *error = NULL;

          if (!self->transport->shutdown_write (self->transport_data, &error))
            self->write_error = error;
        }
      else if (shutdown (self->fd, SHUT_WR) != 0 && errno != ENOTCONN)
        stream_set_write_error (self, errno);
    }
  stream_update_writing (self);
  if (self->closing && !self->closed && self->wsize == 0)
    {
      stream_transport_goodbye (self);
      stream_finish_close (self);
    }
}

static void
stream_writable_cb (gpointer data)
{
  CoopStream *self = data;

  stream_flush (self);
  stream_after_write (self);
}

static void
stream_update_writing (CoopStream *self)
{
  gboolean want = self->wsize > 0 && self->write_error == NULL && self->fd >= 0 && !self->suspended;

  if (want == self->writing)
    return;
  if (want)
    {
      CoopHandle *handle;

      if (coop_loop_is_closed (self->loop))
        return;
      self->writing = TRUE;
      handle = coop_loop_add_writer (self->loop, self->fd, stream_writable_cb, self,
                                     stream_writer_removed);
      if (handle == NULL)
        self->writing = FALSE;
      if (self->writer_handle != NULL)
        coop_net_unref_later (self->loop, (CoopReadyFunc) coop_handle_unref, self->writer_handle);
      self->writer_handle = handle;
    }
  else
    {
      self->writing = FALSE;
      if (!coop_loop_is_closed (self->loop))
        coop_loop_remove_writer (self->loop, self->fd);
    }
}

/* --- closing ---------------------------------------------------------------------------- */

/* The read side ends: a waiting read fails, the buffer goes. */
static void
stream_shut_reading (CoopStream *self)
{
  if (self->read_future != NULL)
    read_fail (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                          "The stream was closed while a read was waiting"));
  rbuf_clear (self);
  stream_update_reading (self);
}

/* Closes the fd and completes everything waiting.  Drops the reference
 * close() took, so it may finalize the stream: call it last. */
static void
stream_finish_close (CoopStream *self)
{
  GError *drain_error;

  if (self->closed)
    return;
  self->closed = TRUE;
  self->closing = TRUE;
  self->reading = FALSE;
  self->writing = FALSE;
  if (self->fd >= 0)
    {
      /* Before close(2): an fd closed while registered vanishes from epoll
       * without an event, and its number may be reused at once.  (A closed
       * loop has dropped every watch already.) */
      if (!coop_loop_is_closed (self->loop))
        coop_loop_forget_fd (self->loop, self->fd);
      close (self->fd);
      self->fd = -1;
    }
  if (self->transport != NULL && self->transport->free != NULL)
    self->transport->free (self->transport_data);
  self->transport_data = NULL;
  wqueue_clear (self);
  self->paused = FALSE;

  drain_error = self->write_error != NULL ? g_error_copy (self->write_error) : closed_error_new ();
  coop_net_complete_queue (&self->drain_waiters, drain_error);
  g_error_free (drain_error);
  coop_net_complete_queue (&self->closed_waiters, self->close_error);

  if (self->self_ref)
    {
      self->self_ref = FALSE;
      stream_unref_later (self);
    }
}

/* --- GObject ------------------------------------------------------------------------------ */

static void
coop_stream_dispose (GObject *object)
{
  CoopStream *self = COOP_STREAM (object);

  if (!self->closed)
    {
      self->closing = TRUE;
      stream_shut_reading (self);
      stream_finish_close (self);
    }

  G_OBJECT_CLASS (coop_stream_parent_class)->dispose (object);
}

static void
coop_stream_finalize (GObject *object)
{
  CoopStream *self = COOP_STREAM (object);

  g_assert (self->read_future == NULL);
  g_clear_pointer (&self->reader_handle, coop_handle_unref);
  g_clear_pointer (&self->writer_handle, coop_handle_unref);
  rbuf_clear (self);
  g_free (self->sep);
  wqueue_clear (self);
  g_clear_error (&self->read_error);
  g_clear_error (&self->write_error);
  g_clear_error (&self->close_error);
  g_clear_object (&self->loop);

  G_OBJECT_CLASS (coop_stream_parent_class)->finalize (object);
}

static void
coop_stream_class_init (CoopStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = coop_stream_dispose;
  object_class->finalize = coop_stream_finalize;
}

static void
coop_stream_init (CoopStream *self)
{
  self->fd = -1;
  self->limit = DEFAULT_LIMIT;
  self->high_water = DEFAULT_HIGH_WATER;
  self->low_water = DEFAULT_LOW_WATER;
  self->maybe_readable = TRUE;
  g_queue_init (&self->wqueue);
  g_queue_init (&self->drain_waiters);
  g_queue_init (&self->closed_waiters);
}

/* Adopts a connected, non-blocking stream socket. */
CoopStream *
coop_stream_adopt_fd (CoopLoop              *loop,
                      int                    fd,
                      const struct sockaddr *peer,
                      socklen_t              peer_len)
{
  CoopStream *self = g_object_new (COOP_TYPE_STREAM, NULL);
  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;

  self->loop = g_object_ref (loop);
  self->fd = fd;
  if (getsockname (fd, (struct sockaddr *) &local, &local_len) == 0)
    self->family = local.ss_family;
  if (self->family == AF_INET || self->family == AF_INET6)
    {
      /* As asyncio: small writes go out at once. */
      int one = 1;

      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
  if (peer != NULL && peer_len > 0 && peer_len <= sizeof self->peer)
    {
      memcpy (&self->peer, peer, peer_len);
      self->peer_len = peer_len;
    }
  stream_update_reading (self);
  return self;
}

/* --- the public stream API ------------------------------------------------------------------ */

/**
 * coop_stream_new_for_fd:
 * @loop: the loop
 * @fd: a connected stream socket (TCP, or `AF_UNIX` `SOCK_STREAM`)
 * @error: return location for an error
 *
 * Adopts @fd, a connected stream socket, which is made non-blocking.  The
 * stream owns it from then on and closes it.  If this fails, @fd is left
 * alone (still the caller's): `G_IO_ERROR_INVALID_ARGUMENT` if it is not an
 * open stream socket.
 *
 * Returns: (transfer full) (nullable): the stream
 */
CoopStream *
coop_stream_new_for_fd (CoopLoop  *loop,
                        int        fd,
                        GError   **error)
{
  struct stat st;
  int type = 0;
  socklen_t len = sizeof type;
  int flags;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!coop_loop_check_usable (loop, error))
    return NULL;
  if (fd < 0 || fstat (fd, &st) != 0 || !S_ISSOCK (st.st_mode) ||
      getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "File descriptor %d is not an open stream socket", fd);
      return NULL;
    }
  flags = fcntl (fd, F_GETFL);
  if (flags < 0 || (!(flags & O_NONBLOCK) && fcntl (fd, F_SETFL, flags | O_NONBLOCK) != 0))
    {
      int err = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "Cannot make file descriptor %d non-blocking: %s", fd, g_strerror (err));
      return NULL;
    }
  return coop_stream_adopt_fd (loop, fd, NULL, 0);
}

/**
 * coop_stream_read:
 * @stream: a stream
 * @max: the most bytes to read
 *
 * Reads up to @max bytes, as asyncio's `read(n)`: the future finishes with
 * a #GBytes of 1 to @max bytes as soon as any data is there, or an empty
 * #GBytes at the end of the stream (and for @max 0).  Data that arrived
 * before a failure is delivered first; then the failure is reported by this
 * read and every later one (`G_IO_ERROR_CONNECTION_CLOSED` when the peer
 * reset the connection).
 *
 * A stream allows one read at a time: a read started while another is
 * waiting fails with %COOP_ERROR_INVALID_STATE (as asyncio raises).  A read
 * waiting when the stream is closed fails with `G_IO_ERROR_CLOSED`.  A read
 * that fails as it starts (the stream is closed or failed, another read
 * waits, ...) completes on the loop's next turn, never at once: its await
 * lets the loop run, so a task retrying failed reads cannot starve it.
 * Cancelling a read loses nothing: if the awaiting task is cancelled after
 * the bytes were taken from the buffer but before it resumed,
 * [func@Coop.await] puts them back.
 *
 * Returns: (transfer full): a future for a #GBytes (read it with
 *   [method@Coop.Future.get_bytes])
 */
CoopFuture *
coop_stream_read (CoopStream *stream,
                  gsize       max)
{
  CoopFuture *future;

  g_return_val_if_fail (COOP_IS_STREAM (stream), NULL);
  coop_return_val_if_wrong_thread (stream->loop, COOP_INSTEAD_THREADSAFE, NULL);

  if (max == 0 && !stream->closing && stream->read_future == NULL)
    {
      GBytes *empty = g_bytes_new (NULL, 0);

      future = coop_future_new (stream->loop);
      coop_future_set_boxed (future, G_TYPE_BYTES, empty);
      g_bytes_unref (empty);
      return future;
    }
  return stream_read_start (stream, READ_SOME, max);
}

/**
 * coop_stream_read_exactly:
 * @stream: a stream
 * @n: how many bytes to read
 *
 * Reads exactly @n bytes, as asyncio's `readexactly(n)`.  If the stream ends
 * first, the future fails with `G_IO_ERROR_PARTIAL_INPUT` (asyncio's
 * `IncompleteReadError`); the bytes that did arrive stay in the read buffer
 * ([method@Coop.Stream.get_read_buffer_size] counts them,
 * [method@Coop.Stream.read] returns them), and the error message gives
 * their number.  See [method@Coop.Stream.read] for errors and
 * cancellation.
 *
 * Returns: (transfer full): a future for a #GBytes of @n bytes
 */
CoopFuture *
coop_stream_read_exactly (CoopStream *stream,
                          gsize       n)
{
  g_return_val_if_fail (COOP_IS_STREAM (stream), NULL);
  coop_return_val_if_wrong_thread (stream->loop, COOP_INSTEAD_THREADSAFE, NULL);

  return stream_read_start (stream, READ_EXACTLY, n);
}

/**
 * coop_stream_read_line:
 * @stream: a stream
 *
 * Reads one line, up to and including its `'\n'`, as asyncio's
 * `readline()`.  At the end of the stream it finishes with what is left (a
 * last line without `'\n'`, or an empty #GBytes once nothing is left).
 *
 * A line longer than the stream's limit ([method@Coop.Stream.set_limit],
 * not counting the `'\n'`), or more than limit bytes buffered without a
 * `'\n'`, fails the read with `G_IO_ERROR_MESSAGE_TOO_LARGE`, and its data
 * is dropped, as asyncio's `readline()` drops it (raising `ValueError`):
 * a line whose `'\n'` is buffered goes up to and including its `'\n'`, so
 * the next read_line() reads the next line; without a `'\n'`, everything
 * buffered goes, and the rest of that line, once it arrives, reads as a
 * line of its own.  So a handler that skips bad lines may simply read on.
 * To accept longer lines, raise the limit beforehand.
 *
 * Returns: (transfer full): a future for a #GBytes holding the line
 */
CoopFuture *
coop_stream_read_line (CoopStream *stream)
{
  g_return_val_if_fail (COOP_IS_STREAM (stream), NULL);
  coop_return_val_if_wrong_thread (stream->loop, COOP_INSTEAD_THREADSAFE, NULL);

  return stream_read_start (stream, READ_LINE, 0);
}

/**
 * coop_stream_read_until:
 * @stream: a stream
 * @separator: (array length=separator_len) (element-type guint8): the
 *   bytes that end what is read, at least one
 * @separator_len: the length of @separator
 *
 * Reads up to and including the first occurrence of @separator, as
 * asyncio's `readuntil()`.  The separator may be of any length, and may
 * arrive split across several receives.  @separator is copied.
 *
 * The limit ([method@Coop.Stream.set_limit]) counts as in asyncio 3.11: the
 * separator may start at most limit bytes in.  Over it, the read fails
 * with `G_IO_ERROR_MESSAGE_TOO_LARGE` and, unlike asyncio's `readuntil()`
 * (which leaves its buffer as it is, so that a retry fails again at once)
 * but as [method@Coop.Stream.read_line] and asyncio's `readline()`, the
 * data goes: up to and including the separator if it was found, else
 * every buffered byte that cannot be the start of a separator.  So a retry
 * reads on.  If the stream ends before a separator, the read fails with
 * `G_IO_ERROR_PARTIAL_INPUT` (asyncio's `IncompleteReadError`) and the
 * bytes stay in the read buffer ([method@Coop.Stream.read] returns them),
 * as for [method@Coop.Stream.read_exactly].  See [method@Coop.Stream.read]
 * for other errors and cancellation.
 *
 * Returns: (transfer full): a future for a #GBytes ending with @separator
 *   (read it with [method@Coop.Future.get_bytes])
 */
CoopFuture *
coop_stream_read_until (CoopStream   *stream,
                        const guint8 *separator,
                        gsize         separator_len)
{
  g_return_val_if_fail (COOP_IS_STREAM (stream), NULL);
  g_return_val_if_fail (separator != NULL, NULL);
  g_return_val_if_fail (separator_len > 0, NULL);

  /* Not while a read waits: that read may be a read_until() using it. */
  if (stream->read_future == NULL &&
      (stream->sep_len != separator_len || memcmp (stream->sep, separator, separator_len) != 0))
    {
      g_free (stream->sep);
      stream->sep = g_memdup2 (separator, separator_len);
      stream->sep_len = separator_len;
    }
  return stream_read_start (stream, READ_UNTIL, 0);
}

/**
 * coop_stream_get_limit:
 * @stream: a stream
 *
 * Gets the line length limit of @stream.
 *
 * Returns: the longest line [method@Coop.Stream.read_line] accepts, in bytes
 */
gsize
coop_stream_get_limit (CoopStream *stream)
{
  g_return_val_if_fail (COOP_IS_STREAM (stream), 0);

  return stream->limit;
}

/**
 * coop_stream_set_limit:
 * @stream: a stream
 * @limit: a number of bytes, more than 0
 *
 * Sets the longest line [method@Coop.Stream.read_line] accepts (64 KiB by
 * default, as asyncio's `limit`).  Without a pending read, the stream reads
 * ahead until 2 × @limit bytes are buffered, then waits for a read.
 */
void
coop_stream_set_limit (CoopStream *stream,
                       gsize       limit)
{
  g_return_if_fail (COOP_IS_STREAM (stream));
  g_return_if_fail (limit > 0);

  stream->limit = limit;
  stream_update_reading (stream);
}

/**
 * coop_stream_get_read_buffer_size:
 * @stream: a stream
 *
 * Gets the number of bytes buffered for reading.
 *
 * Returns: how many bytes were received and not read yet
 */
gsize
coop_stream_get_read_buffer_size (CoopStream *stream)
{
  g_return_val_if_fail (COOP_IS_STREAM (stream), 0);

  return stream->rlen;
}

/**
 * coop_stream_at_eof:
 * @stream: a stream
 *
 * Tells whether everything the peer sent has been read.
 *
 * Returns: whether the peer ended the stream and everything it sent was
 *   read (asyncio's `at_eof()`)
 */
gboolean
coop_stream_at_eof (CoopStream *stream)
{
  g_return_val_if_fail (COOP_IS_STREAM (stream), FALSE);

  return stream->eof && stream->rlen == 0;
}

/**
 * coop_stream_write:
 * @stream: a stream
 * @data: the bytes to send
 * @error: return location for an error
 *
 * Sends @data, as asyncio's `write()`: never blocks, never waits.  When
 * nothing is buffered it is sent at once (`send()` with `MSG_NOSIGNAL`:
 * a vanished peer is an error, never a `SIGPIPE`); what the socket does not
 * take is buffered (@data is referenced, not copied) and sent as the socket
 * drains.  Await [method@Coop.Stream.drain] to respect back-pressure.
 *
 * Fails with `G_IO_ERROR_CLOSED` after [method@Coop.Stream.close] or
 * [method@Coop.Stream.write_eof], and with the connection's error once
 * sending failed (`G_IO_ERROR_BROKEN_PIPE`, which is also
 * `G_IO_ERROR_CONNECTION_CLOSED`).  An error found while flushing in the
 * background is reported by the next write or drain.
 *
 * Returns: %TRUE if @data was sent or buffered
 */
gboolean
coop_stream_write (CoopStream  *stream,
                   GBytes      *data,
                   GError     **error)
{
  const guint8 *bytes;
  gsize len;

  g_return_val_if_fail (COOP_IS_STREAM (stream), FALSE);
  g_return_val_if_fail (data != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  coop_return_val_if_wrong_thread (stream->loop, COOP_INSTEAD_THREADSAFE, FALSE);

  bytes = g_bytes_get_data (data, &len);
  return stream_write (stream, bytes, len, data, error);
}

/**
 * coop_stream_write_data:
 * @stream: a stream
 * @data: (array length=len) (element-type guint8) (nullable): the bytes
 *   to send
 * @len: the length of @data
 * @error: return location for an error
 *
 * Sends @len bytes from memory, as [method@Coop.Stream.write] does,
 * without making a #GBytes first: when nothing is buffered they are sent
 * at once, straight from @data, and only what the socket does not take is
 * copied into the write buffer.  @data may be reused as soon as this
 * returns.
 *
 * Returns: %TRUE if the bytes were sent or buffered
 */
gboolean
coop_stream_write_data (CoopStream    *stream,
                        const guint8  *data,
                        gsize          len,
                        GError       **error)
{
  g_return_val_if_fail (COOP_IS_STREAM (stream), FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  coop_return_val_if_wrong_thread (stream->loop, COOP_INSTEAD_THREADSAFE, FALSE);

  return stream_write (stream, data, len, NULL, error);
}

/* Sends @len bytes at @bytes; what is left is buffered: a slice of @owner
 * if given (no copy), else a copy. */
static gboolean
stream_write (CoopStream    *stream,
              const guint8  *bytes,
              gsize          len,
              GBytes        *owner,
              GError       **error)
{
  gssize n;

  if (stream->closing || stream->eof_requested)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                           stream->closing ? "The stream is closed"
                                           : "The stream's writing side was ended (write_eof)");
      return FALSE;
    }
  if (stream->write_error != NULL)
    {
      g_propagate_error (error, g_error_copy (stream->write_error));
      return FALSE;
    }

  if (len == 0)
    return TRUE;

  if (stream->wsize == 0 && (stream->transport != NULL || stream->suspended))
    {
      /* The transport's path: queue, then flush as the writer would. */
      g_queue_push_tail (&stream->wqueue, owner != NULL ? g_bytes_ref (owner) : g_bytes_new (bytes, len));
      stream->wsize = len;
      g_object_ref (stream);
      stream_flush (stream);
      if (stream->write_error != NULL)
        {
          g_propagate_error (error, g_error_copy (stream->write_error));
          stream_after_write (stream);
          g_object_unref (stream);
          return FALSE;
        }
      g_object_unref (stream);
    }
  else if (stream->wsize == 0)
    {
      do
        n = send (stream->fd, bytes, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      while (n < 0 && errno == EINTR);
      if (n < 0)
        {
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            {
              stream_set_write_error (stream, errno);
              g_propagate_error (error, g_error_copy (stream->write_error));
              return FALSE;
            }
          n = 0;
        }
      if ((gsize) n == len)
        return TRUE;
      g_queue_push_tail (&stream->wqueue,
                         owner == NULL ? g_bytes_new (bytes + n, len - n) :
                         n == 0 ? g_bytes_ref (owner) : g_bytes_new_from_bytes (owner, n, len - n));
      stream->wsize = len - n;
    }
  else
    {
      g_queue_push_tail (&stream->wqueue, owner != NULL ? g_bytes_ref (owner) : g_bytes_new (bytes, len));
      stream->wsize += len;
    }
  if (stream->wsize > stream->high_water)
    stream->paused = TRUE;
  stream_update_writing (stream);
  return TRUE;
}

/**
 * coop_stream_write_eof:
 * @stream: a stream
 * @error: return location for an error
 *
 * Ends the writing side once the buffer is flushed (`shutdown(SHUT_WR)`,
 * asyncio's `write_eof()`): the peer reads end-of-stream, and this stream
 * can still read.  Later writes fail with `G_IO_ERROR_CLOSED`.
 *
 * Returns: %TRUE, or %FALSE if the stream is closed or its writing failed
 */
gboolean
coop_stream_write_eof (CoopStream  *stream,
                       GError     **error)
{
  g_return_val_if_fail (COOP_IS_STREAM (stream), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  coop_return_val_if_wrong_thread (stream->loop, COOP_INSTEAD_THREADSAFE, FALSE);

  if (stream->closing)
    {
      g_propagate_error (error, closed_error_new ());
      return FALSE;
    }
  if (stream->write_error != NULL)
    {
      g_propagate_error (error, g_error_copy (stream->write_error));
      return FALSE;
    }
  if (stream->eof_requested)
    return TRUE;
  stream->eof_requested = TRUE;
  g_object_ref (stream);
  stream_after_write (stream);
  if (stream->write_error != NULL)
    {
      g_propagate_error (error, g_error_copy (stream->write_error));
      g_object_unref (stream);
      return FALSE;
    }
  g_object_unref (stream);
  return TRUE;
}

/**
 * coop_stream_drain:
 * @stream: a stream
 *
 * Waits for room in the write buffer, as asyncio's `drain()`: the stream
 * pauses writers once its buffer holds more than the high-water mark, and
 * resumes them when sending brought it down to the low-water mark.  So the
 * future finishes at once unless the buffer went over the high-water mark
 * and has not come down to the low-water mark since.
 *
 * It fails with the connection's error if sending failed, and with
 * `G_IO_ERROR_CLOSED` if the stream is closed (or is aborted while the
 * drain waits).  A drain waiting when [method@Coop.Stream.close] is called
 * goes on waiting for the background flush.
 *
 * Returns: (transfer full): a future with no value
 */
CoopFuture *
coop_stream_drain (CoopStream *stream)
{
  CoopFuture *future;

  g_return_val_if_fail (COOP_IS_STREAM (stream), NULL);
  coop_return_val_if_wrong_thread (stream->loop, COOP_INSTEAD_THREADSAFE, NULL);

  future = coop_future_new (stream->loop);
  coop_future_set_describe (future, stream_describe, stream);
  if (stream->write_error != NULL)
    coop_future_set_error (future, stream->write_error);
  else if (stream->closing)
    coop_future_take_error (future, closed_error_new ());
  else if (!stream->paused)
    coop_future_set_none (future);
  else
    {
      coop_net_queue_prune (&stream->drain_waiters);
      g_queue_push_tail (&stream->drain_waiters, g_object_ref (future));
    }
  return future;
}

/**
 * coop_stream_set_write_buffer_limits:
 * @stream: a stream
 * @high: the high-water mark, in bytes
 * @low: the low-water mark, in bytes, at most @high
 *
 * Sets the marks of [method@Coop.Stream.drain]'s flow control (asyncio's
 * `set_write_buffer_limits()`; by default 64 KiB and 16 KiB).  0 and 0
 * make every drain wait until the buffer is empty.
 */
void
coop_stream_set_write_buffer_limits (CoopStream *stream,
                                     gsize       high,
                                     gsize       low)
{
  g_return_if_fail (COOP_IS_STREAM (stream));
  g_return_if_fail (low <= high);

  stream->high_water = high;
  stream->low_water = low;
  if (stream->wsize > high)
    stream->paused = TRUE;
  else if (stream->paused && stream->wsize <= low)
    {
      stream->paused = FALSE;
      coop_net_complete_queue (&stream->drain_waiters, NULL);
    }
}

/**
 * coop_stream_get_write_buffer_limits:
 * @stream: a stream
 * @high: (out) (optional): the high-water mark
 * @low: (out) (optional): the low-water mark
 *
 * Gets the marks set with [method@Coop.Stream.set_write_buffer_limits].
 */
void
coop_stream_get_write_buffer_limits (CoopStream *stream,
                                     gsize      *high,
                                     gsize      *low)
{
  g_return_if_fail (COOP_IS_STREAM (stream));

  if (high != NULL)
    *high = stream->high_water;
  if (low != NULL)
    *low = stream->low_water;
}

/**
 * coop_stream_get_write_buffer_size:
 * @stream: a stream
 *
 * Gets the number of bytes buffered for writing.
 *
 * Returns: how many written bytes wait to be sent
 */
gsize
coop_stream_get_write_buffer_size (CoopStream *stream)
{
  g_return_val_if_fail (COOP_IS_STREAM (stream), 0);

  return stream->wsize;
}

/**
 * coop_stream_close:
 * @stream: a stream
 *
 * Closes the stream, as asyncio's `close()`.  A read waiting fails with
 * `G_IO_ERROR_CLOSED` and unread data is dropped; what is buffered for
 * writing is still sent, in the background (the stream keeps itself alive
 * meanwhile, so it may be unreferenced at once), then the socket is closed.
 * A peer that never reads keeps it open: use [method@Coop.Stream.abort] to
 * close at once.  Closing again does nothing.
 */
void
coop_stream_close (CoopStream *stream)
{
  g_return_if_fail (COOP_IS_STREAM (stream));
  coop_return_if_wrong_thread (stream->loop, COOP_INSTEAD_THREADSAFE);

  if (stream->closing)
    return;
  g_object_ref (stream);
  stream->closing = TRUE;
  stream_shut_reading (stream);
  if (stream->wsize > 0 && stream->write_error == NULL && stream->writing)
    {
      stream->self_ref = TRUE;
      g_object_ref (stream);
    }
  else
    {
      if (stream->wsize > 0 && stream->write_error != NULL && stream->close_error == NULL)
        stream->close_error = g_error_copy (stream->write_error);
      if (stream->wsize == 0)
        stream_transport_goodbye (stream);
      stream_finish_close (stream);
    }
  g_object_unref (stream);
}

/**
 * coop_stream_abort:
 * @stream: a stream
 *
 * Closes the stream at once, dropping what is buffered for writing
 * (asyncio's `transport.abort()`); also ends a background flush started by
 * [method@Coop.Stream.close].  Waiting drains fail with `G_IO_ERROR_CLOSED`.
 */
void
coop_stream_abort (CoopStream *stream)
{
  g_return_if_fail (COOP_IS_STREAM (stream));
  coop_return_if_wrong_thread (stream->loop, COOP_INSTEAD_THREADSAFE);

  if (stream->closed)
    return;
  g_object_ref (stream);
  stream->closing = TRUE;
  stream_shut_reading (stream);
  wqueue_clear (stream);
  stream_finish_close (stream);
  g_object_unref (stream);
}

/**
 * coop_stream_is_closing:
 * @stream: a stream
 *
 * Tells whether @stream is closed or closing.
 *
 * Returns: whether [method@Coop.Stream.close] or [method@Coop.Stream.abort]
 *   was called (the socket may still be flushing)
 */
gboolean
coop_stream_is_closing (CoopStream *stream)
{
  g_return_val_if_fail (COOP_IS_STREAM (stream), FALSE);

  return stream->closing;
}

/**
 * coop_stream_wait_closed:
 * @stream: a stream
 *
 * Returns a future that finishes once the socket is closed (after
 * [method@Coop.Stream.close] flushed the write buffer), as asyncio's
 * `wait_closed()`.  It fails with the connection's error if data written
 * before the close could not be sent.
 *
 * Returns: (transfer full): a future with no value
 */
CoopFuture *
coop_stream_wait_closed (CoopStream *stream)
{
  CoopFuture *future;

  g_return_val_if_fail (COOP_IS_STREAM (stream), NULL);
  coop_return_val_if_wrong_thread (stream->loop, COOP_INSTEAD_THREADSAFE, NULL);

  future = coop_future_new (stream->loop);
  if (stream->closed)
    {
      if (stream->close_error != NULL)
        coop_future_set_error (future, stream->close_error);
      else
        coop_future_set_none (future);
    }
  else
    {
      coop_net_queue_prune (&stream->closed_waiters);
      g_queue_push_tail (&stream->closed_waiters, g_object_ref (future));
    }
  return future;
}

static GSocketAddress *
address_from_native (const struct sockaddr_storage *native,
                     socklen_t                      len,
                     GError                       **error)
{
  GSocketAddress *address = g_socket_address_new_from_native ((gpointer) native, len);

  if (address == NULL)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                         "Unsupported socket address family");
  return address;
}

/**
 * coop_stream_get_peer_address:
 * @stream: a stream
 * @error: return location for an error
 *
 * Returns the address of the other end (asyncio's
 * `get_extra_info('peername')`).  It is remembered once known, so it
 * stays available after the connection is reset or closed.  The peer of a
 * Unix socket usually has no name (an empty path).
 *
 * Returns: (transfer full) (nullable): the address, or %NULL with @error set
 */
GSocketAddress *
coop_stream_get_peer_address (CoopStream  *stream,
                              GError     **error)
{
  struct sockaddr_storage native;
  socklen_t len = sizeof native;

  g_return_val_if_fail (COOP_IS_STREAM (stream), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (stream->peer_len == 0)
    {
      if (stream->fd < 0)
        {
          g_propagate_error (error, closed_error_new ());
          return NULL;
        }
      if (getpeername (stream->fd, (struct sockaddr *) &native, &len) != 0)
        {
          g_propagate_error (error, coop_net_errno_error_new (errno, "Cannot get the peer's address"));
          return NULL;
        }
      memcpy (&stream->peer, &native, MIN (len, sizeof stream->peer));
      stream->peer_len = len;
    }
  return address_from_native (&stream->peer, stream->peer_len, error);
}

/**
 * coop_stream_get_local_address:
 * @stream: a stream
 * @error: return location for an error
 *
 * Returns the address of this end (asyncio's `get_extra_info('sockname')`).
 * Fails with `G_IO_ERROR_CLOSED` once the stream is closed.
 *
 * Returns: (transfer full) (nullable): the address, or %NULL with @error set
 */
GSocketAddress *
coop_stream_get_local_address (CoopStream  *stream,
                               GError     **error)
{
  struct sockaddr_storage native;
  socklen_t len = sizeof native;

  g_return_val_if_fail (COOP_IS_STREAM (stream), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (stream->fd < 0)
    {
      g_propagate_error (error, closed_error_new ());
      return NULL;
    }
  if (getsockname (stream->fd, (struct sockaddr *) &native, &len) != 0)
    {
      g_propagate_error (error, coop_net_errno_error_new (errno, "Cannot get the local address"));
      return NULL;
    }
  return address_from_native (&native, len, error);
}

/**
 * coop_stream_get_fd:
 * @stream: a stream
 *
 * Returns the socket, for setting options on it.  Reading or writing it
 * directly bypasses the stream's buffers; do not close it.
 *
 * Returns: the file descriptor, or -1 once the stream is closed
 */
int
coop_stream_get_fd (CoopStream *stream)
{
  g_return_val_if_fail (COOP_IS_STREAM (stream), -1);

  return stream->fd;
}

/* --- the transport seam (coop-stream-private.h) ----------------------------------- */

void
coop_stream_set_transport (CoopStream                *stream,
                           const CoopStreamTransport *transport,
                           gpointer                   data)
{
  g_return_if_fail (stream->transport == NULL);

  stream->transport = transport;
  stream->transport_data = data;
  stream->maybe_readable = TRUE;
  if (stream->closed)
    {
      /* Closed meanwhile: the transport goes at once. */
      if (transport->free != NULL)
        transport->free (data);
      stream->transport_data = NULL;
    }
}

gpointer
coop_stream_get_transport_data (CoopStream                *stream,
                                const CoopStreamTransport *transport)
{
  return stream->transport == transport ? stream->transport_data : NULL;
}

void
coop_stream_set_suspended (CoopStream *stream,
                           gboolean    suspended)
{
  if (stream->suspended == !!suspended)
    return;
  stream->suspended = !!suspended;
  g_object_ref (stream);
  stream_update_reading (stream);
  if (!suspended && !stream->closed)
    {
      stream_flush (stream);
      stream_after_write (stream);
      if (stream->read_future != NULL)
        stream_pump (stream, stream->maybe_readable);
    }
  else
    stream_update_writing (stream);
  g_object_unref (stream);
}

gboolean
coop_stream_has_buffered (CoopStream *stream)
{
  return stream->rlen > 0 || stream->wsize > 0;
}

CoopLoop *
coop_stream_get_loop_internal (CoopStream *stream)
{
  return stream->loop;
}
