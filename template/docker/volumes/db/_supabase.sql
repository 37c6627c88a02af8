-- The internal database of the platform services (Supavisor's tenants, analytics),
-- kept apart from the application's `postgres` database.
\set pguser `echo "$POSTGRES_USER"`

CREATE DATABASE _supabase WITH OWNER :"pguser";
