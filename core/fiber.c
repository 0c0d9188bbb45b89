/* Stackful coroutines on the reactor thread. A fiber runs on its own
 * mmap'ed stack (guard page below); switching saves only what the ABI calls
 * callee-saved, in a few lines of assembly (below). Every switch
 * goes through fiber_ctx_switch() so ASan can follow the stacks. */
#include "fiber.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "loop-internal.h"
#include "util.h"

#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif
#ifdef FIBER_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/* A place to switch from or to: a fiber's stack or the loop's own. */
struct fiber_ctx {
	void *sp;
#ifdef FIBER_ASAN
	void *fake_stack;
	const void *stack_bottom;
	size_t stack_size;
#endif
};

struct fiber {
	struct fiber_ctx ctx;
	struct loop *loop;
	fiber_fn fn;
	void *arg;
	void (*on_exit)(void *arg);
	void *on_exit_arg;
	void *map;		/* guard page + stack */
	size_t map_size;
	struct fiber_ctx *resumer;	/* where suspend/exit returns to */
	bool running;		/* on the chain of resumed fibers */
	bool done;
	bool queued;
	struct fiber *ready_prev, *ready_next;
	struct fiber *all_prev, *all_next;
};

/* Single reactor thread per process: the current fiber is process state. */
static struct fiber_ctx fiber_loop_ctx;
static struct fiber *fiber_cur;
#ifdef FIBER_ASAN
static struct fiber_ctx *fiber_switch_from;
#endif

/* The context switch: fiber_switch_asm(&from->sp, to->sp) pushes the
 * callee-saved registers on the current stack, stores the stack pointer in
 * *from, loads to's and pops its registers; "ret" then continues wherever
 * to last switched away (or, the first time, in the trampoline). Caller-
 * saved registers need no saving: the C compiler already treats the call
 * as clobbering them. */
__attribute__((visibility("hidden"))) void fiber_switch_asm(void **save_sp, void *to_sp);
__attribute__((visibility("hidden"))) void fiber_trampoline(void);

#if defined(__x86_64__)
/* SysV: rbx rbp r12-r15 and the MXCSR / x87 control words are callee-saved. */
__asm__(
	".pushsection .text\n"
	".globl fiber_switch_asm\n"
	".hidden fiber_switch_asm\n"
	".type fiber_switch_asm,@function\n"
	"fiber_switch_asm:\n"
	"	pushq %rbp\n"
	"	pushq %rbx\n"
	"	pushq %r12\n"
	"	pushq %r13\n"
	"	pushq %r14\n"
	"	pushq %r15\n"
	"	subq $8, %rsp\n"
	"	stmxcsr (%rsp)\n"
	"	fnstcw 4(%rsp)\n"
	"	movq %rsp, (%rdi)\n"
	"	movq %rsi, %rsp\n"
	"	ldmxcsr (%rsp)\n"
	"	fldcw 4(%rsp)\n"
	"	addq $8, %rsp\n"
	"	popq %r15\n"
	"	popq %r14\n"
	"	popq %r13\n"
	"	popq %r12\n"
	"	popq %rbx\n"
	"	popq %rbp\n"
	"	ret\n"
	".size fiber_switch_asm, .-fiber_switch_asm\n"
	/* First switch into a fiber lands here with the fiber in r12. */
	".globl fiber_trampoline\n"
	".hidden fiber_trampoline\n"
	".type fiber_trampoline,@function\n"
	"fiber_trampoline:\n"
	"	movq %r12, %rdi\n"
	"	call ucrt_fiber_main\n"
	"	ud2\n"
	".size fiber_trampoline, .-fiber_trampoline\n"
	".popsection\n");

/* Lay out a frame that fiber_switch_asm pops: control words, six
 * registers (r12 = the fiber), return address = trampoline. After the
 * ret, rsp is 16-aligned as a call instruction expects. */
