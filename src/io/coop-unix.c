/* coop-unix.c: Unix signals and subprocesses on the loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"

#include <errno.h>
#include <glib-unix.h>
#include <sys/socket.h>
#include <unistd.h>
#include <signal.h>
#include <string.h>

/* ===========================================================================
 * Unix signals
 *
 * Signals are received with GLib's own machinery (g_unix_signal_source_new):
 * GLib's async-signal-safe handler only records the signal and wakes the
 * contexts that watch it, whose sources then dispatch as any other.  Per
 * loop, the state lives in the loop's qdata: one GUnixSignalSource per
 * signal number that anyone (a handler or a pending wait) listens to,
 * shared by all of them, attached to the loop's context at the loop's
 * priority, and destroyed as soon as the last listener goes (GLib then
 * restores the signal's default action).
 *
 * coop-loop.c does not tell us when the loop is closed, so while any
 * signal source exists, a small "guard" source watches for it: its prepare
 * reports the loop closed, and its dispatch tears everything down (the
 * sources leave the context, handlers are dropped with their destroy
 * notifies, pending waits are cancelled).  A signal source that fires
 * after close, before the guard ran, does the same instead of calling
 * anyone.  The qdata's destroy notify tears down what is left when the
 * loop is finalized.
 * ======================================================================== */

static const int supported_signals[] = { SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH };
#define N_SUPPORTED_SIGNALS G_N_ELEMENTS (supported_signals)

static int
signal_index (int signum)
{
  guint i;

  for (i = 0; i < N_SUPPORTED_SIGNALS; i++)
    if (supported_signals[i] == signum)
      return (int) i;
  return -1;
}

typedef struct _UnixState UnixState;

typedef struct
{
  UnixState *state;
  int        signum;
  GSource   *source;     /* the GUnixSignalSource, while anyone listens */
  GQueue     handlers;   /* Handler *, in registration order */
  GQueue     waiters;    /* CoopSignalFuture *, one reference each */
} Watch;

typedef struct
{
  int             ref_count;  /* the table's, plus one while the callback runs */
  guint           id;
  Watch          *watch;      /* NULL once removed */
  GList           link;       /* in watch->handlers */
  CoopCallback    callback;
  gpointer        user_data;
  GDestroyNotify  notify;
} Handler;

typedef struct
{
  GSource    source;
  UnixState *state;
} GuardSource;

struct _UnixState
{
  CoopLoop   *loop;        /* not owned: this is the loop's qdata */
  GSource    *guard;       /* while any watch has a source */
  GHashTable *handlers;    /* id -> Handler * (the table's reference) */
  guint       last_id;
  gboolean    torn_down;   /* the loop was closed or finalized */
  Watch       watches[N_SUPPORTED_SIGNALS];
};

/* The future of coop_unix_signal_wait(). */
#define COOP_TYPE_SIGNAL_FUTURE (coop_signal_future_get_type ())
G_DECLARE_FINAL_TYPE (CoopSignalFuture, coop_signal_future, COOP, SIGNAL_FUTURE, CoopFuture)

struct _CoopSignalFuture
{
  CoopFuture  parent_instance;

  Watch      *watch;        /* while waiting; the watch holds a reference */
  GList       link;         /* in watch->waiters */
  CoopWaiter  self_waiter;  /* notices a completion from elsewhere (cancel) */
};

G_DEFINE_FINAL_TYPE (CoopSignalFuture, coop_signal_future, COOP_TYPE_FUTURE)

static GQuark
unix_state_quark (void)
{
  static GQuark quark;

  if (G_UNLIKELY (quark == 0))
    quark = g_quark_from_static_string ("coop-unix-state");
  return quark;
}

static void
handler_unref (Handler *handler)
{
  if (--handler->ref_count > 0)
    return;
  if (handler->notify != NULL)
    handler->notify (handler->user_data);
  g_free (handler);
}

static void
source_clear (GSource **sourcep)
{
  GSource *source = g_steal_pointer (sourcep);

  if (source != NULL)
    {
      g_source_destroy (source);
      g_source_unref (source);
    }
}

static gboolean watch_dispatch (gpointer data);
static void unix_state_teardown (UnixState *state,
                                 gboolean   finalizing);

/* --- the guard: notices that the loop was closed --------------------------- */

static gboolean
guard_prepare (GSource *source,
               int     *timeout)
{
  *timeout = -1;
  return coop_loop_is_closed (((GuardSource *) source)->state->loop);
}

static gboolean
guard_check (GSource *source)
{
  return coop_loop_is_closed (((GuardSource *) source)->state->loop);
}

static gboolean
guard_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  unix_state_teardown (((GuardSource *) source)->state, FALSE);
  return G_SOURCE_REMOVE;
}

static GSourceFuncs guard_source_funcs = {
  guard_prepare,
  guard_check,
  guard_dispatch,
  NULL, NULL, NULL,
};

/* The loop's priority may have changed since the sources were made. */
static void
unix_state_sync_priority (UnixState *state)
{
  int priority = coop_loop_get_priority (state->loop);
  guint i;

  if (state->guard != NULL && g_source_get_priority (state->guard) != priority)
    g_source_set_priority (state->guard, priority);
  for (i = 0; i < N_SUPPORTED_SIGNALS; i++)
    if (state->watches[i].source != NULL &&
        g_source_get_priority (state->watches[i].source) != priority)
      g_source_set_priority (state->watches[i].source, priority);
}

static void
watch_ensure_source (Watch *watch)
{
  UnixState *state = watch->state;
  GMainContext *context = coop_loop_get_context (state->loop);

  if (state->guard == NULL)
    {
      state->guard = g_source_new (&guard_source_funcs, sizeof (GuardSource));
      ((GuardSource *) state->guard)->state = state;
      g_source_set_static_name (state->guard, "[coop-signal-guard]");
      g_source_set_priority (state->guard, coop_loop_get_priority (state->loop));
      g_source_attach (state->guard, context);
    }
  if (watch->source == NULL)
    {
      watch->source = g_unix_signal_source_new (watch->signum);
      g_source_set_static_name (watch->source, "[coop-signal]");
      g_source_set_priority (watch->source, coop_loop_get_priority (state->loop));
      g_source_set_callback (watch->source, watch_dispatch, watch, NULL);
      g_source_attach (watch->source, context);
    }
  unix_state_sync_priority (state);
}

/* Destroys the signal's source once nobody listens, and the guard once no
 * signal is watched. */
