/* Fibers on the reactor: await of I/O (a pipe written later by a timer),
 * 1,000 sleepers waking in order, nested resume, stacks freed when fibers
 * end, bulk transfer between fibers, misuse aborting loudly, guard page. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "fiber.h"
#include "loop.h"
#include "tests/lib/tap.h"
#include "util.h"

#define MS 1000000ull

static struct loop *L;

static int t_count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* --- await I/O: a fiber reads a pipe that a timer writes 30 ms later --- */
static int t_pipe[2];
static int t_ticks;
static char t_got[32];
static ssize_t t_got_n;
static uint64_t t_got_at;

static void t_writer_cb(struct loop_timer *t)
{
	if (write(t_pipe[1], "from the timer", 14) != 14)
		abort();
}

static void t_ticker_cb(struct loop_timer *t)
{
	if (++t_ticks < 5)
		loop_timer_start(L, t, 2 * MS);
}

static uint64_t t_slept;
static void t_sleep_fiber(void *arg)
{
	uint64_t t0 = loop_now_ns();
	fiber_sleep(L, 15 * MS);
	t_slept = loop_now_ns() - t0;
}

static void t_reader_fiber(void *arg)
{
	t_got_n = fiber_read(L, t_pipe[0], t_got, sizeof(t_got) - 1, (uint64_t)-1);
	t_got_at = loop_now_ns();
}

static void test_await_io(void)
{
	struct loop_timer writer, ticker;
	uint64_t t0 = loop_now_ns();

	if (pipe2(t_pipe, O_CLOEXEC) < 0)
		abort();
	t_ok(fiber_current() == NULL, "no current fiber on the loop stack");
	fiber_spawn(L, t_reader_fiber, NULL, 0);
	fiber_spawn(L, t_sleep_fiber, NULL, 0);
	loop_timer_init(&writer, t_writer_cb, NULL);
	loop_timer_init(&ticker, t_ticker_cb, NULL);
	loop_timer_start(L, &writer, 30 * MS);
	loop_timer_start(L, &ticker, 2 * MS);
	t_is(loop_run(L), 0, "loop_run");
	t_is(t_got_n, 14, "fiber_read returned the 14 bytes");
	t_streq(t_got, "from the timer", "content");
	t_ok(t_got_at - t0 >= 30 * MS, "read completed after the timer wrote (%llu ms)",
	     (unsigned long long)((t_got_at - t0) / MS));
	t_is(t_ticks, 5, "the loop kept running other timers while the fiber waited");
	t_ok(t_slept >= 15 * MS && t_slept < 500 * MS, "fiber_sleep(15 ms) slept %llu ms",
	     (unsigned long long)(t_slept / MS));
	close(t_pipe[0]);
	close(t_pipe[1]);
}

/* --- 1,000 fibers sleeping, waking in deadline order (ties: start order) --- */
#define T_SLEEPERS 1000
static unsigned t_wake[T_SLEEPERS], t_nwake;
static unsigned t_delay_ms[T_SLEEPERS];
static uint64_t t_base;

/* Deadlines as instants: starting 1,000 fibers takes a while (more under
 * ASan), relative sleeps would not tie exactly. */
static void t_sleeper(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;
	uint64_t until = t_base + t_delay_ms[i] * MS;
	fiber_sleep_until(L, until);
	if (loop_now_ns() < until)
		t_delay_ms[i] = UINT32_MAX;	/* woke early: reported below */
	t_wake[t_nwake++] = i;
}

static int t_sleep_cmp(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	if (t_delay_ms[x] != t_delay_ms[y])
		return t_delay_ms[x] < t_delay_ms[y] ? -1 : 1;
	return x < y ? -1 : (x > y);
}

