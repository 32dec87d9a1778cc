import assert from "node:assert/strict";
import { join } from "node:path";
import { type CraftEntry, craftTar } from "../../tests/helpers/oci_builder.ts";
import { listXattrs } from "../util/xattr.ts";
import { ImportTree, normalizeLayerPath } from "./apply_layer.ts";
import { TarReader } from "../tar/reader.ts";

const ROOT = Deno.uid() === 0;

async function withTree(
  fn: (tree: ImportTree, apply: (entries: CraftEntry[]) => Promise<void>, dir: string) => Promise<void>,
  privileged = ROOT,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "root"));
    const tree = new ImportTree(join(dir, "root"), privileged);
    let n = 0;
    await fn(tree, async (entries) => {
      await tree.applyLayer(new TarReader(ReadableStream.from([craftTar(entries)]), "test"), `layer${++n}`);
    }, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function paths(root: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(root, rel))) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    out.push(e.isDirectory ? `${p}/` : p);
    if (e.isDirectory) out.push(...await paths(root, p));
  }
  return out.sort();
}

Deno.test("apply: paths are normalised; absolute paths and .. are refused", () => {
  assert.equal(normalizeLayerPath("./a//b/./c/", "l"), "a/b/c");
  assert.equal(normalizeLayerPath("./", "l"), "");
  assert.throws(() => normalizeLayerPath("/etc/passwd", "l"), /absolute path/);
  assert.throws(() => normalizeLayerPath("a/../../etc", "l"), /outside the image/);
});

Deno.test("apply: whiteouts and opaque directories hide lower layers only", async () => {
  await withTree(async (tree, apply) => {
    await apply([
      { path: "a/x", content: "x" },
      { path: "a/y", content: "y" },
      { path: "b/z", content: "z" },
      { path: "b/sub/w", content: "w" },
      { path: "c/old", content: "old" },
      { path: "keep", content: "keep" },
    ]);
    await apply([
      { path: "a/.wh.x" },
      { path: "b/.wh..wh..opq" },
      { path: "b/new", content: "new" },
      { path: "b/sub/", type: "directory" },
      { path: "c/new2", content: "n2" },
      { path: "c/.wh..wh..opq" },
      { path: ".wh.nothing-there" },
    ]);
    tree.finish();
    assert.deepEqual(await paths(tree.root), ["a/", "a/y", "b/", "b/new", "b/sub/", "c/", "c/new2", "keep"]);
  });
});

Deno.test("apply: entries replace what is there, never writing through a symlink", async () => {
  await withTree(async (tree, apply, dir) => {
    const outside = join(dir, "outside");
    await Deno.mkdir(outside);
    await Deno.writeTextFile(join(outside, "target"), "untouched");
    await apply([
      { path: "evil", type: "symlink", target: join(outside, "target") },
      { path: "was-file", content: "f" },
      { path: "was-dir/inner", content: "i" },
    ]);
    await apply([
      { path: "evil", content: "replaced the link, not its target" },
      { path: "was-file/", type: "directory" },
      { path: "was-dir", type: "symlink", target: "/elsewhere" },
    ]);
    tree.finish();
    assert.equal(await Deno.readTextFile(join(outside, "target")), "untouched");
    assert.ok((await Deno.lstat(join(tree.root, "evil"))).isFile);
    assert.ok((await Deno.lstat(join(tree.root, "was-file"))).isDirectory);
    assert.equal(await Deno.readLink(join(tree.root, "was-dir")), "/elsewhere");
  });
});

