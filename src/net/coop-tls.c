/* coop-tls.c: TLS streams and servers on GIO's TLS backend.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "coop-private.h"
#include "coop-stream-private.h"

/* TLS is GIO's (GTlsClientConnection / GTlsServerConnection from
 * glib-networking), so the system CA database, GTlsDatabase,
 * GTlsCertificate and the G_TLS_ERROR codes are the ones GNOME already
 * uses; Coop adds no TLS code of its own.
 *
 * The GTlsConnection runs over a GSocketConnection on a dup() of the
 * stream's fd (GSocket owns and closes its copy; the stream keeps its own,
 * so the fd registered on the loop never changes).  The handshake is one
 * g_tls_connection_handshake_async() per connection (glib-networking runs
 * it on a worker thread); meanwhile the stream is suspended: it neither
 * reads nor writes the fd, writes are queued.  Once it succeeded, the
 * stream's transport seam (coop-stream-private.h) reads and writes through
 * the connection's pollable streams with the _nonblocking calls, and waits
 * for the fd's readiness on the loop's I/O source as a plain stream does:
 * no thread and no GIO _async call per read or write.  GIO's "would block"
 * is the stream's EAGAIN.  A record read in part stays in the TLS layer
 * with the fd no longer readable; the stream re-polls its transport for
 * that case (coop-stream.c, stream_rewake_cb).
 *
 * The GTlsConnection itself is built on one of the loop's worker threads
 * (tls_connection_new(): glib-networking loads the system's trust store
 * for each one, far too long for the loop's thread).
 *
 * Verification failures are GIO's G_TLS_ERROR_BAD_CERTIFICATE; the client
 * listens to "accept-certificate" (which GIO emits only for a certificate
 * that failed verification), refuses, and names the GTlsCertificateFlags
 * in the error message.  A peer trusted without the system CAs (a test
 * CA, a self-signed server) is trusted through a GTlsDatabase, GIO's way.
 *
 * Closing gracefully sends close_notify (closing the connection's output
 * stream) once the write buffer is flushed; an abort sends nothing.  That
 * close is GIO's synchronous one: after a flush the socket has room for
 * the alert's few bytes, so it does not wait in practice.
 */

typedef struct
{
  GTlsConnection        *conn;
  GPollableInputStream  *in;
  GPollableOutputStream *out;
} Tls;

static gssize
tls_recv (gpointer   data,
          guint8    *buf,
          gsize      len,
          GError   **error)
{
  Tls *tls = data;
  GError *local = NULL;
  gssize n = g_pollable_input_stream_read_nonblocking (tls->in, buf, len, NULL, &local);

  if (n >= 0)
    return n;
  if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    g_error_free (local);
  else
    g_propagate_error (error, local);
  return -1;
}

static gssize
tls_send (gpointer      data,
          const guint8 *buf,
          gsize         len,
          GError      **error)
{
  Tls *tls = data;
  GError *local = NULL;
  gssize n = g_pollable_output_stream_write_nonblocking (tls->out, buf, len, NULL, &local);

  if (n >= 0)
    return n;
  if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    g_error_free (local);
  else
    g_propagate_error (error, local);
  return -1;
}

static gboolean
tls_shutdown_write (gpointer   data,
                    GError   **error)
{
  Tls *tls = data;

  /* close_notify; GIO closes the socket only once both sides are closed. */
  return g_output_stream_close (G_OUTPUT_STREAM (tls->out), NULL, error);
}

/* Closes the connection's socket (its copy of the fd).  A GIOStream closes
 * itself when it is disposed, and a GTlsConnection's close sends
 * close_notify: done on a dropped connection, that would make an abort (or
 * a failed handshake) look like a clean end to the peer, and could wait on
 * a full socket.  With the socket closed first it sends nothing. */
