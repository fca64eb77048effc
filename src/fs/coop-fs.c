/* coop-fs.c: file I/O that never blocks the loop (io_uring, or a thread pool).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "coop-fs-private.h"

/*
 * How it fits together
 *
 * Every call makes one operation, a private CoopFuture subclass that holds
 * its arguments and is what the caller awaits.  A loop has one backend,
 * chosen the first time it does file I/O (docs/files.md, "Backends"):
 *
 * - io_uring (coop-fs-uring.c): the operation becomes one submission queue
 *   entry; the completion is read on the loop when the ring's fd is
 *   readable.
 * - threads: the operation runs as one coop_loop_run_in_thread() job, whose
 *   future (op->job) completes the operation through an internal waiter.
 *
 * Buffer lifetime.  An operation's future is done only once nothing uses
 * the caller's buffer any more: cancelling asks the kernel (or the worker)
 * to stop, and the future ends CANCELLED when the operation has really
 * ended, never before.  Closing the loop cancels whatever is in flight and
 * waits until it has stopped (file operations are short: the wait is
 * bounded by the disk), so once coop_loop_close() has returned no worker
 * or kernel thread writes into a buffer any more, although the futures
 * stay pending as every future of a closed loop.
 *
 * Threads hold the operation (a reference) for the job; the worker marks
 * the operation "released" under the state's mutex as soon as the system
 * call returned (or the job is dropped without running), which is what
 * closing waits for.
 */

#define READ_CHUNK ((gsize) 8 * 1024 * 1024)   /* whole-file reads and writes */

struct _CoopState
{
  CoopLoop   *loop;          /* not a reference: the state is the loop's qdata */
  gboolean    chosen;        /* the backend was chosen */
  CoopFsRing *ring;          /* the io_uring backend, or NULL: threads */
  GMutex      mutex;
  GCond       cond;
  guint       n_running;     /* thread jobs not yet released */
  GQueue      thread_ops;    /* CoopFsOp, via thread_link, under mutex */
  gboolean    closed;
};

/* --- the operation (a future) ---------------------------------------------------- */

G_DEFINE_FINAL_TYPE (CoopFsOp, coop_fs_op, COOP_TYPE_FUTURE)

static gboolean coop_fs_op_cancel (CoopFuture *future, const char *message);

static void
coop_fs_op_finalize (GObject *object)
{
  CoopFsOp *op = COOP_FS_OP (object);

  if (op->job != NULL)
    {
      if (!coop_future_is_done (op->job))
        coop_future_remove_waiter (op->job, &op->job_waiter);
      g_clear_object (&op->job);
    }
  g_free (op->path);
  g_free (op->path2);
  g_free (op->own_buffer);
  g_clear_pointer (&op->bytes, g_bytes_unref);
  g_clear_pointer (&op->result_bytes, g_bytes_unref);

  G_OBJECT_CLASS (coop_fs_op_parent_class)->finalize (object);
}

static void
coop_fs_op_init (CoopFsOp *op)
{
  op->fd = -1;
}

static void
coop_fs_op_class_init (CoopFsOpClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = coop_fs_op_finalize;
  COOP_FUTURE_CLASS (klass)->cancel = coop_fs_op_cancel;
}

static const char *
kind_name (CoopFsKind kind)
{
  switch (kind)
    {
    case COOP_FS_OPEN: return "open";
    case COOP_FS_CLOSE: return "close";
    case COOP_FS_READ: return "read";
    case COOP_FS_READ_BYTES: return "read_bytes";
    case COOP_FS_WRITE: return "write";
    case COOP_FS_WRITE_BYTES: return "write_bytes";
    case COOP_FS_FSYNC: return "fsync";
    case COOP_FS_STAT: return "stat";
    case COOP_FS_STAT_PATH: return "stat_path";
    case COOP_FS_RENAME: return "rename";
    case COOP_FS_UNLINK: return "unlink";
    case COOP_FS_LOAD: return "load";
    case COOP_FS_SAVE: return "save";
    default: return "?";
    }
}

static void
op_describe (CoopFuture *future,
             gpointer    data,
             GString    *out)
{
  CoopFsOp *op = COOP_FS_OP (future);

  g_string_append_printf (out, "file %s (%s)", kind_name (op->kind),
                          op->state->ring != NULL ? "io_uring" : "threads");
  if (op->path != NULL)
    g_string_append_printf (out, " of %s", op->path);
  else
    g_string_append_printf (out, " on fd %d", op->fd);
}

