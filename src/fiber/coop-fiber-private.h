/* coop-fiber-private.h: fibers (C coroutines on their own stacks) and the
 * stack pool they run on.  Internal to Coop; nothing here is exported.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Thread-locals, initial-exec: an access is then one %fs-relative load,
 * with no __tls_get_addr call, which matters on the task step and await
 * paths.  The few bytes Coop keeps per thread fit easily in the static TLS
 * surplus glibc keeps for libraries loaded with dlopen() (as GObject
 * introspection does). */
#define COOP_TLS __thread __attribute__ ((tls_model ("initial-exec")))


typedef void         (*CoopFiberFunc)     (gpointer data);
/* Returns a short human-readable name for the owner of a fiber (the task
 * name); must be async-signal-safe (just return a pointer). */
typedef const char * (*CoopFiberNameFunc) (gpointer data);

typedef struct _CoopStackPool CoopStackPool;
typedef struct _CoopStack     CoopStack;
typedef struct _CoopFiber     CoopFiber;

/* Saved machine context.  For the asm backends this is only the stack
 * pointer (everything else is pushed on the stack by the switch); for the
 * ucontext backend it points at a ucontext_t that also lives on the
 * context's own stack.  Either way no backend allocates. */
typedef struct
{
  gpointer sp;
} CoopFiberContext;

/* AddressSanitizer and ThreadSanitizer builds keep per-fiber state for
 * their switch annotations (coop-fiber.c). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
# define COOP_FIBER_SANITIZER 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#  define COOP_FIBER_SANITIZER 1
# endif
#endif

/* What a switch reads and writes comes first, in 40 bytes: with the
 * fields of its owner that an await touches (CoopTask puts them just
 * before its fiber), a hand-off touches two cache lines of a task object
 * rather than five, and none of the stack's slab header (the canary's
 * address is copied here).  See docs/fibers.md, "Hot fields". */
struct _CoopFiber
{
  CoopFiberContext  ctx;            /* the fiber's own saved context */
  CoopFiberContext  caller;         /* who resumed it, restored on suspend */
  CoopFiber        *prev_current;   /* the fiber that was current when this one was resumed */
  gpointer          canary;         /* its stack's canary, NULL when guarded or no stack */
  guint             started : 1;
  guint             finished : 1;
  guint             running : 1;    /* between resume and the matching suspend/finish */

  /* Cold: the start, the end, diagnostics. */
  CoopFiberFunc     func;
  gpointer          data;
  CoopFiberNameFunc name_func;
  gpointer          name_data;
  CoopStackPool    *pool;
  CoopStack        *stack;          /* NULL until the first resume, and after it finished */
  gsize             stack_size;     /* requested size, 0 = pool default */
#ifdef COOP_FIBER_SANITIZER
  /* Only in sanitizer builds: 40 bytes every task would carry. */
  gpointer          asan_fake_stack;
  gconstpointer     asan_caller_bottom; /* stack of whoever resumed it (AddressSanitizer builds) */
  gsize             asan_caller_size;
  gpointer          tsan_fiber;     /* ThreadSanitizer builds: its fiber context */
  gpointer          tsan_caller;    /* and the one of whoever resumed it */
#endif
};

/* Stack pool: one per loop (one thread).  Not thread-safe. */
CoopStackPool *coop_stack_pool_new              (gsize          default_size);
void           coop_stack_pool_free             (CoopStackPool *pool);
gsize          coop_stack_pool_get_default_size (CoopStackPool *pool);
void           coop_stack_pool_set_default_size (CoopStackPool *pool,
                                                 gsize          size);
/* After a burst the free stacks stay warm (their pages resident) for the
 * next one, as many as were lately in use at once.  When the loop is
 * idle, coop_stack_pool_trim_idle() gives back half of them per round, a
 * round at most once a second (@now is g_get_monotonic_time ()), and
 * unmaps slabs left all cold; @budget (0: none) bounds the stacks handled
 * per call, so an idle loop does it in slices.  Returns 0 when nothing is
 * left to give back, else when to call again (<= @now: at once).
 * coop_stack_pool_has_surplus() is the cheap test for whether to call. */
gboolean       coop_stack_pool_has_surplus      (CoopStackPool *pool);
gint64         coop_stack_pool_trim_idle        (CoopStackPool *pool,
                                                 gint64         now,
                                                 guint          budget);
/* Number of stacks currently handed out / cached. For tests and benchmarks. */
guint          coop_stack_pool_get_n_in_use     (CoopStackPool *pool);
guint          coop_stack_pool_get_n_free       (CoopStackPool *pool);
/* Of those, how many still have their pages (warm, most recent first). */
guint          coop_stack_pool_get_n_warm       (CoopStackPool *pool);

/* A stack handed out by a pool: lowest usable byte, usable size (from the
 * low end up to the 16-byte aligned top) and whether a PROT_NONE guard page
 * lies below it (otherwise a canary does).  For tests and diagnostics. */
