/* test-switch.c: the raw context switch of one backend, alone.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Built once per backend (test-switch-asm, test-switch-ucontext) from the
 * backend's sources only, so a failure here is the switch's fault, not the
 * fiber layer's.
 */

#include "config.h"

#include "coop-fiber-private.h"

#include <fenv.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

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
# include <sanitizer/common_interface_defs.h>
#endif

/* --- a minimal fiber on top of the raw switch ----------------------------- */

typedef struct
{
  CoopFiberContext ctx;
  guint8          *stack;        /* NULL for the thread's own stack */
  gsize            size;
  guint            valgrind_id;
  /* AddressSanitizer bookkeeping: this context's fake stack while it is
   * switched out, and for the thread's own stack its bounds (learned). */
  void            *fake_stack;
  gconstpointer    asan_bottom;
  gsize            asan_size;
} TestCtx;

static void
test_ctx_init_fiber (TestCtx *t,
                     gsize    size,
                     void   (*entry) (gpointer),
                     gpointer arg)
{
  memset (t, 0, sizeof *t);
  t->size = size;
  t->stack = mmap (NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  g_assert_true (t->stack != MAP_FAILED);
  t->valgrind_id = VALGRIND_STACK_REGISTER (t->stack, t->stack + size);
  coop_fiber_context_make (&t->ctx, t->stack, size, entry, arg);
  g_assert_nonnull (t->ctx.sp);
}

static void
test_ctx_clear (TestCtx *t)
{
  coop_fiber_context_free (&t->ctx);
  g_assert_null (t->ctx.sp);
  if (t->stack != NULL)
    {
      VALGRIND_STACK_DEREGISTER (t->valgrind_id);
      munmap (t->stack, t->size);
    }
  memset (t, 0, sizeof *t);
}

/* Tell ASan about a switch from @from to @to (no-ops otherwise).  @save is
 * FALSE for a context that never runs again. */
static inline void
asan_before (TestCtx  *from,
             TestCtx  *to,
             gboolean  save)
{
#ifdef COOP_ASAN
  if (to->stack != NULL)
    __sanitizer_start_switch_fiber (save ? &from->fake_stack : NULL, to->stack, to->size);
  else
    __sanitizer_start_switch_fiber (save ? &from->fake_stack : NULL, to->asan_bottom, to->asan_size);
#else
  (void) from; (void) to; (void) save;
#endif
}

static inline void
asan_after (TestCtx *self,
            TestCtx *peer)
{
#ifdef COOP_ASAN
  const void *bottom;
  size_t size;

  __sanitizer_finish_switch_fiber (self->fake_stack, &bottom, &size);
  if (peer != NULL && peer->stack == NULL)
    {
      peer->asan_bottom = bottom;
      peer->asan_size = size;
    }
#else
  (void) self; (void) peer;
#endif
}

/* First thing a fiber does: learn its resumer's stack (ASan). */
static inline void
test_ctx_enter (TestCtx *resumer)
{
#ifdef COOP_ASAN
  __sanitizer_finish_switch_fiber (NULL, &resumer->asan_bottom, &resumer->asan_size);
#else
  (void) resumer;
#endif
}

static void
test_switch (TestCtx *from,
             TestCtx *to)
{
  asan_before (from, to, TRUE);
  coop_fiber_context_switch (&from->ctx, &to->ctx);
  asan_after (from, to);
}

/* The last switch out of a fiber. */
G_GNUC_NORETURN static void
test_exit (TestCtx *from,
           TestCtx *to)
{
  asan_before (from, to, FALSE);
  coop_fiber_context_switch (&from->ctx, &to->ctx);
  g_assert_not_reached ();
  abort ();
}

/* --- backend ------------------------------------------------------------- */

static void
test_backend_name (void)
{
  const char *name = coop_fiber_backend_name ();

  g_assert_nonnull (name);
  g_test_message ("backend: %s", name);
  g_assert_true (g_str_equal (name, "x86_64") || g_str_equal (name, "aarch64") ||
                 g_str_equal (name, "ucontext"));
}

/* --- a million switches -------------------------------------------------- */

#define N_PING_PONG 1000000

typedef struct
{
  TestCtx main;
  TestCtx fiber;
  guint   count;
  gboolean stop;
} PingPong;

static void
ping_pong_fiber (gpointer data)
{
  PingPong *pp = data;

  test_ctx_enter (&pp->main);
  while (!pp->stop)
    {
      pp->count++;
      test_switch (&pp->fiber, &pp->main);
    }
  test_exit (&pp->fiber, &pp->main);
}

static void
test_ping_pong (void)
{
  PingPong pp;
  guint i;

  memset (&pp, 0, sizeof pp);
  test_ctx_init_fiber (&pp.fiber, 64 * 1024, ping_pong_fiber, &pp);

  for (i = 0; i < N_PING_PONG; i++)
    test_switch (&pp.main, &pp.fiber);
  g_assert_cmpuint (pp.count, ==, N_PING_PONG);

  pp.stop = TRUE;
  test_switch (&pp.main, &pp.fiber);
  g_assert_cmpuint (pp.count, ==, N_PING_PONG);

  g_test_message ("%s: %u round trips", coop_fiber_backend_name (), N_PING_PONG);

  test_ctx_clear (&pp.fiber);
  coop_fiber_context_free (&pp.main.ctx);
}

/* --- callee-saved registers ---------------------------------------------- */

#if defined(__x86_64__)

/* rbx, rbp, r12, r13, r14, r15 */
# define N_SAVED_REGS 6

/* Loads in[] into the callee-saved registers, switches from -> to, and
 * stores the same registers into out[] when switched back, all in one asm
 * statement so the compiler cannot touch them in between.  The statement
 * saves and restores the registers it borrows itself, steps over the red
 * zone and aligns the stack for the call. */
static void
switch_with_registers (CoopFiberContext *from,
                       CoopFiberContext *to,
                       const guint64    *in,
                       guint64          *out)
{
  __asm__ volatile (
    "movq   %%rsp, %%rax\n\t"
    "subq   $128, %%rsp\n\t"
    "andq   $-16, %%rsp\n\t"
    "pushq  %%rax\n\t"
    "pushq  %%rcx\n\t"
    "pushq  %%rbx\n\t"
    "pushq  %%rbp\n\t"
    "pushq  %%r12\n\t"
    "pushq  %%r13\n\t"
    "pushq  %%r14\n\t"
    "pushq  %%r15\n\t"
    "movq   0(%%rdx), %%rbx\n\t"
    "movq   8(%%rdx), %%rbp\n\t"
    "movq   16(%%rdx), %%r12\n\t"
    "movq   24(%%rdx), %%r13\n\t"
    "movq   32(%%rdx), %%r14\n\t"
    "movq   40(%%rdx), %%r15\n\t"
    "call   coop_fiber_context_switch\n\t"
    "movq   48(%%rsp), %%rcx\n\t"
    "movq   %%rbx, 0(%%rcx)\n\t"
    "movq   %%rbp, 8(%%rcx)\n\t"
    "movq   %%r12, 16(%%rcx)\n\t"
    "movq   %%r13, 24(%%rcx)\n\t"
    "movq   %%r14, 32(%%rcx)\n\t"
    "movq   %%r15, 40(%%rcx)\n\t"
    "popq   %%r15\n\t"
    "popq   %%r14\n\t"
    "popq   %%r13\n\t"
    "popq   %%r12\n\t"
    "popq   %%rbp\n\t"
    "popq   %%rbx\n\t"
    "popq   %%rcx\n\t"
    "popq   %%rsp\n\t"
    : "+D" (from), "+S" (to), "+d" (in), "+c" (out)
    :
    : "rax", "r8", "r9", "r10", "r11", "memory", "cc",
      "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
      "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
      "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
}

#elif defined(__aarch64__)

/* x19-x28, x29, d8-d15 */
# define N_SAVED_REGS 19

static void
switch_with_registers (CoopFiberContext *from,
                       CoopFiberContext *to,
                       const guint64    *in,
                       guint64          *out)
{
  register CoopFiberContext *x0 __asm__ ("x0") = from;
  register CoopFiberContext *x1 __asm__ ("x1") = to;
  register const guint64 *x2 __asm__ ("x2") = in;
  register guint64 *x3 __asm__ ("x3") = out;

  __asm__ volatile (
    "sub    sp, sp, #176\n\t"
    "stp    x19, x20, [sp, #0]\n\t"
    "stp    x21, x22, [sp, #16]\n\t"
    "stp    x23, x24, [sp, #32]\n\t"
    "stp    x25, x26, [sp, #48]\n\t"
    "stp    x27, x28, [sp, #64]\n\t"
    "stp    x29, x30, [sp, #80]\n\t"
    "stp    d8, d9, [sp, #96]\n\t"
    "stp    d10, d11, [sp, #112]\n\t"
    "stp    d12, d13, [sp, #128]\n\t"
    "stp    d14, d15, [sp, #144]\n\t"
    "str    x3, [sp, #160]\n\t"
    "ldp    x19, x20, [x2, #0]\n\t"
    "ldp    x21, x22, [x2, #16]\n\t"
    "ldp    x23, x24, [x2, #32]\n\t"
    "ldp    x25, x26, [x2, #48]\n\t"
    "ldp    x27, x28, [x2, #64]\n\t"
    "ldr    x29, [x2, #80]\n\t"
    "ldp    d8, d9, [x2, #88]\n\t"
    "ldp    d10, d11, [x2, #104]\n\t"
    "ldp    d12, d13, [x2, #120]\n\t"
    "ldp    d14, d15, [x2, #136]\n\t"
    "bl     coop_fiber_context_switch\n\t"
    "ldr    x3, [sp, #160]\n\t"
    "stp    x19, x20, [x3, #0]\n\t"
    "stp    x21, x22, [x3, #16]\n\t"
    "stp    x23, x24, [x3, #32]\n\t"
    "stp    x25, x26, [x3, #48]\n\t"
    "stp    x27, x28, [x3, #64]\n\t"
    "str    x29, [x3, #80]\n\t"
    "stp    d8, d9, [x3, #88]\n\t"
    "stp    d10, d11, [x3, #104]\n\t"
    "stp    d12, d13, [x3, #120]\n\t"
    "stp    d14, d15, [x3, #136]\n\t"
    "ldp    x19, x20, [sp, #0]\n\t"
    "ldp    x21, x22, [sp, #16]\n\t"
    "ldp    x23, x24, [sp, #32]\n\t"
    "ldp    x25, x26, [sp, #48]\n\t"
    "ldp    x27, x28, [sp, #64]\n\t"
    "ldp    x29, x30, [sp, #80]\n\t"
    "ldp    d8, d9, [sp, #96]\n\t"
    "ldp    d10, d11, [sp, #112]\n\t"
    "ldp    d12, d13, [sp, #128]\n\t"
    "ldp    d14, d15, [sp, #144]\n\t"
    "add    sp, sp, #176\n\t"
    : "+r" (x0), "+r" (x1), "+r" (x2), "+r" (x3)
    :
    : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
      "x14", "x15", "x16", "x17", "x18", "memory", "cc",
      "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7",
      "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15",
      "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23",
      "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31");
}

#endif

#ifdef N_SAVED_REGS

#define N_REG_ROUNDS 100

typedef struct
{
  TestCtx main;
  TestCtx fiber;
  guint   fiber_checks;
} RegTest;

static void
fill_pattern (guint64 *values,
              guint64  seed)
{
  guint i;

  /* Distinct, non-zero, odd-looking values in every register. */
  for (i = 0; i < N_SAVED_REGS; i++)
    values[i] = (seed * G_GUINT64_CONSTANT (0x9e3779b97f4a7c15)) ^
                ((guint64) (i + 1) * G_GUINT64_CONSTANT (0x0101010101010101));
}

static void
reg_fiber (gpointer data)
{
  RegTest *rt = data;
  guint64 in[N_SAVED_REGS], out[N_SAVED_REGS];
  guint round;

  test_ctx_enter (&rt->main);
  for (round = 0; round < N_REG_ROUNDS; round++)
    {
      fill_pattern (in, 0xf1be0000 + round);
      memset (out, 0, sizeof out);
      asan_before (&rt->fiber, &rt->main, TRUE);
      switch_with_registers (&rt->fiber.ctx, &rt->main.ctx, in, out);
      asan_after (&rt->fiber, &rt->main);
      g_assert_cmpmem (in, sizeof in, out, sizeof out);
      rt->fiber_checks++;
    }
  test_exit (&rt->fiber, &rt->main);
}

static void
test_callee_saved (void)
{
  RegTest rt;
  guint64 in[N_SAVED_REGS], out[N_SAVED_REGS];
  guint round;

  memset (&rt, 0, sizeof rt);
  test_ctx_init_fiber (&rt.fiber, 64 * 1024, reg_fiber, &rt);

  for (round = 0; round < N_REG_ROUNDS; round++)
    {
      fill_pattern (in, 0x3a170000 + round);
      memset (out, 0, sizeof out);
      asan_before (&rt.main, &rt.fiber, TRUE);
      switch_with_registers (&rt.main.ctx, &rt.fiber.ctx, in, out);
      asan_after (&rt.main, &rt.fiber);
      g_assert_cmpmem (in, sizeof in, out, sizeof out);
    }
  /* Let the fiber check its last round and leave. */
  test_switch (&rt.main, &rt.fiber);
  g_assert_cmpuint (rt.fiber_checks, ==, N_REG_ROUNDS);

  test_ctx_clear (&rt.fiber);
  coop_fiber_context_free (&rt.main.ctx);
}

#endif /* N_SAVED_REGS */

/* --- floating-point control state ---------------------------------------- */

#if defined(__x86_64__)

# define MXCSR_DAZ  0x0040u
# define MXCSR_FTZ  0x8000u
# define X87_PC_MASK 0x0300u
# define X87_PC_DOUBLE 0x0200u
# define X87_PC_EXTENDED 0x0300u

static guint32
get_mxcsr (void)
{
  guint32 v;

  __asm__ volatile ("stmxcsr %0" : "=m" (v));
  return v;
}

static void
set_mxcsr (guint32 v)
{
  __asm__ volatile ("ldmxcsr %0" : : "m" (v));
}

static guint16
get_x87_cw (void)
{
  guint16 v;

  __asm__ volatile ("fnstcw %0" : "=m" (v));
  return v;
}

static void
set_x87_cw (guint16 v)
{
  __asm__ volatile ("fldcw %0" : : "m" (v));
}

typedef struct
{
  int     round;
  guint32 mxcsr_bits;     /* FTZ/DAZ */
  guint16 x87_pc;
} FpMode;

/* valgrind emulates neither FTZ/DAZ nor x87 precision control (it
 * ignores writes to them), so only the rounding mode is checked there. */

static void
fp_mode_apply (const FpMode *m)
{
  g_assert_cmpint (fesetround (m->round), ==, 0);
  set_mxcsr ((get_mxcsr () & ~(MXCSR_DAZ | MXCSR_FTZ)) | m->mxcsr_bits);
  set_x87_cw ((get_x87_cw () & ~X87_PC_MASK) | m->x87_pc);
}

static void
fp_mode_check (const FpMode *m)
{
  g_assert_cmpint (fegetround (), ==, m->round);
  if (RUNNING_ON_VALGRIND)
    return;
  g_assert_cmphex (get_mxcsr () & (MXCSR_DAZ | MXCSR_FTZ), ==, m->mxcsr_bits);
  g_assert_cmphex (get_x87_cw () & X87_PC_MASK, ==, m->x87_pc);
}

static const FpMode main_mode = { FE_TOWARDZERO, 0, X87_PC_EXTENDED };
static const FpMode fiber_mode = { FE_UPWARD, MXCSR_DAZ | MXCSR_FTZ, X87_PC_DOUBLE };

#elif defined(__aarch64__)

# define FPCR_FZ (1u << 24)

static guint64
get_fpcr (void)
{
  guint64 v;

  __asm__ volatile ("mrs %0, fpcr" : "=r" (v));
  return v;
}

static void
set_fpcr (guint64 v)
{
  __asm__ volatile ("msr fpcr, %0" : : "r" (v));
}

typedef struct
{
  int     round;
  guint64 fz;
} FpMode;

static void
fp_mode_apply (const FpMode *m)
{
  g_assert_cmpint (fesetround (m->round), ==, 0);
  set_fpcr ((get_fpcr () & ~(guint64) FPCR_FZ) | m->fz);
}

static void
fp_mode_check (const FpMode *m)
{
  g_assert_cmpint (fegetround (), ==, m->round);
  g_assert_cmphex (get_fpcr () & FPCR_FZ, ==, m->fz);
}

static const FpMode main_mode = { FE_TOWARDZERO, 0 };
static const FpMode fiber_mode = { FE_UPWARD, FPCR_FZ };

#else

typedef struct
{
  int round;
} FpMode;

static void
fp_mode_apply (const FpMode *m)
{
  g_assert_cmpint (fesetround (m->round), ==, 0);
}

static void
fp_mode_check (const FpMode *m)
{
  g_assert_cmpint (fegetround (), ==, m->round);
}

static const FpMode main_mode = { FE_TOWARDZERO };
static const FpMode fiber_mode = { FE_UPWARD };

#endif

#define N_FP_ROUNDS 50

typedef struct
{
  TestCtx main;
  TestCtx fiber;
  guint   fiber_checks;
} FpTest;

static void
fp_fiber (gpointer data)
{
  FpTest *ft = data;
  guint i;

  test_ctx_enter (&ft->main);
  fp_mode_apply (&fiber_mode);
  for (i = 0; i < N_FP_ROUNDS; i++)
    {
      test_switch (&ft->fiber, &ft->main);
      fp_mode_check (&fiber_mode);
      ft->fiber_checks++;
    }
  test_exit (&ft->fiber, &ft->main);
}

static void
test_fp_mode (void)
{
  FpTest ft;
  fenv_t saved;
  guint i;

  memset (&ft, 0, sizeof ft);
  g_assert_cmpint (fegetenv (&saved), ==, 0);
#if defined(__x86_64__)
  {
    guint32 saved_mxcsr = get_mxcsr ();
    guint16 saved_cw = get_x87_cw ();
#endif

  /* The fiber inherits the creator's modes, then sets its own. */
  test_ctx_init_fiber (&ft.fiber, 64 * 1024, fp_fiber, &ft);
  fp_mode_apply (&main_mode);
  for (i = 0; i < N_FP_ROUNDS; i++)
    {
      test_switch (&ft.main, &ft.fiber);
      fp_mode_check (&main_mode);
    }
  test_switch (&ft.main, &ft.fiber);
  fp_mode_check (&main_mode);
  g_assert_cmpuint (ft.fiber_checks, ==, N_FP_ROUNDS);

  test_ctx_clear (&ft.fiber);
  coop_fiber_context_free (&ft.main.ctx);

#if defined(__x86_64__)
    set_mxcsr (saved_mxcsr);
    set_x87_cw (saved_cw);
  }
#endif
  g_assert_cmpint (fesetenv (&saved), ==, 0);
}

/* --- a generator: one fiber switching back many times -------------------- */

#define N_YIELDS 100000

typedef struct
{
  TestCtx main;
  TestCtx fiber;
  guint64 value;
  gboolean done;
} Generator;

static void
generator_fiber (gpointer data)
{
  Generator *g = data;
  guint64 a = 0, b = 1;
  guint i;

  test_ctx_enter (&g->main);
  /* Fibonacci numbers modulo 2^64: state that lives in the fiber's own
   * frame across every switch. */
  for (i = 0; i < N_YIELDS; i++)
    {
      guint64 next = a + b;

      g->value = a;
      test_switch (&g->fiber, &g->main);
      a = b;
      b = next;
    }
  g->done = TRUE;
  test_exit (&g->fiber, &g->main);
}

static void
test_generator (void)
{
  Generator g;
  guint64 a = 0, b = 1;
  guint n = 0;

  memset (&g, 0, sizeof g);
  test_ctx_init_fiber (&g.fiber, 64 * 1024, generator_fiber, &g);

  for (;;)
    {
      guint64 next = a + b;

      test_switch (&g.main, &g.fiber);
      if (g.done)
        break;
      g_assert_cmpuint (g.value, ==, a);
      a = b;
      b = next;
      n++;
    }
  g_assert_cmpuint (n, ==, N_YIELDS);

  test_ctx_clear (&g.fiber);
  coop_fiber_context_free (&g.main.ctx);
}

/* --- two fibers switching to each other directly ------------------------- */

typedef struct
{
  TestCtx main;
  TestCtx a;
  TestCtx b;
  GString *log;
} Trio;

static void
trio_a (gpointer data)
{
  Trio *t = data;

  test_ctx_enter (&t->main);
  g_string_append (t->log, "a1 ");
  test_switch (&t->a, &t->b);        /* a -> b, not through main */
  g_string_append (t->log, "a2 ");
  test_exit (&t->a, &t->main);
}

static void
trio_b (gpointer data)
{
  Trio *t = data;

  /* Entered from a, but finishes by switching to main; under ASan the
   * first switch here learns a's stack, which is what test_switch needs
   * to go back to a.  Main's bounds are already known from a. */
  test_ctx_enter (&t->a);
  g_string_append (t->log, "b1 ");
  test_switch (&t->b, &t->main);
  g_string_append (t->log, "b2 ");
  test_exit (&t->b, &t->a);
}

static void
test_any_to_any (void)
{
  Trio t;

  memset (&t, 0, sizeof t);
  t.log = g_string_new ("");
  test_ctx_init_fiber (&t.a, 64 * 1024, trio_a, &t);
  test_ctx_init_fiber (&t.b, 64 * 1024, trio_b, &t);

  test_switch (&t.main, &t.a);       /* a1, a -> b, b1, b -> main */
  g_string_append (t.log, "m1 ");
  test_switch (&t.main, &t.b);       /* b2, b -> a, a2, a -> main */
  g_string_append (t.log, "m2");
  g_assert_cmpstr (t.log->str, ==, "a1 b1 m1 b2 a2 m2");

  test_ctx_clear (&t.a);
  test_ctx_clear (&t.b);
  coop_fiber_context_free (&t.main.ctx);
  g_string_free (t.log, TRUE);
}

/* --- stack alignment at entry -------------------------------------------- */

typedef struct
{
  TestCtx   main;
  TestCtx   fiber;
  guintptr  cfa;
  guintptr  max_align_local;
  gboolean  ran;
} AlignTest;

static void __attribute__ ((noinline))
align_fiber (gpointer data)
{
  AlignTest *at = data;
  max_align_t local;

  test_ctx_enter (&at->main);
  /* The canonical frame address is the stack pointer just before the
   * call that entered this function: 16-byte aligned on both x86_64 and
   * aarch64 (x86_64 then has rsp + 8 aligned at the first instruction). */
  at->cfa = (guintptr) __builtin_dwarf_cfa ();
  at->max_align_local = (guintptr) &local;
  at->ran = TRUE;
  test_exit (&at->fiber, &at->main);
}

static void
test_alignment (void)
{
  static const gsize trims[] = { 0, 1, 4, 8, 12, 15 };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (trims); i++)
    {
      AlignTest at;

      memset (&at, 0, sizeof at);
      test_ctx_init_fiber (&at.fiber, 64 * 1024, align_fiber, &at);
      /* Remake the context on a stack whose size is not a multiple of 16. */
      coop_fiber_context_make (&at.fiber.ctx, at.fiber.stack, 64 * 1024 - trims[i],
                               align_fiber, &at);
      test_switch (&at.main, &at.fiber);
      g_assert_true (at.ran);
      g_assert_cmpuint (at.cfa % 16, ==, 0);
      g_assert_cmpuint (at.max_align_local % _Alignof (max_align_t), ==, 0);
      g_assert_cmpuint (at.cfa, <=, (guintptr) at.fiber.stack + 64 * 1024 - trims[i]);
      test_ctx_clear (&at.fiber);
      coop_fiber_context_free (&at.main.ctx);
    }
}

/* --- deep recursion on a fiber stack ------------------------------------- */

#define RECURSION_DEPTH 20000

typedef struct
{
  TestCtx main;
  TestCtx fiber;
  guint64 result;
  guintptr deepest;
} DeepTest;

static guint64 __attribute__ ((noinline))
recurse (guint     depth,
         guintptr *deepest)
{
  volatile guint8 frame[96];
  guint64 sum;
  guint i;

  for (i = 0; i < sizeof frame; i++)
    frame[i] = (guint8) (depth + i);
  /* The frame address, not &frame: under ASan with use-after-return
   * detection, locals may live on a heap-allocated fake stack. */
  if ((guintptr) __builtin_frame_address (0) < *deepest)
    *deepest = (guintptr) __builtin_frame_address (0);
  if (depth == 0)
    return 1;

  sum = recurse (depth - 1, deepest);
  /* Use the frame after the call, so it is neither a tail call nor dead. */
  for (i = 0; i < sizeof frame; i += 16)
    sum += frame[i];
  return sum;
}

static guint64
recurse_expected (guint depth)
{
  guint64 sum = 1;
  guint d, i;

  for (d = 1; d <= depth; d++)
    for (i = 0; i < 96; i += 16)
      sum += (guint8) (d + i);
  return sum;
}

static void
deep_fiber (gpointer data)
{
  DeepTest *dt = data;

  test_ctx_enter (&dt->main);
  dt->deepest = G_MAXSIZE;
  dt->result = recurse (RECURSION_DEPTH, &dt->deepest);
  test_exit (&dt->fiber, &dt->main);
}

static void
test_deep_recursion (void)
{
  DeepTest dt;
  gsize size = 16 * 1024 * 1024;

  memset (&dt, 0, sizeof dt);
  test_ctx_init_fiber (&dt.fiber, size, deep_fiber, &dt);
  test_switch (&dt.main, &dt.fiber);

  g_assert_cmpuint (dt.result, ==, recurse_expected (RECURSION_DEPTH));
  /* It really ran on the fiber stack, and deep into it. */
  g_assert_cmpuint (dt.deepest, >=, (guintptr) dt.fiber.stack);
  g_assert_cmpuint (dt.deepest, <, (guintptr) dt.fiber.stack + size);
  g_test_message ("recursion used %" G_GSIZE_FORMAT " KiB of fiber stack",
                  (gsize) ((guintptr) dt.fiber.stack + size - dt.deepest) / 1024);
  g_assert_cmpuint ((guintptr) dt.fiber.stack + size - dt.deepest, >, 1024 * 1024);

  test_ctx_clear (&dt.fiber);
  coop_fiber_context_free (&dt.main.ctx);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/coop/switch/backend", test_backend_name);
  g_test_add_func ("/coop/switch/ping-pong", test_ping_pong);
#ifdef N_SAVED_REGS
  g_test_add_func ("/coop/switch/callee-saved", test_callee_saved);
#endif
  g_test_add_func ("/coop/switch/fp-mode", test_fp_mode);
  g_test_add_func ("/coop/switch/generator", test_generator);
  g_test_add_func ("/coop/switch/any-to-any", test_any_to_any);
  g_test_add_func ("/coop/switch/alignment", test_alignment);
  g_test_add_func ("/coop/switch/deep-recursion", test_deep_recursion);

  return g_test_run ();
}
