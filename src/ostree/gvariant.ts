/**
 * A decoder for GVariant's binary serialisation (the format of OSTree's
 * objects), written from the GVariant specification: every type has an
 * alignment (1, 2, 4 or 8) and is either fixed-size or variable-size;
 * containers of variable-size children end with framing offsets whose width
 * (0, 1, 2, 4 or 8 bytes) depends on the container's size; integers are
 * little-endian (OSTree stores some of them byte-swapped: see
 * {@linkcode swap32}).
 *
 * Values map to JavaScript as follows: `s`, `o`, `g` to `string`; `ay` to a
 * `Uint8Array` (a view into the input, not a copy); other integers and `d`
 * to `number` (64-bit integers through `Number`, as the text parser did);
 * `b` to `boolean`; arrays and tuples to arrays; arrays of dictionary
 * entries to `Map`; variants to their inner value; maybes to `null` or the
 * value.
 *
 * Data that does not fit its type (a truncated or corrupt object) raises a
 * {@linkcode GVariantError}; it never yields a wrong value silently.
 *
 * @module
 */

/** A decoded GVariant value, as JavaScript. */
export type GVariantValue =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | GVariantValue[]
  | Map<GVariantValue, GVariantValue>;

/** Raised when bytes are not a valid serialisation of the expected type. */
export class GVariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GVariantError";
  }
}

/** Raised when a string is not valid UTF-8; carries a lossy rendering of it. */
export class GVariantUtf8Error extends GVariantError {
  constructor(readonly lossy: string) {
    super(`string is not valid UTF-8: ${lossy}`);
    this.name = "GVariantUtf8Error";
  }
}

/** A parsed GVariant type. */
export interface GVariantType {
  /** The type string, e.g. `a(say)`. */
  readonly signature: string;
  /** `y`, `s`, … for basic types; `a`, `m`, `(`, `{`, `v` for the others. */
  readonly code: string;
  /** Alignment in bytes (1, 2, 4 or 8). */
  readonly align: number;
  /** Size in bytes when every value of the type has the same size, else undefined. */
  readonly fixedSize: number | undefined;
  /** Element type of `a` and `m`. */
  readonly element?: GVariantType;
  /** Member types of tuples and dictionary entries. */
  readonly members?: readonly GVariantType[];
}

const BASIC: Record<string, { align: number; size: number | undefined }> = {
  b: { align: 1, size: 1 },
  y: { align: 1, size: 1 },
  n: { align: 2, size: 2 },
  q: { align: 2, size: 2 },
  i: { align: 4, size: 4 },
  u: { align: 4, size: 4 },
  h: { align: 4, size: 4 },
  x: { align: 8, size: 8 },
  t: { align: 8, size: 8 },
  d: { align: 8, size: 8 },
  s: { align: 1, size: undefined },
  o: { align: 1, size: undefined },
  g: { align: 1, size: undefined },
};

const typeCache = new Map<string, GVariantType>();

function alignUp(offset: number, align: number): number {
  return (offset + align - 1) & -align;
}

/**
 * Parses a GVariant type string (one complete type).
 *
 * @example
 * ```ts
 * import { parseGVariantType } from "./gvariant.ts";
 * const t = parseGVariantType("(uuua(ayay))");
 * t.align; // 4
 * t.fixedSize; // undefined (the array makes it variable-size)
 * parseGVariantType("(yt)").fixedSize; // 16
 * ```
 */
export function parseGVariantType(signature: string): GVariantType {
  const cached = typeCache.get(signature);
  if (cached) return cached;
  const [type, end] = parseTypeAt(signature, 0);
  if (end !== signature.length) throw new GVariantError(`invalid type string '${signature}'`);
  if (typeCache.size < 256) typeCache.set(signature, type);
  return type;
}

function parseTypeAt(sig: string, start: number): [GVariantType, number] {
  const c = sig[start];
  if (c === undefined) throw new GVariantError(`invalid type string '${sig}'`);
  const basic = BASIC[c];
  if (basic) return [{ signature: c, code: c, align: basic.align, fixedSize: basic.size }, start + 1];
  if (c === "v") return [{ signature: "v", code: "v", align: 8, fixedSize: undefined }, start + 1];
  if (c === "a" || c === "m") {
    const [element, end] = parseTypeAt(sig, start + 1);
    return [{ signature: sig.slice(start, end), code: c, align: element.align, fixedSize: undefined, element }, end];
  }
  if (c === "(" || c === "{") {
    const close = c === "(" ? ")" : "}";
    const members: GVariantType[] = [];
    let pos = start + 1;
    while (sig[pos] !== close) {
      if (pos >= sig.length) throw new GVariantError(`invalid type string '${sig}'`);
      const [member, end] = parseTypeAt(sig, pos);
      members.push(member);
      pos = end;
    }
    if (c === "{" && (members.length !== 2 || !BASIC[members[0].code])) {
      throw new GVariantError(`invalid dictionary entry type in '${sig}'`);
    }
    let align = 1;
    let offset = 0;
    let fixed = true;
    for (const m of members) {
      align = Math.max(align, m.align);
      if (m.fixedSize === undefined) fixed = false;
      else offset = alignUp(offset, m.align) + m.fixedSize;
    }
    // A fixed-size tuple is padded to its alignment; the unit tuple takes one byte.
    const fixedSize = fixed ? (members.length === 0 ? 1 : alignUp(offset, align)) : undefined;
    return [{ signature: sig.slice(start, pos + 1), code: c, align, fixedSize, members }, pos + 1];
  }
  throw new GVariantError(`unsupported type '${c}' in '${sig}'`);
}

