/* test-gio.c: awaiting GIO calls, tasks behind GTask, GCancellable both ways.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <string.h>

#include "coop-private.h"

/* --- helpers ------------------------------------------------------------------------ */

/* A temporary file holding @contents. */
static GFile *
make_temp_file (const char *contents)
{
  g_autoptr(GFileIOStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  GFile *file = g_file_new_tmp ("coop-gio-XXXXXX", &stream, &error);

  g_assert_no_error (error);
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (stream)),
                             contents, strlen (contents), NULL, NULL, &error);
  g_assert_no_error (error);
  g_io_stream_close (G_IO_STREAM (stream), NULL, &error);
  g_assert_no_error (error);
  return file;
}

static void
delete_temp_file (GFile *file)
{
  g_autoptr(GError) error = NULL;

  g_file_delete (file, NULL, &error);
  g_assert_no_error (error);
  g_object_unref (file);
}

/* A TCP server on 127.0.0.1, on an ephemeral port, that keeps every
 * connection open and writes @greeting (if any) to each. */
typedef struct
{
  GSocketService *service;
  GSocketAddress *address;
  GPtrArray      *connections;
  const char     *greeting;
} Server;

static gboolean
server_incoming (GSocketService    *service,
                 GSocketConnection *connection,
                 GObject           *source,
                 gpointer           data)
{
  Server *server = data;

  g_ptr_array_add (server->connections, g_object_ref (connection));
  if (server->greeting != NULL)
    g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)),
                               server->greeting, strlen (server->greeting), NULL, NULL, NULL);
  return TRUE;
}

static void
server_start (Server     *server,
              const char *greeting)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GError) error = NULL;

  server->greeting = greeting;
  server->connections = g_ptr_array_new_with_free_func (g_object_unref);
  server->service = g_socket_service_new ();
  g_socket_listener_add_address (G_SOCKET_LISTENER (server->service), any_port,
                                 G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                 NULL, &server->address, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (server->address)), >, 0);
  g_signal_connect (server->service, "incoming", G_CALLBACK (server_incoming), server);
  g_socket_service_start (server->service);
}

static void
server_stop (Server *server)
{
  g_socket_service_stop (server->service);
  g_socket_listener_close (G_SOCKET_LISTENER (server->service));
  g_clear_object (&server->service);
  g_clear_object (&server->address);
  g_clear_pointer (&server->connections, g_ptr_array_unref);
  coop_test_drain ();
}

/* Connects to @address from a task, through the bridge. */
static GSocketConnection *
await_connect (CoopLoop        *loop,
               GSocketAddress  *address,
               GError         **error)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(CoopAsyncFuture) op = coop_async_future_new (loop);

  g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (address),
                                 coop_async_future_get_cancellable (op),
                                 coop_async_future_callback, op);
  /* GIO never calls back inside the _async call. */
  g_assert_false (coop_future_is_done (COOP_FUTURE (op)));
  g_assert_null (coop_async_future_get_result (op));
  if (!coop_await (COOP_FUTURE (op), error))
    return NULL;
  g_assert_true (G_IS_ASYNC_RESULT (coop_future_get_object (COOP_FUTURE (op), NULL)));
  return g_socket_client_connect_finish (client, coop_async_future_get_result (op), error);
}

/* --- awaiting GIO calls ------------------------------------------------------------- */

static void
load_body (CoopTask *task, gpointer data)
{
  GFile *file = data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(CoopAsyncFuture) op = coop_async_future_new (loop);
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;

  g_assert_true (G_IS_CANCELLABLE (coop_async_future_get_cancellable (op)));
  g_file_load_contents_async (file, coop_async_future_get_cancellable (op),
                              coop_async_future_callback, op);
  if (!coop_await (COOP_FUTURE (op), &error) ||
      !g_file_load_contents_finish (file, coop_async_future_get_result (op),
                                    &contents, &length, NULL, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }
  g_assert_cmpint (coop_future_get_state (COOP_FUTURE (op)), ==, COOP_FUTURE_STATE_FINISHED);
  coop_future_set_string (COOP_FUTURE (task), contents);
}

static void
test_load_contents (CoopFixture *f, gconstpointer data)
{
  GFile *file = make_temp_file ("the contents of a file\n");
  g_autoptr(GFile) missing = g_file_get_child (file, "not-a-dir");
  g_autoptr(CoopTask) task = coop_task_new (f->loop, load_body, file, NULL);
  g_autoptr(CoopTask) failing = coop_task_new (f->loop, load_body, missing, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_no_error (error);
  g_assert_cmpstr (coop_future_get_string (COOP_FUTURE (task), NULL), ==, "the contents of a file\n");

  /* The operation's error comes from _finish. */
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (failing), &error));
  g_assert_nonnull (error);
  g_assert_true (error->domain == G_IO_ERROR);

  delete_temp_file (file);
}

