/* The ucrt host<->guest wire format (version 1), shared by the host
 * (modules/agent) and the guest (guest-init). Plain C, no dependencies, so
 * the static musl guest can include it. docs/protocol.md is the prose.
 *
 * One byte stream per VM (virtio-serial port or vsock connection) carries
 * frames:  header (16 bytes, little-endian) + payload (len bytes).
 *
 *   u32 len     payload length, <= PROTO_MAX_PAYLOAD
 *   u16 type    enum proto_type
 *   u16 flags   PROTO_F_*
 *   u32 stream  process id chosen by the host (1..PROTO_MAX_STREAM), 0 for
 *               frames about the VM as a whole
 *   u32 ref     request id chosen by the host; echoed in the RESULT/STATS
 *               reply; 0 when no reply is wanted
 *
 * Control payloads are TLV lists: {u16 tag, u16 len, value[len]} with no
 * padding. Integers are u32 LE (exactly 4 bytes); strings carry no NUL and
 * are not NUL-terminated on the wire. Fixed-layout payloads (CREDIT, SIGNAL,
 * RESIZE, EXIT, STATS) are read with the offsets given below; a receiver
 * rejects a payload shorter than its fixed size and ignores extra bytes
 * (room for later additions).
 *
 * Stdio of process P travels in STDIN/STDOUT/STDERR frames with stream = P.
 * Flow control is credit-based per (stream, channel): each side starts with
 * PROTO_INITIAL_CREDIT bytes per channel it sends on, and may send that many
 * data bytes; the receiver returns credit with CREDIT frames as it consumes
 * data. Sending beyond the credit is a protocol violation.
 */
#ifndef UCRT_AGENT_PROTO_H
#define UCRT_AGENT_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PROTO_MAGIC 0x54524355u		/* "UCRT" little-endian */
#define PROTO_VERSION 1u
#define PROTO_HDR_SIZE 16u
#define PROTO_MAX_PAYLOAD (64u * 1024u)
#define PROTO_MAX_STREAM 0xffffu	/* stream ids 1..65535 */
#define PROTO_MAX_PROCS 64u		/* concurrent processes in one guest */
#define PROTO_INITIAL_CREDIT (256u * 1024u)
#define PROTO_MAX_CREDIT (64u * 1024u * 1024u)	/* outstanding, per channel */

/* Kernel command line parameters understood by guest-init (docs/guest-init.md):
 *   ucrt.root=/dev/vda        root disk (default /dev/vda)
 *   ucrt.rootfstype=ext4      (default ext4)
 *   ucrt.rootflags=...        mount data string
 *   ucrt.ro                   mount the root disk read-only
 *   ucrt.overlay=tmpfs        read-only root + tmpfs upper via overlayfs
 *   ucrt.vsock=PORT           connect to host CID 2 on PORT instead of
 *                             the virtio-serial port named PROTO_PORT_NAME
 *   ucrt.debug                verbose messages on /dev/kmsg
 *   ucrt.template             a template VM: stop after opening the channel
 *                             (PROTO_T_TEMPLATE_READY) until RESUME
 *   ucrt.ephemeral            the root disk is discarded with the VM: no sync
 *                             or read-only remount of / at power-off
 * Modules (initramfs case): /modules/order lists file names in
 * /modules/, one per line, loaded in that order with finit_module(). */
#define PROTO_PORT_NAME "ucrt.agent"
#define PROTO_CMDLINE_PREFIX "ucrt."

