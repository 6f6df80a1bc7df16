#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for the cloud service's tests (and CI).
#
#   tests/cloud/pg.sh start DIR PORT   initdb in DIR/data, start on 127.0.0.1:PORT, print the
#                                      DATABASE_URL (user latentlink, trust auth, db postgres)
#   tests/cloud/pg.sh stop DIR         stop it (immediate: the cluster is thrown away)
#
# PostgreSQL refuses to run as root, so as root the server runs as the 'postgres' user, which
# must be able to reach DIR (e.g. a fresh directory directly under /tmp). PG_BIN overrides the
# binaries' folder (default: the newest /usr/lib/postgresql/*/bin).
set -euo pipefail

bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg.sh: no PostgreSQL server binaries (set PG_BIN)" >&2
  exit 3
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    dir="$2" port="$3"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U latentlink --auth=trust -E UTF8 --no-sync >"$dir/initdb.log"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir" \
      start >/dev/null
    echo "postgresql+psycopg://latentlink@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$2/data" -m immediate -w stop >/dev/null
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