static void
tls_conn_silence (GTlsConnection *conn)
{
  GIOStream *base = NULL;

  g_object_get (conn, "base-io-stream", &base, NULL);
  if (G_IS_SOCKET_CONNECTION (base))
    g_socket_close (g_socket_connection_get_socket (G_SOCKET_CONNECTION (base)), NULL);
  g_clear_object (&base);
}

static void
tls_free (gpointer data)
{
  Tls *tls = data;

  /* A graceful close sent close_notify already (tls_shutdown_write). */
  tls_conn_silence (tls->conn);
  g_clear_object (&tls->conn);
  g_free (tls);
}

static const CoopStreamTransport tls_transport = {
  tls_recv,
  tls_send,
  tls_shutdown_write,
  tls_free,
};

/* --- the handshake -------------------------------------------------------------- */

/* Verification problems that "accept-certificate" saw, for the error. */
typedef struct
{
  gint flags;   /* GTlsCertificateFlags, atomic: GIO may emit from its thread */
} Verification;

static gboolean
accept_certificate_cb (GTlsConnection       *conn,
                       GTlsCertificate      *peer,
                       GTlsCertificateFlags  errors,
                       gpointer              data)
{
  Verification *verification = data;

  g_atomic_int_set (&verification->flags, (gint) errors);
  return FALSE;
}

static GError *
bad_certificate_error (GTlsCertificateFlags  flags,
                       const char           *identity,
                       const GError         *error)
{
  static const struct { GTlsCertificateFlags flag; const char *text; } reasons[] = {
    { G_TLS_CERTIFICATE_UNKNOWN_CA, "it is not signed by a trusted certificate authority" },
    { G_TLS_CERTIFICATE_BAD_IDENTITY, "it does not match the host name" },
    { G_TLS_CERTIFICATE_NOT_ACTIVATED, "it is not valid yet" },
    { G_TLS_CERTIFICATE_EXPIRED, "it has expired" },
    { G_TLS_CERTIFICATE_REVOKED, "it was revoked" },
    { G_TLS_CERTIFICATE_INSECURE, "its algorithm is insecure" },
    { G_TLS_CERTIFICATE_GENERIC_ERROR, "it could not be verified" },
  };
  GString *text = g_string_new (NULL);
  GError *named;
  gsize i;

  g_string_append_printf (text, "The TLS certificate of %s was rejected: ",
                          identity != NULL ? identity : "the peer");
  for (i = 0; i < G_N_ELEMENTS (reasons); i++)
    if (flags & reasons[i].flag)
      {
        if (text->str[text->len - 2] != ':')
          g_string_append (text, "; ");
        g_string_append (text, reasons[i].text);
      }
  if (text->str[text->len - 2] == ':')
    g_string_append (text, error->message);
  named = g_error_new_literal (G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE, text->str);
  g_string_free (text, TRUE);
  return named;
}


/* Builds the GTlsConnection on a copy of the stream's fd. */
static GIOStream *
tls_base_new (CoopStream  *stream,
              GError     **error)
{
  int fd = fcntl (coop_stream_get_fd (stream), F_DUPFD_CLOEXEC, 3);
  GSocket *socket;
  GIOStream *base;

  if (fd < 0)
    {
      int err = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "Could not start TLS: %s", g_strerror (err));
      return NULL;
    }
  socket = g_socket_new_from_fd (fd, error);
  if (socket == NULL)
    {
      close (fd);
      return NULL;
    }
  base = G_IO_STREAM (g_socket_connection_factory_create_connection (socket));
  g_object_unref (socket);
  return base;
}

/* Runs in a task: handshakes @conn over @stream's fd and makes it the
 * stream's transport.  @timeout_usec ≤ 0: no deadline but the caller's. */