static void *fiber_stack_init(char *top, struct fiber *f)
{
	uint64_t *sp = (uint64_t *)(((uintptr_t)top & ~(uintptr_t)15) - 80);
	memset(sp, 0, 80);
	sp[0] = 0x1f80 | ((uint64_t)0x037f << 32);	/* default MXCSR, x87 CW */
	sp[4] = (uint64_t)(uintptr_t)f;			/* r12 */
	sp[7] = (uint64_t)(uintptr_t)fiber_trampoline;	/* return address */
	return sp;
}
#elif defined(__aarch64__)
/* AAPCS64: x19-x28, fp (x29), lr (x30) and d8-d15 are callee-saved. */
__asm__(
	".pushsection .text\n"
	".globl fiber_switch_asm\n"
	".hidden fiber_switch_asm\n"
	".type fiber_switch_asm,%function\n"
	"fiber_switch_asm:\n"
	"	sub sp, sp, #160\n"
	"	stp x19, x20, [sp, #0]\n"
	"	stp x21, x22, [sp, #16]\n"
	"	stp x23, x24, [sp, #32]\n"
	"	stp x25, x26, [sp, #48]\n"
	"	stp x27, x28, [sp, #64]\n"
	"	stp x29, x30, [sp, #80]\n"
	"	stp d8, d9, [sp, #96]\n"
	"	stp d10, d11, [sp, #112]\n"
	"	stp d12, d13, [sp, #128]\n"
	"	stp d14, d15, [sp, #144]\n"
	"	mov x9, sp\n"
	"	str x9, [x0]\n"
	"	mov sp, x1\n"
	"	ldp x19, x20, [sp, #0]\n"
	"	ldp x21, x22, [sp, #16]\n"
	"	ldp x23, x24, [sp, #32]\n"
	"	ldp x25, x26, [sp, #48]\n"
	"	ldp x27, x28, [sp, #64]\n"
	"	ldp x29, x30, [sp, #80]\n"
	"	ldp d8, d9, [sp, #96]\n"
	"	ldp d10, d11, [sp, #112]\n"
	"	ldp d12, d13, [sp, #128]\n"
	"	ldp d14, d15, [sp, #144]\n"
	"	add sp, sp, #160\n"
	"	ret\n"
	".size fiber_switch_asm, .-fiber_switch_asm\n"
	".globl fiber_trampoline\n"
	".hidden fiber_trampoline\n"
	".type fiber_trampoline,%function\n"
	"fiber_trampoline:\n"
	"	mov x0, x19\n"
	"	bl ucrt_fiber_main\n"
	"	brk #0\n"
	".size fiber_trampoline, .-fiber_trampoline\n"
	".popsection\n");

static void *fiber_stack_init(char *top, struct fiber *f)
{
	uint64_t *sp = (uint64_t *)(((uintptr_t)top & ~(uintptr_t)15) - 160);
	memset(sp, 0, 160);
	sp[0] = (uint64_t)(uintptr_t)f;			/* x19 */
	sp[11] = (uint64_t)(uintptr_t)fiber_trampoline;	/* x30 */
	return sp;
}
#else
#error "fibers need a context switch for this architecture (core/fiber.c)"
#endif

