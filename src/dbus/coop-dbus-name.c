/* coop-dbus-name.c: owning and watching bus names, awaited.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-dbus-private.h"

/* --- owning a name ----------------------------------------------------------------
 *
 * g_bus_own_name_on_connection() reports through callbacks, for as long
 * as the name is owned.  A record per owner id turns them into futures:
 * the one of coop_bus_own_name() (acquired, or not), and those of
 * coop_bus_wait_name_lost().  The table of records is only touched on
 * loop threads, but a program may have several loops: it has a lock.
 * References on a record: the table's and GIO's user data. */

typedef struct
{
  gint        ref_count;        /* atomic */
  guint       owner_id;
  char       *name;
  CoopLoop   *loop;
  CoopFuture *acquire;          /* pending coop_bus_own_name() future, or NULL */
  GPtrArray  *lost_waiters;     /* futures of coop_bus_wait_name_lost() */
  gboolean    owned;
  gboolean    released;         /* unowned: ignore late callbacks */
} Owner;

G_LOCK_DEFINE_STATIC (owners);
static GHashTable *owners;      /* owner id -> Owner */

static Owner *
owner_ref (Owner *owner)
{
  g_atomic_int_inc (&owner->ref_count);
  return owner;
}

static void
owner_unref (gpointer data)
{
  Owner *owner = data;

  if (!g_atomic_int_dec_and_test (&owner->ref_count))
    return;
  g_clear_object (&owner->acquire);
  g_ptr_array_unref (owner->lost_waiters);
  g_object_unref (owner->loop);
  g_free (owner->name);
  g_free (owner);
}

/* Takes the record out of the table (a reference for the caller), or NULL. */
static Owner *
owner_steal (guint owner_id)
{
  Owner *owner = NULL;

  G_LOCK (owners);
  if (owners != NULL)
    g_hash_table_steal_extended (owners, GUINT_TO_POINTER (owner_id), NULL, (gpointer *) &owner);
  G_UNLOCK (owners);
  return owner;
}

static Owner *
owner_lookup (guint owner_id)
{
  Owner *owner = NULL;

  G_LOCK (owners);
  if (owners != NULL)
    owner = g_hash_table_lookup (owners, GUINT_TO_POINTER (owner_id));
  if (owner != NULL)
    owner_ref (owner);
  G_UNLOCK (owners);
  return owner;
}

/* Gives the name up: GIO's ownership and the record go; whoever waits for
 * the loss is told. */
static void
owner_release (Owner *owner)
{
  Owner *stolen = owner_steal (owner->owner_id);

  owner->released = TRUE;
  g_bus_unown_name (owner->owner_id);
  for (guint i = 0; i < owner->lost_waiters->len; i++)
    {
      CoopFuture *waiter = owner->lost_waiters->pdata[i];

      if (!coop_future_is_done (waiter))
        coop_future_set_none (waiter);
    }
  g_ptr_array_set_size (owner->lost_waiters, 0);
  if (stolen != NULL)
    owner_unref (stolen);
}

static void
own_acquired (GDBusConnection *connection,
              const char      *name,
              gpointer         data)
{
  Owner *owner = data;
  g_autoptr(CoopFuture) acquire = g_steal_pointer (&owner->acquire);

  if (owner->released)
    return;
  owner->owned = TRUE;
  if (acquire != NULL && !coop_future_is_done (acquire))
    {
      GValue value = G_VALUE_INIT;

      g_value_init (&value, G_TYPE_UINT);
      g_value_set_uint (&value, owner->owner_id);
      coop_future_set_value (acquire, &value);
    }
}

