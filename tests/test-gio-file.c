/* test-gio-file.c: the GIO wrappers for GFile and streams, and the
 * one-line bridge, against real files, pipes and memory streams.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

/* A pipe through `cat`: what is written to its input comes back on its
 * output, and a read of the output waits until then. */
typedef struct
{
  GSubprocess   *cat;
  GInputStream  *in;     /* cat's output */
  GOutputStream *out;    /* cat's input */
} Pipe;

static void
pipe_open (Pipe *p)
{
  g_autoptr(GError) error = NULL;

  p->cat = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                             "cat", NULL);
  g_assert_no_error (error);
  p->in = g_subprocess_get_stdout_pipe (p->cat);
  p->out = g_subprocess_get_stdin_pipe (p->cat);
}

static void
pipe_close (Pipe *p)
{
  g_output_stream_close (p->out, NULL, NULL);
  g_assert_true (g_subprocess_wait (p->cat, NULL, NULL));
  g_object_unref (p->cat);
}

typedef struct
{
  CoopFixture  base;
  char        *dir;
  GFile       *root;
} FileFixture;

static void
file_setup (FileFixture   *fx,
            gconstpointer  data)
{
  coop_fixture_setup (&fx->base, data);
  fx->dir = g_dir_make_tmp ("coop-gio-file-XXXXXX", NULL);
  g_assert_nonnull (fx->dir);
  fx->root = g_file_new_for_path (fx->dir);
}

