/**
 * Integration tests of `apt-ostree compose build-image`: real OSTree
 * repositories (bare, bare-user, archive) built with `ostree`, the CLI run
 * as a child process, and the images checked with skopeo, umoci,
 * oci-image-tool and podman against an `ostree checkout` of the commit.
 *
 * Run alone with: deno test --allow-all tests/build_image_test.ts
 */

import assert from "node:assert/strict";
import { mayHardlink } from "../src/tar/layer_tar.ts";
import { join } from "node:path";
import { type BuildJson, parseJsonResult, runCli, runCliOk } from "./helpers/cli.ts";
import {
  commitTree,
  createRepo,
  findTempNames,
  FIXTURE_TIMESTAMP,
  type FixtureRepoMode,
  isRoot,
  listTree,
  makeDebianLikeTree,
  makeOddNamesTree,
  makeRichTree,
  makeSmallTree,
  makeTempDir,
  makeTreeWithBothEtc,
  removeTree,
  REPO_MODES,
  type RichTree,
  run,
  runOk,
  type ScannedEntry,
  scanTree,
  sha256File,
} from "./helpers/fixture_repo.ts";

const ROOT = isRoot();
const NEEDS_ROOT = "needs root: ownership, setuid, security.capability and bare repos";
/** A test name that says why the test is ignored when not running as root. */
function rootOnly(name: string): string {
  return ROOT ? name : `${name} [ignored: ${NEEDS_ROOT}]`;
}

const FORMATS = ["oci", "oci-archive", "docker"] as const;
type Format = typeof FORMATS[number];

const CREATED = new Date(FIXTURE_TIMESTAMP * 1000).toISOString().replace(/\.000Z$/, "Z");
const HOST_ARCH = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
const REF_NAME = "org.opencontainers.image.ref.name";

/** A name no other test (or parallel run) uses, so podman tags never clash. */
function uniqueName(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

// ---------------------------------------------------------------------------
// Reading images.

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

interface ImageIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
}