static void
own_lost (GDBusConnection *connection,
          const char      *name,
          gpointer         data)
{
  Owner *owner = data;
  g_autoptr(CoopFuture) acquire = g_steal_pointer (&owner->acquire);

  if (owner->released)
    return;
  if (acquire != NULL)
    {
      /* Never acquired: the future fails, and its done callback withdraws
       * the request (a queued request would acquire the name later, with
       * nobody awaiting it).  Not from here: GIO calls this before it
       * knows whether there is anything to release. */
      if (!coop_future_is_done (acquire))
        {
          if (connection == NULL || g_dbus_connection_is_closed (connection))
            coop_future_take_error (acquire, g_error_new (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                                          "Could not own the name %s: the "
                                                          "connection is closed", name));
          else
            coop_future_take_error (acquire, g_error_new (G_IO_ERROR, G_IO_ERROR_EXISTS,
                                                          "Could not own the name %s: another "
                                                          "connection owns it", name));
        }
      return;
    }
  owner->owned = FALSE;
  for (guint i = 0; i < owner->lost_waiters->len; i++)
    {
      CoopFuture *waiter = owner->lost_waiters->pdata[i];

      if (!coop_future_is_done (waiter))
        coop_future_set_none (waiter);
    }
  g_ptr_array_set_size (owner->lost_waiters, 0);
}

/* The acquire future is done: if it did not succeed (cancelled, timed out,
 * failed), nobody will ever hold the name through it. */
static void
own_future_done (CoopFuture *future,
                 gpointer    data)
{
  Owner *owner = data;

  if (coop_future_get_state (future) != COOP_FUTURE_STATE_FINISHED && !owner->released)
    owner_release (owner);
}

/**
 * coop_bus_own_name:
 * @loop: the loop
 * @connection: a message bus connection
 * @name: the well-known name to own
 * @flags: flags of the request, as for g_bus_own_name()
 *
 * Asks the bus for @name, as g_bus_own_name_on_connection(), and awaits
 * the answer: the future finishes once @name is acquired, with the owner
 * id (read it with [func@Coop.bus_own_name_finish]), or fails if the bus
 * gave it to another connection (`G_IO_ERROR_EXISTS`) or the connection
 * closed (`G_IO_ERROR_CLOSED`).  Then, and when the future is cancelled
 * (or a timeout around it expires), the request is withdrawn: a name that
 * was not acquired does not come later.
 *
 * Once acquired, the name is owned until [func@Coop.bus_unown_name]
 * (not g_bus_unown_name(): the id is Coop's record too);
 * [func@Coop.bus_wait_name_lost] awaits its loss to another connection
 * (one that asked with %G_BUS_NAME_OWNER_FLAGS_REPLACE, if @flags allow
 * replacement).  Call this on the loop's thread.
 *
 * Returns: (transfer full): a future for the owner id
 */
