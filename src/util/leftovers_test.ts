import assert from "node:assert/strict";
import { join } from "node:path";
import { collectLeftovers, ownerGone, ownerTag } from "./leftovers.ts";
import { randomSuffix } from "./fs.ts";

Deno.test("temp names carry their owner; a later run removes only those of runs that are gone", async () => {
  assert.match(randomSuffix(), new RegExp(`^${ownerTag()}-[0-9a-f]{12}$`));
  assert.equal(ownerGone(`.x.apt-ostree-${randomSuffix()}`), false, "this process is alive");
  assert.equal(ownerGone(".x.apt-ostree-999999999-1-0123456789ab"), true, "no such process");
  const [pid, start] = ownerTag().split("-");
  assert.equal(ownerGone(`.x.apt-ostree-${pid}-${Number(start) + 1}-0123456789ab`), true, "a recycled pid");
  assert.equal(ownerGone(".x.apt-ostree-0123456789ab"), undefined, "an old name without an owner");

  const dir = await Deno.makeTempDir({ prefix: "apt-ostree-leftovers-" });
  try {
    const dead = ".out.oci.apt-ostree-999999999-1-0123456789ab";
    const mine = `.out.oci.apt-ostree-${randomSuffix()}`;
    const unknown = ".out.oci.apt-ostree-0123456789ab";
    const other = "notes.txt";
    for (const name of [dead, mine, unknown]) {
      await Deno.mkdir(join(dir, name, "sub"), { recursive: true, mode: 0o755 });
      await Deno.chmod(join(dir, name, "sub"), 0o555); // read-only, as an unpacked image's /usr can be
    }
    await Deno.writeTextFile(join(dir, other), "x");
    assert.deepEqual(await collectLeftovers(dir, /^\..+\.apt-ostree-/), [dead]);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort(), [mine, unknown, other].sort());
    for (const name of [mine, unknown]) await Deno.chmod(join(dir, name, "sub"), 0o755);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
