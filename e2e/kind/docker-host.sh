#!/usr/bin/env bash
# Test infrastructure for `make e2e-kind`, not product code: makes sure a Docker daemon runs on this machine.
# Installs Debian's docker.io when no daemon answers, and starts dockerd as root with one runtime setting.
#
# Why the runtime setting: this VM's capability bounding set lacks CAP_SYS_RESOURCE (CapBnd 000001fffeffffff),
# dockerd 20.10 grants `--privileged` containers every capability the kernel knows, and runc then fails with
# "unable to apply caps: operation not permitted". kind's nodes are privileged, so dockerd's default runtime
# here is a runc wrapper that drops the capabilities this process cannot hold from the OCI spec before runc
# reads it. A Docker Desktop or ordinary Linux host needs none of this.
set -euo pipefail

state="${WAL_DOCKER_STATE:-/var/lib/wal-service-e2e-docker}"
wrapper=/usr/local/libexec/wal-e2e-runc
log="$state/dockerd.log"

if docker info >/dev/null 2>&1; then
  echo "docker: daemon already answering ($(docker info --format '{{.ServerVersion}}'))"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "ERROR: no Docker daemon answers and starting one needs root" >&2
  exit 1
fi
if ! command -v dockerd >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io jq >/dev/null
fi
mkdir -p "$state" "$(dirname "$wrapper")" /etc/docker

# The capabilities this process may hold, as the names runc uses (CAP_*), from the bounding set's bits.
held_caps() {
  local bnd bit
  bnd=$((16#$(awk '/^CapBnd:/ {print $2}' /proc/self/status)))
  for bit in $(seq 0 63); do
    if (( (bnd >> bit) & 1 )); then echo "$bit"; fi
  done
}

cat >"$wrapper" <<'WRAP'
#!/usr/bin/env bash
# runc, minus the capabilities this host cannot grant (see e2e/kind/docker-host.sh).
set -euo pipefail
# `create`/`run` read the capabilities from <bundle>/config.json, `exec` (docker exec) from its --process file.
bundle=""
process=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --bundle|-b) bundle="${args[i+1]}" ;;
    --bundle=*) bundle="${args[i]#--bundle=}" ;;
    --process|-p) process="${args[i+1]}" ;;
    --process=*) process="${args[i]#--process=}" ;;
  esac
done
allowed="$(cat /usr/local/libexec/wal-e2e-runc.caps)"
# filter FILE PATH: keep only the held capabilities in the capability sets at PATH of the JSON file.
filter() {
  jq --argjson allowed "$allowed" "if $2 then $2 |= with_entries(.value |= map(select(. as \$c | \$allowed | index(\$c)))) else . end" \
    "$1" >"$1.wal-e2e"
  mv "$1.wal-e2e" "$1"
}
if [[ -n "$bundle" && -f "$bundle/config.json" ]]; then filter "$bundle/config.json" .process.capabilities; fi
if [[ -n "$process" && -f "$process" ]]; then filter "$process" .capabilities; fi
exec /usr/sbin/runc "$@"
WRAP
chmod 0755 "$wrapper"

# Map the held bits to names with capsh's table when present, else with the kernel's fixed numbering.
names=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE
  NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN
  SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE
  MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE)
held_caps | while read -r bit; do
  if [[ $bit -lt ${#names[@]} ]]; then echo "CAP_${names[bit]}"; fi
done | jq -R . | jq -s -c . >"$wrapper.caps"

if [[ ! -f /etc/docker/daemon.json ]]; then
  jq -n --arg path "$wrapper" '{"runtimes": {"wal-e2e-runc": {"path": $path}}, "default-runtime": "wal-e2e-runc"}' \
    >/etc/docker/daemon.json
fi
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "docker: dockerd $(docker info --format '{{.ServerVersion}}') started (log: $log)"
    exit 0
  fi
  sleep 1
done
tail -n 20 "$log" >&2
echo "ERROR: dockerd did not answer within 60 s" >&2
exit 1
