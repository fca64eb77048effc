/* coop-switch-x86_64.S: the fiber context switch for x86_64 (System V ABI).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A switch is an ordinary function call as far as the compiler of the
 * calling code is concerned, so it only has to preserve what the System V
 * AMD64 ABI (3.2.1, "Registers") makes callee-saved:
 *
 *   rbx, rbp, r12, r13, r14, r15   general purpose
 *   rsp                            stored in CoopFiberContext.sp
 *   MXCSR control bits             rounding mode, FTZ/DAZ, exception masks
 *   x87 control word               precision and rounding control
 *
 * Everything else (rax, rcx, rdx, rsi, rdi, r8-r11, xmm0-15, the x87
 * stack, flags) is caller-saved and already spilled by the caller if it is
 * live.  MXCSR is stored and loaded whole because stmxcsr/ldmxcsr have no
 * narrower form; its status flags are caller-saved, so carrying them along
 * is allowed (each context keeps its own sticky exception flags).
 *
 * Frame pushed by a switch (and faked by coop_fiber_context_make), from
 * the saved stack pointer up:
 *
 *   sp+0   MXCSR (4 bytes), x87 control word (2 bytes), 2 unused
 *   sp+8   r15
 *   sp+16  r14
 *   sp+24  r13
 *   sp+32  r12
 *   sp+40  rbx
 *   sp+48  rbp
 *   sp+56  return address
 *
 * Keep this in sync with coop-fiber-asm.c.
 */

#if defined(__x86_64__) && defined(__ELF__)

/* Indirect branch tracking: the switch may be reached through a PLT or a
 * function pointer, so it starts with endbr64 when the compiler was asked
 * for CET.  The trampoline is entered by `ret`, which IBT does not check.
 * Shadow stacks are NOT supported: a switch returns to a different stack
 * than the one it was called on, so the property note below claims IBT
 * only and a SHSTK-enabled link correctly loses SHSTK. */
#if defined(__CET__) && (__CET__ & 1)
# define COOP_ENDBR endbr64
#else
# define COOP_ENDBR
#endif

	.text

/* void coop_fiber_context_switch (CoopFiberContext *from,   %rdi
 *                                 CoopFiberContext *to);    %rsi  */
	.p2align 4
	.globl	coop_fiber_context_switch
	.hidden	coop_fiber_context_switch
	.type	coop_fiber_context_switch, @function
coop_fiber_context_switch:
	.cfi_startproc
	COOP_ENDBR
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r15, 0
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)

	/* The switch proper.  The frame on the new stack has the same shape,
	 * so the CFI above stays true and an unwinder stopped after this
	 * point sees the other context's caller. */
	movl	(%rsp), %eax
	movzwl	4(%rsp), %ecx
	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp

	cmpl	(%rsp), %eax
	je	1f
	ldmxcsr	(%rsp)
1:	cmpw	4(%rsp), %cx
	je	2f
	fldcw	4(%rsp)
2:
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r15
	popq	%r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r14
	popq	%r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r13
	popq	%r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r12
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
	ret
	.cfi_endproc
	.size	coop_fiber_context_switch, .-coop_fiber_context_switch

/* The first switch into a new context "returns" here, with r12 = arg,
 * r13 = entry and rsp 16-byte aligned, so the call below enters entry
 * with rsp+8 aligned as the ABI requires.  The return address column is
 * marked undefined so gdb and libunwind stop here instead of walking
 * into the garbage above the stack top.  entry must never return; if it
 * does, trap at once rather than run off the top of the stack. */
	.p2align 4
	.globl	coop_fiber_trampoline_x86_64
	.hidden	coop_fiber_trampoline_x86_64
	.type	coop_fiber_trampoline_x86_64, @function
coop_fiber_trampoline_x86_64:
	.cfi_startproc
	.cfi_undefined rip
	movq	%r12, %rdi
	call	*%r13
	ud2
	.cfi_endproc
	.size	coop_fiber_trampoline_x86_64, .-coop_fiber_trampoline_x86_64

#if defined(__CET__) && (__CET__ & 1)
	/* GNU_PROPERTY_X86_FEATURE_1_AND = IBT only (see above). */
	.section .note.gnu.property, "a"
	.p2align 3
	.long	4			/* n_namesz */
	.long	16			/* n_descsz */
	.long	5			/* NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.long	0xc0000002		/* GNU_PROPERTY_X86_FEATURE_1_AND */
	.long	4			/* pr_datasz */
	.long	1			/* GNU_PROPERTY_X86_FEATURE_1_IBT */
	.p2align 3
#endif

#endif /* __x86_64__ && __ELF__ */

#if defined(__ELF__)
	.section .note.GNU-stack, "", @progbits
#endif
