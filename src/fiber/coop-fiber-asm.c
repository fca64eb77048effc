/* coop-fiber-asm.c: the hand-written context switch backend (x86_64 and
 * aarch64).  The switch itself is in arch/coop-switch-<cpu>.S; this file
 * builds the initial frame a new context starts from.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "coop-fiber-private.h"

#include <stdint.h>
#include <string.h>

/* Defined in the .S files.  They are only ever jumped to by the switch,
 * never called from C, hence the odd prototype. */
#if defined(__x86_64__)
extern void coop_fiber_trampoline_x86_64 (void);
#elif defined(__aarch64__)
extern void coop_fiber_trampoline_aarch64 (void);
#else
# error "The asm fiber backend supports x86_64 and aarch64 only; configure with -Dfiber_backend=ucontext"
#endif

/* A new context is a stack that looks as if it had paused at the
 * trampoline: the first switch into it jumps there, and the trampoline
 * calls entry(arg).  The floating-point control state is copied from the
 * creating thread, as getcontext()/makecontext() do for ucontext. */
void
coop_fiber_context_make (CoopFiberContext *ctx,
                         gpointer          stack_low,
                         gsize             stack_size,
                         void            (*entry) (gpointer),
                         gpointer          arg)
{
  uintptr_t top = ((uintptr_t) stack_low + stack_size) & ~(uintptr_t) 15;
  uint64_t *sp;

#if defined(__x86_64__)
  uint32_t mxcsr;
  uint16_t fpcw;
  uint64_t fpstate;

  __asm__ volatile ("stmxcsr %0" : "=m" (mxcsr));
  __asm__ volatile ("fnstcw %0" : "=m" (fpcw));
  fpstate = (uint64_t) mxcsr | ((uint64_t) fpcw << 32);

  /* The paused-context frame (see the .S file) resumes into the
   * trampoline with entry and arg above it; once it has popped them rsp =
   * top - 16, 16-byte aligned, so its `call *%rax` enters entry with rsp + 8
   * aligned.  The 16 bytes above are never read; zero them so a stray
   * unwinder finds nothing. */
  sp = (uint64_t *) top;
  *--sp = 0;
  *--sp = 0;
  *--sp = (uint64_t) (uintptr_t) arg;
  *--sp = (uint64_t) (uintptr_t) entry;
  *--sp = (uint64_t) (uintptr_t) coop_fiber_trampoline_x86_64; /* resume address */
  *--sp = 0;                                  /* rbp: ends frame-pointer chains */
  *--sp = fpstate;                            /* MXCSR, x87 control word */
#elif defined(__aarch64__)
  uint64_t fpcr;

  __asm__ volatile ("mrs %0, fpcr" : "=r" (fpcr));

  /* 176-byte frame (see the .S file); after it is popped sp = top,
   * which is 16-byte aligned as AAPCS64 requires at all times. */
  sp = (uint64_t *) (top - 176);
  memset (sp, 0, 176);
  sp[0] = (uint64_t) (uintptr_t) arg;                           /* x19 */
  sp[1] = (uint64_t) (uintptr_t) entry;                         /* x20 */
  sp[10] = 0;                                                   /* x29 */
  sp[11] = (uint64_t) (uintptr_t) coop_fiber_trampoline_aarch64; /* x30 */
  sp[20] = fpcr;
#endif

  ctx->sp = sp;
}

/* Reads the frame a switch pushed (see the layout in the .S file). */
gboolean
coop_fiber_context_get_regs (const CoopFiberContext *ctx,
                             CoopFiberRegs          *regs)
{
  const uint64_t *sp = ctx->sp;

  /* 0 and 1 rather than FALSE and TRUE: this file builds without GLib
   * for the cross-built switch check. */
  if (sp == NULL)
    return 0;
  memset (regs, 0, sizeof *regs);
#if defined(__x86_64__)
  /* Only rbp is in the frame: the other callee-saved registers are wherever
   * the paused code's own frame (described by its CFI) keeps them. */
  regs->callee[1] = sp[1];                    /* rbp */
  regs->fp = sp[1];
  regs->pc = sp[2];
  regs->sp = (guintptr) (sp + 3);
#elif defined(__aarch64__)
  for (int i = 0; i < 11; i++)
    regs->callee[i] = sp[i];                  /* x19 .. x29 */
  regs->fp = sp[10];
  regs->pc = sp[11];                          /* x30, the return address */
  regs->sp = (guintptr) (sp + 22);
#endif
  return 1;
}

/* Nothing to free: the whole context lives on its stack. */
void
coop_fiber_context_free (CoopFiberContext *ctx)
{
  ctx->sp = NULL;
}

const char *
coop_fiber_backend_name (void)
{
#if defined(__x86_64__)
  return "x86_64";
#else
  return "aarch64";
#endif
}
