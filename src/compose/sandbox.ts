/**
 * The sandbox that apt and dpkg run in during `compose create`: bubblewrap
 * with the checkout as `/`, its own mount, pid, ipc and uts namespaces
 * (and cgroup namespace where available), a fresh `/proc`, `/dev`, `/tmp`
 * and `/run`, the host's `/sys` and `/etc/resolv.conf` read-only, the
 * host's network (apt downloads), a clean environment, and a
 * `policy-rc.d` that denies every service start. It runs as real root, so
 * files get their real owners. When apt-ostree dies, the sandbox dies with
 * it (`--die-with-parent`), and no mount outlives it.
 *
 * @module
 */

import { join } from "node:path";
import { AptOstreeError } from "../errors.ts";
import { fsError, statOrUndefined } from "../util/fs.ts";
import { type LoggedOutput, runLogged } from "./process.ts";

/** The `policy-rc.d` installed while apt runs: deny every action (exit 101). */
export const POLICY_RC_D = "#!/bin/sh\n# Installed by apt-ostree while composing: no service may start.\nexit 101\n";

const SAVED_SUFFIX = ".apt-ostree-saved";

/** Host environment variables passed into the sandbox (proxies, reproducibility). */
const PASSED_ENV = [
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "SOURCE_DATE_EPOCH",
];

/**
 * The environment inside the sandbox: a fixed PATH and locale, apt and
 * debconf non-interactive, plus the host's proxy settings and
 * `SOURCE_DATE_EPOCH`.
 *
 * @example
 * ```ts
 * import { sandboxEnv } from "./sandbox.ts";
 * sandboxEnv({}).DEBIAN_FRONTEND; // "noninteractive"
 * ```
 */
export function sandboxEnv(host: Record<string, string> = Deno.env.toObject()): Record<string, string> {
  const env: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: "/root",
    LC_ALL: "C.UTF-8",
    LANG: "C.UTF-8",
    TERM: "dumb",
    DEBIAN_FRONTEND: "noninteractive",
    DEBCONF_NONINTERACTIVE_SEEN: "true",
    DEBCONF_NOWARNINGS: "yes",
  };
  for (const name of PASSED_ENV) if (host[name] !== undefined) env[name] = host[name];
  return env;
}

/**
 * Capabilities apt and dpkg need: file ownership and modes, setuid/setgid
 * bits and file capabilities of installed files, switching to the `_apt`
 * user, chroot for maintainer scripts that use it, signals to their own
 * children. Everything else (CAP_SYS_ADMIN, CAP_MKNOD, CAP_NET_ADMIN,
 * CAP_SYS_MODULE, …) is dropped.
 */
export const SANDBOX_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_SETUID",
  "CAP_SETGID",
  "CAP_SETFCAP",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/**
 * The bwrap command line that runs `argv` in `root`.
 *
 * @example
 * ```ts
 * import { sandboxArgs } from "./sandbox.ts";
 * sandboxArgs("/tmp/rootfs", ["apt-get", "update"], { PATH: "/usr/bin:/bin" });
 * // ["--bind", "/tmp/rootfs", "/", "--proc", "/proc", …, "--", "apt-get", "update"]
 * ```
 */
export function sandboxArgs(root: string, argv: readonly string[], env: Record<string, string>): string[] {
  const args = [
    "--bind",
    root,
    "/",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--perms",
    "1777",
    "--tmpfs",
    "/tmp",
    "--perms",
    "0755",
    "--tmpfs",
    "/run",
    "--ro-bind-try",
    "/sys",
    "/sys",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--hostname",
    "apt-ostree",
    "--die-with-parent",
    "--new-session",
    "--chdir",
    "/",
    "--clearenv",
    // Root inside, but not all of root: no mounts, raw devices, modules,
    // network configuration or time changes can reach the host.
    "--cap-drop",
    "ALL",
    ...SANDBOX_CAPABILITIES.flatMap((cap) => ["--cap-add", cap]),
  ];
  for (const [name, value] of Object.entries(env)) args.push("--setenv", name, value);
  args.push("--", ...argv);
  return args;
}

