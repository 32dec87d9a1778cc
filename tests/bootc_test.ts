/**
 * The ostree-native (bootc) image format, proved with tools we did not
 * write: `compose build-image --bootc` of a real commit (every kind of
 * entry, a fake kernel, detached metadata), unpacked with `umoci`; `ostree
 * fsck` of the embedded `bare-split-xattrs` repository; `ostree checkout` of
 * the labelled commit equal to the source's, path for path; the commit
 * checksum equal to the source's (so every object checksum equals what
 * `ostree commit` computed). Corrupted copies fail `ostree fsck` and fail
 * `image pull`, with nothing committed. `image pull` of the image gives the
 * very same commit, in bare and archive repositories; a layer added on top
 * by another tool becomes a new commit whose parent is the exported one.
 *
 * Run alone with: deno test --allow-all tests/bootc_test.ts
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { type BuildJson, parseJsonResult, runCli, runCliOk } from "./helpers/cli.ts";
import {
  commitTree,
  createRepo,
  isRoot,
  makeRichTree,
  makeTempDir,
  removeTree,
  run,
  runOk,
  scanTree,
} from "./helpers/fixture_repo.ts";
import { craftTar, digestOf } from "./helpers/oci_builder.ts";
import { hasProgram, startRegistry } from "./helpers/registry.ts";

const ROOT = isRoot();
const KVER = "6.1.0-99-amd64";
const IGNORE = !ROOT;
const name = (text: string) => (ROOT ? text : `${text} [ignored: needs root (bare repositories, ownership)]`);

interface Fixture {
  dir: string;
  repo: string;
  commit: string;
}

/** A bare repository with a rich tree, a fake kernel and detached metadata. */
async function makeFixture(dir: string): Promise<Fixture> {
  const tree = join(dir, "tree");
  await makeRichTree(tree, { bigFileSize: 3_000_000 });
  await Deno.mkdir(join(tree, "usr/lib/modules", KVER), { recursive: true });
  await Deno.writeTextFile(join(tree, "usr/lib/modules", KVER, "vmlinuz"), "not really a kernel\n");
  await Deno.writeTextFile(join(tree, "usr/lib/modules", KVER, "initramfs.img"), "not really an initramfs\n");
  await Deno.mkdir(join(tree, "sysroot"));
  await Deno.symlink("sysroot/ostree", join(tree, "ostree"));
  // What bootc's fatal lint rules ask of a deployable tree.
  for (const d of ["dev", "proc", "sys", "run", "var", "boot"]) await Deno.mkdir(join(tree, d));
  await Deno.symlink("../run", join(tree, "var/run"));
  const repo = await createRepo("bare", dir);
  await commitTree(repo, "os", tree, { version: "1.0", subject: "bootable fixture" });
  // Detached metadata (where signatures live) must travel with the commit.
  const commit = (await runOk("ostree", [
    "commit",
    `--repo=${repo}`,
    "--branch=os",
    `--tree=ref=os`,
    "--subject=bootable fixture",
    "--timestamp=2024-05-06 07:08:09 +0000",
    "--add-metadata-string=version=1.0",
    "--add-detached-metadata-string=signature.test=detached value",
  ])).trim();
  return { dir, repo, commit };
}

/** Runs `fn` with a fresh fixture, removed afterwards. */
async function withFixture(prefix: string, fn: (fx: Fixture) => Promise<void>): Promise<void> {
  const dir = await makeTempDir(prefix);
  try {
    await fn(await makeFixture(dir));
  } finally {
    await removeTree(dir);
  }
}

async function build(repo: string, args: string[]): Promise<BuildJson & { bootc?: boolean; kernel?: string }> {
  const result = await runCliOk(["--repo", repo, "--json", "compose", "build-image", ...args]);
  return parseJsonResult(result) as BuildJson & { bootc?: boolean; kernel?: string };
}

// ---------------------------------------------------------------------------
// Reading and rewriting a layout.

interface Manifest {
  config: { digest: string; size: number; mediaType: string };
  layers: { digest: string; size: number; mediaType: string; annotations?: Record<string, string> }[];
  annotations?: Record<string, string>;
}
interface Config {
  config?: { Labels?: Record<string, string> };
  rootfs: { diff_ids: string[] };
  history?: unknown[];
}

