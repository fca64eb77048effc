/* coop-error.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"

static const GDBusErrorEntry coop_error_entries[] = {
  { COOP_ERROR_FAILED, "org.gnome.Coop.Error.Failed" },
  { COOP_ERROR_NOT_IN_TASK, "org.gnome.Coop.Error.NotInTask" },
  { COOP_ERROR_INVALID_STATE, "org.gnome.Coop.Error.InvalidState" },
  { COOP_ERROR_LOOP_CLOSED, "org.gnome.Coop.Error.LoopClosed" },
  { COOP_ERROR_WRONG_LOOP, "org.gnome.Coop.Error.WrongLoop" },
  { COOP_ERROR_NO_RESULT, "org.gnome.Coop.Error.NoResult" },
  { COOP_ERROR_NOT_SUPPORTED, "org.gnome.Coop.Error.NotSupported" },
  { COOP_ERROR_QUEUE_EMPTY, "org.gnome.Coop.Error.QueueEmpty" },
  { COOP_ERROR_QUEUE_FULL, "org.gnome.Coop.Error.QueueFull" },
  { COOP_ERROR_QUEUE_SHUT_DOWN, "org.gnome.Coop.Error.QueueShutDown" },
  { COOP_ERROR_BROKEN_BARRIER, "org.gnome.Coop.Error.BrokenBarrier" },
};

/**
 * coop_error_quark:
 *
 * The quark of the %COOP_ERROR domain.
 *
 * Returns: the error domain
 */
GQuark
coop_error_quark (void)
{
  static gsize quark = 0;

  /* Registering the domain with GDBus makes it a named, registered domain
   * (bindings such as GJS drop errors of unknown domains). */
  g_dbus_error_register_error_domain ("coop-error-quark", &quark,
                                      coop_error_entries,
                                      G_N_ELEMENTS (coop_error_entries));
  return (GQuark) quark;
}

G_DEFINE_ENUM_TYPE (CoopError, coop_error,
  G_DEFINE_ENUM_VALUE (COOP_ERROR_FAILED, "failed"),
  G_DEFINE_ENUM_VALUE (COOP_ERROR_NOT_IN_TASK, "not-in-task"),
  G_DEFINE_ENUM_VALUE (COOP_ERROR_INVALID_STATE, "invalid-state"),
  G_DEFINE_ENUM_VALUE (COOP_ERROR_LOOP_CLOSED, "loop-closed"),
  G_DEFINE_ENUM_VALUE (COOP_ERROR_WRONG_LOOP, "wrong-loop"),
  G_DEFINE_ENUM_VALUE (COOP_ERROR_NO_RESULT, "no-result"),
  G_DEFINE_ENUM_VALUE (COOP_ERROR_NOT_SUPPORTED, "not-supported"),
  G_DEFINE_ENUM_VALUE (COOP_ERROR_QUEUE_EMPTY, "queue-empty"),
  G_DEFINE_ENUM_VALUE (COOP_ERROR_QUEUE_FULL, "queue-full"),
  G_DEFINE_ENUM_VALUE (COOP_ERROR_QUEUE_SHUT_DOWN, "queue-shut-down"),
  G_DEFINE_ENUM_VALUE (COOP_ERROR_BROKEN_BARRIER, "broken-barrier"))

G_DEFINE_ENUM_TYPE (CoopFutureState, coop_future_state,
  G_DEFINE_ENUM_VALUE (COOP_FUTURE_STATE_PENDING, "pending"),
  G_DEFINE_ENUM_VALUE (COOP_FUTURE_STATE_FINISHED, "finished"),
  G_DEFINE_ENUM_VALUE (COOP_FUTURE_STATE_FAILED, "failed"),
  G_DEFINE_ENUM_VALUE (COOP_FUTURE_STATE_CANCELLED, "cancelled"))

G_DEFINE_ENUM_TYPE (CoopWaitMode, coop_wait_mode,
  G_DEFINE_ENUM_VALUE (COOP_WAIT_FIRST_COMPLETED, "first-completed"),
  G_DEFINE_ENUM_VALUE (COOP_WAIT_FIRST_EXCEPTION, "first-exception"),
  G_DEFINE_ENUM_VALUE (COOP_WAIT_ALL_COMPLETED, "all-completed"))

GError *
coop_cancelled_error_new (const char *message)
{
  return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                              message != NULL ? message : "Operation was cancelled");
}