/** Options for {@linkcode runInSandbox}. */
export interface RunInSandboxOptions {
  /** Kills the sandbox when aborted. */
  signal?: AbortSignal;
  /** Every output line, as it arrives. */
  onLine?: (line: string) => void;
  /** Environment inside (default {@linkcode sandboxEnv}). */
  env?: Record<string, string>;
}

/**
 * Runs `argv` inside the sandbox rooted at `root` and returns its output;
 * a non-zero exit is returned, not thrown.
 *
 * @example
 * ```ts
 * import { runInSandbox } from "./sandbox.ts";
 * const out = await runInSandbox("/tmp/rootfs", ["apt-get", "update"]);
 * if (out.code !== 0) console.error(out.lines.join("\n"));
 * ```
 */
export function runInSandbox(
  root: string,
  argv: readonly string[],
  options: RunInSandboxOptions = {},
): Promise<LoggedOutput> {
  return runLogged("bwrap", sandboxArgs(root, argv, options.env ?? sandboxEnv()), {
    signal: options.signal,
    onLine: options.onLine,
    installHint: "apt-get install bubblewrap",
  });
}

async function hostResolvConf(): Promise<string> {
  try {
    return await Deno.readTextFile("/etc/resolv.conf");
  } catch {
    return "";
  }
}

async function moveAside(path: string): Promise<boolean> {
  if (!(await statOrUndefined(path))) return false;
  await Deno.rename(path, path + SAVED_SUFFIX).catch((error) => {
    throw fsError("move aside", path, error);
  });
  return true;
}

async function putBack(path: string, saved: boolean): Promise<void> {
  await Deno.remove(path).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw fsError("remove", path, error);
  });
  if (saved) {
    await Deno.rename(path + SAVED_SUFFIX, path).catch((error) => {
      throw fsError("restore", path, error);
    });
  }
}

/**
 * Prepares a tree for the sandbox: installs the denying `policy-rc.d` and a
 * copy of the host's `/etc/resolv.conf`, moving the tree's own aside. Returns the function that undoes both (call it before cleanup and
 * commit).
 *
 * @example
 * ```ts
 * import { prepareSandboxRoot } from "./sandbox.ts";
 * const restore = await prepareSandboxRoot("/tmp/rootfs");
 * try {
 *   // run apt in the sandbox
 * } finally {
 *   await restore();
 * }
 * ```
 */
export async function prepareSandboxRoot(root: string): Promise<() => Promise<void>> {
  const etc = await statOrUndefined(join(root, "etc"));
  if (!etc?.isDirectory) {
    throw new AptOstreeError(`The tree has no /etc directory: ${root}`, {
      solution:
        "The base must be a Debian or Ubuntu root file system (bootstrap one with apt-ostree compose bootstrap)",
    });
  }
  const policy = join(root, "usr/sbin/policy-rc.d");
  const resolv = join(root, "etc/resolv.conf");
  await Deno.mkdir(join(root, "usr/sbin"), { recursive: true });
  const policySaved = await moveAside(policy);
  const resolvSaved = await moveAside(resolv);
  try {
    await Deno.writeTextFile(policy, POLICY_RC_D, { mode: 0o755 });
    await Deno.chmod(policy, 0o755);
    // The host's resolver configuration, as a plain file of the tree (not a
    // bind mount, which packages could not replace); the base's own comes back after.
    await Deno.writeTextFile(resolv, await hostResolvConf(), { mode: 0o644 });
  } catch (error) {
    await putBack(policy, policySaved);
    await putBack(resolv, resolvSaved);
    throw fsError("prepare the sandbox in", root, error);
  }
  return async () => {
    await putBack(policy, policySaved);
    await putBack(resolv, resolvSaved);
  };
}
