/**
 * Encodes tar headers: POSIX ustar, with PAX extended headers wherever
 * ustar cannot carry a value exactly (long or non-ASCII paths, big ids and
 * sizes, extended attributes).
 *
 * Why our own writer and not an npm package: `tar-stream` and `modern-tar`
 * re-encode binary xattr values as UTF-8 (corrupting `security.capability`)
 * and `tar-stream` clamps uid/gid above 2097151. This writer keeps values as
 * bytes, writes no uname/gname and a fixed mtime, so that the same tree
 * always gives the same bytes.
 *
 * @module
 */

/** Kinds of entries that a layer holds. */
export type TarEntryType = "file" | "directory" | "symlink" | "hardlink";

/** What a header describes. */
export interface TarHeader {
  /** Path without leading slash; directories get a trailing `/` added. */
  path: string;
  /** Entry type. */
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Content size (regular files only; 0 for others). */
  size: number;
  /** Modification time in seconds (default 0). */
  mtime?: number;
  /** Symlink target or hardlink target path. */
  linkTarget?: string;
  /** Extended attributes, written as PAX `SCHILY.xattr.<name>` records. */
  xattrs?: ReadonlyArray<{ name: string; value: Uint8Array }>;
}

/** Size of a tar block. */
export const BLOCK_SIZE = 512;

const encoder = new TextEncoder();
const pathScratch = new Uint8Array(4096);
const linkScratch = new Uint8Array(300);
const TYPEFLAG: Record<TarEntryType, number> = {
  file: 0x30, // '0'
  hardlink: 0x31, // '1'
  symlink: 0x32, // '2'
  directory: 0x35, // '5'
};
const MAX_OCTAL_8 = 0o7777777; // 2097151: the largest id an 8-byte field holds
const MAX_OCTAL_12 = 0o77777777777; // 8 GiB - 1

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] >= 0x80 || bytes[i] === 0) return false;
  return true;
}

/**
 * Writes `value` as `width - 1` zero-padded octal digits and a NUL, and
 * returns the sum of the bytes written (for the header checksum). No
 * strings: this runs several times for every entry.
 */
function writeOctal(block: Uint8Array, offset: number, width: number, value: number): number {
  let v = value;
  let sum = 0;
  for (let i = offset + width - 2; i >= offset; i--) {
    const digit = 0x30 + (v % 8);
    block[i] = digit;
    sum += digit;
    v = Math.floor(v / 8);
  }
  block[offset + width - 1] = 0;
  return sum;
}

function byteSum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum += bytes[i];
  return sum;
}

const EMPTY = new Uint8Array(0);

/** Splits an ASCII path over ustar's prefix (155) and name (100) fields. */
function splitUstarPath(bytes: Uint8Array): [Uint8Array, Uint8Array] | undefined {
  if (bytes.length <= 100) return [EMPTY, bytes];
  if (bytes.length > 256) return undefined;
  // Find a '/' so that prefix <= 155 and name <= 100 (name non-empty).
  for (let i = Math.max(0, bytes.length - 101); i < Math.min(bytes.length - 1, 156); i++) {
    if (bytes[i] === 0x2f) {
      const prefix = bytes.subarray(0, i);
      const name = bytes.subarray(i + 1);
      if (prefix.length <= 155 && name.length <= 100 && name.length > 0) return [prefix, name];
    }
  }
  return undefined;
}

/** Encodes one PAX record: "<len> <key>=<value>\n", len counting itself. */
function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const keyBytes = encoder.encode(key);
  const base = keyBytes.length + value.length + 3; // ' ', '=', '\n'
  const digits = String(base).length;
  let len = base + digits;
  if (String(len).length > digits) len = base + String(len).length;
  const lenBytes = encoder.encode(String(len));
  const out = new Uint8Array(len);
  let o = 0;
  out.set(lenBytes, o);
  o += lenBytes.length;
  out[o++] = 0x20;
  out.set(keyBytes, o);
  o += keyBytes.length;
  out[o++] = 0x3d;
  out.set(value, o);
  o += value.length;
  out[o++] = 0x0a;
  return out;
}

/** The fields every header shares: magic, version, device numbers (set once). */
const TEMPLATE = (() => {
  const block = new Uint8Array(BLOCK_SIZE);
  block.set(encoder.encode("ustar\x0000"), 257);
  writeOctal(block, 329, 8, 0);
  writeOctal(block, 337, 8, 0);
  return block;
})();
/** The template's own byte sum, the checksum field counted as eight spaces. */
const TEMPLATE_SUM = byteSum(TEMPLATE) + 8 * 0x20;

