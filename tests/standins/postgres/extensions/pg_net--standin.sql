-- STAND-IN for pg_net, for tests only: the official supabase/postgres image ships the
-- real extension (a background worker that performs the HTTP calls). This one keeps the
-- schema `net` and the signatures the template's SQL relies on; requests are recorded in
-- net.http_request_queue and never sent, so tests can assert on what would go out.
\echo Use "CREATE EXTENSION pg_net" to load this file. \quit

CREATE SCHEMA net;

CREATE TABLE net.http_request_queue (
  id bigserial PRIMARY KEY,
  method text NOT NULL,
  url text NOT NULL,
  headers jsonb NOT NULL,
  body bytea,
  timeout_milliseconds integer NOT NULL
);

CREATE UNLOGGED TABLE net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION net._enqueue(method text, url text, headers jsonb, body bytea, timeout_milliseconds integer)
  RETURNS bigint
  LANGUAGE sql
  VOLATILE
AS $$
  INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  VALUES (method, url, headers, body, timeout_milliseconds)
  RETURNING id
$$;

CREATE FUNCTION net._with_params(url text, params jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT url || coalesce(
    '?' || (SELECT string_agg(key || '=' || value, '&' ORDER BY key) FROM jsonb_each_text(params)),
    ''
  )
$$;

CREATE FUNCTION net.http_get(
  url text,
  params jsonb DEFAULT '{}'::jsonb,
  headers jsonb DEFAULT '{}'::jsonb,
  timeout_milliseconds integer DEFAULT 5000
)
  RETURNS bigint
  LANGUAGE sql
  VOLATILE
AS $$
  SELECT net._enqueue('GET', net._with_params(url, params), headers, NULL, timeout_milliseconds)
$$;

CREATE FUNCTION net.http_post(
  url text,
  body jsonb DEFAULT '{}'::jsonb,
  params jsonb DEFAULT '{}'::jsonb,
  headers jsonb DEFAULT '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer DEFAULT 5000
)
  RETURNS bigint
  LANGUAGE sql
  VOLATILE
AS $$
  SELECT net._enqueue(
    'POST', net._with_params(url, params), headers, convert_to(body::text, 'UTF8'), timeout_milliseconds
  )
$$;

CREATE FUNCTION net.http_delete(
  url text,
  params jsonb DEFAULT '{}'::jsonb,
  headers jsonb DEFAULT '{}'::jsonb,
  timeout_milliseconds integer DEFAULT 5000
)
  RETURNS bigint
  LANGUAGE sql
  VOLATILE
AS $$
  SELECT net._enqueue('DELETE', net._with_params(url, params), headers, NULL, timeout_milliseconds)
$$;
