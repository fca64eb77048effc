/* coop-fs-private.h: what the file-I/O front end and its backends share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sys/stat.h>

#include "coop-private.h"

G_BEGIN_DECLS

typedef enum
{
  COOP_FS_OPEN,
  COOP_FS_CLOSE,
  COOP_FS_READ,          /* into the caller's buffer */
  COOP_FS_READ_BYTES,    /* into a buffer of the operation's own */
  COOP_FS_WRITE,         /* from the caller's buffer, all of it */
  COOP_FS_WRITE_BYTES,   /* from a GBytes the operation holds, all of it */
  COOP_FS_FSYNC,
  COOP_FS_STAT,
  COOP_FS_STAT_PATH,
  COOP_FS_RENAME,        /* internal: coop_fs_save() */
  COOP_FS_UNLINK,        /* internal: coop_fs_save() */
  COOP_FS_LOAD,          /* the thread backend only: one job */
  COOP_FS_SAVE,          /* the thread backend only: one job */
} CoopFsKind;

typedef struct _CoopState CoopState;
typedef struct _CoopFsRing CoopFsRing;

/* One operation, which is also the future the caller gets. */
#define COOP_TYPE_FS_OP (coop_fs_op_get_type ())
G_DECLARE_FINAL_TYPE (CoopFsOp, coop_fs_op, COOP, FS_OP, CoopFuture)

struct _CoopFsOp
{
  CoopFuture     parent_instance;

  CoopState   *state;         /* the loop's (the future holds the loop) */
  CoopFsKind     kind;
  int            fd;
  int            flags;
  int            mode;
  gboolean       datasync;
  gboolean       atomic;
  char          *path;
  char          *path2;         /* the new name of a rename */
  guint8        *buffer;        /* the caller's, or own_buffer */
  guint8        *own_buffer;    /* COOP_FS_READ_BYTES */
  gsize          count;
  gint64         offset;        /* -1: the file position */
  gsize          done;          /* bytes written so far */
  GBytes        *bytes;         /* held: COOP_FS_WRITE_BYTES, COOP_FS_SAVE */
  struct statx   stx;
  gint64         res;           /* what the system call returned, or -errno */
  GBytes        *result_bytes;  /* COOP_FS_LOAD on a thread */
  int            cancel_requested;   /* atomic: read by workers */

  /* The thread backend. */
  CoopFuture    *job;           /* coop_loop_run_in_thread()'s future */
  CoopWaiter     job_waiter;
  gboolean       released;      /* under state->mutex: no worker uses the buffer */
  GList          thread_link;   /* in state->thread_ops, under state->mutex */

  /* The io_uring backend (loop thread only). */
  GList          ring_link;     /* in the ring's list of ops in flight */
  gboolean       in_ring;
};

/* The front end (coop-fs.c). */
void        coop_fs_op_finish         (CoopFsOp *op,
                                       gint64    res);
void        coop_fs_op_fail           (CoopFsOp *op,
                                       GError   *error);
/* A loop closed with @op in the kernel: what it produced is released (an
 * fd it opened is closed); the future stays pending, as every future of a
 * closed loop. */
void        coop_fs_op_abandon        (CoopFsOp *op,
                                       gint64    res);
gboolean    coop_fs_op_wants_more     (CoopFsOp *op,
                                       gint64    res);
void        coop_fs_statx_to_stat     (const struct statx *stx,
                                       CoopStat         *st);

/* The io_uring backend (coop-fs-uring.c); without liburing, _new fails. */
CoopFsRing *coop_fs_ring_new          (CoopLoop    *loop,
                                       GError     **error);
void        coop_fs_ring_submit       (CoopFsRing  *ring,
                                       CoopFsOp    *op);
void        coop_fs_ring_cancel       (CoopFsRing  *ring,
                                       CoopFsOp    *op);
/* Cancels what is in flight, waits for it to end, frees the ring. */
void        coop_fs_ring_free         (CoopFsRing  *ring);
/* FALSE in the child of a fork(): the ring is the parent's. */
gboolean    coop_fs_ring_usable       (CoopFsRing  *ring);

G_END_DECLS
