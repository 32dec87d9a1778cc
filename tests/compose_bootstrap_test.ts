/**
 * `compose bootstrap` failures, offline: mmdebstrap pointed at a mirror on
 * loopback that answers 404, or that never answers (then Ctrl-C). Nothing
 * may be left: no commit, no work tree, no process, and no repository when
 * the run created it. The successful bootstrap is in
 * tests/compose_e2e_test.ts (it needs the Debian archive).
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli, spawnCli } from "./helpers/cli.ts";
import { assertFsckClean, leftoverWorkDirs, snapshotRepo } from "./helpers/compose.ts";
import { createRepo, isRoot, makeTempDir, removeTree, run } from "./helpers/fixture_repo.ts";

const missing: string[] = [];
for (const tool of ["mmdebstrap", "unshare"]) {
  if ((await run("sh", ["-c", `command -v ${tool}`])).code !== 0) missing.push(tool);
}
const skipReason = !isRoot() ? "needs root" : missing.length > 0 ? `${missing.join(", ")} not installed` : undefined;
const name = (text: string) => skipReason ? `${text} [SKIPPED: ${skipReason}]` : text;

/** A mirror on loopback: every request gets `respond`'s answer. */
function mirror(respond: (request: Request) => Promise<Response> | Response) {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    requests.push(new URL(request.url).pathname);
    return respond(request);
  });
  return { url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/debian`, requests, server };
}

async function mmdebstrapProcesses(target: string): Promise<number[]> {
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes("mmdebstrap") && cmdline.includes(target)) found.push(Number(entry.name));
    } catch {
      // exited
    }
  }
  return found;
}

Deno.test({
  name: name("bootstrap: bad options are usage errors before anything is created"),
  ignore: skipReason !== undefined,
  async fn() {
    const dir = await makeTempDir();
    try {
      const repo = join(dir, "repo");
      const cases: [string[], RegExp][] = [
        [["debian"], /^Error: Invalid base image reference format: debian$/m],
        [["debian:12", "--variant", "huge"], /^Error: Unknown variant: huge$/m],
        [["debian:12", "--arch", "sparc"], /^Error: Unknown architecture: sparc$/m],
        [["debian:16"], /^Error: No codename is known for debian:16$/m],
        [["devuan:daedalus"], /^Error: apt-ostree knows no default mirror for devuan$/m],
        [["debian:12", "--packages", "-x"], /^Error: Invalid package name: -x$/m],
      ];
      for (const [args, re] of cases) {
        const result = await runCli(["--repo", repo, "compose", "bootstrap", ...args]);
        assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
        assert.match(result.stderr, re);
      }
      await assert.rejects(Deno.lstat(repo), Deno.errors.NotFound);
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: name("bootstrap: a mirror that fails makes mmdebstrap's error lines the message; the new repository is gone"),
  ignore: skipReason !== undefined,
  async fn() {
    const dir = await makeTempDir();
    const m = mirror(() => new Response("no such file", { status: 404 }));
    try {
      const repo = join(dir, "repo");
      const result = await runCli(["--repo", repo, "compose", "bootstrap", "debian:12", "--mirror", m.url]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /^Error: mmdebstrap failed \(exit code \d+\); nothing was committed:$/m);
      assert.match(result.stderr, /^ {2}(E|W|Err):.*/m);
      assert.match(result.stderr, /^Solution: Check the network, the mirror and the suite/m);
      assert.ok(m.requests.length > 0, "mmdebstrap asked the mirror");
      await assert.rejects(Deno.lstat(repo), Deno.errors.NotFound, "the repository this run created is removed");
    } finally {
      await m.server.shutdown();
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: name("bootstrap: Ctrl-C while mmdebstrap waits kills it and its namespace; nothing is left"),
  ignore: skipReason !== undefined,
  async fn() {
    const dir = await makeTempDir();
    let unblock!: () => void;
    const blocked = new Promise<void>((resolve) => unblock = resolve);
    const m = mirror(async () => {
      await blocked;
      return new Response("late", { status: 503 });
    });
    try {
      const repo = await createRepo("bare-user", dir);
      const before = await snapshotRepo(repo);
      const { child, result } = await spawnCli([
        "--repo",
        repo,
        "compose",
        "bootstrap",
        "debian:12",
        "--mirror",
        m.url,
      ]);
      const deadline = Date.now() + 60_000;
      while (m.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(m.requests.length > 0, "mmdebstrap reached the mirror");
      child.kill("SIGINT");
      const out = await result;
      assert.equal(out.code, 130, out.stderr);
      assert.match(out.stderr, /^Error: Interrupted by SIGINT; nothing was written$/m);
      assert.deepEqual(await leftoverWorkDirs(repo), []);
      assert.deepEqual(await mmdebstrapProcesses(repo), [], "mmdebstrap and its children are gone");
      assert.deepEqual(await snapshotRepo(repo), before);
      await assertFsckClean(repo);
    } finally {
      unblock();
      await m.server.shutdown();
      await removeTree(dir);
    }
  },
});
