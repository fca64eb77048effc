/* coop-fs-uring.c: the io_uring backend of the file operations.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>

#include "coop-fs-private.h"

#ifdef HAVE_LIBURING
# include <liburing.h>
# ifdef HAVE_VALGRIND_H
#  include <valgrind/memcheck.h>
# else
#  define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void) 0)
# endif

/*
 * One ring per loop, used on the loop's thread only.
 *
 * - Submitting fills a submission queue entry whose user_data is the
 *   operation (the ring holds a reference until its completion is read)
 *   and schedules one call_soon that submits everything queued meanwhile:
 *   the operations that a batch of tasks starts cost one io_uring_enter().
 * - Completions: the ring's own fd is readable while its completion queue
 *   is not empty, so the loop's readiness source (coop-io.c) watches it
 *   like any fd and the reader reaps the queue; nothing to read or
 *   acknowledge besides the queue itself (an eventfd would cost a read()
 *   per wake-up).
 * - Cancelling submits IORING_OP_ASYNC_CANCEL for the operation (user_data
 *   NULL, whose own completion is ignored); the operation's completion
 *   comes later, -ECANCELED or its result if it could not be stopped, and
 *   only then is the future done (the buffer is free again).
 * - Closing the loop cancels everything in flight and waits for the
 *   completions (io_uring_wait_cqe(), on the loop's thread: file operations
 *   end quickly), so no kernel thread writes into a buffer afterwards.
 * - fork(): the child inherits the parent's ring (the fd and the shared
 *   mappings of its queues).  Reaping or submitting there would take the
 *   parent's completions, so the child never touches it: its copies of the
 *   operations in flight fail, its reader goes, its mappings are unmapped
 *   and its fd closed (neither affects the parent), and it makes a ring of
 *   its own on its next operation.  A pthread_atfork() child handler bumps a
 *   generation; the check is one compare per reap and per call.
 */

#define RING_ENTRIES 256
/* What one read or write may transfer (Linux's own limit, MAX_RW_COUNT). */
#define RW_MAX ((gsize) 0x7ffff000)

struct _CoopFsRing
{
  CoopLoop        *loop;         /* borrowed: the loop's state holds the ring */
  struct io_uring  ring;
  int              ring_fd;
  CoopHandle      *reader;
  CoopHandle      *flush;        /* a pending submit, or NULL */
  GQueue           in_flight;    /* CoopFsOp via ring_link, one reference each */
  guint            generation;   /* fork_generation when it was made */
  gboolean         dead;         /* forgotten in a forked child */
};

static guint fork_generation;

static void
atfork_child (void)
{
  fork_generation++;
}

static gboolean
probe_ops (struct io_uring *ring)
{
  static const int needed[] = {
    IORING_OP_READ, IORING_OP_WRITE, IORING_OP_OPENAT, IORING_OP_CLOSE,
    IORING_OP_FSYNC, IORING_OP_STATX, IORING_OP_ASYNC_CANCEL,
    IORING_OP_RENAMEAT, IORING_OP_UNLINKAT,
  };
  struct io_uring_probe *probe = io_uring_get_probe_ring (ring);
  gboolean ok = probe != NULL;

  for (guint i = 0; ok && i < G_N_ELEMENTS (needed); i++)
    ok = io_uring_opcode_supported (probe, needed[i]);
  if (probe != NULL)
    io_uring_free_probe (probe);
  return ok;
}

static void ring_reap (gpointer data);

CoopFsRing *
coop_fs_ring_new (CoopLoop  *loop,
                  GError   **error)
{
  static gsize atfork_registered = 0;
  CoopFsRing *ring;
  int r;

  if (g_once_init_enter (&atfork_registered))
    {
      pthread_atfork (NULL, NULL, atfork_child);
      g_once_init_leave (&atfork_registered, 1);
    }
  if (coop_loop_is_closed (loop))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_LOOP_CLOSED, "The loop is closed");
      return NULL;
    }

  ring = g_new0 (CoopFsRing, 1);
  /* EPERM, ENOSYS: a seccomp filter (containers), or
   * kernel.io_uring_disabled; ENOMEM: RLIMIT_MEMLOCK on old kernels. */
  r = io_uring_queue_init (RING_ENTRIES, &ring->ring, 0);
  if (r < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-r),
                   "io_uring_queue_init: %s", g_strerror (-r));
      g_free (ring);
      return NULL;
    }
  if (!probe_ops (&ring->ring))
    {
      g_set_error_literal (error, COOP_ERROR, COOP_ERROR_NOT_SUPPORTED,
                           "The kernel's io_uring lacks operations Coop needs (Linux 5.11 has them)");
      io_uring_queue_exit (&ring->ring);
      g_free (ring);
      return NULL;
    }
  {
    /* The kernel's io-wq threads run what cannot complete inline (open,
     * statx, reads that miss the cache).  Unbounded, it starts one per
     * operation in flight: 64 opens at once made 64 threads that fought
     * over two CPUs, at a quarter of the thread pool's speed.  The same
     * bound as the pool's (Linux 5.15; older kernels keep their default). */
    unsigned int workers[2];

    workers[0] = workers[1] = MIN (32, g_get_num_processors () + 4);
    io_uring_register_iowq_max_workers (&ring->ring, workers);
  }
  ring->loop = loop;
  ring->ring_fd = ring->ring.ring_fd;
  ring->generation = fork_generation;
  ring->reader = coop_loop_add_reader (loop, ring->ring_fd, ring_reap, ring, NULL);
  return ring;
}

