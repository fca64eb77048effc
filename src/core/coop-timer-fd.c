/* coop-timer-fd.c: waking the loop when its earliest timer is due.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The timer source (coop-loop.c) sets its GLib ready time to the earliest
 * deadline, and GLib turns that into a poll() timeout in whole
 * milliseconds, rounded up: a timer due in 300 µs wakes the loop after
 * 1 ms, and half a millisecond of lateness is the floor.  A timerfd armed
 * at the deadline (absolute, CLOCK_MONOTONIC, which is GLib's monotonic
 * clock) sits in the source's poll set and wakes the poll on time; the
 * ready time stays as it was, so nothing else about dispatch changes.
 *
 * Cost.  The timerfd is re-armed only when a deadline earlier than the
 * armed one arrives (one timerfd_settime), and read only when the poll
 * reported it (one read).  A later deadline never re-arms: if the armed
 * timer was cancelled the fd wakes the loop once for nothing, and the
 * dispatch then arms the real earliest deadline.  With no timer pending
 * nothing is armed, so an idle loop never wakes.
 *
 * It is made on the first deadline: a loop that never sets a timer holds
 * no descriptor for it.  A child of fork() shares the parent's timerfd; arming it there would
 * move the parent's wake-up.  The child makes its own (coop-fork.c).
 *
 * COOP_TIMER_FD=0 leaves it out (GLib's millisecond wake-ups alone): how
 * the fallback is tested, and the behaviour where timerfd is missing.
 */
#include "config.h"

#include <errno.h>
#include <unistd.h>
#ifdef HAVE_TIMERFD
#include <sys/timerfd.h>
#endif

#include "coop-private.h"

/* Made on the first deadline, so a loop that never sets a timer holds no
 * descriptor for it. */
static void
timer_fd_open (CoopTimerFd *tfd,
               GSource     *source)
{
  tfd->opened = TRUE;
  tfd->armed = G_MAXINT64;
  tfd->fork_generation = coop_fork_watch ();
#ifdef HAVE_TIMERFD
  if (g_strcmp0 (g_getenv ("COOP_TIMER_FD"), "0") == 0)
    return;
  tfd->fd = timerfd_create (CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (tfd->fd >= 0)
    tfd->tag = g_source_add_unix_fd (source, tfd->fd, G_IO_IN);
#endif
}

void
coop_timer_fd_init (CoopTimerFd *tfd)
{
  tfd->fd = -1;
  tfd->tag = NULL;
  tfd->armed = G_MAXINT64;
  tfd->opened = FALSE;
}

void
coop_timer_fd_clear (CoopTimerFd *tfd,
                     GSource     *source)
{
  tfd->opened = FALSE;
  if (tfd->fd < 0)
    return;
  /* A destroyed source has dropped its fds already. */
  if (source != NULL && !g_source_is_destroyed (source))
    g_source_remove_unix_fd (source, tfd->tag);
  close (tfd->fd);
  tfd->fd = -1;
  tfd->tag = NULL;
  tfd->armed = G_MAXINT64;
}

void
coop_timer_fd_arm (CoopTimerFd *tfd,
                   GSource     *source,
                   gint64       deadline)
{
#ifdef HAVE_TIMERFD
  struct itimerspec spec = { { 0, 0 }, { 0, 0 } };

  if (deadline < 0)
    return;
  if (G_UNLIKELY (!tfd->opened))
    timer_fd_open (tfd, source);
  else if (G_UNLIKELY (tfd->fork_generation != coop_fork_generation))
    {
      /* Closing our copy leaves the parent's timerfd as it was. */
      coop_timer_fd_clear (tfd, source);
      timer_fd_open (tfd, source);
    }
  if (tfd->fd < 0 || deadline >= tfd->armed)
    return;
  /* A deadline of 0 would disarm: the earliest a timer can be is 1 µs. */
  deadline = MAX (deadline, 1);
  spec.it_value.tv_sec = deadline / G_USEC_PER_SEC;
  spec.it_value.tv_nsec = (deadline % G_USEC_PER_SEC) * 1000;
  if (timerfd_settime (tfd->fd, TFD_TIMER_ABSTIME, &spec, NULL) == 0)
    tfd->armed = deadline;
#else
  (void) tfd; (void) source; (void) deadline;
#endif
}

/* From the timer source's dispatch, at @now: consumes the expiry the poll
 * reported, and forgets an armed deadline that has passed, so that the
 * next arm sets the timer again (which also resets an expiry the poll has
 * not reported yet). */
void
coop_timer_fd_fired (CoopTimerFd *tfd,
                     GSource     *source,
                     gint64       now)
{
  guint64 expirations;

  if (tfd->fd < 0)
    return;
  if (g_source_query_unix_fd (source, tfd->tag) & G_IO_IN)
    {
      while (read (tfd->fd, &expirations, sizeof expirations) < 0 && errno == EINTR)
        ;
    }
  if (tfd->armed <= now)
    tfd->armed = G_MAXINT64;
}
