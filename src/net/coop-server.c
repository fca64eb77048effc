/* coop-server.c: listening TCP and Unix-domain sockets that serve each
 * connection in its own task (asyncio's start_server()).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "coop-private.h"
#include "coop-stream-private.h"

#define ACCEPT_BUDGET       1024              /* per reader callback */
#define ACCEPT_RETRY_USEC   G_USEC_PER_SEC    /* after EMFILE and friends */

/* =================================================================================
 * Servers
 *
 * Each listening socket has a reader callback that accepts (accept4, until
 * EAGAIN, non-blocking and close-on-exec) and starts one C task per
 * connection, named after the peer ("conn 127.0.0.1:54321"), which calls
 * the handler and closes the stream when the handler returns.  The reader
 * callbacks hold references on the server, so a server serves until it is
 * closed even if nobody else holds it (as asyncio's); each connection holds
 * one too, until its task is done.
 * ============================================================================== */

typedef struct
{
  CoopServer *server;       /* no reference: the server owns listeners */
  int         fd;
  gboolean    reading;
  CoopHandle *handle;       /* ours, released later */
  CoopHandle *retry;
} Listener;

typedef struct
{
  CoopServer *server;       /* a reference */
  CoopStream *stream;       /* a reference */
  CoopTask   *task;         /* borrowed: the connection goes when it is done */
  CoopFuture *future;       /* callback servers: what the callback returned */
  GList       link;         /* in server->connections */
  gboolean    ran;          /* the handler was called */
} Connection;

struct _CoopServer
{
  GObject            parent_instance;

  CoopLoop          *loop;
  GPtrArray         *listeners;     /* Listener */
  CoopStreamHandler  handler;       /* or: */
  CoopConnectionCallback callback;
  gpointer           user_data;
  GDestroyNotify     notify;
  char              *path;          /* Unix socket, unlinked at close */
  dev_t              path_dev;
  ino_t              path_ino;
  guint16            port;
  gboolean           closed;
  gboolean           starved;       /* a connection found no stack; reported */
  GQueue             connections;   /* Connection, via link */
  GQueue             closed_waiters;
  /* Runs before the handler (TLS's handshake): coop-stream-private.h. */
  CoopServerPrepareFunc prepare;
  gpointer           prepare_data;
  GDestroyNotify     prepare_notify;
};

/**
 * CoopServer:
 *
 * A listening TCP or Unix-domain socket that serves each connection in its
 * own C task, as asyncio's `start_server()`.
 *
 * [ctor@Coop.Server.new_tcp] and [ctor@Coop.Server.new_unix] listen at
 * once; every accepted connection runs the [callback@Coop.StreamHandler]
 * as the body of a new task, with a [class@Coop.Stream] that is closed
 * when the handler returns.  [ctor@Coop.Server.new_tcp_with_callback] and
 * [ctor@Coop.Server.new_unix_with_callback] call a
 * [callback@Coop.ConnectionCallback] on the loop's thread instead (for
 * language bindings), and close the stream when the future it returns is
 * done.  A connection whose task cannot get a stack
 * (`G_IO_ERROR_NO_SPACE`) is closed at once and the server keeps
 * accepting; the first of a run of such failures goes to the loop's
 * exception handler.  [method@Coop.Server.close] stops accepting,
 * [method@Coop.Server.close_clients] and [method@Coop.Server.abort_clients]
 * end the connections being served, and [method@Coop.Server.wait_closed]
 * waits until the last of them is done.
 */
G_DEFINE_FINAL_TYPE (CoopServer, coop_server, G_TYPE_OBJECT)

static void listener_start (Listener *listener);

static void
server_check_closed (CoopServer *self)
{
  if (self->closed && self->connections.length == 0)
    coop_net_complete_queue (&self->closed_waiters, NULL);
}

