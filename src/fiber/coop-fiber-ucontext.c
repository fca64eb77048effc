/* coop-fiber-ucontext.c: the portable context switch backend, on
 * getcontext/makecontext/swapcontext.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Slower than the asm backend: glibc's swapcontext saves and restores the
 * signal mask with a sigprocmask system call on every switch, and the
 * whole FPU environment.  It is the fallback for CPUs without a
 * hand-written switch, and a second opinion when debugging one.
 *
 * No heap: like the asm backend, a context that switched away keeps its
 * saved state on its own stack (a local in coop_fiber_context_switch's
 * frame, which lives exactly as long as the context is switched out), and
 * a new context keeps its initial state at the top of its new stack.  So
 * a suspended fiber costs no memory beyond the stack pages it touched.
 */

#include "coop-fiber-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

typedef struct
{
  ucontext_t uc;
  void     (*entry) (gpointer);
  gpointer   arg;
} CoopUContext;

/* makecontext() passes int arguments only, so the context pointer is
 * split into two halves. */
static void
coop_ucontext_trampoline (unsigned int hi,
                          unsigned int lo)
{
  CoopUContext *uctx = (CoopUContext *) (uintptr_t) (((uint64_t) hi << 32) | lo);

  /* uctx lies at the top of this very stack, above the frames: read it
   * before anything could reuse it. */
  uctx->entry (uctx->arg);

  /* entry must switch away for good instead of returning: with uc_link
   * NULL a return would exit the thread, which is never what we want. */
  abort ();
}

void
coop_fiber_context_make (CoopFiberContext *ctx,
                         gpointer          stack_low,
                         gsize             stack_size,
                         void            (*entry) (gpointer),
                         gpointer          arg)
{
  uintptr_t top = ((uintptr_t) stack_low + stack_size - sizeof (CoopUContext)) & ~(uintptr_t) 63;
  /* volatile: GCC treats getcontext() as returning twice and warns with
   * -Wclobbered; it cannot return twice here, the context is remade at
   * once. */
  CoopUContext *volatile uctx = (CoopUContext *) top;
  uint64_t bits;

  memset (uctx, 0, sizeof *uctx);

  /* getcontext also records the FPU environment and signal mask, which
   * the new context therefore inherits from its creator. */
  if (getcontext (&uctx->uc) != 0)
    g_error ("getcontext() failed");

  uctx->uc.uc_stack.ss_sp = stack_low;
  uctx->uc.uc_stack.ss_size = top - (uintptr_t) stack_low;
  uctx->uc.uc_stack.ss_flags = 0;
  uctx->uc.uc_link = NULL;
  uctx->entry = entry;
  uctx->arg = arg;

  bits = (uint64_t) (uintptr_t) uctx;
  /* void (*) (void) is the one function type GCC lets anything be cast to
   * without -Wcast-function-type complaining; it is what makecontext
   * takes anyway. */
  makecontext (&uctx->uc, (void (*) (void)) coop_ucontext_trampoline, 2,
               (unsigned int) (bits >> 32), (unsigned int) (bits & 0xffffffffu));

  ctx->sp = uctx;
}

void
coop_fiber_context_switch (CoopFiberContext *from,
                           CoopFiberContext *to)
{
  CoopUContext self;

  /* swapcontext does not fill uc_stack, and AddressSanitizer's
   * swapcontext interceptor reads the target's uc_stack to clear its
   * shadow: make sure it finds an empty range when switching back here. */
  self.uc.uc_stack.ss_sp = NULL;
  self.uc.uc_stack.ss_size = 0;
  self.uc.uc_stack.ss_flags = 0;
  self.uc.uc_link = NULL;

  from->sp = &self;
  if (G_UNLIKELY (swapcontext (&self.uc, &((CoopUContext *) to->sp)->uc) != 0))
    g_error ("swapcontext() failed");
}

/* What swapcontext() saved. */
gboolean
coop_fiber_context_get_regs (const CoopFiberContext *ctx,
                             CoopFiberRegs          *regs)
{
  const CoopUContext *uctx = ctx->sp;

  if (uctx == NULL)
    return FALSE;
  memset (regs, 0, sizeof *regs);
#if defined(__x86_64__)
  {
    const greg_t *gregs = uctx->uc.uc_mcontext.gregs;

    regs->callee[0] = gregs[REG_RBX];
    regs->callee[1] = gregs[REG_RBP];
    regs->callee[2] = gregs[REG_R12];
    regs->callee[3] = gregs[REG_R13];
    regs->callee[4] = gregs[REG_R14];
    regs->callee[5] = gregs[REG_R15];
    regs->fp = gregs[REG_RBP];
    regs->pc = gregs[REG_RIP];
    regs->sp = gregs[REG_RSP];
  }
  return TRUE;
#elif defined(__aarch64__)
  for (int i = 0; i < 11; i++)
    regs->callee[i] = uctx->uc.uc_mcontext.regs[19 + i];
  regs->fp = uctx->uc.uc_mcontext.regs[29];
  regs->pc = uctx->uc.uc_mcontext.pc;
  regs->sp = uctx->uc.uc_mcontext.sp;
  return TRUE;
#else
  return FALSE;
#endif
}

/* Nothing to free: contexts live on their stacks. */
void
coop_fiber_context_free (CoopFiberContext *ctx)
{
  ctx->sp = NULL;
}

const char *
coop_fiber_backend_name (void)
{
  return "ucontext";
}
