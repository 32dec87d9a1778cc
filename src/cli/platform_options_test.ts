import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { requestedArch } from "./platform_options.ts";

Deno.test("requestedArch: --platform or --arch, never both; an unknown name is a usage error before any work", () => {
  assert.equal(requestedArch({ platform: "linux/arm64" }), "arm64");
  assert.equal(requestedArch({ platform: "linux/arm/v7" }), "armhf");
  assert.equal(requestedArch({ arch: "aarch64" }), "aarch64");
  assert.equal(requestedArch({}), undefined);
  assert.throws(
    () => requestedArch({ arch: "arm64", platform: "linux/arm64" }),
    (e: unknown) => e instanceof UsageError && /--arch and --platform both choose the platform/.test(e.message),
  );
  assert.throws(
    () => requestedArch({ arch: "sparc" }),
    (e: unknown) => e instanceof UsageError && /sparc/.test(e.message),
  );
  assert.throws(() => requestedArch({ platform: "linux/sparc" }), UsageError);
});
