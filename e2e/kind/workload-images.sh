#!/usr/bin/env bash
# Test infrastructure for `make e2e-kind`: builds and loads into the local Docker stand-ins for the images the dev
# stack deploys and no machine of ours can pull (no image registry is reachable): the local registry, PostgreSQL and
# the Python base of app/Dockerfile. Each is made from the nearest real parts (distribution built from its Go module,
# Debian trixie's packages) and labelled org.wal-service.e2e.stand-in with what it stands in for and from what.
#
# Needs wal-e2e.local/debian:trixie (images.sh makes it). The last lines printed are `<config key>=<image ref>`, for
# `pulumi config set` in the e2e's own stack copy. Images are tagged by a hash of their inputs and reused.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export GOFLAGS="-mod=readonly" GOTOOLCHAIN=local GOPROXY="${GOPROXY:-https://proxy.golang.org}"
step() { printf '==> %s (%s)\n' "$1" "$(date -u +%H:%M:%S)" >&2; }
stand_in=org.wal-service.e2e.stand-in
base=wal-e2e.local/debian:trixie
suite=trixie

if ! base_id="$(docker image inspect --format '{{.Id}}' "$base" 2>/dev/null)"; then
  echo "ERROR: $base is missing; e2e/kind/images.sh makes it (its debootstrap step)" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# key FILE...: a tag suffix from the base image and the given inputs (this script among them).
key() {
  { echo "$base_id"; cat "${BASH_SOURCE[0]}" "$@"; } | sha256sum | cut -c1-12
}

