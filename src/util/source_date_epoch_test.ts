import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { parseSourceDateEpoch } from "./source_date_epoch.ts";

Deno.test("SOURCE_DATE_EPOCH: whole seconds, unset or empty is undefined, anything else a usage error", () => {
  assert.equal(parseSourceDateEpoch("1700000000"), 1700000000);
  assert.equal(parseSourceDateEpoch("0"), 0);
  assert.equal(parseSourceDateEpoch(undefined), undefined);
  assert.equal(parseSourceDateEpoch(""), undefined);
  for (const bad of ["yesterday", "-1", "1.5", " 17", "1e9"]) {
    assert.throws(() => parseSourceDateEpoch(bad), UsageError, bad);
  }
});
