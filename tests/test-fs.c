/* test-fs.c: file I/O off the loop (coop_fs_*), on the backend that
 * COOP_FILE_BACKEND names (tests/meson.build runs this file once per
 * backend).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The backend this run is about; FALSE (and the test skipped) if the
 * environment asks for io_uring and this kernel refuses it. */
static gboolean
check_backend (CoopLoop *loop)
{
  const char *want = g_getenv ("COOP_FILE_BACKEND");
  const char *have = coop_loop_get_fs_backend (loop);

  if (g_strcmp0 (want, "threads") == 0)
    g_assert_cmpstr (have, ==, "threads");
  else if (g_strcmp0 (want, "uring") == 0 && g_strcmp0 (have, "io_uring") != 0)
    {
      g_test_skip ("io_uring is not available here");
      return FALSE;
    }
  return TRUE;
}

static gboolean
is_uring (CoopLoop *loop)
{
  return g_str_equal (coop_loop_get_fs_backend (loop), "io_uring");
}

/* Runs the loop until @future is done (bounded). */
static CoopFuture *
settle (CoopFuture *future)
{
  g_assert_nonnull (future);
  coop_test_wait_until (coop_future_is_done (future));
  return future;
}

static gint64
settle_int64 (CoopFuture *future)
{
  g_autoptr(CoopFuture) owned = settle (future);
  g_autoptr(GError) error = NULL;
  gint64 value = coop_future_get_int64 (owned, &error);

  g_assert_no_error (error);
  return value;
}

static void
settle_ok (CoopFuture *future)
{
  g_autoptr(CoopFuture) owned = settle (future);
  g_autoptr(GError) error = NULL;

  g_assert_true (coop_future_propagate (owned, &error));
  g_assert_no_error (error);
}

/* The future's bytes, with a reference of the caller's own. */
static GBytes *
dup_bytes (CoopFuture  *future,
           GError     **error)
{
  GBytes *bytes = coop_future_get_bytes (future, error);

  return bytes != NULL ? g_bytes_ref (bytes) : NULL;
}

static char *
make_temp_dir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("coop-fs-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
remove_temp_dir (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_assert_cmpint (g_unlink (path), ==, 0);
    }
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static guint
count_files (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  while (d != NULL && g_dir_read_name (d) != NULL)
    n++;
  return n;
}

/* --- open, read, write, close ------------------------------------------------------ */

static void
test_backend (CoopFixture *f, gconstpointer data)
{
  const char *want = g_getenv ("COOP_FILE_BACKEND");
  const char *have = coop_loop_get_fs_backend (f->loop);

  g_assert_true (g_str_equal (have, "io_uring") || g_str_equal (have, "threads"));
  /* The choice is made once per loop. */
  g_assert_true (coop_loop_get_fs_backend (f->loop) == have);
  if (g_strcmp0 (want, "threads") == 0)
    g_assert_cmpstr (have, ==, "threads");
  g_test_message ("file backend: %s", have);
}

static void
test_read (CoopFixture *f, gconstpointer data)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *path = g_build_filename (dir, "a", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopFuture) future = NULL;
  g_autoptr(GBytes) bytes = NULL;
  char buffer[16] = { 0 };
  int fd;

  if (!check_backend (f->loop))
    {
      remove_temp_dir (dir);
      return;
    }
  g_file_set_contents (path, "0123456789", 10, &error);
  g_assert_no_error (error);

  fd = (int) settle_int64 (coop_fs_open (f->loop, path, O_RDONLY, 0));
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (fcntl (fd, F_GETFD) & FD_CLOEXEC, ==, FD_CLOEXEC);

  /* At an offset, into the caller's buffer. */
  g_assert_cmpint (settle_int64 (coop_fs_read (f->loop, fd, buffer, 4, 3)), ==, 4);
  g_assert_cmpstr (buffer, ==, "3456");
  /* Near the end: short; at the end: 0. */
  g_assert_cmpint (settle_int64 (coop_fs_read (f->loop, fd, buffer, sizeof buffer, 8)), ==, 2);
  g_assert_cmpint (settle_int64 (coop_fs_read (f->loop, fd, buffer, sizeof buffer, 10)), ==, 0);
  /* At the file position, which moves. */
  g_assert_cmpint (settle_int64 (coop_fs_read (f->loop, fd, buffer, 2, -1)), ==, 2);
  g_assert_cmpint (settle_int64 (coop_fs_read (f->loop, fd, buffer + 2, 2, -1)), ==, 2);
  g_assert_cmpint (memcmp (buffer, "0123", 4), ==, 0);

  /* Into bytes of its own. */
  future = settle (coop_fs_read_bytes (f->loop, fd, 100, 5));
  bytes = dup_bytes (future, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), "56789", 5);
  g_clear_pointer (&bytes, g_bytes_unref);
  g_clear_object (&future);
  future = settle (coop_fs_read_bytes (f->loop, fd, 100, 10));
  bytes = dup_bytes (future, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (bytes), ==, 0);

  settle_ok (coop_fs_close (f->loop, fd));
  g_assert_cmpint (fcntl (fd, F_GETFD), ==, -1);
  remove_temp_dir (dir);
}

