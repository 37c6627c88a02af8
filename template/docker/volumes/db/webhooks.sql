-- Database Webhooks: the supabase_functions schema that Studio's "Database Webhooks"
-- page writes triggers against. supabase_functions.http_request() queues the HTTP call
-- with pg_net (asynchronous: a slow endpoint never holds a transaction open) and records
-- it in supabase_functions.hooks.
BEGIN;

CREATE EXTENSION IF NOT EXISTS pg_net SCHEMA extensions;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'supabase_functions_admin') THEN
    CREATE ROLE supabase_functions_admin NOINHERIT CREATEROLE LOGIN NOREPLICATION;
  END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS supabase_functions AUTHORIZATION supabase_functions_admin;
GRANT USAGE ON SCHEMA supabase_functions TO postgres, anon, authenticated, service_role;
ALTER ROLE supabase_functions_admin SET search_path = supabase_functions;
GRANT supabase_functions_admin TO postgres;

CREATE TABLE IF NOT EXISTS supabase_functions.migrations (
  version text PRIMARY KEY,
  inserted_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS supabase_functions.hooks (
  id bigserial PRIMARY KEY,
  hook_table_id integer NOT NULL,
  hook_name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  request_id bigint
);
CREATE INDEX IF NOT EXISTS supabase_functions_hooks_request_id_idx
  ON supabase_functions.hooks (request_id);
CREATE INDEX IF NOT EXISTS supabase_functions_hooks_h_table_id_h_name_idx
  ON supabase_functions.hooks (hook_table_id, hook_name);
COMMENT ON TABLE supabase_functions.hooks IS 'Supabase Functions Hooks: audit trail of triggered hooks.';

-- Trigger arguments, as Studio writes them: url, method (GET|POST), headers (json),
-- params (json), timeout in milliseconds.
CREATE OR REPLACE FUNCTION supabase_functions.http_request()
  RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = supabase_functions
AS $function$
DECLARE
  url text := TG_ARGV[0];
  method text := upper(coalesce(TG_ARGV[1], ''));
  headers jsonb := coalesce(nullif(TG_ARGV[2], 'null')::jsonb, '{"Content-Type": "application/json"}');
  params jsonb := coalesce(nullif(TG_ARGV[3], 'null')::jsonb, '{}');
  timeout_ms integer := coalesce(nullif(TG_ARGV[4], 'null')::integer, 1000);
  request_id bigint;
BEGIN
  IF url IS NULL OR url = 'null' THEN
    RAISE EXCEPTION 'supabase_functions.http_request: the url argument is missing';
  END IF;

  IF method = 'GET' THEN
    request_id := net.http_get(url, params, headers, timeout_ms);
  ELSIF method = 'POST' THEN
    request_id := net.http_post(
      url,
      jsonb_build_object(
        'type', TG_OP,
        'table', TG_TABLE_NAME,
        'schema', TG_TABLE_SCHEMA,
        'record', CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END,
        'old_record', CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END
      ),
      params,
      headers,
      timeout_ms
    );
  ELSE
    RAISE EXCEPTION 'supabase_functions.http_request: method % is not GET or POST', method;
  END IF;

  INSERT INTO supabase_functions.hooks (hook_table_id, hook_name, request_id)
  VALUES (TG_RELID, TG_NAME, request_id);

  RETURN coalesce(NEW, OLD);
END
$function$;

REVOKE ALL ON FUNCTION supabase_functions.http_request() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION supabase_functions.http_request() TO postgres, anon, authenticated, service_role;

ALTER TABLE supabase_functions.migrations OWNER TO supabase_functions_admin;
ALTER TABLE supabase_functions.hooks OWNER TO supabase_functions_admin;
ALTER FUNCTION supabase_functions.http_request() OWNER TO supabase_functions_admin;
GRANT ALL ON ALL TABLES IN SCHEMA supabase_functions TO supabase_functions_admin;
GRANT ALL ON ALL SEQUENCES IN SCHEMA supabase_functions TO supabase_functions_admin;

-- pg_net's request functions run with their owner's rights for the roles allowed to call
-- them; the event trigger re-applies this whenever pg_net is (re)created.
CREATE OR REPLACE FUNCTION extensions.grant_pg_net_access()
  RETURNS event_trigger
  LANGUAGE plpgsql
AS $$
BEGIN
  IF EXISTS (
    SELECT 1
    FROM pg_event_trigger_ddl_commands() AS ev
    JOIN pg_extension AS ext ON ev.objid = ext.oid
    WHERE ext.extname = 'pg_net'
  ) THEN
    GRANT USAGE ON SCHEMA net TO supabase_functions_admin, postgres, anon, authenticated, service_role;
    ALTER FUNCTION net.http_get(url text, params jsonb, headers jsonb, timeout_milliseconds integer) SECURITY DEFINER;
    ALTER FUNCTION net.http_post(url text, body jsonb, params jsonb, headers jsonb, timeout_milliseconds integer) SECURITY DEFINER;
    ALTER FUNCTION net.http_get(url text, params jsonb, headers jsonb, timeout_milliseconds integer) SET search_path = net;
    ALTER FUNCTION net.http_post(url text, body jsonb, params jsonb, headers jsonb, timeout_milliseconds integer) SET search_path = net;
    REVOKE ALL ON FUNCTION net.http_get(url text, params jsonb, headers jsonb, timeout_milliseconds integer) FROM PUBLIC;
    REVOKE ALL ON FUNCTION net.http_post(url text, body jsonb, params jsonb, headers jsonb, timeout_milliseconds integer) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION net.http_get(url text, params jsonb, headers jsonb, timeout_milliseconds integer)
      TO supabase_functions_admin, postgres, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION net.http_post(url text, body jsonb, params jsonb, headers jsonb, timeout_milliseconds integer)
      TO supabase_functions_admin, postgres, anon, authenticated, service_role;
  END IF;
END
$$;
COMMENT ON FUNCTION extensions.grant_pg_net_access() IS 'Grants access to pg_net';

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'issue_pg_net_access') THEN
    CREATE EVENT TRIGGER issue_pg_net_access ON ddl_command_end WHEN TAG IN ('CREATE EXTENSION')
      EXECUTE FUNCTION extensions.grant_pg_net_access();
  END IF;
