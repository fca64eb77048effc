/* coop-connect.c: opening connections: one address at a time
 * (coop_stream_open_tcp(), coop_stream_open_unix()), awaitable name
 * resolution, and TCP connections with happy eyeballs (RFC 8305) and a
 * timeout (coop_stream_open_tcp_full()).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "coop-private.h"
#include "coop-stream-private.h"

/* Resolution is GResolver's lookup_by_name_async(), called with the loop's
 * context as thread-default (GIO calls back there), its cancellable
 * cancelled when the future is.
 *
 * Connecting with happy eyeballs (asyncio's happy_eyeballs_delay, RFC 8305
 * §5): the resolved addresses are interleaved by family (IPv6 first if the
 * resolver put it first), then one attempt starts; the next starts when
 * that one fails or when the delay has passed without an answer,
 * whichever comes first, and so on; the first attempt to connect wins and
 * every other is closed.  Without a delay (negative), the next address is
 * tried only when the previous failed, as coop_stream_open_tcp() does.
 * The timeout covers resolution and every attempt.  Attempts are plain
 * non-blocking connect()s awaited with coop_loop_wait_writable(); the
 * winner becomes a CoopStream with coop_stream_new_for_fd(). */

/* --- one address at a time --------------------------------------------------------------------- */

typedef struct
{
  gint            ref_count;
  CoopLoop       *loop;
  CoopFuture     *future;      /* the result: a reference until done */
  CoopWaiter      waiter;      /* notices a cancellation */
  gboolean        finished;
  char           *what;        /* "example.com port 80", for errors */
  guint16         port;
  GCancellable   *cancellable;
  GPtrArray      *addresses;   /* GSocketAddress */
  guint           next;
  int             fd;          /* the socket being connected, or -1 */
  guint           index;       /* of the address it connects to */
  CoopFuture     *writable;    /* waiting for the connection, or NULL */
  CoopHandle     *retry;       /* AF_UNIX backlog full: try again later */
  guint           attempts;
  GError         *error;       /* the first failure */
} Connect;

static Connect *
connect_ref (Connect *op)
{
  g_atomic_int_inc (&op->ref_count);
  return op;
}

static void
connect_unref (gpointer data)
{
  Connect *op = data;

  if (!g_atomic_int_dec_and_test (&op->ref_count))
    return;
  g_assert (op->fd < 0);
  g_clear_object (&op->future);
  g_clear_object (&op->loop);
  g_clear_object (&op->cancellable);
  g_clear_pointer (&op->addresses, g_ptr_array_unref);
  g_clear_object (&op->writable);
  g_clear_pointer (&op->retry, coop_handle_unref);
  g_clear_error (&op->error);
  g_free (op->what);
  g_free (op);
}

static void
connect_close_socket (Connect *op)
{
  if (op->fd < 0)
    return;
  if (!coop_loop_is_closed (op->loop))
    coop_loop_forget_fd (op->loop, op->fd);
  close (op->fd);
  op->fd = -1;
}

/* The result future was completed by someone else (cancelled): stop. */
static void
connect_waiter_done (CoopWaiter *waiter,
                     CoopFuture *future)
{
  Connect *op = waiter->data;

  if (op->finished)
    return;
  op->finished = TRUE;
  g_cancellable_cancel (op->cancellable);
  if (op->writable != NULL)
    coop_future_cancel (op->writable, NULL);
  if (op->retry != NULL)
    coop_handle_cancel (op->retry);
  connect_close_socket (op);
  /* The waiter's reference; the future itself is released later. */
  coop_loop_push_ready (op->loop, connect_unref, connect_unref, op);
}

static void
connect_finish (Connect    *op,
                CoopStream *stream,
                GError     *error)
{
  g_assert (!op->finished);
  op->finished = TRUE;
  coop_future_remove_waiter (op->future, &op->waiter);
  if (stream != NULL)
    coop_future_set_object (op->future, G_OBJECT (stream));
  else
    coop_future_take_error (op->future, error);
  connect_unref (op);   /* the waiter's */
}

static void connect_try_next (Connect *op);

/* Records why one address failed and moves on. */
static void
connect_address_failed (Connect *op,
                        GError  *error)
{
  connect_close_socket (op);
  if (op->error == NULL)
    op->error = error;
  else
    g_error_free (error);
  connect_try_next (op);
}