static void
test_write (CoopFixture *f, gconstpointer data)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *path = g_build_filename (dir, "w", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) tail = g_bytes_new_static ("world", 5);
  g_autoptr(CoopFuture) future = NULL;
  g_autofree char *contents = NULL;
  const CoopStat *st;
  gsize len;
  int fd;

  if (!check_backend (f->loop))
    {
      remove_temp_dir (dir);
      return;
    }
  fd = (int) settle_int64 (coop_fs_open (f->loop, path, O_RDWR | O_CREAT | O_EXCL, 0640));
  g_assert_cmpint (settle_int64 (coop_fs_write (f->loop, fd, "hello ", 6, 0)), ==, 6);
  g_assert_cmpint (settle_int64 (coop_fs_write_bytes (f->loop, fd, tail, 6)), ==, 5);
  /* At the position (0, as nothing moved it): overwrites the start. */
  g_assert_cmpint (settle_int64 (coop_fs_write (f->loop, fd, "J", 1, -1)), ==, 1);
  settle_ok (coop_fs_fsync (f->loop, fd, FALSE));
  settle_ok (coop_fs_fsync (f->loop, fd, TRUE));

  future = settle (coop_fs_stat (f->loop, fd));
  st = coop_future_get_boxed (future, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (st->size, ==, 11);
  g_assert_true (S_ISREG (st->mode));
  g_assert_cmpuint (st->mode & 0777, ==, 0640 & ~umask (umask (0)));
  g_assert_cmpuint (st->nlink, ==, 1);
  g_assert_cmpuint (st->uid, ==, getuid ());
  g_assert_cmpint (st->mtime_usec, >, 0);
  g_clear_object (&future);

  settle_ok (coop_fs_close (f->loop, fd));
  g_file_get_contents (path, &contents, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (contents, ==, "Jello world");

  {
    CoopStat copy;
    struct stat sb;

    future = settle (coop_fs_stat_path (f->loop, path));
    copy = *(const CoopStat *) coop_future_get_boxed (future, &error);
    g_assert_no_error (error);
    g_assert_cmpint (stat (path, &sb), ==, 0);
    g_assert_cmpuint (copy.size, ==, 11);
    g_assert_cmpuint (copy.ino, ==, sb.st_ino);
    g_assert_cmpuint (copy.dev, ==, sb.st_dev);
    g_assert_cmpint (copy.mtime_usec / G_USEC_PER_SEC, ==, sb.st_mtime);
  }
  remove_temp_dir (dir);
}

/* A write bigger than one read or write can carry in one go. */
static void
test_large (CoopFixture *f, gconstpointer data)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *path = g_build_filename (dir, "big", NULL);
  gsize size = 20 * 1024 * 1024 + 17;   /* more than two 8 MiB chunks */
  g_autofree guint8 *data_in = g_malloc (size);
  g_autoptr(GBytes) contents = NULL;
  g_autoptr(CoopFuture) future = NULL;
  g_autoptr(GBytes) loaded = NULL;
  g_autoptr(GError) error = NULL;

  if (!check_backend (f->loop))
    {
      remove_temp_dir (dir);
      return;
    }
  for (gsize i = 0; i < size; i++)
    data_in[i] = (guint8) (i * 7 + i / 4096);
  contents = g_bytes_new_static (data_in, size);
  settle_ok (coop_fs_save (f->loop, path, contents, TRUE));
  future = settle (coop_fs_load (f->loop, path));
  loaded = dup_bytes (future, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (loaded, contents));
  remove_temp_dir (dir);
}

