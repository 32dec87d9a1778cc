import assert from "node:assert/strict";
import { join } from "node:path";
import { craftTar } from "../../tests/helpers/oci_builder.ts";
import { type TarEntry, TarReader } from "./reader.ts";

async function readAll(bytes: Uint8Array, chunk = 0): Promise<(TarEntry & { content?: string })[]> {
  const parts: Uint8Array[] = [];
  if (chunk > 0) { for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk)); }
  else parts.push(bytes);
  const reader = new TarReader(ReadableStream.from(parts), "test.tar");
  const out: (TarEntry & { content?: string })[] = [];
  for (;;) {
    const entry = await reader.next();
    if (!entry) break;
    if (entry.type === "file") {
      let content = "";
      const decoder = new TextDecoder();
      for await (const c of reader.body()) content += decoder.decode(c, { stream: true });
      out.push({ ...entry, content: content + decoder.decode() });
    } else out.push(entry);
  }
  return out;
}

const CAP = new Uint8Array([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0xff, 0x80, 0, 0, 0, 0, 0, 0]);

Deno.test("tar reader: PAX long and non-ASCII names, binary xattrs, big ids, links, tiny chunks", async () => {
  const longPath = `dir/${"x".repeat(120)}/${"y".repeat(150)}.txt`;
  const tar = craftTar([
    { path: "./", type: "directory" },
    { path: "etc/", type: "directory", mode: 0o755 },
    { path: "etc/hostname", content: "box\n", mode: 0o644 },
    { path: longPath, content: "long" },
    { path: "usr/bin/ünïcødé", content: "u", uid: 3_000_000, gid: 3_000_001, mode: 0o4755 },
    { path: "usr/bin/cap", content: "c", xattrs: { "security.capability": CAP, "user.text": "hi" } },
    { path: "link", type: "symlink", target: "/" + "t".repeat(200) },
    { path: "hard", type: "hardlink", target: "etc/hostname" },
  ]);
  for (const chunk of [0, 7, 511, 513]) {
    const entries = await readAll(tar, chunk);
    assert.deepEqual(entries.map((e) => e.path), [
      "./",
      "etc/",
      "etc/hostname",
      longPath,
      "usr/bin/ünïcødé",
      "usr/bin/cap",
      "link",
      "hard",
    ]);
    assert.equal(entries[2].content, "box\n");
    assert.equal(entries[3].content, "long");
    assert.deepEqual([entries[4].uid, entries[4].gid, entries[4].mode], [3_000_000, 3_000_001, 0o4755]);
    const cap = entries[5].xattrs.find((x) => x.name === "security.capability");
    assert.deepEqual(cap?.value, CAP);
    assert.equal(entries[6].linkTarget, "/" + "t".repeat(200));
    assert.deepEqual([entries[7].type, entries[7].linkTarget], ["hardlink", "etc/hostname"]);
  }
});

Deno.test("tar reader: GNU tar archives (long names, base-256 ids), read back exactly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const name = "n".repeat(180);
    await Deno.writeTextFile(join(dir, name), "gnu long name\n");
    await Deno.writeTextFile(join(dir, "big-id"), "id\n");
    const out = join(dir, "out.tar");
    const tar = new Deno.Command("tar", {
      args: [
        "--format=gnu",
        "--owner=3000000",
        "--group=0",
        "--numeric-owner",
        "-C",
        dir,
        "-cf",
        out,
        name,
        "big-id",
      ],
    });
    const result = await tar.output();
    assert.ok(result.success, new TextDecoder().decode(result.stderr));
    const entries = await readAll(await Deno.readFile(out), 100);
    assert.equal(entries[0].path, name);
    assert.equal(entries[0].content, "gnu long name\n");
    assert.equal(entries[1].uid, 3_000_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tar reader: damaged archives are refused", async () => {
  const tar = craftTar([{ path: "a", content: "hello world" }]);
  const badSum = tar.slice();
  badSum[10] ^= 1;
  await assert.rejects(() => readAll(badSum), /header checksum mismatch/);
  await assert.rejects(() => readAll(tar.slice(0, 512 + 5)), /truncated/);
  const sparse = tar.slice();
  sparse[156] = "S".charCodeAt(0);
  let sum = 8 * 0x20;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += sparse[i];
  sparse.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  await assert.rejects(() => readAll(sparse), /sparse file/);
  // No end-of-archive blocks at all: accepted, as GNU tar does.
  assert.equal((await readAll(tar.slice(0, 1024))).length, 1);
});
