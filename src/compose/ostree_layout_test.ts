import assert from "node:assert/strict";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { readInstalledPackages } from "./dpkg_status.ts";
import {
  AUTOVAR_TMPFILES,
  bootablePackages,
  DPKG_TMPFILES,
  dracutCommand,
  FACTORY_VAR,
  fromBootableLayout,
  kernelVersions,
} from "./ostree_layout.ts";
import { fromDeploymentLayout, toDeploymentLayout } from "./rootfs_cleanup.ts";

const KVER = "6.1.0-99-amd64";
const STATUS = "Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21.22\n\n";
const isRoot = Deno.uid() === 0;

async function write(root: string, rel: string, text = "x", mode?: number): Promise<void> {
  await Deno.mkdir(join(root, rel, ".."), { recursive: true });
  await Deno.writeTextFile(join(root, rel), text);
  if (mode !== undefined) await Deno.chmod(join(root, rel), mode);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function link(root: string, rel: string): Promise<string> {
  const info = await Deno.lstat(join(root, rel));
  assert.ok(info.isSymlink, `${rel} is a symlink`);
  return await Deno.readLink(join(root, rel));
}

async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

/** A Debian-like tree as mmdebstrap leaves it, with a fake kernel (a few bytes) and the initramfs dracut would write. */
async function fakeKernelTree(root: string): Promise<void> {
  await write(root, "etc/os-release", "ID=debian\n");
  await write(root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n");
  await write(root, "etc/group", "root:x:0:\nutmp:x:43:\nadm:x:4:\n");
  await write(root, "var/lib/dpkg/status", STATUS);
  await write(root, "var/lib/dpkg/info/dpkg.list", "/usr/bin/dpkg\n");
  await write(root, "var/lib/apt/extended_states", "Package: x\nAuto-Installed: 1\n");
  await Deno.mkdir(join(root, "var/lib/apt/lists/partial"), { recursive: true });
  await write(root, "var/cache/debconf/config.dat", "Name: a/b\n");
  await write(root, "var/log/wtmp", "", 0o664);
  if (isRoot) await Deno.chown(join(root, "var/log/wtmp"), 0, 43);
  await Deno.mkdir(join(root, "var/tmp"), { recursive: true });
  await Deno.chmod(join(root, "var/tmp"), 0o1777);
  await Deno.symlink("/run", join(root, "var/run"));
  await Deno.symlink("/run/lock", join(root, "var/lock"));
  await write(root, `boot/vmlinuz-${KVER}`, "kernel");
  await write(root, `boot/config-${KVER}`, "CONFIG_X=y\n");
  await write(root, `boot/System.map-${KVER}`, "map\n");
  await write(root, `boot/initrd.img-${KVER}`, "initramfs-tools image");
  await write(root, `usr/lib/modules/${KVER}/modules.dep`, "");
  await write(root, `usr/lib/modules/${KVER}/initramfs.img`, "dracut image");
  await Deno.symlink(`boot/vmlinuz-${KVER}`, join(root, "vmlinuz"));
  await Deno.symlink(`boot/vmlinuz-${KVER}`, join(root, "vmlinuz.old"));
  await Deno.symlink(`boot/initrd.img-${KVER}`, join(root, "initrd.img"));
  await write(root, "root/.bashrc", "# bashrc\n");
  await Deno.chmod(join(root, "root"), 0o700);
  for (const d of ["home", "opt", "srv", "mnt", "usr/local/bin", "usr/local/lib", "usr/local/etc", "tmp/junk"]) {
    await Deno.mkdir(join(root, d), { recursive: true });
  }
  await write(root, "usr/lib/tmpfiles.d/var.conf", "d /var/log 0755 - - -\nL /var/lock - - - - ../run/lock\n");
  await write(root, "usr/lib/tmpfiles.d/masked.conf", "");
}

Deno.test("every commit: dpkg's database moves to /usr/lib/sysimage/dpkg, /var/lib/dpkg links to it", async () => {
  const root = await Deno.makeTempDir();
  try {
    await fakeKernelTree(root);
    const layout = await toDeploymentLayout(root);
    assert.deepEqual(layout.kernels, [], "not bootable: no kernel layout");
    assert.equal(await Deno.readTextFile(join(root, "usr/lib/sysimage/dpkg/status")), STATUS);
    assert.equal(await link(root, "var/lib/dpkg"), "../../usr/lib/sysimage/dpkg");
    const tmpfiles = await Deno.readTextFile(join(root, DPKG_TMPFILES));
    assert.match(tmpfiles, /^L \/var\/lib\/dpkg - - - - \.\.\/\.\.\/usr\/lib\/sysimage\/dpkg$/m);
    assert.match(tmpfiles, /^d \/var\/log\/apt /m);
    assert.match(tmpfiles, /^d \/var\/cache\/apt /m);
    assert.ok(await exists(join(root, `boot/vmlinuz-${KVER}`)), "not bootable: /boot untouched");
    assert.ok((await Deno.lstat(join(root, "home"))).isDirectory, "not bootable: /home stays a directory");
    assert.equal((await readInstalledPackages(root))[0].name, "dpkg", "status read from the new place");

    await fromDeploymentLayout(root);
    assert.ok(await exists(join(root, "etc/os-release")));
    assert.equal(await link(root, "var/lib/dpkg"), "../../usr/lib/sysimage/dpkg", "dpkg finds its database");
    // apt may have replaced the link by a directory of its own (it does not, but a package could): moved again
    await toDeploymentLayout(root);
    assert.equal(await Deno.readTextFile(join(root, "usr/lib/sysimage/dpkg/status")), STATUS);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("trees from before the move: /var/lib/dpkg stays where it is for apt, then moves", async () => {
  const root = await Deno.makeTempDir();
  try {
    await write(root, "usr/etc/os-release", "ID=debian\n");
    await write(root, "var/lib/dpkg/status", STATUS);
    await fromDeploymentLayout(root);
    assert.ok((await Deno.lstat(join(root, "var/lib/dpkg"))).isDirectory, "an old base is used as it is");
    assert.equal((await readInstalledPackages(root)).length, 1);
    await toDeploymentLayout(root);
    assert.equal(await link(root, "var/lib/dpkg"), "../../usr/lib/sysimage/dpkg");
    // both a real directory and the new place: refused
    await Deno.remove(join(root, "var/lib/dpkg"));
    await write(root, "var/lib/dpkg/status", STATUS);
    await Deno.rename(join(root, "usr/etc"), join(root, "etc"));
    await assert.rejects(toDeploymentLayout(root), /two dpkg databases/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("bootable layout of a fake-kernel tree: every rule", async () => {
  const root = await Deno.makeTempDir();
  try {
    await fakeKernelTree(root);
    assert.deepEqual(await kernelVersions(root), [KVER]);
    const layout = await toDeploymentLayout(root, { bootable: true });
    assert.deepEqual(layout.kernels, [KVER]);
    // the kernel and the initramfs where ostree looks; /boot empty; Debian's links gone
    const modules = join(root, "usr/lib/modules", KVER);
    assert.equal(await Deno.readTextFile(join(modules, "vmlinuz")), "kernel");
    assert.equal(await Deno.readTextFile(join(modules, "initramfs.img")), "dracut image");
    assert.equal(await Deno.readTextFile(join(modules, "config")), "CONFIG_X=y\n");
    assert.deepEqual(await names(join(root, "boot")), []);
    for (const gone of ["vmlinuz", "vmlinuz.old", "initrd.img", "initrd.img.old", "etc"]) {
      assert.equal(await exists(join(root, gone)), false, gone);
    }
    // /sysroot, /ostree, the links into /var
    assert.ok((await Deno.lstat(join(root, "sysroot"))).isDirectory);
    assert.equal(await link(root, "ostree"), "sysroot/ostree");
    assert.equal(await link(root, "home"), "var/home");
    assert.equal(await link(root, "root"), "var/roothome");
    assert.equal(await link(root, "opt"), "var/opt");
    assert.equal(await link(root, "srv"), "var/srv");
    assert.equal(await link(root, "mnt"), "var/mnt");
    assert.equal(await link(root, "usr/local"), "../var/usrlocal");
    // /tmp empty, 1777
    assert.deepEqual(await names(join(root, "tmp")), []);
    assert.equal((await Deno.stat(join(root, "tmp"))).mode! & 0o7777, 0o1777);
    // /var empty, recreated by tmpfiles entries
    assert.deepEqual(await names(join(root, "var")), []);
    const autovar = await Deno.readTextFile(join(root, AUTOVAR_TMPFILES));
    const lines = autovar.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    const owner = isRoot ? "root root" : `${Deno.uid()} ${Deno.gid()}`;
    for (
      const expected of [
        `d /var/home 0755 ${owner} -`,
        `d /var/roothome 0700 ${owner} -`,
        `d /var/opt 0755 ${owner} -`,
        `d /var/srv 0755 ${owner} -`,
        `d /var/mnt 0755 ${owner} -`,
        `d /var/usrlocal 0755 ${owner} -`,
        `d /var/usrlocal/bin 0755 ${owner} -`,
        `d /var/usrlocal/etc 0755 ${owner} -`,
        `d /var/usrlocal/lib 0755 ${owner} -`,
        `d /var/lib 0755 ${owner} -`,
        `L /var/run - - - - ../run`,
        "C /var/roothome/.bashrc - - - -",
        "C /var/cache/debconf/config.dat - - - -",
        "C /var/lib/apt/extended_states - - - -",
        `f /var/log/wtmp 0664 ${isRoot ? "root utmp" : `${Deno.uid()} ${Deno.gid()}`} -`,
      ]
    ) {
      assert.ok(lines.includes(expected), `${expected}\nin:\n${autovar}`);
    }
    // paths other tmpfiles.d files create are left to them; dpkg's link is in its own file
    for (const path of ["/var/log", "/var/lock", "/var/lib/dpkg", "/var/lib/apt/lists/partial", "/var/log/apt"]) {
      assert.ok(!lines.some((l) => l.split(/\s+/)[1] === path), path);
    }
    assert.match(await Deno.readTextFile(join(root, DPKG_TMPFILES)), /^L \/var\/lib\/dpkg /m);
    assert.deepEqual(lines, [...lines].sort((a, b) => a.split(" ")[1] < b.split(" ")[1] ? -1 : 1), "path order");
    assert.equal(await Deno.readTextFile(join(root, FACTORY_VAR, "cache/debconf/config.dat")), "Name: a/b\n");
    assert.equal(await Deno.readTextFile(join(root, "usr/lib/sysimage/dpkg/status")), STATUS);

    // back for apt: /var as it was, dpkg's database where dpkg looks
    await fromDeploymentLayout(root);
    assert.equal(await link(root, "var/lib/dpkg"), "../../usr/lib/sysimage/dpkg");
    assert.equal((await readInstalledPackages(root)).length, 1);
    assert.equal(await Deno.readTextFile(join(root, "var/cache/debconf/config.dat")), "Name: a/b\n");
    assert.equal(await Deno.readTextFile(join(root, "root/.bashrc")), "# bashrc\n", "through /root -> var/roothome");
    assert.equal((await Deno.stat(join(root, "var/roothome"))).mode! & 0o7777, 0o700);
    assert.equal((await Deno.stat(join(root, "var/log/wtmp"))).mode! & 0o7777, 0o664);
    assert.equal((await Deno.stat(join(root, "var/tmp"))).mode! & 0o7777, 0o1777);
    assert.equal(await exists(join(root, AUTOVAR_TMPFILES)), false);

    // and again: the same entries (reproducible), a new file in /var gets its line
    await write(root, "var/lib/hello/state", "new");
    await Deno.rename(join(root, "var/lib/dpkg"), join(root, "var/lib/dpkg-link")); // a package dropped the link
    await Deno.remove(join(root, "var/lib/dpkg-link"));
    await toDeploymentLayout(root, { bootable: true });
    const again = await Deno.readTextFile(join(root, AUTOVAR_TMPFILES));
    const added = again.split("\n").filter((l) => !autovar.split("\n").includes(l));
    assert.deepEqual(added, [`d /var/lib/hello 0755 ${owner} -`, "C /var/lib/hello/state - - - -"]);
    assert.deepEqual(await names(join(root, "var")), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("bootable layout refuses a tree without a kernel, or a kernel without an initramfs", async () => {
  const root = await Deno.makeTempDir();
  try {
    await write(root, "etc/os-release", "ID=debian\n");
    await assert.rejects(toDeploymentLayout(root, { bootable: true }), /has no kernel/);
    await write(root, `boot/vmlinuz-${KVER}`, "kernel");
    await Deno.mkdir(join(root, "usr/lib/modules", KVER), { recursive: true });
    await assert.rejects(toDeploymentLayout(root, { bootable: true }), /has no initramfs/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("dracutCommand: not host-only, reproducible, with the ostree module and virtio, ext4, xfs drivers", () => {
  const argv = dracutCommand(KVER);
  assert.ok(argv.includes("--no-hostonly") && argv.includes("--reproducible"));
  const modules = argv[argv.indexOf("--modules") + 1].split(" ");
  const drivers = argv[argv.indexOf("--drivers") + 1].split(" ");
  assert.ok(modules.includes("ostree") && modules.includes("systemd-initrd"));
  for (const d of ["virtio_blk", "virtio_pci", "ext4", "xfs"]) assert.ok(drivers.includes(d), d);
  assert.equal(argv.at(-1), `/usr/lib/modules/${KVER}/initramfs.img`);
});

Deno.test("a bootable tree's own tmpfiles.d entries cannot lead out of the tree (.., a symlinked parent)", async () => {
  const outside = await Deno.makeTempDir();
  for (
    const [what, lines, setup] of [
      ["a .. path", `d /var/../../${outside.slice(1)}/escaped 0755 root root -\n`, undefined],
      ["a symlinked parent", "d /var/lib/escape/dir 0755 root root -\n", "var/lib/escape"],
      ["a factory copy through a symlink", "C /var/lib/copied - - - - -\n", "usr/share/factory"],
    ] as const
  ) {
    const root = await Deno.makeTempDir();
    try {
      await write(root, AUTOVAR_TMPFILES, lines);
      if (setup) {
        await Deno.mkdir(join(root, setup, ".."), { recursive: true });
        await Deno.symlink(outside, join(root, setup));
      }
      await assert.rejects(fromBootableLayout(root), /Refusing \/.* named in \/usr\/lib\/tmpfiles\.d/, what);
      assert.deepEqual([...Deno.readDirSync(outside)], [], `${what}: nothing written outside the tree`);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  }
  await Deno.remove(outside, { recursive: true });
});

Deno.test("bootable packages: Debian's kernel flavour per architecture, Ubuntu's generic one; an unknown one is refused", () => {
  assert.equal(bootablePackages("debian", "amd64")[0], "linux-image-amd64");
  assert.equal(bootablePackages("debian", "armhf")[0], "linux-image-armmp");
  assert.equal(bootablePackages("debian", "i386")[0], "linux-image-686-pae");
  assert.equal(bootablePackages("ubuntu", "arm64")[0], "linux-image-generic");
  assert.ok(bootablePackages("debian", "arm64").includes("dracut"));
  assert.throws(
    () => bootablePackages("debian", "mips64el"),
    (e: unknown) =>
      e instanceof UsageError && /no kernel package for the architecture mips64el/.test(e.message) &&
      /amd64/.test(e.solution ?? ""),
  );
});