static gboolean
tls_handshake (CoopStream      *stream,
               GTlsConnection  *conn,
               const char      *identity,
               gint64           timeout_usec,
               GError         **error)
{
  CoopLoop *loop = coop_stream_get_loop_internal (stream);
  g_autoptr(CoopAsyncFuture) op = NULL;
  g_autoptr(CoopTimeout) deadline = NULL;
  Verification *verification = NULL;
  GMainContext *pushed;
  GError *local = NULL;
  gulong handler = 0;
  Tls *tls;

  if (G_IS_TLS_CLIENT_CONNECTION (conn))
    {
      /* Owned by the connection: GIO's thread may outlive this call. */
      verification = g_new0 (Verification, 1);
      g_object_set_data_full (G_OBJECT (conn), "coop-verification", verification, g_free);
      handler = g_signal_connect (conn, "accept-certificate",
                                  G_CALLBACK (accept_certificate_cb), verification);
    }

  coop_stream_set_suspended (stream, TRUE);
  op = coop_async_future_new (loop);
  coop_loop_push_context (loop, "TLS", &pushed, &local);
  if (local == NULL)
    {
      g_tls_connection_handshake_async (conn, G_PRIORITY_DEFAULT,
                                        coop_async_future_get_cancellable (op),
                                        coop_async_future_callback, op);
      if (pushed != NULL)
        g_main_context_pop_thread_default (pushed);

      if (timeout_usec > 0)
        deadline = coop_timeout_enter (timeout_usec, &local);
      if (local == NULL)
        {
          /* Cancelling the task cancels GIO's call through the future's
           * GCancellable; GIO's thread holds its own references. */
          if (coop_await (COOP_FUTURE (op), &local))
            g_tls_connection_handshake_finish (conn, coop_async_future_get_result (op), &local);
        }
      if (deadline != NULL)
        coop_timeout_exit (deadline, &local);
    }
  if (handler != 0)
    g_signal_handler_disconnect (conn, handler);

  if (local != NULL)
    {
      GTlsCertificateFlags flags = verification != NULL ?
        (GTlsCertificateFlags) g_atomic_int_get (&verification->flags) : 0;

      if (g_error_matches (local, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE) && flags != 0)
        {
          GError *named = bad_certificate_error (flags, identity, local);

          g_error_free (local);
          local = named;
        }
      g_propagate_error (error, local);
      /* Half a handshake leaves nothing usable on the connection. */
      tls_conn_silence (conn);
      coop_stream_abort (stream);
      return FALSE;
    }

  tls = g_new0 (Tls, 1);
  tls->conn = g_object_ref (conn);
  tls->in = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (G_IO_STREAM (conn)));
  tls->out = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (G_IO_STREAM (conn)));
  coop_stream_set_transport (stream, &tls_transport, tls);
  coop_stream_set_suspended (stream, FALSE);
  return TRUE;
}

/* Building a GTlsConnection is not cheap: glib-networking's GnuTLS backend
 * loads the system's trust store into fresh credentials for every
 * connection, client or server (measured: 70-200 ms of CPU each on a
 * loaded 2-core machine).  On the loop's thread that would stall every
 * other task for as long, once per connection accepted or opened; so it
 * runs on the loop's worker threads while the task awaits.  The base
 * stream and the certificate are only read there; the connection is used
 * from the loop's thread afterwards (GObjects may change threads). */
typedef struct
{
  GIOStream          *base;       /* a reference */
  GSocketConnectable *identity;   /* client: the server's name, or NULL */
  GTlsCertificate    *certificate; /* server: its certificate, or NULL */
} TlsNew;

static void
tls_new_free (gpointer data)
{
  TlsNew *tn = data;

  g_object_unref (tn->base);
  g_clear_object (&tn->identity);
  g_clear_object (&tn->certificate);
  g_free (tn);
}

static gboolean
tls_new_in_thread (gpointer       data,
                   GCancellable  *cancellable,
                   GValue        *result,
                   GError       **error)
{
  TlsNew *tn = data;
  GIOStream *conn;

  (void) cancellable;
  conn = tn->certificate != NULL
       ? g_tls_server_connection_new (tn->base, tn->certificate, error)
       : g_tls_client_connection_new (tn->base, tn->identity, error);
  if (conn == NULL)
    return FALSE;
  g_value_init (result, G_TYPE_IO_STREAM);
  g_value_take_object (result, conn);
  return TRUE;
}

