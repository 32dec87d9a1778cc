/**
 * A foreign architecture end to end, with the network to deb.debian.org
 * and qemu-user through binfmt: `compose bootstrap debian:12 --arch arm64`
 * (mmdebstrap running arm64 maintainer scripts under emulation), `compose
 * create --arch arm64` with `hello`, a two-platform index with an amd64
 * commit, then the arm64 image picked from the index (skopeo
 * `--override-arch`; umoci 0.4 cannot pick a platform from an index
 * itself), unpacked with umoci and run through chroot: `hello` greets and
 * `uname -m` says `aarch64`.
 *
 * The bootstrap uses `--variant=apt` (the Essential packages plus apt):
 * their maintainer scripts all run under emulation, and it is the smallest
 * variant `compose create` can install into. A full minbase takes several
 * times longer emulated (see docs/multiarch.md).
 *
 * The set-up enables binfmt when it can (root, qemu-user-static,
 * binfmt-support and arch-test installed); otherwise the test is ignored
 * and its name says why. Set APT_OSTREE_SKIP_NETWORK_TESTS=1 to skip it
 * where the Debian archive cannot be reached.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./helpers/cli.ts";
import { enableEmulation } from "./helpers/binfmt.ts";
import { metadataText } from "./helpers/compose.ts";
import { commitTree, isRoot, makeSmallTree, makeTempDir, removeTree, run, runOk } from "./helpers/fixture_repo.ts";

async function missingTools(): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of ["mmdebstrap", "bwrap", "umoci", "skopeo", "chroot", "unshare"]) {
    if ((await run("sh", ["-c", `command -v ${tool}`])).code !== 0) missing.push(tool);
  }
  return missing;
}

const missing = await missingTools();
const skipReason = Deno.env.get("APT_OSTREE_SKIP_NETWORK_TESTS") === "1"
  ? "APT_OSTREE_SKIP_NETWORK_TESTS=1"
  : !isRoot()
  ? "needs root"
  : Deno.build.arch === "aarch64"
  ? "the host is arm64: nothing to emulate"
  : missing.length > 0
  ? `${missing.join(", ")} not installed`
  : await enableEmulation("arm64");

const EPOCH = 1714979289; // 2024-05-06T07:08:09Z

Deno.test({
  name: `foreign architecture: bootstrap and create arm64 under qemu, two-platform index, run hello${
    skipReason ? ` [ignored: ${skipReason}]` : ""
  }`,
  ignore: skipReason !== undefined,
  async fn(t) {
    const dir = await makeTempDir("apt-ostree-arm64-");
    const repo = join(dir, "repo");
    const cli = async (args: string[]) => {
      const result = await runCli(["--repo", repo, "--json", ...args], { env: { SOURCE_DATE_EPOCH: String(EPOCH) } });
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(result.stdout);
    };
    try {
      await t.step("compose bootstrap debian:12 --arch arm64 runs the arm64 maintainer scripts", async () => {
        const started = performance.now();
        const json = await cli(["compose", "bootstrap", "debian:12", "--arch", "arm64", "--variant", "apt"]);
        console.log(`    (emulated bootstrap, variant apt: ${Math.round((performance.now() - started) / 1000)} s)`);
        assert.equal(json.branch, "debian/12/aarch64");
        assert.equal(await metadataText(repo, json.commit, "apt-ostree.arch"), "'aarch64'");
        assert.equal(await metadataText(repo, json.commit, "apt-ostree.debian-arch"), "'arm64'");
        assert.ok(json.packages.some((p: string) => p.startsWith("dpkg=")));
      });

      let deployment = "";
      await t.step("compose create --arch arm64 installs hello with apt under emulation", async () => {
        const json = await cli(["compose", "create", "--base", "debian:12", "--arch", "arm64", "--packages", "hello"]);
        deployment = json.branch;
        assert.equal(deployment, "deploy/debian/12/aarch64/hello");
        assert.deepEqual(
          json.installed.filter((p: { name: string }) => p.name === "hello").map((p: { arch: string }) => p.arch),
          ["arm64"],
        );
        assert.equal(await metadataText(repo, json.commit, "apt-ostree.debian-arch"), "'arm64'");
      });

      const layout = join(dir, "hello.oci");
      await t.step("build-image --platform makes one index with the amd64 commit", async () => {
        const amd = join(dir, "amd64");
        await makeSmallTree(amd, "amd64");
        await commitTree(repo, "deploy/amd64", amd, { metadata: { "apt-ostree.arch": "x86_64" } });
        const json = await cli([
          "compose",
          "build-image",
          "hello:1",
          "--platform",
          "linux/amd64=deploy/amd64",
          "--platform",
          `linux/arm64=${deployment}`,
          "-o",
          `oci:${layout}`,
        ]);
        assert.deepEqual(json.images.map((i: { platform: { architecture: string } }) => i.platform.architecture), [
          "amd64",
          "arm64",
        ]);
        for (const arch of ["amd64", "arm64"]) {
          const info = JSON.parse(await runOk("skopeo", ["--override-arch", arch, "inspect", `oci:${layout}:1`]));
          assert.equal(info.Architecture, arch);
        }
      });

      await t.step("the arm64 image unpacks with umoci and hello runs in it under emulation", async () => {
        const single = join(dir, "arm64.oci");
        await runOk("skopeo", ["--override-arch", "arm64", "copy", `oci:${layout}:1`, `oci:${single}:1`]);
        const bundle = join(dir, "bundle");
        await runOk("umoci", ["unpack", "--image", `${single}:1`, bundle]);
        const rootfs = join(bundle, "rootfs");
        assert.equal((await runOk("chroot", [rootfs, "/usr/bin/hello"])).trim(), "Hello, world!");
        assert.equal((await runOk("chroot", [rootfs, "uname", "-m"])).trim(), "aarch64");
      });
    } finally {
      await removeTree(dir);
    }
  },
});
