/**
 * Turning a freshly installed root file system into a commit-ready tree:
 * reproducible (no machine id, logs, apt lists or caches), without device
 * nodes, and in deployment layout (configuration in `/usr/etc`, dpkg's
 * database under `/usr`, and for bootable trees the rest of what OSTree
 * needs, see `ostree_layout.ts`), and back again before apt runs on a
 * checkout.
 *
 * @module
 */

import { join } from "node:path";
import { AptOstreeError } from "../errors.ts";
import { DPKG_DATABASE_DIRS } from "../layers/dpkg_owners.ts";
import { fsError, statOrUndefined } from "../util/fs.ts";
import { fromBootableLayout, relocateDpkgDatabase, restoreDpkgDatabase, toBootableLayout } from "./ostree_layout.ts";

/** What {@linkcode cleanRootfs} removes besides the defaults. */
export interface CleanRootfsOptions {
  /**
   * Also remove `/etc/resolv.conf` and `/etc/hostname`, which mmdebstrap
   * copies from the host (they differ between hosts, so a base built on two
   * machines would differ).
   */
  hostFiles?: boolean;
}

/**
 * The path of `rel` inside `root`, or undefined when a directory on the way
 * is missing or is a symlink. The tree was written by maintainer scripts (or
 * comes from an image): a symlink such as `var/tmp -> /home` must never lead
 * the cleanup, which runs as root on the host, out of the tree.
 *
 * @example
 * ```ts
 * import { pathInTree } from "./rootfs_cleanup.ts";
 * await pathInTree("/var/tmp/rootfs", "var/log"); // "/var/tmp/rootfs/var/log", or undefined
 * ```
 */
export async function pathInTree(root: string, rel: string): Promise<string | undefined> {
  const parts = rel.split("/").filter((p) => p !== "");
  let path = root;
  for (let i = 0; i < parts.length - 1; i++) {
    path = join(path, parts[i]);
    const info = await statOrUndefined(path);
    if (!info?.isDirectory) return undefined; // missing, a file, or a symlink (lstat)
  }
  return join(path, parts[parts.length - 1]);
}

async function removePath(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw fsError("remove", path, error);
  }
}

/** Removes everything inside `dir` (not `dir` itself); a missing `dir`, or one that is a symlink, is left alone. */
async function emptyDirectory(dir: string | undefined, keep: (name: string) => boolean = () => false): Promise<void> {
  if (dir === undefined || !(await statOrUndefined(dir))?.isDirectory) return;
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return;
    throw fsError("read", dir, error);
  }
  for (const entry of entries) {
    if (!keep(entry.name)) await removePath(join(dir, entry.name));
  }
}

/** Log files that are history (removed), as opposed to record files like wtmp (truncated). */
const LOG_FILE_RE = /\.(log|gz|xz|zst|old)(\.\d+)?$|\.\d+$|^(syslog|messages|dmesg)$/;

async function cleanLogs(dir: string | undefined): Promise<void> {
  if (dir === undefined || !(await statOrUndefined(dir))?.isDirectory) return;
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw fsError("read", dir, error);
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) {
      await cleanLogs(path);
    } else if (entry.isFile) {
      if (LOG_FILE_RE.test(entry.name)) {
        await removePath(path);
      } else {
        // wtmp, btmp, lastlog, faillog: programs expect them to exist, with their owner and mode.
        await Deno.truncate(path, 0).catch((error) => {
          throw fsError("truncate", path, error);
        });
      }
    }
  }
}

async function removeMatching(dir: string | undefined, pattern: RegExp): Promise<void> {
  await emptyDirectory(dir, (name) => !pattern.test(name));
}

/**
 * Makes a root file system reproducible and commit-ready, as mmdebstrap
 * and debuerreotype do: empties `/etc/machine-id` (if present), removes
 * `/var/lib/dbus/machine-id`, logs (record files such as `wtmp` are
 * truncated), apt lists and caches (`*.bin`, downloaded `.deb`s), dpkg and
 * debconf `-old` backups, `/var/cache/ldconfig/aux-cache`, the contents of
 * `/tmp`, `/var/tmp` and `/run`, every device node in `/dev`, and the keys
 * that must differ per machine (SSH host keys, the snakeoil TLS key). No
 * symlink in the tree is ever followed (see {@linkcode pathInTree}).
 *
 * @example
 * ```ts
 * import { cleanRootfs } from "./rootfs_cleanup.ts";
 * await cleanRootfs("/var/tmp/rootfs", { hostFiles: true });
 * ```
 */