static void
connect_body (CoopTask *task, gpointer data)
{
  Server *server = data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = await_connect (loop, server->address, &error);
  GString *received = g_string_new (NULL);

  if (connection == NULL)
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      g_string_free (received, TRUE);
      return;
    }

  /* Read the greeting through the bridge too. */
  while (strchr (received->str, '\n') == NULL)
    {
      g_autoptr(CoopAsyncFuture) op = coop_async_future_new (loop);
      char buffer[64];
      gssize n;

      g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                                 buffer, sizeof buffer, G_PRIORITY_DEFAULT,
                                 coop_async_future_get_cancellable (op),
                                 coop_async_future_callback, op);
      if (!coop_await (COOP_FUTURE (op), &error) ||
          (n = g_input_stream_read_finish (g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                                           coop_async_future_get_result (op), &error)) < 0)
        {
          coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
          g_string_free (received, TRUE);
          return;
        }
      if (n == 0)
        break;
      g_string_append_len (received, buffer, n);
    }
  coop_future_set_string (COOP_FUTURE (task), received->str);
  g_string_free (received, TRUE);
}

static void
test_socket_connect (CoopFixture *f, gconstpointer data)
{
  Server server = { NULL, };
  g_autoptr(CoopTask) task = NULL;
  g_autoptr(GError) error = NULL;

  server_start (&server, "hello from the server\n");
  task = coop_task_new (f->loop, connect_body, &server, NULL);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_no_error (error);
  g_assert_cmpstr (coop_future_get_string (COOP_FUTURE (task), NULL), ==, "hello from the server\n");
  g_assert_cmpuint (server.connections->len, ==, 1);
  server_stop (&server);
}

/* A task cancelled while it awaits a read from a peer that never answers:
 * the read sees the cancellable, and the await returns only after GIO's
 * callback ran. */
typedef struct
{
  Server           *server;
  CoopAsyncFuture  *op;             /* the pending read, while awaited */
  gboolean          cancel_self;    /* ask for the cancellation before awaiting */
  gboolean          checked;
} CancelState;

