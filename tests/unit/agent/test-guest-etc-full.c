/* guest-init's CONFIG on a full root filesystem (a container that filled
 * its disk, started again), against the real binary in fresh namespaces
 * (--unshare; needs root): /etc/hosts cannot be rewritten in place, so it
 * is written under /run and bound over the image's; the CONFIG succeeds and
 * the full filesystem keeps its file and gets no temp file. */
#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "tests/lib/tap.h"
#include "t-guest.h"

static struct t_guest g;

static void t_config(const struct agent_config *c, struct agent_result *r)
{
	_cleanup_buf_ struct buf b = BUF_INIT;

	memset(r, 0, sizeof(*r));
	r->err = -1;
	agent_encode_config(&b, 7, c);
	t_send_buf(&g, &b);
	while (t_recv(&g, 5000) == 1)
		if (g.f.h.type == PROTO_T_RESULT && g.f.h.ref == 7) {
			agent_decode_result(&g.f, r);
			return;
		}
}

/* Fill the filesystem at dir: a file written until ENOSPC. */
static bool t_fill(const char *dir)
{
	char path[512], block[4096] = { 1 };
	bool full = false;
	int fd;

	snprintf(path, sizeof(path), "%s/filler", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	for (int i = 0; i < 1024 && !full; i++)
		full = write(fd, block, sizeof(block)) < 0 && errno == ENOSPC;
	close(fd);
	return full;
}

static unsigned t_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

int main(void)
{
	char dir[] = "/tmp/ucrt-t-etcfull-XXXXXX", path[512], cmd[600];
	const char *extra[] = { "--unshare", "--etc-dir", dir, NULL };
	char *hosts[] = { "192.0.2.10 registry.local", NULL };
	struct agent_config c = { .hostname = "full1", .hosts = hosts };
	char *cat[] = { "sh", "-c", cmd, NULL }, *env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	struct agent_proc_spec s = { .argv = cat, .env = env };
	_cleanup_buf_ struct buf b = BUF_INIT;
	struct agent_result r;
	struct t_proc p = { 0 };
	char *f = NULL;
	size_t flen;

	if (getuid() != 0)
		t_skip_all("namespaces need root");
	if (!mkdtemp(dir) || mount("tmpfs", dir, "tmpfs", 0, "size=64k,nr_inodes=64") < 0)
		t_skip_all("cannot mount a tmpfs");
	snprintf(path, sizeof(path), "%s/hosts", dir);
	t_ok(write_file_atomic_at(AT_FDCWD, path, "old\n", 4, 0644) == 0 && t_fill(dir), "etc on a full tmpfs");
	if (t_guest_spawn(&g, extra) < 0) {
		umount(dir);
		rmdir(dir);
		t_skip_all("build/ucrt-init not built");
	}
	t_ok(t_recv(&g, 5000) == 1 && g.f.h.type == PROTO_T_HELLO, "hello");

	t_config(&c, &r);
	t_ok(r.err == 0, "config applied on a full root (%d: %s)", r.err, r.msg);
	snprintf(cmd, sizeof(cmd), "cat %s/hosts", dir);
	agent_encode_proc(&b, PROTO_T_EXEC, 1, 1, &s);
	t_send_buf(&g, &b);
	t_proc_wait(&g, 1, &p, 5000);
	t_ok(p.out.data && strstr(p.out.data, "127.0.0.1\tlocalhost\n") && strstr(p.out.data, "192.0.2.10 registry.local\n"),
	     "the guest's /etc/hosts is the new one (bound from /run)");
	t_proc_free(&p);
	t_ok(read_file_at(AT_FDCWD, path, 4096, &f, &flen) == 0 && flen == 4 && memcmp(f, "old\n", 4) == 0,
	     "the full filesystem's file is untouched");
	free(f);
	t_ok(t_entries(dir) == 2, "no temp file left on it (%u entries)", t_entries(dir));

	t_send(&g, PROTO_T_SHUTDOWN, 0, 0, 0, NULL, 0);
	t_ok(t_recv(&g, 5000) == -1, "shutdown ends the guest");
	t_guest_end(&g);
	/* --unshare keeps the bind mount in guest-init's namespace, but the
	 * files it wrote are in the host's /run. */
	unlink("/run/ucrt-etc/hosts");
	unlink("/run/ucrt-etc/hostname");
	rmdir("/run/ucrt-etc");
	umount(dir);
	rmdir(dir);
	return t_done();
}
