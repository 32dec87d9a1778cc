import assert from "node:assert/strict";
import { dateStamp, nextVersion } from "./version.ts";

Deno.test("versions are numbered as rpm-ostree's automatic-version-prefix", () => {
  assert.equal(nextVersion("12.20240506", undefined), "12.20240506");
  assert.equal(nextVersion("12.20240506", "12.20240506"), "12.20240506.1");
  assert.equal(nextVersion("12.20240506", "12.20240506.9"), "12.20240506.10");
  assert.equal(nextVersion("12.20240507", "12.20240506.3"), "12.20240507");
  assert.equal(nextVersion("12.20240506", "12.20240506.x"), "12.20240506");
  assert.equal(nextVersion("12.2024050", "12.20240506"), "12.2024050");
});

Deno.test("date stamps are UTC", () => {
  assert.equal(dateStamp(1714979289), "20240506");
  assert.equal(dateStamp(0), "19700101");
});