static void
connection_body (CoopTask *task,
                 gpointer  data)
{
  Connection *conn = data;

  conn->ran = TRUE;
  /* Stacks are to be had again: the next shortage gets reported. */
  conn->server->starved = FALSE;
  if (conn->server->prepare != NULL &&
      !conn->server->prepare (task, conn->stream, conn->server->prepare_data))
    return;
  conn->server->handler (task, conn->stream, conn->server->user_data);
}

/* The connection's task never ran.  When that is because no stack could
 * be mapped for it (address space or mappings exhausted), its connection
 * is closed like any other and the server goes on accepting; the error is
 * read here so that thousands of such connections are not reported one
 * by one, and the first of each shortage is reported instead. */
static void
connection_not_run (Connection *conn)
{
  CoopServer *server = conn->server;
  const GError *error = coop_future_get_error (COOP_FUTURE (conn->task));

  if (error == NULL || !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE))
    return;
  if (server->starved)
    return;
  server->starved = TRUE;
  coop_loop_report_exception (server->loop,
                              "A server could not start a task for a connection and closed it "
                              "(reported once until a connection runs again)",
                              COOP_FUTURE (conn->task), error);
}

/* The task is done (or never ran): the stream is closed, unless the handler
 * did it. */
static void
connection_free (gpointer data)
{
  Connection *conn = data;
  CoopServer *server = conn->server;

  if (!conn->ran && conn->task != NULL)
    connection_not_run (conn);
  coop_stream_close (conn->stream);
  g_object_unref (conn->stream);
  g_clear_object (&conn->future);
  g_queue_unlink (&server->connections, &conn->link);
  g_free (conn);
  server_check_closed (server);
  g_object_unref (server);
}

static void
connection_future_done (CoopFuture *future,
                        gpointer    data)
{
  /* Nothing to do: the notify (connection_free) ends the connection, also
   * when the callback is dropped unrun (its loop closed). */
}

/* A callback server's connection: the callback runs now, on the loop's
 * thread (this is the listener's reader callback, never a fiber); the
 * connection lasts until the future it returned is done. */
static void
server_call_callback (CoopServer *self,
                      Connection *conn)
{
  CoopFuture *future;

  conn->ran = TRUE;
  future = self->callback (self, conn->stream, self->user_data);
  if (future == NULL)
    {
      connection_free (conn);
      return;
    }
  if (!COOP_IS_FUTURE (future))
    {
      g_critical ("A server's connection callback returned something that is not a CoopFuture");
      connection_free (conn);
      return;
    }
  conn->future = future;
  coop_future_add_done_callback (future, connection_future_done, conn, connection_free);
}

static void
server_start_connection (CoopServer            *self,
                         int                    fd,
                         const struct sockaddr *peer,
                         socklen_t              peer_len)
{
  Connection *conn = g_new0 (Connection, 1);
  g_autofree char *peer_name = coop_net_describe_native (peer, peer_len, self->path);
  g_autofree char *name = g_strconcat ("conn ", peer_name, NULL);
  CoopTask *task;

  conn->server = g_object_ref (self);
  conn->stream = coop_stream_adopt_fd (self->loop, fd, peer, peer_len);
  conn->link.data = conn;
  g_queue_push_tail_link (&self->connections, &conn->link);
  if (self->callback != NULL)
    {
      server_call_callback (self, conn);
      return;
    }
  task = coop_task_new_full (self->loop, name, 0, connection_body, conn, connection_free);
  conn->task = task;
  coop_task_detach (task); /* the server owns it: nobody is to await it */
  g_object_unref (task);   /* a pending task keeps itself alive */
}

static void
listener_retry_cb (gpointer data)
{
  Listener *listener = data;

  g_clear_pointer (&listener->retry, coop_handle_unref);
  if (!listener->server->closed)
    listener_start (listener);
}

static void
listener_unref_server (gpointer data)
{
  g_object_unref (((Listener *) data)->server);
}

/* The reader is gone (removed by us, or by the loop closing). */
static void
listener_reader_removed (gpointer data)
{
  Listener *listener = data;

  listener->reading = FALSE;
  g_object_unref (listener->server);
}

