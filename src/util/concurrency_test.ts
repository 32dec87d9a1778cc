import assert from "node:assert/strict";
import { createLimiter, mapLimit } from "./concurrency.ts";

Deno.test("createLimiter: never more than the limit at once, in the order given", async () => {
  const limit = createLimiter(2);
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const gates = Array.from({ length: 5 }, () => Promise.withResolvers<void>());
  const tasks = gates.map((gate, i) =>
    limit(async () => {
      started.push(i);
      running++;
      peak = Math.max(peak, running);
      await gate.promise;
      running--;
      return i;
    })
  );
  for (const gate of gates) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    gate.resolve();
  }
  assert.deepEqual(await Promise.all(tasks), [0, 1, 2, 3, 4]);
  assert.equal(peak, 2);
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
});

Deno.test("mapLimit: results in order; the first failure rejects and later tasks do not start", async () => {
  assert.deepEqual(await mapLimit([3, 1, 2], 2, (n) => Promise.resolve(n * 2)), [6, 2, 4]);
  const started: number[] = [];
  await assert.rejects(
    mapLimit([0, 1, 2, 3, 4], 1, (n) => {
      started.push(n);
      return n === 1 ? Promise.reject(new Error("boom")) : Promise.resolve(n);
    }),
    /boom/,
  );
  assert.deepEqual(started, [0, 1]);
});
