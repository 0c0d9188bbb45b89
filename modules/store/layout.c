/* OCI image-layout tarballs (the format of skopeo's oci-archive: and of
 * `umoci unpack` after extraction): oci-layout, index.json and
 * blobs/sha256/<hex>. Used by `ucrt image save|load`, which run without
 * the reactor, so plain blocking I/O is fine here. */
#include "store.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "json.h"
#include "sha256.h"
#include "str.h"
#include "store-internal.h"
#include "util.h"

#define LAYOUT_CHUNK (1u << 20)

static int ar_fail(struct archive *a, struct err *err, const char *what)
{
	return err_set(err, EIO, "%s: %s", what, archive_error_string(a) ? archive_error_string(a) : "archive error");
}

static int put_entry(struct archive *a, const char *path, const void *data, size_t len, int fd, struct err *err)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, data || fd >= 0 ? AE_IFREG : AE_IFDIR);
	archive_entry_set_perm(e, data || fd >= 0 ? 0644 : 0755);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, 0, 0);
	int r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return ar_fail(a, err, path);
	if (data && len && archive_write_data(a, data, len) != (la_ssize_t)len)
		return ar_fail(a, err, path);
	if (fd < 0)
		return 0;
	_cleanup_free_ char *buf = xmalloc(LAYOUT_CHUNK);
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, buf, MIN((size_t)LAYOUT_CHUNK, len - done));
		if (n <= 0)
			return err_setx(err, n < 0 ? errno : EIO, "reading %s", path);
		if (archive_write_data(a, buf, (size_t)n) != n)
			return ar_fail(a, err, path);
		done += (size_t)n;
	}
	return 0;
}

/* The part of "repo:tag" after the tag colon, or NULL. */
static const char *name_tag(const char *name)
{
	const char *c = strrchr(name, ':'), *sl = strrchr(name, '/');
	return c && (!sl || c > sl) ? c + 1 : NULL;
}

static void index_entry(struct json_writer *w, struct store *s, const struct store_image *img)
{
	uint64_t size = 0;
	store_blob_stat(s, img->manifest, &size);
	_cleanup_free_ char *data = NULL;
	size_t len;
	const char *mt = OCI_MT_MANIFEST;
	_cleanup_free_ char *doc_mt = NULL;
	struct oci_manifest m;
	if (store_blob_read(s, img->manifest, OCI_MAX_MANIFEST, &data, &len, NULL) == 0 &&
	    oci_manifest_parse(data, len, NULL, &m, NULL) == 0) {
		doc_mt = m.media_type ? xstrdup(m.media_type) : NULL;
		oci_manifest_free(&m);
	}
	jw_obj_begin(w);
	jw_key(w, "mediaType");
	jw_str(w, doc_mt ? doc_mt : mt);
	jw_key(w, "digest");
	jw_str(w, img->manifest);
	jw_key(w, "size");
	jw_uint(w, size);
	jw_key(w, "annotations");
	jw_obj_begin(w);
	jw_key(w, "io.containerd.image.name");
	jw_str(w, img->name);
	if (name_tag(img->name)) {
		jw_key(w, "org.opencontainers.image.ref.name");
		jw_str(w, name_tag(img->name));
	}
	jw_obj_end(w);
	jw_obj_end(w);
}

static int save_blobs(struct store *s, struct archive *a, char **blobs, struct err *err)
{
	int r = put_entry(a, "blobs/", NULL, 0, -1, err);
	if (r >= 0)
		r = put_entry(a, "blobs/sha256/", NULL, 0, -1, err);
	for (char **b = blobs; r >= 0 && b && *b; b++) {
		uint64_t size;
		r = store_blob_stat(s, *b, &size);
		if (r < 0)
			return err_setx(err, r, "blob %s is missing from the store", *b);
		_cleanup_close_ int fd = store_blob_open(s, *b);
		if (fd < 0)
			return err_setx(err, fd, "opening blob %s", *b);
		_cleanup_free_ char *path = xasprintf("blobs/sha256/%s", *b + 7);
		r = put_entry(a, path, NULL, size, fd, err);
	}
	return r;
}