/* The error for a failed system call, in the words of the call. */
static GError *
op_error (CoopFsOp *op,
          int       err)
{
  g_autofree char *display = op->path != NULL ? g_filename_display_name (op->path) : NULL;
  g_autofree char *display2 = op->path2 != NULL ? g_filename_display_name (op->path2) : NULL;
  GIOErrorEnum code = g_io_error_from_errno (err);
  const char *why = g_strerror (err);

  switch (op->kind)
    {
    case COOP_FS_OPEN:
      return g_error_new (G_IO_ERROR, code, "Could not open “%s”: %s", display, why);
    case COOP_FS_CLOSE:
      return g_error_new (G_IO_ERROR, code, "Could not close fd %d: %s", op->fd, why);
    case COOP_FS_READ:
    case COOP_FS_READ_BYTES:
      return g_error_new (G_IO_ERROR, code, "Could not read from fd %d: %s", op->fd, why);
    case COOP_FS_WRITE:
    case COOP_FS_WRITE_BYTES:
      return g_error_new (G_IO_ERROR, code, "Could not write to fd %d: %s", op->fd, why);
    case COOP_FS_FSYNC:
      return g_error_new (G_IO_ERROR, code, "Could not sync fd %d: %s", op->fd, why);
    case COOP_FS_STAT:
      return g_error_new (G_IO_ERROR, code, "Could not stat fd %d: %s", op->fd, why);
    case COOP_FS_STAT_PATH:
      return g_error_new (G_IO_ERROR, code, "Could not stat “%s”: %s", display, why);
    case COOP_FS_RENAME:
      return g_error_new (G_IO_ERROR, code, "Could not rename “%s” to “%s”: %s", display, display2, why);
    case COOP_FS_UNLINK:
      return g_error_new (G_IO_ERROR, code, "Could not remove “%s”: %s", display, why);
    case COOP_FS_LOAD:
      return g_error_new (G_IO_ERROR, code, "Could not load “%s”: %s", display, why);
    case COOP_FS_SAVE:
      return g_error_new (G_IO_ERROR, code, "Could not save “%s”: %s", display, why);
    default:
      g_assert_not_reached ();
    }
}

/* Whether a write that wrote @res bytes has more to write (the io_uring
 * backend resubmits it; a worker loops by itself). */
gboolean
coop_fs_op_wants_more (CoopFsOp *op,
                       gint64    res)
{
  if (op->kind != COOP_FS_WRITE && op->kind != COOP_FS_WRITE_BYTES)
    return FALSE;
  if (res <= 0 || g_atomic_int_get (&op->cancel_requested))
    return FALSE;
  op->done += (gsize) res;
  return op->done < op->count;
}

void
coop_fs_statx_to_stat (const struct statx *stx,
                       CoopStat         *st)
{
  memset (st, 0, sizeof *st);
  st->size = stx->stx_size;
  st->mode = stx->stx_mode;
  st->nlink = stx->stx_nlink;
  st->uid = stx->stx_uid;
  st->gid = stx->stx_gid;
  st->ino = stx->stx_ino;
  st->dev = makedev (stx->stx_dev_major, stx->stx_dev_minor);
  st->rdev = makedev (stx->stx_rdev_major, stx->stx_rdev_minor);
  st->blocks = stx->stx_blocks;
  st->blksize = stx->stx_blksize;
  st->atime_usec = stx->stx_atime.tv_sec * G_USEC_PER_SEC + stx->stx_atime.tv_nsec / 1000;
  st->mtime_usec = stx->stx_mtime.tv_sec * G_USEC_PER_SEC + stx->stx_mtime.tv_nsec / 1000;
  st->ctime_usec = stx->stx_ctime.tv_sec * G_USEC_PER_SEC + stx->stx_ctime.tv_nsec / 1000;
}

/* On the loop's thread: the operation has ended with @res (a count, an fd,
 * 0, or -errno).  Nothing uses the caller's buffer any more. */
void
coop_fs_op_finish (CoopFsOp *op,
                   gint64    res)
{
  CoopFuture *future = COOP_FUTURE (op);

  op->res = res;
  if (coop_future_is_done (future))
    return;

  if (g_atomic_int_get (&op->cancel_requested))
    {
      /* It may have succeeded all the same: what it made is undone where
       * that is possible (an opened fd), and the future says cancelled. */
      if (op->kind == COOP_FS_OPEN && res >= 0)
        close ((int) res);
      coop_future_set_cancelled (future, NULL);
      return;
    }
  if (res < 0)
    {
      coop_future_take_error (future, op_error (op, (int) -res));
      return;
    }

  switch (op->kind)
    {
    case COOP_FS_OPEN:
    case COOP_FS_READ:
      coop_future_set_int64 (future, res);
      break;
    case COOP_FS_READ_BYTES:
      {
        g_autoptr(GBytes) bytes = NULL;

        if (res == 0)
          bytes = g_bytes_new (NULL, 0);
        else
          bytes = g_bytes_new_take (g_realloc (g_steal_pointer (&op->own_buffer), (gsize) res), (gsize) res);
        op->buffer = NULL;
        coop_future_set_boxed (future, G_TYPE_BYTES, bytes);
      }
      break;
    case COOP_FS_WRITE:
    case COOP_FS_WRITE_BYTES:
      coop_future_set_int64 (future, (gint64) op->count);
      break;
    case COOP_FS_STAT:
    case COOP_FS_STAT_PATH:
      {
        CoopStat st;

        coop_fs_statx_to_stat (&op->stx, &st);
        coop_future_set_boxed (future, COOP_TYPE_STAT, &st);
      }
      break;
    case COOP_FS_LOAD:
      coop_future_set_boxed (future, G_TYPE_BYTES, op->result_bytes);
      break;
    case COOP_FS_CLOSE:
    case COOP_FS_FSYNC:
    case COOP_FS_RENAME:
    case COOP_FS_UNLINK:
    case COOP_FS_SAVE:
      coop_future_set_none (future);
      break;
    default:
      g_assert_not_reached ();
    }
}

