/* coop-io.c: file-descriptor readiness on the loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_EPOLL
# include <sys/epoll.h>
#endif

#include "coop-private.h"

/* One I/O GSource per loop, attached the first time an fd is watched, at
 * the loop's priority (never higher: see docs/design.md, "Order and priority").
 *
 * - epoll backend: the source polls one epoll fd (g_source_add_unix_fd);
 *   every watched fd is registered in it, so GLib's per-iteration work does
 *   not grow with the number of watched fds.
 * - poll backend (no epoll, or COOP_IO_BACKEND=poll): one GPollFD per
 *   watched fd on the same source (g_source_add_poll: updating one is O(1),
 *   where a unix-fd tag costs a walk of the source's list); GLib polls them
 *   all each iteration, and check() collects the ready ones.
 *
 * Readiness is level-triggered, as asyncio's: a reader callback runs on
 * every iteration in which its fd is readable.  Futures from
 * coop_loop_wait_readable()/wait_writable() finish once and leave.
 *
 * An fd closed while it is watched vanishes silently from epoll.  So that
 * no waiter hangs on it, a sweep every COOP_IO_SWEEP_USEC checks the fds
 * that have futures waiting (fstat: closed, or reused for another file) and
 * fails their waiters with G_IO_ERROR_CLOSED; the poll backend sees
 * POLLNVAL at once.  coop_loop_forget_fd() does the same on demand, and is
 * what to call before closing a watched fd.
 *
 * When that is not done and the number is reused at once, nothing about
 * the old watch is trusted (libuv's lesson):
 * - A new registration compares the fd's identity (dev, ino: the fstat
 *   check_fd() makes anyway) with the watch's; another file means the old
 *   watch is stale: its waiters fail with G_IO_ERROR_CLOSED, its callbacks
 *   are dropped, and a new watch starts from nothing.
 * - Every registration tells the kernel (ADD, or MOD when the watch thinks
 *   it is registered: one epoll_ctl() either way), falling back from MOD to
 *   ADD on ENOENT (the kernel dropped a closed file) and from ADD to MOD on
 *   EEXIST (a registration we lost track of), so a cached "registered"
 *   never leaves a new fd unwatched (a same-inode reopen, a tty say, passes
 *   the identity check).
 * - epoll keys a registration by file *and* number, and drops it only when
 *   the file is closed for good: if a dup or a child keeps the old file
 *   open, its registration lives on under the old number, and epoll_ctl()
 *   cannot name it any more.  Each registration carries its watch's id
 *   beside the fd; an event whose id is not the current watch's comes from
 *   such a leftover, is ignored, and the epoll set is rebuilt without it
 *   (level-triggered, it would otherwise wake the loop for ever).
 *
 * fork(): the child inherits the epoll fd, and with it the parent's epoll
 * instance itself (one open file description), whose interest list is
 * keyed on the open file descriptions of the watched fds, which the child
 * shares too.  Any epoll_ctl() in the child would change the parent's
 * registrations: closing a stream or the loop there removed the parent's
 * listener from its own epoll.  So the child never touches the inherited
 * instance: the first time its copy of a loop does anything with I/O, it
 * drops its reference to the instance (close() only drops a reference) and
 * takes a fresh one, with its watches registered again (libuv's
 * uv_loop_fork(), done by itself).  fork() is noticed through a
 * pthread_atfork() child handler that bumps a generation; the check is
 * one compare.  The poll backend shares no kernel state: nothing to do. */

#define COOP_IO_SWEEP_USEC (2 * G_USEC_PER_SEC)
#define MAX_EVENTS 256

typedef struct _IoState IoState;

typedef struct
{
  IoState    *io;
  int         fd;
  guint       events;          /* G_IO_IN | G_IO_OUT currently registered */
  CoopHandle *reader;
  CoopHandle *writer;
  GQueue      read_waiters;    /* WaitEntry, via their link */
  GQueue      write_waiters;
  GPollFD     pollfd;          /* poll backend */
  gboolean    polled;          /* pollfd is added to the source */
  dev_t       dev;             /* identity: the sweep, a reused number */
  ino_t       ino;
  guint32     id;              /* epoll: in each event, beside the fd */
} Watch;

typedef struct
{
  CoopWaiter  waiter;          /* on the future: notices cancellation */
  CoopFuture *future;          /* strong while queued */
  IoState    *io;
  int         fd;
  gboolean    write;
  GList       link;
  gboolean    queued;
} WaitEntry;

typedef struct
{
  GSource  source;
  IoState *io;
} IoSource;

struct _IoState
{
  CoopLoop   *loop;            /* not a reference: the loop shuts us down */
  IoSource   *source;
  int         epfd;            /* -1 for the poll backend */
  gpointer    ep_tag;
  GHashTable *watches;         /* fd -> Watch* */
  guint       n_waiting;       /* futures waiting, for the sweep */
  CoopHandle *sweep;
  guint       dispatching;     /* depth of io_source_dispatch() */
  GPtrArray  *ready;           /* poll backend: watches with revents, from check() */
  gboolean    dead;            /* shut down while dispatching: freed after */
  guint32     next_id;         /* Watch ids */
  guint       watch_changes;   /* bumped when a watch is made or freed */
  guint       fork_generation; /* coop_fork_generation when epfd was made */
};

