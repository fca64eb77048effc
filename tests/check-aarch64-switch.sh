#!/bin/sh
# check-aarch64-switch.sh: cross-builds the aarch64 context switch
# (src/fiber/arch/coop-switch-aarch64.S + src/fiber/coop-fiber-asm.c) into a small
# static, GLib-free test program and runs it under qemu-aarch64.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Needs aarch64-linux-gnu-gcc, the arm64 C library for static linking and
# qemu-aarch64 (Debian: gcc-aarch64-linux-gnu libc6-dev-arm64-cross
# qemu-user).  Exits 77 (skipped, in automake/meson terms) when any of
# them is missing, 0 when every check passes, 1 otherwise.
#
# Environment: AARCH64_CC, QEMU_AARCH64 override the tools.

set -u

srcdir=$(cd "$(dirname "$0")/.." && pwd)
CC=${AARCH64_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU_AARCH64:-qemu-aarch64}

skip () {
  echo "SKIP: $*"
  exit 77
}

command -v "$CC" >/dev/null 2>&1 || skip "$CC not found"
command -v "$QEMU" >/dev/null 2>&1 || skip "$QEMU not found"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# Just enough of <glib.h> for coop-fiber-private.h and coop-fiber-asm.c.
mkdir "$tmp/stub"
cat > "$tmp/stub/glib.h" <<'EOF'
#pragma once
#include <stddef.h>
typedef void *gpointer;
typedef const void *gconstpointer;
typedef size_t gsize;
typedef unsigned int guint;
typedef int gboolean;
typedef unsigned long guintptr;
typedef long long gint64;
typedef struct _GError GError;
#define G_BEGIN_DECLS
#define G_END_DECLS
#define G_UNLIKELY(x) (x)
#define TRUE 1
#define FALSE 0
EOF

cat > "$tmp/check.c" <<'EOF'
#include "coop-fiber-private.h"

#include <fenv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) \
  do { if (!(cond)) { fprintf (stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); exit (1); } } while (0)

#define STACK_SIZE (1024 * 1024)

static CoopFiberContext main_ctx, fiber_ctx;
static unsigned char *stack;

static void
start (void (*entry) (gpointer), gpointer arg)
{
  coop_fiber_context_make (&fiber_ctx, stack, STACK_SIZE, entry, arg);
  coop_fiber_context_switch (&main_ctx, &fiber_ctx);
}

/* --- ping-pong --- */
static unsigned long count;
static int stop;

static void
ping_pong (gpointer arg)
{
  (void) arg;
  while (!stop)
    {
      count++;
      coop_fiber_context_switch (&fiber_ctx, &main_ctx);
    }
  coop_fiber_context_switch (&fiber_ctx, &main_ctx);
  abort ();
}

/* --- callee-saved registers: x19-x28, x29, d8-d15 --- */
#define N_REGS 19