static void
watch_maybe_release (Watch *watch)
{
  UnixState *state = watch->state;
  guint i;

  if (watch->source == NULL || watch->handlers.length > 0 || watch->waiters.length > 0)
    return;
  source_clear (&watch->source);
  for (i = 0; i < N_SUPPORTED_SIGNALS; i++)
    if (state->watches[i].source != NULL)
      return;
  source_clear (&state->guard);
}

/* Takes a waiting future out of its watch: the caller then owns the
 * reference the watch held. */
static void
signal_future_unlink (CoopSignalFuture *self)
{
  Watch *watch = self->watch;

  self->watch = NULL;
  g_queue_unlink (&watch->waiters, &self->link);
  coop_future_remove_waiter (COOP_FUTURE (self), &self->self_waiter);
}

/* Everything goes: the signal sources leave the context, handlers are
 * dropped (their destroy notifies run) and pending waits are cancelled.
 * When the loop is being finalized no wait can be pending (each holds a
 * reference on the loop), and nothing may be queued on it any more. */
static void
unix_state_teardown (UnixState *state,
                     gboolean   finalizing)
{
  GList *handlers, *l;
  GQueue cancelled = G_QUEUE_INIT;
  guint i;

  if (state->torn_down)
    return;
  state->torn_down = TRUE;

  for (i = 0; i < N_SUPPORTED_SIGNALS; i++)
    {
      Watch *watch = &state->watches[i];

      source_clear (&watch->source);
      while (watch->handlers.head != NULL)
        {
          Handler *handler = watch->handlers.head->data;

          g_queue_unlink (&watch->handlers, &handler->link);
          handler->watch = NULL;
        }
      while (watch->waiters.head != NULL)
        {
          CoopSignalFuture *future = watch->waiters.head->data;

          signal_future_unlink (future);
          g_queue_push_tail (&cancelled, future);
        }
    }
  source_clear (&state->guard);

  /* Internal state is consistent: now what may run code. */
  while (!g_queue_is_empty (&cancelled))
    {
      CoopFuture *future = g_queue_pop_head (&cancelled);

      if (!finalizing && !coop_future_is_done (future))
        coop_future_set_cancelled (future, "The loop was closed");
      g_object_unref (future);
    }

  handlers = g_hash_table_get_values (state->handlers);
  g_hash_table_remove_all (state->handlers);
  for (l = handlers; l != NULL; l = l->next)
    handler_unref (l->data);
  g_list_free (handlers);
}

static void
unix_state_free (gpointer data)
{
  UnixState *state = data;

  unix_state_teardown (state, TRUE);
  g_hash_table_unref (state->handlers);
  g_free (state);
}

static UnixState *
unix_state_get (CoopLoop *loop,
                gboolean  create)
{
  UnixState *state = g_object_get_qdata (G_OBJECT (loop), unix_state_quark ());
  guint i;

  if (state != NULL || !create)
    return state;

  state = g_new0 (UnixState, 1);
  state->loop = loop;
  state->handlers = g_hash_table_new (g_direct_hash, g_direct_equal);
  for (i = 0; i < N_SUPPORTED_SIGNALS; i++)
    {
      state->watches[i].state = state;
      state->watches[i].signum = supported_signals[i];
      g_queue_init (&state->watches[i].handlers);
      g_queue_init (&state->watches[i].waiters);
    }
  g_object_set_qdata_full (G_OBJECT (loop), unix_state_quark (), state, unix_state_free);
  return state;
}

/* The signal arrived (once or more since the last dispatch). */
static gboolean
watch_dispatch (gpointer data)
{
  Watch *watch = data;
  UnixState *state = watch->state;
  CoopLoop *loop = state->loop;
  GArray *ids;
  GList *l;
  guint i;

  if (coop_loop_is_closed (loop))
    {
      unix_state_teardown (state, FALSE);
      return G_SOURCE_REMOVE;
    }

  g_object_ref (loop);

  /* The handlers registered when the signal was dispatched, in order;
   * those removed meanwhile (by an earlier one) are skipped. */
  ids = g_array_sized_new (FALSE, FALSE, sizeof (guint), watch->handlers.length);
  for (l = watch->handlers.head; l != NULL; l = l->next)
    g_array_append_val (ids, ((Handler *) l->data)->id);
  for (i = 0; i < ids->len && !state->torn_down; i++)
    {
      Handler *handler = g_hash_table_lookup (state->handlers,
                                              GUINT_TO_POINTER (g_array_index (ids, guint, i)));

      if (handler == NULL)
        continue;
      handler->ref_count++;
      handler->callback (handler->user_data);
      handler_unref (handler);
      if (coop_loop_is_closed (loop))
        unix_state_teardown (state, FALSE);
    }
  g_array_free (ids, TRUE);

  /* Then every pending wait finishes; their awaiters resume from the
   * ready queue. */
  while (!state->torn_down && watch->waiters.head != NULL)
    {
      CoopSignalFuture *future = watch->waiters.head->data;

      signal_future_unlink (future);
      if (!coop_future_is_done (COOP_FUTURE (future)))
        coop_future_set_int64 (COOP_FUTURE (future), watch->signum);
      g_object_unref (future);
    }

  if (!state->torn_down)
    watch_maybe_release (watch);

  g_object_unref (loop);   /* may finalize it, and free the state */
  return G_SOURCE_CONTINUE;
}

/* --- the signal future --------------------------------------------------------- */

/* Completed by someone else (cancelled): leave the watch. */
static void
signal_future_self_done (CoopWaiter *waiter,
                         CoopFuture *future)
{
  CoopSignalFuture *self = COOP_SIGNAL_FUTURE (future);
  Watch *watch = self->watch;

  if (watch == NULL)
    return;
  signal_future_unlink (self);
  watch_maybe_release (watch);
  g_object_unref (self);   /* the watch's; cancel() holds another */
}

static gboolean
coop_signal_future_cancel (CoopFuture *future,
                           const char *message)
{
  g_object_ref (future);
  coop_future_set_cancelled (future, message);
  g_object_unref (future);
  return TRUE;
}

static void
coop_signal_future_class_init (CoopSignalFutureClass *klass)
{
  COOP_FUTURE_CLASS (klass)->cancel = coop_signal_future_cancel;
}

static void
coop_signal_future_init (CoopSignalFuture *self)
{
  self->link.data = self;
  self->self_waiter.func = signal_future_self_done;
  self->self_waiter.data = self;
}

