#!/bin/bash
# Boots like supabase/postgres: on an empty data directory, initialise the cluster with
# superuser $POSTGRES_USER (supabase_admin) and POSTGRES_PASSWORD, create the Supabase
# roles and schemas, then run the mounted init SQL; later boots just start the server.
set -Eeuo pipefail

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql /etc/postgresql-custom
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql /etc/postgresql-custom
  chmod 0700 "$PGDATA"
  exec runuser -u postgres -- "$0" "$@"
fi

run_sql_dir() {  # run_sql_dir USER DIR: every *.sql in DIR, in order, stopping at the first error
  local user=$1 dir=$2 file
  [ -d "$dir" ] || return 0
  for file in "$dir"/*.sql; do
    [ -e "$file" ] || continue
    echo "docker-entrypoint: running $file as $user"
    psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$user" -d postgres -f "$file"
  done
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set for the first boot}"
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile "$pwfile" -E UTF8 --locale C.UTF-8 \
    --auth-local trust --auth-host scram-sha-256 >/dev/null
  rm -f "$pwfile"
  # Only the socket while initialising: the healthcheck (pg_isready -h localhost) stays red.
  pg_ctl -D "$PGDATA" -w -t 60 -o "-c config_file=/etc/postgresql/postgresql.conf -c listen_addresses=''" start >/dev/null
  export PGHOST=/var/run/postgresql PGPASSWORD="$POSTGRES_PASSWORD"
  psql -X -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -f /usr/local/share/supabase/supabase-bootstrap.sql
  # As the image's migrate.sh: postgres logs in with POSTGRES_PASSWORD (read by psql, never an argument).
  psql -X -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres <<'SQL'
\set pgpass `printf '%s' "$POSTGRES_PASSWORD"`
ALTER ROLE postgres WITH PASSWORD :'pgpass';
SQL
  run_sql_dir postgres /docker-entrypoint-initdb.d/init-scripts
  run_sql_dir "$POSTGRES_USER" /docker-entrypoint-initdb.d/migrations
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "docker-entrypoint: first boot done"
fi

exec "$@"