static void
silent_read_body (CoopTask *task, gpointer data)
{
  CancelState *s = data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = await_connect (loop, s->server->address, &error);
  g_autoptr(CoopAsyncFuture) op = coop_async_future_new (loop);
  GInputStream *input;
  char buffer[16];

  g_assert_no_error (error);
  input = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  g_input_stream_read_async (input, buffer, sizeof buffer, G_PRIORITY_DEFAULT,
                             coop_async_future_get_cancellable (op),
                             coop_async_future_callback, op);
  s->op = op;
  if (s->cancel_self)
    coop_task_cancel (task, "before the await");

  g_assert_false (coop_await (COOP_FUTURE (op), &error));
  s->op = NULL;
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  /* The callback ran before the await returned: the future ended
   * cancelled, and holds GIO's result, whose _finish says cancelled too. */
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (op)));
  g_assert_true (g_cancellable_is_cancelled (coop_async_future_get_cancellable (op)));
  g_assert_nonnull (coop_async_future_get_result (op));
  g_clear_error (&error);
  g_assert_cmpint (g_input_stream_read_finish (input, coop_async_future_get_result (op), &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  s->checked = TRUE;
  coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

static void
test_cancel_while_awaiting (CoopFixture *f, gconstpointer data)
{
  Server server = { NULL, };
  CancelState s = { .server = &server };
  g_autoptr(CoopTask) task = NULL;
  g_autoptr(GError) error = NULL;

  server_start (&server, NULL);
  task = coop_task_new (f->loop, silent_read_body, &s, NULL);
  coop_test_wait_until (s.op != NULL && coop_task_get_awaiting (task) == COOP_FUTURE (s.op));
  /* Nothing to read: still waiting after a while. */
  for (int i = 0; i < 10; i++)
    coop_test_iterate ();
  g_assert_false (coop_future_is_done (COOP_FUTURE (s.op)));

  g_assert_true (coop_task_cancel (task, "stop reading"));
  /* The operation has not called back yet: the future waits for it. */
  g_assert_false (coop_future_is_done (COOP_FUTURE (s.op)));
  g_assert_true (g_cancellable_is_cancelled (coop_async_future_get_cancellable (s.op)));

  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (s.checked);
  g_assert_cmpint (coop_future_get_state (COOP_FUTURE (task)), ==, COOP_FUTURE_STATE_CANCELLED);
  server_stop (&server);
}

/* A cancellation already pending when the task awaits: the operation is
 * cancelled, and the await still waits for its callback. */
static void
test_cancel_before_await (CoopFixture *f, gconstpointer data)
{
  Server server = { NULL, };
  CancelState s = { .server = &server, .cancel_self = TRUE };
  g_autoptr(CoopTask) task = NULL;
  g_autoptr(GError) error = NULL;

  server_start (&server, NULL);
  task = coop_task_new (f->loop, silent_read_body, &s, NULL);
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (s.checked);
  server_stop (&server);
}

/* The _async call made on another thread, with its own context: GIO calls
 * back there, and the future is completed on the loop's thread. */
typedef struct
{
  GFile           *file;
  CoopAsyncFuture *op;
  gint             stop;            /* atomic */
  CoopLoop        *loop;
  GThread         *completed_on;
} ForeignState;

static gpointer
foreign_thread (gpointer data)
{
  ForeignState *s = data;
  GMainContext *context = g_main_context_new ();

  g_main_context_push_thread_default (context);
  g_file_load_contents_async (s->file, coop_async_future_get_cancellable (s->op),
                              coop_async_future_callback, s->op);
  while (!g_atomic_int_get (&s->stop))
    {
      g_main_context_iteration (context, FALSE);
      g_usleep (1000);
    }
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  return NULL;
}

static void
record_done_thread (CoopFuture *future, gpointer data)
{
  ((ForeignState *) data)->completed_on = g_thread_self ();
}

static void
test_callback_from_another_thread (CoopFixture *f, gconstpointer data)
{
  ForeignState s = { NULL, };
  GThread *thread;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;

  s.file = make_temp_file ("far away");
  s.op = coop_async_future_new (f->loop);
  s.loop = f->loop;
  coop_future_add_done_callback (COOP_FUTURE (s.op), record_done_thread, &s, NULL);

  thread = g_thread_new ("foreign", foreign_thread, &s);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (s.op), &error));
  g_assert_no_error (error);
  g_atomic_int_set (&s.stop, TRUE);
  g_thread_join (thread);

  coop_test_wait_until (s.completed_on != NULL);
  g_assert_true (s.completed_on == g_thread_self ());
  g_assert_true (g_file_load_contents_finish (s.file, coop_async_future_get_result (s.op),
                                              &contents, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (contents, ==, "far away");

  g_object_unref (s.op);
  delete_temp_file (s.file);
}

/* --- a Coop task behind a GTask-based _async/_finish pair ------------------------- */

/* A boxed type that counts its copies and frees. */
typedef struct
{
  int value;
} Counted;

static gint counted_alive;

static Counted *
counted_copy (const Counted *counted)
{
  Counted *copy = g_new (Counted, 1);

  *copy = *counted;
  g_atomic_int_inc (&counted_alive);
  return copy;
}

static void
counted_free (Counted *counted)
{
  g_atomic_int_add (&counted_alive, -1);
  g_free (counted);
}

GType counted_get_type (void);
G_DEFINE_BOXED_TYPE (Counted, counted, counted_copy, counted_free)

typedef enum
{
  FOO_NONE,
  FOO_BOOLEAN,
  FOO_INT,
  FOO_ENUM,
  FOO_STRING,
  FOO_OBJECT,
  FOO_BOXED,
  FOO_POINTER,
  FOO_DOUBLE,
  FOO_LOAD,         /* a real GIO call inside: returns the file's GBytes */
  FOO_FAIL,         /* a real GIO failure */
  FOO_SLEEP,        /* waits ten seconds, unless cancelled */
} FooKind;

typedef struct
{
  FooKind  kind;
  GFile   *file;
  gboolean ran;
  gboolean cancelled;
  /* FOO_SLEEP's sleep, kept here rather than on the task's stack: a task
   * abandoned by a closing loop never unwinds (test_gtask_loop_closed), so
   * a reference on its stack would never be dropped. */
  CoopFuture *nap;
} Foo;

static void
foo_body (CoopTask *task, gpointer data)
{
  Foo *foo = data;
  CoopFuture *self = COOP_FUTURE (task);
  CoopLoop *loop = coop_future_get_loop (self);
  static char static_pointer[] = "static";

  foo->ran = TRUE;
  switch (foo->kind)
    {
    case FOO_NONE:
      break;
    case FOO_BOOLEAN:
      coop_future_set_boolean (self, TRUE);
      break;
    case FOO_INT:
      coop_future_set_int64 (self, -123456789);
      break;
    case FOO_ENUM:
      {
        GValue value = G_VALUE_INIT;

        g_value_init (&value, G_TYPE_FILE_TYPE);
        g_value_set_enum (&value, G_FILE_TYPE_DIRECTORY);
        coop_future_set_value (self, &value);
        g_value_unset (&value);
      }
      break;
    case FOO_STRING:
      coop_future_set_string (self, "a string");
      break;
    case FOO_OBJECT:
      {
        g_autoptr(GFile) file = g_file_new_for_path ("/coop");

        coop_future_set_object (self, G_OBJECT (file));
      }
      break;
    case FOO_BOXED:
      {
        Counted counted = { 42 };

        coop_future_set_boxed (self, counted_get_type (), &counted);
      }
      break;
    case FOO_POINTER:
      coop_future_set_pointer (self, static_pointer, NULL);
      break;
    case FOO_DOUBLE:
      coop_future_set_double (self, 2.5);
      break;
    case FOO_LOAD:
    case FOO_FAIL:
      {
        g_autoptr(CoopAsyncFuture) op = coop_async_future_new (loop);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) bytes = NULL;

        g_file_load_bytes_async (foo->file, coop_async_future_get_cancellable (op),
                                 coop_async_future_callback, op);
        if (!coop_await (COOP_FUTURE (op), &error) ||
            (bytes = g_file_load_bytes_finish (foo->file, coop_async_future_get_result (op),
                                               NULL, &error)) == NULL)
          coop_future_take_error (self, g_steal_pointer (&error));
        else
          coop_future_set_boxed (self, G_TYPE_BYTES, bytes);
      }
      break;
    case FOO_SLEEP:
      {
        g_autoptr(GError) error = NULL;

        foo->nap = coop_sleep (loop, 10 * G_USEC_PER_SEC);
        if (!coop_await (foo->nap, &error))
          {
            foo->cancelled = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
            coop_future_take_error (self, g_steal_pointer (&error));
          }
      }
      break;
    }
}

/* The library side: a GIO-style _async function implemented by a task. */
static CoopTask *
foo_async (CoopLoop            *loop,
           Foo                 *foo,
           GCancellable        *cancellable,
           GAsyncReadyCallback  callback,
           gpointer             user_data)
{
  g_autoptr(GTask) gtask = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (gtask, foo_async);
  g_task_set_name (gtask, "foo");
  return coop_task_new_for_gtask (loop, gtask, foo_body, foo, NULL);
}

/* The caller side: plain GIO code, a callback then _finish. */
static void
store_result (GObject *source, GAsyncResult *result, gpointer data)
{
  GAsyncResult **out = data;

  g_assert_null (*out);
  g_assert_true (g_task_is_valid (result, NULL));
  g_assert_true (g_async_result_is_tagged (result, foo_async));
  *out = g_object_ref (result);
}

static GAsyncResult *
run_foo (CoopFixture *f, Foo *foo, GCancellable *cancellable, CoopTask **task_out)
{
  GAsyncResult *result = NULL;
  CoopTask *task = foo_async (f->loop, foo, cancellable, store_result, &result);

  g_assert_cmpstr (coop_task_get_name (task), ==, "foo");
  /* Never returned inside the call. */
  g_assert_null (result);
  coop_test_wait_until (result != NULL);
  if (task_out != NULL)
    *task_out = task;
  else
    g_object_unref (task);
  return result;
}

static void
test_gtask_values (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  Foo foo = { 0, };

  {
    g_autoptr(GAsyncResult) result = (foo.kind = FOO_NONE, run_foo (f, &foo, NULL, NULL));
    g_assert_true (g_task_propagate_boolean (G_TASK (result), &error));
    g_assert_no_error (error);
  }
  {
    g_autoptr(GAsyncResult) result = (foo.kind = FOO_BOOLEAN, run_foo (f, &foo, NULL, NULL));
    g_assert_true (g_task_propagate_boolean (G_TASK (result), &error));
    g_assert_no_error (error);
  }
  {
    g_autoptr(GAsyncResult) result = (foo.kind = FOO_INT, run_foo (f, &foo, NULL, NULL));
    g_assert_cmpint (g_task_propagate_int (G_TASK (result), &error), ==, -123456789);
    g_assert_no_error (error);
  }
  {
    g_autoptr(GAsyncResult) result = (foo.kind = FOO_ENUM, run_foo (f, &foo, NULL, NULL));
    g_assert_cmpint (g_task_propagate_int (G_TASK (result), &error), ==, G_FILE_TYPE_DIRECTORY);
    g_assert_no_error (error);
  }
  {
    g_autoptr(GAsyncResult) result = (foo.kind = FOO_STRING, run_foo (f, &foo, NULL, NULL));
    g_autofree char *string = g_task_propagate_pointer (G_TASK (result), &error);
    g_assert_no_error (error);
    g_assert_cmpstr (string, ==, "a string");
  }
  {
    g_autoptr(GAsyncResult) result = (foo.kind = FOO_OBJECT, run_foo (f, &foo, NULL, NULL));
    g_autoptr(GFile) file = g_task_propagate_pointer (G_TASK (result), &error);
    g_autofree char *path = NULL;

    g_assert_no_error (error);
    g_assert_true (G_IS_FILE (file));
    path = g_file_get_path (file);
    g_assert_cmpstr (path, ==, "/coop");
  }
  {
    g_autoptr(GAsyncResult) result = (foo.kind = FOO_BOXED, run_foo (f, &foo, NULL, NULL));
    Counted *counted = g_task_propagate_pointer (G_TASK (result), &error);

    g_assert_no_error (error);
    g_assert_nonnull (counted);
    g_assert_cmpint (counted->value, ==, 42);
    /* The caller owns the copy. */
    g_boxed_free (counted_get_type (), counted);
  }
  {
    g_autoptr(GAsyncResult) result = (foo.kind = FOO_POINTER, run_foo (f, &foo, NULL, NULL));
    char *pointer = g_task_propagate_pointer (G_TASK (result), &error);

    g_assert_no_error (error);
    g_assert_cmpstr (pointer, ==, "static");
  }
  {
    g_autoptr(GAsyncResult) result = (foo.kind = FOO_DOUBLE, run_foo (f, &foo, NULL, NULL));
    GValue value = G_VALUE_INIT;

    g_assert_true (g_task_propagate_value (G_TASK (result), &value, &error));
    g_assert_no_error (error);
    g_assert_cmpfloat (g_value_get_double (&value), ==, 2.5);
    g_value_unset (&value);
  }

  /* Everything propagated, and the GTasks are gone: no copy left. */
  coop_test_drain ();
  g_assert_cmpint (g_atomic_int_get (&counted_alive), ==, 0);
}

/* A boxed result nobody propagates is freed with its GTask. */
static void
ignore_result (GObject *source, GAsyncResult *result, gpointer data)
{
  (*(int *) data)++;
}

static void
test_gtask_unpropagated (CoopFixture *f, gconstpointer data)
{
  Foo foo = { FOO_BOXED, };
  int called = 0;

  g_object_unref (foo_async (f->loop, &foo, NULL, ignore_result, &called));
  coop_test_wait_until (called == 1);
  coop_test_drain ();
  g_assert_cmpint (g_atomic_int_get (&counted_alive), ==, 0);
}

/* A task whose body awaits a real GIO call, behind a GTask; and a real
 * failure. */
static void
test_gtask_gio_inside (CoopFixture *f, gconstpointer data)
{
  GFile *file = make_temp_file ("bytes through two bridges");
  g_autoptr(GFile) missing = g_file_get_child (file, "nope");
  g_autoptr(GError) error = NULL;
  Foo foo = { FOO_LOAD, file };
  Foo fail = { FOO_FAIL, missing };

  {
    g_autoptr(GAsyncResult) result = run_foo (f, &foo, NULL, NULL);
    g_autoptr(GBytes) bytes = g_task_propagate_pointer (G_TASK (result), &error);

    g_assert_no_error (error);
    g_assert_nonnull (bytes);
    g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                     "bytes through two bridges", strlen ("bytes through two bridges"));
  }
  {
    CoopTask *task = NULL;
    g_autoptr(GAsyncResult) result = run_foo (f, &fail, NULL, &task);

    g_assert_null (g_task_propagate_pointer (G_TASK (result), &error));
    g_assert_nonnull (error);
    g_assert_true (error->domain == G_IO_ERROR);
    g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
    g_assert_cmpint (coop_future_get_state (COOP_FUTURE (task)), ==, COOP_FUTURE_STATE_FAILED);
    g_object_unref (task);
  }
  delete_temp_file (file);
}

