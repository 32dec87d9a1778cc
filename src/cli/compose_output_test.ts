import assert from "node:assert/strict";
import { formatTable } from "./compose_list.ts";
import { splitList } from "./compose_output.ts";
import { createReporter, progressText } from "./progress.ts";

Deno.test("--packages values: several after one flag, repeated flags, and commas", () => {
  assert.deepEqual(splitList(["nginx", "apache2,vim", " curl "]), ["nginx", "apache2", "vim", "curl"]);
  assert.deepEqual(splitList(undefined), []);
  assert.deepEqual(splitList(["a,,b", ""]), ["a", "b"]);
});

Deno.test("the reporter: nothing live with --json or --quiet; logs on a terminal or with --verbose", () => {
  for (const terminal of [true, false]) {
    for (const globals of [{ json: true, verbose: true }, { quiet: true, verbose: true }]) {
      const reporter = createReporter(globals, { terminal });
      assert.equal(reporter.live, false);
      assert.equal(reporter.logs, false);
      assert.equal(reporter.onProgress, undefined);
      assert.equal(reporter.onLine, undefined);
    }
  }
  assert.equal(createReporter({ verbose: true }, { terminal: false }).logs, true);
  assert.equal(createReporter({ verbose: true }, { terminal: false }).live, false, "a progress line needs a terminal");
  assert.equal(createReporter({}, { terminal: false }).logs, false, "a pipe gets only the result");
  assert.equal(createReporter({}, { terminal: true }).live, true);
});

Deno.test("progress text: phase, percent, bytes, count and rate; phases without bytes are words", () => {
  const p = {
    phase: "blobs",
    done: 1024,
    total: 2048,
    count: { done: 1, total: 2, of: "blobs" as const },
    elapsedMs: 1000,
  };
  assert.equal(progressText(p), "Copying: 50% 1.0 KiB/2.0 KiB, 1/2 blobs, 0.0 MB/s");
  assert.equal(progressText(p, { blobs: "Pushing" }), "Pushing: 50% 1.0 KiB/2.0 KiB, 1/2 blobs, 0.0 MB/s");
  assert.equal(progressText({ ...p, phase: "listing" }), "Reading the commit's tree…");
});

Deno.test("tables are left-aligned columns", () => {
  assert.deepEqual(formatTable([["A", "BB", "C"], ["aaa", "b", "c"]]), ["A    BB  C", "aaa  b   c"]);
});
