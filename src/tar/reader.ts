/**
 * A streaming tar reader for image layers: ustar, POSIX PAX (local and
 * global headers; `path`, `linkpath`, `size`, `uid`, `gid`, and xattrs as
 * `SCHILY.xattr.*` or `LIBARCHIVE.xattr.*` with their binary values kept
 * byte for byte) and GNU long names, with base-256 numbers and checked
 * header checksums. Contents are never held whole: {@linkcode TarReader.body}
 * yields them in the chunks they arrive in.
 *
 * Why our own: npm tar readers decode xattr values as UTF-8 (corrupting
 * `security.capability`), and a layer is untrusted input that deserves a
 * reader whose every branch we know.
 *
 * It only parses; what entries may do to a tree is decided by
 * `apply_layer.ts`.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import type { Xattr } from "../util/xattr.ts";

/** Entry types a layer can hold. */
export type TarEntryType = "file" | "hardlink" | "symlink" | "directory" | "char" | "block" | "fifo";

/** One entry's header, with PAX and GNU extensions applied. */
export interface TarEntry {
  /** Path as stored (not normalised: may start with `./`, `/`, hold `..`). */
  path: string;
  /** Entry type. */
  type: TarEntryType;
  /** Permission bits including setuid, setgid, sticky. */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Content size (regular files; 0 for others). */
  size: number;
  /** Modification time, seconds. */
  mtime: number;
  /** Symlink target or hardlink target path. */
  linkTarget?: string;
  /** Extended attributes with their exact bytes. */
  xattrs: Xattr[];
}

/** The raw fields of a 512-byte header. */
export interface RawTarHeader {
  /** Name, with the ustar prefix joined. */
  name: Uint8Array;
  /** Mode field. */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Size field. */
  size: number;
  /** mtime field. */
  mtime: number;
  /** Type flag character. */
  typeflag: string;
  /** Link name field. */
  linkname: Uint8Array;
}

/** Tar block size. */
export const TAR_BLOCK = 512;

function tarError(where: string, why: string): AptOstreeError {
  return new AptOstreeError(`Invalid tar data in ${where}: ${why}`, {
    solution: "The layer is damaged or not a tar archive; nothing was imported",
  });
}

function cString(block: Uint8Array, offset: number, length: number): Uint8Array {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return end < 0 ? field : field.subarray(0, end);
}

function parseNumber(block: Uint8Array, offset: number, length: number, where: string, field: string): number {
  const bytes = block.subarray(offset, offset + length);
  if (bytes[0] & 0x80) {
    // base-256 (GNU): big-endian two's complement; negative values are refused.
    if (bytes[0] & 0x40) throw tarError(where, `negative ${field}`);
    let value = bytes[0] & 0x3f;
    for (let i = 1; i < bytes.length; i++) {
      value = value * 256 + bytes[i];
      if (!Number.isSafeInteger(value)) throw tarError(where, `${field} too large`);
    }
    return value;
  }
  let text = "";
  for (const b of bytes) {
    if (b === 0) break;
    text += String.fromCharCode(b);
  }
  text = text.trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw tarError(where, `bad ${field} field '${text}'`);
  return parseInt(text, 8);
}

/**
 * Parses one header block; returns `"zero"` for an all-zero block (the end
 * of the archive). Throws on a bad checksum.
 *
 * @example
 * ```ts
 * import { parseTarHeader } from "./reader.ts";
 * parseTarHeader(new Uint8Array(512), "test"); // "zero"
 * ```
 */