enum proto_type {
	PROTO_T_HELLO = 1,	/* both: guest first, host answers. fixed + TLV */
	PROTO_T_CONFIG = 2,	/* host: hostname, network, dns. TLV; RESULT */
	PROTO_T_START = 3,	/* host: start the main process. TLV; RESULT */
	PROTO_T_EXEC = 4,	/* host: start another process. TLV; RESULT */
	PROTO_T_RESULT = 5,	/* guest: reply to CONFIG/START/EXEC. TLV */
	PROTO_T_STDIN = 6,	/* host: data for the process's stdin */
	PROTO_T_STDOUT = 7,	/* guest: data (pty output goes here too) */
	PROTO_T_STDERR = 8,	/* guest: data */
	PROTO_T_CREDIT = 9,	/* both: fixed {u32 chan, u32 bytes} */
	PROTO_T_SIGNAL = 10,	/* host: fixed {u32 signo} */
	PROTO_T_RESIZE = 11,	/* host: fixed {u16 rows, cols, xpix, ypix} */
	PROTO_T_EXIT = 12,	/* guest: fixed, see PROTO_EXIT_* */
	PROTO_T_STATS_REQ = 13,	/* host: empty; answered by STATS */
	PROTO_T_STATS = 14,	/* guest: fixed, see PROTO_STATS_* */
	PROTO_T_LOG = 15,	/* guest: a diagnostic line (raw text, no NUL) */
	PROTO_T_SHUTDOWN = 16,	/* host: kill everything and power off */
	/* VM templates (docs/vm.md, Templates): guest-init booted with
	 * ucrt.template sends READY (empty) once the channel is open and
	 * nothing image-specific exists, then waits for RESUME, which a clone
	 * restored from the saved VM receives first. RESUME is TLV:
	 * PROTO_A_SEED, PROTO_A_TIME, PROTO_A_CMDLINE; guest-init then goes on
	 * as after a cold boot (HELLO, root disk, CONFIG). */
	PROTO_T_TEMPLATE_READY = 17,	/* guest: empty */
	PROTO_T_TEMPLATE_RESUME = 18,	/* host: TLV */
	PROTO_T_TOP_REQ = 20,	/* host: empty; answered by TOP (same ref) */
	PROTO_T_TOP = 21,	/* guest: TLV, PROTO_A_PROC*, PROTO_A_TRUNC */
	PROTO_T_MAX = 21,
};

/* Frame flags. */
#define PROTO_F_EOF 0x1u	/* on STDIN/STDOUT/STDERR: last frame of channel */
#define PROTO_F_ALL 0x1u

/* Stdio channels, used in CREDIT frames. */
enum proto_chan { PROTO_CHAN_STDIN = 0, PROTO_CHAN_STDOUT = 1, PROTO_CHAN_STDERR = 2 };

/* HELLO payload: u32 magic, u32 version, u32 features, then TLV
 * (PROTO_A_KERNEL, PROTO_A_MSG). */
#define PROTO_HELLO_FIXED 12u
#define PROTO_FEAT_PTY 0x1u
#define PROTO_FEAT_NET 0x2u
#define PROTO_FEAT_STATS 0x4u

/* CREDIT payload. */
#define PROTO_CREDIT_SIZE 8u		/* u32 chan @0, u32 bytes @4 */
/* SIGNAL payload. */
#define PROTO_SIGNAL_SIZE 4u		/* u32 signo @0 */
/* RESIZE payload. */
#define PROTO_RESIZE_SIZE 8u		/* u16 rows @0, cols @2, xpix @4, ypix @6 */
/* EXIT payload: code is the docker-style status (exit code, 128+signal,
 * 126/127 for exec failures); signal is the terminating signal or 0;
 * wstatus the raw wait status. */
#define PROTO_EXIT_SIZE 12u		/* u32 code @0, u32 signal @4, u32 wstatus @8 */
/* STATS payload. */
#define PROTO_STATS_SIZE 48u
#define PROTO_STATS_UPTIME_MS 0		/* u64 */
#define PROTO_STATS_MEM_TOTAL 8		/* u64 bytes */
#define PROTO_STATS_MEM_FREE 16		/* u64 bytes */
#define PROTO_STATS_MEM_AVAIL 24	/* u64 bytes */
#define PROTO_STATS_LOAD1 32		/* u32, load * 65536 */
#define PROTO_STATS_LOAD5 36
#define PROTO_STATS_LOAD15 40
#define PROTO_STATS_NPROCS 44		/* u32 */
/* Appended by newer guests (receivers take the 48-byte form as well):
 * CPU time as the guest's /proc/stat counts it (no cgroups in a VM: the
 * guest is the container) and its virtio disks' I/O (/proc/diskstats). */
#define PROTO_STATS_SIZE_FULL 88u
#define PROTO_STATS_CPU_BUSY_NS 48	/* u64: all CPUs: user+nice+system+irq+softirq+steal */
#define PROTO_STATS_CPU_TOTAL_NS 56	/* u64: all CPUs: busy + idle + iowait */
#define PROTO_STATS_BLK_READ 64		/* u64 bytes */
#define PROTO_STATS_BLK_WRITE 72	/* u64 bytes */
#define PROTO_STATS_NCPUS 80		/* u32 */
#define PROTO_STATS_USER_PROCS 84	/* u32: processes but kernel threads and PID 1 */

/* PROTO_A_PROC (TOP): one process, fixed part then its command line
 * (arguments joined by spaces, at most PROTO_MAX_PROC_CMD bytes). */