static void
connect_succeeded (Connect *op)
{
  GSocketAddress *address = g_ptr_array_index (op->addresses, op->index);
  struct sockaddr_storage native;
  gsize native_len = g_socket_address_get_native_size (address);
  CoopStream *stream;

  if (!g_socket_address_to_native (address, &native, sizeof native, NULL))
    native_len = 0;
  stream = coop_stream_adopt_fd (op->loop, op->fd, (struct sockaddr *) &native, native_len);
  op->fd = -1;
  connect_finish (op, stream, NULL);
  g_object_unref (stream);
}

static void
connect_writable_done (CoopFuture *future,
                       gpointer    data)
{
  Connect *op = data;
  GError *error = NULL;
  int err = 0;
  socklen_t len = sizeof err;

  if (op->finished || future != op->writable)
    return;
  g_clear_object (&op->writable);
  if (!coop_future_propagate (future, &error))
    {
      connect_address_failed (op, error);
      return;
    }
  if (getsockopt (op->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    err = errno;
  if (err != 0)
    {
      connect_address_failed (op, coop_net_errno_error_new (err, op->what));
      return;
    }
  connect_succeeded (op);
}

/* If the loop was closed with the wait still queued, the result is
 * cancelled rather than left pending. */
static void
connect_callback_notify (gpointer data)
{
  Connect *op = data;

  if (!op->finished && coop_loop_is_closed (op->loop))
    coop_future_cancel (op->future, "The loop was closed");
  connect_unref (op);
}

static void
connect_retry_cb (gpointer data)
{
  Connect *op = data;

  g_clear_pointer (&op->retry, coop_handle_unref);
  if (op->finished)
    return;
  op->next = op->index;   /* the same address again */
  connect_try_next (op);
}

static void
connect_try_next (Connect *op)
{
  while (op->next < op->addresses->len)
    {
      GSocketAddress *address = g_ptr_array_index (op->addresses, op->next);
      struct sockaddr_storage native;
      gsize native_len = g_socket_address_get_native_size (address);
      GError *error = NULL;
      int fd, err;

      op->index = op->next++;
      if (!g_socket_address_to_native (address, &native, sizeof native, &error))
        {
          connect_address_failed (op, error);
          return;
        }
      fd = socket (native.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0)
        {
          connect_address_failed (op, coop_net_errno_error_new (errno, op->what));
          return;
        }
      op->fd = fd;
      do
        err = connect (fd, (struct sockaddr *) &native, native_len) == 0 ? 0 : errno;
      while (err == EINTR);

      if (err == 0)
        {
          connect_succeeded (op);
          return;
        }
      if (err == EINPROGRESS)
        {
          op->writable = coop_loop_wait_writable (op->loop, fd);
          coop_future_add_done_callback (op->writable, connect_writable_done,
                                         connect_ref (op), connect_callback_notify);
          return;
        }
      if (err == EAGAIN && native.ss_family == AF_UNIX)
        {
          /* The server's backlog is full: a non-blocking AF_UNIX connect
           * must be retried, there is no readiness to wait for. */
          gint64 delay = MIN ((gint64) 1000 << MIN (op->attempts, 7u), 100 * 1000);

          op->attempts++;
          connect_close_socket (op);
          op->retry = coop_loop_call_later (op->loop, delay, connect_retry_cb,
                                            connect_ref (op), connect_callback_notify);
          return;
        }
      connect_address_failed (op, coop_net_errno_error_new (err, op->what));
      return;
    }

  /* Out of addresses. */
  connect_finish (op, NULL, op->error != NULL ? g_steal_pointer (&op->error)
                          : g_error_new (G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND,
                                         "%s: no address to connect to", op->what));
}

static void
connect_resolved (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  Connect *op = data;
  GError *error = NULL;
  GList *addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &error);
  GList *l;

  if (op->finished)
    {
      g_clear_error (&error);
      g_resolver_free_addresses (addresses);
      connect_unref (op);
      return;
    }
  if (addresses == NULL)
    {
      GError *mapped;

      /* GResolver's own domain becomes G_IO_ERROR, as documented. */
      if (error == NULL)
        mapped = g_error_new (G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND, "%s: no address", op->what);
      else if (error->domain == G_IO_ERROR)
        mapped = g_steal_pointer (&error);
      else
        mapped = g_error_new (G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND, "%s", error->message);
      g_clear_error (&error);
      connect_finish (op, NULL, mapped);
      connect_unref (op);
      return;
    }

  for (l = addresses; l != NULL; l = l->next)
    g_ptr_array_add (op->addresses, g_inet_socket_address_new (l->data, op->port));
  g_resolver_free_addresses (addresses);
  connect_try_next (op);
  connect_unref (op);
}

static Connect *
connect_new (CoopLoop   *loop,
             char       *what)
{
  Connect *op = g_new0 (Connect, 1);

  op->ref_count = 1;   /* the waiter's, until the result is set */
  op->loop = g_object_ref (loop);
  op->future = coop_future_new (loop);
  op->what = what;
  op->fd = -1;
  op->addresses = g_ptr_array_new_with_free_func (g_object_unref);
  op->waiter.func = connect_waiter_done;
  op->waiter.data = op;
  coop_future_add_waiter (op->future, &op->waiter);
  return op;
}


/**
 * coop_stream_open_tcp:
 * @loop: the loop
 * @host: a host name or a numeric IPv4 or IPv6 address
 * @port: the port
 *
 * Opens a TCP connection, as asyncio's `open_connection()`.  A host name is
 * resolved with [class@Gio.Resolver] (asynchronously; a numeric address is
 * used as it is); each address is then tried in turn with a non-blocking
 * `connect()`, until one connects.  `TCP_NODELAY` is set, as asyncio does.
 *
 * The future finishes with the connected [class@Coop.Stream] (an object
 * result: `COOP_STREAM (coop_future_get_object (future, NULL))`, owned by
 * the future; [func@Coop.Stream.open_finish] gives your own reference, so
 * the stream outlives the future), or fails with an error of the `G_IO_ERROR` domain:
 * `G_IO_ERROR_HOST_NOT_FOUND` if the name does not resolve (resolver errors
 * are mapped to it), otherwise the error of the first address that failed,
 * such as `G_IO_ERROR_CONNECTION_REFUSED`.  Cancelling the future stops the
 * resolution or the connection attempt and closes its socket.
 *
 * Call this on the loop's thread.
 *
 * Returns: (transfer full): a future for the stream
 */
CoopFuture *
coop_stream_open_tcp (CoopLoop   *loop,
                      const char *host,
                      guint16     port)
{
  Connect *op;
  GInetAddress *numeric;
  CoopFuture *future;
  GError *error = NULL;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (host != NULL, NULL);

  op = connect_new (loop, g_strdup_printf ("%s port %u", host, port));
  future = g_object_ref (op->future);
  if (!coop_loop_check_usable (loop, &error))
    {
      connect_finish (op, NULL, error);
      return future;
    }

  numeric = g_inet_address_new_from_string (host);
  if (numeric != NULL)
    {
      g_ptr_array_add (op->addresses, g_inet_socket_address_new (numeric, port));
      g_object_unref (numeric);
      connect_try_next (op);
    }
  else
    {
      GResolver *resolver = g_resolver_get_default ();
      GMainContext *pushed;

      if (!coop_loop_push_context (loop, "A connection", &pushed, &error))
        connect_finish (op, NULL, error);
      else
        {
          op->port = port;
          op->cancellable = g_cancellable_new ();
          g_resolver_lookup_by_name_async (resolver, host, op->cancellable,
                                           connect_resolved, connect_ref (op));
          if (pushed != NULL)
            g_main_context_pop_thread_default (pushed);
        }
      g_object_unref (resolver);
    }
  return future;
}

/**
 * coop_stream_open_unix:
 * @loop: the loop
 * @path: the file name of a listening Unix socket
 *
 * Opens a connection to a Unix-domain stream socket, as asyncio's
 * `open_unix_connection()`.  If the server's backlog is full, the
 * connection is retried a little later (with a growing delay, up to 100 ms)
 * until it succeeds or the future is cancelled.
 *
 * The future finishes with the connected [class@Coop.Stream] or fails
 * with a `G_IO_ERROR` (`G_IO_ERROR_NOT_FOUND` if nothing is at @path,
 * `G_IO_ERROR_CONNECTION_REFUSED` if nobody listens there,
 * `G_IO_ERROR_INVALID_ARGUMENT` if the path is too long for a socket
 * address).
 *
 * Returns: (transfer full): a future for the stream
 */
CoopFuture *
coop_stream_open_unix (CoopLoop   *loop,
                       const char *path)
{
  Connect *op;
  CoopFuture *future;
  GError *error = NULL;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  op = connect_new (loop, g_strdup (path));
  future = g_object_ref (op->future);
  if (!coop_loop_check_usable (loop, &error))
    connect_finish (op, NULL, error);
  else if (strlen (path) >= sizeof ((struct sockaddr_un *) NULL)->sun_path || path[0] == '\0')
    connect_finish (op, NULL, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                           "“%s” cannot be a Unix socket address "
                                           "(empty, or longer than %zu bytes)",
                                           path, sizeof ((struct sockaddr_un *) NULL)->sun_path - 1));
  else
    {
      g_ptr_array_add (op->addresses, g_unix_socket_address_new (path));
      connect_try_next (op);
    }
  return future;
}