# build NAME CONTEXT WHAT [PACKAGE...]: build CONTEXT/Dockerfile as NAME, unless NAME exists, labelled as the stand-in
# for WHAT, where @VERSIONS@ becomes the Debian packages' versions installed in it.
build() {
  local name=$1 ctx=$2 what=$3 versions
  shift 3
  if docker image inspect "$name" >/dev/null 2>&1; then
    return 0
  fi
  step "build $name"
  quiet docker build -q -t "$name" "$ctx"
  if [[ $# -gt 0 ]]; then
    versions="$(docker run --rm --entrypoint dpkg-query "$name" -W -f '${Package} ${Version}, ' "$@")"
    what="${what//@VERSIONS@/${versions%, }}"
  fi
  mkdir "$ctx.label"
  printf 'FROM %s\nLABEL %s="%s"\n' "$name" "$stand_in" "${what//\"/\\\"}" >"$ctx.label/Dockerfile"
  quiet docker build -q -t "$name" "$ctx.label"
}

# quiet COMMAND...: its output only when it fails (a CLI without buildx warns on every build).
quiet() {
  local out
  if ! out="$("$@" 2>&1)"; then
    printf '%s\n' "$out" >&2
    return 1
  fi
}

# The Debian archive over plain HTTP (all our machines reach), with updates and security fixes, as Debian's own
# images list it; debootstrap left only the release itself.
apt_sources() {
  cat <<EOF
RUN rm -f /etc/apt/sources.list \\
 && printf 'Types: deb\\nURIs: http://deb.debian.org/debian\\nSuites: $suite $suite-updates\\nComponents: main\\n\\nTypes: deb\\nURIs: http://deb.debian.org/debian-security\\nSuites: $suite-security\\nComponents: main\\n' \\
      > /etc/apt/sources.list.d/debian.sources
EOF
}
# apt_install PACKAGE...: one RUN that installs them without starting services and leaves no lists behind.
apt_install() {
  cat <<EOF
RUN printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \\
 && apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $* >/dev/null \\
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d
EOF
}

# --- registry: distribution's `registry`, laid out as distribution's own Dockerfile's last stage does, on Debian
# instead of Alpine (`make registry-gc` runs `du` in the container, so it needs a userland).
step "registry"
registry_bin="$(bash "$root/e2e/registry/build.sh" | tail -n1)"
distribution="$(cd "$root/e2e/registry" && go mod download -json github.com/distribution/distribution/v3 | jq -r .Dir)"
registry_version="$("$registry_bin" --version | awk '{print $NF}')"
ctx="$work/registry"
mkdir -p "$ctx"
cp "$registry_bin" "$ctx/registry"
cp "$distribution/cmd/registry/config-dev.yml" "$ctx/config.yml"
cat >"$ctx/Dockerfile" <<EOF
FROM $base
COPY config.yml /etc/distribution/config.yml
COPY registry /bin/registry
VOLUME ["/var/lib/registry"]
ENV OTEL_TRACES_EXPORTER=none
EXPOSE 5000
ENTRYPOINT ["registry"]
CMD ["serve", "/etc/distribution/config.yml"]
EOF
registry_image="wal-e2e.local/registry:$registry_version-$(key "$ctx/registry" "$ctx/config.yml")"
build "$registry_image" "$ctx" "registry:$registry_version (distribution v$registry_version built from its Go module by \
e2e/registry/build.sh, its Dockerfile's layout and cmd/registry/config-dev.yml, on Debian $suite instead of Alpine)"

# --- PostgreSQL: Debian's postgresql-17 with the official image's environment contract (postgres-entrypoint.sh).
step "postgres"
ctx="$work/postgres"
mkdir -p "$ctx"
install -m 0755 "$here/postgres-entrypoint.sh" "$ctx/docker-entrypoint.sh"
{
  echo "FROM $base"
  # The official image's postgres user is 999:999; this rootfs gave GID 999 to systemd-journal.
  cat <<'EOF'
RUN groupmod --gid 996 systemd-journal \
 && find / -xdev -gid 999 -exec chgrp systemd-journal {} + \
 && groupadd --system --gid 999 postgres \
 && useradd --system --gid postgres --uid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres \
 && mkdir -p /var/lib/postgresql && chown postgres:postgres /var/lib/postgresql \
 && mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf
EOF
  apt_sources
  apt_install postgresql-17
  cat <<'EOF'
# As the official image: every address in the sample initdb copies, socket and data directories for anyone (the
# server checks PGDATA's own mode), PostgreSQL's own psql and pg_isready ahead of postgresql-common's wrapper.
RUN sed -ri "s/^#?listen_addresses\s*=\s*'[^']*'/listen_addresses = '*'/" /usr/share/postgresql/17/postgresql.conf.sample \
 && grep -q "^listen_addresses = '\*'" /usr/share/postgresql/17/postgresql.conf.sample \
 && mkdir -p /var/run/postgresql /var/lib/postgresql/data \
 && chown postgres:postgres /var/run/postgresql /var/lib/postgresql/data \
 && chmod 3777 /var/run/postgresql && chmod 1777 /var/lib/postgresql/data
ENV PG_MAJOR=17 LANG=C.UTF-8 PGDATA=/var/lib/postgresql/data \
    PATH=/usr/lib/postgresql/17/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
VOLUME /var/lib/postgresql/data
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
EOF
} >"$ctx/Dockerfile"
postgres_image="wal-e2e.local/postgres:17-$suite-$(key "$ctx/Dockerfile" "$ctx/docker-entrypoint.sh")"
build "$postgres_image" "$ctx" "postgres:17.11-bookworm (Debian $suite @VERSIONS@, with the official image's \
environment contract from e2e/kind/postgres-entrypoint.sh)" postgresql-17

# --- Python: Debian's python3 where the official python image has its own (/usr/local/bin: python, python3, pip),
# with venv, and pip free to install outside a virtualenv as there. No Debian release has Python 3.12.
step "python"
ctx="$work/python"
mkdir -p "$ctx"
{
  echo "FROM $base"
  apt_sources
  apt_install python3 python3-venv python3-pip
  cat <<'EOF'
RUN ln -s /usr/bin/python3 /usr/local/bin/python && ln -s /usr/bin/python3 /usr/local/bin/python3 \
 && ln -s /usr/bin/pip3 /usr/local/bin/pip && ln -s /usr/bin/pip3 /usr/local/bin/pip3 \
 && rm /usr/lib/python3.*/EXTERNALLY-MANAGED
ENV LANG=C.UTF-8
CMD ["python3"]
EOF
} >"$ctx/Dockerfile"
python_image="wal-e2e.local/python:3.13-$suite-$(key "$ctx/Dockerfile")"
build "$python_image" "$ctx" "python:3.12.14-slim-bookworm (Debian $suite @VERSIONS@ in the official image's layout)" \
  python3 python3-venv python3-pip

step "done"
echo "wal-service:registryImage=$registry_image"
echo "wal-service:databaseImage=$postgres_image"
echo "wal-service:pythonImage=$python_image"