CoopFuture *
coop_bus_own_name (CoopLoop           *loop,
                   GDBusConnection    *connection,
                   const char         *name,
                   GBusNameOwnerFlags  flags)
{
  CoopFuture *future;
  GMainContext *pushed;
  GError *error = NULL;
  Owner *owner;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  g_return_val_if_fail (name != NULL && g_dbus_is_name (name) && !g_dbus_is_unique_name (name), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  future = coop_future_new (loop);
  if (!coop_loop_check_usable (loop, &error) ||
      !coop_loop_push_context (loop, "Owning a bus name", &pushed, &error))
    {
      coop_future_take_error (future, error);
      return future;
    }
  owner = g_new0 (Owner, 1);
  owner->ref_count = 2;   /* the table's, GIO's */
  owner->name = g_strdup (name);
  owner->loop = g_object_ref (loop);
  owner->acquire = g_object_ref (future);
  owner->lost_waiters = g_ptr_array_new_with_free_func (g_object_unref);
  owner->owner_id = g_bus_own_name_on_connection (connection, name, flags, own_acquired,
                                                  own_lost, owner, owner_unref);
  coop_dbus_op_end (pushed);

  G_LOCK (owners);
  if (owners == NULL)
    owners = g_hash_table_new_full (NULL, NULL, NULL, owner_unref);
  g_hash_table_insert (owners, GUINT_TO_POINTER (owner->owner_id), owner);
  G_UNLOCK (owners);

  coop_future_add_done_callback (future, own_future_done, owner_ref (owner), owner_unref);
  return future;
}

/**
 * coop_bus_own_name_finish:
 * @future: a finished future of [func@Coop.bus_own_name]
 * @error: return location for an error
 *
 * Gets the owner id of an acquired name, for [func@Coop.bus_unown_name]
 * and [func@Coop.bus_wait_name_lost].
 *
 * Returns: the owner id, or 0 with @error set (the name was not
 *   acquired, @future is not done, or is not one of these:
 *   `COOP_ERROR_NO_RESULT`)
 */
guint
coop_bus_own_name_finish (CoopFuture  *future,
                          GError     **error)
{
  const GValue *value;

  g_return_val_if_fail (COOP_IS_FUTURE (future), 0);
  g_return_val_if_fail (error == NULL || *error == NULL, 0);

  value = coop_future_get_value (future, error);
  if (value == NULL || !G_VALUE_HOLDS_UINT (value))
    {
      if (error != NULL && *error == NULL)
        g_set_error_literal (error, COOP_ERROR, COOP_ERROR_NO_RESULT,
                             "The future's result is not a bus name owner id");
      return 0;
    }
  return g_value_get_uint (value);
}

/**
 * coop_bus_wait_name_lost:
 * @loop: the loop
 * @owner_id: an owner id from [func@Coop.bus_own_name_finish]
 *
 * Awaits the loss of an owned name: the future finishes with no value
 * when another connection takes it over, the connection closes, or the
 * name is given up with [func@Coop.bus_unown_name].  If the name is not
 * owned now (lost, not acquired yet), it finishes at once; it fails with
 * `G_IO_ERROR_NOT_FOUND` for an id that is not (or no longer) Coop's.
 * Call this on the loop's thread.
 *
 * Returns: (transfer full): a future
 */
CoopFuture *
coop_bus_wait_name_lost (CoopLoop *loop,
                         guint     owner_id)
{
  CoopFuture *future;
  Owner *owner;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  future = coop_future_new (loop);
  owner = owner_lookup (owner_id);
  if (owner == NULL)
    coop_future_take_error (future, g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                                                 "No bus name is owned with id %u", owner_id));
  else if (!owner->owned)
    coop_future_set_none (future);
  else
    g_ptr_array_add (owner->lost_waiters, g_object_ref (future));
  if (owner != NULL)
    owner_unref (owner);
  return future;
}

/**
 * coop_bus_unown_name:
 * @owner_id: an owner id from [func@Coop.bus_own_name_finish]
 *
 * Gives up a name owned with [func@Coop.bus_own_name], as
 * g_bus_unown_name().  The futures of [func@Coop.bus_wait_name_lost]
 * finish.  Call this on the thread of the loop that owned it.
 */
void
coop_bus_unown_name (guint owner_id)
{
  Owner *owner;

  g_return_if_fail (owner_id != 0);

  owner = owner_lookup (owner_id);
  if (owner == NULL)
    {
      g_critical ("coop_bus_unown_name: no bus name is owned with id %u "
                  "(given up already, or not from coop_bus_own_name())", owner_id);
      return;
    }
  owner_release (owner);
  owner_unref (owner);
}

/* --- watching a name --------------------------------------------------------------- */

typedef struct
{
  CoopFuture *future;
  guint       watch_id;
} Watch;

static void
watch_appeared (GDBusConnection *connection,
                const char      *name,
                const char      *name_owner,
                gpointer         data)
{
  Watch *watch = data;

  if (!coop_future_is_done (watch->future))
    coop_future_set_string (watch->future, name_owner);
}

static void
watch_vanished (GDBusConnection *connection,
                const char      *name,
                gpointer         data)
{
  Watch *watch = data;

  /* Not there yet: wait on, unless nothing can ever come. */
  if (!coop_future_is_done (watch->future) &&
      (connection == NULL || g_dbus_connection_is_closed (connection)))
    coop_future_take_error (watch->future, g_error_new (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                                        "The connection closed while waiting "
                                                        "for the name %s", name));
}

