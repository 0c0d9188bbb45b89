/* OCI image-layout tarballs: save of a named image, its members as tar
 * lists them, load into a fresh store (names from the annotations, or the
 * default name), and refusal of archives with a corrupted blob or without
 * an index, with nothing committed. */
#include "tests/lib/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "str.h"
#include "store/store.h"
#include "util.h"

static char dir[] = "/tmp/ucrt-layout-XXXXXX";

static void put(struct store *s, const char *data, char out[OCI_DIGEST_LEN + 1])
{
	struct err e = { 0 };
	if (store_blob_put(s, data, strlen(data), NULL, out, &e) < 0)
		t_diag("put: %s", e.msg);
}

static struct store *open_store(const char *name)
{
	struct store *s = NULL;
	struct err e = { 0 };
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
	if (store_open(&s, p, &e) < 0)
		t_skip_all(e.msg);
	return s;
}

/* One image with a config and a layer; returns its manifest digest. */
static void make_image(struct store *s, char manifest[OCI_DIGEST_LEN + 1], char layer[OCI_DIGEST_LEN + 1])
{
	char config[OCI_DIGEST_LEN + 1];
	struct err e = { 0 };
	put(s, "the only layer", layer);
	put(s, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":"
	       "[\"sha256:1111111111111111111111111111111111111111111111111111111111111111\"]}}", config);
	_cleanup_free_ char *m = xasprintf(
		"{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\",\"config\":{\"mediaType\":\"" OCI_MT_CONFIG
		"\",\"digest\":\"%s\",\"size\":1},\"layers\":[{\"mediaType\":\"" OCI_MT_LAYER
		"\",\"digest\":\"%s\",\"size\":14}]}", config, layer);
	put(s, m, manifest);
	struct oci_platform amd64 = { "linux", "amd64", NULL };
	if (store_image_register(s, "example.com/app:v1", manifest, &amd64, NULL, &e) < 0)
		t_diag("register: %s", e.msg);
}

static int load_file(struct store *s, const char *path, const char *def, char ***names, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = store_load(s, fd, def, names, e);
	close(fd);
	return r;
}