/* --- whole files -------------------------------------------------------------------- */

static void
test_load_save (CoopFixture *f, gconstpointer data)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *path = g_build_filename (dir, "doc", NULL);
  g_autofree char *missing = g_build_filename (dir, "nope", "doc", NULL);
  g_autoptr(GBytes) one = g_bytes_new_static ("first version, long", 19);
  g_autoptr(GBytes) two = g_bytes_new_static ("second", 6);
  g_autoptr(GBytes) empty = g_bytes_new_static ("", 0);
  g_autoptr(CoopFuture) future = NULL;
  g_autoptr(GBytes) loaded = NULL;
  g_autoptr(GError) error = NULL;
  struct stat before, after;

  if (!check_backend (f->loop))
    {
      remove_temp_dir (dir);
      return;
    }
  /* Not atomic: written in place. */
  settle_ok (coop_fs_save (f->loop, path, one, FALSE));
  g_assert_cmpint (stat (path, &before), ==, 0);
  settle_ok (coop_fs_save (f->loop, path, two, FALSE));
  g_assert_cmpint (stat (path, &after), ==, 0);
  g_assert_cmpuint (before.st_ino, ==, after.st_ino);
  future = settle (coop_fs_load (f->loop, path));
  loaded = dup_bytes (future, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (loaded, two));
  g_clear_pointer (&loaded, g_bytes_unref);
  g_clear_object (&future);

  /* Atomic: a new file renamed over the old one, nothing left beside it. */
  settle_ok (coop_fs_save (f->loop, path, one, TRUE));
  g_assert_cmpint (stat (path, &after), ==, 0);
  g_assert_cmpuint (before.st_ino, !=, after.st_ino);
  g_assert_cmpuint (count_files (dir), ==, 1);
  future = settle (coop_fs_load (f->loop, path));
  loaded = dup_bytes (future, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (loaded, one));
  g_clear_pointer (&loaded, g_bytes_unref);
  g_clear_object (&future);

  /* Empty. */
  settle_ok (coop_fs_save (f->loop, path, empty, TRUE));
  future = settle (coop_fs_load (f->loop, path));
  loaded = dup_bytes (future, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (loaded), ==, 0);
  g_clear_pointer (&loaded, g_bytes_unref);
  g_clear_object (&future);

  /* A file that says size 0 but has contents. */
  future = settle (coop_fs_load (f->loop, "/proc/self/status"));
  loaded = dup_bytes (future, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (loaded), >, 0);
  g_clear_pointer (&loaded, g_bytes_unref);
  g_clear_object (&future);

  /* Failures name the file, and leave nothing behind. */
  future = settle (coop_fs_load (f->loop, missing));
  g_assert_false (coop_future_propagate (future, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "nope"));
  g_clear_error (&error);
  g_clear_object (&future);
  for (int atomic = 0; atomic < 2; atomic++)
    {
      future = settle (coop_fs_save (f->loop, missing, one, atomic));
      g_assert_false (coop_future_propagate (future, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
      g_assert_nonnull (strstr (error->message, "Could not save"));
      g_clear_error (&error);
      g_clear_object (&future);
    }
  g_assert_cmpuint (count_files (dir), ==, 1);
  remove_temp_dir (dir);
}

/* --- errors and misuse ---------------------------------------------------------------- */

static void
test_errors (CoopFixture *f, gconstpointer data)
{
  g_autofree char *dir = make_temp_dir ();
  g_autoptr(CoopFuture) future = NULL;
  g_autoptr(GError) error = NULL;
  char buffer[8];
  int fds[2];

  if (!check_backend (f->loop))
    {
      remove_temp_dir (dir);
      return;
    }

  /* A descriptor that is not open: EBADF, as a GError. */
  g_assert_cmpint (pipe (fds), ==, 0);
  close (fds[0]);
  close (fds[1]);
  future = settle (coop_fs_read (f->loop, fds[0], buffer, sizeof buffer, 0));
  g_assert_false (coop_future_propagate (future, &error));
  g_assert_true (error->domain == G_IO_ERROR);
  g_assert_nonnull (strstr (error->message, g_strerror (EBADF)));
  g_clear_error (&error);
  g_clear_object (&future);

  future = settle (coop_fs_close (f->loop, fds[0]));
  g_assert_false (coop_future_propagate (future, &error));
  g_assert_nonnull (strstr (error->message, "Could not close"));
  g_clear_error (&error);
  g_clear_object (&future);

  future = settle (coop_fs_open (f->loop, "/nonexistent/coop", O_RDONLY, 0));
  g_assert_false (coop_future_propagate (future, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_clear_object (&future);

  future = settle (coop_fs_stat_path (f->loop, "/nonexistent/coop"));
  g_assert_false (coop_future_propagate (future, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_clear_object (&future);

  /* Reading a directory. */
  {
    int fd = (int) settle_int64 (coop_fs_open (f->loop, dir, O_RDONLY | O_DIRECTORY, 0));

    future = settle (coop_fs_read (f->loop, fd, buffer, sizeof buffer, 0));
    g_assert_false (coop_future_propagate (future, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY);
    g_clear_error (&error);
    g_clear_object (&future);
    settle_ok (coop_fs_close (f->loop, fd));
  }
  remove_temp_dir (dir);
}

static void
test_misuse (CoopFixture *f, gconstpointer data)
{
  char buffer[4];

  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*fd >= 0*");
  g_assert_null (coop_fs_read (f->loop, -1, buffer, 4, 0));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*buffer != NULL*");
  g_assert_null (coop_fs_read (f->loop, 0, NULL, 4, 0));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*buffer != NULL*");
  g_assert_null (coop_fs_write (f->loop, 1, NULL, 4, 0));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*count <= G_MAXSSIZE*");
  g_assert_null (coop_fs_read (f->loop, 0, buffer, (gsize) -1, 0));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*count <= G_MAXSSIZE*");
  g_assert_null (coop_fs_read_bytes (f->loop, 0, (gsize) -4, 0));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*offset >= -1*");
  g_assert_null (coop_fs_write (f->loop, 1, buffer, 4, -2));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*path != NULL*");
  g_assert_null (coop_fs_open (f->loop, NULL, O_RDONLY, 0));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*bytes != NULL*");
  g_assert_null (coop_fs_write_bytes (f->loop, 1, NULL, 0));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*contents != NULL*");
  g_assert_null (coop_fs_save (f->loop, "/tmp/x", NULL, TRUE));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*fd >= 0*");
  g_assert_null (coop_fs_fsync (f->loop, -3, FALSE));
  g_test_assert_expected_messages ();

  /* A zero-length read needs no buffer. */
  {
    int fds[2];

    g_assert_cmpint (pipe (fds), ==, 0);
    close (fds[1]);
    g_assert_cmpint (settle_int64 (coop_fs_read (f->loop, fds[0], NULL, 0, -1)), ==, 0);
    close (fds[0]);
  }
}

/* --- cancellation and buffer lifetime ---------------------------------------------- */

/* Whether a thread of this process is blocked in read(2) on @fd, as
 * /proc/self/task/N/syscall tells ("NR arg0 ..."). */
static gboolean
thread_in_read (int fd)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_strdup_printf ("/proc/self/task/%s/syscall", name);
      g_autofree char *text = NULL;
      char **fields;
      gboolean found;

      if (!g_file_get_contents (path, &text, NULL, NULL))
        continue;
      fields = g_strsplit (text, " ", 3);
      found = g_strv_length (fields) >= 2 &&
              g_ascii_strtoll (fields[0], NULL, 10) == SYS_read &&
              g_ascii_strtoll (fields[1], NULL, 16) == fd;
      g_strfreev (fields);
      if (found)
        return TRUE;
    }
  return FALSE;
}

/* Waits (bounded) until a worker is blocked reading @fd. */
static void
wait_thread_in_read (int fd)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (!thread_in_read (fd))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_thread_yield ();
    }
}

/* A read that cannot finish until the test writes: on a pipe. */
static void
test_cancel (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFuture) future = NULL;
  g_autoptr(GError) error = NULL;
  char buffer[4] = { 0 };
  int fds[2];

  if (!check_backend (f->loop))
    return;
  g_assert_cmpint (pipe (fds), ==, 0);
  future = coop_fs_read (f->loop, fds[0], buffer, sizeof buffer, -1);
  coop_test_drain ();
  if (!is_uring (f->loop))
    wait_thread_in_read (fds[0]);
  g_assert_false (coop_future_is_done (future));

  /* Cancelling does not end it at once: the buffer is still in use. */
  g_assert_true (coop_future_cancel (future, NULL));
  g_assert_false (coop_future_is_done (future));
  g_assert_true (coop_future_cancel (future, NULL));   /* again: still cancelling */

  if (is_uring (f->loop))
    {
      /* The kernel stops it (ASYNC_CANCEL); nothing was read. */
      settle (future);
      g_assert_cmpint (buffer[0], ==, 0);
    }
  else
    {
      /* A worker is blocked in read(): the future waits for it. */
      coop_test_drain ();
      g_assert_false (coop_future_is_done (future));
      g_assert_cmpint (write (fds[1], "x", 1), ==, 1);
      settle (future);
      /* It did read, into the buffer, before the future ended. */
      g_assert_cmpint (buffer[0], ==, 'x');
    }
  g_assert_cmpint (coop_future_get_state (future), ==, COOP_FUTURE_STATE_CANCELLED);
  g_assert_false (coop_future_propagate (future, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  close (fds[0]);
  close (fds[1]);
}

typedef struct
{
  int      fd;
  char     buffer[4];
  gboolean cancelled;
} ReaderData;

static void
reader_task (CoopTask *task, gpointer user_data)
{
  ReaderData *rd = user_data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(CoopFuture) read = coop_fs_read (loop, rd->fd, rd->buffer, sizeof rd->buffer, -1);
  g_autoptr(GError) error = NULL;

  if (!coop_await (read, &error))
    {
      rd->cancelled = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      /* The read has ended: its buffer is free. */
      g_assert_true (coop_future_is_done (read));
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
    }
}

/* Cancelling a task cancels the operation it awaits; the task resumes once
 * the operation has ended. */
static void
test_cancel_task (CoopFixture *f, gconstpointer data)
{
  ReaderData rd = { 0 };
  g_autoptr(CoopTask) task = NULL;
  int fds[2];

  if (!check_backend (f->loop))
    return;
  g_assert_cmpint (pipe (fds), ==, 0);
  rd.fd = fds[0];
  task = coop_task_new (f->loop, reader_task, &rd, NULL);
  coop_test_drain ();
  if (!is_uring (f->loop))
    wait_thread_in_read (fds[0]);
  g_assert_false (coop_future_is_done (COOP_FUTURE (task)));
  coop_task_cancel (task, NULL);
  if (!is_uring (f->loop))
    {
      coop_test_drain ();
      g_assert_false (coop_future_is_done (COOP_FUTURE (task)));
      g_assert_cmpint (write (fds[1], "y", 1), ==, 1);
    }
  settle (COOP_FUTURE (task));
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (task)));
  g_assert_true (rd.cancelled);
  close (fds[0]);
  close (fds[1]);
}

/* Threads: an operation cancelled before a worker took it never runs. */
typedef struct
{
  GMutex   lock;
  GCond    cond;
  gboolean open;
} Gate;

static gboolean
gate_func (gpointer user_data, GCancellable *cancellable, GValue *result, GError **error)
{
  Gate *gate = user_data;

  g_mutex_lock (&gate->lock);
  while (!gate->open)
    g_cond_wait (&gate->cond, &gate->lock);
  g_mutex_unlock (&gate->lock);
  return TRUE;
}

static void
test_cancel_before_start (CoopFixture *f, gconstpointer data)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *path = g_build_filename (dir, "never", NULL);
  g_autoptr(CoopFuture) blocker = NULL;
  g_autoptr(CoopFuture) open = NULL;
  Gate gate = { 0 };

  if (!check_backend (f->loop) || is_uring (f->loop))
    {
      if (is_uring (f->loop))
        g_test_skip ("a thread-pool case");
      remove_temp_dir (dir);
      return;
    }
  g_mutex_init (&gate.lock);
  g_cond_init (&gate.cond);
  coop_loop_set_max_threads (f->loop, 1);
  blocker = coop_loop_run_in_thread (f->loop, gate_func, &gate, NULL);
  open = coop_fs_open (f->loop, path, O_WRONLY | O_CREAT, 0644);
  g_assert_true (coop_future_cancel (open, NULL));
  g_assert_false (coop_future_is_done (open));

  g_mutex_lock (&gate.lock);
  gate.open = TRUE;
  g_cond_broadcast (&gate.cond);
  g_mutex_unlock (&gate.lock);
  settle (open);
  settle (blocker);
  g_assert_true (coop_future_is_cancelled (open));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_mutex_clear (&gate.lock);
  g_cond_clear (&gate.cond);
  remove_temp_dir (dir);
}

