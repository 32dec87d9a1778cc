import assert from "node:assert/strict";
import { BLOCK_SIZE, encodeTarHeader, paddingFor, type TarHeader, writeTarHeader } from "./tar_header.ts";

const decoder = new TextDecoder();

function field(block: Uint8Array, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return decoder.decode(end >= 0 ? raw.subarray(0, end) : raw);
}

/** Parses PAX records and checks that each length prefix is exact. */
function paxRecords(data: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let offset = 0;
  while (offset < data.length && data[offset] !== 0) {
    const space = data.indexOf(0x20, offset);
    const length = Number(decoder.decode(data.subarray(offset, space)));
    const record = data.subarray(offset, offset + length);
    assert.equal(record[record.length - 1], 0x0a, "record ends with a newline");
    const eq = record.indexOf(0x3d);
    out.set(decoder.decode(record.subarray(space - offset + 1, eq)), record.subarray(eq + 1, record.length - 1));
    offset += length;
  }
  return out;
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK_SIZE; i++) if (i < 148 || i >= 156) sum += block[i];
  return parseInt(field(block, 148, 8), 8) === sum;
}

Deno.test("a plain file is one ustar block with octal fields and no owner names", () => {
  const h = encodeTarHeader({ path: "etc/hostname", type: "file", mode: 0o4755, uid: 1234, gid: 5678, size: 5 });
  assert.equal(h.length, BLOCK_SIZE);
  assert.equal(field(h, 0, 100), "etc/hostname");
  assert.equal(field(h, 100, 8), "0004755");
  assert.equal(field(h, 108, 8), "0002322");
  assert.equal(field(h, 116, 8), "0013056");
  assert.equal(field(h, 124, 12), "00000000005");
  assert.equal(field(h, 136, 12), "00000000000");
  assert.equal(String.fromCharCode(h[156]), "0");
  assert.equal(field(h, 257, 6), "ustar");
  assert.equal(field(h, 263, 2), "00");
  assert.equal(field(h, 265, 32), "");
  assert.equal(field(h, 297, 32), "");
  assert.ok(checksumOk(h));
});

Deno.test("directories get a trailing slash; links carry their target", () => {
  const dir = encodeTarHeader({ path: "usr/lib", type: "directory", mode: 0o1777, uid: 0, gid: 0, size: 99 });
  assert.equal(field(dir, 0, 100), "usr/lib/");
  assert.equal(field(dir, 124, 12), "00000000000", "directories have no size");
  assert.equal(String.fromCharCode(dir[156]), "5");
  const sym = encodeTarHeader({
    path: "bin",
    type: "symlink",
    mode: 0o777,
    uid: 0,
    gid: 0,
    size: 0,
    linkTarget: "usr/bin",
  });
  assert.equal(String.fromCharCode(sym[156]), "2");
  assert.equal(field(sym, 157, 100), "usr/bin");
  const hard = encodeTarHeader({ path: "b", type: "hardlink", mode: 0o644, uid: 0, gid: 0, size: 0, linkTarget: "a" });
  assert.equal(String.fromCharCode(hard[156]), "1");
});

Deno.test("long ASCII paths use the ustar prefix field when they can", () => {
  const path = "a/".repeat(70) + "file"; // 144 bytes
  const h = encodeTarHeader({ path, type: "file", mode: 0o644, uid: 0, gid: 0, size: 0 });
  assert.equal(h.length, BLOCK_SIZE);
  assert.equal(field(h, 345, 155) + "/" + field(h, 0, 100), path);
});

Deno.test("paths that do not fit ustar, non-ASCII paths and long link targets go to PAX", () => {
  for (const path of ["d/".repeat(150) + "f", "ü name", "x".repeat(120)]) {
    const h = encodeTarHeader({
      path,
      type: "symlink",
      mode: 0o777,
      uid: 0,
      gid: 0,
      size: 0,
      linkTarget: "t".repeat(150),
    });
    assert.equal(String.fromCharCode(h[156]), "x", `PAX header for ${path.slice(0, 10)}`);
    const dataLength = parseInt(field(h, 124, 12), 8);
    const records = paxRecords(h.subarray(BLOCK_SIZE, BLOCK_SIZE + dataLength));
    assert.equal(decoder.decode(records.get("path")), path);
    assert.equal(decoder.decode(records.get("linkpath")), "t".repeat(150));
    const main = h.subarray(h.length - BLOCK_SIZE);
    assert.equal(String.fromCharCode(main[156]), "2");
    assert.ok(checksumOk(main));
  }
});

