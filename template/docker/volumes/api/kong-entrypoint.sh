#!/bin/sh
# Kong entrypoint: renders the declarative config from the environment, then starts Kong.
# ${NAME} placeholders in kong.yml are replaced by environment values escaped for YAML
# double-quoted strings, so '$', quotes and backslashes in secrets survive intact.
# The rendered file lives only inside the container.
set -eu

# API keys are embedded in Lua string literals below: accept only their own alphabet.
for name in SUPABASE_ANON_KEY SUPABASE_SERVICE_KEY SUPABASE_PUBLISHABLE_KEY SUPABASE_SECRET_KEY \
            ANON_KEY_ASYMMETRIC SERVICE_ROLE_KEY_ASYMMETRIC; do
  eval "value=\${$name:-}"
  case "$value" in
    *[!A-Za-z0-9._-]*) echo "kong-entrypoint: $name has characters an API key never has" >&2; exit 1 ;;
  esac
done

# Kong's request-transformer evaluates $(...) as Lua. Opaque keys (sb_publishable_/sb_secret_)
# become the matching ES256 JWT for the services; user session tokens pass through.
user_bearer="(headers.authorization ~= nil and headers.authorization:sub(1, 10) ~= 'Bearer sb_' and headers.authorization)"
if [ -n "${SUPABASE_SECRET_KEY:-}" ] && [ -n "${SUPABASE_PUBLISHABLE_KEY:-}" ]; then
  secret_hdr="(headers.apikey == '$SUPABASE_SECRET_KEY' and 'Bearer $SERVICE_ROLE_KEY_ASYMMETRIC')"
  publishable_hdr="(headers.apikey == '$SUPABASE_PUBLISHABLE_KEY' and 'Bearer $ANON_KEY_ASYMMETRIC')"
  export LUA_AUTH_EXPR="\$($user_bearer or $secret_hdr or $publishable_hdr or headers.apikey)"
  export LUA_RT_WS_EXPR="\$((query_params.apikey == '$SUPABASE_SECRET_KEY' and '$SERVICE_ROLE_KEY_ASYMMETRIC') or (query_params.apikey == '$SUPABASE_PUBLISHABLE_KEY' and '$ANON_KEY_ASYMMETRIC') or query_params.apikey)"
  export LUA_FUNCTIONS_EXPR="\$((headers.apikey == '$SUPABASE_SECRET_KEY' and '$SERVICE_ROLE_KEY_ASYMMETRIC') or (headers.apikey == '$SUPABASE_PUBLISHABLE_KEY' and '$ANON_KEY_ASYMMETRIC') or nil)"
else
  export LUA_AUTH_EXPR="\$($user_bearer or headers.apikey)"
  export LUA_RT_WS_EXPR="\$(query_params.apikey)"
  export LUA_FUNCTIONS_EXPR="\$(nil)"
fi

awk '
  # Escapes a value for a YAML double-quoted string (portable: no gsub backslash rules).
  function yaml_escape(s,    out, i, c) {
    out = ""
    for (i = 1; i <= length(s); i++) {
      c = substr(s, i, 1)
      if (c == "\\" || c == "\"") out = out "\\" c
      else if (c == "\n") out = out "\\n"
      else if (c == "\r") out = out "\\r"
      else if (c == "\t") out = out "\\t"
      else out = out c
    }
    return out
  }
  {
    line = $0; out = ""
    while (match(line, /\$\{[A-Za-z_][A-Za-z0-9_]*\}/)) {
      name = substr(line, RSTART + 2, RLENGTH - 3)
      if (!(name in ENVIRON)) {
        printf "kong-entrypoint: kong.yml line %d needs %s, which is not set\n", NR, name > "/dev/stderr"
        failed = 1
      }
      out = out substr(line, 1, RSTART - 1) yaml_escape(ENVIRON[name])
      line = substr(line, RSTART + RLENGTH)
    }
    print out line
  }
  END { exit failed }
' /home/kong/temp.yml > "$KONG_DECLARATIVE_CONFIG"

# Credentials whose key is unset (no opaque keys configured) are dropped.
sed -i '/^[[:space:]]*- key: ""[[:space:]]*$/d' "$KONG_DECLARATIVE_CONFIG"

exec /entrypoint.sh kong docker-start
