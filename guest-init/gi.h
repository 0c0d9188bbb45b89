/* guest-init: the static PID 1 of a ucrt VM. Internal declarations shared
 * by the files of guest-init/ (prefix gi_). Only modules/agent/proto.h comes
 * from the host tree. */
#ifndef UCRT_GI_H
#define UCRT_GI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/proto.h"

/* What the kernel command line asks for (see proto.h for the parameters). */
struct gi_cmdline {
	char root[256];
	char fstype[32];
	char rootflags[256];
	bool ro;
	bool overlay;
	unsigned vsock_port;	/* 0: use the virtio-serial port */
	bool debug;
	bool template;		/* stop at READY until RESUME (unclone.c) */
	bool ephemeral;		/* the root disk is discarded when the VM ends */
};

/* Mount data for the ext4 disks ucrt attaches: no ext4lazyinit thread,
 * which would compete with the container for its vCPU during its first
 * seconds. It prefetches block bitmaps (the allocator reads the few it
 * needs on demand) and zeroes inode tables not flagged zeroed: ucrt's
 * writer flags them (a sparse file reads as zeroes), disks written before
 * it did would get ~16 MiB of zeroes per GiB written into the overlay. */
#define GI_EXT4_OPTS "noinit_itable,no_prefetch_block_bitmaps"
/* A discarded root needs no journal: no replay, no jbd2 thread, no commits. */
#define GI_EXT4_OPTS_EPHEMERAL GI_EXT4_OPTS ",noload"

/* main.c */
extern bool gi_debug;
extern bool gi_is_pid1;
extern bool gi_root_ephemeral;	/* ucrt.ephemeral: no sync of / at power-off */
extern int gi_chan_fd;	/* for die(): the channel once it is open, else -1 */
extern uint64_t gi_t_start;	/* CLOCK_MONOTONIC ns when main() began (HELLO's clock) */
void gi_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn, format(printf, 1, 2))) void gi_die(const char *fmt, ...);
/* Kill every other process, sync, power off (or exit outside a VM). */
__attribute__((noreturn)) void gi_poweroff(int code);

/* tar.c: `--tar-create PATH` / `--tar-extract DEST` for ucrt cp; -1 when
 * argv is neither. */
int gi_tar_main(int argc, char **argv);

/* cmdline.c */
void gi_cmdline_parse(struct gi_cmdline *c, const char *s);
/* Parameters of s on top of what c holds (a clone's RESUME). */
void gi_cmdline_apply(struct gi_cmdline *c, const char *s);

/* unclone.c: a template VM's wait and a clone's new identity */
struct gi_resume {
	uint8_t seed[512];
	size_t seed_len;
	uint64_t time_ns;	/* 0: not given */
	char cmdline[1024];
};
int gi_resume_parse(const uint8_t *p, size_t len, struct gi_resume *r);
/* Send READY on fd, block until RESUME, then reseed the CRNG, set the
 * clock, apply the clone's parameters to c and drop the root disk's
 * cached blocks (the clone's disk is not the template's). Dies on a
 * broken channel. */
void gi_template_wait(int fd, struct gi_cmdline *c);

/* mount.c */
void gi_mount_early(void);
void gi_load_modules(const char *cmdline);
/* Mount the root disk and switch into it; returns 0 or -errno with msg. */
int gi_switch_root(const struct gi_cmdline *c, char *msg, size_t msglen);

/* chan.c */
int gi_chan_open(const struct gi_cmdline *c);
/* Blocking write of one frame (setup and die paths only). */
int gi_chan_write_frame(int fd, uint16_t type, uint32_t stream, uint32_t ref,
			const void *payload, size_t len);
size_t gi_hello_payload(uint8_t *buf, size_t cap);

/* net.c: raw rtnetlink */
struct gi_addr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t prefix;
};
int gi_net_link_up(const char *ifname, uint32_t mtu);
int gi_net_lo_up(void);
int gi_net_set_mac(const char *ifname, const uint8_t mac[6]);
int gi_net_add_addr(const char *ifname, const struct gi_addr *a);
int gi_net_default_route(const char *ifname, const struct gi_addr *gw);

/* mount-data.c: the container's data mounts (PROTO_A_MOUNT) */
struct gi_mount {
	int kind;		/* enum proto_mount_kind */
	bool readonly;
	char src[256];
	char target[PROTO_MAX_PATH + 1];
};
int gi_mount_parse(const uint8_t *v, size_t len, struct gi_mount *m);
/* Mount them in order; the first failure stops, with msg. */
int gi_mount_data(const struct gi_mount *m, unsigned n, char *msg, size_t msglen);
/* binfmt.c: mount the emulator disk dev read-only at dir, register the
 * lines of dir/binfmt with binfmt_misc, unmount it (PROTO_MOUNT_BINFMT). */
int gi_binfmt_register(const char *dev, const char *dir, char *msg, size_t msglen);
/* Before power-off: leave the read-write disks clean. */
void gi_unmount_data(void);

/* config.c: CONFIG request (hostname, network, resolv.conf, hosts). etc_fd
 * is the directory the files go to. Returns 0 or -errno with msg. */
int gi_config_apply(const uint8_t *p, size_t len, int etc_fd, char *msg, size_t msglen);
int gi_write_file_at(int dirfd, const char *name, const char *data, size_t len);

/* serve.c: serve the protocol on fd until the main process has exited and
 * its exit status has been sent, SHUTDOWN arrives or the host goes away.
 * Returns the main process's exit code, or -1 without one. */
struct gi_serve_opts {
	int fd;
	int etc_fd;
	bool test;		/* not PID 1: reap only our children */
};
int gi_serve(const struct gi_serve_opts *o);

#endif