/* Awaits a new client (@certificate NULL) or server connection on @base,
 * built on a worker thread.  Must run in a task.  Leaves the stream
 * suspended (a failure aborts it). */
static GIOStream *
tls_connection_new (CoopStream         *stream,
                    GIOStream          *base,
                    GSocketConnectable *identity,
                    GTlsCertificate    *certificate,
                    GError            **error)
{
  TlsNew *tn = g_new0 (TlsNew, 1);
  g_autoptr(CoopFuture) built = NULL;
  GObject *conn;

  tn->base = g_object_ref (base);
  tn->identity = identity != NULL ? g_object_ref (identity) : NULL;
  tn->certificate = certificate != NULL ? g_object_ref (certificate) : NULL;
  /* The peer's first bytes (a ClientHello) are the handshake's: the stream
   * must not read them ahead meanwhile.  tls_handshake() resumes it. */
  coop_stream_set_suspended (stream, TRUE);
  built = coop_loop_run_in_thread (coop_stream_get_loop_internal (stream),
                                   tls_new_in_thread, tn, tls_new_free);
  if (!coop_await (built, error))
    {
      /* Cancelled (a deadline, a closing loop): the construction may not
       * even have started, and its job holds @base, the socket's
       * duplicate, until the loop's thread frees the job, which may be
       * much later.  The caller aborts the stream, which closes only the
       * stream's own descriptor; shutting the socket itself down ends the
       * connection now, for the peer too, without closing a descriptor
       * the worker may still hold. */
      g_socket_shutdown (g_socket_connection_get_socket (G_SOCKET_CONNECTION (base)),
                         TRUE, TRUE, NULL);
      return NULL;
    }
  conn = coop_future_get_object (built, error);
  return conn != NULL ? G_IO_STREAM (g_object_ref (conn)) : NULL;
}

static GTlsConnection *
tls_client_new (CoopStream         *stream,
                const char         *identity,
                guint16             port,
                GTlsDatabase       *database,
                const char * const *alpn_protocols,
                GError            **error)
{
  g_autoptr(GIOStream) base = tls_base_new (stream, error);
  g_autoptr(GSocketConnectable) server = NULL;
  GIOStream *conn;

  if (base == NULL)
    return NULL;
  server = g_network_address_new (identity, port);
  conn = tls_connection_new (stream, base, server, NULL, error);
  if (conn == NULL)
    return NULL;
  if (database != NULL)
    g_tls_connection_set_database (G_TLS_CONNECTION (conn), database);
  if (alpn_protocols != NULL && alpn_protocols[0] != NULL)
    g_tls_connection_set_advertised_protocols (G_TLS_CONNECTION (conn), alpn_protocols);
  return G_TLS_CONNECTION (conn);
}

static gboolean
check_startable (CoopStream  *stream,
                 GError     **error)
{
  if (coop_stream_get_tls_connection (stream) != NULL)
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                           "The stream already speaks TLS");
      return FALSE;
    }
  if (coop_stream_is_closing (stream) || coop_stream_get_fd (stream) < 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "The stream is closed");
      return FALSE;
    }
  /* Bytes read past the upgrade point were not protected (the STARTTLS
   * injection attacks); bytes still queued would go out encrypted. */
  if (coop_stream_has_buffered (stream))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_INVALID_STATE,
                           "TLS can start only with nothing buffered: unread bytes came before "
                           "the upgrade, or plain writes are not sent yet");
      return FALSE;
    }
  return TRUE;
}

/* --- clients ----------------------------------------------------------------------- */

typedef struct
{
  CoopLoop      *loop;
  CoopStream    *stream;     /* start_tls: the stream; open_tls: NULL until connected */
  char          *host;
  guint16        port;
  GTlsDatabase  *database;
  char         **alpn;
  GError        *early_error; /* start_tls: what the checks at the call found */
  gboolean       ran;         /* the body ran (a task cancelled first never does) */
  gboolean       checked;     /* check_startable() passed at the call */
} ClientOp;

