#!/usr/bin/env bash
# Test infrastructure for `make e2e-kind`: loads into the local Docker a kind node image, and the images it
# preloads, assembled offline. No image registry is reachable on our machines and `kind build node-image` fetches
# images with `ctr content fetch` unconditionally, so this does its steps by hand: a Debian rootfs (debootstrap), the
# binaries of build-bins.sh, kind's base image files from the kind module, each image kubeadm and the default
# manifests name imported into the node's containerd, then `docker commit` with kind's entrypoint.
#
# Every image made here carries the label org.wal-service.e2e.stand-in saying what it stands in for. The node image is
# tagged by a hash of its inputs; the last line printed is its reference.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export GOFLAGS="-mod=readonly" GOTOOLCHAIN=local GOPROXY="${GOPROXY:-https://proxy.golang.org}"
step() { printf '==> %s (%s)\n' "$1" "$(date -u +%H:%M:%S)" >&2; }
# quiet COMMAND...: its output only when it fails (docker build's legacy-builder notice, ctr's progress).
quiet() {
  local out
  if ! out="$("$@" 2>&1)"; then
    printf '%s\n' "$out" >&2
    return 1
  fi
}
stand_in=org.wal-service.e2e.stand-in

bin="$(bash "$here/build-bins.sh" | tail -n1)"
kube_version="$(awk '$1 == "kubernetes" {print $2}' "$bin/VERSIONS")"
kind_dir="$(cd "$here/go/kind" && go mod download -json sigs.k8s.io/kind | jq -r .Dir)"
cache="${WAL_E2E_KIND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wal-service-e2e-kind}"

# The Debian rootfs every image here starts from: what kind's base image installs (less NFS and iSCSI, which no test
# mounts), ipset for kube-router, socat for port-forward.
packages=systemd,systemd-sysv,dbus,conntrack,iptables,nftables,ipset,iproute2,ethtool,util-linux,mount,kmod,libseccomp2
packages+=,pigz,fuse-overlayfs,e2fsprogs,bash,ca-certificates,curl,jq,procps,socat
suite=trixie
rootfs="$cache/rootfs-$(echo "$suite $packages" | sha256sum | cut -c1-12)"
if [[ ! -f "$rootfs.tar" ]]; then
  step "debootstrap $suite"
  if ! command -v debootstrap >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null
  fi
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" http://deb.debian.org/debian >&2
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -cf "$rootfs.tar.part" .
  mv "$rootfs.tar.part" "$rootfs.tar"
  rm -rf "$rootfs"
fi
if ! docker image inspect wal-e2e.local/debian:trixie >/dev/null 2>&1; then
  step "docker import wal-e2e.local/debian:trixie"
  docker import --change "LABEL $stand_in=\"debian:$suite-slim (debootstrap minbase)\"" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' "$rootfs.tar" wal-e2e.local/debian:trixie >/dev/null
fi

# The PostgreSQL stand-in is preloaded too: `make up` creates the node, and no registry serves that image.
db_image="$(bash "$here/workload-images.sh" | sed -n 's/^wal-service:databaseImage=//p')"
[[ -n $db_image ]] || { echo "ERROR: workload-images.sh named no databaseImage" >&2; exit 1; }
# The stand-in's binary too: a change to our own code changes no version in VERSIONS.
key="$( (cat "$bin/VERSIONS" "$bin/gateway-standin" "$rootfs.tar" | sha256sum; docker image inspect -f '{{.Id}}' "$db_image"
  find "$here/node" "$here/images.sh" -type f -print0 | LC_ALL=C sort -z | xargs -0 cat | sha256sum) | sha256sum | cut -c1-12)"
node_image="wal-e2e.local/kind-node:$kube_version-$key"
if docker image inspect "$node_image" >/dev/null 2>&1; then
  echo "$node_image"
  exit 0
fi