static GQuark io_quark;

static IoState *
io_state_peek (CoopLoop *loop)
{
  return io_quark != 0 ? g_object_get_qdata (G_OBJECT (loop), io_quark) : NULL;
}

static gboolean
use_epoll (void)
{
#ifdef HAVE_EPOLL
  return g_strcmp0 (g_getenv ("COOP_IO_BACKEND"), "poll") != 0;
#else
  return FALSE;
#endif
}

/* --- fork ------------------------------------------------------------------- */

static int register_events (IoState *io, Watch *watch, guint events, gboolean renew);

/* In the child of a fork(): leaves the parent's epoll instance alone and
 * moves to a fresh one (see the top of this file).  If none can be made,
 * the loop carries on with the poll backend. */
static void
io_after_fork (IoState *io)
{
  io->fork_generation = coop_fork_generation;
#ifdef HAVE_EPOLL
  if (io->epfd >= 0)
    {
      GHashTableIter iter;
      gpointer value;

      g_source_remove_unix_fd ((GSource *) io->source, io->ep_tag);
      io->ep_tag = NULL;
      close (io->epfd);
      io->epfd = epoll_create1 (EPOLL_CLOEXEC);
      if (io->epfd >= 0)
        io->ep_tag = g_source_add_unix_fd ((GSource *) io->source, io->epfd, G_IO_IN);
      g_hash_table_iter_init (&iter, io->watches);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          Watch *watch = value;
          guint events = watch->events;

          /* Nothing is registered in the new instance yet. */
          watch->events = 0;
          register_events (io, watch, events, FALSE);
        }
    }
#endif
}

static inline void
io_check_fork (IoState *io)
{
  if (G_UNLIKELY (io->fork_generation != coop_fork_generation))
    io_after_fork (io);
}

/* --- registration ----------------------------------------------------------- */

static guint
wanted_events (Watch *watch)
{
  guint events = 0;

  if ((watch->reader != NULL && coop_handle_is_live (watch->reader)) || watch->read_waiters.length > 0)
    events |= G_IO_IN;
  if ((watch->writer != NULL && coop_handle_is_live (watch->writer)) || watch->write_waiters.length > 0)
    events |= G_IO_OUT;
  return events;
}

static void
unpoll (IoState *io,
        Watch   *watch)
{
  if (!watch->polled)
    return;
  g_source_remove_poll ((GSource *) io->source, &watch->pollfd);
  watch->polled = FALSE;
  watch->pollfd.revents = 0;
  if (io->ready != NULL)
    g_ptr_array_remove_fast (io->ready, watch);
}

/* Applies the wanted events to the backend; returns 0 or an errno.  With
 * @renew (a new reader, writer or waiter), epoll is told even if the watch
 * believes it is registered so already: that belief may be stale. */
static int
register_events (IoState  *io,
                 Watch    *watch,
                 guint     events,
                 gboolean  renew)
{
  io_check_fork (io);
#ifdef HAVE_EPOLL
  if (io->epfd >= 0)
    {
      struct epoll_event ev = { 0, };
      int op;

      if (events == watch->events && !(renew && events != 0))
        return 0;
      if (events == 0)
        {
          /* Fails only if the fd is gone already (then so is the
           * registration, unless the file lives on: see the top). */
          epoll_ctl (io->epfd, EPOLL_CTL_DEL, watch->fd, &ev);
          watch->events = 0;
          return 0;
        }
      ev.events = ((events & G_IO_IN) ? EPOLLIN : 0) | ((events & G_IO_OUT) ? EPOLLOUT : 0);
      ev.data.u64 = ((guint64) watch->id << 32) | (guint32) watch->fd;
      op = watch->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
      if (epoll_ctl (io->epfd, op, watch->fd, &ev) != 0)
        {
          int saved = errno;

          /* Our idea of the registration was wrong: the kernel dropped it
           * with a closed file (MOD: ENOENT), or still has one we dropped
           * (ADD: EEXIST).  Do the other. */
          if (!((saved == ENOENT && op == EPOLL_CTL_MOD) || (saved == EEXIST && op == EPOLL_CTL_ADD)))
            return saved;
          op = op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
          if (epoll_ctl (io->epfd, op, watch->fd, &ev) != 0)
            return errno;
        }
      watch->events = events;
      return 0;
    }
#endif

  if (events == watch->events)
    return 0;

  if (!watch->polled && events != 0)
    {
      watch->pollfd.fd = watch->fd;
      watch->pollfd.events = events | G_IO_HUP | G_IO_ERR;
      watch->pollfd.revents = 0;
      g_source_add_poll ((GSource *) io->source, &watch->pollfd);
      watch->polled = TRUE;
    }
  else if (watch->polled && events == 0)
    unpoll (io, watch);
  else if (watch->polled)
    watch->pollfd.events = events | G_IO_HUP | G_IO_ERR;
  watch->events = events;
  return 0;
}

