/**
 * Splitting a tree into stable layers. Every entry belongs to a unit (its
 * Debian package, or, in a tree without dpkg data, its path prefix such as
 * `usr/lib`) or to none; the largest units get a layer each, the rest share
 * hash bins, and what belongs to no unit (unowned files, directories shared
 * by several packages) goes to the base layer. Each layer also carries the
 * parent directories of its entries, so it applies correctly on its own. Given the bins of
 * a previous build, units keep their layers, new ones go to a reserved bin
 * and removed ones are dropped, so that updating one package changes one
 * layer. Everything is deterministic: no timing, no chance.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { TreeEntries, type TreeEntry } from "../ostree/tree.ts";
import { mayHardlink } from "../tar/layer_tar.ts";

/** A bin: a layer's identity and the units it holds. */
export interface LayerBin {
  /** `base`, `unit:<name>`, `bin:<k>` or `new`. */
  id: string;
  /** Units in the bin, sorted (empty for `base`). */
  units: string[];
}

/** A planned layer: its bin and its entries in tar order. */
export interface PlannedLayer extends LayerBin {
  /** Entries, sorted as the tree is, parents before children. */
  entries: TreeEntries;
  /** Bytes of file content. */
  contentBytes: number;
}

/** Options for {@linkcode planLayers}. */
export interface PlanLayersOptions {
  /** Most layers the image may have (>= 1). */
  maxLayers: number;
  /** The unit of an entry, or undefined for the base layer. */
  unitOf: (path: string, kind: TreeEntry["kind"]) => string | undefined;
  /** Bins of a previous build of the same image with the same maxLayers, in order. */
  previous?: LayerBin[];
}

/** The base layer's bin id. */
export const BASE_BIN = "base";
/** The bin for units a previous build did not have. */
export const NEW_BIN = "new";

/**
 * The unit of an entry in a tree without package data: the first two
 * components of its directory (`usr/lib` for `usr/lib/x/y.so`), or its
 * directory for shallower paths. Top-level files and directories up to two
 * levels deep belong to the base layer.
 *
 * @example
 * ```ts
 * import { pathPrefixUnit } from "./layer_plan.ts";
 * pathPrefixUnit("usr/lib/x/y.so", "file"); // "path:usr/lib"
 * pathPrefixUnit("usr/lib/x", "directory"); // "path:usr/lib"
 * pathPrefixUnit("etc/passwd", "file"); // "path:etc"
 * pathPrefixUnit("usr/lib", "directory"); // undefined
 * ```
 */
export function pathPrefixUnit(path: string, kind: TreeEntry["kind"]): string | undefined {
  const first = path.indexOf("/");
  if (first < 0) return undefined; // top level
  const second = path.indexOf("/", first + 1);
  if (second < 0) return kind === "directory" ? undefined : `path:${path.slice(0, first)}`;
  return `path:${path.slice(0, second)}`;
}

function hashBin(unit: string, bins: number): number {
  return createHash("sha256").update(unit).digest().readUInt32BE(0) % bins;
}

/** Assigns units to bins without history. */
function coldBins(unitSizes: Map<string, number>, maxLayers: number): LayerBin[] {
  const units = [...unitSizes.keys()].sort((a, b) => (unitSizes.get(b)! - unitSizes.get(a)!) || (a < b ? -1 : 1));
  if (maxLayers <= 1 || units.length === 0) return [];
  if (maxLayers === 2) return [{ id: "bin:0", units: units.sort() }];
  // One layer for the base and one kept free for units that later builds add.
  const slots = maxLayers - 2;
  if (units.length <= slots) return units.map((u) => ({ id: `unit:${u}`, units: [u] }));
  const hashBins = Math.max(1, Math.floor(slots / 4));
  const alone = units.slice(0, slots - hashBins);
  const binned: string[][] = Array.from({ length: hashBins }, () => []);
  for (const u of units.slice(slots - hashBins)) binned[hashBin(u, hashBins)].push(u);
  return [
    ...alone.map((u) => ({ id: `unit:${u}`, units: [u] })),
    ...binned.flatMap((us, k) => (us.length > 0 ? [{ id: `bin:${k}`, units: us.sort() }] : [])),
  ];
}

/** Carries a previous build's bins over to the current units. */
function carriedBins(unitSizes: Map<string, number>, previous: LayerBin[]): LayerBin[] {
  const placed = new Set<string>();
  const bins: LayerBin[] = [];
  let newBin: LayerBin | undefined;
  for (const bin of previous) {
    if (bin.id === BASE_BIN) continue;
    const units = bin.units.filter((u) => unitSizes.has(u) && !placed.has(u));
    for (const u of units) placed.add(u);
    const kept = { id: bin.id, units: units.sort() };
    if (bin.id === NEW_BIN) newBin = kept;
    else if (units.length > 0) bins.push(kept);
  }
  const added = [...unitSizes.keys()].filter((u) => !placed.has(u));
  if (added.length > 0 || (newBin && newBin.units.length > 0)) {
    bins.push({ id: NEW_BIN, units: [...(newBin?.units ?? []), ...added].sort() });
  }
  return bins;
}