function blobPath(layout: string, digest: string): string {
  return join(layout, "blobs", "sha256", digest.slice("sha256:".length));
}

async function readImage(layout: string): Promise<{ manifest: Manifest; config: Config }> {
  const index = JSON.parse(await Deno.readTextFile(join(layout, "index.json")));
  const manifest = JSON.parse(await Deno.readTextFile(blobPath(layout, index.manifests[0].digest))) as Manifest;
  const config = JSON.parse(await Deno.readTextFile(blobPath(layout, manifest.config.digest))) as Config;
  return { manifest, config };
}

async function writeBlob(layout: string, bytes: Uint8Array): Promise<{ digest: string; size: number }> {
  const digest = digestOf(bytes);
  await Deno.writeFile(blobPath(layout, digest), bytes);
  return { digest, size: bytes.length };
}

/** Rewrites an image's config and manifest in a layout (as `mutate` says), every digest made right again. */
async function rewriteImage(layout: string, mutate: (manifest: Manifest, config: Config) => void): Promise<void> {
  const index = JSON.parse(await Deno.readTextFile(join(layout, "index.json")));
  const { manifest, config } = await readImage(layout);
  mutate(manifest, config);
  const configBlob = await writeBlob(layout, new TextEncoder().encode(JSON.stringify(config)));
  manifest.config = { ...manifest.config, ...configBlob };
  const manifestBlob = await writeBlob(layout, new TextEncoder().encode(JSON.stringify(manifest)));
  index.manifests[0] = { ...index.manifests[0], ...manifestBlob };
  await Deno.writeTextFile(join(layout, "index.json"), JSON.stringify(index));
}

/**
 * Replaces layer `i` (or appends a layer when `i` is the layer count), the
 * config's diff ids kept right, and the final-diffid label moved with it
 * when `moveFinal`. The tampering is inside the layer, where only object
 * checks find it.
 */
async function rewriteLayer(
  layout: string,
  i: number,
  tar: Uint8Array,
  options: { moveFinal: boolean },
): Promise<void> {
  const blob = await writeBlob(layout, new Uint8Array(gzipSync(tar)));
  const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...blob };
  await rewriteImage(layout, (manifest, config) => {
    const oldDiff = config.rootfs.diff_ids[i];
    if (i === manifest.layers.length) {
      manifest.layers.push(layer);
      config.rootfs.diff_ids.push(digestOf(tar));
      config.history?.push({ created_by: "another tool" });
    } else {
      manifest.layers[i] = { ...layer, annotations: manifest.layers[i].annotations };
      config.rootfs.diff_ids[i] = digestOf(tar);
    }
    const labels = config.config!.Labels!;
    if (options.moveFinal && labels["ostree.final-diffid"] === oldDiff) labels["ostree.final-diffid"] = digestOf(tar);
  });
}

async function layerTar(layout: string, digest: string): Promise<Uint8Array> {
  return new Uint8Array(gunzipSync(await Deno.readFile(blobPath(layout, digest))));
}

/** Headers of a tar, with PAX paths applied (enough for our own layers). */
function* tarHeaders(tar: Uint8Array): Generator<{ offset: number; path: string; size: number; type: string }> {
  const text = (a: number, b: number) => new TextDecoder().decode(tar.subarray(a, b)).replace(/\0.*$/s, "");
  let offset = 0;
  let paxPath: string | undefined;
  while (offset + 512 <= tar.length) {
    if (tar.subarray(offset, offset + 512).every((b) => b === 0)) return;
    const size = parseInt(text(offset + 124, offset + 136).trim() || "0", 8);
    const type = String.fromCharCode(tar[offset + 156]);
    const prefix = text(offset + 345, offset + 500);
    const base = text(offset, offset + 100);
    const data = offset + 512;
    if (type === "x") {
      const records = new TextDecoder().decode(tar.subarray(data, data + size));
      paxPath = /\d+ path=([^\n]*)\n/.exec(records)?.[1];
    } else {
      yield { offset, path: paxPath ?? (prefix ? `${prefix}/${base}` : base), size, type };
      paxPath = undefined;
    }
    offset = data + Math.ceil(size / 512) * 512;
  }
}

