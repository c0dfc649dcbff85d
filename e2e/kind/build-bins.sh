#!/usr/bin/env bash
# Test infrastructure for `make e2e-kind`: builds every binary a kind node and its preloaded images hold, from the
# Go module proxy only (no image registry is reachable on our machines). Each wrapper module under go/ pins one
# upstream release; its go.sum is the integrity check and -mod=readonly keeps a build from rewriting it.
#
# Binaries go to ~/.cache/wal-service-e2e-kind/<hash of go/ and this file>/bin; each is built only when missing,
# so an interrupted build resumes. The last line printed is that bin directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# runc links libseccomp (cgo), as kind's base image builds it; pause is C, linked statically.
if [[ ! -f /usr/include/seccomp.h || ! -f /usr/lib/x86_64-linux-gnu/libc.a ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq libseccomp-dev libc6-dev gcc >/dev/null
fi
export GOPROXY="${GOPROXY:-https://proxy.golang.org}"
export GOFLAGS="-mod=readonly -trimpath"
export GOTOOLCHAIN=local

key="$(cd "$here" && find go build-bins.sh -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
cache="${WAL_E2E_KIND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wal-service-e2e-kind}"
bin="$cache/$key/bin"
mkdir -p "$bin"

modver() { (cd "$here/go/$1" && go list -m -f '{{.Version}}' "$2"); }
moddir() { (cd "$here/go/$1" && go mod download "$2" && go list -m -f '{{.Dir}}' "$2"); }
step() { printf '==> %s (%s)\n' "$1" "$(date -u +%H:%M:%S)" >&2; }

# build MODULE_DIR [go build flags...] -- PACKAGE...: one `go build` for the packages whose binary is missing.
build() {
  local dir=$1 pkgs=() flags=() missing=() pkg work
  shift
  while [[ $1 != -- ]]; do flags+=("$1"); shift; done
  shift
  pkgs=("$@")
  for pkg in "${pkgs[@]}"; do
    [[ -x "$bin/$(basename "$pkg")" ]] || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  step "${missing[*]}"
  work="$(mktemp -d "$bin/.build.XXXXXX")"
  (cd "$here/go/$dir" && go build "${flags[@]}" -o "$work/" "${missing[@]}")
  # One rename per binary: a concurrent reader sees no binary or a whole one.
  mv "$work"/* "$bin/"
  rm -rf "$work"
}

CGO_ENABLED=0 build kind -ldflags "-s -w" -- sigs.k8s.io/kind

# The node's runtime, as kind's base image builds it (images/base/Dockerfile): containerd with cgo and without the
# snapshotters a node never uses, runc with seccomp (links the node's libseccomp2), the CNI plugins and crictl static.
CGO_ENABLED=1 build containerd -tags "no_aufs no_zfs no_btrfs no_devmapper" -ldflags "-s -w \
  -X github.com/containerd/containerd/v2/version.Version=$(modver containerd github.com/containerd/containerd/v2)" -- \
  github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/ctr
CGO_ENABLED=0 build containerd -ldflags "-s -w" -- github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
runc_version="$(modver runc github.com/opencontainers/runc)"
CGO_ENABLED=1 build runc -tags "seccomp urfave_cli_no_docs" -ldflags "-s -w -X main.version=${runc_version#v}" -- \
  github.com/opencontainers/runc
CGO_ENABLED=0 build cni -ldflags "-s -w" -- github.com/containernetworking/plugins/plugins/ipam/host-local \
  github.com/containernetworking/plugins/plugins/main/loopback github.com/containernetworking/plugins/plugins/main/ptp \
  github.com/containernetworking/plugins/plugins/meta/portmap
CGO_ENABLED=0 build crictl -ldflags "-s -w" -- sigs.k8s.io/cri-tools/cmd/crictl

# Kubernetes, stamped with its release so that kubeadm picks its own images' tags and `kubectl version` tells the
# truth (the flags of hack/lib/version.sh).
kube_version="$(modver kubernetes k8s.io/kubernetes)"
kube_minor="${kube_version#v1.}"
kube_minor="${kube_minor%%.*}"
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
CGO_ENABLED=0 build kubernetes -ldflags "$kube_ldflags" -- k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy ./cmd/etcd

# The pause container from the same release's sources, built as upstream does (build/pause/Makefile: static, -Os).
if [[ ! -x "$bin/pause" ]]; then
  step pause
  kube_dir="$(moddir kubernetes k8s.io/kubernetes)"
  gcc -Os -Wall -Werror -static -DVERSION="\"${kube_version}-wal-e2e\"" -o "$bin/.pause" "$kube_dir/build/pause/linux/pause.c"
  mv "$bin/.pause" "$bin/pause"
fi

# What the node preloads besides the control plane: cluster DNS, the default StorageClass's provisioner, the
# NetworkPolicy enforcer of the kindnetd stand-in (images.sh), metrics-server for the HPA.
CGO_ENABLED=0 build coredns -ldflags "-s -w" -- github.com/coredns/coredns
CGO_ENABLED=0 build local-path -ldflags "-s -w" -- github.com/rancher/local-path-provisioner
# The NetworkPolicy enforcer of the kindnetd stand-in. Not kube-network-policies, which kindnetd embeds: it queues
# packets with nftables' native `queue` expression, and this VM's kernel lacks CONFIG_NFT_QUEUE (`nft add rule ...
# queue num 98` fails with ENOENT). kube-router's firewall enforces with iptables and ipsets, which the kernel has.
# The proxy serves only v2.1.0, for which security flaws are reported: acceptable in a throwaway test cluster whose
# ports bind 127.0.0.1, never in what the product deploys.
CGO_ENABLED=0 build kube-router -ldflags "-s -w" -- github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
CGO_ENABLED=0 build metrics-server -ldflags "-s -w" -- sigs.k8s.io/metrics-server/cmd/metrics-server
# Ours: the stand-in for NGINX Gateway Fabric's controller and data plane (gateway-chart/ runs it), as NGF's own
# modules are not on the proxy. Standard library only, so it has no go.sum and fetches nothing.
CGO_ENABLED=0 build gateway-standin -ldflags "-s -w" -- wal-service.local/e2e/kind/go/gateway-standin

cat > "$bin/VERSIONS" <<EOF
kind $(modver kind sigs.k8s.io/kind)
containerd $(modver containerd github.com/containerd/containerd/v2)
runc $runc_version
cni-plugins $(modver cni github.com/containernetworking/plugins)
crictl $(modver crictl sigs.k8s.io/cri-tools)
kubernetes $kube_version
etcd $(modver kubernetes go.etcd.io/etcd/server/v3)
pause (k8s.io/kubernetes $kube_version build/pause/linux/pause.c)
coredns $(modver coredns github.com/coredns/coredns)
local-path-provisioner $(modver local-path github.com/rancher/local-path-provisioner)
kube-router $(modver kube-router github.com/cloudnativelabs/kube-router/v2)
metrics-server $(modver metrics-server sigs.k8s.io/metrics-server)
gateway-standin (ours: stands in for NGINX Gateway Fabric 2.6.5)
EOF
step "done"
echo "$bin"
