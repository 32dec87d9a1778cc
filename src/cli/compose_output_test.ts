import assert from "node:assert/strict";
import { formatTable } from "./compose_list.ts";
import { composeReporter, splitList } from "./compose_output.ts";

Deno.test("--packages values: several after one flag, repeated flags, and commas", () => {
  assert.deepEqual(splitList(["nginx", "apache2,vim", " curl "]), ["nginx", "apache2", "vim", "curl"]);
  assert.deepEqual(splitList(undefined), []);
  assert.deepEqual(splitList(["a,,b", ""]), ["a", "b"]);
});

Deno.test("no live output with --json or --quiet", () => {
  assert.equal(composeReporter({ json: true, verbose: true }).live, false);
  assert.equal(composeReporter({ quiet: true, verbose: true }).live, false);
  assert.equal(composeReporter({ verbose: true }).live, true);
});

Deno.test("tables are left-aligned columns", () => {
  assert.deepEqual(formatTable([["A", "BB", "C"], ["aaa", "b", "c"]]), ["A    BB  C", "aaa  b   c"]);
});
