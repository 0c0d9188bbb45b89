/* The store's image side: locks between handles, blob read/open/list/
 * remove with corruption detection, register of a manifest and of an index
 * (platform choice), closure, chain id, what a failed pull added, prune
 * (blobs, ingest, rootfs). */
#include "tests/lib/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "str.h"
#include "store/store.h"
#include "util.h"

static char root[] = "/tmp/ucrt-store-gc-XXXXXX";

/* Put a blob and return its digest in out. */
static void put(struct store *s, const char *data, char out[OCI_DIGEST_LEN + 1])
{
	struct err e = { 0 };
	if (store_blob_put(s, data, strlen(data), NULL, out, &e) < 0)
		t_diag("put: %s", e.msg);
}

/* A directory of the layout, opened by path as any outsider would. */
static int t_dir(const char *sub)
{
	static int fds[8];
	static const char *names[8];
	size_t i;

	for (i = 0; i < 8 && names[i]; i++)
		if (strcmp(names[i], sub) == 0)
			return fds[i];
	_cleanup_free_ char *p = xasprintf("%s/%s", root, sub);
	names[i] = sub;
	return fds[i] = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static bool has(char **v, const char *s)
{
	for (; v && *v; v++)
		if (strcmp(*v, s) == 0)
			return true;
	return false;
}

static void locks(struct store *s)
{
	struct store *s2;
	struct err e = { 0 };

	struct stat st;
	t_ok(fstat(t_dir("blobs/sha256"), &st) == 0 && S_ISDIR(st.st_mode), "layout has blobs/sha256/");
	t_ok(fstat(t_dir("rootfs"), &st) == 0 && S_ISDIR(st.st_mode), "layout has rootfs/");
	if (store_open(&s2, root, &e) < 0) {
		t_ok(0, "second handle: %s", e.msg);
		return;
	}
	t_is(store_lock(s, false, true, &e), 0, "shared lock");
	t_is(store_lock(s2, false, false, &e), 0, "a second shared lock coexists");
	store_unlock(s2);
	t_is(store_lock(s2, true, false, &e), -EBUSY, "exclusive without wait: EBUSY while shared is held");
	t_ok(strstr(e.msg, "in use") != NULL, "EBUSY says the store is in use: %s", e.msg);
	store_unlock(s);
	t_is(store_lock(s2, true, false, &e), 0, "exclusive once the shared lock is gone");
	t_is(store_lock(s, false, false, &e), -EBUSY, "shared without wait: EBUSY while exclusive is held");
	struct store_prune_stats ps;
	t_is(store_prune(s, &ps, &e), -EBUSY, "prune refuses while another handle holds the lock");
	store_close(s2);
	t_is(store_lock(s, false, false, &e), 0, "closing a handle releases its lock");
	store_unlock(s);
}

static void blobs(struct store *s)
{
	char a[OCI_DIGEST_LEN + 1], b[OCI_DIGEST_LEN + 1];
	struct err e = { 0 };
	char *data = NULL;
	size_t len = 0;

	put(s, "alpha", a);
	put(s, "bravo-bravo", b);
	int fd = store_blob_open(s, a);
	char buf[16] = { 0 };
	t_ok(fd >= 0 && read(fd, buf, sizeof(buf)) == 5 && memcmp(buf, "alpha", 5) == 0, "blob_open reads the content");
	if (fd >= 0)
		close(fd);
	t_is(store_blob_open(s, "sha256:nothex"), -EINVAL, "blob_open of a bad digest: EINVAL");
	t_is(store_blob_read(s, b, 64, &data, &len, &e), 0, "blob_read");
	t_ok(len == 11 && memcmp(data, "bravo-bravo", 11) == 0, "blob_read content");
	free(data);
	t_ok(store_blob_read(s, b, 4, &data, &len, &e) < 0, "blob_read over max fails");
	uint64_t size = 0;
	t_ok(store_blob_stat(s, b, &size) == 0 && size == 11, "blob_stat size");

	/* Corrupt b in place: reads notice, naming the blob. */
	fd = openat(t_dir("blobs/sha256"), b + 7, O_WRONLY | O_CLOEXEC);
	t_ok(fd >= 0 && pwrite(fd, "X", 1, 0) == 1, "corrupt a blob behind the store's back");
	if (fd >= 0)
		close(fd);
	t_ok(store_blob_read(s, b, 64, &data, &len, &e) == -EUCLEAN && strstr(e.msg, b) && strstr(e.msg, "corrupt"),
	     "corrupt blob is refused: %s", e.msg);

	char **all = NULL;
	t_is(store_blob_list(s, &all), 0, "blob_list");
	t_ok(has(all, a) && has(all, b), "blob_list has both");
	strv_free(all);
	t_is(store_blob_remove(s, b), 0, "blob_remove");
	t_is(store_blob_stat(s, b, NULL), -ENOENT, "removed blob is gone");
	t_is(store_blob_remove(s, b), -ENOENT, "removing again: ENOENT");
	t_is(store_blob_remove(s, "sha256:../x"), -EINVAL, "remove with a bad digest: EINVAL");
	/* Stray files in blobs/ are no blobs. */
	close(openat(t_dir("blobs/sha256"), "junk.tmp.1", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	t_is(store_blob_list(s, &all), 0, "blob_list with a stray file");
	t_ok(has(all, a) && !has(all, b) && strv_len(all) == 1, "only real blobs are listed");
	strv_free(all);
	unlinkat(t_dir("blobs/sha256"), "junk.tmp.1", 0);
	store_blob_remove(s, a);
}

/* A two-layer amd64 image, and an index naming it plus an arm64 manifest
 * the store does not have. */
struct t_image {
	char l1[OCI_DIGEST_LEN + 1], l2[OCI_DIGEST_LEN + 1], config[OCI_DIGEST_LEN + 1];
	char manifest[OCI_DIGEST_LEN + 1], index[OCI_DIGEST_LEN + 1];
};

#define ABSENT "sha256:9999999999999999999999999999999999999999999999999999999999999999"
#define DIFF1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define DIFF2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static void make_image(struct store *s, struct t_image *im)
{
	put(s, "layer one", im->l1);
	put(s, "layer two", im->l2);
	put(s, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DIFF1
	       "\",\"" DIFF2 "\"]}}", im->config);
	_cleanup_free_ char *m = xasprintf(
		"{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\",\"config\":{\"mediaType\":\"" OCI_MT_CONFIG
		"\",\"digest\":\"%s\",\"size\":1},\"layers\":[{\"mediaType\":\"" OCI_MT_LAYER_GZIP
		"\",\"digest\":\"%s\",\"size\":9},{\"mediaType\":\"" OCI_MT_LAYER_GZIP "\",\"digest\":\"%s\",\"size\":9}]}",
		im->config, im->l1, im->l2);
	put(s, m, im->manifest);
	_cleanup_free_ char *ix = xasprintf(
		"{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":["
		"{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"" ABSENT "\",\"size\":1,"
		"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
		"{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"%s\",\"size\":1,"
		"\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}", im->manifest);
	put(s, ix, im->index);
}

static void images(struct store *s, struct t_image *im)
{
	struct err e = { 0 };
	struct oci_platform amd64 = { "linux", "amd64", NULL }, s390x = { "linux", "s390x", NULL };
	struct store_image f = { 0 }, *v = NULL;
	size_t n = 0;

	make_image(s, im);
	t_is(store_image_register(s, "example.com/a:1", im->manifest, NULL, "example.com/a", &e), 0,
	     "register a manifest");
	t_is(store_image_register(s, "example.com/multi:1", im->index, &amd64, NULL, &e), 0,
	     "register an index for linux/amd64");
	t_is(store_image_find(s, "example.com/multi:1", &f, &e), 0, "find it by name");
	t_streq(f.digest, im->index, "the name resolves to the index");
	t_streq(f.manifest, im->manifest, "the amd64 manifest was chosen");
	t_streq(f.config, im->config, "config digest recorded");
	t_streq(f.platform, "linux/amd64", "platform recorded");
	store_image_free(&f);
	t_ok(store_image_register(s, "example.com/multi:2", im->index, &s390x, NULL, &e) == -ENOENT &&
	     strstr(e.msg, "linux/s390x"), "register for a platform the index lacks: %s", e.msg);
	t_ok(store_image_register(s, "example.com/x:1", ABSENT, NULL, NULL, &e) == -ENOENT,
	     "register of a missing blob fails");
	t_is(store_image_find(s, "example.com/a:1", &f, &e), 0, "manifest image found");
	t_streq(f.platform, "linux/amd64", "platform of a plain manifest comes from its config");
	t_streq(f.source, "example.com/a", "source recorded");
	store_image_free(&f);

	t_is(store_image_list(s, &v, &n, &e), 0, "image_list");
	t_is(n, 2, "two images listed");
	store_images_free(v, n);
	t_is(store_image_find(s, im->manifest, &f, &e), 0, "find by manifest digest");
	store_image_free(&f);
	t_is(store_image_find(s, "nosuch", &f, &e), -ENOENT, "find of an unknown name: ENOENT");
	/* Two names with the same image id: a prefix is not ambiguous. */
	t_is(store_image_find(s, im->config + 7, &f, &e), 0, "full image id finds one of its names");
	store_image_free(&f);

	char **cl = NULL;
	t_is(store_closure(s, im->index, &cl, &e), 0, "closure of the index");
	t_is(strv_len(cl), 5, "index, manifest, config and two layers");
	t_ok(has(cl, im->index) && has(cl, im->manifest) && has(cl, im->config) && has(cl, im->l1) &&
	     has(cl, im->l2) && !has(cl, ABSENT), "closure skips the platform never pulled");
	t_is(store_closure(s, im->manifest, &cl, &e), 0, "closure of the manifest into the same vector");
	t_is(strv_len(cl), 5, "closure appends without duplicates");
	strv_free(cl);
	cl = NULL;
	t_ok(store_closure(s, im->l1, &cl, &e) == -EINVAL && strstr(e.msg, "neither"), "closure of a layer: %s", e.msg);
	strv_free(cl);

	char chain[OCI_DIGEST_LEN + 1], want[OCI_DIGEST_LEN + 1];
	char *diffs[] = { DIFF1, DIFF2, NULL };
	oci_chain_id(diffs, 2, want);
	size_t nl = 0;
	t_is(store_image_chain_id(s, im->config, &nl, chain, &e), 0, "chain id of the config");
	t_streq(chain, want, "chain id matches oci_chain_id of its diff ids");
	t_is(nl, 2, "and it counts the diff ids");
	t_ok(store_image_chain_id(s, im->manifest, NULL, chain, &e) < 0, "a manifest is no config");
	_cleanup_free_ char *path = store_rootfs_path(s, chain);
	_cleanup_free_ char *want_path = xasprintf("%s/rootfs/%s.ext4", root, chain + 7);
	t_streq(path, want_path, "the disk of that chain id: rootfs/<hex>.ext4 under the root");
}

/* What a failed pull stored goes with it, unless an image reaches it or
 * another pull or load runs (it may have found the blob present). */
static void adding(struct store *s, struct t_image *im)
{
	struct err e = { 0 };
	struct store_add a, b;
	char j1[OCI_DIGEST_LEN + 1], j2[OCI_DIGEST_LEN + 1];

	put(s, "added by a failing pull", j1);
	put(s, "added by a working pull", j2);
	t_is(store_add_begin(s, &a, &e), 0, "a pull begins adding");
	t_is(store_add_begin(s, &b, &e), 0, "a second pull begins adding");
	store_add_blob(&a, j1);
	store_add_blob(&a, im->manifest);
	store_add_blob(&a, j1);
	t_is(store_add_end(&a, true), 0, "failed while another pull runs: nothing removed");
	t_ok(store_blob_stat(s, j1, NULL) == 0, "its blob is left to prune");
	store_add_blob(&b, j2);
	t_is(store_add_end(&b, false), 0, "a pull that worked removes nothing");
	t_ok(store_blob_stat(s, j2, NULL) == 0, "its blob stays");

	t_is(store_add_begin(s, &a, &e), 0, "a pull alone begins adding");
	store_add_blob(&a, j1);
	store_add_blob(&a, j2);
	store_add_blob(&a, im->manifest);
	t_is(store_add_end(&a, true), 2, "it fails: the two blobs it added go");
	t_ok(store_blob_stat(s, j1, NULL) == -ENOENT && store_blob_stat(s, j2, NULL) == -ENOENT, "both gone");
	t_ok(store_blob_stat(s, im->manifest, NULL) == 0, "a blob an image reaches stays");
	t_is(store_add_begin(s, &a, &e), 0, "adding again");
	t_is(store_add_end(&a, true), 0, "a failed pull that added nothing removes nothing");
}

static int touch(int dirfd, const char *name, const char *data)
{
	int fd = openat(dirfd, name, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int r = write(fd, data, strlen(data)) == (ssize_t)strlen(data) ? 0 : -1;
	close(fd);
	return r;
}

static void prune(struct store *s, struct t_image *im)
{
	struct err e = { 0 };
	struct store_prune_stats st;
	char junk[OCI_DIGEST_LEN + 1], chain[OCI_DIGEST_LEN + 1];
	struct store_ingest busy;

	put(s, "nobody needs me", junk);
	store_image_chain_id(s, im->config, NULL, chain, &e);
	_cleanup_free_ char *disk = xasprintf("%s.ext4", chain + 7);
	int rfd = t_dir("rootfs"), ifd = t_dir("ingest");
	t_ok(touch(rfd, disk, "disk") == 0 && touch(rfd, "0000.ext4", "old disk!") == 0, "two rootfs disks");
	t_ok(touch(ifd, "abandoned", "partial") == 0, "an abandoned ingest file");
	t_ok(touch(rfd, "0001.ext4.tmp-AbC123", "dead") == 0, "a disk build that died before its rename");
	_cleanup_free_ char *tmpname = xasprintf("%s.tmp.99999", junk + 7);
	t_ok(touch(t_dir("blobs/sha256"), tmpname, "half") == 0, "a blob write that died before its rename");
	t_is(store_ingest_begin(s, ABSENT, 100, &busy, &e), 0, "an ingest file being written (locked)");
	/* an image disk is sparse: 1 GiB apparent, a few blocks allocated */
	int dfd = openat(rfd, "0000.ext4", O_WRONLY | O_CLOEXEC);
	t_ok(dfd >= 0 && ftruncate(dfd, 1ll << 30) == 0, "the old disk is sparse (1 GiB apparent)");
	if (dfd >= 0)
		close(dfd);
	uint64_t want = 0;
	const struct { int fd; const char *name; } gone[] = {
		{ t_dir("blobs/sha256"), junk + 7 }, { t_dir("blobs/sha256"), tmpname },
		{ ifd, "abandoned" }, { rfd, "0000.ext4" }, { rfd, "0001.ext4.tmp-AbC123" },
	};
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		struct stat sb;
		if (fstatat(gone[i].fd, gone[i].name, &sb, 0) == 0)
			want += (uint64_t)sb.st_blocks * 512;
	}

	t_is(store_prune(s, &st, &e), 0, "prune");
	t_is(st.blobs, 1, "one unreferenced blob removed");
	t_is(store_blob_stat(s, junk, NULL), -ENOENT, "it is gone");
	t_ok(store_blob_stat(s, im->l1, NULL) == 0 && store_blob_stat(s, im->index, NULL) == 0,
	     "blobs of named images kept");
	t_is(st.ingest, 2, "the abandoned ingest file and the dead temp file removed");
	t_ok(faccessat(t_dir("blobs/sha256"), tmpname, F_OK, AT_SYMLINK_NOFOLLOW) < 0, "temp file gone");
	t_ok(faccessat(ifd, &ABSENT[7], F_OK, 0) == 0, "a locked ingest file is left alone");
	t_is(st.rootfs, 2, "one rootfs disk and one dead temp disk removed");
	t_ok(faccessat(rfd, disk, F_OK, 0) == 0 && faccessat(rfd, "0000.ext4", F_OK, 0) < 0,
	     "the disk of a named image stays, the other goes");
	t_ok(faccessat(rfd, "0001.ext4.tmp-AbC123", F_OK, 0) < 0, "the temp disk is gone");
	t_is((long long)st.bytes, (long long)want, "bytes freed: the allocated blocks of what went");
	t_ok(st.bytes < (1u << 20), "a sparse disk counts its blocks, not its apparent size");
	store_ingest_end(&busy, true);

	t_is(store_image_remove(s, "example.com/a:1", &e), 0, "remove one name");
	t_is(store_prune(s, &st, &e), 0, "prune again");
	t_is(st.blobs, 0, "the other name still holds every blob");
	t_is(store_image_remove(s, "example.com/multi:1", &e), 0, "remove the last name");
	t_is(store_prune(s, &st, &e), 0, "prune after the last name");
	t_is(st.blobs, 5, "all five blobs of the image removed");
	t_is(st.rootfs, 1, "and its disk");
	char **all = NULL;
	store_blob_list(s, &all);
	t_is(strv_len(all), 0, "store is empty");
	strv_free(all);
}

int main(void)
{
	struct store *s;
	struct err e = { 0 };
	struct t_image im;

	if (!mkdtemp(root))
		t_skip_all("mkdtemp failed");
	if (store_open(&s, root, &e) < 0)
		t_skip_all(e.msg);
	locks(s);
	blobs(s);
	images(s, &im);
	adding(s, &im);
	prune(s, &im);
	store_close(s);
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", root);
	if (system(cmd) != 0)
		t_diag("cleanup of %s failed", root);
	return t_done();
}