/* Cancelling the GTask's cancellable (from another thread) cancels the
 * task; the caller gets G_IO_ERROR_CANCELLED. */
static gpointer
cancel_later (gpointer data)
{
  g_usleep (20 * 1000);
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_gtask_cancel (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  Foo foo = { FOO_SLEEP, };
  g_autoptr(GAsyncResult) result = NULL;
  CoopTask *task = foo_async (f->loop, &foo, cancellable, store_result, &result);
  gint64 start = g_get_monotonic_time ();
  GThread *thread;

  coop_test_wait_until (coop_task_get_awaiting (task) != NULL);
  thread = g_thread_new ("canceller", cancel_later, cancellable);
  coop_test_wait_until (result != NULL);
  g_thread_join (thread);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_assert_false (g_task_propagate_boolean (G_TASK (result), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (foo.ran);
  g_assert_true (foo.cancelled);
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (task)));
  /* Disconnected once the task was done. */
  g_assert_false (g_signal_has_handler_pending (cancellable, g_signal_lookup ("cancelled", G_TYPE_CANCELLABLE), 0, FALSE));
  g_object_unref (task);
  g_clear_object (&foo.nap);
}

/* Already cancelled: the task never runs. */
static void
test_gtask_cancelled_before (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  Foo foo = { FOO_STRING, };
  CoopTask *task = NULL;
  g_autoptr(GAsyncResult) result = NULL;

  g_cancellable_cancel (cancellable);
  result = run_foo (f, &foo, cancellable, &task);
  g_assert_null (g_task_propagate_pointer (G_TASK (result), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (foo.ran);
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (task)));
  g_object_unref (task);
}

/* The loop closed before the task is done: the caller still gets an
 * answer. */
static void
count_reports (CoopLoop *loop, const char *message, CoopFuture *future,
               const GError *error, gpointer data)
{
  (*(int *) data)++;
}

static void
test_gtask_loop_closed (void)
{
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop;
  Foo foo = { FOO_SLEEP, };
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  CoopTask *task;
  int reports = 0;

  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);
  coop_loop_set_exception_handler (loop, count_reports, &reports, NULL);
  task = foo_async (loop, &foo, NULL, store_result, &result);
  coop_test_wait_until (coop_task_get_awaiting (task) != NULL);

  coop_loop_close (loop);
  g_assert_cmpint (reports, ==, 1);   /* the task destroyed while pending */
  coop_test_wait_until (result != NULL);
  g_assert_false (g_task_propagate_boolean (G_TASK (result), &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_LOOP_CLOSED);

  g_object_unref (task);
  g_assert_true (coop_future_is_cancelled (foo.nap));   /* with its loop */
  g_clear_object (&foo.nap);
  g_object_unref (loop);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
}

/* Any future can stand behind a GTask, not only tasks. */
static void
test_future_return_to_gtask (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) future = coop_future_new (f->loop);
  g_autoptr(GTask) gtask = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) cancelled_result = NULL;
  g_autoptr(CoopFuture) other = coop_future_new (f->loop);
  g_autoptr(GError) error = NULL;

  gtask = g_task_new (NULL, NULL, store_result, &result);
  g_task_set_source_tag (gtask, foo_async);
  coop_future_return_to_gtask (future, gtask);
  g_clear_object (&gtask);
  coop_test_drain ();
  g_assert_null (result);
  coop_future_set_int64 (future, 7);
  coop_test_wait_until (result != NULL);
  g_assert_cmpint (g_task_propagate_int (G_TASK (result), &error), ==, 7);
  g_assert_no_error (error);

  gtask = g_task_new (NULL, cancellable, store_result, &cancelled_result);
  g_task_set_source_tag (gtask, foo_async);
  coop_future_return_to_gtask (other, gtask);
  g_clear_object (&gtask);
  g_cancellable_cancel (cancellable);
  coop_test_wait_until (cancelled_result != NULL);
  g_assert_true (coop_future_is_cancelled (other));
  g_assert_false (g_task_propagate_boolean (G_TASK (cancelled_result), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* --- GCancellable and tasks ---------------------------------------------------------- */

typedef struct
{
  CoopFuture *gate;       /* awaited first */
  CoopFuture *after;      /* awaited after a swallowed cancellation */
  gboolean    first_cancelled;
  gboolean    finished;
} WaitState;

/* Awaits the gate; swallows a cancellation there and awaits again. */
static void
wait_body (CoopTask *task, gpointer data)
{
  WaitState *s = data;
  g_autoptr(GError) error = NULL;

  if (!coop_await (s->gate, &error))
    {
      s->first_cancelled = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_clear_error (&error);
      if (s->after == NULL)
        {
          coop_future_take_error (COOP_FUTURE (task), coop_cancelled_error_new (NULL));
          return;
        }
      if (!coop_await (s->after, &error))
        {
          coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
          return;
        }
    }
  s->finished = TRUE;
}

static void
test_cancellable_from_thread (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(CoopFuture) nap = coop_sleep (f->loop, 10 * G_USEC_PER_SEC);
  WaitState s = { .gate = nap };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, wait_body, &s, NULL);
  g_autoptr(GError) error = NULL;
  GThread *thread;

  coop_task_bind_cancellable (task, cancellable);
  coop_test_wait_until (coop_task_get_awaiting (task) != NULL);

  thread = g_thread_new ("canceller", cancel_later, cancellable);
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_thread_join (thread);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (s.first_cancelled);
  g_assert_true (coop_future_is_cancelled (nap));
  g_assert_cmpuint (coop_task_get_n_cancels (task), ==, 1);
}

static void
count_cancelled (GCancellable *cancellable, gpointer data)
{
  (*(int *) data)++;
}

static void
test_task_cancels_cancellable (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(CoopFuture) gate = coop_future_new (f->loop);
  g_autoptr(CoopFuture) after = coop_future_new (f->loop);
  WaitState s = { .gate = gate, .after = after };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, wait_body, &s, NULL);
  GCancellable *own = coop_task_get_cancellable (task);
  g_autoptr(GError) error = NULL;
  int handlers = 0;

  coop_task_bind_cancellable (task, cancellable);
  g_signal_connect (cancellable, "cancelled", G_CALLBACK (count_cancelled), &handlers);
  g_assert_true (coop_task_get_cancellable (task) == own);
  coop_test_wait_until (coop_task_get_awaiting (task) == gate);
  g_assert_false (g_cancellable_is_cancelled (cancellable));
  g_assert_false (g_cancellable_is_cancelled (own));

  /* Inside coop_task_cancel(), on this thread. */
  coop_task_cancel (task, NULL);
  g_assert_true (g_cancellable_is_cancelled (cancellable));
  g_assert_true (g_cancellable_is_cancelled (own));
  g_assert_cmpint (handlers, ==, 1);

  /* The task swallows it and waits on; the echo through the bound
   * cancellable does not count as a second request. */
  coop_test_wait_until (coop_task_get_awaiting (task) == after);
  coop_test_drain ();
  g_assert_cmpuint (coop_task_get_n_cancels (task), ==, 1);
  g_assert_false (coop_task_is_cancelling (task));

  coop_future_set_none (after);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_no_error (error);
  g_assert_true (s.first_cancelled);
  g_assert_true (s.finished);
  g_signal_handlers_disconnect_by_func (cancellable, count_cancelled, &handlers);
  coop_test_drain ();   /* the done callbacks */
  g_assert_false (g_signal_has_handler_pending (cancellable, g_signal_lookup ("cancelled", G_TYPE_CANCELLABLE), 0, TRUE));
}