static void
watch_free (gpointer data)
{
  Watch *watch = data;

  g_object_unref (watch->future);
  g_free (watch);
}

static void
watch_future_done (CoopFuture *future,
                   gpointer    data)
{
}

/* The future is done (or its loop closed): the watch goes.  GIO frees the
 * Watch itself when it has let go of it. */
static void
watch_stop (gpointer data)
{
  g_bus_unwatch_name (GPOINTER_TO_UINT (data));
}

/**
 * coop_bus_watch_name:
 * @loop: the loop
 * @connection: a message bus connection
 * @name: the name to wait for
 * @flags: flags of the watch, as for g_bus_watch_name()
 *
 * Awaits a name on the bus, as g_bus_watch_name_on_connection(): the
 * future finishes, with the unique name of its owner (read it with
 * [func@Coop.bus_watch_name_finish]), as soon as @name has an owner,
 * at once if it has one already.  It fails with `G_IO_ERROR_CLOSED` if
 * the connection closes first.  The watch ends with the future: to wait
 * at most so long, put a timeout around it:
 *
 * ```c
 * g_autoptr(CoopFuture) watch = coop_bus_watch_name (loop, bus, "org.example.Clock",
 *                                                    G_BUS_NAME_WATCHER_FLAGS_NONE);
 * g_autoptr(CoopFuture) seen = coop_wait_for (watch, 5 * G_USEC_PER_SEC);
 *
 * if (coop_await (seen, &error))
 *   owner = coop_bus_watch_name_finish (watch, &error);
 * ```
 *
 * Call this on the loop's thread.
 *
 * Returns: (transfer full): a future for the owner's unique name
 */
CoopFuture *
coop_bus_watch_name (CoopLoop             *loop,
                     GDBusConnection      *connection,
                     const char           *name,
                     GBusNameWatcherFlags  flags)
{
  CoopFuture *future;
  GMainContext *pushed;
  GError *error = NULL;
  Watch *watch;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  g_return_val_if_fail (name != NULL && g_dbus_is_name (name), NULL);
  coop_return_val_if_wrong_thread (loop, COOP_INSTEAD_THREADSAFE, NULL);

  future = coop_future_new (loop);
  if (!coop_loop_check_usable (loop, &error) ||
      !coop_loop_push_context (loop, "Watching a bus name", &pushed, &error))
    {
      coop_future_take_error (future, error);
      return future;
    }
  watch = g_new0 (Watch, 1);
  watch->future = g_object_ref (future);
  watch->watch_id = g_bus_watch_name_on_connection (connection, name, flags, watch_appeared,
                                                    watch_vanished, watch, watch_free);
  coop_dbus_op_end (pushed);
  coop_future_add_done_callback (future, watch_future_done,
                                 GUINT_TO_POINTER (watch->watch_id), watch_stop);
  return future;
}

/**
 * coop_bus_watch_name_finish:
 * @future: a finished future of [func@Coop.bus_watch_name]
 * @error: return location for an error
 *
 * Gets the unique name of the owner that [func@Coop.bus_watch_name] saw.
 *
 * Returns: (transfer full) (nullable): the owner's unique name, or %NULL
 *   with @error set (no owner came, @future is not done, or is not one of
 *   these: `COOP_ERROR_NO_RESULT`)
 */
char *
coop_bus_watch_name_finish (CoopFuture  *future,
                            GError     **error)
{
  const GValue *value;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  value = coop_future_get_value (future, error);
  if (value == NULL || !G_VALUE_HOLDS_STRING (value) || g_value_get_string (value) == NULL)
    {
      if (error != NULL && *error == NULL)
        g_set_error_literal (error, COOP_ERROR, COOP_ERROR_NO_RESULT,
                             "The future's result is not a bus name");
      return NULL;
    }
  return g_value_dup_string (value);
}
