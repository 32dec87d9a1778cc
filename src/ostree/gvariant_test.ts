import assert from "node:assert/strict";
import {
  arrayElements,
  decodeGVariant,
  GVariantError,
  GVariantUtf8Error,
  parseGVariantType,
  readUint64BE,
  swap32,
  tupleMembers,
} from "./gvariant.ts";

async function sh(script: string, cwd: string): Promise<string> {
  const out = await new Deno.Command("bash", { args: ["-euc", script], cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`${script}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).trim();
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gvariant-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function objectBytes(dir: string, checksum: string, suffix: string): Uint8Array {
  return Deno.readFileSync(`${dir}/repo/objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${suffix}`);
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const COMMIT = parseGVariantType("(a{sv}aya(say)sstayay)");

Deno.test("types: alignment and fixed sizes", () => {
  assert.equal(parseGVariantType("(yt)").fixedSize, 16);
  assert.equal(parseGVariantType("(ty)").fixedSize, 16);
  assert.equal(parseGVariantType("(yy)").fixedSize, 2);
  assert.equal(parseGVariantType("()").fixedSize, 1);
  assert.equal(parseGVariantType("(uuua(ayay))").fixedSize, undefined);
  assert.equal(parseGVariantType("(uuua(ayay))").align, 4);
  assert.equal(parseGVariantType("a{sv}").align, 8);
  assert.throws(() => parseGVariantType("(u"), GVariantError);
  assert.throws(() => parseGVariantType("{vs}"), GVariantError);
  assert.throws(() => parseGVariantType("uu"), GVariantError);
});

Deno.test("decodes a commit that ostree wrote: metadata of every kind, strings, big-endian timestamp", async () => {
  await withDir(async (dir) => {
    const checksum = await sh(
      `ostree init --repo=repo --mode=archive; mkdir t; echo x > t/x
      ostree commit --repo=repo -b b --tree=dir=t -s "subject 'q'" -m $'body\\nline' --timestamp=2024-05-06T07:08:09Z \
        --add-metadata-string=version=1.2 --add-metadata='n=uint64 7' --add-metadata="l=['a', 'b']" \
        --add-metadata='yes=true' --add-metadata="d={'k': <'v'>}" --add-metadata='i=int32 -5' \
        --add-metadata='n16=int16 -2' --add-metadata='dbl=1.5' --add-metadata="m1=@ms 'x'" \
        --add-metadata='m0=@ms nothing' --add-metadata='mu=@mu 5' --add-metadata="tu=(uint32 1, 'x')" \
        --add-metadata='au=[uint32 1, 2]' --add-metadata="raw=[byte 0x01, 0x00]" --add-metadata="v=<<'in'>>"`,
      dir,
    );
    const fields = decodeGVariant(COMMIT, objectBytes(dir, checksum, "commit")) as unknown[];
    assert.equal(fields.length, 8);
    const meta = fields[0] as Map<string, unknown>;
    assert.equal(meta.get("version"), "1.2");
    assert.equal(meta.get("n"), 7);
    assert.deepEqual(meta.get("l"), ["a", "b"]);
    assert.equal(meta.get("yes"), true);
    assert.deepEqual(meta.get("d"), new Map([["k", "v"]]));
    assert.equal(meta.get("i"), -5);
    assert.equal(meta.get("n16"), -2);
    assert.equal(meta.get("dbl"), 1.5);
    assert.equal(meta.get("m1"), "x");
    assert.equal(meta.get("m0"), null);
    assert.equal(meta.get("mu"), 5);
    assert.deepEqual(meta.get("tu"), [1, "x"]);
    assert.deepEqual(meta.get("au"), [1, 2]);
    assert.deepEqual(meta.get("raw"), new Uint8Array([1, 0]));
    assert.equal(meta.get("v"), "in");
    assert.deepEqual(meta.get("ostree.ref-binding"), ["b"]);
    assert.deepEqual(fields[1], new Uint8Array(0)); // no parent
    assert.deepEqual(fields[2], []);
    assert.equal(fields[3], "subject 'q'");
    assert.equal(fields[4], "body\nline");
    // OSTree stores the timestamp big-endian: the raw little-endian read is byte-swapped.
    const members = tupleMembers(COMMIT, objectBytes(dir, checksum, "commit"));
    assert.equal(readUint64BE(members[5]), Date.UTC(2024, 4, 6, 7, 8, 9) / 1000);
    const root = await sh(`ostree ls --repo=repo -d -C b / | awk '{print $5}'`, dir);
    assert.equal(hex(fields[6] as Uint8Array), root);
  });
});

Deno.test("decodes dirmeta objects: big-endian uid, gid and mode, binary xattrs", async () => {
  await withDir(async (dir) => {
    const listing = await sh(
      `ostree init --repo=repo --mode=bare-user; mkdir -p t/d
      chown 1234:3000000 t/d; chmod 2750 t/d; setfattr -n user.bin -v 0x00ff0a t/d
      ostree commit --repo=repo -b b --tree=dir=t >/dev/null
      ostree ls --repo=repo -d -C b /d`,
      dir,
    );
    const metaChecksum = listing.split(/\s+/)[5];
    const [uid, gid, mode, xattrs] = decodeGVariant(
      parseGVariantType("(uuua(ayay))"),
      objectBytes(dir, metaChecksum, "dirmeta"),
    ) as [number, number, number, [Uint8Array, Uint8Array][]];
    assert.equal(swap32(uid), 1234);
    assert.equal(swap32(gid), 3000000);
    assert.equal(swap32(mode), 0o42750);
    const bin = xattrs.find(([name]) => new TextDecoder().decode(name) === "user.bin\0");
    assert.deepEqual(bin?.[1], new Uint8Array([0, 0xff, 0x0a]));
  });
});

Deno.test("decodes dirtrees with 1-, 2- and 4-byte framing offsets", async () => {
  await withDir(async (dir) => {
    // 1 file: under 256 bytes; 40 files: 2-byte offsets; 2000 files: over 64 KiB, 4-byte offsets.
    const out = await sh(
      `ostree init --repo=repo --mode=archive
      for n in 1 40 2000; do mkdir -p t/d$n; (cd t/d$n && for i in $(seq 1 $n); do echo $i > "f-$i-é"; done); done
      mkdir t/d40/sub1 t/d40/sub2
      ostree commit --repo=repo -b b --tree=dir=t >/dev/null
      for n in 1 40 2000; do ostree ls --repo=repo -d -C b /d$n | awk '{print $5}'; done`,
      dir,
    );
    const type = parseGVariantType("(a(say)a(sayay))");
    const [one, forty, many] = out.split("\n");
    const sizes: number[] = [];
    for (const [checksum, n, dirs] of [[one, 1, 0], [forty, 40, 2], [many, 2000, 0]] as const) {
      const bytes = objectBytes(dir, checksum, "dirtree");
      sizes.push(bytes.length);
      const [files, subdirs] = decodeGVariant(type, bytes) as [[string, Uint8Array][], [string, Uint8Array][]];
      assert.equal(files.length, n);
      const names = files.map(([name]) => name);
      assert.deepEqual(new Set(names), new Set(Array.from({ length: n }, (_, i) => `f-${i + 1}-é`)));
      assert.deepEqual([...names].sort(), names, "files are sorted");
      for (const [, checksum] of files) assert.equal(checksum.length, 32);
      assert.equal(subdirs.length, dirs);
    }
    assert.ok(sizes[0] < 0x100 && sizes[1] > 0xff && sizes[1] <= 0xffff && sizes[2] > 0xffff, String(sizes));
  });
});

Deno.test("truncated or corrupt bytes raise GVariantError, never a wrong value", async () => {
  await withDir(async (dir) => {
    const checksum = await sh(
      `ostree init --repo=repo --mode=archive; mkdir t; echo x > t/x
      ostree commit --repo=repo -b b --tree=dir=t --add-metadata-string=version=1`,
      dir,
    );
    const bytes = objectBytes(dir, checksum, "commit");
    for (const cut of [1, 2, 7, 40, bytes.length - 1]) {
      assert.throws(() => decodeGVariant(COMMIT, bytes.subarray(0, cut)), GVariantError, `cut at ${cut}`);
    }
    const corrupt = bytes.slice();
    corrupt[corrupt.length - 1] = 0xff; // the first framing offset points past the end
    assert.throws(() => decodeGVariant(COMMIT, corrupt), GVariantError);
  });
  // Fixed-size elements that do not divide the array.
  assert.throws(() => arrayElements(parseGVariantType("au"), new Uint8Array(6)), /whole number/);
  // A string without its NUL, and one that is not UTF-8.
  assert.throws(() => decodeGVariant(parseGVariantType("s"), new Uint8Array([0x61])), /NUL-terminated/);
  assert.throws(() => decodeGVariant(parseGVariantType("s"), new Uint8Array([0xff, 0])), GVariantUtf8Error);
  assert.throws(() => decodeGVariant(parseGVariantType("b"), new Uint8Array([2])), /boolean/);
  assert.throws(() => decodeGVariant(parseGVariantType("u"), new Uint8Array(3)), /expected 4/);
});

Deno.test("swap32 and readUint64BE", () => {
  assert.equal(swap32(0x78563412), 0x12345678);
  assert.equal(swap32(0xffffffff), 0xffffffff);
  assert.equal(readUint64BE(new Uint8Array([0, 0, 0, 1, 0, 0, 0, 2])), 0x100000002);
});
