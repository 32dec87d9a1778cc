import assert from "node:assert/strict";
import { phaseTimer } from "./phase_timer.ts";

Deno.test("phases end when the next starts; a phase started twice adds up", () => {
  let t = 0;
  const timer = phaseTimer(() => t);
  timer.start("a");
  t = 1500;
  timer.start("b");
  t = 1750;
  timer.start("a");
  t = 2000;
  assert.deepEqual(timer.finish(), { a: 1.8, b: 0.3 });
  assert.deepEqual(phaseTimer().finish(), {});
});