/* --- public API: signals ------------------------------------------------------- */

static char *
supported_signals_message (int signum)
{
  return g_strdup_printf ("Signal %d (%s) cannot be watched: only SIGHUP, SIGINT, SIGTERM, "
                          "SIGUSR1, SIGUSR2 and SIGWINCH are supported",
                          signum, g_strsignal (signum));
}

/**
 * coop_loop_add_signal_handler:
 * @loop: a loop
 * @signum: the signal: `SIGHUP`, `SIGINT`, `SIGTERM`, `SIGUSR1`, `SIGUSR2`
 *   or `SIGWINCH`
 * @callback: (scope notified) (closure user_data) (destroy notify): called on
 *   the loop's context each time @signum arrives
 * @user_data: data for @callback
 * @notify: (nullable): frees @user_data once the handler is removed (after
 *   its callback returned, if it was running), or at once if the handler
 *   could not be added
 *
 * Calls @callback each time the process receives @signum, as asyncio's
 * `loop.add_signal_handler()`.  The signal is received with GLib's
 * g_unix_signal_source_new() machinery, so the callback runs from the
 * loop's #GMainContext (never inside the signal handler itself) and may do
 * anything; deliveries that arrive before the loop gets to run may be
 * coalesced into one call, as with any GLib signal source.  Several
 * handlers may watch the same signal: they run in the order they were
 * added, and a handler added while the signal is being dispatched waits
 * for the next delivery.
 *
 * While any handler or [func@Coop.unix_signal_wait] watches a signal, its
 * default action (terminating the process, for most of these) is replaced;
 * it comes back when the last one is removed.
 *
 * Only the signals GLib can watch are supported: `SIGHUP`, `SIGINT`,
 * `SIGTERM`, `SIGUSR1`, `SIGUSR2` and `SIGWINCH`.  Any other signal, and a
 * closed loop, are programming errors: they are reported with a critical
 * warning, @notify runs at once and 0 is returned.  (The future-returning
 * [func@Coop.unix_signal_wait] reports an unsupported signal as a
 * `G_IO_ERROR_INVALID_ARGUMENT` error instead.)
 *
 * Closing the loop removes its handlers (their destroy notifies run) and
 * restores the default actions, at the next iteration of the loop's
 * context or when the loop is finalized, whichever comes first; a signal
 * that arrives after the close calls no handler.  This must be called from
 * the loop's thread.
 *
 * Returns: the handler's id, greater than 0, for
 *   [method@Coop.Loop.remove_signal_handler]; 0 on error
 */
guint
coop_loop_add_signal_handler (CoopLoop       *loop,
                              int             signum,
                              CoopCallback    callback,
                              gpointer        user_data,
                              GDestroyNotify  notify)
{
  UnixState *state;
  Handler *handler;
  Watch *watch;
  int index;

  g_return_val_if_fail (COOP_IS_LOOP (loop), 0);
  g_return_val_if_fail (callback != NULL, 0);

  index = signal_index (signum);
  if (index < 0 || coop_loop_is_closed (loop))
    {
      if (index < 0)
        {
          g_autofree char *message = supported_signals_message (signum);

          g_critical ("%s: %s", G_STRFUNC, message);
        }
      else
        g_critical ("%s: the loop is closed", G_STRFUNC);
      if (notify != NULL)
        notify (user_data);
      return 0;
    }

  state = unix_state_get (loop, TRUE);
  watch = &state->watches[index];

  handler = g_new0 (Handler, 1);
  handler->ref_count = 1;
  if (G_UNLIKELY (++state->last_id == 0))
    ++state->last_id;
  handler->id = state->last_id;
  handler->watch = watch;
  handler->link.data = handler;
  handler->callback = callback;
  handler->user_data = user_data;
  handler->notify = notify;

  g_hash_table_insert (state->handlers, GUINT_TO_POINTER (handler->id), handler);
  g_queue_push_tail_link (&watch->handlers, &handler->link);
  watch_ensure_source (watch);
  return handler->id;
}

/**
 * coop_loop_remove_signal_handler:
 * @loop: a loop
 * @id: an id returned by [method@Coop.Loop.add_signal_handler]
 *
 * Removes a signal handler: its callback will not run again and its
 * destroy notify runs (once the callback returns, if this is called from
 * inside it).  When it was the last handler or wait of its signal, the
 * signal's default action is restored.
 *
 * Returns: %TRUE if the handler was found and removed; %FALSE if @id is
 *   unknown, was already removed, or the loop was closed (which removed it)
 */
gboolean
coop_loop_remove_signal_handler (CoopLoop *loop,
                                 guint     id)
{
  UnixState *state;
  Handler *handler;
  Watch *watch;

  g_return_val_if_fail (COOP_IS_LOOP (loop), FALSE);

  state = unix_state_get (loop, FALSE);
  if (state == NULL || id == 0)
    return FALSE;
  handler = g_hash_table_lookup (state->handlers, GUINT_TO_POINTER (id));
  if (handler == NULL)
    return FALSE;

  g_hash_table_remove (state->handlers, GUINT_TO_POINTER (id));
  watch = g_steal_pointer (&handler->watch);
  if (watch != NULL)
    {
      g_queue_unlink (&watch->handlers, &handler->link);
      watch_maybe_release (watch);
    }
  handler_unref (handler);
  return TRUE;
}

static void
signal_future_describe (CoopFuture *future,
                        gpointer    data,
                        GString    *out)
{
  g_string_append_printf (out, "unix signal %d (%s)", GPOINTER_TO_INT (data), g_strsignal (GPOINTER_TO_INT (data)));
}

/**
 * coop_unix_signal_wait:
 * @loop: a loop
 * @signum: the signal: `SIGHUP`, `SIGINT`, `SIGTERM`, `SIGUSR1`, `SIGUSR2`
 *   or `SIGWINCH`
 *
 * Returns a future that finishes, with @signum as a 64-bit integer
 * ([method@Coop.Future.get_int64]), the next time the process receives
 * @signum.  All the waits pending when the signal is dispatched finish
 * together, after the signal's handlers ran (see
 * [method@Coop.Loop.add_signal_handler], which also describes how the
 * signal's default action is replaced meanwhile).
 *
 * Cancelling the future stops watching (and restores the signal's default
 * action if nothing else watches it).  Until then the loop holds the
 * future, even if nobody else does.  Closing the loop cancels it.
 *
 * An unsupported signal fails the future at once with
 * `G_IO_ERROR_INVALID_ARGUMENT`, a closed loop with
 * %COOP_ERROR_LOOP_CLOSED.  This must be called from the loop's thread.
 *
 * ```c
 * g_autoptr(CoopFuture) hup = coop_unix_signal_wait (loop, SIGHUP);
 * if (coop_await (hup, &error))
 *   reload_configuration ();
 * ```
 *
 * Returns: (transfer full): a new future
 */
