/* Template VMs (docs/vm.md, Templates). A template's guest-init stops right
 * after opening the host channel, before the root disk or anything of an
 * image exists, and the host saves the VM there. Every clone restored from
 * it wakes up in that read with the template's identity: the same CRNG
 * state, a wall clock as old as the template, the template's cached blocks
 * of a disk that is no longer there. RESUME gives it its own before
 * anything else runs; the MAC, hostname and addresses come with CONFIG
 * as for a cold boot. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "gi.h"

/* <linux/random.h> and <linux/fs.h>, which musl's headers lack. */
#define GI_RNDADDENTROPY 0x40085203	/* _IOW('R', 0x03, int[2]) */
#define GI_RNDRESEEDCRNG 0x5207		/* _IO('R', 0x07) */
#ifndef BLKFLSBUF
#define BLKFLSBUF 0x1261		/* _IO(0x12, 97) */
#endif

static int gi_read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Credit the host's bytes as entropy and make the CRNG rekey from the
 * pool now: no clone starts with the template's CRNG state. */
static void gi_reseed(const struct gi_resume *r)
{
	struct {
		int entropy_count;
		int buf_size;
		uint8_t buf[sizeof(r->seed)];
	} info;
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		gi_die("opening /dev/urandom: %s", strerror(errno));
	info.entropy_count = (int)r->seed_len * 8;
	info.buf_size = (int)r->seed_len;
	memcpy(info.buf, r->seed, r->seed_len);
	if (ioctl(fd, GI_RNDADDENTROPY, &info) < 0 || ioctl(fd, GI_RNDRESEEDCRNG) < 0)
		gi_die("reseeding the CRNG: %s", strerror(errno));
	explicit_bzero(&info, sizeof(info));
	close(fd);
}

static void gi_set_clock(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u) };

	if (clock_settime(CLOCK_REALTIME, &ts) < 0)
		gi_log("setting the clock: %s", strerror(errno));
}

/* The template's kernel read the template's placeholder disk at probe
 * (partition scan): those blocks must not stand in for the clone's. */
static void gi_drop_disk_cache(const char *dev)
{
	int fd = open(dev, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;		/* switch_root says what is wrong with it */
	if (ioctl(fd, BLKFLSBUF, 0) < 0)
		gi_log("flushing %s: %s", dev, strerror(errno));
	close(fd);
}

void gi_template_wait(int fd, struct gi_cmdline *c)
{
	static uint8_t payload[PROTO_MAX_PAYLOAD];
	struct gi_resume res;
	struct proto_hdr h;
	uint8_t hdr[PROTO_HDR_SIZE];
	int r;

	r = gi_chan_write_frame(fd, PROTO_T_TEMPLATE_READY, 0, 0, NULL, 0);
	if (r < 0)
		gi_die("sending template ready: %s", strerror(-r));
	/* The host saves the VM during this read; clones return from it. */
	for (;;) {
		r = gi_read_full(fd, hdr, sizeof(hdr));
		if (r < 0)
			gi_die("waiting for resume: %s", strerror(-r));
		if (proto_hdr_get(hdr, &h) < 0)
			gi_die("waiting for resume: bad frame header");
		r = gi_read_full(fd, payload, h.len);
		if (r < 0)
			gi_die("waiting for resume: %s", strerror(-r));
		if (h.type == PROTO_T_TEMPLATE_RESUME)
			break;
	}
	r = gi_resume_parse(payload, h.len, &res);
	if (r < 0)
		gi_die("resume: %s", strerror(-r));
	if (res.seed_len == 0)
		gi_die("resume without a seed");
	gi_reseed(&res);
	explicit_bzero(&res.seed, sizeof(res.seed));
	if (res.time_ns)
		gi_set_clock(res.time_ns);
	gi_cmdline_apply(c, res.cmdline);
	c->template = false;
	gi_debug = c->debug;
	gi_drop_disk_cache(c->root);
}