static void
listener_readable_cb (gpointer data)
{
  Listener *listener = data;
  CoopServer *self = g_object_ref (listener->server);
  guint i;

  for (i = 0; i < ACCEPT_BUDGET && !self->closed; i++)
    {
      struct sockaddr_storage peer;
      socklen_t peer_len = sizeof peer;
      int fd = accept4 (listener->fd, (struct sockaddr *) &peer, &peer_len,
                        SOCK_NONBLOCK | SOCK_CLOEXEC);

      if (fd >= 0)
        {
          server_start_connection (self, fd, (struct sockaddr *) &peer, peer_len);
          continue;
        }
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      {
        int err = errno;
        g_autoptr(GError) error = coop_net_errno_error_new (err, "Cannot accept a connection");

        coop_loop_report_exception (self->loop, "A server could not accept a connection", NULL, error);
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
          {
            /* Out of resources: stop accepting for a while, as asyncio. */
            coop_loop_remove_reader (self->loop, listener->fd);
            g_object_ref (self);
            listener->retry = coop_loop_call_later (self->loop, ACCEPT_RETRY_USEC, listener_retry_cb,
                                                    listener, listener_unref_server);
          }
        break;
      }
    }
  g_object_unref (self);
}

static void
listener_start (Listener *listener)
{
  CoopServer *self = listener->server;
  CoopHandle *handle;

  if (listener->reading || coop_loop_is_closed (self->loop))
    return;
  g_object_ref (self);
  listener->reading = TRUE;
  handle = coop_loop_add_reader (self->loop, listener->fd, listener_readable_cb, listener,
                                 listener_reader_removed);
  if (listener->handle != NULL)
    coop_net_unref_later (self->loop, (CoopReadyFunc) coop_handle_unref, listener->handle);
  listener->handle = handle;
}

static void
listener_free (gpointer data)
{
  Listener *listener = data;

  g_assert (!listener->reading && listener->retry == NULL);
  if (listener->fd >= 0)
    close (listener->fd);
  if (listener->handle != NULL)
    coop_net_unref_later (listener->server->loop, (CoopReadyFunc) coop_handle_unref, listener->handle);
  g_free (listener);
}

/* Stops one listener; may drop references on the server (the caller holds
 * one). */
static void
listener_stop (Listener *listener)
{
  CoopLoop *loop = listener->server->loop;

  if (listener->retry != NULL)
    {
      CoopHandle *retry = g_steal_pointer (&listener->retry);

      coop_handle_cancel (retry);
      coop_handle_unref (retry);
    }
  if (listener->fd >= 0)
    {
      listener->reading = FALSE;
      if (!coop_loop_is_closed (loop))
        coop_loop_forget_fd (loop, listener->fd);
      close (listener->fd);
      listener->fd = -1;
    }
}

static void
server_close_listeners (CoopServer *self)
{
  guint i;

  for (i = 0; i < self->listeners->len; i++)
    listener_stop (g_ptr_array_index (self->listeners, i));
  if (self->path != NULL)
    {
      struct stat st;

      /* Remove the socket file, if it is still ours (asyncio 3.13). */
      if (stat (self->path, &st) == 0 && S_ISSOCK (st.st_mode) &&
          st.st_dev == self->path_dev && st.st_ino == self->path_ino)
        unlink (self->path);
      g_clear_pointer (&self->path, g_free);
    }
}

static void
coop_server_dispose (GObject *object)
{
  CoopServer *self = COOP_SERVER (object);

  /* Nothing references us any more: no reader, no connection. */
  if (!self->closed)
    {
      self->closed = TRUE;
      server_close_listeners (self);
    }
  coop_net_complete_queue (&self->closed_waiters, NULL);

  G_OBJECT_CLASS (coop_server_parent_class)->dispose (object);
}