function fixChecksum(tar: Uint8Array, offset: number): void {
  tar.fill(0x20, offset + 148, offset + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += tar[offset + i];
  tar.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), offset + 148);
}

/** The content checksum of a path in a commit. */
async function objectOf(repo: string, rev: string, path: string): Promise<string> {
  const line = (await runOk("ostree", ["ls", `--repo=${repo}`, "-C", rev, path])).trim();
  const checksum = line.split(/\s+/)[4];
  assert.match(checksum, /^[0-9a-f]{64}$/, line);
  return checksum;
}

/** Finds the layer holding `<checksum>.<suffix>` and returns it with the header. */
async function findObject(layout: string, checksum: string, suffix: string) {
  const { manifest } = await readImage(layout);
  const want = `sysroot/ostree/repo/objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${suffix}`;
  for (const [i, layer] of manifest.layers.entries()) {
    const tar = await layerTar(layout, layer.digest);
    for (const header of tarHeaders(tar)) if (header.path === want) return { i, tar, header };
  }
  throw new Error(`no layer holds ${want}`);
}

/** What a pull may have left in the repository's tmp/: our scratch trees, ostree's staging directories. */
async function leftovers(repo: string): Promise<string[]> {
  const names = (await Array.fromAsync(Deno.readDir(join(repo, "tmp")))).map((e) => e.name);
  return names.filter((n) => n !== "cache");
}

async function scanEqual(a: string, b: string): Promise<void> {
  const [left, right] = await Promise.all([scanTree(a), scanTree(b)]);
  assert.deepEqual([...left.keys()].sort(), [...right.keys()].sort());
  const comparable = (e: object | undefined) => {
    const { ino: _i, nlink: _n, ...rest } = e as Record<string, unknown>;
    return rest;
  };
  for (const [path, entry] of left) assert.deepEqual(comparable(entry), comparable(right.get(path)), path);
}

// ---------------------------------------------------------------------------

