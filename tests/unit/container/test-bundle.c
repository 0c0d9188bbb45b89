/* OCI runtime-spec bundles: config.json -> container config (process,
 * mounts, namespaces, resources, annotations, what is accepted but not
 * applied), the refusals, loading from a bundle directory, signal names,
 * and the 9p root share that replaces the root disk. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/bundle-internal.h"
#include "container/container.h"
#include "err.h"
#include "str.h"
#include "tests/lib/tap.h"
#include "util.h"
#include "vm/vm.h"

static const char *full_config =
	"{\"ociVersion\":\"1.0.2-dev\",\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
	"\"hostname\":\"box\","
	"\"process\":{\"terminal\":true,\"args\":[\"sh\",\"-c\",\"echo hi\"],"
	" \"env\":[\"PATH=/bin\",\"A=b=c\"],\"cwd\":\"/srv\","
	" \"user\":{\"uid\":1000,\"gid\":50,\"additionalGids\":[1,2]},"
	" \"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":1024}],"
	" \"noNewPrivileges\":true,\"capabilities\":{\"bounding\":[\"CAP_KILL\"]}},"
	"\"mounts\":["
	" {\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	" {\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\"},"
	" {\"destination\":\"/dev/shm\",\"type\":\"bind\",\"source\":\"/run/shm\",\"options\":[\"rbind\"]},"
	" {\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\"},"
	" {\"destination\":\"/data/\",\"type\":\"bind\",\"source\":\"/srv/data\",\"options\":[\"rbind\",\"ro\"]},"
	" {\"destination\":\"/rel\",\"type\":\"none\",\"source\":\"relsrc\",\"options\":[\"bind\"]},"
	" {\"destination\":\"/scratch\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"size=65536k\",\"mode=1777\"]},"
	" {\"destination\":\"/x\",\"type\":\"overlay\",\"source\":\"o\"}],"
	"\"annotations\":{\"io.podman.x\":\"1\",\"k\":\"v\"},"
	"\"hooks\":{\"prestart\":[]},"
	"\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\",\"path\":\"/run/netns/cni-1\"},{\"type\":\"mount\"}],"
	" \"resources\":{\"cpu\":{\"quota\":250000,\"period\":100000},\"memory\":{\"limit\":536870912}},"
	" \"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\"},\"maskedPaths\":[\"/proc/kcore\"]}}";

static bool has(char **v, const char *prefix)
{
	for (; v && *v; v++) {
		if (strncmp(*v, prefix, strlen(prefix)) == 0)
			return true;
	}
	return false;
}

static void t_full(void)
{
	struct ctr_bundle b;
	struct err e = { 0 };
	const struct ctr_mount *m;

	t_ok(ctr_bundle_parse(full_config, strlen(full_config), NULL, &b, &e) == 0, "full config parses: %s",
	     err_msg(&e));
	t_streq(b.cfg.root_dir, "rootfs", "root.path kept as given without a bundle dir");
	t_ok(b.cfg.read_only, "root.readonly");
	t_streq(b.cfg.hostname, "box", "hostname");
	t_streq(b.cfg.spec.argv[2], "echo hi", "args");
	t_streq(b.cfg.spec.env[1], "A=b=c", "env with '=' in the value");
	t_streq(b.cfg.spec.cwd, "/srv", "cwd");
	t_is(b.cfg.spec.uid, 1000, "uid");
	t_is(b.cfg.spec.gid, 50, "gid");
	t_ok(b.terminal && b.cfg.spec.tty, "terminal");
	t_ok(b.cfg.spec.stdin_open, "stdin always forwarded");
	t_is(b.cfg.nmounts, 3, "kernel filesystems and /dev/shm left to guest-init, overlay ignored");
	m = &b.cfg.mounts[0];
	t_ok(m->type == CTR_MOUNT_BIND && strcmp(m->src, "/srv/data") == 0 && strcmp(m->dst, "/data") == 0 &&
	     m->readonly, "rbind,ro -> read-only share, trailing slash dropped");
	m = &b.cfg.mounts[1];
	t_ok(m->type == CTR_MOUNT_BIND && strcmp(m->src, "relsrc") == 0 && strcmp(m->dst, "/rel") == 0 &&
	     !m->readonly, "type none + bind option is a bind mount");
	m = &b.cfg.mounts[2];
	t_ok(m->type == CTR_MOUNT_TMPFS && strcmp(m->dst, "/scratch") == 0 && m->opts &&
	     strstr(m->opts, "size=") && strstr(m->opts, "mode=1777"), "tmpfs keeps size and mode (%s)",
	     m->opts ? m->opts : "-");
	t_streq(b.netns, "/run/netns/cni-1", "network namespace path");
	t_is(b.cfg.cpus, 3, "cpu quota/period 2.5 -> 3 vCPUs");
	t_is(b.cfg.mem_mib, 512, "memory limit -> MiB");
	t_ok(b.annotations && strcmp(b.annotations[0], "io.podman.x") == 0 && strcmp(b.annotations[3], "v") == 0,
	     "annotations as pairs");
	t_ok(has(b.ignored, "process.rlimits") && has(b.ignored, "process.noNewPrivileges") &&
	     has(b.ignored, "process.user.additionalGids") && has(b.ignored, "linux.seccomp") &&
	     has(b.ignored, "hooks") && has(b.ignored, "mounts of other types"),
	     "what is not applied is listed");
	ctr_bundle_free(&b);
}

static void t_small(void)
{
	const char *cpuset = "{\"ociVersion\":\"1.1.0\",\"root\":{\"path\":\"/r\"},\"process\":{\"args\":[\"true\"]},"
			     "\"linux\":{\"resources\":{\"cpu\":{\"cpus\":\"0-3,6\"},\"memory\":{\"limit\":1}}}}";
	struct ctr_bundle b;
	struct err e = { 0 };

	t_ok(ctr_bundle_parse(cpuset, strlen(cpuset), NULL, &b, &e) == 0, "minimal config");
	t_is(b.cfg.cpus, 5, "cpuset 0-3,6 -> 5 vCPUs");
	t_is(b.cfg.mem_mib, 64, "a tiny memory limit gets the 64 MiB floor");
	t_streq(b.cfg.spec.cwd, "/", "cwd defaults to /");
	t_ok(!b.terminal && !b.netns && b.cfg.nmounts == 0, "no terminal, netns or mounts");
	ctr_bundle_free(&b);
}

static void t_refusals(void)
{
	static const struct { const char *json, *why; } bad[] = {
		{ "{", "invalid JSON" },
		{ "[]", "not an object" },
		{ "{\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"]}}", "no ociVersion" },
		{ "{\"ociVersion\":\"2.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"]}}", "ociVersion 2" },
		{ "{\"ociVersion\":\"1.0.0\",\"process\":{\"args\":[\"x\"]}}", "no root" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"}}", "no process" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[]}}", "empty args" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[1]}}", "args not strings" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"cwd\":\"rel\"}}", "relative cwd" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"env\":[\"NOEQ\"]}}", "env without =" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"],\"user\":{\"uid\":-1}}}", "negative uid" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"]},\"mounts\":[{\"destination\":\"rel\",\"type\":\"bind\",\"source\":\"/s\"}]}", "relative mount destination" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"]},\"mounts\":[{\"destination\":\"/a/../b\",\"type\":\"bind\",\"source\":\"/s\"}]}", "'..' in a destination" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"]},\"mounts\":[{\"destination\":\"/a\",\"type\":\"bind\"}]}", "bind without source" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"]},\"mounts\":{}}", "mounts not an array" },
		{ "{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"x\"]},\"hostname\":\"\"}", "empty hostname" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct ctr_bundle b;
		struct err e = { 0 };
		int r = ctr_bundle_parse(bad[i].json, strlen(bad[i].json), NULL, &b, &e);
		t_ok(r < 0 && e.msg[0], "refused: %s (%s)", bad[i].why, e.msg);
	}
}

static void t_load(void)
{
	char dir[] = "/tmp/ucrt-bundle.XXXXXX", path[256], cmd[600];
	struct ctr_bundle b;
	struct err e = { 0 };
	FILE *f;

	if (!mkdtemp(dir)) {
		t_ok(0, "mkdtemp");
		return;
	}
	t_ok(ctr_bundle_load(dir, &b, &e) < 0 && strstr(e.msg, "config.json"), "no config.json: %s", e.msg);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	f = fopen(path, "w");
	fputs("{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"rootfs\"},\"process\":{\"args\":[\"x\"]},"
	      "\"mounts\":[{\"destination\":\"/d\",\"type\":\"bind\",\"source\":\"data\"}]}", f);
	fclose(f);
	err_clear(&e);
	t_ok(ctr_bundle_load(dir, &b, &e) < 0 && strstr(e.msg, "rootfs"), "missing root dir named: %s", e.msg);
	snprintf(path, sizeof(path), "%s/rootfs", dir);
	mkdir(path, 0755);
	err_clear(&e);
	t_ok(ctr_bundle_load(dir, &b, &e) == 0, "loads with rootfs/: %s", err_msg(&e));
	t_streq(b.cfg.root_dir, path, "root dir resolved against the bundle");
	snprintf(path, sizeof(path), "%s/data", dir);
	t_streq(b.cfg.mounts[0].src, path, "relative bind source resolved against the bundle");
	ctr_bundle_free(&b);
	/* A read-only root: the missing mount point is made on the host. */
	snprintf(path, sizeof(path), "%s/config.json", dir);
	f = fopen(path, "w");
	fputs("{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
	      "\"process\":{\"args\":[\"x\"]},\"mounts\":["
	      "{\"destination\":\"/tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"},"
	      "{\"destination\":\"/tmp/slurm/x\",\"type\":\"none\",\"source\":\"/etc/passwd\",\"options\":[\"bind\"]},"
	      "{\"destination\":\"/a/b\",\"type\":\"bind\",\"source\":\"/etc\"},"
	      "{\"destination\":\"/f\",\"type\":\"bind\",\"source\":\"/etc/passwd\"},"
	      "{\"destination\":\"/esc/x\",\"type\":\"bind\",\"source\":\"/etc\"}]}", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/rootfs/esc", dir);
	t_ok(symlink("/nonexistent-escape", path) == 0, "a symlink in the root");
	err_clear(&e);
	t_ok(ctr_bundle_load(dir, &b, &e) == 0 && ctr_bundle_mountpoints(&b, &e) == 0, "mount points: %s",
	     err_msg(&e));
	struct stat st;
	snprintf(path, sizeof(path), "%s/rootfs/a/b", dir);
	t_ok(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "directory mount point made");
	snprintf(path, sizeof(path), "%s/rootfs/f", dir);
	t_ok(stat(path, &st) == 0 && S_ISREG(st.st_mode), "file mount point made");
	snprintf(path, sizeof(path), "%s/rootfs/tmp", dir);
	t_ok(stat(path, &st) < 0, "nothing made under the guest's own /tmp");
	t_ok(stat("/nonexistent-escape", &st) < 0, "a symlink is not followed out of the root");
	ctr_bundle_free(&b);
	/* An ext4 image file as the root: the disk, not a share. */
	snprintf(path, sizeof(path), "%s/rootfs", dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s && touch %s", path, path);
	t_ok(system(cmd) == 0, "rootfs as a file");
	err_clear(&e);
	t_ok(ctr_bundle_load(dir, &b, &e) == 0, "loads with a file root: %s", err_msg(&e));
	t_ok(!b.cfg.root_dir && b.cfg.disk && str_endswith(b.cfg.disk, "/rootfs"), "a file root is the disk");
	ctr_bundle_free(&b);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	t_ok(system(path) == 0, "cleanup");
}