/* --- the loop closes, the process forks ------------------------------------------------ */

/* Closing a loop with operations in flight: it waits for them to stop,
 * then the buffers may go; the futures stay pending. */
static void
test_close_in_flight (void)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *path = g_build_filename (dir, "f", NULL);
  GMainContext *context = g_main_context_new ();
  CoopLoop *loop;
  CoopFuture *futures[64];
  guint8 *buffers[64];
  g_autoptr(GError) error = NULL;
  CoopFuture *pipe_read = NULL;
  char pipe_buffer[4];
  int fds[2] = { -1, -1 };
  int fd;

  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);
  g_file_set_contents (path, "some contents to read", -1, &error);
  g_assert_no_error (error);
  fd = open (path, O_RDONLY);

  for (guint i = 0; i < G_N_ELEMENTS (futures); i++)
    {
      buffers[i] = g_malloc (64);
      futures[i] = coop_fs_read (loop, fd, buffers[i], 64, 0);
    }
  if (is_uring (loop))
    {
      /* One that would never end by itself. */
      g_assert_cmpint (pipe (fds), ==, 0);
      pipe_read = coop_fs_read (loop, fds[0], pipe_buffer, sizeof pipe_buffer, -1);
      coop_test_drain ();
    }
  coop_loop_close (loop);

  /* Nothing uses the buffers any more. */
  for (guint i = 0; i < G_N_ELEMENTS (futures); i++)
    {
      g_free (buffers[i]);
      g_object_unref (futures[i]);
    }
  if (pipe_read != NULL)
    {
      g_assert_false (coop_future_is_done (pipe_read));
      g_object_unref (pipe_read);
      close (fds[0]);
      close (fds[1]);
    }

  /* Calls on a closed loop fail at once. */
  {
    g_autoptr(CoopFuture) late = coop_fs_stat (loop, fd);

    g_assert_false (coop_future_propagate (late, &error));
    g_assert_error (error, COOP_ERROR, COOP_ERROR_LOOP_CLOSED);
    g_clear_error (&error);
  }
  close (fd);
  g_object_unref (loop);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  remove_temp_dir (dir);
}

