/* guest-init entry point. As PID 1 in a ucrt VM: mount the basics, load
 * modules, open the host channel, say hello, mount the container root and
 * switch into it, serve the host until the main process ends, power off.
 *
 * Outside a VM (not PID 1) it serves the protocol on an inherited fd, so the
 * host's tests run the very same binary over a socketpair:
 *     ucrt-init --serve-fd N [--etc-dir DIR] [--unshare]
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gi.h"

/* `ucrt version` reads this out of the binary (modules/cli/host-info.c):
 * the guest's version without booting one. */
__attribute__((used)) static const char gi_version[] = "ucrt-init-version=" UCRT_VERSION;

bool gi_debug;
bool gi_is_pid1;
bool gi_root_ephemeral;
int gi_chan_fd = -1;
uint64_t gi_t_start;

static __attribute__((format(printf, 1, 0))) void gi_vlog(const char *fmt, va_list ap)
{
	char line[512];
	int n;

	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (gi_is_pid1) {
		/* kmsg keeps it in dmesg and on the serial console. */
		int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			char pfx[] = "<3>ucrt-init: ";
			char out[600];
			memcpy(out, pfx, sizeof(pfx) - 1);
			memcpy(out + sizeof(pfx) - 1, line, (size_t)n);
			if (write(fd, out, sizeof(pfx) - 1 + (size_t)n) < 0) {
				/* nowhere else to say it */
			}
			close(fd);
			return;
		}
	}
	if (write(STDERR_FILENO, "ucrt-init: ", 11) < 0 || write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* stderr gone: nothing to do */
	}
}

void gi_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	gi_vlog(fmt, ap);
	va_end(ap);
}

void gi_poweroff(int code)
{
	if (!gi_is_pid1)
		exit(code < 0 ? 1 : code);
	kill(-1, SIGKILL);
	/* Killed processes still hold their files until reaped: wait for
	 * them (bounded: one stuck in the kernel must not keep the VM up). */
	for (int i = 0; i < 100 && waitpid(-1, NULL, WNOHANG) >= 0; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		nanosleep(&ts, NULL);
	}
	/* A discarded root (QEMU's snapshot of a --rm container's disk) needs
	 * neither: its journal commit would only be written to a file that
	 * is deleted with QEMU. Data mounts are unmounted (and so synced)
	 * either way. */
	if (!gi_root_ephemeral)
		sync();
	gi_unmount_data();
	/* A clean ext4 for the next start; fails harmlessly when busy or ro. */
	if (!gi_root_ephemeral)
		mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL);
	/* Without ACPI (ucrt's own kernel, microvm acpi=off) a power-off only
	 * halts the CPU and QEMU keeps running; a reboot ends it, because QEMU
	 * runs with -no-reboot and the kernel with reboot=t (docs/vm.md). */
	if (access("/sys/firmware/acpi", F_OK) == 0)
		reboot(RB_POWER_OFF);
	else
		reboot(RB_AUTOBOOT);
	/* Should the host have other plans, it ends the VM after the EXIT
	 * frame. PID 1 must not exit (kernel panic). */
	for (;;)
		pause();
}

void gi_die(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	gi_log("fatal: %s", msg);
	if (gi_chan_fd >= 0)
		gi_chan_write_frame(gi_chan_fd, PROTO_T_LOG, 0, 0, msg, (size_t)n);
	gi_poweroff(125);
}

static int gi_pid1_main(void)
{
	struct gi_cmdline c;
	char cmdline[4096] = "", msg[512];
	uint8_t hello[256];
	int fd, r;
	ssize_t n;

	gi_mount_early();
	/* Without /dev/console in the initramfs we start with no fds 0-2;
	 * fill them so pipes never land there (dup2 onto itself would keep
	 * O_CLOEXEC and a child would lose its stdio). */
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd < 3)
		;
	if (fd >= 3)
		close(fd);
	fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, cmdline, sizeof(cmdline) - 1);
		cmdline[n > 0 ? n : 0] = 0;
		close(fd);
	}
	gi_cmdline_parse(&c, cmdline);
	gi_debug = c.debug;
	/* Ctrl-Alt-Del becomes SIGINT to us, forwarded to the main process. */
	reboot(RB_DISABLE_CAD);
	gi_load_modules(cmdline);
	gi_net_lo_up();

	gi_chan_fd = gi_chan_open(&c);
	if (gi_chan_fd < 0)
		gi_die("no host channel: %s", strerror(-gi_chan_fd));
	if (c.template)
		gi_template_wait(gi_chan_fd, &c);
	gi_root_ephemeral = c.ephemeral;
	r = gi_chan_write_frame(gi_chan_fd, PROTO_T_HELLO, 0, 0, hello,
				gi_hello_payload(hello, sizeof(hello)));
	if (r < 0)
		gi_die("sending hello: %s", strerror(-r));

	r = gi_switch_root(&c, msg, sizeof(msg));
	if (r < 0)
		gi_die("%s", msg);

	mkdir("/etc", 0755);
	fd = open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct gi_serve_opts o = { .fd = gi_chan_fd, .etc_fd = fd, .test = false };
	r = gi_serve(&o);
	gi_poweroff(r);
}

static int gi_test_main(int argc, char **argv)
{
	struct gi_serve_opts o = { .fd = -1, .etc_fd = -1, .test = true };
	uint8_t hello[256];
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--serve-fd") == 0 && i + 1 < argc) {
			o.fd = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--etc-dir") == 0 && i + 1 < argc) {
			o.etc_fd = open(argv[++i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (o.etc_fd < 0)
				gi_die("%s: %s", argv[i], strerror(errno));
		} else if (strcmp(argv[i], "--unshare") == 0) {
			/* hostname, network and mount changes stay in fresh
			 * namespaces */
			if (unshare(CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWNS) < 0 ||
			    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
				gi_die("unshare: %s", strerror(errno));
		} else if (strcmp(argv[i], "--debug") == 0) {
			gi_debug = true;
		} else {
			fprintf(stderr, "usage: ucrt-init --serve-fd N [--etc-dir DIR] [--unshare] [--debug]\n"
				"(as PID 1 it takes no arguments)\n");
			return 2;
		}
	}
	if (o.fd < 0 || fcntl(o.fd, F_GETFD) < 0) {
		fprintf(stderr, "ucrt-init: --serve-fd needs an open fd\n");
		return 2;
	}
	gi_chan_fd = o.fd;
	r = gi_chan_write_frame(o.fd, PROTO_T_HELLO, 0, 0, hello, gi_hello_payload(hello, sizeof(hello)));
	if (r < 0)
		gi_die("sending hello: %s", strerror(-r));
	r = gi_serve(&o);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	gi_t_start = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	gi_is_pid1 = getpid() == 1;
	signal(SIGPIPE, SIG_IGN);
	/* `ucrt cp`: the host runs /proc/1/exe as a tar (tar.c). */
	if (!gi_is_pid1 && argc == 3 && !strncmp(argv[1], "--tar-", 6))
		return gi_tar_main(argc, argv);
	if (gi_is_pid1)
		return gi_pid1_main();
	return gi_test_main(argc, argv);
}
