/* images/index.json: the name -> digest table. Every change is a
 * read-modify-write under images/lock (flock, held for milliseconds) ending
 * in an atomic replace, so concurrent ucrt processes never lose an update
 * and readers never see a half-written file. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "json.h"
#include "str.h"
#include "store-internal.h"
#include "util.h"

#define INDEX_MAX (64u << 20)

void store_image_free(struct store_image *img)
{
	free(img->name);
	free(img->digest);
	free(img->manifest);
	free(img->config);
	free(img->platform);
	free(img->source);
	memset(img, 0, sizeof(*img));
}

void store_images_free(struct store_image *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_image_free(&v[i]);
	free(v);
}

static void image_copy(struct store_image *dst, const struct store_image *src)
{
	dst->name = xstrdup(src->name);
	dst->digest = src->digest ? xstrdup(src->digest) : NULL;
	dst->manifest = src->manifest ? xstrdup(src->manifest) : NULL;
	dst->config = src->config ? xstrdup(src->config) : NULL;
	dst->platform = src->platform ? xstrdup(src->platform) : NULL;
	dst->source = src->source ? xstrdup(src->source) : NULL;
	dst->created = src->created;
}

/* The string value of key, or NULL (json_str checks the type). */
static char *get_str(const struct json_doc *d, int obj, const char *key)
{
	return json_str(d, json_get(d, obj, key));
}

static int index_parse(const char *data, size_t len, struct store_image **out, size_t *n, struct err *err)
{
	struct json_doc d;
	*out = NULL;
	*n = 0;
	if (len == 0)
		return 0;
	if (json_parse(&d, data, len, 1 << 22) < 0)
		return err_set(err, EUCLEAN, "images/index.json is corrupt");
	int arr = json_get(&d, 0, "images");
	int cnt = json_array_len(&d, arr);
	struct store_image *v = xcalloc((size_t)(cnt > 0 ? cnt : 0) + 1, sizeof(*v));
	size_t k = 0;
	for (int i = 0; i < cnt; i++) {
		int o = json_array_at(&d, arr, i);
		struct store_image *img = &v[k];
		img->name = get_str(&d, o, "name");
		img->digest = get_str(&d, o, "digest");
		img->manifest = get_str(&d, o, "manifest");
		img->config = get_str(&d, o, "config");
		img->platform = get_str(&d, o, "platform");
		img->source = get_str(&d, o, "source");
		json_int(&d, json_get(&d, o, "created"), &img->created);
		/* Entries whose digests are not valid are dropped, never used
		 * as file names. */
		if (!img->name || !oci_digest_valid(img->digest) || !oci_digest_valid(img->manifest) ||
		    (img->config && !oci_digest_valid(img->config))) {
			store_image_free(img);
			continue;
		}
		k++;
	}
	json_free(&d);
	*out = v;
	*n = k;
	return 0;
}

static int index_read(struct store *s, struct store_image **out, size_t *n, struct err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r = read_file_at(s->fds[STORE_IMAGES], "index.json", INDEX_MAX, &data, &len);
	if (r == -ENOENT) {
		*out = xcalloc(1, sizeof(**out));
		*n = 0;
		return 0;
	}
	if (r < 0)
		return err_setx(err, r, "reading images/index.json");
	return index_parse(data, len, out, n, err);
}

static void jw_opt(struct json_writer *w, const char *k, const char *v)
{
	if (!v)
		return;
	jw_key(w, k);
	jw_str(w, v);
}