/* A load in flight when the loop shuts down: the task is cancelled, its
 * read ends, nothing leaks. */
static void
test_shutdown_in_flight (void)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *path = g_build_filename (dir, "f", NULL);
  GMainContext *context = g_main_context_new ();
  g_autoptr(GError) error = NULL;
  CoopFuture *load, *save;
  g_autoptr(GBytes) bytes = g_bytes_new_static ("abc", 3);
  CoopLoop *loop;

  g_main_context_push_thread_default (context);
  loop = coop_loop_new (context);
  g_file_set_contents (path, "contents", -1, &error);
  g_assert_no_error (error);
  load = coop_fs_load (loop, path);
  save = coop_fs_save (loop, path, bytes, TRUE);
  coop_loop_shutdown (loop, 5 * G_USEC_PER_SEC, &error);
  g_assert_no_error (error);
  g_object_unref (load);
  g_object_unref (save);
  g_object_unref (loop);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  remove_temp_dir (dir);
}

/* A forked child never touches the parent's ring: the parent's read still
 * gets its data, and the child does file I/O of its own. */
static void
test_fork (CoopFixture *f, gconstpointer data)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *path = g_build_filename (dir, "f", NULL);
  g_autoptr(CoopFuture) future = NULL;
  g_autoptr(GError) error = NULL;
  char buffer[4] = { 0 };
  int fds[2], status;
  pid_t pid;

  if (!check_backend (f->loop) || !is_uring (f->loop))
    {
      if (!is_uring (f->loop))
        g_test_skip ("an io_uring case (a forked child has no pool threads)");
      remove_temp_dir (dir);
      return;
    }
  g_file_set_contents (path, "child", -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (pipe (fds), ==, 0);
  future = coop_fs_read (f->loop, fds[0], buffer, sizeof buffer, -1);
  coop_test_drain ();

  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      g_autoptr(CoopFuture) load = NULL;
      g_autoptr(GBytes) bytes = NULL;

      /* The child's copy of the read fails once the child does file I/O. */
      load = coop_fs_load (f->loop, path);
      coop_test_wait_until (coop_future_is_done (load));
      bytes = dup_bytes (load, NULL);
      if (bytes == NULL || g_bytes_get_size (bytes) != 5)
        _exit (2);
      if (coop_future_get_state (future) != COOP_FUTURE_STATE_FAILED ||
          strstr (coop_future_get_error (future)->message, "parent process") == NULL)
        _exit (3);
      /* _exit() runs no cleanup: what valgrind would count as lost. */
      g_clear_pointer (&bytes, g_bytes_unref);
      g_clear_object (&load);
      g_clear_object (&future);
      g_clear_pointer (&path, g_free);
      g_clear_pointer (&dir, g_free);
      _exit (0);
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);

  g_assert_false (coop_future_is_done (future));
  g_assert_cmpint (write (fds[1], "ok", 2), ==, 2);
  g_assert_cmpint (settle_int64 (g_object_ref (future)), ==, 2);
  g_assert_cmpmem (buffer, 2, "ok", 2);
  close (fds[0]);
  close (fds[1]);
  remove_temp_dir (dir);
}

