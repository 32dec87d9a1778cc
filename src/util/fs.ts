/**
 * File-system helpers for writing without ever leaving a half-written file:
 * temp files beside the target, atomic renames, and errors that say what to
 * do (full disk, read-only file system, permissions).
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { AptOstreeError } from "../errors.ts";
import { releaseOwnedDir } from "./leftovers.ts";

/**
 * Returns `path`'s file info, or undefined when nothing is there (a parent
 * that is not a directory means nothing is there either).
 *
 * @example
 * ```ts
 * import { statOrUndefined } from "./fs.ts";
 * const info = await statOrUndefined("/nonexistent"); // undefined
 * ```
 */
export async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return undefined;
    throw error;
  }
}

/**
 * Turns a file-system error into an {@linkcode AptOstreeError} that names
 * the path and says how to fix the common causes.
 *
 * @example
 * ```ts
 * import { fsError } from "./fs.ts";
 * const error = fsError("write", "/ro/out", new Deno.errors.PermissionDenied("denied"));
 * ```
 */
export function fsError(action: string, path: string, error: unknown, option?: string): AptOstreeError {
  if (error instanceof AptOstreeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string })?.code;
  // `option` names the library option that chose the path (`output`): the CLI shows it as its flag.
  const elsewhere = option ? `choose another {${option}}` : "write somewhere else";
  if (code === "ENOSPC" || /No space left/i.test(message)) {
    return new AptOstreeError(`No space left on device while trying to ${action} ${path}`, {
      solution: `Free some space, or ${elsewhere} on a file system with room`,
      cause: error,
    });
  }
  if (code === "EROFS" || /Read-only file system/i.test(message)) {
    return new AptOstreeError(`Cannot ${action} ${path}: read-only file system`, {
      solution: `Remount it read-write, or ${elsewhere} on a writable file system`,
      cause: error,
    });
  }
  if (error instanceof Deno.errors.PermissionDenied || code === "EACCES" || code === "EPERM") {
    return new AptOstreeError(`Permission denied: cannot ${action} ${path}`, {
      solution: `Check the permissions of the path, or ${elsewhere}`,
      cause: error,
    });
  }
  return new AptOstreeError(`Cannot ${action} ${path}: ${message}`, { cause: error });
}

/**
 * Whether the directory `path` has no entries.
 *
 * @example
 * ```ts
 * import { isEmptyDir } from "./fs.ts";
 * await isEmptyDir(await Deno.makeTempDir()); // true
 * ```
 */
export async function isEmptyDir(path: string): Promise<boolean> {
  for await (const _ of Deno.readDir(path)) return false;
  return true;
}

/**
 * A fresh random suffix for temp names.
 *
 * @example
 * ```ts
 * import { randomSuffix } from "./fs.ts";
 * randomSuffix(); // e.g. "3f9a1c2b7d4e"
 * ```
 */
export function randomSuffix(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 12);
}

/**
 * A temp path next to `path`, hidden, on the same file system (so that a
 * rename onto `path` is atomic).
 *
 * @example
 * ```ts
 * import { siblingTempPath } from "./fs.ts";
 * siblingTempPath("/out/image.tar"); // "/out/.image.tar.apt-ostree-…"
 * ```
 */
export function siblingTempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.apt-ostree-${randomSuffix()}`);
}

/**
 * Writes all of `data` to an open file (a single write may be short).
 *
 * @example
 * ```ts
 * import { writeAll } from "./fs.ts";
 * const file = await Deno.open("/tmp/x", { create: true, write: true });
 * await writeAll(file, new TextEncoder().encode("hello"));
 * file.close();
 * ```
 */
export async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await file.write(data.subarray(offset));
}

/**
 * Writes `data` to `path` atomically: a temp file beside it, fsync, rename.
 * A failure names `option` (the one that chose `path`) in its solution.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./fs.ts";
 * await writeFileAtomic("/tmp/index.json", new TextEncoder().encode("{}"));
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array, option?: string): Promise<void> {
  const tmp = siblingTempPath(path);
  try {
    const file = await Deno.open(tmp, { createNew: true, write: true, mode: 0o644 });
    try {
      await writeAll(file, data);
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (error) {
    await removeQuietly(tmp);
    throw fsError("write", path, error, option);
  }
}

/** Gives the owner rwx on every directory below `path` (symlinks are not followed). */
async function makeDirectoriesWritable(path: string): Promise<void> {
  const info = await statOrUndefined(path);
  if (!info?.isDirectory) return;
  await Deno.chmod(path, (info.mode ?? 0o700) | 0o700).catch(() => {});
  for await (const entry of Deno.readDir(path)) {
    if (entry.isDirectory) await makeDirectoriesWritable(`${path}/${entry.name}`);
  }
}

/**
 * Removes a path recursively, ignoring a path that is already gone.
 *
 * @example
 * ```ts
 * import { removeQuietly } from "./fs.ts";
 * await removeQuietly("/tmp/apt-ostree-scratch");
 * ```
 */
export async function removeQuietly(path: string): Promise<void> {
  await releaseOwnedDir(path);
  try {
    try {
      await Deno.remove(path, { recursive: true });
    } catch (error) {
      // A tree with read-only directories (an image's 0555 /usr, made by a
      // non-root user) cannot be emptied until they are writable again.
      if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
      await makeDirectoriesWritable(path);
      await Deno.remove(path, { recursive: true });
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      // Cleanup must not hide the original failure; report and go on.
      console.error(`Warning: could not remove ${path}: ${error instanceof Error ? error.message : error}`);
    }
  }
}