static void
remove_tree (GFile *file)
{
  g_autoptr(GFileEnumerator) e = g_file_enumerate_children (file, "standard::name",
                                                             G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  GFileInfo *info;
  GFile *child;

  while (e != NULL && g_file_enumerator_iterate (e, &info, &child, NULL, NULL) && info != NULL)
    remove_tree (child);
  g_file_delete (file, NULL, NULL);
}

static void
file_teardown (FileFixture   *fx,
               gconstpointer  data)
{
  remove_tree (fx->root);
  g_object_unref (fx->root);
  g_free (fx->dir);
  coop_fixture_teardown (&fx->base, data);
}

#define file_test_add(path, func) \
  g_test_add (path, FileFixture, NULL, file_setup, func, file_teardown)

/* Runs @future to its end from thread-less code; returns its error. */
static GError *
run (FileFixture *fx,
     CoopFuture  *future)
{
  GError *error = NULL;

  coop_loop_run_until_complete (fx->base.loop, future, &error);
  return error;
}

static void
run_ok (FileFixture *fx,
        CoopFuture  *future)
{
  g_autoptr(GError) error = run (fx, future);

  g_assert_no_error (error);
}

static GFile *
child (FileFixture *fx,
       const char  *name)
{
  return g_file_get_child (fx->root, name);
}

static void
write_file (GFile      *file,
            const char *text)
{
  g_autoptr(GError) error = NULL;

  g_file_replace_contents (file, text, strlen (text), NULL, FALSE, 0, NULL, NULL, &error);
  g_assert_no_error (error);
}

static void
assert_contents (GFile      *file,
                 const char *text)
{
  g_autofree char *contents = NULL;
  gsize length;

  g_assert_true (g_file_load_contents (file, NULL, &contents, &length, NULL, NULL));
  g_assert_cmpmem (contents, length, text, strlen (text));
}

/* --- the one-line bridge ----------------------------------------------------------- */

static void
test_bridge_one_line (FileFixture   *fx,
                      gconstpointer  data)
{
  g_autoptr(GFile) file = child (fx, "a");
  g_autoptr(GFile) missing = child (fx, "missing");
  g_autoptr(CoopFuture) info = NULL, deleted = NULL, failed = NULL, bytes = NULL;
  g_autoptr(GError) error = NULL;

  write_file (file, "hello");

  /* An object result, owned by the future. */
  info = COOP_ASYNC_CALL (fx->base.loop, G_TYPE_FILE_INFO, g_file_query_info_finish,
                          g_file_query_info_async, file, "standard::size",
                          G_FILE_QUERY_INFO_NONE, G_PRIORITY_DEFAULT);
  run_ok (fx, info);
  g_assert_cmpint (g_file_info_get_size (coop_future_get_file_info (info, NULL)), ==, 5);

  /* A boxed result. */
  {
    g_autoptr(GInputStream) in = G_INPUT_STREAM (g_file_read (file, NULL, NULL));

    bytes = COOP_ASYNC_CALL (fx->base.loop, G_TYPE_BYTES, g_input_stream_read_bytes_finish,
                             g_input_stream_read_bytes_async, in, 64, G_PRIORITY_DEFAULT);
    run_ok (fx, bytes);
    g_assert_cmpmem (g_bytes_get_data (coop_future_get_bytes (bytes, NULL), NULL), 5, "hello", 5);
  }

  /* A gboolean result. */
  deleted = COOP_ASYNC_CALL (fx->base.loop, G_TYPE_BOOLEAN, g_file_delete_finish,
                             g_file_delete_async, file, G_PRIORITY_DEFAULT);
  run_ok (fx, deleted);
  g_assert_true (coop_future_get_boolean (deleted, NULL));
  g_assert_false (g_file_query_exists (file, NULL));

  /* The _finish function's error is the future's. */
  failed = COOP_ASYNC_CALL (fx->base.loop, G_TYPE_BOOLEAN, g_file_delete_finish,
                            g_file_delete_async, missing, G_PRIORITY_DEFAULT);
  error = run (fx, failed);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

/* A bridged future may be dropped at once: it holds itself until GIO
 * called back (valgrind and ASan check nothing leaks or is used after). */
static void
test_bridge_dropped (FileFixture   *fx,
                     gconstpointer  data)
{
  g_autoptr(GFile) file = child (fx, "a");
  g_autoptr(GInputStream) in = NULL;
  g_autoptr(CoopFuture) after = NULL;

  write_file (file, "hello");
  in = G_INPUT_STREAM (g_file_read (file, NULL, NULL));
  g_object_unref (COOP_ASYNC_CALL (fx->base.loop, G_TYPE_BYTES, g_input_stream_read_bytes_finish,
                                   g_input_stream_read_bytes_async, in, 2, G_PRIORITY_DEFAULT));
  /* Streams serve one call at a time: the next read waits for the first. */
  g_object_unref (coop_file_delete (fx->base.loop, file, G_PRIORITY_DEFAULT, NULL));
  after = coop_file_query_exists (fx->base.loop, file, NULL);
  coop_test_wait_until (!g_input_stream_has_pending (in));
  run_ok (fx, after);
}

static void
test_bridge_cancel (FileFixture   *fx,
                    gconstpointer  data)
{
  Pipe p;
  GInputStream *in;
  g_autoptr(CoopFuture) read = NULL;
  g_autoptr(GError) error = NULL;

  pipe_open (&p);
  in = p.in;
  read = COOP_ASYNC_CALL (fx->base.loop, G_TYPE_BYTES, g_input_stream_read_bytes_finish,
                          g_input_stream_read_bytes_async, in, 16, G_PRIORITY_DEFAULT);
  coop_test_drain ();
  g_assert_false (coop_future_is_done (read));
  coop_future_cancel (read, "stop");
  error = run (fx, read);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (coop_future_is_cancelled (read));
  /* GIO has called back: the stream is free again. */
  g_assert_false (g_input_stream_has_pending (in));
  pipe_close (&p);
}

/* The _async call made on another thread, with a context of its own: GIO
 * calls back there and the callback is forwarded to the loop's thread. */
typedef struct
{
  GInputStream    *in;
  CoopAsyncFuture *op;
  gint             relayed;   /* atomic */
} Foreign;

static void
relay (GObject      *source,
       GAsyncResult *result,
       gpointer      data)
{
  Foreign *foreign = data;

  coop_async_future_callback (source, result, foreign->op);
  g_atomic_int_set (&foreign->relayed, TRUE);
}

static gpointer
foreign_call (gpointer data)
{
  Foreign *foreign = data;
  GMainContext *context = g_main_context_new ();

  g_main_context_push_thread_default (context);
  g_input_stream_read_bytes_async (foreign->in, 16, G_PRIORITY_DEFAULT,
                                   coop_async_future_get_cancellable (foreign->op), relay, foreign);
  while (!g_atomic_int_get (&foreign->relayed))
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  return NULL;
}

static void
test_bridge_forwarded (FileFixture   *fx,
                       gconstpointer  data)
{
  g_autoptr(GInputStream) in = g_memory_input_stream_new_from_data ("far", 3, NULL);
  Foreign foreign = { in, NULL, FALSE };
  g_autoptr(CoopFuture) future = NULL;

  foreign.op = coop_async_future_new_for_finish (fx->base.loop, G_TYPE_BYTES,
                                                 G_CALLBACK (g_input_stream_read_bytes_finish));
  future = COOP_FUTURE (foreign.op);
  g_thread_join (g_thread_new ("foreign", foreign_call, &foreign));
  run_ok (fx, future);
  g_assert_cmpmem (g_bytes_get_data (coop_future_get_bytes (future, NULL), NULL), 3, "far", 3);
}

/* The same, with the loop closed before the forwarded callback ran: the
 * future stays pending, but the result and the reference the operation
 * held are released. */
static void
test_bridge_forwarded_closed (FileFixture   *fx,
                              gconstpointer  data)
{
  g_autoptr(GInputStream) in = g_memory_input_stream_new_from_data ("far", 3, NULL);
  Foreign foreign = { in, NULL, FALSE };
  gpointer weak;

  foreign.op = coop_async_future_new_for_finish (fx->base.loop, G_TYPE_BYTES,
                                                 G_CALLBACK (g_input_stream_read_bytes_finish));
  weak = foreign.op;
  g_object_add_weak_pointer (G_OBJECT (foreign.op), &weak);
  g_thread_join (g_thread_new ("foreign", foreign_call, &foreign));
  g_object_unref (foreign.op);
  g_assert_nonnull (weak);   /* the forwarded callback holds it */
  coop_loop_close (fx->base.loop);
  g_assert_null (weak);
}

/* --- contents ---------------------------------------------------------------------- */

static void
test_contents (FileFixture   *fx,
               gconstpointer  data)
{
  g_autoptr(GFile) file = child (fx, "c");
  g_autoptr(GFile) missing = child (fx, "missing");
  g_autoptr(GBytes) text = g_bytes_new_static ("some text", 9);
  g_autoptr(CoopFuture) replaced = coop_file_replace_contents (fx->base.loop, file, text, NULL, FALSE,
                                                               G_FILE_CREATE_NONE, NULL);
  g_autoptr(CoopFuture) loaded = NULL, failed = NULL, stale = NULL;
  g_autoptr(GError) error = NULL;
  const char *etag;

  run_ok (fx, replaced);
  etag = coop_future_get_string (replaced, NULL);
  g_assert_nonnull (etag);
  loaded = coop_file_load_contents (fx->base.loop, file, NULL);
  run_ok (fx, loaded);
  g_assert_true (g_bytes_equal (coop_future_get_bytes (loaded, NULL), text));

  failed = coop_file_load_contents (fx->base.loop, missing, NULL);
  error = run (fx, failed);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* An entity tag that is not the file's any more. */
  stale = coop_file_replace_contents (fx->base.loop, file, text, "0:0", FALSE, G_FILE_CREATE_NONE, NULL);
  error = run (fx, stale);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WRONG_ETAG);
}

/* --- file streams and stream calls ------------------------------------------------- */

static void
stream_body (CoopTask *task,
             gpointer  data)
{
  FileFixture *fx = data;
  CoopLoop *loop = fx->base.loop;
  g_autoptr(GFile) file = child (fx, "s");
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopFuture) created = coop_file_create (loop, file, G_FILE_CREATE_NONE, G_PRIORITY_DEFAULT, NULL);
  g_autoptr(CoopFuture) again = NULL, written = NULL, all = NULL, closed = NULL, appended = NULL;
  g_autoptr(CoopFuture) bytes_written = NULL, closed2 = NULL, opened = NULL, skipped = NULL;
  g_autoptr(CoopFuture) read = NULL, read_all = NULL, read_bytes = NULL, eof = NULL, closed3 = NULL;
  g_autoptr(CoopFuture) replaced = NULL, closed4 = NULL;
  g_autoptr(GBytes) tail = g_bytes_new_static ("TAIL", 4);
  GOutputStream *out;
  GInputStream *in;
  char buffer[64];

  g_assert_true (coop_await (created, &error));
  out = coop_future_get_output_stream (created, &error);
  g_assert_no_error (error);
  g_assert_true (G_IS_FILE_OUTPUT_STREAM (out));

  /* Creating it again: it exists. */
  again = coop_file_create (loop, file, G_FILE_CREATE_NONE, G_PRIORITY_DEFAULT, NULL);
  g_assert_false (coop_await (again, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);

  written = coop_output_stream_write (loop, out, "0123", 4, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (written, &error));
  g_assert_cmpint (coop_future_get_int64 (written, NULL), ==, 4);
  all = coop_output_stream_write_all (loop, out, "456789", 6, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (all, &error));
  g_assert_cmpint (coop_future_get_int64 (all, NULL), ==, 6);
  closed = coop_output_stream_close (loop, out, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (closed, &error));
  g_assert_true (coop_future_get_boolean (closed, NULL));

  appended = coop_file_append_to (loop, file, G_FILE_CREATE_NONE, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (appended, &error));
  out = coop_future_get_output_stream (appended, NULL);
  bytes_written = coop_output_stream_write_bytes (loop, out, tail, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (bytes_written, &error));
  g_assert_cmpint (coop_future_get_int64 (bytes_written, NULL), ==, 4);
  closed2 = coop_output_stream_close (loop, out, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (closed2, &error));
  assert_contents (file, "0123456789TAIL");

  opened = coop_file_read (loop, file, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (opened, &error));
  in = coop_future_get_input_stream (opened, &error);
  g_assert_no_error (error);
  g_assert_true (G_IS_FILE_INPUT_STREAM (in));
  skipped = coop_input_stream_skip (loop, in, 2, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (skipped, &error));
  g_assert_cmpint (coop_future_get_int64 (skipped, NULL), ==, 2);
  read = coop_input_stream_read (loop, in, buffer, 3, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (read, &error));
  g_assert_cmpint (coop_future_get_int64 (read, NULL), ==, 3);
  g_assert_cmpmem (buffer, 3, "234", 3);
  read_all = coop_input_stream_read_all (loop, in, buffer, 5, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (read_all, &error));
  g_assert_cmpint (coop_future_get_int64 (read_all, NULL), ==, 5);
  g_assert_cmpmem (buffer, 5, "56789", 5);
  read_bytes = coop_input_stream_read_bytes (loop, in, 64, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (read_bytes, &error));
  g_assert_cmpmem (g_bytes_get_data (coop_future_get_bytes (read_bytes, NULL), NULL),
                   g_bytes_get_size (coop_future_get_bytes (read_bytes, NULL)), "TAIL", 4);
  eof = coop_input_stream_read_bytes (loop, in, 64, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (eof, &error));
  g_assert_cmpuint (g_bytes_get_size (coop_future_get_bytes (eof, NULL)), ==, 0);
  closed3 = coop_input_stream_close (loop, in, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (closed3, &error));

  /* replace: the file changes when the stream is closed. */
  replaced = coop_file_replace (loop, file, NULL, FALSE, G_FILE_CREATE_NONE, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (replaced, &error));
  out = coop_future_get_output_stream (replaced, NULL);
  g_assert_true (g_output_stream_write_all (out, "new", 3, NULL, NULL, NULL));
  assert_contents (file, "0123456789TAIL");
  closed4 = coop_output_stream_close (loop, out, G_PRIORITY_DEFAULT, NULL);
  g_assert_true (coop_await (closed4, &error));
  assert_contents (file, "new");

  /* A typed getter asked for the wrong kind says so. */
  g_assert_null (coop_future_get_file_info (replaced, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT);
}

static void
test_streams (FileFixture   *fx,
              gconstpointer  data)
{
  coop_test_run_task (fx->base.loop, stream_body, fx, 30 * G_USEC_PER_SEC);
}

static void
test_stream_errors (FileFixture   *fx,
                    gconstpointer  data)
{
  g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable ();
  g_autoptr(GInputStream) in = g_memory_input_stream_new_from_data ("abc", 3, NULL);
  g_autoptr(GBytes) some = g_bytes_new_static ("x", 1);
  g_autoptr(CoopFuture) write = NULL, read = NULL, spliced = NULL, closed = NULL;
  g_autoptr(GError) error = NULL;

  /* splice, from thread-less code. */
  spliced = coop_output_stream_splice (fx->base.loop, out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE,
                                       G_PRIORITY_DEFAULT, NULL);
  run_ok (fx, spliced);
  g_assert_cmpint (coop_future_get_int64 (spliced, NULL), ==, 3);
  g_assert_true (g_input_stream_is_closed (in));
  closed = coop_output_stream_close (fx->base.loop, out, G_PRIORITY_DEFAULT, NULL);
  run_ok (fx, closed);
  g_assert_cmpmem (g_memory_output_stream_get_data (G_MEMORY_OUTPUT_STREAM (out)),
                   g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (out)), "abc", 3);

  write = coop_output_stream_write_bytes (fx->base.loop, out, some, G_PRIORITY_DEFAULT, NULL);
  error = run (fx, write);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&error);
  read = coop_input_stream_read_bytes (fx->base.loop, in, 1, G_PRIORITY_DEFAULT, NULL);
  error = run (fx, read);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

/* A read that waits on an empty pipe: cancelling the future, or the
 * caller's cancellable, stops it. */
static void
test_stream_cancel (FileFixture   *fx,
                    gconstpointer  data)
{
  Pipe p;
  GInputStream *in;
  GOutputStream *out;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(CoopFuture) read = NULL, read2 = NULL, read3 = NULL, written = NULL;
  g_autoptr(GBytes) bytes = g_bytes_new_static ("z", 1);
  g_autoptr(GError) error = NULL;
  char buffer[4];

  pipe_open (&p);
  in = p.in;
  out = p.out;

  read = coop_input_stream_read (fx->base.loop, in, buffer, sizeof buffer, G_PRIORITY_DEFAULT, NULL);
  coop_test_drain ();
  g_assert_false (coop_future_is_done (read));
  g_assert_true (coop_future_cancel (read, "enough"));
  error = run (fx, read);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  read2 = coop_input_stream_read_bytes (fx->base.loop, in, 4, G_PRIORITY_DEFAULT, cancellable);
  coop_test_drain ();
  g_cancellable_cancel (cancellable);
  error = run (fx, read2);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (coop_future_is_cancelled (read2));
  g_clear_error (&error);

  /* The stream still works, and nothing was lost. */
  written = coop_output_stream_write_bytes (fx->base.loop, out, bytes, G_PRIORITY_DEFAULT, NULL);
  run_ok (fx, written);
  read3 = coop_input_stream_read_bytes (fx->base.loop, in, 4, G_PRIORITY_DEFAULT, NULL);
  run_ok (fx, read3);
  g_assert_true (g_bytes_equal (coop_future_get_bytes (read3, NULL), bytes));
  pipe_close (&p);
}

/* --- information ------------------------------------------------------------------- */

static void
test_query (FileFixture   *fx,
            gconstpointer  data)
{
  g_autoptr(GFile) file = child (fx, "q");
  g_autoptr(GFile) missing = child (fx, "missing");
  g_autoptr(GFile) under_file = g_file_get_child (file, "x");
  g_autoptr(CoopFuture) info = NULL, yes = NULL, no = NULL, no2 = NULL, failed = NULL;
  g_autoptr(GError) error = NULL;

  write_file (file, "1234567");
  info = coop_file_query_info (fx->base.loop, file, "standard::size,standard::type",
                               G_FILE_QUERY_INFO_NONE, G_PRIORITY_DEFAULT, NULL);
  run_ok (fx, info);
  g_assert_cmpint (g_file_info_get_size (coop_future_get_file_info (info, NULL)), ==, 7);

  yes = coop_file_query_exists (fx->base.loop, file, NULL);
  no = coop_file_query_exists (fx->base.loop, missing, NULL);
  no2 = coop_file_query_exists (fx->base.loop, under_file, NULL);
  run_ok (fx, yes);
  run_ok (fx, no);
  run_ok (fx, no2);
  g_assert_true (coop_future_get_boolean (yes, NULL));
  g_assert_false (coop_future_get_boolean (no, &error));
  g_assert_no_error (error);
  g_assert_false (coop_future_get_boolean (no2, &error));
  g_assert_no_error (error);

  failed = coop_file_query_info (fx->base.loop, missing, "standard::size", G_FILE_QUERY_INFO_NONE,
                                 G_PRIORITY_DEFAULT, NULL);
  error = run (fx, failed);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

/* --- directories ------------------------------------------------------------------- */

static void
test_enumerate (FileFixture   *fx,
                gconstpointer  data)
{
  g_autoptr(CoopFuture) opened = coop_file_enumerate_children (fx->base.loop, fx->root, "standard::name",
                                                               G_FILE_QUERY_INFO_NONE, G_PRIORITY_DEFAULT, NULL);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GFile) plain = child (fx, "f0");
  g_autoptr(CoopFuture) closed = NULL, not_dir = NULL;
  g_autoptr(GError) error = NULL;
  GFileEnumerator *enumerator;
  guint batches = 0;

  for (int i = 0; i < 5; i++)
    {
      g_autofree char *name = g_strdup_printf ("f%d", i);
      g_autoptr(GFile) f = child (fx, name);

      write_file (f, name);
    }
  run_ok (fx, opened);
  enumerator = coop_future_get_file_enumerator (opened, NULL);
  for (;;)
    {
      g_autoptr(CoopFuture) batch = coop_file_enumerator_next_files (fx->base.loop, enumerator, 2,
                                                                      G_PRIORITY_DEFAULT, NULL);
      GPtrArray *infos;

      run_ok (fx, batch);
      infos = coop_future_get_file_infos (batch, &error);
      g_assert_no_error (error);
      if (infos->len == 0)
        break;
      g_assert_cmpuint (infos->len, <=, 2);
      batches++;
      for (guint i = 0; i < infos->len; i++)
        g_hash_table_add (seen, g_strdup (g_file_info_get_name (infos->pdata[i])));
    }
  g_assert_cmpuint (batches, ==, 3);
  g_assert_cmpuint (g_hash_table_size (seen), ==, 5);
  closed = coop_file_enumerator_close (fx->base.loop, enumerator, G_PRIORITY_DEFAULT, NULL);
  run_ok (fx, closed);

  not_dir = coop_file_enumerate_children (fx->base.loop, plain, "standard::name", G_FILE_QUERY_INFO_NONE,
                                          G_PRIORITY_DEFAULT, NULL);
  error = run (fx, not_dir);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY);
}