/* Many at once: completions come back in whatever order, all of them. */
static void
test_many (CoopFixture *f, gconstpointer data)
{
  g_autofree char *dir = make_temp_dir ();
  GPtrArray *futures = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  const guint n = 600;   /* more than a ring's 256 entries */

  if (!check_backend (f->loop))
    {
      g_ptr_array_unref (futures);
      remove_temp_dir (dir);
      return;
    }
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/%u", dir, i);
      g_autofree char *text = g_strdup_printf ("file %u", i);
      g_autoptr(GBytes) bytes = g_bytes_new (text, strlen (text));

      g_ptr_array_add (futures, coop_fs_save (f->loop, path, bytes, FALSE));
    }
  for (guint i = 0; i < n; i++)
    settle_ok (g_object_ref (futures->pdata[i]));
  g_ptr_array_set_size (futures, 0);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/%u", dir, i);

      g_ptr_array_add (futures, coop_fs_load (f->loop, path));
    }
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *text = g_strdup_printf ("file %u", i);
      g_autoptr(GBytes) bytes = NULL;

      settle (futures->pdata[i]);
      bytes = dup_bytes (futures->pdata[i], &error);
      g_assert_no_error (error);
      g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), text, strlen (text));
    }
  g_ptr_array_unref (futures);
  remove_temp_dir (dir);
}