static void
coop_server_finalize (GObject *object)
{
  CoopServer *self = COOP_SERVER (object);

  g_assert (self->connections.length == 0);
  g_ptr_array_unref (self->listeners);
  if (self->notify != NULL)
    self->notify (self->user_data);
  if (self->prepare_notify != NULL)
    self->prepare_notify (self->prepare_data);
  g_free (self->path);
  g_clear_object (&self->loop);

  G_OBJECT_CLASS (coop_server_parent_class)->finalize (object);
}

static void
coop_server_class_init (CoopServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = coop_server_dispose;
  object_class->finalize = coop_server_finalize;
}

static void
coop_server_init (CoopServer *self)
{
  self->listeners = g_ptr_array_new_with_free_func (listener_free);
  g_queue_init (&self->connections);
  g_queue_init (&self->closed_waiters);
}

/* Checks what every constructor checks; on failure, frees @user_data. */
static CoopServer *
server_new (CoopLoop              *loop,
            CoopStreamHandler      handler,
            CoopConnectionCallback callback,
            gpointer               user_data,
            GDestroyNotify     notify,
            GError           **error)
{
  CoopServer *self;

  if (!coop_loop_check_usable (loop, error))
    goto fail;
  if (handler != NULL && !coop_is_static_code ((gpointer) handler))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_NOT_SUPPORTED,
                           "A server's handler runs as a task and must be C code: a language "
                           "binding's callback cannot run on a fiber (use the binding's own "
                           "server, such as asyncio's start_server on Coop's event loop)");
      goto fail;
    }
  self = g_object_new (COOP_TYPE_SERVER, NULL);
  self->loop = g_object_ref (loop);
  self->handler = handler;
  self->callback = callback;
  self->user_data = user_data;
  self->notify = notify;
  return self;

fail:
  if (notify != NULL)
    notify (user_data);
  return NULL;
}

/* A bound, listening socket.  On failure, *err_out is the errno. */
static gboolean
server_listen (CoopServer             *self,
               const struct sockaddr  *address,
               socklen_t               len,
               int                     backlog,
               int                     v6only,
               int                    *err_out,
               GError                **error)
{
  g_autofree char *name = coop_net_describe_native (address, len, self->path);
  Listener *listener;
  int fd, one = 1, err;

  fd = socket (address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    goto fail;
  if (address->sa_family != AF_UNIX)
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (address->sa_family == AF_INET6 && v6only >= 0)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  if (bind (fd, address, len) != 0 || listen (fd, backlog) != 0)
    goto fail;

  listener = g_new0 (Listener, 1);
  listener->server = self;
  listener->fd = fd;
  g_ptr_array_add (self->listeners, listener);
  return TRUE;

fail:
  err = errno;
  if (fd >= 0)
    close (fd);
  *err_out = err;
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
               "Cannot listen on %s: %s", name, g_strerror (err));
  return FALSE;
}

/* Listens on @inet; with *@port 0, sets it to the port the system picked. */
static gboolean
server_listen_inet (CoopServer    *self,
                    GInetAddress  *inet,
                    guint16       *port,
                    int            backlog,
                    int            v6only,
                    int           *err_out,
                    GError       **error)
{
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (inet, *port);
  struct sockaddr_storage native;
  socklen_t len = g_socket_address_get_native_size (address);
  Listener *listener;

  *err_out = EINVAL;
  if (!g_socket_address_to_native (address, &native, sizeof native, error) ||
      !server_listen (self, (struct sockaddr *) &native, len, backlog, v6only, err_out, error))
    return FALSE;
  listener = g_ptr_array_index (self->listeners, self->listeners->len - 1);
  len = sizeof native;
  if (*port == 0 && getsockname (listener->fd, (struct sockaddr *) &native, &len) == 0)
    *port = ntohs (native.ss_family == AF_INET ? ((struct sockaddr_in *) &native)->sin_port
                                               : ((struct sockaddr_in6 *) &native)->sin6_port);
  return TRUE;
}

static void
server_start (CoopServer *self)
{
  guint i;

  for (i = 0; i < self->listeners->len; i++)
    listener_start (g_ptr_array_index (self->listeners, i));
}

