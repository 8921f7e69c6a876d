#!/usr/bin/env bash
# Installs the pinned tools that Berth's tests drive (oras, crane, regctl, the
# OCI conformance suite, skopeo, busybox-static, promtool, versitygw: the S3 server
# the S3 driver's tests start on loopback, and golangci-lint for make lint) and writes an env file that puts
# them on PATH. For the host agent's tests it also installs umoci and
# debootstrap and builds a Debian root filesystem (hack/debian-rootfs.sh).
#
# Everything lands in a cache OUTSIDE the clone, keyed by version, so a second
# run does nothing and a fresh clone on the same machine reuses it:
#
#   $BERTH_CI_CACHE (default ~/.cache/berth-ci)
#   ├── bin/<tool>-<version>/<tool>     one directory per pinned tool
#   ├── rootfs/debian-<suite>-<variant>.tar   debootstrap output (hack/debian-rootfs.sh)
#   ├── env.sh                          PATH additions, BERTH_CONFORMANCE_BIN,
#   │                                   BERTH_DEBIAN_ROOTFS
#   └── .lock                           serialises concurrent runs
#
# A tool directory appears only complete (built in a temporary directory, then
# renamed), so an interrupted run never leaves a half-installed tool behind.
#
# Usage: hack/tools.sh                     install what is missing, print where
#        . "$(hack/tools.sh --env-file)"   same, printing only the env file's
#                                          path, to load it into a shell
set -euo pipefail

ORAS_VERSION=v1.3.6
CRANE_VERSION=v0.22.1
REGCTL_VERSION=v0.11.7
VERSITYGW_VERSION=v1.8.0
# golangci-lint: make lint (run by make test) checks the tree with .golangci.yml.
GOLANGCI_LINT_VERSION=v2.15.0
CONFORMANCE_MODULE=github.com/opencontainers/distribution-spec/conformance
CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111
# podman and buildah: the host agent's archive tests (as root, on a vfs
# storage of their own; no container is run). prometheus: its promtool
# checks the registry's /metrics (Debian ships promtool only in it).
# redis-server: the blob descriptor cache's tests start their own.
# wimtools (wimlib-imagex) and ntfs-3g (mkntfs, ntfscp: a file with an
# alternate data stream): the host agent's install-os-image tests build WIMs.
# chromium: the web UI's browser tests (registry/ui) drive it headless.
# zsh and fish: the host agent's completion tests load `hostagent completion
# zsh|fish` in the real shells and check what TAB offers.
APT_PACKAGES=(skopeo busybox-static umoci debootstrap podman buildah prometheus redis-server wimtools ntfs-3g chromium zsh fish)

: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE="${BERTH_CI_CACHE:-$HOME/.cache/berth-ci}"
BIN="$CACHE/bin"
HACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

print_env_file=false
case "${1:-}" in
--env-file) print_env_file=true ;;
"") ;;
*)
	echo "usage: $0 [--env-file]" >&2
	exit 2
	;;
esac

log() { echo "tools.sh: $*" >&2; }

command -v go >/dev/null || {
	log "go is not on PATH"
	exit 1
}

mkdir -p "$BIN"
exec 9>"$CACHE/.lock"
flock 9
# Under the lock, any work directory left is from a run that was killed.
rm -rf "$CACHE"/.work.*

# Everything below runs outside any module so that the clone's go.mod and a
# go.work nearby cannot change what is built.
WORK="$(mktemp -d "$CACHE/.work.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export GOWORK=off GOFLAGS=-buildvcs=false

# publish DIR NAME-VERSION: move a finished build into place.
publish() {
	local from=$1 to=$BIN/$2
	rm -rf "$to"
	mv -T "$from" "$to"
}

# go_tool NAME PACKAGE VERSION
go_tool() {
	local name=$1 pkg=$2 version=$3
	local dir=$BIN/$name-$version
	if [[ -x $dir/$name ]]; then
		return
	fi
	log "installing $pkg@$version"
	local tmp
	tmp="$(mktemp -d "$WORK/$name.XXXXXX")"
	GOBIN="$tmp" go install "$pkg@$version"
	publish "$tmp" "$name-$version"
}