int store_save(struct store *s, const struct store_image *imgs, size_t n, int fd, struct err *err)
{
	_cleanup_strv_ char **blobs = NULL;
	int r = 0;
	/* Only each image's platform manifest: an index whose other
	 * platforms were never pulled would name blobs we do not have. */
	for (size_t i = 0; i < n && r >= 0; i++)
		r = store_closure(s, imgs[i].manifest, &blobs, err);
	if (r < 0)
		return r;
	_cleanup_buf_ struct buf ix = BUF_INIT;
	struct json_writer w;
	jw_init(&w, &ix, false);
	jw_obj_begin(&w);
	jw_key(&w, "schemaVersion");
	jw_int(&w, 2);
	jw_key(&w, "mediaType");
	jw_str(&w, OCI_MT_INDEX);
	jw_key(&w, "manifests");
	jw_arr_begin(&w);
	for (size_t i = 0; i < n; i++)
		index_entry(&w, s, &imgs[i]);
	jw_arr_end(&w);
	jw_obj_end(&w);

	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		r = ar_fail(a, err, "save");
		archive_write_free(a);
		return r;
	}
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	r = put_entry(a, "oci-layout", layout, sizeof(layout) - 1, -1, err);
	if (r >= 0)
		r = put_entry(a, "index.json", ix.data, ix.len, -1, err);
	if (r >= 0)
		r = save_blobs(s, a, blobs, err);
	if (archive_write_close(a) != ARCHIVE_OK && r >= 0)
		r = ar_fail(a, err, "save");
	archive_write_free(a);
	return r;
}

/* Stream one blob entry into ingest/, verifying it as it goes. */
static int load_blob(struct store *s, struct archive *a, const char *hex, uint64_t size, struct err *err)
{
	char digest[OCI_DIGEST_LEN + 8];
	snprintf(digest, sizeof(digest), "sha256:%s", hex);
	if (!oci_digest_valid(digest))
		return err_set(err, EINVAL, "archive entry blobs/sha256/%s is not a sha256 digest", hex);
	struct store_ingest in;
	int r = store_ingest_begin(s, digest, size, &in, err);
	if (r != 0)
		return r < 0 ? r : 0;
	struct sha256 h;
	sha256_init(&h);
	if (ftruncate(in.fd, 0) < 0 || lseek(in.fd, 0, SEEK_SET) < 0) {
		sha256_abort(&h);
		store_ingest_end(&in, true);
		return err_setx(err, errno, "%s", digest);
	}
	uint64_t got = 0;
	_cleanup_free_ char *buf = xmalloc(LAYOUT_CHUNK);
	la_ssize_t n;
	while ((n = archive_read_data(a, buf, LAYOUT_CHUNK)) > 0) {
		sha256_update(&h, buf, (size_t)n);
		r = write_all(in.fd, buf, (size_t)n);
		if (r < 0)
			break;
		got += (uint64_t)n;
	}
	char hexd[OCI_DIGEST_LEN + 1] = "sha256:";
	sha256_final_hex(&h, hexd + 7);
	if (n < 0 || r < 0) {
		store_ingest_end(&in, true);
		return n < 0 ? ar_fail(a, err, digest) : err_setx(err, r, "writing %s", digest);
	}
	return store_ingest_commit(&in, hexd, got, size, false, err);
}

/* Image name for an index.json entry. */
static char *entry_name(const struct oci_descriptor *d, const char *ctr_name, const char *default_name)
{
	const char *n = ctr_name ? ctr_name : d->ref_name;
	struct oci_ref ref;
	if (n && (strchr(n, '/') || strchr(n, '.')) && oci_ref_parse(n, &ref, NULL) == 0) {
		char *s = oci_ref_string(&ref);
		oci_ref_free(&ref);
		return s;
	}
	if (!default_name)
		return NULL;
	if (oci_ref_parse(default_name, &ref, NULL) < 0)
		return NULL;
	if (n && oci_tag_valid(n)) {
		free(ref.tag);
		ref.tag = xstrdup(n);
	}
	char *s = oci_ref_string(&ref);
	oci_ref_free(&ref);
	return s;
}

