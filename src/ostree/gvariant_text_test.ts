import assert from "node:assert/strict";
import { GVariantSyntaxError, parseGVariantText, parseGVariantTextAt, toBytes } from "./gvariant_text.ts";

Deno.test("parses an empty typed xattr array", () => {
  assert.deepEqual(parseGVariantText("@a(ayay) []"), []);
});

Deno.test("parses xattrs with byte arrays and bytestrings", () => {
  const value = parseGVariantText("[(b'security.capability', [byte 0x01, 0x00, 0xff]), (b'user.x', b'hi')]");
  assert.ok(Array.isArray(value));
  const [[name1, v1], [name2, v2]] = value as [unknown, unknown][];
  assert.deepEqual(toBytes(name1 as Uint8Array), new TextEncoder().encode("security.capability\0"));
  assert.deepEqual(toBytes(v1 as number[]), new Uint8Array([1, 0, 255]));
  assert.equal(name2 instanceof Uint8Array, true);
  // A bytestring's text form leaves out its terminating NUL.
  assert.deepEqual(v2, new Uint8Array([0x68, 0x69, 0]));
});

Deno.test("bytestring escapes: octal, quotes, backslash, non-ASCII", () => {
  const value = parseGVariantText("b'a\\001\\'\\\\\\n\\303\\274'") as Uint8Array;
  assert.deepEqual(Array.from(value), [0x61, 1, 0x27, 0x5c, 0x0a, 0xc3, 0xbc, 0]);
  assert.deepEqual(Array.from(parseGVariantText('b"it\'s"') as Uint8Array), [0x69, 0x74, 0x27, 0x73, 0]);
});

Deno.test("parses a commit variant from ostree show --raw", () => {
  const text = "({'version': <'1.2'>, 'ostree.ref-binding': <['test']>, 'n': <uint32 7>}, @ay [], @a(say) [], " +
    `"it's \\"q\\"", '', uint64 1795818313, [byte 0x74, 0x14], [byte 0x44])`;
  const fields = parseGVariantText(text) as unknown[];
  assert.equal(fields.length, 8);
  const meta = fields[0] as Map<string, unknown>;
  assert.equal(meta.get("version"), "1.2");
  assert.deepEqual(meta.get("ostree.ref-binding"), ["test"]);
  assert.equal(meta.get("n"), 7);
  assert.deepEqual(fields[1], []);
  assert.equal(fields[3], `it's "q"`);
  assert.equal(fields[5], 1795818313);
  assert.deepEqual(fields[6], [0x74, 0x14]);
});

Deno.test("parses nested variants, booleans, nothing, just, unicode escapes and one-tuples", () => {
  assert.deepEqual(parseGVariantText("<<@a{sv} {}>>"), new Map());
  assert.deepEqual(parseGVariantText("[true, false]"), [true, false]);
  assert.equal(parseGVariantText("@ms nothing"), null);
  assert.equal(parseGVariantText("just 'x'"), "x");
  assert.equal(parseGVariantText("'\\u00fc\\U0001F600'"), "ü😀");
  assert.deepEqual(parseGVariantText("('a',)"), ["a"]);
  assert.equal(parseGVariantText("-0x10"), -16);
  assert.equal(parseGVariantText("double 1.5"), 1.5);
});

Deno.test("parseGVariantTextAt reports where the value ends", () => {
  const line = "{ [(b'user.a', [byte 0x01])] } /path with } brace";
  const [value, end] = parseGVariantTextAt(line, 2);
  assert.equal(line.slice(end), " } /path with } brace");
  assert.equal((value as unknown[]).length, 1);
});

Deno.test("syntax errors name the position", () => {
  assert.throws(() => parseGVariantText("[1, 2"), GVariantSyntaxError);
  assert.throws(() => parseGVariantText("'unterminated"), /Unterminated string/);
  assert.throws(() => parseGVariantText("[1] trailing"), /trailing/);
  assert.throws(() => parseGVariantText("%"), /Unexpected token/);
});
