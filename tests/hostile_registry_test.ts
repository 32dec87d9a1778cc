/**
 * Every command that talks to registries against a registry that
 * misbehaves (tests/helpers/hostile_registry.ts): it must exit non-zero,
 * with an `Error:` line and no stack trace, within its timeout (plus start-up
 * and a margin), and stay under 300 MB of memory.
 *
 * Run alone with: deno test --allow-all tests/hostile_registry_test.ts
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, spawnCli } from "./helpers/cli.ts";
import { createRepo, isRoot, makeTempDir, removeTree } from "./helpers/fixture_repo.ts";
import { craftLayout } from "./helpers/oci_builder.ts";
import { type HostileMode, startHostileRegistry } from "./helpers/hostile_registry.ts";
import { hasProgram } from "./helpers/registry.ts";

const HAVE_OSTREE = await hasProgram("ostree");
const MAX_RSS_KIB = 300 * 1024;
/** Start-up, one timeout and the work around it, on a loaded 2-core machine. */
const DEADLINE_MS = 45_000;

type CommandName = "inspect" | "pull" | "copy" | "push" | "login" | "create";

/** The command lines, each with a 1 s timeout and no retries. */
function commandLine(command: CommandName, host: string, dir: string): string[] {
  const image = `docker://${host}/app:1`;
  const quick = ["--timeout", "1s"];
  switch (command) {
    case "inspect":
      return ["image", "inspect", image, "--tls-verify=false", "--retry-times", "0", ...quick];
    case "pull":
      return [
        "--repo",
        join(dir, "repo-bare-user"),
        "image",
        "pull",
        image,
        "--tls-verify=false",
        "--retry-times",
        "0",
        ...quick,
      ];
    case "copy":
      return [
        "image",
        "copy",
        image,
        `oci:${join(dir, "copy.oci")}:1`,
        "--src-tls-verify=false",
        "--retry-times",
        "0",
        ...quick,
      ];
    case "push":
      return [
        "image",
        "push",
        `oci:${join(dir, "src.oci")}:1`,
        image,
        "--tls-verify=false",
        "--retry-times",
        "0",
        ...quick,
      ];
    case "login":
      return [
        "login",
        host,
        "-u",
        "user",
        "-p",
        "secret",
        "--tls-verify=false",
        "--authfile",
        join(dir, "auth.json"),
        ...quick,
      ];
    case "create":
      return [
        "--repo",
        join(dir, "repo-bare-user"),
        "compose",
        "create",
        "--base",
        image,
        "--packages",
        "hello",
        "--tls-verify=false",
        "--retry-times",
        "0",
        ...quick,
      ];
  }
}

/** Runs the CLI, sampling its peak memory (VmHWM) until it exits; kills it at the deadline. */
async function runMeasured(args: string[]): Promise<CliResult & { peakKiB: number; elapsedMs: number }> {
  const started = Date.now();
  const running = await spawnCli(args, { env: { XDG_CACHE_HOME: "/nonexistent-cache" } });
  let peakKiB = 0;
  let finished = false;
  const result = running.result.finally(() => finished = true);
  const deadline = setTimeout(() => running.child.kill("SIGKILL"), DEADLINE_MS);
  while (!finished) {
    const status = await Deno.readTextFile(`/proc/${running.child.pid}/status`).catch(() => "");
    const hwm = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0);
    peakKiB = Math.max(peakKiB, hwm);
    await Promise.race([result, new Promise((resolve) => setTimeout(resolve, 50))]);
  }
  clearTimeout(deadline);
  return { ...(await result), peakKiB, elapsedMs: Date.now() - started };
}

const CASES: [HostileMode, CommandName[]][] = [
  ["silent", ["inspect", "pull", "copy", "push", "login", "create"]],
  ["endless-token", ["inspect", "pull", "login"]],
  ["endless-error", ["inspect", "pull", "push", "create"]],
  ["stall-manifest", ["inspect", "copy"]],
  ["stall-layer", ["pull", "copy"]],
  ["drip", ["pull"]],
  ["wrong-digest", ["inspect", "pull"]],
];

