import assert from "node:assert/strict";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { assertReplaceable } from "./replace_guard.ts";

async function refused(path: string, why: RegExp, options = {}): Promise<void> {
  await assert.rejects(assertReplaceable(path, options), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.match(error.message, why);
    return true;
  });
}

Deno.test("assertReplaceable: what --force may replace and what it never may", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "apt-ostree-guard-" });
  try {
    await t.step("the root directory", () => refused("/", /it is the root directory/));
    await t.step("a missing path, a file, a symlink, an empty directory", async () => {
      await assertReplaceable(join(dir, "missing"));
      await Deno.writeTextFile(join(dir, "file"), "x");
      await assertReplaceable(join(dir, "file"));
      await Deno.symlink("/", join(dir, "link-to-root"));
      await assertReplaceable(join(dir, "link-to-root")); // the link is replaced, never its target
      await Deno.mkdir(join(dir, "empty"));
      await assertReplaceable(join(dir, "empty"));
    });
    await t.step("a layout, also with our temp names in it", async () => {
      const layout = join(dir, "image.oci");
      await Deno.mkdir(join(layout, "blobs", "sha256"), { recursive: true });
      await Deno.writeTextFile(join(layout, "oci-layout"), "{}");
      await Deno.writeTextFile(join(layout, "index.json"), "{}");
      await Deno.writeTextFile(join(layout, "blobs", "sha256", "ab"), "x");
      await Deno.mkdir(join(layout, ".apt-ostree-1234"));
      await Deno.writeTextFile(join(layout, ".apt-ostree-1234", "blob-1"), "x");
      await assertReplaceable(layout);
      {
        // but not with a directory inside blobs/sha256
        await Deno.mkdir(join(layout, "blobs", "sha256", "repo"));
        await refused(layout, /neither empty nor an OCI image layout/);
        await Deno.remove(join(layout, "blobs", "sha256", "repo"));
      }
      {
        // nor with other files at its top
        await Deno.writeTextFile(join(layout, "notes.txt"), "x");
        await refused(layout, /neither empty nor an OCI image layout/);
        await Deno.remove(join(layout, "notes.txt"));
      }
      await refused(layout, /neither/, { allowLayout: false });
    });
    await t.step("an OSTree repository and the directories above a protected path", async () => {
      const repo = join(dir, "srv", "repo");
      await Deno.mkdir(join(repo, "objects"), { recursive: true });
      await Deno.writeTextFile(join(repo, "config"), "[core]\n");
      await refused(repo, /it is an OSTree repository/);
      const protect = [{ path: repo, what: "the repository" }];
      await refused(repo, /it is the repository$/, { protect });
      await refused(join(dir, "srv"), /it contains the repository/, { protect });
      await refused(dir, /it contains the repository/, { protect });
    });
    await t.step("the current directory and those above it", async () => {
      const cwd = Deno.cwd();
      await refused(cwd, /it is the current directory/);
      if (cwd !== "/") await refused(join(cwd, ".."), /contains the current directory/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