/**
 * coop_stream_open_finish:
 * @future: a finished future of [func@Coop.Stream.open_tcp] or
 *   [func@Coop.Stream.open_unix]
 * @error: return location for an error
 *
 * Takes the stream that an open future produced, with a reference of its
 * own.  The future holds a reference on the stream as its result, and
 * [method@Coop.Future.get_object] lends that one (transfer none), valid
 * only while the future lives.  The reference returned here is the
 * caller's: the stream outlives the future, which may be dropped at once.
 * Dropping the last reference to an open stream aborts it, so keep this
 * one until the stream is closed.
 *
 * Returns: (transfer full) (nullable): the connected stream, or %NULL with
 *   @error set (the open failed or was cancelled, the future is not done,
 *   or its result is not a stream)
 */
CoopStream *
coop_stream_open_finish (CoopFuture  *future,
                         GError     **error)
{
  GObject *object;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  object = coop_future_get_object (future, error);
  if (object == NULL)
    return NULL;
  if (!COOP_IS_STREAM (object))
    {
      g_set_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT,
                   "The future's result is a %s, not a CoopStream", G_OBJECT_TYPE_NAME (object));
      return NULL;
    }
  return COOP_STREAM (g_object_ref (object));
}

/* --- resolution -------------------------------------------------------------------- */

