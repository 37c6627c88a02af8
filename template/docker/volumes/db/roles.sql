-- Gives every Supabase login role the instance's POSTGRES_PASSWORD (the image creates the
-- roles; this runs once, on an empty data volume). To change it later, never edit .env
-- alone: run `python3 scripts/generate_secrets.py --rotate db-password`.
\set pgpass `echo "$POSTGRES_PASSWORD"`

ALTER USER authenticator WITH PASSWORD :'pgpass';
ALTER USER pgbouncer WITH PASSWORD :'pgpass';
ALTER USER supabase_auth_admin WITH PASSWORD :'pgpass';
ALTER USER supabase_functions_admin WITH PASSWORD :'pgpass';
ALTER USER supabase_storage_admin WITH PASSWORD :'pgpass';