export function parseTarHeader(block: Uint8Array, where: string): RawTarHeader | "zero" {
  let zero = true;
  for (let i = 0; i < TAR_BLOCK; i++) {
    if (block[i] !== 0) {
      zero = false;
      break;
    }
  }
  if (zero) return "zero";
  const stored = parseNumber(block, 148, 8, where, "checksum");
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += b;
    signed += b >= 0x80 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) throw tarError(where, "header checksum mismatch");
  const magic = new TextDecoder().decode(block.subarray(257, 263));
  let name = cString(block, 0, 100);
  if (magic === "ustar\0") {
    const prefix = cString(block, 345, 155);
    if (prefix.length > 0) {
      const joined = new Uint8Array(prefix.length + 1 + name.length);
      joined.set(prefix);
      joined[prefix.length] = 0x2f;
      joined.set(name, prefix.length + 1);
      name = joined;
    }
  }
  return {
    name,
    mode: parseNumber(block, 100, 8, where, "mode"),
    uid: parseNumber(block, 108, 8, where, "uid"),
    gid: parseNumber(block, 116, 8, where, "gid"),
    size: parseNumber(block, 124, 12, where, "size"),
    mtime: parseNumber(block, 136, 12, where, "mtime"),
    typeflag: String.fromCharCode(block[156]),
    linkname: cString(block, 157, 100),
  };
}

/**
 * Parses PAX extended header records (`"<len> <key>=<value>\n"`), keeping
 * values as bytes.
 *
 * @example
 * ```ts
 * import { parsePaxRecords } from "./reader.ts";
 * const records = parsePaxRecords(new TextEncoder().encode("11 path=ab\n"), "test");
 * new TextDecoder().decode(records.get("path")); // "ab"
 * ```
 */
export function parsePaxRecords(data: Uint8Array, where: string): Map<string, Uint8Array> {
  const records = new Map<string, Uint8Array>();
  let offset = 0;
  while (offset < data.length) {
    if (data[offset] === 0) break; // padding
    const space = data.indexOf(0x20, offset);
    if (space < 0) throw tarError(where, "bad PAX record");
    const length = Number(new TextDecoder().decode(data.subarray(offset, space)));
    if (!Number.isSafeInteger(length) || length <= space - offset || offset + length > data.length) {
      throw tarError(where, "bad PAX record length");
    }
    const record = data.subarray(space + 1, offset + length);
    if (record[record.length - 1] !== 0x0a) throw tarError(where, "PAX record without newline");
    const eq = record.indexOf(0x3d);
    if (eq < 0) throw tarError(where, "PAX record without '='");
    const key = new TextDecoder().decode(record.subarray(0, eq));
    records.set(key, record.slice(eq + 1, record.length - 1));
    offset += length;
  }
  return records;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeName(bytes: Uint8Array, where: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new AptOstreeError(`A file name in ${where} is not valid UTF-8`, {
      solution: "OSTree and bootc need UTF-8 file names; rebuild the image with UTF-8 names",
    });
  }
}

function paxNumber(value: Uint8Array, where: string, key: string): number {
  const text = new TextDecoder().decode(value).trim();
  if (!/^\d+(\.\d+)?$/.test(text)) throw tarError(where, `bad PAX ${key} '${text}'`);
  const n = Math.floor(Number(text));
  if (!Number.isSafeInteger(n)) throw tarError(where, `PAX ${key} too large`);
  return n;
}

/** Reads bytes from a stream: exact reads for headers, pass-through slices for contents. */
class ByteSource {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private chunk: Uint8Array = new Uint8Array(0);
  private pos = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.getReader();
  }

  private async fill(): Promise<boolean> {
    while (this.pos >= this.chunk.length) {
      const { done, value } = await this.reader.read();
      if (done) return false;
      this.chunk = value;
      this.pos = 0;
    }
    return true;
  }

  /** Reads exactly `n` bytes; undefined at a clean end of stream. */
  async readExact(n: number, where: string): Promise<Uint8Array | undefined> {
    if (!(await this.fill())) return undefined;
    if (this.chunk.length - this.pos >= n) {
      const out = this.chunk.subarray(this.pos, this.pos + n);
      this.pos += n;
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      if (!(await this.fill())) throw tarError(where, "unexpected end of data (truncated)");
      const take = Math.min(n - filled, this.chunk.length - this.pos);
      out.set(this.chunk.subarray(this.pos, this.pos + take), filled);
      this.pos += take;
      filled += take;
    }
    return out;
  }

  /** Yields the next `n` bytes as slices. */
  async *take(n: number, where: string): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      if (!(await this.fill())) throw tarError(where, "unexpected end of data (truncated)");
      const take = Math.min(left, this.chunk.length - this.pos);
      const out = this.chunk.subarray(this.pos, this.pos + take);
      this.pos += take;
      left -= take;
      yield out;
    }
  }

  async skip(n: number, where: string): Promise<void> {
    for await (const _ of this.take(n, where)) {
      // discard
    }
  }

  /** Reads and discards everything left. */
  async drain(): Promise<void> {
    this.pos = this.chunk.length;
    for (;;) {
      const { done } = await this.reader.read();
      if (done) return;
    }
  }

  async cancel(reason: unknown): Promise<void> {
    await this.reader.cancel(reason).catch(() => {});
  }
}

