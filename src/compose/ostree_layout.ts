/**
 * The parts of the deployment layout beyond `/usr/etc`: dpkg's database
 * under `/usr` (every commit), and for bootable commits the layout that
 * `ostree admin deploy` and the boot need: the kernel and a dracut
 * initramfs in `/usr/lib/modules/<kver>/`, an empty `/boot`, `/sysroot` and
 * `/ostree -> sysroot/ostree`, `/home`, `/root`, `/opt`, `/srv`, `/mnt` and
 * `/usr/local` as symlinks into `/var`, and `/var` itself emptied into
 * `tmpfiles.d` entries that recreate it at boot (rpm-ostree's "autovar").
 * Each step has its inverse, which `compose create` applies to a checkout
 * before apt runs on it. {@linkcode toDeploymentLayout} and
 * {@linkcode fromDeploymentLayout} in `rootfs_cleanup.ts` are the entry
 * points.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { AptOstreeError, UsageError } from "../errors.ts";
import { DPKG_DATABASE_DIR, LEGACY_DPKG_DATABASE_DIR } from "../layers/dpkg_owners.ts";
import { fsError, statOrUndefined } from "../util/fs.ts";
import { errorLines } from "./process.ts";
import { runInSandbox } from "./sandbox.ts";

/** Where packages and apt-ostree put `tmpfiles.d` entries. */
export const TMPFILES_DIR = "usr/lib/tmpfiles.d";

/** The entries that make `/var/lib/dpkg` point at the database under `/usr`, and apt's directories (every commit). */
export const DPKG_TMPFILES = `${TMPFILES_DIR}/apt-ostree-dpkg.conf`;

/** The entries that recreate a bootable commit's `/var` (generated from the tree). */
export const AUTOVAR_TMPFILES = `${TMPFILES_DIR}/apt-ostree-autovar.conf`;

/** Where the non-empty files of a bootable commit's `/var` are kept (systemd's factory directory; `C` entries copy them). */
export const FACTORY_VAR = "usr/share/factory/var";

/** Top-level directories that live in `/var` on a deployment, and their symlink targets (as Fedora's OSTree systems have them). */
export const VAR_LINKS: readonly (readonly [path: string, target: string])[] = [
  ["home", "var/home"],
  ["mnt", "var/mnt"],
  ["opt", "var/opt"],
  ["root", "var/roothome"],
  ["srv", "var/srv"],
  ["usr/local", "../var/usrlocal"],
];

/** Debian's top-level kernel and initrd symlinks (removed: the kernel is found in `/usr/lib/modules`). */
const KERNEL_LINKS = ["vmlinuz", "vmlinuz.old", "initrd.img", "initrd.img.old"];

/** The relative symlink target of `/var/lib/dpkg`. */
const DPKG_LINK_TARGET = `../../${DPKG_DATABASE_DIR}`;

/**
 * dracut modules of the initramfs: the systemd-based initrd, block
 * devices, and `ostree` (Debian's `ostree-boot` ships `ostree-prepare-root`
 * only as this dracut module).
 */
export const DRACUT_MODULES: readonly string[] = [
  "systemd",
  "systemd-initrd",
  "dracut-systemd",
  "base",
  "fs-lib",
  "rootfs-block",
  "udev-rules",
  "ostree",
  "shutdown",
];

/** Kernel drivers of the initramfs (not host-only): virtio, SATA/SCSI and NVMe disks, ext4 and xfs. */
export const DRACUT_DRIVERS: readonly string[] = [
  "virtio_blk",
  "virtio_pci",
  "virtio_scsi",
  "sd_mod",
  "ahci",
  "nvme",
  "ext4",
  "xfs",
  "crc32c_generic",
];

const DPKG_TMPFILES_TEXT = `# Written by apt-ostree: dpkg's database lives in /${DPKG_DATABASE_DIR} (it belongs to the
# deployment, not to the shared /var), and apt's directories exist.
L /var/lib/dpkg - - - - ${DPKG_LINK_TARGET}
d /var/cache/apt 0755 root root -
d /var/cache/apt/archives 0755 root root -
d /var/cache/apt/archives/partial 0700 root root -
d /var/lib/apt 0755 root root -
d /var/lib/apt/lists 0755 root root -
d /var/lib/apt/lists/partial 0700 root root -
d /var/log/apt 0755 root root -
`;

async function readLinkOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await Deno.readLink(path);
  } catch {
    return undefined;
  }
}

