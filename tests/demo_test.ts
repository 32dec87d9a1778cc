/**
 * The README's quick start: `deno task demo` must keep working as the code
 * changes (it builds, validates with skopeo, and exits non-zero on any
 * failed check).
 *
 * @module
 */

import assert from "node:assert/strict";
import { ROOT_DIR } from "./helpers/cli.ts";

Deno.test({
  name: "deno task demo builds both formats and validates them",
  async fn() {
    const out = await new Deno.Command("deno", {
      args: ["task", "demo"],
      cwd: ROOT_DIR,
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, stdout + new TextDecoder().decode(out.stderr));
    assert.doesNotMatch(stdout, /FAIL/);
    assert.match(stdout, /ok {3}skopeo reads the OCI layout, with the same manifest digest/);
    assert.match(stdout, /OCI layout: .*\.demo\/demo-hello\.oci/);
  },
});
