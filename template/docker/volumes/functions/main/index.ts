// Entry point of the edge runtime: checks the caller's JWT when FUNCTIONS_VERIFY_JWT is
// true, then runs /home/deno/functions/<name>/index.ts in its own isolate.
// Call a function at <API_EXTERNAL_URL>/functions/v1/<name>.
import * as jose from "jsr:@panva/jose@6";

const VERIFY_JWT = Deno.env.get("VERIFY_JWT") === "true";
const JWT_SECRET = new TextEncoder().encode(Deno.env.get("JWT_SECRET") ?? "");
const JWKS = localKeySet(Deno.env.get("SUPABASE_JWKS"));
const FUNCTION_NAME = /^[A-Za-z0-9_-]+$/;

function localKeySet(raw: string | undefined) {
  try {
    const parsed = raw ? JSON.parse(raw) : null;
    return Array.isArray(parsed?.keys) ? jose.createLocalJWKSet(parsed) : null;
  } catch {
    return null;
  }
}

function json(status: number, body: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

// Legacy tokens are HS256 (JWT_SECRET); user sessions and the keys Kong substitutes for
// sb_publishable_/sb_secret_ keys are ES256, checked against the public key set.
async function jwtError(req: Request): Promise<string | null> {
  const bearer = req.headers.get("authorization")?.match(/^Bearer (\S+)$/)?.[1];
  const token = bearer ?? req.headers.get("sb-api-key");
  if (!token) return "Missing authorization header";
  try {
    const { alg } = jose.decodeProtectedHeader(token);
    if (alg === "HS256") await jose.jwtVerify(token, JWT_SECRET);
    else if ((alg === "ES256" || alg === "RS256") && JWKS) await jose.jwtVerify(token, JWKS);
    else return `Unsupported JWT algorithm ${alg}`;
    return null;
  } catch {
    return "Invalid JWT";
  }
}

Deno.serve(async (req: Request) => {
  if (VERIFY_JWT && req.method !== "OPTIONS") {
    const error = await jwtError(req);
    if (error) return json(401, { msg: error });
  }

  const name = new URL(req.url).pathname.split("/")[1] ?? "";
  if (!FUNCTION_NAME.test(name) || name === "main") {
    return json(400, { msg: "missing or invalid function name in the request path" });
  }

  try {
    const worker = await EdgeRuntime.userWorkers.create({
      servicePath: `/home/deno/functions/${name}`,
      memoryLimitMb: 150,
      workerTimeoutMs: 60_000,
      noModuleCache: false,
      importMapPath: null,
      envVars: Object.entries(Deno.env.toObject()),
    });
    return await worker.fetch(req);
  } catch (error) {
    const missing = String(error).includes("could not find an appropriate entrypoint");
    return json(missing ? 404 : 500, { msg: missing ? `function ${name} not found` : String(error) });
  }
});
