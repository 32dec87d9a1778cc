import assert from "node:assert/strict";
import { basicHeader, parseWwwAuthenticate } from "./auth.ts";
import { redactSecrets } from "../util/redact.ts";

Deno.test("auth: WWW-Authenticate challenges", () => {
  assert.deepEqual(
    parseWwwAuthenticate(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull"',
    ),
    [{
      scheme: "bearer",
      params: {
        realm: "https://auth.docker.io/token",
        service: "registry.docker.io",
        scope: "repository:library/debian:pull",
      },
    }],
  );
  assert.deepEqual(parseWwwAuthenticate('Basic realm="Registry Realm"'), [
    { scheme: "basic", params: { realm: "Registry Realm" } },
  ]);
  const two = parseWwwAuthenticate('Basic realm="a", Bearer realm="https://x/t",service=s,error="insufficient_scope"');
  assert.equal(two.length, 2);
  assert.deepEqual(two[1].params, { realm: "https://x/t", service: "s", error: "insufficient_scope" });
  assert.deepEqual(parseWwwAuthenticate(""), []);
  // A scope with a comma inside quotes stays whole.
  assert.equal(
    parseWwwAuthenticate('Bearer realm="r",scope="repository:a:pull,push"')[0].params.scope,
    "repository:a:pull,push",
  );
});

Deno.test("auth: Basic header, redacted", () => {
  const header = basicHeader("user", "a-password");
  assert.equal(header, `Basic ${btoa("user:a-password")}`);
  assert.equal(redactSecrets(`sent ${header}`), "sent Basic ***");
});
