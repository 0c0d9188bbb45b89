/* guest-init's data mounts (PROTO_A_MOUNT in CONFIG) against the real
 * binary in fresh mount namespaces (--unshare; needs root): a tmpfs with
 * a size limit and mode, a read-only one, a target created on the way;
 * a mount that fails is reported with its target and the main process is
 * then refused. The agent encoder's checks come first. */
#include <sys/stat.h>

#include "tests/lib/tap.h"
#include "t-guest.h"

static struct t_guest g;

static void t_config(const struct agent_config *c, struct agent_result *r)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	static uint32_t ref = 100;

	memset(r, 0, sizeof(*r));
	r->err = -1;
	if (agent_encode_config(&b, ++ref, c) < 0)
		return;
	t_send_buf(&g, &b);
	while (t_recv(&g, 5000) == 1)
		if (g.f.h.type == PROTO_T_RESULT && g.f.h.ref == ref) {
			agent_decode_result(&g.f, r);
			return;
		}
}

static void t_run(uint16_t type, uint32_t stream, char *const *argv, struct t_proc *p, struct agent_result *r)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	char *env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	struct agent_proc_spec s = { .argv = argv, .env = env };

	memset(p, 0, sizeof(*p));
	memset(r, 0, sizeof(*r));
	agent_encode_proc(&b, type, stream, stream, &s);
	t_send_buf(&g, &b);
	if (r && type == PROTO_T_START) {
		while (t_recv(&g, 5000) == 1)
			if (g.f.h.type == PROTO_T_RESULT && g.f.h.ref == stream) {
				agent_decode_result(&g.f, r);
				return;
			}
		return;
	}
	t_proc_wait(&g, stream, p, 5000);
}

static void t_encoder(void)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	struct agent_mount ok = { .kind = PROTO_MOUNT_TMPFS, .src = "size=1024", .target = "/t" };
	struct agent_mount rel = { .kind = PROTO_MOUNT_TMPFS, .src = "size=1024", .target = "t" };
	struct agent_mount kind = { .kind = 99, .src = "x", .target = "/t" };
	struct agent_mount nosrc = { .kind = PROTO_MOUNT_9P, .src = "", .target = "/t" };
	struct agent_config c = { .mounts = &ok, .nmounts = 1 };

	t_ok(agent_encode_config(&b, 1, &c) == 0, "a mount encodes");
	c.mounts = &rel;
	t_is(agent_encode_config(&b, 1, &c), -EINVAL, "relative target refused by the encoder");
	c.mounts = &kind;
	t_is(agent_encode_config(&b, 1, &c), -EINVAL, "unknown kind refused");
	c.mounts = &nosrc;
	t_is(agent_encode_config(&b, 1, &c), -EINVAL, "empty source refused");
	struct agent_mount emu = { .kind = PROTO_MOUNT_BINFMT, .src = "ucrt-disk0", .target = "/run/ucrt-emu",
				   .readonly = true };
	c.mounts = &emu;
	t_ok(agent_encode_config(&b, 1, &c) == 0, "an emulator disk (PROTO_MOUNT_BINFMT) encodes");
	emu.kind = PROTO_MOUNT_BINFMT + 1;
	t_is(agent_encode_config(&b, 1, &c), -EINVAL, "the kind after the last refused");
	c.mounts = &ok;
	c.nmounts = PROTO_MAX_MOUNTS + 1;
	t_is(agent_encode_config(&b, 1, &c), -E2BIG, "more than PROTO_MAX_MOUNTS mounts refused");
}

int main(void)
{
	char dir[] = "/tmp/ucrt-t-mnt-XXXXXX";
	const char *extra[] = { "--unshare", NULL };
	struct agent_result r;
	struct t_proc p;

	t_encoder();
	if (getuid() != 0)
		t_skip_all("namespaces need root");
	if (!mkdtemp(dir) || t_guest_spawn(&g, extra) < 0)
		t_skip_all("build/ucrt-init not built");
	t_ok(t_recv(&g, 5000) == 1 && g.f.h.type == PROTO_T_HELLO, "hello");

	_cleanup_free_ char *scratch = xasprintf("%s/a/scratch", dir), *ro = xasprintf("%s/ro", dir);
	struct agent_mount m[] = {
		{ .kind = PROTO_MOUNT_TMPFS, .src = "size=65536,mode=1770", .target = scratch },
		{ .kind = PROTO_MOUNT_TMPFS, .src = "size=65536", .target = ro, .readonly = true },
	};
	struct agent_config c = { .mounts = m, .nmounts = 2 };
	t_config(&c, &r);
	t_ok(r.err == 0, "two tmpfs mounts applied (%s)", r.msg);

	_cleanup_free_ char *fill = xasprintf("dd if=/dev/zero of=%s/f bs=4096 count=64 2>/dev/null; "
					      "stat -c %%s %s/f; stat -c %%a %s; touch %s/x 2>/dev/null || echo ro-refused",
					      scratch, scratch, scratch, ro);
	char *sh[] = { "sh", "-c", fill, NULL };
	t_run(PROTO_T_EXEC, 1, sh, &p, &r);
	t_streq(p.out.data, "65536\n1770\nro-refused\n", "size limit, mode and read-only enforced in the guest");
	t_proc_free(&p);
	struct stat st;
	_cleanup_free_ char *leak = xasprintf("%s/f", scratch);
	t_ok(stat(scratch, &st) == 0 && S_ISDIR(st.st_mode), "the target was created");
	t_ok(stat(leak, &st) < 0, "what the guest wrote stayed in its tmpfs");

	/* A mount that cannot be made fails CONFIG, and START with it. */
	struct agent_mount bad9p = { .kind = PROTO_MOUNT_9P_FILE, .src = "tag", .target = "/x" };
	c = (struct agent_config){ .mounts = &bad9p, .nmounts = 1 };
	t_config(&c, &r);
	t_ok(r.err == EINVAL && strstr(r.msg, "bad file share"), "a file share without a name: %s", r.msg);
	char *echo[] = { "echo", "ran", NULL };
	/* The first failure is what START reports. */
	t_run(PROTO_T_START, 7, echo, &p, &r);
	t_ok(r.err == EIO && strstr(r.msg, "bad file share"), "the main process is refused: %s", r.msg);

	t_send(&g, PROTO_T_SHUTDOWN, 0, 0, 0, NULL, 0);
	t_ok(t_recv(&g, 5000) == -1, "shutdown ends the guest");
	t_guest_end(&g);
	_cleanup_free_ char *cmd = xasprintf("rm -rf %s", dir);
	t_ok(system(cmd) == 0, "cleanup");
	return t_done();
}
