/* Sizing an image from its layers (modules/ext4/build.c): an image that
 * runs out of inodes or blocks counts what the rest needs and is rebuilt
 * with that geometry (ext4w_need, ext4w_build), a caller-given size is kept,
 * a full host filesystem is reported as such (not as a full image), and
 * temp files of a killed build go (ext4w_clean_temps). Images are checked
 * with e2fsck -fn and read back with libext2fs. */
#include "tests/lib/tap.h"
#include "t-ustar.h"
#include "ext4/ext4-internal.h"
#include "buf.h"
#include "err.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/ucrt-ext4-size-XXXXXX";


/* A plain tar: ndirs directories of nfiles empty files, then one file of
 * big bytes (0: none) whose content is a repeating pattern. */
static void make_tar(struct buf *b, int ndirs, int nfiles, size_t big)
{
	uint8_t h[512];
	char name[64];

	for (int d = 0; d < ndirs; d++) {
		snprintf(name, sizeof(name), "d%02d/", d);
		ustar_hdr(h, name, '5', 0, 0755);
		buf_append(b, h, 512);
		for (int f = 0; f < nfiles; f++) {
			snprintf(name, sizeof(name), "d%02d/f%04d", d, f);
			ustar_hdr(h, name, '0', 0, 0644);
			buf_append(b, h, 512);
		}
	}
	if (big) {
		ustar_hdr(h, "big", '0', big, 0644);
		buf_append(b, h, 512);
		uint8_t blk[512];
		for (size_t off = 0; off < big; off += 512) {
			for (int i = 0; i < 512; i++)
				blk[i] = (uint8_t)((off / 512) * 7 + (size_t)i);
			buf_append(b, blk, 512);
		}
	}
	memset(h, 0, sizeof(h));
	buf_append(b, h, 512);
	buf_append(b, h, 512);
}

