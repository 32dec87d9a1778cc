/**
 * A parser for the GVariant text format that `ostree` prints (`ostree show
 * --raw`, the xattrs column of `ostree ls -X`). It covers what those
 * commands emit: strings, bytestrings, numbers with type keywords, booleans,
 * arrays, tuples, dictionaries, variants, `just`/`nothing` and `@type`
 * annotations.
 *
 * Values map to JavaScript as follows: strings to `string`, bytestrings to
 * `Uint8Array` (including the trailing NUL that the text form leaves
 * implicit), numbers to `number`, booleans to `boolean`, arrays and tuples to
 * arrays, dictionaries to `Map`, variants to their inner value, `nothing` to
 * `null`.
 *
 * @module
 */

/** A value of the GVariant text format, as JavaScript. */
export type GVariantValue =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | GVariantValue[]
  | Map<GVariantValue, GVariantValue>;

const NUMBER_KEYWORDS = new Set([
  "byte",
  "int16",
  "uint16",
  "int32",
  "uint32",
  "int64",
  "uint64",
  "handle",
  "double",
]);

const SIMPLE_ESCAPES: Record<string, number> = {
  "a": 7,
  "b": 8,
  "f": 12,
  "n": 10,
  "r": 13,
  "t": 9,
  "v": 11,
};

/** Raised when the text is not in the subset of the format that we read. */
export class GVariantSyntaxError extends Error {
  constructor(message: string, readonly text: string, readonly position: number) {
    super(`${message} at offset ${position} in GVariant text: ${text.slice(0, 200)}`);
    this.name = "GVariantSyntaxError";
  }
}

/**
 * Parses one GVariant text value starting at `start` and returns it with the
 * offset just past it (trailing white space not consumed).
 *
 * @example
 * ```ts
 * import { parseGVariantTextAt } from "./gvariant_text.ts";
 * const [value, end] = parseGVariantTextAt("[(b'user.a', [byte 0x01])] rest", 0);
 * // value: [[Uint8Array("user.a\0"), [1]]], end: 26
 * ```
 */
export function parseGVariantTextAt(text: string, start: number): [GVariantValue, number] {
  const parser = new Parser(text, start);
  const value = parser.value();
  return [value, parser.pos];
}

/**
 * Parses a whole GVariant text value.
 *
 * @example
 * ```ts
 * import { parseGVariantText } from "./gvariant_text.ts";
 * const meta = parseGVariantText("{'version': <'1.0'>}") as Map<string, unknown>;
 * meta.get("version"); // "1.0"
 * ```
 */
export function parseGVariantText(text: string): GVariantValue {
  const parser = new Parser(text, 0);
  const value = parser.value();
  parser.skipSpace();
  if (parser.pos !== text.length) parser.fail("Unexpected trailing text");
  return value;
}

/**
 * Turns a parsed `ay` value (a bytestring or an array of numbers) into bytes.
 *
 * @example
 * ```ts
 * import { toBytes } from "./gvariant_text.ts";
 * toBytes([1, 2]); // Uint8Array [1, 2]
 * ```
 */
export function toBytes(value: GVariantValue): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value) && value.every((v) => typeof v === "number")) {
    return Uint8Array.from(value as number[]);
  }
  throw new TypeError("GVariant value is not a byte array");
}

class Parser {
  constructor(readonly text: string, public pos: number) {}

  fail(message: string): never {
    throw new GVariantSyntaxError(message, this.text, this.pos);
  }

  skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++;
      else break;
    }
  }

  expect(ch: string): void {
    this.skipSpace();
    if (this.text[this.pos] !== ch) this.fail(`Expected '${ch}'`);
    this.pos++;
  }

  word(): string {
    const t = this.text;
    const start = this.pos;
    while (this.pos < t.length && /[A-Za-z0-9_]/.test(t[this.pos])) this.pos++;
    return t.slice(start, this.pos);
  }

  value(): GVariantValue {
    this.skipSpace();
    const t = this.text;
    const c = t[this.pos];
    if (c === undefined) this.fail("Unexpected end of text");
    if (c === "@") {
      // Type annotation: skip the type string (no spaces in it).
      this.pos++;
      while (this.pos < t.length && !/\s/.test(t[this.pos])) this.pos++;
      return this.value();
    }
    if (c === "[") return this.sequence("[", "]");
    if (c === "(") return this.sequence("(", ")");
    if (c === "{") return this.dict();
    if (c === "<") {
      this.pos++;
      const inner = this.value();
      this.expect(">");
      return inner;
    }
    if (c === "'" || c === '"') return this.string();
    if (c === "b" && (t[this.pos + 1] === "'" || t[this.pos + 1] === '"')) {
      this.pos++;
      return this.bytestring();
    }
    if (/[-+0-9.]/.test(c)) return this.number();
    const word = this.word();
    if (word === "true") return true;
    if (word === "false") return false;
    if (word === "nothing") return null;
    if (word === "just") return this.value();
    if (word === "objectpath" || word === "signature") return this.value();
    if (NUMBER_KEYWORDS.has(word)) {
      this.skipSpace();
      return this.number();
    }
    this.pos -= word.length;
    return this.fail("Unexpected token");
  }

  sequence(open: string, close: string): GVariantValue[] {
    this.expect(open);
    const items: GVariantValue[] = [];
    this.skipSpace();
    if (this.text[this.pos] === close) {
      this.pos++;
      return items;
    }
    for (;;) {
      items.push(this.value());
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === ",") {
        this.pos++;
        this.skipSpace();
        // A one-element tuple is written "(x,)".
        if (this.text[this.pos] === close) {
          this.pos++;
          return items;
        }
        continue;
      }
      if (c === close) {
        this.pos++;
        return items;
      }
      this.fail(`Expected ',' or '${close}'`);
    }
  }

  dict(): Map<GVariantValue, GVariantValue> {
    this.expect("{");
    const map = new Map<GVariantValue, GVariantValue>();
    this.skipSpace();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return map;
    }
    for (;;) {
      const key = this.value();
      this.skipSpace();
      const sep = this.text[this.pos];
      if (sep !== ":" && sep !== ",") this.fail("Expected ':' in dictionary");
      this.pos++;
      const value = this.value();
      map.set(key, value);
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === ",") {
        this.pos++;
        continue;
      }
      if (c === "}") {
        this.pos++;
        return map;
      }
      this.fail("Expected ',' or '}'");
    }
  }

  number(): number {
    const t = this.text;
    const start = this.pos;
    while (this.pos < t.length && /[-+0-9a-fA-FxX.eEinfa]/.test(t[this.pos])) this.pos++;
    const raw = t.slice(start, this.pos);
    let value: number;
    if (/^[-+]?0[xX][0-9a-fA-F]+$/.test(raw)) {
      const negative = raw.startsWith("-");
      value = parseInt(raw.replace(/^[-+]/, ""), 16) * (negative ? -1 : 1);
    } else if (/^[-+]?0[0-7]+$/.test(raw)) {
      value = parseInt(raw, 8);
    } else {
      value = Number(raw);
    }
    if (raw === "" || Number.isNaN(value)) {
      this.pos = start;
      this.fail("Invalid number");
    }
    return value;
  }

  /** Reads the raw code points of a quoted literal, resolving escapes. */
  quoted(bytes: boolean): number[] {
    const t = this.text;
    const quote = t[this.pos];
    this.pos++;
    const out: number[] = [];
    for (;;) {
      if (this.pos >= t.length) this.fail("Unterminated string");
      const c = t[this.pos];
      if (c === quote) {
        this.pos++;
        return out;
      }
      if (c !== "\\") {
        const cp = t.codePointAt(this.pos)!;
        this.pos += cp > 0xffff ? 2 : 1;
        if (bytes && cp > 0x7f) {
          for (const b of new TextEncoder().encode(String.fromCodePoint(cp))) out.push(b);
        } else {
          out.push(cp);
        }
        continue;
      }
      this.pos++;
      const e = t[this.pos];
      if (e === undefined) this.fail("Unterminated escape");
      if (e in SIMPLE_ESCAPES) {
        out.push(SIMPLE_ESCAPES[e]);
        this.pos++;
      } else if (e >= "0" && e <= "7") {
        let n = 0;
        let digits = 0;
        while (digits < 3 && t[this.pos] >= "0" && t[this.pos] <= "7") {
          n = n * 8 + (t.charCodeAt(this.pos) - 48);
          this.pos++;
          digits++;
        }
        out.push(n);
      } else if (e === "x") {
        this.pos++;
        const hex = /^[0-9a-fA-F]{1,2}/.exec(t.slice(this.pos, this.pos + 2));
        if (!hex) this.fail("Invalid \\x escape");
        out.push(parseInt(hex[0], 16));
        this.pos += hex[0].length;
      } else if (e === "u" || e === "U") {
        const len = e === "u" ? 4 : 8;
        const hex = t.slice(this.pos + 1, this.pos + 1 + len);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) this.fail("Invalid unicode escape");
        const cp = parseInt(hex, 16);
        this.pos += 1 + len;
        if (bytes) { for (const b of new TextEncoder().encode(String.fromCodePoint(cp))) out.push(b); }
        else out.push(cp);
      } else {
        // Any other escaped character stands for itself (\\, \', \").
        out.push(t.codePointAt(this.pos)!);
        this.pos += 1;
      }
    }
  }

  string(): string {
    const codePoints = this.quoted(false);
    let out = "";
    for (let i = 0; i < codePoints.length; i += 4096) {
      out += String.fromCodePoint(...codePoints.slice(i, i + 4096));
    }
    return out;
  }

  bytestring(): Uint8Array {
    const raw = this.quoted(true);
    // The text form of a bytestring omits its terminating NUL.
    const out = new Uint8Array(raw.length + 1);
    out.set(raw);
    return out;
  }
}

