#!/bin/sh
# Build ucrt's microvm kernel from Debian's linux-source-6.1.
#
#   kernel/build.sh [CACHE_DIR]        (default: $UCRT_KERNEL_CACHE or build/kernel)
#
# Result: CACHE_DIR/vmlinux (uncompressed, booted through its PVH note) and
# CACHE_DIR/build-info (key=value: version, config hash, build key).
# Idempotent: when build-info records the same key (fragment + patches + this script +
# source package) and vmlinux exists, nothing is done.
# Environment: UCRT_KERNEL_JOBS (default: number of CPUs), UCRT_KERNEL_SRC
# (tarball, default /usr/src/linux-source-6.1.tar.xz).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-${UCRT_KERNEL_CACHE:-build/kernel}}
tarball=${UCRT_KERNEL_SRC:-/usr/src/linux-source-6.1.tar.xz}
jobs=${UCRT_KERNEL_JOBS:-$(nproc)}
fragment=$here/config
patches=$(ls "$here"/patches/*.patch 2>/dev/null || true)

say() { printf 'kernel: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

need_pkgs=
[ -f "$tarball" ] || need_pkgs="$need_pkgs linux-source-6.1"
for t in flex bison bc make gcc patch; do
	command -v $t >/dev/null 2>&1 || need_pkgs="$need_pkgs $t"
done
[ -f /usr/include/libelf.h ] || need_pkgs="$need_pkgs libelf-dev"
[ -f /usr/include/openssl/ssl.h ] || need_pkgs="$need_pkgs libssl-dev"
if [ -n "$need_pkgs" ]; then
	[ "$(id -u)" = 0 ] || die "missing:$need_pkgs (apt-get install$need_pkgs)"
	say "installing$need_pkgs"
	DEBIAN_FRONTEND=noninteractive apt-get install -y $need_pkgs >/dev/null
fi
[ -f "$tarball" ] || die "$tarball not found"

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# The build key covers everything that changes the output.
srcid=$(stat -c '%s %Y' "$tarball")
patchid=$(cat /dev/null $patches | sha256sum | cut -c1-64)
key=$( (cat "$fragment" "$0" $patches; echo "$srcid") | sha256sum | cut -c1-64)
if [ -f "$cache/vmlinux" ] && [ -f "$cache/build-info" ] &&
   grep -qx "key=$key" "$cache/build-info"; then
	say "up to date: $cache/vmlinux ($(sed -n 's/^version=//p' "$cache/build-info"))"
	exit 0
fi

src=$cache/src/linux-source-6.1
obj=$cache/obj
# A pristine tree with kernel/patches/*.patch applied, in order; a change of
# either extracts it again.
if [ ! -f "$src/Makefile" ] || [ "$(cat "$cache/src/.srcid" 2>/dev/null)" != "$srcid" ] ||
   [ "$(cat "$cache/src/.patchid" 2>/dev/null)" != "$patchid" ]; then
	say "extracting $tarball"
	rm -rf "$cache/src" "$obj"
	mkdir -p "$cache/src"
	tar -C "$cache/src" -xJf "$tarball"
	for p in $patches; do
		say "applying $(basename "$p")"
		patch -s -p1 -d "$src" --no-backup-if-mismatch <"$p" || die "$p does not apply to $tarball"
	done
	echo "$srcid" >"$cache/src/.srcid"
	echo "$patchid" >"$cache/src/.patchid"
fi
mkdir -p "$obj"

# tinyconfig is allnoconfig + tiny-base + tiny.config; doing allnoconfig with
# all of them plus our fragment in one KCONFIG_ALLCONFIG keeps every symbol we
# do not ask for off (olddefconfig would switch on new symbols' defaults).
allconfig=$obj/ucrt.allconfig
cat "$src/kernel/configs/tiny-base.config" "$src/kernel/configs/tiny.config" \
    "$src/arch/x86/configs/tiny.config" "$fragment" >"$allconfig"
say "configuring (tinyconfig + kernel/config)"
make -s -C "$src" O="$obj" ARCH=x86_64 KCONFIG_ALLCONFIG="$allconfig" allnoconfig >/dev/null

# kconfig drops a request whose dependencies are unmet without a word: check.
missing=
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qx "$line" "$obj/.config" || missing="$missing ${line%%=*}" ;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }; sym=${sym%% *}
		! grep -q "^$sym=" "$obj/.config" || missing="$missing !$sym" ;;
	esac
done <"$fragment"
[ -z "$missing" ] || die "config requests not honoured:$missing"

say "building vmlinux with $jobs jobs"
nice make -s -C "$src" O="$obj" ARCH=x86_64 -j"$jobs" vmlinux >/dev/null
version=$(make -s -C "$src" O="$obj" ARCH=x86_64 kernelrelease 2>/dev/null | tail -n1)

cp "$obj/vmlinux" "$cache/vmlinux.tmp"
mv "$cache/vmlinux.tmp" "$cache/vmlinux"
cp "$obj/.config" "$cache/config"
{
	echo "version=$version"
	echo "key=$key"
	echo "config_sha256=$(sha256sum "$obj/.config" | cut -c1-64)"
	echo "source=$tarball"
	echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$cache/build-info.tmp"
mv "$cache/build-info.tmp" "$cache/build-info"
say "built $cache/vmlinux ($version)"
