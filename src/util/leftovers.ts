/**
 * Temp names that say who made them, so that a later run can tell a live
 * one from one left by a run that was killed (SIGKILL, the OOM killer, a CI
 * timeout) and remove it. Every temp name apt-ostree makes carries its
 * owner: the process id and the process's start time (clock ticks since
 * boot, from `/proc`), so a recycled pid is not mistaken for the owner.
 *
 * @module
 */

import { join } from "node:path";

/** Whether a mount point is at or below `path`. */
async function holdsMountPoint(path: string): Promise<boolean> {
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch {
    return false;
  }
  const mountinfo = await Deno.readTextFile("/proc/self/mountinfo").catch(() => "");
  return mountinfo.split("\n").some((line) => {
    const point = line.split(" ")[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    return point !== undefined && (point === real || point.startsWith(`${real}/`));
  });
}

/** Gives the owner write access to every directory below `path` (a tree unpacked without root may have 0555 ones). */
async function makeWritable(path: string): Promise<void> {
  const info = await Deno.lstat(path).catch(() => undefined);
  if (!info?.isDirectory) return;
  await Deno.chmod(path, (info.mode ?? 0o700) | 0o700).catch(() => {});
  for await (const entry of Deno.readDir(path)) {
    if (entry.isDirectory) await makeWritable(join(path, entry.name));
  }
}

let self: string | undefined;

/** Reads a process's start time (field 22 of `/proc/PID/stat`), or undefined when it is gone. */
function startTime(pid: number | "self"): string | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[19]; // field 22 overall: 3 is fields[0]
}

/**
 * This process as a temp-name owner: `PID-STARTTIME`.
 *
 * @example
 * ```ts
 * import { ownerTag } from "./leftovers.ts";
 * ownerTag(); // e.g. "4242-1234567"
 * ```
 */
export function ownerTag(): string {
  self ??= `${Deno.pid}-${startTime("self") ?? "0"}`;
  return self;
}

/** `apt-ostree-[KIND-]PID-START-RANDOM` anywhere in a name. */
const OWNED = /apt-ostree-(?:[a-z]+-)?(\d+)-(\d+)-[0-9a-f]+/;

/**
 * Whether the run that made a temp name is gone: its pid is not running,
 * or runs another process (another start time). Undefined for a name that
 * carries no owner (made by an older version, or not ours): leave those.
 *
 * @example
 * ```ts
 * import { ownerGone } from "./leftovers.ts";
 * ownerGone(".web.oci.apt-ostree-999999-1-abc"); // true: no such process
 * ```
 */
export function ownerGone(name: string): boolean | undefined {
  const m = OWNED.exec(name);
  if (!m) return undefined;
  const [, pid, start] = m;
  if (`${pid}-${start}` === ownerTag()) return false;
  const now = startTime(Number(pid));
  return now === undefined || now !== start;
}

/**
 * Removes the entries of `dir` that are apt-ostree temp names (as `match`
 * picks them) of runs that are gone. Entries of live runs, and names
 * without an owner, are left alone. Returns the names removed.
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
    if (!match.test(name) || ownerGone(name) !== true) continue;
    const path = join(dir, name);
    if (await holdsMountPoint(path)) continue; // a sandbox's mount left behind: never remove through it
    try {
      await makeWritable(path);
      await Deno.remove(path, { recursive: true });
      removed.push(name);
    } catch {
      // someone else removed it, or it cannot be: not ours to insist on
    }
  }
  return removed;
}
