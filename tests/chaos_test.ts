/**
 * Chaos: SIGKILL (the OOM killer, a CI timeout) at random moments of a
 * build into a new output, a build adding a tag to an existing layout, a
 * pull into the repository, and a `compose create` (apt in the sandbox, on
 * a stub base). After every kill: the existing layout still
 * verifies (the tool's own check and oci-image-tool), `ostree fsck` is
 * clean, no branch appeared or moved, no child of the tool is left running;
 * and after the next run, nothing named `apt-ostree` is left in the temp
 * places. Bounded: 16 rounds, seeded, so a failure can be replayed.
 *
 * Run alone with: deno test --allow-all tests/chaos_test.ts
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli, runCliOk, spawnCli } from "./helpers/cli.ts";
import {
  commitTree,
  createRepo,
  findTempNames,
  isRoot,
  makeManyFilesTree,
  makeSmallTree,
  makeTempDir,
  removeTree,
  run,
  runOk,
  writeBigFile,
} from "./helpers/fixture_repo.ts";
import { craftLayout } from "./helpers/oci_builder.ts";
import { makeStubTree, STUB_BASE_METADATA } from "./helpers/compose.ts";
import { hasProgram } from "./helpers/registry.ts";

const X86_64 = Deno.build.arch === "x86_64"; // the stub base's programs are the host's
const READY = isRoot() && (await hasProgram("ostree")) && (await hasProgram("oci-image-tool")) &&
  (await hasProgram("bwrap")) && X86_64;
const ROUNDS = 16;

/** A small seeded generator (the same kills on every run). */
function random(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

/** Waits until no process has `dir` on its command line (a child that outlived the tool would). */
async function noProcessUsing(dir: string): Promise<string[]> {
  const deadline = Date.now() + 5_000;
  let left: string[] = [];
  while (Date.now() < deadline) {
    const ps = await run("ps", ["-eo", "pid,args"]);
    left = ps.stdout.split("\n").filter((l) => l.includes(dir) && !l.includes("ps -eo"));
    if (left.length === 0) return [];
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return left;
}

Deno.test({
  name:
    `chaos: SIGKILL at random moments of builds, pulls and creates leaves every layout, repository and branch sound${
      READY ? "" : " [ignored: needs root, ostree, oci-image-tool, bwrap and an x86_64 host]"
    }`,
  ignore: !READY,
  async fn(t) {
    const dir = await makeTempDir("apt-ostree-chaos-");
    try {
      // A commit that takes a moment to build: many small files and a big one.
      const tree = join(dir, "tree");
      await makeSmallTree(tree, "chaos");
      await makeManyFilesTree(join(tree, "usr", "share", "many"), 40, 250);
      await writeBigFile(join(tree, "usr", "share", "big.bin"), 48 << 20);
      const repo = await createRepo("bare-user", dir);
      await commitTree(repo, "main", tree);
      await removeTree(tree);
      // A stub Debian base (a stub apt-get in the sandbox) for compose create.
      const stub = join(dir, "stub-tree");
      await makeStubTree(stub);
      await commitTree(repo, "debian/12/x86_64", stub, { metadata: STUB_BASE_METADATA, subject: "stub base" });
      await removeTree(stub);
      const image = join(dir, "image.oci");
      await craftLayout(image, [[{ path: "usr/share/data", content: new Uint8Array(32 << 20).fill(7) }]], { tag: "1" });
      const out = join(dir, "out");
      await Deno.mkdir(out);
      const layout = join(out, "existing.oci");
      await runCliOk(["--repo", repo, "compose", "build-image", "main", "app:keep", "-o", layout]);
      const refs = async () => (await runOk("ostree", ["refs", `--repo=${repo}`])).split("\n").filter(Boolean).sort();
      const refsBefore = await refs();

      const actions = {
        "new output": (
          i: number,
        ) => ["--repo", repo, "compose", "build-image", "main", `app:${i}`, "-o", join(out, `new-${i}.oci`)],
        "new tag": (i: number) => ["--repo", repo, "compose", "build-image", "main", `app:${i}`, "-o", layout],
        "pull": (i: number) => ["--repo", repo, "image", "pull", `oci:${image}:1`, "--branch", `pulled/${i}`],
        "create": (i: number) => [
          "--repo",
          repo,
          "compose",
          "create",
          "--base",
          "debian:12",
          "--packages",
          "hello",
          "--branch",
          `created/${i}`,
        ],
      } as const;
      /** The branch an action makes, if any. */
      const branchOf = (name: string, i: number) =>
        name === "pull" ? `pulled/${i}` : name === "create" ? `created/${i}` : undefined;
      // How long each takes unharmed: kills land anywhere in that span.
      const spans: Record<string, number> = {};
      for (const [name, args] of Object.entries(actions)) {
        const started = Date.now();
        await runCliOk(args(1000));
        spans[name] = Date.now() - started;
      }
      const next = random(0x5eed);
      const expectedRefs = new Set([...refsBefore, "pulled/1000", "created/1000"]);
      for (let round = 0; round < ROUNDS; round++) {
        const names = Object.keys(actions) as (keyof typeof actions)[];
        const name = names[Math.floor(next() * names.length)];
        const delay = Math.floor(next() * spans[name]);
        await t.step(`round ${round}: SIGKILL ${delay} ms into "${name}"`, async () => {
          const running = await spawnCli(actions[name](round));
          await new Promise((resolve) => setTimeout(resolve, delay)); // the random moment is the point of the test
          try {
            running.child.kill("SIGKILL");
          } catch {
            // it finished first: fine, the checks hold all the same
          }
          const result = await running.result;
          const finished = result.signal === null && result.code === 0;
          // Children name paths under `dir` on their command lines (a create's bwrap sandbox binds its work tree).
          assert.deepEqual(await noProcessUsing(dir), [], "no child outlives the tool");
          // The existing layout is as sound as before.
          const verified = await runCli(["image", "verify", `oci:${layout}`, "--json"]);
          assert.equal(verified.code, 0, verified.stdout + verified.stderr);
          const validate = await run("oci-image-tool", ["validate", "--type", "image", layout]);
          assert.equal(validate.code, 0, validate.stdout + validate.stderr);
          // The repository is sound; no branch appeared unless the pull finished.
          await runOk("ostree", ["fsck", `--repo=${repo}`]);
          const branch = branchOf(name, round);
          if (branch && finished) expectedRefs.add(branch);
          const now = await refs();
          for (const ref of now) {
            if (ref === branch) continue; // killed after ostree committed: complete (fsck above is clean)
            assert.ok(expectedRefs.has(ref), `no branch appears after a killed run: ${ref}`);
          }
          if (branch && now.includes(branch)) expectedRefs.add(branch);
          // The next run collects what the killed one left.
          await runCliOk(actions[name](100 + round));
          const nextBranch = branchOf(name, 100 + round);
          if (nextBranch) expectedRefs.add(nextBranch);
          assert.deepEqual(await findTempNames(out), [], "nothing left beside outputs or inside layouts");
          const tmp = await Array.fromAsync(Deno.readDir(join(repo, "tmp")), (e) => e.name);
          assert.deepEqual(tmp.filter((n) => n.includes("apt-ostree")), [], "nothing left in the repository's tmp/");
        });
      }
    } finally {
      await removeTree(dir);
    }
  },
});
