import assert from "node:assert/strict";
import { RegistryClient } from "./client.ts";

interface Fake {
  host: string;
  requests: { method: string; path: string; authorization: string | null }[];
  stop(): Promise<void>;
}

function fakeRegistry(handler: (req: Request, n: number) => Response | Promise<Response>): Fake {
  const controller = new AbortController();
  const requests: Fake["requests"] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen() {} }, (req) => {
    const url = new URL(req.url);
    requests.push({ method: req.method, path: url.pathname, authorization: req.headers.get("authorization") });
    return handler(req, requests.length);
  });
  return {
    host: `127.0.0.1:${server.addr.port}`,
    requests,
    async stop() {
      controller.abort();
      await server.finished;
    },
  };
}

const FAST = { retries: 3, fixedDelayMs: 1, baseDelayMs: 1, maxDelayMs: 5 };
const DIGEST = "sha256:" + "0".repeat(64);

Deno.test("client: 503 and 429 are retried, then the answer comes through", async () => {
  let blobHeads = 0;
  const fake = fakeRegistry((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/v2/") return new Response("{}");
    blobHeads++;
    if (blobHeads === 1) return new Response("busy", { status: 503 });
    if (blobHeads === 2) return new Response("slow down", { status: 429, headers: { "retry-after": "0" } });
    return new Response(null, { status: 200, headers: { "content-length": "42" } });
  });
  try {
    const client = await RegistryClient.create(fake.host, { tlsVerify: false, retry: FAST });
    const stat = await client.repository("app").statBlob(DIGEST);
    assert.deepEqual(stat, { exists: true, size: 42 });
    assert.equal(blobHeads, 3);
    client.close();
  } finally {
    await fake.stop();
  }
});

Deno.test("client: retries give up with the registry's error", async () => {
  const fake = fakeRegistry((req) =>
    new URL(req.url).pathname === "/v2/" ? new Response("{}") : Response.json({
      errors: [{ code: "UNAVAILABLE", message: "maintenance" }],
    }, { status: 503 })
  );
  try {
    const client = await RegistryClient.create(fake.host, { tlsVerify: false, retry: { ...FAST, retries: 1 } });
    await assert.rejects(() => client.repository("app").getManifest("1"), /503 UNAVAILABLE: maintenance/);
    client.close();
  } finally {
    await fake.stop();
  }
});

Deno.test("client: Basic auth; a wrong password fails clearly and is never shown", async () => {
  const fake = fakeRegistry((req) => {
    if (req.headers.get("authorization") !== `Basic ${btoa("alice:right-password")}`) {
      return new Response("{}", { status: 401, headers: { "www-authenticate": 'Basic realm="test"' } });
    }
    return new Response(null, { status: 404 });
  });
  try {
    const ok = await RegistryClient.create(fake.host, {
      tlsVerify: false,
      retry: FAST,
      credentials: { creds: "alice:right-password" },
    });
    assert.deepEqual(await ok.repository("app").statBlob(DIGEST), { exists: false });
    ok.close();
    const bad = await RegistryClient.create(fake.host, {
      tlsVerify: false,
      retry: FAST,
      credentials: { creds: "alice:wrong-password" },
    });
    const error = await bad.repository("app").statBlob(DIGEST).catch((e) => e);
    bad.close();
    assert.match(error.message, /Authentication failed for 127\.0\.0\.1:\d+: the user name or password from --creds/);
    assert.ok(!`${error.message} ${error.solution}`.includes("wrong-password"));
    const anonymous = await RegistryClient.create(fake.host, {
      tlsVerify: false,
      retry: FAST,
      credentials: {
        authfile: "/nonexistent/auth.json",
      },
    });
    await assert.rejects(() => anonymous.repository("app").statBlob(DIGEST), /Authentication required/);
    anonymous.close();
  } finally {
    await fake.stop();
  }
});

Deno.test("client: redirects are followed without sending credentials to another host", async () => {
  const storage = fakeRegistry(() => new Response("blob-bytes"));
  const fake = fakeRegistry((req) => {
    if (req.headers.get("authorization") === null) {
      return new Response("{}", { status: 401, headers: { "www-authenticate": 'Basic realm="test"' } });
    }
    if (new URL(req.url).pathname === "/v2/") return new Response("{}");
    return new Response(null, { status: 307, headers: { location: `http://${storage.host}/bucket/blob?sig=abc` } });
  });
  try {
    const client = await RegistryClient.create(fake.host, {
      tlsVerify: false,
      retry: FAST,
      credentials: { creds: "u:p-secret" },
    });
    const { body } = await client.repository("app").openBlob(DIGEST);
    assert.equal(await new Response(body).text(), "blob-bytes");
    client.close();
    assert.equal(storage.requests.length, 1);
    assert.equal(storage.requests[0].authorization, null);
  } finally {
    await fake.stop();
    await storage.stop();
  }
});

Deno.test("client: a registry that is not there fails clearly", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const client = await RegistryClient.create(`127.0.0.1:${port}`, { retry: { ...FAST, retries: 1 } });
  await assert.rejects(() => client.repository("app").statBlob(DIGEST), /Cannot connect to the registry 127\.0\.0\.1/);
  client.close();
});

Deno.test("client: a token server that is not http(s) is refused, never read", async () => {
  const secret = await Deno.makeTempFile({ prefix: "apt-ostree-secret-" });
  await Deno.writeTextFile(secret, JSON.stringify({ token: "SECRET_FROM_FILE" }));
  const fake = fakeRegistry((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/v2/") {
      return new Response("unauthorized", {
        status: 401,
        headers: { "www-authenticate": `Bearer realm="file://${secret}",service="x"` },
      });
    }
    return new Response(null, { status: 302, headers: { location: `file://${secret}` } });
  });
  try {
    const client = await RegistryClient.create(fake.host, { tlsVerify: false, retry: FAST });
    await assert.rejects(() => client.repository("app").statBlob(DIGEST), /token server that is not HTTPS: file:/);
    assert.ok(fake.requests.every((r) => !r.authorization?.includes("SECRET")), "the file's token was never sent");
    client.close();
  } finally {
    await fake.stop();
    await Deno.remove(secret);
  }
});

Deno.test("client: a redirect to a file: URL is refused, never read", async () => {
  const secret = await Deno.makeTempFile({ prefix: "apt-ostree-secret-" });
  const fake = fakeRegistry((req) =>
    new URL(req.url).pathname === "/v2/"
      ? new Response("{}")
      : new Response(null, { status: 302, headers: { location: `file://${secret}` } })
  );
  try {
    const client = await RegistryClient.create(fake.host, { tlsVerify: false, retry: FAST });
    await assert.rejects(
      () => client.repository("app").statBlob(DIGEST),
      /redirected to a URL that is not HTTPS: file:/,
    );
    client.close();
  } finally {
    await fake.stop();
    await Deno.remove(secret);
  }
});
