/* test-connect.c: awaitable resolution, happy eyeballs and the connect
 * timeout, with a test resolver and real loopback sockets.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TEST_TIMEOUT (20 * G_USEC_PER_SEC)
#define TEST_NAME    "two.coop.test"

/* --- a resolver that knows one name ------------------------------------------------ */

typedef struct
{
  GResolver  parent_instance;
  GList     *addresses;   /* GInetAddress, for TEST_NAME */
} TestResolver;

typedef GResolverClass TestResolverClass;

static GType test_resolver_get_type (void);
G_DEFINE_TYPE (TestResolver, test_resolver, G_TYPE_RESOLVER)

static GList *
test_resolver_answer (TestResolver  *self,
                      const char    *host,
                      GError       **error)
{
  if (g_strcmp0 (host, TEST_NAME) != 0)
    {
      g_set_error (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND, "%s: unknown here", host);
      return NULL;
    }
  return g_list_copy_deep (self->addresses, (GCopyFunc) g_object_ref, NULL);
}

static GList *
test_resolver_lookup_by_name (GResolver     *resolver,
                              const char    *host,
                              GCancellable  *cancellable,
                              GError       **error)
{
  return test_resolver_answer ((TestResolver *) resolver, host, error);
}

static void
test_resolver_lookup_by_name_async (GResolver           *resolver,
                                    const char          *host,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             data)
{
  g_autoptr(GTask) task = g_task_new (resolver, cancellable, callback, data);
  GError *error = NULL;
  GList *answer = test_resolver_answer ((TestResolver *) resolver, host, &error);

  if (answer != NULL)
    g_task_return_pointer (task, answer, (GDestroyNotify) g_resolver_free_addresses);
  else
    g_task_return_error (task, error);
}

static GList *
test_resolver_lookup_by_name_finish (GResolver     *resolver,
                                     GAsyncResult  *result,
                                     GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
test_resolver_finalize (GObject *object)
{
  g_resolver_free_addresses (((TestResolver *) object)->addresses);
  G_OBJECT_CLASS (test_resolver_parent_class)->finalize (object);
}

static void
test_resolver_class_init (TestResolverClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_resolver_finalize;
  klass->lookup_by_name = test_resolver_lookup_by_name;
  klass->lookup_by_name_async = test_resolver_lookup_by_name_async;
  klass->lookup_by_name_finish = test_resolver_lookup_by_name_finish;
}

static void
test_resolver_init (TestResolver *self)
{
}

/* Makes TEST_NAME resolve to @first then @second, as the default resolver
 * until the returned one (the previous default) is restored. */
static GResolver *
use_test_resolver (const char *first,
                   const char *second)
{
  TestResolver *resolver = g_object_new (test_resolver_get_type (), NULL);
  GResolver *previous = g_resolver_get_default ();

  resolver->addresses = g_list_append (resolver->addresses, g_inet_address_new_from_string (first));
  resolver->addresses = g_list_append (resolver->addresses, g_inet_address_new_from_string (second));
  g_resolver_set_default (G_RESOLVER (resolver));
  g_object_unref (resolver);
  return previous;
}

static void
restore_resolver (GResolver *previous)
{
  g_resolver_set_default (previous);
  g_object_unref (previous);
}

/* --- helpers ------------------------------------------------------------------------- */

static void
run_future (CoopLoop   *loop,
            CoopFuture *future)
{
  g_autoptr(CoopFuture) limited = coop_wait_for (future, TEST_TIMEOUT);

  coop_loop_run_until_complete (loop, limited, NULL);
  g_assert_true (coop_future_is_done (future));
}

static gboolean
loopback2_works (void)
{
  struct sockaddr_in sin = { 0, };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  gboolean ok;

  sin.sin_family = AF_INET;
  inet_pton (AF_INET, "127.0.0.2", &sin.sin_addr);
  ok = fd >= 0 && bind (fd, (struct sockaddr *) &sin, sizeof sin) == 0;
  if (fd >= 0)
    close (fd);
  return ok;
}

/* A listener on 127.0.0.2 whose accept queue is full, so that new
 * connections to it hang (their SYNs are dropped): a black hole on
 * loopback.  Returns the listener; *filler is the connection filling it. */
static int
black_hole_new (guint16 *port,
                int     *filler)
{
  struct sockaddr_in sin = { 0, };
  socklen_t len = sizeof sin;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  sin.sin_family = AF_INET;
  inet_pton (AF_INET, "127.0.0.2", &sin.sin_addr);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sin, sizeof sin), ==, 0);
  g_assert_cmpint (listen (fd, 0), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &sin, &len), ==, 0);
  *port = ntohs (sin.sin_port);
  *filler = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (connect (*filler, (struct sockaddr *) &sin, sizeof sin), ==, 0);
  return fd;
}