static void
test_make_directory (FileFixture   *fx,
                     gconstpointer  data)
{
  g_autoptr(GFile) dir = child (fx, "d");
  g_autoptr(GFile) deep = g_file_resolve_relative_path (fx->root, "p/q/r");
  g_autoptr(GFile) orphan = g_file_resolve_relative_path (fx->root, "none/x");
  g_autoptr(CoopFuture) made = NULL, again = NULL, parents = NULL, parents_again = NULL, lost = NULL;
  g_autoptr(GError) error = NULL;

  made = coop_file_make_directory (fx->base.loop, dir, G_PRIORITY_DEFAULT, NULL);
  run_ok (fx, made);
  g_assert_cmpint (g_file_query_file_type (dir, 0, NULL), ==, G_FILE_TYPE_DIRECTORY);
  again = coop_file_make_directory (fx->base.loop, dir, G_PRIORITY_DEFAULT, NULL);
  error = run (fx, again);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);
  lost = coop_file_make_directory (fx->base.loop, orphan, G_PRIORITY_DEFAULT, NULL);
  error = run (fx, lost);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  parents = coop_file_make_directory_with_parents (fx->base.loop, deep, G_PRIORITY_DEFAULT, NULL);
  run_ok (fx, parents);
  g_assert_true (coop_future_get_boolean (parents, NULL));
  g_assert_cmpint (g_file_query_file_type (deep, 0, NULL), ==, G_FILE_TYPE_DIRECTORY);
  parents_again = coop_file_make_directory_with_parents (fx->base.loop, deep, G_PRIORITY_DEFAULT, NULL);
  error = run (fx, parents_again);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
}

