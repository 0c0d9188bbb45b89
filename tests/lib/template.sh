# Helpers for the VM template tests (tests/integration/template-*.sh).
# Source after run.sh and call t_tmpl_init after t_run_init: templates on,
# their RAM files in a private tmpfs directory removed at exit (with
# t_tmpl_cleanup in the EXIT trap).
t_tmpl_init() {
	export UCRT_TEMPLATES=on
	UCRT_TEMPLATE_DIR=$(mktemp -d /dev/shm/ucrt-tmpl-test.XXXXXX)
	export UCRT_TEMPLATE_DIR
}
t_tmpl_cleanup() {
	# A background builder may still run (templates/.build-KEY-PID): end
	# it by its pid; its QEMU dies with it.
	local d
	for d in "${tmp:-/nonexistent}"/root/templates/.build-*; do
		[ -d "$d" ] && kill "${d##*-}" 2>/dev/null
	done
	[ -n "${UCRT_TEMPLATE_DIR:-}" ] && rm -rf "$UCRT_TEMPLATE_DIR"
}
# Wait (at most $2 s, default 120) until `template ls -q` lists $1 keys.
t_tmpl_wait() {
	local want=$1 i
	for i in $(seq 1 $((${2:-120} * 5))); do
		[ "$(U template ls -q 2>/dev/null | wc -l)" -ge "$want" ] && return 0
		sleep 0.2
	done
	return 1
}
