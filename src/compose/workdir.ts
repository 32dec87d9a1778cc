/**
 * Scratch directories for compose runs, and the lock that serialises
 * commits. A work directory lives in the repository's own `tmp/` (same file
 * system as the objects, so checkouts and commits copy locally) and is
 * removed in a `finally` block, also after a failure or Ctrl-C; it is never
 * removed while anything is mounted below it.
 *
 * @module
 */

import { join } from "node:path";
import { AptOstreeError } from "../errors.ts";
import type { OstreeRepo } from "../ostree/repo.ts";
import { fsError, randomSuffix, removeQuietly, statOrUndefined } from "../util/fs.ts";
import { collectLeftovers, makeOwnedDir } from "../util/leftovers.ts";

/** The prefix of every work directory in a repository's `tmp/`. */
export const WORKDIR_PREFIX = "apt-ostree-";

/**
 * Creates a fresh, private (mode 0700) work directory
 * `<repo>/tmp/apt-ostree-<purpose>-<random>`.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "../ostree/repo.ts";
 * import { createWorkDir } from "./workdir.ts";
 * const dir = await createWorkDir(await OstreeRepo.open("repo"), "create");
 * ```
 */
export async function createWorkDir(repo: OstreeRepo, purpose: string): Promise<string> {
  const parent = join(repo.path, "tmp");
  const dir = join(parent, `${WORKDIR_PREFIX}${purpose}-${randomSuffix()}`);
  // Work directories of killed runs (never one that still holds a mount).
  await collectLeftovers(parent, new RegExp(`^${WORKDIR_PREFIX}`));
  try {
    await Deno.mkdir(parent, { recursive: true });
    await makeOwnedDir(dir, 0o700);
  } catch (error) {
    throw fsError("create the work directory", dir, error);
  }
  return dir;
}

/**
 * A private work directory outside any repository (a dry run writes
 * nothing to one), in `parent` (default: `TMPDIR`, else `/tmp`),
 * marked as this process's own like {@linkcode createWorkDir}'s: a later
 * run removes it when this one was killed.
 *
 * @example
 * ```ts
 * import { createTempWorkDir, removeWorkDir } from "./workdir.ts";
 * const work = await createTempWorkDir("dry-run"); // /tmp/apt-ostree-dry-run-…
 * await removeWorkDir(work);
 * ```
 */
export async function createTempWorkDir(
  purpose: string,
  parent: string = Deno.env.get("TMPDIR") || "/tmp",
): Promise<string> {
  const dir = join(parent, `${WORKDIR_PREFIX}${purpose}-${randomSuffix()}`);
  await collectLeftovers(parent, new RegExp(`^${WORKDIR_PREFIX}${purpose}-`));
  try {
    await makeOwnedDir(dir, 0o700);
  } catch (error) {
    throw fsError("create the work directory", dir, error);
  }
  return dir;
}

/** Places in a root file system where a sandbox or chroot mounts file systems. */
const MOUNT_POINTS = ["proc", "sys", "dev", "dev/pts", "dev/shm", "run", "tmp", "var/tmp"];

/**
 * The places below `dir` (and below each root file system directly in it)
 * where another file system is mounted: a directory whose device differs
 * from `dir`'s. (Deno cannot read /proc/self/mountinfo without
 * `--allow-all`; a device check needs no permission and catches the
 * /proc, /sys, /dev and tmpfs mounts a chroot gets.)
 *
 * @example
 * ```ts
 * import { mountsBelow } from "./workdir.ts";
 * await mountsBelow("/"); // e.g. ["/proc", "/sys", "/dev", …]
 * ```
 */
export async function mountsBelow(dir: string): Promise<string[]> {
  const top = await statOrUndefined(dir);
  if (!top?.isDirectory) return [];
  const roots = [dir];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) roots.push(join(dir, entry.name));
  }
  const found: string[] = [];
  for (const root of roots) {
    const candidates = [root, ...MOUNT_POINTS.map((m) => join(root, m))];
    for (const path of candidates) {
      const info = await statOrUndefined(path);
      if (info?.isDirectory && info.dev !== top.dev) found.push(path);
    }
  }
  return [...new Set(found)];
}

/**
 * Removes a work directory recursively, unless something is still mounted
 * below it (then it warns and leaves it: removing through a mount could
 * delete the host's files).
 *
 * @example
 * ```ts
 * import { removeWorkDir } from "./workdir.ts";
 * await removeWorkDir("/var/lib/apt-ostree/repo/tmp/apt-ostree-create-3f9a1c2b7d4e");
 * ```
 */
export async function removeWorkDir(dir: string): Promise<void> {
  const mounts = await mountsBelow(dir);
  if (mounts.length > 0) {
    console.error(
      `Warning: not removing ${dir}: still mounted: ${mounts.join(", ")}; unmount them, then remove it`,
    );
    return;
  }
  await removeQuietly(dir);
}

/**
 * Runs `fn` holding an exclusive lock on the repository's compose lock file
 * (`<repo>/.apt-ostree-compose.lock`, flock), so that two composes do not
 * read and move the same branch at once. ostree's own locking keeps the
 * object store consistent; this lock keeps "parent = current head" true.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "../ostree/repo.ts";
 * import { withComposeLock } from "./workdir.ts";
 * const repo = await OstreeRepo.open("repo");
 * await withComposeLock(repo, async () => {});
 * ```
 */
export async function withComposeLock<T>(repo: OstreeRepo, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const path = join(repo.path, ".apt-ostree-compose.lock");
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o644 });
  } catch (error) {
    throw fsError("open the lock file", path, error);
  }
  const notice = setTimeout(() => {
    console.error(`Waiting for another apt-ostree compose to finish committing to ${repo.path}…`);
  }, 1000);
  try {
    await abortable(file.lock(true), signal);
    clearTimeout(notice);
    return await fn();
  } finally {
    clearTimeout(notice);
    file.close(); // closing releases the lock
  }
}

/** Waits for `promise`, or rejects with the signal's reason as soon as it is aborted. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(
          new AptOstreeError(`Cannot lock the repository: ${error instanceof Error ? error.message : error}`, {
            cause: error,
          }),
        );
      },
    );
  });
}