CoopFuture *
coop_unix_signal_wait (CoopLoop *loop,
                       int       signum)
{
  CoopSignalFuture *self;
  GError *error = NULL;
  UnixState *state;
  Watch *watch;
  int index;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);

  self = coop_future_new_internal (COOP_TYPE_SIGNAL_FUTURE, loop);
  coop_future_set_describe (COOP_FUTURE (self), signal_future_describe, GINT_TO_POINTER (signum));

  index = signal_index (signum);
  if (index < 0)
    {
      g_autofree char *message = supported_signals_message (signum);

      coop_future_take_error (COOP_FUTURE (self),
                              g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, message));
      return COOP_FUTURE (self);
    }
  if (!coop_loop_check_usable (loop, &error))
    {
      coop_future_take_error (COOP_FUTURE (self), error);
      return COOP_FUTURE (self);
    }

  state = unix_state_get (loop, TRUE);
  watch = &state->watches[index];
  self->watch = watch;
  g_queue_push_tail_link (&watch->waiters, &self->link);
  g_object_ref (self);   /* the watch's */
  coop_future_add_waiter (COOP_FUTURE (self), &self->self_waiter);
  watch_ensure_source (watch);
  return COOP_FUTURE (self);
}

/* ===========================================================================
 * Subprocesses
 * ======================================================================== */

/**
 * CoopSubprocessOutput:
 *
 * What [method@Coop.Subprocess.communicate] read: the whole output of the
 * process on its standard output and its standard error, each as a
 * #GBytes, or %NULL for a stream that was not piped.
 *
 * It is the boxed result of the communicate future:
 * `coop_future_get_boxed()` in C, [method@Coop.Future.get_value] in
 * bindings.  Reference-counted and immutable.
 */
struct _CoopSubprocessOutput
{
  gint    ref_count;
  GBytes *stdout_buf;
  GBytes *stderr_buf;
};

G_DEFINE_BOXED_TYPE (CoopSubprocessOutput, coop_subprocess_output,
                     coop_subprocess_output_ref, coop_subprocess_output_unref)

CoopSubprocessOutput *
coop_subprocess_output_new_take (GBytes *stdout_buf,
                                 GBytes *stderr_buf)
{
  CoopSubprocessOutput *output = g_new0 (CoopSubprocessOutput, 1);

  output->ref_count = 1;
  output->stdout_buf = stdout_buf;
  output->stderr_buf = stderr_buf;
  return output;
}

/**
 * coop_subprocess_output_ref:
 * @output: an output
 *
 * Takes a reference on @output.
 *
 * Returns: (transfer full): @output, with one more reference
 */
CoopSubprocessOutput *
coop_subprocess_output_ref (CoopSubprocessOutput *output)
{
  g_return_val_if_fail (output != NULL, NULL);

  g_atomic_int_inc (&output->ref_count);
  return output;
}

/**
 * coop_subprocess_output_unref:
 * @output: (transfer full): an output
 *
 * Drops a reference; the last one frees @output.
 */
void
coop_subprocess_output_unref (CoopSubprocessOutput *output)
{
  g_return_if_fail (output != NULL);

  if (!g_atomic_int_dec_and_test (&output->ref_count))
    return;
  g_clear_pointer (&output->stdout_buf, g_bytes_unref);
  g_clear_pointer (&output->stderr_buf, g_bytes_unref);
  g_free (output);
}

/**
 * coop_subprocess_output_get_stdout:
 * @output: an output
 *
 * Returns what the process wrote on its standard output.
 *
 * Returns: (nullable) (transfer none): everything the process wrote on its
 *   standard output, or %NULL if it was not created with
 *   %G_SUBPROCESS_FLAGS_STDOUT_PIPE
 */
GBytes *
coop_subprocess_output_get_stdout (CoopSubprocessOutput *output)
{
  g_return_val_if_fail (output != NULL, NULL);

  return output->stdout_buf;
}

/**
 * coop_subprocess_output_get_stderr:
 * @output: an output
 *
 * Returns what the process wrote on its standard error.
 *
 * Returns: (nullable) (transfer none): everything the process wrote on its
 *   standard error, or %NULL if it was not created with
 *   %G_SUBPROCESS_FLAGS_STDERR_PIPE (with %G_SUBPROCESS_FLAGS_STDERR_MERGE
 *   it is part of the standard output)
 */
GBytes *
coop_subprocess_output_get_stderr (CoopSubprocessOutput *output)
{
  g_return_val_if_fail (output != NULL, NULL);

  return output->stderr_buf;
}

/**
 * CoopSubprocess:
 *
 * A child process whose exit and output can be awaited, as asyncio's
 * `Process`: a thin layer over #GSubprocess.
 *
 * [method@Coop.Subprocess.wait] and [method@Coop.Subprocess.communicate]
 * return futures completed from GIO's own callbacks
 * (g_subprocess_wait_async(), g_subprocess_communicate_async()) on the
 * loop's #GMainContext.  Each call has its own #GCancellable: cancelling
 * the future cancels that GIO operation, and the future ends
 * %COOP_FUTURE_STATE_CANCELLED once GIO has called back (not inside
 * [method@Coop.Future.cancel]), so a task whose await is cancelled resumes
 * only when GIO is done with the operation.
 *
 * Cancelling a wait never touches the process: it keeps running.  So a
 * timeout composes with [func@Coop.wait_for] and the caller decides what to
 * do with a process that overran, as asyncio's `wait_for(proc.wait(), t)`:
 *
 * ```c
 * g_autoptr(CoopFuture) exited = coop_subprocess_wait (proc);
 * g_autoptr(CoopFuture) limited = coop_wait_for (exited, G_USEC_PER_SEC);
 * if (!coop_await (limited, &error) &&
 *     g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
 *   {
 *     coop_subprocess_kill (proc);
 *     g_autoptr(CoopFuture) reaped = coop_subprocess_wait (proc);
 *     coop_await (reaped, NULL);     // -SIGKILL
 *   }
 * ```
 *
 * The exit status is reported as asyncio's `returncode`: the exit code if
 * the process exited, or minus the signal number if a signal killed it.
 *
 * The standard streams are the #GSubprocess's own pipes
 * ([method@Coop.Subprocess.get_stdout_pipe] and friends), to use with
 * GIO's stream API; Coop's own stream objects will offer awaitable reads
 * and writes on them in a later version.  Do not use the pipes while or
 * after [method@Coop.Subprocess.communicate] runs.
 *
 * Dropping the last reference does not kill the process (GLib still reaps
 * it).  Use the object from the loop's thread.  GIO continues a
 * communicate operation through the thread-default #GMainContext of the
 * thread that dispatches its callbacks, so the loop's context must be the
 * thread-default one while the loop runs (it is for the global default
 * context, under GTK and #GApplication; push any other with
 * g_main_context_push_thread_default()).  The calls that start an
 * operation make the loop's context the thread-default one for the
 * duration of the call themselves.
 */
