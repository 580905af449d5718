#!/usr/bin/env bash
# A throwaway PostgreSQL on 127.0.0.1 for the store contract suite; prints its SQLAlchemy URL.
#   export NOTIFIER_TEST_PG_URL=$(bash tests/pg.sh)     # install if needed, start, print URL
#   bash tests/pg.sh stop                                # stop it again
# Works as root on a fresh Debian machine (installs the `postgresql` package, runs the
# server as the postgres user) and as an ordinary user who already has PostgreSQL.
# The cluster lives in $NOTIFIER_PG_DIR (default /tmp/notifier-pg) on $NOTIFIER_PG_PORT
# (default 54329), trusts local connections and skips fsync: it is for tests only.
# Everything but the URL goes to stderr.
set -euo pipefail

PORT=${NOTIFIER_PG_PORT:-54329}
DATA=${NOTIFIER_PG_DIR:-/tmp/notifier-pg}
DB=notifier_test

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

BIN=$(pg_bin)
if [ -z "$BIN" ] && [ "${1:-}" != stop ]; then
  echo "pg.sh: cài PostgreSQL từ Debian..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BIN=$(pg_bin)
fi

# As root, the server must run as the postgres user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = stop ]; then
  if [ -n "$BIN" ] && [ -f "$DATA/postmaster.pid" ]; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
  fi
  exit 0
fi

if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  if [ ! -f "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
    chmod 700 "$DATA"
    as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >&2
  fi
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start \
    -o "-h 127.0.0.1 -p $PORT -k $DATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >&2
fi

PSQL=("$BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc)
if [ "$("${PSQL[@]}" "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
  "${PSQL[@]}" "CREATE DATABASE $DB" >&2
fi
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/$DB"