static int index_write(struct store *s, const struct store_image *v, size_t n, struct err *err)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	struct json_writer w;
	jw_init(&w, &b, true);
	jw_obj_begin(&w);
	jw_key(&w, "images");
	jw_arr_begin(&w);
	for (size_t i = 0; i < n; i++) {
		jw_obj_begin(&w);
		jw_opt(&w, "name", v[i].name);
		jw_opt(&w, "digest", v[i].digest);
		jw_opt(&w, "manifest", v[i].manifest);
		jw_opt(&w, "config", v[i].config);
		jw_opt(&w, "platform", v[i].platform);
		jw_opt(&w, "source", v[i].source);
		jw_key(&w, "created");
		jw_int(&w, v[i].created);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	buf_putc(&b, '\n');
	int r = write_file_atomic_at(s->fds[STORE_IMAGES], "index.json", b.data, b.len, 0644);
	if (r < 0)
		return err_setx(err, r, "writing images/index.json");
	return 0;
}

int store_image_list(struct store *s, struct store_image **out, size_t *n, struct err *err)
{
	/* Readers need no lock: the file is only ever replaced whole. */
	return index_read(s, out, n, err);
}

/* One name may hold one image per platform (pull --platform): they are
 * distinct entries. */
static bool same_platform(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Read-modify-write under images/lock. op: set (img) or remove (name). */
static int index_update(struct store *s, const struct store_image *img, const char *remove, struct err *err)
{
	_cleanup_close_ int lk = store_flock_file(s->fds[STORE_IMAGES], "lock", LOCK_EX, err);
	if (lk < 0)
		return lk;
	struct store_image *v;
	size_t n;
	int r = index_read(s, &v, &n, err);
	if (r < 0)
		return r;
	const char *name = img ? img->name : remove;
	size_t i;
	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0 && (remove || same_platform(v[i].platform, img->platform)))
			break;
	if (remove) {
		if (i == n) {
			store_images_free(v, n);
			return err_set(err, ENOENT, "no image named %s", remove);
		}
		/* A name goes with every platform pulled under it. */
		size_t k = 0;
		for (i = 0; i < n; i++) {
			if (strcmp(v[i].name, remove) == 0)
				store_image_free(&v[i]);
			else
				v[k++] = v[i];
		}
		n = k;
	} else {
		if (i == n) {
			v = xrealloc(v, (n + 1) * sizeof(*v));
			n++;
		} else {
			store_image_free(&v[i]);
		}
		image_copy(&v[i], img);
		if (!v[i].created)
			v[i].created = (int64_t)time(NULL);
	}
	r = index_write(s, v, n, err);
	store_images_free(v, n);
	return r;
}

int store_image_set(struct store *s, const struct store_image *img, struct err *err)
{
	if (!img->name || !oci_digest_valid(img->digest) || !oci_digest_valid(img->manifest))
		return err_set(err, EINVAL, "image record for %s lacks valid digests", img->name ? img->name : "?");
	return index_update(s, img, NULL, err);
}

int store_image_remove(struct store *s, const char *name, struct err *err)
{
	return index_update(s, NULL, name, err);
}

static bool image_matches_digest(const struct store_image *img, const char *what)
{
	return strcmp(img->digest, what) == 0 || strcmp(img->manifest, what) == 0 ||
	       (img->config && strcmp(img->config, what) == 0);
}

static bool image_platform_is(const struct store_image *img, const struct oci_platform *want)
{
	struct oci_platform have;
	if (!img->platform || oci_platform_parse(img->platform, &have, NULL) < 0)
		return false;
	bool m = oci_platform_match(want, &have);
	oci_platform_free(&have);
	return m;
}

int store_image_find(struct store *s, const char *what, struct store_image *out, struct err *err)
{
	return store_image_find_platform(s, what, NULL, out, err);
}

