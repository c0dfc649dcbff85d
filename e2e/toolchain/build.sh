#!/usr/bin/env bash
# Builds the e2e toolchain (Pulumi CLI and Python language host, the Kubernetes
# provider, a Kubernetes control plane, etcd, kwok) from the Go module proxy
# only. The wrapper modules' go.sum files are the integrity check; -mod=readonly
# keeps a build from ever rewriting them.
#
# Binaries go to ~/.cache/wal-service-e2e/<hash of the wrapper modules>/bin and
# are built only when missing. The last line printed is that bin directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

export GOPROXY="${GOPROXY:-https://proxy.golang.org}"
export GOFLAGS="-mod=readonly -trimpath"
export GOTOOLCHAIN=local
export CGO_ENABLED=0

key="$(cd "$here" && find . -type f \( -name go.mod -o -name go.sum -o -name '*.go' -o -name build.sh \) -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
cache="${WAL_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wal-service-e2e}"
bin="$cache/$key/bin"

if [[ -f "$bin/.complete" ]]; then
  echo "$bin"
  exit 0
fi

work="$(mktemp -d "$cache/build.XXXXXX" 2>/dev/null || { mkdir -p "$cache" && mktemp -d "$cache/build.XXXXXX"; })"
trap 'rm -rf "$work"' EXIT
out="$work/bin"
mkdir -p "$out"

modver() { (cd "$here/$1" && go list -m -f '{{.Version}}' "$2"); }
moddir() { (cd "$here/$1" && go mod download "$2" && go list -m -f '{{.Dir}}' "$2"); }
step() { printf '==> %s (%s)\n' "$1" "$(date -u +%H:%M:%S)" >&2; }

# Pulumi CLI, stamped so `pulumi version` tells the truth, and our language host
# next to sdk/v3's own exec script (and the dynamic-provider shim, same module).
step "pulumi CLI and Python language host"
pulumi_version="$(modver pulumi github.com/pulumi/pulumi/pkg/v3)"
(cd "$here/pulumi" && go build -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version" \
  -o "$out/" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi ./cmd/pulumi-language-python)
# Stand-ins for the command, random and docker providers, which the proxy does not
# serve (see standin/standin.go); the version says so.
(cd "$here/pulumi" && go build -ldflags "-s -w -X main.version=0.0.0-e2e.standin" \
  -o "$out/" ./cmd/pulumi-resource-command ./cmd/pulumi-resource-random ./cmd/pulumi-resource-docker)
sdk="$(moddir pulumi github.com/pulumi/pulumi/sdk/v3)"
install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$out/"
install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$out/"

# Kubernetes provider: upstream generates schema-embed.json at release time by
# stamping the version into the module's schema.json; do the same here.
step "pulumi-resource-kubernetes"
k8s_provider="github.com/pulumi/pulumi-kubernetes/provider/v4"
provider_version="$(modver provider-kubernetes "$k8s_provider")"
provider_dir="$(moddir provider-kubernetes "$k8s_provider")"
src="$work/provider-kubernetes"
cp -r "$here/provider-kubernetes" "$src"
chmod -R u+w "$src"
python3 - "$provider_dir/cmd/pulumi-resource-kubernetes" "$src" "${provider_version#v}" <<'EOF'
import json, pathlib, sys
module, dest, version = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
schema = json.loads((module / "schema.json").read_text())
schema["version"] = version
(dest / "schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")))
mapping = json.loads((module / "terraform-mapping.json").read_text())
(dest / "terraform-mapping-embed.json").write_text(json.dumps(mapping, separators=(",", ":")))
EOF
(cd "$src" && go build -ldflags "-s -w -X $k8s_provider/pkg/version.Version=${provider_version#v}" \
  -o "$out/pulumi-resource-kubernetes" .)

# Control plane at the Kubernetes release the project targets.
step "kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd"
kube_version="$(modver kubernetes k8s.io/kubernetes)"
kube_minor="${kube_version#v1.}"
kube_minor="${kube_minor%%.*}"
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
(cd "$here/kubernetes" && go build -ldflags "$kube_ldflags" -o "$out/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl ./cmd/etcd)

# kwok with the stages kwokctl uses by default: nodes initialise and heartbeat
# through leases, pods become Ready, complete and go away on delete.
step "kwok"
(cd "$here/kwok" && go build -ldflags "-s -w" -o "$out/" sigs.k8s.io/kwok/cmd/kwok)
kwok_dir="$(moddir kwok sigs.k8s.io/kwok)"
for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
  pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
  printf -- '---\n'
  cat "$kwok_dir/kustomize/stage/$stage.yaml"
done > "$out/kwok-stages.yaml"

cat > "$out/VERSIONS" <<EOF
pulumi $pulumi_version
pulumi-language-python (ours, sdk/v3 $pulumi_version)
pulumi-resource-kubernetes $provider_version
kubernetes $kube_version
etcd $(modver kubernetes go.etcd.io/etcd/server/v3)
kwok $(modver kwok sigs.k8s.io/kwok)
EOF
touch "$out/.complete"
mkdir -p "$cache/$key"
rm -rf "$bin"
mv "$out" "$bin"
step "done"
echo "$bin"