/** A value that {@linkcode formatGVariantText} can write. */
export type GVariantInput =
  | string
  | boolean
  | { uint64: number }
  | { int64: number }
  | { uint32: number }
  | GVariantInput[]
  | { [key: string]: GVariantInput };

function quote(text: string): string {
  let out = "'";
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === "'" || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (cp < 0x20 || cp === 0x7f) out += `\\u${cp.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return out + "'";
}

/**
 * Writes a value in the GVariant text format, as `ostree commit
 * --add-metadata=KEY=VALUE` takes it: strings as `s`, booleans as `b`,
 * `{uint64: n}` as `t`, arrays of strings as `as`, plain objects as `a{sv}`
 * (values wrapped in variants), other arrays as `av`.
 *
 * @example
 * ```ts
 * import { formatGVariantText, parseGVariantText } from "./gvariant_text.ts";
 * formatGVariantText(["nginx", "it's"]); // "['nginx', 'it\\'s']"
 * formatGVariantText({ nginx: "1.22" }); // "{'nginx': <'1.22'>}"
 * parseGVariantText(formatGVariantText({ a: ["x"] }));
 * ```
 */
export function formatGVariantText(value: GVariantInput): string {
  if (typeof value === "string") return quote(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  if (Array.isArray(value)) {
    if (value.length === 0) return "@as []";
    if (value.every((v) => typeof v === "string")) return `[${value.map((v) => quote(v as string)).join(", ")}]`;
    return `[${value.map((v) => `<${formatGVariantText(v)}>`).join(", ")}]`;
  }
  if ("uint64" in value && typeof value.uint64 === "number") return `uint64 ${value.uint64}`;
  if ("int64" in value && typeof value.int64 === "number") return `int64 ${value.int64}`;
  if ("uint32" in value && typeof value.uint32 === "number") return `uint32 ${value.uint32}`;
  const entries = Object.entries(value as Record<string, GVariantInput>);
  if (entries.length === 0) return "@a{sv} {}";
  return `{${entries.map(([k, v]) => `${quote(k)}: <${formatGVariantText(v)}>`).join(", ")}}`;
}
