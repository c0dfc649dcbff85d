# shellcheck shell=bash
# Sourced by the build scripts of the Go tools the tests and CI run (tools/kube-score/build.sh,
# e2e/registry/build.sh). Each builds from the Go module proxy only, at the version its wrapper
# module's go.mod pins; go.sum is the integrity check and -mod=readonly keeps a build from ever
# rewriting it. Each lives apart from e2e/toolchain, so a bump does not invalidate that larger cache.
export GOPROXY="${GOPROXY:-https://proxy.golang.org}"
export GOFLAGS="-mod=readonly -trimpath"
export GOTOOLCHAIN=local
export CGO_ENABLED=0

# go_tool_path DIR CACHE NAME: where NAME built from DIR's inputs (and this file's) is cached.
go_tool_path() {
  local key
  key="$(cat "$1/go.mod" "$1/go.sum" "$1/build.sh" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"
  echo "$2/$key/$3"
}

# go_module_version DIR MODULE: the version DIR's go.mod pins.
go_module_version() {
  (cd "$1" && go list -m -f '{{.Version}}' "$2")
}

# go_tool_build DIR BINARY PACKAGE [go build flags...]: build PACKAGE into BINARY unless it is there.
go_tool_build() {
  local dir=$1 binary=$2 package=$3 work
  shift 3
  [[ -x "$binary" ]] && return 0
  mkdir -p "$(dirname "$binary")"
  work="$(mktemp -d "$(dirname "$binary")/build.XXXXXX")"
  (cd "$dir" && go build "$@" -o "$work/out" "$package")
  # A rename within one file system: a concurrent reader sees no binary or a whole one.
  mv "$work/out" "$binary"
  rm -rf "$work"
}
