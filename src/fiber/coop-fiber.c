/* coop-fiber.c: fibers and the stack pool they run on.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Memory layout
 * -------------
 * Stacks of the pool's default size come from slabs: one anonymous
 * MAP_NORESERVE mapping holding 8, 16, 32, then 64 stacks.  A mapping
 * costs one VMA however many stacks it holds, and a page of it costs RSS
 * only once touched, so a suspended fiber that made a few calls costs
 * about one page.  vm.max_map_count (65530 by default) is the limit that
 * matters at 100,000 fibers: a PROT_NONE guard page splits a mapping, so
 * every stack guarded that way costs two VMAs.  Three kinds of slab:
 *
 *  guard regions (Linux >= 6.13, probed at start-up):
 *           slot i = [guard page][usable stack ....]   (top page-aligned)
 *           the guard page is a guard region (MADV_GUARD_INSTALL): a
 *           page-table marker that faults like PROT_NONE but splits no
 *           mapping, survives MADV_DONTNEED and costs no memory.  Every
 *           stack is guarded, whatever the number.
 *
 *  mprotect (older kernels, while the guard budget lasts):
 *           the same layout with PROT_NONE guard pages, two VMAs a stack.
 *
 *  canary (older kernels, past the budget):
 *           [guard page][slot 0][slot 1]...[slot n-1][one more page]
 *           slot i = [page P_i][usable stack ....]
 *           with the stack's top shifted up into the next slot's first
 *           page, and the next stack's canary in the last bytes of that
 *           same page:
 *
 *      P_i                        P_i + page         P_{i+1}                  P_{i+1} + page
 *      | top of stack i-1 |canary i| stack i ...      | top of stack i |canary i+1| stack i+1 ...
 *
 *           The page holding a stack's top frames, which it touches
 *           anyway, also holds its upper neighbour's canary, so canaries
 *           cost no extra resident page when neighbouring stacks are in
 *           use.  One PROT_NONE page below the whole slab (two VMAs a
 *           slab) stops a runaway recursion that never gets to switch out:
 *           it overwrites the stacks below its own and faults there, and
 *           the fault is reported naming it.  An overflow that returns
 *           before reaching it is caught by the canary.
 *
 * mprotect slabs are made while a process-wide budget of guarded stacks
 * lasts (COOP_STACK_GUARD_BUDGET, default 16,384, i.e. ~32,768 VMAs), then
 * canary slabs.  A guard page hit is caught by a SIGSEGV/SIGBUS handler on
 * an alternate signal stack; a damaged canary is caught every time its
 * fiber switches out.  Either way the process says which task overflowed
 * and aborts.  Stacks of any other size are mapped one by one, each with
 * its own guard page (a guard region or PROT_NONE, not budgeted).
 * COOP_STACK_GUARD_REGIONS=0 makes a process do without guard regions,
 * as on older kernels.
 *
 * Free stacks sit on a "hot" list (most recently released first, pages
 * still resident) and a "cold" list (pages given back with
 * MADV_DONTNEED).  Past a bounded number of hot stacks, the oldest ones
 * are trimmed in batches, sorted by address so that neighbouring stacks
 * go back in one madvise() call.  A slab whose stacks are all free is
 * unmapped once enough other free stacks remain.
 *
 * Fibers
 * ------
 * coop_fiber_resume() and coop_fiber_suspend() are the hot path: no
 * system call, no allocation, no lock, two thread-local reads and two
 * writes per round trip, plus a canary check (one cache line) on canary
 * stacks.  AddressSanitizer and ThreadSanitizer are told about every
 * switch; valgrind about every stack handed out.
 */

#include "config.h"

#include "coop-fiber-private.h"

#include <gio/gio.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_H
# include <valgrind/valgrind.h>
#else
# define VALGRIND_STACK_REGISTER(start, end) 0
# define VALGRIND_STACK_DEREGISTER(id) ((void) (id))
# define RUNNING_ON_VALGRIND 0
#endif

#if defined(__SANITIZE_ADDRESS__)
# define COOP_ASAN 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer)
#  define COOP_ASAN 1
# endif
#endif

#ifdef COOP_ASAN
# include <sanitizer/asan_interface.h>
# include <sanitizer/common_interface_defs.h>
# define coop_asan_start_switch(save, bottom, size) \
  __sanitizer_start_switch_fiber ((save), (bottom), (size))
# define coop_asan_finish_switch(save, bottom_old, size_old) \
  __sanitizer_finish_switch_fiber ((save), (bottom_old), (size_old))
/* Only from the lowest poisoned byte up: unpoisoning a whole 256 KiB
 * stack writes 32 KiB of shadow, which for 100,000 stacks is 3 GiB of
 * RSS; finding that byte only reads the (mostly zero-page) shadow. */
# define coop_asan_unpoison(addr, size) \
  G_STMT_START { \
    guint8 *_lo = (guint8 *) __asan_region_is_poisoned ((addr), (size)); \
    if (_lo != NULL) \
      __asan_unpoison_memory_region (_lo, (gsize) ((guint8 *) (addr) + (size) - _lo)); \
  } G_STMT_END
#else
# define coop_asan_start_switch(save, bottom, size) ((void) 0)
# define coop_asan_finish_switch(save, bottom_old, size_old) ((void) 0)
# define coop_asan_unpoison(addr, size) ((void) 0)
#endif

/* ThreadSanitizer keeps a shadow call stack per thread: tell it about
 * every switch (__tsan_switch_to_fiber), or it mixes up the frames of
 * fibers that share a thread.  Flag 0: a switch synchronises the two
 * fibers, which run on one thread, one at a time. */
#if defined(__SANITIZE_THREAD__)
# define COOP_FIBER_TSAN 1
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define COOP_FIBER_TSAN 1
# endif
#endif

#ifdef COOP_FIBER_TSAN
# include <sanitizer/tsan_interface.h>
# define coop_tsan_fiber_create(fiber) ((fiber)->tsan_fiber = __tsan_create_fiber (0))
# define coop_tsan_fiber_destroy(fiber) \
  G_STMT_START { \
    if ((fiber)->tsan_fiber != NULL) \
      __tsan_destroy_fiber ((fiber)->tsan_fiber); \
    (fiber)->tsan_fiber = NULL; \
  } G_STMT_END
# define coop_tsan_fiber_enter(fiber) \
  G_STMT_START { \
    (fiber)->tsan_caller = __tsan_get_current_fiber (); \
    __tsan_switch_to_fiber ((fiber)->tsan_fiber, 0); \
  } G_STMT_END
# define coop_tsan_fiber_leave(fiber) __tsan_switch_to_fiber ((fiber)->tsan_caller, 0)
#else
# define coop_tsan_fiber_create(fiber) ((void) 0)
# define coop_tsan_fiber_destroy(fiber) ((void) 0)
# define coop_tsan_fiber_enter(fiber) ((void) 0)
# define coop_tsan_fiber_leave(fiber) ((void) 0)
#endif

