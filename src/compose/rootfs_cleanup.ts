/**
 * Turning a freshly installed root file system into a commit-ready tree:
 * reproducible (no machine id, logs, apt lists or caches), without device
 * nodes, and in deployment layout (configuration in `/usr/etc`), and back
 * again (`/usr/etc` → `/etc`) before apt runs on a checkout.
 *
 * @module
 */

import { join } from "node:path";
import { AptOstreeError } from "../errors.ts";
import { fsError, statOrUndefined } from "../util/fs.ts";

/** What {@linkcode cleanRootfs} removes besides the defaults. */
export interface CleanRootfsOptions {
  /**
   * Also remove `/etc/resolv.conf` and `/etc/hostname`, which mmdebstrap
   * copies from the host (they differ between hosts, so a base built on two
   * machines would differ).
   */
  hostFiles?: boolean;
}

async function removePath(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw fsError("remove", path, error);
  }
}

/** Removes everything inside `dir` (not `dir` itself); a missing `dir` is fine. */
async function emptyDirectory(dir: string, keep: (name: string) => boolean = () => false): Promise<void> {
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

async function cleanLogs(dir: string): Promise<void> {
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

async function removeMatching(dir: string, pattern: RegExp): Promise<void> {
  await emptyDirectory(dir, (name) => !pattern.test(name));
}

/**
 * Makes a root file system reproducible and commit-ready, as mmdebstrap
 * and debuerreotype do: empties `/etc/machine-id` (if present), removes
 * `/var/lib/dbus/machine-id`, logs (record files such as `wtmp` are
 * truncated), apt lists and caches (`*.bin`, downloaded `.deb`s), dpkg and
 * debconf `-old` backups, `/var/cache/ldconfig/aux-cache`, the contents of
 * `/tmp`, `/var/tmp` and `/run`, and every device node in `/dev`.
 *
 * @example
 * ```ts
 * import { cleanRootfs } from "./rootfs_cleanup.ts";
 * await cleanRootfs("/var/tmp/rootfs", { hostFiles: true });
 * ```
 */
export async function cleanRootfs(root: string, options: CleanRootfsOptions = {}): Promise<void> {
  const p = (rel: string) => join(root, rel);
  for (const etc of ["etc", "usr/etc"]) {
    const machineId = p(`${etc}/machine-id`);
    const info = await statOrUndefined(machineId);
    if (info?.isFile && info.size > 0) {
      await Deno.truncate(machineId, 0).catch((error) => {
        throw fsError("empty", machineId, error);
      });
    }
  }
  const dbusId = await statOrUndefined(p("var/lib/dbus/machine-id"));
  if (dbusId?.isFile) await removePath(p("var/lib/dbus/machine-id"));
  if (options.hostFiles) {
    await removePath(p("etc/resolv.conf"));
    await removePath(p("etc/hostname"));
  }
  await cleanLogs(p("var/log"));
  await emptyDirectory(p("var/lib/apt/lists"), (name) => name === "partial");
  await emptyDirectory(p("var/lib/apt/lists/partial"));
  await removeMatching(p("var/cache/apt"), /\.bin(\.[A-Za-z0-9]+)?$|^lock$/);
  await removeMatching(p("var/cache/apt/archives"), /\.deb$|^lock$/);
  await emptyDirectory(p("var/cache/apt/archives/partial"));
  await removePath(p("var/cache/ldconfig/aux-cache"));
  await removeMatching(p("var/cache/debconf"), /-old$/);
  await removeMatching(p("var/lib/dpkg"), /-old$|^lock(-frontend)?$/);
  await removePath(p("var/lib/dpkg/triggers/Lock"));
  await emptyDirectory(p("tmp"));
  await emptyDirectory(p("var/tmp"));
  await emptyDirectory(p("run"));
  await emptyDirectory(p("dev"));
}

/**
 * Moves `/etc` to `/usr/etc` (deployment layout). A tree that already has
 * `/usr/etc` and no `/etc` is left as it is; a tree with both is an error.
 *
 * @example
 * ```ts
 * import { toDeploymentLayout } from "./rootfs_cleanup.ts";
 * await toDeploymentLayout("/var/tmp/rootfs");
 * ```
 */
export async function toDeploymentLayout(root: string): Promise<void> {
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
 * configuration where they expect it. A tree with only `/etc` is left as
 * it is; a tree with both is an error.
 *
 * @example
 * ```ts
 * import { fromDeploymentLayout } from "./rootfs_cleanup.ts";
 * await fromDeploymentLayout("/var/tmp/checkout");
 * ```
 */
export async function fromDeploymentLayout(root: string): Promise<void> {
  const etc = await statOrUndefined(join(root, "etc"));
  const usrEtc = await statOrUndefined(join(root, "usr/etc"));
  if (etc && usrEtc) {
    throw new AptOstreeError(`The base tree has both /etc and /usr/etc`, {
      solution: "A deployment keeps its configuration in /usr/etc only; rebuild the base",
    });
  }
  if (!usrEtc) return;
  await Deno.rename(join(root, "usr/etc"), join(root, "etc")).catch((error) => {
    throw fsError("move /usr/etc to /etc in", root, error);
  });
}