static void
test_make_directory_cancel (FileFixture   *fx,
                            gconstpointer  data)
{
  g_autoptr(GFile) deep = g_file_resolve_relative_path (fx->root, "p/q/r");
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(CoopFuture) parents = NULL, dir = NULL;
  g_autoptr(GError) error = NULL;

  g_cancellable_cancel (cancellable);
  parents = coop_file_make_directory_with_parents (fx->base.loop, deep, G_PRIORITY_DEFAULT, cancellable);
  error = run (fx, parents);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (coop_future_is_cancelled (parents));
  g_clear_error (&error);
  dir = coop_file_make_directory (fx->base.loop, deep, G_PRIORITY_DEFAULT, cancellable);
  error = run (fx, dir);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (g_file_query_exists (deep, NULL));
  g_clear_error (&error);
  g_clear_object (&parents);

  /* Cancelled on the way up, while it waits for GIO: cancelled too. */
  parents = coop_file_make_directory_with_parents (fx->base.loop, deep, G_PRIORITY_DEFAULT, NULL);
  coop_test_iterate ();
  g_assert_false (coop_future_is_done (parents));
  coop_future_cancel (parents, NULL);
  error = run (fx, parents);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (coop_future_is_cancelled (parents));
  g_clear_error (&error);
  g_clear_object (&parents);

  /* The same through its GCancellable. */
  g_clear_object (&cancellable);
  cancellable = g_cancellable_new ();
  parents = coop_file_make_directory_with_parents (fx->base.loop, deep, G_PRIORITY_DEFAULT, cancellable);
  coop_test_iterate ();
  g_assert_false (coop_future_is_done (parents));
  g_cancellable_cancel (cancellable);
  error = run (fx, parents);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (coop_future_is_cancelled (parents));
}

