-- STAND-IN for pgsodium, for tests only: the supabase/postgres 15 image ships the real
-- extension (libsodium bindings, with its root key in /etc/postgresql-custom). This one
-- creates only what other objects may refer to: the schema (from the control file), the
-- key roles, and version(), which names it as a stand-in. It offers no cryptography.
\echo Use "CREATE EXTENSION pgsodium" to load this file. \quit

DO $$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['pgsodium_keyiduser', 'pgsodium_keyholder', 'pgsodium_keymaker'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
    END IF;
  END LOOP;
END
$$;
GRANT pgsodium_keyiduser TO pgsodium_keyholder;
GRANT pgsodium_keyholder TO pgsodium_keymaker;

CREATE FUNCTION pgsodium.version() RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT 'standin'::text
$$;
GRANT USAGE ON SCHEMA pgsodium TO pgsodium_keyiduser;