static void
watch_free (gpointer data)
{
  Watch *watch = data;

  g_assert (watch->read_waiters.length == 0 && watch->write_waiters.length == 0);
  watch->io->watch_changes++;
  if (watch->reader != NULL)
    coop_handle_finish_repeating (watch->reader);
  if (watch->writer != NULL)
    coop_handle_finish_repeating (watch->writer);
  g_free (watch);
}

/* Drops the watch if nothing is interested any more, else updates it. */
static void
watch_update (IoState *io,
              Watch   *watch)
{
  guint events = wanted_events (watch);

  register_events (io, watch, events, FALSE);
  if (events == 0 && watch->read_waiters.length == 0 && watch->write_waiters.length == 0)
    {
      unpoll (io, watch);
      g_hash_table_remove (io->watches, GINT_TO_POINTER (watch->fd));
    }
}

static Watch *
watch_lookup (IoState *io,
              int      fd)
{
  return g_hash_table_lookup (io->watches, GINT_TO_POINTER (fd));
}

/* @fd's watch again after callbacks ran, which may have ended it or
 * made a new one: looked up only if some watch was made or freed since
 * @seen (a callback that reads and writes its stream changes none). */
static inline Watch *
watch_again (IoState *io,
             int      fd,
             Watch   *watch,
             guint   *seen)
{
  if (G_LIKELY (io->watch_changes == *seen))
    return watch;
  *seen = io->watch_changes;
  return watch_lookup (io, fd);
}

static void watch_abort (IoState *io, Watch *watch, const GError *error);

/* The watch of @fd for a new registration; @st is the fd's fstat.  A
 * watch left by an fd closed without coop_loop_forget_fd(), whose number
 * now names another file, is not reused: it ends (see the top). */
static Watch *
watch_get (IoState           *io,
           int                fd,
           const struct stat *st)
{
  Watch *watch = watch_lookup (io, fd);

  if (G_UNLIKELY (watch != NULL && (watch->dev != st->st_dev || watch->ino != st->st_ino)))
    {
      g_autoptr(GError) error =
        g_error_new (G_IO_ERROR, G_IO_ERROR_CLOSED,
                     "File descriptor %d was closed while it was being watched (without "
                     "coop_loop_forget_fd()), and its number was reused", fd);

      watch_abort (io, watch, error);
      /* NULL, unless something run by the failed waiters registered on the
       * new fd meanwhile (through here: a fresh watch). */
      watch = watch_lookup (io, fd);
    }
  if (watch != NULL)
    return watch;
  watch = g_new0 (Watch, 1);
  watch->fd = fd;
  watch->id = ++io->next_id;
  g_queue_init (&watch->read_waiters);
  g_queue_init (&watch->write_waiters);
  watch->dev = st->st_dev;
  watch->ino = st->st_ino;
  watch->io = io;
  io->watch_changes++;
  g_hash_table_insert (io->watches, GINT_TO_POINTER (fd), watch);
  return watch;
}

/* --- waiting futures -------------------------------------------------------- */

static void sweep_schedule (IoState *io);

static void
entry_unqueue (IoState   *io,
               Watch     *watch,
               WaitEntry *entry)
{
  g_queue_unlink (entry->write ? &watch->write_waiters : &watch->read_waiters, &entry->link);
  entry->queued = FALSE;
  io->n_waiting--;
}

/* The future completed, by us or by someone else (cancelled). */
static void
entry_future_done (CoopWaiter *waiter,
                   CoopFuture *future)
{
  WaitEntry *entry = (WaitEntry *) waiter;

  if (entry->queued)
    {
      Watch *watch = watch_lookup (entry->io, entry->fd);

      g_assert (watch != NULL);
      entry_unqueue (entry->io, watch, entry);
      watch_update (entry->io, watch);
    }
  g_object_unref (entry->future);
  g_free (entry);
}

/* Finishes (error == NULL) or fails every future waiting on one side. */
static void
complete_waiters (IoState      *io,
                  Watch        *watch,
                  gboolean      write,
                  const GError *error)
{
  GQueue *queue = write ? &watch->write_waiters : &watch->read_waiters;

  while (queue->head != NULL)
    {
      WaitEntry *entry = queue->head->data;
      CoopFuture *future = g_object_ref (entry->future);

      entry_unqueue (io, watch, entry);
      if (error != NULL)
        coop_future_set_error (future, error);
      else
        coop_future_set_none (future);
      g_object_unref (future);
    }
}

static GError *
closed_error (int fd)
{
  return g_error_new (G_IO_ERROR, G_IO_ERROR_CLOSED,
                      "File descriptor %d was closed while it was being watched", fd);
}