gpointer       coop_stack_get_low               (CoopStack     *stack);
gsize          coop_stack_get_size              (CoopStack     *stack);
gboolean       coop_stack_is_guarded            (CoopStack     *stack);
/* Whether stacks get guard regions (MADV_GUARD_INSTALL, Linux 6.13) rather
 * than PROT_NONE pages and canaries; probed once per process. */
gboolean       coop_stack_guard_regions_in_use  (void);
/* Whether a new slab's guards and first pages are set up in one
 * process_madvise() call (Linux 6.13) rather than one madvise() per stack
 * and a fault per first page; FALSE too once the call failed, under
 * valgrind, or with COOP_STACK_BATCH_MADVISE=0. */
gboolean       coop_stack_batch_madvise_in_use  (void);

/* Fibers are embedded in their owner (no allocation of their own).  The
 * stack is taken from the pool at the first resume and returned as soon
 * as func returns. */
void       coop_fiber_init       (CoopFiber        *fiber,
                                  CoopStackPool    *pool,
                                  gsize             stack_size,
                                  CoopFiberFunc     func,
                                  gpointer          data);
void       coop_fiber_set_name_func (CoopFiber        *fiber,
                                     CoopFiberNameFunc name_func,
                                     gpointer          name_data);
/* Releases the stack if the fiber still holds one (a fiber that was
 * suspended and is abandoned: its frames are discarded, not unwound). */
void       coop_fiber_clear      (CoopFiber        *fiber);
/* Switch into the fiber until it suspends or finishes.  May be called from
 * the thread's own stack or from another fiber (nesting). */
void       coop_fiber_resume     (CoopFiber        *fiber);
/* Called on a fiber: switch back to whoever resumed it. */
void       coop_fiber_suspend    (void);
/* The fiber running on this thread, or NULL on the thread's own stack. */
CoopFiber *coop_fiber_current    (void);

/* The pieces of coop_fiber_resume()/suspend() the inlined versions call. */
/* Takes the fiber's stack (done by the first resume if not before);
 * G_IO_ERROR_NO_SPACE when no stack can be mapped. */
gboolean coop_fiber_start    (CoopFiber *fiber,
                              GError   **error);
void coop_fiber_release      (CoopFiber *fiber);
void coop_fiber_check_canary_slow (CoopFiber *fiber);
/* Guarded stacks (every one on Linux 6.13+) have no canary: a load and a
 * compare of the fiber's own first cache line. */
static inline __attribute__ ((always_inline)) void
coop_fiber_check_canary (CoopFiber *fiber)
{
  if (G_UNLIKELY (fiber->canary != NULL))
    coop_fiber_check_canary_slow (fiber);
}

/* --- the inlined switch (x86_64) ------------------------------------------
 *
 * The task step and await paths switch with an asm statement in place
 * rather than a call to coop_fiber_context_switch(): a switch resumed by
 * `jmp` to a label, with no call and no `ret`, leaves the return stack
 * buffer of both sides alone, and the `ret`s it used to miss cost more than
 * the switch itself (bench/README.md).  The statement declares every
 * general-purpose, SSE and x87 register clobbered except rbp, which it
 * saves itself (it may be the frame pointer), so the compiler keeps what
 * it needs in its own frame; the frame it leaves on the stack is the one
 * arch/coop-switch-x86_64.S describes.  It pushes below the stack pointer
 * of the function it is inlined into, which is only allowed without a red
 * zone: the library is built with -mno-red-zone (COOP_NO_RED_ZONE, set by
 * src/meson.build).  Sanitizer builds keep the out-of-line switch, which
 * their fiber annotations wrap. */
#if defined(COOP_FIBER_ASM) && defined(__x86_64__) && defined(__ELF__) && \
    defined(COOP_NO_RED_ZONE) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
# define COOP_FIBER_SWITCH_INLINE 1
# if defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#   undef COOP_FIBER_SWITCH_INLINE
#  endif
# endif
#endif

#ifdef COOP_FIBER_SWITCH_INLINE

# if defined(__CET__) && (__CET__ & 1)
#  define COOP_FIBER_ENDBR "endbr64\n\t"
# else
#  define COOP_FIBER_ENDBR ""
# endif