static void t_signals(void)
{
	t_is(ctr_signal_parse("9"), SIGKILL, "9");
	t_is(ctr_signal_parse("KILL"), SIGKILL, "KILL");
	t_is(ctr_signal_parse("SIGTERM"), SIGTERM, "SIGTERM");
	t_is(ctr_signal_parse("sigusr1"), SIGUSR1, "case-insensitive");
	t_is(ctr_signal_parse("RTMIN"), SIGRTMIN, "RTMIN");
	t_is(ctr_signal_parse("SIGRTMIN+3"), SIGRTMIN + 3, "RTMIN+3");
	t_is(ctr_signal_parse("RTMAX-1"), SIGRTMAX - 1, "RTMAX-1");
	t_is(ctr_signal_parse("0"), -EINVAL, "0 refused");
	t_is(ctr_signal_parse("65"), -EINVAL, "65 refused");
	t_is(ctr_signal_parse("NOPE"), -EINVAL, "unknown name");
	t_is(ctr_signal_parse("RTMIN+99"), -EINVAL, "RTMIN+99 out of range");
	t_is(ctr_signal_parse("RTMIN-1"), -EINVAL, "RTMIN-1 refused");
	t_is(ctr_signal_parse(""), -EINVAL, "empty");
	t_is(ctr_signal_parse(NULL), -EINVAL, "NULL");
}

