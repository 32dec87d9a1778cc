/**
 * Bootable commits, end to end, with the network to deb.debian.org: one
 * `compose bootstrap debian:12 --bootable` (mmdebstrap, dracut) and one
 * `compose create` with `hello` and `nano` on it, shared by every test of
 * this file. Checked: the commit's layout, `ostree admin deploy` into a
 * scratch sysroot (in a user namespace, so the host file system is never
 * frozen), an upgrade that keeps a local `/etc` edit and brings a new
 * default file (the three-way merge), `dpkg-query` on the deployment with
 * the shared `/var` and the tmpfiles entries applied, and a QEMU boot of
 * the deployment (built as an ostree-native image, pulled back into a fresh
 * repository: the same commit) until a unit in it prints a marker on the
 * serial console.
 *
 * Set APT_OSTREE_SKIP_NETWORK_TESTS=1 to skip this file where the Debian
 * archive cannot be reached.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { hostArch } from "../src/oci/platform.ts";
import {
  BOOT_MARKER,
  bootUntilMarker,
  commitMarkerUnit,
  deploy,
  deploymentDirs,
  makeDisk,
  removeSysroot,
} from "./helpers/boot.ts";
import { runCli } from "./helpers/cli.ts";
import { assertFsckClean, leftoverWorkDirs, metadataText } from "./helpers/compose.ts";
import { isRoot, makeTempDir, removeTree, run, runOk } from "./helpers/fixture_repo.ts";

async function missingTools(): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of ["mmdebstrap", "bwrap", "unshare", "chattr", "mkfs.ext4"]) {
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
  : hostArch() !== "x86_64"
  ? "the boot checks are written for x86_64"
  : undefined;
const qemuMissing = (await run("sh", ["-c", "command -v qemu-system-x86_64"])).code !== 0;

const EPOCH = 1714979289; // 2024-05-06T07:08:09Z
const BASE_BRANCH = "debian/12/x86_64";
const DEPLOYMENT = "deploy/bootable/hello";

interface Fixture {
  dir: string;
  repo: string;
  base: { commit: string; kernels: string[]; bootable: boolean; durations: Record<string, number> };
  created: {
    commit: string;
    bootable: boolean;
    kernels: string[];
    installed: { name: string; version: string }[];
    durations: Record<string, number>;
  };
}

let fixture: Promise<Fixture> | undefined;

/** The bootable base and the deployment, made once for the whole file. */
function bootableFixture(): Promise<Fixture> {
  fixture ??= (async () => {
    const dir = await makeTempDir("apt-ostree-bootable-");
    const repo = join(dir, "repo");
    const started = performance.now();
    const bootstrap = await runCli(["--repo", repo, "--json", "compose", "bootstrap", "debian:12", "--bootable"], {
      env: { SOURCE_DATE_EPOCH: String(EPOCH) },
    });
    assert.equal(bootstrap.code, 0, bootstrap.stderr);
    const created = await runCli([
      "--repo",
      repo,
      "--json",
      "compose",
      "create",
      "--base",
      "debian:12",
      "--packages",
      "hello",
      "nano",
      "--branch",
      DEPLOYMENT,
    ], { env: { SOURCE_DATE_EPOCH: String(EPOCH) } });
    assert.equal(created.code, 0, created.stderr);
    console.log(`bootable fixture: bootstrap and create took ${((performance.now() - started) / 1000).toFixed(0)} s`);
    return { dir, repo, base: JSON.parse(bootstrap.stdout), created: JSON.parse(created.stdout) };
  })();
  return fixture;
}

Deno.test.afterAll(async () => {
  if (!fixture) return;
  const { dir } = await fixture.catch(() => ({ dir: undefined }));
  if (dir) {
    await removeSysroot(join(dir, "sysroot"));
    await removeSysroot(join(dir, "boot-sysroot"));
    await removeTree(dir);
  }
});

async function ls(repo: string, rev: string, path: string, recursive = false): Promise<string[]> {
  const out = await run("ostree", ["ls", ...(recursive ? ["-R"] : []), `--repo=${repo}`, rev, path]);
  assert.equal(out.code, 0, `ostree ls ${path}: ${out.stderr}`);
  return out.stdout.trim().split("\n");
}