#ifndef MAP_NORESERVE
# define MAP_NORESERVE 0
#endif
#ifndef MAP_STACK
# define MAP_STACK 0
#endif

#define COOP_STACK_DEFAULT_SIZE   (256 * 1024)
/* Room for a few frames plus a signal frame (up to ~3.5 KiB with AVX-512
 * state) when an ordinary signal arrives while a fiber runs. */
#define COOP_STACK_MIN_SIZE       (16 * 1024)
#define COOP_SLAB_MIN_STACKS      8
#define COOP_SLAB_MAX_STACKS      64
#define COOP_CANARY_WORDS         8
#define COOP_CANARY_BYTES         (COOP_CANARY_WORDS * sizeof (guint64))
#define COOP_CANARY_MAGIC         G_GUINT64_CONSTANT (0xc00bf1be5ac0ffee)
/* Free stacks always kept with their pages resident, and how many more
 * may pile up past the pool's bound before a trim, so madvise() runs once
 * per batch, not per fiber. */
#define COOP_POOL_HOT_MAX         16
#define COOP_POOL_TRIM_BATCH      48
/* How often an idle loop gives back half of what the last burst left. */
#define COOP_POOL_IDLE_TRIM_USEC  G_USEC_PER_SEC
/* An empty slab is unmapped only if at least this many free stacks remain
 * without it, so a loop hovering around a slab boundary does not map and
 * unmap in a cycle. */
#define COOP_POOL_SPARE_STACKS    128
#define COOP_POOL_SINGLES_MAX     4
#define COOP_GUARD_BUDGET_DEFAULT 16384
#define COOP_ALTSTACK_SIZE        (64 * 1024)
/* Linux 6.13: guard regions, pages that fault like PROT_NONE ones but are
 * page-table markers, so they split no mapping.  Older kernels (and older
 * headers) say EINVAL. */
#ifndef MADV_GUARD_INSTALL
# define COOP_MADV_GUARD_INSTALL  102
#else
# define COOP_MADV_GUARD_INSTALL  MADV_GUARD_INSTALL
#endif

typedef struct _CoopStackSlab CoopStackSlab;

/* How the stacks of a slab are guarded (see the top of the file). */
typedef enum
{
  COOP_GUARD_REGION,    /* a guard region per stack (no VMA) */
  COOP_GUARD_MPROTECT,  /* a PROT_NONE page per stack (a VMA each, budgeted) */
  COOP_GUARD_SLAB,      /* canaries, one PROT_NONE page below the slab */
} CoopGuardKind;

typedef enum
{
  COOP_STACK_NOWHERE,
  COOP_STACK_HOT,
  COOP_STACK_COLD,
  COOP_STACK_SINGLES,
} CoopStackWhere;

struct _CoopStack
{
  CoopStack     *prev;          /* links in the pool's hot/cold/singles list */
  CoopStack     *next;
  CoopStackSlab *slab;          /* NULL for a stack mapped on its own */
  guint8        *low;           /* lowest usable byte */
  guint8        *top;           /* one past the highest usable byte, 16-aligned */
  guint64       *canary;        /* just below low; NULL when guarded */
  guint8        *guard;         /* PROT_NONE page just below low, or NULL */
  CoopFiber     *owner;
  guint          valgrind_id;
  guint16        index;         /* slot in the slab */
  guint8         where;         /* CoopStackWhere */
  guint8         in_use;
};

struct _CoopStackSlab
{
  CoopStackSlab *prev;
  CoopStackSlab *next;
  guint8        *map;
  gsize          map_size;
  guint8        *base;          /* slot 0: map, or map + one page (canary slab) */
  gsize          slot;          /* distance between two stacks */
  guint          n_stacks;
  guint          n_in_use;
  guint          n_cold;        /* on the pool's cold list */
  CoopGuardKind  guard_kind;
  gboolean       retired;       /* not the pool's default size any more:
                                 * unmapped when its last stack returns */
  CoopStack      stacks[];
};

typedef struct
{
  CoopStack *head;
  CoopStack *tail;
  guint      length;
} CoopStackList;

struct _CoopStackPool
{
  gsize          default_size;  /* usable size asked of slab stacks, page-rounded */
  CoopStackSlab *slabs;
  CoopStackList  hot;
  CoopStackList  cold;
  CoopStackList  singles;
  guint          n_in_use;
  guint          n_slab_stacks; /* in non-retired slabs; drives slab growth */
  guint          peak;          /* most stacks in use at once lately: as many
                                 * free ones stay warm (see the idle trim) */
  gint64         next_idle_trim;
  guint          trim_target;   /* hot stacks to keep in the idle trim's
                                 * round under way; 0 between rounds */
  gboolean       cold_grew;     /* stacks went cold since the last round */
  gboolean       zombie;        /* freed while stacks were in use */
};

static gsize coop_page_size;
static gint  coop_guard_budget;     /* guarded stacks that may still be made */
static gint  coop_guard_regions;    /* the kernel has MADV_GUARD_INSTALL */
static gint  coop_batch_madvise_broken; /* no process_madvise() on ourselves
                                         * (coop_batch_madvise()) */

COOP_TLS CoopFiber *coop_current_fiber;
static COOP_TLS gboolean   coop_thread_ready;

/* --- process-wide state -------------------------------------------------- */

#ifdef COOP_ASAN
static void coop_fiber_asan_death (void);
#endif

static void coop_fiber_global_init (void);

/* Whether this kernel has guard regions, unless COOP_STACK_GUARD_REGIONS=0
 * says to do without them (to test the fallback older kernels get). */
static gboolean
coop_probe_guard_regions (void)
{
  const char *env = g_getenv ("COOP_STACK_GUARD_REGIONS");
  gboolean ok;
  guint8 *map;

  if (env != NULL && g_strcmp0 (env, "0") == 0)
    return FALSE;

  map = mmap (NULL, coop_page_size, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED)
    return FALSE;
  ok = madvise (map, coop_page_size, COOP_MADV_GUARD_INSTALL) == 0;
  munmap (map, coop_page_size);

  return ok;
}

gboolean
coop_stack_batch_madvise_in_use (void)
{
  coop_fiber_global_init ();
  return !g_atomic_int_get (&coop_batch_madvise_broken) && !RUNNING_ON_VALGRIND;
}

gboolean
coop_stack_guard_regions_in_use (void)
{
  coop_fiber_global_init ();
  return g_atomic_int_get (&coop_guard_regions);
}