/* Everything on @fd ends: waiters fail with @error, callbacks are dropped. */
static void
watch_abort (IoState      *io,
             Watch        *watch,
             const GError *error)
{
  int fd = watch->fd;
  guint32 id = watch->id;

  complete_waiters (io, watch, FALSE, error);
  complete_waiters (io, watch, TRUE, error);
  /* complete_waiters may have dropped the watch already (and a callback
   * may even have made another for the same fd: not ours to end). */
  watch = watch_lookup (io, fd);
  if (watch == NULL || watch->id != id)
    return;
  if (watch->reader != NULL)
    {
      coop_handle_finish_repeating (watch->reader);
      watch->reader = NULL;
    }
  if (watch->writer != NULL)
    {
      coop_handle_finish_repeating (watch->writer);
      watch->writer = NULL;
    }
  watch_update (io, watch);
}

/* --- events ----------------------------------------------------------------- */

static GError *
socket_error (int fd)
{
  int err = 0;
  socklen_t len = sizeof err;

  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err == 0)
    err = EPIPE;
  return g_error_new (G_IO_ERROR, g_io_error_from_errno (err),
                      "File descriptor %d: %s", fd, g_strerror (err));
}

static void
handle_events (IoState *io,
               Watch   *watch,
               int      fd,
               guint32  id,
               guint    revents)
{
  guint seen = io->watch_changes;
  gboolean readable, writable;

  /* The id: an earlier callback of this batch may have replaced the watch
   * (epoll; the poll backend passes the current one's). */
  if (watch == NULL || watch->id != id || io->dead)
    return;

  if (revents & G_IO_NVAL)
    {
      g_autoptr(GError) error = closed_error (fd);

      watch_abort (io, watch, error);
      return;
    }

  /* A hang-up makes a reader see EOF: readable.  An error wakes both sides;
   * a writer with nowhere to write to gets the socket's error. */
  readable = (revents & (G_IO_IN | G_IO_HUP | G_IO_ERR)) != 0;
  writable = (revents & G_IO_OUT) != 0;

  if (readable && watch->reader != NULL && !coop_handle_run_repeating (watch->reader) && !io->dead)
    {
      watch = watch_again (io, fd, watch, &seen);
      if (watch != NULL && watch->reader != NULL && !coop_handle_is_live (watch->reader))
        {
          coop_handle_finish_repeating (watch->reader);
          watch->reader = NULL;
        }
    }
  if (io->dead)
    return;
  watch = watch_again (io, fd, watch, &seen);
  if (watch != NULL && (writable || (revents & (G_IO_ERR | G_IO_HUP))) && watch->writer != NULL &&
      !coop_handle_run_repeating (watch->writer) && !io->dead)
    {
      watch = watch_again (io, fd, watch, &seen);
      if (watch != NULL && watch->writer != NULL && !coop_handle_is_live (watch->writer))
        {
          coop_handle_finish_repeating (watch->writer);
          watch->writer = NULL;
        }
    }

  if (io->dead)
    return;
  watch = watch_again (io, fd, watch, &seen);
  if (watch != NULL && readable)
    complete_waiters (io, watch, FALSE, NULL);
  watch = watch_again (io, fd, watch, &seen);
  if (watch != NULL && watch->write_waiters.length > 0)
    {
      if (writable)
        complete_waiters (io, watch, TRUE, NULL);
      else if (revents & (G_IO_ERR | G_IO_HUP))
        {
          g_autoptr(GError) error = socket_error (fd);

          complete_waiters (io, watch, TRUE, error);
        }
    }
  watch = watch_again (io, fd, watch, &seen);
  if (watch != NULL)
    watch_update (io, watch);
}

#ifdef HAVE_EPOLL
/* Drops the registrations epoll_ctl() can no longer name: a new epoll set
 * with the current watches only.  Watches whose fd was closed, or now
 * names another file, end as the sweep ends them.  Rare (it follows a
 * misuse), so it may cost a syscall or two per watch. */
static void
epoll_rebuild (IoState *io)
{
  int epfd = epoll_create1 (EPOLL_CLOEXEC);
  GList *fds, *l;

  if (epfd < 0)
    return;   /* keep the old set: the leftover events stay ignored */
  g_source_remove_unix_fd ((GSource *) io->source, io->ep_tag);
  close (io->epfd);
  io->epfd = epfd;
  io->ep_tag = g_source_add_unix_fd ((GSource *) io->source, epfd, G_IO_IN);

  fds = g_hash_table_get_keys (io->watches);
  for (l = fds; l != NULL && !io->dead; l = l->next)
    {
      Watch *watch = watch_lookup (io, GPOINTER_TO_INT (l->data));
      struct stat st;
      guint events;

      if (watch == NULL)
        continue;
      events = watch->events;
      watch->events = 0;
      if (fstat (watch->fd, &st) != 0 || st.st_dev != watch->dev || st.st_ino != watch->ino ||
          register_events (io, watch, events, FALSE) != 0)
        {
          g_autoptr(GError) error = closed_error (watch->fd);

          watch_abort (io, watch, error);
        }
    }
  g_list_free (fds);
}
#endif

static void io_state_free (IoState *io);

static gboolean io_source_dispatch_real (IoState *io, GSource *source);

