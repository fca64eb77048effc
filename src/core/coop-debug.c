/* coop-debug.c: seeing what a loop's tasks do, and debug mode.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#ifdef HAVE_LIBUNWIND
# define UNW_LOCAL_ONLY
# include <libunwind.h>
#endif

#include "coop-private.h"

/* Debug mode costs nothing while it is off: the ready queue and the timer
 * source test the loop's flags once per dispatch, and futures and tasks
 * test coop_debug_capture once when they are made.  Everything else here
 * runs only when asked for. */

G_DEFINE_FLAGS_TYPE (CoopDebugFlags, coop_debug_flags,
  G_DEFINE_ENUM_VALUE (COOP_DEBUG_NONE, "none"),
  G_DEFINE_ENUM_VALUE (COOP_DEBUG_SLOW, "slow"),
  G_DEFINE_ENUM_VALUE (COOP_DEBUG_NEVER_RETRIEVED, "never-retrieved"),
  G_DEFINE_ENUM_VALUE (COOP_DEBUG_NEVER_AWAITED, "never-awaited"),
  G_DEFINE_ENUM_VALUE (COOP_DEBUG_DESTROY_PENDING, "destroy-pending"),
  G_DEFINE_ENUM_VALUE (COOP_DEBUG_STALL, "stall"),
  G_DEFINE_ENUM_VALUE (COOP_DEBUG_BACKTRACES, "backtraces"))

#define DEFAULT_SLOW_USEC  (100 * G_TIME_SPAN_MILLISECOND)
#define DEFAULT_STALL_USEC (1000 * G_TIME_SPAN_MILLISECOND)
#define SITE_FRAMES 10
#define SITE_SKIP 2          /* coop_debug_site_capture and its caller */
#define MAX_FRAMES 64

/* Flags that record where futures and tasks are made. */
#define CAPTURE_FLAGS (COOP_DEBUG_SLOW | COOP_DEBUG_NEVER_RETRIEVED | COOP_DEBUG_NEVER_AWAITED | \
                       COOP_DEBUG_DESTROY_PENDING | COOP_DEBUG_BACKTRACES)

int coop_debug_capture;

struct _CoopDebugSite
{
  guint64  task_id;              /* the task that made it, 0 outside a task */
  char    *task_name;
  int      n_frames;
  gpointer frames[SITE_FRAMES + SITE_SKIP];
};

typedef struct
{
  gint64    slow_usec;
  gint64    stall_usec;
  GSource  *dump_source;

  /* The watchdog (COOP_DEBUG_STALL).  The loop's thread publishes the
   * start of the entry it runs and a progress count; the watchdog thread
   * reads them, and the label, which is only ever a bounded C string. */
  GThread  *watchdog;
  GMutex    lock;
  GCond     cond;
  gboolean  stop;
  gint64    entry_start;         /* atomic; 0 between entries */
  guint     progress;            /* atomic */
  gpointer  entry_code;          /* atomic: the callback's code, or NULL for a task */
  char      entry_label[96];
} DebugState;

static guint env_flags;
static gint64 env_slow_usec = -1;
static gint64 env_stall_usec = -1;

static const GDebugKey debug_keys[] = {
  { "slow", COOP_DEBUG_SLOW },
  { "never-retrieved", COOP_DEBUG_NEVER_RETRIEVED },
  { "never-awaited", COOP_DEBUG_NEVER_AWAITED },
  { "destroy-pending", COOP_DEBUG_DESTROY_PENDING },
  { "stall", COOP_DEBUG_STALL },
  { "backtraces", COOP_DEBUG_BACKTRACES },
};

static void
parse_env_once (void)
{
  static gsize done;

  if (g_once_init_enter (&done))
    {
      const char *value;

      env_flags = g_parse_debug_string (g_getenv ("COOP_DEBUG"), debug_keys, G_N_ELEMENTS (debug_keys));
      if ((value = g_getenv ("COOP_DEBUG_SLOW_MS")) != NULL)
        env_slow_usec = g_ascii_strtoll (value, NULL, 10) * G_TIME_SPAN_MILLISECOND;
      if ((value = g_getenv ("COOP_DEBUG_STALL_MS")) != NULL)
        env_stall_usec = g_ascii_strtoll (value, NULL, 10) * G_TIME_SPAN_MILLISECOND;
      g_once_init_leave (&done, 1);
    }
}

static DebugState *
debug_state (CoopLoop *loop)
{
  DebugState *state = coop_loop_get_debug_state (loop);

  if (state == NULL)
    {
      state = g_new0 (DebugState, 1);
      state->slow_usec = env_slow_usec > 0 ? env_slow_usec : DEFAULT_SLOW_USEC;
      state->stall_usec = env_stall_usec > 0 ? env_stall_usec : DEFAULT_STALL_USEC;
      g_mutex_init (&state->lock);
      g_cond_init (&state->cond);
      coop_loop_set_debug_state (loop, state);
    }
  return state;
}

