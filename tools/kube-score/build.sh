#!/usr/bin/env bash
# Builds kube-score at the version go.mod pins (tools/go-tool.sh says how). The binary goes to
# ~/.cache/wal-service-kube-score/<hash of its inputs>/kube-score; the last line printed is its path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tools/go-tool.sh
source "$here/../go-tool.sh"

binary="$(go_tool_path "$here" "${WAL_KUBE_SCORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wal-service-kube-score}" kube-score)"
module=github.com/zegl/kube-score
if [[ ! -x "$binary" ]]; then
  version="$(go_module_version "$here" "$module")"
  # goreleaser stamps the version upstream; without it `kube-score version` says "development".
  go_tool_build "$here" "$binary" "$module/cmd/kube-score" -ldflags "-s -w -X main.version=${version#v}"
fi
echo "$binary"
