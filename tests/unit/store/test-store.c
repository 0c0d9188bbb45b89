/* Blob put/read, ingest commit with digest and size checks, image index. */
#include "tests/lib/tap.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "sha256.h"
#include "oci/oci.h"
#include "store/store.h"
#include "util.h"

int main(void)
{
	char root[] = "/tmp/ucrt-store-XXXXXX";
	if (!mkdtemp(root))
		t_skip_all("mkdtemp failed");
	struct store *s;
	struct err e = { 0 };
	t_is(store_open(&s, root, &e), 0, "store_open creates the layout");
	char d[OCI_DIGEST_LEN + 1];
	t_is(store_blob_put(s, "hello", 5, NULL, d, &e), 1, "put blob: 1, it was written");
	t_ok(store_blob_stat(s, d, NULL) == 0, "blob present");
	t_is(store_blob_put(s, "hello", 5, d, NULL, &e), 0, "put it again: 0, it was there");
	t_ok(store_blob_put(s, "hello", 5, "sha256:0000000000000000000000000000000000000000000000000000000000000000", NULL, &e) < 0,
	     "put with a wrong expected digest fails");
	t_is(store_blob_stat(s, "sha256:../../etc", NULL), -EINVAL, "bad digest is never a path");

	char want[OCI_DIGEST_LEN + 1] = "sha256:";
	sha256_hex("world", 5, want + 7);
	struct store_ingest in;
	t_is(store_ingest_begin(s, want, 5, &in, &e), 0, "ingest begins");
	t_ok(write(in.fd, "wor", 3) == 3, "partial write");
	store_ingest_end(&in, false);
	t_is(store_ingest_begin(s, want, 5, &in, &e), 0, "ingest resumes");
	t_is((long long)in.have, 3, "resume point is the partial size");
	t_ok(pwrite(in.fd, "XX", 2, 3) == 2, "write wrong tail");
	char got[OCI_DIGEST_LEN + 1] = "sha256:";
	sha256_hex("worXX", 5, got + 7);
	t_ok(store_ingest_commit(&in, got, 5, 5, false, &e) == -EUCLEAN && strstr(e.msg, want), "mismatch names the digest");
	t_ok(store_blob_stat(s, want, NULL) == -ENOENT, "nothing committed on mismatch");
	t_is(store_ingest_begin(s, want, 5, &in, &e), 0, "ingest restarts");
	t_is((long long)in.have, 0, "bad partial was discarded");
	t_ok(write(in.fd, "world", 5) == 5, "write all");
	t_is(store_ingest_commit(&in, want, 5, 5, false, &e), 0, "commit");
	t_is(store_ingest_begin(s, want, 5, &in, &e), 1, "committed blob is not ingested again");

	struct store_image img = { .name = "docker.io/library/x:1", .digest = d, .manifest = d, .config = want };
	t_is(store_image_set(s, &img, &e), 0, "name an image");
	struct store_image f = { 0 };
	t_is(store_image_find(s, want + 7, &f, &e), 0, "find by id prefix");
	t_streq(f.name, "docker.io/library/x:1", "found the right one");
	store_image_free(&f);
	t_is(store_image_remove(s, "docker.io/library/x:1", &e), 0, "remove");
	t_is(store_image_remove(s, "docker.io/library/x:1", &e), -ENOENT, "remove again: ENOENT");

	/* One name, two platforms: two entries, picked by platform. */
	char d2[OCI_DIGEST_LEN + 1], c2[OCI_DIGEST_LEN + 1];
	t_ok(store_blob_put(s, "arm", 3, NULL, d2, &e) >= 0 && store_blob_put(s, "armc", 4, NULL, c2, &e) >= 0,
	     "blobs of a second platform");
	struct store_image amd = { .name = "r/x:1", .digest = d, .manifest = d, .config = want,
				   .platform = "linux/amd64" };
	struct store_image arm = { .name = "r/x:1", .digest = d2, .manifest = d2, .config = c2,
				   .platform = "linux/arm64/v8" };
	t_is(store_image_set(s, &amd, &e), 0, "name the amd64 image");
	t_is(store_image_set(s, &arm, &e), 0, "the arm64 image under the same name");
	struct store_image *v;
	size_t nv;
	t_is(store_image_list(s, &v, &nv, &e), 0, "list");
	t_is(nv, 2, "both platforms are kept");
	store_images_free(v, nv);
	struct oci_platform parm = { "linux", "arm64", NULL }, pamd = { "linux", "amd64", NULL },
			    ps390 = { "linux", "s390x", NULL };
	t_is(store_image_find_platform(s, "r/x:1", &parm, &f, &e), 0, "find linux/arm64");
	t_streq(f.config, c2, "... the arm64 one (v8 implied)");
	store_image_free(&f);
	t_is(store_image_find_platform(s, "r/x:1", &pamd, &f, &e), 0, "find linux/amd64");
	t_streq(f.config, want, "... the amd64 one");
	store_image_free(&f);
	t_ok(store_image_find_platform(s, "r/x:1", &ps390, &f, &e) == -ENOENT &&
	     strstr(e.msg, "linux/s390x") && strstr(e.msg, "linux/amd64") && strstr(e.msg, "linux/arm64/v8"),
	     "a platform not stored: ENOENT naming those that are: %s", e.msg);
	t_is(store_image_set(s, &arm, &e), 0, "the arm64 image again");
	t_is(store_image_list(s, &v, &nv, &e), 0, "list");
	t_is(nv, 2, "replaced, not added");
	store_images_free(v, nv);
	t_is(store_image_remove(s, "r/x:1", &e), 0, "remove the name");
	t_is(store_image_find(s, "r/x:1", &f, &e), -ENOENT, "every platform went with it");
	/* Without a platform, another one's image is still found (emulated). */
	t_is(store_image_set(s, &arm, &e), 0, "only arm64 stored");
	t_is(store_image_find(s, "r/x:1", &f, &e), 0, "found without --platform");
	t_streq(f.platform, "linux/arm64/v8", "... the arm64 one");
	store_image_free(&f);
	store_close(s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		t_diag("cleanup failed");
	return t_done();
}