gboolean
coop_fs_ring_usable (CoopFsRing *ring)
{
  return ring->generation == fork_generation && !ring->dead;
}

static void
ring_flush (gpointer data)
{
  CoopFsRing *ring = data;

  g_clear_pointer (&ring->flush, coop_handle_unref);
  if (coop_fs_ring_usable (ring))
    io_uring_submit (&ring->ring);
}

static void
ring_schedule_flush (CoopFsRing *ring)
{
  if (ring->flush == NULL)
    ring->flush = coop_loop_call_soon (ring->loop, ring_flush, ring, NULL);
}

static struct io_uring_sqe *
ring_get_sqe (CoopFsRing *ring)
{
  struct io_uring_sqe *sqe = io_uring_get_sqe (&ring->ring);

  if (sqe == NULL)
    {
      /* The submission queue is full: hand it to the kernel now. */
      io_uring_submit (&ring->ring);
      sqe = io_uring_get_sqe (&ring->ring);
    }
  return sqe;
}

static void
ring_prep (struct io_uring_sqe *sqe,
           CoopFsOp            *op)
{
  switch (op->kind)
    {
    case COOP_FS_OPEN:
      io_uring_prep_openat (sqe, AT_FDCWD, op->path, op->flags | O_CLOEXEC, (mode_t) op->mode);
      break;
    case COOP_FS_CLOSE:
      io_uring_prep_close (sqe, op->fd);
      break;
    case COOP_FS_READ:
    case COOP_FS_READ_BYTES:
      io_uring_prep_read (sqe, op->fd, op->buffer, (unsigned) MIN (op->count, RW_MAX),
                          op->offset < 0 ? (__u64) -1 : (__u64) op->offset);
      break;
    case COOP_FS_WRITE:
    case COOP_FS_WRITE_BYTES:
      io_uring_prep_write (sqe, op->fd, op->buffer + op->done,
                           (unsigned) MIN (op->count - op->done, RW_MAX),
                           op->offset < 0 ? (__u64) -1 : (__u64) (op->offset + (gint64) op->done));
      break;
    case COOP_FS_FSYNC:
      io_uring_prep_fsync (sqe, op->fd, op->datasync ? IORING_FSYNC_DATASYNC : 0);
      break;
    case COOP_FS_STAT:
      io_uring_prep_statx (sqe, op->fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &op->stx);
      break;
    case COOP_FS_STAT_PATH:
      io_uring_prep_statx (sqe, AT_FDCWD, op->path, 0, STATX_BASIC_STATS, &op->stx);
      break;
    case COOP_FS_RENAME:
      io_uring_prep_renameat (sqe, AT_FDCWD, op->path, AT_FDCWD, op->path2, 0);
      break;
    case COOP_FS_UNLINK:
      io_uring_prep_unlinkat (sqe, AT_FDCWD, op->path, 0);
      break;
    default:
      /* Whole-file calls are tasks over the operations above. */
      g_assert_not_reached ();
    }
  io_uring_sqe_set_data (sqe, op);
}

void
coop_fs_ring_submit (CoopFsRing *ring,
                     CoopFsOp   *op)
{
  struct io_uring_sqe *sqe = ring_get_sqe (ring);

  if (sqe == NULL)
    {
      coop_fs_op_fail (op, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_BUSY,
                                                "The io_uring submission queue is full"));
      return;
    }
  ring_prep (sqe, op);
  if (!op->in_ring)
    {
      op->in_ring = TRUE;
      op->ring_link.data = g_object_ref (op);
      g_queue_push_tail_link (&ring->in_flight, &op->ring_link);
    }
  ring_schedule_flush (ring);
}

void
coop_fs_ring_cancel (CoopFsRing *ring,
                     CoopFsOp   *op)
{
  struct io_uring_sqe *sqe;

  if (!coop_fs_ring_usable (ring))
    return;
  sqe = ring_get_sqe (ring);
  if (sqe == NULL)
    return;   /* the operation ends anyway, only later */
  io_uring_prep_cancel (sqe, op, 0);
  io_uring_sqe_set_data (sqe, NULL);
  ring_schedule_flush (ring);
}

static void
op_leave (CoopFsRing *ring,
          CoopFsOp   *op)
{
  g_queue_unlink (&ring->in_flight, &op->ring_link);
  op->ring_link.data = NULL;
  op->in_ring = FALSE;
}

