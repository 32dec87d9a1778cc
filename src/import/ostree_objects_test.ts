import assert from "node:assert/strict";
import { join } from "node:path";
import { type CraftEntry, craftTar } from "../../tests/helpers/oci_builder.ts";
import { TarReader } from "../tar/reader.ts";
import { ObjectImporter } from "./ostree_objects.ts";

const COMMIT = "ab" + "0".repeat(62);
const objects = "sysroot/ostree/repo/objects";
const commitEntry: CraftEntry = { path: `${objects}/ab/${"0".repeat(62)}.commit`, content: "commit bytes" };

async function importLayer(
  entries: CraftEntry[],
  first = true,
  check?: (repo: string) => Promise<void>,
): Promise<ObjectImporter> {
  const dir = await Deno.makeTempDir({ prefix: "ostree-objects-test-" });
  try {
    const importer = await ObjectImporter.create(join(dir, "repo"), COMMIT);
    const tar = craftTar(entries);
    await importer.applyLayer(new TarReader(ReadableStream.from([tar]), "layer"), "layer", first);
    await check?.(importer.path);
    return importer;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const ROOT = Deno.uid() === 0;

Deno.test({
  name: `ostree objects: the commit first, then objects as stored (mode, owner); other paths are skipped${
    ROOT ? "" : " [ignored: needs root to chown]"
  }`,
  ignore: !ROOT,
  fn: async () => {
    const importer = await importLayer(
      [
        { path: "sysroot/", type: "directory" },
        { path: `${objects}/`, type: "directory" },
        { path: `${objects}/ab/`, type: "directory" },
        commitEntry,
        { path: `${objects}/cd/${"1".repeat(62)}.file`, content: "x", mode: 0o4755 },
        { path: `${objects}/cd/${"2".repeat(62)}.file`, type: "symlink", target: "somewhere" },
        { path: "usr/bin/tool", type: "hardlink", target: `${objects}/cd/${"1".repeat(62)}.file` },
      ],
      true,
      async (repo) => {
        const file = await Deno.lstat(join(repo, "objects/cd", `${"1".repeat(62)}.file`));
        assert.equal(file.mode! & 0o7777, 0o4755, "setuid survives the chown");
        assert.equal(await Deno.readLink(join(repo, "objects/cd", `${"2".repeat(62)}.file`)), "somewhere");
        assert.match(await Deno.readTextFile(join(repo, "config")), /mode=bare-split-xattrs/);
        await assert.rejects(Deno.lstat(join(repo, "usr")), Deno.errors.NotFound, "paths outside objects/ are skipped");
      },
    );
    assert.equal(importer.objects, 3);
  },
});

Deno.test("ostree objects: a layer that breaks the format is refused, naming the entry and why", async () => {
  const cases: [string, CraftEntry[], RegExp, boolean?][] = [
    [
      "another object before the commit",
      [{ path: `${objects}/cd/${"1".repeat(62)}.file`, content: "x" }, commitEntry],
      /the first object must be the commit ab0+ that the image's label names/,
    ],
    ["a commit the label does not name", [commitEntry, {
      path: `${objects}/cd/${"1".repeat(62)}.commit`,
      content: "c",
    }], /a second commit/],
    ["a name that is no object's", [commitEntry, { path: `${objects}/cd/not-an-object` }], /not an object name/],
    [
      "an unexpected directory",
      [commitEntry, { path: `${objects}/cd/sub/`, type: "directory" }],
      /unexpected directory/,
    ],
    ["an object twice", [commitEntry, commitEntry], /appears twice/],
    ["a hardlink for an object", [commitEntry, {
      path: `${objects}/cd/${"1".repeat(62)}.file`,
      type: "hardlink",
      target: "etc/passwd",
    }], /a hardlink where an object belongs/],
    [
      "a device for an object",
      [commitEntry, { path: `${objects}/cd/${"1".repeat(62)}.file`, type: "char" }],
      /unsupported entry type char/,
    ],
    ["a metadata object over 10 MiB", [commitEntry, {
      path: `${objects}/cd/${"1".repeat(62)}.dirtree`,
      content: new Uint8Array((10 << 20) + 1),
    }], /more than a metadata object may have/],
    [
      "a commit layer without the commit",
      [{ path: `${objects}/`, type: "directory" }],
      /the commit layer does not hold the commit object/,
    ],
    ["a path out of the image", [commitEntry, { path: "../escape", content: "x" }], /leads outside the image/],
  ];
  for (const [what, entries, message] of cases) {
    await assert.rejects(importLayer(entries), message, what);
  }
  // Chunk layers (not the first) need no commit.
  assert.equal((await importLayer([{ path: `${objects}/cd/${"1".repeat(62)}.file`, content: "x" }], false)).objects, 1);
});