/* A cancellable from the task, handed to a GIO call the task makes
 * without the CoopAsyncFuture helper. */
static void
plain_callback (GObject *source, GAsyncResult *result, gpointer data)
{
  GError **error = data;

  g_assert_false (g_input_stream_read_finish (G_INPUT_STREAM (source), result, error) >= 0);
}

typedef struct
{
  Server   *server;
  GError   *error;
  gboolean  reading;
} PlainState;

static void
plain_read_body (CoopTask *task, gpointer data)
{
  PlainState *s = data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = await_connect (loop, s->server->address, &error);
  g_autoptr(CoopFuture) forever = coop_future_new (loop);
  static char buffer[16];

  g_assert_no_error (error);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                             buffer, sizeof buffer, G_PRIORITY_DEFAULT,
                             coop_task_get_cancellable (task), plain_callback, &s->error);
  s->reading = TRUE;
  g_assert_false (coop_await (forever, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* Let the read call back before the connection goes. */
  while (s->error == NULL)
    {
      g_autoptr(CoopFuture) nap = coop_sleep (loop, 1000);

      coop_await (nap, NULL);
    }
}

static void
test_task_cancellable_gio (CoopFixture *f, gconstpointer data)
{
  Server server = { NULL, };
  PlainState s = { &server, NULL };
  g_autoptr(CoopTask) task = NULL;

  server_start (&server, NULL);
  task = coop_task_new (f->loop, plain_read_body, &s, NULL);
  coop_test_wait_until (s.reading);
  coop_task_cancel (task, NULL);
  coop_test_wait_until (s.error != NULL);
  g_assert_error (s.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_clear_error (&s.error);
  server_stop (&server);
}

/* A cancellable already cancelled cancels the task at once: it never runs. */
static void
test_bind_cancelled (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(CoopFuture) gate = coop_future_new (f->loop);
  WaitState s = { .gate = gate };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, wait_body, &s, NULL);
  g_autoptr(GError) error = NULL;

  g_cancellable_cancel (cancellable);
  coop_task_bind_cancellable (task, cancellable);
  g_assert_true (coop_task_is_cancelling (task));
  /* Asked to cancel: its own cancellable is cancelled from the start. */
  g_assert_true (g_cancellable_is_cancelled (coop_task_get_cancellable (task)));
  g_assert_false (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (s.first_cancelled);   /* never ran */
  g_assert_cmpuint (coop_task_get_n_cancels (task), ==, 1);

  /* Bound to a task that is done: nothing happens, either way. */
  {
    g_autoptr(GCancellable) late = g_cancellable_new ();

    coop_task_bind_cancellable (task, late);
    g_assert_false (g_signal_has_handler_pending (late, g_signal_lookup ("cancelled", G_TYPE_CANCELLABLE), 0, TRUE));
    g_cancellable_cancel (late);
    coop_test_drain ();
  }
}

/* Unbound once the task is done: cancelling afterwards does nothing. */
static void
test_bind_after_done (CoopFixture *f, gconstpointer data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(CoopFuture) gate = coop_future_new (f->loop);
  WaitState s = { .gate = gate };
  g_autoptr(CoopTask) task = coop_task_new (f->loop, wait_body, &s, NULL);
  GCancellable *own = coop_task_get_cancellable (task);

  coop_task_bind_cancellable (task, cancellable);
  coop_future_set_none (gate);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (task), NULL));
  g_assert_true (s.finished);
  coop_test_drain ();
  g_assert_false (g_signal_has_handler_pending (cancellable, g_signal_lookup ("cancelled", G_TYPE_CANCELLABLE), 0, TRUE));
  g_cancellable_cancel (cancellable);
  coop_test_drain ();
  g_assert_cmpint (coop_future_get_state (COOP_FUTURE (task)), ==, COOP_FUTURE_STATE_FINISHED);
  g_assert_false (g_cancellable_is_cancelled (own));
}

