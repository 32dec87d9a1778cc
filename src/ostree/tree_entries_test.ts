import assert from "node:assert/strict";
import { TreeEntries, type TreeEntry } from "./tree_entries.ts";

function entry(path: string, fields: Partial<TreeEntry> = {}): TreeEntry {
  return {
    path,
    sourcePath: path,
    kind: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    checksum: `c-${path}`,
    xattrs: [],
    ...fields,
  };
}

const CAP = { name: "security.capability", value: new Uint8Array([1, 2, 3]) };

Deno.test("TreeEntries: every field comes back as it went in, past the first growth of the columns", () => {
  const input: TreeEntry[] = [
    entry("bin", { kind: "symlink", mode: 0o777, target: "usr/bin", checksum: "link" }),
    entry("usr", { kind: "directory", mode: 0o755, checksum: "tree-usr", metaChecksum: "meta-755" }),
    entry("usr/bin", { kind: "directory", mode: 0o755, checksum: "tree-bin", metaChecksum: "meta-755" }),
    entry("usr/bin/ping", { mode: 0o4755, uid: 4294967294, gid: 65534, size: 2 ** 40, xattrs: [CAP] }),
  ];
  for (let i = 0; i < 3000; i++) input.push(entry(`usr/bin/f${String(i).padStart(4, "0")}`, { size: i }));
  const tree = TreeEntries.from(input);
  assert.equal(tree.length, input.length);
  assert.deepEqual([...tree], input);
  assert.deepEqual(tree.map((e) => e.path), input.map((e) => e.path));
  assert.equal(tree.kind(0), "symlink");
  assert.equal(tree.size(3), 2 ** 40);
  assert.equal(tree.checksum(2), "tree-bin");
  assert.equal(tree.xattrCount(3), 1);
  assert.equal(tree.at(1).metaChecksum, "meta-755");
  assert.equal(tree.at(3).target, undefined);
  assert.equal("metaChecksum" in tree.at(3), false);
  assert.throws(() => tree.at(input.length), RangeError);
  assert.throws(() => tree.path(-1), RangeError);
});

Deno.test("TreeEntries: xattr sets are shared and frozen; a fresh object per read can be changed freely", () => {
  const tree = TreeEntries.from([entry("a", { xattrs: [CAP] }), entry("b"), entry("c")]);
  const a = tree.at(0);
  assert.ok(Object.isFrozen(a.xattrs));
  assert.throws(() => a.xattrs.push(CAP), TypeError);
  assert.ok(Object.isFrozen(tree.at(1).xattrs));
  a.path = "changed";
  a.xattrs = [];
  assert.equal(tree.path(0), "a");
  assert.equal(tree.xattrCount(0), 1);
  tree.setXattrs(0, []);
  assert.equal(tree.xattrCount(0), 0);
  tree.setXattrs(1, [CAP]);
  assert.deepEqual(tree.at(1).xattrs, [CAP]);
});

Deno.test("TreeEntries: a new path keeps the commit's as sourcePath, in every view", () => {
  const tree = TreeEntries.from([entry("usr"), entry("usr/etc"), entry("usr/etc/passwd")]);
  tree.setPath(1, "etc");
  tree.setPath(2, "etc/passwd");
  tree.setPath(2, "etc/passwd2");
  assert.deepEqual(tree.map((e) => [e.path, e.sourcePath]), [
    ["usr", "usr"],
    ["etc", "usr/etc"],
    ["etc/passwd2", "usr/etc/passwd"],
  ]);
  const view = tree.select([2, 0]);
  assert.deepEqual(view.map((e) => e.path), ["etc/passwd2", "usr"]);
  assert.equal(view.sourcePath(0), "usr/etc/passwd");
  // Views share the columns: a change through one shows in all.
  view.setPath(1, "usr2");
  assert.equal(tree.path(0), "usr2");
  assert.deepEqual(view.select([1]).map((e) => e.path), ["usr2"]);
  assert.throws(() => view.select([2]), RangeError);
});

Deno.test("TreeEntries: indexOfSource finds paths in a walk-ordered tree and in any other order", () => {
  const paths = ["a", "a/b", "a/b/c", "a.b", "z"];
  const sorted = TreeEntries.from(paths.map((p) => entry(p)));
  for (const [i, p] of paths.entries()) assert.equal(sorted.indexOfSource(p), i, p);
  assert.equal(sorted.indexOfSource("a/c"), -1);
  assert.equal(sorted.indexOfSource(""), -1);
  const shuffled = sorted.select([4, 2, 0, 3, 1]);
  assert.equal(shuffled.indexOfSource("a/b/c"), 1);
  assert.equal(shuffled.indexOfSource("a.b"), 3);
  assert.equal(shuffled.indexOfSource("nope"), -1);
});

Deno.test("TreeEntries: filter, find and some read the entries as objects", () => {
  const tree = TreeEntries.from([entry("d", { kind: "directory", checksum: "t", metaChecksum: "m" }), entry("d/f")]);
  assert.deepEqual(tree.filter((e) => e.kind === "directory").map((e) => e.path), ["d"]);
  assert.equal(tree.find((e) => e.path === "d/f")?.checksum, "c-d/f");
  assert.equal(tree.some((e) => e.path === "x"), false);
  assert.equal(TreeEntries.from([]).length, 0);
});

Deno.test("TreeEntries: rows past a column chunk (65,536 rows) read back as they went in", () => {
  const input = Array.from(
    { length: 70_000 },
    (_, i) => entry(`f${String(i).padStart(6, "0")}`, { size: i * 3, uid: i, gid: 70_000 - i, mode: i & 0o7777 }),
  );
  const tree = TreeEntries.from(input);
  assert.equal(tree.length, 70_000);
  for (const i of [0, 65_535, 65_536, 65_537, 69_999]) assert.deepEqual(tree.at(i), input[i], String(i));
  const view = tree.select([69_999, 65_536, 1]);
  assert.deepEqual(view.map((e) => e.size), [69_999 * 3, 65_536 * 3, 3]);
  assert.equal(tree.indexOfSource("f065536"), 65_536);
});

Deno.test("TreeEntries: sortedByPath keeps a sorted view as it is and sorts any other, component by component", () => {
  const sorted = TreeEntries.from(["a", "a/b", "a.b", "z"].map((p) => entry(p)));
  assert.equal(sorted.sortedByPath(), sorted);
  const shuffled = sorted.select([3, 2, 0, 1]);
  assert.deepEqual(shuffled.sortedByPath().map((e) => e.path), ["a", "a/b", "a.b", "z"]);
});
