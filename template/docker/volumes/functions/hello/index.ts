// An example function: POST {"name": "..."} to <API_EXTERNAL_URL>/functions/v1/hello.
// Each function lives in its own folder next to this one; edit or replace this one freely.
Deno.serve(async (req: Request) => {
  let name = "world";
  if (req.method === "POST") {
    const body = await req.json().catch(() => ({}));
    if (typeof body?.name === "string" && body.name.trim()) name = body.name.trim();
  }
  return new Response(
    JSON.stringify({
      message: `Hello ${name}!`,
      // Set when the instance runs Redis: connect with any Deno Redis client.
      redis: Boolean(Deno.env.get("REDIS_URL")),
    }),
    { headers: { "Content-Type": "application/json" } },
  );
});
