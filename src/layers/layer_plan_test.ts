import assert from "node:assert/strict";
import type { TreeEntry } from "../ostree/tree.ts";
import { comparePaths } from "../builder/rootfs.ts";
import { layerKey } from "./layer_key.ts";
import { BASE_BIN, NEW_BIN, pathPrefixUnit, planLayers, type PlannedLayer } from "./layer_plan.ts";

function dir(path: string): TreeEntry {
  return {
    path,
    sourcePath: path,
    kind: "directory",
    mode: 0o755,
    uid: 0,
    gid: 0,
    size: 0,
    checksum: "t" + path,
    metaChecksum: "m",
    xattrs: [],
  };
}
function file(path: string, size: number, checksum = "c" + path): TreeEntry {
  return { path, sourcePath: path, kind: "file", mode: 0o644, uid: 0, gid: 0, size, checksum, xattrs: [] };
}

/** A tree with `n` packages, pkgK owning usr/share/pkgK/* and usr/bin/pkgK of size K*1000. */
function tree(n: number, extra: TreeEntry[] = []): { entries: TreeEntry[]; owners: Map<string, string> } {
  const entries = [dir("usr"), dir("usr/bin"), dir("usr/share"), dir("etc"), file("etc/unowned.conf", 10), ...extra];
  const owners = new Map<string, string>();
  for (let k = 1; k <= n; k++) {
    entries.push(dir(`usr/share/pkg${k}`), file(`usr/share/pkg${k}/data`, k * 1000), file(`usr/bin/pkg${k}`, 100));
    owners.set(`usr/share/pkg${k}`, `pkg${k}`);
    owners.set(`usr/share/pkg${k}/data`, `pkg${k}`);
    owners.set(`usr/bin/pkg${k}`, `pkg${k}`);
  }
  entries.sort((a, b) => comparePaths(a.path, b.path));
  return { entries, owners };
}

function nonDirPaths(layers: PlannedLayer[]): string[] {
  return layers.flatMap((l) => l.entries.filter((e) => e.kind !== "directory").map((e) => e.path)).sort();
}

function checkLayers(layers: PlannedLayer[], entries: TreeEntry[], maxLayers: number): void {
  assert.ok(layers.length <= maxLayers, `${layers.length} layers > ${maxLayers}`);
  assert.equal(layers[0].id, BASE_BIN);
  // Every file is in exactly one layer.
  assert.deepEqual(nonDirPaths(layers), entries.filter((e) => e.kind !== "directory").map((e) => e.path).sort());
  // Every directory is somewhere; every layer has the parents of its entries, in order.
  const dirs = new Set(layers.flatMap((l) => l.entries.filter((e) => e.kind === "directory").map((e) => e.path)));
  assert.equal(dirs.size, entries.filter((e) => e.kind === "directory").length);
  for (const layer of layers) {
    const seen = new Set<string>();
    for (const e of layer.entries) {
      const parent = e.path.includes("/") ? e.path.slice(0, e.path.lastIndexOf("/")) : "";
      if (parent) assert.ok(seen.has(parent), `${layer.id}: ${e.path} comes before its parent`);
      seen.add(e.path);
    }
  }
}

Deno.test("one layer when asked for one", () => {
  const { entries, owners } = tree(5);
  const layers = planLayers(entries, { maxLayers: 1, unitOf: (p) => owners.get(p) });
  assert.equal(layers.length, 1);
  assert.equal(layers[0].entries.length, entries.length);
});

Deno.test("few packages: one layer each, plus the base with unowned files", () => {
  const { entries, owners } = tree(5);
  const layers = planLayers(entries, { maxLayers: 64, unitOf: (p) => owners.get(p) });
  checkLayers(layers, entries, 64);
  assert.deepEqual(layers.map((l) => l.id), ["base", "unit:pkg5", "unit:pkg4", "unit:pkg3", "unit:pkg2", "unit:pkg1"]);
  assert.deepEqual(layers[0].entries.filter((e) => e.kind === "file").map((e) => e.path), ["etc/unowned.conf"]);
});

Deno.test("many packages: the largest alone, the rest in hash bins, within the limit", () => {
  const { entries, owners } = tree(200);
  for (const max of [2, 3, 8, 64]) {
    const layers = planLayers(entries, { maxLayers: max, unitOf: (p) => owners.get(p) });
    checkLayers(layers, entries, max);
    if (max === 64) {
      // 62 slots: 47 largest alone, 15 hash bins; one slot left for new packages.
      assert.equal(layers[1].id, "unit:pkg200");
      assert.ok(layers.length <= 63);
      assert.equal(layers.filter((l) => l.id.startsWith("unit:")).length, 47);
    }
  }
});