Deno.test({
  name: `a hostile registry: every command fails cleanly, in bounded time and memory${
    HAVE_OSTREE && isRoot() ? "" : " [ignored: needs ostree and root]"
  }`,
  ignore: !HAVE_OSTREE || !isRoot(),
  async fn(t) {
    const dir = await makeTempDir("apt-ostree-hostile-");
    try {
      await createRepo("bare-user", dir);
      await craftLayout(join(dir, "src.oci"), [[{ path: "hello", content: "hi\n" }]], { tag: "1" });
      for (const [mode, commands] of CASES) {
        const registry = startHostileRegistry(mode);
        try {
          for (const command of commands) {
            await t.step(`${mode}: ${command}`, async () => {
              const result = await runMeasured(commandLine(command, registry.host, dir));
              const what = `exit ${result.code} after ${result.elapsedMs} ms, peak ${
                Math.round(result.peakKiB / 1024)
              } MiB\n${result.stderr}`;
              assert.equal(result.signal, null, `killed at the deadline\n${what}`);
              assert.notEqual(result.code, 0, what);
              assert.match(result.stderr, /^Error: /m, what);
              assert.doesNotMatch(result.stderr, /Uncaught|^\s+at /m, `a clean error, no stack trace\n${what}`);
              assert.ok(result.peakKiB < MAX_RSS_KIB, `memory stays bounded\n${what}`);
              if (mode === "silent") {
                assert.match(result.stderr, /^Error: 127\.0\.0\.1:\d+ did not answer within 1 s$/m, what);
              }
              if (mode === "endless-token") {
                assert.match(result.stderr, /sent an answer larger than 1048576 bytes/, what);
              }
              if (mode === "stall-manifest" || mode === "stall-layer" || mode === "drip") {
                assert.match(result.stderr, /stalled in the middle of an answer \(less than 1024 bytes in 1 s\)/, what);
              }
            });
          }
        } finally {
          await registry.stop();
        }
      }
      // Nothing was committed, nothing half-written stays behind.
      const refs = await new Deno.Command("ostree", { args: ["refs", `--repo=${join(dir, "repo-bare-user")}`] })
        .output();
      assert.equal(new TextDecoder().decode(refs.stdout).trim(), "", "no ref appeared");
      await assert.rejects(() => Deno.lstat(join(dir, "copy.oci")), Deno.errors.NotFound);
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: `Ctrl-C during a stalled download exits 130 at once and leaves nothing${
    HAVE_OSTREE && isRoot() ? "" : " [ignored: needs ostree and root]"
  }`,
  ignore: !HAVE_OSTREE || !isRoot(),
  async fn() {
    const dir = await makeTempDir("apt-ostree-hostile-");
    const registry = startHostileRegistry("stall-layer");
    try {
      const repo = await createRepo("bare-user", dir);
      const running = await spawnCli([
        "--repo",
        repo,
        "image",
        "pull",
        `docker://${registry.host}/app:1`,
        "--tls-verify=false",
        "--timeout",
        "5m",
      ]);
      // Wait until the layer is being downloaded (after the config: the second blob asked for), and stalls.
      const blobGets = () => registry.requests.filter((r) => r.startsWith("GET ") && r.includes("/blobs/")).length;
      const deadline = Date.now() + 30_000;
      while (blobGets() < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(blobGets(), 2, `the layer was not asked for: ${registry.requests}`);
      const sent = Date.now();
      running.child.kill("SIGINT");
      const result = await running.result;
      const took = Date.now() - sent;
      assert.equal(result.code, 130, result.stderr);
      assert.match(result.stderr, /^Error: Interrupted by SIGINT/m);
      assert.ok(took < 10_000, `took ${took} ms after the signal`);
      const leftovers = await Array.fromAsync(Deno.readDir(join(repo, "tmp")), (e) => e.name);
      assert.deepEqual(leftovers.filter((n) => n.includes("apt-ostree")), [], "no import tree left in REPO/tmp");
    } finally {
      await registry.stop();
      await removeTree(dir);
    }
  },
});
