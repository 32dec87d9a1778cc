/**
 * Checking an OCI layout: every blob re-hashed, every reference followed
 * (index.json → indexes → manifests → configs and layers), sizes compared
 * with descriptors. Problems are reported by digest and path; blobs that
 * nothing references are listed, but are not errors.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { AptOstreeError } from "../errors.ts";
import { isIndexMediaType, isManifestMediaType, parseManifest, rawManifest } from "../oci/manifest.ts";
import type { Descriptor } from "../oci/types.ts";
import { statOrUndefined } from "../util/fs.ts";
import { type Progress, progressTicker } from "../util/progress.ts";

/** One problem found. */
export interface VerifyProblem {
  /** `corrupt` (content does not hash to its name), `missing`, `size`, `invalid` (bad JSON or layout). */
  kind: "corrupt" | "missing" | "size" | "invalid";
  /** The blob's digest, when the problem is about a blob. */
  digest?: string;
  /** Path in the layout (relative). */
  path: string;
  /** What is wrong. */
  message: string;
}

/** What {@linkcode verifyLayout} found. */
export interface VerifyResult {
  /** The layout directory. */
  layout: string;
  /** Blobs hashed. */
  blobs: number;
  /** Their bytes. */
  bytes: number;
  /** Manifests and indexes read. */
  manifests: number;
  /** Problems (empty when the layout is sound). */
  problems: VerifyProblem[];
  /** Blobs that nothing references. */
  unreferenced: string[];
  /**
   * Entries that are no part of a layout: temp files of runs that were
   * killed (removed by the next build into the layout), or anything else.
   */
  stray: string[];
}

/** Options for {@linkcode verifyLayout}. */
export interface VerifyOptions {
  /** Aborts the check. */
  signal?: AbortSignal;
  /** Called with the bytes hashed so far. */
  onProgress?: (progress: Progress) => void;
}

async function hashFile(path: string, onBytes: (n: number) => void, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path);
  try {
    const buf = new Uint8Array(1 << 20);
    for (;;) {
      signal?.throwIfAborted();
      const n = await file.read(buf);
      if (n === null) break;
      hash.update(buf.subarray(0, n));
      onBytes(n);
    }
  } finally {
    file.close();
  }
  return `sha256:${hash.digest("hex")}`;
}

/**
 * Verifies an OCI layout directory.
 *
 * @example
 * ```ts
 * import { verifyLayout } from "./verify.ts";
 * const result = await verifyLayout("out.oci");
 * for (const p of result.problems) console.log(p.kind, p.digest, p.path, p.message);
 * ```
 */
