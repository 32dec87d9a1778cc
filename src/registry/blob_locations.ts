/**
 * A small cache of where blobs were last seen (registry and repository),
 * as containers/image keeps one: when a blob is pushed to another
 * repository of the same registry, it can be mounted instead of uploaded.
 * It lives in `$XDG_CACHE_HOME/apt-ostree/blob-locations.json` (or
 * `~/.cache/…`); it is only a hint, so any problem with it is ignored.
 *
 * @module
 */

import { join } from "node:path";
import { randomSuffix } from "../util/fs.ts";

/** Where a blob was seen. */
export interface BlobLocation {
  /** Registry host. */
  registry: string;
  /** Repository path. */
  repository: string;
}

const MAX_DIGESTS = 10_000;
const MAX_LOCATIONS = 4;

/**
 * The cache file's path, or undefined when there is no home or cache directory.
 *
 * @example
 * ```ts
 * import { blobLocationCachePath } from "./blob_locations.ts";
 * blobLocationCachePath(); // e.g. "/root/.cache/apt-ostree/blob-locations.json"
 * ```
 */
export function blobLocationCachePath(): string | undefined {
  const cache = Deno.env.get("XDG_CACHE_HOME") || (Deno.env.get("HOME") ? join(Deno.env.get("HOME")!, ".cache") : "");
  return cache ? join(cache, "apt-ostree", "blob-locations.json") : undefined;
}

type CacheData = Record<string, BlobLocation[]>;

async function load(path: string): Promise<CacheData> {
  try {
    const data = JSON.parse(await Deno.readTextFile(path));
    return typeof data === "object" && data !== null && !Array.isArray(data) ? data : {};
  } catch {
    return {};
  }
}

/**
 * Repositories on `registry` where the blob was seen.
 *
 * @example
 * ```ts
 * import { knownRepositories } from "./blob_locations.ts";
 * await knownRepositories("localhost:5000", "sha256:" + "a".repeat(64)); // e.g. ["team/base"]
 * ```
 */
export async function knownRepositories(registry: string, digest: string): Promise<string[]> {
  const path = blobLocationCachePath();
  if (!path) return [];
  const data = await load(path);
  const locations = Array.isArray(data[digest]) ? data[digest] : [];
  return locations.filter((l) => l?.registry === registry && typeof l.repository === "string").map((l) => l.repository);
}

/**
 * Records that blobs are in a repository.
 *
 * @example
 * ```ts
 * import { recordBlobLocations } from "./blob_locations.ts";
 * await recordBlobLocations({ registry: "localhost:5000", repository: "app" }, ["sha256:" + "a".repeat(64)]);
 * ```
 */
export async function recordBlobLocations(location: BlobLocation, digests: Iterable<string>): Promise<void> {
  const path = blobLocationCachePath();
  if (!path) return;
  try {
    const data = await load(path);
    for (const digest of digests) {
      const others = (Array.isArray(data[digest]) ? data[digest] : []).filter((l) =>
        l.registry !== location.registry || l.repository !== location.repository
      );
      delete data[digest]; // re-insert: the newest entries come last
      data[digest] = [location, ...others].slice(0, MAX_LOCATIONS);
    }
    const keys = Object.keys(data);
    for (const key of keys.slice(0, Math.max(0, keys.length - MAX_DIGESTS))) delete data[key];
    await Deno.mkdir(join(path, ".."), { recursive: true });
    const tmp = `${path}.${randomSuffix()}`;
    await Deno.writeTextFile(tmp, JSON.stringify(data));
    await Deno.rename(tmp, path);
  } catch {
    // only a hint
  }
}