static void
coop_fiber_global_init (void)
{
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      const char *env = g_getenv ("COOP_STACK_GUARD_BUDGET");
      guint64 budget = COOP_GUARD_BUDGET_DEFAULT;

      coop_page_size = (gsize) sysconf (_SC_PAGESIZE);

      if (env != NULL && *env != '\0')
        {
          char *end = NULL;
          guint64 value = g_ascii_strtoull (env, &end, 10);

          if (end != NULL && *end == '\0')
            budget = MIN (value, (guint64) G_MAXINT);
          else
            g_warning ("Ignoring COOP_STACK_GUARD_BUDGET=%s: not a number", env);
        }
      g_atomic_int_set (&coop_guard_budget, (gint) budget);
      g_atomic_int_set (&coop_guard_regions, coop_probe_guard_regions ());
      if (g_strcmp0 (g_getenv ("COOP_STACK_BATCH_MADVISE"), "0") == 0)
        g_atomic_int_set (&coop_batch_madvise_broken, TRUE);
#ifdef COOP_ASAN
      __sanitizer_set_death_callback (coop_fiber_asan_death);
#endif

      g_once_init_leave (&initialized, 1);
    }
}

static gboolean
coop_guard_budget_take (guint n)
{
  gint old;

  do
    {
      old = g_atomic_int_get (&coop_guard_budget);
      if (old < (gint) n)
        return FALSE;
    }
  while (!g_atomic_int_compare_and_exchange (&coop_guard_budget, old, old - (gint) n));

  return TRUE;
}

static void
coop_guard_budget_give (guint n)
{
  g_atomic_int_add (&coop_guard_budget, (gint) n);
}

static gsize
coop_stack_round_size (gsize size)
{
  size = MAX (size, COOP_STACK_MIN_SIZE);
  return (size + coop_page_size - 1) & ~(coop_page_size - 1);
}

/* --- overflow reports ---------------------------------------------------- */

static gsize
coop_append (char       *buf,
             gsize       len,
             gsize       cap,
             const char *str)
{
  while (*str != '\0' && len < cap)
    buf[len++] = *str++;
  return len;
}

/* Decimal digits of @n, async-signal-safe. */
static gsize
coop_append_uint (char  *buf,
                  gsize  len,
                  gsize  cap,
                  guint  n)
{
  char digits[16];
  gsize i = sizeof digits;

  digits[--i] = '\0';
  do
    digits[--i] = (char) ('0' + n % 10);
  while ((n /= 10) != 0 && i > 0);

  return coop_append (buf, len, cap, digits + i);
}

/* Async-signal-safe: called from the SIGSEGV handler, so only write(2)
 * and abort(); the name comes from name_func, which promises the same. */
G_GNUC_NORETURN static void
coop_fiber_die_overflow (CoopFiber  *fiber,
                         const char *how)
{
  const char *name = NULL;
  char buf[384];
  gsize len = 0;
  ssize_t r;

  if (fiber->name_func != NULL)
    name = fiber->name_func (fiber->name_data);

  if (name != NULL)
    {
      len = coop_append (buf, len, sizeof buf - 64, "Coop: stack overflow in task '");
      len = coop_append (buf, len, sizeof buf - 64, name);
      len = coop_append (buf, len, sizeof buf, "' (");
    }
  else
    len = coop_append (buf, len, sizeof buf, "Coop: stack overflow in an unnamed fiber (");
  len = coop_append (buf, len, sizeof buf, how);
  len = coop_append (buf, len, sizeof buf, ")\n");

  r = write (STDERR_FILENO, buf, len);
  (void) r;
  abort ();
}

#ifdef COOP_ASAN
/* Under AddressSanitizer our SIGSEGV handler is not installed (ASan's own
 * reports a stack overflow, or any other error, and stops the process).
 * Its report shows the addresses but not which task was running: say it
 * after the report.  Called by ASan just before it exits, on whatever
 * stack it is handling the error on, so only write(2). */
static void
coop_fiber_asan_death (void)
{
  CoopFiber *fiber = coop_current_fiber;
  const char *name = NULL;
  char buf[384];
  gsize len = 0;
  ssize_t r;

  if (fiber == NULL)
    return;
  if (fiber->name_func != NULL)
    name = fiber->name_func (fiber->name_data);
  len = coop_append (buf, len, sizeof buf - 64,
                     "Coop: AddressSanitizer stopped the process in task '");
  len = coop_append (buf, len, sizeof buf - 64, name != NULL ? name : "(unnamed fiber)");
  len = coop_append (buf, len, sizeof buf, "'\n");
  r = write (STDERR_FILENO, buf, len);
  (void) r;
}
#endif

/* --- canaries ------------------------------------------------------------ */

/* The canary value depends on where the canary is, so a stray copy of
 * another stack's canary region does not pass for an intact one. */
static inline guint64
coop_canary_value (const guint64 *canary)
{
  return COOP_CANARY_MAGIC ^ (guint64) (guintptr) canary;
}

static void
coop_stack_write_canary (CoopStack *stack)
{
  guint64 value = coop_canary_value (stack->canary);
  guint i;

  for (i = 0; i < COOP_CANARY_WORDS; i++)
    stack->canary[i] = value;
}

/* On every suspend: unrolled into independent loads of one cache line
 * (the canary is 64-byte aligned), no loop-carried branch. */
static inline gboolean
coop_stack_canary_intact (const CoopStack *stack)
{
  const guint64 *c = stack->canary;
  guint64 value = coop_canary_value (c);
  guint64 diff = 0;
  guint i;

#pragma GCC unroll 8
  for (i = 0; i < COOP_CANARY_WORDS; i++)
    diff |= c[i] ^ value;

  return diff == 0;
}

/* Called whenever a fiber switches out for the last time or for a while,
 * through coop_fiber_check_canary(), when its stack has a canary. */
void
coop_fiber_check_canary_slow (CoopFiber *fiber)
{
  CoopStack *stack = fiber->stack;

  if (stack != NULL && stack->canary != NULL && G_UNLIKELY (!coop_stack_canary_intact (stack)))
    coop_fiber_die_overflow (fiber, "canary");
}

/* --- guard page hits ----------------------------------------------------- */

#ifndef COOP_ASAN

static struct sigaction coop_prev_segv;
static struct sigaction coop_prev_bus;

