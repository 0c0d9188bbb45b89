/* buf, str, err, log, sha256 and the file helpers in util. */
#include "tests/lib/tap.h"
#include "buf.h"
#include "err.h"
#include "log.h"
#include "sha256.h"
#include "str.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

static void test_buf(void)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	buf_puts(&b, "hello");
	buf_putc(&b, ' ');
	buf_printf(&b, "%d-%s", 42, "x");
	t_streq(b.data, "hello 42-x", "buf append and printf");
	buf_consume(&b, 6);
	t_streq(b.data, "42-x", "buf_consume drops the front");
	for (int i = 0; i < 10000; i++)
		buf_putc(&b, 'a');
	t_is(b.len, 10004, "buf grows");
	char *s = buf_steal(&b);
	t_ok(b.data == NULL && b.len == 0, "buf_steal empties");
	free(s);
	s = buf_steal(&b);
	t_streq(s, "", "buf_steal of empty gives an empty string");
	free(s);
}

static void test_str(void)
{
	t_ok(str_startswith("sha256:ab", "sha256:"), "startswith");
	t_ok(!str_startswith("sha", "sha256:"), "startswith shorter");
	static const char *const names[] = { "auto", "kvm", "tcg" };
	t_is(str_index("tcg", names, 3), 2, "str_index finds a name");
	t_is(str_index("auto", names, 3), 0, "str_index: first");
	t_is(str_index("TCG", names, 3), -1, "str_index is case-sensitive");
	t_is(str_index("", names, 3), -1, "str_index: empty");
	t_ok(str_endswith("a.tar.gz", ".gz"), "endswith");
	t_ok(!str_endswith("z", ".gz"), "endswith shorter");
	_cleanup_strv_ char **v = str_split("a::b", ':');
	t_is(strv_len(v), 3, "split keeps empty fields");
	t_streq(v[2], "b", "split field");
	strv_push(&v, "c");
	t_is(strv_len(v), 4, "strv_push");
	_cleanup_strv_ char **d = strv_dup(v);
	t_streq(d[3], "c", "strv_dup");
	uint64_t n;
	t_is(str_to_u64("18446744073709551615", &n), 0, "u64 max");
	t_is(str_to_u64("18446744073709551616", &n), -ERANGE, "u64 overflow");
	t_is(str_to_u64("12a", &n), -EINVAL, "u64 junk");
	t_is(str_to_size("64k", &n), 0, "size k");
	t_is(n, 65536, "size k value");
	t_is(str_to_size("2G", &n), 0, "size G");
	t_is(n, 2ull << 30, "size G value");
	t_is(str_to_size("x", &n), -EINVAL, "size junk");
	char hex[9];
	hex_encode((const uint8_t *)"\x01\xab\xff\x00", 4, hex);
	t_streq(hex, "01abff00", "hex_encode");
	t_ok(str_is_hex("01abff00", 8), "is_hex");
	t_ok(!str_is_hex("01ABff00", 8), "is_hex rejects upper case");
}

static void test_err(void)
{
	struct err e = { 0 };
	t_is(err_set(&e, ENOENT, "blob %s", "x"), -ENOENT, "err_set returns -code");
	t_streq(err_msg(&e), "blob x", "err message");
	t_is(err_wrap(&e, "pulling %s", "img"), -ENOENT, "err_wrap keeps code");
	t_streq(err_msg(&e), "pulling img: blob x", "err_wrap prefixes context");
	err_clear(&e);
	err_setx(&e, -EACCES, "open %s", "f");
	t_streq(err_msg(&e), "open f: Permission denied", "err_setx appends strerror");
	t_is(err_set(NULL, EIO, "x"), -EIO, "NULL err allowed");
	/* A message longer than the buffer keeps its start and its reason. */
	char path[4097];
	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = 0;
	err_setx(&e, ENAMETOOLONG, "entry %s", path);
	err_wrap(&e, "layer %s", "l.tar");
	size_t len = strlen(err_msg(&e));
	t_ok(len < sizeof(e.msg), "long message fits the buffer");
	t_ok(strncmp(err_msg(&e), "layer l.tar: entry ppp", 22) == 0, "long message keeps its context");
	const char *why = "ppp: File name too long";
	t_ok(len > strlen(why) && strcmp(err_msg(&e) + len - strlen(why), why) == 0,
	     "long message keeps its reason");
	t_ok(strstr(err_msg(&e), " [...] ") != NULL, "long message marks the elided middle");
	err_set(&e, EINVAL, "%s", path);
	err_wrap(&e, "ctx");
	t_ok(strstr(err_msg(&e), "ctx: pp") == err_msg(&e), "wrap of a full message keeps the context");
	t_is(log_parse_level("debug"), LOG_DEBUG, "log level parse");
	t_is(log_parse_level("loud"), -EINVAL, "bad log level");
}