void
coop_fs_op_fail (CoopFsOp *op,
                 GError   *error)
{
  if (coop_future_is_done (COOP_FUTURE (op)))
    g_error_free (error);
  else
    coop_future_take_error (COOP_FUTURE (op), error);
}

void
coop_fs_op_abandon (CoopFsOp *op,
                    gint64    res)
{
  op->res = res;
  if (op->kind == COOP_FS_OPEN && res >= 0)
    close ((int) res);
}

/* --- the thread backend ------------------------------------------------------------ */

/* The blocking half of every operation, on a worker thread. */

static gint64
errno_res (gint64 r)
{
  return r < 0 ? -(gint64) errno : r;
}

static gint64
write_all (CoopFsOp      *op,
           int            fd,
           const guint8  *data,
           gsize          count,
           gint64         offset)
{
  gsize done = 0;

  while (done < count)
    {
      ssize_t n;

      if (g_atomic_int_get (&op->cancel_requested))
        return -ECANCELED;
      if (offset < 0)
        n = write (fd, data + done, count - done);
      else
        n = pwrite (fd, data + done, count - done, offset + (gint64) done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -(gint64) errno;
      if (n == 0)
        return -EIO;
      done += (gsize) n;
    }
  return (gint64) done;
}

static gint64
load_blocking (CoopFsOp *op)
{
  struct stat st;
  gsize cap, len = 0;
  guint8 *data;
  int fd;

  fd = open (op->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -(gint64) errno;
  if (fstat (fd, &st) < 0)
    {
      int err = errno;

      close (fd);
      return -err;
    }
  /* Files that say 0 (in /proc, say) are read until the end anyway. */
  cap = st.st_size > 0 ? (gsize) st.st_size + 1 : 4096;
  data = g_malloc (cap);
  for (;;)
    {
      ssize_t n;

      if (g_atomic_int_get (&op->cancel_requested))
        {
          g_free (data);
          close (fd);
          return -ECANCELED;
        }
      if (len == cap)
        {
          cap *= 2;
          data = g_realloc (data, cap);
        }
      n = read (fd, data + len, MIN (cap - len, READ_CHUNK));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int err = errno;

          g_free (data);
          close (fd);
          return -err;
        }
      if (n == 0)
        break;
      len += (gsize) n;
    }
  close (fd);
  op->result_bytes = g_bytes_new_take (g_realloc (data, MAX (len, 1)), len);
  return (gint64) len;
}

/* The temporary name of an atomic save: beside the target, so that the
 * rename stays on one file system. */
static char *
temp_name (const char *path)
{
  return g_strdup_printf ("%s.%08x~", path, g_random_int ());
}

static gint64
save_blocking (CoopFsOp *op)
{
  g_autofree char *tmp = NULL;
  gconstpointer data;
  gsize size;
  gint64 r;
  int fd;

  data = g_bytes_get_data (op->bytes, &size);
  if (op->atomic)
    {
      do
        {
          g_free (tmp);
          tmp = temp_name (op->path);
          fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        }
      while (fd < 0 && errno == EEXIST);
    }
  else
    fd = open (op->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    return -(gint64) errno;

  r = write_all (op, fd, data, size, 0);
  if (r >= 0 && op->atomic && fsync (fd) < 0)
    r = -(gint64) errno;
  if (close (fd) < 0 && r >= 0)
    r = -(gint64) errno;
  if (r >= 0 && op->atomic && rename (tmp, op->path) < 0)
    r = -(gint64) errno;
  if (r < 0 && tmp != NULL)
    unlink (tmp);
  return r < 0 ? r : 0;
}

static gint64
run_blocking (CoopFsOp *op)
{
  switch (op->kind)
    {
    case COOP_FS_OPEN:
      return errno_res (open (op->path, op->flags | O_CLOEXEC, op->mode));
    case COOP_FS_CLOSE:
      /* Linux frees the descriptor even when close() fails (EINTR too):
       * never retried. */
      return errno_res (close (op->fd));
    case COOP_FS_READ:
    case COOP_FS_READ_BYTES:
      {
        ssize_t n;

        do
          n = op->offset < 0 ? read (op->fd, op->buffer, op->count)
                             : pread (op->fd, op->buffer, op->count, op->offset);
        while (n < 0 && errno == EINTR);
        return errno_res (n);
      }
    case COOP_FS_WRITE:
    case COOP_FS_WRITE_BYTES:
      return write_all (op, op->fd, op->buffer, op->count, op->offset);
    case COOP_FS_FSYNC:
      return errno_res (op->datasync ? fdatasync (op->fd) : fsync (op->fd));
    case COOP_FS_STAT:
      return errno_res (statx (op->fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &op->stx));
    case COOP_FS_STAT_PATH:
      return errno_res (statx (AT_FDCWD, op->path, 0, STATX_BASIC_STATS, &op->stx));
    case COOP_FS_RENAME:
      return errno_res (rename (op->path, op->path2));
    case COOP_FS_UNLINK:
      return errno_res (unlink (op->path));
    case COOP_FS_LOAD:
      return load_blocking (op);
    case COOP_FS_SAVE:
      return save_blocking (op);
    default:
      g_assert_not_reached ();
    }
}

/* Once per job: no worker touches the caller's buffer any more. */
static void
op_release (CoopFsOp *op)
{
  CoopState *state = op->state;

  coop_mutex_lock (&state->mutex);
  if (!op->released)
    {
      op->released = TRUE;
      state->n_running--;
      if (op->thread_link.data != NULL)
        {
          g_queue_unlink (&state->thread_ops, &op->thread_link);
          op->thread_link.data = NULL;
        }
      g_cond_broadcast (&state->cond);
    }
  coop_mutex_unlock (&state->mutex);
}

static gboolean
op_thread_func (gpointer       user_data,
                GCancellable  *cancellable,
                GValue        *result,
                GError       **error)
{
  CoopFsOp *op = user_data;

  if (g_atomic_int_get (&op->cancel_requested))
    op->res = -ECANCELED;
  else
    op->res = run_blocking (op);
  op_release (op);
  return TRUE;
}

/* The job's notify: after the function ran, or instead of it (a closed
 * loop).  May run on the worker. */
static void
op_thread_done (gpointer data)
{
  CoopFsOp *op = data;

  op_release (op);
  g_object_unref (op);
}

/* The job's future completed (on the loop's thread). */
static void
op_job_completed (CoopWaiter *waiter,
                  CoopFuture *future)
{
  CoopFsOp *op = waiter->data;

  coop_fs_op_finish (op, op->res);
}

static void
thread_submit (CoopFsOp *op)
{
  CoopState *state = op->state;

  coop_mutex_lock (&state->mutex);
  state->n_running++;
  op->thread_link.data = op;
  g_queue_push_tail_link (&state->thread_ops, &op->thread_link);
  coop_mutex_unlock (&state->mutex);

  op->job = coop_loop_run_in_thread (state->loop, op_thread_func, g_object_ref (op), op_thread_done);
  op->job_waiter.func = op_job_completed;
  op->job_waiter.data = op;
  coop_future_add_waiter (op->job, &op->job_waiter);
}

/* --- the loop's state and the choice of backend ----------------------------------------- */

static GQuark
state_quark (void)
{
  static GQuark quark;

  if (G_UNLIKELY (quark == 0))
    quark = g_quark_from_static_string ("coop-fs-state");
  return quark;
}

static void
state_free (gpointer data)
{
  CoopState *state = data;

  /* Every operation holds the loop: none is left by now. */
  if (state->ring != NULL)
    coop_fs_ring_free (state->ring);
  g_mutex_clear (&state->mutex);
  g_cond_clear (&state->cond);
  g_free (state);
}

static void
state_choose_backend (CoopState *state)
{
  const char *want = g_getenv ("COOP_FILE_BACKEND");
  g_autoptr(GError) error = NULL;

  state->chosen = TRUE;
  if (g_strcmp0 (want, "threads") == 0)
    return;
  state->ring = coop_fs_ring_new (state->loop, &error);
  if (state->ring == NULL && want != NULL && (g_str_equal (want, "uring") || g_str_equal (want, "io_uring")))
    g_message ("COOP_FILE_BACKEND=%s: io_uring is not available (%s); using threads", want, error->message);
}

static CoopState *
state_get (CoopLoop *loop)
{
  CoopState *state = g_object_get_qdata (G_OBJECT (loop), state_quark ());

  if (G_UNLIKELY (state == NULL))
    {
      state = g_new0 (CoopState, 1);
      state->loop = loop;
      g_mutex_init (&state->mutex);
      g_cond_init (&state->cond);
      g_object_set_qdata_full (G_OBJECT (loop), state_quark (), state, state_free);
    }
  if (G_UNLIKELY (!state->chosen))
    state_choose_backend (state);
  else if (state->ring != NULL && G_UNLIKELY (!coop_fs_ring_usable (state->ring)))
    {
      /* The child of a fork(): the ring is the parent's.  Its operations
       * failed; this process takes a ring of its own. */
      coop_fs_ring_free (state->ring);
      state->ring = coop_fs_ring_new (loop, NULL);
    }
  return state;
}

void
coop_fs_loop_closing (CoopLoop *loop)
{
  CoopState *state = g_object_get_qdata (G_OBJECT (loop), state_quark ());
  GList *l;

  if (state == NULL)
    return;
  state->closed = TRUE;
  if (state->ring != NULL)
    g_clear_pointer (&state->ring, coop_fs_ring_free);

  /* Jobs that have not started will not (the loop is closed); running
   * ones stop at their next check; each releases its operation. */
  coop_mutex_lock (&state->mutex);
  for (l = state->thread_ops.head; l != NULL; l = l->next)
    g_atomic_int_set (&((CoopFsOp *) l->data)->cancel_requested, TRUE);
  while (state->n_running > 0)
    {
      /* GLib's mutex is invisible to ThreadSanitizer (coop-private.h). */
      coop_tsan_release (&state->mutex);
      g_cond_wait (&state->cond, &state->mutex);
      coop_tsan_acquire (&state->mutex);
    }
  coop_mutex_unlock (&state->mutex);
}

/* --- submitting ----------------------------------------------------------------- */

static CoopFsOp *
op_new (CoopLoop   *loop,
        CoopFsKind  kind)
{
  CoopFsOp *op = coop_future_new_internal (COOP_TYPE_FS_OP, loop);

  op->kind = kind;
  op->state = state_get (loop);
  coop_future_set_describe (COOP_FUTURE (op), op_describe, NULL);
  return op;
}

static CoopFuture *
op_submit (CoopFsOp *op)
{
  CoopState *state = op->state;
  GError *error = NULL;

  if (!coop_loop_check_usable (state->loop, &error) || state->closed)
    {
      if (error == NULL)
        error = g_error_new_literal (COOP_ERROR, COOP_ERROR_LOOP_CLOSED, "The loop is closed");
      coop_future_take_error (COOP_FUTURE (op), error);
    }
  else if (state->ring != NULL)
    coop_fs_ring_submit (state->ring, op);
  else
    thread_submit (op);
  return COOP_FUTURE (op);
}

static gboolean
coop_fs_op_cancel (CoopFuture *future,
                   const char *message)
{
  CoopFsOp *op = COOP_FS_OP (future);

  /* The future ends when the operation has stopped (coop_fs_op_finish()):
   * until then the kernel or a worker may still use the buffer. */
  if (g_atomic_int_get (&op->cancel_requested))
    return TRUE;
  g_atomic_int_set (&op->cancel_requested, TRUE);
  if (op->in_ring && op->state->ring != NULL)
    coop_fs_ring_cancel (op->state->ring, op);
  return TRUE;
}

#define return_if_bad_loop(loop)                                            \
  G_STMT_START {                                                            \
    g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);                       \
    coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);  \
  } G_STMT_END

