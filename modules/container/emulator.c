/* Foreign-architecture images (docs/platforms.md): the kernel stays the
 * host's, the image's binaries run under qemu-user. The static emulator
 * from Debian's qemu-user-static is copied, with the binfmt_misc line
 * that names it, into a small read-only ext4 disk built once per emulator
 * binary and cached under <root>/emulators/; guest-init registers it
 * (PROTO_MOUNT_BINFMT) before the process starts. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/proto.h"
#include "container/container.h"
#include "err.h"
#include "ext4/ext4.h"
#include "oci/oci.h"
#include "sha256.h"
#include "util.h"

/* Where guest-init mounts the disk for the moment of registration. */
#define CTR_EMU_GUEST_DIR "/run/ucrt-emu"
#define CTR_EMU_MAX (256u << 20)

/* ELF header magic and mask per machine, as Debian's qemu-user-static
 * registers them (/usr/lib/binfmt.d/qemu-*.conf): class, byte order,
 * version, e_type EXEC or DYN (mask 0xfe), e_machine. x86_64 is not in
 * Debian's amd64 package (it is native there); its line is qemu's own
 * scripts/qemu-binfmt-conf.sh entry. */
static const struct ctr_emu {
	const char *arch, *variant;	/* OCI names */
	const char *qemu;		/* qemu-<qemu>-static */
	const char *magic, *mask;
} ctr_emus[] = {
	{ "amd64", NULL, "x86_64",
	  "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x3e\\x00",
	  "\\xff\\xff\\xff\\xff\\xff\\xfe\\xfe\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff" },
	{ "arm64", NULL, "aarch64",
	  "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00",
	  "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff" },
	{ "arm", "v7", "arm",
	  "\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x28\\x00",
	  "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff" },
	{ "riscv64", NULL, "riscv64",
	  "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xf3\\x00",
	  "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff" },
	{ "s390x", NULL, "s390x",
	  "\\x7fELF\\x02\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x16",
	  "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfc\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff" },
	{ "ppc64le", NULL, "ppc64le",
	  "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x15\\x00",
	  "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfc\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\x00" },
};

/* arm without a variant is v7 (what arm images almost always are); v6
 * and v5 binaries run on the same emulator. */
static const struct ctr_emu *ctr_emu_find(const char *arch, const char *variant)
{
	for (size_t i = 0; i < ARRAY_SIZE(ctr_emus); i++)
		if (strcmp(ctr_emus[i].arch, arch) == 0)
			return &ctr_emus[i];
	(void)variant;
	return NULL;
}

static bool ctr_is_host(const char *os, const char *arch, const char *variant)
{
	struct oci_platform host, p = { (char *)os, (char *)arch, (char *)variant };
	oci_platform_host(&host);
	bool same = oci_platform_match(&p, &host);
	oci_platform_free(&host);
	return same;
}

static const char *ctr_emu_dir(void)
{
	/* Tests point this at a directory without emulators to see the error
	 * a host without qemu-user-static gives. */
	const char *d = getenv("UCRT_QEMU_USER_DIR");
	return d && *d ? d : "/usr/bin";
}

enum ctr_platform_how ctr_platform_probe(const char *os, const char *arch, const char *variant,
					  struct ctr_platform_info *info)
{
	struct ctr_platform_info scratch;
	struct oci_platform p = { (char *)(os ? os : "linux"), (char *)(arch ? arch : "?"), (char *)variant };
	_cleanup_free_ char *ps = oci_platform_string(&p);

	if (!info)
		info = &scratch;
	memset(info, 0, sizeof(*info));
	snprintf(info->platform, sizeof(info->platform), "%s", ps);
	if (arch && ctr_is_host(p.os, arch, variant))
		return info->how = CTR_PLATFORM_NATIVE;
	const struct ctr_emu *e = arch ? ctr_emu_find(arch, variant) : NULL;
	if (!e || strcmp(p.os, "linux") != 0)
		return info->how = CTR_PLATFORM_UNSUPPORTED;
	snprintf(info->emulator, sizeof(info->emulator), "%s/qemu-%s-static", ctr_emu_dir(), e->qemu);
	info->emulator_found = access(info->emulator, X_OK) == 0;
	return info->how = CTR_PLATFORM_EMULATED;
}

size_t ctr_platforms(struct ctr_platform_info *out, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < ARRAY_SIZE(ctr_emus) && k < n; i++)
		ctr_platform_probe("linux", ctr_emus[i].arch, ctr_emus[i].variant, &out[k++]);
	return k;
}

char *ctr_emulator_binfmt(const char *arch, const char *variant, const char *interp)
{
	const struct ctr_emu *e = ctr_emu_find(arch, variant);
	if (!e || ctr_is_host("linux", arch, variant))
		return NULL;
	/* O: the kernel hands qemu an open fd of the binary (unreadable
	 * executables work); P: argv[0] is kept (busybox dispatches on it);
	 * F: the interpreter is opened now, so it need not stay mounted nor
	 * exist inside the container's root. */
	return xasprintf(":qemu-%s:M::%s:%s:%s:OPF\n", e->qemu, e->magic, e->mask, interp);
}

/* ---- the emulator disk ---- */

