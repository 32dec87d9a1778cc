/**
 * OSTree's metadata objects, decoded from their bytes (GVariant, see
 * `gvariant.ts`): commits `(a{sv}aya(say)sstayay)`, dirtrees
 * `(a(say)a(sayay))`, dirmetas `(uuua(ayay))`, the header of archive-mode
 * file objects `(tuuuusa(ayay))` and the `user.ostreemeta` xattr of
 * bare-user objects `(uuua(ayay))`. OSTree stores uid, gid, mode, file
 * sizes and commit times big-endian inside these little-endian variants.
 *
 * Every parser throws a {@linkcode GVariantError} on bytes that do not fit
 * the format; callers name the object.
 *
 * @module
 */

import {
  arrayElements,
  decodeGVariant,
  decodeGVariantString,
  GVariantError,
  type GVariantType,
  type GVariantValue,
  parseGVariantType,
  readUint64BE,
  swap32,
  tupleMembers,
} from "./gvariant.ts";
import type { Xattr } from "./tree.ts";

const COMMIT = parseGVariantType("(a{sv}aya(say)sstayay)");
const DIRTREE = parseGVariantType("(a(say)a(sayay))");
const DIRMETA = parseGVariantType("(uuua(ayay))");
const ZLIB_FILE_HEADER = parseGVariantType("(tuuuusa(ayay))");
const XATTRS = parseGVariantType("a(ayay)");
const METADATA = parseGVariantType("a{sv}");

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * Lower-case hex of bytes.
 *
 * @example
 * ```ts
 * import { toHex } from "./objects.ts";
 * toHex(new Uint8Array([0xde, 0xad])); // "dead"
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]];
  return out;
}

function checksumOf(bytes: Uint8Array, what: string): string {
  if (bytes.length !== 32) throw new GVariantError(`${what} is ${bytes.length} bytes, not a SHA-256 checksum`);
  return toHex(bytes);
}

function u32(data: Uint8Array, at: number): number {
  return (data[at] | (data[at + 1] << 8) | (data[at + 2] << 16)) + data[at + 3] * 0x1000000;
}

/** A decoded commit object. */
export interface CommitObject {
  /** The metadata dictionary. */
  metadata: Map<string, GVariantValue>;
  /** Parent checksum, undefined for a root commit. */
  parent: string | undefined;
  /** Subject line. */
  subject: string;
  /** Body. */
  body: string;
  /** Seconds since the epoch. */
  timestamp: number;
  /** Root dirtree checksum. */
  rootContents: string;
  /** Root dirmeta checksum. */
  rootMetadata: string;
}

/**
 * Decodes a `.commit` object.
 *
 * @example
 * ```ts
 * import { parseCommitObject } from "./objects.ts";
 * const commit = parseCommitObject(Deno.readFileSync("repo/objects/ab/cdef….commit"));
 * commit.rootContents; // the root dirtree checksum
 * ```
 */
export function parseCommitObject(data: Uint8Array): CommitObject {
  const [meta, parent, _related, subject, body, timestamp, contents, metadataChecksum] = tupleMembers(COMMIT, data);
  const metadata = new Map<string, GVariantValue>();
  for (const [k, v] of decodeGVariant(METADATA, meta) as Map<GVariantValue, GVariantValue>) metadata.set(String(k), v);
  return {
    metadata,
    parent: parent.length === 0 ? undefined : checksumOf(parent, "the parent"),
    subject: decodeGVariantString(subject),
    body: decodeGVariantString(body),
    timestamp: readUint64BE(timestamp),
    rootContents: checksumOf(contents, "the root dirtree"),
    rootMetadata: checksumOf(metadataChecksum, "the root dirmeta"),
  };
}

/** A file of a dirtree: its name and content object checksum. */
export interface DirTreeFile {
  /** File name. */
  name: string;
  /** Content object checksum. */
  checksum: string;
}

/** A subdirectory of a dirtree. */
export interface DirTreeDir {
  /** Directory name. */
  name: string;
  /** Its dirtree checksum. */
  tree: string;
  /** Its dirmeta checksum. */
  meta: string;
}

/** A decoded dirtree object: files and subdirectories, each sorted by name. */
export interface DirTree {
  /** Regular files and symlinks. */
  files: DirTreeFile[];
  /** Subdirectories. */
  dirs: DirTreeDir[];
}

const NAME_ITEM = parseGVariantType("(say)");
const DIR_ITEM = parseGVariantType("(sayay)");
const FILES = parseGVariantType("a(say)");
const DIRS = parseGVariantType("a(sayay)");

function checkName(name: string): string {
  if (name === "" || name === "." || name === ".." || name.includes("/")) {
    throw new GVariantError(`invalid file name '${name}'`);
  }
  return name;
}

/**
 * Decodes a `.dirtree` object. A name that is not valid UTF-8 raises a
 * `GVariantUtf8Error` carrying its lossy rendering.
 *
 * @example
 * ```ts
 * import { parseDirTree } from "./objects.ts";
 * const { files, dirs } = parseDirTree(Deno.readFileSync("repo/objects/ab/cdef….dirtree"));
 * ```
 */
export function parseDirTree(data: Uint8Array): DirTree {
  const [filesData, dirsData] = tupleMembers(DIRTREE, data);
  const files = arrayElements(FILES, filesData).map((item) => {
    const [name, checksum] = tupleMembers(NAME_ITEM, item);
    return { name: checkName(decodeGVariantString(name)), checksum: checksumOf(checksum, "a file checksum") };
  });
  const dirs = arrayElements(DIRS, dirsData).map((item) => {
    const [name, tree, meta] = tupleMembers(DIR_ITEM, item);
    return {
      name: checkName(decodeGVariantString(name)),
      tree: checksumOf(tree, "a dirtree checksum"),
      meta: checksumOf(meta, "a dirmeta checksum"),
    };
  });
  const names = new Set<string>();
  for (const { name } of [...files, ...dirs]) {
    if (names.has(name)) throw new GVariantError(`the name '${name}' appears twice`);
    names.add(name);
  }
  return { files, dirs };
}

/** Owner, mode (with the file type bits) and xattrs, as dirmeta and file objects record them. */
export interface ObjectMeta {
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** `st_mode`: file type and permission bits. */
  mode: number;
  /** Extended attributes. */
  xattrs: Xattr[];
}

/**
 * Decodes `a(ayay)` extended attributes (names stored NUL-terminated).
 *
 * @example
 * ```ts
 * import { parseXattrs } from "./objects.ts";
 * parseXattrs(new Uint8Array(0)); // []
 * ```
 */
export function parseXattrs(data: Uint8Array): Xattr[] {
  if (data.length === 0) return [];
  return arrayElements(XATTRS, data).map((item) => {
    const [name, value] = tupleMembers(XATTRS.element!, item);
    const end = name.indexOf(0);
    return {
      name: new TextDecoder().decode(end >= 0 ? name.subarray(0, end) : name),
      value: value.slice(),
    };
  });
}

/** Bytes a GVariant framing offset takes in a container of `size` bytes of content and `count` offsets. */
function offsetSize(content: number, count: number): number {
  if (content === 0 && count === 0) return 0;
  for (const size of [1, 2, 4]) {
    if (content + count * size < 2 ** (8 * size)) return size;
  }
  return 8;
}

function writeOffset(out: Uint8Array, at: number, size: number, value: number): void {
  for (let i = 0; i < size; i++) out[at + i] = Math.floor(value / 2 ** (8 * i)) & 0xff;
}

const encoder = new TextEncoder();

/**
 * Encodes extended attributes as GVariant `a(ayay)` (names NUL-terminated),
 * sorted by name as libostree canonicalises them: the bytes a
 * `bare-split-xattrs` repository keeps in `<checksum>.file-xattrs-link` and
 * that a content object's checksum covers. No attributes give no bytes.
 *
 * @example
 * ```ts
 * import { parseXattrs, serializeXattrs } from "./objects.ts";
 * const bytes = serializeXattrs([{ name: "user.a", value: new Uint8Array([1]) }]);
 * parseXattrs(bytes)[0].name; // "user.a"
 * ```
 */
export function serializeXattrs(xattrs: readonly Xattr[]): Uint8Array {
  const items = xattrs.map((x) => {
    const name = encoder.encode(x.name + "\0");
    const content = name.length + x.value.length;
    const size = offsetSize(content, 1);
    const item = new Uint8Array(content + size);
    item.set(name, 0);
    item.set(x.value, name.length);
    writeOffset(item, content, size, name.length);
    return { name, item };
  });
  items.sort((a, b) => compareBytes(a.name, b.name));
  const content = items.reduce((n, i) => n + i.item.length, 0);
  const size = offsetSize(content, items.length);
  const out = new Uint8Array(content + items.length * size);
  let at = 0;
  items.forEach(({ item }, i) => {
    out.set(item, at);
    at += item.length;
    writeOffset(out, content + i * size, size, at);
  });
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function uidGidMode(type: GVariantType, data: Uint8Array): ObjectMeta {
  const [uid, gid, mode, xattrs] = tupleMembers(type, data);
  return {
    uid: swap32(u32(uid, 0)),
    gid: swap32(u32(gid, 0)),
    mode: swap32(u32(mode, 0)),
    xattrs: parseXattrs(xattrs),
  };
}

/**
 * Decodes a `.dirmeta` object (or a bare-user object's `user.ostreemeta`
 * xattr, which has the same format).
 *
 * @example
 * ```ts
 * import { parseDirMeta } from "./objects.ts";
 * const meta = parseDirMeta(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x41, 0xed]));
 * meta.mode.toString(8); // "40755"
 * ```
 */
export function parseDirMeta(data: Uint8Array): ObjectMeta {
  return uidGidMode(DIRMETA, data);
}

/** What an archive-mode file header records. */
export interface FileHeader extends ObjectMeta {
  /** Content size in bytes. */
  size: number;
  /** Symlink target ("" for regular files). */
  target: string;
}

/**
 * Decodes the header of an archive-mode `.filez` object: a 4-byte
 * big-endian length, 4 bytes of padding, then `(tuuuusa(ayay))`. `data` may
 * hold more than the header (the compressed content that follows is
 * ignored); it must hold the whole header.
 *
 * @example
 * ```ts
 * import { parseArchiveFileHeader } from "./objects.ts";
 * const header = parseArchiveFileHeader(Deno.readFileSync("repo/objects/ab/cdef….filez"));
 * header.size; header.mode; header.target;
 * ```
 */
export function parseArchiveFileHeader(data: Uint8Array): FileHeader {
  const length = archiveHeaderLength(data);
  if (data.length < 8 + length) throw new GVariantError(`truncated header (${length} bytes announced)`);
  const [size, uid, gid, mode, rdev, target, xattrs] = tupleMembers(
    ZLIB_FILE_HEADER,
    data.subarray(8, 8 + length),
  );
  if (u32(rdev, 0) !== 0) throw new GVariantError(`invalid rdev ${swap32(u32(rdev, 0))}`);
  return {
    size: readUint64BE(size),
    uid: swap32(u32(uid, 0)),
    gid: swap32(u32(gid, 0)),
    mode: swap32(u32(mode, 0)),
    target: decodeGVariantString(target),
    xattrs: parseXattrs(xattrs),
  };
}

/**
 * The length of an archive-mode file header (its first 4 bytes, big-endian),
 * not counting the 8 bytes of length and padding before it.
 *
 * @example
 * ```ts
 * import { archiveHeaderLength } from "./objects.ts";
 * archiveHeaderLength(new Uint8Array([0, 0, 0, 40, 0, 0, 0, 0])); // 40
 * ```
 */
export function archiveHeaderLength(data: Uint8Array): number {
  if (data.length < 8) throw new GVariantError(`truncated header (${data.length} bytes)`);
  return ((data[0] << 24) >>> 0) + ((data[1] << 16) | (data[2] << 8) | data[3]);
}
