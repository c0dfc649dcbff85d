#!/usr/bin/env bash
# Builds kube-score from the Go module proxy only, at the version go.mod pins; go.sum is the
# integrity check and -mod=readonly keeps a build from ever rewriting it. Kept apart from
# e2e/toolchain so that a kube-score bump does not invalidate that much larger cache.
#
# The binary goes to ~/.cache/wal-service-kube-score/<hash of this directory>/kube-score and is
# built only when missing. The last line printed is its path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

export GOPROXY="${GOPROXY:-https://proxy.golang.org}"
export GOFLAGS="-mod=readonly -trimpath"
export GOTOOLCHAIN=local
export CGO_ENABLED=0

key="$(cd "$here" && find . -type f \( -name go.mod -o -name go.sum -o -name build.sh \) -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
cache="${WAL_KUBE_SCORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wal-service-kube-score}"
binary="$cache/$key/kube-score"

if [[ -x "$binary" ]]; then
  echo "$binary"
  exit 0
fi

mkdir -p "$cache"
work="$(mktemp -d "$cache/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

module=github.com/zegl/kube-score
version="$(cd "$here" && go list -m -f '{{.Version}}' "$module")"
# goreleaser stamps the version upstream; without it `kube-score version` says "development".
(cd "$here" && go build -ldflags "-s -w -X main.version=${version#v}" -o "$work/kube-score" "$module/cmd/kube-score")
mkdir -p "$cache/$key"
# A rename within one file system: a concurrent reader sees no binary or a whole one.
mv "$work/kube-score" "$binary"
echo "$binary"
