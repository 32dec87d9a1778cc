import assert from "node:assert/strict";
import { bytesContent, createLayerTarStream, type LayerEntry, newTarStats } from "./layer_tar.ts";

const enc = new TextEncoder();

function entry(path: string, kind: LayerEntry["kind"], extra: Partial<LayerEntry> = {}): LayerEntry {
  return {
    path,
    kind,
    mode: kind === "directory" ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    xattrs: [],
    checksum: path,
    ...extra,
  };
}

async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  return text;
}

Deno.test("GNU tar reads back every kind of entry, with owners, modes and binary xattrs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "layer-tar-test-" });
  try {
    const big = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 31) & 0xff);
    const cap = new Uint8Array([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const contents = new Map<string, Uint8Array>([
      ["bin/ping", enc.encode("#!/bin/sh\n")],
      ["data/big", big],
      ["data/same", enc.encode("shared")],
      ["data/same2", enc.encode("shared")],
      ["long/" + "n".repeat(150), enc.encode("long name")],
      ["ü/日本語.txt", enc.encode("unicode")],
    ]);
    const entries: LayerEntry[] = [
      entry("bin", "directory"),
      entry("bin/ping", "file", {
        mode: 0o4755,
        uid: 3000000,
        gid: 1234,
        size: 10,
        xattrs: [{ name: "security.capability", value: cap }, { name: "user.note", value: enc.encode("a\0b") }],
      }),
      entry("bin/sh", "symlink", { mode: 0o777, target: "/usr/bin/dash" }),
      entry("data", "directory", { mode: 0o1777 }),
      entry("data/big", "file", { size: big.length }),
      entry("data/empty", "file"),
      entry("data/same", "file", { size: 6, checksum: "same" }),
      entry("data/same2", "file", { size: 6, checksum: "same" }),
      entry("long", "directory"),
      entry("long/" + "n".repeat(150), "file", { size: 9 }),
      entry("ü", "directory"),
      entry("ü/日本語.txt", "file", { size: 7 }),
    ];
    const stats = newTarStats();
    const stream = createLayerTarStream(entries, (e) => bytesContent(contents.get(e.path)!), {
      stats,
      batchSize: 64 * 1024,
    });
    let maxChunk = 0;
    const file = await Deno.open(`${dir}/layer.tar`, { create: true, write: true });
    await stream.pipeThrough(
      new TransformStream({
        transform(chunk, c) {
          maxChunk = Math.max(maxChunk, chunk.length);
          c.enqueue(chunk);
        },
      }),
    ).pipeTo(file.writable);
    assert.ok(maxChunk <= 64 * 1024, "chunks stay within the batch size");
    assert.equal(stats.entries, entries.length);
    assert.equal(stats.contentBytes, big.length + 10 + 6 + 9 + 7); // the hardlink adds no content
    assert.equal(stats.tarBytes, (await Deno.stat(`${dir}/layer.tar`)).size);

    const listing = await run("tar", ["--numeric-owner", "-tvf", `${dir}/layer.tar`]);
    assert.match(listing, /-rwsr-xr-x 3000000\/1234 +10 1970-01-01 00:00 bin\/ping/);
    assert.match(listing, /drwxrwxrwt 0\/0 .* data\//);
    assert.match(listing, /hrw-r--r-- .* data\/same2 link to data\/same/);
    assert.match(listing, /lrwxrwxrwx .* bin\/sh -> \/usr\/bin\/dash/);

    await Deno.mkdir(`${dir}/x`);
    await run("tar", [
      "--xattrs",
      "--xattrs-include=*",
      "--numeric-owner",
      "-xpf",
      `${dir}/layer.tar`,
      "-C",
      `${dir}/x`,
    ]);
    for (const [path, bytes] of contents) assert.deepEqual(await Deno.readFile(`${dir}/x/${path}`), bytes, path);
    const ping = await Deno.lstat(`${dir}/x/bin/ping`);
    assert.equal(ping.mode! & 0o7777, 0o4755);
    assert.equal(ping.uid, 3000000);
    assert.equal(ping.gid, 1234);
    assert.equal((await Deno.lstat(`${dir}/x/data/same2`)).ino, (await Deno.lstat(`${dir}/x/data/same`)).ino);
    assert.equal(await Deno.readLink(`${dir}/x/bin/sh`), "/usr/bin/dash");
    const xattrs = await run("getfattr", ["-d", "-m", "-", "-e", "hex", `${dir}/x/bin/ping`]);
    assert.match(xattrs, /security.capability=0x0100000200200000000000000000000000000000/);
    assert.match(xattrs, /user.note=0x610062/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("content shorter than the recorded size is an error naming the path", async () => {
  const stream = createLayerTarStream([entry("f", "file", { size: 10 })], () => bytesContent(enc.encode("short")));
  await assert.rejects(() => new Response(stream).arrayBuffer(), /Content of f is shorter/);
});

Deno.test("an aborted signal stops the stream", async () => {
  const controller = new AbortController();
  controller.abort(new Error("stop"));
  const stream = createLayerTarStream([entry("d", "directory")], () => bytesContent(new Uint8Array()), {
    signal: controller.signal,
  });
  await assert.rejects(() => new Response(stream).arrayBuffer(), /stop/);
});

Deno.test("an empty tree is just the end-of-archive marker", async () => {
  const bytes = new Uint8Array(
    await new Response(createLayerTarStream([], () => bytesContent(new Uint8Array()))).arrayBuffer(),
  );
  assert.deepEqual(bytes, new Uint8Array(1024));
});

Deno.test("hardlinks only where a deployed system has them: not for empty files, not under etc/ or var/", async () => {
  const dir = await Deno.makeTempDir({ prefix: "apt-ostree-links-" });
  try {
    const enc = new TextEncoder();
    const files: [string, string, string][] = [
      // path, content, content checksum (equal content, equal checksum)
      ["etc/environment", "", "empty"],
      ["etc/subgid", "", "empty"],
      ["etc/profile", "profile\n", "profile"],
      ["usr/share/base-files/profile", "profile\n", "profile"],
      ["usr/share/doc/a/copyright", "GPL\n", "gpl"],
      ["usr/share/doc/b/copyright", "GPL\n", "gpl"],
      ["var/log/faillog", "", "empty"],
      ["var/lib/x/state", "GPL\n", "gpl"],
    ];
    const contents = new Map(files.map(([path, text]) => [path, enc.encode(text)]));
    const dirs = [
      "etc",
      "usr",
      "usr/share",
      "usr/share/base-files",
      "usr/share/doc",
      "usr/share/doc/a",
      "usr/share/doc/b",
      "var",
      "var/lib",
      "var/lib/x",
      "var/log",
    ];
    const entries = [
      ...dirs.map((path) => ({
        path,
        kind: "directory" as const,
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        xattrs: [],
        checksum: `d-${path}`,
      })),
      ...files.map(([path, text, checksum]) => ({
        path,
        kind: "file" as const,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: enc.encode(text).length,
        xattrs: [],
        checksum,
      })),
    ].sort((a, b) => (a.path < b.path ? -1 : 1));
    const stream = createLayerTarStream(entries, (e) => {
      const bytes = contents.get(e.path)!;
      let done = false;
      return {
        read(into: Uint8Array) {
          if (done) return 0;
          into.set(bytes);
          done = true;
          return bytes.length;
        },
        close() {},
      };
    });
    await Deno.writeFile(`${dir}/layer.tar`, new Uint8Array(await new Response(stream).arrayBuffer()));
    const listing = await run("tar", ["-tvf", `${dir}/layer.tar`]);
    const links = listing.split("\n").filter((l) => l.startsWith("h")).map((l) =>
      l.replace(/^.* (\S+) link to (\S+)$/, "$1 -> $2")
    );
    assert.deepEqual(links, ["usr/share/doc/b/copyright -> usr/share/doc/a/copyright"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