static gboolean
io_source_dispatch (GSource     *source,
                    GSourceFunc  callback,
                    gpointer     user_data)
{
  IoState *io = ((IoSource *) source)->io;
  gboolean result;

  if (io == NULL)
    return G_SOURCE_REMOVE;

  /* A callback may close the loop, which shuts this state down: it is
   * then freed once the outermost dispatch is over. */
  io->dispatching++;
  result = io_source_dispatch_real (io, source);
  io->dispatching--;
  if (io->dead && io->dispatching == 0)
    {
      io_state_free (io);
      return G_SOURCE_REMOVE;
    }
  return result;
}

static gboolean
io_source_dispatch_real (IoState *io,
                         GSource *source)
{
  io_check_fork (io);
#ifdef HAVE_EPOLL
  if (io->epfd >= 0)
    {
      struct epoll_event events[MAX_EVENTS];
      Watch *watches[MAX_EVENTS];
      gboolean leftover = FALSE;
      guint seen;
      int n, i;

      n = epoll_wait (io->epfd, events, MAX_EVENTS, 0);
      /* Before any callback runs, every event must be a current watch's:
       * one that is not comes from a registration left behind by an fd
       * closed without coop_loop_forget_fd() (see the top). */
      for (i = 0; i < n; i++)
        {
          Watch *watch = watch_lookup (io, (int) (guint32) events[i].data.u64);

          watches[i] = watch;
          if (watch == NULL || watch->id != (guint32) (events[i].data.u64 >> 32))
            {
              events[i].events = 0;
              leftover = TRUE;
            }
        }
      /* Each event's watch as found above, unless callbacks of earlier
       * events made or ended watches since: then looked up again. */
      seen = io->watch_changes;
      for (i = 0; i < n && !io->dead; i++)
        {
          guint32 e = events[i].events;
          guint revents = ((e & EPOLLIN) ? G_IO_IN : 0) | ((e & EPOLLOUT) ? G_IO_OUT : 0) |
                          ((e & EPOLLHUP) ? G_IO_HUP : 0) | ((e & EPOLLERR) ? G_IO_ERR : 0);
          int fd = (int) (guint32) events[i].data.u64;

          if (revents != 0)
            handle_events (io, seen == io->watch_changes ? watches[i] : watch_lookup (io, fd), fd,
                           (guint32) (events[i].data.u64 >> 32), revents);
        }
      if (leftover && !io->dead)
        epoll_rebuild (io);
      return G_SOURCE_CONTINUE;
    }
#endif

  {
    /* The poll backend: the watches check() found ready.  Their fds are
     * looked up again, as callbacks may drop them meanwhile. */
    GArray *fds = g_array_sized_new (FALSE, FALSE, sizeof (int), io->ready->len);
    guint i;

    for (i = 0; i < io->ready->len; i++)
      {
        Watch *watch = g_ptr_array_index (io->ready, i);

        g_array_append_val (fds, watch->fd);
      }
    g_ptr_array_set_size (io->ready, 0);
    for (i = 0; i < fds->len && !io->dead; i++)
      {
        Watch *watch = watch_lookup (io, g_array_index (fds, int, i));
        guint revents;

        if (watch == NULL || !watch->polled)
          continue;
        revents = watch->pollfd.revents;
        watch->pollfd.revents = 0;
        if (revents != 0)
          handle_events (io, watch, watch->fd, watch->id, revents);
      }
    g_array_unref (fds);
  }
  return G_SOURCE_CONTINUE;
}

/* Only the poll backend needs it: GLib does not look at fds added with
 * g_source_add_poll() by itself. */
static gboolean
io_source_check (GSource *source)
{
  IoState *io = ((IoSource *) source)->io;
  GHashTableIter iter;
  gpointer value;

  if (io == NULL || io->epfd >= 0)
    return FALSE;
  g_ptr_array_set_size (io->ready, 0);
  g_hash_table_iter_init (&iter, io->watches);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Watch *watch = value;

      if (watch->polled && watch->pollfd.revents != 0)
        g_ptr_array_add (io->ready, watch);
    }
  return io->ready->len > 0;
}

static GSourceFuncs io_source_funcs = {
  NULL, io_source_check, io_source_dispatch, NULL, NULL, NULL,
};

/* --- the sweep ---------------------------------------------------------------- */

static void
sweep_run (gpointer data)
{
  IoState *io = data;
  GList *fds, *l;

  g_clear_pointer (&io->sweep, coop_handle_unref);
  fds = g_hash_table_get_keys (io->watches);
  for (l = fds; l != NULL; l = l->next)
    {
      Watch *watch = watch_lookup (io, GPOINTER_TO_INT (l->data));
      struct stat st;

      if (watch == NULL || (watch->read_waiters.length == 0 && watch->write_waiters.length == 0))
        continue;
      if (fstat (watch->fd, &st) != 0 || st.st_dev != watch->dev || st.st_ino != watch->ino)
        {
          g_autoptr(GError) error = closed_error (watch->fd);

          watch_abort (io, watch, error);
        }
    }
  g_list_free (fds);
  sweep_schedule (io);
}

