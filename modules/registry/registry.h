/* Registry v2 client on the reactor: libcurl's multi *socket* interface
 * with curl's sockets watched by loop_poll ops and its timer by a
 * loop_timer; one multi handle per client, so connections (HTTP/1.1
 * keep-alive and HTTP/2 streams) are shared by all transfers.
 *
 * The blocking-looking calls here (reg_pull, reg_push, reg_login) must run
 * in a fiber (core/fiber.h): they wait for the reactor, never block it.
 * reg_run() is the convenience that runs such a function to completion. */
#ifndef UCRT_REGISTRY_H
#define UCRT_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oci/oci.h"
#include "store/store.h"

struct err;
struct loop;
struct reg_client;

struct reg_opts {
	bool tls_verify;		/* default true; false also allows plain HTTP */
	const char *cert_dir;		/* CA (.crt) and client (.cert, .key) files */
	const char *auth_file;		/* NULL: $REGISTRY_AUTH_FILE, else ~/.docker/config.json */
	const char *creds;		/* "user:password", overrides the auth file */
	unsigned jobs;			/* concurrent blob transfers (default 4) */
	/* A registry that stops answering fails after about retries x
	 * stall_timeout_s (default 3 x 20 s). */
	unsigned retries;		/* attempts per request (default 3) */
	unsigned stall_timeout_s;	/* no byte for this long (connecting or moving data): the try failed */
	unsigned retry_delay_ms;	/* first backoff, doubled per try (default 200) */
	size_t chunk_size;		/* push: blobs above this go in PATCH chunks (default 16 MiB) */
};
/* Defaults, with retries and stall_timeout_s from $UCRT_REGISTRY_RETRIES and
 * $UCRT_REGISTRY_STALL_TIMEOUT when set (every command that talks to a
 * registry, `run`'s implicit pull included). */
void reg_opts_default(struct reg_opts *o);
#define REG_RETRIES_MAX 64
#define REG_STALL_TIMEOUT_MAX 3600

int reg_client_new(struct reg_client **out, struct loop *l, const struct reg_opts *o, struct err *err);
void reg_client_free(struct reg_client *c);

/* Run fn(arg) in a fiber and drive the loop until it has returned. */
int reg_run(struct loop *l, void (*fn)(void *arg), void *arg);

/* Progress, for bars on a terminal. Called on the reactor thread. */
enum reg_event { REG_EV_BLOB_START, REG_EV_BLOB_PROGRESS, REG_EV_BLOB_DONE, REG_EV_BLOB_SKIP, REG_EV_RETRY };
struct reg_progress {
	enum reg_event ev;
	const char *digest;
	uint64_t done, total;
	const char *msg;	/* REG_EV_RETRY: why */
};
typedef void (*reg_progress_fn)(void *arg, const struct reg_progress *p);

/* Hook for a consumer of layer bytes while they download (the ext4
 * writer). The registry writes every byte of a layer to its ingest file
 * before it tells; the consumer reads them from there with
 * store_ingest_reader(), which stays valid when the blob is committed.
 * For each layer i of the manifest, either:
 *  - present() once: the blob was already in the store, read it there; or
 *  - advance() each time the file has grown: its first bytes_on_disk bytes
 *    are written, in order (a resumed partial counts from its length), and
 *    then done() once: status 0 when the digest and size matched and the
 *    blob is committed, else the pull's error for it.
 *  - restart() when the download starts over from byte 0: a server that
 *    ignored a Range request (HTTP 200 instead of 206) after an
 *    interruption. The file is truncated and the bytes come again from 0;
 *    the consumer may keep what it read (done() with 0 proves the new
 *    bytes equal the old ones, anything else fails the pull) but must
 *    not read past the next advance().
 * Layers download concurrently: calls for different layers interleave.
 * The hooks run in the downloading fiber; advance() may await reactor ops,
 * and while it has not returned that layer's transfer is paused. A
 * negative return from advance() aborts the pull with that error. */
struct reg_layer_hook {
	/* Optional: called once, before any layer, with the manifest; the
	 * config blob is then already in the store (it is fetched first when
	 * start is set). A negative return aborts the pull. */
	int (*start)(void *arg, const struct oci_manifest *m);
	void (*present)(void *arg, size_t layer, const char *digest);
	int (*advance)(void *arg, size_t layer, uint64_t bytes_on_disk);
	void (*restart)(void *arg, size_t layer);
	void (*done)(void *arg, size_t layer, int status);
	void *arg;
};

struct reg_pull_opts {
	const struct oci_platform *platform;	/* NULL: the host's */
	reg_progress_fn progress;
	void *progress_arg;
	const struct reg_layer_hook *hook;
};
struct reg_pull_result {
	char digest[OCI_DIGEST_LEN + 1];	/* what the reference resolved to */
	char manifest[OCI_DIGEST_LEN + 1];	/* the platform's manifest */
	char config[OCI_DIGEST_LEN + 1];	/* image id */
};
/* Pull ref into the store and name it (oci_ref_string(ref)). In a fiber. */
int reg_pull(struct reg_client *c, struct store *s, const struct oci_ref *ref, const struct reg_pull_opts *o,
	     struct reg_pull_result *res, struct err *err);

struct reg_push_opts {
	reg_progress_fn progress;
	void *progress_arg;
};
/* Push a stored image's platform manifest with its blobs to dst. In a fiber. */
int reg_push(struct reg_client *c, struct store *s, const struct store_image *img, const struct oci_ref *dst,
	     const struct reg_push_opts *o, char digest[OCI_DIGEST_LEN + 1], struct err *err);

/* Check user/password against the registry (GET /v2/ through its auth
 * challenge). In a fiber. */
int reg_login_check(struct reg_client *c, const char *domain, const char *user, const char *pass, struct err *err);

/* The auth file (docker config.json) used when file is NULL. malloc'ed. */
char *reg_auth_file_default(void);
/* Add/replace or remove domain's entry in auths; written atomically with
 * mode 0600, other keys of the file kept. */
int reg_auth_store(const char *file, const char *domain, const char *user, const char *pass, struct err *err);
int reg_auth_remove(const char *file, const char *domain, struct err *err);
/* Credentials for domain from file: 0 with malloc'ed user and pass, -ENOENT.
 * As docker: credHelpers[domain], else credsStore, names a helper
 * (docker-credential-NAME get, credhelper.c) asked first; its failure is
 * logged and the file's auths entry used. */
int reg_auth_lookup(const char *file, const char *domain, char **user, char **pass);
/* Run `docker-credential-NAME get` for server (blocking, 10 s at most). */
int reg_cred_helper_get(const char *helper, const char *server, char **user, char **pass, struct err *err);
/* A helper's answer {"Username":..,"Secret":..}: 0 or -EINVAL. */
int reg_cred_helper_parse(const char *out, size_t len, char **user, char **pass);

/* A WWW-Authenticate challenge: scheme Basic or Bearer with parameters. */
struct reg_challenge {
	char scheme[16];
	char *realm, *service, *scope, *error;
};
int reg_challenge_parse(const char *header, struct reg_challenge *out);
void reg_challenge_free(struct reg_challenge *ch);

#endif