static void
coop_fiber_fault_handler (int        sig,
                          siginfo_t *info,
                          void      *uctx)
{
  const struct sigaction *prev;
  const guint8 *addr = info->si_addr;
  CoopFiber *fiber;
  int saved_errno = errno;

  /* Every fiber on the resume chain of this thread has live frames, and
   * the fault may come from any of them (a resumer overflowing in the
   * middle of coop_fiber_resume(), say), so check them all. */
  for (fiber = coop_current_fiber; fiber != NULL; fiber = fiber->prev_current)
    {
      const CoopStack *stack = fiber->stack;

      if (stack != NULL && stack->guard != NULL &&
          addr >= stack->guard && addr < stack->guard + coop_page_size)
        coop_fiber_die_overflow (fiber, "guard page");
    }

  /* The guard page below a canary slab: one of the fibers with a stack in
   * that slab ran down through the stacks below its own.  It destroyed its
   * own canary on the way (unless its frames skipped it), and those of
   * the stacks below, so it is the highest one with a damaged canary; the
   * innermost when no canary tells. */
  {
    CoopFiber *culprit = NULL, *innermost = NULL;

    for (fiber = coop_current_fiber; fiber != NULL; fiber = fiber->prev_current)
      {
        const CoopStack *stack = fiber->stack;

        if (stack == NULL || stack->slab == NULL ||
            stack->slab->guard_kind != COOP_GUARD_SLAB ||
            addr < stack->slab->map || addr >= stack->slab->base)
          continue;
        if (innermost == NULL)
          innermost = fiber;
        if (!coop_stack_canary_intact (stack) &&
            (culprit == NULL || stack->index > culprit->stack->index))
          culprit = fiber;
      }
    if (culprit == NULL)
      culprit = innermost;
    if (culprit != NULL)
      {
        char how[160];
        gsize len = 0;

        len = coop_append (how, len, sizeof how - 1, "no guard page of its own: it overwrote the ");
        len = coop_append_uint (how, len, sizeof how - 1, culprit->stack->index);
        len = coop_append (how, len, sizeof how - 1, " stacks below it up to its slab's guard page");
        how[len] = '\0';
        coop_fiber_die_overflow (culprit, how);
      }
  }

  /* Not ours: hand it to whoever was there before.  A real handler is
   * called directly (so it keeps working for its own faults, as a JIT's
   * or a GC's must); a default or ignored disposition is put back and the
   * fault re-raised, by re-executing the faulting instruction when it was
   * a fault, by raise() when someone sent the signal. */
  prev = sig == SIGBUS ? &coop_prev_bus : &coop_prev_segv;

  if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN)
    {
      if (prev->sa_flags & SA_SIGINFO)
        prev->sa_sigaction (sig, info, uctx);
      else
        prev->sa_handler (sig);
    }
  else
    {
      sigaction (sig, prev, NULL);
      if (info->si_code <= 0)
        raise (sig);
    }

  errno = saved_errno;
}

static void
coop_fiber_install_fault_handler (void)
{
  static gsize installed = 0;

  if (g_once_init_enter (&installed))
    {
      struct sigaction sa;

      memset (&sa, 0, sizeof sa);
      sa.sa_sigaction = coop_fiber_fault_handler;
      sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
      sigemptyset (&sa.sa_mask);

      sigaction (SIGSEGV, &sa, &coop_prev_segv);
      sigaction (SIGBUS, &sa, &coop_prev_bus);

      g_once_init_leave (&installed, 1);
    }
}

static void
coop_altstack_free (gpointer data)
{
  stack_t ss;

  /* Runs on the exiting thread itself, so the alternate stack can be
   * switched off before it is unmapped. */
  if (sigaltstack (NULL, &ss) == 0 && ss.ss_sp == (gpointer) ((guint8 *) data + coop_page_size))
    {
      ss.ss_flags = SS_DISABLE;
      sigaltstack (&ss, NULL);
    }
  munmap (data, COOP_ALTSTACK_SIZE + coop_page_size);
}

static GPrivate coop_altstack_key = G_PRIVATE_INIT (coop_altstack_free);

