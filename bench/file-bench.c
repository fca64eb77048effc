/* file-bench.c: reading many small files and one large file, on Coop
 * (io_uring or threads) and on GIO's own async file API.  One measurement
 * per run, one JSON line on stdout; bench/run drives it (bench/README.md,
 * "File I/O").
 *
 *   file-bench --prepare --dir DIR --files N --file-size B --large-size B
 *   file-bench --impl coop|gio --test small|large --dir DIR [--depth D]
 *
 * Coop's backend is COOP_FILE_BACKEND (uring or threads), set by the
 * caller.  The files are read from the page cache (warm: --prepare wrote
 * them, and a first pass reads them before the timed one).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK ((gsize) 1024 * 1024)

static char *opt_impl = "coop";
static char *opt_test = "small";
static char *opt_dir;
static gboolean opt_prepare;
static int opt_files = 10000;
static gint64 opt_file_size = 4096;
static gint64 opt_large_size = (gint64) 1 << 30;
static int opt_depth = 0;   /* 64 small files, 1 chunk of the large one */

static GOptionEntry entries[] = {
  { "impl", 0, 0, G_OPTION_ARG_STRING, &opt_impl, "coop or gio", NULL },
  { "test", 0, 0, G_OPTION_ARG_STRING, &opt_test, "small or large", NULL },
  { "dir", 0, 0, G_OPTION_ARG_FILENAME, &opt_dir, "the directory of the files", NULL },
  { "prepare", 0, 0, G_OPTION_ARG_NONE, &opt_prepare, "write the files", NULL },
  { "files", 0, 0, G_OPTION_ARG_INT, &opt_files, "number of small files", NULL },
  { "file-size", 0, 0, G_OPTION_ARG_INT64, &opt_file_size, "size of a small file", NULL },
  { "large-size", 0, 0, G_OPTION_ARG_INT64, &opt_large_size, "size of the large file", NULL },
  { "depth", 0, 0, G_OPTION_ARG_INT, &opt_depth, "small files, or chunks of the large one, read at the same time (Coop)", NULL },
  { NULL }
};

static char *
small_path (int i)
{
  return g_strdup_printf ("%s/small/%05d", opt_dir, i);
}

static char *
large_path (void)
{
  return g_build_filename (opt_dir, "large", NULL);
}

static void
prepare (void)
{
  g_autofree char *small_dir = g_build_filename (opt_dir, "small", NULL);
  g_autofree char *large = large_path ();
  g_autofree guint8 *block = g_malloc (CHUNK);
  gint64 left;
  int fd;

  g_mkdir_with_parents (small_dir, 0755);
  for (gsize i = 0; i < CHUNK; i++)
    block[i] = (guint8) (i * 131 + 7);
  for (int i = 0; i < opt_files; i++)
    {
      g_autofree char *path = small_path (i);
      GError *error = NULL;

      if (!g_file_set_contents (path, (const char *) block + (i % 1024), opt_file_size, &error))
        g_error ("%s", error->message);
    }
  fd = open (large, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    g_error ("%s: %s", large, g_strerror (errno));
  for (left = opt_large_size; left > 0; left -= (gint64) CHUNK)
    if (write (fd, block, MIN ((gsize) left, CHUNK)) < 0)
      g_error ("write: %s", g_strerror (errno));
  close (fd);
}

/* --- Coop ------------------------------------------------------------------------ */

typedef struct
{
  int     next;        /* the next small file to read */
  guint64 bytes;
  int     errors;
} SmallRun;

/* One of --depth tasks, each loading one file after another. */
static void
small_worker (CoopTask *task, gpointer data)
{
  SmallRun *run = data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));

  while (run->next < opt_files)
    {
      g_autofree char *path = small_path (run->next++);
      g_autoptr(CoopFuture) load = coop_fs_load (loop, path);
      g_autoptr(GError) error = NULL;

      if (!coop_await (load, &error))
        {
          run->errors++;
          continue;
        }
      run->bytes += g_bytes_get_size (coop_future_get_bytes (load, NULL));
    }
}

static guint64
coop_small (CoopLoop *loop)
{
  SmallRun run = { 0 };
  g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(CoopFuture) all = NULL;

  for (int i = 0; i < opt_depth; i++)
    g_ptr_array_add (tasks, coop_task_new (loop, small_worker, &run, NULL));
  all = coop_gather (loop, (CoopFuture **) tasks->pdata, tasks->len, TRUE);
  coop_loop_run_until_complete (loop, all, NULL);
  if (run.errors > 0)
    g_error ("%d files could not be read", run.errors);
  return run.bytes;
}

/* The large file: --depth readers, reader i reading chunks i, i + depth,
 * i + 2 depth...  (GIO reads one stream one chunk after another: compare
 * with depth 1.) */
typedef struct
{
  int      fd;
  guint64  bytes;
} LargeRun;

typedef struct
{
  LargeRun *run;
  int       index;
} LargeReader;

static void
large_reader (CoopTask *task, gpointer data)
{
  LargeReader *reader = data;
  LargeRun *run = reader->run;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autofree guint8 *buffer = g_malloc (CHUNK);

  for (gint64 chunk = reader->index;; chunk += opt_depth)
    {
      g_autoptr(CoopFuture) read = coop_fs_read (loop, run->fd, buffer, CHUNK, chunk * (gint64) CHUNK);
      g_autoptr(GError) error = NULL;
      gint64 n;

      if (!coop_await (read, &error))
        g_error ("%s", error->message);
      n = coop_future_get_int64 (read, NULL);
      run->bytes += (guint64) n;
      if (n < (gint64) CHUNK)
        break;
    }
}

