/* -v / --mount / --tmpfs parsing, host-side resolution (paths, created
 * directories, single files staged beside nothing else, volumes), the
 * config.json round trip and inspect's docker-shaped Mounts. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "container/container.h"
#include "err.h"
#include "json.h"
#include "tests/lib/tap.h"
#include "util.h"
#include "volume/volume.h"

static void t_parse_v(void)
{
	struct ctr_mount m;
	struct err e = { 0 };

	t_ok(ctr_mount_parse_v("/host/dir:/data", &m, &e) == 0, "-v /host/dir:/data");
	t_ok(m.type == CTR_MOUNT_BIND && !m.readonly && m.create, "... a writable bind, created if missing");
	t_streq(m.src, "/host/dir", "... source");
	t_streq(m.dst, "/data", "... target");
	ctr_mount_clear(&m);
	t_ok(ctr_mount_parse_v("./rel:/a//b/:ro", &m, &e) == 0 && m.readonly && m.type == CTR_MOUNT_BIND,
	     "-v ./rel:/a//b/:ro is a read-only bind");
	t_streq(m.dst, "/a/b", "... target normalised");
	ctr_mount_clear(&m);
	t_ok(ctr_mount_parse_v("data:/d:rw", &m, &e) == 0 && m.type == CTR_MOUNT_VOLUME && !m.readonly,
	     "-v NAME:/d:rw names a volume");
	ctr_mount_clear(&m);
	t_is(ctr_mount_parse_v("/a", &m, &e), -EINVAL, "-v without a target");
	t_ok(strstr(err_msg(&e), "HOST-PATH:CONTAINER-PATH") != NULL, "... the error shows the form");
	t_is(ctr_mount_parse_v("/a:rel", &m, &e), -EINVAL, "relative target refused");
	t_is(ctr_mount_parse_v("/a:/", &m, &e), -EINVAL, "target / refused");
	t_is(ctr_mount_parse_v("/a:/x/../y", &m, &e), -EINVAL, "'..' in the target refused");
	t_is(ctr_mount_parse_v("/a:/b:rx", &m, &e), -EINVAL, "unknown option refused");
	t_ok(strstr(err_msg(&e), "rx") != NULL, "... naming it");
	t_is(ctr_mount_parse_v("bad^name:/x", &m, &e), -EINVAL, "a source neither path nor name");
	t_is(ctr_mount_parse_v(":/x", &m, &e), -EINVAL, "empty source");
}

static void t_parse_mount(void)
{
	struct ctr_mount m;
	struct err e = { 0 };

	t_ok(ctr_mount_parse("type=bind,src=/s,dst=/d,readonly", &m, &e) == 0 && m.readonly &&
	     m.type == CTR_MOUNT_BIND && !m.create, "--mount type=bind,...,readonly (not created)");
	ctr_mount_clear(&m);
	t_ok(ctr_mount_parse("type=disk,source=/in.ext4,target=/in", &m, &e) == 0 && m.readonly,
	     "a disk is read-only unless told");
	ctr_mount_clear(&m);
	t_ok(ctr_mount_parse("type=disk,src=/in.ext4,dst=/in,readonly=false", &m, &e) == 0 && !m.readonly,
	     "... readonly=false makes it writable");
	ctr_mount_clear(&m);
	t_ok(ctr_mount_parse("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770", &m, &e) == 0, "tmpfs mount");
	t_streq(m.opts, "size=67108864,mode=1770", "... options validated and normalised");
	ctr_mount_clear(&m);
	t_ok(ctr_mount_parse("type=volume,src=v1,dst=/v", &m, &e) == 0 && m.type == CTR_MOUNT_VOLUME, "volume");
	ctr_mount_clear(&m);
	t_is(ctr_mount_parse("type=nfs,src=/a,dst=/b", &m, &e), -EINVAL, "unknown type");
	t_is(ctr_mount_parse("src=/a,dst=/b", &m, &e), -EINVAL, "type required");
	t_is(ctr_mount_parse("type=bind,dst=/b", &m, &e), -EINVAL, "src required");
	t_is(ctr_mount_parse("type=bind,src=/a", &m, &e), -EINVAL, "dst required");
	t_is(ctr_mount_parse("type=tmpfs,src=/a,dst=/b", &m, &e), -EINVAL, "tmpfs takes no src");
	t_is(ctr_mount_parse("type=bind,src=/a,dst=/b,tmpfs-size=1m", &m, &e), -EINVAL, "tmpfs options need tmpfs");
	t_is(ctr_mount_parse("type=volume,src=/abs,dst=/b", &m, &e), -EINVAL, "volume needs a name");
	t_is(ctr_mount_parse("type=bind,src=/a,dst=/b,readonly=maybe", &m, &e), -EINVAL, "readonly=maybe");
	t_is(ctr_mount_parse("type=bind,src=/a,dst=/b,bogus=1", &m, &e), -EINVAL, "unknown field");

	t_ok(ctr_mount_parse_tmpfs("/scratch:size=1m,mode=700", &m, &e) == 0, "--tmpfs with options");
	t_streq(m.opts, "size=1048576,mode=700", "... normalised");
	ctr_mount_clear(&m);
	t_ok(ctr_mount_parse_tmpfs("/scratch", &m, &e) == 0 && m.opts && !*m.opts, "--tmpfs without options");
	ctr_mount_clear(&m);
	t_is(ctr_mount_parse_tmpfs("/x:size=abc", &m, &e), -EINVAL, "bad size");
	t_is(ctr_mount_parse_tmpfs("/x:mode=999", &m, &e), -EINVAL, "bad mode");
	t_is(ctr_mount_parse_tmpfs("/x:uid=0", &m, &e), -EINVAL, "unknown tmpfs option");
	t_is(ctr_mount_parse_tmpfs("/x:size", &m, &e), -EINVAL, "option without a value");
}

static void t_resolve(const char *dir)
{
	_cleanup_free_ char *root = xasprintf("%s/root", dir), *shared = xasprintf("%s/shared", dir);
	_cleanup_free_ char *link = xasprintf("%s/link", dir), *file = xasprintf("%s/shared/conf", dir);
	_cleanup_free_ char *missing = xasprintf("%s/new/sub", dir);
	struct ctr_mount m[5] = { 0 };
	struct err e = { 0 };
	struct stat st;
	char spec[600];

	mkdir(shared, 0755);
	write_file_atomic_at(AT_FDCWD, file, "x=1\n", 4, 0644);
	t_ok(symlink(shared, link) == 0, "a symlink to the shared directory");
	snprintf(spec, sizeof(spec), "%s:/data", link);
	ctr_mount_parse_v(spec, &m[0], &e);
	snprintf(spec, sizeof(spec), "%s:/etc/conf:ro", file);
	ctr_mount_parse_v(spec, &m[1], &e);
	snprintf(spec, sizeof(spec), "%s:/out", missing);
	ctr_mount_parse_v(spec, &m[2], &e);
	ctr_mount_parse_v("vol:/v", &m[3], &e);
	ctr_mount_parse_tmpfs("/t:size=1m", &m[4], &e);
	t_ok(ctr_mounts_resolve(root, "abc", m, 5, &e) == 0, "resolve five mounts (%s)", err_msg(&e));
	t_streq(m[0].host, shared, "a symlinked source is resolved once");
	t_ok(m[1].host && strstr(m[1].host, "/containers/abc/files/1") != NULL, "a file is staged in the container");
	t_streq(m[1].file, "conf", "... under its own name");
	_cleanup_free_ char *staged = xasprintf("%s/conf", m[1].host ? m[1].host : "");
	struct stat a, b;
	t_ok(stat(staged, &a) == 0 && stat(file, &b) == 0 && a.st_ino == b.st_ino, "... as a hard link to it");
	t_ok(stat(missing, &st) == 0 && S_ISDIR(st.st_mode), "a missing -v directory is created");
	t_ok(m[3].host && strstr(m[3].host, "/volumes/vol/disk.ext4") != NULL, "a volume is created on first use");
	t_ok(!m[4].host, "a tmpfs has nothing on the host");

	/* config.json and inspect. */
	struct ctr_config c = { .name = "n", .disk = "/d" };
	memcpy(c.id, "abc", 4);
	c.spec.argv = (char *[]){ "true", NULL };
	_cleanup_free_ char *cdir = xasprintf("%s/containers/abc", root);
	mkdir_p_at(AT_FDCWD, cdir, 0700);
	c.mounts = m;
	c.nmounts = 5;
	c.read_only = true;
	t_is(ctr_config_write(root, &c, &e), 0, "config.json with mounts written");
	struct ctr_config r;
	t_is(ctr_config_read(root, "abc", &r, &e), 0, "... and read back");
	t_ok(r.nmounts == 5 && r.read_only, "... five mounts, read-only root");
	t_ok(r.nmounts == 5 && r.mounts[1].readonly && strcmp(r.mounts[1].file, "conf") == 0 &&
	     r.mounts[3].type == CTR_MOUNT_VOLUME && strcmp(r.mounts[4].opts, "size=1048576") == 0,
	     "... with their fields");
	ctr_config_free(&r);
	_cleanup_buf_ struct buf out = BUF_INIT;
	struct json_writer w;
	jw_init(&w, &out, false);
	ctr_mounts_inspect_json(&w, root, "abc");
	t_ok(out.data && strstr(out.data, "\"Type\":\"volume\",\"Name\":\"vol\"") &&
	     strstr(out.data, "\"Destination\":\"/etc/conf\",\"RW\":false"), "inspect's Mounts (%s)",
	     out.data ? out.data : "");
	for (int i = 0; i < 5; i++)
		ctr_mount_clear(&m[i]);

	struct ctr_mount two[2] = { 0 };
	ctr_mount_parse_tmpfs("/same", &two[0], &e);
	ctr_mount_parse_tmpfs("/same/", &two[1], &e);
	t_is(ctr_mounts_resolve(root, "abc", two, 2, &e), -EINVAL, "two mounts on one target refused");
	ctr_mount_clear(&two[0]);
	ctr_mount_clear(&two[1]);
	struct ctr_mount gone = { 0 };
	ctr_mount_parse("type=bind,src=/nonexistent/ucrt,dst=/x", &gone, &e);
	t_is(ctr_mounts_resolve(root, "abc", &gone, 1, &e), -ENOENT, "--mount type=bind of a missing path fails");
	t_ok(strstr(err_msg(&e), "/nonexistent/ucrt") != NULL, "... naming it");
	ctr_mount_clear(&gone);
	t_ok(ctr_mount_type_name(CTR_MOUNT_DISK) && strcmp(ctr_mount_type_name(CTR_MOUNT_DISK), "disk") == 0,
	     "type names");
}