/* A tar stream in memory: ustar headers for a few regular files. */
struct ctr_tar {
	char *data;
	size_t len, off;
};

static void ctr_tar_add(struct ctr_tar *t, const char *name, unsigned mode, const void *data, size_t len)
{
	size_t padded = (len + 511) & ~(size_t)511;
	t->data = xrealloc(t->data, t->len + 512 + padded + 1024);
	char *h = t->data + t->len;
	memset(h, 0, 512 + padded + 1024);
	snprintf(h, 100, "%s", name);
	snprintf(h + 100, 8, "%07o", mode);
	snprintf(h + 108, 8, "%07o", 0);
	snprintf(h + 116, 8, "%07o", 0);
	snprintf(h + 124, 12, "%011llo", (unsigned long long)len);
	snprintf(h + 136, 12, "%011o", 0);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	memcpy(h + 512, data, len);
	t->len += 512 + padded;
}

static ssize_t ctr_tar_read(void *arg, void *buf, size_t len)
{
	struct ctr_tar *t = arg;
	size_t n = t->len - t->off < len ? t->len - t->off : len;
	memcpy(buf, t->data + t->off, n);
	t->off += n;
	return (ssize_t)n;
}

static int ctr_emu_build(const char *path, const char *name, const void *bin, size_t binlen,
			 const char *line, struct err *err)
{
	struct ctr_tar t = { 0 };
	struct ext4w *w;
	int r;

	ctr_tar_add(&t, "binfmt", 0644, line, strlen(line));
	ctr_tar_add(&t, name, 0755, bin, binlen);
	t.len += 1024;	/* end-of-archive blocks, zeroed by ctr_tar_add */
	struct ext4w_source src = { .read = ctr_tar_read, .arg = &t, .name = name,
				    .media_type = "application/vnd.oci.image.layer.v1.tar" };
	r = ext4w_create(path, ext4w_size_for(t.len), NULL, &w, err);
	if (r >= 0) {
		r = ext4w_apply_layer(w, &src, err);
		if (r < 0)
			ext4w_abort(w);
		else
			r = ext4w_finish(w, err);
	}
	free(t.data);
	return r;
}

int ctr_emulator_mount(const char *root, const struct oci_image_config *img, struct ctr_mount **m,
		       size_t *n, struct err *err)
{
	struct ctr_platform_info pi;

	if (!img->arch)
		return 0;	/* a plain disk (--rootfs): nothing to go by */
	switch (ctr_platform_probe(img->os, img->arch, img->variant, &pi)) {
	case CTR_PLATFORM_NATIVE:
		return 0;
	case CTR_PLATFORM_UNSUPPORTED:
		return err_set(err, ENOEXEC, "image platform %s cannot run on this host (see `ucrt info`)",
			       pi.platform);
	case CTR_PLATFORM_EMULATED:
		break;
	}
	if (*n >= PROTO_MAX_MOUNTS)
		return err_set(err, E2BIG, "too many mounts for the emulator of %s", pi.platform);
	_cleanup_free_ char *bin = NULL;
	size_t binlen = 0;
	int r = read_file_at(AT_FDCWD, pi.emulator, CTR_EMU_MAX, &bin, &binlen);
	if (r < 0)
		return err_set(err, -r == ENOENT ? ENOENT : -r,
			       "image platform %s needs the emulator %s: %s (install the Debian package "
			       "qemu-user-static)", pi.platform, pi.emulator, strerror(-r));
	const struct ctr_emu *e = ctr_emu_find(img->arch, img->variant);
	/* The name Debian gives its binfmt entry points: qemu keeps argv[0]
	 * (the P flag's layout) when it is called by that name. */
	_cleanup_free_ char *name = xasprintf("%s-binfmt-P", e->qemu);
	_cleanup_free_ char *interp = xasprintf(CTR_EMU_GUEST_DIR "/%s", name);
	_cleanup_free_ char *line = ctr_emulator_binfmt(img->arch, img->variant, interp);
	struct sha256 h;
	char hex[SHA256_HEX_LEN + 1];
	sha256_init(&h);
	sha256_update(&h, line, strlen(line));
	sha256_update(&h, bin, binlen);
	sha256_final_hex(&h, hex);
	_cleanup_free_ char *dir = xasprintf("%s/emulators", root);
	_cleanup_free_ char *disk = xasprintf("%s/qemu-%s-%.16s.ext4", dir, e->qemu, hex);
	struct stat st;
	if (stat(disk, &st) < 0) {
		/* Concurrent builders each write a temp file and rename it over
		 * the same name with the same content: no lock needed. */
		if ((r = mkdir_p_at(AT_FDCWD, dir, 0755)) < 0)
			return err_set(err, -r, "creating %s: %s", dir, strerror(-r));
		r = ctr_emu_build(disk, name, bin, binlen, line, err);
		if (r < 0)
			return err_wrap(err, "building the emulator disk for %s", pi.platform);
	}
	*m = xrealloc(*m, (*n + 1) * sizeof(**m));
	(*m)[*n] = (struct ctr_mount){
		.type = CTR_MOUNT_EMULATOR, .src = xstrdup(disk), .dst = xstrdup(CTR_EMU_GUEST_DIR),
		.readonly = true, .host = xstrdup(disk),
	};
	(*n)++;
	return 0;
}