/* coop_server_new_tcp() and its callback variant: one of @handler and
 * @callback is set. */
static CoopServer *
server_new_tcp (CoopLoop              *loop,
                const char            *host,
                guint16                port,
                int                    backlog,
                CoopStreamHandler      handler,
                CoopConnectionCallback callback,
                gpointer               user_data,
                GDestroyNotify         notify,
                GError               **error)
{
  g_autoptr(CoopServer) self = NULL;
  GError *local_error = NULL;
  int err = 0;

  self = server_new (loop, handler, callback, user_data, notify, error);
  if (self == NULL)
    return NULL;
  if (backlog <= 0)
    backlog = SOMAXCONN;

  if (host == NULL)
    {
      /* Every interface: one dual-stack socket, or IPv4 without IPv6. */
      g_autoptr(GInetAddress) any6 = g_inet_address_new_any (G_SOCKET_FAMILY_IPV6);

      if (!server_listen_inet (self, any6, &port, backlog, 0, &err, &local_error) &&
          (err == EAFNOSUPPORT || err == EADDRNOTAVAIL))
        {
          g_autoptr(GInetAddress) any4 = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);

          g_clear_error (&local_error);
          server_listen_inet (self, any4, &port, backlog, -1, &err, &local_error);
        }
    }
  else
    {
      GInetAddress *numeric = g_inet_address_new_from_string (host);
      GList *addresses, *l;
      GError *skipped = NULL;

      if (numeric != NULL)
        addresses = g_list_append (NULL, numeric);
      else
        {
          GResolver *resolver = g_resolver_get_default ();

          addresses = g_resolver_lookup_by_name (resolver, host, NULL, &local_error);
          g_object_unref (resolver);
          if (addresses == NULL)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND, "%s",
                           local_error != NULL ? local_error->message : host);
              g_clear_error (&local_error);
              return NULL;
            }
        }

      /* Every address of the name (IPv6 ones only for IPv6, as asyncio);
       * one this machine cannot bind (::1 without IPv6) is skipped if
       * another works. */
      for (l = addresses; l != NULL && local_error == NULL; l = l->next)
        if (!server_listen_inet (self, l->data, &port, backlog, 1, &err, &local_error) &&
            (err == EAFNOSUPPORT || err == EADDRNOTAVAIL))
          {
            if (skipped == NULL)
              skipped = g_steal_pointer (&local_error);
            g_clear_error (&local_error);
          }
      g_resolver_free_addresses (addresses);
      if (local_error == NULL && self->listeners->len == 0)
        local_error = g_steal_pointer (&skipped);
      g_clear_error (&skipped);
    }

  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return NULL;   /* dispose closes what was bound */
    }
  self->port = port;
  server_start (self);
  return g_steal_pointer (&self);
}

/* coop_server_new_unix() and its callback variant. */
static CoopServer *
server_new_unix (CoopLoop              *loop,
                 const char            *path,
                 int                    backlog,
                 CoopStreamHandler      handler,
                 CoopConnectionCallback callback,
                 gpointer               user_data,
                 GDestroyNotify         notify,
                 GError               **error)
{
  g_autoptr(CoopServer) self = NULL;
  struct sockaddr_un address = { 0, };
  struct stat st;
  int err;

  self = server_new (loop, handler, callback, user_data, notify, error);
  if (self == NULL)
    return NULL;
  if (backlog <= 0)
    backlog = SOMAXCONN;
  if (path[0] == '\0' || strlen (path) >= sizeof address.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "“%s” cannot be a Unix socket address (empty, or longer than %zu bytes)",
                   path, sizeof address.sun_path - 1);
      return NULL;
    }
  if (stat (path, &st) == 0 && S_ISSOCK (st.st_mode))
    unlink (path);   /* stale, from an earlier run */

  address.sun_family = AF_UNIX;
  strcpy (address.sun_path, path);
  if (!server_listen (self, (struct sockaddr *) &address, sizeof address, backlog, -1, &err, error))
    return NULL;
  if (stat (path, &st) == 0)
    {
      self->path = g_strdup (path);
      self->path_dev = st.st_dev;
      self->path_ino = st.st_ino;
    }
  server_start (self);
  return g_steal_pointer (&self);
}