static void
test_delete_trash (FileFixture   *fx,
                   gconstpointer  data)
{
  g_autoptr(GFile) file = child (fx, "del");
  g_autoptr(GFile) junk = child (fx, "junk");
  g_autoptr(CoopFuture) deleted = NULL, again = NULL, trashed = NULL, trashed_again = NULL;
  g_autoptr(GError) error = NULL;

  write_file (file, "x");
  deleted = coop_file_delete (fx->base.loop, file, G_PRIORITY_DEFAULT, NULL);
  run_ok (fx, deleted);
  g_assert_false (g_file_query_exists (file, NULL));
  again = coop_file_delete (fx->base.loop, file, G_PRIORITY_DEFAULT, NULL);
  error = run (fx, again);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* The trash is under the test's own HOME and XDG_DATA_HOME (see main()),
   * on the file's file system. */
  write_file (junk, "y");
  trashed = coop_file_trash (fx->base.loop, junk, G_PRIORITY_DEFAULT, NULL);
  run_ok (fx, trashed);
  g_assert_false (g_file_query_exists (junk, NULL));
  trashed_again = coop_file_trash (fx->base.loop, junk, G_PRIORITY_DEFAULT, NULL);
  error = run (fx, trashed_again);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

typedef struct
{
  GThread *thread;
  guint    calls;
  goffset  last;
  guint    freed;
} Progress;

static void
on_progress (goffset  current,
             goffset  total,
             gpointer data)
{
  Progress *progress = data;

  g_assert_true (progress->thread == g_thread_self ());
  g_assert_cmpint (current, <=, total);
  progress->calls++;
  progress->last = current;
}

static void
progress_free (gpointer data)
{
  ((Progress *) data)->freed++;
}

static void
test_copy_move (FileFixture   *fx,
                gconstpointer  data)
{
  g_autoptr(GFile) src = child (fx, "src");
  g_autoptr(GFile) copy = child (fx, "copy");
  g_autoptr(GFile) moved = child (fx, "moved");
  g_autoptr(GFile) missing = child (fx, "missing");
  g_autoptr(CoopFuture) copied = NULL, copied_again = NULL, move = NULL, failed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *big = g_strnfill (256 * 1024, 'b');
  Progress progress = { g_thread_self (), 0, 0, 0 };

  write_file (src, big);
  copied = coop_file_copy (fx->base.loop, src, copy, G_FILE_COPY_NONE, G_PRIORITY_DEFAULT,
                           on_progress, &progress, progress_free, NULL);
  run_ok (fx, copied);
  assert_contents (copy, big);
  g_assert_cmpuint (progress.calls, >, 0);
  g_assert_cmpint (progress.last, ==, 256 * 1024);
  g_assert_cmpuint (progress.freed, ==, 1);

  copied_again = coop_file_copy (fx->base.loop, src, copy, G_FILE_COPY_NONE, G_PRIORITY_DEFAULT,
                                 NULL, NULL, NULL, NULL);
  error = run (fx, copied_again);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);

  move = coop_file_move (fx->base.loop, copy, moved, G_FILE_COPY_NONE, G_PRIORITY_DEFAULT,
                         NULL, NULL, NULL, NULL);
  run_ok (fx, move);
  g_assert_false (g_file_query_exists (copy, NULL));
  assert_contents (moved, big);

  progress.freed = 0;
  failed = coop_file_move (fx->base.loop, missing, moved, G_FILE_COPY_OVERWRITE, G_PRIORITY_DEFAULT,
                           on_progress, &progress, progress_free, NULL);
  error = run (fx, failed);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_cmpuint (progress.freed, ==, 1);
}