/* --- symbols ------------------------------------------------------------------ */

#ifdef HAVE_LIBUNWIND
/* libunwind is not linked: it is opened the first time a name or a
 * backtrace is wanted, with RTLD_LOCAL.  Its libunwind.so also exports
 * the _Unwind_* functions C++ exceptions are thrown with; as a dependency
 * of Coop it would come before libgcc_s in every symbol lookup and take
 * over the exceptions of every C++ library in the process (libproxy
 * throws and catches one under each GSocketClient).  Opened locally, only
 * the calls below reach it.  The names come from libunwind.h's own macros
 * (unw_step is _ULx86_64_step on x86-64, and so on).  Where it cannot be
 * opened (not installed, or COOP_LIBUNWIND=0), names come from dladdr()
 * and backtraces from the frame-pointer walk. */
typedef struct
{
  int (*init_local) (unw_cursor_t *, unw_context_t *);
  int (*get_reg) (unw_cursor_t *, int, unw_word_t *);
  int (*set_reg) (unw_cursor_t *, int, unw_word_t);
  int (*step) (unw_cursor_t *);
  int (*get_proc_name) (unw_cursor_t *, char *, size_t, unw_word_t *);
# if defined(__x86_64__)
  int (*getcontext) (unw_context_t *);
# endif
} Unwind;

# define UNWIND_NAME(macro) UNWIND_NAME_ (macro)
# define UNWIND_NAME_(name) #name

static const Unwind *
unwind_get (void)
{
  static Unwind unwind;
  static const Unwind *loaded;
  static gsize once;

  if (g_once_init_enter (&once))
    {
      void *lib = NULL;

      if (g_strcmp0 (g_getenv ("COOP_LIBUNWIND"), "0") != 0)
        lib = dlopen (COOP_LIBUNWIND_SONAME, RTLD_LAZY | RTLD_LOCAL);
      if (lib != NULL)
        {
          *(void **) &unwind.init_local = dlsym (lib, UNWIND_NAME (unw_init_local));
          *(void **) &unwind.get_reg = dlsym (lib, UNWIND_NAME (unw_get_reg));
          *(void **) &unwind.set_reg = dlsym (lib, UNWIND_NAME (unw_set_reg));
          *(void **) &unwind.step = dlsym (lib, UNWIND_NAME (unw_step));
          *(void **) &unwind.get_proc_name = dlsym (lib, UNWIND_NAME (unw_get_proc_name));
# if defined(__x86_64__)
          *(void **) &unwind.getcontext = dlsym (lib, UNWIND_NAME (unw_tdep_getcontext));
# endif
          if (unwind.init_local != NULL && unwind.get_reg != NULL && unwind.set_reg != NULL &&
              unwind.step != NULL && unwind.get_proc_name != NULL
# if defined(__x86_64__)
              && unwind.getcontext != NULL
# endif
              )
            loaded = &unwind;
          /* Never closed: the pointers stay valid for the process. */
        }
      g_once_init_leave (&once, 1);
    }
  return loaded;
}

/* The current context, for unw_init_local(). */
static int
unwind_getcontext (const Unwind  *u,
                   unw_context_t *context)
{
# if defined(__x86_64__)
  return u->getcontext (context);
# else
  return unw_getcontext (context);   /* inline code on the other targets */
# endif
}
/* libunwind reads the symbol tables of the files themselves (.symtab when
 * they are not stripped), so it also names static and hidden functions,
 * which dladdr() cannot. */
static gboolean
append_unw_name (const Unwind *u,
                 GString      *out,
                 unw_cursor_t *cursor,
                 unw_word_t    bias)
{
  char name[256];
  unw_word_t offset = 0;

  if (u->get_proc_name (cursor, name, sizeof name, &offset) != 0 && offset == 0)
    return FALSE;
  g_string_append_printf (out, "%s+0x%lx", name, (unsigned long) (offset - bias));
  return TRUE;
}
#endif

static void
append_object (GString  *out,
               gpointer  address,
               gboolean  with_symbol)
{
  Dl_info info;

  if (dladdr (address, &info) == 0)
    {
      g_string_append_printf (out, "%p", address);
      return;
    }
  if (with_symbol && info.dli_sname != NULL)
    g_string_append_printf (out, "%s+0x%lx", info.dli_sname,
                            (unsigned long) ((guintptr) address - (guintptr) info.dli_saddr));
  else if (with_symbol)
    g_string_append_printf (out, "%p", address);
  if (info.dli_fname != NULL)
    {
      const char *base = strrchr (info.dli_fname, '/');

      g_string_append_printf (out, " (%s)", base != NULL ? base + 1 : info.dli_fname);
    }
}

