/**
 * Simple signatures in a lookaside directory, laid out as containers/image
 * lays them out: `<dir>/<repository path>@sha256=<hex>/signature-N`, N
 * from 1, read until the first missing one, written to the next free N
 * (never over another signature).
 *
 * @module
 */

import { join } from "node:path";
import { digestHex } from "../digest/digest.ts";
import { fsError } from "../util/fs.ts";
import { normalizeReference } from "./identity.ts";

/**
 * The directory holding the signatures of `digest` for `reference`
 * (`<base>/<repository path>@sha256=<hex>`, the path without the host, as
 * containers/image's `reference.Path`).
 *
 * @example
 * ```ts
 * import { signatureDir } from "./lookaside.ts";
 * signatureDir("/srv/sigs", "localhost:5000/team/web:1", "sha256:" + "a".repeat(64));
 * // "/srv/sigs/team/web@sha256=aaa…"
 * ```
 */
export function signatureDir(base: string, reference: string, digest: string): string {
  const repository = normalizeReference(reference).repository;
  const path = repository.slice(repository.indexOf("/") + 1);
  return join(base, `${path}@sha256=${digestHex(digest)}`);
}

/**
 * Writes a signature as the next `signature-N`; returns its path.
 *
 * @example
 * ```ts
 * import { writeLookasideSignature } from "./lookaside.ts";
 * const path = await writeLookasideSignature("/srv/sigs", "localhost:5000/web:1", "sha256:" + "a".repeat(64), new Uint8Array([1]));
 * ```
 */
export async function writeLookasideSignature(
  base: string,
  reference: string,
  digest: string,
  signature: Uint8Array,
): Promise<string> {
  const dir = signatureDir(base, reference, digest);
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (error) {
    throw fsError("create the signature directory", dir, error);
  }
  for (let n = 1;; n++) {
    const path = join(dir, `signature-${n}`);
    try {
      await Deno.writeFile(path, signature, { createNew: true, mode: 0o644 });
      return path;
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) continue;
      throw fsError("write the signature", path, error);
    }
  }
}

/**
 * Reads every signature of `digest` for `reference` (none when the
 * directory does not exist).
 *
 * @example
 * ```ts
 * import { readLookasideSignatures } from "./lookaside.ts";
 * const signatures = await readLookasideSignatures("/srv/sigs", "localhost:5000/web:1", "sha256:" + "a".repeat(64));
 * ```
 */
export async function readLookasideSignatures(
  base: string,
  reference: string,
  digest: string,
): Promise<{ path: string; bytes: Uint8Array }[]> {
  const dir = signatureDir(base, reference, digest);
  const found: { path: string; bytes: Uint8Array }[] = [];
  for (let n = 1;; n++) {
    const path = join(dir, `signature-${n}`);
    try {
      found.push({ path, bytes: await Deno.readFile(path) });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return found;
      throw fsError("read the signature", path, error);
    }
  }
}