static void
client_op_free (gpointer data)
{
  ClientOp *op = data;

  /* start_tls suspended the stream at the call: never left half-upgraded. */
  if (!op->ran && op->stream != NULL)
    coop_stream_abort (op->stream);
  g_clear_error (&op->early_error);
  g_clear_object (&op->loop);
  g_clear_object (&op->stream);
  g_free (op->host);
  g_clear_object (&op->database);
  g_strfreev (op->alpn);
  g_free (op);
}

static ClientOp *
client_op_new (CoopLoop           *loop,
               CoopStream         *stream,
               const char         *host,
               guint16             port,
               GTlsDatabase       *database,
               const char * const *alpn_protocols)
{
  ClientOp *op = g_new0 (ClientOp, 1);

  op->loop = g_object_ref (loop);
  op->stream = stream != NULL ? g_object_ref (stream) : NULL;
  op->host = g_strdup (host);
  op->port = port;
  op->database = database != NULL ? g_object_ref (database) : NULL;
  op->alpn = g_strdupv ((char **) alpn_protocols);
  return op;
}

static gboolean
client_handshake (ClientOp  *op,
                  GError   **error)
{
  g_autoptr(GTlsConnection) conn = NULL;

  if (op->early_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&op->early_error));
      return FALSE;
    }
  /* start_tls checked at the call; writes queued since are the caller's. */
  if (!op->checked && !check_startable (op->stream, error))
    return FALSE;
  if (coop_stream_is_closing (op->stream))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "The stream was closed");
      return FALSE;
    }
  conn = tls_client_new (op->stream, op->host, op->port, op->database,
                         (const char * const *) op->alpn, error);
  return conn != NULL && tls_handshake (op->stream, conn, op->host, 0, error);
}

static void
open_tls_body (CoopTask *task,
               gpointer  data)
{
  ClientOp *op = data;
  g_autoptr(CoopFuture) connect = coop_stream_open_tcp (op->loop, op->host, op->port);
  GError *error = NULL;

  op->ran = TRUE;
  if (!coop_await (connect, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), error);
      return;
    }
  op->stream = COOP_STREAM (g_object_ref (coop_future_get_object (connect, NULL)));
  if (!client_handshake (op, &error))
    {
      coop_stream_abort (op->stream);   /* also when it failed before the handshake */
      coop_future_take_error (COOP_FUTURE (task), error);
      return;
    }
  coop_future_set_object (COOP_FUTURE (task), G_OBJECT (op->stream));
}

/**
 * coop_stream_open_tls:
 * @loop: the loop
 * @host: a host name or a numeric address: connected to, sent as the
 *   server name (SNI) and checked against the server's certificate
 * @port: the port
 * @database: (nullable): the certificate authorities to trust, or %NULL
 *   for the system's ([method@Gio.TlsBackend.get_default_database])
 * @alpn_protocols: (array zero-terminated=1) (nullable): the ALPN protocols
 *   to offer (`"h2"`, `"http/1.1"`, ...), or %NULL for none
 *
 * Opens a TLS connection over TCP in one call: [func@Coop.Stream.open_tcp],
 * then [method@Coop.Stream.start_tls] with @host as the server identity.
 *
 * The TLS layer is GIO's ([iface@Gio.TlsClientConnection], from
 * glib-networking).  The certificate is verified against @database and
 * @host; a certificate that fails fails the future with
 * `G_TLS_ERROR_BAD_CERTIFICATE`, and the message names the problems
 * (unknown authority, wrong host name, expired, ...).  To trust a
 * self-signed peer or a test authority, pass a [class@Gio.TlsDatabase]
 * holding it (for example from `g_tls_file_database_new()`).
 *
 * The result is a [class@Coop.Stream] used as any other: reads, writes,
 * drain and close behave the same, and [method@Coop.Stream.close] sends
 * the TLS close_notify.  [method@Coop.Stream.get_tls_connection] gives the
 * negotiated protocol and the peer's certificate.  Bound the handshake
 * with a [struct@Coop.Timeout] or by cancelling the future.
 *
 * Returns: (transfer full): a future that finishes with the connected
 *   [class@Coop.Stream] (owned by the future), or fails with an error of
 *   the `G_IO_ERROR` or `G_TLS_ERROR` domain
 */