Deno.test("apply: hostile entries are refused, and nothing outside is touched", async () => {
  const cases: [string, CraftEntry[][], RegExp][] = [
    ["absolute path", [[{ path: "/OUTSIDE/pwned", content: "x" }]], /absolute path/],
    ["dot-dot", [[{ path: "a/../../OUTSIDE/pwned", content: "x" }]], /outside the image/],
    [
      "parent symlink",
      [[{ path: "link", type: "symlink", target: "OUTSIDE" }], [{ path: "link/pwned", content: "x" }]],
      /parent 'link' is a symlink/,
    ],
    ["hardlink out", [[{ path: "h", type: "hardlink", target: "../OUTSIDE/secret" }]], /outside the image/],
    ["hardlink absolute", [[{ path: "h", type: "hardlink", target: "OUTSIDE/secret".replace(/^/, "/") }]], /absolute/],
    [
      "hardlink through symlink",
      [[{ path: "l", type: "symlink", target: "OUTSIDE" }, { path: "h", type: "hardlink", target: "l/secret" }]],
      /'l' is a symlink/,
    ],
    ["hardlink missing", [[{ path: "h", type: "hardlink", target: "nothing" }]], /not in the image/],
    [
      "hardlink to dir",
      [[{ path: "d/", type: "directory" }, { path: "h", type: "hardlink", target: "d" }]],
      /directory/,
    ],
    ["whiteout dot-dot", [[{ path: "a/.wh.." }]], /outside its directory/],
    [
      "whiteout through symlink",
      [[{ path: "l", type: "symlink", target: "OUTSIDE" }], [{ path: "l/.wh.secret" }]],
      /'l' is a symlink/,
    ],
  ];
  for (const [name, layers, expected] of cases) {
    await withTree(async (_tree, apply, dir) => {
      const outside = join(dir, "OUTSIDE");
      await Deno.mkdir(outside);
      await Deno.writeTextFile(join(outside, "secret"), "secret");
      // Targets named OUTSIDE resolve to the real directory next to the tree.
      const fix = (e: CraftEntry): CraftEntry => ({
        ...e,
        path: e.path.replace("/OUTSIDE", outside),
        target: e.type === "symlink" ? e.target?.replace("OUTSIDE", outside) : e.target,
      });
      await assert.rejects(
        async () => {
          for (const layer of layers) await apply(layer.map(fix));
        },
        expected,
        name,
      );
      assert.deepEqual(await paths(outside), ["secret"], name);
      assert.equal(await Deno.readTextFile(join(outside, "secret")), "secret", name);
    });
  }
});

Deno.test("apply: device nodes and FIFOs are skipped and reported", async () => {
  await withTree(async (tree, apply) => {
    await apply([
      { path: "dev/", type: "directory" },
      { path: "dev/null", type: "char" },
      { path: "dev/sda", type: "block" },
      { path: "run/fifo", type: "fifo" },
      { path: "etc/ok", content: "ok" },
    ]);
    tree.finish();
    assert.deepEqual(tree.skipped, [
      { path: "dev/null", type: "char" },
      { path: "dev/sda", type: "block" },
      { path: "run/fifo", type: "fifo" },
    ]);
    assert.deepEqual(await paths(tree.root), ["dev/", "etc/", "etc/ok", "run/"]);
  });
});

Deno.test({
  name: `apply: ownership, setuid, xattrs and read-only directories are kept${
    ROOT ? "" : " [ignored: needs root to give files away]"
  }`,
  ignore: !ROOT,
  fn: async () => {
    const cap = new Uint8Array([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    await withTree(async (tree, apply) => {
      await apply([
        { path: "ro/", type: "directory", mode: 0o555, uid: 12, gid: 34 },
        { path: "ro/file", content: "in a read-only dir", uid: 1234, gid: 5678, mode: 0o4750 },
        { path: "ro/cap", content: "cap", mode: 0o755, xattrs: { "security.capability": cap, "user.note": "n" } },
        { path: "link", type: "symlink", target: "ro/file", uid: 99, gid: 98 },
        { path: "hard", type: "hardlink", target: "ro/file" },
      ]);
      tree.finish();
      const ro = await Deno.lstat(join(tree.root, "ro"));
      assert.deepEqual([ro.mode! & 0o7777, ro.uid, ro.gid], [0o555, 12, 34]);
      const file = await Deno.lstat(join(tree.root, "ro/file"));
      assert.deepEqual([file.mode! & 0o7777, file.uid, file.gid, file.nlink], [0o4750, 1234, 5678, 2]);
      const link = await Deno.lstat(join(tree.root, "link"));
      assert.deepEqual([link.uid, link.gid], [99, 98]);
      const xattrs = listXattrs(join(tree.root, "ro/cap"));
      assert.deepEqual(xattrs.find((x) => x.name === "security.capability")?.value, cap);
    });
  },
});

Deno.test("apply: without root, files owned by others stop the import with a clear message", async () => {
  await withTree(async (_tree, apply) => {
    await apply([{ path: "ok", content: "root-owned is fine" }]);
    await assert.rejects(
      () => apply([{ path: "home/u/file", content: "x", uid: 1000, gid: 1000 }]),
      /needs root: home\/u\/file is owned by 1000:1000/,
    );
    await assert.rejects(
      () => apply([{ path: "bin/ping", content: "x", xattrs: { "security.capability": "x" } }]),
      /needs root: bin\/ping has the extended attribute security.capability/,
    );
  }, false);
});