static void test_sleepers(void)
{
	unsigned expect[T_SLEEPERS];
	int maps = t_count_maps();
	bool ok = true;

	srand(7);
	for (unsigned i = 0; i < T_SLEEPERS; i++) {
		t_delay_ms[i] = 10 + (unsigned)(rand() % 100);	/* many ties */
		expect[i] = i;
	}
	qsort(expect, T_SLEEPERS, sizeof(expect[0]), t_sleep_cmp);
	t_base = loop_now_ns() + 20 * MS;
	/* Fibers start in spawn order in one round, so they fall asleep in
	 * index order: ties wake in index order. */
	for (unsigned i = 0; i < T_SLEEPERS; i++)
		fiber_spawn(L, t_sleeper, (void *)(uintptr_t)i, 64 * 1024);
	t_ok(t_count_maps() > maps + T_SLEEPERS, "1,000 fiber stacks mapped");
	t_is(loop_run(L), 0, "loop_run");
	t_is(t_nwake, T_SLEEPERS, "all 1,000 fibers woke");
	for (unsigned i = 0; i < T_SLEEPERS; i++)
		if (t_wake[i] != expect[i] || t_delay_ms[t_wake[i]] == UINT32_MAX) {
			t_diag("position %u: woke %u, expected %u", i, t_wake[i], expect[i]);
			ok = false;
			break;
		}
	t_ok(ok, "they woke in deadline order, ties in the order they slept, none early");
	/* (ASan maps a few areas of its own meanwhile.) */
	t_ok(t_count_maps() <= maps + 50, "their stacks were unmapped when they ended (%d -> %d maps)",
	     maps, t_count_maps());
}

/* --- nested resume, explicit suspend, wake, on_exit --- */
static char t_trace[64];
static struct fiber *t_fa, *t_fb;
static void *t_stack_addr;

static void t_mark(char c)
{
	size_t n = strlen(t_trace);
	if (n + 1 < sizeof(t_trace))
		t_trace[n] = c;
}

static void t_fiber_b(void *arg)
{
	char local;
	t_stack_addr = &local;
	t_mark('b');
	fiber_suspend();	/* back to a, which resumed us */
	t_mark('B');
}

static void t_fiber_a(void *arg)
{
	t_mark('a');
	t_ok(fiber_current() == t_fa, "fiber_current inside a");
	t_fb = fiber_spawn(L, t_fiber_b, NULL, 0);
	fiber_resume(t_fb);		/* nested: a -> b -> back to a */
	t_mark('1');
	t_ok(fiber_current() == t_fa, "fiber_current is a again after b suspended");
	fiber_wake(t_fb);		/* b continues on the next round */
	fiber_wake(t_fa);		/* yield: a continues on the next round too */
	fiber_suspend();
	t_mark('A');
}

static int t_exits;
static void t_on_exit(void *arg)
{
	t_exits++;
	t_mark((char)(intptr_t)arg);
	t_ok(fiber_current() == NULL, "on_exit runs on the loop stack");
}

static void test_nested(void)
{
	unsigned char vec;

	memset(t_trace, 0, sizeof(t_trace));
	t_fa = fiber_spawn(L, t_fiber_a, NULL, 0);
	fiber_set_on_exit(t_fa, t_on_exit, (void *)'x');
	t_is(loop_pending(L), 1, "a spawned fiber keeps the loop alive");
	t_is(loop_run(L), 0, "loop_run");
	t_streq(t_trace, "ab1BAx", "a, b, back in a, then b and a on the next round, a's on_exit");
	t_is(t_exits, 1, "on_exit ran once");
	t_ok(mincore((void *)((uintptr_t)t_stack_addr & ~(uintptr_t)4095), 4096, &vec) < 0 && errno == ENOMEM,
	     "the ended fiber's stack is unmapped");
}

/* --- bulk transfer between two fibers over a socketpair --- */
#define T_BULK (4 << 20)
static int t_sv[2];
static unsigned char *t_src, *t_dst;
static ssize_t t_wrote, t_read_total;

static void t_bulk_writer(void *arg)
{
	t_wrote = fiber_write_all(L, t_sv[0], t_src, T_BULK, (uint64_t)-1);
	shutdown(t_sv[0], SHUT_WR);
}