typedef struct
{
  CoopFuture   *future;
  CoopWaiter    waiter;
  GCancellable *cancellable;
  gboolean      finished;
  gint          ref_count;
} Resolve;

static void
resolve_unref (Resolve *op)
{
  if (!g_atomic_int_dec_and_test (&op->ref_count))
    return;
  g_object_unref (op->future);
  g_object_unref (op->cancellable);
  g_free (op);
}

static void
resolve_waiter_done (CoopWaiter *waiter,
                     CoopFuture *future)
{
  Resolve *op = waiter->data;

  if (op->finished)
    return;
  op->finished = TRUE;
  g_cancellable_cancel (op->cancellable);
}

static void
resolve_done (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  Resolve *op = data;
  GError *error = NULL;
  GList *addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &error);

  if (!op->finished)
    {
      op->finished = TRUE;
      coop_future_remove_waiter (op->future, &op->waiter);
      if (addresses != NULL)
        {
          GPtrArray *array = g_ptr_array_new_with_free_func (g_object_unref);

          for (GList *l = addresses; l != NULL; l = l->next)
            g_ptr_array_add (array, g_object_ref (l->data));
          coop_future_set_boxed (op->future, G_TYPE_PTR_ARRAY, array);
          g_ptr_array_unref (array);
        }
      else
        coop_future_take_error (op->future, g_steal_pointer (&error));
    }
  g_clear_error (&error);
  g_resolver_free_addresses (addresses);
  resolve_unref (op);
}


/**
 * coop_resolve:
 * @loop: the loop
 * @resolver: (nullable): the resolver, or %NULL for the default one
 *   (g_resolver_get_default())
 * @host: a host name (or a numeric address, returned as it is)
 *
 * Resolves a host name, as asyncio's `getaddrinfo()`, with
 * g_resolver_lookup_by_name_async(): the future finishes with the
 * addresses in the resolver's order (read them with
 * [func@Coop.resolve_finish]) or fails with the resolver's error (a
 * `G_RESOLVER_ERROR`, such as `G_RESOLVER_ERROR_NOT_FOUND`).  Cancelling
 * the future cancels the lookup.  Call this on the loop's thread.
 *
 * Returns: (transfer full): a future for the addresses
 */