static void
sweep_schedule (IoState *io)
{
  if (io->sweep != NULL || io->n_waiting == 0 || coop_loop_is_closed (io->loop))
    return;
  io->sweep = coop_loop_call_later (io->loop, COOP_IO_SWEEP_USEC, sweep_run, io, NULL);
}

/* --- set-up and shut-down ----------------------------------------------------- */

static IoState *
io_state_get (CoopLoop *loop)
{
  IoState *io = io_state_peek (loop);

  if (io != NULL)
    return io;
  if (io_quark == 0)
    io_quark = g_quark_from_static_string ("coop-io-state");

  io = g_new0 (IoState, 1);
  io->loop = loop;
  io->epfd = -1;
  io->fork_generation = coop_fork_watch ();
  io->watches = g_hash_table_new_full (NULL, NULL, NULL, watch_free);
  io->ready = g_ptr_array_new ();
  io->source = (IoSource *) g_source_new (&io_source_funcs, sizeof (IoSource));
  io->source->io = io;
  g_source_set_static_name ((GSource *) io->source, "[coop-io]");
  g_source_set_priority ((GSource *) io->source, coop_loop_get_priority (loop));
  g_source_set_can_recurse ((GSource *) io->source, TRUE);
#ifdef HAVE_EPOLL
  if (use_epoll ())
    {
      io->epfd = epoll_create1 (EPOLL_CLOEXEC);
      if (io->epfd >= 0)
        io->ep_tag = g_source_add_unix_fd ((GSource *) io->source, io->epfd, G_IO_IN);
    }
#endif
  g_source_attach ((GSource *) io->source, coop_loop_get_context (loop));
  g_object_set_qdata (G_OBJECT (loop), io_quark, io);
  return io;
}

void
coop_io_set_priority (CoopLoop *loop,
                      int       priority)
{
  IoState *io = io_state_peek (loop);

  if (io != NULL && io->source != NULL)
    g_source_set_priority ((GSource *) io->source, priority);
}

void
coop_io_shutdown (CoopLoop *loop)
{
  IoState *io = io_state_peek (loop);
  g_autoptr(GError) error = NULL;
  GList *fds, *l;

  if (io == NULL)
    return;

  if (io->sweep != NULL)
    {
      coop_handle_cancel (io->sweep);
      g_clear_pointer (&io->sweep, coop_handle_unref);
    }
  error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "The loop was closed");
  fds = g_hash_table_get_keys (io->watches);
  for (l = fds; l != NULL; l = l->next)
    {
      Watch *watch = watch_lookup (io, GPOINTER_TO_INT (l->data));

      if (watch != NULL)
        watch_abort (io, watch, error);
    }
  g_list_free (fds);
  {
    GHashTableIter iter;
    gpointer value;

    /* The GPollFDs live in the watches: off the source before they go. */
    g_hash_table_iter_init (&iter, io->watches);
    while (g_hash_table_iter_next (&iter, NULL, &value))
      unpoll (io, value);
  }
  g_hash_table_remove_all (io->watches);
  g_object_set_qdata (G_OBJECT (loop), io_quark, NULL);

  io->dead = TRUE;
  if (io->dispatching == 0)
    io_state_free (io);
}

static void
io_state_free (IoState *io)
{
  io->source->io = NULL;
  g_source_destroy ((GSource *) io->source);
  g_source_unref ((GSource *) io->source);
  io->source = NULL;
  if (io->epfd >= 0)
    close (io->epfd);
  g_hash_table_unref (io->watches);
  g_ptr_array_unref (io->ready);
  g_free (io);
}

/* --- public API ------------------------------------------------------------------ */

/* @st: the fd's fstat, for watch_get(). */
static gboolean
check_fd (CoopLoop     *loop,
          int           fd,
          struct stat  *st,
          GError      **error)
{
  if (!coop_loop_check_usable (loop, error))
    return FALSE;
  if (fd < 0 || fstat (fd, st) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "%d is not an open file descriptor", fd);
      return FALSE;
    }
  if (S_ISREG (st->st_mode) || S_ISDIR (st->st_mode))
    {
      /* epoll refuses them and poll() always says "ready": nothing to wait for. */
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "File descriptor %d is a regular file or directory: it is always ready, "
                   "so there is no readiness to watch", fd);
      return FALSE;
    }
  return TRUE;
}

