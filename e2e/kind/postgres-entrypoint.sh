#!/usr/bin/env bash
# docker-entrypoint.sh of the PostgreSQL stand-in that workload-images.sh builds (test infrastructure for
# `make e2e-kind`; written here, not copied from docker-library/postgres). It keeps the part of the official
# image's contract components/database.py relies on: POSTGRES_USER, POSTGRES_DB and POSTGRES_PASSWORD, each also
# from the file *_FILE names; on an empty PGDATA, initdb with trust for local and loopback connections and
# scram-sha-256 for every other host, then POSTGRES_DB created through a server on the socket only. It writes only
# PGDATA and the socket directory, so UID 999 on a read-only root is enough. Not kept: POSTGRES_INITDB_ARGS,
# POSTGRES_HOST_AUTH_METHOD, /docker-entrypoint-initdb.d.
set -euo pipefail

# file_env VAR: VAR from the file that VAR_FILE names (the official image's *_FILE convention).
file_env() {
  local var=$1 file="${1}_FILE"
  if [[ -n "${!var:-}" && -n "${!file:-}" ]]; then
    echo "error: both $var and $file are set (but are exclusive)" >&2
    exit 1
  fi
  if [[ -n "${!file:-}" ]]; then
    export "$var=$(<"${!file}")"
  fi
}

if [[ "${1:-}" == -* ]]; then
  set -- postgres "$@"
fi
if [[ "${1:-}" != postgres ]]; then
  exec "$@"
fi

# Started as root (a plain `docker run`): hand the directories to postgres and start over as it.
if [[ $(id -u) == 0 ]]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

file_env POSTGRES_PASSWORD
file_env POSTGRES_USER
file_env POSTGRES_DB
export POSTGRES_USER="${POSTGRES_USER:-postgres}"
export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"

# PGDATA may be a subdirectory of the volume (database.py's is): initdb wants it owned by us and private.
mkdir -p "$PGDATA"
chmod 700 "$PGDATA"

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
    echo "error: the database is uninitialized and POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) is not set" >&2
    exit 1
  fi
  # initdb's default authentication is trust, for local and loopback connections only.
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD")
  printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  if [[ "$POSTGRES_DB" != postgres ]]; then
    # No TCP listener until the database exists, so no client sees the server half made.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    echo 'CREATE DATABASE :"db";' |
      psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username="$POSTGRES_USER" --dbname=postgres \
        --set=db="$POSTGRES_DB"
    pg_ctl -D "$PGDATA" -m fast -w stop
  fi
  echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