CoopFuture *
coop_resolve (CoopLoop   *loop,
              GResolver  *resolver,
              const char *host)
{
  Resolve *op;
  GMainContext *pushed;
  GError *error = NULL;
  CoopFuture *future;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (resolver == NULL || G_IS_RESOLVER (resolver), NULL);
  g_return_val_if_fail (host != NULL, NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  future = coop_future_new (loop);
  if (!coop_loop_check_usable (loop, &error) || !coop_loop_push_context (loop, "A name resolution", &pushed, &error))
    {
      coop_future_take_error (future, error);
      return future;
    }
  op = g_new0 (Resolve, 1);
  op->ref_count = 1;
  op->future = g_object_ref (future);
  op->cancellable = g_cancellable_new ();
  op->waiter.func = resolve_waiter_done;
  op->waiter.data = op;
  coop_future_add_waiter (future, &op->waiter);
  if (resolver != NULL)
    g_resolver_lookup_by_name_async (resolver, host, op->cancellable, resolve_done, op);
  else
    {
      GResolver *def = g_resolver_get_default ();

      g_resolver_lookup_by_name_async (def, host, op->cancellable, resolve_done, op);
      g_object_unref (def);
    }
  if (pushed != NULL)
    g_main_context_pop_thread_default (pushed);
  return future;
}

/**
 * coop_resolve_finish:
 * @future: a finished future of [func@Coop.resolve]
 * @error: return location for an error
 *
 * Gets the addresses a resolution found.
 *
 * Returns: (transfer container) (element-type Gio.InetAddress) (nullable):
 *   a new array of the addresses, which holds a reference on each (its
 *   free function drops them: g_ptr_array_unref() is all it takes), or
 *   %NULL with @error set (the resolution failed, is not done, or @future
 *   is not a resolution's: `COOP_ERROR_NO_RESULT`)
 */
GPtrArray *
coop_resolve_finish (CoopFuture  *future,
                     GError     **error)
{
  const GValue *value;
  GPtrArray *array, *copy;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  value = coop_future_get_value (future, error);
  if (value == NULL)
    return NULL;
  if (!G_IS_VALUE (value) || !G_VALUE_HOLDS (value, G_TYPE_PTR_ARRAY) ||
      (array = g_value_get_boxed (value)) == NULL ||
      (array->len > 0 && !G_IS_INET_ADDRESS (g_ptr_array_index (array, 0))))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_NO_RESULT,
                           "The future's result is not a list of addresses");
      return NULL;
    }
  /* A copy: the future's own array stays as it is, whatever the caller
   * (or a binding) does with this one. */
  copy = g_ptr_array_new_full (array->len, g_object_unref);
  for (guint i = 0; i < array->len; i++)
    g_ptr_array_add (copy, g_object_ref (array->pdata[i]));
  return copy;
}

/* --- happy eyeballs ----------------------------------------------------------------- */

typedef struct _Eyeballs Eyeballs;

typedef struct
{
  Eyeballs   *op;
  int         fd;
  guint       index;       /* into op->addresses */
  CoopFuture *writable;
} Attempt;

struct _Eyeballs
{
  gint          ref_count;
  CoopLoop     *loop;
  CoopFuture   *future;     /* the result */
  CoopWaiter    waiter;     /* notices a cancellation */
  gboolean      finished;
  char         *what;       /* "example.com port 80" */
  guint16       port;
  gint64        delay;      /* < 0: one attempt at a time */
  GPtrArray    *addresses;  /* GSocketAddress, interleaved by family */
  guint         next;
  GPtrArray    *attempts;   /* Attempt, in flight */
  CoopHandle   *stagger;    /* starts the next attempt after the delay */
  CoopHandle   *deadline;   /* the timeout */
  CoopFuture   *resolving;
  GError       *error;      /* the first failure */
};

static Eyeballs *
eyeballs_ref (Eyeballs *op)
{
  g_atomic_int_inc (&op->ref_count);
  return op;
}

static void
eyeballs_unref (gpointer data)
{
  Eyeballs *op = data;

  if (!g_atomic_int_dec_and_test (&op->ref_count))
    return;
  g_assert (op->attempts->len == 0);
  g_ptr_array_unref (op->attempts);
  g_clear_pointer (&op->addresses, g_ptr_array_unref);
  g_clear_pointer (&op->stagger, coop_handle_unref);
  g_clear_pointer (&op->deadline, coop_handle_unref);
  g_clear_object (&op->resolving);
  g_clear_object (&op->future);
  g_clear_object (&op->loop);
  g_clear_error (&op->error);
  g_free (op->what);
  g_free (op);
}