static CoopHandle *
add_callback (CoopLoop       *loop,
              int             fd,
              gboolean        write,
              CoopCallback    callback,
              gpointer        user_data,
              GDestroyNotify  notify,
              const char     *func)
{
  g_autoptr(GError) error = NULL;
  IoState *io;
  Watch *watch;
  CoopHandle **slot;
  CoopHandle *handle;
  struct stat st;
  int err;

  if (!check_fd (loop, fd, &st, &error))
    {
      g_critical ("%s: %s", func, error->message);
      if (notify != NULL)
        notify (user_data);
      return NULL;
    }

  io = io_state_get (loop);
  watch = watch_get (io, fd, &st);
  slot = write ? &watch->writer : &watch->reader;
  if (*slot != NULL)
    {
      /* asyncio replaces the previous callback: so do we. */
      coop_handle_finish_repeating (*slot);
      *slot = NULL;
    }
  handle = coop_handle_new_repeating (loop, callback, user_data, notify);
  *slot = handle;
  err = register_events (io, watch, wanted_events (watch), TRUE);
  if (err != 0)
    {
      g_critical ("%s: cannot watch file descriptor %d: %s", func, fd, g_strerror (err));
      *slot = NULL;
      coop_handle_finish_repeating (handle);
      watch_update (io, watch);
      return NULL;
    }
  return coop_handle_ref (handle);
}

static gboolean
remove_callback (CoopLoop *loop,
                 int       fd,
                 gboolean  write)
{
  IoState *io = io_state_peek (loop);
  Watch *watch;
  CoopHandle **slot;
  gboolean had;

  if (io == NULL || (watch = watch_lookup (io, fd)) == NULL)
    return FALSE;
  slot = write ? &watch->writer : &watch->reader;
  had = *slot != NULL && coop_handle_is_live (*slot);
  if (*slot != NULL)
    {
      coop_handle_finish_repeating (*slot);
      *slot = NULL;
    }
  watch_update (io, watch);
  return had;
}

/**
 * coop_loop_add_reader:
 * @loop: a loop
 * @fd: a file descriptor (a socket, pipe, terminal, eventfd...)
 * @callback: (scope notified) (closure user_data) (destroy notify): called
 *   on the loop's thread each iteration in which @fd is readable (or hung up)
 * @user_data: data for @callback
 * @notify: (nullable): frees @user_data once the reader is removed
 *
 * Watches @fd for reading, as asyncio's `add_reader()`: readiness is
 * level-triggered, so @callback keeps being called while data is waiting.
 * An fd has at most one reader: adding another replaces it.  Regular files
 * and directories are always ready and cannot be watched; neither can fds
 * that are not open (both are programming errors).  Remove the reader
 * (or call [method@Coop.Loop.forget_fd]) before closing @fd.
 *
 * Returns: (transfer full) (nullable): a handle; cancelling it removes the
 *   reader too
 */
CoopHandle *
coop_loop_add_reader (CoopLoop       *loop,
                      int             fd,
                      CoopCallback    callback,
                      gpointer        user_data,
                      GDestroyNotify  notify)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);
  g_return_val_if_fail (callback != NULL, NULL);

  return add_callback (loop, fd, FALSE, callback, user_data, notify, G_STRFUNC);
}

/**
 * coop_loop_add_writer:
 * @loop: a loop
 * @fd: a file descriptor
 * @callback: (scope notified) (closure user_data) (destroy notify): called
 *   on the loop's thread each iteration in which @fd is writable
 * @user_data: data for @callback
 * @notify: (nullable): frees @user_data once the writer is removed
 *
 * Watches @fd for writing, as asyncio's `add_writer()`; see
 * [method@Coop.Loop.add_reader].  An error or hang-up on @fd also calls
 * @callback, so it can notice the failed write.
 *
 * Returns: (transfer full) (nullable): a handle; cancelling it removes the
 *   writer too
 */
CoopHandle *
coop_loop_add_writer (CoopLoop       *loop,
                      int             fd,
                      CoopCallback    callback,
                      gpointer        user_data,
                      GDestroyNotify  notify)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);
  g_return_val_if_fail (callback != NULL, NULL);

  return add_callback (loop, fd, TRUE, callback, user_data, notify, G_STRFUNC);
}

/**
 * coop_loop_remove_reader:
 * @loop: a loop
 * @fd: a file descriptor
 *
 * Stops watching @fd for reading (the reader's destroy notify runs).
 *
 * Returns: whether @fd had a reader
 */
gboolean
coop_loop_remove_reader (CoopLoop *loop,
                         int       fd)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), FALSE);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, FALSE);

  return remove_callback (loop, fd, FALSE);
}

/**
 * coop_loop_remove_writer:
 * @loop: a loop
 * @fd: a file descriptor
 *
 * Stops watching @fd for writing (the writer's destroy notify runs).
 *
 * Returns: whether @fd had a writer
 */
gboolean
coop_loop_remove_writer (CoopLoop *loop,
                         int       fd)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), FALSE);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, FALSE);

  return remove_callback (loop, fd, TRUE);
}

static void
wait_fd_describe (CoopFuture *future,
                  gpointer    data,
                  GString    *out)
{
  WaitEntry *entry = data;

  g_string_append_printf (out, "fd %d %s", entry->fd, entry->write ? "writable" : "readable");
}