export async function cleanRootfs(root: string, options: CleanRootfsOptions = {}): Promise<void> {
  const p = (rel: string) => pathInTree(root, rel);
  const removeFile = async (rel: string) => {
    const path = await p(rel);
    if (path && (await statOrUndefined(path))) await removePath(path);
  };
  for (const etc of ["etc", "usr/etc"]) {
    const machineId = await p(`${etc}/machine-id`);
    const info = machineId ? await statOrUndefined(machineId) : undefined;
    if (machineId && info?.isFile && info.size > 0) {
      await Deno.truncate(machineId, 0).catch((error) => {
        throw fsError("empty", machineId, error);
      });
    }
    // Per-machine secrets: every deployment would share them, and pushed images would publish them.
    await removeMatching(await p(`${etc}/ssh`), /^ssh_host_.*_key(\.pub)?$/);
    await removeFile(`${etc}/ssl/private/ssl-cert-snakeoil.key`);
    await removeFile(`${etc}/ssl/certs/ssl-cert-snakeoil.pem`);
  }
  await removeFile("var/lib/dbus/machine-id");
  if (options.hostFiles) {
    await removeFile("etc/resolv.conf");
    await removeFile("etc/hostname");
  }
  await cleanLogs(await p("var/log"));
  await emptyDirectory(await p("var/lib/apt/lists"), (name) => name === "partial");
  await emptyDirectory(await p("var/lib/apt/lists/partial"));
  await removeMatching(await p("var/cache/apt"), /\.bin(\.[A-Za-z0-9]+)?$|^lock$/);
  await removeMatching(await p("var/cache/apt/archives"), /\.deb$|^lock$/);
  await emptyDirectory(await p("var/cache/apt/archives/partial"));
  await removeFile("var/cache/ldconfig/aux-cache");
  await removeMatching(await p("var/cache/debconf"), /-old$/);
  for (const dpkg of DPKG_DATABASE_DIRS) {
    await removeMatching(await p(dpkg), /-old$|^lock(-frontend)?$/);
    await removeFile(`${dpkg}/triggers/Lock`);
  }
  await emptyDirectory(await p("tmp"));
  await emptyDirectory(await p("var/tmp"));
  await emptyDirectory(await p("run"));
  await emptyDirectory(await p("dev"));
}

/** `/usr` must be a directory of the tree, not a symlink that would lead the moves elsewhere. */
async function requireRealUsr(root: string): Promise<void> {
  const usr = await statOrUndefined(join(root, "usr"));
  if (usr && !usr.isDirectory) {
    throw new AptOstreeError(`/usr in ${root} is not a directory (a symlink?)`, {
      solution: "A Debian or Ubuntu root file system has a real /usr directory; check the base",
    });
  }
}

/** Options for {@linkcode toDeploymentLayout}. */
export interface DeploymentLayoutOptions {
  /** Lay the tree out to deploy and boot (kernel, initramfs, `/var` as tmpfiles entries, …; see `ostree_layout.ts`). */
  bootable?: boolean;
}

/** What {@linkcode toDeploymentLayout} found. */
export interface DeploymentLayout {
  /** Kernel versions (bootable trees only; else empty). */
  kernels: string[];
}

/**
 * Moves `/etc` to `/usr/etc` (deployment layout) and dpkg's database from
 * `/var/lib/dpkg` to `/usr/lib/sysimage/dpkg` (see
 * {@linkcode relocateDpkgDatabase}); with `bootable`, also lays the tree
 * out to deploy and boot ({@linkcode toBootableLayout}). A tree that
 * already has `/usr/etc` and no `/etc` keeps it; a tree with both is an
 * error.
 *
 * @example
 * ```ts
 * import { toDeploymentLayout } from "./rootfs_cleanup.ts";
 * await toDeploymentLayout("/var/tmp/rootfs", { bootable: true }); // { kernels: ["6.1.0-18-amd64"] }
 * ```
 */
export async function toDeploymentLayout(
  root: string,
  options: DeploymentLayoutOptions = {},
): Promise<DeploymentLayout> {
  await moveEtcToUsr(root);
  await relocateDpkgDatabase(root);
  return { kernels: options.bootable ? await toBootableLayout(root) : [] };
}

async function moveEtcToUsr(root: string): Promise<void> {
  await requireRealUsr(root);
  const etc = await statOrUndefined(join(root, "etc"));
  const usrEtc = await statOrUndefined(join(root, "usr/etc"));
  if (etc && usrEtc) {
    throw new AptOstreeError(`The tree ${root} has both /etc and /usr/etc`, {
      solution: "A deployment keeps its configuration in /usr/etc only; remove one of them",
    });
  }
  if (!etc) return;
  if (!etc.isDirectory) throw new AptOstreeError(`/etc in ${root} is not a directory`);
  await Deno.mkdir(join(root, "usr"), { recursive: true });
  await Deno.rename(join(root, "etc"), join(root, "usr/etc")).catch((error) => {
    throw fsError("move /etc to /usr/etc in", root, error);
  });
}

/**
 * Moves `/usr/etc` back to `/etc`, so that apt and dpkg find their
 * configuration where they expect it, recreates a bootable tree's `/var`
 * from its tmpfiles entries ({@linkcode fromBootableLayout}), and makes
 * `/var/lib/dpkg` lead to dpkg's database ({@linkcode restoreDpkgDatabase}).
 * Trees from before the database moved (a real `/var/lib/dpkg`) work as
 * they are. A tree with only `/etc` keeps it; a tree with both is an error.
 *
 * @example
 * ```ts
 * import { fromDeploymentLayout } from "./rootfs_cleanup.ts";
 * await fromDeploymentLayout("/var/tmp/checkout");
 * ```
 */
export async function fromDeploymentLayout(root: string): Promise<void> {
  await requireRealUsr(root);
  const etc = await statOrUndefined(join(root, "etc"));
  const usrEtc = await statOrUndefined(join(root, "usr/etc"));
  if (etc && usrEtc) {
    throw new AptOstreeError(`The base tree has both /etc and /usr/etc`, {
      solution: "A deployment keeps its configuration in /usr/etc only; rebuild the base",
    });
  }
  if (usrEtc) {
    await Deno.rename(join(root, "usr/etc"), join(root, "etc")).catch((error) => {
      throw fsError("move /usr/etc to /etc in", root, error);
    });
  }
  await fromBootableLayout(root);
  await restoreDpkgDatabase(root);
}