static void t_image_volumes(void)
{
	char *paths[] = { "/data", "/cache/", "/given", NULL }, *bad[] = { "rel", NULL };
	struct ctr_mount *m = xcalloc(1, sizeof(*m));
	size_t n = 1;
	struct err e = { 0 };

	ctr_mount_parse_v("/host:/given", &m[0], &e);
	t_is(ctr_mounts_add_image_volumes(paths, "0123456789abcdef", false, &m, &n, &e), 0,
	     "image Volumes of a kept container");
	t_is(n, 3, "... two added, the path given with -v is left alone");
	t_ok(n == 3 && m[1].type == CTR_MOUNT_VOLUME && strcmp(m[1].src, "0123456789ab-0") == 0 &&
	     strcmp(m[2].dst, "/cache") == 0, "... anonymous volumes <id>-<n>");
	ctr_mounts_free(m, n);
	m = NULL;
	n = 0;
	t_is(ctr_mounts_add_image_volumes(paths, NULL, true, &m, &n, &e), 0, "image Volumes of a --rm container");
	t_ok(n == 3 && m[0].type == CTR_MOUNT_TMPFS && m[0].opts && !m[0].src, "... are tmpfs mounts");
	ctr_mounts_free(m, n);
	m = NULL;
	n = 0;
	t_ok(ctr_mounts_add_image_volumes(bad, "id", false, &m, &n, &e) < 0 && n == 0, "a relative image volume fails");
	ctr_mounts_free(m, n);
}

int main(void)
{
	char dir[] = "/tmp/ucrt-test-mount.XXXXXX";

	t_parse_v();
	t_parse_mount();
	t_image_volumes();
	if (!mkdtemp(dir))
		return t_done();
	t_resolve(dir);
	_cleanup_free_ char *cmd = xasprintf("rm -rf %s", dir);
	if (system(cmd) != 0)
		t_ok(0, "cleanup");
	return t_done();
}
