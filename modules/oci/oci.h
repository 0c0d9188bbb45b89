/* OCI and Docker image formats: references, media types, manifests,
 * indexes, image configs, platforms and chain ids. Pure parsing: no I/O,
 * no store, no network. Every parser takes untrusted bytes (a registry's or
 * a tarball's) and either returns a complete structure or an error that
 * says what was wrong. */
#ifndef UCRT_OCI_H
#define UCRT_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

#define OCI_DIGEST_LEN (7 + 64)	/* "sha256:" + hex */
#define OCI_MAX_MANIFEST (4u << 20)	/* manifests, indexes and configs we accept */
#define OCI_MAX_CONFIG (16u << 20)
#define OCI_MAX_LAYERS 1024	/* layers of a manifest, entries of an index */

/* ---- references ---------------------------------------------------------
 * Docker normalisation: "alpine" is docker.io/library/alpine:latest,
 * "me/app" docker.io/me/app, "host:5000/app" keeps its host because the
 * first component holds a '.' or ':' or is "localhost". */
struct oci_ref {
	char *domain;	/* "docker.io", "127.0.0.1:5000" */
	char *path;	/* "library/alpine" */
	char *tag;	/* "latest"; NULL when only a digest was given */
	char *digest;	/* "sha256:<hex>" or NULL */
};

int oci_ref_parse(const char *s, struct oci_ref *out, struct err *err);
void oci_ref_free(struct oci_ref *r);
/* "domain/path" (malloc'ed). */
char *oci_ref_name(const struct oci_ref *r);
/* Full form "domain/path:tag" / "domain/path@digest" / both (malloc'ed). */
char *oci_ref_string(const struct oci_ref *r);
/* Host part of a domain is localhost, ::1 or in 127.0.0.0/8: plain HTTP
 * may be used there without --tls-verify=false. */
bool oci_domain_is_loopback(const char *domain);
/* The registry host to talk to for a domain (docker.io -> registry-1.docker.io). */
const char *oci_domain_endpoint(const char *domain);
bool oci_tag_valid(const char *tag);
/* "sha256:" followed by 64 lower-case hex digits; the only algorithm we
 * accept, so a valid digest is also a safe file name. */
bool oci_digest_valid(const char *digest);

/* ---- media types ---------------------------------------------------------*/
#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define DOCKER_MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_CONFIG "application/vnd.docker.container.image.v1+json"
#define DOCKER_MT_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define DOCKER_MT_LAYER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
/* Accept header for manifest GETs: every kind we can parse. */
#define OCI_ACCEPT_MANIFESTS OCI_MT_INDEX ", " DOCKER_MT_LIST ", " OCI_MT_MANIFEST ", " DOCKER_MT_MANIFEST

enum oci_kind { OCI_KIND_UNKNOWN, OCI_KIND_MANIFEST, OCI_KIND_INDEX };
enum oci_compression { OCI_COMP_UNKNOWN, OCI_COMP_NONE, OCI_COMP_GZIP, OCI_COMP_ZSTD };

enum oci_kind oci_media_kind(const char *media_type);
/* Layer compression from its media type; OCI_COMP_UNKNOWN for non-layers. */
enum oci_compression oci_layer_compression(const char *media_type);

/* ---- platforms -----------------------------------------------------------*/
struct oci_platform {
	char *os, *arch, *variant;	/* variant may be NULL */
};
/* "os/arch[/variant]"; arch aliases (x86_64, aarch64) are normalised. */
int oci_platform_parse(const char *s, struct oci_platform *out, struct err *err);
/* The machine we run on (uname), e.g. linux/amd64 or linux/arm64/v8. */
void oci_platform_host(struct oci_platform *out);
void oci_platform_free(struct oci_platform *p);
char *oci_platform_string(const struct oci_platform *p);
/* Does have satisfy want? Same os and arch; want's variant, when given,
 * must be have's (arm64's v8 and no variant are the same thing). */
bool oci_platform_match(const struct oci_platform *want, const struct oci_platform *have);

/* ---- manifests and indexes ---------------------------------------------*/
struct oci_descriptor {
	char *media_type;
	char *digest;
	int64_t size;
	struct oci_platform platform;	/* index entries only; os NULL when absent */
	char *ref_name;	/* annotation org.opencontainers.image.ref.name, if any */
};

struct oci_manifest {
	char *media_type;	/* from the document, or the Content-Type hint */
	struct oci_descriptor config;
	struct oci_descriptor *layers;
	size_t nlayers;
};

struct oci_index {
	char *media_type;
	struct oci_descriptor *manifests;
	size_t n;
};

/* What a document is: by its mediaType field, else the Content-Type hint,
 * else by shape (a "manifests" array is an index). */
enum oci_kind oci_doc_kind(const char *data, size_t len, const char *content_type);
int oci_manifest_parse(const char *data, size_t len, const char *content_type,
		       struct oci_manifest *out, struct err *err);
void oci_manifest_free(struct oci_manifest *m);
int oci_index_parse(const char *data, size_t len, const char *content_type,
		    struct oci_index *out, struct err *err);
void oci_index_free(struct oci_index *ix);
void oci_descriptor_free(struct oci_descriptor *d);
/* Pick the index entry for want (os/arch, variant if given; arm64 without
 * variant matches v8). Returns its position or -ENOENT with err listing the
 * platforms the index offers. */
int oci_index_select(const struct oci_index *ix, const struct oci_platform *want, struct err *err);

/* ---- image config ---------------------------------------------------------*/
/* config.Healthcheck (docker's image extension). */
struct oci_healthcheck {
	char **test;		/* ["CMD-SHELL", cmd], ["CMD", arg...], ["NONE"]; NULL: not set */
	int64_t interval_ns, timeout_ns, start_period_ns;	/* 0: the default */
	int64_t retries;	/* 0: the default */
};

struct oci_image_config {
	char *os, *arch, *variant;
	char *created;
	char *user, *working_dir, *stop_signal;
	char **entrypoint, **cmd, **env;
	char **exposed_ports;	/* "80/tcp" */
	char **volumes;		/* Volumes: container paths ("/data") */
	char **labels;		/* "key=value" */
	char **diff_ids;	/* rootfs.diff_ids, "sha256:..." each */
	size_t ndiff_ids;
	struct oci_healthcheck healthcheck;
};
int oci_config_parse(const char *data, size_t len, struct oci_image_config *out, struct err *err);
void oci_config_free(struct oci_image_config *c);

/* ChainID of diff_ids (OCI image spec): chain[0] = diff[0],
 * chain[i] = sha256(chain[i-1] + " " + diff[i]). out gets "sha256:<hex>". */
int oci_chain_id(char *const *diff_ids, size_t n, char out[OCI_DIGEST_LEN + 1]);

#endif
