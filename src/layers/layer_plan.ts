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
import type { TreeEntry } from "../ostree/tree.ts";

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
  entries: TreeEntry[];
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
 * Plans the layers of an image from its sorted entries.
 *
 * @example
 * ```ts
 * import { pathPrefixUnit, planLayers } from "./layer_plan.ts";
 * const entries = []; // TreeEntry[] from listCommitTree + toImageRootfs
 * const layers = planLayers(entries, { maxLayers: 64, unitOf: pathPrefixUnit });
 * for (const layer of layers) console.log(layer.id, layer.entries.length);
 * ```
 */
export function planLayers(entries: readonly TreeEntry[], options: PlanLayersOptions): PlannedLayer[] {
  const maxLayers = Math.max(1, Math.floor(options.maxLayers));
  if (maxLayers === 1) {
    return [{ id: BASE_BIN, units: [], entries: [...entries], contentBytes: entries.reduce((n, e) => n + e.size, 0) }];
  }
  // Files that share a content object stay together (they are hardlinks):
  // the group goes where its first path goes.
  const groupUnit = new Map<string, string | undefined>();
  const unitOfEntry: (string | undefined)[] = new Array(entries.length);
  const unitSizes = new Map<string, number>();
  entries.forEach((e, i) => {
    let unit: string | undefined;
    if (e.kind === "file" && groupUnit.has(e.checksum)) {
      unit = groupUnit.get(e.checksum);
    } else {
      unit = options.unitOf(e.path, e.kind);
      if (e.kind === "file") groupUnit.set(e.checksum, unit);
    }
    unitOfEntry[i] = unit;
    if (unit !== undefined) unitSizes.set(unit, (unitSizes.get(unit) ?? 0) + e.size);
  });

  const bins = options.previous ? carriedBins(unitSizes, options.previous) : coldBins(unitSizes, maxLayers);
  const binOfUnit = new Map<string, number>();
  bins.forEach((bin, i) => bin.units.forEach((u) => binOfUnit.set(u, i + 1)));

  const layers: PlannedLayer[] = [
    { id: BASE_BIN, units: [], entries: [], contentBytes: 0 },
    ...bins.map((b) => ({ ...b, entries: [] as TreeEntry[], contentBytes: 0 })),
  ];
  const dirs = new Map<string, TreeEntry>();
  const dirsAdded = layers.map(() => new Set<string>());
  entries.forEach((e, i) => {
    if (e.kind === "directory") dirs.set(e.path, e);
    const unit = unitOfEntry[i];
    const index = unit === undefined ? 0 : binOfUnit.get(unit) ?? 0;
    const layer = layers[index];
    if (index !== 0) {
      // A layer carries the parent directories of its entries, with the
      // commit's metadata, so that it applies correctly on its own.
      const missing: TreeEntry[] = [];
      for (let p = parentOf(e.path); p !== "" && !dirsAdded[index].has(p); p = parentOf(p)) {
        dirsAdded[index].add(p);
        const dir = dirs.get(p);
        if (dir) missing.push(dir);
      }
      for (let i = missing.length - 1; i >= 0; i--) layer.entries.push(missing[i]);
    }
    if (index !== 0 && e.kind === "directory") dirsAdded[index].add(e.path);
    layer.entries.push(e);
    layer.contentBytes += e.size;
  });
  return layers.filter((l, i) => i === 0 || l.entries.length > 0);
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}