Deno.test("ids above 2097151 and xattrs with binary values go to PAX exactly", () => {
  const cap = new Uint8Array([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0xff, 0x80, 0x0a, 0x3d]);
  const h = encodeTarHeader({
    path: "usr/bin/ping",
    type: "file",
    mode: 0o755,
    uid: 3000000,
    gid: 2097152,
    size: 10,
    xattrs: [{ name: "security.capability", value: cap }, { name: "user.empty", value: new Uint8Array(0) }],
  });
  const dataLength = parseInt(field(h, 124, 12), 8);
  const records = paxRecords(h.subarray(BLOCK_SIZE, BLOCK_SIZE + dataLength));
  assert.equal(decoder.decode(records.get("uid")), "3000000");
  assert.equal(decoder.decode(records.get("gid")), "2097152");
  assert.deepEqual(records.get("SCHILY.xattr.security.capability"), cap);
  assert.deepEqual(records.get("SCHILY.xattr.user.empty"), new Uint8Array(0));
  const main = h.subarray(h.length - BLOCK_SIZE);
  assert.equal(field(main, 108, 8), "0000000");
});

Deno.test("PAX record lengths are exact around digit-count boundaries", () => {
  // Values whose record length crosses 10, 100 and 1000 bytes.
  for (let n = 0; n < 1100; n += 1) {
    const value = "v".repeat(n);
    const h = encodeTarHeader({
      path: "f",
      type: "file",
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 0,
      xattrs: [{ name: "user.a", value: new TextEncoder().encode(value) }],
    });
    const dataLength = parseInt(field(h, 124, 12), 8);
    const records = paxRecords(h.subarray(BLOCK_SIZE, BLOCK_SIZE + dataLength));
    assert.equal(decoder.decode(records.get("SCHILY.xattr.user.a")), value);
  }
});

Deno.test("paddingFor rounds up to whole blocks", () => {
  assert.equal(paddingFor(0), 0);
  assert.equal(paddingFor(1), 511);
  assert.equal(paddingFor(512), 0);
  assert.equal(paddingFor(513), 511);
});

Deno.test("writeTarHeader writes the bytes encodeTarHeader returns, in place, or nothing when PAX records are needed", () => {
  const plain: TarHeader[] = [
    { path: "etc/hostname", type: "file", mode: 0o644, uid: 0, gid: 0, size: 5 },
    { path: "usr/bin", type: "directory", mode: 0o755, uid: 0, gid: 0, size: 0 },
    { path: "bin", type: "symlink", mode: 0o777, uid: 0, gid: 0, size: 0, linkTarget: "usr/bin" },
    { path: "usr/bin/x", type: "hardlink", mode: 0o755, uid: 2097151, gid: 7, size: 0, linkTarget: "usr/bin/y" },
    { path: `${"d/".repeat(70)}name`, type: "file", mode: 0o4755, uid: 1, gid: 1, size: 8589934591, xattrs: [] },
  ];
  const batch = new Uint8Array(2048).fill(0xaa);
  for (const header of plain) {
    assert.equal(writeTarHeader(header, batch, 1000), 512, header.path);
    assert.deepEqual(batch.subarray(1000, 1512), encodeTarHeader(header), header.path);
    assert.equal(batch[999], 0xaa);
    assert.equal(batch[1512], 0xaa);
  }
  const pax: TarHeader[] = [
    { path: "etc/caf\u00e9", type: "file", mode: 0o644, uid: 0, gid: 0, size: 1 },
    { path: "x".repeat(300), type: "file", mode: 0o644, uid: 0, gid: 0, size: 1 },
    {
      path: "ping",
      type: "file",
      mode: 0o755,
      uid: 0,
      gid: 0,
      size: 1,
      xattrs: [{ name: "security.capability", value: new Uint8Array([1]) }],
    },
    { path: "a", type: "file", mode: 0o644, uid: 2097152, gid: 0, size: 1 },
    { path: "a", type: "file", mode: 0o644, uid: 0, gid: 0, size: 8589934592 },
    { path: "l", type: "symlink", mode: 0o777, uid: 0, gid: 0, size: 0, linkTarget: "t".repeat(101) },
    { path: "l", type: "symlink", mode: 0o777, uid: 0, gid: 0, size: 0, linkTarget: "caf\u00e9" },
  ];
  const untouched = new Uint8Array(1024).fill(0xaa);
  for (const header of pax) {
    const into = untouched.slice();
    assert.equal(writeTarHeader(header, into, 0), 0, header.path);
    assert.deepEqual(into, untouched);
  }
  // No room for a whole block: nothing written.
  assert.equal(writeTarHeader(plain[0], new Uint8Array(1000), 600), 0);
});
