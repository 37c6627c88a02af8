-- Realtime keeps its tenants and migrations in _realtime (DB_AFTER_CONNECT_QUERY).
\set pguser `echo "$POSTGRES_USER"`

CREATE SCHEMA IF NOT EXISTS _realtime;
ALTER SCHEMA _realtime OWNER TO :"pguser";