Deno.test({
  name: name("--bootc: umoci unpacks it, ostree fsck passes, checkout and commit checksum equal the source's"),
  ignore: IGNORE,
  fn: (t) =>
    withFixture("bootc-test-", async (fx) => {
      const dir = fx.dir;
      const layout = join(dir, "img.oci");
      let result!: BuildJson & { bootc?: boolean; kernel?: string };

      await t.step("a commit with a kernel is built ostree-native by default, chunked by path", async () => {
        result = await build(fx.repo, ["os", "os:1", "-o", layout, "--max-layers", "6"]);
        assert.equal(result.bootc, true);
        assert.equal(result.kernel, KVER);
        assert.ok(result.layers!.length >= 3 && result.layers!.length <= 6, `${result.layers!.length} layers`);
        const { manifest, config } = await readImage(layout);
        const labels = config.config!.Labels!;
        assert.equal(labels["ostree.commit"], fx.commit);
        assert.equal(labels["ostree.final-diffid"], config.rootfs.diff_ids.at(-1));
        assert.equal(labels["containers.bootc"], "1");
        assert.equal(labels["ostree.bootable"], "true");
        assert.equal(labels["ostree.linux"], KVER);
        assert.equal(labels["org.opencontainers.image.version"], "1.0");
        assert.equal(manifest.annotations?.["ostree.commit"], fx.commit);
        assert.equal(config.history?.length, manifest.layers.length);
        assert.ok(manifest.layers.slice(1).some((l) => l.annotations?.["ostree.components"]));
      });

      const unpacked = join(dir, "unpacked");
      const embedded = join(unpacked, "rootfs/sysroot/ostree/repo");
      await t.step("umoci unpacks it; ostree fsck of the embedded repository passes", async () => {
        await runOk("umoci", ["unpack", "--image", `${layout}:1`, unpacked]);
        assert.match(await Deno.readTextFile(join(embedded, "config")), /mode=bare-split-xattrs/);
        const fsck = await run("ostree", ["fsck", `--repo=${embedded}`]);
        assert.equal(fsck.code, 0, fsck.stderr);
        assert.match(fsck.stdout, /no errors found/);
        // The commit and its detached metadata are the source's own.
        const show = await runOk("ostree", [
          "show",
          `--repo=${embedded}`,
          "--print-detached-metadata-key=signature.test",
          fx.commit,
        ]);
        assert.match(show, /detached value/);
      });

      await t.step("ostree checkout of the labelled commit equals the source's, path for path", async () => {
        await runOk("ostree", ["checkout", `--repo=${embedded}`, fx.commit, join(dir, "from-image")]);
        await runOk("ostree", ["checkout", `--repo=${fx.repo}`, fx.commit, join(dir, "from-source")]);
        await scanEqual(join(dir, "from-image"), join(dir, "from-source"));
      });

      await t.step("the image shows the tree: /etc from /usr/etc, hardlinks to objects, xattrs", async () => {
        const root = join(unpacked, "rootfs");
        assert.equal(await Deno.readTextFile(join(root, "etc/os-release")), 'NAME="Fixture OS"\nVERSION_ID=1\n');
        await assert.rejects(Deno.lstat(join(root, "usr/etc")));
        const tool = await Deno.stat(join(root, "usr/bin/tool"));
        assert.ok((tool.nlink ?? 0) >= 2, "usr/bin/tool is a hardlink to its object");
        assert.equal((await Deno.stat(join(root, "usr/bin/setuid-tool"))).mode! & 0o7777, 0o4755);
        assert.equal((await Deno.stat(join(root, "var/tmp"))).mode! & 0o7777, 0o1777);
        const caps = await runOk("getfattr", [
          "-n",
          "security.capability",
          "-e",
          "hex",
          join(root, "usr/bin/cap-tool"),
        ]);
        assert.match(caps, /0x0100000200200000000000000000000000000000/);
        // Writable paths are copies, never the repository's objects.
        assert.equal((await Deno.stat(join(root, "etc/os-release"))).nlink, 1);
      });

      await t.step("corrupted copies of the embedded repository fail ostree fsck", async () => {
        const tool = await objectOf(fx.repo, fx.commit, "/usr/bin/tool");
        const xattr = await objectOf(fx.repo, fx.commit, "/xattrs/file");
        const deep = await objectOf(fx.repo, fx.commit, "/a/b/c/d/deep.txt");
        const obj = (repo: string, c: string, suffix: string) =>
          join(repo, "objects", c.slice(0, 2), `${c.slice(2)}.${suffix}`);
        const cases: [string, (repo: string) => Promise<void>][] = [
          ["one content byte", async (r) => {
            const p = obj(r, tool, "file");
            const bytes = await Deno.readFile(p);
            bytes[0] ^= 1;
            await Deno.writeFile(p, bytes);
          }],
          ["one mode", (r) => Deno.chmod(obj(r, tool, "file"), 0o700)],
          ["one xattr", (r) => Deno.writeFile(obj(r, xattr, "file-xattrs-link"), new Uint8Array([1, 2, 3, 4]))],
          ["one missing object", (r) => Deno.remove(obj(r, deep, "file"))],
        ];
        for (const [what, corrupt] of cases) {
          const copy = join(dir, "corrupt-repo");
          await runOk("cp", ["-a", embedded, copy]);
          await corrupt(copy);
          const fsck = await run("ostree", ["fsck", `--repo=${copy}`]);
          assert.notEqual(fsck.code, 0, `fsck passed after ${what}`);
          await removeTree(copy);
        }
      });
    }),
});