/** A seeded Fisher-Yates shuffle (the same order on every run). */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

Deno.test("planning is deterministic: neither the order of the entries nor of the owners changes the plan", () => {
  const { entries, owners } = tree(100);
  const plan = (list: readonly TreeEntry[], map: Map<string, string>) =>
    planLayers(list, { maxLayers: 16, unitOf: (p) => map.get(p) }).map((l) => [l.id, layerKey(l.entries, "gzip")]);
  const expected = plan(entries, owners);
  for (const seed of [1, 2, 3]) {
    const reordered = new Map(shuffled([...owners], seed));
    assert.deepEqual(plan(shuffled(entries, seed), reordered), expected, `shuffle ${seed}`);
  }
});

Deno.test("previous bins: a changed package changes one layer, new ones go to the reserved bin", () => {
  const before = tree(100);
  const first = planLayers(before.entries, { maxLayers: 16, unitOf: (p) => before.owners.get(p) });
  const bins = first.map((l) => ({ id: l.id, units: l.units }));
  // pkg42's data changes, pkg7 is removed, pkg101 is added.
  const after = tree(101);
  const entries = after.entries
    .filter((e) => !e.path.includes("pkg7/") && e.path !== "usr/bin/pkg7" && e.path !== "usr/share/pkg7")
    .map((e) => (e.path === "usr/share/pkg42/data" ? { ...e, checksum: "changed" } : e));
  after.owners.delete("usr/share/pkg7/data");
  const second = planLayers(entries, { maxLayers: 16, unitOf: (p) => after.owners.get(p), previous: bins });
  checkLayers(second, entries, 16);
  const keys = (layers: PlannedLayer[]) => new Map(layers.map((l) => [l.id, layerKey(l.entries, "gzip")]));
  const k1 = keys(first);
  const k2 = keys(second);
  const changed = [...k2].filter(([id, key]) => k1.get(id) !== key).map(([id]) => id).sort();
  const binOf = (unit: string) => first.find((l) => l.units.includes(unit))!.id;
  assert.deepEqual(changed, [...new Set([binOf("pkg42"), binOf("pkg7"), NEW_BIN])].sort());
  assert.deepEqual(second.find((l) => l.id === NEW_BIN)?.units, ["pkg101"]);
});

Deno.test("files sharing a content object stay in one layer", () => {
  const { entries, owners } = tree(3, [file("usr/bin/zz-copy", 100, "cusr/bin/pkg1")]);
  owners.set("usr/bin/zz-copy", "pkg3");
  const layers = planLayers(entries, { maxLayers: 64, unitOf: (p) => owners.get(p) });
  const holder = layers.find((l) => l.entries.some((e) => e.path === "usr/bin/pkg1"))!;
  assert.ok(holder.entries.some((e) => e.path === "usr/bin/zz-copy"));
});

Deno.test("path prefixes group a tree without package data", () => {
  assert.equal(pathPrefixUnit("usr/lib/x/y.so", "file"), "path:usr/lib");
  assert.equal(pathPrefixUnit("usr/lib/x", "directory"), "path:usr/lib");
  assert.equal(pathPrefixUnit("usr/lib", "file"), "path:usr");
  assert.equal(pathPrefixUnit("usr/lib", "directory"), undefined);
  assert.equal(pathPrefixUnit("etc/passwd", "file"), "path:etc");
  assert.equal(pathPrefixUnit("README", "file"), undefined);
});

Deno.test("layer keys change with content, metadata, paths and compression", () => {
  const base = [dir("usr"), file("usr/a", 1)];
  const key = layerKey(base, "gzip");
  assert.equal(layerKey([dir("usr"), file("usr/a", 1)], "gzip"), key);
  assert.notEqual(layerKey([dir("usr"), file("usr/a", 1, "other")], "gzip"), key);
  assert.notEqual(layerKey([dir("usr"), file("usr/b", 1, "cusr/a")], "gzip"), key);
  assert.notEqual(layerKey([{ ...dir("usr"), metaChecksum: "m2" }, file("usr/a", 1)], "gzip"), key);
  assert.notEqual(layerKey(base, "zstd"), key);
});