static void t_bulk_reader(void *arg)
{
	for (;;) {
		ssize_t n = fiber_read(L, t_sv[1], t_dst + t_read_total, T_BULK + 1 - (size_t)t_read_total, (uint64_t)-1);
		if (n <= 0)
			break;
		t_read_total += n;
	}
}

static void test_bulk(void)
{
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t_sv);
	t_src = xmalloc(T_BULK);
	t_dst = xmalloc(T_BULK + 1);
	for (size_t i = 0; i < T_BULK; i++)
		t_src[i] = (unsigned char)(i * 31 + (i >> 13));
	fiber_spawn(L, t_bulk_writer, NULL, 0);
	fiber_spawn(L, t_bulk_reader, NULL, 0);
	t_is(loop_run(L), 0, "loop_run");
	t_is(t_wrote, T_BULK, "fiber_write_all wrote 4 MiB through a socket (short writes resumed)");
	t_ok(t_read_total == T_BULK && memcmp(t_src, t_dst, T_BULK) == 0, "reader fiber got the same bytes");
	free(t_src);
	free(t_dst);
	close(t_sv[0]);
	close(t_sv[1]);
}

/* --- switch cost (reported, not asserted) --- */
#define T_SWITCHES 1000000
static void t_pingpong(void *arg)
{
	for (int i = 0; i < T_SWITCHES; i++)
		fiber_suspend();
}

static void test_switch_cost(void)
{
	struct fiber *f = fiber_spawn(L, t_pingpong, NULL, 0);
	uint64_t t0 = loop_now_ns();
	for (int i = 0; i <= T_SWITCHES; i++)
		fiber_resume(f);	/* the last resume lets it end */
	uint64_t ns = loop_now_ns() - t0;
	t_is(loop_pending(L), 0, "ping-pong fiber ended (resumed directly, off the ready list)");
	t_diag("resume+suspend round trip: %.1f ns", (double)ns / T_SWITCHES);
}

/* --- misuse and the guard page, each in a child --- */
static int t_child(void (*fn)(void), char *err, size_t errlen)
{
	int p[2], st;

	if (pipe(p) < 0)
		abort();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		fn();
		_exit(0);
	}
	close(p[1]);
	ssize_t n = read_full(p[0], err, errlen - 1);
	err[n > 0 ? n : 0] = 0;
	close(p[0]);
	waitpid(pid, &st, 0);
	return st;
}

static void t_await_outside(void)
{
	struct loop_op op = FIBER_OP_INIT;
	if (loop_timeout(L, &op, MS, false) < 0)
		_exit(3);
	fiber_await(&op);
}

static int t_recurse(int n)
{
	volatile char pad[1024];
	pad[0] = (char)n;
	return n <= 0 ? pad[0] : t_recurse(n - 1) + pad[0];
}

static void t_overflow_fiber(void *arg)
{
	t_recurse(1 << 20);	/* 1 GiB of frames on a 64 KiB stack */
}

static void t_overflow(void)
{
	fiber_spawn(L, t_overflow_fiber, NULL, 64 * 1024);
	loop_run(L);
}

static void test_misuse(void)
{
	char err[4096];
	int st = t_child(t_await_outside, err, sizeof(err));
	t_ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "fiber_await on the loop stack aborts");
	t_ok(strstr(err, "programming error") && strstr(err, "outside a fiber"), "with a message saying why");
	st = t_child(t_overflow, err, sizeof(err));
	t_ok(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "stack overflow in a fiber hits the guard page (status %#x)", st);
}

int main(void)
{
	struct err e = { 0 };
	int fds = t_count_fds();

	if (loop_new(&L, 256, &e) < 0)
		t_skip_all(err_msg(&e));
	test_await_io();
	test_sleepers();
	test_nested();
	test_bulk();
	test_switch_cost();
	test_misuse();
	loop_free(L);
	t_is(t_count_fds(), fds, "no fd leaked");
	return t_done();
}
