import assert from "node:assert/strict";
import { compareDebianVersions, parseDebianVersion } from "./dpkg_version.ts";

const EPOCHS = ["", "", "0:", "1:", "2:"];
const UPSTREAMS = [
  "1.0",
  "1.0~rc1",
  "1.0~~",
  "1.0~",
  "1.0a",
  "1.0+dfsg",
  "1.00",
  "1.0.1",
  "1.0.0",
  "2",
  "10",
  "9.9",
  "1a",
  "1.0-1",
  "0.9+git20240101",
  "1.0.0~beta2",
  "1.0.0~beta10",
  "2.36",
  "2.36.1",
  "1:2",
  "A",
  "a",
  "1.0.",
  "1.0+",
];
const REVISIONS = ["", "-1", "-2", "-10", "-1ubuntu1", "-0+deb12u1", "-1~bpo12+1", "-1+b1", "-1.1", "-0"];

/** A deterministic generator of versions (the same pairs every run). */
function versions(count: number, seed: number): string[] {
  let state = seed;
  const next = (n: number) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state % n;
  };
  return Array.from(
    { length: count },
    () => EPOCHS[next(EPOCHS.length)] + UPSTREAMS[next(UPSTREAMS.length)] + REVISIONS[next(REVISIONS.length)],
  );
}

Deno.test("parseDebianVersion splits epoch, upstream and revision", () => {
  assert.deepEqual(parseDebianVersion("1:4.13+dfsg1-1+b1"), { epoch: 1, upstream: "4.13+dfsg1", revision: "1+b1" });
  assert.deepEqual(parseDebianVersion("2.0"), { epoch: 0, upstream: "2.0", revision: "" });
  assert.deepEqual(parseDebianVersion("1.0-1-2"), { epoch: 0, upstream: "1.0-1", revision: "2" });
});

Deno.test("compareDebianVersions agrees with dpkg --compare-versions on 400 generated pairs", async () => {
  const a = versions(400, 7);
  const b = [...versions(300, 11), ...a.slice(0, 100).map((v) => v.replace(/~/, ""))];
  const script = a.map((x, i) =>
    `if dpkg --compare-versions '${x}' lt '${b[i]}'; then echo lt; elif dpkg --compare-versions '${x}' eq '${
      b[i]
    }'; then echo eq; else echo gt; fi`
  ).join("\n");
  const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped", stderr: "null" }).output();
  const expected = new TextDecoder().decode(out.stdout).trim().split("\n");
  assert.equal(expected.length, a.length);
  const mismatches: string[] = [];
  a.forEach((x, i) => {
    const c = compareDebianVersions(x, b[i]);
    const ours = c < 0 ? "lt" : c === 0 ? "eq" : "gt";
    if (ours !== expected[i]) mismatches.push(`${x} vs ${b[i]}: dpkg ${expected[i]}, ours ${ours}`);
  });
  assert.deepEqual(mismatches, []);
  assert.ok(new Set(expected).size === 3, "the pairs cover lt, eq and gt");
});