/* @address is a return address (a frame of a backtrace), or with
 * @is_code the first byte of a function (a callback). */
static void
append_symbol (GString  *out,
               gpointer  address,
               gboolean  is_code)
{
#ifdef HAVE_LIBUNWIND
  const Unwind *u = unwind_get ();
  unw_context_t context;
  unw_cursor_t cursor;
  /* libunwind looks a caller's frame up at the byte before the return
   * address; a function's first byte is found one byte further. */
  unw_word_t bias = is_code ? 1 : 0;

  if (u != NULL && unwind_getcontext (u, &context) == 0 && u->init_local (&cursor, &context) == 0 &&
      u->set_reg (&cursor, UNW_REG_IP, (unw_word_t) (guintptr) address + bias) == 0 &&
      append_unw_name (u, out, &cursor, bias))
    {
      append_object (out, address, FALSE);
      return;
    }
#endif
  append_object (out, address, TRUE);
}

void
coop_debug_append_symbol (GString  *out,
                          gpointer  address)
{
  append_symbol (out, address, FALSE);
}

void
coop_debug_append_code (GString  *out,
                        gpointer  address)
{
  append_symbol (out, address, TRUE);
}

/* --- creation sites --------------------------------------------------------------- */

/* Time this thread spent recording creation sites: debug mode's own cost,
 * which the slow-step check leaves out (a step that starts 7,000 tasks
 * takes 7 ms, or 140 ms when each creation calls backtrace()). */
static COOP_TLS gint64 capture_usec;

G_GNUC_NO_INLINE CoopDebugSite *
coop_debug_site_capture (CoopLoop *loop)
{
  CoopDebugSite *site;
  CoopTask *task;
  gint64 start;

  if ((coop_loop_get_debug_internal (loop) & CAPTURE_FLAGS) == 0)
    return NULL;

  start = g_get_monotonic_time ();
  site = g_new0 (CoopDebugSite, 1);
  task = coop_task_get_current ();
  if (task != NULL)
    {
      site->task_id = coop_task_get_id (task);
      site->task_name = g_strdup (coop_task_get_name (task));
    }
  site->n_frames = backtrace (site->frames, G_N_ELEMENTS (site->frames));
  capture_usec += g_get_monotonic_time () - start;
  return site;
}

void
coop_debug_site_free (CoopDebugSite *site)
{
  g_free (site->task_name);
  g_free (site);
}

/* "<prefix>in task #3 'fetch' at f+0x1a (prog) < g+0x2c (prog)" */
void
coop_debug_site_append (CoopDebugSite *site,
                        GString       *out,
                        const char    *prefix)
{
  int i;

  g_string_append (out, prefix);
  if (site->task_id != 0)
    g_string_append_printf (out, "in task #%" G_GUINT64_FORMAT " '%s'", site->task_id,
                            site->task_name != NULL ? site->task_name : "(unnamed)");
  else
    g_string_append (out, "outside any task");
  g_string_append (out, " at ");
  for (i = SITE_SKIP; i < site->n_frames; i++)
    {
      if (i > SITE_SKIP)
        g_string_append (out, " < ");
      coop_debug_append_symbol (out, site->frames[i]);
    }
  if (prefix[0] == ' ' && prefix[1] == '(')
    g_string_append_c (out, ')');
}

void
coop_debug_future_finalized (CoopFuture *future,
                             CoopLoop   *loop,
                             gboolean    observed)
{
  CoopDebugSite *site = coop_future_get_site (future);
  g_autoptr(GString) message = NULL;
  const char *name;

  if (!COOP_IS_TASK (future) || observed ||
      (coop_loop_get_debug_internal (loop) & COOP_DEBUG_NEVER_AWAITED) == 0)
    return;
  /* A failure nobody read is reported as such. */
  if (coop_future_get_state (future) == COOP_FUTURE_STATE_FAILED)
    return;

  name = coop_task_get_name (COOP_TASK (future));
  message = g_string_new (NULL);
  g_string_printf (message, "Task #%" G_GUINT64_FORMAT " '%s' was never awaited (nobody awaited it, "
                   "watched it or read its result)",
                   coop_task_get_id (COOP_TASK (future)), name != NULL ? name : "(unnamed)");
  if (site != NULL)
    coop_debug_site_append (site, message, "; created ");
  g_warning ("%s", message->str);
}

/* --- backtraces of paused tasks ------------------------------------------------------ */

#if defined(HAVE_LIBUNWIND) && (defined(__x86_64__) || defined(__aarch64__))
/* libunwind's local context is a ucontext_t on both: fill in what the
 * paused fiber will resume with and unwind from there with the DWARF
 * call-frame information, which needs no frame pointers. */