/**
 * coop_server_new_tcp: (skip)
 * @loop: the loop
 * @host: (nullable): the address to listen on: a numeric IPv4 or IPv6
 *   address, a host name (resolved *synchronously*, every address it has is
 *   bound), or %NULL for every interface (one dual-stack IPv6 socket, or
 *   IPv4 where IPv6 is missing)
 * @port: the port, or 0 for one the system picks (then shared by all of
 *   the host's addresses; see [method@Coop.Server.get_port])
 * @backlog: the `listen()` backlog, or 0 or less for `SOMAXCONN`
 * @handler: (scope notified) (closure user_data) (destroy notify): serves
 *   each connection, as the body of its own C task
 * @user_data: data for @handler
 * @notify: (nullable): frees @user_data when the server is finalized (or at
 *   once if this fails)
 * @error: return location for an error
 *
 * Starts a TCP server, as asyncio's `start_server()`: it listens at once
 * (with `SO_REUSEADDR`) and, for each connection it accepts, runs @handler
 * in a new C task named after the peer ("conn 127.0.0.1:54321") with a
 * [class@Coop.Stream], closed when @handler returns.  A server serves until
 * [method@Coop.Server.close], even when nothing else references it.
 *
 * Fails with `G_IO_ERROR_ADDRESS_IN_USE` and the like when it cannot listen,
 * and with %COOP_ERROR_NOT_SUPPORTED if @handler is not C code (a language
 * binding's callback).  For that reason it is not introspected (`(skip)`):
 * bindings use [ctor@Coop.Server.new_tcp_with_callback], whose callback
 * runs on the loop's thread.
 *
 * Returns: (transfer full) (nullable): the server, serving
 */
CoopServer *
coop_server_new_tcp (CoopLoop          *loop,
                     const char        *host,
                     guint16            port,
                     int                backlog,
                     CoopStreamHandler  handler,
                     gpointer           user_data,
                     GDestroyNotify     notify,
                     GError           **error)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (handler != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return server_new_tcp (loop, host, port, backlog, handler, NULL, user_data, notify, error);
}

/**
 * coop_server_new_tcp_with_callback:
 * @loop: the loop
 * @host: (nullable): the address to listen on, as for
 *   `coop_server_new_tcp()`: a numeric address, a host name (resolved
 *   synchronously), or %NULL for every interface
 * @port: the port, or 0 for one the system picks
 *   ([method@Coop.Server.get_port])
 * @backlog: the `listen()` backlog, or 0 or less for `SOMAXCONN`
 * @callback: (scope notified) (closure user_data) (destroy notify): called
 *   on the loop's thread with each accepted connection
 * @user_data: data for @callback
 * @notify: (nullable): frees @user_data when the server is finalized (or at
 *   once if this fails)
 * @error: return location for an error
 *
 * Starts a TCP server whose connections are served by a callback instead
 * of a C task: the variant of `coop_server_new_tcp()` for Python,
 * JavaScript and any code that does not run on a fiber.
 *
 * For each connection it accepts, the server calls @callback at once, on
 * the loop's thread (not on a fiber: it must not call [func@Coop.await]),
 * with a [class@Coop.Stream].  The callback starts the connection's work
 * and returns a future for it, which the server tracks: the stream is
 * closed when that future is done, [method@Coop.Server.wait_closed] waits
 * for it, and [method@Coop.Server.abort_clients] cancels it.  A callback
 * that returns %NULL has finished with the connection, and the stream is
 * closed right after it returns.  From JavaScript, the `Coop` override
 * accepts an async function (its promise becomes the future); from Python,
 * return `coop.wrap_future(coroutine)` (or any `Coop.Future`).
 *
 * [method@Coop.Loop.shutdown] cancels tasks, not these futures: before
 * it, close the server and end its connections
 * ([method@Coop.Server.close], [method@Coop.Server.abort_clients],
 * [method@Coop.Server.wait_closed]).
 *
 * Fails with `G_IO_ERROR_ADDRESS_IN_USE` and the like when it cannot listen.
 *
 * Returns: (transfer full) (nullable): the server, serving
 */