async function catFile(repo: string, rev: string, path: string): Promise<string> {
  return await runOk("ostree", ["cat", `--repo=${repo}`, rev, path]);
}

Deno.test({
  name: `bootable: bootstrap --bootable lays debian:12 out to deploy and boot${
    skipReason ? ` [SKIPPED: ${skipReason}]` : ""
  }`,
  ignore: skipReason !== undefined,
  async fn() {
    const { repo, base } = await bootableFixture();
    assert.equal(base.bootable, true);
    assert.equal(base.kernels.length, 1);
    const kver = base.kernels[0];
    assert.ok(base.durations.initramfs > 0, "dracut ran");
    console.log(`bootstrap phases: ${JSON.stringify(base.durations)}`);
    assert.equal(await metadataText(repo, base.commit, "ostree.bootable"), "true");
    assert.equal(await metadataText(repo, base.commit, "ostree.linux"), `'${kver}'`);
    const modules = await ls(repo, base.commit, `/usr/lib/modules/${kver}`);
    assert.ok(modules.some((l) => l.endsWith(`/vmlinuz`)), "kernel in /usr/lib/modules");
    assert.ok(modules.some((l) => l.endsWith(`/initramfs.img`)), "dracut initramfs in /usr/lib/modules");
    assert.deepEqual((await ls(repo, base.commit, "/boot", true)).length, 1, "/boot is empty");
    assert.deepEqual((await ls(repo, base.commit, "/var", true)).length, 1, "/var is empty");
    const top = await ls(repo, base.commit, "/");
    const entry = (name: string) => top.find((l) => l.split(" ").at(-3) === `/${name}` || l.includes(` /${name}`));
    for (const gone of ["/vmlinuz", "/initrd.img", "/etc"]) assert.ok(!top.some((l) => l.endsWith(gone)), gone);
    assert.match(entry("ostree") ?? "", /^l.* \/ostree -> sysroot\/ostree$/);
    assert.match(entry("sysroot") ?? "", /^d/);
    assert.match(entry("home") ?? "", / \/home -> var\/home$/);
    assert.match(entry("root") ?? "", / \/root -> var\/roothome$/);
    assert.match(entry("tmp") ?? "", /^d01777 /);
    assert.match((await ls(repo, base.commit, "/usr/local"))[0], / -> \.\.\/var\/usrlocal$/);
    const autovar = await catFile(repo, base.commit, "/usr/lib/tmpfiles.d/apt-ostree-autovar.conf");
    for (const line of ["d /var/roothome 0700 root root -", "d /var/home 0755 root root -"]) {
      assert.ok(autovar.split("\n").includes(line), line);
    }
    // systemd's own entry makes /var/run (the relative link); autovar leaves the path to it
    assert.match(await catFile(repo, base.commit, "/usr/lib/tmpfiles.d/var.conf"), /^L \/var\/run - - - - \.\.\/run$/m);
    assert.doesNotMatch(autovar, /^\S+ \/var\/run /m);
    assert.match(autovar, /^d \/var\/usrlocal\/bin 0755 root root -$/m);
    const dpkg = await catFile(repo, base.commit, "/usr/lib/tmpfiles.d/apt-ostree-dpkg.conf");
    assert.match(dpkg, /^L \/var\/lib\/dpkg - - - - \.\.\/\.\.\/usr\/lib\/sysimage\/dpkg$/m);
    assert.match(await catFile(repo, base.commit, "/usr/lib/sysimage/dpkg/status"), /^Package: dracut$/m);
    await assertFsckClean(repo);
  },
});

Deno.test({
  name: `bootable: the same SOURCE_DATE_EPOCH gives the same bootable commit (initramfs included)${
    skipReason ? ` [SKIPPED: ${skipReason}]` : ""
  }`,
  ignore: skipReason !== undefined,
  async fn() {
    const { dir, repo, base } = await bootableFixture();
    const again = join(dir, "repo-again");
    const result = await runCli(["--repo", again, "--json", "compose", "bootstrap", "debian:12", "--bootable"], {
      env: { SOURCE_DATE_EPOCH: String(EPOCH) },
    });
    assert.equal(result.code, 0, result.stderr);
    const second = JSON.parse(result.stdout);
    if (
      await metadataText(repo, base.commit, "apt-ostree.packages") !==
        await metadataText(again, second.commit, "apt-ostree.packages")
    ) {
      console.warn("The Debian archive changed between the two bootstraps; the commits cannot be compared");
    } else {
      assert.equal(second.commit, base.commit, "same packages, same SOURCE_DATE_EPOCH: the same commit");
    }
    await removeTree(again);
  },
});