int main(void)
{
	struct err e = { 0 };
	char manifest[OCI_DIGEST_LEN + 1], layer[OCI_DIGEST_LEN + 1];

	if (!mkdtemp(dir))
		t_skip_all("mkdtemp failed");
	struct store *a = open_store("a"), *b = open_store("b"), *c = open_store("c");
	make_image(a, manifest, layer);

	struct store_image img = { 0 };
	t_is(store_image_find(a, "example.com/app:v1", &img, &e), 0, "image is named");
	_cleanup_free_ char *tar = xasprintf("%s/app.tar", dir);
	int fd = open(tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	t_is(store_save(a, &img, 1, fd, &e), 0, "save");
	close(fd);
	_cleanup_free_ char *list = xasprintf("tar -tf '%s' >'%s.list'", tar, tar);
	t_is(system(list), 0, "tar lists the archive");
	_cleanup_free_ char *want = xasprintf("grep -qx oci-layout '%s.list' && grep -qx index.json '%s.list' && "
					      "grep -qx 'blobs/sha256/%s' '%s.list' && test $(grep -c '^blobs/sha256/.' "
					      "'%s.list') = 3", tar, tar, layer + 7, tar, tar);
	t_is(system(want), 0, "oci-layout, index.json and the three blobs are in it");
	_cleanup_free_ char *ann = xasprintf("tar -xOf '%s' index.json | grep -q '\"org.opencontainers.image.ref.name\":"
					     "\"v1\"' && tar -xOf '%s' index.json | grep -q 'io.containerd.image.name'",
					     tar, tar);
	t_is(system(ann), 0, "index.json names the image (ref.name and containerd name)");

	char **names = NULL;
	t_is(load_file(b, tar, NULL, &names, &e), 1, "load into a fresh store: one image");
	t_ok(names && names[0] && strcmp(names[0], "example.com/app:v1") == 0 && !names[1],
	     "loaded under its full name: %s", names && names[0] ? names[0] : "(none)");
	strv_free(names);
	names = NULL;
	struct store_image got = { 0 };
	t_is(store_image_find(b, "example.com/app:v1", &got, &e), 0, "found in the new store");
	t_streq(got.manifest, manifest, "same manifest digest");
	store_image_free(&got);
	t_is(store_blob_stat(b, layer, NULL), 0, "layer blob committed");
	t_is(load_file(b, tar, NULL, &names, &e), 1, "loading again is idempotent");
	strv_free(names);
	names = NULL;

	/* Strip the containerd name: only ref.name "v1" remains, a tag, so
	 * the default name gives the repository. */
	_cleanup_free_ char *x = xasprintf("%s/x", dir);
	_cleanup_free_ char *unpack = xasprintf("mkdir -p '%s' && tar -C '%s' -xf '%s'", x, x, tar);
	t_is(system(unpack), 0, "unpack the archive");
	_cleanup_free_ char *strip = xasprintf("sed -i 's/\"io.containerd.image.name\":\"[^\"]*\",//' '%s/index.json' && "
					       "tar -C '%s' -cf '%s/tagonly.tar' oci-layout index.json blobs", x, x, dir);
	t_is(system(strip), 0, "archive with a tag-only name");
	_cleanup_free_ char *tagonly = xasprintf("%s/tagonly.tar", dir);
	t_ok(load_file(c, tagonly, NULL, &names, &e) == -EINVAL && strstr(e.msg, "--name"),
	     "tag-only entry without a default name asks for one: %s", e.msg);
	strv_free(names);
	names = NULL;
	t_is(load_file(c, tagonly, "example.org/loaded", &names, &e), 1, "load with a default name");
	t_ok(names && strcmp(names[0], "example.org/loaded:v1") == 0, "default repository with the archive's tag");
	strv_free(names);
	names = NULL;
	store_close(c);
	c = open_store("d");

	/* A corrupted blob: refused, naming it; nothing of it committed. */
	_cleanup_free_ char *corrupt = xasprintf("printf X | dd of='%s/blobs/sha256/%s' bs=1 seek=2 conv=notrunc "
						 "2>/dev/null && tar -C '%s' -cf '%s/bad.tar' oci-layout index.json blobs",
						 x, layer + 7, x, dir);
	t_is(system(corrupt), 0, "archive with a corrupted layer");
	_cleanup_free_ char *bad = xasprintf("%s/bad.tar", dir);
	t_ok(load_file(c, bad, "example.org/bad", &names, &e) == -EUCLEAN && strstr(e.msg, layer),
	     "corrupt blob refused with its digest: %s", e.msg);
	t_is(store_blob_stat(c, layer, NULL), -ENOENT, "corrupt blob not committed");
	struct store_image *v = NULL;
	size_t n = 0;
	store_image_list(c, &v, &n, &e);
	t_is(n, 0, "no image named after a failed load");
	store_images_free(v, n);
	strv_free(names);
	names = NULL;

	_cleanup_free_ char *noindex = xasprintf("tar -C '%s' -cf '%s/noindex.tar' oci-layout", x, dir);
	t_is(system(noindex), 0, "archive without index.json");
	_cleanup_free_ char *ni = xasprintf("%s/noindex.tar", dir);
	t_ok(load_file(c, ni, "example.org/x", &names, &e) == -EINVAL && strstr(e.msg, "not an OCI image layout"),
	     "no index.json: %s", e.msg);
	strv_free(names);

	store_image_free(&img);
	store_close(a);
	store_close(b);
	store_close(c);
	_cleanup_free_ char *rm = xasprintf("rm -rf '%s'", dir);
	if (system(rm) != 0)
		t_diag("cleanup failed");
	return t_done();
}