static int
unwind_paused (const CoopFiberRegs *regs,
               GString             *out,
               const char          *indent)
{
  const Unwind *u = unwind_get ();
  unw_context_t context;
  unw_cursor_t cursor;
  int n = 0;

  if (u == NULL || unwind_getcontext (u, &context) != 0)
    return -1;
# if defined(__x86_64__)
  context.uc_mcontext.gregs[REG_RBX] = regs->callee[0];
  context.uc_mcontext.gregs[REG_RBP] = regs->callee[1];
  context.uc_mcontext.gregs[REG_R12] = regs->callee[2];
  context.uc_mcontext.gregs[REG_R13] = regs->callee[3];
  context.uc_mcontext.gregs[REG_R14] = regs->callee[4];
  context.uc_mcontext.gregs[REG_R15] = regs->callee[5];
  context.uc_mcontext.gregs[REG_RSP] = regs->sp;
  context.uc_mcontext.gregs[REG_RIP] = regs->pc;
# else
  for (int i = 0; i < 11; i++)
    context.uc_mcontext.regs[19 + i] = regs->callee[i];
  context.uc_mcontext.regs[30] = regs->pc;
  context.uc_mcontext.sp = regs->sp;
  context.uc_mcontext.pc = regs->pc;
# endif
  if (u->init_local (&cursor, &context) != 0)
    return -1;
  do
    {
      unw_word_t ip = 0;

      if (u->get_reg (&cursor, UNW_REG_IP, &ip) != 0 || ip == 0)
        break;
      g_string_append_printf (out, "%s#%d ", indent, n);
      if (!append_unw_name (u, out, &cursor, 0))
        append_object (out, (gpointer) (guintptr) ip, TRUE);
      else
        append_object (out, (gpointer) (guintptr) ip, FALSE);
      n++;
    }
  while (n < MAX_FRAMES && u->step (&cursor) > 0);
  return n;
}
#endif

/* The portable walk: follow the chain of frame records (saved frame
 * pointer, return address), which only holds where every frame keeps a
 * frame pointer (-fno-omit-frame-pointer).  Every read is checked against
 * the bounds of the fiber's stack first, and frames must go up. */
__attribute__((no_sanitize_address)) static int
walk_frame_pointers (const CoopFiberRegs *regs,
                     guintptr             low,
                     guintptr             high,
                     GString             *out,
                     const char          *indent)
{
  guintptr fp = regs->fp;
  guintptr pc = regs->pc;
  int n = 0;

  while (pc != 0 && n < MAX_FRAMES)
    {
      const guintptr *record;
      guintptr next;

      g_string_append_printf (out, "%s#%d ", indent, n++);
      coop_debug_append_symbol (out, (gpointer) pc);
      if (fp < low || fp > high - 2 * sizeof (guintptr) || (fp & (sizeof (guintptr) - 1)) != 0)
        break;
      record = (const guintptr *) fp;
      next = record[0];
      pc = record[1];
      if (next <= fp)
        break;
      fp = next;
    }
  return n;
}

void
coop_task_append_backtrace (CoopTask   *task,
                            GString    *out,
                            const char *indent)
{
  gboolean started, running;
  CoopFiber *fiber = coop_task_get_fiber_internal (task, &started, &running);
  CoopFiberRegs regs;
  guintptr low, high;
  int n = -1;

  if (coop_future_is_done (COOP_FUTURE (task)))
    {
      g_string_append_printf (out, "%s(done: no stack)", indent);
      return;
    }
  if (!started)
    {
      g_string_append_printf (out, "%s(not started yet: no stack)", indent);
      return;
    }
  if (running)
    {
      g_string_append_printf (out, "%s(running: its frames are the current thread's, see gdb or backtrace())",
                              indent);
      return;
    }
  if (!coop_fiber_get_paused_regs (fiber, &regs, &low, &high))
    {
      g_string_append_printf (out, "%s(no saved context to unwind)", indent);
      return;
    }
#if defined(HAVE_LIBUNWIND) && (defined(__x86_64__) || defined(__aarch64__))
  n = unwind_paused (&regs, out, indent);
#endif
  if (n <= 0)
    walk_frame_pointers (&regs, low, high, out, indent);
}

/**
 * coop_task_dump_backtrace:
 * @task: a task
 *
 * Describes the C stack of @task while it is paused (in [func@Coop.await]
 * or [func@Coop.yield]), innermost frame first, one frame per line:
 * `#0 coop_fiber_suspend+0x3f (libcoop-1.so.0)`.
 *
 * With libunwind (an optional build dependency, used when found) the
 * stack is unwound from the registers saved by the context switch with
 * the DWARF call-frame information, and frames are named from the files'
 * symbol tables, static functions included unless the files are stripped
 * (install the debug symbols).  Without it, the frame-pointer chain is
 * followed, which needs code built with `-fno-omit-frame-pointer`, and
 * frames are named with dladdr(), which only knows exported symbols
 * (link programs with `-rdynamic`).
 *
 * A task that runs (the caller itself), has not started or is done has
 * no paused stack: the text says so.
 *
 * Returns: (transfer full): the backtrace, as text
 */
