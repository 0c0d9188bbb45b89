/* ext4w: apply OCI layer tarballs, in order, straight into an ext4 image
 * through libext2fs. No mount, no temporary directory tree.
 *
 *   struct ext4w *w;
 *   ext4w_create("out.ext4", size, &opts, &w, err);   (writes out.ext4.tmp-XXXX)
 *   ext4w_apply_layer(w, &src, err);                   (once per layer, in order)
 *   ext4w_finish(w, err);                              (flush, close, rename)
 * or ext4w_abort(w) on any failure: the temp file is removed, nothing is left
 * under the final name.
 *
 * Layer rules (whiteouts, replacement, hostile paths, limits) are in
 * docs/rootfs.md. Errors follow core/err.h and name the layer and entry. */
#ifndef UCRT_EXT4_H
#define UCRT_EXT4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;
struct ext4w;
struct loop;

/* Statistics of the last operations, for benchmarks and logs. */
struct ext4w_stats {
	uint64_t entries, bytes_in, bytes_out, writes, write_bytes, reads;
};

/* A layer is a byte stream the writer pulls: read() returns the number of
 * bytes stored in buf (0 at the end of the layer) or -errno. It may block
 * (a file) or, run inside a fiber, await the network. */
struct ext4w_source {
	ssize_t (*read)(void *arg, void *buf, size_t len);
	void *arg;
	const char *name;	/* for messages: file name or digest */
	/* OCI media type if known (…tar, …tar+gzip, …tar+zstd), else NULL:
	 * the compression is then detected from the magic bytes. */
	const char *media_type;
};

struct ext4w_opts {
	uint64_t max_entry_size;	/* largest regular file; 0: 64 GiB */
	uint64_t max_layer_bytes;	/* uncompressed bytes per layer; 0: 256 GiB */
	uint32_t max_ratio;		/* uncompressed/compressed; 0: 2000 */
	uint32_t inode_ratio;		/* bytes per inode; 0: 16384 */
	uint64_t inodes;		/* inode count; 0: size / inode_ratio */
	bool fsync;			/* fsync the image before the rename */
	/* The process's reactor. When set, a writer driven from a fiber on
	 * it writes the image through io_uring ops awaited by that fiber
	 * (write-behind), waits for the inflate thread on an eventfd instead
	 * of blocking the loop, and fsyncs through the loop; other callers
	 * (and NULL) write synchronously. Drive one writer from one fiber. */
	struct loop *loop;
};

/* Defaults for unset (zero) fields of opts. */
#define EXT4W_DEFAULT_MAX_ENTRY (64ULL << 30)
#define EXT4W_DEFAULT_MAX_LAYER (256ULL << 30)
#define EXT4W_DEFAULT_MAX_RATIO 2000
#define EXT4W_DEFAULT_INODE_RATIO 16384

/* Create an empty ext4 filesystem of size bytes (a sparse file) in a temp
 * file next to path. opts may be NULL. */
int ext4w_create(const char *path, uint64_t size, const struct ext4w_opts *opts,
		 struct ext4w **out, struct err *err);
/* Apply one layer on top of what is there. On failure the writer must be
 * aborted: the image is in an unspecified state.
 * An image that runs out of inodes or blocks is not a failure here: from
 * the entry that found it full on, this and later calls only read the
 * layers and count what their entries need; ext4w_need() then sizes a
 * rebuild and ext4w_finish() fails with "image full". A write the host
 * refuses (its ENOSPC, EIO) fails at once, naming the image's path. */
int ext4w_apply_layer(struct ext4w *w, const struct ext4w_source *src, struct err *err);
/* Write out all metadata, close, and rename the temp file to its final
 * path. Frees w whatever the outcome (the temp file is removed on error). */
int ext4w_finish(struct ext4w *w, struct err *err);
/* Drop everything: remove the temp file and free w. NULL is fine. */
void ext4w_abort(struct ext4w *w);

/* What ran out once the image filled up (see ext4w_apply_layer). */
enum ext4w_full { EXT4W_FITS, EXT4W_FULL_INODES, EXT4W_FULL_BLOCKS };
/* EXT4W_FITS, or what ran out; then *size and *inodes are the geometry of
 * an image that holds every entry applied or counted so far: what was
 * used when it filled up plus what the later entries need, with room. */
enum ext4w_full ext4w_need(const struct ext4w *w, uint64_t *size, uint64_t *inodes);

/* Layers a build can read more than once: open() gives layer i's source
 * from its first byte, close() releases it (both run again for each
 * rebuild). */
struct ext4w_layers {
	size_t n;
	int (*open)(void *arg, size_t i, struct ext4w_source *src, struct err *err);
	void (*close)(void *arg, size_t i);
	void *arg;
};
/* create, apply every layer, finish. An image that fills up is rebuilt
 * with the geometry ext4w_need() gives: larger when grow is set; else at
 * the same size with more inodes when only inodes ran out (a caller-given
 * size is kept), failing with "image full" and the size the layers need.
 * st (may be NULL) gets the statistics of the last attempt. */
int ext4w_build(const char *path, uint64_t size, bool grow, const struct ext4w_opts *opts,
		const struct ext4w_layers *ls, struct ext4w_stats *st, struct err *err);
/* Remove temp files ext4w_create left for path (a killed build):
 * path.tmp-XXXXXX. Call it only while no other writer can be building
 * that path (under the caller's lock). Returns how many went, or -errno. */
int ext4w_clean_temps(const char *path);

/* A disk size for layers whose uncompressed sizes sum to content_bytes:
 * content plus metadata and headroom, rounded to 1 MiB. */
uint64_t ext4w_size_for(uint64_t content_bytes);
/* Best-effort uncompressed size of a layer file (gzip ISIZE, zstd frame
 * header, else the file size times a bounded ratio); -errno on I/O error. */
int ext4w_estimate_file(const char *path, uint64_t *out);
int ext4w_estimate_fd(int fd, uint64_t *out);

/* Read callback for a file descriptor (arg = (void *)(intptr_t)fd). */
ssize_t ext4w_fd_read(void *arg, void *buf, size_t len);

/* Statistics so far (see struct ext4w_stats). */
void ext4w_get_stats(const struct ext4w *w, struct ext4w_stats *st);

#endif
