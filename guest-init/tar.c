/* guest-init as a tar tool for `ucrt cp` (run by the host as an exec of
 * /proc/1/exe, so no image needs a tar of its own):
 *
 *   ucrt-init --tar-create PATH    PATH (and what is below it) as a tar on
 *                                  stdout, its own name as the top entry
 *   ucrt-init --tar-extract DEST   a tar from stdin: into DEST when it is
 *                                  a directory, else as DEST (the top
 *                                  entry renamed to DEST's name)
 *
 * Paths are resolved here, inside the guest, so symlinks in them mean what
 * they mean in the container. The format is ustar with pax 'x' headers for
 * long names (what the host's libarchive writes as pax_restricted):
 * regular files, directories, symlinks and hardlinks, with mode, owner and
 * mtime. Extraction works below one directory fd with openat2
 * (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS for parents) and refuses absolute
 * names and "..". */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gi.h"

#ifndef RESOLVE_BENEATH
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#endif

struct gi_open_how {
	uint64_t flags, mode, resolve;
};

static int gi_openat_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	struct gi_open_how how = { (uint64_t)flags, mode, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS };

	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static int gi_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int gi_read_full(int fd, void *p, size_t n)
{
	char *c = p;
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, c + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return got ? -1 : 0;
		got += (size_t)r;
	}
	return 1;
}

/* ---- writing ---- */

/* w-1 octal digits and a NUL; values that do not fit are clamped (files
 * of 8 GiB and more are out of ustar's reach). */
static void gi_oct(char *f, size_t w, unsigned long long v)
{
	for (size_t i = w - 1; i-- > 0; v >>= 3)
		f[i] = (char)('0' + (v & 7));
	f[w - 1] = 0;
}

static int gi_hdr(int out, const char *name, const char *link, char type, const struct stat *st,
		  unsigned long long size)
{
	char h[512];
	unsigned sum = 0;

	/* Names that do not fit go in a pax header first. */
	if (strlen(name) >= 100 || (link && strlen(link) >= 100)) {
		char rec[2 * PATH_MAX + 64], pax[512];
		size_t n = 0;
		for (int k = 0; k < 2; k++) {
			const char *key = k ? "linkpath" : "path", *v = k ? link : name;
			if (!v)
				continue;
			size_t body = strlen(key) + strlen(v) + 3, len = body + 1;
			while ((size_t)snprintf(NULL, 0, "%zu", len) + body != len)
				len++;
			n += (size_t)snprintf(rec + n, sizeof(rec) - n, "%zu %s=%s\n", len, key, v);
		}
		struct stat x = { .st_mode = 0644 };
		if (gi_hdr(out, "././@PaxHeader", NULL, 'x', &x, n) < 0 || gi_write_all(out, rec, n) < 0)
			return -1;
		memset(pax, 0, sizeof(pax));
		if (n % 512 && gi_write_all(out, pax, 512 - n % 512) < 0)
			return -1;
	}
	memset(h, 0, sizeof(h));
	snprintf(h, 100, "%s", name);
	gi_oct(h + 100, 8, st->st_mode & 07777);
	gi_oct(h + 108, 8, st->st_uid);
	gi_oct(h + 116, 8, st->st_gid);
	gi_oct(h + 124, 12, size);
	gi_oct(h + 136, 12, (unsigned long long)(st->st_mtime > 0 ? st->st_mtime : 0));
	memset(h + 148, ' ', 8);
	h[156] = type;
	if (link)
		snprintf(h + 157, 100, "%s", link);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	return gi_write_all(out, h, 512);
}

struct gi_link {
	dev_t dev;
	ino_t ino;
	char *name;
};

struct gi_tw {
	int out;
	struct gi_link *links;
	size_t nlinks;
	int err;
};

