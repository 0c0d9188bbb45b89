/* ext4w internals: tar name normalisation, the string set, and the writer
 * API end to end on an in-memory layer (read callback), checked by e2fsck. */
#include "tests/lib/tap.h"
#include "t-ustar.h"
#include "ext4/ext4-internal.h"
#include "err.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/wait.h>

static void t_norm(const char *in, const char *want)
{
	char out[PATH_MAX];
	int r = ext4w_path_normalise(in, out, sizeof(out));
	if (!t_ok(r == 0 && !strcmp(out, want), "normalise \"%s\" -> \"%s\"", in, want))
		t_diag("got r=%d \"%s\"", r, out);
}

static void test_paths(void)
{
	t_norm("a/b/c", "a/b/c");
	t_norm("./a/./b/", "a/b");
	t_norm("/etc/passwd", "etc/passwd");
	t_norm("../../../etc/passwd", "etc/passwd");
	t_norm("a/../../b", "b");
	t_norm("a//b///c", "a/b/c");
	t_norm("./", "");
	t_norm("..", "");
	t_norm("a/b/..", "a");
	t_norm(".wh..wh..opq", ".wh..wh..opq");
	char big[300];
	memset(big, 'x', 256);
	big[256] = 0;
	char out[PATH_MAX];
	t_is(ext4w_path_normalise(big, out, sizeof(out)), -ENAMETOOLONG, "256-byte component rejected");
	t_is(ext4w_path_normalise("a/b/c", out, 4), -ENAMETOOLONG, "short output buffer");
	char p[] = "a/b/c";
	const char *d, *b;
	ext4w_path_split(p, &d, &b);
	t_streq(d, "a/b", "split dir");
	t_streq(b, "c", "split base");
	char q[] = "top";
	ext4w_path_split(q, &d, &b);
	t_streq(d, "", "split at root: dir");
	t_streq(b, "top", "split at root: base");
}

static void test_set(void)
{
	struct ext4w_set s = { 0 };
	char k[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "%d/name", i);
		ext4w_set_add(&s, k);
	}
	t_ok(ext4w_set_has(&s, "999/name") && ext4w_set_has(&s, "0/name"), "set keeps all keys");
	t_ok(!ext4w_set_has(&s, "1000/name"), "set: absent key");
	t_ok(!ext4w_set_add(&s, "5/name"), "set: duplicate add");
	t_is(s.len, 1000, "set size");
	ext4w_set_clear(&s);
	t_ok(!ext4w_set_has(&s, "5/name"), "cleared set is empty");
}

struct mem {
	const uint8_t *p;
	size_t len, pos;
};

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
	struct mem *m = arg;
	size_t n = MIN(len, MIN(m->len - m->pos, 100));	/* small reads on purpose */
	memcpy(buf, m->p + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static void test_writer(void)
{
	static uint8_t tar[512 * 6];
	ustar_hdr(tar, "dir/", '5', 0, 0755);
	ustar_hdr(tar + 512, "dir/file", '0', 5, 0640);
	memcpy(tar + 1024, "hello", 5);
	char tmpl[] = "/tmp/ucrt-ext4w-XXXXXX";
	t_ok(mkdtemp(tmpl) != NULL, "temp dir");
	_cleanup_free_ char *img = xasprintf("%s/out.ext4", tmpl);
	struct err e = { 0 };
	struct ext4w *w;
	t_is(ext4w_create(img, 64 << 20, NULL, &w, &e), 0, "create");
	struct mem m = { tar, sizeof(tar), 0 };
	struct ext4w_source src = { .read = mem_read, .arg = &m, .name = "mem" };
	int r = ext4w_apply_layer(w, &src, &e);
	if (!t_ok(r == 0, "apply an in-memory layer"))
		t_diag("%s", err_msg(&e));
	t_is(ext4w_finish(w, &e), 0, "finish");
	t_ok(access(img, F_OK) == 0, "image in place");
	_cleanup_free_ char *cmd = xasprintf("e2fsck -fn %s >/dev/null 2>&1", img);
	int st = system(cmd);
	t_ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "e2fsck -fn clean");
	free(cmd);
	cmd = xasprintf("debugfs -R 'cat /dir/file' %s 2>/dev/null | grep -qx hello", img);
	st = system(cmd);
	t_ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "file content reads back");

	/* abort leaves nothing behind */
	_cleanup_free_ char *img2 = xasprintf("%s/aborted.ext4", tmpl);
	t_is(ext4w_create(img2, 64 << 20, NULL, &w, &e), 0, "create a second image");
	ext4w_abort(w);
	free(cmd);
	cmd = xasprintf("test $(ls %s | wc -l) = 1", tmpl);
	st = system(cmd);
	t_ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "abort removed the temp file");
	t_ok(ext4w_create(img2, 1 << 20, NULL, &w, &e) < 0 && strstr(err_msg(&e), "too small"),
	     "too small a size is refused");

	/* garbage is an error naming the layer */
	static uint8_t junk[2048];
	memset(junk, 'j', sizeof(junk));
	t_is(ext4w_create(img2, 64 << 20, NULL, &w, &e), 0, "create a third image");
	struct mem jm = { junk, sizeof(junk), 0 };
	src = (struct ext4w_source){ .read = mem_read, .arg = &jm, .name = "junk-layer" };
	t_ok(ext4w_apply_layer(w, &src, &e) < 0 && strstr(err_msg(&e), "junk-layer"),
	     "garbage layer fails naming the layer");
	ext4w_abort(w);
	free(cmd);
	cmd = xasprintf("rm -rf %s", tmpl);
	if (system(cmd) != 0)
		t_diag("cleanup failed");
}

int main(void)
{
	test_paths();
	test_set();
	if (system("command -v e2fsck >/dev/null && command -v debugfs >/dev/null") == 0)
		test_writer();
	else
		t_diag("e2fsck/debugfs missing: writer tests skipped");
	return t_done();
}