static void
switch_with_registers (CoopFiberContext *from, CoopFiberContext *to,
                       const uint64_t *in, uint64_t *out)
{
  register CoopFiberContext *x0 __asm__ ("x0") = from;
  register CoopFiberContext *x1 __asm__ ("x1") = to;
  register const uint64_t *x2 __asm__ ("x2") = in;
  register uint64_t *x3 __asm__ ("x3") = out;

  __asm__ volatile (
    "sub sp, sp, #176\n\t"
    "stp x19, x20, [sp, #0]\n\t"
    "stp x21, x22, [sp, #16]\n\t"
    "stp x23, x24, [sp, #32]\n\t"
    "stp x25, x26, [sp, #48]\n\t"
    "stp x27, x28, [sp, #64]\n\t"
    "stp x29, x30, [sp, #80]\n\t"
    "stp d8, d9, [sp, #96]\n\t"
    "stp d10, d11, [sp, #112]\n\t"
    "stp d12, d13, [sp, #128]\n\t"
    "stp d14, d15, [sp, #144]\n\t"
    "str x3, [sp, #160]\n\t"
    "ldp x19, x20, [x2, #0]\n\t"
    "ldp x21, x22, [x2, #16]\n\t"
    "ldp x23, x24, [x2, #32]\n\t"
    "ldp x25, x26, [x2, #48]\n\t"
    "ldp x27, x28, [x2, #64]\n\t"
    "ldr x29, [x2, #80]\n\t"
    "ldp d8, d9, [x2, #88]\n\t"
    "ldp d10, d11, [x2, #104]\n\t"
    "ldp d12, d13, [x2, #120]\n\t"
    "ldp d14, d15, [x2, #136]\n\t"
    "bl coop_fiber_context_switch\n\t"
    "ldr x3, [sp, #160]\n\t"
    "stp x19, x20, [x3, #0]\n\t"
    "stp x21, x22, [x3, #16]\n\t"
    "stp x23, x24, [x3, #32]\n\t"
    "stp x25, x26, [x3, #48]\n\t"
    "stp x27, x28, [x3, #64]\n\t"
    "str x29, [x3, #80]\n\t"
    "stp d8, d9, [x3, #88]\n\t"
    "stp d10, d11, [x3, #104]\n\t"
    "stp d12, d13, [x3, #120]\n\t"
    "stp d14, d15, [x3, #136]\n\t"
    "ldp x19, x20, [sp, #0]\n\t"
    "ldp x21, x22, [sp, #16]\n\t"
    "ldp x23, x24, [sp, #32]\n\t"
    "ldp x25, x26, [sp, #48]\n\t"
    "ldp x27, x28, [sp, #64]\n\t"
    "ldp x29, x30, [sp, #80]\n\t"
    "ldp d8, d9, [sp, #96]\n\t"
    "ldp d10, d11, [sp, #112]\n\t"
    "ldp d12, d13, [sp, #128]\n\t"
    "ldp d14, d15, [sp, #144]\n\t"
    "add sp, sp, #176\n\t"
    : "+r" (x0), "+r" (x1), "+r" (x2), "+r" (x3)
    :
    : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
      "x14", "x15", "x16", "x17", "x18", "memory", "cc",
      "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7",
      "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15",
      "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23",
      "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31");
}

static void
fill (uint64_t *v, uint64_t seed)
{
  for (int i = 0; i < N_REGS; i++)
    v[i] = (seed * 0x9e3779b97f4a7c15ull) ^ ((uint64_t) (i + 1) * 0x0101010101010101ull);
}

static int reg_checks;

static void
reg_fiber (gpointer arg)
{
  uint64_t in[N_REGS], out[N_REGS];

  (void) arg;
  for (int round = 0; round < 100; round++)
    {
      fill (in, 0xf1be0000 + round);
      memset (out, 0, sizeof out);
      switch_with_registers (&fiber_ctx, &main_ctx, in, out);
      CHECK (memcmp (in, out, sizeof in) == 0);
      reg_checks++;
    }
  coop_fiber_context_switch (&fiber_ctx, &main_ctx);
  abort ();
}

/* --- FPCR: rounding mode and flush-to-zero, per context --- */
#define FPCR_FZ (1ull << 24)

static uint64_t get_fpcr (void) { uint64_t v; __asm__ volatile ("mrs %0, fpcr" : "=r" (v)); return v; }
static void set_fpcr (uint64_t v) { __asm__ volatile ("msr fpcr, %0" : : "r" (v)); }

static int fp_checks;

static void
fp_fiber (gpointer arg)
{
  (void) arg;
  CHECK (fesetround (FE_UPWARD) == 0);
  set_fpcr (get_fpcr () | FPCR_FZ);
  for (int i = 0; i < 50; i++)
    {
      coop_fiber_context_switch (&fiber_ctx, &main_ctx);
      CHECK (fegetround () == FE_UPWARD);
      CHECK ((get_fpcr () & FPCR_FZ) != 0);
      fp_checks++;
    }
  coop_fiber_context_switch (&fiber_ctx, &main_ctx);
  abort ();
}

/* --- alignment at entry, deep recursion --- */
static uintptr_t entry_cfa;
static uint64_t deep_result;

static uint64_t __attribute__ ((noinline))
recurse (unsigned depth)
{
  volatile unsigned char frame[96];
  uint64_t sum;

  for (unsigned i = 0; i < sizeof frame; i++)
    frame[i] = (unsigned char) (depth + i);
  if (depth == 0)
    return 1;
  sum = recurse (depth - 1);
  return sum + frame[0];
}

static void __attribute__ ((noinline))
deep_fiber (gpointer arg)
{
  (void) arg;
  entry_cfa = (uintptr_t) __builtin_dwarf_cfa ();
  deep_result = recurse (5000);
  coop_fiber_context_switch (&fiber_ctx, &main_ctx);
  abort ();
}

