/**
 * The real Debian flow, end to end, with the network to deb.debian.org:
 * `compose bootstrap debian:12` (mmdebstrap), `compose create` with `hello`
 * (apt in bubblewrap), `compose build-image`, then `umoci unpack` and
 * running `/usr/bin/hello` in the unpacked root with chroot. Also: a dry
 * run with the real apt, and a package that does not exist failing cleanly.
 * One bootstrap serves every step (it is the slow part); a second one checks
 * that bootstraps are reproducible.
 *
 * Set APT_OSTREE_SKIP_NETWORK_TESTS=1 to skip this file where the Debian
 * archive cannot be reached (CI reaches it, and skips nothing).
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { hostArch } from "../src/oci/platform.ts";
import { runCli } from "./helpers/cli.ts";
import { assertFsckClean, leftoverWorkDirs, metadataText, snapshotRepo } from "./helpers/compose.ts";
import { isRoot, makeTempDir, removeTree, run, runOk } from "./helpers/fixture_repo.ts";

async function missingTools(): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of ["mmdebstrap", "bwrap", "umoci", "chroot", "unshare"]) {
    if ((await run("sh", ["-c", `command -v ${tool}`])).code !== 0) missing.push(tool);
  }
  return missing;
}

const missing = await missingTools();
const skipReason = Deno.env.get("APT_OSTREE_SKIP_NETWORK_TESTS") === "1"
  ? "APT_OSTREE_SKIP_NETWORK_TESTS=1"
  : !isRoot()
  ? "needs root"
  : missing.length > 0
  ? `${missing.join(", ")} not installed`
  : undefined;

const EPOCH = 1714979289; // 2024-05-06T07:08:09Z

Deno.test({
  name: `real Debian flow: bootstrap debian:12, create with hello, build-image, run hello${
    skipReason ? ` [SKIPPED: ${skipReason}]` : ""
  }`,
  ignore: skipReason !== undefined,
  async fn(t) {
    const dir = await makeTempDir("apt-ostree-e2e-");
    const repo = join(dir, "repo"); // does not exist yet: bootstrap creates it
    const arch = hostArch();
    const baseBranch = `debian/12/${arch}`;
    const deployment = `deploy/debian/12/${arch}/hello`;
    try {
      await t.step(
        "bootstrap debian:12 creates the repository and a reproducible base in deployment layout",
        async () => {
          const result = await runCli(["--repo", repo, "--json", "compose", "bootstrap", "debian:12"], {
            env: { SOURCE_DATE_EPOCH: String(EPOCH) },
          });
          assert.equal(result.code, 0, result.stderr);
          const json = JSON.parse(result.stdout);
          assert.equal(json.branch, baseBranch);
          assert.equal(json.suite, "bookworm");
          assert.equal(json.version, "12.20240506");
          assert.equal(json.createdRepository, true);
          assert.ok(json.packages.some((p: string) => p.startsWith("dpkg=")), "package list with versions");
          const commit = json.commit as string;
          const show = await runOk("ostree", ["show", `--repo=${repo}`, commit]);
          assert.match(show, /^Date: {2}2024-05-06 07:08:09 \+0000$/m, "SOURCE_DATE_EPOCH is the commit time");
          assert.equal(await metadataText(repo, commit, "apt-ostree.arch"), `'${arch}'`);
          assert.equal(await metadataText(repo, commit, "apt-ostree.distribution"), "'debian'");
          assert.equal(await metadataText(repo, commit, "version"), "'12.20240506'");
          assert.match(await metadataText(repo, commit, "apt-ostree.packages"), /'apt=[^']+'/);

          const ls = async (path: string) => await run("ostree", ["ls", "-R", `--repo=${repo}`, commit, path]);
          assert.notEqual((await ls("/etc")).code, 0, "no /etc: configuration is in /usr/etc");
          assert.equal((await ls("/usr/etc/os-release")).code, 0);
          assert.equal((await ls("/dev")).stdout.trim().split("\n").length, 1, "/dev is empty");
          for (
            const gone of [
              "/usr/etc/resolv.conf",
              "/usr/etc/hostname",
              "/var/cache/apt/pkgcache.bin",
              "/var/log/dpkg.log",
            ]
          ) {
            assert.notEqual((await ls(gone)).code, 0, gone);
          }
          const lists = (await ls("/var/lib/apt/lists")).stdout.trim().split("\n").map((l) => l.split(" ").pop());
          assert.deepEqual(lists, ["/var/lib/apt/lists", "/var/lib/apt/lists/partial"], "apt lists removed");
          const machineId = await ls("/usr/etc/machine-id");
          if (machineId.code === 0) assert.match(machineId.stdout, /^-\S+ \d+ \d+ +0 /, "machine-id is empty");
          assert.deepEqual(await leftoverWorkDirs(repo), []);
          await assertFsckClean(repo);
        },
      );

      await t.step("bootstrap is reproducible: the same SOURCE_DATE_EPOCH gives the same commit", async () => {
        const again = join(dir, "repo-again");
        const result = await runCli(["--repo", again, "--json", "compose", "bootstrap", "debian:12"], {
          env: { SOURCE_DATE_EPOCH: String(EPOCH) },
        });
        assert.equal(result.code, 0, result.stderr);
        const second = JSON.parse(result.stdout);
        const first = (await runOk("ostree", ["rev-parse", `--repo=${repo}`, baseBranch])).trim();
        const firstPackages = await metadataText(repo, first, "apt-ostree.packages");
        if (firstPackages !== await metadataText(again, second.commit, "apt-ostree.packages")) {
          console.warn("The Debian archive changed between the two bootstraps; the commits cannot be compared");
        } else {
          assert.equal(second.commit, first, "same packages, same SOURCE_DATE_EPOCH: the same commit");
        }
        await removeTree(again);
      });

      await t.step("a dry run with the real apt lists hello and changes nothing", async () => {
        const before = await snapshotRepo(repo);
        const result = await runCli([
          "--repo",
          repo,
          "--json",
          "compose",
          "create",
          "--base",
          "debian:bookworm",
          "--packages",
          "hello",
          "--dry-run",
        ]);
        assert.equal(result.code, 0, result.stderr);
        const json = JSON.parse(result.stdout);
        assert.equal(json.branch, deployment);
        assert.ok(json.installed.some((p: { name: string }) => p.name === "hello"), result.stdout);
        assert.deepEqual(await snapshotRepo(repo), before);
      });

      await t.step("create installs hello with apt in the sandbox and commits the deployment", async () => {
        const result = await runCli([
          "--repo",
          repo,
          "--json",
          "compose",
          "create",
          "--base",
          "debian:12",
          "--packages",
          "hello",
        ]);
        assert.equal(result.code, 0, result.stderr);
        const json = JSON.parse(result.stdout);
        assert.equal(json.branch, deployment);
        assert.equal(json.branchDerived, true);
        const hello = json.installed.find((p: { name: string }) => p.name === "hello");
        assert.ok(hello?.version, result.stdout);
        assert.equal(
          await metadataText(repo, json.commit, "apt-ostree.installed-packages"),
          `['hello=${hello.version}']`,
        );
        assert.equal(await metadataText(repo, json.commit, "apt-ostree.base-commit"), `'${json.base.commit}'`);
        assert.equal((await run("ostree", ["ls", `--repo=${repo}`, json.commit, "/usr/bin/hello"])).code, 0);
        assert.notEqual((await run("ostree", ["ls", `--repo=${repo}`, json.commit, "/etc"])).code, 0);
        assert.deepEqual(await leftoverWorkDirs(repo), []);
        await assertFsckClean(repo);
      });

      await t.step("build-image, umoci unpack, and hello runs in the unpacked root; /etc is there", async () => {
        const layout = join(dir, "hello.oci");
        const built = await runCli(["--repo", repo, "compose", "build-image", deployment, "hello:e2e", "-o", layout]);
        assert.equal(built.code, 0, built.stderr);
        const bundle = join(dir, "bundle");
        await runOk("umoci", ["unpack", "--image", `${layout}:e2e`, bundle]);
        const rootfs = join(bundle, "rootfs");
        const hello = await runOk("chroot", [rootfs, "/usr/bin/hello"]);
        assert.equal(hello, "Hello, world!\n");
        assert.ok((await Deno.stat(join(rootfs, "etc/os-release"))).isFile, "/etc is in the image");
        await assert.rejects(Deno.lstat(join(rootfs, "usr/etc")), Deno.errors.NotFound);
        const config = JSON.parse(await Deno.readTextFile(join(bundle, "config.json")));
        assert.ok(config.process, "umoci wrote a runtime config");
      });

      await t.step("a package that does not exist fails with apt's line; the repository is unchanged", async () => {
        const before = await snapshotRepo(repo);
        const result = await runCli([
          "--repo",
          repo,
          "compose",
          "create",
          "--base",
          "debian:12",
          "--packages",
          "hello",
          "apt-ostree-no-such-package",
        ]);
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /^Error: apt-get install failed in the sandbox \(exit code 100\)/m);
        assert.match(result.stderr, /^ {2}E: Unable to locate package apt-ostree-no-such-package$/m);
        assert.deepEqual(await snapshotRepo(repo), before);
        assert.deepEqual(await leftoverWorkDirs(repo), []);
        await assertFsckClean(repo);
      });

      await t.step("compose list shows the base and the deployment", async () => {
        const result = await runCli(["--repo", repo, "--json", "compose", "list"]);
        assert.equal(result.code, 0, result.stderr);
        const listing = JSON.parse(result.stdout);
        assert.deepEqual(listing.bases.map((b: { ref: string }) => b.ref), [baseBranch]);
        assert.equal(listing.bases[0].version, "12.20240506");
        assert.equal(listing.bases[0].arch, arch);
        assert.deepEqual(listing.deployments.map((d: { ref: string }) => d.ref), [deployment]);
        assert.equal(listing.deployments[0].base, "debian:12");
        assert.equal(listing.deployments[0].arch, arch);
      });
    } finally {
      await removeTree(dir);
    }
  },
});