# conformance_tool: the suite is a package main whose own go.mod must be used,
# so it is built inside a writable copy of its module directory.
conformance_tool() {
	local dir=$BIN/conformance-$CONFORMANCE_VERSION
	if [[ -x $dir/conformance ]]; then
		return
	fi
	log "building $CONFORMANCE_MODULE@$CONFORMANCE_VERSION"
	local json src tmp
	json="$(go mod download -json "$CONFORMANCE_MODULE@$CONFORMANCE_VERSION")"
	if grep -q '"Error":' <<<"$json"; then
		log "go mod download failed: $json"
		exit 1
	fi
	src="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")"
	if [[ -z $src || ! -f $src/go.mod ]]; then
		log "no module directory in: $json"
		exit 1
	fi
	tmp="$(mktemp -d "$WORK/conformance.XXXXXX")"
	cp -R "$src" "$tmp/src"
	chmod -R u+w "$tmp/src"
	(cd "$tmp/src" && go build -mod=readonly -trimpath -o "$tmp/out/conformance" .)
	publish "$tmp/out" "conformance-$CONFORMANCE_VERSION"
}

apt_packages() {
	local missing=() p
	for p in "${APT_PACKAGES[@]}"; do
		if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]]; then
			missing+=("$p")
		fi
	done
	((${#missing[@]} == 0)) && return
	local sudo=()
	if ((EUID != 0)); then
		if ! command -v sudo >/dev/null; then
			log "need root (or sudo) to install: ${missing[*]}"
			exit 1
		fi
		sudo=(sudo -n)
	fi
	log "apt-get install ${missing[*]}"
	# stdout stays clean for --env-file.
	"${sudo[@]}" apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >&2
}

go_tool oras oras.land/oras/cmd/oras "$ORAS_VERSION"
go_tool crane github.com/google/go-containerregistry/cmd/crane "$CRANE_VERSION"
go_tool regctl github.com/regclient/regclient/cmd/regctl "$REGCTL_VERSION"
go_tool versitygw github.com/versity/versitygw/cmd/versitygw "$VERSITYGW_VERSION"
go_tool golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint "$GOLANGCI_LINT_VERSION"
conformance_tool
apt_packages
# Built once per machine; without root it is skipped with a message, and the
# tests that need it skip (fail under CI).
debian_rootfs="$(BERTH_CI_CACHE="$CACHE" bash "$HACK/debian-rootfs.sh" bookworm minbase)" || debian_rootfs=""

paths=(
	"$BIN/oras-$ORAS_VERSION"
	"$BIN/crane-$CRANE_VERSION"
	"$BIN/regctl-$REGCTL_VERSION"
	"$BIN/conformance-$CONFORMANCE_VERSION"
	"$BIN/versitygw-$VERSITYGW_VERSION"
	"$BIN/golangci-lint-$GOLANGCI_LINT_VERSION"
)
conformance_bin=$BIN/conformance-$CONFORMANCE_VERSION/conformance

# Prove every tool runs before claiming success.
"${paths[0]}/oras" version >/dev/null
"${paths[1]}/crane" version >/dev/null
"${paths[2]}/regctl" version >/dev/null
[[ -x $conformance_bin ]]
"${paths[4]}/versitygw" --version >/dev/null
skopeo --version >/dev/null
busybox true
umoci --version >/dev/null
podman --version >/dev/null
buildah --version >/dev/null
promtool --version >/dev/null
"${paths[5]}/golangci-lint" version >/dev/null

env_file=$CACHE/env.sh
{
	echo "# written by hack/tools.sh; source it to use Berth's pinned test tools"
	# shellcheck disable=SC2016 # $PATH is expanded when the file is sourced
	printf 'export PATH=%q:"$PATH"\n' "$(
		IFS=:
		echo "${paths[*]}"
	)"
	printf 'export BERTH_CONFORMANCE_BIN=%q\n' "$conformance_bin"
	if [[ -n $debian_rootfs ]]; then
		printf 'export BERTH_DEBIAN_ROOTFS=%q\n' "$debian_rootfs"
	fi
} >"$env_file.tmp"
mv -f "$env_file.tmp" "$env_file"

if $print_env_file; then
	echo "$env_file"
else
	echo "oras:        ${paths[0]}/oras"
	echo "crane:       ${paths[1]}/crane"
	echo "regctl:      ${paths[2]}/regctl"
	echo "conformance: $conformance_bin"
	echo "versitygw:   ${paths[4]}/versitygw"
	echo "golangci-lint: ${paths[5]}/golangci-lint"
	echo "skopeo:      $(command -v skopeo)"
	echo "busybox:     $(command -v busybox)"
	echo "umoci:       $(command -v umoci)"
	echo "debian:      ${debian_rootfs:-(not built)}"
	echo "env file:    $env_file"
fi