/* --- coop_future_wait_async ---------------------------------------------------------- */

typedef struct
{
  guint         calls;
  gboolean      ok;
  GError       *error;
  GMainContext *context;   /* the thread-default context of the callback */
} Waited;

static void
waited_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      data)
{
  Waited *w = data;

  w->calls++;
  w->context = g_main_context_get_thread_default ();
  w->ok = coop_future_wait_finish (COOP_FUTURE (source), result, &w->error);
}

static void
test_wait_async (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) value = coop_future_new (f->loop);
  g_autoptr(CoopFuture) failing = coop_future_new (f->loop);
  g_autoptr(CoopFuture) cancelled = coop_future_new (f->loop);
  g_autoptr(CoopFuture) done = coop_future_new (f->loop);
  Waited a = { 0, }, b = { 0, }, c = { 0, }, d = { 0, };

  coop_future_wait_async (value, NULL, waited_cb, &a);
  coop_future_wait_async (failing, NULL, waited_cb, &b);
  coop_future_wait_async (cancelled, NULL, waited_cb, &c);
  coop_future_set_int64 (done, 7);
  coop_future_wait_async (done, NULL, waited_cb, &d);
  g_assert_cmpuint (d.calls, ==, 0);   /* never inside the call */

  coop_future_set_int64 (value, 42);
  coop_future_take_error (failing, g_error_new_literal (COOP_ERROR, COOP_ERROR_FAILED, "boom"));
  coop_future_cancel (cancelled, NULL);
  coop_test_wait_until (a.calls && b.calls && c.calls && d.calls);

  g_assert_true (a.ok);
  g_assert_no_error (a.error);
  g_assert_true (a.context == coop_loop_get_context (f->loop));
  g_assert_false (b.ok);
  g_assert_error (b.error, COOP_ERROR, COOP_ERROR_FAILED);
  g_assert_false (c.ok);
  g_assert_error (c.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (d.ok);
  g_clear_error (&b.error);
  g_clear_error (&c.error);
  coop_test_drain ();
  g_assert_cmpuint (a.calls + b.calls + c.calls + d.calls, ==, 4);
}