char *
coop_task_dump_backtrace (CoopTask *task)
{
  GString *out;

  g_return_val_if_fail (COOP_IS_TASK (task), NULL);

  out = g_string_new (NULL);
  /* One frame per line. */
  coop_task_append_backtrace (task, out, "\n");
  g_string_erase (out, 0, 1);
  g_string_append_c (out, '\n');
  return g_string_free (out, FALSE);
}

/* --- the task dump ------------------------------------------------------------------------ */

static void
append_duration (GString *out,
                 gint64   usec)
{
  if (usec < 0)
    usec = 0;
  if (usec < 10 * G_TIME_SPAN_MILLISECOND)
    g_string_append_printf (out, "%.3f ms", usec / 1000.0);
  else
    g_string_append_printf (out, "%.3f s", usec / (double) G_TIME_SPAN_SECOND);
}

static void
append_task (CoopLoop   *loop,
             CoopTask   *task,
             GHashTable *by_id,
             gint64      now,
             GString    *out)
{
  const char *name = coop_task_get_name (task);
  gboolean started, running;
  CoopFuture *awaiting = coop_task_get_awaiting (task);
  CoopDebugSite *site = coop_future_get_site (COOP_FUTURE (task));
  guint64 parent_id = coop_task_get_parent_id (task);

  coop_task_get_fiber_internal (task, &started, &running);

  g_string_append_printf (out, "task #%" G_GUINT64_FORMAT " '%s': %s%s, age ",
                          coop_task_get_id (task), name != NULL ? name : "(unnamed)",
                          !started ? "not started" :
                          running ? "running" :
                          awaiting != NULL ? "paused" : "ready to resume",
                          coop_task_is_cancelling (task) ? ", cancelling" : "");
  append_duration (out, now - coop_task_get_creation_time (task));
  if (parent_id != 0)
    {
      CoopTask *parent = g_hash_table_lookup (by_id, &parent_id);

      if (parent != NULL)
        g_string_append_printf (out, ", parent #%" G_GUINT64_FORMAT " '%s'", parent_id,
                                coop_task_get_name (parent) != NULL ? coop_task_get_name (parent) : "(unnamed)");
      else
        g_string_append_printf (out, ", parent #%" G_GUINT64_FORMAT " (done)", parent_id);
    }
  g_string_append_c (out, '\n');

  if (awaiting != NULL)
    {
      g_string_append (out, "    awaiting: ");
      coop_future_append_description (awaiting, out, 3);
      g_string_append_c (out, '\n');
    }
  if (site != NULL)
    {
      coop_debug_site_append (site, out, "    created ");
      g_string_append_c (out, '\n');
    }
  if ((coop_loop_get_debug_internal (loop) & COOP_DEBUG_BACKTRACES) != 0 && started && !running)
    {
      g_string_append (out, "    stack:");
      coop_task_append_backtrace (task, out, "\n      ");
      g_string_append_c (out, '\n');
    }
}

/**
 * coop_loop_dump_tasks:
 * @loop: a loop
 *
 * Describes, for people, every live task of @loop, in creation order: its
 * number, name, state, age and parent, and what it awaits, in the words of
 * [method@Coop.Future.describe] (a sleep with its deadline, an fd wait
 * with the fd and direction, a lock, queue or event with its state, a
 * combinator with how many futures it still waits for...).  In debug mode
 * ([method@Coop.Loop.set_debug]) each task also says where it was created,
 * and with %COOP_DEBUG_BACKTRACES where its stack stands.
 *
 * ```
 * Coop loop 0x5581c0a3e2a0: 3 live tasks, 0 ready entries, 2 timers
 * task #1 'main': paused, age 2.002 s
 *     awaiting: gather of 2, 2 pending; first: task #2 'ticker'
 * task #2 'ticker': paused, age 2.002 s, parent #1 'main'
 *     awaiting: sleep, due in 498.113 ms
 * ```
 *
 * The format is for people and may change.  See
 * [method@Coop.Loop.install_dump_signal] to print it on a signal.
 *
 * Returns: (transfer full): the dump
 */