/**
 * Reads a tar stream entry by entry.
 *
 * @example
 * ```ts
 * import { TarReader } from "./reader.ts";
 * const tar = new TarReader(ReadableStream.from([new Uint8Array(1024)]), "empty.tar");
 * await tar.next(); // undefined: end of archive
 * ```
 */
export class TarReader {
  private readonly source: ByteSource;
  private pending = 0;
  private pendingPadding = 0;
  private ended = false;
  private globals = new Map<string, Uint8Array>();

  constructor(stream: ReadableStream<Uint8Array>, private readonly where: string) {
    this.source = new ByteSource(stream);
  }

  /** Moves to the next entry (skipping what is left of the current one); undefined at the end. */
  async next(): Promise<TarEntry | undefined> {
    if (this.ended) return undefined;
    await this.skipRest();
    let local = new Map<string, Uint8Array>();
    let longName: Uint8Array | undefined;
    let longLink: Uint8Array | undefined;
    let extendedBytes = 0; // PAX and GNU headers in front of this entry
    for (;;) {
      const block = await this.source.readExact(TAR_BLOCK, this.where);
      if (block === undefined) {
        // A stream that ends without the two zero blocks: accepted, as GNU tar does (with a warning there).
        this.ended = true;
        return undefined;
      }
      const header = parseTarHeader(block, this.where);
      if (header === "zero") {
        this.ended = true;
        await this.source.drain();
        return undefined;
      }
      const padded = Math.ceil(header.size / TAR_BLOCK) * TAR_BLOCK;
      switch (header.typeflag) {
        case "x":
        case "g": {
          if (header.size > 16 << 20) throw tarError(this.where, "PAX header larger than 16 MiB");
          // Repeated headers must not pile up without bound (a small gzip can hold many).
          extendedBytes += header.size;
          if (extendedBytes > 16 << 20) throw tarError(this.where, "extended headers larger than 16 MiB for one entry");
          const data = await this.readData(header.size, padded);
          const records = parsePaxRecords(data, this.where);
          if (header.typeflag === "g") {
            for (const [k, v] of records) this.globals.set(k, v);
            let globalBytes = 0;
            for (const [k, v] of this.globals) globalBytes += k.length + v.length;
            if (globalBytes > 16 << 20) throw tarError(this.where, "global PAX headers larger than 16 MiB");
          } else local = new Map([...local, ...records]);
          continue;
        }
        case "L":
        case "K": {
          if (header.size > 1 << 20) throw tarError(this.where, "GNU long name larger than 1 MiB");
          extendedBytes += header.size;
          if (extendedBytes > 16 << 20) throw tarError(this.where, "extended headers larger than 16 MiB for one entry");
          const data = await this.readData(header.size, padded);
          const end = data.indexOf(0);
          const value = (end < 0 ? data : data.subarray(0, end)).slice();
          if (header.typeflag === "L") longName = value;
          else longLink = value;
          continue;
        }
        case "V":
          await this.source.skip(padded, this.where);
          continue;
      }
      const pax = new Map([...this.globals, ...local]);
      const entry = this.buildEntry(header, pax, longName, longLink);
      // As Go's archive/tar (which Docker uses): only regular files carry data; links,
      // directories, devices and FIFOs are header-only, whatever their size field says.
      this.pending = entry.type === "file" ? entry.size : 0;
      this.pendingPadding = Math.ceil(this.pending / TAR_BLOCK) * TAR_BLOCK - this.pending;
      return entry;
    }
  }