/* --- the public API -------------------------------------------------------------- */

static gpointer
fs_stat_copy (gpointer boxed)
{
  return g_memdup2 (boxed, sizeof (CoopStat));
}

G_DEFINE_BOXED_TYPE (CoopStat, coop_stat, fs_stat_copy, g_free)

/**
 * coop_fs_open:
 * @loop: a loop
 * @path: (type filename): the file to open
 * @flags: the flags of open(2), such as `O_RDONLY` or
 *   `O_WRONLY | O_CREAT | O_TRUNC`; `O_CLOEXEC` is always added
 * @mode: the permissions of a file that `O_CREAT` creates (before the
 *   umask), such as `0644`; ignored otherwise
 *
 * Opens @path off the loop, as open(2) does.
 *
 * The future finishes with the new file descriptor (an int64, read it with
 * [method@Coop.Future.get_int64]), which the caller owns: close it with
 * [func@Coop.fs_close] (or close(2)).  It fails with the `G_IO_ERROR` that
 * matches errno (`G_IO_ERROR_NOT_FOUND` for `ENOENT`...).  If the future is
 * cancelled and the file was opened all the same, the descriptor is closed
 * and the future ends cancelled.
 *
 * Returns: (transfer full): a future of the file descriptor
 */
CoopFuture *
coop_fs_open (CoopLoop   *loop,
              const char *path,
              int         flags,
              int         mode)
{
  CoopFsOp *op;

  return_if_bad_loop (loop);
  g_return_val_if_fail (path != NULL, NULL);

  op = op_new (loop, COOP_FS_OPEN);
  op->path = g_strdup (path);
  op->flags = flags;
  op->mode = mode;
  return op_submit (op);
}