async function rename(from: string, to: string, what: string): Promise<void> {
  await Deno.rename(from, to).catch((error) => {
    throw fsError(what, from, error);
  });
}

async function removeTree(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw fsError("remove", path, error);
  });
}

/** Makes `path` a symlink to `target`, replacing a symlink or an empty directory there. */
async function ensureSymlink(path: string, target: string): Promise<void> {
  const info = await statOrUndefined(path);
  if (info?.isSymlink && (await readLinkOrUndefined(path)) === target) return;
  if (info) {
    await Deno.remove(path).catch((error) => { // a symlink, a file, or an empty directory
      throw fsError("replace", path, error);
    });
  }
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.symlink(target, path).catch((error) => {
    throw fsError("create the symlink", path, error);
  });
}

/**
 * Moves dpkg's database from `/var/lib/dpkg` to {@linkcode DPKG_DATABASE_DIR}
 * and leaves `/var/lib/dpkg` a relative symlink to it (containers made from
 * the commit find it there); writes {@linkcode DPKG_TMPFILES}, which makes
 * the same symlink on a deployment's shared `/var`. A tree whose database
 * is already under `/usr` only gets the symlink and the entries checked; a
 * tree without a dpkg database is left alone.
 *
 * @example
 * ```ts
 * import { relocateDpkgDatabase } from "./ostree_layout.ts";
 * await relocateDpkgDatabase("/var/tmp/rootfs");
 * ```
 */
export async function relocateDpkgDatabase(root: string): Promise<void> {
  const legacy = join(root, LEGACY_DPKG_DATABASE_DIR);
  const database = join(root, DPKG_DATABASE_DIR);
  const legacyInfo = await statOrUndefined(legacy);
  const databaseInfo = await statOrUndefined(database);
  if (legacyInfo?.isDirectory) {
    if (databaseInfo) {
      throw new AptOstreeError(
        `The tree ${root} has two dpkg databases: /${LEGACY_DPKG_DATABASE_DIR} and /${DPKG_DATABASE_DIR}`,
        {
          solution:
            `Keep one: /${LEGACY_DPKG_DATABASE_DIR} must be a symlink to ../../${DPKG_DATABASE_DIR}; rebuild the base`,
        },
      );
    }
    await Deno.mkdir(dirname(database), { recursive: true });
    await rename(legacy, database, "move dpkg's database");
  } else if (!databaseInfo?.isDirectory) {
    return; // no dpkg database: not a Debian tree
  }
  await ensureSymlink(legacy, DPKG_LINK_TARGET);
  await Deno.mkdir(join(root, TMPFILES_DIR), { recursive: true });
  await Deno.writeTextFile(join(root, DPKG_TMPFILES), DPKG_TMPFILES_TEXT, { mode: 0o644 });
}

/**
 * Makes `/var/lib/dpkg` lead to dpkg's database again in a checkout, so that
 * dpkg and apt find it: a commit made before the move has a real
 * `/var/lib/dpkg` (left alone), a newer one the symlink (recreated when
 * missing, as in a bootable commit, whose `/var` is empty).
 *
 * @example
 * ```ts
 * import { restoreDpkgDatabase } from "./ostree_layout.ts";
 * await restoreDpkgDatabase("/var/tmp/checkout");
 * ```
 */
export async function restoreDpkgDatabase(root: string): Promise<void> {
  const legacyInfo = await statOrUndefined(join(root, LEGACY_DPKG_DATABASE_DIR));
  if (legacyInfo?.isDirectory) return;
  if (!(await statOrUndefined(join(root, DPKG_DATABASE_DIR)))?.isDirectory) return;
  await ensureSymlink(join(root, LEGACY_DPKG_DATABASE_DIR), DPKG_LINK_TARGET);
}

async function sortedEntries(dir: string): Promise<Deno.DirEntry[]> {
  try {
    const entries = await Array.fromAsync(Deno.readDir(dir));
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw fsError("read", dir, error);
  }
}

/**
 * The kernel versions of a tree: the directories of `/usr/lib/modules` that
 * have a kernel, either already at `vmlinuz` in it or as Debian installs it,
 * `/boot/vmlinuz-<kver>`. Sorted.
 *
 * @example
 * ```ts
 * import { kernelVersions } from "./ostree_layout.ts";
 * await kernelVersions("/var/tmp/rootfs"); // ["6.1.0-18-amd64"]
 * ```
 */