export async function verifyLayout(dir: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const layout = resolve(dir);
  const info = await statOrUndefined(layout);
  if (!info?.isDirectory) {
    throw new AptOstreeError(`OCI layout not found: ${layout}`, { solution: "Name a layout directory: oci:PATH" });
  }
  const result: VerifyResult = { layout, blobs: 0, bytes: 0, manifests: 0, problems: [], unreferenced: [], stray: [] };
  const problem = (p: VerifyProblem) => result.problems.push(p);

  try {
    const marker = JSON.parse(await Deno.readTextFile(join(layout, "oci-layout")));
    if (marker?.imageLayoutVersion !== "1.0.0") {
      problem({ kind: "invalid", path: "oci-layout", message: "imageLayoutVersion is not 1.0.0" });
    }
  } catch (error) {
    problem({
      kind: error instanceof Deno.errors.NotFound ? "missing" : "invalid",
      path: "oci-layout",
      message: error instanceof Deno.errors.NotFound ? "the oci-layout file is missing" : "oci-layout is not JSON",
    });
  }

  // Every blob, re-hashed.
  const blobs = new Map<string, { size: number; intact: boolean }>();
  const files: { path: string; rel: string; digest: string; size: number }[] = [];
  const blobRoot = join(layout, "blobs");
  if ((await statOrUndefined(blobRoot))?.isDirectory) {
    for await (const alg of Deno.readDir(blobRoot)) {
      const algDir = join(blobRoot, alg.name);
      if (!alg.isDirectory) {
        problem({ kind: "invalid", path: `blobs/${alg.name}`, message: "not a directory" });
        continue;
      }
      for await (const entry of Deno.readDir(algDir)) {
        const rel = `blobs/${alg.name}/${entry.name}`;
        const path = join(algDir, entry.name);
        const stat = await Deno.lstat(path);
        if (!stat.isFile) {
          problem({ kind: "invalid", path: rel, message: "not a regular file" });
          continue;
        }
        if (alg.name !== "sha256" || !/^[0-9a-f]{64}$/.test(entry.name)) {
          problem({ kind: "invalid", path: rel, message: "not a sha256 blob name" });
          continue;
        }
        files.push({ path, rel, digest: `sha256:${entry.name}`, size: stat.size });
      }
    }
  }
  const total = files.reduce((n, f) => n + f.size, 0);
  let hashed = 0;
  const started = performance.now();
  const ticker = progressTicker(() => ({
    phase: "hashing",
    done: hashed,
    total,
    count: { done: result.blobs, total: files.length, of: "blobs" },
    elapsedMs: performance.now() - started,
  }), options.onProgress);
  try {
    for (const file of files.sort((a, b) => a.rel < b.rel ? -1 : 1)) {
      const actual = await hashFile(file.path, (n) => hashed += n, options.signal);
      const intact = actual === file.digest;
      if (!intact) {
        problem({ kind: "corrupt", digest: file.digest, path: file.rel, message: `content hashes to ${actual}` });
      }
      blobs.set(file.digest, { size: file.size, intact });
      result.blobs++;
      result.bytes += file.size;
    }
  } finally {
    ticker.stop();
  }

  // Every reference, from index.json down.
  let indexText: string | undefined;
  try {
    indexText = await Deno.readTextFile(join(layout, "index.json"));
  } catch {
    problem({ kind: "missing", path: "index.json", message: "the index.json file is missing" });
  }
  const referenced = new Set<string>();
  const visited = new Set<string>();
  const check = async (descriptor: Descriptor, from: string, depth: number): Promise<void> => {
    const rel = `blobs/${descriptor.digest.replace(":", "/")}`;
    referenced.add(descriptor.digest);
    const blob = blobs.get(descriptor.digest);
    if (!blob) {
      problem({ kind: "missing", digest: descriptor.digest, path: rel, message: `missing (referenced by ${from})` });
      return;
    }
    if (blob.size !== descriptor.size) {
      problem({
        kind: "size",
        digest: descriptor.digest,
        path: rel,
        message: `${blob.size} bytes, but ${from} says ${descriptor.size}`,
      });
    }
    const isManifest = isManifestMediaType(descriptor.mediaType) || isIndexMediaType(descriptor.mediaType);
    if (!isManifest || !blob.intact || visited.has(descriptor.digest) || depth > 8) return;
    visited.add(descriptor.digest);
    const bytes = await Deno.readFile(join(layout, rel));
    let parsed;
    try {
      parsed = parseManifest(rawManifest(bytes, descriptor.mediaType), layout);
    } catch (error) {
      problem({ kind: "invalid", digest: descriptor.digest, path: rel, message: (error as Error).message });
      return;
    }
    result.manifests++;
    const name = `manifest ${descriptor.digest}`;
    if (parsed.kind === "index") {
      for (const child of parsed.index.manifests) await check(child, name, depth + 1);
    } else {
      await check(parsed.manifest.config, name, depth + 1);
      for (const layer of parsed.manifest.layers) {
        if ((layer as { urls?: string[] }).urls?.length && !blobs.has(layer.digest)) continue; // foreign layer
        await check(layer, name, depth + 1);
      }
    }
  };
  if (indexText !== undefined) {
    let index: { schemaVersion?: number; manifests?: unknown };
    try {
      index = JSON.parse(indexText);
    } catch {
      index = {};
      problem({ kind: "invalid", path: "index.json", message: "not JSON" });
    }
    if (!Array.isArray(index.manifests)) {
      if (indexText !== undefined && result.problems.every((p) => p.path !== "index.json")) {
        problem({ kind: "invalid", path: "index.json", message: "no manifests list" });
      }
    } else {
      for (const descriptor of index.manifests as Descriptor[]) {
        if (typeof descriptor?.digest !== "string" || typeof descriptor.size !== "number") {
          problem({ kind: "invalid", path: "index.json", message: "a manifests entry is not a descriptor" });
          continue;
        }
        await check(descriptor, "index.json", 0);
      }
    }
  }
  result.unreferenced = [...blobs.keys()].filter((d) => !referenced.has(d)).sort();
  const layoutNames = new Set(["oci-layout", "index.json", "blobs", "ingest"]);
  result.stray = (await Array.fromAsync(Deno.readDir(layout), (e) => e.name)).filter((n) => !layoutNames.has(n)).sort();
  return result;
}