static void
test_copy_cancel (FileFixture   *fx,
                  gconstpointer  data)
{
  g_autoptr(GFile) src = child (fx, "src");
  g_autoptr(GFile) copy = child (fx, "copy");
  g_autoptr(CoopFuture) copied = NULL;
  g_autoptr(GError) error = NULL;
  Progress progress = { g_thread_self (), 0, 0, 0 };

  write_file (src, "data");
  copied = coop_file_copy (fx->base.loop, src, copy, G_FILE_COPY_NONE, G_PRIORITY_DEFAULT,
                           on_progress, &progress, progress_free, NULL);
  coop_future_cancel (copied, "no copy");
  error = run (fx, copied);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (progress.freed, ==, 1);
}

/* Cancelling a task that awaits a wrapper cancels the GIO call. */
static void
await_pipe_body (CoopTask *task,
                 gpointer  data)
{
  GInputStream *in = data;
  g_autoptr(CoopFuture) read = coop_input_stream_read_bytes (coop_future_get_loop (COOP_FUTURE (task)),
                                                             in, 4, G_PRIORITY_DEFAULT, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_false (coop_await (read, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (g_input_stream_has_pending (in));
  coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

static void
test_task_cancel (FileFixture   *fx,
                  gconstpointer  data)
{
  Pipe p;
  g_autoptr(CoopTask) task = NULL;
  g_autoptr(GError) error = NULL;

  pipe_open (&p);
  task = coop_task_new (fx->base.loop, await_pipe_body, p.in, NULL);
  coop_test_drain ();
  g_assert_true (g_input_stream_has_pending (p.in));
  coop_task_cancel (task, "stop");
  error = run (fx, COOP_FUTURE (task));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  pipe_close (&p);
}

/* --- the side-by-side example of docs/gio.md ---------------------------------------- */

typedef struct { GFile *in, *out; } Job;

static GBytes *
upper (GBytes *bytes)
{
  gsize size;
  const char *data = g_bytes_get_data (bytes, &size);

  return g_bytes_new_take (g_ascii_strup (data, size), size);
}

static void
copy_upper_bridge (CoopTask *task, gpointer data)
{
  Job *job = data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(CoopAsyncFuture) load = coop_async_future_new (loop);
  g_autoptr(CoopAsyncFuture) save = coop_async_future_new (loop);
  g_autoptr(GBytes) bytes = NULL, upper_bytes = NULL;
  g_autoptr(GError) error = NULL;

  g_file_load_bytes_async (job->in, coop_async_future_get_cancellable (load),
                           coop_async_future_callback, load);
  if (!coop_await (COOP_FUTURE (load), &error) ||
      !(bytes = g_file_load_bytes_finish (job->in, coop_async_future_get_result (load),
                                          NULL, &error)))
    goto fail;
  upper_bytes = upper (bytes);
  g_file_replace_contents_bytes_async (job->out, upper_bytes, NULL, FALSE, G_FILE_CREATE_NONE,
                                       coop_async_future_get_cancellable (save),
                                       coop_async_future_callback, save);
  if (!coop_await (COOP_FUTURE (save), &error) ||
      !g_file_replace_contents_finish (job->out, coop_async_future_get_result (save),
                                       NULL, &error))
    goto fail;
  return;
fail:
  coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

static void
copy_upper_wrappers (CoopTask *task, gpointer data)
{
  Job *job = data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(CoopFuture) load = coop_file_load_contents (loop, job->in, NULL);
  g_autoptr(CoopFuture) save = NULL;
  g_autoptr(GBytes) upper_bytes = NULL;
  g_autoptr(GError) error = NULL;

  if (!coop_await (load, &error))
    goto fail;
  upper_bytes = upper (coop_future_get_bytes (load, NULL));
  save = coop_file_replace_contents (loop, job->out, upper_bytes, NULL, FALSE,
                                     G_FILE_CREATE_NONE, NULL);
  if (!coop_await (save, &error))
    goto fail;
  return;
fail:
  coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

static void
test_docs_example (FileFixture   *fx,
                   gconstpointer  data)
{
  g_autoptr(GFile) in = child (fx, "in");
  g_autoptr(GFile) out1 = child (fx, "out1");
  g_autoptr(GFile) out2 = child (fx, "out2");
  g_autoptr(GFile) missing = child (fx, "missing");
  Job job1 = { in, out1 }, job2 = { in, out2 }, bad = { missing, out1 };
  g_autoptr(CoopTask) failing = NULL;
  g_autoptr(GError) error = NULL;

  write_file (in, "Hello, GIO");
  coop_test_run_task (fx->base.loop, copy_upper_bridge, &job1, 30 * G_USEC_PER_SEC);
  coop_test_run_task (fx->base.loop, copy_upper_wrappers, &job2, 30 * G_USEC_PER_SEC);
  assert_contents (out1, "HELLO, GIO");
  assert_contents (out2, "HELLO, GIO");

  failing = coop_task_new (fx->base.loop, copy_upper_wrappers, &bad, NULL);
  error = run (fx, COOP_FUTURE (failing));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *home = g_dir_make_tmp ("coop-gio-home-XXXXXX", NULL);
  g_autoptr(GFile) home_file = NULL;
  int status;

  /* A home and a trash of our own, set before GLib reads them (GLib's
   * G_TEST_OPTION_ISOLATE_DIRS would do it per test, but leaks the old
   * paths each time, which LeakSanitizer reports). */
  g_assert_nonnull (home);
  g_setenv ("HOME", home, TRUE);
  g_setenv ("XDG_DATA_HOME", home, TRUE);
  g_test_init (&argc, &argv, NULL);

  file_test_add ("/gio-file/bridge/one-line", test_bridge_one_line);
  file_test_add ("/gio-file/bridge/dropped", test_bridge_dropped);
  file_test_add ("/gio-file/bridge/cancel", test_bridge_cancel);
  file_test_add ("/gio-file/bridge/forwarded", test_bridge_forwarded);
  file_test_add ("/gio-file/bridge/forwarded-closed", test_bridge_forwarded_closed);
  file_test_add ("/gio-file/contents", test_contents);
  file_test_add ("/gio-file/streams", test_streams);
  file_test_add ("/gio-file/stream-errors", test_stream_errors);
  file_test_add ("/gio-file/stream-cancel", test_stream_cancel);
  file_test_add ("/gio-file/query", test_query);
  file_test_add ("/gio-file/enumerate", test_enumerate);
  file_test_add ("/gio-file/make-directory", test_make_directory);
  file_test_add ("/gio-file/make-directory-cancel", test_make_directory_cancel);
  file_test_add ("/gio-file/delete-trash", test_delete_trash);
  file_test_add ("/gio-file/copy-move", test_copy_move);
  file_test_add ("/gio-file/copy-cancel", test_copy_cancel);
  file_test_add ("/gio-file/task-cancel", test_task_cancel);
  file_test_add ("/gio-file/docs-example", test_docs_example);

  status = g_test_run ();
  home_file = g_file_new_for_path (home);
  remove_tree (home_file);
  return status;
}