static inline __attribute__ ((always_inline)) void
coop_fiber_switch_inline (CoopFiberContext *from,
                          CoopFiberContext *to)
{
  __asm__ volatile ("leaq 1f(%%rip), %%rax\n\t"
                    "pushq %%rax\n\t"               /* resume address */
                    "pushq %%rbp\n\t"
                    "subq $8, %%rsp\n\t"
                    "stmxcsr (%%rsp)\n\t"
                    "fnstcw 4(%%rsp)\n\t"
                    "movl (%%rsp), %%eax\n\t"
                    "movzwl 4(%%rsp), %%ecx\n\t"
                    "movq %%rsp, (%0)\n\t"
                    "movq (%1), %%rsp\n\t"          /* the other stack */
                    "cmpl (%%rsp), %%eax\n\t"
                    "je 2f\n\t"
                    "ldmxcsr (%%rsp)\n"
                    "2:\n\t"
                    "cmpw 4(%%rsp), %%cx\n\t"
                    "je 3f\n\t"
                    "fldcw 4(%%rsp)\n"
                    "3:\n\t"
                    "movq 8(%%rsp), %%rbp\n\t"
                    "movq 16(%%rsp), %%rax\n\t"
                    "addq $24, %%rsp\n\t"
                    "jmp *%%rax\n"
                    "1:\n\t"                        /* resumed here */
                    COOP_FIBER_ENDBR
                    : "+D" (from), "+S" (to)
                    :
                    : "rax", "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11",
                      "r12", "r13", "r14", "r15",
                      "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                      "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
                      "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)",
                      "memory", "cc");
}

# define COOP_FIBER_SWITCH_INTO(fiber) coop_fiber_switch_inline (&(fiber)->caller, &(fiber)->ctx)
# define COOP_FIBER_SWITCH_OUT(self)   coop_fiber_switch_inline (&(self)->ctx, &(self)->caller)

#else

/* The out-of-line switch, with the sanitizers' fiber annotations around it
 * (coop-fiber.c). */
void coop_fiber_switch_into (CoopFiber *fiber);
void coop_fiber_switch_out  (CoopFiber *self);
# define COOP_FIBER_SWITCH_INTO(fiber) coop_fiber_switch_into (fiber)
# define COOP_FIBER_SWITCH_OUT(self)   coop_fiber_switch_out (self)

#endif

extern COOP_TLS CoopFiber *coop_current_fiber;
void coop_fiber_report_misuse (CoopFiber *fiber);

/* coop_fiber_resume() and coop_fiber_suspend(), inlined into their
 * callers (the task step, the await): with the inlined switch, what is left
 * after a switch is then no `ret` at all on the loop's side and one on the
 * task's. */
static inline __attribute__ ((always_inline)) void
coop_fiber_resume_inline (CoopFiber *fiber)
{
  CoopFiber *prev;

  if (G_UNLIKELY (fiber->finished || fiber->running))
    {
      coop_fiber_report_misuse (fiber);
      return;
    }
  if (G_UNLIKELY (!fiber->started) && !coop_fiber_start (fiber, NULL))
    return;

  prev = coop_current_fiber;
  /* Resumed from another fiber's stack (a task running a nested main
   * loop), which might have overflowed into the one about to run.  The
   * loop's own resumes (prev NULL) pay a compare, a branch and a reload
   * of prev: 3 instructions of about 600 per hand-off. */
  if (G_UNLIKELY (prev != NULL))
    coop_fiber_check_canary (prev);
  fiber->prev_current = prev;
  fiber->running = TRUE;
  coop_current_fiber = fiber;
  COOP_FIBER_SWITCH_INTO (fiber);
  coop_current_fiber = prev;
  fiber->running = FALSE;

  if (G_UNLIKELY (fiber->finished))
    coop_fiber_release (fiber);
}

static inline __attribute__ ((always_inline)) void
coop_fiber_suspend_inline (void)
{
  CoopFiber *self = coop_current_fiber;

  if (G_UNLIKELY (self == NULL))
    {
      coop_fiber_report_misuse (NULL);
      return;
    }
  coop_fiber_check_canary (self);
  COOP_FIBER_SWITCH_OUT (self);
}

/* The raw, backend-specific switch (exposed for the switch tests). */
void       coop_fiber_context_make   (CoopFiberContext *ctx,
                                      gpointer          stack_low,
                                      gsize             stack_size,
                                      void            (*entry) (gpointer),
                                      gpointer          arg);
void       coop_fiber_context_switch (CoopFiberContext *from,
                                      CoopFiberContext *to);
void       coop_fiber_context_free   (CoopFiberContext *ctx);
/* The registers a paused context resumes with, for unwinding its stack
 * (coop-debug.c): the resume address, the stack and frame pointers, and
 * the callee-saved registers (x86_64: rbx, rbp, r12-r15; aarch64:
 * x19-x29).  Returns FALSE where the backend cannot tell. */
typedef struct
{
  guintptr pc;
  guintptr sp;
  guintptr fp;
  guintptr callee[11];
} CoopFiberRegs;

gboolean   coop_fiber_context_get_regs (const CoopFiberContext *ctx,
                                        CoopFiberRegs          *regs);
/* The registers of a fiber that is suspended (started, not running, not
 * finished), with the bounds of its stack; FALSE otherwise. */
gboolean   coop_fiber_get_paused_regs  (CoopFiber              *fiber,
                                        CoopFiberRegs          *regs,
                                        guintptr               *stack_low,
                                        guintptr               *stack_high);
/* Name of the compiled backend: "x86_64", "aarch64" or "ucontext". */
const char *coop_fiber_backend_name  (void);

G_END_DECLS