struct mem {
	const struct buf *b;
	size_t pos;
	int opens;
};

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
	struct mem *m = arg;
	size_t n = MIN(len, m->b->len - m->pos);
	memcpy(buf, m->b->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static int mem_open(void *arg, size_t i, struct ext4w_source *src, struct err *err)
{
	struct mem *m = arg;
	m->pos = 0;
	m->opens++;
	*src = (struct ext4w_source){ .read = mem_read, .arg = m, .name = "mem-layer" };
	return 0;
}

static bool sh_ok(const char *cmd)
{
	int st = system(cmd);
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static bool fsck_clean(const char *img)
{
	_cleanup_free_ char *cmd = xasprintf("e2fsck -fn %s >/dev/null 2>&1", img);
	return sh_ok(cmd);
}

/* The image's size and inode count, and whether path exists in it. */
static bool inspect(const char *img, uint64_t *size, uint64_t *inodes, const char *path)
{
	ext2_filsys fs;
	ext2_ino_t ino;
	if (ext2fs_open(img, 0, 0, 0, unix_io_manager, &fs))
		return false;
	*size = ext2fs_blocks_count(fs->super) * fs->blocksize;
	*inodes = fs->super->s_inodes_count;
	bool found = ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino) == 0;
	ext2fs_close_free(&fs);
	return found;
}

/* Groups whose inode table is not flagged zeroed (ext4 would start its
 * lazyinit thread on a rw mount to zero them); -1 if unreadable. */
static int groups_not_zeroed(const char *img)
{
	ext2_filsys fs;
	int n = 0;
	if (ext2fs_open(img, 0, 0, 0, unix_io_manager, &fs))
		return -1;
	for (dgrp_t g = 0; g < fs->group_desc_count; g++)
		if (!ext2fs_bg_flags_test(fs, g, EXT2_BG_INODE_ZEROED))
			n++;
	ext2fs_close_free(&fs);
	return n;
}

/* Nothing but the expected entries in tmpdir (no temp file left). */
static int dir_entries(void)
{
	_cleanup_free_ char *cmd = xasprintf("ls -A %s | wc -l", tmpdir);
	FILE *p = popen(cmd, "r");
	int n = -1;
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

/* Few inodes on purpose (one per MiB: the 1024 minimum), 3000 entries. */
static void test_inodes(void)
{
	struct buf tar = { 0 };
	make_tar(&tar, 3, 1000, 0);
	struct mem m = { .b = &tar };
	struct ext4w_opts o = { .inode_ratio = 1 << 20 };
	struct err e = { 0 };
	_cleanup_free_ char *img = xasprintf("%s/inodes.ext4", tmpdir);
	uint64_t size = 0, inodes = 0;

	/* The writer alone: full is not a failure of the layer. */
	struct ext4w *w;
	t_is(ext4w_create(img, 64 << 20, &o, &w, &e), 0, "create with 1024 inodes");
	struct ext4w_source src;
	mem_open(&m, 0, &src, &e);
	t_is(ext4w_apply_layer(w, &src, &e), 0, "a layer that fills the inodes is read to its end");
	t_is(m.pos, tar.len, "every byte of it was read");
	t_is(ext4w_need(w, &size, &inodes), EXT4W_FULL_INODES, "ext4w_need: the inodes ran out");
	t_ok(inodes >= 3000 + 3 + 11 && inodes < 8000, "ext4w_need: room for every entry (%llu inodes)",
	     (unsigned long long)inodes);
	t_ok(size >= inodes * 4096, "ext4w_need: a size that can hold that many inodes");
	t_is(ext4w_finish(w, &e), -ENOSPC, "finish of a full image fails");
	t_ok(strstr(err_msg(&e), "layer mem-layer: entry d") && strstr(err_msg(&e), "image full: no free inode") &&
	     strstr(err_msg(&e), "the layers need about"), "full: names the entry and what the layers need");
	if (!strstr(err_msg(&e), "image full"))
		t_diag("%s", err_msg(&e));
	t_is(dir_entries(), 0, "a failed finish leaves no file");

	/* ext4w_build grows it. */
	struct ext4w_layers ls = { .n = 1, .open = mem_open, .arg = &m };
	struct ext4w_stats st;
	m.opens = 0;
	int r = ext4w_build(img, 64 << 20, true, &o, &ls, &st, &e);
	if (!t_ok(r == 0, "ext4w_build with grow: built"))
		t_diag("%s", err_msg(&e));
	t_is(m.opens, 2, "built twice: the first image filled up");
	t_ok(fsck_clean(img), "e2fsck -fn clean");
	t_ok(inspect(img, &size, &inodes, "d02/f0999"), "the last entry is in the image");
	t_ok(inodes >= 3003, "the rebuilt image has the inodes (%llu)", (unsigned long long)inodes);
	t_is(st.entries, 3003, "stats of the last build");
	unlink(img);

	/* A size the caller gave is kept: only the inode count changes. */
	r = ext4w_build(img, 64 << 20, false, &o, &ls, NULL, &e);
	if (!t_ok(r == 0, "ext4w_build at a fixed size: inodes added"))
		t_diag("%s", err_msg(&e));
	bool found = inspect(img, &size, &inodes, "d02/f0999");
	t_ok(found && size == 64 << 20 && inodes >= 3003, "same size (%llu MiB), more inodes (%llu)",
	     (unsigned long long)(size >> 20), (unsigned long long)inodes);
	t_ok(fsck_clean(img), "e2fsck -fn clean");
	unlink(img);
	buf_free(&tar);
}

static void test_blocks(void)
{
	struct buf tar = { 0 };
	make_tar(&tar, 1, 10, 12 << 20);
	struct mem m = { .b = &tar };
	struct ext4w_layers ls = { .n = 1, .open = mem_open, .arg = &m };
	struct err e = { 0 };
	_cleanup_free_ char *img = xasprintf("%s/blocks.ext4", tmpdir);

	int r = ext4w_build(img, 8 << 20, false, NULL, &ls, NULL, &e);
	t_is(r, -ENOSPC, "12 MiB in a fixed 8 MiB image fails");
	t_ok(strstr(err_msg(&e), "entry big: image full: no free block") != NULL,
	     "full: no free block, naming the entry");
	if (!strstr(err_msg(&e), "no free block"))
		t_diag("%s", err_msg(&e));
	t_is(dir_entries(), 0, "no file left");

	m.opens = 0;
	r = ext4w_build(img, 8 << 20, true, NULL, &ls, NULL, &e);
	if (!t_ok(r == 0, "with grow: built"))
		t_diag("%s", err_msg(&e));
	t_is(m.opens, 2, "built twice");
	uint64_t size = 0, inodes = 0;
	bool found = inspect(img, &size, &inodes, "big");
	t_ok(found && size > (12 << 20), "grown to %llu MiB", (unsigned long long)(size >> 20));
	t_ok(fsck_clean(img), "e2fsck -fn clean");
	_cleanup_free_ char *cmd = xasprintf("debugfs -R 'dump /big %s/big.out' %s >/dev/null 2>&1 && "
					     "test $(stat -c %%s %s/big.out) = %d", tmpdir, img, tmpdir, 12 << 20);
	t_ok(sh_ok(cmd), "the big file reads back whole");
	unlink(img);
	free(cmd);
	cmd = xasprintf("%s/big.out", tmpdir);
	unlink(cmd);
	buf_free(&tar);
}

/* The host's filesystem full (a 4 MiB tmpfs in a private mount namespace):
 * the error says so and names the image, never "image full". */
static void test_host_full(void)
{
	_cleanup_free_ char *mnt = xasprintf("%s/full", tmpdir);
	mkdir(mnt, 0755);
	int pfd[2];
	if (pipe(pfd) < 0) {
		t_ok(0, "pipe");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("tmpfs", mnt, "tmpfs", 0, "size=4m") < 0)
			_exit(77);
		struct buf tar = { 0 };
		make_tar(&tar, 1, 10, 8 << 20);
		struct mem m = { .b = &tar };
		struct ext4w_layers ls = { .n = 1, .open = mem_open, .arg = &m };
		struct err e = { 0 };
		_cleanup_free_ char *img = xasprintf("%s/x.ext4", mnt);
		int r = ext4w_build(img, 64 << 20, true, NULL, &ls, NULL, &e);
		dprintf(pfd[1], "%d %s", r, err_msg(&e));
		_cleanup_free_ char *cmd = xasprintf("test -z \"$(ls -A %s)\"", mnt);
		dprintf(pfd[1], "\n%d", sh_ok(cmd));
		_exit(0);
	}
	close(pfd[1]);
	char out[2048] = "";
	size_t got = 0;
	ssize_t n;
	while ((n = read(pfd[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(pfd[0]);
	int st;
	waitpid(pid, &st, 0);
	rmdir(mnt);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		t_ok(1, "# SKIP cannot mount a tmpfs here");
		return;
	}
	_cleanup_free_ char *want = xasprintf("writing %s/x.ext4: No space left on device", mnt);
	t_ok(strncmp(out, "-28 ", 4) == 0, "full host: -ENOSPC");
	if (!t_ok(strstr(out, want) && !strstr(out, "image full"), "full host: reported as the host's, naming the path"))
		t_diag("%s", out);
	char *nl = strchr(out, '\n');
	t_ok(nl && nl[1] == '1', "full host: no temp file left");
}

static void test_clean_temps(void)
{
	static const char *const names[] = {
		"x.ext4.tmp-abcDEF", "x.ext4.tmp-123456",	/* stale temps of x.ext4 */
		"x.ext4", "x.ext4.tmp-abc", "x.ext4.tmp-abcdefg", "y.ext4.tmp-abcdef", "x.ext4.lock",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", tmpdir, names[i]);
		close(open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	}
	_cleanup_free_ char *x = xasprintf("%s/x.ext4", tmpdir);
	t_is(ext4w_clean_temps(x), 2, "ext4w_clean_temps removes the two temps of x.ext4");
	t_is(dir_entries(), 5, "and nothing else");
	t_is(ext4w_clean_temps(x), 0, "again: none left");
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", tmpdir, names[i]);
		unlink(p);
	}
}

/* A 1 GiB image has 8 groups, most never written: each must carry the
 * zeroed flag with a checksum that covers it. */
static void test_itable_zeroed(void)
{
	_cleanup_free_ char *img = xasprintf("%s/zeroed.ext4", tmpdir);
	struct err e = { 0 };
	struct ext4w *w;
	ext2_filsys fs;
	dgrp_t groups = 0;

	t_is(ext4w_create(img, 1ULL << 30, NULL, &w, &e), 0, "create a 1 GiB image");
	t_is(ext4w_finish(w, &e), 0, "finish it empty");
	if (ext2fs_open(img, 0, 0, 0, unix_io_manager, &fs) == 0) {
		groups = fs->group_desc_count;
		ext2fs_close_free(&fs);
	}
	t_ok(groups > 1, "several groups (%u)", (unsigned)groups);
	t_is(groups_not_zeroed(img), 0, "every group's inode table is flagged zeroed (no lazyinit on mount)");
	t_ok(fsck_clean(img), "e2fsck -fn clean: group checksums cover the flag");
	unlink(img);
}

int main(void)
{
	if (!sh_ok("command -v e2fsck >/dev/null && command -v debugfs >/dev/null"))
		t_skip_all("e2fsck/debugfs missing");
	if (!mkdtemp(tmpdir))
		t_skip_all("no temp dir");
	test_inodes();
	test_itable_zeroed();
	test_blocks();
	test_host_full();
	test_clean_temps();
	rmdir(tmpdir);
	return t_done();
}