interface UstarFields {
  name: Uint8Array;
  prefix: Uint8Array;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: number;
  linkname: Uint8Array;
}

function ustarBlock(fields: UstarFields): Uint8Array {
  const block = new Uint8Array(BLOCK_SIZE);
  writeUstarBlock(block, fields);
  return block;
}

/** Writes a ustar block over the first 512 bytes of `block` (whatever they held). */
function writeUstarBlock(block: Uint8Array, fields: UstarFields): void {
  block.set(TEMPLATE);
  const name = fields.name.subarray(0, 100);
  const linkname = fields.linkname.subarray(0, 100);
  const prefix = fields.prefix.subarray(0, 155);
  block.set(name, 0);
  block[156] = fields.typeflag;
  block.set(linkname, 157);
  // uname and gname stay empty.
  block.set(prefix, 345);
  // Checksum: the sum of all bytes with the checksum field read as spaces, counted as the fields are written.
  const sum = TEMPLATE_SUM + byteSum(name) + byteSum(linkname) + byteSum(prefix) + fields.typeflag +
    writeOctal(block, 100, 8, fields.mode) +
    writeOctal(block, 108, 8, fields.uid) +
    writeOctal(block, 116, 8, fields.gid) +
    writeOctal(block, 124, 12, fields.size) +
    writeOctal(block, 136, 12, fields.mtime);
  writeOctal(block, 148, 7, sum);
  block[155] = 0x20;
}

/**
 * Writes the header of an entry that needs no PAX records (an ASCII path
 * that fits ustar, a short ASCII link target, small ids and size, no
 * xattrs: most entries of a system) straight into `into` at `offset`, and
 * returns 512; returns 0, writing nothing, when the entry needs PAX records
 * or fewer than 512 bytes are left (then use {@linkcode encodeTarHeader}).
 * The bytes are those `encodeTarHeader` returns.
 *
 * @example
 * ```ts
 * import { writeTarHeader } from "./tar_header.ts";
 * const batch = new Uint8Array(1024);
 * writeTarHeader({ path: "etc/hostname", type: "file", mode: 0o644, uid: 0, gid: 0, size: 5 }, batch, 0); // 512
 * ```
 */
export function writeTarHeader(header: TarHeader, into: Uint8Array, offset: number): number {
  if (into.length - offset < BLOCK_SIZE || (header.xattrs !== undefined && header.xattrs.length > 0)) return 0;
  if (header.uid > MAX_OCTAL_8 || header.gid > MAX_OCTAL_8) return 0;
  const size = header.type === "file" ? header.size : 0;
  if (size > MAX_OCTAL_12) return 0;
  const fullPath = header.type === "directory" && !header.path.endsWith("/") ? header.path + "/" : header.path;
  const { read, written } = encoder.encodeInto(fullPath, pathScratch);
  if (read !== fullPath.length) return 0;
  const pathBytes = pathScratch.subarray(0, written);
  if (!isAscii(pathBytes)) return 0;
  const split = splitUstarPath(pathBytes);
  if (!split) return 0;
  let linkname = EMPTY;
  if (header.linkTarget !== undefined) {
    const target = linkScratch.subarray(0, Math.min(linkScratch.length, header.linkTarget.length * 3));
    const link = encoder.encodeInto(header.linkTarget, target);
    if (link.read !== header.linkTarget.length || link.written > 100) return 0;
    linkname = target.subarray(0, link.written);
    if (!isAscii(linkname)) return 0;
  }
  writeUstarBlock(into.subarray(offset, offset + BLOCK_SIZE), {
    name: split[1],
    prefix: split[0],
    mode: header.mode & 0o7777,
    uid: header.uid,
    gid: header.gid,
    size,
    mtime: header.mtime ?? 0,
    typeflag: TYPEFLAG[header.type],
    linkname,
  });
  return BLOCK_SIZE;
}

