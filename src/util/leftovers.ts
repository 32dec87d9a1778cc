/**
 * Temp directories that say whether their owner is alive, so that a later
 * run can remove what a killed run left (SIGKILL, the OOM killer, a CI
 * timeout) without ever touching the temp directory of a run that is still
 * going. Each temp directory holds an owner file, locked (`flock`) by the
 * process that made it for as long as it lives: the kernel drops the lock
 * when that process ends, however it ends. A later run that can take the
 * lock knows the owner is gone.
 *
 * (Reading `/proc` for process ids and start times would need Deno's
 * `--allow-all`; a lock needs nothing but the directory.)
 *
 * @module
 */

import { join } from "node:path";

/** The owner file inside a temp directory. */
export const OWNER_FILE = ".apt-ostree-owner";

/** A temp path without an owner file older than this is a leftover too (killed between mkdir and lock, or older versions). */
const STALE_MS = 60 * 60 * 1000;

/** Owner files this process holds, by directory. */
const held = new Map<string, Deno.FsFile>();

/**
 * Creates `dir` and marks it as this process's own until
 * {@linkcode releaseOwnedDir} (or the process's end).
 *
 * @example
 * ```ts
 * import { makeOwnedDir, releaseOwnedDir } from "./leftovers.ts";
 * const dir = await Deno.makeTempDir();
 * await makeOwnedDir(`${dir}/work`);
 * await releaseOwnedDir(`${dir}/work`);
 * ```
 */
export async function makeOwnedDir(dir: string, mode = 0o700): Promise<void> {
  await Deno.mkdir(dir, { mode });
  // Locked under another name first, then renamed into place (the lock stays with the open file): a collector
  // never sees an owner file that nobody holds yet, which it would take for a dead owner's.
  const pending = join(dir, `${OWNER_FILE}.new`);
  const file = await Deno.open(pending, { create: true, write: true, mode: 0o600 });
  try {
    await file.lock(true);
    await Deno.rename(pending, join(dir, OWNER_FILE));
  } catch (error) {
    file.close();
    throw error;
  }
  held.set(dir, file);
}

/**
 * Drops this process's mark on `dir` (before the directory becomes an
 * output, or is removed). Nothing happens for a directory it does not hold.
 *
 * @example
 * ```ts
 * import { releaseOwnedDir } from "./leftovers.ts";
 * await releaseOwnedDir("/tmp/not-ours"); // nothing to do
 * ```
 */
export async function releaseOwnedDir(dir: string): Promise<void> {
  const file = held.get(dir);
  if (!file) return;
  held.delete(dir);
  await Deno.remove(join(dir, OWNER_FILE)).catch(() => {});
  file.close();
}

/**
 * Whether the run that made the temp path `path` is gone: its owner file
 * can be locked, or (with no owner file) it has not changed for an hour.
 *
 * @example
 * ```ts
 * import { ownerGone } from "./leftovers.ts";
 * await ownerGone("/tmp/does-not-exist"); // false: nothing there
 * ```
 */
export async function ownerGone(path: string): Promise<boolean> {
  let owner: Deno.FsFile | undefined;
  try {
    owner = await Deno.open(join(path, OWNER_FILE), { read: true, write: true });
  } catch {
    const info = await Deno.lstat(path).catch(() => undefined);
    return info !== undefined && Date.now() - (info.mtime?.getTime() ?? Date.now()) > STALE_MS;
  }
  try {
    return await owner.tryLock(true); // taken: nobody holds it any more
  } catch {
    return false;
  } finally {
    owner.close(); // releases the lock we may have taken
  }
}

/** Removes `path` unless a directory below it is on another device (a mount left behind: never delete through it). */
async function removeTree(path: string, device: number | undefined): Promise<boolean> {
  const info = await Deno.lstat(path);
  if (!info.isDirectory) {
    await Deno.remove(path);
    return true;
  }
  if (device !== undefined && info.dev !== device) return false;
  await Deno.chmod(path, (info.mode ?? 0o700) | 0o700).catch(() => {}); // an unpacked 0555 /usr, made without root
  let whole = true;
  for await (const entry of Deno.readDir(path)) {
    if (!(await removeTree(join(path, entry.name), info.dev))) whole = false;
  }
  if (whole) await Deno.remove(path);
  return whole;
}

/**
 * Removes the entries of `dir` that are apt-ostree temp paths (as `match`
 * picks them) of runs that are gone. Those of live runs are left alone, and
 * nothing is removed through a mount point. Returns the names removed.
 *
 * @example
 * ```ts
 * import { collectLeftovers } from "./leftovers.ts";
 * await collectLeftovers("/tmp", /^\.[^/]*\.apt-ostree-/); // [] when nothing was left
 * ```
 */
export async function collectLeftovers(dir: string, match: RegExp): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await Array.fromAsync(Deno.readDir(dir), (e) => e.name);
  } catch {
    return removed;
  }
  for (const name of names.sort()) {
    const path = join(dir, name);
    if (!match.test(name) || held.has(path) || !(await ownerGone(path))) continue;
    try {
      if (await removeTree(path, undefined)) removed.push(name);
    } catch {
      // someone else removed it, or it cannot be: not ours to insist on
    }
  }
  return removed;
}
