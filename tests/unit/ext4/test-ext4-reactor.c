/* The layer writer on the reactor: run from a fiber with opts.loop set,
 * a multi-batch gzip layer goes through io_uring write-behind and the
 * inflate thread is awaited on the loop, so other loop work (a timer
 * here) keeps running while the image is written; the result is the
 * same filesystem as the synchronous path builds. An abort from a loop
 * callback while a batch is still in flight frees everything once the
 * kernel is done (ASan checks that under SANITIZE=1). */
#include "tests/lib/tap.h"
#include "ext4/ext4-internal.h"
#include "err.h"
#include "fiber.h"
#include "loop.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define T_FILES 160
#define T_FILE_SIZE (64 * 1024)

static uint8_t *t_layer;
static size_t t_layer_len;
static char t_dir[] = "/tmp/ucrt-ext4r-XXXXXX";

/* Compressible but not trivial content, different per file. */
static void t_fill(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)('a' + (x >> 16) % 16);
	}
}

static void t_make_layer(void)
{
	struct archive *a = archive_write_new();
	size_t cap = 32 << 20;
	t_layer = xmalloc(cap);
	archive_write_add_filter_gzip(a);
	archive_write_set_format_pax_restricted(a);
	archive_write_open_memory(a, t_layer, cap, &t_layer_len);
	static uint8_t data[T_FILE_SIZE];
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "data");
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	archive_write_header(a, e);
	for (unsigned i = 0; i < T_FILES; i++) {
		char name[64];
		snprintf(name, sizeof(name), "data/f%03u", i);
		t_fill(data, sizeof(data), i);
		archive_entry_clear(e);
		archive_entry_set_pathname(e, name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, sizeof(data));
		archive_write_header(a, e);
		archive_write_data(a, data, sizeof(data));
	}
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
}

struct t_mem {
	size_t pos;
};

static ssize_t t_read(void *arg, void *buf, size_t len)
{
	struct t_mem *m = arg;
	size_t n = MIN(len, t_layer_len - m->pos);
	memcpy(buf, t_layer + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static int t_sh(const char *cmd)
{
	int st = system(cmd);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct t_job {
	struct loop *l;
	const char *path;
	bool finish;		/* else leave w for an abort from the loop */
	struct ext4w *w;
	int r;
	struct err err;
	struct ext4w_stats st;
};

static void t_build(void *arg)
{
	struct t_job *j = arg;
	struct ext4w_opts o = { .loop = j->l, .fsync = true };
	struct t_mem m = { 0 };
	struct ext4w_source src = { .read = t_read, .arg = &m, .name = "mem.tar.gz" };
	j->r = ext4w_create(j->path, 256 << 20, &o, &j->w, &j->err);
	if (j->r == 0)
		j->r = ext4w_apply_layer(j->w, &src, &j->err);
	if (j->r == 0)
		ext4w_get_stats(j->w, &j->st);
	if (j->r == 0 && j->finish) {
		j->r = ext4w_finish(j->w, &j->err);
		j->w = NULL;
	} else if (j->r == 0) {
		/* Send what is logged as a batch and return without awaiting it. */
		io_channel_flush(j->w->fs->io);
	}
}

static unsigned t_ticks;
static bool t_ticking;

static void t_tick(struct loop_timer *t)
{
	t_ticks++;
	if (t_ticking)
		loop_timer_start(t->data, t, 0);
}

/* Runs on the loop stack as soon as the fiber returns, before the round
 * reaps any completion: the last batch the fiber queued is still in
 * flight, and abort cannot wait for it. */
static bool t_aborted;

static void t_abort_on_exit(void *arg)
{
	struct t_job *j = arg;
	t_aborted = j->r == 0 && j->w;
	ext4w_abort(j->w);
	j->w = NULL;
}

int main(void)
{
	struct loop *l;
	struct err e = { 0 };

	if (system("command -v e2fsck >/dev/null && command -v debugfs >/dev/null") != 0)
		t_skip_all("e2fsck/debugfs missing");
	if (loop_new(&l, 256, &e) < 0)
		t_skip_all(err_msg(&e));
	t_ok(mkdtemp(t_dir) != NULL, "temp dir");
	t_make_layer();
	t_ok(t_layer_len > 1 << 20, "a %zu KiB gzip layer with %d files", t_layer_len / 1024, T_FILES);
	int fds = t_count_fds();

	_cleanup_free_ char *img = xasprintf("%s/reactor.ext4", t_dir);
	struct t_job j = { .l = l, .path = img, .finish = true };
	struct loop_timer tick;
	loop_timer_init(&tick, t_tick, l);
	t_ticking = true;
	loop_timer_start(l, &tick, 0);
	fiber_spawn(l, t_build, &j, 1 << 20);
	while (j.r == 0 && !j.st.entries && loop_pending(l) > 1)
		loop_run_once(l, true);
	while (loop_pending(l) > 1)
		loop_run_once(l, true);
	t_ticking = false;
	loop_timer_stop(l, &tick);
	if (!t_ok(j.r == 0, "layer applied and image finished from a fiber"))
		t_diag("%s", err_msg(&j.err));
	t_is(j.st.entries, T_FILES + 1, "every entry applied");
	t_ok(j.st.writes > 0 && j.st.write_bytes >= (uint64_t)T_FILES * T_FILE_SIZE / 2,
	     "%llu writes, %llu bytes through the reactor before finish", (unsigned long long)j.st.writes,
	     (unsigned long long)j.st.write_bytes);
	t_ok(t_ticks > 3, "the loop kept running while the image was written (%u rounds)", t_ticks);
	_cleanup_free_ char *fsck = xasprintf("e2fsck -fn %s >/dev/null 2>&1", img);
	t_is(t_sh(fsck), 0, "e2fsck -fn clean");
	static uint8_t want[T_FILE_SIZE];
	t_fill(want, sizeof(want), 97);
	_cleanup_free_ char *dump = xasprintf("%s/f097", t_dir);
	_cleanup_free_ char *cmd = xasprintf("debugfs -R 'dump /data/f097 %s' %s >/dev/null 2>&1", dump, img);
	t_ok(system(cmd) == 0, "debugfs dump");
	_cleanup_close_ int dfd = open(dump, O_RDONLY | O_CLOEXEC);
	static uint8_t got[T_FILE_SIZE + 1];
	ssize_t n = dfd >= 0 ? read(dfd, got, sizeof(got)) : -1;
	t_ok(n == T_FILE_SIZE && memcmp(got, want, sizeof(want)) == 0, "file content reads back");

	/* Abort from the loop stack with a batch in flight. */
	_cleanup_free_ char *img2 = xasprintf("%s/aborted.ext4", t_dir);
	struct t_job j2 = { .l = l, .path = img2, .finish = false };
	struct fiber *f = fiber_spawn(l, t_build, &j2, 1 << 20);
	fiber_set_on_exit(f, t_abort_on_exit, &j2);
	t_is(loop_run(l), 0, "loop drains the orphaned batch");
	t_ok(t_aborted && j2.w == NULL, "second image applied, then aborted outside the fiber");
	_cleanup_free_ char *left = xasprintf("test -z \"$(ls %s/aborted.ext4* 2>/dev/null)\"", t_dir);
	t_ok(t_sh(left) == 0, "abort left no file behind");
	t_is(t_count_fds(), fds + (dfd >= 0 ? 1 : 0), "no fd leaked");

	loop_free(l);
	free(t_layer);
	_cleanup_free_ char *rm = xasprintf("rm -rf %s", t_dir);
	t_sh(rm);
	return t_done();
}