static void
attempt_close (Attempt *attempt)
{
  Eyeballs *op = attempt->op;

  if (attempt->writable != NULL)
    {
      CoopFuture *writable = g_steal_pointer (&attempt->writable);

      coop_future_cancel (writable, NULL);
      g_object_unref (writable);
    }
  if (attempt->fd >= 0)
    {
      if (!coop_loop_is_closed (op->loop))
        coop_loop_forget_fd (op->loop, attempt->fd);
      close (attempt->fd);
      attempt->fd = -1;
    }
}

/* Stops everything still running: attempts, timers, the resolution. */
static void
eyeballs_stop (Eyeballs *op)
{
  while (op->attempts->len > 0)
    {
      Attempt *attempt = g_ptr_array_steal_index (op->attempts, op->attempts->len - 1);

      attempt_close (attempt);
      g_free (attempt);
    }
  if (op->stagger != NULL)
    coop_handle_cancel (op->stagger);
  if (op->deadline != NULL)
    coop_handle_cancel (op->deadline);
  if (op->resolving != NULL)
    coop_future_cancel (op->resolving, NULL);
}

static void
eyeballs_waiter_done (CoopWaiter *waiter,
                      CoopFuture *future)
{
  Eyeballs *op = waiter->data;

  if (op->finished)
    return;
  op->finished = TRUE;
  eyeballs_stop (op);
  coop_loop_push_ready (op->loop, eyeballs_unref, eyeballs_unref, op);
}

static void
eyeballs_finish (Eyeballs *op,
                 GObject  *stream,
                 GError   *error)
{
  g_assert (!op->finished);
  op->finished = TRUE;
  coop_future_remove_waiter (op->future, &op->waiter);
  eyeballs_stop (op);
  if (stream != NULL)
    coop_future_set_object (op->future, stream);
  else
    coop_future_take_error (op->future, error);
  eyeballs_unref (op);   /* the waiter's */
}

static void eyeballs_start_next (Eyeballs *op);

/* If the loop was closed with a callback still queued, the result is
 * cancelled rather than left pending. */
static void
eyeballs_callback_notify (gpointer data)
{
  Eyeballs *op = data;

  if (!op->finished && coop_loop_is_closed (op->loop))
    coop_future_cancel (op->future, "The loop was closed");
  eyeballs_unref (op);
}

static void
eyeballs_record (Eyeballs *op,
                 GError   *error)
{
  if (op->error == NULL)
    op->error = error;
  else
    g_error_free (error);
}

/* Out of addresses and attempts: fail with the first error. */
static void
eyeballs_maybe_fail (Eyeballs *op)
{
  if (op->finished || op->next < op->addresses->len || op->attempts->len > 0)
    return;
  eyeballs_finish (op, NULL, op->error != NULL ? g_steal_pointer (&op->error)
                           : g_error_new (G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND,
                                          "%s: no address to connect to", op->what));
}

static void
eyeballs_won (Eyeballs *op,
              Attempt  *attempt)
{
  GError *error = NULL;
  int fd = attempt->fd;
  CoopStream *stream;

  attempt->fd = -1;   /* the stream's now */
  g_ptr_array_remove_fast (op->attempts, attempt);
  g_clear_object (&attempt->writable);
  g_free (attempt);
  stream = coop_stream_new_for_fd (op->loop, fd, &error);
  if (stream == NULL)
    {
      close (fd);
      eyeballs_finish (op, NULL, error);
      return;
    }
  eyeballs_finish (op, G_OBJECT (stream), NULL);
  g_object_unref (stream);
}

static void
attempt_failed (Eyeballs *op,
                Attempt  *attempt,
                GError   *error)
{
  eyeballs_record (op, error);
  attempt_close (attempt);
  g_ptr_array_remove_fast (op->attempts, attempt);
  g_free (attempt);
  /* RFC 8305: a failure starts the next attempt at once. */
  if (op->stagger != NULL)
    {
      coop_handle_cancel (op->stagger);
      g_clear_pointer (&op->stagger, coop_handle_unref);
    }
  eyeballs_start_next (op);
  eyeballs_maybe_fail (op);
}

/* Done callbacks run from the ready queue, maybe after their attempt was
 * closed and freed: they hold the operation, and look their attempt up. */