Deno.test({
  name: `bootable: create on a bootable base, deploy, upgrade with the /etc merge, dpkg-query on the deployment${
    skipReason ? ` [SKIPPED: ${skipReason}]` : ""
  }`,
  ignore: skipReason !== undefined,
  async fn(t) {
    const { dir, repo, base, created } = await bootableFixture();
    const sysroot = join(dir, "sysroot");

    await t.step("create on the bootable base is bootable, installs hello, keeps the initramfs", async () => {
      assert.equal(created.bootable, true);
      assert.deepEqual(created.kernels, base.kernels);
      assert.ok(created.installed.some((p) => p.name === "hello"));
      const kver = base.kernels[0];
      const initramfs = (c: string) =>
        runOk("ostree", ["rev-parse", `--repo=${repo}`, c]).then(() =>
          run("ostree", ["ls", "-C", `--repo=${repo}`, c, `/usr/lib/modules/${kver}/initramfs.img`])
        ).then((o) => o.stdout.trim().split(/\s+/)[4]);
      assert.equal(await initramfs(created.commit), await initramfs(base.commit), "no rebuild for hello and nano");
      assert.deepEqual((await ls(repo, created.commit, "/var", true)).length, 1, "/var is empty");
      assert.match(await catFile(repo, created.commit, "/usr/lib/sysimage/dpkg/status"), /^Package: hello$/m);
      assert.deepEqual(await leftoverWorkDirs(repo), []);
    });

    await t.step("ostree admin deploy of the base: a boot entry with a kernel and an initramfs", async () => {
      const started = performance.now();
      const entry = await deploy(sysroot, repo, BASE_BRANCH);
      console.log(`deploy took ${((performance.now() - started) / 1000).toFixed(1)} s`);
      assert.match(entry.linux ?? "", /\/vmlinuz-/);
      assert.match(entry.initrd ?? "", /\/initramfs-.*\.img$/);
      assert.match(entry.options ?? "", /\bostree=\/ostree\/boot\.\d\/debian\/[0-9a-f]{64}\/0\b/);
      assert.ok((await Deno.stat(join(sysroot, "boot", entry.linux!))).isFile);
      assert.ok((await Deno.stat(join(sysroot, "boot", entry.initrd!))).size > 1024 * 1024);
      const [deployment] = await deploymentDirs(sysroot);
      assert.match(deployment, new RegExp(`/${base.commit}\\.0$`));
      assert.ok((await Deno.stat(join(deployment, "etc/os-release"))).isFile, "/etc from /usr/etc");
    });

    await t.step("upgrade to the deployment keeps a local /etc edit and brings a new default file", async () => {
      const [old] = await deploymentDirs(sysroot);
      await Deno.writeTextFile(join(old, "etc/issue"), "apt-ostree local edit\n", { append: true });
      await Deno.writeTextFile(join(old, "etc/apt-ostree-local.conf"), "mine\n");
      await deploy(sysroot, repo, DEPLOYMENT);
      const dirs = await deploymentDirs(sysroot);
      const next = dirs.find((d) => d.includes(`/${created.commit}.`));
      assert.ok(next, `a deployment of ${created.commit}: ${dirs.join(", ")}`);
      assert.match(await Deno.readTextFile(join(next, "etc/issue")), /apt-ostree local edit/, "local edit kept");
      assert.equal(await Deno.readTextFile(join(next, "etc/apt-ostree-local.conf")), "mine\n", "local file kept");
      assert.ok((await Deno.stat(join(next, "etc/nanorc"))).isFile, "nano's default /etc/nanorc arrives");
      assert.ok((await Deno.stat(join(next, "usr/bin/hello"))).isFile);
    });

    await t.step("with the shared /var and the tmpfiles entries applied, dpkg-query lists hello", async () => {
      const dirs = await deploymentDirs(sysroot);
      const next = dirs.find((d) => d.includes(`/${created.commit}.`))!;
      const sharedVar = join(sysroot, "ostree/deploy/debian/var");
      const out = await run("bwrap", [
        "--bind",
        next,
        "/",
        "--bind",
        sharedVar,
        "/var",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/tmp",
        "--unshare-pid",
        "--die-with-parent",
        "--clearenv",
        "--setenv",
        "PATH",
        "/usr/sbin:/usr/bin:/sbin:/bin",
        "--",
        "sh",
        "-c",
        "systemd-tmpfiles --create --prefix=/var >/dev/null 2>&1; dpkg-query -W hello nano && dpkg --audit && echo audit-clean && ls -ld /var/lib/dpkg /var/roothome /var/usrlocal/bin && apt list --installed 2>/dev/null | grep -c installed",
      ]);
      assert.equal(out.code, 0, out.stderr + out.stdout);
      const hello = created.installed.find((p) => p.name === "hello")!;
      assert.match(out.stdout, new RegExp(`^hello\\t${hello.version.replace(/[.+]/g, "\\$&")}$`, "m"));
      assert.match(out.stdout, /^nano\t/m);
      assert.match(out.stdout, /^audit-clean$/m);
      assert.match(out.stdout, /\/var\/lib\/dpkg -> \.\.\/\.\.\/usr\/lib\/sysimage\/dpkg/);
      assert.match(out.stdout, /^drwx------ .* \/var\/roothome$/m);
      const count = Number(out.stdout.trim().split("\n").at(-1));
      assert.ok(count > 100, `apt list --installed lists the packages (${count})`);
    });
  },
});