static void gi_tw_entry(struct gi_tw *tw, int dirfd, const char *base, const char *name)
{
	struct stat st;
	char buf[65536];

	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		tw->err = errno;
		return;
	}
	if (S_ISLNK(st.st_mode)) {
		char t[PATH_MAX];
		ssize_t n = readlinkat(dirfd, base, t, sizeof(t) - 1);
		if (n < 0) {
			tw->err = errno;
			return;
		}
		t[n] = 0;
		gi_hdr(tw->out, name, t, '2', &st, 0);
	} else if (S_ISREG(st.st_mode)) {
		if (st.st_nlink > 1) {
			for (size_t i = 0; i < tw->nlinks; i++) {
				if (tw->links[i].dev == st.st_dev && tw->links[i].ino == st.st_ino) {
					gi_hdr(tw->out, name, tw->links[i].name, '1', &st, 0);
					return;
				}
			}
			tw->links = realloc(tw->links, (tw->nlinks + 1) * sizeof(*tw->links));
			if (!tw->links)
				gi_die("out of memory");
			tw->links[tw->nlinks++] = (struct gi_link){ st.st_dev, st.st_ino, strdup(name) };
		}
		int fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		unsigned long long left = (unsigned long long)st.st_size;
		if (fd < 0) {
			tw->err = errno;
			return;
		}
		gi_hdr(tw->out, name, NULL, '0', &st, left);
		while (left) {
			ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
			if (n <= 0) {
				/* shrank while read: pad with zeros, the size is promised */
				memset(buf, 0, sizeof(buf));
				n = (ssize_t)(left < sizeof(buf) ? left : sizeof(buf));
			}
			gi_write_all(tw->out, buf, (size_t)n);
			left -= (unsigned long long)n;
		}
		close(fd);
		memset(buf, 0, 512);
		if (st.st_size % 512)
			gi_write_all(tw->out, buf, 512 - (size_t)(st.st_size % 512));
	} else if (S_ISDIR(st.st_mode)) {
		char dname[PATH_MAX];
		int dfd = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d;
		struct dirent *de;
		snprintf(dname, sizeof(dname), "%s/", name);
		gi_hdr(tw->out, dname, NULL, '5', &st, 0);
		if (dfd < 0 || !(d = fdopendir(dfd))) {
			tw->err = errno;
			if (dfd >= 0)
				close(dfd);
			return;
		}
		while ((de = readdir(d))) {
			char child[PATH_MAX];
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if ((size_t)snprintf(child, sizeof(child), "%s/%s", name, de->d_name) >= sizeof(child))
				continue;
			gi_tw_entry(tw, dfd, de->d_name, child);
		}
		closedir(d);
	}
	/* devices, fifos, sockets: not copied (docker copies them; a VM's
	 * device numbers mean nothing on the host) */
}