work="$(mktemp -d)"
container=""
cleanup() {
  [[ -n $container ]] && docker rm -f "$container" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# image NAME STAND_IN_FOR FROM [FILE:DEST...] -- [Dockerfile lines...]: build NAME from FROM plus files, labelled.
image() {
  local name=$1 what=$2 from=$3 ctx copy="" arg
  shift 3
  ctx="$(mktemp -d "$work/ctx.XXXXXX")"
  while [[ $# -gt 0 && $1 != -- ]]; do
    arg=$1
    shift
    cp "${arg%%:*}" "$ctx/"
    copy+="COPY $(basename "${arg%%:*}") ${arg#*:}"$'\n'
  done
  [[ $# -gt 0 ]] && shift
  {
    echo "FROM $from"
    printf '%s' "$copy"
    printf '%s\n' "$@"
    echo "LABEL $stand_in=\"$what\""
  } > "$ctx/Dockerfile"
  quiet docker build -q -t "$name" "$ctx"
  echo "$name"
}

# A scratch-like base for the static binaries: distroless images hold little more.
step "images the node preloads"
mkdir -p "$work/empty/tmp" "$work/empty/etc/ssl/certs"
chmod 1777 "$work/empty/tmp"
cp /etc/ssl/certs/ca-certificates.crt "$work/empty/etc/ssl/certs/"
echo 'root:x:0:0:root:/root:/sbin/nologin' > "$work/empty/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/:/sbin/nologin' >> "$work/empty/etc/passwd"
tar -C "$work/empty" -c . | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  - wal-e2e.local/static:1 >/dev/null

preload=()
while read -r ref; do
  name="${ref%:*}"
  case "$name" in
    */kube-apiserver | */kube-controller-manager | */kube-scheduler)
      preload+=("$(image "$ref" "$ref" wal-e2e.local/static:1 "$bin/${name##*/}:/usr/local/bin/")") ;;
    */kube-proxy)
      preload+=("$(image "$ref" "$ref" wal-e2e.local/debian:trixie "$bin/kube-proxy:/usr/local/bin/")") ;;
    */etcd)
      preload+=("$(image "$ref" "$ref (etcd $(awk '$1 == "etcd" {print $2}' "$bin/VERSIONS"))" wal-e2e.local/static:1 \
        "$bin/etcd:/usr/local/bin/" -- 'ENTRYPOINT ["/usr/local/bin/etcd"]')") ;;
    */coredns)
      preload+=("$(image "$ref" "$ref (coredns $(awk '$1 == "coredns" {print $2}' "$bin/VERSIONS"))" wal-e2e.local/static:1 \
        "$bin/coredns:/coredns" -- 'ENTRYPOINT ["/coredns"]')") ;;
    */pause) ;; # below, under the name containerd's config gives it
    *)
      echo "ERROR: kubeadm names an image this script cannot build: $ref" >&2
      exit 1 ;;
  esac
done < <("$bin/kubeadm" config images list --kubernetes-version "$kube_version")

sandbox="$(sed -n 's/^ *sandbox_image = "\(.*\)"/\1/p' "$kind_dir/images/base/files/etc/containerd/config.toml")"
preload+=("$(image "$sandbox" "$sandbox (k8s.io/kubernetes $kube_version build/pause)" wal-e2e.local/static:1 \
  "$bin/pause:/pause" -- 'ENTRYPOINT ["/pause"]')")
preload+=("$(image wal-e2e.local/kindnet-standin:kube-router-v2.1.0 "kindnetd: ptp CNI config plus kube-router's firewall" \
  wal-e2e.local/debian:trixie "$bin/kube-router:/usr/local/bin/")")
# NGF's controller and data plane in one image, which gateway-chart/ runs under the tag it names.
preload+=("$(image wal-e2e.local/gateway-standin:1 "NGINX Gateway Fabric 2.6.5: controller, nginx (ours: go/gateway-standin)" \
  wal-e2e.local/static:1 "$bin/gateway-standin:/usr/local/bin/" -- 'USER 101:101' \
  'ENTRYPOINT ["/usr/local/bin/gateway-standin"]')")

# kind's default storage manifest, as `kind build node-image` writes it, and its two images under the names it gives.
python3 - "$kind_dir/pkg/build/nodeimage/const_storage.go" "$work/default-storage.yaml" "$work/storage-images" <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
consts = dict(re.findall(r'^const (\w+) = "([^"]+)"', src, re.M))
manifest = re.search(r"^const defaultStorageManifest = `(.*?)^`$", src, re.M | re.S).group(1)
manifest = re.sub(r"` \+ (\w+) \+ `", lambda m: consts[m.group(1)], manifest)
assert "` +" not in manifest and "kind: StorageClass" in manifest, "kind's storage manifest changed shape"
open(sys.argv[2], "w").write(manifest)
open(sys.argv[3], "w").write(f"{consts['storageProvisionerImage']}\n{consts['storageHelperImage']}\n")
EOF
{ read -r provisioner; read -r helper; } < "$work/storage-images"
preload+=("$(image "$provisioner" "$provisioner (rancher/local-path-provisioner $(awk '$1 == "local-path-provisioner" {print $2}' "$bin/VERSIONS"))" \
  wal-e2e.local/static:1 "$bin/local-path-provisioner:/usr/local/bin/")")
preload+=("$(image "$helper" "$helper (Debian $suite: the helper pod runs sh, mkdir, rm)" wal-e2e.local/debian:trixie)")

preload+=("$db_image")

step "node base image"
ctx="$work/node"
mkdir -p "$ctx/bin" "$ctx/cni" "$ctx/manifests"
cp -r "$kind_dir/images/base/files" "$ctx/files"
chmod -R u+w,a+rX "$ctx/files"
for b in containerd ctr containerd-shim-runc-v2 crictl runc kubeadm kubelet kubectl; do cp "$bin/$b" "$ctx/bin/"; done
for b in host-local loopback ptp portmap; do cp "$bin/$b" "$ctx/cni/"; done
echo "$kube_version" > "$ctx/kind-version"
cp "$here/node/default-cni.yaml" "$ctx/manifests/"
cp "$work/default-storage.yaml" "$ctx/manifests/"
cp "$here/node/Dockerfile" "$ctx/"
quiet docker build -q -t wal-e2e.local/kind-base:"$key" "$ctx"

# As kind's node-image build does (pkg/build/nodeimage/imageimporter.go): run containerd in the image, import every
# image unpacked later by the node, and commit the result with the entrypoint restored.
step "preload ${#preload[@]} images into the node's containerd"
docker save "${preload[@]}" > "$work/images.tar"
container="$(docker run -d --privileged --entrypoint sleep wal-e2e.local/kind-base:"$key" infinity)"
docker cp "$work/images.tar" "$container:/kind/images.tar"
docker exec "$container" bash -c 'nohup containerd >/dev/null 2>&1 &
for i in $(seq 1 30); do ctr version >/dev/null 2>&1 && break; sleep 1; done
ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests \
  /kind/images.tar >/kind/import.log 2>&1 || { cat /kind/import.log; exit 1; }
rm /kind/images.tar /kind/import.log
ctr --namespace=k8s.io images list -q | grep -v "^sha256:"
pkill containerd
for i in $(seq 1 30); do pgrep -x containerd >/dev/null || break; sleep 1; done' >&2
docker commit --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' --change 'CMD []' \
  "$container" "$node_image" >/dev/null
step "done"
echo "$node_image"