static guint64
coop_large (CoopLoop *loop)
{
  g_autofree char *path = large_path ();
  LargeRun run = { open (path, O_RDONLY | O_CLOEXEC), 0 };
  g_autofree LargeReader *readers = g_new0 (LargeReader, opt_depth);
  g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(CoopFuture) all = NULL;

  for (int i = 0; i < opt_depth; i++)
    {
      readers[i].run = &run;
      readers[i].index = i;
      g_ptr_array_add (tasks, coop_task_new (loop, large_reader, &readers[i], NULL));
    }
  all = coop_gather (loop, (CoopFuture **) tasks->pdata, tasks->len, TRUE);
  coop_loop_run_until_complete (loop, all, NULL);
  close (run.fd);
  return run.bytes;
}

/* --- GIO ------------------------------------------------------------------------- */

typedef struct
{
  int        next;
  int        in_flight;
  guint64    bytes;
  GMainLoop *main_loop;
} GioSmall;

static void gio_small_next (GioSmall *run);

static void
gio_loaded (GObject *source, GAsyncResult *result, gpointer data)
{
  GioSmall *run = data;
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  gsize length;

  if (!g_file_load_contents_finish (G_FILE (source), result, &contents, &length, NULL, &error))
    g_error ("%s", error->message);
  run->bytes += length;
  run->in_flight--;
  gio_small_next (run);
}

static void
gio_small_next (GioSmall *run)
{
  while (run->in_flight < opt_depth && run->next < opt_files)
    {
      g_autofree char *path = small_path (run->next++);
      g_autoptr(GFile) file = g_file_new_for_path (path);

      run->in_flight++;
      g_file_load_contents_async (file, NULL, gio_loaded, run);
    }
  if (run->in_flight == 0)
    g_main_loop_quit (run->main_loop);
}

static guint64
gio_small (void)
{
  GioSmall run = { 0 };

  run.main_loop = g_main_loop_new (NULL, FALSE);
  gio_small_next (&run);
  g_main_loop_run (run.main_loop);
  g_main_loop_unref (run.main_loop);
  return run.bytes;
}

typedef struct
{
  GInputStream *stream;
  guint8       *buffer;
  guint64       bytes;
  GMainLoop    *main_loop;
} GioLarge;

static void
gio_read_done (GObject *source, GAsyncResult *result, gpointer data)
{
  GioLarge *run = data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (run->stream, result, &error);

  if (n < 0)
    g_error ("%s", error->message);
  if (n == 0)
    {
      g_main_loop_quit (run->main_loop);
      return;
    }
  run->bytes += (guint64) n;
  g_input_stream_read_async (run->stream, run->buffer, CHUNK, G_PRIORITY_DEFAULT, NULL, gio_read_done, run);
}

static guint64
gio_large (void)
{
  g_autofree char *path = large_path ();
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GError) error = NULL;
  GioLarge run = { 0 };

  run.stream = G_INPUT_STREAM (g_file_read (file, NULL, &error));
  if (run.stream == NULL)
    g_error ("%s", error->message);
  run.buffer = g_malloc (CHUNK);
  run.main_loop = g_main_loop_new (NULL, FALSE);
  g_input_stream_read_async (run.stream, run.buffer, CHUNK, G_PRIORITY_DEFAULT, NULL, gio_read_done, &run);
  g_main_loop_run (run.main_loop);
  g_main_loop_unref (run.main_loop);
  g_object_unref (run.stream);
  g_free (run.buffer);
  return run.bytes;
}

/* --- main -------------------------------------------------------------------------- */

static guint64
run_once (CoopLoop *loop, gboolean large)
{
  if (g_str_equal (opt_impl, "gio"))
    return large ? gio_large () : gio_small ();
  return large ? coop_large (loop) : coop_small (loop);
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("- file I/O benchmark");
  g_autoptr(GError) error = NULL;
  gboolean large;
  CoopLoop *loop = NULL;
  gint64 t0, t1;
  guint64 bytes;
  double seconds;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    g_error ("%s", error->message);
  if (opt_dir == NULL)
    g_error ("--dir is needed");
  if (opt_prepare)
    {
      prepare ();
      return 0;
    }
  large = g_str_equal (opt_test, "large");
  if (opt_depth <= 0)
    opt_depth = large ? 1 : 64;
  if (!g_str_equal (opt_impl, "gio"))
    loop = coop_loop_get_default ();

  /* Warm the page cache (and the pools), then time a second pass. */
  run_once (loop, large);
  t0 = g_get_monotonic_time ();
  bytes = run_once (loop, large);
  t1 = g_get_monotonic_time ();
  seconds = (double) (t1 - t0) / G_USEC_PER_SEC;

  printf ("{\"impl\": \"%s\", \"backend\": \"%s\", \"test\": \"%s\", \"depth\": %d, \"ops\": %d, \"bytes\": %" G_GUINT64_FORMAT
          ", \"seconds\": %.6f, \"mb_per_s\": %.1f, \"ops_per_s\": %.1f}\n",
          opt_impl, loop != NULL ? coop_loop_get_fs_backend (loop) : "gio", opt_test, opt_depth,
          large ? (int) ((bytes + CHUNK - 1) / CHUNK) : opt_files, bytes, seconds,
          (double) bytes / 1e6 / seconds,
          (large ? (double) ((bytes + CHUNK - 1) / CHUNK) : opt_files) / seconds);
  if (loop != NULL)
    coop_loop_shutdown (loop, -1, NULL);
  return 0;
}