struct _CoopSubprocess
{
  GObject           parent_instance;

  CoopLoop         *loop;
  GSubprocess      *subprocess;
  GSubprocessFlags  flags;
  int               returncode;
  guint             has_returncode : 1;
  guint             communicated : 1;
  CoopStream       *streams[3];   /* stdin, stdout, stderr: new_with_streams() */
};

G_DEFINE_FINAL_TYPE (CoopSubprocess, coop_subprocess, G_TYPE_OBJECT)

/* Made by coop_subprocess_new(), not by a bare g_object_new(). */
#define SUBPROCESS_USABLE(self) (COOP_IS_SUBPROCESS (self) && (self)->subprocess != NULL)

static void
coop_subprocess_finalize (GObject *object)
{
  CoopSubprocess *self = COOP_SUBPROCESS (object);

  for (guint i = 0; i < G_N_ELEMENTS (self->streams); i++)
    g_clear_object (&self->streams[i]);
  g_clear_object (&self->subprocess);
  g_clear_object (&self->loop);

  G_OBJECT_CLASS (coop_subprocess_parent_class)->finalize (object);
}

static void
coop_subprocess_class_init (CoopSubprocessClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = coop_subprocess_finalize;
}

static void
coop_subprocess_init (CoopSubprocess *self)
{
}

/* The future of one GIO operation on the process. */
#define COOP_TYPE_SUBPROCESS_OP (coop_subprocess_op_get_type ())
G_DECLARE_FINAL_TYPE (CoopSubprocessOp, coop_subprocess_op, COOP, SUBPROCESS_OP, CoopFuture)

struct _CoopSubprocessOp
{
  CoopFuture      parent_instance;

  CoopSubprocess *owner;
  GCancellable   *cancellable;
};

G_DEFINE_FINAL_TYPE (CoopSubprocessOp, coop_subprocess_op, COOP_TYPE_FUTURE)

/* Cancels the GIO operation; the future completes when GIO calls back. */
static gboolean
coop_subprocess_op_cancel (CoopFuture *future,
                           const char *message)
{
  g_cancellable_cancel (COOP_SUBPROCESS_OP (future)->cancellable);
  return TRUE;
}

static void
coop_subprocess_op_finalize (GObject *object)
{
  CoopSubprocessOp *self = COOP_SUBPROCESS_OP (object);

  g_clear_object (&self->cancellable);
  g_clear_object (&self->owner);

  G_OBJECT_CLASS (coop_subprocess_op_parent_class)->finalize (object);
}

static void
coop_subprocess_op_class_init (CoopSubprocessOpClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = coop_subprocess_op_finalize;
  COOP_FUTURE_CLASS (klass)->cancel = coop_subprocess_op_cancel;
}

static void
coop_subprocess_op_init (CoopSubprocessOp *self)
{
  self->cancellable = g_cancellable_new ();
}

static void
subprocess_op_describe (CoopFuture *future,
                        gpointer    data,
                        GString    *out)
{
  CoopSubprocessOp *op = COOP_SUBPROCESS_OP (future);
  const char *pid = op->owner->subprocess != NULL ? g_subprocess_get_identifier (op->owner->subprocess) : NULL;

  g_string_append_printf (out, "subprocess %s (pid %s)", (const char *) data, pid != NULL ? pid : "gone");
}

static CoopSubprocessOp *
subprocess_op_new (CoopSubprocess *self,
                   const char     *what)
{
  CoopSubprocessOp *op = coop_future_new_internal (COOP_TYPE_SUBPROCESS_OP, self->loop);

  op->owner = g_object_ref (self);
  coop_future_set_describe (COOP_FUTURE (op), subprocess_op_describe, (gpointer) what);
  return op;
}

static void
subprocess_op_fail (CoopSubprocessOp *op,
                    GError           *error)
{
  if (coop_future_is_done (COOP_FUTURE (op)))
    g_error_free (error);
  else
    coop_future_take_error (COOP_FUTURE (op), error);
}

/* GIO calls back on the thread-default context of the thread that starts
 * an operation: make it the loop's for the duration of the call.  Fails
 * if another thread owns the loop's context. */
static gboolean
subprocess_op_enter (CoopSubprocessOp  *op,
                     GMainContext     **pushed)
{
  CoopLoop *loop = op->owner->loop;
  GMainContext *context = coop_loop_get_context (loop);
  GMainContext *current = g_main_context_get_thread_default ();
  GError *error = NULL;

  *pushed = NULL;
  if (!coop_loop_check_usable (loop, &error))
    {
      subprocess_op_fail (op, error);
      return FALSE;
    }
  if (current == NULL)
    current = g_main_context_default ();
  if (current == context)
    return TRUE;
  if (!g_main_context_acquire (context))
    {
      subprocess_op_fail (op, g_error_new_literal (COOP_ERROR, COOP_ERROR_INVALID_STATE,
                                                   "A subprocess must be used from its loop's thread "
                                                   "(the loop's context is owned by another thread)"));
      return FALSE;
    }
  g_main_context_push_thread_default (context);
  g_main_context_release (context);
  *pushed = context;
  return TRUE;
}

static void
subprocess_op_leave (GMainContext *pushed)
{
  if (pushed != NULL)
    g_main_context_pop_thread_default (pushed);
}

/* After GIO reported the exit: asyncio's returncode. */
static int
subprocess_record_returncode (CoopSubprocess *self)
{
  GSubprocess *subprocess = self->subprocess;
  int returncode;

  if (g_subprocess_get_if_exited (subprocess))
    returncode = g_subprocess_get_exit_status (subprocess);
  else if (g_subprocess_get_if_signaled (subprocess))
    returncode = -g_subprocess_get_term_sig (subprocess);
  else
    returncode = g_subprocess_get_status (subprocess);
  self->returncode = returncode;
  self->has_returncode = TRUE;
  return returncode;
}