/* The fault handler cannot run on the stack that just overflowed. */
static void
coop_fiber_install_altstack (void)
{
  stack_t ss;
  guint8 *map;

  /* Keep one the thread already has (set up by another runtime). */
  if (sigaltstack (NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE))
    return;

  map = mmap (NULL, COOP_ALTSTACK_SIZE + coop_page_size, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (map == MAP_FAILED)
    {
      g_warning ("Coop: cannot map a signal stack (%s); stack overflows in "
                 "guarded fiber stacks will not be reported by name",
                 g_strerror (errno));
      return;
    }
  /* Its own guard page, so a handler that overflows it faults loudly. */
  mprotect (map, coop_page_size, PROT_NONE);

  ss.ss_sp = map + coop_page_size;
  ss.ss_size = COOP_ALTSTACK_SIZE;
  ss.ss_flags = 0;
  if (sigaltstack (&ss, NULL) != 0)
    {
      munmap (map, COOP_ALTSTACK_SIZE + coop_page_size);
      return;
    }
  g_private_set (&coop_altstack_key, map);
}

#endif /* !COOP_ASAN */

/* First fiber started on this thread.  Under AddressSanitizer nothing is
 * installed: ASan's own SEGV handler reports the overflow (with the fiber
 * stack bounds it learned from the switch annotations). */
static void
coop_fiber_thread_setup (void)
{
#ifndef COOP_ASAN
  coop_fiber_install_fault_handler ();
  coop_fiber_install_altstack ();
#endif
  coop_thread_ready = TRUE;
}

/* --- lists --------------------------------------------------------------- */

static void
coop_stack_list_push_head (CoopStackList *list,
                           CoopStack     *stack,
                           CoopStackWhere where)
{
  stack->prev = NULL;
  stack->next = list->head;
  if (list->head != NULL)
    list->head->prev = stack;
  else
    list->tail = stack;
  list->head = stack;
  list->length++;
  stack->where = where;
  if (where == COOP_STACK_COLD && stack->slab != NULL)
    stack->slab->n_cold++;
}

static void
coop_stack_list_remove (CoopStackList *list,
                        CoopStack     *stack)
{
  if (stack->prev != NULL)
    stack->prev->next = stack->next;
  else
    list->head = stack->next;
  if (stack->next != NULL)
    stack->next->prev = stack->prev;
  else
    list->tail = stack->prev;
  stack->prev = stack->next = NULL;
  list->length--;
  if (stack->where == COOP_STACK_COLD && stack->slab != NULL)
    stack->slab->n_cold--;
  stack->where = COOP_STACK_NOWHERE;
}

static CoopStack *
coop_stack_list_pop_head (CoopStackList *list)
{
  CoopStack *stack = list->head;

  if (stack != NULL)
    coop_stack_list_remove (list, stack);
  return stack;
}

static CoopStackList *
coop_stack_pool_list (CoopStackPool *pool,
                      CoopStackWhere where)
{
  switch (where)
    {
    case COOP_STACK_HOT:
      return &pool->hot;
    case COOP_STACK_COLD:
      return &pool->cold;
    case COOP_STACK_SINGLES:
      return &pool->singles;
    case COOP_STACK_NOWHERE:
    default:
      return NULL;
    }
}

static void
coop_stack_unlist (CoopStackPool *pool,
                   CoopStack     *stack)
{
  CoopStackList *list = coop_stack_pool_list (pool, stack->where);

  if (list != NULL)
    coop_stack_list_remove (list, stack);
}

/* --- slabs --------------------------------------------------------------- */

static gpointer
coop_map_stacks (gsize size)
{
  gpointer map = mmap (NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                       -1, 0);

  /* Out of address space (RLIMIT_AS, overcommit) or of mappings: the
   * caller fails the task that wanted the stack, never the process. */
  if (map == MAP_FAILED)
    return NULL;

#ifdef MADV_NOHUGEPAGE
  /* With transparent huge pages set to "always", the first touch of a
   * stack would fault in 2 MiB; stacks want small pages. */
  madvise (map, size, MADV_NOHUGEPAGE);
#endif

  return map;
}

/* One system call for what would be one per stack of a slab: installing
 * its guard regions, and faulting in the top page of every stack (which
 * its task touches first), as process_madvise() on the calling process
 * allows since Linux 6.13.  PIDFD_SELF always means the caller, in a
 * forked child too.  Older kernels refuse: then coop_batch_madvise() says
 * FALSE, once for good, and the caller falls back to one madvise() per
 * stack for the guards and to page faults.  Valgrind does not know the
 * call (and would warn about it): under valgrind the fallback runs, as it
 * does with COOP_STACK_BATCH_MADVISE=0 in the environment (the tests'
 * way to the fallback on a kernel that has the call). */
#ifndef MADV_POPULATE_WRITE
# define MADV_POPULATE_WRITE 23
#endif
#define COOP_PIDFD_SELF (-10001)   /* PIDFD_SELF_THREAD_GROUP */

static gboolean
coop_batch_madvise (guint8 *base,
                    gsize   slot,
                    gsize   offset,
                    guint   n,
                    int     advice)
{
#ifdef SYS_process_madvise
  struct iovec iov[COOP_SLAB_MAX_STACKS];
  gsize len = coop_page_size * n;
  guint i;

  if (g_atomic_int_get (&coop_batch_madvise_broken) || n > G_N_ELEMENTS (iov) ||
      RUNNING_ON_VALGRIND)
    return FALSE;
  for (i = 0; i < n; i++)
    {
      iov[i].iov_base = base + i * slot + offset;
      iov[i].iov_len = coop_page_size;
    }
  if (syscall (SYS_process_madvise, COOP_PIDFD_SELF, iov, (gsize) n, advice, 0) == (long) len)
    return TRUE;
  if (errno == EBADF || errno == EINVAL || errno == ENOSYS || errno == EPERM)
    g_atomic_int_set (&coop_batch_madvise_broken, TRUE);
#endif
  return FALSE;
}

/* Maps a slab, queues its stacks on the cold list and returns the first
 * one, not queued, for the caller to hand out; NULL (errno set) when it
 * cannot be mapped or guarded. */
static CoopStack *
coop_stack_slab_new (CoopStackPool *pool)
{
  gsize page = coop_page_size;
  gsize slot = pool->default_size + page;
  guint n = CLAMP (pool->n_slab_stacks, COOP_SLAB_MIN_STACKS, COOP_SLAB_MAX_STACKS);
  CoopGuardKind kind;
  CoopStackSlab *slab;
  gsize map_size;
  guint8 *map, *base;
  guint i;

retry:
  if (g_atomic_int_get (&coop_guard_regions))
    kind = COOP_GUARD_REGION;
  else if (coop_guard_budget_take (n))
    kind = COOP_GUARD_MPROTECT;
  else
    kind = COOP_GUARD_SLAB;

retry_kind:
  /* A canary slab has its guard page below its lowest stack, and one more
   * page above its highest for the top of the last stack. */
  map_size = n * slot + (kind == COOP_GUARD_SLAB ? 2 * page : 0);
  map = coop_map_stacks (map_size);
  if (map == NULL)
    {
      int saved_errno = errno;

      if (kind == COOP_GUARD_MPROTECT)
        coop_guard_budget_give (n);
      /* No retry with a smaller slab: the room a slab could not get is
       * left to malloc(), whose failure GLib turns into an abort.  The
       * task asking fails instead. */
      errno = saved_errno;
      return NULL;
    }
  base = kind == COOP_GUARD_SLAB ? map + page : map;

  switch (kind)
    {
    case COOP_GUARD_REGION:
      if (coop_batch_madvise (base, slot, 0, n, COOP_MADV_GUARD_INSTALL))
        break;
      for (i = 0; i < n; i++)
        {
          if (madvise (base + i * slot, page, COOP_MADV_GUARD_INSTALL) != 0)
            {
              /* Unexpected once the probe passed; do without them. */
              munmap (map, map_size);
              g_atomic_int_set (&coop_guard_regions, FALSE);
              goto retry;
            }
        }
      break;
    case COOP_GUARD_MPROTECT:
      for (i = 0; i < n; i++)
        {
          if (mprotect (base + i * slot, page, PROT_NONE) != 0)
            {
              /* Most likely out of VMAs: a canary slab needs one more. */
              munmap (map, map_size);
              coop_guard_budget_give (n);
              kind = COOP_GUARD_SLAB;
              goto retry_kind;
            }
        }
      break;
    case COOP_GUARD_SLAB:
    default:
      if (mprotect (map, page, PROT_NONE) != 0)
        {
          /* Not even one more mapping: no stack without a guard below. */
          int saved_errno = errno;

          munmap (map, map_size);
          errno = saved_errno;
          return NULL;
        }
      break;
    }

  /* A slab is mapped when stacks are wanted, usually many (a burst of
   * tasks): their top pages in one call rather than one fault each; about
   * a fifth less CPU time per new stack here, for at most 63 pages that may
   * stay unused.  Best effort: what is not faulted in now is on first
   * touch. */
  if (kind != COOP_GUARD_SLAB)
    coop_batch_madvise (base, slot, slot - page, n, MADV_POPULATE_WRITE);

  slab = g_try_malloc0 (sizeof (CoopStackSlab) + n * sizeof (CoopStack));
  if (slab == NULL)
    {
      munmap (map, map_size);
      if (kind == COOP_GUARD_MPROTECT)
        coop_guard_budget_give (n);
      errno = ENOMEM;
      return NULL;
    }
  slab->map = map;
  slab->map_size = map_size;
  slab->base = base;
  slab->slot = slot;
  slab->n_stacks = n;
  slab->guard_kind = kind;

  /* Pushed in reverse so the lowest stack is handed out first: stacks in
   * use then tend to be neighbours, which is what lets canaries share the
   * page of their neighbour's top frames. */
  for (i = n; i-- > 0;)
    {
      CoopStack *stack = &slab->stacks[i];
      guint8 *slot_base = base + i * slot;

      stack->slab = slab;
      stack->index = i;
      stack->low = slot_base + page;
      if (kind != COOP_GUARD_SLAB)
        {
          stack->guard = slot_base;
          stack->top = slot_base + slot;
        }
      else
        {
          stack->canary = (guint64 *) (stack->low - COOP_CANARY_BYTES);
          stack->top = slot_base + slot + page - COOP_CANARY_BYTES;
        }
      if (i > 0)
        coop_stack_list_push_head (&pool->cold, stack, COOP_STACK_COLD);
    }

  slab->next = pool->slabs;
  if (pool->slabs != NULL)
    pool->slabs->prev = slab;
  pool->slabs = slab;
  pool->n_slab_stacks += n;

  return &slab->stacks[0];
}

static void
coop_stack_slab_free (CoopStackPool *pool,
                      CoopStackSlab *slab)
{
  guint i;

  for (i = 0; i < slab->n_stacks; i++)
    coop_stack_unlist (pool, &slab->stacks[i]);

  munmap (slab->map, slab->map_size);
  if (slab->guard_kind == COOP_GUARD_MPROTECT)
    coop_guard_budget_give (slab->n_stacks);

  if (slab->prev != NULL)
    slab->prev->next = slab->next;
  else
    pool->slabs = slab->next;
  if (slab->next != NULL)
    slab->next->prev = slab->prev;
  if (!slab->retired)
    pool->n_slab_stacks -= slab->n_stacks;

  g_free (slab);
}

/* Stops handing out the slab's stacks; it goes away with its last user. */
static void
coop_stack_slab_retire (CoopStackPool *pool,
                        CoopStackSlab *slab)
{
  guint i;

  if (slab->n_in_use == 0)
    {
      coop_stack_slab_free (pool, slab);
      return;
    }

  for (i = 0; i < slab->n_stacks; i++)
    coop_stack_unlist (pool, &slab->stacks[i]);
  if (!slab->retired)
    pool->n_slab_stacks -= slab->n_stacks;
  slab->retired = TRUE;
}

/* Gives back the pages of the free stacks first..last (neighbours in one
 * slab).  In a canary slab the page at each end is shared with the
 * neighbouring stack (its top frames or its canary), so it is given back
 * only if that neighbour is not in use; a free neighbour's canary is
 * rewritten when it is handed out anyway. */
static void
coop_stack_slab_drop_pages (CoopStackSlab *slab,
                            guint          first,
                            guint          last)
{
  guint8 *start = slab->stacks[first].low;
  guint8 *end = slab->base + (gsize) (last + 1) * slab->slot;

  if (slab->guard_kind == COOP_GUARD_SLAB)
    {
      if (first == 0 || !slab->stacks[first - 1].in_use)
        start -= coop_page_size;
      if (last + 1 == slab->n_stacks || !slab->stacks[last + 1].in_use)
        end += coop_page_size;
    }

  /* In a guarded slab the range spans the guard pages between the
   * stacks; MADV_DONTNEED on PROT_NONE pages is harmless, and guard
   * regions (MADV_GUARD_INSTALL) survive it. */
  madvise (start, end - start, MADV_DONTNEED);
}

static int
coop_stack_compare_address (gconstpointer a,
                            gconstpointer b)
{
  const CoopStack *sa = *(CoopStack * const *) a;
  const CoopStack *sb = *(CoopStack * const *) b;

  return sa->low < sb->low ? -1 : sa->low > sb->low ? 1 : 0;
}

/* Moves up to a batch of the least recently released hot stacks, down to
 * @keep, to the cold list, giving their pages back in as few madvise()
 * calls as possible. */
static void
coop_stack_pool_trim_batch (CoopStackPool *pool,
                            guint          keep)
{
  CoopStack *batch[COOP_POOL_HOT_MAX + COOP_POOL_TRIM_BATCH + 1];
  guint n = 0, i, first;

  while (pool->hot.length > keep && n < G_N_ELEMENTS (batch))
    {
      CoopStack *stack = pool->hot.tail;

      coop_stack_list_remove (&pool->hot, stack);
      batch[n++] = stack;
    }
  if (n == 0)
    return;

  qsort (batch, n, sizeof batch[0], coop_stack_compare_address);

  for (first = 0, i = 1; i <= n; i++)
    {
      if (i < n && batch[i]->slab == batch[i - 1]->slab &&
          batch[i]->index == batch[i - 1]->index + 1)
        continue;
      coop_stack_slab_drop_pages (batch[first]->slab, batch[first]->index,
                                  batch[i - 1]->index);
      first = i;
    }

  for (i = 0; i < n; i++)
    coop_stack_list_push_head (&pool->cold, batch[i], COOP_STACK_COLD);
  pool->cold_grew = TRUE;
}

/* All but the @keep most recently released hot stacks go cold. */
static void
coop_stack_pool_trim (CoopStackPool *pool,
                      guint          keep)
{
  while (pool->hot.length > keep)
    coop_stack_pool_trim_batch (pool, keep);
}

gboolean
coop_stack_pool_has_surplus (CoopStackPool *pool)
{
  return pool->hot.length > COOP_POOL_HOT_MAX ||
         (pool->cold_grew && pool->cold.length >= COOP_SLAB_MIN_STACKS + COOP_POOL_SPARE_STACKS);
}

gint64
coop_stack_pool_trim_idle (CoopStackPool *pool,
                           gint64         now,
                           guint          budget)
{
  CoopStackSlab *slab, *next;
  guint done = 0;

  g_return_val_if_fail (pool != NULL, 0);

  if (pool->trim_target == 0)
    {
      /* A round: half of what the last burst left, at most once per
       * period. */
      if (!coop_stack_pool_has_surplus (pool))
        return 0;
      if (now < pool->next_idle_trim)
        return pool->next_idle_trim;
      pool->next_idle_trim = now + COOP_POOL_IDLE_TRIM_USEC;
      pool->peak = MAX (pool->n_in_use, pool->peak / 2);
      pool->trim_target = MAX (COOP_POOL_HOT_MAX,
                               pool->peak > pool->n_in_use ? pool->peak - pool->n_in_use : 0);
    }

  while (pool->hot.length > pool->trim_target)
    {
      guint before = pool->hot.length;

      if (budget != 0 && done >= budget)
        return now;
      coop_stack_pool_trim_batch (pool, pool->trim_target);
      done += before - pool->hot.length;
    }

  /* Slabs with no stack in use and none warm go, as long as enough free
   * stacks remain without them that a loop hovering around a slab
   * boundary does not map and unmap in a cycle. */
  for (slab = pool->slabs; slab != NULL; slab = next)
    {
      next = slab->next;
      if (slab->n_in_use > 0 || slab->retired || slab->n_cold < slab->n_stacks ||
          pool->hot.length + pool->cold.length < slab->n_stacks + COOP_POOL_SPARE_STACKS)
        continue;
      if (budget != 0 && done >= budget)
        return now;
      done += slab->n_stacks / 8 + 1;
      coop_stack_slab_free (pool, slab);
    }

  pool->trim_target = 0;
  pool->cold_grew = FALSE;
  return coop_stack_pool_has_surplus (pool) ? pool->next_idle_trim : 0;
}

/* --- stacks of other sizes ----------------------------------------------- */

static CoopStack *
coop_stack_single_take (CoopStackPool *pool,
                        gsize          size)
{
  CoopStack *stack;
  guint8 *map;

  for (stack = pool->singles.head; stack != NULL; stack = stack->next)
    {
      if ((gsize) (stack->top - stack->low) == size)
        {
          coop_stack_list_remove (&pool->singles, stack);
          return stack;
        }
    }

  map = coop_map_stacks (size + coop_page_size);
  if (map == NULL)
    return NULL;
  stack = g_try_new0 (CoopStack, 1);
  if (stack == NULL)
    {
      munmap (map, size + coop_page_size);
      errno = ENOMEM;
      return NULL;
    }
  stack->low = map + coop_page_size;
  stack->top = stack->low + size;

  /* Always a guard page: what lies below a mapping of its own is anybody's,
   * and these stacks are few (the guard budget is for slabs). */
  if ((g_atomic_int_get (&coop_guard_regions) &&
       madvise (map, coop_page_size, COOP_MADV_GUARD_INSTALL) == 0) ||
      mprotect (map, coop_page_size, PROT_NONE) == 0)
    stack->guard = map;
  else
    {
      int saved_errno = errno;

      munmap (map, size + coop_page_size);
      g_free (stack);
      errno = saved_errno;
      return NULL;
    }

  return stack;
}

static void
coop_stack_single_free (CoopStack *stack)
{
  munmap (stack->low - coop_page_size, (gsize) (stack->top - stack->low) + coop_page_size);
  g_free (stack);
}

/* --- the pool ------------------------------------------------------------ */

CoopStackPool *
coop_stack_pool_new (gsize default_size)
{
  CoopStackPool *pool;

  coop_fiber_global_init ();

  pool = g_new0 (CoopStackPool, 1);
  pool->default_size = coop_stack_round_size (default_size != 0 ? default_size
                                                                : COOP_STACK_DEFAULT_SIZE);
  return pool;
}

static void
coop_stack_pool_release_all (CoopStackPool *pool)
{
  CoopStackSlab *slab, *next;
  CoopStack *stack;

  while ((stack = coop_stack_list_pop_head (&pool->singles)) != NULL)
    coop_stack_single_free (stack);

  for (slab = pool->slabs; slab != NULL; slab = next)
    {
      next = slab->next;
      coop_stack_slab_retire (pool, slab);
    }
}

void
coop_stack_pool_free (CoopStackPool *pool)
{
  if (pool == NULL)
    return;

  g_return_if_fail (!pool->zombie);

  coop_stack_pool_release_all (pool);

  if (pool->n_in_use > 0)
    {
      /* Their fibers may still be cleared later: keep the pool structure
       * (and the slabs in use) until the last one comes back. */
      g_critical ("%s: %u fiber stacks are still in use; leaking them",
                  G_STRFUNC, pool->n_in_use);
      pool->zombie = TRUE;
      return;
    }

  g_free (pool);
}

gsize
coop_stack_pool_get_default_size (CoopStackPool *pool)
{
  g_return_val_if_fail (pool != NULL, 0);

  return pool->default_size;
}

void
coop_stack_pool_set_default_size (CoopStackPool *pool,
                                  gsize          size)
{
  CoopStackSlab *slab, *next;

  g_return_if_fail (pool != NULL);

  size = coop_stack_round_size (size != 0 ? size : COOP_STACK_DEFAULT_SIZE);
  if (size == pool->default_size)
    return;

  pool->default_size = size;
  for (slab = pool->slabs; slab != NULL; slab = next)
    {
      next = slab->next;
      coop_stack_slab_retire (pool, slab);
    }
}

guint
coop_stack_pool_get_n_in_use (CoopStackPool *pool)
{
  g_return_val_if_fail (pool != NULL, 0);

  return pool->n_in_use;
}

guint
coop_stack_pool_get_n_free (CoopStackPool *pool)
{
  g_return_val_if_fail (pool != NULL, 0);

  return pool->hot.length + pool->cold.length + pool->singles.length;
}

guint
coop_stack_pool_get_n_warm (CoopStackPool *pool)
{
  g_return_val_if_fail (pool != NULL, 0);

  return pool->hot.length;
}

static CoopStack *
coop_stack_pool_take (CoopStackPool *pool,
                      gsize          size,
                      CoopFiber     *owner,
                      GError       **error)
{
  CoopStack *stack;

  size = size != 0 ? coop_stack_round_size (size) : pool->default_size;

  if (size != pool->default_size)
    stack = coop_stack_single_take (pool, size);
  else
    {
      stack = coop_stack_list_pop_head (&pool->hot);
      if (stack == NULL)
        stack = coop_stack_list_pop_head (&pool->cold);
      if (stack == NULL)
        stack = coop_stack_slab_new (pool);
      if (stack != NULL)
        stack->slab->n_in_use++;
    }

  if (stack == NULL)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                   "Cannot map a %" G_GSIZE_FORMAT " KiB stack for a task: %s",
                   size / 1024, g_strerror (saved_errno));
      return NULL;
    }

  stack->in_use = TRUE;
  stack->owner = owner;
  pool->n_in_use++;
  if (pool->n_in_use > pool->peak)
    pool->peak = pool->n_in_use;

  /* Rewritten at every hand-out: a neighbour's trim may have zeroed it. */
  if (stack->canary != NULL)
    coop_stack_write_canary (stack);

  stack->valgrind_id = VALGRIND_STACK_REGISTER (stack->low, stack->top);

  return stack;
}