/* The child of a fork(): see the top of this file. */
static void
ring_forget (CoopFsRing *ring)
{
  if (ring->dead)
    return;
  ring->dead = TRUE;
  if (ring->reader != NULL)
    {
      coop_handle_cancel (ring->reader);
      g_clear_pointer (&ring->reader, coop_handle_unref);
    }
  if (ring->flush != NULL)
    {
      coop_handle_cancel (ring->flush);
      g_clear_pointer (&ring->flush, coop_handle_unref);
    }
  while (ring->in_flight.head != NULL)
    {
      CoopFsOp *op = ring->in_flight.head->data;

      op_leave (ring, op);
      coop_fs_op_fail (op, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED,
                                                "The file operation belongs to the parent process (fork)"));
      g_object_unref (op);
    }
}

/* Valgrind follows what system calls write into memory, but not what the
 * kernel writes through a ring after the call: say what a completion
 * filled in (a few instructions, nothing at all outside valgrind). */
static void
mark_defined (CoopFsOp *op,
              gint64    res)
{
  if (res > 0 && (op->kind == COOP_FS_READ || op->kind == COOP_FS_READ_BYTES))
    VALGRIND_MAKE_MEM_DEFINED (op->buffer, (gsize) res);
  else if (res == 0 && (op->kind == COOP_FS_STAT || op->kind == COOP_FS_STAT_PATH))
    VALGRIND_MAKE_MEM_DEFINED (&op->stx, sizeof op->stx);
}

static void
ring_complete (CoopFsRing *ring,
               CoopFsOp   *op,
               gint64      res)
{
  mark_defined (op, res);
  if (coop_fs_op_wants_more (op, res))
    {
      /* A short write: the rest goes in the same operation. */
      struct io_uring_sqe *sqe = ring_get_sqe (ring);

      if (sqe != NULL)
        {
          ring_prep (sqe, op);
          ring_schedule_flush (ring);
          return;
        }
      res = -EAGAIN;
    }
  op_leave (ring, op);
  coop_fs_op_finish (op, res);
  g_object_unref (op);
}

static void
ring_reap (gpointer data)
{
  CoopFsRing *ring = data;
  struct io_uring_cqe *cqe;

  if (G_UNLIKELY (!coop_fs_ring_usable (ring)))
    {
      ring_forget (ring);
      return;
    }
  while (io_uring_peek_cqe (&ring->ring, &cqe) == 0)
    {
      CoopFsOp *op = io_uring_cqe_get_data (cqe);
      gint64 res = cqe->res;

      io_uring_cqe_seen (&ring->ring, cqe);
      if (op != NULL)
        ring_complete (ring, op, res);
    }
}

void
coop_fs_ring_free (CoopFsRing *ring)
{
  if (!coop_fs_ring_usable (ring))
    ring_forget (ring);
  else
    {
      GList *l;

      if (ring->flush != NULL)
        {
          coop_handle_cancel (ring->flush);
          g_clear_pointer (&ring->flush, coop_handle_unref);
        }
      for (l = ring->in_flight.head; l != NULL; l = l->next)
        {
          CoopFsOp *op = l->data;
          struct io_uring_sqe *sqe;

          g_atomic_int_set (&op->cancel_requested, TRUE);
          sqe = ring_get_sqe (ring);
          if (sqe != NULL)
            {
              io_uring_prep_cancel (sqe, op, 0);
              io_uring_sqe_set_data (sqe, NULL);
            }
        }
      io_uring_submit (&ring->ring);

      /* Wait until the kernel is done with every buffer. */
      while (ring->in_flight.head != NULL)
        {
          struct io_uring_cqe *cqe;
          CoopFsOp *op;
          int r;

          r = io_uring_wait_cqe (&ring->ring, &cqe);
          if (r == -EINTR)
            continue;
          if (r < 0)
            {
              g_critical ("Coop: io_uring_wait_cqe failed while closing the loop (%s); "
                          "%u file operations are left", g_strerror (-r), ring->in_flight.length);
              break;
            }
          op = io_uring_cqe_get_data (cqe);
          if (op != NULL)
            {
              op_leave (ring, op);
              coop_fs_op_abandon (op, cqe->res);
              g_object_unref (op);
            }
          io_uring_cqe_seen (&ring->ring, cqe);
        }
      if (ring->reader != NULL)
        {
          coop_handle_cancel (ring->reader);
          g_clear_pointer (&ring->reader, coop_handle_unref);
        }
    }
  io_uring_queue_exit (&ring->ring);
  g_free (ring);
}

#else /* !HAVE_LIBURING */

CoopFsRing *
coop_fs_ring_new (CoopLoop  *loop,
                  GError   **error)
{
  g_set_error_literal (error, COOP_ERROR, COOP_ERROR_NOT_SUPPORTED,
                       "Coop was built without liburing");
  return NULL;
}

void
coop_fs_ring_submit (CoopFsRing *ring,
                     CoopFsOp   *op)
{
  g_assert_not_reached ();
}

void
coop_fs_ring_cancel (CoopFsRing *ring,
                     CoopFsOp   *op)
{
}

void
coop_fs_ring_free (CoopFsRing *ring)
{
}

gboolean
coop_fs_ring_usable (CoopFsRing *ring)
{
  return FALSE;
}

#endif