export async function kernelVersions(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await sortedEntries(join(root, "usr/lib/modules"))) {
    if (!entry.isDirectory) continue;
    const kver = entry.name;
    if (
      (await statOrUndefined(join(root, "usr/lib/modules", kver, "vmlinuz")))?.isFile ||
      (await statOrUndefined(join(root, "boot", `vmlinuz-${kver}`)))?.isFile
    ) out.push(kver);
  }
  return out;
}

/**
 * The dracut command line that builds the initramfs of kernel `kver` at
 * `/usr/lib/modules/<kver>/initramfs.img` (run inside the tree): not
 * host-only, reproducible (`SOURCE_DATE_EPOCH`), with
 * {@linkcode DRACUT_MODULES} and {@linkcode DRACUT_DRIVERS}.
 *
 * @example
 * ```ts
 * import { dracutCommand } from "./ostree_layout.ts";
 * dracutCommand("6.1.0-18-amd64").at(-1); // "/usr/lib/modules/6.1.0-18-amd64/initramfs.img"
 * ```
 */
export function dracutCommand(kver: string): string[] {
  return [
    "dracut",
    "--no-hostonly",
    "--reproducible",
    "--force",
    "--modules",
    DRACUT_MODULES.join(" "),
    "--drivers",
    DRACUT_DRIVERS.join(" "),
    "--kver",
    kver,
    `/usr/lib/modules/${kver}/initramfs.img`,
  ];
}

/**
 * Lays out the kernels for OSTree: `/boot/vmlinuz-<kver>` (and its
 * `config`, `System.map`) moves to `/usr/lib/modules/<kver>/`, Debian's
 * initramfs-tools image and the top-level `/vmlinuz`, `/initrd.img` links
 * are removed, `/boot` is emptied. Every kernel must have its
 * `initramfs.img` by then. Returns the kernel versions.
 */
async function layoutKernels(root: string): Promise<string[]> {
  const kvers = await kernelVersions(root);
  if (kvers.length === 0) {
    throw new AptOstreeError(`The bootable tree ${root} has no kernel in /usr/lib/modules or /boot`, {
      solution: "Install a kernel package (linux-image-<arch>); bootable composes add it themselves",
    });
  }
  for (const kver of kvers) {
    const modules = join(root, "usr/lib/modules", kver);
    for (
      const [from, to] of [[`vmlinuz-${kver}`, "vmlinuz"], [`config-${kver}`, "config"], [
        `System.map-${kver}`,
        "System.map",
      ]]
    ) {
      const source = join(root, "boot", from);
      if ((await statOrUndefined(source))?.isFile) await rename(source, join(modules, to), "move the kernel file");
    }
    if (!(await statOrUndefined(join(modules, "initramfs.img")))?.isFile) {
      throw new AptOstreeError(`Kernel ${kver} has no initramfs at /usr/lib/modules/${kver}/initramfs.img`, {
        solution: "Install dracut in the tree (bootable composes add it) so that apt-ostree can build the initramfs",
      });
    }
  }
  for (const name of KERNEL_LINKS) {
    const path = join(root, name);
    const info = await statOrUndefined(path);
    if (info && !info.isDirectory) await removeTree(path);
  }
  const boot = join(root, "boot");
  if ((await statOrUndefined(boot))?.isDirectory) {
    for (const entry of await sortedEntries(boot)) await removeTree(join(boot, entry.name));
  } else {
    await removeTree(boot);
    await Deno.mkdir(boot, { mode: 0o755 });
  }
  return kvers;
}

/** Makes each of {@linkcode VAR_LINKS} a symlink, moving a real directory's content to its place under `/var`. */
async function linkIntoVar(root: string): Promise<void> {
  for (const [rel, target] of VAR_LINKS) {
    const path = join(root, rel);
    const inVar = join(dirname(path), target);
    const info = await statOrUndefined(path);
    if (info?.isSymlink && (await readLinkOrUndefined(path)) === target) continue;
    const varInfo = await statOrUndefined(inVar);
    if (info?.isDirectory) {
      if (!varInfo) {
        await Deno.mkdir(dirname(inVar), { recursive: true });
        await rename(path, inVar, `move /${rel} to /var`);
      } else {
        for (const entry of await sortedEntries(path)) {
          const to = join(inVar, entry.name);
          if (await statOrUndefined(to)) {
            throw new AptOstreeError(`Both /${rel}/${entry.name} and its place in /var exist in ${root}`, {
              solution: `Keep one of them: /${rel} is a symlink to ${target} in a bootable tree`,
            });
          }
          await rename(join(path, entry.name), to, `move /${rel} to /var`);
        }
        await Deno.remove(path);
      }
    } else if (!varInfo) {
      await Deno.mkdir(inVar, { recursive: true, mode: 0o755 });
      if (rel === "root") await Deno.chmod(inVar, 0o700);
    }
    await ensureSymlink(path, target);
  }
}