char *
coop_loop_dump_tasks (CoopLoop *loop)
{
  GString *out;
  GList *tasks, *l;
  g_autoptr(GHashTable) by_id = NULL;
  guint n_ready, n_timers, n_tasks;
  guint flags;
  gint64 now = g_get_monotonic_time ();

  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);

  tasks = coop_loop_list_tasks (loop);
  coop_loop_get_counts (loop, &n_ready, &n_timers, &n_tasks);
  by_id = g_hash_table_new (g_int64_hash, g_int64_equal);
  {
    g_autofree guint64 *ids = g_new (guint64, n_tasks + 1);
    guint i = 0;

    for (l = tasks; l != NULL && i < n_tasks; l = l->next, i++)
      {
        ids[i] = coop_task_get_id (l->data);
        g_hash_table_insert (by_id, &ids[i], l->data);
      }

    out = g_string_new (NULL);
    g_string_append_printf (out, "Coop loop %p: %u live task%s, %u ready entr%s, %u timer%s",
                            (gpointer) loop, n_tasks, n_tasks == 1 ? "" : "s",
                            n_ready, n_ready == 1 ? "y" : "ies", n_timers, n_timers == 1 ? "" : "s");
    flags = coop_loop_get_debug_internal (loop);
    if (flags != 0)
      {
        g_string_append (out, ", debug:");
        for (guint k = 0; k < G_N_ELEMENTS (debug_keys); k++)
          if ((flags & debug_keys[k].value) != 0)
            g_string_append_printf (out, " %s", debug_keys[k].key);
      }
    if (coop_loop_is_closed (loop))
      g_string_append (out, ", closed");
    g_string_append_c (out, '\n');

    for (l = tasks; l != NULL; l = l->next)
      append_task (loop, l->data, by_id, now, out);
  }
  g_list_free_full (tasks, g_object_unref);
  return g_string_free (out, FALSE);
}

/**
 * coop_loop_dump_tasks_to_fd:
 * @loop: a loop
 * @fd: a file descriptor open for writing, such as 2 (stderr)
 *
 * Writes [method@Coop.Loop.dump_tasks] to @fd, with plain write() calls.
 * Call it from the loop's thread, from a callback of the loop (a
 * [method@Coop.Loop.install_dump_signal] handler, a GLib unix signal
 * source): it allocates, so never from inside a raw signal handler.
 *
 * Returns: %TRUE if everything was written
 */