static void
quiet_handler (CoopTask   *task,
               CoopStream *stream,
               gpointer    user_data)
{
}

/* A server on 127.0.0.1:@port (the black hole's port on 127.0.0.2), or
 * NULL if that port is taken on 127.0.0.1. */
static CoopServer *
server_on (CoopLoop *loop,
           guint16   port)
{
  g_autoptr(GError) error = NULL;
  CoopServer *server = coop_server_new_tcp (loop, "127.0.0.1", port, 0, quiet_handler, NULL, NULL,
                                            &error);

  if (server == NULL)
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  return server;
}

static void
server_stop (CoopLoop   *loop,
             CoopServer *server)
{
  CoopFuture *closed;

  coop_server_close (server);
  closed = coop_server_wait_closed (server);
  run_future (loop, closed);
  g_object_unref (closed);
  g_object_unref (server);
}

static char *
peer_host (CoopStream *stream)
{
  g_autoptr(GSocketAddress) peer = coop_stream_get_peer_address (stream, NULL);

  return g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (peer)));
}

/* --- tests ------------------------------------------------------------------------------ */

static void
test_resolve (CoopFixture *f, gconstpointer data)
{
  TestResolver *resolver = g_object_new (test_resolver_get_type (), NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) found = NULL;
  CoopFuture *future;

  resolver->addresses = g_list_append (NULL, g_inet_address_new_from_string ("::1"));
  resolver->addresses = g_list_append (resolver->addresses, g_inet_address_new_from_string ("127.0.0.1"));

  future = coop_resolve (f->loop, G_RESOLVER (resolver), TEST_NAME);
  g_assert_null (coop_resolve_finish (future, &error));   /* not done yet */
  g_assert_nonnull (error);
  g_clear_error (&error);
  run_future (f->loop, future);
  found = coop_resolve_finish (future, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (found->len, ==, 2);
  g_assert_cmpint (g_inet_address_get_family (found->pdata[0]), ==, G_SOCKET_FAMILY_IPV6);
  g_assert_cmpint (g_inet_address_get_family (found->pdata[1]), ==, G_SOCKET_FAMILY_IPV4);
  g_object_unref (future);

  future = coop_resolve (f->loop, G_RESOLVER (resolver), "nowhere.coop.test");
  run_future (f->loop, future);
  g_assert_null (coop_resolve_finish (future, &error));
  g_assert_error (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_object_unref (future);

  /* The default resolver, with a numeric address. */
  future = coop_resolve (f->loop, NULL, "127.0.0.1");
  run_future (f->loop, future);
  g_clear_pointer (&found, g_ptr_array_unref);
  found = coop_resolve_finish (future, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (found->len, ==, 1);
  g_object_unref (future);

  /* Not a resolution's future. */
  future = coop_future_new (f->loop);
  coop_future_set_int64 (future, 1);
  g_assert_null (coop_resolve_finish (future, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT);
  g_object_unref (future);

  g_object_unref (resolver);
}

/* The first address refuses: the second is tried at once, with or
 * without happy eyeballs. */
static void
test_refused_first (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopServer) server = NULL;
  GResolver *previous;
  guint16 port;

  if (!loopback2_works ())
    {
      g_test_skip ("127.0.0.2 cannot be bound here (loopback is not 127.0.0.0/8)");
      return;
    }
  server = coop_server_new_tcp (f->loop, "127.0.0.1", 0, 0, quiet_handler, NULL, NULL, NULL);
  g_assert_nonnull (server);
  port = coop_server_get_port (server);
  previous = use_test_resolver ("127.0.0.2", "127.0.0.1");   /* nothing on 127.0.0.2:port */

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(CoopStream) stream = NULL;
      g_autofree char *host = NULL;
      CoopFuture *open = coop_stream_open_tcp_full (f->loop, TEST_NAME, port,
                                                    i == 0 ? -1 : 250 * 1000, 0);

      run_future (f->loop, open);
      stream = coop_stream_open_finish (open, &error);
      g_assert_no_error (error);
      g_object_unref (open);
      host = peer_host (stream);
      g_assert_cmpstr (host, ==, "127.0.0.1");
      coop_stream_close (stream);
    }
  restore_resolver (previous);
  server_stop (f->loop, g_steal_pointer (&server));
}

/* The first address is a black hole: with happy eyeballs, the second
 * connects once the delay has passed (not before: a timer never fires
 * early, so this lower bound is no timing assumption); without, the
 * connect timeout ends the wait. */
static void
test_black_hole_first (CoopFixture *f, gconstpointer data)
{
  CoopServer *server = NULL;
  GResolver *previous;
  int hole = -1, filler = -1;
  guint16 port = 0;
  const gint64 delay = 100 * 1000, timeout = 300 * 1000;

  if (!loopback2_works ())
    {
      g_test_skip ("127.0.0.2 cannot be bound here (loopback is not 127.0.0.0/8)");
      return;
    }
  for (guint tries = 0; server == NULL; tries++)
    {
      g_assert_cmpuint (tries, <, 20);
      if (hole >= 0)
        {
          close (hole);
          close (filler);
        }
      hole = black_hole_new (&port, &filler);
      server = server_on (f->loop, port);
    }
  previous = use_test_resolver ("127.0.0.2", "127.0.0.1");

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(CoopStream) stream = NULL;
    g_autofree char *host = NULL;
    gint64 start = g_get_monotonic_time ();
    CoopFuture *open = coop_stream_open_tcp_full (f->loop, TEST_NAME, port, delay, 10 * G_USEC_PER_SEC);

    run_future (f->loop, open);
    stream = coop_stream_open_finish (open, &error);
    g_assert_no_error (error);
    g_assert_cmpint (g_get_monotonic_time () - start, >=, delay);
    g_object_unref (open);
    host = peer_host (stream);
    g_assert_cmpstr (host, ==, "127.0.0.1");
    coop_stream_abort (stream);
  }
  {
    g_autoptr(GError) error = NULL;
    gint64 start = g_get_monotonic_time ();
    CoopFuture *open = coop_stream_open_tcp_full (f->loop, TEST_NAME, port, -1, timeout);

    run_future (f->loop, open);
    g_assert_null (coop_stream_open_finish (open, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
    g_assert_cmpint (g_get_monotonic_time () - start, >=, timeout);
    g_object_unref (open);
  }
  {
    /* Cancelled while the black hole holds it: its socket goes. */
    CoopFuture *open = coop_stream_open_tcp_full (f->loop, TEST_NAME, port, -1, 0);
    g_autoptr(CoopFuture) nap = coop_sleep (f->loop, 20 * 1000);

    run_future (f->loop, nap);
    g_assert_false (coop_future_is_done (open));
    g_assert_true (coop_future_cancel (open, NULL));
    g_object_unref (open);
    coop_test_drain ();
  }

  restore_resolver (previous);
  server_stop (f->loop, server);
  close (filler);
  close (hole);
}

static void
test_no_address (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  GResolver *previous = use_test_resolver ("127.0.0.1", "::1");
  CoopFuture *open = coop_stream_open_tcp_full (f->loop, "nowhere.coop.test", 9, 250 * 1000, 0);

  run_future (f->loop, open);
  g_assert_null (coop_stream_open_finish (open, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND);
  g_object_unref (open);
  restore_resolver (previous);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/connect/resolve", test_resolve);
  coop_test_add ("/coop/connect/refused-first", test_refused_first);
  coop_test_add ("/coop/connect/black-hole-first", test_black_hole_first);
  coop_test_add ("/coop/connect/no-address", test_no_address);

  return g_test_run ();
}
