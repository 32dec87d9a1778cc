import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { parseCommand, parsePositiveInt, sourceDateEpoch } from "./parse.ts";

Deno.test("commands: JSON arrays as is, plain strings split like a shell", () => {
  assert.deepEqual(parseCommand(`["/bin/sh", "-c", "echo hi"]`), ["/bin/sh", "-c", "echo hi"]);
  assert.deepEqual(parseCommand(`nginx -g 'daemon off;'`), ["nginx", "-g", "daemon off;"]);
  assert.deepEqual(parseCommand(`a "b \\"c\\"" d\\ e ''`), ["a", 'b "c"', "d e", ""]);
  assert.deepEqual(parseCommand("  "), []);
  assert.throws(() => parseCommand(`[1, 2]`), UsageError);
  assert.throws(() => parseCommand(`[oops`), UsageError);
  assert.throws(() => parseCommand(`'open`), /unterminated/);
});

Deno.test("numbers and SOURCE_DATE_EPOCH", () => {
  assert.equal(parsePositiveInt("3", "--workers"), 3);
  assert.throws(() => parsePositiveInt("0", "--workers"), UsageError);
  assert.throws(() => parsePositiveInt("two", "--workers"), UsageError);
  assert.equal(sourceDateEpoch(undefined), undefined);
  assert.equal(sourceDateEpoch("")?.getTime(), undefined);
  assert.equal(sourceDateEpoch("86400")?.toISOString(), "1970-01-02T00:00:00.000Z");
  assert.throws(() => sourceDateEpoch("yesterday"), UsageError);
});