static void
wait_done (GObject      *source,
           GAsyncResult *result,
           gpointer      data)
{
  CoopSubprocessOp *op = data;
  GError *error = NULL;

  if (g_subprocess_wait_finish (G_SUBPROCESS (source), result, &error))
    {
      int returncode = subprocess_record_returncode (op->owner);

      if (!coop_future_is_done (COOP_FUTURE (op)))
        coop_future_set_int64 (COOP_FUTURE (op), returncode);
    }
  else
    subprocess_op_fail (op, error);
  g_object_unref (op);
}

static void
communicate_done (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  CoopSubprocessOp *op = data;
  GBytes *stdout_buf = NULL;
  GBytes *stderr_buf = NULL;
  GError *error = NULL;

  if (g_subprocess_communicate_finish (G_SUBPROCESS (source), result,
                                       &stdout_buf, &stderr_buf, &error))
    {
      CoopSubprocessOutput *output = coop_subprocess_output_new_take (stdout_buf, stderr_buf);

      subprocess_record_returncode (op->owner);
      if (!coop_future_is_done (COOP_FUTURE (op)))
        coop_future_set_boxed (COOP_FUTURE (op), COOP_TYPE_SUBPROCESS_OUTPUT, output);
      coop_subprocess_output_unref (output);
    }
  else
    subprocess_op_fail (op, error);
  g_object_unref (op);
}

/* --- public API: subprocesses -------------------------------------------------- */

/**
 * coop_subprocess_new:
 * @loop: the loop whose context completes the process's futures
 * @argv: (array zero-terminated=1) (element-type filename): the program and
 *   its arguments; the program is looked up in `PATH` unless
 *   %G_SUBPROCESS_FLAGS_SEARCH_PATH_FROM_ENVP says otherwise, as
 *   g_subprocess_newv() does
 * @flags: #GSubprocessFlags: which standard streams are pipes, and so on
 * @error: return location for an error
 *
 * Starts a process, as asyncio's `create_subprocess_exec()`.  Failing to
 * start it (no such program, not executable...) returns %NULL with @error
 * set from GLib's spawning code (a #GSpawnError such as
 * %G_SPAWN_ERROR_NOENT, or a #GIOError); a closed @loop fails with
 * %COOP_ERROR_LOOP_CLOSED.
 *
 * Returns: (transfer full) (nullable): the process, or %NULL with @error set
 */
CoopSubprocess *
coop_subprocess_new (CoopLoop            *loop,
                     const char * const  *argv,
                     GSubprocessFlags     flags,
                     GError             **error)
{
  CoopSubprocess *self;
  GSubprocess *subprocess;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (argv != NULL && argv[0] != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!coop_loop_check_usable (loop, error))
    return NULL;
  subprocess = g_subprocess_newv (argv, flags, error);
  if (subprocess == NULL)
    return NULL;

  self = g_object_new (COOP_TYPE_SUBPROCESS, NULL);
  self->loop = g_object_ref (loop);
  self->subprocess = subprocess;
  self->flags = flags;
  return self;
}

/**
 * coop_subprocess_new_with_streams:
 * @loop: the loop whose context completes the process's futures and
 *   drives its streams
 * @argv: (array zero-terminated=1) (element-type filename): the program and
 *   its arguments, as for [ctor@Coop.Subprocess.new]
 * @flags: #GSubprocessFlags, as for [ctor@Coop.Subprocess.new]
 * @error: return location for an error
 *
 * Starts a process whose standard streams, those @flags asks pipes for
 * (%G_SUBPROCESS_FLAGS_STDIN_PIPE, %G_SUBPROCESS_FLAGS_STDOUT_PIPE,
 * %G_SUBPROCESS_FLAGS_STDERR_PIPE), are [class@Coop.Stream]s, as the
 * `stdin`/`stdout`/`stderr` of asyncio's `create_subprocess_exec()`: read
 * the child's output with [method@Coop.Stream.read_line] (one await per
 * line), write its input with [method@Coop.Stream.write] and respect its
 * pace with [method@Coop.Stream.drain]; end its input with
 * [method@Coop.Stream.write_eof] or [method@Coop.Stream.close].  Get them
 * with [method@Coop.Subprocess.get_stdin_stream] and its siblings.
 *
 * The child's ends are Unix stream sockets rather than pipes (asyncio does
 * the same for stdin on some systems): writing to a child that exited is
 * the error `G_IO_ERROR_BROKEN_PIPE`, never a `SIGPIPE`, which a library
 * cannot ignore for its process.  Programs see no difference, unless they
 * insist on a FIFO.  This process has no #GSubprocess pipes, so
 * [method@Coop.Subprocess.get_stdout_pipe] and its siblings return %NULL
 * and [method@Coop.Subprocess.communicate] has nothing to exchange: use the
 * streams.
 *
 * Returns: (transfer full) (nullable): the process, or %NULL with @error set
 */
CoopSubprocess *
coop_subprocess_new_with_streams (CoopLoop            *loop,
                                  const char * const  *argv,
                                  GSubprocessFlags     flags,
                                  GError             **error)
{
  static const GSubprocessFlags pipe_flags[3] = {
    G_SUBPROCESS_FLAGS_STDIN_PIPE, G_SUBPROCESS_FLAGS_STDOUT_PIPE, G_SUBPROCESS_FLAGS_STDERR_PIPE,
  };
  CoopStream *streams[3] = { NULL, NULL, NULL };
  GSubprocessLauncher *launcher;
  GSubprocess *subprocess;
  CoopSubprocess *self;

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);
  g_return_val_if_fail (argv != NULL && argv[0] != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!coop_loop_check_usable (loop, error))
    return NULL;
  launcher = g_subprocess_launcher_new (flags & ~(G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                                  G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                  G_SUBPROCESS_FLAGS_STDERR_PIPE));
  for (guint i = 0; i < 3; i++)
    {
      int sv[2];

      if (!(flags & pipe_flags[i]))
        continue;
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        {
          int err = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                       "Could not make the child's standard streams: %s", g_strerror (err));
          goto fail;
        }
      /* The child's end is dup2()ed onto 0, 1 or 2 in the child (which
       * clears close-on-exec) and closed here with the launcher. */
      if (i == 0)
        g_subprocess_launcher_take_stdin_fd (launcher, sv[1]);
      else if (i == 1)
        g_subprocess_launcher_take_stdout_fd (launcher, sv[1]);
      else
        g_subprocess_launcher_take_stderr_fd (launcher, sv[1]);
      streams[i] = coop_stream_new_for_fd (loop, sv[0], error);
      if (streams[i] == NULL)
        {
          close (sv[0]);
          goto fail;
        }
      /* One direction each: the other is shut, so that a child reading
       * its stdout (say) sees end-of-file at once instead of waiting. */
      shutdown (sv[0], i == 0 ? SHUT_RD : SHUT_WR);
    }
  subprocess = g_subprocess_launcher_spawnv (launcher, argv, error);
  if (subprocess == NULL)
    goto fail;
  g_object_unref (launcher);

  self = g_object_new (COOP_TYPE_SUBPROCESS, NULL);
  self->loop = g_object_ref (loop);
  self->subprocess = subprocess;
  self->flags = flags & ~(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                          G_SUBPROCESS_FLAGS_STDERR_PIPE);
  memcpy (self->streams, streams, sizeof streams);
  return self;

