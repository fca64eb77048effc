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

struct _CoopFiber
{
  CoopFiberContext  ctx;            /* the fiber's own saved context */
  CoopFiberContext  caller;         /* who resumed it, restored on suspend */
  CoopFiberFunc     func;
  gpointer          data;
  CoopFiberNameFunc name_func;
  gpointer          name_data;
  CoopStackPool    *pool;
  CoopStack        *stack;          /* NULL until the first resume, and after it finished */
  gsize             stack_size;     /* requested size, 0 = pool default */
  CoopFiber        *prev_current;   /* the fiber that was current when this one was resumed */
  gpointer          asan_fake_stack;
  gconstpointer     asan_caller_bottom; /* stack of whoever resumed it (AddressSanitizer builds) */
  gsize             asan_caller_size;
  gpointer          tsan_fiber;     /* ThreadSanitizer builds: its fiber context */
  gpointer          tsan_caller;    /* and the one of whoever resumed it */
  guint             started : 1;
  guint             finished : 1;
  guint             running : 1;    /* between resume and the matching suspend/finish */
};

/* Stack pool: one per loop (one thread).  Not thread-safe. */
CoopStackPool *coop_stack_pool_new              (gsize          default_size);
void           coop_stack_pool_free             (CoopStackPool *pool);
gsize          coop_stack_pool_get_default_size (CoopStackPool *pool);
void           coop_stack_pool_set_default_size (CoopStackPool *pool,
                                                 gsize          size);
/* Number of stacks currently handed out / cached. For tests and benchmarks. */
guint          coop_stack_pool_get_n_in_use     (CoopStackPool *pool);
guint          coop_stack_pool_get_n_free       (CoopStackPool *pool);

/* A stack handed out by a pool: lowest usable byte, usable size (from the
 * low end up to the 16-byte aligned top) and whether a PROT_NONE guard page
 * lies below it (otherwise a canary does).  For tests and diagnostics. */
gpointer       coop_stack_get_low               (CoopStack     *stack);
gsize          coop_stack_get_size              (CoopStack     *stack);
gboolean       coop_stack_is_guarded            (CoopStack     *stack);

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
