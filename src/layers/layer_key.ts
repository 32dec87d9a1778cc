/**
 * Layer keys: a digest of everything that decides a layer's bytes, taken
 * from the commit's own checksums (which already cover content, mode,
 * owner and xattrs), so that an unchanged layer is recognised without
 * reading or compressing anything.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { type Compression, DEFAULT_LEVELS } from "../compress/compression.ts";
import type { TreeEntry } from "../ostree/tree.ts";

/**
 * Version of the layer encoding (tar writer, excluded xattrs, compressor
 * block layout). Bump it whenever the bytes of a layer for the same entries
 * change, so that old cached layers are not reused.
 */
export const LAYER_FORMAT_VERSION = 2; // 2: no hardlinks for empty files or under etc/ and var/

/**
 * The key of a layer with these entries (in tar order), compression and
 * level (default: the compression's default level).
 *
 * @example
 * ```ts
 * import { layerKey } from "./layer_key.ts";
 * const key = layerKey([], "gzip"); // "sha256:…"
 * ```
 */
export function layerKey(entries: Iterable<TreeEntry>, compression: Compression, level?: number): string {
  const hash = createHash("sha256");
  // Hashed ~64 KB at a time: one update per entry cost more than the hashing.
  let text = `apt-ostree layer v${LAYER_FORMAT_VERSION} ${compression} ${level ?? DEFAULT_LEVELS[compression]}\n`;
  for (const e of entries) {
    // Directories: the dirmeta checksum (mode, owner, xattrs); the dirtree
    // checksum would change with content that lives in other layers.
    const identity = e.kind === "directory" ? e.metaChecksum ?? `${e.mode}:${e.uid}:${e.gid}` : e.checksum;
    text += `${e.kind} ${identity} ${e.xattrs.length} ${e.path}\0${e.target ?? ""}\n`;
    if (text.length >= 65536) {
      hash.update(text);
      text = "";
    }
  }
  hash.update(text);
  return `sha256:${hash.digest("hex")}`;
}
