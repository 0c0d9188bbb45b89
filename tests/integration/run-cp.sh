#!/bin/bash
# ucrt cp both ways with a running detached container: a directory with
# a symlink, a hardlink, modes and owners goes in and comes back equal;
# a symlink in the container path resolves inside the container (the
# image's /etc, not the host's), for reading and for writing; a single
# file to a new name; a stopped container is read from its disk, and
# written to through its VM booted with the process held, its state kept
# (an exited one and a created one). TAP.
set -u
. "${UCRT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
t_run_init
trap 'U rm -f cp1 cp2 cp3 >/dev/null 2>&1; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root (owners are part of the test)"; exit 0; }

src=$tmp/src/tree
mkdir -p "$src/sub" "$tmp/back" "$tmp/out"
echo hello >"$src/f"; chmod 640 "$src/f"
ln "$src/f" "$src/hard"
ln -s f "$src/link"
echo deep >"$src/sub/x"; chmod 600 "$src/sub/x"; chown 1000:50 "$src/sub/x"
chown 1000:50 "$src/sub"; chmod 711 "$src/sub"
ln -s /etc "$tmp/src/etclink"

U run -d --name cp1 "$IMG" sleep 1000 >/dev/null 2>"$tmp/err"
U cp "$src" cp1:/srv >/dev/null 2>"$tmp/err"; is "cp a directory in exits 0" "$?" 0
is "it is there, with its owner and modes" "$(U exec cp1 ls -ln /srv/tree/sub 2>"$tmp/err" | awk 'NR>1 {print $1, $3, $4, $NF}')" "-rw------- 1000 50 x"
is "the hardlink is one file with two names" "$(U exec cp1 ls -ln /srv/tree/hard 2>&1 | awk '{print $2}')" 2
is "the symlink is a symlink" "$(U exec cp1 ls -l /srv/tree/link 2>&1 | awk '{print substr($1, 1, 1), $(NF-1), $NF}')" "l -> f"
U cp cp1:/srv/tree "$tmp/back" 2>"$tmp/err"; is "cp the directory back out exits 0" "$?" 0
cat >"$tmp/cmp.py" <<'PY'
import os, sys
a, b = sys.argv[1], sys.argv[2]
def walk(top):
    out = {}
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(d, n); st = os.lstat(p); rel = os.path.relpath(p, top)
            link = os.readlink(p) if os.path.islink(p) else None
            data = open(p, "rb").read() if os.path.isfile(p) and not link else None
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, link, data, st.st_nlink if not link and os.path.isfile(p) else 0)
    return out
wa, wb = walk(a), walk(b)
assert wa == wb, (wa, wb)
assert os.stat(os.path.join(b, "f")).st_ino == os.stat(os.path.join(b, "hard")).st_ino
PY
python3 "$tmp/cmp.py" "$src" "$tmp/back/tree" && ok "round trip: same files, modes, owners, symlink, hardlink" || nok "round trip: same files, modes, owners, symlink, hardlink"
U cp cp1:/srv/tree/f "$tmp/out/renamed" 2>"$tmp/err"
is "a file to a new name" "$(cat "$tmp/out/renamed" 2>/dev/null)" "hello"

# Symlinks in the container path mean what they mean in the container.
U cp "$tmp/src/etclink" cp1:/srv/etclink 2>"$tmp/err"
U cp cp1:/srv/etclink/passwd "$tmp/out/passwd" 2>"$tmp/err"
is "reading through a container symlink gets the image's file" "$(head -1 "$tmp/out/passwd" 2>/dev/null)" "root:x:0:0:root:/root:/bin/sh"
echo new >"$tmp/out/newfile"
U cp "$tmp/out/newfile" cp1:/srv/etclink/ 2>"$tmp/err"
is "writing through it lands in the container's /etc" "$(U exec cp1 cat /etc/newfile 2>&1)" "new"
[ ! -e /etc/newfile ] && ok "... not the host's" || nok "... not the host's"

U cp cp1:/no/such "$tmp/out/x" >/dev/null 2>"$tmp/err"; is "a missing container path: 125" "$?" 125
U cp "$tmp/out/newfile" "$tmp/out/y" >/dev/null 2>"$tmp/err"; is "two host paths: 125" "$?" 125
U stop -t 1 cp1 >/dev/null 2>&1

