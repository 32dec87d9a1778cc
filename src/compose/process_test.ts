import assert from "node:assert/strict";
import { AptOstreeError } from "../errors.ts";
import { errorLines, requireProgram, runLogged } from "./process.ts";

Deno.test("runLogged collects stdout and stderr lines and returns the exit code", async () => {
  const seen: string[] = [];
  const out = await runLogged("sh", ["-c", "echo one; echo two >&2; printf 'a\\rb'; exit 3"], {
    onLine: (l) => seen.push(l),
  });
  assert.equal(out.code, 3);
  assert.deepEqual([...out.lines].sort(), ["a", "b", "one", "two"]);
  assert.deepEqual(seen, out.lines);
});

Deno.test("runLogged: a missing program says how to install it; an abort kills the child", async () => {
  await assert.rejects(
    runLogged("apt-ostree-no-such-program", [], { installHint: "apt-get install nothing" }),
    (error: unknown) => error instanceof AptOstreeError && error.solution === "Install it: apt-get install nothing",
  );
  const controller = new AbortController();
  const started = Date.now();
  const running = runLogged("sleep", ["30"], { signal: controller.signal });
  setTimeout(() => controller.abort(new Error("stop")), 100);
  await assert.rejects(running, /stop/);
  assert.ok(Date.now() - started < 10_000);
});

Deno.test("requireProgram finds programs on PATH", async () => {
  await requireProgram("sh", "apt-get install dash");
  await assert.rejects(requireProgram("apt-ostree-no-such-program", "apt-get install x"), /is not installed/);
});

Deno.test("errorLines picks apt's and dpkg's error lines, else the last lines", () => {
  const apt = [
    "Reading package lists...",
    "Building dependency tree...",
    "W: Download is performed unsandboxed as root",
    "E: Unable to locate package nope",
  ];
  assert.deepEqual(errorLines(apt), ["E: Unable to locate package nope"]);
  const dpkg = [
    "Setting up x (1) ...",
    "dpkg: error processing package x (--configure):",
    " installed x package post-installation script subprocess returned error exit status 1",
    "Errors were encountered while processing:",
    "E: Sub-process /usr/bin/dpkg returned an error code (1)",
  ];
  assert.deepEqual(errorLines(dpkg), dpkg.slice(1));
  assert.deepEqual(errorLines(["a", "", "b"]), ["a", "b"]);
  assert.equal(errorLines(Array.from({ length: 50 }, (_, i) => `line ${i}`), 5).length, 5);
});