int store_image_find_platform(struct store *s, const char *what, const struct oci_platform *want,
			      struct store_image *out, struct err *err)
{
	struct store_image *v;
	size_t n;
	int r = index_read(s, &v, &n, err);
	if (r < 0)
		return r;
	struct oci_platform host = { 0 };
	if (!want) {
		oci_platform_host(&host);
	}
	ssize_t hit = -1, other = -1;
	_cleanup_free_ char *others = NULL;
	for (size_t i = 0; i < n && hit < 0; i++) {
		if (strcmp(v[i].name, what) != 0 && !image_matches_digest(&v[i], what))
			continue;
		if (image_platform_is(&v[i], want ? want : &host)) {
			hit = (ssize_t)i;
			continue;
		}
		if (other < 0)
			other = (ssize_t)i;
		char *o = xasprintf("%s%s%s", others ? others : "", others ? ", " : "",
				    v[i].platform ? v[i].platform : "unknown");
		free(others);
		others = o;
	}
	oci_platform_free(&host);
	/* Without --platform, a name holding only other platforms' images
	 * still runs (docker does the same, emulated). */
	if (hit < 0 && !want)
		hit = other;
	if (hit < 0 && other >= 0) {
		store_images_free(v, n);
		_cleanup_free_ char *ws = oci_platform_string(want);
		return err_set(err, ENOENT, "%s: no image for platform %s in the store (it has: %s)", what, ws,
			       others);
	}
	size_t wl = strlen(what);
	if (hit < 0 && wl >= 4 && wl <= 64 && str_is_hex(what, wl)) {
		for (size_t i = 0; i < n; i++) {
			if (!v[i].config || strncmp(v[i].config + 7, what, wl) != 0)
				continue;
			if (hit >= 0 && strcmp(v[hit].config, v[i].config) != 0) {
				store_images_free(v, n);
				return err_set(err, EINVAL, "image id prefix %s is ambiguous", what);
			}
			if (hit < 0)
				hit = (ssize_t)i;
		}
	}
	if (hit < 0) {
		store_images_free(v, n);
		return err_set(err, ENOENT, "no such image: %s", what);
	}
	image_copy(out, &v[hit]);
	store_images_free(v, n);
	return 0;
}

static int manifest_config(struct store *s, const char *digest, char **config, struct err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = store_blob_read(s, digest, OCI_MAX_MANIFEST, &data, &len, err);
	if (r < 0)
		return r;
	struct oci_manifest m;
	r = oci_manifest_parse(data, len, NULL, &m, err);
	if (r < 0)
		return err_wrap(err, "manifest %s", digest);
	*config = TAKE_PTR(m.config.digest);
	oci_manifest_free(&m);
	return 0;
}

int store_image_register(struct store *s, const char *name, const char *digest, const struct oci_platform *want,
			 const char *source, struct err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = store_blob_read(s, digest, OCI_MAX_MANIFEST, &data, &len, err);
	if (r < 0)
		return r;
	struct store_image img = { .name = xstrdup(name), .digest = xstrdup(digest),
				   .source = source ? xstrdup(source) : NULL };
	struct oci_platform host = { 0 };
	if (!want) {
		oci_platform_host(&host);
		want = &host;
	}
	if (oci_doc_kind(data, len, NULL) == OCI_KIND_INDEX) {
		struct oci_index ix;
		r = oci_index_parse(data, len, NULL, &ix, err);
		if (r >= 0) {
			r = oci_index_select(&ix, want, err);
			if (r >= 0) {
				img.manifest = xstrdup(ix.manifests[r].digest);
				img.platform = oci_platform_string(&ix.manifests[r].platform);
			}
			oci_index_free(&ix);
		}
	} else {
		img.manifest = xstrdup(digest);
	}
	if (r >= 0)
		r = manifest_config(s, img.manifest, &img.config, err);
	if (r >= 0 && !img.platform) {
		_cleanup_free_ char *cd = NULL;
		size_t cl;
		struct oci_image_config c;
		if (store_blob_read(s, img.config, OCI_MAX_CONFIG, &cd, &cl, NULL) == 0 &&
		    oci_config_parse(cd, cl, &c, NULL) == 0) {
			struct oci_platform p = { c.os, c.arch, c.variant };
			img.platform = oci_platform_string(&p);
			oci_config_free(&c);
		}
	}
	if (r >= 0)
		r = store_image_set(s, &img, err);
	store_image_free(&img);
	oci_platform_free(&host);
	return r;
}