/**
 * coop_fs_close:
 * @loop: a loop
 * @fd: a file descriptor
 *
 * Closes @fd off the loop (closing a file can write back data on some file
 * systems).  The descriptor is released whatever the outcome, as close(2)
 * on Linux releases it: never close it again after an error.
 *
 * Returns: (transfer full): a future with no value, or an error (a bad
 *   @fd fails with the `EBADF` message)
 */
CoopFuture *
coop_fs_close (CoopLoop *loop,
               int       fd)
{
  CoopFsOp *op;

  return_if_bad_loop (loop);
  g_return_val_if_fail (fd >= 0, NULL);

  op = op_new (loop, COOP_FS_CLOSE);
  op->fd = fd;
  return op_submit (op);
}

/**
 * coop_fs_read: (skip)
 * @loop: a loop
 * @fd: a file descriptor open for reading
 * @buffer: (array length=count) (element-type guint8) (out caller-allocates):
 *   where the bytes go
 * @count: how many bytes to read at most (up to `G_MAXSSIZE`)
 * @offset: where in the file to read, or -1 for the file position (which
 *   then moves on, as read(2))
 *
 * Reads up to @count bytes of @fd into @buffer, as pread(2) (or read(2)
 * for an @offset of -1), off the loop.  The future finishes with the number
 * of bytes read (an int64): fewer than @count near the end of the file, 0
 * at the end.
 *
 * @buffer belongs to the operation until the future is done: do not free,
 * reuse or read it before.  Cancelling the future does not end the
 * operation at once; the future ends cancelled once the kernel or worker
 * thread is done with @buffer.  If the loop is closed meanwhile, closing
 * waits until the operation stopped: once [method@Coop.Loop.close] has
 * returned, @buffer may go even though the future stays pending
 * (docs/files.md, "Buffers").
 *
 * For regular files and block devices; a pipe or a socket could keep a
 * worker (and closing the loop) waiting for data: use
 * [class@Coop.Stream] there.
 *
 * Returns: (transfer full): a future of the number of bytes read
 */