  private async readData(size: number, padded: number): Promise<Uint8Array> {
    const data = (await this.source.readExact(padded, this.where)) ??
      (() => {
        throw tarError(this.where, "unexpected end of data (truncated)");
      })();
    return data.subarray(0, size);
  }

  private buildEntry(
    header: RawTarHeader,
    pax: Map<string, Uint8Array>,
    longName: Uint8Array | undefined,
    longLink: Uint8Array | undefined,
  ): TarEntry {
    const where = this.where;
    for (const key of pax.keys()) {
      if (key.startsWith("GNU.sparse.")) {
        throw new AptOstreeError(`${where} holds a sparse file, which is not supported`, {
          solution: "Rebuild the layer without sparse files (GNU tar --sparse)",
        });
      }
    }
    const paxPath = pax.get("path");
    const path = decodeName(paxPath ?? longName ?? header.name, where);
    const paxLink = pax.get("linkpath");
    const linkBytes = paxLink ?? longLink ?? header.linkname;
    let type: TarEntryType;
    switch (header.typeflag) {
      case "0":
      case "\0":
      case "7":
        type = path.endsWith("/") ? "directory" : "file";
        break;
      case "1":
        type = "hardlink";
        break;
      case "2":
        type = "symlink";
        break;
      case "3":
        type = "char";
        break;
      case "4":
        type = "block";
        break;
      case "5":
        type = "directory";
        break;
      case "6":
        type = "fifo";
        break;
      case "S":
        throw new AptOstreeError(`${where} holds a sparse file (${path}), which is not supported`, {
          solution: "Rebuild the layer without sparse files (GNU tar --sparse)",
        });
      default:
        throw tarError(where, `unsupported entry type '${header.typeflag}' for ${path}`);
    }
    const xattrs: { name: string; value: Uint8Array }[] = [];
    for (const [key, value] of pax) {
      if (key.startsWith("SCHILY.xattr.")) {
        xattrs.push({ name: key.slice("SCHILY.xattr.".length), value });
      } else if (key.startsWith("LIBARCHIVE.xattr.")) {
        let name: string;
        let bytes: Uint8Array;
        try {
          name = decodeURIComponent(key.slice("LIBARCHIVE.xattr.".length));
          bytes = Uint8Array.from(atob(new TextDecoder().decode(value)), (c) => c.charCodeAt(0));
        } catch {
          throw tarError(where, `bad ${key} record`);
        }
        if (!xattrs.some((x) => x.name === name)) xattrs.push({ name, value: bytes });
      }
    }
    const size = pax.has("size") ? paxNumber(pax.get("size")!, where, "size") : header.size;
    const entry: TarEntry = {
      path,
      type,
      mode: header.mode & 0o7777,
      uid: pax.has("uid") ? paxNumber(pax.get("uid")!, where, "uid") : header.uid,
      gid: pax.has("gid") ? paxNumber(pax.get("gid")!, where, "gid") : header.gid,
      size: type === "file" ? size : 0,
      mtime: pax.has("mtime") ? paxNumber(pax.get("mtime")!, where, "mtime") : header.mtime,
      xattrs,
    };
    if (type === "hardlink" || type === "symlink") entry.linkTarget = decodeName(linkBytes, where);
    return entry;
  }

  /** The current entry's content, in the chunks it arrives in (exactly its size). */
  async *body(): AsyncGenerator<Uint8Array> {
    const n = this.pending;
    this.pending = 0;
    yield* this.source.take(n, this.where);
  }

  private async skipRest(): Promise<void> {
    if (this.pending > 0) await this.source.skip(this.pending, this.where);
    this.pending = 0;
    if (this.pendingPadding > 0) await this.source.skip(this.pendingPadding, this.where);
    this.pendingPadding = 0;
  }

  /** Stops reading (the stream is cancelled). */
  async cancel(reason?: unknown): Promise<void> {
    await this.source.cancel(reason);
  }
}