int
main (void)
{
  uint64_t in[N_REGS], out[N_REGS];
  uint64_t expected = 1;

  stack = aligned_alloc (4096, STACK_SIZE);
  CHECK (stack != NULL);
  CHECK (strcmp (coop_fiber_backend_name (), "aarch64") == 0);

  start (ping_pong, NULL);
  for (int i = 1; i < 1000000; i++)
    coop_fiber_context_switch (&main_ctx, &fiber_ctx);
  CHECK (count == 1000000);
  stop = 1;
  coop_fiber_context_switch (&main_ctx, &fiber_ctx);
  printf ("ok 1 - one million switches\n");

  coop_fiber_context_make (&fiber_ctx, stack, STACK_SIZE, reg_fiber, NULL);
  for (int round = 0; round < 100; round++)
    {
      fill (in, 0x3a170000 + round);
      memset (out, 0, sizeof out);
      switch_with_registers (&main_ctx, &fiber_ctx, in, out);
      CHECK (memcmp (in, out, sizeof in) == 0);
    }
  coop_fiber_context_switch (&main_ctx, &fiber_ctx);
  CHECK (reg_checks == 100);
  printf ("ok 2 - x19-x29 and d8-d15 preserved\n");

  coop_fiber_context_make (&fiber_ctx, stack, STACK_SIZE, fp_fiber, NULL);
  CHECK (fesetround (FE_TOWARDZERO) == 0);
  set_fpcr (get_fpcr () & ~FPCR_FZ);
  for (int i = 0; i < 50; i++)
    {
      coop_fiber_context_switch (&main_ctx, &fiber_ctx);
      CHECK (fegetround () == FE_TOWARDZERO);
      CHECK ((get_fpcr () & FPCR_FZ) == 0);
    }
  coop_fiber_context_switch (&main_ctx, &fiber_ctx);
  CHECK (fp_checks == 50);
  fesetround (FE_TONEAREST);
  printf ("ok 3 - FPCR (rounding mode, FZ) per context\n");

  for (unsigned trim = 0; trim < 16; trim += 4)
    {
      coop_fiber_context_make (&fiber_ctx, stack, STACK_SIZE - trim, deep_fiber, NULL);
      coop_fiber_context_switch (&main_ctx, &fiber_ctx);
      CHECK (entry_cfa % 16 == 0);
      CHECK (entry_cfa > (uintptr_t) stack && entry_cfa <= (uintptr_t) stack + STACK_SIZE);
    }
  for (unsigned d = 1; d <= 5000; d++)
    expected += (unsigned char) d;
  CHECK (deep_result == expected);
  printf ("ok 4 - aligned entry, deep recursion\n");

  free (stack);
  printf ("PASS\n");
  return 0;
}
EOF

status=0
for variant in plain branch-protection; do
  flags=""
  qemu_flags=""
  if [ "$variant" = branch-protection ]; then
    # Return-address signing (PAC) is enforced by qemu's "max" CPU, so
    # this checks that switching stacks keeps pac-ret callers working.
    # BTI landing pads are compiled in too, but not enforced: Debian's
    # static arm64 libc is not BTI-marked, so neither is the program.
    flags="-mbranch-protection=standard"
    qemu_flags="-cpu max"
  fi
  if ! "$CC" -std=gnu11 -O2 -g -Wall -Wextra -static $flags \
       -I"$tmp/stub" -I"$srcdir/src" -I"$srcdir/src/core" -I"$srcdir/src/fiber" \
       -o "$tmp/check-$variant" "$tmp/check.c" \
       "$srcdir/src/fiber/coop-fiber-asm.c" "$srcdir/src/fiber/arch/coop-switch-aarch64.S" -lm \
       2> "$tmp/cc.log"; then
    if grep -q -e "cannot find" -e "No such file" "$tmp/cc.log"; then
      cat "$tmp/cc.log"
      skip "cannot link static aarch64 programs (libc6-dev-arm64-cross missing?)"
    fi
    cat "$tmp/cc.log"
    echo "FAIL: $variant: build failed"
    exit 1
  fi
  cat "$tmp/cc.log"
  echo "# $variant ($flags)"
  # shellcheck disable=SC2086
  if ! "$QEMU" $qemu_flags "$tmp/check-$variant"; then
    echo "FAIL: $variant"
    status=1
  fi
done

exit $status
