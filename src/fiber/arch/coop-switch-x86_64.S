/* coop-switch-x86_64.S: the fiber context switch for x86_64 (System V ABI).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A paused context is three words on its own stack, the same whoever
 * saved it, so that any switch can resume any context:
 *
 *   sp+0   MXCSR (4 bytes), x87 control word (2 bytes), 2 unused
 *   sp+8   rbp
 *   sp+16  resume address
 *
 * and the code at the resume address runs with rsp = sp + 24, the stack
 * pointer it had when it paused.  Resuming is a `jmp`, not a `ret`:
 * a `ret` to another stack always misses the return stack buffer, and the
 * `ret`s after it too, which cost more than the rest of the switch.
 *
 * Two kinds of code save a context:
 *
 *  - coop_fiber_context_switch() below, an ordinary function: it pushes
 *    the callee-saved registers (System V AMD64 ABI 3.2.1: rbx, rbp,
 *    r12-r15, plus the MXCSR control bits and the x87 control word) and
 *    its resume address pops them and returns to its caller;
 *  - COOP_FIBER_SWITCH_INLINE (coop-fiber-private.h), an asm statement in
 *    the resume and suspend paths of tasks that declares every register
 *    but rbp clobbered, so the compiler saves what it needs in its own
 *    frame; its resume address is a label inside the function.  It pushes
 *    below the stack pointer of the function it is in, so the library is
 *    built with -mno-red-zone.
 *
 * MXCSR and the x87 control word are only reloaded when they differ.  The
 * MXCSR status flags are caller-saved, so carrying them along is allowed
 * (each context keeps its own sticky exception flags).
 *
 * Keep this in sync with coop-fiber-asm.c and coop-fiber-private.h.
 */

#if defined(__x86_64__) && defined(__ELF__)

/* Indirect branch tracking: the switch may be reached through a PLT or a
 * function pointer, and every resume address (the trampoline included) is
 * reached by an indirect `jmp`, so each starts with endbr64 when the
 * compiler was asked for CET (COOP_FIBER_SWITCH_INLINE does the same).
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
	/* The CFI stays that of the stack pointer after the pushes above,
	 * which is the one .Lresume runs with (and the one
	 * coop_fiber_context_get_regs() reports for a paused context). */
	leaq	.Lresume(%rip), %rax
	pushq	%rax
	pushq	%rbp
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
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
2:	movq	8(%rsp), %rbp
	movq	16(%rsp), %rax
	addq	$24, %rsp
	jmp	*%rax
.Lresume:
	COOP_ENDBR
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
	ret
	.cfi_endproc
	.size	coop_fiber_context_switch, .-coop_fiber_context_switch

/* The first switch into a new context jumps here with rsp pointing at
 * entry and arg (see coop_fiber_context_make), 16-byte aligned once both
 * are popped, so the call below enters entry with rsp+8 aligned as the
 * ABI requires.  The return address column is marked undefined so gdb
 * and libunwind stop here instead of walking into the garbage above the
 * stack top.  entry must never return; if it does, trap at once rather
 * than run off the top of the stack. */
	.p2align 4
	.globl	coop_fiber_trampoline_x86_64
	.hidden	coop_fiber_trampoline_x86_64
	.type	coop_fiber_trampoline_x86_64, @function
coop_fiber_trampoline_x86_64:
	.cfi_startproc
	.cfi_undefined rip
	COOP_ENDBR
	popq	%rax
	popq	%rdi
	call	*%rax
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