/* Cancelling the wait ends it but leaves the future pending; a cancellable
 * cancelled before the call and one cancelled from another thread too. */
static gpointer
cancel_thread (gpointer data)
{
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_wait_async_cancel (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) future = coop_future_new (f->loop);
  g_autoptr(GCancellable) stop = g_cancellable_new ();
  g_autoptr(GCancellable) early = g_cancellable_new ();
  g_autoptr(GCancellable) remote = g_cancellable_new ();
  Waited a = { 0, }, b = { 0, }, c = { 0, }, d = { 0, };
  GThread *thread;

  coop_future_wait_async (future, stop, waited_cb, &a);
  g_cancellable_cancel (early);
  coop_future_wait_async (future, early, waited_cb, &b);
  coop_future_wait_async (future, remote, waited_cb, &c);
  coop_future_wait_async (future, NULL, waited_cb, &d);
  g_cancellable_cancel (stop);
  thread = g_thread_new ("cancel", cancel_thread, remote);
  g_thread_join (thread);
  coop_test_wait_until (a.calls && b.calls && c.calls);

  g_assert_error (a.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_error (b.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_error (c.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (coop_future_get_state (future), ==, COOP_FUTURE_STATE_PENDING);
  g_assert_cmpuint (d.calls, ==, 0);

  /* The uncancelled waiter still hears of the end; the others once only. */
  coop_future_set_none (future);
  coop_test_wait_until (d.calls);
  g_assert_true (d.ok);
  coop_test_drain ();
  g_assert_cmpuint (a.calls + b.calls + c.calls, ==, 3);
  g_clear_error (&a.error);
  g_clear_error (&b.error);
  g_clear_error (&c.error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/gio/load-contents", test_load_contents);
  coop_test_add ("/coop/gio/socket-connect", test_socket_connect);
  coop_test_add ("/coop/gio/cancel-while-awaiting", test_cancel_while_awaiting);
  coop_test_add ("/coop/gio/cancel-before-await", test_cancel_before_await);
  coop_test_add ("/coop/gio/callback-from-another-thread", test_callback_from_another_thread);
  coop_test_add ("/coop/gio/gtask/values", test_gtask_values);
  coop_test_add ("/coop/gio/gtask/unpropagated", test_gtask_unpropagated);
  coop_test_add ("/coop/gio/gtask/gio-inside", test_gtask_gio_inside);
  coop_test_add ("/coop/gio/gtask/cancel", test_gtask_cancel);
  coop_test_add ("/coop/gio/gtask/cancelled-before", test_gtask_cancelled_before);
  coop_test_add ("/coop/gio/gtask/future", test_future_return_to_gtask);
  g_test_add_func ("/coop/gio/gtask/loop-closed", test_gtask_loop_closed);
  coop_test_add ("/coop/gio/cancellable/from-thread", test_cancellable_from_thread);
  coop_test_add ("/coop/gio/cancellable/task-cancels", test_task_cancels_cancellable);
  coop_test_add ("/coop/gio/cancellable/task-cancellable-gio", test_task_cancellable_gio);
  coop_test_add ("/coop/gio/cancellable/already-cancelled", test_bind_cancelled);
  coop_test_add ("/coop/gio/cancellable/after-done", test_bind_after_done);
  coop_test_add ("/coop/gio/wait-async/outcomes", test_wait_async);
  coop_test_add ("/coop/gio/wait-async/cancel", test_wait_async_cancel);

  return g_test_run ();
}
