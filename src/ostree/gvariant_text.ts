/**
 * Writes values in the GVariant text format, for `ostree commit
 * --add-metadata=KEY=VALUE`. (Reading goes through the binary objects:
 * see `gvariant.ts`.)
 *
 * @module
 */

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
 * import { formatGVariantText } from "./gvariant_text.ts";
 * formatGVariantText(["nginx", "it's"]); // "['nginx', 'it\\'s']"
 * formatGVariantText({ nginx: "1.22" }); // "{'nginx': <'1.22'>}"
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