static void
coop_stack_pool_release (CoopStackPool *pool,
                         CoopStack     *stack)
{
  CoopStackSlab *slab = stack->slab;

  VALGRIND_STACK_DEREGISTER (stack->valgrind_id);
  /* Frames abandoned on the stack (a fiber cleared while suspended, and
   * the entry frame of every fiber) leave ASan redzones behind that the
   * next fiber must not trip over. */
  coop_asan_unpoison (stack->low, (gsize) (stack->top - stack->low));

  stack->in_use = FALSE;
  stack->owner = NULL;
  pool->n_in_use--;

  if (slab == NULL)
    {
      if (!pool->zombie && pool->singles.length < COOP_POOL_SINGLES_MAX)
        coop_stack_list_push_head (&pool->singles, stack, COOP_STACK_SINGLES);
      else
        coop_stack_single_free (stack);
    }
  else
    {
      slab->n_in_use--;

      if (slab->retired)
        {
          if (slab->n_in_use == 0)
            coop_stack_slab_free (pool, slab);
        }
      else
        {
          /* Warm, for the next burst: as many free stacks as were lately in
           * use at once keep their pages (and their slabs stay mapped)
           * until the loop is idle, which gives them back a half at a time
           * (coop_stack_pool_trim_idle()). */
          guint keep = MAX (COOP_POOL_HOT_MAX, pool->peak);

          coop_stack_list_push_head (&pool->hot, stack, COOP_STACK_HOT);
          if (pool->hot.length > keep + COOP_POOL_TRIM_BATCH)
            coop_stack_pool_trim (pool, keep);
        }
    }

  if (G_UNLIKELY (pool->zombie) && pool->n_in_use == 0)
    g_free (pool);
}