/** Width of the framing offsets of a container of `size` bytes. */
function offsetWidth(size: number): number {
  if (size === 0) return 0;
  if (size <= 0xff) return 1;
  if (size <= 0xffff) return 2;
  if (size <= 0xffffffff) return 4;
  return 8;
}

function readOffset(data: Uint8Array, at: number, width: number): number {
  switch (width) {
    case 1:
      return data[at];
    case 2:
      return data[at] | (data[at + 1] << 8);
    case 4:
      return (data[at] | (data[at + 1] << 8) | (data[at + 2] << 16)) + data[at + 3] * 0x1000000;
    default: {
      const low = (data[at] | (data[at + 1] << 8) | (data[at + 2] << 16)) + data[at + 3] * 0x1000000;
      const high = (data[at + 4] | (data[at + 5] << 8) | (data[at + 6] << 16)) + data[at + 7] * 0x1000000;
      return high * 0x100000000 + low;
    }
  }
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true });
const lossyDecoder = new TextDecoder("utf-8");

/**
 * Decodes UTF-8 bytes: short ASCII strings without a `TextDecoder` call
 * (most file names), anything else strictly.
 */
function utf8(bytes: Uint8Array): string {
  const n = bytes.length;
  if (n <= 64) {
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (bytes[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  try {
    return strictDecoder.decode(bytes);
  } catch {
    throw new GVariantUtf8Error(lossyDecoder.decode(bytes));
  }
}

/**
 * Reads a `s`-typed value (bytes ending with one NUL) as a string.
 *
 * @example
 * ```ts
 * import { decodeGVariantString } from "./gvariant.ts";
 * decodeGVariantString(new Uint8Array([0x68, 0x69, 0])); // "hi"
 * ```
 */
export function decodeGVariantString(data: Uint8Array): string {
  const n = data.length;
  if (n === 0 || data[n - 1] !== 0) throw new GVariantError("string is not NUL-terminated");
  const body = data.subarray(0, n - 1);
  if (body.includes(0)) throw new GVariantError("string contains a NUL byte");
  return utf8(body);
}

function view(data: Uint8Array): DataView {
  return new DataView(data.buffer, data.byteOffset, data.byteLength);
}

function decodeBasic(code: string, data: Uint8Array): GVariantValue {
  switch (code) {
    case "b":
      if (data[0] > 1) throw new GVariantError(`invalid boolean byte ${data[0]}`);
      return data[0] === 1;
    case "y":
      return data[0];
    case "n":
      return view(data).getInt16(0, true);
    case "q":
      return view(data).getUint16(0, true);
    case "i":
    case "h":
      return view(data).getInt32(0, true);
    case "u":
      return view(data).getUint32(0, true);
    case "x":
      return Number(view(data).getBigInt64(0, true));
    case "t":
      return Number(view(data).getBigUint64(0, true));
    case "d":
      return view(data).getFloat64(0, true);
    default:
      return decodeGVariantString(data);
  }
}

/**
 * Splits a serialised tuple (or dictionary entry) into its members' bytes.
 *
 * @example
 * ```ts
 * import { parseGVariantType, tupleMembers } from "./gvariant.ts";
 * // ("a", "b"): 'a' NUL 'b' NUL, then the end of the first member (2).
 * const [a, b] = tupleMembers(parseGVariantType("(ss)"), new Uint8Array([0x61, 0, 0x62, 0, 2]));
 * ```
 */
export function tupleMembers(type: GVariantType, data: Uint8Array): Uint8Array[] {
  const members = type.members!;
  const width = offsetWidth(data.length);
  let frameEnd = data.length;
  let offset = 0;
  const out: Uint8Array[] = [];
  for (let i = 0; i < members.length; i++) {
    const member = members[i];
    offset = alignUp(offset, member.align);
    let end: number;
    if (member.fixedSize !== undefined) {
      end = offset + member.fixedSize;
    } else if (i === members.length - 1) {
      end = frameEnd;
    } else {
      frameEnd -= width;
      if (frameEnd < offset) throw new GVariantError(`truncated ${type.signature}`);
      end = readOffset(data, frameEnd, width);
    }
    if (end < offset || end > frameEnd) throw new GVariantError(`bad framing in ${type.signature}`);
    out.push(data.subarray(offset, end));
    offset = end;
  }
  if (type.fixedSize !== undefined && data.length !== type.fixedSize) {
    throw new GVariantError(`${type.signature} has ${data.length} bytes, expected ${type.fixedSize}`);
  }
  return out;
}

/**
 * Splits a serialised array into its elements' bytes.
 *
 * @example
 * ```ts
 * import { arrayElements, parseGVariantType } from "./gvariant.ts";
 * arrayElements(parseGVariantType("au"), new Uint8Array(8)).length; // 2
 * ```
 */
export function arrayElements(type: GVariantType, data: Uint8Array): Uint8Array[] {
  const element = type.element!;
  const n = data.length;
  if (element.fixedSize !== undefined) {
    const size = element.fixedSize;
    if (n % size !== 0) throw new GVariantError(`${type.signature} of ${n} bytes is not a whole number of elements`);
    const out: Uint8Array[] = new Array(n / size);
    for (let i = 0; i < out.length; i++) out[i] = data.subarray(i * size, (i + 1) * size);
    return out;
  }
  if (n === 0) return [];
  const width = offsetWidth(n);
  const tableStart = readOffset(data, n - width, width);
  if (tableStart > n - width || (n - tableStart) % width !== 0) {
    throw new GVariantError(`bad framing offsets in ${type.signature}`);
  }
  const count = (n - tableStart) / width;
  const out: Uint8Array[] = new Array(count);
  let start = 0;
  for (let i = 0; i < count; i++) {
    start = alignUp(start, element.align);
    const end = readOffset(data, tableStart + i * width, width);
    if (end < start || end > tableStart) throw new GVariantError(`bad framing offsets in ${type.signature}`);
    out[i] = data.subarray(start, end);
    start = end;
  }
  return out;
}

/**
 * Decodes serialised GVariant bytes of a known type.
 *
 * @example
 * ```ts
 * import { decodeGVariant, parseGVariantType } from "./gvariant.ts";
 * // (uuua(ayay)) as in an OSTree dirmeta object: uid 0, gid 0, mode 0o40755 (stored big-endian), no xattrs.
 * const bytes = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x41, 0xed]);
 * decodeGVariant(parseGVariantType("(uuua(ayay))"), bytes); // [0, 0, 3980460032, []]
 * ```
 */
export function decodeGVariant(type: GVariantType, data: Uint8Array): GVariantValue {
  const code = type.code;
  if (type.fixedSize !== undefined && data.length !== type.fixedSize) {
    throw new GVariantError(`${type.signature} has ${data.length} bytes, expected ${type.fixedSize}`);
  }
  if (BASIC[code]) return decodeBasic(code, data);
  switch (code) {
    case "a": {
      const element = type.element!;
      if (element.code === "y") return data;
      const items = arrayElements(type, data);
      if (element.code === "{") {
        const map = new Map<GVariantValue, GVariantValue>();
        for (const item of items) {
          const [k, v] = tupleMembers(element, item);
          map.set(decodeGVariant(element.members![0], k), decodeGVariant(element.members![1], v));
        }
        return map;
      }
      return items.map((item) => decodeGVariant(element, item));
    }
    case "m": {
      const element = type.element!;
      if (data.length === 0) return null;
      if (element.fixedSize !== undefined) return decodeGVariant(element, data);
      if (data[data.length - 1] !== 0) throw new GVariantError(`bad maybe ${type.signature}`);
      return decodeGVariant(element, data.subarray(0, data.length - 1));
    }
    case "(":
    case "{": {
      const parts = tupleMembers(type, data);
      return parts.map((part, i) => decodeGVariant(type.members![i], part));
    }
    case "v": {
      const sep = data.lastIndexOf(0);
      if (sep < 0) throw new GVariantError("variant without a type");
      const inner = parseGVariantType(new TextDecoder().decode(data.subarray(sep + 1)));
      return decodeGVariant(inner, data.subarray(0, sep));
    }
  }
  throw new GVariantError(`unsupported type ${type.signature}`);
}

/**
 * Byte-swaps a 32-bit unsigned integer (OSTree stores uid, gid and mode
 * big-endian inside little-endian GVariants).
 *
 * @example
 * ```ts
 * import { swap32 } from "./gvariant.ts";
 * swap32(0xed410000); // 0x41ed (0o40755)
 * ```
 */
export function swap32(value: number): number {
  return (((value & 0xff) << 24) | ((value & 0xff00) << 8) | ((value >>> 8) & 0xff00) | (value >>> 24)) >>> 0;
}

/**
 * Reads a big-endian `t` (as OSTree stores commit timestamps and archive
 * file sizes) from its 8 serialised bytes.
 *
 * @example
 * ```ts
 * import { readUint64BE } from "./gvariant.ts";
 * readUint64BE(new Uint8Array([0, 0, 0, 0, 0, 0, 1, 0])); // 256
 * ```
 */
export function readUint64BE(data: Uint8Array): number {
  if (data.length !== 8) throw new GVariantError(`a uint64 needs 8 bytes, got ${data.length}`);
  return Number(view(data).getBigUint64(0, false));
}