fail:
  g_object_unref (launcher);
  for (guint i = 0; i < 3; i++)
    g_clear_object (&streams[i]);   /* aborts: closes our ends */
  return NULL;
}

/**
 * coop_subprocess_get_stdin_stream:
 * @self: a subprocess
 *
 * Returns the stream to the process's standard input.
 *
 * Returns: (transfer none) (nullable): the stream, or %NULL unless the
 *   process was made by [ctor@Coop.Subprocess.new_with_streams] with
 *   %G_SUBPROCESS_FLAGS_STDIN_PIPE
 */
CoopStream *
coop_subprocess_get_stdin_stream (CoopSubprocess *self)
{
  g_return_val_if_fail (SUBPROCESS_USABLE (self), NULL);

  return self->streams[0];
}

/**
 * coop_subprocess_get_stdout_stream:
 * @self: a subprocess
 *
 * Returns the stream from the process's standard output.
 *
 * Returns: (transfer none) (nullable): the stream, or %NULL unless the
 *   process was made by [ctor@Coop.Subprocess.new_with_streams] with
 *   %G_SUBPROCESS_FLAGS_STDOUT_PIPE
 */
CoopStream *
coop_subprocess_get_stdout_stream (CoopSubprocess *self)
{
  g_return_val_if_fail (SUBPROCESS_USABLE (self), NULL);

  return self->streams[1];
}

/**
 * coop_subprocess_get_stderr_stream:
 * @self: a subprocess
 *
 * Returns the stream from the process's standard error.
 *
 * Returns: (transfer none) (nullable): the stream, or %NULL unless the
 *   process was made by [ctor@Coop.Subprocess.new_with_streams] with
 *   %G_SUBPROCESS_FLAGS_STDERR_PIPE
 */
CoopStream *
coop_subprocess_get_stderr_stream (CoopSubprocess *self)
{
  g_return_val_if_fail (SUBPROCESS_USABLE (self), NULL);

  return self->streams[2];
}

/**
 * coop_subprocess_get_loop:
 * @self: a subprocess
 *
 * Returns the loop given to [ctor@Coop.Subprocess.new].
 *
 * Returns: (transfer none): the loop that completes the process's futures
 */
CoopLoop *
coop_subprocess_get_loop (CoopSubprocess *self)
{
  g_return_val_if_fail (COOP_IS_SUBPROCESS (self), NULL);

  return self->loop;
}

/**
 * coop_subprocess_get_gsubprocess:
 * @self: a subprocess
 *
 * Returns the underlying #GSubprocess, for what this object does not wrap
 * (its identifier, g_subprocess_get_if_exited()...).
 *
 * Returns: (transfer none): the #GSubprocess
 */
GSubprocess *
coop_subprocess_get_gsubprocess (CoopSubprocess *self)
{
  g_return_val_if_fail (SUBPROCESS_USABLE (self), NULL);

  return self->subprocess;
}

/**
 * coop_subprocess_get_stdin_pipe:
 * @self: a subprocess
 *
 * Returns the pipe to the process's standard input, a stream of the
 * #GSubprocess (for awaitable streams, start the process with
 * [ctor@Coop.Subprocess.new_with_streams]).
 *
 * Returns: (transfer none) (nullable): the pipe, or %NULL if the process
 *   was not created with %G_SUBPROCESS_FLAGS_STDIN_PIPE
 */
GOutputStream *
coop_subprocess_get_stdin_pipe (CoopSubprocess *self)
{
  g_return_val_if_fail (SUBPROCESS_USABLE (self), NULL);

  if (!(self->flags & G_SUBPROCESS_FLAGS_STDIN_PIPE))
    return NULL;
  return g_subprocess_get_stdin_pipe (self->subprocess);
}

/**
 * coop_subprocess_get_stdout_pipe:
 * @self: a subprocess
 *
 * Returns the pipe from the process's standard output, a stream of the
 * #GSubprocess (for awaitable streams, start the process with
 * [ctor@Coop.Subprocess.new_with_streams]).
 *
 * Returns: (transfer none) (nullable): the pipe, or %NULL if the process
 *   was not created with %G_SUBPROCESS_FLAGS_STDOUT_PIPE
 */
GInputStream *
coop_subprocess_get_stdout_pipe (CoopSubprocess *self)
{
  g_return_val_if_fail (SUBPROCESS_USABLE (self), NULL);

  if (!(self->flags & G_SUBPROCESS_FLAGS_STDOUT_PIPE))
    return NULL;
  return g_subprocess_get_stdout_pipe (self->subprocess);
}

/**
 * coop_subprocess_get_stderr_pipe:
 * @self: a subprocess
 *
 * Returns the pipe from the process's standard error, a stream of the
 * #GSubprocess (for awaitable streams, start the process with
 * [ctor@Coop.Subprocess.new_with_streams]).
 *
 * Returns: (transfer none) (nullable): the pipe, or %NULL if the process
 *   was not created with %G_SUBPROCESS_FLAGS_STDERR_PIPE
 */
GInputStream *
coop_subprocess_get_stderr_pipe (CoopSubprocess *self)
{
  g_return_val_if_fail (SUBPROCESS_USABLE (self), NULL);

  if (!(self->flags & G_SUBPROCESS_FLAGS_STDERR_PIPE))
    return NULL;
  return g_subprocess_get_stderr_pipe (self->subprocess);
}