/** `uid → name` (or `gid → name`) from a tree's passwd or group file. */
async function idNames(root: string, file: "passwd" | "group"): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  for (const etc of ["etc", "usr/etc"]) {
    let text: string;
    try {
      text = await Deno.readTextFile(join(root, etc, file));
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      const fields = line.split(":");
      const id = Number(fields[2]);
      if (fields.length >= 3 && fields[0] && Number.isInteger(id) && !names.has(id)) names.set(id, fields[0]);
    }
    break;
  }
  return names;
}

/** `name → id` from a tree's passwd or group file. */
async function idsByName(root: string, file: "passwd" | "group"): Promise<Map<string, number>> {
  return new Map([...(await idNames(root, file))].map(([id, name]) => [name, id]));
}

/** The types of `tmpfiles.d` lines that create something. */
const CREATING_TYPES = new Set(["f", "F", "w", "d", "D", "v", "q", "Q", "p", "L", "c", "b", "C"]);

/** The paths that the tree's `tmpfiles.d` entries (other than apt-ostree's autovar ones) create. */
async function tmpfilesPaths(root: string): Promise<Set<string>> {
  const paths = new Set<string>();
  for (const dir of [TMPFILES_DIR, "etc/tmpfiles.d", "usr/etc/tmpfiles.d"]) {
    for (const entry of await sortedEntries(join(root, dir))) {
      if (!entry.name.endsWith(".conf") || join(dir, entry.name) === AUTOVAR_TMPFILES) continue;
      let text: string;
      try {
        text = await Deno.readTextFile(join(root, dir, entry.name));
      } catch {
        continue; // a dangling symlink (masked entries link to /dev/null)
      }
      for (const line of text.split("\n")) {
        const fields = line.trim().split(/\s+/);
        if (fields.length < 2 || fields[0].startsWith("#")) continue;
        if (CREATING_TYPES.has(fields[0].replace(/[-+=~^!]/g, ""))) paths.add(fields[1]);
      }
    }
  }
  return paths;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

/**
 * Turns `/var` into `tmpfiles.d` entries ({@linkcode AUTOVAR_TMPFILES}) and
 * empties it, as rpm-ostree does: a `d` line (mode, owner, group) per
 * directory, `L` per symlink, `f` per empty file, and for a file with
 * content a `C` line, the file itself moving to {@linkcode FACTORY_VAR}
 * (systemd copies it from there when it is missing: a first-boot seed, such
 * as debconf's answers). Paths that another `tmpfiles.d` file creates are
 * left to it. Lines are in path order, so the same tree gives the same file.
 */
async function varToTmpfiles(root: string): Promise<void> {
  const covered = await tmpfilesPaths(root);
  const users = await idNames(root, "passwd");
  const groups = await idNames(root, "group");
  const lines: string[] = [];
  const owner = (info: Deno.FileInfo) =>
    `${users.get(info.uid ?? 0) ?? info.uid} ${groups.get(info.gid ?? 0) ?? info.gid}`;
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await sortedEntries(join(root, rel))) {
      const childRel = `${rel}/${entry.name}`;
      const path = join(root, childRel);
      const info = await Deno.lstat(path);
      const absolute = `/${childRel}`;
      if (/\s/.test(absolute)) continue; // tmpfiles.d paths cannot hold white space unquoted; none in Debian's /var
      const mine = !covered.has(absolute);
      if (info.isDirectory) {
        if (mine) lines.push(`d ${absolute} ${octal(info.mode ?? 0o755)} ${owner(info)} -`);
        await walk(childRel);
      } else if (info.isSymlink) {
        if (mine) lines.push(`L ${absolute} - - - - ${await Deno.readLink(path)}`);
      } else if (info.isFile && mine) {
        if (info.size === 0) {
          lines.push(`f ${absolute} ${octal(info.mode ?? 0o644)} ${owner(info)} -`);
        } else {
          const factory = join(root, FACTORY_VAR, childRel.slice("var/".length));
          await Deno.mkdir(dirname(factory), { recursive: true });
          await rename(path, factory, "move to the factory directory");
          lines.push(`C ${absolute} - - - -`);
        }
      }
    }
  };
  await walk("var");
  const text = "# Generated by apt-ostree from the commit's /var, which OSTree does not deploy: recreated at boot.\n" +
    lines.map((l) => l + "\n").join("");
  await Deno.mkdir(join(root, TMPFILES_DIR), { recursive: true });
  await Deno.writeTextFile(join(root, AUTOVAR_TMPFILES), text, { mode: 0o644 });
  for (const entry of await sortedEntries(join(root, "var"))) await removeTree(join(root, "var", entry.name));
}

