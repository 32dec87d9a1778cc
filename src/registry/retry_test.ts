import assert from "node:assert/strict";
import { DEFAULT_RETRY_POLICY, isRetryableStatus, parseDuration, retryDelay } from "./retry.ts";

Deno.test("retry: which statuses", () => {
  for (const s of [408, 429, 500, 502, 503, 504]) assert.ok(isRetryableStatus(s), String(s));
  for (const s of [200, 201, 202, 400, 401, 403, 404, 416, 501, 505]) assert.ok(!isRetryableStatus(s), String(s));
});

Deno.test("retry: backoff doubles, Retry-After wins up to the maximum", () => {
  const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
  const d1 = retryDelay(policy, 1);
  const d3 = retryDelay(policy, 3);
  assert.ok(d1 >= 80 && d1 <= 120, String(d1));
  assert.ok(d3 >= 320 && d3 <= 480, String(d3));
  assert.ok(retryDelay(policy, 10) <= 1200);
  const inTwoSeconds = new Date(Date.now() + 2000).toUTCString();
  assert.ok(retryDelay({ ...policy, fixedDelayMs: 10, maxDelayMs: 5000 }, 1, inTwoSeconds) > 900);
  assert.equal(retryDelay({ ...policy, fixedDelayMs: 10 }, 1, "3"), 1000);
  assert.equal(retryDelay({ ...policy, fixedDelayMs: 10 }, 5), 10);
});

Deno.test("retry: durations", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("2s"), 2000);
  assert.equal(parseDuration("1.5"), 1500);
  assert.equal(parseDuration("1m"), 60000);
  assert.equal(parseDuration("soon"), undefined);
});