static void
attempt_writable_done (CoopFuture *future,
                       gpointer    data)
{
  Eyeballs *op = data;
  Attempt *attempt = NULL;
  GError *error = NULL;
  int err = 0;
  socklen_t len = sizeof err;

  if (op->finished)
    return;
  for (guint i = 0; i < op->attempts->len && attempt == NULL; i++)
    if (((Attempt *) op->attempts->pdata[i])->writable == future)
      attempt = op->attempts->pdata[i];
  if (attempt == NULL)
    return;   /* that attempt is gone */
  if (!coop_future_propagate (future, &error))
    {
      attempt_failed (op, attempt, error);
      return;
    }
  if (getsockopt (attempt->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    err = errno;
  if (err != 0)
    {
      attempt_failed (op, attempt, g_error_new (G_IO_ERROR, g_io_error_from_errno (err), "%s: %s",
                                                op->what, g_strerror (err)));
      return;
    }
  eyeballs_won (op, attempt);
}

static void
eyeballs_stagger_cb (gpointer data)
{
  Eyeballs *op = data;

  g_clear_pointer (&op->stagger, coop_handle_unref);
  if (!op->finished)
    eyeballs_start_next (op);
}

/* Starts attempts until one is in flight (or one connected at once, or the
 * addresses ran out), then arms the stagger timer for the next. */
static void
eyeballs_start_next (Eyeballs *op)
{
  while (!op->finished && op->next < op->addresses->len)
    {
      GSocketAddress *address = g_ptr_array_index (op->addresses, op->next);
      struct sockaddr_storage native;
      gssize native_len = g_socket_address_get_native_size (address);
      GError *error = NULL;
      Attempt *attempt;
      int fd, err;

      op->next++;
      if (native_len < 0 || !g_socket_address_to_native (address, &native, sizeof native, &error))
        {
          eyeballs_record (op, error != NULL ? error
                                : g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                               "%s: unusable address", op->what));
          continue;
        }
      fd = socket (native.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0)
        {
          err = errno;
          eyeballs_record (op, g_error_new (G_IO_ERROR, g_io_error_from_errno (err), "%s: %s",
                                            op->what, g_strerror (err)));
          continue;
        }
      attempt = g_new0 (Attempt, 1);
      attempt->op = op;
      attempt->fd = fd;
      attempt->index = op->next - 1;
      g_ptr_array_add (op->attempts, attempt);
      do
        err = connect (fd, (struct sockaddr *) &native, native_len) == 0 ? 0 : errno;
      while (err == EINTR);
      if (err == 0)
        {
          eyeballs_won (op, attempt);
          return;
        }
      if (err != EINPROGRESS)
        {
          eyeballs_record (op, g_error_new (G_IO_ERROR, g_io_error_from_errno (err), "%s: %s",
                                            op->what, g_strerror (err)));
          attempt_close (attempt);
          g_ptr_array_remove_fast (op->attempts, attempt);
          g_free (attempt);
          continue;
        }
      attempt->writable = coop_loop_wait_writable (op->loop, fd);
      coop_future_add_done_callback (attempt->writable, attempt_writable_done,
                                     eyeballs_ref (op), eyeballs_callback_notify);
      if (op->delay >= 0 && op->next < op->addresses->len && op->stagger == NULL)
        op->stagger = coop_loop_call_later (op->loop, op->delay, eyeballs_stagger_cb,
                                            eyeballs_ref (op), eyeballs_callback_notify);
      return;
    }
  eyeballs_maybe_fail (op);
}

/* RFC 8305 §4: alternate the families, the first family first. */
static void
eyeballs_set_addresses (Eyeballs  *op,
                        GPtrArray *inet)
{
  GPtrArray *first = g_ptr_array_new (), *other = g_ptr_array_new ();
  GSocketFamily family = inet->len > 0 ? g_inet_address_get_family (inet->pdata[0]) : 0;

  for (guint i = 0; i < inet->len; i++)
    g_ptr_array_add (g_inet_address_get_family (inet->pdata[i]) == family ? first : other,
                     inet->pdata[i]);
  for (guint i = 0; i < MAX (first->len, other->len); i++)
    {
      if (i < first->len)
        g_ptr_array_add (op->addresses, g_inet_socket_address_new (first->pdata[i], op->port));
      if (op->delay >= 0 && i < other->len)
        g_ptr_array_add (op->addresses, g_inet_socket_address_new (other->pdata[i], op->port));
    }
  if (op->delay < 0)   /* without happy eyeballs, the resolver's order */
    {
      g_ptr_array_set_size (op->addresses, 0);
      for (guint i = 0; i < inet->len; i++)
        g_ptr_array_add (op->addresses, g_inet_socket_address_new (inet->pdata[i], op->port));
    }
  g_ptr_array_unref (first);
  g_ptr_array_unref (other);
}

static void
eyeballs_resolved (CoopFuture *future,
                   gpointer    data)
{
  Eyeballs *op = data;
  GError *error = NULL;
  GPtrArray *inet;

  if (op->finished || future != op->resolving)
    return;
  inet = coop_resolve_finish (future, &error);
  g_clear_object (&op->resolving);
  if (inet == NULL)
    {
      /* GResolver's domain becomes G_IO_ERROR, as coop_stream_open_tcp(). */
      GError *mapped = error->domain == G_IO_ERROR ? g_steal_pointer (&error)
                       : g_error_new (G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND, "%s", error->message);

      g_clear_error (&error);
      eyeballs_finish (op, NULL, mapped);
      return;
    }
  eyeballs_set_addresses (op, inet);
  g_ptr_array_unref (inet);
  eyeballs_start_next (op);
}

static void
eyeballs_deadline_cb (gpointer data)
{
  Eyeballs *op = data;

  g_clear_pointer (&op->deadline, coop_handle_unref);
  if (op->finished)
    return;
  eyeballs_finish (op, NULL,
                   g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "%s: no connection within the "
                                "timeout%s%s", op->what, op->error != NULL ? "; first error: " : "",
                                op->error != NULL ? op->error->message : ""));
}

