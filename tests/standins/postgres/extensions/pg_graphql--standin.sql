-- STAND-IN for pg_graphql, for tests only: the official supabase/postgres image ships
-- the real extension (a Rust library). This one keeps the entry point PostgREST reaches
-- through graphql_public.graphql(), graphql.resolve(), and answers every query with a
-- GraphQL error that names it as a stand-in.
\echo Use "CREATE EXTENSION pg_graphql" to load this file. \quit

CREATE FUNCTION graphql.resolve(
  query text,
  variables jsonb DEFAULT '{}'::jsonb,
  "operationName" text DEFAULT NULL,
  extensions jsonb DEFAULT NULL
)
  RETURNS jsonb
  LANGUAGE sql
  STABLE
AS $$
  SELECT jsonb_build_object(
    'data', NULL,
    'errors', jsonb_build_array(
      jsonb_build_object('message', 'pg_graphql stand-in: queries are not executed in tests')
    )
  )
$$;