CoopFuture *
coop_fs_read (CoopLoop *loop,
              int       fd,
              void     *buffer,
              gsize     count,
              gint64    offset)
{
  CoopFsOp *op;

  return_if_bad_loop (loop);
  g_return_val_if_fail (fd >= 0, NULL);
  g_return_val_if_fail (buffer != NULL || count == 0, NULL);
  g_return_val_if_fail (count <= G_MAXSSIZE, NULL);
  g_return_val_if_fail (offset >= -1, NULL);

  op = op_new (loop, COOP_FS_READ);
  op->fd = fd;
  op->buffer = buffer;
  op->count = count;
  op->offset = offset;
  return op_submit (op);
}

/**
 * coop_fs_read_bytes:
 * @loop: a loop
 * @fd: a file descriptor open for reading
 * @count: how many bytes to read at most
 * @offset: where in the file to read, or -1 for the file position
 *
 * Reads up to @count bytes of @fd into a new buffer, as
 * [func@Coop.fs_read] but with a buffer of its own, so there is nothing to
 * keep alive.  The future finishes with a #GBytes (read it with
 * [method@Coop.Future.get_bytes]): shorter than @count near the end of the
 * file, empty at the end.
 *
 * Returns: (transfer full): a future of the bytes read
 */
CoopFuture *
coop_fs_read_bytes (CoopLoop *loop,
                    int       fd,
                    gsize     count,
                    gint64    offset)
{
  CoopFsOp *op;

  return_if_bad_loop (loop);
  g_return_val_if_fail (fd >= 0, NULL);
  g_return_val_if_fail (count <= G_MAXSSIZE, NULL);
  g_return_val_if_fail (offset >= -1, NULL);

  op = op_new (loop, COOP_FS_READ_BYTES);
  op->fd = fd;
  op->own_buffer = g_malloc (MAX (count, 1));
  op->buffer = op->own_buffer;
  op->count = count;
  op->offset = offset;
  return op_submit (op);
}

/**
 * coop_fs_write: (skip)
 * @loop: a loop
 * @fd: a file descriptor open for writing
 * @buffer: (array length=count) (element-type guint8): the bytes to write
 * @count: how many bytes (up to `G_MAXSSIZE`)
 * @offset: where in the file to write, or -1 for the file position (or
 *   the end, for a file opened with `O_APPEND`)
 *
 * Writes all @count bytes of @buffer to @fd off the loop, as pwrite(2)
 * repeated until everything is written.  The future finishes with @count
 * (an int64), or fails; after a failure or a cancellation, part of
 * the data may have been written.
 *
 * @buffer must stay valid and unchanged until the future is done (or the
 * loop is closed), as for [func@Coop.fs_read].  [func@Coop.fs_write_bytes]
 * holds its data itself.
 *
 * Returns: (transfer full): a future of the number of bytes written
 */
CoopFuture *
coop_fs_write (CoopLoop   *loop,
               int         fd,
               const void *buffer,
               gsize       count,
               gint64      offset)
{
  CoopFsOp *op;

  return_if_bad_loop (loop);
  g_return_val_if_fail (fd >= 0, NULL);
  g_return_val_if_fail (buffer != NULL || count == 0, NULL);
  g_return_val_if_fail (count <= G_MAXSSIZE, NULL);
  g_return_val_if_fail (offset >= -1, NULL);

  op = op_new (loop, COOP_FS_WRITE);
  op->fd = fd;
  op->buffer = (guint8 *) buffer;
  op->count = count;
  op->offset = offset;
  return op_submit (op);
}

/**
 * coop_fs_write_bytes:
 * @loop: a loop
 * @fd: a file descriptor open for writing
 * @bytes: the bytes to write
 * @offset: where in the file to write, or -1 for the file position
 *
 * Writes all of @bytes to @fd off the loop, as [func@Coop.fs_write]; the
 * operation holds a reference on @bytes until it has ended.
 *
 * Returns: (transfer full): a future of the number of bytes written (an
 *   int64)
 */
CoopFuture *
coop_fs_write_bytes (CoopLoop *loop,
                     int       fd,
                     GBytes   *bytes,
                     gint64    offset)
{
  CoopFsOp *op;
  gsize size;

  return_if_bad_loop (loop);
  g_return_val_if_fail (fd >= 0, NULL);
  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (offset >= -1, NULL);

  op = op_new (loop, COOP_FS_WRITE_BYTES);
  op->fd = fd;
  op->bytes = g_bytes_ref (bytes);
  op->buffer = (guint8 *) g_bytes_get_data (bytes, &size);
  op->count = size;
  op->offset = offset;
  return op_submit (op);
}

/**
 * coop_fs_fsync:
 * @loop: a loop
 * @fd: a file descriptor
 * @datasync: %TRUE for fdatasync(2) (the data, and only the metadata
 *   needed to read it back), %FALSE for fsync(2)
 *
 * Flushes what was written to @fd to the disk, off the loop.
 *
 * Returns: (transfer full): a future with no value, or an error
 */
CoopFuture *
coop_fs_fsync (CoopLoop *loop,
               int       fd,
               gboolean  datasync)
{
  CoopFsOp *op;

  return_if_bad_loop (loop);
  g_return_val_if_fail (fd >= 0, NULL);

  op = op_new (loop, COOP_FS_FSYNC);
  op->fd = fd;
  op->datasync = datasync;
  return op_submit (op);
}

