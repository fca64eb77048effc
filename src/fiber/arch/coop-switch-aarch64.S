/* coop-switch-aarch64.S: the fiber context switch for aarch64 (AAPCS64).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Review against the AAPCS64 (Procedure Call Standard for the Arm 64-bit
 * Architecture), section 6 "The base procedure call standard":
 *
 * - 6.1.1 General-purpose registers.  r19-r28 are callee-saved: saved.
 *   r29 (FP) and r30 (LR) form the frame record and must be preserved:
 *   saved (LR is where the switch returns to in the other context).
 *   SP is preserved through CoopFiberContext.sp and kept 16-byte aligned
 *   at every instruction (the frame is 176 bytes = 11 * 16; 6.4.5.1).
 *   r0-r17 are argument/temporary registers: not saved (x9, x10 are used
 *   as scratch).  r18 is the platform register; Linux treats it as a
 *   temporary, so it is not saved (a platform that reserves it, such as
 *   Darwin or Windows, never lets user code change it anyway).
 * - 6.1.2 SIMD and floating-point registers.  Only the bottom 64 bits of
 *   v8-v15 (d8-d15) are callee-saved: saved with stp d8, d9 ...  v0-v7,
 *   v16-v31 and the top halves of v8-v15 are caller-saved.  With SVE,
 *   z8-z15 keep the same rule (low 64 bits), predicates are caller-saved;
 *   SME's ZA is under the lazy-save scheme, which a fiber switch does not
 *   interact with as long as it is not called from a streaming function.
 * - 6.1.3 / "Floating-point status and control".  FPCR holds modes (RMode,
 *   FZ, DN, AHP, FZ16) that a callee must leave as it found them: it is
 *   saved and restored per context, and written only when it differs,
 *   because an FPCR write is context-synchronizing on some cores.  FPSR
 *   (cumulative exception flags) is caller-saved: left alone.
 * - Stack: a new context is entered by `ret` into the trampoline with
 *   sp 16-byte aligned, x29 = 0 (terminates the frame-record chain) and
 *   LR marked undefined in the CFI, so unwinders stop there.
 * - Security extensions: the switch begins with `bti c` (as `hint #34`,
 *   a NOP on cores without BTI) because it may be reached through a PLT
 *   with `br x16/x17`.  The trampoline is reached by `ret`, which BTI does
 *   not check, and calls entry with `blr`, which lands on the compiler's
 *   own `bti c`.  PAC (pac-ret) needs nothing: the LR saved here is the
 *   plain value `bl` put in x30, and callers sign/authenticate their own
 *   saved LR against their own SP, which a switch preserves.  Guarded
 *   control stacks (GCS) are not supported, like x86 shadow stacks.
 *
 * Frame pushed by a switch (and faked by coop_fiber_context_make), from
 * the saved sp up:
 *
 *   sp+0    x19, x20
 *   sp+16   x21, x22
 *   sp+32   x23, x24
 *   sp+48   x25, x26
 *   sp+64   x27, x28
 *   sp+80   x29, x30
 *   sp+96   d8,  d9
 *   sp+112  d10, d11
 *   sp+128  d12, d13
 *   sp+144  d14, d15
 *   sp+160  FPCR (8 bytes), 8 unused
 *
 * Keep this in sync with coop-fiber-asm.c.
 */

#if defined(__aarch64__) && defined(__ELF__)

	.text

/* void coop_fiber_context_switch (CoopFiberContext *from,   x0
 *                                 CoopFiberContext *to);    x1  */
	.p2align 4
	.globl	coop_fiber_context_switch
	.hidden	coop_fiber_context_switch
	.type	coop_fiber_context_switch, %function
coop_fiber_context_switch:
	.cfi_startproc
	hint	#34			/* bti c */
	sub	sp, sp, #176
	.cfi_def_cfa_offset 176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	.cfi_offset x19, -176
	.cfi_offset x20, -168
	.cfi_offset x21, -160
	.cfi_offset x22, -152
	.cfi_offset x23, -144
	.cfi_offset x24, -136
	.cfi_offset x25, -128
	.cfi_offset x26, -120
	.cfi_offset x27, -112
	.cfi_offset x28, -104
	.cfi_offset x29, -96
	.cfi_offset x30, -88
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	.cfi_offset d8, -80
	.cfi_offset d9, -72
	.cfi_offset d10, -64
	.cfi_offset d11, -56
	.cfi_offset d12, -48
	.cfi_offset d13, -40
	.cfi_offset d14, -32
	.cfi_offset d15, -24
	mrs	x9, fpcr
	str	x9, [sp, #160]

	/* The switch proper.  The frame on the new stack has the same shape,
	 * so the CFI above stays true after it. */
	mov	x10, sp
	str	x10, [x0]
	ldr	x10, [x1]
	mov	sp, x10

	ldr	x10, [sp, #160]
	cmp	x9, x10
	b.eq	1f
	msr	fpcr, x10
1:
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	add	sp, sp, #176
	.cfi_def_cfa_offset 0
	.cfi_restore x19
	.cfi_restore x20
	.cfi_restore x21
	.cfi_restore x22
	.cfi_restore x23
	.cfi_restore x24
	.cfi_restore x25
	.cfi_restore x26
	.cfi_restore x27
	.cfi_restore x28
	.cfi_restore x29
	.cfi_restore x30
	.cfi_restore d8
	.cfi_restore d9
	.cfi_restore d10
	.cfi_restore d11
	.cfi_restore d12
	.cfi_restore d13
	.cfi_restore d14
	.cfi_restore d15
	ret
	.cfi_endproc
	.size	coop_fiber_context_switch, .-coop_fiber_context_switch

/* The first switch into a new context returns here with x19 = arg,
 * x20 = entry and sp 16-byte aligned.  entry must never return; if it
 * does, trap rather than run off the top of the stack. */
	.p2align 4
	.globl	coop_fiber_trampoline_aarch64
	.hidden	coop_fiber_trampoline_aarch64
	.type	coop_fiber_trampoline_aarch64, %function
coop_fiber_trampoline_aarch64:
	.cfi_startproc
	.cfi_undefined x30
	mov	x0, x19
	blr	x20
	brk	#0x3e8
	.cfi_endproc
	.size	coop_fiber_trampoline_aarch64, .-coop_fiber_trampoline_aarch64

#if defined(__ARM_FEATURE_BTI_DEFAULT) || defined(__ARM_FEATURE_PAC_DEFAULT)
	/* GNU_PROPERTY_AARCH64_FEATURE_1_AND: this object is BTI-compatible
	 * (and PAC-compatible: it never signs anything) when the rest of the
	 * build asks for it, so the linker keeps the marking. */
# if defined(__ARM_FEATURE_BTI_DEFAULT)
#  define COOP_PROP_BTI 1
# else
#  define COOP_PROP_BTI 0
# endif
# if defined(__ARM_FEATURE_PAC_DEFAULT)
#  define COOP_PROP_PAC 2
# else
#  define COOP_PROP_PAC 0
# endif
	.section .note.gnu.property, "a"
	.p2align 3
	.long	4			/* n_namesz */
	.long	16			/* n_descsz */
	.long	5			/* NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.long	0xc0000000		/* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
	.long	4			/* pr_datasz */
	.long	(COOP_PROP_BTI | COOP_PROP_PAC)
	.p2align 3
#endif

#endif /* __aarch64__ && __ELF__ */

#if defined(__ELF__)
	.section .note.GNU-stack, "", %progbits
#endif
