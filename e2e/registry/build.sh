#!/usr/bin/env bash
# Builds distribution's `registry` binary (the program inside the registry:3 image the local registry
# container runs) for tests/components/test_registry.py, at the version go.mod pins (tools/go-tool.sh
# says how). The binary goes to ~/.cache/wal-service-registry/<hash of its inputs>/registry; the last
# line printed is its path; `--path` prints that path without building.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tools/go-tool.sh
source "$here/../../tools/go-tool.sh"

binary="$(go_tool_path "$here" "${WAL_REGISTRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wal-service-registry}" registry)"
module="github.com/distribution/distribution/v3"
if [[ "${1:-}" != "--path" && ! -x "$binary" ]]; then
  version="$(go_module_version "$here" "$module")"
  printf '==> registry %s (%s)\n' "$version" "$(date -u +%H:%M:%S)" >&2
  # The same version stamp distribution's Dockerfile gives the release binary (`registry --version`).
  go_tool_build "$here" "$binary" "$module/cmd/registry" \
    -ldflags "-s -w -X $module/version.version=${version#v} -X $module/version.mainpkg=$module"
  "$binary" --version >&2
fi
echo "$binary"