static int gi_tar_create(const char *path)
{
	struct gi_tw tw = { .out = STDOUT_FILENO };
	char *p1 = strdup(path), *p2 = strdup(path);
	char zero[1024] = { 0 };
	int dirfd;

	if (!p1 || !p2)
		gi_die("out of memory");
	/* The parent resolved in the guest (symlinks included), the last
	 * component taken as it is. */
	dirfd = open(dirname(p1), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	const char *base = basename(p2);
	if (!strcmp(base, "/") || !strcmp(base, "."))
		base = ".";
	gi_tw_entry(&tw, dirfd, base, !strcmp(base, ".") ? "." : base);
	gi_write_all(STDOUT_FILENO, zero, sizeof(zero));
	if (tw.err) {
		fprintf(stderr, "%s: %s\n", path, strerror(tw.err));
		return 1;
	}
	return 0;
}

/* ---- reading ---- */

static unsigned long long gi_unoct(const char *f, size_t w)
{
	unsigned long long v = 0;

	for (size_t i = 0; i < w && f[i]; i++) {
		if (f[i] == ' ')
			continue;
		if (f[i] < '0' || f[i] > '7')
			break;
		v = v * 8 + (unsigned long long)(f[i] - '0');
	}
	return v;
}

/* A relative name without "..": the place below DEST it may go. */
static bool gi_name_ok(const char *n)
{
	if (!n[0] || n[0] == '/')
		return false;
	for (const char *p = n; *p;) {
		size_t l = strcspn(p, "/");
		if (l == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += l;
		while (*p == '/')
			p++;
	}
	return true;
}

static void gi_pax(const char *rec, size_t n, char *path, char *link)
{
	size_t off = 0;

	while (off < n) {
		char *sp;
		unsigned long len = strtoul(rec + off, &sp, 10);
		if (!len || len > n - off || *sp != ' ')
			return;
		const char *kv = sp + 1, *end = rec + off + len - 1;
		if (!strncmp(kv, "path=", 5) && end - (kv + 5) < PATH_MAX)
			snprintf(path, PATH_MAX, "%.*s", (int)(end - (kv + 5)), kv + 5);
		if (!strncmp(kv, "linkpath=", 9) && end - (kv + 9) < PATH_MAX)
			snprintf(link, PATH_MAX, "%.*s", (int)(end - (kv + 9)), kv + 9);
		off += len;
	}
}

/* Replace the first component of name by top (when given). */
static void gi_rename_top(char *name, const char *top)
{
	char rest[PATH_MAX];
	const char *slash = strchr(name, '/');

	if (!top)
		return;
	snprintf(rest, sizeof(rest), "%s", slash ? slash : "");
	snprintf(name, PATH_MAX, "%s%s", top, rest);
}

static int gi_parent_fd(int root, const char *name, char **leaf)
{
	char *dup = strdup(name), *sl;
	int fd;

	if (!dup)
		gi_die("out of memory");
	while (strlen(dup) > 1 && dup[strlen(dup) - 1] == '/')
		dup[strlen(dup) - 1] = 0;
	sl = strrchr(dup, '/');
	*leaf = strdup(sl ? sl + 1 : dup);
	if (sl) {
		*sl = 0;
		fd = gi_openat_beneath(root, dup, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	} else {
		fd = fcntl(root, F_DUPFD_CLOEXEC, 3);
	}
	free(dup);
	return fd;
}

static int gi_tar_extract(const char *dest)
{
	char h[512], name[PATH_MAX], link[PATH_MAX], pname[PATH_MAX] = "", plink[PATH_MAX] = "", buf[65536];
	char *d1 = strdup(dest), *d2 = strdup(dest), *top = NULL;
	struct stat st;
	int root, r, rc = 0;

	if (!d1 || !d2)
		gi_die("out of memory");
	if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode)) {
		root = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		root = open(dirname(d1), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		top = basename(d2);
	}
	if (root < 0) {
		fprintf(stderr, "%s: %s\n", dest, strerror(errno));
		free(d1);
		free(d2);
		return 1;
	}
	while ((r = gi_read_full(STDIN_FILENO, h, 512)) > 0) {
		unsigned long long size = gi_unoct(h + 124, 12), pad;
		char type = h[156];
		bool zero = true;
		for (int i = 0; i < 512 && zero; i++)
			zero = h[i] == 0;
		if (zero)
			break;
		pad = (512 - size % 512) % 512;
		if (type == 'L' || type == 'K') {	/* GNU long name / link */
			char *dst = type == 'L' ? pname : plink;
			if (size >= PATH_MAX || gi_read_full(STDIN_FILENO, buf, size + pad) <= 0) {
				fprintf(stderr, "tar: bad long name\n");
				{ rc = 1; goto out; }
			}
			snprintf(dst, PATH_MAX, "%.*s", (int)size, buf);
			continue;
		}
		if (type == 'x' || type == 'g') {
			char *rec = size < (1u << 20) ? malloc(size + pad + 1) : NULL;
			if (!rec || gi_read_full(STDIN_FILENO, rec, size + pad) <= 0) {
				fprintf(stderr, "tar: bad pax header\n");
				free(rec);
				rc = 1;
				goto out;
			}
			if (type == 'x')
				gi_pax(rec, size, pname, plink);
			free(rec);
			continue;
		}
		if (pname[0])
			snprintf(name, sizeof(name), "%s", pname);
		else if (h[345])
			snprintf(name, sizeof(name), "%.155s/%.100s", h + 345, h);
		else
			snprintf(name, sizeof(name), "%.100s", h);
		if (plink[0])
			snprintf(link, sizeof(link), "%s", plink);
		else
			snprintf(link, sizeof(link), "%.100s", h + 157);
		pname[0] = plink[0] = 0;
		while (!strncmp(name, "./", 2) && name[2])
			memmove(name, name + 2, strlen(name + 2) + 1);
		gi_rename_top(name, top);
		if (type == '1')
			gi_rename_top(link, top);
		mode_t mode = (mode_t)gi_unoct(h + 100, 8) & 07777;
		uid_t uid = (uid_t)gi_unoct(h + 108, 8);
		gid_t gid = (gid_t)gi_unoct(h + 116, 8);
		struct timespec ts[2] = { { (time_t)gi_unoct(h + 136, 12), 0 }, { (time_t)gi_unoct(h + 136, 12), 0 } };
		char *leaf = NULL;
		int pfd = -1;
		if (!gi_name_ok(name) || (type == '1' && !gi_name_ok(link)) ||
		    (pfd = gi_parent_fd(root, name, &leaf)) < 0) {
			fprintf(stderr, "tar: refusing %s\n", name);
			rc = 1;
			for (unsigned long long left = size + pad; left;) {
				ssize_t n = read(STDIN_FILENO, buf, left < sizeof(buf) ? left : sizeof(buf));
				if (n <= 0) {
					free(leaf);
					rc = 1;
					goto out;
				}
				left -= (unsigned long long)n;
			}
			free(leaf);
			continue;
		}
		if (type == '5') {
			if (mkdirat(pfd, leaf, 0700) < 0 && errno != EEXIST)
				rc = 1;
			int fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0) {
				if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)
					rc = 1;
				futimens(fd, ts);
				close(fd);
			}
		} else if (type == '2') {
			unlinkat(pfd, leaf, 0);
			if (symlinkat(link, pfd, leaf) < 0 || fchownat(pfd, leaf, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
				rc = 1;
			utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
		} else if (type == '1') {
			char *tl = NULL;
			int tfd = gi_parent_fd(root, link, &tl);
			unlinkat(pfd, leaf, 0);
			if (tfd < 0 || linkat(tfd, tl, pfd, leaf, 0) < 0)
				rc = 1;
			if (tfd >= 0)
				close(tfd);
			free(tl);
		} else if (type == '0' || type == 0) {
			unlinkat(pfd, leaf, 0);
			int fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			for (unsigned long long left = size; left;) {
				ssize_t n = read(STDIN_FILENO, buf, left < sizeof(buf) ? left : sizeof(buf));
				if (n <= 0) {
					size = pad = 0;	/* truncated: the loop below ends it */
					rc = 1;
					r = -1;
					break;
				}
				if (fd >= 0 && gi_write_all(fd, buf, (size_t)n) < 0)
					rc = 1;
				left -= (unsigned long long)n;
			}
			if (fd < 0 || fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)
				rc = 1;
			if (fd >= 0) {
				futimens(fd, ts);
				close(fd);
			}
			size = 0;
		}
		for (unsigned long long left = size + pad; left;) {
			ssize_t n = read(STDIN_FILENO, buf, left < sizeof(buf) ? left : sizeof(buf));
			if (n <= 0) {
				r = -1;
				break;
			}
			left -= (unsigned long long)n;
		}
		close(pfd);
		free(leaf);
		if (r < 0)
			break;
	}
	if (r < 0) {
		fprintf(stderr, "tar: truncated\n");
		rc = 1;
	}
out:
	close(root);
	free(d1);
	free(d2);
	return rc;
}

int gi_tar_main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--tar-create"))
		return gi_tar_create(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "--tar-extract"))
		return gi_tar_extract(argv[2]);
	return -1;
}