static void t_root_share(void)
{
	struct ctr_config c = { .root_dir = "/b/rootfs", .read_only = true };
	struct vm_config vc = { .ndisks = 1, .disks = { { .path = "/img.ext4" } } };
	char *cmd = ctr_bundle_root_cmdline(&c);

	t_ok(strstr(cmd, "ucrt.root=" CTR_BUNDLE_ROOT_TAG) && strstr(cmd, "ucrt.rootfstype=9p") &&
	     strstr(cmd, "trans=virtio") && str_endswith(cmd, " ucrt.ro"), "command line: %s", cmd);
	ctr_bundle_root_share(&c, &vc, cmd);
	t_is(vc.ndisks, 0, "no root disk");
	t_is(vc.nshares, 1, "one share");
	t_streq(vc.shares[0].path, "/b/rootfs", "the bundle's root");
	t_ok(vc.shares[0].readonly && !vc.shares[0].xattr, "read-only, real owners (security_model none)");
	t_ok(vc.cmdline == cmd, "cmdline set");
	free(cmd);
	c.read_only = false;
	cmd = ctr_bundle_root_cmdline(&c);
	t_ok(!str_endswith(cmd, " ucrt.ro"), "writable root: no ucrt.ro");
	free(cmd);
}

int main(void)
{
	t_full();
	t_small();
	t_refusals();
	t_load();
	t_signals();
	t_root_share();
	return t_done();
}