static void test_sha(void)
{
	char hex[65];
	sha256_hex("abc", 3, hex);
	t_streq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256(abc)");
	struct sha256 s;
	sha256_init(&s);
	for (int i = 0; i < 3; i++)
		sha256_update(&s, &"abc"[i], 1);
	sha256_final_hex(&s, hex);
	t_streq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "streaming sha256");
}

/* Entries of dir whose names do not start with '.', or -1. */
static int t_visible_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_files(void)
{
	char tmpl[] = "/tmp/ucrt-test-XXXXXX";
	t_ok(mkdtemp(tmpl) != NULL, "mkdtemp");
	_cleanup_close_ int dfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	t_is(mkdir_p_at(dfd, "a/b/c", 0755), 0, "mkdir_p_at");
	t_is(mkdir_p_at(dfd, "a/b/c", 0755), 0, "mkdir_p_at is idempotent");
	t_is(write_file_atomic_at(dfd, "a/b/c/f", "data", 4, 0600), 0, "atomic write");
	char *s = NULL;
	size_t n = 0;
	t_is(read_file_at(dfd, "a/b/c/f", 100, &s, &n), 0, "read back");
	t_ok(n == 4 && !strcmp(s, "data"), "content matches");
	free(s);
	t_is(read_file_at(dfd, "a/b/c/f", 2, &s, &n), -EFBIG, "read limit enforced");
	struct stat st;
	fstatat(dfd, "a/b/c/f", &st, 0);
	t_is(st.st_mode & 0777, 0600, "mode kept");
	t_is(write_file_atomic_at(dfd, "a/b/c/f", "x", 1, 0600), 0, "atomic replace");
	read_file_at(dfd, "a/b/c/f", 100, &s, &n);
	t_streq(s, "x", "replaced content");
	free(s);
	/* The per-call temp names (path.tmp.PID.SEQ) must not be left behind. */
	_cleanup_free_ char *cdir = xasprintf("%s/a/b/c", tmpl);
	t_is(t_visible_entries(cdir), 1, "no temp file left next to the replaced file");
	t_is(write_file_atomic_at(dfd, "nodir/f", "x", 1, 0600), -ENOENT, "missing dir fails");
	t_is(write_file_replace_at(dfd, "a/b/c/f", "yz", 2, 0640), 0, "replace without fsync");
	read_file_at(dfd, "a/b/c/f", 100, &s, &n);
	t_streq(s, "yz", "replaced content (no fsync)");
	free(s);
	fstatat(dfd, "a/b/c/f", &st, 0);
	t_is(st.st_mode & 0777, 0640, "replace: mode of the new file");
	t_is(t_visible_entries(cdir), 1, "replace: no temp file left");
	t_is(write_file_at(dfd, "a/b/c/f", "d", 1, 0600, true), 0, "write_file_at, durable");
	read_file_at(dfd, "a/b/c/f", 100, &s, &n);
	t_streq(s, "d", "write_file_at: content");
	free(s);
	t_is(t_visible_entries(cdir), 1, "write_file_at: no temp file left");
	t_is(write_file_replace_at(dfd, "nodir/f", "x", 1, 0600), -ENOENT, "replace: missing dir fails");
	t_is(mkdir_p_at(dfd, "a/b/c/f/g", 0755), -ENOTDIR, "mkdir through a file fails");
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	t_is(system(cmd), 0, "cleanup");
}

static void test_runtime_dir(void)
{
	char *d;
	char want[64];

	setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
	d = user_runtime_dir();
	t_streq(d, "/run/user/1234/ucrt", "XDG_RUNTIME_DIR/ucrt");
	free(d);
	/* A relative value is not a runtime dir (a login manager sets an
	 * absolute one): the /tmp fallback. */
	snprintf(want, sizeof(want), "/tmp/ucrt-%u", (unsigned)geteuid());
	setenv("XDG_RUNTIME_DIR", "run/user/1234", 1);
	d = user_runtime_dir();
	t_streq(d, want, "a relative XDG_RUNTIME_DIR is ignored");
	free(d);
	unsetenv("XDG_RUNTIME_DIR");
	d = user_runtime_dir();
	t_streq(d, want, "without XDG_RUNTIME_DIR: /tmp/ucrt-<uid>");
	free(d);
}

int main(void)
{
	test_buf();
	test_str();
	test_err();
	test_sha();
	test_files();
	test_runtime_dir();
	return t_done();
}