gboolean
coop_loop_dump_tasks_to_fd (CoopLoop *loop,
                            int       fd)
{
  g_autofree char *dump = NULL;
  gsize done = 0, len;

  g_return_val_if_fail (COOP_IS_LOOP (loop), FALSE);
  g_return_val_if_fail (fd >= 0, FALSE);

  dump = coop_loop_dump_tasks (loop);
  len = strlen (dump);
  while (done < len)
    {
      gssize n = write (fd, dump + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      done += n;
    }
  return TRUE;
}

static gboolean
dump_signal_fired (gpointer data)
{
  CoopLoop *loop = data;

  coop_loop_dump_tasks_to_fd (loop, STDERR_FILENO);
  return G_SOURCE_CONTINUE;
}

/**
 * coop_loop_install_dump_signal:
 * @loop: a loop
 * @signum: the signal, typically `SIGUSR1` (one of those
 *   g_unix_signal_source_new() supports: `SIGHUP`, `SIGINT`, `SIGTERM`,
 *   `SIGUSR1`, `SIGUSR2`, `SIGWINCH`), or 0 to remove the handler
 *
 * Prints [method@Coop.Loop.dump_tasks] to stderr each time the process
 * gets @signum (`kill -USR1 <pid>`).  The dump is made on the loop's
 * thread, from a GLib unix signal source on the loop's context, so it
 * shows the loop between two callbacks, never in the middle of one; a loop
 * stuck in one callback prints nothing (see %COOP_DEBUG_STALL).  One
 * signal per loop: installing another replaces the first.
 *
 * Returns: %TRUE if the handler is installed (or removed)
 */
gboolean
coop_loop_install_dump_signal (CoopLoop *loop,
                               int       signum)
{
  DebugState *state;

  g_return_val_if_fail (COOP_IS_LOOP (loop), FALSE);

  if (signum != 0 && signum != SIGHUP && signum != SIGINT && signum != SIGTERM &&
      signum != SIGUSR1 && signum != SIGUSR2 && signum != SIGWINCH)
    {
      g_critical ("%s: signal %d is not one GLib can watch (use SIGUSR1)", G_STRFUNC, signum);
      return FALSE;
    }

  state = debug_state (loop);
  if (state->dump_source != NULL)
    {
      g_source_destroy (state->dump_source);
      g_clear_pointer (&state->dump_source, g_source_unref);
    }
  if (signum == 0)
    return TRUE;

  state->dump_source = g_unix_signal_source_new (signum);
  g_source_set_static_name (state->dump_source, "[coop-dump-signal]");
  /* No reference: the loop destroys the source when it goes. */
  g_source_set_callback (state->dump_source, dump_signal_fired, loop, NULL);
  g_source_attach (state->dump_source, coop_loop_get_context (loop));
  return TRUE;
}

/* --- debug mode ------------------------------------------------------------------------------- */

static gpointer
watchdog_main (gpointer data)
{
  DebugState *state = data;
  guint warned_progress = G_MAXUINT;

  g_mutex_lock (&state->lock);
  while (!state->stop)
    {
      gint64 wait = MAX (state->stall_usec / 4, 1000);
      gint64 start, now;
      guint progress;

      g_cond_wait_until (&state->cond, &state->lock, g_get_monotonic_time () + wait);
      if (state->stop)
        break;
      start = __atomic_load_n (&state->entry_start, __ATOMIC_RELAXED);
      progress = g_atomic_int_get (&state->progress);
      now = g_get_monotonic_time ();
      if (start != 0 && now - start >= state->stall_usec && progress != warned_progress)
        {
          char label[sizeof state->entry_label];
          gpointer code = g_atomic_pointer_get (&state->entry_code);
          g_autoptr(GString) what = g_string_new (NULL);

          memcpy (label, state->entry_label, sizeof label);
          label[sizeof label - 1] = '\0';
          warned_progress = progress;
          g_mutex_unlock (&state->lock);
          if (code != NULL)
            {
              g_string_append (what, "callback ");
              coop_debug_append_code (what, code);
            }
          else
            g_string_append (what, label);
          g_warning ("The loop has been stalled for %.3f s by %s, which has not returned to the loop "
                     "(a blocking call or a long computation in a task or callback)",
                     (now - start) / (double) G_TIME_SPAN_SECOND, what->str);
          g_mutex_lock (&state->lock);
        }
    }
  g_mutex_unlock (&state->lock);
  return NULL;
}

static void
watchdog_stop (DebugState *state)
{
  if (state->watchdog == NULL)
    return;
  g_mutex_lock (&state->lock);
  state->stop = TRUE;
  g_cond_signal (&state->cond);
  g_mutex_unlock (&state->lock);
  g_thread_join (state->watchdog);
  state->watchdog = NULL;
  state->stop = FALSE;
}

/**
 * coop_loop_set_debug:
 * @loop: a loop
 * @flags: what to check, or %COOP_DEBUG_NONE to turn debug mode off
 *
 * Turns debug mode on or off for @loop (asyncio's debug mode).  Loops start
 * with the flags of the `COOP_DEBUG` environment variable, a comma
 * separated list of `slow`, `never-retrieved`, `never-awaited`,
 * `destroy-pending`, `stall` and `backtraces`, or `all`
 * (`COOP_DEBUG=help` lists them); `COOP_DEBUG_SLOW_MS` and
 * `COOP_DEBUG_STALL_MS` set the two durations in milliseconds.
 *
 * Creation sites are recorded for what is created after this call.  With
 * debug mode off, all this costs one test of the loop's flags per
 * dispatch and one test of a global flag per future.
 */
void
coop_loop_set_debug (CoopLoop       *loop,
                     CoopDebugFlags  flags)
{
  DebugState *state;

  g_return_if_fail (COOP_IS_LOOP (loop));

  state = debug_state (loop);
  if ((flags & CAPTURE_FLAGS) != 0)
    g_atomic_int_set (&coop_debug_capture, 1);
  coop_loop_set_debug_flags_internal (loop, flags);

  if ((flags & COOP_DEBUG_STALL) != 0 && state->watchdog == NULL)
    state->watchdog = g_thread_new ("coop-watchdog", watchdog_main, state);
  else if ((flags & COOP_DEBUG_STALL) == 0)
    watchdog_stop (state);
}

/**
 * coop_loop_get_debug:
 * @loop: a loop
 *
 * Gets the debug flags of @loop.
 *
 * Returns: the flags set by [method@Coop.Loop.set_debug] or `COOP_DEBUG`
 */
CoopDebugFlags
coop_loop_get_debug (CoopLoop *loop)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), COOP_DEBUG_NONE);

  return coop_loop_get_debug_internal (loop);
}

/**
 * coop_loop_set_slow_duration:
 * @loop: a loop
 * @duration_usec: the duration in microseconds; 0 or less restores the
 *   default (100 ms, or `COOP_DEBUG_SLOW_MS`)
 *
 * Sets how long a callback or a task step may run before
 * %COOP_DEBUG_SLOW warns about it.
 */
void
coop_loop_set_slow_duration (CoopLoop *loop,
                             gint64    duration_usec)
{
  g_return_if_fail (COOP_IS_LOOP (loop));

  debug_state (loop)->slow_usec = duration_usec > 0 ? duration_usec :
                                  env_slow_usec > 0 ? env_slow_usec : DEFAULT_SLOW_USEC;
}

/**
 * coop_loop_get_slow_duration:
 * @loop: a loop
 *
 * Gets the threshold of %COOP_DEBUG_SLOW.
 *
 * Returns: the duration, in microseconds
 */
gint64
coop_loop_get_slow_duration (CoopLoop *loop)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), 0);

  return debug_state (loop)->slow_usec;
}