/** Truncates UTF-8 bytes to at most `max` bytes without splitting a character. */
function truncateUtf8(bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/**
 * Returns the header bytes for one entry: a ustar block, preceded by a PAX
 * extended header (and its data blocks) when needed. Content and its
 * padding are not included.
 *
 * @example
 * ```ts
 * import { encodeTarHeader } from "./tar_header.ts";
 * const bytes = encodeTarHeader({ path: "etc/hostname", type: "file", mode: 0o644, uid: 0, gid: 0, size: 5 });
 * bytes.length; // 512
 * ```
 */
export function encodeTarHeader(header: TarHeader): Uint8Array {
  const fullPath = header.type === "directory" && !header.path.endsWith("/") ? header.path + "/" : header.path;
  // Most paths fit the scratch buffer (its bytes are copied out before the next header is made).
  const { read, written } = encoder.encodeInto(fullPath, pathScratch);
  const pathBytes = read === fullPath.length ? pathScratch.subarray(0, written) : encoder.encode(fullPath);
  const records: Uint8Array[] = [];

  let name: Uint8Array;
  let prefix: Uint8Array = EMPTY;
  const split = isAscii(pathBytes) ? splitUstarPath(pathBytes) : undefined;
  if (split) {
    [prefix, name] = split;
  } else {
    records.push(paxRecord("path", pathBytes));
    name = truncateUtf8(pathBytes, 100);
  }

  let linkname: Uint8Array = EMPTY;
  if (header.linkTarget !== undefined) {
    const linkBytes = encoder.encode(header.linkTarget);
    if (linkBytes.length <= 100 && isAscii(linkBytes)) {
      linkname = linkBytes;
    } else {
      records.push(paxRecord("linkpath", linkBytes));
      linkname = truncateUtf8(linkBytes, 100);
    }
  }

  let uid = header.uid;
  let gid = header.gid;
  if (uid > MAX_OCTAL_8) {
    records.push(paxRecord("uid", encoder.encode(String(uid))));
    uid = 0;
  }
  if (gid > MAX_OCTAL_8) {
    records.push(paxRecord("gid", encoder.encode(String(gid))));
    gid = 0;
  }
  let size = header.type === "file" ? header.size : 0;
  if (size > MAX_OCTAL_12) {
    records.push(paxRecord("size", encoder.encode(String(size))));
    size = 0;
  }
  for (const xattr of header.xattrs ?? []) {
    records.push(paxRecord(`SCHILY.xattr.${xattr.name}`, xattr.value));
  }

  const main = ustarBlock({
    name,
    prefix,
    mode: header.mode & 0o7777,
    uid,
    gid,
    size,
    mtime: header.mtime ?? 0,
    typeflag: TYPEFLAG[header.type],
    linkname,
  });
  if (records.length === 0) return main;

  // Records are sorted by key so that the same entry gives the same bytes.
  records.sort(compareRecordKeys);
  const dataLength = records.reduce((n, r) => n + r.length, 0);
  const paddedData = Math.ceil(dataLength / BLOCK_SIZE) * BLOCK_SIZE;
  const baseName = fullPath.replace(/\/$/, "").split("/").pop() ?? "";
  const paxName = truncateUtf8(encoder.encode(`PaxHeaders/${baseName}`), 100);
  const paxHeader = ustarBlock({
    name: paxName,
    prefix: EMPTY,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: dataLength,
    mtime: 0,
    typeflag: 0x78, // 'x'
    linkname: EMPTY,
  });
  const out = new Uint8Array(BLOCK_SIZE + paddedData + BLOCK_SIZE);
  out.set(paxHeader, 0);
  let o = BLOCK_SIZE;
  for (const r of records) {
    out.set(r, o);
    o += r.length;
  }
  out.set(main, BLOCK_SIZE + paddedData);
  return out;
}

function recordKey(record: Uint8Array): string {
  const space = record.indexOf(0x20);
  const eq = record.indexOf(0x3d, space);
  return new TextDecoder().decode(record.subarray(space + 1, eq));
}

function compareRecordKeys(a: Uint8Array, b: Uint8Array): number {
  const ka = recordKey(a);
  const kb = recordKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Number of zero bytes that pad `size` bytes of content to a whole block.
 *
 * @example
 * ```ts
 * import { paddingFor } from "./tar_header.ts";
 * paddingFor(5); // 507
 * ```
 */
export function paddingFor(size: number): number {
  const rem = size % BLOCK_SIZE;
  return rem === 0 ? 0 : BLOCK_SIZE - rem;
}

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE: Uint8Array = new Uint8Array(2 * BLOCK_SIZE);