/**
 * coop_stream_open_tcp_full:
 * @loop: the loop
 * @host: a host name or a numeric IPv4 or IPv6 address
 * @port: the port
 * @happy_eyeballs_delay: microseconds to wait for an attempt before
 *   starting the next one in parallel (RFC 8305 recommends 250 ms), or a
 *   negative number to try one address at a time
 * @timeout: microseconds for the whole connection, resolution included,
 *   or 0 or less for no limit
 *
 * Opens a TCP connection as [func@Coop.Stream.open_tcp] does, with
 * asyncio's `happy_eyeballs_delay` and a connect timeout.  With a delay,
 * the resolved addresses are interleaved by family (IPv6 and IPv4
 * alternate, the resolver's first family first) and tried as RFC 8305
 * says: an attempt that has not connected within the delay no longer
 * holds back the next address, which is tried in parallel (at once if the
 * attempt fails); the first to connect wins, the others are closed.  So a
 * host whose first address black-holes its connections still connects,
 * after about the delay.
 *
 * The future finishes with the connected [class@Coop.Stream] (take it with
 * [func@Coop.Stream.open_finish]) or fails with a `G_IO_ERROR`: the first
 * attempt's error once every address failed, `G_IO_ERROR_HOST_NOT_FOUND`
 * if the name does not resolve, `G_IO_ERROR_TIMED_OUT` at the timeout.
 * Cancelling it stops everything and closes the sockets.  Call this on the
 * loop's thread.
 *
 * Returns: (transfer full): a future for the stream
 */
CoopFuture *
coop_stream_open_tcp_full (CoopLoop   *loop,
                           const char *host,
                           guint16     port,
                           gint64      happy_eyeballs_delay,
                           gint64      timeout)
{
  Eyeballs *op;
  CoopFuture *future;
  GError *error = NULL;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (host != NULL, NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  op = g_new0 (Eyeballs, 1);
  op->ref_count = 1;   /* the waiter's, until the result is set */
  op->loop = g_object_ref (loop);
  op->future = coop_future_new (loop);
  op->what = g_strdup_printf ("%s port %u", host, port);
  op->port = port;
  op->delay = happy_eyeballs_delay;
  op->addresses = g_ptr_array_new_with_free_func (g_object_unref);
  op->attempts = g_ptr_array_new ();
  op->waiter.func = eyeballs_waiter_done;
  op->waiter.data = op;
  coop_future_add_waiter (op->future, &op->waiter);
  future = g_object_ref (op->future);

  if (!coop_loop_check_usable (loop, &error))
    {
      eyeballs_finish (op, NULL, error);
      return future;
    }
  if (timeout > 0)
    op->deadline = coop_loop_call_later (loop, timeout, eyeballs_deadline_cb,
                                         eyeballs_ref (op), eyeballs_callback_notify);
  op->resolving = coop_resolve (loop, NULL, host);
  coop_future_add_done_callback (op->resolving, eyeballs_resolved, eyeballs_ref (op),
                                 eyeballs_callback_notify);
  return future;
}