CoopFuture *
coop_stream_open_tls (CoopLoop           *loop,
                      const char         *host,
                      guint16             port,
                      GTlsDatabase       *database,
                      const char * const *alpn_protocols)
{
  g_autofree char *name = NULL;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (host != NULL, NULL);
  g_return_val_if_fail (database == NULL || G_IS_TLS_DATABASE (database), NULL);

  name = g_strdup_printf ("open_tls %s:%u", host, port);
  return COOP_FUTURE (coop_task_new_full (loop, name, 0, open_tls_body,
                                          client_op_new (loop, NULL, host, port, database,
                                                         alpn_protocols),
                                          client_op_free));
}

static void
start_tls_body (CoopTask *task,
                gpointer  data)
{
  ClientOp *op = data;
  GError *error = NULL;

  op->ran = TRUE;
  if (!client_handshake (op, &error))
    {
      coop_stream_abort (op->stream);
      coop_future_take_error (COOP_FUTURE (task), error);
    }
  else
    coop_future_set_none (COOP_FUTURE (task));
}

/**
 * coop_stream_start_tls:
 * @stream: a connected plain stream
 * @server_identity: the server's host name (or address): sent as the
 *   server name (SNI) and checked against its certificate
 * @database: (nullable): the certificate authorities to trust, or %NULL
 *   for the system's
 * @alpn_protocols: (array zero-terminated=1) (nullable): the ALPN protocols
 *   to offer, or %NULL for none
 *
 * Upgrades @stream to TLS as its client (STARTTLS): once the future
 * finishes, @stream reads and writes through the TLS connection, with the
 * same buffering, flow control and close as before.  Verification is as
 * in [func@Coop.Stream.open_tls].
 *
 * Start it when the protocol says so and with nothing buffered: unread
 * bytes at that point came before the upgrade unprotected, and plain
 * writes not yet sent would be encrypted, so either makes it fail with
 * `COOP_ERROR_INVALID_STATE`.  Writes made while the handshake runs are
 * sent encrypted after it; reads wait for it.  A stream whose handshake
 * failed should be aborted.
 *
 * Returns: (transfer full): a future with no value, or the handshake's
 *   error
 */
CoopFuture *
coop_stream_start_tls (CoopStream         *stream,
                       const char         *server_identity,
                       GTlsDatabase       *database,
                       const char * const *alpn_protocols)
{
  CoopLoop *loop;
  guint16 port = 0;
  g_autoptr(GSocketAddress) peer = NULL;
  ClientOp *op;

  g_return_val_if_fail (COOP_IS_STREAM (stream), NULL);
  g_return_val_if_fail (server_identity != NULL, NULL);
  g_return_val_if_fail (database == NULL || G_IS_TLS_DATABASE (database), NULL);

  loop = coop_stream_get_loop_internal (stream);
  peer = coop_stream_get_peer_address (stream, NULL);
  if (G_IS_INET_SOCKET_ADDRESS (peer))
    port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (peer));
  op = client_op_new (loop, stream, server_identity, port, database, alpn_protocols);
  /* From now on the stream's bytes are the handshake's: a write made
   * before the task runs must not go out in the clear. */
  if (check_startable (stream, &op->early_error))
    {
      op->checked = TRUE;
      coop_stream_set_suspended (stream, TRUE);
    }
  return COOP_FUTURE (coop_task_new_full (loop, "start_tls", 0, start_tls_body, op,
                                          client_op_free));
}