static __attribute__((noreturn, format(printf, 1, 2))) void fiber_panic(const char *fmt, ...)
{
	va_list ap;
	fputs("ucrt: programming error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#ifdef FIBER_ASAN
/* Now running on self: tell ASan, and learn the bounds of the stack we
 * came from (that is how the loop stack's bounds become known). */
static void fiber_asan_arrived(struct fiber_ctx *self)
{
	struct fiber_ctx *src = fiber_switch_from;
	__sanitizer_finish_switch_fiber(self ? self->fake_stack : NULL,
					&src->stack_bottom, &src->stack_size);
}
#endif

static void fiber_ctx_switch(struct fiber_ctx *from, struct fiber_ctx *to, bool from_ends)
{
#ifdef FIBER_ASAN
	fiber_switch_from = from;
	/* NULL fake-stack slot for an ending fiber lets ASan free it. */
	__sanitizer_start_switch_fiber(from_ends ? NULL : &from->fake_stack,
				       to->stack_bottom, to->stack_size);
#else
	(void)from_ends;
#endif
	fiber_switch_asm(&from->sp, to->sp);
#ifdef FIBER_ASAN
	fiber_asan_arrived(from);
#endif
}

/* First code on a new fiber's stack (entered from the trampoline). */
__attribute__((visibility("hidden"), used, noreturn)) void ucrt_fiber_main(struct fiber *f);
void ucrt_fiber_main(struct fiber *f)
{
#ifdef FIBER_ASAN
	f->ctx.fake_stack = NULL;
	fiber_asan_arrived(NULL);
#endif
	f->fn(f->arg);
	f->done = true;
	/* Our resumer frees this stack once it is back on its own. */
	fiber_ctx_switch(&f->ctx, f->resumer, true);
	__builtin_unreachable();
}

static void fiber_ready_unlink(struct loop *l, struct fiber *f)
{
	if (!f->queued)
		return;
	if (f->ready_prev)
		f->ready_prev->ready_next = f->ready_next;
	else
		l->ready_head = f->ready_next;
	if (f->ready_next)
		f->ready_next->ready_prev = f->ready_prev;
	else
		l->ready_tail = f->ready_prev;
	f->ready_prev = f->ready_next = NULL;
	f->queued = false;
	l->nready--;
}

static void fiber_destroy(struct fiber *f)
{
	struct loop *l = f->loop;

	fiber_ready_unlink(l, f);
	if (f->all_prev)
		f->all_prev->all_next = f->all_next;
	else
		l->all_fibers = f->all_next;
	if (f->all_next)
		f->all_next->all_prev = f->all_prev;
#ifdef FIBER_ASAN
	__asan_unpoison_memory_region(f->map, f->map_size);
#endif
	munmap(f->map, f->map_size);
	free(f);
}

struct fiber *fiber_spawn(struct loop *l, fiber_fn fn, void *arg, size_t stack_size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct fiber *f = xcalloc(1, sizeof(*f));

	if (!stack_size)
		stack_size = FIBER_STACK_DEFAULT;
	stack_size = (stack_size + page - 1) & ~(page - 1);
	f->map_size = stack_size + page;
	/* NORESERVE: a thousand idle fibers cost only the pages they touch. */
	f->map = mmap(NULL, f->map_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (f->map == MAP_FAILED || mprotect(f->map, page, PROT_NONE) < 0) {
		/* Address space is like memory here: one OOM policy, abort. */
		fprintf(stderr, "ucrt: cannot map a %zu-byte fiber stack: %s\n", f->map_size, strerror(errno));
		abort();
	}
	f->loop = l;
	f->fn = fn;
	f->arg = arg;
	f->ctx.sp = fiber_stack_init((char *)f->map + f->map_size, f);
#ifdef FIBER_ASAN
	f->ctx.stack_bottom = (char *)f->map + page;
	f->ctx.stack_size = stack_size;
#endif
	f->all_next = l->all_fibers;
	if (f->all_next)
		f->all_next->all_prev = f;
	l->all_fibers = f;
	fiber_wake(f);
	return f;
}

void fiber_set_on_exit(struct fiber *f, void (*on_exit)(void *arg), void *arg)
{
	f->on_exit = on_exit;
	f->on_exit_arg = arg;
}

struct fiber *fiber_current(void)
{
	return fiber_cur;
}

void fiber_resume(struct fiber *f)
{
	struct fiber *prev = fiber_cur;
	struct fiber_ctx *from = prev ? &prev->ctx : &fiber_loop_ctx;

	if (f->done)
		fiber_panic("fiber_resume of a fiber that has ended");
	if (f->running)
		fiber_panic("fiber_resume of a fiber that is already running (resume cycle)");
	fiber_ready_unlink(f->loop, f);
	f->resumer = from;
	f->running = true;
	fiber_cur = f;
	fiber_ctx_switch(from, &f->ctx, false);
	/* Back: f suspended or ended. */
	fiber_cur = prev;
	f->running = false;
	if (f->done) {
		void (*on_exit)(void *) = f->on_exit;
		void *arg = f->on_exit_arg;
		/* We are on the resumer's stack, never on f's: safe to unmap. */
		fiber_destroy(f);
		if (on_exit)
			on_exit(arg);
	}
}

void fiber_suspend(void)
{
	struct fiber *f = fiber_cur;

	if (!f)
		fiber_panic("fiber_suspend called outside a fiber");
	fiber_ctx_switch(&f->ctx, f->resumer, false);
}

void fiber_wake(struct fiber *f)
{
	struct loop *l = f->loop;

	if (f->done || f->queued)
		return;
	f->queued = true;
	f->ready_next = NULL;
	f->ready_prev = l->ready_tail;
	if (l->ready_tail)
		l->ready_tail->ready_next = f;
	else
		l->ready_head = f;
	l->ready_tail = f;
	l->nready++;
}

/* Resume what was ready when the round began; fibers woken meanwhile wait
 * for the next round so a fiber that keeps waking itself cannot starve
 * the loop. */
unsigned loop_fiber_run_ready(struct loop *l)
{
	unsigned n = l->nready, ran = 0;

	if (fiber_cur)
		fiber_panic("the loop must run on its own stack, not inside a fiber");
	while (n-- && l->ready_head) {
		struct fiber *f = l->ready_head;
		fiber_ready_unlink(l, f);
		if (f->running)
			continue;
		fiber_resume(f);
		ran++;
	}
	return ran;
}

bool loop_fiber_has_ready(const struct loop *l)
{
	return l->ready_head != NULL;
}

void loop_fiber_free_all(struct loop *l)
{
	/* Fibers still parked at loop_free never finish: their stacks go,
	 * whatever they hold is the owner's to release beforehand. */
	while (l->all_fibers)
		fiber_destroy(l->all_fibers);
}

/* Wake a parked fiber from a callback: at once when we are on the loop
 * stack (the usual case, saves a round), else on the next round. */
static void fiber_continue(struct fiber *f)
{
	if (!fiber_cur && !f->running)
		fiber_resume(f);
	else
		fiber_wake(f);
}

struct fiber_wait {
	struct fiber *f;
	int res;
	bool done;
};

void fiber_op_done(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct fiber_wait *w = op->data;

	(void)cqe_flags;
	w->res = res;
	w->done = true;
	fiber_continue(w->f);
}

int fiber_await(struct loop_op *op)
{
	struct fiber_wait w = { .f = fiber_cur };

	if (!w.f)
		fiber_panic("fiber_await called outside a fiber (on the loop stack it would block the reactor)");
	if (op->cb != fiber_op_done)
		fiber_panic("fiber_await on an op whose cb is not fiber_op_done (use FIBER_OP_INIT)");
	if (!op->active)
		fiber_panic("fiber_await on an op that was never queued (check the loop_* return value)");
	if (op->multishot)
		fiber_panic("fiber_await on a multishot op");
	op->data = &w;
	while (!w.done)
		fiber_suspend();	/* spurious resumes just park again */
	op->data = NULL;	/* w dies with this frame */
	return w.res;
}

ssize_t fiber_read(struct loop *l, int fd, void *buf, size_t len, uint64_t off)
{
	struct loop_op op = FIBER_OP_INIT;
	int r = loop_read(l, &op, fd, buf, (unsigned)MIN(len, (size_t)INT_MAX), off);
	if (r < 0)
		return r;
	return fiber_await(&op);
}

ssize_t fiber_write_all(struct loop *l, int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	size_t done = 0;

	while (done < len) {
		struct loop_op op = FIBER_OP_INIT;
		uint64_t at = off == (uint64_t)-1 ? off : off + done;
		int r = loop_write(l, &op, fd, p + done, (unsigned)MIN(len - done, (size_t)INT_MAX), at);
		if (r < 0)
			return r;
		r = fiber_await(&op);
		if (r < 0)
			return r;
		if (r == 0)
			return -EIO;	/* no progress: would spin */
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static void fiber_sleep_done(struct loop_timer *t)
{
	fiber_continue(t->data);
}

/* Through the timer heap, not one io_uring timeout per sleeper: sleepers
 * with equal deadlines then wake in the order they went to sleep. */
int fiber_sleep_until(struct loop *l, uint64_t when_ns)
{
	struct loop_timer t;

	if (!fiber_cur)
		fiber_panic("fiber_sleep called outside a fiber");
	loop_timer_init(&t, fiber_sleep_done, fiber_cur);
	loop_timer_start_at(l, &t, when_ns);
	while (loop_timer_armed(&t))
		fiber_suspend();
	return 0;
}

int fiber_sleep(struct loop *l, uint64_t ns)
{
	return fiber_sleep_until(l, loop_now_ns() + ns);
}