/**
 * The inverse of {@linkcode varToTmpfiles} for a checkout that apt will
 * change: applies the autovar and dpkg entries (directories, symlinks,
 * empty files, and the factory files moved back), and removes the autovar
 * file, which the next {@linkcode toBootableLayout} writes anew.
 */
/**
 * `root/rel` for a path named by the tree's own files: refused when it has
 * `.` or `..` components or a parent that is a symlink or not a directory
 * (which would lead out of the tree); missing parents are made (`create`).
 */
async function placeInTree(root: string, rel: string, where: string, create = true): Promise<string> {
  const parts = rel.split("/");
  const refuse = (why: string) =>
    new AptOstreeError(`Refusing /${rel} named in /${where}: ${why}`, {
      solution: "The base's tmpfiles.d entries are damaged or malicious; rebuild the base",
    });
  if (parts.some((p) => p === "" || p === "." || p === "..")) throw refuse("it is not a plain path inside the tree");
  let path = root;
  for (const part of parts.slice(0, -1)) {
    path = join(path, part);
    const info = await statOrUndefined(path);
    if (!info && create) await Deno.mkdir(path);
    else if (!info?.isDirectory) throw refuse(`${path.slice(root.length)} is not a directory of the tree`);
  }
  return join(path, parts[parts.length - 1]);
}

async function varFromTmpfiles(root: string): Promise<void> {
  const users = await idsByName(root, "passwd");
  const groups = await idsByName(root, "group");
  const id = (map: Map<string, number>, name: string | undefined) =>
    name === undefined || name === "-" ? 0 : /^\d+$/.test(name) ? Number(name) : map.get(name) ?? 0;
  for (const file of [AUTOVAR_TMPFILES, DPKG_TMPFILES]) {
    let text: string;
    try {
      text = await Deno.readTextFile(join(root, file));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw fsError("read", join(root, file), error);
    }
    for (const line of text.split("\n")) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 2 || fields[0].startsWith("#") || !fields[1].startsWith("/var/")) continue;
      const [type, absolute, mode, user, group] = fields;
      // The file comes from the commit (perhaps from an image): it must not lead this root process out of the tree.
      const path = await placeInTree(root, absolute.slice(1), file);
      if (await statOrUndefined(path)) continue;
      if (type === "d") {
        await Deno.mkdir(path);
      } else if (type === "L") {
        await Deno.symlink(fields.slice(6).join(" "), path);
        continue;
      } else if (type === "f") {
        await Deno.writeFile(path, new Uint8Array());
      } else if (type === "C") {
        const factory = await placeInTree(root, `${FACTORY_VAR}/${absolute.slice("/var/".length)}`, file, false);
        await rename(factory, path, "move back from the factory directory");
        continue;
      } else {
        continue;
      }
      if (Deno.uid() === 0) await Deno.chown(path, id(users, user), id(groups, group));
      if (mode && mode !== "-") await Deno.chmod(path, parseInt(mode, 8));
    }
  }
  await removeTree(join(root, AUTOVAR_TMPFILES));
  const varTmp = join(root, "var/tmp");
  if (!(await statOrUndefined(varTmp))) {
    await Deno.mkdir(varTmp);
    await Deno.chmod(varTmp, 0o1777);
  }
}

/** Whether a tree is in bootable layout (its `/var` was turned into autovar entries). */
export async function isBootableLayout(root: string): Promise<boolean> {
  return (await statOrUndefined(join(root, AUTOVAR_TMPFILES)))?.isFile ?? false;
}

/**
 * The bootable part of the deployment layout (see the module
 * documentation); the tree's configuration must already be in `/usr/etc`
 * and dpkg's database under `/usr`. Returns the kernel versions.
 *
 * @example
 * ```ts
 * import { toBootableLayout } from "./ostree_layout.ts";
 * await toBootableLayout("/var/tmp/rootfs"); // ["6.1.0-18-amd64"]
 * ```
 */