/**
 * coop_fs_stat:
 * @loop: a loop
 * @fd: a file descriptor
 *
 * Tells about the file open as @fd, as fstat(2), off the loop.
 *
 * Returns: (transfer full): a future of a [struct@Coop.Stat] (read it
 *   with [method@Coop.Future.get_boxed])
 */
CoopFuture *
coop_fs_stat (CoopLoop *loop,
              int       fd)
{
  CoopFsOp *op;

  return_if_bad_loop (loop);
  g_return_val_if_fail (fd >= 0, NULL);

  op = op_new (loop, COOP_FS_STAT);
  op->fd = fd;
  return op_submit (op);
}

/**
 * coop_fs_stat_path:
 * @loop: a loop
 * @path: (type filename): a file
 *
 * Tells about @path, as stat(2) (following symbolic links), off the loop.
 *
 * Returns: (transfer full): a future of a [struct@Coop.Stat]
 */
CoopFuture *
coop_fs_stat_path (CoopLoop   *loop,
                   const char *path)
{
  CoopFsOp *op;

  return_if_bad_loop (loop);
  g_return_val_if_fail (path != NULL, NULL);

  op = op_new (loop, COOP_FS_STAT_PATH);
  op->path = g_strdup (path);
  return op_submit (op);
}

/* --- whole files on io_uring: a task over the operations above --------------------- */

typedef struct
{
  char    *path;
  char    *tmp;
  GBytes  *contents;
  gboolean atomic;
  int      fd;
  guint8  *data;
} WholeFile;

static void
whole_file_free (gpointer data)
{
  WholeFile *wf = data;

  /* The loop's operations on data have ended before a task is let go
   * (coop_fs_loop_closing() runs first when a loop closes). */
  if (wf->fd >= 0)
    close (wf->fd);
  if (wf->tmp != NULL)
    unlink (wf->tmp);
  g_free (wf->path);
  g_free (wf->tmp);
  g_free (wf->data);
  g_clear_pointer (&wf->contents, g_bytes_unref);
  g_free (wf);
}

/* Awaits @future (stolen) and returns its int64, or -1 with @error set. */
static gint64
await_int64 (CoopFuture  *future,
             GError     **error)
{
  g_autoptr(CoopFuture) owned = future;

  if (!coop_await (owned, error))
    return -1;
  /* Every operation awaited this way finishes with an int64. */
  return coop_future_get_int64 (owned, NULL);
}

static gboolean
await_none (CoopFuture  *future,
            GError     **error)
{
  g_autoptr(CoopFuture) owned = future;

  return coop_await (owned, error);
}

/* The error of a whole-file call: the failing step's message, prefixed. */
static void
fail_whole (CoopTask   *task,
            const char *what,
            const char *path,
            GError     *error)
{
  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_autofree char *display = g_filename_display_name (path);

      g_prefix_error (&error, "Could not %s “%s”: ", what, display);
    }
  coop_future_take_error (COOP_FUTURE (task), error);
}

/* The first read of a whole file: most files fit, and asking the size
 * first would cost a statx, which io_uring always hands to a kernel worker
 * thread (the open and the reads of a cached file complete inline). */
#define LOAD_FIRST_READ ((gsize) 64 * 1024)

static void
load_task (CoopTask *task,
           gpointer  user_data)
{
  WholeFile *wf = user_data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  GError *error = NULL;
  gboolean sized = FALSE;
  gsize cap, len = 0;
  gint64 n;

  n = await_int64 (coop_fs_open (loop, wf->path, O_RDONLY, 0), &error);
  if (n < 0)
    goto fail;
  wf->fd = (int) n;

  cap = LOAD_FIRST_READ;
  wf->data = g_malloc (cap);
  for (;;)
    {
      if (len == cap)
        {
          /* A big one: ask its size once, then grow by doubling (files
           * that say 0, in /proc, or that grow meanwhile). */
          gsize want = cap * 2;

          if (!sized)
            {
              g_autoptr(CoopFuture) stat_future = coop_fs_stat (loop, wf->fd);
              const CoopStat *st;

              sized = TRUE;
              if (!coop_await (stat_future, &error))
                goto fail;
              st = coop_future_get_boxed (stat_future, NULL);
              if (st->size >= cap)
                want = (gsize) st->size + 1;
            }
          cap = want;
          wf->data = g_realloc (wf->data, cap);
        }
      n = await_int64 (coop_fs_read (loop, wf->fd, wf->data + len, MIN (cap - len, READ_CHUNK),
                                     (gint64) len),
                       &error);
      if (n < 0)
        goto fail;
      if (n == 0)
        break;
      len += (gsize) n;
    }

  {
    int fd = wf->fd;

    wf->fd = -1;
    if (!await_none (coop_fs_close (loop, fd), &error))
      goto fail;
  }
  {
    g_autoptr(GBytes) bytes = g_bytes_new_take (g_realloc (g_steal_pointer (&wf->data), MAX (len, 1)), len);

    coop_future_set_boxed (COOP_FUTURE (task), G_TYPE_BYTES, bytes);
  }
  return;

fail:
  fail_whole (task, "load", wf->path, error);
}

