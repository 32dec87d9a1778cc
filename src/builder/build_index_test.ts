import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { buildIndex } from "./build_index.ts";

Deno.test("buildIndex: no platform, or an unknown one, is a usage error before the repository is opened", async () => {
  const missing = "/nonexistent/apt-ostree-repo";
  await assert.rejects(
    buildIndex({ repo: missing, image: "app:1", platforms: [] }),
    (e: unknown) => e instanceof UsageError && /No platform to build/.test(e.message),
  );
  await assert.rejects(
    buildIndex({ repo: missing, image: "app:1", platforms: [{ platform: "linux/sparc", source: "main" }] }),
    UsageError,
  );
});