/* The io.containerd.image.name annotation of entry i (struct
 * oci_descriptor keeps only the OCI ref name), or NULL. */
static char *containerd_name(const struct json_doc *d, int i)
{
	int e = json_array_at(d, json_get(d, 0, "manifests"), i);
	return json_str(d, json_get(d, json_get(d, e, "annotations"), "io.containerd.image.name"));
}

static int load_index(struct store *s, const char *data, size_t len, const char *default_name, char ***names,
		      struct err *err)
{
	struct oci_index ix;
	int r = oci_index_parse(data, len, NULL, &ix, err);
	if (r < 0)
		return err_wrap(err, "index.json");
	/* Parsed once more (not per entry) for the annotation oci_index_parse
	 * drops; should that fail, d is empty and every lookup misses. */
	struct json_doc d;
	(void)json_parse(&d, data, len, 1 << 20);
	int count = 0;
	for (size_t i = 0; i < ix.n && r >= 0; i++) {
		_cleanup_free_ char *cn = containerd_name(&d, (int)i);
		_cleanup_free_ char *name = entry_name(&ix.manifests[i], cn, default_name);
		if (!name) {
			r = err_set(err, EINVAL, "index.json entry %s has no image name; give one with --name",
				    ix.manifests[i].digest);
			break;
		}
		r = store_image_register(s, name, ix.manifests[i].digest, NULL, NULL, err);
		if (r >= 0) {
			strv_push(names, name);
			count++;
		}
	}
	json_free(&d);
	oci_index_free(&ix);
	return r < 0 ? r : count;
}

static int load(struct store *s, int fd, const char *default_name, char ***names, struct err *err)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	int r = 0;
	if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) {
		r = ar_fail(a, err, "load");
		archive_read_free(a);
		return r;
	}
	_cleanup_free_ char *index = NULL;
	size_t index_len = 0;
	bool have_layout = false;
	struct archive_entry *e;
	while (r >= 0 && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *p = archive_entry_pathname(e);
		while (str_startswith(p, "./"))
			p += 2;
		la_int64_t size = archive_entry_size(e);
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		if (strcmp(p, "oci-layout") == 0) {
			have_layout = true;
		} else if (strcmp(p, "index.json") == 0 && size >= 0 && size <= (la_int64_t)OCI_MAX_MANIFEST) {
			free(index);
			index = xmalloc((size_t)size + 1);
			la_ssize_t n = archive_read_data(a, index, (size_t)size);
			if (n != size)
				r = ar_fail(a, err, "index.json");
			index_len = (size_t)size;
		} else if (str_startswith(p, "blobs/sha256/") && size >= 0) {
			r = load_blob(s, a, p + strlen("blobs/sha256/"), (uint64_t)size, err);
		}
	}
	if (r == ARCHIVE_EOF)
		r = 0;
	else if (r < 0 && !err->code)
		r = ar_fail(a, err, "load");
	archive_read_free(a);
	if (r < 0)
		return r;
	if (!have_layout || !index)
		return err_set(err, EINVAL, "not an OCI image layout archive (no oci-layout or index.json)");
	return load_index(s, index, index_len, default_name, names, err);
}

int store_load(struct store *s, int fd, const char *default_name, char ***names, struct err *err)
{
	/* The blobs it finds present may be a failing pull's: hold them. */
	struct store_add add;
	int r = store_add_begin(s, &add, err);
	if (r < 0)
		return r;
	r = load(s, fd, default_name, names, err);
	store_add_end(&add, false);
	return r;
}