Deno.test({
  name: `bootable: the deployment, built as a bootc image and pulled back, boots under QEMU until its marker unit runs${
    skipReason ? ` [SKIPPED: ${skipReason}]` : qemuMissing ? " [SKIPPED: qemu-system-x86_64 not installed]" : ""
  }`,
  ignore: skipReason !== undefined || qemuMissing,
  async fn() {
    const { dir, repo } = await bootableFixture();
    const sysroot = join(dir, "boot-sysroot");
    const marked = await commitMarkerUnit(repo, DEPLOYMENT, "test/boot-marker", dir);
    // Through the image, as a host gets it: build-image writes the ostree-native format (bootable: the default),
    // image pull into a fresh repository gives the very same commit, and that one is deployed and booted.
    const layout = join(dir, "os.oci");
    const built = await runCli(["--repo", repo, "--json", "compose", "build-image", marked, "os:1", "-o", layout]);
    assert.equal(built.code, 0, built.stderr);
    const image = JSON.parse(built.stdout);
    assert.equal(image.bootc, true);
    assert.match(image.kernel, /amd64$/);
    const pulledRepo = join(dir, "pulled");
    await Deno.mkdir(pulledRepo);
    await runOk("ostree", ["init", `--repo=${pulledRepo}`, "--mode=bare"]);
    const pull = await runCli(["--repo", pulledRepo, "--json", "image", "pull", `oci:${layout}:1`, "--branch", "os"]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal(JSON.parse(pull.stdout).commit, marked, "the image pulls back to the very same commit");
    await removeTree(layout);
    // By checksum: the commit keeps its own ref binding (test/boot-marker), which pull-local checks against a ref name.
    const entry = await deploy(sysroot, pulledRepo, marked);
    assert.ok(entry.linux && entry.initrd, `the boot entry names a kernel and an initramfs: ${JSON.stringify(entry)}`);
    const disk = join(dir, "disk.img");
    await makeDisk(sysroot, disk);
    await removeSysroot(join(dir, "sysroot")); // space: the disk image holds a copy
    const result = await bootUntilMarker({
      sysroot,
      entry,
      disk,
      timeoutMs: 15 * 60 * 1000,
      log: join(dir, "console.log"),
    });
    console.log(`boot (${result.kvm ? "KVM" : "TCG"}): marker after ${result.seconds.toFixed(1)} s`);
    assert.ok(result.marker, `no ${BOOT_MARKER} on the console; last lines:\n${result.tail.join("\n")}`);
    assert.match(result.marker, /Hello, world!/);
    assert.match(result.marker, /dpkg: \d{3,} packages/);
    assert.ok(result.poweredOff, "the guest powered off by itself");
  },
});