/**
 * coop_stream_get_tls_connection:
 * @stream: a stream
 *
 * The TLS connection @stream speaks through, once its handshake is done:
 * [method@Gio.TlsConnection.get_negotiated_protocol] (ALPN),
 * [method@Gio.TlsConnection.get_peer_certificate] and the rest of GIO's
 * API.  Read and write through the stream, not through it.
 *
 * Returns: (transfer none) (nullable): the TLS connection, or %NULL for a
 *   plain stream (or one whose handshake did not finish)
 */
GTlsConnection *
coop_stream_get_tls_connection (CoopStream *stream)
{
  Tls *tls;

  g_return_val_if_fail (COOP_IS_STREAM (stream), NULL);

  tls = coop_stream_get_transport_data (stream, &tls_transport);
  return tls != NULL ? tls->conn : NULL;
}

/* --- servers ------------------------------------------------------------------------ */

typedef struct
{
  GTlsCertificate *certificate;
  char           **alpn;
  gint64           timeout_usec;
} ServerTls;

static void
server_tls_free (gpointer data)
{
  ServerTls *config = data;

  g_object_unref (config->certificate);
  g_strfreev (config->alpn);
  g_free (config);
}

/* In the connection's task, before the handler.  A failed handshake is
 * the peer's business (a scanner, a client that distrusts us, a timeout):
 * it is logged at debug level, and the server closes the connection. */
static gboolean
server_tls_prepare (CoopTask   *task,
                    CoopStream *stream,
                    gpointer    data)
{
  ServerTls *config = data;
  g_autoptr(GIOStream) base = NULL;
  g_autoptr(GIOStream) conn = NULL;
  GError *error = NULL;

  base = tls_base_new (stream, &error);
  if (base != NULL)
    conn = tls_connection_new (stream, base, NULL, config->certificate, &error);
  if (conn != NULL)
    {
      if (config->alpn != NULL && config->alpn[0] != NULL)
        g_tls_connection_set_advertised_protocols (G_TLS_CONNECTION (conn),
                                                   (const char * const *) config->alpn);
      if (tls_handshake (stream, G_TLS_CONNECTION (conn), NULL, config->timeout_usec, &error))
        return TRUE;
    }
  g_debug ("%s: TLS handshake failed: %s", coop_task_get_name (task), error->message);
  g_error_free (error);
  coop_stream_abort (stream);   /* a half-done handshake: no close_notify */
  coop_future_set_none (COOP_FUTURE (task));
  return FALSE;
}

/**
 * coop_server_set_tls:
 * @server: a server
 * @certificate: the server's certificate, with its private key (for
 *   example from [ctor@Gio.TlsCertificate.new_from_files])
 * @alpn_protocols: (array zero-terminated=1) (nullable): the ALPN protocols
 *   the server accepts, in its order of preference, or %NULL for none
 * @handshake_timeout_usec: how long a client may take to finish the
 *   handshake, in microseconds, or 0 for no limit
 *
 * Makes @server speak TLS: each connection it accepts from now on first
 * completes a TLS handshake ([iface@Gio.TlsServerConnection] with
 * @certificate), and the handler runs only once it succeeded, with a
 * stream that reads and writes through TLS.  A connection whose handshake
 * fails or times out is closed without running the handler (and logged
 * with g_debug()).  Call it right after creating the server, before the
 * loop runs again.
 */
void
coop_server_set_tls (CoopServer         *server,
                     GTlsCertificate    *certificate,
                     const char * const *alpn_protocols,
                     gint64              handshake_timeout_usec)
{
  ServerTls *config;

  g_return_if_fail (COOP_IS_SERVER (server));
  g_return_if_fail (G_IS_TLS_CERTIFICATE (certificate));
  g_return_if_fail (handshake_timeout_usec >= 0);

  config = g_new0 (ServerTls, 1);
  config->certificate = g_object_ref (certificate);
  config->alpn = g_strdupv ((char **) alpn_protocols);
  config->timeout_usec = handshake_timeout_usec;
  coop_server_set_prepare (server, server_tls_prepare, config, server_tls_free);
}
