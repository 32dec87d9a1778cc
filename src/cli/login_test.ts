import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { loginTarget } from "./login.ts";

Deno.test("login targets: a host is a host; only Docker Hub's names go to Docker Hub", () => {
  assert.deepEqual(loginTarget("registry"), { key: "registry", host: "registry" });
  assert.deepEqual(loginTarget("registry:5000"), { key: "registry:5000", host: "registry:5000" });
  assert.deepEqual(loginTarget("https://localhost:5000/"), { key: "localhost:5000", host: "localhost:5000" });
  assert.equal(loginTarget("docker.io").host, "registry-1.docker.io");
  assert.deepEqual(loginTarget("quay.io/team"), { key: "quay.io/team", host: "quay.io" });
});

Deno.test("login targets: credentials in the name are refused without being echoed", () => {
  assert.throws(
    () => loginTarget("https://alice:s3cretpw@registry.example.com"),
    (e: unknown) => e instanceof UsageError && !e.message.includes("s3cretpw"),
  );
  assert.throws(() => loginTarget("bad host"), UsageError);
});
