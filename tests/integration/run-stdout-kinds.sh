#!/bin/bash
# `ucrt run`'s stdout and stderr, whatever they are: a FIFO (opened by
# the shell's redirection, as `ucrt run >fifo` does), a pipe, a regular
# file, a unix socket and a pty (raw), each with a reader that stalls
# first and then reads in small bites. Every byte of both streams
# arrives: byte count and sha256 against the stream the guest printed,
# and ucrt exits 0. TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
trap 't_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
U image pull -q "$IMG" >/dev/null 2>&1
# ucrt says its one-time notes (TCG) now, not in a stream compared below.
U run --rm "$IMG" true >/dev/null 2>&1
# 1 MiB a stream: virtio-serial moves ~1.5 MB/s here under TCG.
N=${N:-1048576}
for kind in fifo pipe file socket pty; do
	python3 - "$kind" "$N" "$tmp" "$UCRT_BIN" "$IMG" <<'PY' >"$tmp/res" 2>"$tmp/py.err"
import hashlib, os, pty, socket, subprocess, sys, threading, time, tty
kind, n, tmp, ucrt, img = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
want = {s: hashlib.sha256((f"ucrt-{s}-0123456789\n" * (n // 10 + 2)).encode()[:n]).hexdigest()
        for s in ("out", "err")}
got = {}
def reader(name, fd):
    # A reader that stalls, then reads small bites slowly.
    time.sleep(1.5)
    h, k = hashlib.sha256(), 0
    while True:
        try:
            b = os.read(fd, 16384)
        except OSError:		# a pty's master reads EIO once the slave is gone
            b = b""
        if not b:
            break
        h.update(b); k += len(b)
        time.sleep(0.002)
    os.close(fd)
    got[name] = (k, h.hexdigest())
def ends(name):
    """(the fd ucrt gets, the reader's fd or a path to open, a cleanup)"""
    if kind == "pipe":
        r, w = os.pipe()
        return w, r
    if kind == "socket":
        a, b = socket.socketpair()
        return b.detach(), a.detach()
    if kind == "pty":
        m, s = pty.openpty()
        tty.setraw(s)
        return s, m
    if kind == "file":
        p = f"{tmp}/{name}.file"
        return os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), p
    p = f"{tmp}/{name}.fifo"
    os.mkfifo(p)
    return None, p
cmd = [ucrt, "--root", f"{tmp}/root", "run", "--rm", img, "sh", "-c",
       f"yes ucrt-out-0123456789 | head -c {n}; yes ucrt-err-0123456789 | head -c {n} >&2"]
fds, threads = {}, []
for s in ("out", "err"):
    w, r = ends(s)
    fds[s] = (w, r)
    if kind not in ("file", "fifo"):
        threads.append(threading.Thread(target=reader, args=(s, r)))
    elif kind == "fifo":
        # The reader opens its end as `cat fifo` would: blocking, until
        # ucrt's side (the shell's redirection below) opens the other.
        threads.append(threading.Thread(target=lambda s=s, p=r: reader(s, os.open(p, os.O_RDONLY))))
for t in threads:
    t.start()
if kind == "fifo":
    # What `ucrt run >fifo 2>fifo2` does: the shell opens them, blocking.
    w = {s: os.open(fds[s][1], os.O_WRONLY) for s in ("out", "err")}
else:
    w = {s: fds[s][0] for s in ("out", "err")}
p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=w["out"], stderr=w["err"])
for s in ("out", "err"):
    os.close(w[s])
rc = p.wait()
for t in threads:
    t.join(60)
if kind == "file":
    for s in ("out", "err"):
        reader(s, os.open(fds[s][1], os.O_RDONLY))
for s in ("out", "err"):
    k, h = got.get(s, (-1, ""))
    print(s, rc, k, "match" if h == want[s] else "differs")
PY
	while read -r s rc k m; do
		[ "$rc" = 0 ] && [ "$k" = "$N" ] && [ "$m" = match ] &&
			ok "$kind std$s: exit 0, $k bytes, sha256 matches" ||
			nok "$kind std$s: rc $rc, $k of $N bytes, sha256 $m ($(head -c 300 "$tmp/py.err"))"
	done <"$tmp/res"
	[ -s "$tmp/res" ] || nok "$kind: driver failed: $(head -c 500 "$tmp/py.err")"
done
echo "1..$n"