gpointer
coop_stack_get_low (CoopStack *stack)
{
  g_return_val_if_fail (stack != NULL, NULL);

  return stack->low;
}

gsize
coop_stack_get_size (CoopStack *stack)
{
  g_return_val_if_fail (stack != NULL, 0);

  return (gsize) (stack->top - stack->low);
}

gboolean
coop_stack_is_guarded (CoopStack *stack)
{
  g_return_val_if_fail (stack != NULL, FALSE);

  return stack->guard != NULL;
}

/* --- fibers -------------------------------------------------------------- */

void
coop_fiber_init (CoopFiber     *fiber,
                 CoopStackPool *pool,
                 gsize          stack_size,
                 CoopFiberFunc  func,
                 gpointer       data)
{
  g_return_if_fail (fiber != NULL);
  g_return_if_fail (pool != NULL);
  g_return_if_fail (func != NULL);

  memset (fiber, 0, sizeof *fiber);
  fiber->pool = pool;
  fiber->stack_size = stack_size;
  fiber->func = func;
  fiber->data = data;
}

void
coop_fiber_set_name_func (CoopFiber        *fiber,
                          CoopFiberNameFunc name_func,
                          gpointer          name_data)
{
  g_return_if_fail (fiber != NULL);

  fiber->name_func = name_func;
  fiber->name_data = name_data;
}