END
$$;

-- pg_net was created above, before the event trigger existed: apply the same now. Without
-- SECURITY DEFINER, a webhook would run as supabase_functions_admin and fail to queue.
GRANT USAGE ON SCHEMA net TO supabase_functions_admin, postgres, anon, authenticated, service_role;
ALTER FUNCTION net.http_get(url text, params jsonb, headers jsonb, timeout_milliseconds integer) SECURITY DEFINER;
ALTER FUNCTION net.http_post(url text, body jsonb, params jsonb, headers jsonb, timeout_milliseconds integer) SECURITY DEFINER;
ALTER FUNCTION net.http_get(url text, params jsonb, headers jsonb, timeout_milliseconds integer) SET search_path = net;
ALTER FUNCTION net.http_post(url text, body jsonb, params jsonb, headers jsonb, timeout_milliseconds integer) SET search_path = net;
REVOKE ALL ON FUNCTION net.http_get(url text, params jsonb, headers jsonb, timeout_milliseconds integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION net.http_post(url text, body jsonb, params jsonb, headers jsonb, timeout_milliseconds integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION net.http_get(url text, params jsonb, headers jsonb, timeout_milliseconds integer)
  TO supabase_functions_admin, postgres, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION net.http_post(url text, body jsonb, params jsonb, headers jsonb, timeout_milliseconds integer)
  TO supabase_functions_admin, postgres, anon, authenticated, service_role;

INSERT INTO supabase_functions.migrations (version)
VALUES ('initial'), ('20210809183423_update_grants')
ON CONFLICT DO NOTHING;

COMMIT;