interface Manifest {
  schemaVersion: number;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

interface ImageConfig {
  created: string;
  architecture: string;
  os: string;
  config: {
    User?: string;
    ExposedPorts?: Record<string, unknown>;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    Volumes?: Record<string, unknown>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs: { type: string; diff_ids: string[] };
  history: { created: string; created_by?: string; comment?: string }[];
}

function blobPath(layout: string, digest: string): string {
  const [algorithm, hex] = digest.split(":");
  return join(layout, "blobs", algorithm, hex);
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(path)) as T;
}

async function readIndex(layout: string): Promise<ImageIndex> {
  return await readJson<ImageIndex>(join(layout, "index.json"));
}

/** The manifest and config that `tag` names in a layout. */
async function readImage(
  layout: string,
  tag: string,
): Promise<{ descriptor: Descriptor; manifest: Manifest; config: ImageConfig }> {
  const index = await readIndex(layout);
  const matches = index.manifests.filter((m) => m.annotations?.[REF_NAME] === tag);
  assert.equal(matches.length, 1, `exactly one manifest tagged ${tag} in ${JSON.stringify(index)}`);
  const descriptor = matches[0];
  const manifest = await readJson<Manifest>(blobPath(layout, descriptor.digest));
  const config = await readJson<ImageConfig>(blobPath(layout, manifest.config.digest));
  return { descriptor, manifest, config };
}

/** The OCI layout of an output: the directory itself, or the archive extracted into `scratch`. */
async function layoutOf(output: string, format: Format, scratch: string): Promise<string> {
  if (format === "oci") return output;
  const dir = join(scratch, `extracted-${format}`);
  await Deno.mkdir(dir, { recursive: true });
  await runOk("tar", ["-xf", output, "-C", dir]);
  return dir;
}

function skopeoTransport(format: Format, output: string, tag: string): string {
  if (format === "oci") return `oci:${output}:${tag}`;
  if (format === "oci-archive") return `oci-archive:${output}`;
  return `docker-archive:${output}`;
}

interface SkopeoInspect {
  Digest: string;
  Created: string;
  Labels: Record<string, string> | null;
  Architecture: string;
  Os: string;
  Layers: string[];
  Env: string[] | null;
}

async function skopeoInspect(transport: string): Promise<SkopeoInspect> {
  return JSON.parse(await runOk("skopeo", ["inspect", transport])) as SkopeoInspect;
}

/** Runs a build with --json; it must succeed and, off a terminal, print nothing on stderr. */
async function buildJson(args: string[], options: { env?: Record<string, string>; uid?: number } = {}) {
  const result = await runCliOk(["--json", ...args], options);
  assert.equal(result.stderr, "", "no progress or warnings on stderr off a terminal");
  return parseJsonResult(result);
}

// ---------------------------------------------------------------------------
// Comparing a rootfs with a checkout.

/** Maps a checkout's paths to the image's: `usr/etc` becomes `etc`. */
function asImagePaths(checkout: Map<string, ScannedEntry>): Map<string, ScannedEntry> {
  const out = new Map<string, ScannedEntry>();
  for (const [path, entry] of checkout) {
    const mapped = path === "usr/etc" || path.startsWith("usr/etc/") ? path.slice("usr/".length) : path;
    out.set(mapped, entry);
  }
  return out;
}

const octal = (mode: number) => `0${mode.toString(8)}`;

/** Every difference between the expected tree and the unpacked one, one line each. */
function differences(expected: Map<string, ScannedEntry>, actual: Map<string, ScannedEntry>): string[] {
  const diffs: string[] = [];
  for (const path of expected.keys()) if (!actual.has(path)) diffs.push(`missing in image: ${path}`);
  for (const path of actual.keys()) if (!expected.has(path)) diffs.push(`unexpected in image: ${path}`);
  for (const [path, want] of expected) {
    const got = actual.get(path);
    if (!got) continue;
    const check = (field: string, w: unknown, g: unknown) => {
      if (JSON.stringify(w) !== JSON.stringify(g)) {
        diffs.push(`${path}: ${field} is ${JSON.stringify(g)}, checkout has ${JSON.stringify(w)}`);
      }
    };
    check("type", want.type, got.type);
    if (want.type !== got.type) continue;
    if (want.mode !== got.mode) diffs.push(`${path}: mode is ${octal(got.mode)}, checkout has ${octal(want.mode)}`);
    check("uid", want.uid, got.uid);
    check("gid", want.gid, got.gid);
    check("size", want.size, got.size);
    check("sha256", want.sha256, got.sha256);
    check("symlink target", want.target, got.target);
    check("xattrs", want.xattrs, got.xattrs);
  }
  // Paths that are one inode in the checkout must be one inode in the image, where a deployed system links
  // them too (not empty files, nothing under etc/ or var/: see mayHardlink).
  const byInode = new Map<number, string[]>();
  for (const [path, entry] of expected) {
    if (entry.type !== "file" || !mayHardlink(path, entry.size)) continue;
    byInode.set(entry.ino, [...(byInode.get(entry.ino) ?? []), path]);
  }
  for (const group of byInode.values()) {
    if (group.length < 2) continue;
    const inodes = new Set(group.map((p) => actual.get(p)?.ino));
    if (inodes.size !== 1) diffs.push(`hardlinked in the checkout but not in the image: ${group.join(", ")}`);
  }
  return diffs;
}

async function umociUnpack(layout: string, tag: string, bundle: string): Promise<Map<string, ScannedEntry>> {
  await runOk("umoci", ["unpack", "--image", `${layout}:${tag}`, bundle]);
  return await scanTree(join(bundle, "rootfs"));
}

/** A rich tree committed to a fresh repository of `mode` in a new temp dir. */
interface Fixture {
  dir: string;
  repo: string;
  commit: string;
  tree: RichTree;
}

async function richFixture(mode: FixtureRepoMode, bigFileSize?: number): Promise<Fixture> {
  const dir = await makeTempDir();
  try {
    await Deno.chmod(dir, 0o755);
    const tree = await makeRichTree(join(dir, "tree"), { bigFileSize });
    const repo = await createRepo(mode, dir);
    const commit = await commitTree(repo, "main", join(dir, "tree"), { version: "1.0" });
    await removeTree(join(dir, "tree"));
    return { dir, repo, commit, tree };
  } catch (error) {
    await removeTree(dir);
    throw error;
  }
}

function assertBuildJson(json: BuildJson, expect: { commit: string; image: string; format: Format; output: string }) {
  assert.equal(json.dryRun, false);
  assert.equal(json.commit, expect.commit);
  assert.equal(json.image, expect.image);
  assert.equal(json.format, expect.format);
  assert.equal(json.output, expect.output);
  assert.match(json.digest ?? "", /^sha256:[0-9a-f]{64}$/);
  assert.ok(json.config, "json has config");
  assert.equal(json.config.mediaType, "application/vnd.oci.image.config.v1+json");
  assert.match(json.config.digest, /^sha256:[0-9a-f]{64}$/);
  assert.ok(json.config.size > 0);
  assert.ok(Array.isArray(json.layers) && json.layers.length >= 1, "json has layers");
  for (const layer of json.layers) {
    assert.match(layer.digest, /^sha256:[0-9a-f]{64}$/);
    assert.match(layer.diffId, /^sha256:[0-9a-f]{64}$/);
    assert.ok(layer.size > 0);
    assert.equal(layer.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
  }
  assert.equal(new Set(json.layers.map((l) => l.digest)).size, json.layers.length, "no layer twice");
  assert.equal(json.created, CREATED);
  assert.equal(json.platform.architecture, HOST_ARCH);
  assert.equal(json.platform.os, "linux");
}

/** sha256 of a gzip blob's uncompressed bytes. */
async function gunzipDigest(path: string): Promise<string> {
  const out = await runOk("sh", ["-c", 'gzip -dc -- "$1" | sha256sum', "sh", path]);
  return `sha256:${out.split(" ")[0]}`;
}

// ---------------------------------------------------------------------------
// Every format from every repository mode, checked against a checkout.

for (const mode of REPO_MODES) {
  Deno.test({
    name: rootOnly(
      `build-image from a ${mode} repo: every format inspects, validates, unpacks like the checkout, loads`,
    ),
    ignore: !ROOT,
    async fn(t) {
      const fx = await richFixture(mode);
      const name = uniqueName(`fixture-${mode}`);
      const podmanTags: string[] = [];
      try {
        const checkout = join(fx.dir, "checkout");
        await runOk("ostree", ["checkout", `--repo=${fx.repo}`, fx.commit, checkout]);
        const expected = asImagePaths(await scanTree(checkout));
        // The fixture really has what the image must carry.
        assert.ok(expected.has("etc/os-release") && !expected.has("usr/etc"), "checkout has /usr/etc, mapped");
        assert.equal(expected.get(fx.tree.setuidFile)?.mode, 0o4755);
        assert.equal(expected.get(fx.tree.bigIdFile)?.uid, 3000000);
        assert.equal(expected.get(fx.tree.capFile)?.xattrs["security.capability"]?.length, 40);
        assert.equal(expected.get(fx.tree.bigFile)?.size, fx.tree.bigFileSize);

        const digests = new Map<Format, string>();
        for (const format of FORMATS) {
          await t.step(format, async () => {
            const tag = format;
            const output = join(fx.dir, "out", format === "oci" ? "image.oci" : `image-${format}.tar`);
            await Deno.mkdir(join(fx.dir, "out"), { recursive: true });
            const json = await buildJson([
              "--repo",
              fx.repo,
              "compose",
              "build-image",
              "main",
              `${name}:${tag}`,
              "--format",
              format,
              "-o",
              output,
            ]);
            assertBuildJson(json, {
              commit: fx.commit,
              image: `docker.io/library/${name}:${tag}`,
              format,
              output,
            });
            digests.set(format, json.digest!);
            assert.deepEqual(await findTempNames(join(fx.dir, "out")), [], "no temp files left");

            // skopeo
            const inspect = await skopeoInspect(skopeoTransport(format, output, tag));
            assert.equal(inspect.Labels?.["ostree.commit"], fx.commit);
            assert.equal(inspect.Labels?.["org.opencontainers.image.version"], "1.0");
            assert.equal(inspect.Architecture, HOST_ARCH);
            assert.equal(inspect.Os, "linux");
            assert.equal(inspect.Created, CREATED);
            // skopeo's docker-archive source decompresses layers and reports their diff ids.
            const layerIds = json.layers!.map((l) => format === "docker" ? l.diffId : l.digest);
            assert.deepEqual(inspect.Layers, layerIds);
            // docker-archive manifests are converted by skopeo; the OCI ones are ours.
            if (format !== "docker") assert.equal(inspect.Digest, json.digest);

            // The layout inside (the archive extracted) and its blobs.
            const layout = await layoutOf(output, format, fx.dir);
            const { descriptor, manifest, config } = await readImage(layout, tag);
            assert.equal(descriptor.digest, json.digest);
            assert.equal(
              descriptor.annotations?.["io.containerd.image.name"],
              `docker.io/library/${name}:${tag}`,
            );
            assert.equal(await sha256File(blobPath(layout, json.digest!)), json.digest!.slice(7));
            assert.deepEqual(manifest.config, json.config);
            assert.deepEqual(
              manifest.layers.map((l) => [l.mediaType, l.digest, l.size]),
              json.layers!.map((l) => [l.mediaType, l.digest, l.size]),
            );
            for (const layer of json.layers!) {
              assert.equal((await Deno.stat(blobPath(layout, layer.digest))).size, layer.size);
              assert.equal(await gunzipDigest(blobPath(layout, layer.digest)), layer.diffId);
            }
            assert.deepEqual(config.rootfs, { type: "layers", diff_ids: json.layers!.map((l) => l.diffId) });
            assert.equal(config.history.length, json.layers!.length);
            assert.equal(config.created, CREATED);
            assert.equal(manifest.annotations?.["org.opencontainers.image.created"], CREATED);
            assert.equal(manifest.annotations?.["org.opencontainers.image.revision"], fx.commit);
            assert.equal(manifest.annotations?.["org.opencontainers.image.version"], "1.0");
            if (format === "docker") {
              const dockerManifest = await readJson<{ Config: string; RepoTags: string[]; Layers: string[] }[]>(
                join(layout, "manifest.json"),
              );
              assert.deepEqual(dockerManifest, [{
                Config: `blobs/sha256/${json.config!.digest.slice(7)}`,
                RepoTags: [`${name}:${tag}`],
                Layers: json.layers!.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
              }]);
            }

            // oci-image-tool
            const validate = await run("oci-image-tool", ["validate", "--type", "image", layout]);
            assert.equal(validate.code, 0, `oci-image-tool validate failed:\n${validate.stdout}\n${validate.stderr}`);

            // umoci: every path as in the checkout.
            const actual = await umociUnpack(layout, tag, join(fx.dir, `bundle-${format}`));
            const diffs = differences(expected, actual);
            assert.deepEqual(diffs, [], `rootfs differs from the checkout:\n${diffs.join("\n")}`);
            const [one, two] = fx.tree.hardlinks;
            assert.equal(actual.get(one)?.ino, actual.get(two)?.ino, "the hardlink pair is one inode");
            await removeTree(join(fx.dir, `bundle-${format}`));

            // podman load
            if (format !== "oci") {
              const load = await run("podman", ["load", "-i", output]);
              assert.equal(load.code, 0, `podman load failed:\n${load.stdout}\n${load.stderr}`);
              podmanTags.push(`docker.io/library/${name}:${tag}`);
              const images = JSON.parse(
                await runOk("podman", ["image", "inspect", `docker.io/library/${name}:${tag}`]),
              ) as { RepoTags: string[]; Created: string; Architecture: string }[];
              assert.equal(images.length, 1);
              assert.ok(
                images[0].RepoTags.includes(`docker.io/library/${name}:${tag}`),
                `podman shows the tag: ${images[0].RepoTags}`,
              );
              assert.equal(images[0].Architecture, HOST_ARCH);
            }
            if (format !== "oci") await removeTree(layout);
          });
        }
        await t.step("every format has the same manifest digest", () => {
          assert.equal(new Set(digests.values()).size, 1, JSON.stringify([...digests]));
        });
        await t.step("--max-layers 1: one layer, the same rootfs", async () => {
          const output = join(fx.dir, "out", "single.oci");
          const json = await buildJson([
            "--repo",
            fx.repo,
            "compose",
            "build-image",
            "main",
            `${name}:single`,
            "--max-layers",
            "1",
            "-o",
            output,
          ]);
          assert.equal(json.layers?.length, 1);
          const validate = await run("oci-image-tool", ["validate", "--type", "image", output]);
          assert.equal(validate.code, 0, `oci-image-tool validate failed:\n${validate.stdout}\n${validate.stderr}`);
          const actual = await umociUnpack(output, "single", join(fx.dir, "bundle-single"));
          const diffs = differences(expected, actual);
          assert.deepEqual(diffs, [], `rootfs differs from the checkout:\n${diffs.join("\n")}`);
        });
      } finally {
        for (const tag of podmanTags) await run("podman", ["rmi", tag]);
        await removeTree(fx.dir);
      }
    },
  });
}

// ---------------------------------------------------------------------------
// Reproducibility.

Deno.test({
  name: rootOnly("build-image is reproducible: other output paths and worker counts give the same digest"),
  ignore: !ROOT,
  async fn(t) {
    const fx = await richFixture("bare-user", 5 * 1024 * 1024 + 7);
    try {
      const build = (output: string, extra: string[] = [], env?: Record<string, string>) =>
        buildJson(["--repo", fx.repo, "compose", "build-image", "main", "repro:1", "-o", output, ...extra], { env });
      const first = await build(join(fx.dir, "first.oci"));
      await Deno.mkdir(join(fx.dir, "elsewhere", "deeper"), { recursive: true });
      const second = await build(join(fx.dir, "elsewhere", "deeper", "second.oci"), ["--workers", "1"]);
      const third = await build(join(fx.dir, "third.oci"), ["--workers", "3"]);

      await t.step("same manifest, config and layer digests", () => {
        assert.equal(second.digest, first.digest);
        assert.equal(third.digest, first.digest);
        assert.deepEqual(second.layers, first.layers);
        assert.deepEqual(second.config, first.config);
      });
      await t.step("the layouts are byte-identical", async () => {
        const a = join(fx.dir, "first.oci");
        const b = join(fx.dir, "elsewhere", "deeper", "second.oci");
        assert.deepEqual(await listTree(a), await listTree(b));
        for (const path of await listTree(a)) {
          if (path.endsWith("/")) continue;
          assert.equal(await sha256File(join(a, path)), await sha256File(join(b, path)), path);
        }
      });
      await t.step("SOURCE_DATE_EPOCH sets created (and so the config and manifest)", async () => {
        const epoch = await build(join(fx.dir, "epoch.oci"), [], { SOURCE_DATE_EPOCH: "1700000000" });
        assert.equal(epoch.created, "2023-11-14T22:13:20Z");
        assert.notEqual(epoch.digest, first.digest);
        assert.notEqual(epoch.config!.digest, first.config!.digest);
        assert.deepEqual(epoch.layers, first.layers, "the layer does not depend on the time");
        const { config, manifest } = await readImage(join(fx.dir, "epoch.oci"), "1");
        assert.equal(config.created, "2023-11-14T22:13:20Z");
        assert.equal(manifest.annotations?.["org.opencontainers.image.created"], "2023-11-14T22:13:20Z");
        const inspect = await skopeoInspect(`oci:${join(fx.dir, "epoch.oci")}:1`);
        assert.equal(inspect.Created, "2023-11-14T22:13:20Z");
        // Same epoch again: same digest.
        const again = await build(join(fx.dir, "epoch2.oci"), [], { SOURCE_DATE_EPOCH: "1700000000" });
        assert.equal(again.digest, epoch.digest);
      });
    } finally {
      await removeTree(fx.dir);
    }
  },
});

// ---------------------------------------------------------------------------
// Several tags in one layout.

Deno.test({
  name: rootOnly("build-image into an existing layout adds a tag, keeps the others, and replaces a rebuilt tag"),
  ignore: !ROOT,
  async fn(t) {
    const dir = await makeTempDir();
    try {
      await makeSmallTree(join(dir, "tree"));
      const repo = await createRepo("bare-user", dir);
      const commit = await commitTree(repo, "main", join(dir, "tree"), { version: "2.0" });
      const layout = join(dir, "multi.oci");
      const build = (image: string, extra: string[] = []) =>
        buildJson(["--repo", repo, "compose", "build-image", "main", image, "-o", layout, ...extra]);

      const one = await build("multi:one");
      const two = await build("multi:two", ["--env", "SECOND=1"]);

      await t.step("index.json holds both tags, and the layer blob is shared", async () => {
        const index = await readIndex(layout);
        assert.deepEqual(index.manifests.map((m) => m.annotations?.[REF_NAME]).sort(), ["one", "two"]);
        assert.notEqual(one.digest, two.digest);
        assert.deepEqual(two.layers!.map((l) => l.digest), one.layers!.map((l) => l.digest), "same layers");
        assert.ok(two.layers!.every((l) => l.reused), "the second tag reuses the first tag's layers");
        const blobs = (await listTree(join(layout, "blobs", "sha256"))).filter((p) => !p.endsWith("/")).sort();
        const referenced = new Set<string>();
        for (const json of [one, two]) {
          for (const digest of [json.digest!, json.config!.digest, ...json.layers!.map((l) => l.digest)]) {
            referenced.add(digest.slice("sha256:".length));
          }
        }
        assert.deepEqual(blobs, [...referenced].sort(), "each blob once: layers shared, a config and manifest per tag");
        assert.equal((await skopeoInspect(`oci:${layout}:one`)).Digest, one.digest);
        assert.equal((await skopeoInspect(`oci:${layout}:two`)).Digest, two.digest);
        assert.equal((await skopeoInspect(`oci:${layout}:two`)).Labels?.["ostree.commit"], commit);
        assert.deepEqual(await findTempNames(dir), []);
        const validate = await run("oci-image-tool", ["validate", "--type", "image", layout]);
        assert.equal(validate.code, 0, validate.stdout + validate.stderr);
      });

      await t.step("rebuilding a tag replaces only that tag", async () => {
        const oneAgain = await build("multi:one", ["--label", "rebuilt=yes"]);
        assert.notEqual(oneAgain.digest, one.digest);
        const index = await readIndex(layout);
        assert.equal(index.manifests.length, 2, JSON.stringify(index));
        const byTag = Object.fromEntries(index.manifests.map((m) => [m.annotations?.[REF_NAME], m.digest]));
        assert.deepEqual(byTag, { one: oneAgain.digest, two: two.digest });
        const inspect = await skopeoInspect(`oci:${layout}:one`);
        assert.equal(inspect.Digest, oneAgain.digest);
        assert.equal(inspect.Labels?.rebuilt, "yes");
        assert.equal((await skopeoInspect(`oci:${layout}:two`)).Digest, two.digest);
        assert.deepEqual(await findTempNames(dir), []);
      });

      await t.step("rebuilding a tag with the same content leaves index.json as it was", async () => {
        const before = await Deno.readTextFile(join(layout, "index.json"));
        const blobsBefore = await listTree(join(layout, "blobs"));
        const same = await build("multi:two", ["--env", "SECOND=1"]);
        assert.equal(same.digest, two.digest);
        assert.equal(same.reusedImage, true, "the identical image is reused as a whole");
        assert.deepEqual(await listTree(join(layout, "blobs")), blobsBefore, "no blob added");
        const index = await readIndex(layout);
        assert.equal(index.manifests.length, 2);
        assert.deepEqual(
          index.manifests.map((m) => m.digest).sort(),
          JSON.parse(before).manifests.map((m: Descriptor) => m.digest).sort(),
        );
      });
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: rootOnly("concurrent builds of different tags into one layout keep every tag"),
  ignore: !ROOT,
  async fn() {
    const dir = await makeTempDir();
    try {
      await makeSmallTree(join(dir, "tree"));
      const repo = await createRepo("bare-user", dir);
      await commitTree(repo, "main", join(dir, "tree"));
      const layout = join(dir, "shared.oci");
      await buildJson(["--repo", repo, "compose", "build-image", "main", "shared:base", "-o", layout]);
      const tags = ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10"];
      const results = await Promise.all(
        tags.map((tag) =>
          buildJson([
            "--repo",
            repo,
            "compose",
            "build-image",
            "main",
            `shared:${tag}`,
            "-o",
            layout,
            "--env",
            `T=${tag}`,
          ])
        ),
      );
      const index = await readIndex(layout);
      const byTag = Object.fromEntries(index.manifests.map((m) => [m.annotations?.[REF_NAME], m.digest]));
      const expected = Object.fromEntries(tags.map((tag, i) => [tag, results[i].digest]));
      for (const [tag, digest] of Object.entries(expected)) {
        assert.equal(byTag[tag], digest, `tag ${tag} was lost from index.json: ${JSON.stringify(Object.keys(byTag))}`);
      }
      assert.ok(byTag.base, "the first tag is kept");
      for (const tag of ["base", ...tags]) await skopeoInspect(`oci:${layout}:${tag}`);
      assert.deepEqual(await findTempNames(dir), []);
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: rootOnly("build-image of a newer commit into the layout reuses unchanged layers and unpacks like its checkout"),
  ignore: !ROOT,
  async fn(t) {
    const dir = await makeTempDir();
    try {
      const tree = join(dir, "tree");
      await makeRichTree(tree, { bigFileSize: 2 * 1024 * 1024 });
      const repo = await createRepo("bare-user", dir);
      await commitTree(repo, "main", tree, { version: "1" });
      // The next commit: one file changed, one unit gone, one unit new.
      await Deno.writeTextFile(join(tree, "a/b/c/d/deep.txt"), "changed in version 2\n");
      await removeTree(join(tree, "dír-ñ"));
      await Deno.mkdir(join(tree, "opt/newapp"), { recursive: true });
      await Deno.writeTextFile(join(tree, "opt/newapp/run"), "new in version 2\n");
      const v2 = await commitTree(repo, "main", tree, { version: "2", timestamp: FIXTURE_TIMESTAMP + 86400 });
      await removeTree(tree);
      const layout = join(dir, "app.oci");
      const build = (tag: string, source: string, out = layout) =>
        buildJson(["--repo", repo, "compose", "build-image", source, `app:${tag}`, "-o", out]);

      const first = await build("1", "main^");
      const second = await build("2", "main");
      const fresh = await build("2", "main", join(dir, "fresh.oci"));

      await t.step("unchanged layers are reused, changed ones rebuilt", () => {
        assert.equal(second.commit, v2);
        const reused = second.layers!.filter((l) => l.reused);
        const rebuilt = second.layers!.filter((l) => !l.reused);
        assert.ok(reused.length > 0, "some layers are reused");
        assert.ok(rebuilt.length > 0, "the changed layers are rebuilt");
        const firstDigests = new Set(first.layers!.map((l) => l.digest));
        for (const layer of reused) {
          assert.ok(firstDigests.has(layer.digest), `${layer.bin} comes from the first build`);
        }
        // The big file did not change: its layer is the very same blob.
        const big = (json: BuildJson) => json.layers!.find((l) => l.bin?.includes("big"))?.digest;
        assert.ok(big(second) !== undefined && big(second) === big(first), "the big file's layer is reused");
      });
      await t.step("the incremental image unpacks like the new commit's checkout", async () => {
        await runOk("ostree", ["checkout", `--repo=${repo}`, v2, join(dir, "checkout")]);
        const expected = asImagePaths(await scanTree(join(dir, "checkout")));
        assert.ok(expected.has("opt/newapp/run") && !expected.has("dír-ñ"));
        for (const [tag, path] of [["2", layout], ["2", join(dir, "fresh.oci")]]) {
          const actual = await umociUnpack(path, tag, join(dir, `bundle-${crypto.randomUUID()}`));
          const diffs = differences(expected, actual);
          assert.deepEqual(diffs, [], `${path}: rootfs differs from the checkout:\n${diffs.join("\n")}`);
        }
        const validate = await run("oci-image-tool", ["validate", "--type", "image", layout]);
        assert.equal(validate.code, 0, validate.stdout + validate.stderr);
        assert.equal((await skopeoInspect(`oci:${layout}:1`)).Digest, first.digest, "tag 1 is kept");
        assert.equal(fresh.commit, v2);
      });
      await t.step("a layer blob deleted from the layout is written again, not reused", async () => {
        const victim = second.layers!.find((l) => l.reused)!;
        await Deno.remove(blobPath(layout, victim.digest));
        const again = await build("3", "main");
        const restored = again.layers!.find((l) => l.digest === victim.digest);
        assert.ok(restored, "the same layer is in the new image");
        assert.equal(restored.reused, false, "it was rebuilt");
        assert.ok((await Deno.stat(blobPath(layout, victim.digest))).isFile, "the blob is back");
        await umociUnpack(layout, "3", join(dir, "bundle-3"));
        await umociUnpack(layout, "2", join(dir, "bundle-2-again"));
      });
      await t.step("a whole image whose blob is gone is rebuilt, not reused", async () => {
        // Same commit and options as tag 1: the whole image is reused.
        const json = await build("4", "main^");
        assert.equal(json.reusedImage, true);
        assert.equal(json.digest, first.digest);
        await Deno.remove(blobPath(layout, json.config!.digest));
        const again = await build("4", "main^");
        assert.equal(again.reusedImage, false);
        await runOk("skopeo", ["inspect", `oci:${layout}:4`]);
        await runOk("ostree", ["checkout", `--repo=${repo}`, "main^", join(dir, "checkout-v1")]);
        const expected = asImagePaths(await scanTree(join(dir, "checkout-v1")));
        const actual = await umociUnpack(layout, "4", join(dir, "bundle-4"));
        const diffs = differences(expected, actual);
        assert.deepEqual(diffs, [], `rootfs differs from the checkout:\n${diffs.join("\n")}`);
      });
    } finally {
      await removeTree(dir);
    }
  },
});

/** Paths in a gzip layer blob (directories without their trailing slash). */
async function layerPaths(blob: string): Promise<string[]> {
  const out = await runOk("tar", ["-tzf", blob]);
  return out.split("\n").filter((l) => l !== "").map((l) => l.replace(/\/$/, "")).sort();
}

Deno.test({
  name: rootOnly("build-image splits a Debian tree into a layer per dpkg package, and rebuilds only what changed"),
  ignore: !ROOT,
  async fn(t) {
    const dir = await makeTempDir();
    try {
      const tree = join(dir, "tree");
      await makeDebianLikeTree(tree, "1");
      const repo = await createRepo("bare-user", dir);
      await commitTree(repo, "deb", tree, { version: "1" });
      await Deno.writeTextFile(join(tree, "usr/bin/ls"), "ls 2\n");
      const v2 = await commitTree(repo, "deb", tree, { version: "2", timestamp: FIXTURE_TIMESTAMP + 60 });
      await removeTree(tree);
      const layout = join(dir, "deb.oci");
      const build = (tag: string, source: string) =>
        buildJson(["--repo", repo, "compose", "build-image", source, `deb:${tag}`, "-o", layout]);
      const first = await build("1", "deb^");

      await t.step("one layer per package, shared and unowned paths in the base layer", async () => {
        const bins = first.layers!.map((l) => l.bin);
        assert.equal(bins[0], "base");
        for (const pkg of ["coreutils", "libc6", "nginx"]) {
          assert.ok(bins.includes(`unit:${pkg}`), JSON.stringify(bins));
        }
        const pathsOf = async (bin: string) =>
          await layerPaths(blobPath(layout, first.layers!.find((l) => l.bin === bin)!.digest));
        const coreutils = await pathsOf("unit:coreutils");
        assert.ok(coreutils.includes("usr/bin/ls") && coreutils.includes("usr/bin/cat"), coreutils.join(", "));
        assert.ok(!coreutils.includes("usr/sbin/nginx"));
        const libc = await pathsOf("unit:libc6");
        assert.ok(libc.includes("etc/ld.so.conf"), "a package's /etc file (from /usr/etc) goes with it");
        assert.ok(libc.includes("usr/lib/x86_64-linux-gnu/libm.so.6"));
        const base = await pathsOf("base");
        assert.ok(base.includes("usr/local/unowned"), "unowned files are in the base layer");
        assert.ok(base.includes("bin"), "the merged-/usr symlink is in the base layer");
        assert.ok(!base.includes("usr/bin/ls"));
        // Every file is in exactly one layer.
        const all = new Map<string, string[]>();
        for (const layer of first.layers!) {
          const blob = blobPath(layout, layer.digest);
          const verbose = await runOk("tar", ["-tvzf", blob]);
          for (const line of verbose.split("\n")) {
            if (!line.startsWith("-") && !line.startsWith("l") && !line.startsWith("h")) continue;
            const path = line.replace(/^.*? \d{4}-\d\d-\d\d \d\d:\d\d /, "").replace(/ -> .*$/, "")
              .replace(/ link to .*$/, "");
            all.set(path, [...(all.get(path) ?? []), layer.bin ?? "?"]);
          }
        }
        assert.ok(all.has("usr/bin/ls") && all.has("bin") && all.size >= 15, JSON.stringify([...all.keys()]));
        const twice = [...all].filter(([, bins]) => bins.length > 1);
        assert.deepEqual(twice, [], "no file in two layers");
      });
      await t.step("it unpacks like the checkout", async () => {
        await runOk("ostree", ["checkout", `--repo=${repo}`, "deb^", join(dir, "checkout")]);
        const expected = asImagePaths(await scanTree(join(dir, "checkout")));
        const diffs = differences(expected, await umociUnpack(layout, "1", join(dir, "bundle")));
        assert.deepEqual(diffs, [], diffs.join("\n"));
      });
      await t.step("a new version of one package rebuilds only its layer", async () => {
        const second = await build("2", "deb");
        assert.equal(second.commit, v2);
        assert.deepEqual(second.layers!.map((l) => l.bin), first.layers!.map((l) => l.bin), "same bins");
        const rebuilt = second.layers!.filter((l) => !l.reused).map((l) => l.bin);
        assert.deepEqual(rebuilt, ["unit:coreutils"]);
        await runOk("ostree", ["checkout", `--repo=${repo}`, v2, join(dir, "checkout-2")]);
        const expected = asImagePaths(await scanTree(join(dir, "checkout-2")));
        const diffs = differences(expected, await umociUnpack(layout, "2", join(dir, "bundle-2")));
        assert.deepEqual(diffs, [], diffs.join("\n"));
      });
    } finally {
      await removeTree(dir);
    }
  },
});

// ---------------------------------------------------------------------------
// Runtime settings.

Deno.test({
  name:
    "build-image puts --cmd, --entrypoint, --env, --workdir, --user, --label, --annotation, --expose, --stop-signal, --volume into the image",
  ignore: !ROOT,
  async fn(t) {
    const dir = await makeTempDir();
    try {
      await makeSmallTree(join(dir, "tree"));
      const repo = await createRepo("bare-user", dir);
      const commit = await commitTree(repo, "main", join(dir, "tree"), { version: "3.1" });
      const layout = join(dir, "settings.oci");
      const build = (tag: string, extra: string[]) =>
        buildJson(["--repo", repo, "compose", "build-image", "main", `settings:${tag}`, "-o", layout, ...extra]);

      await t.step("JSON entrypoint, shell-style cmd and everything else", async () => {
        await build("json", [
          "--cmd",
          "nginx -g 'daemon off;'",
          "--entrypoint",
          '["/bin/sh", "-c"]',
          "--env",
          "LANG=C.UTF-8",
          "--env",
          "GREETING=hello world",
          "--workdir",
          "/srv/app",
          "--user",
          "1234:5678",
          "--label",
          "com.example.team=web",
          "--label",
          "com.example.empty=",
          "--annotation",
          "org.opencontainers.image.source=https://example.com/repo",
          "--annotation",
          "com.example.note=a=b",
          "--expose",
          "80",
          "--expose",
          "53/udp",
          "--stop-signal",
          "SIGQUIT",
          "--volume",
          "/var/lib/data",
          "--volume",
          "/cache",
        ]);
        const { manifest, config } = await readImage(layout, "json");
        assert.deepEqual(config.config.Cmd, ["nginx", "-g", "daemon off;"]);
        assert.deepEqual(config.config.Entrypoint, ["/bin/sh", "-c"]);
        assert.ok(config.config.Env?.includes("LANG=C.UTF-8"), JSON.stringify(config.config.Env));
        assert.ok(config.config.Env?.includes("GREETING=hello world"), JSON.stringify(config.config.Env));
        assert.ok(config.config.Env?.some((e) => e.startsWith("PATH=")), "a default PATH is kept");
        assert.equal(config.config.WorkingDir, "/srv/app");
        assert.equal(config.config.User, "1234:5678");
        assert.equal(config.config.Labels?.["com.example.team"], "web");
        assert.equal(config.config.Labels?.["com.example.empty"], "");
        assert.equal(config.config.Labels?.["ostree.commit"], commit);
        assert.equal(config.config.Labels?.["org.opencontainers.image.version"], "3.1");
        assert.deepEqual(config.config.ExposedPorts, { "53/udp": {}, "80/tcp": {} });
        assert.equal(config.config.StopSignal, "SIGQUIT");
        assert.deepEqual(config.config.Volumes, { "/cache": {}, "/var/lib/data": {} });
        assert.equal(manifest.annotations?.["org.opencontainers.image.source"], "https://example.com/repo");
        assert.equal(manifest.annotations?.["com.example.note"], "a=b");
        assert.equal(manifest.annotations?.["org.opencontainers.image.revision"], commit);
        const inspect = await skopeoInspect(`oci:${layout}:json`);
        assert.equal(inspect.Labels?.["com.example.team"], "web");
        assert.ok(inspect.Env?.includes("GREETING=hello world"));
      });

      await t.step("plain entrypoint and JSON cmd", async () => {
        await build("plain", ["--entrypoint", "/usr/bin/env FOO=1 'two words'", "--cmd", '["echo", "hi there"]']);
        const { config } = await readImage(layout, "plain");
        assert.deepEqual(config.config.Entrypoint, ["/usr/bin/env", "FOO=1", "two words"]);
        assert.deepEqual(config.config.Cmd, ["echo", "hi there"]);
        assert.equal(config.config.WorkingDir, undefined);
        assert.equal(config.config.ExposedPorts, undefined);
      });

      await t.step("an --env PATH replaces the default PATH", async () => {
        await build("path", ["--env", "PATH=/opt/bin"]);
        const { config } = await readImage(layout, "path");
        assert.deepEqual(config.config.Env, ["PATH=/opt/bin"]);
      });

      await t.step("a user label may override a tool label", async () => {
        await build("override", ["--label", "org.opencontainers.image.version=9.9"]);
        const { config } = await readImage(layout, "override");
        assert.equal(config.config.Labels?.["org.opencontainers.image.version"], "9.9");
      });
    } finally {
      await removeTree(dir);
    }
  },
});

// ---------------------------------------------------------------------------
// Unprivileged builds.

const NOBODY = 65534;

Deno.test({
  name: rootOnly(
    "build-image as an unprivileged user (uid 65534) gives root's digest from bare-user and archive repos",
  ),
  ignore: !ROOT,
  async fn(t) {
    const dir = await makeTempDir();
    try {
      await Deno.chmod(dir, 0o755);
      await makeRichTree(join(dir, "tree"), { bigFileSize: 3 * 1024 * 1024 });
      const repos: Record<string, string> = {};
      for (const mode of ["bare-user", "archive"] as const) {
        repos[mode] = await createRepo(mode, dir);
        await commitTree(repos[mode], "main", join(dir, "tree"), { version: "1.0" });
      }
      await removeTree(join(dir, "tree"));
      // A bare-user repository belongs to its user; an archive one is readable by all.
      await runOk("chown", ["-R", `${NOBODY}:${NOBODY}`, repos["bare-user"]]);
      await runOk("chmod", ["-R", "a+rX", repos["archive"]]);
      const outDir = join(dir, "out");
      await Deno.mkdir(outDir);
      await Deno.chown(outDir, NOBODY, NOBODY);

      const digests: Record<string, string> = {};
      for (const mode of ["bare-user", "archive"] as const) {
        await t.step(mode, async () => {
          for (const format of FORMATS) {
            const output = join(outDir, `${mode}-${format}${format === "oci" ? ".oci" : ".tar"}`);
            const rootOut = join(dir, `root-${mode}-${format}${format === "oci" ? ".oci" : ".tar"}`);
            const args = ["--repo", repos[mode], "compose", "build-image", "main", "unpriv:1", "--format", format];
            const asRoot = await buildJson([...args, "-o", rootOut]);
            const asNobody = await buildJson([...args, "-o", output], { uid: NOBODY });
            assert.equal(asNobody.digest, asRoot.digest, `${mode} ${format}: same digest as root`);
            assert.deepEqual(asNobody.layers, asRoot.layers);
            digests[`${mode} ${format}`] = asNobody.digest!;
            const info = await Deno.stat(output);
            assert.equal(info.uid, NOBODY, "the output belongs to the user who built it");
          }
          assert.deepEqual(await findTempNames(outDir), []);
        });
      }
      await t.step("bare-user and archive repos give the same image", () => {
        assert.equal(new Set(Object.values(digests)).size, 1, JSON.stringify(digests));
      });
      await t.step("the unprivileged image unpacks with root's ownership and modes", async () => {
        const layout = join(outDir, "bare-user-oci.oci");
        const actual = await umociUnpack(layout, "1", join(dir, "bundle"));
        assert.equal(actual.get("home/big-ids")?.uid, 3000000);
        assert.equal(actual.get("home/user/private/secret")?.uid, 1234);
        assert.equal(actual.get("home/user/private/secret")?.mode, 0o600);
        assert.equal(actual.get("usr/bin/setuid-tool")?.mode, 0o4755);
        assert.equal(
          actual.get("usr/bin/cap-tool")?.xattrs["security.capability"],
          "0100000200200000000000000000000000000000",
        );
      });
    } finally {
      await removeTree(dir);
    }
  },
});

// ---------------------------------------------------------------------------
// /etc and /usr/etc.

Deno.test({
  name: rootOnly("build-image refuses a commit with both /etc and /usr/etc (exit 1, clear error, nothing written)"),
  ignore: !ROOT,
  async fn() {
    const dir = await makeTempDir();
    try {
      await makeTreeWithBothEtc(join(dir, "tree"));
      const repo = await createRepo("bare-user", dir);
      await commitTree(repo, "both", join(dir, "tree"));
      const outDir = join(dir, "out");
      await Deno.mkdir(outDir);
      for (const format of FORMATS) {
        const output = join(outDir, format === "oci" ? "both.oci" : `both-${format}.tar`);
        const result = await runCli([
          "--repo",
          repo,
          "compose",
          "build-image",
          "both",
          "both:1",
          "--format",
          format,
          "-o",
          output,
        ]);
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /^Error: .*both \/etc and \/usr\/etc/m);
        assert.match(result.stderr, /^Solution: .*\/usr\/etc/m);
        assert.equal(result.stdout, "");
        assert.deepEqual(await listTree(outDir), [], "nothing written");
      }
    } finally {
      await removeTree(dir);
    }
  },
});

// A commit whose tree has a top-level /etc only is taken as is.
Deno.test({
  name: rootOnly("build-image keeps a plain /etc (no /usr/etc) where it is"),
  ignore: !ROOT,
  async fn() {
    const dir = await makeTempDir();
    try {
      const tree = join(dir, "tree");
      await Deno.mkdir(join(tree, "etc"), { recursive: true });
      await Deno.mkdir(join(tree, "usr/lib"), { recursive: true });
      await Deno.chmod(tree, 0o755);
      await Deno.writeTextFile(join(tree, "etc/hostname"), "plain\n");
      await Deno.writeTextFile(join(tree, "usr/lib/os-release"), "NAME=plain\n");
      const repo = await createRepo("bare-user", dir);
      await commitTree(repo, "plain", tree);
      const layout = join(dir, "plain.oci");
      await buildJson(["--repo", repo, "compose", "build-image", "plain", "plain:1", "-o", layout]);
      const actual = await umociUnpack(layout, "1", join(dir, "bundle"));
      assert.deepEqual([...actual.keys()].sort(), ["etc", "etc/hostname", "usr", "usr/lib", "usr/lib/os-release"]);
    } finally {
      await removeTree(dir);
    }
  },
});

// ---------------------------------------------------------------------------
// Odd trees.

Deno.test({
  name: rootOnly("build-image keeps names with newlines and ' -> ' (files, directories, symlink targets) exact"),
  ignore: !ROOT,
  async fn() {
    const dir = await makeTempDir();
    try {
      await makeOddNamesTree(join(dir, "tree"));
      const repo = await createRepo("bare-user", dir);
      const commit = await commitTree(repo, "odd", join(dir, "tree"));
      await runOk("ostree", ["checkout", `--repo=${repo}`, commit, join(dir, "checkout")]);
      const expected = await scanTree(join(dir, "checkout"));
      assert.equal(expected.get("link -> with arrow")?.target, "target -> with arrow");
      assert.equal(expected.get("link\nwith newline")?.target, "target\nwith newline");
      const layout = join(dir, "odd.oci");
      const json = await buildJson(["--repo", repo, "compose", "build-image", "odd", "odd:1", "-o", layout]);
      assert.equal(json.entries, expected.size);
      const actual = await umociUnpack(layout, "1", join(dir, "bundle"));
      const diffs = differences(expected, actual);
      assert.deepEqual(diffs, [], diffs.join("\n"));
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: rootOnly("build-image of an empty commit gives a valid image with an empty rootfs"),
  ignore: !ROOT,
  async fn() {
    const dir = await makeTempDir();
    try {
      const tree = join(dir, "tree");
      await Deno.mkdir(tree, { mode: 0o755 });
      const repo = await createRepo("archive", dir);
      await commitTree(repo, "empty", tree);
      for (const format of FORMATS) {
        const output = join(dir, format === "oci" ? "empty.oci" : `empty-${format}.tar`);
        const json = await buildJson([
          "--repo",
          repo,
          "compose",
          "build-image",
          "empty",
          "empty:1",
          "--format",
          format,
          "-o",
          output,
        ]);
        assert.equal(json.entries, 0);
        assert.equal(json.contentBytes, 0);
        await skopeoInspect(skopeoTransport(format, output, "1"));
        const layout = await layoutOf(output, format, dir);
        const validate = await run("oci-image-tool", ["validate", "--type", "image", layout]);
        assert.equal(validate.code, 0, validate.stdout + validate.stderr);
        const actual = await umociUnpack(layout, "1", join(dir, `bundle-${format}`));
        assert.equal(actual.size, 0);
      }
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: rootOnly(
    "build-image --compression zstd: same tar (diff id) as gzip, zstd media type, unpacks like the checkout",
  ),
  ignore: !ROOT,
  async fn(t) {
    const fx = await richFixture("archive", 3 * 1024 * 1024);
    try {
      const args = ["--repo", fx.repo, "compose", "build-image", "main", "z:1"];
      const gzip = await buildJson([...args, "-o", join(fx.dir, "gzip.oci")]);
      const layout = join(fx.dir, "zstd.oci");
      const zstd = await buildJson([...args, "-o", layout, "--compression", "zstd"]);
      await t.step("zstd layers hold the same tars as gzip ones and unpack like the checkout", async () => {
        assert.deepEqual(
          zstd.layers!.map((l) => l.diffId),
          gzip.layers!.map((l) => l.diffId),
          "the uncompressed layers are the same",
        );
        assert.notEqual(zstd.digest, gzip.digest);
        const inspect = await skopeoInspect(`oci:${layout}:1`);
        assert.equal(inspect.Digest, zstd.digest);
        // umoci cannot read zstd layers: extract them in order with GNU tar (as root it keeps owners, modes, xattrs).
        const rootfs = join(fx.dir, "zstd-rootfs");
        await Deno.mkdir(rootfs);
        for (const layer of zstd.layers!) {
          assert.equal(layer.mediaType, "application/vnd.oci.image.layer.v1.tar+zstd");
          const blob = blobPath(layout, layer.digest);
          const unpacked = await runOk("sh", ["-c", 'zstd -dc -- "$1" | sha256sum', "sh", blob]);
          assert.equal(`sha256:${unpacked.split(" ")[0]}`, layer.diffId);
          await runOk("sh", [
            "-c",
            'zstd -dc -- "$1" | tar -x --xattrs --xattrs-include="*" --numeric-owner --same-permissions -C "$2"',
            "sh",
            blob,
            rootfs,
          ]);
        }
        await runOk("ostree", ["checkout", `--repo=${fx.repo}`, fx.commit, join(fx.dir, "checkout")]);
        const diffs = differences(asImagePaths(await scanTree(join(fx.dir, "checkout"))), await scanTree(rootfs));
        assert.deepEqual(diffs, [], diffs.join("\n"));
      });
      await t.step("zstd output is reproducible: repeated builds, any worker count, same digest", async () => {
        const digests = new Map<string, string>();
        const mismatches: string[] = [];
        for (const [i, workers] of [["1", "1"], ["2", "2"], ["3", "1"], ["4", "3"]]) {
          const again = await buildJson([
            ...args,
            "-o",
            join(fx.dir, `zstd-again-${i}.oci`),
            "--compression",
            "zstd",
            "--workers",
            workers,
          ]);
          digests.set(`run ${i} (--workers ${workers})`, again.digest!);
          for (const [k, layer] of again.layers!.entries()) {
            // Whatever the bytes, they must decompress to the same tar.
            const blob = blobPath(join(fx.dir, `zstd-again-${i}.oci`), layer.digest);
            const unpacked = await runOk("sh", ["-c", 'zstd -dc -- "$1" | sha256sum', "sh", blob]);
            assert.equal(`sha256:${unpacked.split(" ")[0]}`, layer.diffId);
            if (layer.digest !== zstd.layers![k].digest) {
              const frames = await run("sh", ["-c", 'zstd -lv -- "$1" 2>&1 | grep -i "frames"', "sh", blob]);
              mismatches.push(
                `layer ${layer.bin}: run ${i} (--workers ${workers}) wrote ${layer.size} bytes, the first build ${
                  zstd.layers![k].size
                } (${frames.stdout.trim()})`,
              );
            }
          }
        }
        assert.deepEqual(mismatches, [], `zstd layers differ between identical builds:\n${mismatches.join("\n")}`);
        for (const digest of digests.values()) assert.equal(digest, zstd.digest, JSON.stringify([...digests]));
      });
    } finally {
      await removeTree(fx.dir);
    }
  },
});

// ---------------------------------------------------------------------------
// Naming: sources, default outputs, architectures.

Deno.test({
  name: rootOnly("build-image resolves a branch, a full checksum and a unique prefix to the same image"),
  ignore: !ROOT,
  async fn() {
    const dir = await makeTempDir();
    try {
      await makeSmallTree(join(dir, "tree"));
      const repo = await createRepo("bare-user", dir);
      const commit = await commitTree(repo, "team/app/x86_64", join(dir, "tree"), { version: "7" });
      const digests = new Set<string>();
      for (const source of ["team/app/x86_64", commit, commit.slice(0, 12)]) {
        const json = await buildJson([
          "--repo",
          repo,
          "compose",
          "build-image",
          source,
          "src:1",
          "-o",
          join(dir, `${source.replaceAll("/", "_")}.oci`),
        ]);
        assert.equal(json.commit, commit, source);
        digests.add(json.digest!);
      }
      assert.equal(digests.size, 1);
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: rootOnly("build-image without -o writes ./<last name component>.oci or .tar in the working directory"),
  ignore: !ROOT,
  async fn() {
    const dir = await makeTempDir();
    try {
      await makeSmallTree(join(dir, "tree"));
      const repo = await createRepo("bare-user", dir);
      await commitTree(repo, "main", join(dir, "tree"));
      const cwd = join(dir, "cwd");
      await Deno.mkdir(cwd);
      const image = "registry.example.com:5000/team/web:1.0";
      for (const format of FORMATS) {
        const result = await runCliOk(
          ["--json", "--repo", repo, "compose", "build-image", "main", image, "--format", format],
          { cwd },
        );
        const json = parseJsonResult(result);
        const expected = join(cwd, format === "oci" ? "web.oci" : "web.tar");
        assert.equal(json.output, expected);
        assert.equal(json.image, image);
        const inspect = await skopeoInspect(skopeoTransport(format, expected, "1.0"));
        assert.equal(inspect.Architecture, HOST_ARCH);
        if (format === "docker") {
          const extracted = await layoutOf(expected, format, dir);
          const manifest = await readJson<{ RepoTags: string[] }[]>(join(extracted, "manifest.json"));
          assert.deepEqual(manifest[0].RepoTags, [image]);
          await removeTree(extracted);
        }
        if (format === "oci") {
          const index = await readIndex(expected);
          assert.equal(index.manifests[0].annotations?.["io.containerd.image.name"], image);
          assert.equal(index.manifests[0].annotations?.[REF_NAME], "1.0");
        }
      }
      assert.deepEqual((await Array.fromAsync(Deno.readDir(cwd), (e) => e.name)).sort(), ["web.oci", "web.tar"]);
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: rootOnly("build-image takes the architecture from --arch, else the commit's metadata, else the host"),
  ignore: !ROOT,
  async fn(t) {
    const dir = await makeTempDir();
    try {
      await makeSmallTree(join(dir, "tree"));
      const repo = await createRepo("bare-user", dir);
      await commitTree(repo, "host", join(dir, "tree"));
      await commitTree(repo, "arm", join(dir, "tree"), { metadata: { "apt-ostree.arch": "aarch64" } });
      const arch = async (source: string, extra: string[] = []) => {
        const layout = join(dir, `${crypto.randomUUID()}.oci`);
        const json = await buildJson(["--repo", repo, "compose", "build-image", source, "a:1", "-o", layout, ...extra]);
        const { config } = await readImage(layout, "1");
        assert.equal(config.architecture, json.platform.architecture);
        const inspect = await skopeoInspect(`oci:${layout}:1`);
        assert.equal(inspect.Architecture, json.platform.architecture);
        return json.platform;
      };
      await t.step("host", async () => assert.equal((await arch("host")).architecture, HOST_ARCH));
      await t.step("commit metadata apt-ostree.arch=aarch64", async () => {
        assert.deepEqual(await arch("arm"), { architecture: "arm64", os: "linux" });
      });
      await t.step("--arch wins", async () => {
        assert.deepEqual(await arch("arm", ["--arch", "x86_64"]), { architecture: "amd64", os: "linux" });
        assert.deepEqual(await arch("host", ["--arch", "armhf"]), {
          architecture: "arm",
          os: "linux",
          variant: "v7",
        });
      });
      await t.step("an unknown --arch is a usage error", async () => {
        const result = await runCli(["--repo", repo, "compose", "build-image", "host", "a:1", "--arch", "pdp11"]);
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, /^Error: Unknown architecture: pdp11/m);
      });
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: rootOnly(
    "writable paths share no inode in a hardlink-keeping store: writing /etc/environment in an umoci bundle changes no other file",
  ),
  ignore: !ROOT,
  async fn() {
    const dir = await makeTempDir();
    try {
      const tree = join(dir, "tree");
      const files: Record<string, string> = {
        "usr/etc/environment": "",
        "usr/etc/subuid": "",
        "usr/etc/subgid": "",
        "usr/etc/profile": "# profile\n",
        "usr/share/base-files/profile": "# profile\n",
        "usr/share/doc/a/copyright": "GPL\n",
        "usr/share/doc/b/copyright": "GPL\n",
        "var/log/faillog": "",
        "var/lib/dpkg/lock": "",
        "usr/share/empty-a": "",
        "usr/share/empty-b": "",
      };
      for (const [path, text] of Object.entries(files)) {
        await Deno.mkdir(join(tree, path, ".."), { recursive: true });
        await Deno.writeTextFile(join(tree, path), text);
      }
      const repo = await createRepo("bare-user", dir);
      await commitTree(repo, "main", tree);
      const layout = join(dir, "img.oci");
      await runCliOk(["--repo", repo, "compose", "build-image", "main", "app:1", "-o", layout, "--max-layers", "1"]);
      const bundle = join(dir, "bundle");
      await runOk("umoci", ["unpack", "--image", `${layout}:1`, bundle]);
      const rootfs = join(bundle, "rootfs");
      const ino = async (path: string) => (await Deno.lstat(join(rootfs, path))).ino;
      // Equal content under usr/ stays one inode, as in a deployment.
      assert.equal(await ino("usr/share/doc/a/copyright"), await ino("usr/share/doc/b/copyright"));
      // Nothing else shares an inode: empty files, and anything under etc/ or var/.
      const writable = [
        "etc/environment",
        "etc/subuid",
        "etc/subgid",
        "etc/profile",
        "var/log/faillog",
        "var/lib/dpkg/lock",
      ];
      const all = [...writable, "usr/share/base-files/profile", "usr/share/empty-a", "usr/share/empty-b"];
      const inodes = await Promise.all(all.map(ino));
      assert.equal(
        new Set(inodes).size,
        all.length,
        `one inode each: ${all.map((p, i) => `${p}=${inodes[i]}`).join(" ")}`,
      );
      // The in-place edit of the issue: appending to /etc/environment changes only it.
      await Deno.writeTextFile(join(rootfs, "etc/environment"), "FOO=bar\n", { append: true });
      for (const path of ["etc/subuid", "etc/subgid", "var/log/faillog", "var/lib/dpkg/lock", "usr/share/empty-a"]) {
        assert.equal(await Deno.readTextFile(join(rootfs, path)), "", `${path} is unchanged`);
      }
      await Deno.writeTextFile(join(rootfs, "etc/profile"), "# changed\n");
      assert.equal(await Deno.readTextFile(join(rootfs, "usr/share/base-files/profile")), "# profile\n");
    } finally {
      await removeTree(dir);
    }
  },
});