/* Frees what a fiber holds once it can never run again. */
void
coop_fiber_release (CoopFiber *fiber)
{
  if (fiber->stack != NULL)
    {
      coop_stack_pool_release (fiber->pool, fiber->stack);
      fiber->stack = NULL;
      fiber->canary = NULL;
    }
  coop_fiber_context_free (&fiber->ctx);
  coop_fiber_context_free (&fiber->caller);
  coop_tsan_fiber_destroy (fiber);
}

void
coop_fiber_clear (CoopFiber *fiber)
{
  g_return_if_fail (fiber != NULL);

  if (fiber->running)
    {
      g_critical ("%s: fiber %p is running", G_STRFUNC, (gpointer) fiber);
      return;
    }

  /* An abandoned fiber may have overflowed since it last switched out
   * only if something else wrote to its stack; still, never let a damaged
   * canary go unnoticed. */
  if (fiber->stack != NULL)
    coop_fiber_check_canary (fiber);

  coop_fiber_release (fiber);
  if (fiber->started)
    fiber->finished = TRUE;
}

/* The bottom frame of every fiber (called by the backend's trampoline). */
G_GNUC_NORETURN static void
coop_fiber_entry (gpointer data)
{
  CoopFiber *fiber = data;

  coop_asan_finish_switch (NULL, &fiber->asan_caller_bottom, &fiber->asan_caller_size);

  fiber->func (fiber->data);

  fiber->finished = TRUE;
  coop_fiber_check_canary (fiber);

  /* NULL: this fiber's fake stack (ASan) dies with it. */
  coop_asan_start_switch (NULL, fiber->asan_caller_bottom, fiber->asan_caller_size);
  coop_tsan_fiber_leave (fiber);
  coop_fiber_context_switch (&fiber->ctx, &fiber->caller);

  /* Nobody resumes a finished fiber. */
  abort ();
}

/* Kept out of line so that coop_fiber_resume() stays a small leaf-like
 * function on its hot path.  Takes the stack; when none can be had the
 * fiber stays unstarted and the caller decides (a task fails with the
 * error).  Without @error the failure is logged. */
G_GNUC_NO_INLINE gboolean
coop_fiber_start (CoopFiber *fiber,
                  GError   **error)
{
  GError *local_error = NULL;

  if (G_UNLIKELY (!coop_thread_ready))
    coop_fiber_thread_setup ();

  fiber->stack = coop_stack_pool_take (fiber->pool, fiber->stack_size, fiber, &local_error);
  if (fiber->stack == NULL)
    {
      if (error != NULL)
        g_propagate_error (error, local_error);
      else
        {
          g_warning ("Coop: fiber not started: %s", local_error->message);
          g_error_free (local_error);
        }
      return FALSE;
    }
  fiber->canary = fiber->stack->canary;
  /* Slab stacks have page-aligned tops a whole number of pages apart, so
   * the hot top frames of every fiber would compete for the same few cache
   * sets.  Starting each one a little lower (up to 2,240 bytes, still in
   * the top page, 16-byte aligned) spreads them out. */
  coop_fiber_context_make (&fiber->ctx, fiber->stack->low,
                           (gsize) (fiber->stack->top - fiber->stack->low) - (fiber->stack->index % 8) * 320,
                           coop_fiber_entry, fiber);
  coop_tsan_fiber_create (fiber);
  fiber->started = TRUE;
  return TRUE;
}

void
coop_fiber_report_misuse (CoopFiber *fiber)
{
  if (fiber == NULL)
    g_critical ("coop_fiber_suspend: no current fiber (called on the thread's own stack)");
  else
    g_critical ("coop_fiber_resume: fiber %p is %s", (gpointer) fiber,
                fiber->finished ? "finished" : "already running");
}

#ifndef COOP_FIBER_SWITCH_INLINE
void
coop_fiber_switch_into (CoopFiber *fiber)
{
#ifdef COOP_ASAN
  void *fake_stack = NULL;
#endif

  coop_asan_start_switch (&fake_stack, fiber->stack->low,
                          (gsize) (fiber->stack->top - fiber->stack->low));
  coop_tsan_fiber_enter (fiber);
  coop_fiber_context_switch (&fiber->caller, &fiber->ctx);
  coop_asan_finish_switch (fake_stack, NULL, NULL);
}

void
coop_fiber_switch_out (CoopFiber *self)
{
  coop_asan_start_switch (&self->asan_fake_stack, self->asan_caller_bottom,
                          self->asan_caller_size);
  coop_tsan_fiber_leave (self);
  coop_fiber_context_switch (&self->ctx, &self->caller);
  /* Resumed, maybe by someone else this time: note whose stack we left. */
  coop_asan_finish_switch (self->asan_fake_stack, &self->asan_caller_bottom,
                           &self->asan_caller_size);
}
#endif

void
coop_fiber_resume (CoopFiber *fiber)
{
  coop_fiber_resume_inline (fiber);
}

void
coop_fiber_suspend (void)
{
  coop_fiber_suspend_inline ();
}

gboolean
coop_fiber_get_paused_regs (CoopFiber     *fiber,
                            CoopFiberRegs *regs,
                            guintptr      *stack_low,
                            guintptr      *stack_high)
{
  if (!fiber->started || fiber->running || fiber->finished || fiber->stack == NULL)
    return FALSE;
  if (!coop_fiber_context_get_regs (&fiber->ctx, regs))
    return FALSE;
  *stack_low = (guintptr) fiber->stack->low;
  *stack_high = (guintptr) fiber->stack->top;
  return regs->sp >= *stack_low && regs->sp < *stack_high;
}

CoopFiber *
coop_fiber_current (void)
{
  return coop_current_fiber;
}