/* A kernel (or a container's seccomp profile) that refuses io_uring: the
 * loop falls back to threads, and file I/O works. */
static void
test_refused (void)
{
  if (g_test_subprocess ())
    {
      struct sock_filter filter[] = {
        BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr)),
        BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      };
      struct sock_fprog prog = { G_N_ELEMENTS (filter), filter };
      GMainContext *context = g_main_context_new ();
      g_autofree char *dir = make_temp_dir ();
      g_autofree char *path = g_build_filename (dir, "f", NULL);
      g_autoptr(GBytes) bytes = g_bytes_new_static ("refused", 7);
      g_autoptr(GError) error = NULL;
      CoopLoop *loop;

      g_assert_cmpint (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), ==, 0);
      g_assert_cmpint (prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), ==, 0);
      g_main_context_push_thread_default (context);
      loop = coop_loop_new (context);
      g_assert_cmpstr (coop_loop_get_fs_backend (loop), ==, "threads");
      settle_ok (coop_fs_save (loop, path, bytes, TRUE));
      {
        g_autoptr(CoopFuture) load = settle (coop_fs_load (loop, path));
        g_autoptr(GBytes) loaded = dup_bytes (load, &error);

        g_assert_no_error (error);
        g_assert_true (g_bytes_equal (loaded, bytes));
      }
      coop_loop_close (loop);
      g_object_unref (loop);
      g_main_context_pop_thread_default (context);
      g_main_context_unref (context);
      remove_temp_dir (dir);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* A pipe's reader gone must not kill the test. */
  signal (SIGPIPE, SIG_IGN);

  coop_test_add ("/coop/fs/backend", test_backend);
  coop_test_add ("/coop/fs/read", test_read);
  coop_test_add ("/coop/fs/write", test_write);
  coop_test_add ("/coop/fs/large", test_large);
  coop_test_add ("/coop/fs/load-save", test_load_save);
  coop_test_add ("/coop/fs/many", test_many);
  coop_test_add ("/coop/fs/errors", test_errors);
  coop_test_add ("/coop/fs/misuse", test_misuse);
  coop_test_add ("/coop/fs/cancel", test_cancel);
  coop_test_add ("/coop/fs/cancel-task", test_cancel_task);
  coop_test_add ("/coop/fs/cancel-before-start", test_cancel_before_start);
  coop_test_add ("/coop/fs/fork", test_fork);
  g_test_add_func ("/coop/fs/close-in-flight", test_close_in_flight);
  g_test_add_func ("/coop/fs/shutdown-in-flight", test_shutdown_in_flight);
  g_test_add_func ("/coop/fs/io-uring-refused", test_refused);
  return g_test_run ();
}