export async function toBootableLayout(root: string): Promise<string[]> {
  const kvers = await layoutKernels(root);
  await Deno.mkdir(join(root, "sysroot"), { recursive: true, mode: 0o755 });
  await ensureSymlink(join(root, "ostree"), "sysroot/ostree");
  await linkIntoVar(root);
  const tmp = join(root, "tmp");
  if (!(await statOrUndefined(tmp))?.isDirectory) {
    await removeTree(tmp);
    await Deno.mkdir(tmp);
  }
  for (const entry of await sortedEntries(tmp)) await removeTree(join(tmp, entry.name));
  await Deno.chmod(tmp, 0o1777);
  await ensureSymlink(join(root, "var/run"), "../run");
  await varToTmpfiles(root);
  return kvers;
}

/**
 * Undoes what {@linkcode toBootableLayout} did to `/var`, so that apt and
 * dpkg can run on a checkout of a bootable commit; the kernel layout and
 * the symlinks stay (they work as they are).
 *
 * @example
 * ```ts
 * import { fromBootableLayout } from "./ostree_layout.ts";
 * await fromBootableLayout("/var/tmp/checkout");
 * ```
 */
export async function fromBootableLayout(root: string): Promise<void> {
  if (await isBootableLayout(root)) await varFromTmpfiles(root);
}

/**
 * The packages a bootable tree needs besides the base: the kernel
 * (`linux-image-<flavour>` for the architecture), systemd as init, udev,
 * ostree, Debian's `ostree-boot` (its dracut module runs
 * `ostree-prepare-root` at boot) and dracut.
 *
 * @example
 * ```ts
 * import { bootablePackages } from "./ostree_layout.ts";
 * bootablePackages("debian", "amd64")[0]; // "linux-image-amd64"
 * ```
 */
export function bootablePackages(distribution: string, debianArch: string): string[] {
  return [
    kernelPackage(distribution, debianArch),
    "systemd",
    "systemd-sysv",
    "udev",
    "ostree",
    "ostree-boot",
    "dracut",
  ];
}

/** Debian's kernel metapackage flavour per architecture (Ubuntu has one name for all). */
const DEBIAN_KERNEL_FLAVOURS: Readonly<Record<string, string>> = {
  amd64: "amd64",
  arm64: "arm64",
  armhf: "armmp",
  i386: "686-pae",
  ppc64el: "powerpc64le",
  riscv64: "riscv64",
  s390x: "s390x",
};

function kernelPackage(distribution: string, debianArch: string): string {
  if (distribution === "ubuntu") return "linux-image-generic";
  const flavour = DEBIAN_KERNEL_FLAVOURS[debianArch];
  if (!flavour) {
    throw new UsageError(`apt-ostree knows no kernel package for the architecture ${debianArch}`, {
      solution: `Use one of: ${Object.keys(DEBIAN_KERNEL_FLAVOURS).join(", ")}`,
    });
  }
  return `linux-image-${flavour}`;
}

/** Options for {@linkcode buildInitramfs}. */
export interface BuildInitramfsOptions {
  /** Kills dracut when aborted. */
  signal?: AbortSignal;
  /** Every line dracut prints. */
  onLine?: (line: string) => void;
  /** Environment in the sandbox (must carry `SOURCE_DATE_EPOCH` for a reproducible image). */
  env: Record<string, string>;
  /** Only the kernels that have no `initramfs.img` yet. */
  onlyMissing?: boolean;
}

/**
 * Builds the initramfs of each kernel in the tree with the tree's own
 * dracut ({@linkcode dracutCommand}), in the compose sandbox. Returns the
 * kernel versions it built one for.
 *
 * @example
 * ```ts
 * import { buildInitramfs } from "./ostree_layout.ts";
 * await buildInitramfs("/var/tmp/rootfs", { env: { SOURCE_DATE_EPOCH: "1700000000" } });
 * ```
 */
export async function buildInitramfs(root: string, options: BuildInitramfsOptions): Promise<string[]> {
  const built: string[] = [];
  for (const kver of await kernelVersions(root)) {
    if (options.onlyMissing && (await statOrUndefined(join(root, "usr/lib/modules", kver, "initramfs.img")))) {
      continue;
    }
    const out = await runInSandbox(root, dracutCommand(kver), {
      signal: options.signal,
      onLine: options.onLine,
      env: options.env,
    });
    if (out.code !== 0) {
      throw new AptOstreeError(
        `dracut failed for kernel ${kver} (exit code ${out.code}); nothing was committed:\n  ${
          errorLines(out.lines).join("\n  ")
        }`,
        { solution: "See dracut's lines above; the tree must have dracut and ostree-boot installed" },
      );
    }
    built.push(kver);
  }
  return built;
}
