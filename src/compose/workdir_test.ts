import assert from "node:assert/strict";
import { join } from "node:path";
import { OstreeRepo } from "../ostree/repo.ts";
import { OWNER_FILE } from "../util/leftovers.ts";
import { createTempWorkDir, createWorkDir, mountsBelow, removeWorkDir, withComposeLock } from "./workdir.ts";

async function tempRepo(): Promise<{ dir: string; repo: OstreeRepo }> {
  const dir = await Deno.makeTempDir();
  const out = await new Deno.Command("ostree", { args: ["init", `--repo=${dir}`, "--mode=bare-user"] }).output();
  assert.ok(out.success);
  return { dir, repo: await OstreeRepo.open(dir) };
}

Deno.test("work directories live in the repository's tmp/, private, and are removed", async () => {
  const { dir, repo } = await tempRepo();
  try {
    const work = await createWorkDir(repo, "create");
    assert.ok(work.startsWith(join(dir, "tmp", "apt-ostree-create-")));
    assert.equal((await Deno.stat(work)).mode! & 0o777, 0o700);
    await Deno.mkdir(join(work, "rootfs/usr"), { recursive: true });
    await removeWorkDir(work);
    await assert.rejects(Deno.stat(work), Deno.errors.NotFound);
    await removeWorkDir(work); // already gone: fine
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a work directory with a file system mounted below it is not removed",
  ignore: Deno.uid() !== 0,
  async fn() {
    const { dir, repo } = await tempRepo();
    const work = await createWorkDir(repo, "create");
    const proc = join(work, "rootfs/proc");
    await Deno.mkdir(proc, { recursive: true });
    const mount = await new Deno.Command("mount", { args: ["-t", "tmpfs", "tmpfs", proc] }).output();
    assert.ok(mount.success);
    try {
      await Deno.writeTextFile(join(proc, "host-file"), "must survive");
      assert.deepEqual(await mountsBelow(work), [proc]);
      await removeWorkDir(work);
      assert.equal(await Deno.readTextFile(join(proc, "host-file")), "must survive");
    } finally {
      await new Deno.Command("umount", { args: [proc] }).output();
      await removeWorkDir(work);
      await Deno.remove(dir, { recursive: true });
    }
    assert.deepEqual(await mountsBelow(work), []);
  },
});

Deno.test("the compose lock serialises commits; an abort while waiting gives up", async () => {
  const { dir, repo } = await tempRepo();
  try {
    let ran = 0;
    // A second process holds the lock (flock is per open file, so use a child).
    const holder = new Deno.Command("flock", {
      args: [join(dir, ".apt-ostree-compose.lock"), "sh", "-c", "echo locked; read x"],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const reader = holder.stdout.getReader();
    await reader.read(); // "locked"
    const controller = new AbortController();
    const waiting = withComposeLock(repo, () => {
      ran++;
      return Promise.resolve();
    }, controller.signal);
    setTimeout(() => controller.abort(new Error("interrupted")), 300);
    await assert.rejects(waiting, /interrupted/);
    assert.equal(ran, 0);
    const writer = holder.stdin.getWriter();
    await writer.write(new TextEncoder().encode("\n"));
    await writer.close();
    reader.releaseLock();
    await holder.stdout.cancel();
    await holder.status;
    await withComposeLock(repo, () => {
      ran++;
      return Promise.resolve();
    });
    assert.equal(ran, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a dry run's work directory is private, in the temp directory, and one left by a killed run is removed by the next", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const work = await createTempWorkDir("dry-run", tmp);
    assert.ok(work.startsWith(join(tmp, "apt-ostree-dry-run-")));
    assert.equal((await Deno.stat(work)).mode! & 0o777, 0o700);
    // A run killed before it could clean up: its owner file is there, its lock is not (no live owner).
    const dead = join(tmp, "apt-ostree-dry-run-deadbeef");
    await Deno.mkdir(join(dead, "rootfs"), { recursive: true });
    await Deno.writeTextFile(join(dead, OWNER_FILE), "");
    const other = join(tmp, "not-ours");
    await Deno.mkdir(other);
    const next = await createTempWorkDir("dry-run", tmp);
    await assert.rejects(Deno.stat(dead), Deno.errors.NotFound);
    assert.ok((await Deno.stat(work)).isDirectory, "a live run's directory stays");
    assert.ok((await Deno.stat(other)).isDirectory);
    await removeWorkDir(work);
    await removeWorkDir(next);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
