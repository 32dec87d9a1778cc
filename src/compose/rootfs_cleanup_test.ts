import assert from "node:assert/strict";
import { join } from "node:path";
import { cleanRootfs, fromDeploymentLayout, toDeploymentLayout } from "./rootfs_cleanup.ts";

async function write(root: string, rel: string, text = "x"): Promise<void> {
  await Deno.mkdir(join(root, rel, ".."), { recursive: true });
  await Deno.writeTextFile(join(root, rel), text);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("cleanRootfs removes what makes a tree unreproducible and keeps what programs need", async () => {
  const root = await Deno.makeTempDir();
  try {
    await write(root, "etc/machine-id", "0123456789abcdef\n");
    await write(root, "var/lib/dbus/machine-id", "0123\n");
    await write(root, "etc/resolv.conf", "nameserver 10.0.0.1\n");
    await write(root, "etc/hostname", "build-host\n");
    await write(root, "etc/keep.conf", "keep\n");
    await write(root, "var/log/dpkg.log");
    await write(root, "var/log/apt/history.log");
    await write(root, "var/log/apt/eipp.log.xz");
    await write(root, "var/log/alternatives.log");
    await write(root, "var/log/wtmp", "records");
    await write(root, "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease");
    await write(root, "var/lib/apt/lists/partial/x");
    await write(root, "var/lib/apt/lists/lock");
    await write(root, "var/cache/apt/pkgcache.bin");
    await write(root, "var/cache/apt/srcpkgcache.bin");
    await write(root, "var/cache/apt/archives/hello_2.10-3_amd64.deb");
    await write(root, "var/cache/apt/archives/partial/y.deb");
    await write(root, "var/cache/ldconfig/aux-cache");
    await write(root, "var/cache/debconf/config.dat-old");
    await write(root, "var/cache/debconf/config.dat");
    await write(root, "var/lib/dpkg/status-old");
    await write(root, "var/lib/dpkg/status", "Package: x\n");
    await write(root, "tmp/scratch");
    await write(root, "var/tmp/scratch");
    await write(root, "run/lock/x");
    await Deno.mkdir(join(root, "dev"));
    await Deno.symlink("/proc/self/fd", join(root, "dev/fd"));
    await write(root, "dev/console-stand-in");

    await cleanRootfs(root, { hostFiles: true });

    assert.equal(await Deno.readTextFile(join(root, "etc/machine-id")), "");
    assert.equal(await Deno.readTextFile(join(root, "etc/keep.conf")), "keep\n");
    assert.equal(await Deno.readTextFile(join(root, "var/log/wtmp")), "", "record files are truncated, not removed");
    assert.equal(await Deno.readTextFile(join(root, "var/cache/debconf/config.dat")), "x");
    assert.equal(await Deno.readTextFile(join(root, "var/lib/dpkg/status")), "Package: x\n");
    for (
      const gone of [
        "var/lib/dbus/machine-id",
        "etc/resolv.conf",
        "etc/hostname",
        "var/log/dpkg.log",
        "var/log/apt/history.log",
        "var/log/apt/eipp.log.xz",
        "var/log/alternatives.log",
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
        "var/lib/apt/lists/partial/x",
        "var/lib/apt/lists/lock",
        "var/cache/apt/pkgcache.bin",
        "var/cache/apt/srcpkgcache.bin",
        "var/cache/apt/archives/hello_2.10-3_amd64.deb",
        "var/cache/apt/archives/partial/y.deb",
        "var/cache/ldconfig/aux-cache",
        "var/cache/debconf/config.dat-old",
        "var/lib/dpkg/status-old",
        "tmp/scratch",
        "var/tmp/scratch",
        "run/lock",
        "dev/fd",
        "dev/console-stand-in",
      ]
    ) {
      assert.equal(await exists(join(root, gone)), false, gone);
    }
    for (
      const kept of ["var/log/apt", "var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "dev", "tmp", "run"]
    ) {
      assert.ok((await Deno.lstat(join(root, kept))).isDirectory, kept);
    }
    // Without hostFiles, resolv.conf and hostname stay.
    await write(root, "etc/hostname", "h\n");
    await cleanRootfs(root);
    assert.equal(await exists(join(root, "etc/hostname")), true);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("/etc moves to /usr/etc and back; a tree with both is an error", async () => {
  const root = await Deno.makeTempDir();
  try {
    await write(root, "etc/os-release", "ID=debian\n");
    await toDeploymentLayout(root);
    assert.equal(await Deno.readTextFile(join(root, "usr/etc/os-release")), "ID=debian\n");
    assert.equal(await exists(join(root, "etc")), false);
    await toDeploymentLayout(root); // already there: nothing to do
    await fromDeploymentLayout(root);
    assert.equal(await Deno.readTextFile(join(root, "etc/os-release")), "ID=debian\n");
    assert.equal(await exists(join(root, "usr/etc")), false);
    await fromDeploymentLayout(root); // only /etc: nothing to do
    await Deno.mkdir(join(root, "usr/etc"));
    await assert.rejects(toDeploymentLayout(root), /has both \/etc and \/usr\/etc/);
    await assert.rejects(fromDeploymentLayout(root), /has both \/etc and \/usr\/etc/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cleanup never follows a symlink out of the tree, and removes per-machine keys", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cleanup-symlink-test-" });
  try {
    const root = `${dir}/root`;
    const victim = `${dir}/victim`;
    await Deno.mkdir(`${victim}/sub`, { recursive: true });
    await Deno.writeTextFile(`${victim}/precious.log`, "keep me");
    await Deno.writeTextFile(`${victim}/machine-id`, "host id");
    await Deno.mkdir(`${root}/var/lib`, { recursive: true });
    await Deno.mkdir(`${root}/etc/ssh`, { recursive: true });
    // Symlinks a maintainer script (or an image layer) could leave behind.
    await Deno.symlink(victim, `${root}/var/tmp`);
    await Deno.symlink(victim, `${root}/var/log`);
    await Deno.symlink(victim, `${root}/tmp`);
    await Deno.symlink(victim, `${root}/var/lib/dbus`);
    await Deno.writeTextFile(`${root}/etc/ssh/ssh_host_ed25519_key`, "secret");
    await Deno.writeTextFile(`${root}/etc/ssh/ssh_host_ed25519_key.pub`, "public");
    await Deno.writeTextFile(`${root}/etc/ssh/sshd_config`, "config");
    await cleanRootfs(root);
    assert.equal(await Deno.readTextFile(`${victim}/precious.log`), "keep me");
    assert.equal(await Deno.readTextFile(`${victim}/machine-id`), "host id");
    assert.ok((await Deno.stat(`${victim}/sub`)).isDirectory);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(`${root}/etc/ssh`))).map((e) => e.name), ["sshd_config"]);
    // A /usr that is a symlink is refused before anything moves through it.
    await Deno.remove(`${root}/etc`, { recursive: true });
    await Deno.mkdir(`${root}/etc`);
    await Deno.symlink(victim, `${root}/usr`);
    await assert.rejects(() => toDeploymentLayout(root), /not a directory/);
    assert.ok((await Deno.stat(`${root}/etc`)).isDirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
