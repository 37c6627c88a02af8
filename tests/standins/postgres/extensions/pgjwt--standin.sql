-- STAND-IN for pgjwt, for tests only: the supabase/postgres 15 image ships the real one.
-- Same function names and signatures (url_encode, url_decode, algorithm_sign, sign,
-- verify), written for these tests on top of pgcrypto's hmac() in the same schema.
\echo Use "CREATE EXTENSION pgjwt" to load this file. \quit

CREATE FUNCTION @extschema@.url_encode(data bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  -- base64url without padding; encode() wraps lines, so newlines go too.
  SELECT translate(encode(data, 'base64'), E'+/=\n', '-_')
$$;

CREATE FUNCTION @extschema@.url_decode(data text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT decode(
    translate(data, '-_', '+/') || repeat('=', (4 - length(data) % 4) % 4),
    'base64'
  )
$$;

CREATE FUNCTION @extschema@.algorithm_sign(signables text, secret text, algorithm text)
  RETURNS text
  LANGUAGE sql
  IMMUTABLE
AS $$
  SELECT @extschema@.url_encode(@extschema@.hmac(
    signables,
    secret,
    CASE algorithm WHEN 'HS256' THEN 'sha256' WHEN 'HS384' THEN 'sha384' WHEN 'HS512' THEN 'sha512' END
  ))
$$;

CREATE FUNCTION @extschema@.sign(payload json, secret text, algorithm text DEFAULT 'HS256')
  RETURNS text
  LANGUAGE sql
  IMMUTABLE
AS $$
  WITH parts AS (
    SELECT @extschema@.url_encode(convert_to(json_build_object('alg', algorithm, 'typ', 'JWT')::text, 'UTF8'))
           || '.' || @extschema@.url_encode(convert_to(payload::text, 'UTF8')) AS signables
  )
  SELECT signables || '.' || @extschema@.algorithm_sign(signables, secret, algorithm) FROM parts
$$;

CREATE FUNCTION @extschema@.try_cast_double(inp text) RETURNS double precision LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN inp::double precision;
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END
$$;

CREATE FUNCTION @extschema@.verify(token text, secret text, algorithm text DEFAULT 'HS256')
  RETURNS TABLE (header json, payload json, valid boolean)
  LANGUAGE sql
  IMMUTABLE
AS $$
  SELECT
    convert_from(@extschema@.url_decode(split_part(token, '.', 1)), 'UTF8')::json,
    convert_from(@extschema@.url_decode(split_part(token, '.', 2)), 'UTF8')::json,
    split_part(token, '.', 3) = @extschema@.algorithm_sign(
      split_part(token, '.', 1) || '.' || split_part(token, '.', 2), secret, algorithm
    )
$$;
