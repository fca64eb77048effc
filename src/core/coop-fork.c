/* coop-fork.c: noticing fork() in the child.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A child of fork() inherits the parent's kernel objects that a loop
 * holds by file descriptor (the epoll instance in coop-io.c, the timerfd
 * of the timer source): shared objects, so a child that kept using them
 * would disarm the parent's timers and steal its readiness.  Each holder
 * records the generation it was made in and, when it differs, makes its
 * own.  Checking is one load and a compare, so it can sit on the paths
 * that use the descriptor.
 */
#include "config.h"

#include <pthread.h>

#include "coop-private.h"

/* Bumped in the child of every fork(): the child runs on one thread, so a
 * plain increment; other threads of the parent never see it change. */
guint coop_fork_generation;

static void
atfork_child (void)
{
  coop_fork_generation++;
}

/* Registers the handler the first time a holder asks, and returns the
 * generation to record. */
guint
coop_fork_watch (void)
{
  static gsize registered = 0;

  if (g_once_init_enter (&registered))
    {
      pthread_atfork (NULL, NULL, atfork_child);
      g_once_init_leave (&registered, 1);
    }
  return coop_fork_generation;
}