static CoopFuture *
wait_fd (CoopLoop *loop,
         int       fd,
         gboolean  write)
{
  CoopFuture *future = coop_future_new (loop);
  g_autoptr(GError) error = NULL;
  IoState *io;
  Watch *watch;
  WaitEntry *entry;
  struct stat st;
  int err;

  if (!check_fd (loop, fd, &st, &error))
    {
      coop_future_take_error (future, g_steal_pointer (&error));
      return future;
    }

  io = io_state_get (loop);
  watch = watch_get (io, fd, &st);
  entry = g_new0 (WaitEntry, 1);
  entry->waiter.func = entry_future_done;
  entry->future = g_object_ref (future);
  entry->io = io;
  entry->fd = fd;
  entry->write = write;
  entry->link.data = entry;
  entry->queued = TRUE;
  coop_future_set_describe (future, wait_fd_describe, entry);
  g_queue_push_tail_link (write ? &watch->write_waiters : &watch->read_waiters, &entry->link);
  io->n_waiting++;
  coop_future_add_waiter (future, &entry->waiter);

  err = register_events (io, watch, wanted_events (watch), TRUE);
  if (err != 0)
    coop_future_take_error (future, g_error_new (G_IO_ERROR, g_io_error_from_errno (err),
                                                 "Cannot watch file descriptor %d: %s",
                                                 fd, g_strerror (err)));
  else
    sweep_schedule (io);
  return future;
}

/**
 * coop_loop_wait_readable:
 * @loop: a loop
 * @fd: a file descriptor (a socket, pipe, terminal, eventfd...)
 *
 * Returns a future that finishes, with no value, once @fd is readable (or
 * hung up: the next read returns end-of-file).  From a task:
 * `coop_await (readable, &error)` and then read.  Any number of futures may
 * wait on one fd, beside a reader callback; cancelling one stops its wait.
 *
 * The future fails with `G_IO_ERROR_INVALID_ARGUMENT` if @fd is not open,
 * `G_IO_ERROR_NOT_SUPPORTED` for a regular file, and `G_IO_ERROR_CLOSED` if
 * @fd is closed while it waits (noticed within two seconds, at once
 * through [method@Coop.Loop.forget_fd], or as soon as the number, reused
 * for another file, is watched again).
 *
 * Returns: (transfer full): a new future
 */
CoopFuture *
coop_loop_wait_readable (CoopLoop *loop,
                         int       fd)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  return wait_fd (loop, fd, FALSE);
}

/**
 * coop_loop_wait_writable:
 * @loop: a loop
 * @fd: a file descriptor
 *
 * Returns a future that finishes, with no value, once @fd is writable; it
 * fails with the socket's error (for example `G_IO_ERROR_BROKEN_PIPE` or
 * `G_IO_ERROR_CONNECTION_REFUSED`) if @fd reports an error or hang-up
 * instead.  See [method@Coop.Loop.wait_readable].
 *
 * Returns: (transfer full): a new future
 */
CoopFuture *
coop_loop_wait_writable (CoopLoop *loop,
                         int       fd)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  return wait_fd (loop, fd, TRUE);
}

/**
 * coop_loop_forget_fd:
 * @loop: a loop
 * @fd: a file descriptor about to be closed
 *
 * Drops everything watching @fd: its reader and writer are removed and the
 * futures waiting on it fail with `G_IO_ERROR_CLOSED`.  Call it before
 * closing a watched fd (an fd closed while registered vanishes from epoll
 * without an event).
 *
 * Without it, what watched the old fd is lost, never what watches a new fd
 * that gets the same number: watching that number again (a reader, a
 * writer or a wait) fails the old fd's waiters with `G_IO_ERROR_CLOSED`
 * and drops its callbacks, and the new fd is watched at once.
 */
void
coop_loop_forget_fd (CoopLoop *loop,
                     int       fd)
{
  IoState *io;
  Watch *watch;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (COOP_IS_LOOP (loop));
  coop_return_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE);

  io = io_state_peek (loop);
  if (io == NULL || (watch = watch_lookup (io, fd)) == NULL)
    return;
  error = closed_error (fd);
  watch_abort (io, watch, error);
}

/**
 * coop_loop_get_n_watched_fds:
 * @loop: a loop
 *
 * Gets the number of file descriptors @loop watches.
 *
 * Returns: how many file descriptors the loop watches (for a reader, a
 *   writer or a waiting future)
 */
guint
coop_loop_get_n_watched_fds (CoopLoop *loop)
{
  IoState *io;

  g_return_val_if_fail (COOP_IS_LOOP (loop), 0);

  io = io_state_peek (loop);
  return io != NULL ? g_hash_table_size (io->watches) : 0;
}

/**
 * coop_loop_get_io_backend:
 * @loop: a loop
 *
 * Gets the name of the fd readiness backend of @loop.
 *
 * Returns: "epoll" or "poll" (the portable fallback, chosen at build time
 *   where epoll is missing, or with the environment variable
 *   `COOP_IO_BACKEND=poll`)
 */
const char *
coop_loop_get_io_backend (CoopLoop *loop)
{
  IoState *io;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);

  io = io_state_peek (loop);
  if (io == NULL)
    return use_epoll () ? "epoll" : "poll";
  return io->epfd >= 0 ? "epoll" : "poll";
}