CoopServer *
coop_server_new_tcp_with_callback (CoopLoop              *loop,
                                   const char            *host,
                                   guint16                port,
                                   int                    backlog,
                                   CoopConnectionCallback callback,
                                   gpointer               user_data,
                                   GDestroyNotify         notify,
                                   GError               **error)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (callback != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return server_new_tcp (loop, host, port, backlog, NULL, callback, user_data, notify, error);
}

/**
 * coop_server_new_unix: (skip)
 * @loop: the loop
 * @path: the file name of the socket; a stale socket file there is removed
 *   first (as asyncio), any other file is an error
 * @backlog: the `listen()` backlog, or 0 or less for `SOMAXCONN`
 * @handler: (scope notified) (closure user_data) (destroy notify): serves
 *   each connection, as the body of its own C task
 * @user_data: data for @handler
 * @notify: (nullable): frees @user_data when the server is finalized (or at
 *   once if this fails)
 * @error: return location for an error
 *
 * Starts a Unix-domain stream server, as asyncio's `start_unix_server()`;
 * see `coop_server_new_tcp()`.  The socket file is removed when the
 * server is closed, if it is still the one the server made.  Not
 * introspected, as `coop_server_new_tcp()`.
 *
 * Returns: (transfer full) (nullable): the server, serving
 */
CoopServer *
coop_server_new_unix (CoopLoop          *loop,
                      const char        *path,
                      int                backlog,
                      CoopStreamHandler  handler,
                      gpointer           user_data,
                      GDestroyNotify     notify,
                      GError           **error)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (handler != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return server_new_unix (loop, path, backlog, handler, NULL, user_data, notify, error);
}

/**
 * coop_server_new_unix_with_callback:
 * @loop: the loop
 * @path: the file name of the socket, as for `coop_server_new_unix()`
 * @backlog: the `listen()` backlog, or 0 or less for `SOMAXCONN`
 * @callback: (scope notified) (closure user_data) (destroy notify): called
 *   on the loop's thread with each accepted connection
 * @user_data: data for @callback
 * @notify: (nullable): frees @user_data when the server is finalized (or at
 *   once if this fails)
 * @error: return location for an error
 *
 * Starts a Unix-domain stream server whose connections are served by a
 * callback; see [ctor@Coop.Server.new_tcp_with_callback].
 *
 * Returns: (transfer full) (nullable): the server, serving
 */
CoopServer *
coop_server_new_unix_with_callback (CoopLoop              *loop,
                                    const char            *path,
                                    int                    backlog,
                                    CoopConnectionCallback callback,
                                    gpointer               user_data,
                                    GDestroyNotify         notify,
                                    GError               **error)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (callback != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return server_new_unix (loop, path, backlog, NULL, callback, user_data, notify, error);
}

/**
 * coop_server_get_port:
 * @server: a server
 *
 * Gets the port @server listens on.
 *
 * Returns: the TCP port the server listens on (the one the system picked
 *   if 0 was asked for), or 0 for a Unix-domain server
 */
guint16
coop_server_get_port (CoopServer *server)
{
  g_return_val_if_fail (COOP_IS_SERVER (server), 0);

  return server->port;
}

/**
 * coop_server_is_serving:
 * @server: a server
 *
 * Tells whether @server accepts connections.
 *
 * Returns: whether the server accepts connections (until
 *   [method@Coop.Server.close])
 */
