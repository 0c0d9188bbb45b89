/* Foreign-architecture images: the host attaches a small read-only ext4
 * disk holding qemu-user (static) and a file "binfmt" with one
 * binfmt_misc register line per emulator, whose interpreter path lies on
 * that disk (docs/platforms.md). Registered with the F flag, the kernel
 * opens the interpreter now, so the disk is unmounted again before the
 * container starts: the process never sees it, yet every binary it runs
 * or execs is translated. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gi.h"

#define GI_BINFMT_DIR "/proc/sys/fs/binfmt_misc"
#define GI_BINFMT_MAX 4096

static int gi_binfmt_read(const char *dir, char *buf, size_t cap)
{
	char path[PROTO_MAX_PATH + 16];
	size_t got = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/binfmt", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	while (got < cap - 1) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = 0;
	return 0;
}

/* Write each line to register. The handlers are global to the guest's
 * kernel (6.1 has no binfmt_misc namespaces), and this kernel serves one
 * container, so an already registered name (EEXIST) is fine. */
static int gi_binfmt_lines(char *lines, char *msg, size_t msglen)
{
	char *save = NULL;
	unsigned nreg = 0;

	for (char *l = strtok_r(lines, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (l[0] != ':')
			continue;
		int fd = open(GI_BINFMT_DIR "/register", O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(msg, msglen, "binfmt_misc: %s/register: %s", GI_BINFMT_DIR, strerror(errno));
			return -errno;
		}
		ssize_t n = write(fd, l, strlen(l));
		int e = errno;
		close(fd);
		if (n < 0 && e != EEXIST) {
			char name[64];
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(l + 1, ":"), l + 1);
			snprintf(msg, msglen, "binfmt_misc: registering %s: %s", name, strerror(e));
			return -e;
		}
		nreg++;
		if (gi_debug)
			gi_log("binfmt_misc: registered %.*s", (int)strcspn(l + 1, ":"), l + 1);
	}
	/* Without a handler every exec would fail later as ENOEXEC: say why now. */
	if (!nreg) {
		snprintf(msg, msglen, "emulator disk: no binfmt_misc line in its binfmt file");
		return -EINVAL;
	}
	return 0;
}

int gi_binfmt_register(const char *dev, const char *dir, char *msg, size_t msglen)
{
	char lines[GI_BINFMT_MAX];
	int r;

	if (mount(dev, dir, "ext4", MS_RDONLY | MS_NODEV | MS_NOSUID, NULL) < 0) {
		r = -errno;
		snprintf(msg, msglen, "emulator disk %s: mount: %s", dev, strerror(errno));
		rmdir(dir);
		return r;
	}
	r = gi_binfmt_read(dir, lines, sizeof(lines));
	if (r < 0) {
		snprintf(msg, msglen, "emulator disk: %s/binfmt: %s", dir, strerror(-r));
		goto out;
	}
	if (mount("binfmt_misc", GI_BINFMT_DIR, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
	    errno != EBUSY) {
		r = -errno;
		snprintf(msg, msglen, "mounting binfmt_misc: %s (kernel without CONFIG_BINFMT_MISC?)",
			 strerror(errno));
		goto out;
	}
	/* binfmt_misc stays mounted: in 6.1 its entries live in that
	 * superblock and go with an unmount. */
	r = gi_binfmt_lines(lines, msg, msglen);
out:
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	return r;
}
