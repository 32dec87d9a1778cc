/**
 * `ostree admin` on a scratch sysroot (a directory, not the running
 * system): `init-fs`, `os-init`, `deploy`, as tests and demos use them to
 * deploy a commit without a bootloader.
 *
 * `ostree admin deploy` freezes the file system that holds `SYSROOT/boot`
 * (FIFREEZE, then thaw): on a build machine that is the host's own root
 * file system. So every `ostree admin` command here runs in a user
 * namespace whose uid and gid maps (0–65535, one to one) are written from
 * outside: file owners stay right, but the freeze needs a capability that a
 * user namespace does not give, is refused, and ostree falls back to
 * `syncfs`. Needs root (to write the maps), util-linux's `unshare`, and
 * Deno's `--allow-all` (Deno gives access to `/proc/PID` only with it).
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import { commandDyingWithUs, onPath } from "../util/child.ts";
import { runOstree } from "./command.ts";

/** The id range mapped one to one into the user namespace. */
const MAPPED_IDS = 65536;

/** The result of an `ostree admin` run. */
export interface AdminOutput {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

async function namespaceOf(pid: number | "self"): Promise<string | undefined> {
  try {
    return await Deno.readLink(`/proc/${pid}/ns/user`);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new AptOstreeError("Deno lets a program read and write /proc/PID only with --allow-all", {
        solution: "Run the program that deploys with --allow-all (-A): it writes the user namespace's uid and gid maps",
        cause: error,
      });
    }
    return undefined; // the process has exited (or is in the middle of an exec)
  }
}

/**
 * Runs `ostree ARGS…` in a fresh user namespace with ids 0–65535 mapped one
 * to one (see the module documentation); returns its output, whatever the
 * exit code.
 *
 * @example
 * ```ts
 * import { runOstreeInUserNamespace } from "./admin.ts";
 * const out = await runOstreeInUserNamespace(["admin", "status", "--sysroot=/tmp/sysroot"]);
 * ```
 */