gboolean
coop_server_is_serving (CoopServer *server)
{
  g_return_val_if_fail (COOP_IS_SERVER (server), FALSE);

  return !server->closed;
}

/**
 * coop_server_close:
 * @server: a server
 *
 * Stops accepting connections and closes the listening sockets (asyncio's
 * `Server.close()`).  Connections already accepted are not touched: their
 * handlers run on (see [method@Coop.Server.close_clients]).  Closing again
 * does nothing.
 */
void
coop_server_close (CoopServer *server)
{
  g_return_if_fail (COOP_IS_SERVER (server));
  coop_return_if_wrong_thread (server->loop, COOP_INSTEAD_THREADSAFE);

  if (server->closed)
    return;
  g_object_ref (server);
  server->closed = TRUE;
  server_close_listeners (server);
  server_check_closed (server);
  g_object_unref (server);
}

/**
 * coop_server_close_clients:
 * @server: a server
 *
 * Closes the stream of every connection being served (asyncio 3.13's
 * `close_clients()`): their pending reads fail with `G_IO_ERROR_CLOSED`,
 * so handlers finish soon.  Buffered output is still sent.
 */
void
coop_server_close_clients (CoopServer *server)
{
  GList *l;

  g_return_if_fail (COOP_IS_SERVER (server));
  coop_return_if_wrong_thread (server->loop, COOP_INSTEAD_THREADSAFE);

  for (l = server->connections.head; l != NULL; l = l->next)
    coop_stream_close (((Connection *) l->data)->stream);
}

/**
 * coop_server_abort_clients:
 * @server: a server
 *
 * Aborts the stream of every connection being served (asyncio 3.13's
 * `abort_clients()`), dropping buffered output; see
 * [method@Coop.Stream.abort].  The futures that the callback of a
 * [ctor@Coop.Server.new_tcp_with_callback] server returned are cancelled.
 */
void
coop_server_abort_clients (CoopServer *server)
{
  GList *l;

  g_return_if_fail (COOP_IS_SERVER (server));
  coop_return_if_wrong_thread (server->loop, COOP_INSTEAD_THREADSAFE);

  for (l = server->connections.head; l != NULL; )
    {
      Connection *conn = l->data;

      l = l->next;   /* a cancelled future's connection ends later, but be safe */
      coop_stream_abort (conn->stream);
      if (conn->future != NULL)
        coop_future_cancel (conn->future, "The server aborted its clients");
    }
}

/**
 * coop_server_wait_closed:
 * @server: a server
 *
 * Returns a future that finishes once the server is closed and the task of
 * every connection it accepted is done (asyncio 3.12's `wait_closed()`).
 *
 * Returns: (transfer full): a future with no value
 */
CoopFuture *
coop_server_wait_closed (CoopServer *server)
{
  CoopFuture *future;

  g_return_val_if_fail (COOP_IS_SERVER (server), NULL);
  coop_return_val_if_wrong_thread (server->loop, COOP_INSTEAD_THREADSAFE, NULL);

  future = coop_future_new (server->loop);
  if (server->closed && server->connections.length == 0)
    coop_future_set_none (future);
  else
    {
      coop_net_queue_prune (&server->closed_waiters);
      g_queue_push_tail (&server->closed_waiters, g_object_ref (future));
    }
  return future;
}

/**
 * coop_server_get_n_connections:
 * @server: a server
 *
 * Gets the number of connections being served.
 *
 * Returns: how many accepted connections have a task still running
 */
guint
coop_server_get_n_connections (CoopServer *server)
{
  g_return_val_if_fail (COOP_IS_SERVER (server), 0);

  return server->connections.length;
}

void
coop_server_set_prepare (CoopServer            *server,
                         CoopServerPrepareFunc  prepare,
                         gpointer               data,
                         GDestroyNotify         notify)
{
  if (server->prepare_notify != NULL)
    server->prepare_notify (server->prepare_data);
  server->prepare = prepare;
  server->prepare_data = data;
  server->prepare_notify = notify;
}