static void
save_task (CoopTask *task,
           gpointer  user_data)
{
  WholeFile *wf = user_data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  GError *error = NULL;
  gint64 n;

  if (wf->atomic)
    {
      for (;;)
        {
          g_free (wf->tmp);
          wf->tmp = temp_name (wf->path);
          n = await_int64 (coop_fs_open (loop, wf->tmp, O_WRONLY | O_CREAT | O_EXCL, 0666), &error);
          if (n >= 0 || !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS))
            break;
          g_clear_error (&error);
        }
      if (n < 0)
        g_clear_pointer (&wf->tmp, g_free);   /* not ours */
    }
  else
    n = await_int64 (coop_fs_open (loop, wf->path, O_WRONLY | O_CREAT | O_TRUNC, 0666), &error);
  if (n < 0)
    goto fail;
  wf->fd = (int) n;

  if (await_int64 (coop_fs_write_bytes (loop, wf->fd, wf->contents, 0), &error) < 0)
    goto fail;
  if (wf->atomic && !await_none (coop_fs_fsync (loop, wf->fd, FALSE), &error))
    goto fail;
  {
    int fd = wf->fd;

    wf->fd = -1;
    if (!await_none (coop_fs_close (loop, fd), &error))
      goto fail;
  }
  if (wf->atomic)
    {
      CoopFsOp *op = op_new (loop, COOP_FS_RENAME);

      op->path = g_strdup (wf->tmp);
      op->path2 = g_strdup (wf->path);
      if (!await_none (op_submit (op), &error))
        goto fail;
      g_clear_pointer (&wf->tmp, g_free);
    }
  coop_future_set_none (COOP_FUTURE (task));
  return;

fail:
  /* whole_file_free() closes the fd and removes the temporary file. */
  fail_whole (task, "save", wf->path, error);
}

/**
 * coop_fs_load:
 * @loop: a loop
 * @path: (type filename): the file to read
 *
 * Reads the whole of @path off the loop, as g_file_get_contents().  The
 * future finishes with a #GBytes of the contents (read it with
 * [method@Coop.Future.get_bytes]).
 *
 * On io_uring this is a task that opens, reads (in chunks of at most
 * 8 MiB; a file bigger than 64 KiB is sized with a stat first) and closes;
 * on threads one job does it all.  Cancelling it
 * stops between chunks.
 *
 * Returns: (transfer full): a future of the contents
 */
CoopFuture *
coop_fs_load (CoopLoop   *loop,
              const char *path)
{
  CoopState *state;

  return_if_bad_loop (loop);
  g_return_val_if_fail (path != NULL, NULL);

  state = state_get (loop);
  if (state->ring != NULL && !state->closed && !coop_loop_is_closed (loop))
    {
      WholeFile *wf = g_new0 (WholeFile, 1);

      wf->path = g_strdup (path);
      wf->fd = -1;
      return COOP_FUTURE (coop_task_new (loop, load_task, wf, whole_file_free));
    }
  {
    CoopFsOp *op = op_new (loop, COOP_FS_LOAD);

    op->path = g_strdup (path);
    return op_submit (op);
  }
}

/**
 * coop_fs_save:
 * @loop: a loop
 * @path: (type filename): the file to write
 * @contents: what the file will contain
 * @atomic: whether readers must see either the old or the new contents,
 *   never a mix
 *
 * Replaces the contents of @path with @contents off the loop (creating it,
 * with permissions 0666 less the umask, if it does not exist).
 *
 * With @atomic, the data goes to a new file beside @path (named after it,
 * with a random suffix), is flushed to the disk (fsync(2)) and renamed over
 * @path, as g_file_set_contents() does: a reader, or a crash, sees the old
 * file or the new one.  The file so gets a new inode: hard links to the old
 * one keep the old contents, and its owner and permissions are not carried
 * over.  On failure or cancellation the temporary file is removed and @path
 * is left as it was.
 *
 * Without @atomic, @path is truncated and written in place, without
 * fsync(2): cheaper, but a failure or a cancellation halfway leaves a
 * truncated file.
 *
 * Returns: (transfer full): a future with no value, or an error
 */
CoopFuture *
coop_fs_save (CoopLoop   *loop,
              const char *path,
              GBytes     *contents,
              gboolean    atomic)
{
  CoopState *state;

  return_if_bad_loop (loop);
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (contents != NULL, NULL);

  state = state_get (loop);
  if (state->ring != NULL && !state->closed && !coop_loop_is_closed (loop))
    {
      WholeFile *wf = g_new0 (WholeFile, 1);

      wf->path = g_strdup (path);
      wf->contents = g_bytes_ref (contents);
      wf->atomic = atomic;
      wf->fd = -1;
      return COOP_FUTURE (coop_task_new (loop, save_task, wf, whole_file_free));
    }
  {
    CoopFsOp *op = op_new (loop, COOP_FS_SAVE);

    op->path = g_strdup (path);
    op->bytes = g_bytes_ref (contents);
    op->atomic = atomic;
    return op_submit (op);
  }
}

/**
 * coop_loop_get_fs_backend:
 * @loop: a loop
 *
 * Names the backend of the `coop_fs_` calls on @loop: `"io_uring"` where
 * the kernel allows it, `"threads"` otherwise (or with the environment
 * variable `COOP_FILE_BACKEND=threads`).  The choice is made the first
 * time @loop does file I/O, or by this call.
 *
 * Returns: the backend's name
 */
const char *
coop_loop_get_fs_backend (CoopLoop *loop)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  return state_get (loop)->ring != NULL ? "io_uring" : "threads";
}
