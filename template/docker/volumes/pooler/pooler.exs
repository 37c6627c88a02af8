# Run by Supavisor at start (after its migrations): creates this instance's tenant,
# POOLER_TENANT_ID, once. Clients then connect as postgres.<POOLER_TENANT_ID>; Supavisor
# looks their password up through pgbouncer.get_auth() in the database.
{:ok, _} = Application.ensure_all_started(:supavisor)

env = fn name, default -> System.get_env(name, default) end
external_id = env.("POOLER_TENANT_ID", "default")

server_version =
  with {:ok, %{rows: [[version]]}} <- Supavisor.Repo.query("select version()"),
       {:ok, parsed} <- Supavisor.Helpers.parse_pg_version(version) do
    parsed
  else
    _ -> "17.0"
  end

tenant = %{
  "external_id" => external_id,
  "db_host" => env.("POSTGRES_HOST", "db"),
  "db_port" => env.("POSTGRES_PORT", "5432"),
  "db_database" => env.("POSTGRES_DB", "postgres"),
  "require_user" => false,
  "auth_query" => "SELECT * FROM pgbouncer.get_auth($1)",
  "default_max_clients" => env.("POOLER_MAX_CLIENT_CONN", "100"),
  "default_pool_size" => env.("POOLER_DEFAULT_POOL_SIZE", "20"),
  "default_parameter_status" => %{"server_version" => server_version},
  "users" => [
    %{
      "db_user" => "pgbouncer",
      "db_password" => env.("POSTGRES_PASSWORD", ""),
      "mode_type" => env.("POOLER_POOL_MODE", "transaction"),
      "pool_size" => env.("POOLER_DEFAULT_POOL_SIZE", "20"),
      "is_manager" => true
    }
  ]
}

case Supavisor.Tenants.get_tenant_by_external_id(external_id) do
  nil ->
    {:ok, _} = Supavisor.Tenants.create_tenant(tenant)
    IO.puts("pooler: tenant #{external_id} created")

  _existing ->
    IO.puts("pooler: tenant #{external_id} already exists")
end