#define PROTO_PROC_FIXED 32u		/* u32 pid @0, ppid @4, uid @8, state @12 (an ASCII
					 * letter, /proc/PID/stat), u64 cpu_ms @16, u64 rss bytes @24 */
#define PROTO_MAX_PROC_CMD 256u

/* TLV tags. Repeated tags are allowed where marked (*). */
enum proto_attr {
	/* HELLO */
	PROTO_A_KERNEL = 1,	/* str: uname release */
	/* RESULT */
	PROTO_A_ERRNO = 2,	/* u32: 0 ok, else a positive errno */
	PROTO_A_MSG = 3,	/* str: human-readable detail */
	PROTO_A_PID = 4,	/* u32: guest pid of the started process */
	/* START / EXEC */
	PROTO_A_ARG = 10,	/* str*: argv, in order (at least one) */
	PROTO_A_ENV = 11,	/* str*: "KEY=VALUE" */
	PROTO_A_CWD = 12,	/* str: absolute working directory */
	PROTO_A_UID = 13,	/* u32 */
	PROTO_A_GID = 14,	/* u32 */
	PROTO_A_GROUP = 15,	/* u32*: supplementary groups */
	PROTO_A_TTY = 16,	/* u32: 1 = run on a pty (stdout only) */
	PROTO_A_WINSIZE = 17,	/* 8 bytes, as the RESIZE payload */
	PROTO_A_STDIN = 18,	/* u32: 1 = stdin is fed by STDIN frames, else /dev/null */
	/* CONFIG */
	PROTO_A_HOSTNAME = 20,	/* str */
	PROTO_A_IFNAME = 21,	/* str: interface to configure (default eth0) */
	PROTO_A_ADDR = 22,	/* *: 4 bytes IPv4 + u8 prefix, or 16 bytes IPv6 + u8 prefix */
	PROTO_A_GATEWAY = 23,	/* *: 4 or 16 bytes; default route via it */
	PROTO_A_MTU = 24,	/* u32 */
	PROTO_A_DNS = 25,	/* str*: nameserver address (resolv.conf) */
	PROTO_A_SEARCH = 26,	/* str*: search domain */
	PROTO_A_HOSTS = 27,	/* str*: one /etc/hosts line: "ADDR NAME [ALIAS...]" */
	PROTO_A_MOUNT = 28,	/* *: u8 kind, u8 flags, u16 srclen, src, target (see below) */
	/* HELLO */
	PROTO_A_CLOCK = 29,	/* 2 x u64: guest CLOCK_MONOTONIC ns at guest-init's start, at sending */
	/* TEMPLATE_RESUME */
	PROTO_A_SEED = 30,	/* 32..512 bytes of host randomness for the CRNG */
	PROTO_A_TIME = 31,	/* u64: host CLOCK_REALTIME ns */
	PROTO_A_CMDLINE = 32,	/* str: ucrt.* parameters replacing the template's */
	/* CONFIG */
	PROTO_A_MAC = 33,	/* 6 bytes: the interface's address, set before link up */
	/* TOP */
	PROTO_A_PROC = 40,	/* *: PROTO_PROC_FIXED bytes + command line */
	PROTO_A_TRUNC = 41,	/* u32: 1 = more processes than fit in one frame */
	/* START/EXEC, Kubernetes pods (docs/scale-out.md) */
	PROTO_A_ROOT = 56,	/* str: absolute guest directory: the process runs chrooted there,
				 * in a mount namespace of its own with the guest's /proc, /sys, /dev */
	PROTO_A_MAX = 56,
};

/* PROTO_A_MOUNT: what guest-init mounts at target (an absolute path)
 * before the main process starts. src is, by kind: the 9p mount tag of a
 * shared host directory; "TAG/NAME" for one file NAME of a share, bound
 * onto target; the serial of a virtio-blk disk holding ext4; tmpfs
 * options ("size=N,mode=M", digits and letters only). A mount that fails
 * fails the CONFIG request, and guest-init then refuses START with the
 * same message: the process never runs without its data. */
enum proto_mount_kind {
	PROTO_MOUNT_9P = 1,
	PROTO_MOUNT_9P_FILE = 2,
	PROTO_MOUNT_DISK = 3,
	PROTO_MOUNT_TMPFS = 4,
	/* A read-only ext4 disk (by serial) holding qemu-user and a file
	 * "binfmt" of binfmt_misc register lines naming it under target:
	 * guest-init mounts it, registers them (F flag: the kernel keeps the
	 * interpreter open) and unmounts it again (docs/platforms.md). */
	PROTO_MOUNT_BINFMT = 5,
};
#define PROTO_MOUNT_RO 0x1u
#define PROTO_MAX_MOUNTS 32u

