/* The host channel: the virtio-serial port named PROTO_PORT_NAME, or a
 * vsock stream to the host (CID 2) when ucrt.vsock=PORT is given. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "gi.h"

/* <linux/vm_sockets.h>, which musl's headers lack. */
struct gi_sockaddr_vm {
	sa_family_t svm_family;
	unsigned short svm_reserved1;
	unsigned int svm_port;
	unsigned int svm_cid;
	unsigned char svm_zero[sizeof(struct sockaddr) - sizeof(sa_family_t) - sizeof(unsigned short) -
			       2 * sizeof(unsigned int)];
};
#define GI_VMADDR_CID_HOST 2

static int gi_vsock_open(unsigned port)
{
	struct gi_sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_port = port, .svm_cid = GI_VMADDR_CID_HOST };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* /sys/class/virtio-ports/vportNpM/name holds the name QEMU gave the port. */
static int gi_vport_find(char *dev, size_t cap)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int found = -ENOENT;

	if (!d)
		return -errno;
	while (found < 0 && (e = readdir(d))) {
		char path[300], name[64];
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, name, sizeof(name) - 1);
		close(fd);
		if (n <= 0)
			continue;
		name[n] = 0;
		name[strcspn(name, "\n")] = 0;
		if (strcmp(name, PROTO_PORT_NAME) == 0) {
			snprintf(dev, cap, "/dev/%s", e->d_name);
			found = 0;
		}
	}
	closedir(d);
	return found;
}

int gi_chan_open(const struct gi_cmdline *c)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	char dev[300];
	int r = -ENOENT;

	/* Devices may still be probing: retry for up to 10 s. The port shows
	 * up a few ms into init on a cold boot; each of those ms is on the
	 * path of every container start, so look often at first. */
	for (int i = 0; i < 600; i++) {
		if (i == 100)
			ts.tv_nsec = 20 * 1000 * 1000;
		if (c->vsock_port) {
			r = gi_vsock_open(c->vsock_port);
			if (r >= 0)
				return r;
		} else if (gi_vport_find(dev, sizeof(dev)) == 0) {
			int fd = open(dev, O_RDWR | O_CLOEXEC | O_NOCTTY);
			if (fd >= 0)
				return fd;
			r = -errno;
		}
		nanosleep(&ts, NULL);
	}
	return r;
}

int gi_chan_write_frame(int fd, uint16_t type, uint32_t stream, uint32_t ref,
			const void *payload, size_t len)
{
	struct proto_hdr h = { .len = (uint32_t)len, .type = type, .stream = stream, .ref = ref };
	uint8_t hdr[PROTO_HDR_SIZE];
	const uint8_t *parts[2] = { hdr, payload };
	size_t lens[2] = { sizeof(hdr), len };

	if (len > PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	proto_hdr_put(hdr, &h);
	for (int i = 0; i < 2; i++) {
		size_t off = 0;
		while (off < lens[i]) {
			ssize_t n = write(fd, parts[i] + off, lens[i] - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN) {
				struct timespec ts = { 0, 1000 * 1000 };
				nanosleep(&ts, NULL);
				continue;
			}
			if (n <= 0)
				return n < 0 ? -errno : -EPIPE;
			off += (size_t)n;
		}
	}
	return 0;
}

size_t gi_hello_payload(uint8_t *buf, size_t cap)
{
	struct utsname u;
	struct timespec ts;
	uint8_t clk[16];
	size_t off = PROTO_HELLO_FIXED;

	proto_put32(buf, PROTO_MAGIC);
	proto_put32(buf + 4, PROTO_VERSION);
	proto_put32(buf + 8, PROTO_FEAT_PTY | PROTO_FEAT_NET | PROTO_FEAT_STATS);
	if (uname(&u) == 0)
		proto_tlv_putstr(buf, cap, &off, PROTO_A_KERNEL, u.release);
	/* The guest's clock starts near the kernel's entry: with the host's
	 * receive time of this frame it places kernel and guest-init start on
	 * the host's timeline (ucrt bench, docs/benchmarks.md). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	proto_put64(clk, gi_t_start);
	proto_put64(clk + 8, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
	proto_tlv_put(buf, cap, &off, PROTO_A_CLOCK, clk, sizeof(clk));
	return off;
}
