#!/usr/bin/env bash
# Builds distribution's `registry` binary (the program inside the registry:3 image the local registry
# container runs) from the Go module proxy only, for tests/components/test_registry.py. Like
# e2e/toolchain/build.sh: go.sum is the integrity check, -mod=readonly keeps a build from rewriting it.
# It lives outside e2e/toolchain/ so that changing it does not invalidate the toolchain's cache.
#
# The binary goes to ~/.cache/wal-service-registry/<hash of this directory's inputs>/registry and is built
# only when missing. The last line printed is its path; `--path` prints that path without building.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

export GOPROXY="${GOPROXY:-https://proxy.golang.org}"
export GOFLAGS="-mod=readonly -trimpath"
export GOTOOLCHAIN=local
export CGO_ENABLED=0

key="$(cd "$here" && sha256sum go.mod go.sum build.sh | sha256sum | cut -c1-16)"
cache="${WAL_REGISTRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wal-service-registry}"
binary="$cache/$key/registry"

if [[ "${1:-}" == "--path" || -x "$binary" ]]; then
  echo "$binary"
  exit 0
fi

mkdir -p "$cache/$key"
work="$(mktemp -d "$cache/$key/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
module="github.com/distribution/distribution/v3"
version="$(cd "$here" && go list -m -f '{{.Version}}' "$module")"
printf '==> registry %s (%s)\n' "$version" "$(date -u +%H:%M:%S)" >&2
# The same version stamp distribution's Dockerfile gives the release binary (`registry --version`).
(cd "$here" && go build -ldflags "-s -w -X $module/version.version=${version#v} -X $module/version.mainpkg=$module" \
  -o "$work/registry" "$module/cmd/registry")
"$work/registry" --version >&2
# Renamed into place last: a binary at that path is always a complete one.
mv "$work/registry" "$binary"
echo "$binary"