export async function runOstreeInUserNamespace(args: string[]): Promise<AdminOutput> {
  if (!onPath("unshare")) {
    throw new AptOstreeError("The unshare program is not installed (or not on PATH)", {
      solution: "Install it: apt-get install util-linux",
    });
  }
  const own = await namespaceOf("self");
  if (own === undefined) throw new AptOstreeError("Cannot read /proc/self/ns/user: is /proc mounted?");
  // The child waits for a line on stdin (sent once its maps are written), checks that it is
  // root in its namespace (an unmapped uid would make every chown fail with EINVAL), then
  // becomes ostree.
  const script = 'read -r _ && if [ "$(id -u):$(id -g)" = 0:0 ]; then exec "$@"; else ' +
    'echo "error: the user namespace has no uid/gid map (running as $(id -u):$(id -g))" >&2; exit 125; fi';
  const child = commandDyingWithUs("unshare", {
    args: ["--user", "--", "sh", "-c", script, "sh", "ostree", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C.UTF-8" },
  }).spawn();
  let exited = false;
  const output = child.output().finally(() => exited = true);
  const writer = child.stdin.getWriter();
  try {
    // Wait until unshare has entered its namespace (a read that fails, as during an exec, is tried again).
    const deadline = Date.now() + 30_000;
    let ns = await namespaceOf(child.pid);
    while ((ns === undefined || ns === own) && !exited) {
      if (Date.now() > deadline) {
        throw new AptOstreeError("unshare --user did not enter a user namespace within 30 s", {
          solution: "Check that user namespaces are enabled (sysctl user.max_user_namespaces)",
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
      ns = await namespaceOf(child.pid);
    }
    if (exited) return decode(await output); // unshare failed: its own message
    await Deno.writeTextFile(`/proc/${child.pid}/uid_map`, `0 0 ${MAPPED_IDS}\n`);
    await Deno.writeTextFile(`/proc/${child.pid}/gid_map`, `0 0 ${MAPPED_IDS}\n`);
    await writer.write(new TextEncoder().encode("go\n"));
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
    await output.catch(() => {});
    throw error;
  } finally {
    await writer.close().catch(() => {});
  }
  return decode(await output);
}

function decode(out: Deno.CommandOutput): AdminOutput {
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr).trim() };
}

async function adminOk(args: string[], what: string): Promise<string> {
  const out = await runOstreeInUserNamespace(args);
  if (out.code !== 0) {
    throw new AptOstreeError(`ostree ${args.slice(0, 2).join(" ")} failed (${what}): ${out.stderr}`, {
      solution: "See ostree's message; the scratch sysroot may be half made: remove it and start again",
    });
  }
  return out.stdout;
}

/** Options for {@linkcode deployToSysroot}. */
export interface DeployOptions {
  /** The scratch sysroot directory (created by `init-fs` when it has no `ostree/`). */
  sysroot: string;
  /** The stateroot (`--os`). */
  os: string;
  /** The repository to pull the commit from (`pull-local`). */
  repo: string;
  /** The ref or commit to deploy. */
  ref: string;
  /** Kernel arguments (`--karg`). */
  kargs?: string[];
}

/**
 * Deploys `ref` from `repo` into a scratch sysroot: `ostree admin init-fs`
 * and `os-init` (first time), `pull-local` into the sysroot's repository,
 * `ostree admin deploy` (which does the `/etc` three-way merge from the
 * current deployment on later calls). Returns the deploy command's output.
 *
 * @example
 * ```ts
 * import { deployToSysroot } from "./admin.ts";
 * await deployToSysroot({ sysroot: "/tmp/sysroot", os: "debian", repo: "repo", ref: "deploy/x", kargs: ["root=LABEL=root"] });
 * ```
 */
export async function deployToSysroot(options: DeployOptions): Promise<string> {
  const sysroot = options.sysroot;
  try {
    await Deno.lstat(`${sysroot}/ostree/repo`);
  } catch {
    await Deno.mkdir(sysroot, { recursive: true });
    await adminOk(["admin", "init-fs", sysroot], "init-fs");
  }
  try {
    await Deno.lstat(`${sysroot}/ostree/deploy/${options.os}`);
  } catch {
    await adminOk(["admin", "os-init", `--sysroot=${sysroot}`, options.os], "os-init");
  }
  const pull = await runOstree(["pull-local", `--repo=${sysroot}/ostree/repo`, options.repo, options.ref]);
  if (pull.code !== 0) {
    throw new AptOstreeError(`ostree pull-local of ${options.ref} failed: ${pull.stderr}`, {
      solution: `Check that ${options.repo} has ${options.ref} (ostree refs --repo=${options.repo})`,
    });
  }
  return await adminOk([
    "admin",
    "deploy",
    `--sysroot=${sysroot}`,
    `--os=${options.os}`,
    ...(options.kargs ?? []).map((k) => `--karg=${k}`),
    options.ref,
  ], "deploy");
}

/** A boot loader entry of a sysroot (`boot/loader/entries/*.conf`). */
export interface BootEntry {
  /** The entry file. */
  path: string;
  /** Kernel path, relative to the sysroot's `/boot`. */
  linux?: string;
  /** Initramfs path, relative to the sysroot's `/boot`. */
  initrd?: string;
  /** Kernel command line. */
  options?: string;
  /** Title. */
  title?: string;
  /** Version (the deployment's index; the highest is the default). */
  version?: string;
}

/**
 * Reads a sysroot's boot loader entries, the default (highest version) first.
 *
 * @example
 * ```ts
 * import { bootEntries } from "./admin.ts";
 * const [entry] = await bootEntries("/tmp/sysroot");
 * entry.linux; // "/ostree/debian-…/vmlinuz-6.1.0-18-amd64"
 * ```
 */
export async function bootEntries(sysroot: string): Promise<BootEntry[]> {
  const dir = `${sysroot}/boot/loader/entries`;
  const entries: BootEntry[] = [];
  for await (const file of Deno.readDir(dir)) {
    if (!file.name.endsWith(".conf")) continue;
    const entry: BootEntry = { path: `${dir}/${file.name}` };
    for (const line of (await Deno.readTextFile(entry.path)).split("\n")) {
      const m = /^(\S+)\s+(.*)$/.exec(line.trim());
      if (m && ["linux", "initrd", "options", "title", "version"].includes(m[1])) {
        (entry as unknown as Record<string, string>)[m[1]] = m[2];
      }
    }
    entries.push(entry);
  }
  return entries.sort((a, b) => Number(b.version ?? 0) - Number(a.version ?? 0));
}