Deno.test({
  name: name("image pull of an ostree-native image gives the very same commit; tampered images import nothing"),
  ignore: IGNORE,
  fn: (t) =>
    withFixture("bootc-pull-test-", async (fx) => {
      const dir = fx.dir;
      const layout = join(dir, "img.oci");
      await build(fx.repo, ["os", "os:1", "-o", layout, "--max-layers", "5"]);

      for (const mode of ["bare", "archive"] as const) {
        await t.step(`into a ${mode} repository: same checksum, detached metadata, fsck clean`, async () => {
          const target = join(dir, `target-${mode}`);
          await Deno.mkdir(target);
          await runOk("ostree", ["init", `--repo=${target}`, `--mode=${mode}`]);
          const pulled = JSON.parse(
            (await runCliOk(["--repo", target, "--json", "image", "pull", `oci:${layout}:1`, "--branch", "os"])).stdout,
          );
          assert.equal(pulled.commit, fx.commit);
          assert.equal(pulled.ostreeCommit, fx.commit);
          assert.equal((await runOk("ostree", ["rev-parse", `--repo=${target}`, "os"])).trim(), fx.commit);
          assert.match(
            await runOk("ostree", ["show", `--repo=${target}`, "--print-detached-metadata-key=signature.test", "os"]),
            /detached value/,
          );
          const fsck = await run("ostree", ["fsck", `--repo=${target}`]);
          assert.equal(fsck.code, 0, fsck.stderr);
          const again = JSON.parse(
            (await runCliOk(["--repo", target, "--json", "image", "pull", `oci:${layout}:1`, "--branch", "os"])).stdout,
          );
          assert.equal(again.upToDate, true);
          assert.deepEqual(await leftovers(target), []);
        });
      }

      const tool = await objectOf(fx.repo, fx.commit, "/usr/bin/tool");
      const xattr = await objectOf(fx.repo, fx.commit, "/xattrs/file");
      const deep = await objectOf(fx.repo, fx.commit, "/a/b/c/d/deep.txt");
      const tampers: [string, string, string, (tar: Uint8Array, offset: number, size: number) => void][] = [
        ["one content byte", tool, "file", (tar, offset) => void (tar[offset + 512] ^= 1)],
        ["one mode", tool, "file", (tar, offset) => {
          tar.set(new TextEncoder().encode("0000700\0"), offset + 100);
          fixChecksum(tar, offset);
        }],
        ["one xattr", xattr, "file-xattrs-link", (tar, offset, size) => void (tar[offset + 512 + size - 1] ^= 1)],
        ["one missing object", deep, "file", (tar, offset) => {
          // Renamed out of the objects directory (the 98-byte path fits the name field): the importer never sees it.
          const name = new TextDecoder().decode(tar.subarray(offset, offset + 100)).replace(/\0.*$/s, "");
          assert.match(name, /\/objects\//);
          tar.set(new TextEncoder().encode(name.replace("/objects/", "/objectz/")), offset);
          fixChecksum(tar, offset);
        }],
      ];
      for (const [what, checksum, suffix, tamper] of tampers) {
        await t.step(`a tampered image (${what}) fails the pull; no branch, nothing left`, async () => {
          const copy = join(dir, "tampered.oci");
          await runOk("cp", ["-a", layout, copy]);
          const found = await findObject(copy, checksum, suffix);
          tamper(found.tar, found.header.offset, found.header.size);
          await rewriteLayer(copy, found.i, found.tar, { moveFinal: true });
          const target = join(dir, "target-tampered");
          await Deno.mkdir(target);
          await runOk("ostree", ["init", `--repo=${target}`, "--mode=bare"]);
          const result = await runCli(["--repo", target, "image", "pull", `oci:${copy}:1`, "--branch", "os"]);
          assert.equal(result.code, 1, result.stderr);
          assert.match(result.stderr, /do not verify/);
          assert.equal((await runOk("ostree", ["refs", `--repo=${target}`])).trim(), "");
          assert.deepEqual(await leftovers(target), []);
          await removeTree(copy);
          await removeTree(target);
        });
      }

      for (
        const [what, label, value, message] of [
          [
            "an ostree.commit label that is no checksum",
            "ostree.commit",
            "not-a-checksum",
            /invalid ostree\.commit label/,
          ],
          [
            "an ostree.final-diffid that names no layer",
            "ostree.final-diffid",
            `sha256:${"e".repeat(64)}`,
            /label names no layer/,
          ],
        ] as const
      ) {
        await t.step(`${what}: refused, nothing imported`, async () => {
          const copy = join(dir, "labels.oci");
          await runOk("cp", ["-a", layout, copy]);
          await rewriteImage(copy, (_, config) => void (config.config!.Labels![label] = value));
          const target = await createRepo("bare", join(dir, "labels-target"));
          const result = await runCli(["--repo", target, "image", "pull", `oci:${copy}:1`, "--branch", "os"]);
          assert.equal(result.code, 1, result.stderr);
          assert.match(result.stderr, message);
          assert.match(result.stderr, /^Solution: The image is damaged; nothing was imported$/m);
          assert.equal((await runOk("ostree", ["refs", `--repo=${target}`])).trim(), "");
          await removeTree(copy);
          await removeTree(join(dir, "labels-target"));
        });
      }

      await t.step(
        "a layer added on top by another tool becomes a commit whose parent is the exported one",
        async () => {
          const derived = join(dir, "derived.oci");
          await runOk("cp", ["-a", layout, derived]);
          const { manifest } = await readImage(derived);
          await rewriteLayer(
            derived,
            manifest.layers.length,
            craftTar([
              { path: "usr/", type: "directory" },
              { path: "usr/bin/", type: "directory" },
              { path: "usr/bin/added", content: "added by another tool\n", mode: 0o755 },
              { path: "usr/bin/.wh.tool" },
              { path: "etc/", type: "directory" },
              { path: "etc/os-release", content: "NAME=derived\n" },
            ]),
            { moveFinal: false },
          );
          const target = join(dir, "target-derived");
          await Deno.mkdir(target);
          await runOk("ostree", ["init", `--repo=${target}`, "--mode=bare"]);
          const pulled = JSON.parse(
            (await runCliOk(["--repo", target, "--json", "image", "pull", `oci:${derived}:1`, "--branch", "os"]))
              .stdout,
          );
          assert.notEqual(pulled.commit, fx.commit);
          assert.equal(pulled.ostreeCommit, fx.commit);
          const log = await runOk("ostree", ["log", `--repo=${target}`, "os"]);
          assert.match(log, new RegExp(`commit ${fx.commit}`));
          const cat = (p: string) => runOk("ostree", ["cat", `--repo=${target}`, "os", p]);
          assert.equal(await cat("/usr/bin/added"), "added by another tool\n");
          assert.equal(await cat("/usr/etc/os-release"), "NAME=derived\n");
          assert.notEqual((await run("ostree", ["cat", `--repo=${target}`, "os", "/usr/bin/tool"])).code, 0);
          assert.equal(await cat("/a/b/c/d/deep.txt"), "deep file\n");
        },
      );
    }),
});

Deno.test({
  name: name("--bootc is reproducible in every output and compression; --no-bootc and --max-layers 1"),
  ignore: IGNORE,
  fn: (t) =>
    withFixture("bootc-repro-test-", async (fx) => {
      const dir = fx.dir;
      const first = await build(fx.repo, ["os", "os:1", "-o", join(dir, "a.oci")]);
      await t.step("two layouts, one oci-archive: one digest", async () => {
        const second = await build(fx.repo, ["os", "os:1", "-o", join(dir, "b.oci")]);
        const archive = await build(fx.repo, ["os", "os:1", "-o", `oci-archive:${join(dir, "c.tar")}`]);
        assert.equal(second.digest, first.digest);
        assert.equal(archive.digest, first.digest);
      });
      await t.step("an unchanged rebuild reuses the image", async () => {
        const again = await build(fx.repo, ["os", "os:1", "-o", join(dir, "a.oci")]);
        assert.equal(again.reusedImage, true);
        assert.equal(again.bootc, true);
        assert.equal(again.digest, first.digest);
      });
      await t.step("zstd: reproducible, and it pulls back to the same commit", async () => {
        const z1 = await build(fx.repo, ["os", "os:1", "-o", join(dir, "z1.oci"), "--compression", "zstd"]);
        const z2 = await build(fx.repo, ["os", "os:1", "-o", join(dir, "z2.oci"), "--compression", "zstd"]);
        assert.equal(z1.digest, z2.digest);
        const target = await createRepo("bare", join(dir, "zt"));
        const pulled = JSON.parse(
          (await runCliOk([
            "--repo",
            target,
            "--json",
            "image",
            "pull",
            `oci:${join(dir, "z1.oci")}:1`,
            "--branch",
            "x",
          ]))
            .stdout,
        );
        assert.equal(pulled.commit, fx.commit);
      });
      await t.step("a docker-archive pulls back to the same commit, into an archive-mode repository", async () => {
        const tar = join(dir, "d.tar");
        await build(fx.repo, ["os", "os:1", "-o", `docker-archive:${tar}`]);
        const target = await createRepo("archive", join(dir, "dt"));
        const pulled = JSON.parse(
          (await runCliOk(["--repo", target, "--json", "image", "pull", `docker-archive:${tar}`, "--branch", "x"]))
            .stdout,
        );
        assert.equal(pulled.commit, fx.commit);
      });
      await t.step("--max-layers 1: one layer that still fscks", async () => {
        const one = await build(fx.repo, ["os", "os:1", "-o", join(dir, "one.oci"), "--max-layers", "1"]);
        assert.equal(one.layers!.length, 1);
        const unpacked = join(dir, "one-unpacked");
        await runOk("umoci", ["unpack", "--image", `${join(dir, "one.oci")}:1`, unpacked]);
        const fsck = await run("ostree", ["fsck", `--repo=${join(unpacked, "rootfs/sysroot/ostree/repo")}`]);
        assert.equal(fsck.code, 0, fsck.stderr);
      });
      await t.step("--no-bootc writes a plain image", async () => {
        const plain = await build(fx.repo, ["os", "os:1", "-o", join(dir, "plain.oci"), "--no-bootc"]);
        assert.equal(plain.bootc, false);
        const { config } = await readImage(join(dir, "plain.oci"));
        assert.equal(config.config?.Labels?.["ostree.final-diffid"], undefined);
      });
      if (await hasProgram("docker-registry")) {
        await t.step("straight into a registry: same digest, and it pulls back to the same commit", async () => {
          const registry = await startRegistry(join(dir, "registry"));
          try {
            const location = `docker://${registry.host}/os:1`;
            const pushed = await build(fx.repo, ["os", "os:1", "-o", location, "--tls-verify=false"]);
            assert.equal(pushed.digest, first.digest);
            const target = await createRepo("bare", join(dir, "rt"));
            const pulled = JSON.parse(
              (await runCliOk([
                "--repo",
                target,
                "--json",
                "image",
                "pull",
                location,
                "--branch",
                "x",
                "--tls-verify=false",
              ])).stdout,
            );
            assert.equal(pulled.commit, fx.commit);
          } finally {
            await registry.stop();
          }
        });
      }
    }),
});

Deno.test({
  name: name("--bootc refuses a commit that breaks a fatal lint rule (rule and path named, nothing written)"),
  ignore: IGNORE,
  async fn() {
    const dir = await makeTempDir("bootc-lint-test-");
    try {
      const tree = join(dir, "tree");
      for (const d of ["dev", "proc", "sys", "run", "tmp", "var/run", "sysroot", "usr/bin"]) {
        await Deno.mkdir(join(tree, d), { recursive: true });
      }
      await Deno.writeTextFile(join(tree, "usr/bin/tool"), "tool\n");
      const repo = await createRepo("bare", dir);
      await commitTree(repo, "os", tree);
      const out = join(dir, "img.oci");
      const result = await runCli(["--repo", repo, "compose", "build-image", "os", "os:1", "-o", out, "--bootc"]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /Lint rule var-run failed at \/var\/run/);
      assert.match(result.stderr, /--lint-skip var-run/);
      await assert.rejects(Deno.lstat(out), Deno.errors.NotFound);
      const skip = ["--lint-skip", "var-run", "--lint-skip", "baseimage-root"];
      const skipped = await build(repo, ["os", "os:1", "-o", out, "--bootc", ...skip]);
      assert.equal(skipped.bootc, true);
      assert.equal(skipped.kernel, undefined);
      // The base bin holds only directories here: it gets no layer (an empty one would be the bare skeleton).
      assert.deepEqual(skipped.layers!.map((l) => l.bin), ["ostree-commit", "unit:path:usr/bin"]);
      const usage = await runCli(["--repo", repo, "compose", "build-image", "os", "os:1", "--lint-skip", "nope"]);
      assert.equal(usage.code, 2);
    } finally {
      await removeTree(dir);
    }
  },
});
