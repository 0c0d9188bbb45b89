/* Private to modules/ext4: the pieces of the layer writer. */
#ifndef UCRT_EXT4_INTERNAL_H
#define UCRT_EXT4_INTERNAL_H

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <stdbool.h>
#include <stdint.h>

#include "ext4/ext4.h"

struct err;

/* ---- path.c: tar names -> components inside the image root ---- */

/* Normalise a tar member name: leading '/' and "./" dropped, empty and "."
 * components dropped, ".." pops a component but never above the root.
 * Writes the result to out (at most outlen bytes, "" for the root itself).
 * Returns 0, -ENAMETOOLONG or -EINVAL (NUL-free input required, component
 * longer than 255 bytes). */
int ext4w_path_normalise(const char *in, char *out, size_t outlen);
/* Split a normalised path in place at its last '/': *dir is "" at the root. */
void ext4w_path_split(char *path, const char **dir, const char **base);

/* ---- iomgr.c: libext2fs io_manager with write-behind ---- */

/* Writes go to an in-memory log, coalesced into writev requests on
 * contiguous runs when the log fills or on flush (on the reactor when one
 * is attached); a direct-mapped cache serves metadata re-reads. */
extern io_manager ext4w_io_manager;
struct ext4w_io_stats {
	uint64_t writes, write_bytes, reads;
};
void ext4w_io_get_stats(io_channel ch, struct ext4w_io_stats *st);
/* Send batches through l (NULL: synchronous writes); see iomgr.c. */
struct loop;
void ext4w_io_use_loop(io_channel ch, struct loop *l);
/* File data: like io_channel_write_blk64 but kept out of the metadata
 * read cache (libext2fs never reads it back). Returns 0 or -errno. */
int ext4w_io_write_data(io_channel ch, uint64_t blk, uint64_t n, const void *data);
/* The first error the host gave writing the image file (-errno), else 0:
 * a full host disk is not a full image. */
int ext4w_io_error(io_channel ch);

/* ---- decomp.c: layer bytes -> tar bytes ---- */

struct ext4w_dec;
int ext4w_dec_new(const struct ext4w_source *src, const struct ext4w_opts *o,
		  struct ext4w_dec **out, struct err *err);
/* Next chunk of uncompressed bytes: returns its length (0 at the end) and
 * points *buf at it, or -errno with the reason in err. */
ssize_t ext4w_dec_read(struct ext4w_dec *d, const void **buf, struct err *err);
uint64_t ext4w_dec_total_in(const struct ext4w_dec *d);
uint64_t ext4w_dec_total_out(const struct ext4w_dec *d);
void ext4w_dec_free(struct ext4w_dec *d);

/* ---- set.c: small string set (names touched in the current layer) ---- */

struct ext4w_set {
	char **keys;
	size_t cap, len;
};
/* Returns true if newly added. */
bool ext4w_set_add(struct ext4w_set *s, const char *key);
bool ext4w_set_has(const struct ext4w_set *s, const char *key);
void ext4w_set_clear(struct ext4w_set *s);

/* ---- the writer context (writer.c, tree.c, apply.c) ---- */

/* An image that filled up (apply.c): what was in use then, and what the
 * entries read since need (counted, not written). See ext4w_need(). */
struct ext4w_fill {
	enum ext4w_full what;
	uint64_t base_blocks;		/* in use right after ext4w_create */
	uint64_t size, inodes;		/* the image's geometry */
	uint64_t inodes_used, blocks_used;	/* when it filled up */
	uint64_t entries, blocks, dirent_bytes;	/* counted since */
	char msg[512];			/* "layer L: entry E: image full: ..." */
};

struct ext4w {
	ext2_filsys fs;
	char *path, *tmp_path;
	struct ext4w_opts opts;
	char *blockbuf;		/* fs->blocksize scratch */
	/* this layer: "dirino/name" of every entry created or updated, and
	 * "dirino" of directories created fresh (see apply.c, whiteouts) */
	struct ext4w_set touched, fresh;
	/* parent resolution cache: last parent path and its inode */
	char *last_dir;
	ext2_ino_t last_dir_ino;
	struct ext4w_stats stats;
	uint8_t *stage;		/* one block: a file's partial block (data.c) */
	struct ext4w_fill fill;
};

/* Map a libext2fs error code to -errno (EIO when nothing fits). */
int ext4w_errno(errcode_t e);

/* tree.c */
#define EXT4W_MAX_SYMLINKS 40
/* Resolve a normalised path to an inode, following symlinks in every
 * component (all inside the image root, clamped at '/'); the last component
 * is followed only if follow_last. -ENOENT, -ENOTDIR, -ELOOP. */
int ext4w_resolve(struct ext4w *w, const char *path, bool follow_last, ext2_ino_t *ino);
/* As resolve for a parent directory, creating missing directories (0755,
 * root, times from mtime). */
int ext4w_resolve_dir(struct ext4w *w, const char *dir, int64_t mtime, ext2_ino_t *ino);
int ext4w_lookup(struct ext4w *w, ext2_ino_t dir, const char *name, ext2_ino_t *ino);
/* Unlink name from dir, deleting the whole tree if it is a directory and
 * freeing inodes whose last link goes. */
int ext4w_remove(struct ext4w *w, ext2_ino_t dir, const char *name, ext2_ino_t ino);
/* Link ino under dir/name, growing the directory when it is full. */
int ext4w_link(struct ext4w *w, ext2_ino_t dir, const char *name, ext2_ino_t ino, int ftype);
int ext4w_read_inode(struct ext4w *w, ext2_ino_t ino, struct ext2_inode_large *in);
int ext4w_write_inode(struct ext4w *w, ext2_ino_t ino, struct ext2_inode_large *in);
void ext4w_set_time(uint32_t *sec, uint32_t *extra, int64_t s, long ns);
void ext4w_invalidate_dir_cache(struct ext4w *w);

/* inode.c */
#define EXT4W_LINK_MAX 65000	/* the kernel's EXT4_LINK_MAX */
/* Directory entry file type (EXT2_FT_*) for an inode mode. */
int ext4w_ftype(unsigned mode);
struct ext4w_child {
	char *name;
	ext2_ino_t ino;
};
/* Children of a directory (without "." and ".."); caller frees names and v. */
int ext4w_list_dir(struct ext4w *w, ext2_ino_t dir, struct ext4w_child **v, size_t *n);
/* A directory nobody asked for (missing parent of an entry): 0755 root. */
int ext4w_mkdir_implicit(struct ext4w *w, ext2_ino_t dir, const char *name,
			 int64_t mtime, ext2_ino_t *ino);
/* Make an inode of the given type under dir/name (which must not exist).
 * Directories get "." and ".." and join w->fresh; symlinks get their
 * target. */
int ext4w_make(struct ext4w *w, ext2_ino_t dir, const char *name, unsigned mode,
	       const char *symlink_target, ext2_ino_t *ino);

/* data.c: copy the current archive entry's data into ino; on libarchive
 * errors *why gets its message. */
struct archive;
struct archive_entry;
int ext4w_write_data(struct ext4w *w, struct archive *a, struct archive_entry *e,
		     ext2_ino_t ino, const char **why);

#endif
