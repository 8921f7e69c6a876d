#!/usr/bin/env bash
# Builds a minimal Debian root filesystem with debootstrap and keeps it as a
# tarball in the CI cache, keyed by suite and variant, so that it is built once
# per machine and not once per test run:
#
#   $BERTH_CI_CACHE (default ~/.cache/berth-ci)
#   └── rootfs/debian-<suite>-<variant>.tar
#
# The host agent's tests `docker import` it as an OS base image. It is called
# by hack/tools.sh, under the cache lock that script holds.
#
# Usage: hack/debian-rootfs.sh [SUITE [VARIANT]]   prints the tarball's path
set -euo pipefail

SUITE=${1:-bookworm}
VARIANT=${2:-minbase}

: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE="${BERTH_CI_CACHE:-$HOME/.cache/berth-ci}"
OUT="$CACHE/rootfs/debian-$SUITE-$VARIANT.tar"

log() { echo "debian-rootfs.sh: $*" >&2; }

if [[ -s $OUT ]]; then
	echo "$OUT"
	exit 0
fi
if ((EUID != 0)); then
	log "debootstrap needs root; $OUT not built"
	exit 1
fi
command -v debootstrap >/dev/null || {
	log "debootstrap is not installed"
	exit 1
}

mkdir -p "$CACHE/rootfs"
# Under the cache lock, any work directory left is from a run that was killed.
rm -rf "$CACHE/rootfs/".work.*
WORK="$(mktemp -d "$CACHE/rootfs/.work.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "debootstrap --variant=$VARIANT $SUITE (once per machine; cached in $OUT)"
debootstrap --variant="$VARIANT" "$SUITE" "$WORK/root" >"$WORK/debootstrap.log" 2>&1 || {
	tail -n 30 "$WORK/debootstrap.log" >&2
	exit 1
}
# Caches that only grow the image.
rm -rf "$WORK/root/var/cache/apt/archives/"*.deb "$WORK/root/var/lib/apt/lists/"*
tar --numeric-owner --xattrs -C "$WORK/root" -cf "$WORK/rootfs.tar" .
mv -f "$WORK/rootfs.tar" "$OUT"
echo "$OUT"