/* Bounds every receiver enforces on START/EXEC/CONFIG. */
#define PROTO_MAX_ARGS 4096u
#define PROTO_MAX_GROUPS 64u
#define PROTO_MAX_PATH 4096u
#define PROTO_MAX_HOSTNAME 64u

/* ---- little-endian helpers ---- */

static inline void proto_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void proto_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void proto_put64(uint8_t *p, uint64_t v)
{
	proto_put32(p, (uint32_t)v);
	proto_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t proto_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t proto_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t proto_get64(const uint8_t *p)
{
	return (uint64_t)proto_get32(p) | (uint64_t)proto_get32(p + 4) << 32;
}

/* ---- frame header ---- */

struct proto_hdr {
	uint32_t len;
	uint16_t type;
	uint16_t flags;
	uint32_t stream;
	uint32_t ref;
};

static inline void proto_hdr_put(uint8_t *p, const struct proto_hdr *h)
{
	proto_put32(p, h->len);
	proto_put16(p + 4, h->type);
	proto_put16(p + 6, h->flags);
	proto_put32(p + 8, h->stream);
	proto_put32(p + 12, h->ref);
}

/* Decode and check what can be checked without knowing the sender:
 * bounded length, known type, known flags, stream in range.
 * Returns 0 or -1. */
static inline int proto_hdr_get(const uint8_t *p, struct proto_hdr *h)
{
	h->len = proto_get32(p);
	h->type = proto_get16(p + 4);
	h->flags = proto_get16(p + 6);
	h->stream = proto_get32(p + 8);
	h->ref = proto_get32(p + 12);
	if (h->len > PROTO_MAX_PAYLOAD || h->type == 0 || h->type > PROTO_T_MAX)
		return -1;
	if (h->flags & ~PROTO_F_ALL)
		return -1;
	if (h->stream > PROTO_MAX_STREAM)
		return -1;
	return 0;
}

/* ---- TLV ---- */

struct proto_tlv_iter {
	const uint8_t *p;
	size_t left;
};

static inline void proto_tlv_init(struct proto_tlv_iter *it, const uint8_t *p, size_t len)
{
	it->p = p;
	it->left = len;
}

/* Next attribute: 1 and fills tag/val/len, 0 at the end, -1 when the rest is
 * truncated (a malformed payload). */
static inline int proto_tlv_next(struct proto_tlv_iter *it, uint16_t *tag,
				 const uint8_t **val, uint16_t *len)
{
	uint16_t l;

	if (it->left == 0)
		return 0;
	if (it->left < 4)
		return -1;
	l = proto_get16(it->p + 2);
	if ((size_t)l > it->left - 4)
		return -1;
	*tag = proto_get16(it->p);
	*len = l;
	*val = it->p + 4;
	it->p += 4 + (size_t)l;
	it->left -= 4 + (size_t)l;
	return 1;
}

/* A string value is valid when it holds no NUL byte. */
static inline int proto_str_ok(const uint8_t *val, size_t len)
{
	return memchr(val, 0, len) == NULL;
}

/* Append one attribute to buf[*off..cap). Returns 0 or -1 when it does not
 * fit (the caller's frame would be too big). */
static inline int proto_tlv_put(uint8_t *buf, size_t cap, size_t *off, uint16_t tag,
				const void *val, size_t len)
{
	if (len > 0xffff || *off > cap || cap - *off < 4 + len)
		return -1;
	proto_put16(buf + *off, tag);
	proto_put16(buf + *off + 2, (uint16_t)len);
	if (len)
		memcpy(buf + *off + 4, val, len);
	*off += 4 + len;
	return 0;
}

static inline int proto_tlv_put32(uint8_t *buf, size_t cap, size_t *off, uint16_t tag, uint32_t v)
{
	uint8_t le[4];

	proto_put32(le, v);
	return proto_tlv_put(buf, cap, off, tag, le, 4);
}

static inline int proto_tlv_putstr(uint8_t *buf, size_t cap, size_t *off, uint16_t tag, const char *s)
{
	return proto_tlv_put(buf, cap, off, tag, s, strlen(s));
}

#endif
