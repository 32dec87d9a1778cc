/**
 * Integration tests of `image inspect` and `image verify` on layouts and
 * archives, and of pushing archives: apt-ostree's own docker-archive, a
 * classic `docker save` archive (manifest.json only), and
 * `build-image --format docker --push`.
 *
 * Run alone with: deno test --allow-all tests/image_cli_test.ts
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { parseJsonResult, runCli, runCliOk } from "./helpers/cli.ts";
import { commitTree, createRepo, makeSmallTree, makeTempDir, removeTree, runOk } from "./helpers/fixture_repo.ts";
import { craftTar, digestOf } from "./helpers/oci_builder.ts";
import { DENO_DIR, hasProgram, startRegistry } from "./helpers/registry.ts";

const HAVE_OSTREE = await hasProgram("ostree");
const HAVE_REGISTRY = HAVE_OSTREE && (await hasProgram("docker-registry")) && (await hasProgram("skopeo"));

async function scratch(): Promise<{ dir: string; env: Record<string, string>; repo: string }> {
  const dir = await makeTempDir("apt-ostree-image-cli-test-");
  const repo = await createRepo("bare-user", dir);
  await makeSmallTree(join(dir, "tree"), "cli");
  await commitTree(repo, "main", join(dir, "tree"));
  return {
    dir,
    repo,
    env: { REGISTRY_AUTH_FILE: join(dir, "no-auth.json"), XDG_CACHE_HOME: join(dir, "cache"), DENO_DIR },
  };
}

Deno.test({
  name: `image inspect and verify: layouts and archives; damage reported by digest and path${
    HAVE_OSTREE ? "" : " [ignored: ostree not installed]"
  }`,
  ignore: !HAVE_OSTREE,
  fn: async () => {
    const { dir, repo } = await scratch();
    try {
      const layout = join(dir, "app.oci");
      const built = parseJsonResult(
        await runCliOk(["--repo", repo, "compose", "build-image", "main", "app:1", "-o", layout, "--json"]),
      );
      const archive = join(dir, "app.tar");
      await runCliOk(["--repo", repo, "compose", "build-image", "main", "app:1", "--format", "docker", "-o", archive]);

      for (const name of [`oci:${layout}:1`, `oci:${layout}`, `docker-archive:${archive}`]) {
        const info = JSON.parse((await runCliOk(["image", "inspect", name, "--json"])).stdout);
        assert.equal(info.digest, built.digest, name);
        assert.deepEqual(
          info.layers.map((l: { diffId: string }) => l.diffId),
          built.layers!.map((l) => l.diffId),
          name,
        );
        assert.equal(info.platform.os, "linux");
      }
      const raw = await runCliOk(["image", "inspect", `oci:${layout}:1`, "--raw"]);
      assert.equal(digestOf(new TextEncoder().encode(raw.stdout)), built.digest);
      const human = await runCliOk(["image", "inspect", `oci:${layout}:1`]);
      assert.match(human.stdout, new RegExp(`^Digest: +${built.digest}$`, "m"));
      const missingTag = await runCli(["image", "inspect", `oci:${layout}:nope`]);
      assert.equal(missingTag.code, 1);
      assert.match(missingTag.stderr, /has no image tagged nope/);
      assert.match(missingTag.stderr, /Solution: Choose one of its tags: 1/);

      const ok = await runCliOk(["image", "verify", `oci:${layout}`, "--json"]);
      assert.deepEqual(JSON.parse(ok.stdout).problems, []);
      assert.deepEqual(JSON.parse(ok.stdout).stray, []);
      // What a killed run left inside a layout is reported (not an error), and the next build there removes it.
      // (A killed run's directory has an owner file nobody holds; this one, made by hand, has none and is old.)
      const leftover = join(layout, ".apt-ostree-0123456789ab");
      await Deno.mkdir(leftover);
      await Deno.writeTextFile(join(leftover, "blob-1"), "partial");
      const hoursAgo = new Date(Date.now() - 2 * 3600_000);
      await Deno.utime(leftover, hoursAgo, hoursAgo);
      const stray = await runCliOk(["image", "verify", `oci:${layout}`]);
      assert.match(stray.stdout, /stray entries .*: \.apt-ostree-0123456789ab$/m);
      await runCliOk(["--repo", repo, "compose", "build-image", "main", "app:2", "-o", layout]);
      await assert.rejects(() => Deno.lstat(leftover), Deno.errors.NotFound);

      // Any source: one image of a layout, and an archive; a damaged layer in the archive is named by digest.
      for (const name of [`oci:${layout}:1`, `docker-archive:${archive}`]) {
        const result = JSON.parse((await runCliOk(["image", "verify", name, "--json"])).stdout);
        assert.deepEqual(result.problems, [], name);
        assert.equal(result.digest, built.digest, name);
        assert.equal(result.blobs, built.layers!.length + 1, `${name}: every layer and the config`);
      }
      const biggest = built.layers!.reduce((a, b) => (b.size > a.size ? b : a));
      const layerBytes = await Deno.readFile(join(layout, "blobs/sha256", biggest.digest.slice(7)));
      const tar = await Deno.readFile(archive);
      const at = Buffer.from(tar).indexOf(Buffer.from(layerBytes));
      assert.ok(at > 0, "the layer is in the archive");
      tar[at + (layerBytes.length >> 1)] ^= 0xff;
      await Deno.writeFile(archive, tar);
      const bad = await runCli(["image", "verify", `docker-archive:${archive}`]);
      assert.equal(bad.code, 1, bad.stderr);
      assert.match(bad.stdout, new RegExp(`corrupt: ${biggest.digest} .*does not match its descriptor`));
      assert.match(bad.stderr, /Error: The image docker-archive:.* is damaged: 1 problem$/m);

      // Damage one blob, remove another: both reported by digest and path, exit 1.
      const layer = built.layers![0].digest;
      const config = built.config!.digest;
      const layerPath = join(layout, "blobs/sha256", layer.slice(7));
      const bytes = await Deno.readFile(layerPath);
      bytes[100] ^= 0xff;
      await Deno.writeFile(layerPath, bytes);
      await Deno.remove(join(layout, "blobs/sha256", config.slice(7)));
      const damaged = await runCli(["image", "verify", `oci:${layout}`]);
      assert.equal(damaged.code, 1);
      assert.match(damaged.stdout, new RegExp(`corrupt: ${layer} blobs/sha256/${layer.slice(7)}: content hashes to`));
      assert.match(damaged.stdout, new RegExp(`missing: ${config} blobs/sha256/${config.slice(7)}: missing`));
      assert.match(damaged.stderr, /Error: The layout .* is damaged: 2 problems/);
      const json = JSON.parse((await runCli(["image", "verify", layout, "--json"])).stdout);
      assert.deepEqual(json.problems.map((p: { kind: string }) => p.kind).sort(), ["corrupt", "missing"]);
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: `image push: docker-archives (ours and a classic docker save), build-image --format docker --push${
    HAVE_REGISTRY ? "" : " [ignored: docker-registry, skopeo or ostree not installed]"
  }`,
  ignore: !HAVE_REGISTRY,
  fn: async () => {
    const { dir, env, repo } = await scratch();
    const registry = await startRegistry(dir);
    try {
      // build-image --format docker --push: the archive is kept and pushed.
      const archive = join(dir, "web.tar");
      const built = JSON.parse(
        (await runCliOk([
          "--repo",
          repo,
          "compose",
          "build-image",
          "main",
          `${registry.host}/team/web:1`,
          "--format",
          "docker",
          "-o",
          archive,
          "--push",
          "--tls-verify=false",
          "--json",
        ], { env })).stdout,
      );
      assert.equal(built.push.digest, built.digest);
      assert.ok((await Deno.stat(archive)).isFile);
      const skopeo = JSON.parse(
        await runOk("skopeo", ["inspect", "--tls-verify=false", `docker://${registry.host}/team/web:1`]),
      );
      assert.equal(skopeo.Digest, built.digest);
      const again = JSON.parse(
        (await runCliOk(
          [
            "image",
            "push",
            `docker-archive:${archive}`,
            `docker://${registry.host}/team/web:2`,
            "--tls-verify=false",
            "--json",
          ],
          { env },
        )).stdout,
      );
      assert.equal(again.digest, built.digest);
      assert.equal(again.blobs.uploaded, 0);

      // A classic docker save archive: manifest.json, a config, an uncompressed layer.tar.
      const layerTar = craftTar([{ path: "hello.txt", content: "hello from docker save\n" }]);
      const config = new TextEncoder().encode(JSON.stringify({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: [digestOf(layerTar)] },
      }));
      const configName = `${digestOf(config).slice(7)}.json`;
      const classic = craftTar([
        { path: configName, content: config },
        { path: "0123abcd/", type: "directory" },
        { path: "0123abcd/layer.tar", content: layerTar },
        {
          path: "manifest.json",
          content: JSON.stringify([{ Config: configName, RepoTags: ["old:1"], Layers: ["0123abcd/layer.tar"] }]),
        },
      ]);
      const classicPath = join(dir, "classic.tar");
      await Deno.writeFile(classicPath, classic);
      const pushed = JSON.parse(
        (await runCliOk(
          [
            "image",
            "push",
            `docker-archive:${classicPath}`,
            `docker://${registry.host}/old:1`,
            "--tls-verify=false",
            "--json",
          ],
          { env },
        )).stdout,
      );
      assert.equal(pushed.blobs.uploaded, 2);
      const info = JSON.parse(
        (await runCliOk(["image", "inspect", `docker://${registry.host}/old:1`, "--tls-verify=false", "--json"], {
          env,
        }))
          .stdout,
      );
      const layers = info.layers;
      assert.equal(layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar");
      assert.equal(info.digest, pushed.digest);
      // And it imports: an uncompressed layer.
      const pulled = JSON.parse(
        (await runCliOk(["--repo", repo, "image", "pull", `docker-archive:${classicPath}`, "--json"], { env })).stdout,
      );
      assert.equal(pulled.branch, "old/1/x86_64");
      assert.match(
        await runOk("ostree", ["cat", `--repo=${repo}`, pulled.commit, "/hello.txt"]),
        /hello from docker save/,
      );
      // skopeo reads it too.
      await runOk("skopeo", [
        "copy",
        "--src-tls-verify=false",
        `docker://${registry.host}/old:1`,
        `oci:${join(dir, "copied.oci")}:1`,
      ]);
      assert.equal(layers[0].digest, digestOf(layerTar));
    } finally {
      await registry.stop();
      await removeTree(dir);
    }
  },
});
