import assert from "node:assert/strict";
import { join } from "node:path";
import { collectLeftovers, makeOwnedDir, OWNER_FILE, ownerGone, releaseOwnedDir } from "./leftovers.ts";

const MATCH = /^\..+\.apt-ostree-/;

Deno.test("a temp directory is removed by a later run only once its owner is gone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "apt-ostree-leftovers-" });
  try {
    // Another process owns one, and stays alive until told.
    const theirs = join(dir, ".out.oci.apt-ostree-theirs");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { makeOwnedDir } from ${JSON.stringify(new URL("./leftovers.ts", import.meta.url).href)};
         await makeOwnedDir(${JSON.stringify(theirs)}, 0o755);
         console.log("ready");
         setInterval(() => {}, 1000);`,
      ],
      stdout: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal((await reader.read()).value?.trim(), "ready");

    const mine = join(dir, ".out.oci.apt-ostree-mine");
    await makeOwnedDir(mine);
    await Deno.mkdir(join(mine, "sub"));
    await Deno.chmod(join(mine, "sub"), 0o555);
    const fresh = join(dir, ".out.oci.apt-ostree-fresh"); // no owner file yet: being made right now
    await Deno.mkdir(fresh);
    const stale = join(dir, ".out.oci.apt-ostree-stale"); // no owner file, untouched for two hours
    await Deno.writeTextFile(stale, "partial");
    await Deno.utime(stale, new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000));
    await Deno.writeTextFile(join(dir, "notes.txt"), "not ours");

    assert.equal(await ownerGone(theirs), false, "its owner is alive");
    assert.equal(await ownerGone(mine), false, "ours is alive");
    assert.deepEqual(await collectLeftovers(dir, MATCH), [".out.oci.apt-ostree-stale"]);

    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
    assert.equal(await ownerGone(theirs), true, "the kernel dropped the dead owner's lock");
    assert.deepEqual(await collectLeftovers(dir, MATCH), [".out.oci.apt-ostree-theirs"]);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort(),
      [".out.oci.apt-ostree-fresh", ".out.oci.apt-ostree-mine", "notes.txt"],
    );

    await Deno.chmod(join(mine, "sub"), 0o755);
    await releaseOwnedDir(mine);
    await assert.rejects(() => Deno.lstat(join(mine, OWNER_FILE)), Deno.errors.NotFound, "released: no owner file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
