/**
 * The one rule for replacing a path that exists (`--force`): only what is
 * clearly replaceable — a file, an empty directory, or a directory shaped
 * exactly like an OCI image layout — and never a directory that is or
 * holds an OSTree repository, the root, the current directory, `$HOME`, or
 * a mount point.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { isEmptyDir, statOrUndefined } from "./fs.ts";

/** Options for {@linkcode assertReplaceable}. */
export interface ReplaceGuardOptions {
  /** Paths that must survive: the replaced path may be neither one of them nor above one (e.g. the repository). */
  protect?: { path: string; what: string }[];
  /** Whether an OCI layout directory counts as replaceable (default true). */
  allowLayout?: boolean;
}

const SOLUTION = "Choose another output path; --force replaces only a file, an empty directory or an OCI image layout";

/**
 * Throws a {@linkcode UsageError} unless the existing `path` may be replaced
 * (removed, then written anew). A missing path is always fine.
 *
 * @example
 * ```ts
 * import { assertReplaceable } from "./replace_guard.ts";
 * await assertReplaceable("/nonexistent/out.oci"); // nothing there: fine
 * ```
 */
export async function assertReplaceable(path: string, options: ReplaceGuardOptions = {}): Promise<void> {
  const location = resolve(path);
  const info = await statOrUndefined(location);
  if (!info) return;
  const refuse = (why: string) => new UsageError(`Refusing to replace ${location}: ${why}`, { solution: SOLUTION });
  if (info.isFile || info.isSymlink) return; // a symlink is replaced itself, never its target
  if (!info.isDirectory) throw refuse("it is not a regular file or directory");

  const real = await Deno.realPath(location);
  if (real === "/") throw refuse("it is the root directory");
  const cwd = await realPathOrUndefined(Deno.cwd());
  if (cwd && isSameOrBelow(cwd, real)) {
    throw refuse(cwd === real ? "it is the current directory" : `it contains the current directory (${cwd})`);
  }
  const home = Deno.env.get("HOME");
  const realHome = home ? await realPathOrUndefined(home) : undefined;
  if (realHome && realHome !== "/" && isSameOrBelow(realHome, real)) {
    throw refuse(realHome === real ? "it is your home directory" : `it contains your home directory (${realHome})`);
  }
  for (const kept of options.protect ?? []) {
    const realKept = await realPathOrUndefined(kept.path);
    if (realKept && isSameOrBelow(realKept, real)) {
      throw refuse(realKept === real ? `it is ${kept.what}` : `it contains ${kept.what} (${realKept})`);
    }
  }
  if (await isMountPoint(real, info)) throw refuse("it is a mount point");
  if (await isOstreeRepo(real)) throw refuse("it is an OSTree repository");
  if (await isEmptyDir(real)) return;
  if (options.allowLayout !== false && (await hasLayoutShape(real))) return;
  throw refuse("it is a directory that is neither empty nor an OCI image layout");
}

/** Whether `child` is `parent` or lies below it (both real, absolute paths). */
function isSameOrBelow(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith("/") ? parent : `${parent}/`);
}

async function realPathOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await Deno.realPath(path);
  } catch {
    return undefined;
  }
}

/** An OSTree repository has a `config` file and an `objects` directory. */
async function isOstreeRepo(dir: string): Promise<boolean> {
  const config = await statOrUndefined(join(dir, "config"));
  const objects = await statOrUndefined(join(dir, "objects"));
  return config?.isFile === true && objects?.isDirectory === true;
}

/**
 * A mount point: another device than its parent, or listed in
 * `/proc/self/mountinfo` (a bind mount of the same file system; Deno lets
 * only `--allow-all` read `/proc`, so the CLI, which runs with narrower
 * permissions, sees mounts of other file systems only).
 */
async function isMountPoint(real: string, info: Deno.FileInfo): Promise<boolean> {
  const parent = await Deno.stat(dirname(real)).catch(() => undefined);
  if (parent && info.dev !== parent.dev) return true;
  let mountinfo: string;
  try {
    mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
  } catch {
    return false;
  }
  for (const line of mountinfo.split("\n")) {
    const field = line.split(" ")[4];
    if (field !== undefined && unescapeMountPath(field) === real) return true;
  }
  return false;
}

/** mountinfo writes space, tab, newline and backslash as octal escapes. */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Names a layout of ours may hold at its top: the layout files and our own temp names. */
const LAYOUT_NAMES = new Set(["oci-layout", "index.json", "blobs", "ingest"]);
const TEMP_NAME = /^\.(?:index\.json\.)?apt-ostree-/;

/**
 * Whether `dir` is shaped like an OCI image layout and nothing else: an
 * `oci-layout` file; at the top only `index.json`, `blobs/`, `ingest/` and
 * temp names of ours; `blobs/<algorithm>/` holding regular files only.
 * Such a directory cannot hold a repository or anybody's other files.
 */
async function hasLayoutShape(dir: string): Promise<boolean> {
  const marker = await statOrUndefined(join(dir, "oci-layout"));
  if (!marker?.isFile) return false;
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.name === "blobs") {
      if (!entry.isDirectory) return false;
      for await (const algorithm of Deno.readDir(path)) {
        if (!algorithm.isDirectory || !(await holdsOnlyFiles(join(path, algorithm.name)))) return false;
      }
    } else if (entry.name === "ingest") {
      if (!entry.isDirectory || !(await holdsOnlyFiles(path))) return false;
    } else if (TEMP_NAME.test(entry.name)) {
      if (entry.isDirectory && !(await holdsOnlyFiles(path))) return false;
      if (!entry.isDirectory && !entry.isFile) return false;
    } else if (!LAYOUT_NAMES.has(entry.name) || !entry.isFile) {
      return false;
    }
  }
  return true;
}

async function holdsOnlyFiles(dir: string): Promise<boolean> {
  for await (const entry of Deno.readDir(dir)) if (!entry.isFile) return false;
  return true;
}