/**
 * Plans the layers of an image from its entries (in any order; the plan
 * is the same). The layers' entries are views of `input`.
 *
 * @example
 * ```ts
 * import { pathPrefixUnit, planLayers } from "./layer_plan.ts";
 * import { TreeEntries } from "../ostree/tree.ts";
 * const entries = TreeEntries.from([]); // from the commit's tree, mapped to the image root
 * const layers = planLayers(entries, { maxLayers: 64, unitOf: pathPrefixUnit });
 * for (const layer of layers) console.log(layer.id, layer.entries.length);
 * ```
 */
export function planLayers(input: TreeEntries | readonly TreeEntry[], options: PlanLayersOptions): PlannedLayer[] {
  // The plan depends on the order (a hardlink group goes where its first
  // path goes; parents come before children): take the image's order,
  // whatever order the entries came in. Sorted input costs one pass.
  const entries = (input instanceof TreeEntries ? input : TreeEntries.from(input)).sortedByPath();
  const contentBytes = (indexes: readonly number[] | undefined) => {
    let n = 0;
    if (indexes) { for (const i of indexes) n += entries.size(i); }
    else for (let i = 0; i < entries.length; i++) n += entries.size(i);
    return n;
  };
  const maxLayers = Math.max(1, Math.floor(options.maxLayers));
  if (maxLayers === 1) {
    return [{ id: BASE_BIN, units: [], entries, contentBytes: contentBytes(undefined) }];
  }
  // Files that share a content object stay together (they are hardlinks):
  // the group goes where its first path goes. Units are kept as numbers
  // (one string each, not one per entry of a million-entry tree).
  const groupUnit = new Map<string, number>();
  const unitNames: string[] = [];
  const unitIds = new Map<string, number>();
  const unitOfEntry = new Int32Array(entries.length).fill(-1);
  const unitSizes = new Map<string, number>();
  for (let i = 0; i < entries.length; i++) {
    const path = entries.path(i);
    const kind = entries.kind(i);
    const size = entries.size(i);
    let unit: number | undefined;
    const linked = kind === "file" && mayHardlink(path, size);
    const checksum = linked ? entries.checksum(i) : "";
    if (linked && groupUnit.has(checksum)) {
      unit = groupUnit.get(checksum)!;
    } else {
      const name = options.unitOf(path, kind);
      unit = -1;
      if (name !== undefined) {
        unit = unitIds.get(name) ?? -1;
        if (unit < 0) {
          unit = unitNames.push(name) - 1;
          unitIds.set(name, unit);
        }
      }
      if (linked) groupUnit.set(checksum, unit);
    }
    unitOfEntry[i] = unit;
    if (unit >= 0) unitSizes.set(unitNames[unit], (unitSizes.get(unitNames[unit]) ?? 0) + size);
  }

  const bins = options.previous ? carriedBins(unitSizes, options.previous) : coldBins(unitSizes, maxLayers);
  const binOfUnit = new Int32Array(unitNames.length);
  bins.forEach((bin, i) => bin.units.forEach((u) => binOfUnit[unitIds.get(u)!] = i + 1));

  const rows: number[][] = [[], ...bins.map(() => [])];
  const dirs = new Map<string, number>();
  const dirsAdded = rows.map(() => new Set<string>());
  // The parent directory each layer last had: its next entry is most often in the same one.
  const lastParent: string[] = rows.map(() => "");
  for (let i = 0; i < entries.length; i++) {
    const path = entries.path(i);
    const kind = entries.kind(i);
    if (kind === "directory") dirs.set(path, i);
    const unit = unitOfEntry[i];
    const index = unit < 0 ? 0 : binOfUnit[unit];
    const layer = rows[index];
    if (index !== 0) {
      // A layer carries the parent directories of its entries, with the
      // commit's metadata, so that it applies correctly on its own.
      const last = lastParent[index];
      const sameParent = last !== "" && path.length > last.length && path.charCodeAt(last.length) === 0x2f &&
        path.startsWith(last) && path.indexOf("/", last.length + 1) < 0;
      if (!sameParent) {
        const parent = parentOf(path);
        const missing: number[] = [];
        for (let p = parent; p !== "" && !dirsAdded[index].has(p); p = parentOf(p)) {
          dirsAdded[index].add(p);
          const dir = dirs.get(p);
          if (dir !== undefined) missing.push(dir);
        }
        for (let m = missing.length - 1; m >= 0; m--) layer.push(missing[m]);
        lastParent[index] = parent;
      }
      if (kind === "directory") dirsAdded[index].add(path);
    }
    layer.push(i);
  }
  const layers: PlannedLayer[] = [
    { id: BASE_BIN, units: [] },
    ...bins,
  ].map((bin, i) => ({ ...bin, entries: entries.select(rows[i]), contentBytes: contentBytes(rows[i]) }));
  return layers.filter((l, i) => i === 0 || l.entries.length > 0);
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}