/**
 * coop_loop_set_stall_duration:
 * @loop: a loop
 * @duration_usec: the duration in microseconds; 0 or less restores the
 *   default (1 s, or `COOP_DEBUG_STALL_MS`)
 *
 * Sets how long one callback or task step may hold the loop before the
 * watchdog of %COOP_DEBUG_STALL warns, from its own thread, while it is
 * still running.
 */
void
coop_loop_set_stall_duration (CoopLoop *loop,
                              gint64    duration_usec)
{
  DebugState *state;

  g_return_if_fail (COOP_IS_LOOP (loop));

  state = debug_state (loop);
  g_mutex_lock (&state->lock);
  state->stall_usec = duration_usec > 0 ? duration_usec :
                      env_stall_usec > 0 ? env_stall_usec : DEFAULT_STALL_USEC;
  g_cond_signal (&state->cond);
  g_mutex_unlock (&state->lock);
}

/**
 * coop_loop_get_stall_duration:
 * @loop: a loop
 *
 * Gets the threshold of %COOP_DEBUG_STALL.
 *
 * Returns: the duration, in microseconds
 */
gint64
coop_loop_get_stall_duration (CoopLoop *loop)
{
  g_return_val_if_fail (COOP_IS_LOOP (loop), 0);

  return debug_state (loop)->stall_usec;
}

void
coop_debug_loop_init (CoopLoop *loop)
{
  parse_env_once ();
  if (env_flags != 0)
    coop_loop_set_debug (loop, env_flags);
}

void
coop_debug_loop_shutdown (CoopLoop *loop)
{
  DebugState *state = coop_loop_get_debug_state (loop);

  if (state == NULL)
    return;
  coop_loop_set_debug_flags_internal (loop, 0);
  watchdog_stop (state);
  if (state->dump_source != NULL)
    {
      g_source_destroy (state->dump_source);
      g_source_unref (state->dump_source);
    }
  g_mutex_clear (&state->lock);
  g_cond_clear (&state->cond);
  g_free (state);
  coop_loop_set_debug_state (loop, NULL);
}

/* One entry of the ready queue or the timer source, in debug mode.
 * @code is the user's callback, or the ready function itself. */
void
coop_debug_run_entry (CoopLoop      *loop,
                      CoopReadyFunc  func,
                      gpointer       data,
                      gpointer       code)
{
  DebugState *state = debug_state (loop);
  guint flags = coop_loop_get_debug_internal (loop);
  CoopTask *task = NULL;
  gint64 start, elapsed, outer_start, outer_capture;
  gpointer outer_code;

  if (coop_task_is_step (func, data))
    task = g_object_ref (data);   /* it may finish, and go, in this step */

  outer_start = state->entry_start;
  outer_code = state->entry_code;
  if ((flags & COOP_DEBUG_STALL) != 0)
    {
      if (task != NULL)
        {
          const char *name = coop_task_get_name (task);

          g_snprintf (state->entry_label, sizeof state->entry_label,
                      "task #%" G_GUINT64_FORMAT " '%s'", coop_task_get_id (task),
                      name != NULL ? name : "(unnamed)");
          g_atomic_pointer_set (&state->entry_code, NULL);
        }
      else
        g_atomic_pointer_set (&state->entry_code, code);
    }
  outer_capture = capture_usec;
  capture_usec = 0;
  start = g_get_monotonic_time ();
  __atomic_store_n (&state->entry_start, start, __ATOMIC_RELAXED);

  func (data);

  elapsed = g_get_monotonic_time () - start;
  /* An entry nested in this one (a nested main loop) counted its own
   * captures in both: they are part of this entry's time too. */
  elapsed -= capture_usec;
  capture_usec += outer_capture;
  g_atomic_int_inc (&state->progress);
  __atomic_store_n (&state->entry_start, outer_start, __ATOMIC_RELAXED);
  g_atomic_pointer_set (&state->entry_code, outer_code);

  if ((flags & COOP_DEBUG_SLOW) != 0 && elapsed >= state->slow_usec)
    {
      g_autoptr(GString) message = g_string_new ("Executing ");

      if (task != NULL)
        {
          const char *name = coop_task_get_name (task);
          CoopDebugSite *site = coop_future_get_site (COOP_FUTURE (task));

          g_string_append_printf (message, "a step of task #%" G_GUINT64_FORMAT " '%s'",
                                  coop_task_get_id (task), name != NULL ? name : "(unnamed)");
          if (site != NULL)
            coop_debug_site_append (site, message, " (created ");
        }
      else
        {
          g_string_append (message, "callback ");
          coop_debug_append_code (message, code);
        }
      g_string_append (message, " took ");
      append_duration (message, elapsed);
      g_warning ("%s", message->str);
    }

  if (task != NULL)
    g_object_unref (task);
}
