# kill -9 at chosen points of pull, disk build, run, rm and image prune;
# after each, `system check` passes or --repair makes it pass, and the
# command retried succeeds. Sourced by tests/integration/crash-kill9.sh
# (fixed seed, 20 points) and tests/stress/crash.sh (`make stress`: random
# seed, more points). Needs: UCRT_SRC, CRASH_SEED, CRASH_POINTS. TAP.
set -u
. "$UCRT_SRC/tests/lib/registry.sh"
. "$T_LIB_DIR/run.sh"
. "$T_LIB_DIR/images.sh"
t_run_init
command -v e2fsck >/dev/null || { echo "1..0 # SKIP e2fsck not installed"; exit 0; }
trap 'for c in $(U ps -aq 2>/dev/null); do U rm -f $c >/dev/null 2>&1; done; t_reg_stop; rm -rf "$tmp"' EXIT
t_run_setup "$tmp" >"$tmp/setup.log" 2>&1 || { echo "1..0 # SKIP registry setup failed"; exit 0; }
S=$tmp/root
t_img_build "$tmp/big" v1 extra_mb=16 random=1 >/dev/null && t_reg_upload "$tmp/big" crash/big v1
BIG=$REG/crash/big:v1
RANDOM=$CRASH_SEED
mid=0

# killat MS CMD...: start CMD, kill -9 it after MS ms (unless it ended).
# Sets killed=1 when the kill landed while it ran.
killat() {
	local ms=$1; shift
	"$UCRT_BIN" --root "$S" "$@" >/dev/null 2>&1 &
	local pid=$!
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	killed=0
	kill -9 $pid 2>/dev/null && killed=1
	wait $pid 2>/dev/null
	mid=$((mid + killed))
}

# After a kill: check, repair when needed, check again.
sound() {	# LABEL
	local rc
	U system check >"$tmp/check" 2>&1
	rc=$?
	if [ $rc != 0 ]; then
		U system check --repair >"$tmp/repair" 2>&1
		U system check >"$tmp/check" 2>&1
		rc=$?
	fi
	if [ $rc = 0 ]; then ok "$1: store and state sound$([ -s "$tmp/repair" ] && echo " after --repair ($(grep -c '^repaired' "$tmp/repair") fixed)")"
	else nok "$1: system check still fails"; sed 's/^/# /' "$tmp/check" | tail -5; fi
	rm -f "$tmp/repair"
}

retry() {	# LABEL CMD...
	local l=$1; shift
	if U "$@" >"$tmp/out" 2>"$tmp/err"; then ok "$l: retried command succeeds"
	else nok "$l: retry of '$*' failed"; fi
}

U image pull -q "$IMG" >/dev/null 2>&1 || { echo "1..0 # SKIP seed pull failed"; exit 0; }
kinds=(pull disk run rm prune)
for ((p = 1; p <= CRASH_POINTS; p++)); do
	k=${kinds[$(( (p - 1) % 5 ))]}
	case $k in
	pull)	# from nothing: manifest, blobs, the disk built while downloading
		U image rm "$BIG" >/dev/null 2>&1; U image prune -f >/dev/null 2>&1
		killat $((50 + RANDOM % 1500)) image pull -q "$BIG"
		sound "point $p (pull, $( [ $killed = 1 ] && echo mid-run || echo after-end))"
		retry "point $p" image pull -q "$BIG" ;;
	disk)	# the image is there, its disk is not: run builds it
		U image pull -q "$BIG" >/dev/null 2>&1; rm -f "$S"/rootfs/*.ext4
		killat $((50 + RANDOM % 1000)) run --rm "$BIG" true
		sound "point $p (disk build, $( [ $killed = 1 ] && echo mid-run || echo after-end))"
		retry "point $p" run --rm "$BIG" true ;;
	run)	# boot, agent, process, state files
		killat $((200 + RANDOM % 2500)) run --name "c$p" "$IMG" true
		sound "point $p (run, $( [ $killed = 1 ] && echo mid-run || echo after-end))"
		U rm -f "c$p" >/dev/null 2>&1
		retry "point $p" run --name "c$p" "$IMG" true ;;
	rm)	# the container the last run point left
		c=c$((p - 1))
		killat $((RANDOM % 40)) rm -f "$c"
		sound "point $p (rm, $( [ $killed = 1 ] && echo mid-run || echo after-end))"
		if U inspect "$c" >/dev/null 2>&1; then retry "point $p" rm -f "$c"
		else ok "point $p: the container is gone (the rm finished)"; fi ;;
	prune)	# unnamed blobs and disks to collect
		U image rm "$BIG" >/dev/null 2>&1
		killat $((RANDOM % 300)) image prune -f
		sound "point $p (prune, $( [ $killed = 1 ] && echo mid-run || echo after-end))"
		retry "point $p" image prune -f ;;
	esac
done
echo "# $mid of $CRASH_POINTS kills landed while the command ran (seed $CRASH_SEED)"
echo "1..$n"
