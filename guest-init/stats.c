/* guest-init: what `ucrt stats` and `ucrt top` ask about the guest. The
 * guest is the container, so its own counters are the container's:
 * /proc/stat for CPU time, /proc/diskstats for the virtio disks, and
 * /proc/PID/ for the processes (kernel threads and guest-init left out). */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve.h"

static ssize_t gi_read_small(int dirfd, const char *path, char *buf, size_t cap)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

/* The container's processes, as top lists them (docker's PIDS): not
 * the kernel's threads (children of kthreadd, PID 2) nor guest-init. */
static uint32_t gi_user_procs(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	uint32_t n = 0;

	while (d && (de = readdir(d))) {
		char path[300], buf[512], *rp;
		unsigned long ppid;
		if (!isdigit((unsigned char)de->d_name[0]) || atoi(de->d_name) <= 2)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if (gi_read_small(AT_FDCWD, path, buf, sizeof(buf)) > 0 && (rp = strrchr(buf, ')')) &&
		    sscanf(rp + 1, " %*c %lu", &ppid) == 1 && ppid != 2)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

void gi_stats_more(uint8_t *p)
{
	char buf[8192];
	unsigned long long v[8] = { 0 }, rd = 0, wr = 0;
	long hz = sysconf(_SC_CLK_TCK), ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t tick_ns = hz > 0 ? 1000000000ull / (uint64_t)hz : 10000000ull;

	/* cpu  user nice system idle iowait irq softirq steal ... */
	if (gi_read_small(AT_FDCWD, "/proc/stat", buf, sizeof(buf)) > 0 &&
	    sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5], &v[6], &v[7]) >= 4) {
		uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
		proto_put64(p + PROTO_STATS_CPU_BUSY_NS, busy * tick_ns);
		proto_put64(p + PROTO_STATS_CPU_TOTAL_NS, (busy + v[3] + v[4]) * tick_ns);
	}
	/* major minor name reads merged sectors ms writes merged sectors ...;
	 * whole virtio disks only (vda, not vda1), sectors of 512 bytes. */
	if (gi_read_small(AT_FDCWD, "/proc/diskstats", buf, sizeof(buf)) > 0) {
		for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
			char name[32];
			unsigned long long r[7];
			if (sscanf(line, " %*u %*u %31s %llu %llu %llu %llu %llu %llu %llu", name, &r[0], &r[1],
				   &r[2], &r[3], &r[4], &r[5], &r[6]) == 8 &&
			    strncmp(name, "vd", 2) == 0 && !isdigit((unsigned char)name[strlen(name) - 1])) {
				rd += r[2] * 512;
				wr += r[6] * 512;
			}
		}
	}
	proto_put64(p + PROTO_STATS_BLK_READ, rd);
	proto_put64(p + PROTO_STATS_BLK_WRITE, wr);
	proto_put32(p + PROTO_STATS_NCPUS, ncpu > 0 ? (uint32_t)ncpu : 1);
	proto_put32(p + PROTO_STATS_USER_PROCS, gi_user_procs());
}

/* One process as a PROTO_A_PROC value; 0 when it is not one to list. */
static size_t gi_proc_entry(int procfd, const char *pid, uint8_t *out, long hz, long page)
{
	char buf[1024], path[300];
	struct stat st;
	char *rp, state;
	unsigned long ppid;
	unsigned long long ut, stt, rss;
	ssize_t n;
	size_t len;

	snprintf(path, sizeof(path), "%s/stat", pid);
	if (gi_read_small(procfd, path, buf, sizeof(buf)) <= 0 || fstatat(procfd, pid, &st, 0) < 0)
		return 0;
	rp = strrchr(buf, ')');
	/* ) state ppid pgrp session tty tpgid flags minflt cminflt majflt
	 * cmajflt utime stime cutime cstime priority nice threads itreal
	 * starttime vsize rss */
	if (!rp || sscanf(rp + 1, " %c %lu %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
			  "%*d %*u %*u %llu", &state, &ppid, &ut, &stt, &rss) != 5)
		return 0;
	if (atoi(pid) == 1 || ppid == 2 || atoi(pid) == 2)
		return 0;	/* guest-init, kernel threads */
	proto_put32(out, (uint32_t)atoi(pid));
	proto_put32(out + 4, (uint32_t)ppid);
	proto_put32(out + 8, st.st_uid);
	proto_put32(out + 12, (uint32_t)(unsigned char)state);
	proto_put64(out + 16, (ut + stt) * 1000ull / (unsigned long long)(hz > 0 ? hz : 100));
	proto_put64(out + 24, rss * (unsigned long long)page);
	snprintf(path, sizeof(path), "%s/cmdline", pid);
	n = gi_read_small(procfd, path, buf, PROTO_MAX_PROC_CMD + 1);
	len = n > 0 ? (size_t)n : 0;
	while (len && buf[len - 1] == 0)
		len--;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == 0)
			buf[i] = ' ';
	memcpy(out + PROTO_PROC_FIXED, buf, len);
	return PROTO_PROC_FIXED + len;
}

void gi_on_top(struct gi_srv *s, const struct proto_hdr *h)
{
	static uint8_t p[PROTO_MAX_PAYLOAD];
	uint8_t ent[PROTO_PROC_FIXED + PROTO_MAX_PROC_CMD + 1];
	long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = procfd >= 0 ? fdopendir(dup(procfd)) : NULL;
	struct dirent *de;
	size_t off = 0;
	bool trunc = false;

	while (d && (de = readdir(d))) {
		size_t n;
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		n = gi_proc_entry(procfd, de->d_name, ent, hz, page);
		if (!n)
			continue;
		if (proto_tlv_put(p, sizeof(p) - 8, &off, PROTO_A_PROC, ent, n) < 0) {
			trunc = true;
			break;
		}
	}
	if (trunc)
		proto_tlv_put32(p, sizeof(p), &off, PROTO_A_TRUNC, 1);
	if (d)
		closedir(d);
	if (procfd >= 0)
		close(procfd);
	gi_send(s, PROTO_T_TOP, 0, 0, h->ref, p, off);
}