/**
 * coop_subprocess_wait:
 * @self: a subprocess
 *
 * Returns a future that finishes when the process has exited, with its
 * return code as a 64-bit integer ([method@Coop.Future.get_int64]): the
 * exit code if it exited, or minus the signal number if a signal killed it
 * (asyncio's `returncode`: -9 for `SIGKILL`).  If it already exited, the
 * future finishes on a later iteration.  Several waits may be pending at
 * once.
 *
 * Cancelling the future cancels the wait only: the process keeps running
 * (kill it with [method@Coop.Subprocess.kill] if that is what you want).
 * The future ends cancelled once GIO has called back.  This must be called
 * from the loop's thread.
 *
 * Returns: (transfer full): a new future
 */
CoopFuture *
coop_subprocess_wait (CoopSubprocess *self)
{
  CoopSubprocessOp *op;
  GMainContext *pushed;

  g_return_val_if_fail (SUBPROCESS_USABLE (self), NULL);

  op = subprocess_op_new (self, "wait");
  if (!subprocess_op_enter (op, &pushed))
    return COOP_FUTURE (op);
  g_subprocess_wait_async (self->subprocess, op->cancellable, wait_done, g_object_ref (op));
  subprocess_op_leave (pushed);
  return COOP_FUTURE (op);
}

/**
 * coop_subprocess_communicate:
 * @self: a subprocess
 * @stdin_buf: (nullable): what to write to the process's standard input,
 *   which is then closed; %NULL closes it at once.  Giving data requires
 *   %G_SUBPROCESS_FLAGS_STDIN_PIPE.
 *
 * Writes @stdin_buf to the process, reads its standard output and error
 * until they end, and waits for it to exit, as asyncio's `communicate()`
 * (on g_subprocess_communicate_async()).  The future finishes with a
 * [struct@Coop.SubprocessOutput] (a boxed result) holding what was read
 * from each stream created with %G_SUBPROCESS_FLAGS_STDOUT_PIPE or
 * %G_SUBPROCESS_FLAGS_STDERR_PIPE; the return code is then known
 * ([method@Coop.Subprocess.get_returncode]).
 *
 * It can be called once per process: a second call fails with
 * %COOP_ERROR_INVALID_STATE.  Data without a stdin pipe fails with
 * `G_IO_ERROR_INVALID_ARGUMENT`.
 *
 * Cancelling the future cancels the GIO operation (not the process); it
 * ends cancelled once GIO has called back, and what was read is lost: the
 * pipes are then in no useful state.  This must be called from the loop's
 * thread.
 *
 * Returns: (transfer full): a new future
 */
CoopFuture *
coop_subprocess_communicate (CoopSubprocess *self,
                             GBytes         *stdin_buf)
{
  g_autoptr(GBytes) empty = NULL;
  CoopSubprocessOp *op;
  GMainContext *pushed;

  g_return_val_if_fail (SUBPROCESS_USABLE (self), NULL);

  op = subprocess_op_new (self, "communicate");
  if (stdin_buf != NULL && !(self->flags & G_SUBPROCESS_FLAGS_STDIN_PIPE))
    {
      subprocess_op_fail (op, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                                   "Input was given for a process created without "
                                                   "G_SUBPROCESS_FLAGS_STDIN_PIPE"));
      return COOP_FUTURE (op);
    }
  if (self->communicated)
    {
      subprocess_op_fail (op, g_error_new_literal (COOP_ERROR, COOP_ERROR_INVALID_STATE,
                                                   "coop_subprocess_communicate() can be called "
                                                   "only once per process"));
      return COOP_FUTURE (op);
    }
  if (!subprocess_op_enter (op, &pushed))
    return COOP_FUTURE (op);

  self->communicated = TRUE;
  /* GIO wants input whenever there is a stdin pipe: none means EOF. */
  if (stdin_buf == NULL && (self->flags & G_SUBPROCESS_FLAGS_STDIN_PIPE))
    stdin_buf = empty = g_bytes_new_static ("", 0);
  g_subprocess_communicate_async (self->subprocess, stdin_buf, op->cancellable,
                                  communicate_done, g_object_ref (op));
  subprocess_op_leave (pushed);
  return COOP_FUTURE (op);
}

/**
 * coop_subprocess_get_returncode:
 * @self: a subprocess
 * @returncode: (out) (optional): the return code: the exit code, or minus
 *   the signal number that killed the process
 *
 * Reports the return code once it is known, that is once a future of
 * [method@Coop.Subprocess.wait] or [method@Coop.Subprocess.communicate]
 * has finished (asyncio's `returncode`, which is `None` before).
 *
 * Returns: %TRUE if the return code is known
 */
gboolean
coop_subprocess_get_returncode (CoopSubprocess *self,
                                int            *returncode)
{
  g_return_val_if_fail (COOP_IS_SUBPROCESS (self), FALSE);

  if (returncode != NULL)
    *returncode = self->has_returncode ? self->returncode : 0;
  return self->has_returncode;
}

/**
 * coop_subprocess_send_signal:
 * @self: a subprocess
 * @signum: the signal number
 *
 * Sends @signum to the process.  Once the process has exited (and been
 * reaped) this does nothing, so another process that got the same id is
 * never hit (g_subprocess_send_signal()).
 */
void
coop_subprocess_send_signal (CoopSubprocess *self,
                             int             signum)
{
  g_return_if_fail (SUBPROCESS_USABLE (self));

  g_subprocess_send_signal (self->subprocess, signum);
}

/**
 * coop_subprocess_terminate:
 * @self: a subprocess
 *
 * Sends `SIGTERM` to the process (asyncio's `terminate()`); see
 * [method@Coop.Subprocess.send_signal].
 */
void
coop_subprocess_terminate (CoopSubprocess *self)
{
  g_return_if_fail (SUBPROCESS_USABLE (self));

  g_subprocess_send_signal (self->subprocess, SIGTERM);
}

/**
 * coop_subprocess_kill:
 * @self: a subprocess
 *
 * Kills the process with `SIGKILL` (asyncio's `kill()`,
 * g_subprocess_force_exit()); its return code is then -9.  Does nothing if
 * it already exited.
 */
void
coop_subprocess_kill (CoopSubprocess *self)
{
  g_return_if_fail (SUBPROCESS_USABLE (self));

  g_subprocess_force_exit (self->subprocess);
}