# A stopped container: read from its kept disk without booting it.
U cp cp1:/srv/tree "$tmp/stopped" 2>"$tmp/err"; is "cp from a stopped container exits 0" "$?" 0
python3 "$tmp/cmp.py" "$src" "$tmp/stopped" && ok "... the same tree, from its disk" || nok "... the same tree, from its disk"
U cp cp1:/srv/etclink/passwd "$tmp/out/passwd2" 2>"$tmp/err"
is "... a symlink in the path resolved in the container's root" "$(head -1 "$tmp/out/passwd2" 2>/dev/null)" "root:x:0:0:root:/root:/bin/sh"
is "... no VM booted for it" "$(t_qemu_count "$tmp/root")" 0
is "... no scratch left" "$(ls "$tmp"/root/containers/*/ | grep -c '^cp\.')" 0

# Into a stopped container: its VM boots with the process held, the copy
# lands on its disk, the VM powers off, its state stays.
U create --name cp2 "$IMG" sh -c 'ls -ln /srv/tree/sub /srv/newfile 2>&1 | awk "NF > 2 {print \$1, \$3, \$4, \$NF}"; exit 3' >/dev/null 2>"$tmp/err"
U cp "$tmp/out/newfile" cp2:/srv >/dev/null 2>"$tmp/err"; is "cp into a created container exits 0" "$?" 0
U ps -a | grep -w cp2 | grep -q Created && ok "... it is still Created" || nok "... it is still Created"
is "... no VM left" "$(t_qemu_count "$tmp/root")" 0
U start -a cp2 >"$tmp/out/first" 2>"$tmp/err"; is "its first start runs it (exit 3)" "$?" 3
grep -q -- "-rw-r--r-- 0 0 /srv/newfile" "$tmp/out/first" && ok "... and sees the file copied before it" || nok "... and sees the file copied before it: $(cat "$tmp/out/first")"
U cp "$src" cp2:/srv >/dev/null 2>"$tmp/err"; is "cp a directory into an exited container exits 0" "$?" 0
is "... nothing on stderr" "$(cat "$tmp/err")" ""
U ps -a | grep -w cp2 | grep -q "Exited (3)" && ok "... it is still Exited (3)" || nok "... it is still Exited (3)"
is "... no VM left" "$(t_qemu_count "$tmp/root")" 0
U cp cp2:/srv/tree "$tmp/stopped2" 2>"$tmp/err"
python3 "$tmp/cmp.py" "$src" "$tmp/stopped2" && ok "... on its disk: same files, modes, owners, links" || nok "... on its disk: same files, modes, owners, links"
is "a start sees it with owner and mode" "$(U start -a cp2 2>"$tmp/err" | grep ' x$')" "-rw------- 1000 50 x"
U cp "$tmp/src/etclink" cp2:/srv/etclink 2>"$tmp/err"
U cp "$tmp/out/newfile" cp2:/srv/etclink/fromhost >/dev/null 2>"$tmp/err"
U cp cp2:/etc/fromhost "$tmp/out/fromhost" 2>"$tmp/err"
is "a symlink in the path resolves in the container (stopped too)" "$(cat "$tmp/out/fromhost" 2>/dev/null)" "new"
# A start at the same time: whichever takes start.lock first, the copy
# lands (on the stopped disk, or through the running container).
U create --name cp3 "$IMG" sleep 1000 >/dev/null 2>"$tmp/err"
U cp "$src" cp3:/srv >/dev/null 2>"$tmp/err3" & cpp=$!
U start cp3 >/dev/null 2>"$tmp/err"; is "a start during a cp exits 0" "$?" 0
wait $cpp; is "... and the cp exits 0" "$?" 0
U stop -t 1 cp3 >/dev/null 2>&1
U cp cp3:/srv/tree "$tmp/raced" 2>"$tmp/err"
python3 "$tmp/cmp.py" "$src" "$tmp/raced" && ok "... the copy is on its disk" || nok "... the copy is on its disk: $(cat "$tmp/err3")"

U cp "$tmp/out/newfile" cp2:/no/such/dir/x >/dev/null 2>"$tmp/err"; is "into a missing directory: 125" "$?" 125
grep -q "/no/such/dir/x" "$tmp/err" && ok "... naming the path" || nok "... naming the path: $(cat "$tmp/err")"
U ps -a | grep -w cp2 | grep -q "Exited (3)" && ok "... still Exited (3)" || nok "... still Exited (3)"
is "... no VM left" "$(t_qemu_count "$tmp/root")" 0
echo "1..$n"
