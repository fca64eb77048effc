/* coop-fs.h: file I/O that never blocks the loop (io_uring, or a thread pool).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-task.h"

G_BEGIN_DECLS

/**
 * CoopStat:
 * @size: the size in bytes
 * @mode: the file type and permission bits (`st_mode`)
 * @nlink: the number of hard links
 * @uid: the owner's user id
 * @gid: the owner's group id
 * @ino: the inode number
 * @dev: the device the file lives on (`makedev (major, minor)`)
 * @rdev: the device a device file stands for
 * @blocks: the number of 512-byte blocks allocated
 * @blksize: the preferred block size for I/O
 * @atime_usec: the last access, in microseconds since the Unix epoch
 * @mtime_usec: the last modification of the contents, likewise
 * @ctime_usec: the last change of the inode, likewise
 *
 * What [func@Coop.fs_stat] and [func@Coop.fs_stat_path] tell about a
 * file: the fields of `struct stat` (filled from `statx()`), with the times
 * in microseconds.  A plain structure, copied as a whole.
 */
typedef struct _CoopStat CoopStat;

struct _CoopStat
{
  guint64 size;
  guint32 mode;
  guint32 nlink;
  guint32 uid;
  guint32 gid;
  guint64 ino;
  guint64 dev;
  guint64 rdev;
  guint64 blocks;
  guint32 blksize;
  gint64  atime_usec;
  gint64  mtime_usec;
  gint64  ctime_usec;
};

#define COOP_TYPE_STAT (coop_stat_get_type ())
COOP_AVAILABLE_IN_ALL
GType       coop_stat_get_type    (void) G_GNUC_CONST;

COOP_AVAILABLE_IN_ALL
CoopFuture *coop_fs_open             (CoopLoop      *loop,
                                      const char    *path,
                                      int            flags,
                                      int            mode);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_fs_close            (CoopLoop      *loop,
                                      int            fd);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_fs_read             (CoopLoop      *loop,
                                      int            fd,
                                      void          *buffer,
                                      gsize          count,
                                      gint64         offset);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_fs_read_bytes       (CoopLoop      *loop,
                                      int            fd,
                                      gsize          count,
                                      gint64         offset);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_fs_write            (CoopLoop      *loop,
                                      int            fd,
                                      const void    *buffer,
                                      gsize          count,
                                      gint64         offset);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_fs_write_bytes      (CoopLoop      *loop,
                                      int            fd,
                                      GBytes        *bytes,
                                      gint64         offset);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_fs_fsync            (CoopLoop      *loop,
                                      int            fd,
                                      gboolean       datasync);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_fs_stat             (CoopLoop      *loop,
                                      int            fd);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_fs_stat_path        (CoopLoop      *loop,
                                      const char    *path);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_fs_load             (CoopLoop      *loop,
                                      const char    *path);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_fs_save             (CoopLoop      *loop,
                                      const char    *path,
                                      GBytes        *contents,
                                      gboolean       atomic);
COOP_AVAILABLE_IN_ALL
const char *coop_loop_get_fs_backend (CoopLoop      *loop);

G_END_DECLS
