/**
 * Running another architecture's programs: a foreign-architecture
 * `compose bootstrap` or `compose create` runs the tree's maintainer
 * scripts (and apt, dpkg) under qemu-user, which the kernel starts through
 * binfmt_misc. {@linkcode checkEmulation} checks, before any work, that the
 * host can run the architecture (natively, as i386 on amd64, or emulated),
 * and otherwise says exactly what is missing and the command that fixes it.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import { architecture } from "../oci/platform.ts";
import { commandDyingWithUs, onPath } from "../util/child.ts";

/** Where the kernel's binfmt_misc file system is mounted. */
export const BINFMT_DIR = "/proc/sys/fs/binfmt_misc";

/** The state of a binfmt handler, as `update-binfmts --display` reports it. */
export type HandlerState = "enabled" | "disabled" | "unknown";

/**
 * How {@linkcode checkEmulation} looks at the host. Each is a program run
 * (the CLI may run programs, not read `/proc/sys`); undefined means the
 * program is not installed.
 */
export interface EmulationProbes {
  /** `arch-test ARCH`: its exit code and output. */
  archTest(debianArch: string): Promise<{ code: number; output: string } | undefined>;
  /** `mountpoint -q /proc/sys/fs/binfmt_misc`: whether binfmt_misc is mounted. */
  binfmtMounted(): Promise<boolean | undefined>;
  /** `update-binfmts --display HANDLER`: the handler's state. */
  handler(name: string): Promise<HandlerState | undefined>;
}

/** Options for {@linkcode checkEmulation}. */
export interface CheckEmulationOptions {
  /** How to look at the host (default: run arch-test, mountpoint and update-binfmts). */
  probes?: Partial<EmulationProbes>;
  /** The host's Debian architecture (default: the running program's). */
  hostArch?: string;
}

/** What {@linkcode checkEmulation} found. */
export interface EmulationStatus {
  /** The Debian architecture checked. */
  arch: string;
  /** `native` (the host's own), or `foreign` (another architecture the host runs, through binfmt or natively). */
  how: "native" | "foreign";
}

const SETUP = "apt-get install qemu-user-static binfmt-support arch-test";

/** Runs a probe (dying with the tool, as every child does); undefined when the program is not installed. */
async function output(program: string, args: string[]): Promise<{ code: number; output: string } | undefined> {
  if (!onPath(program)) return undefined;
  const out = await commandDyingWithUs(program, { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
  const decoder = new TextDecoder();
  return { code: out.code, output: (decoder.decode(out.stdout) + decoder.decode(out.stderr)).trim() };
}

const HOST_PROBES: EmulationProbes = {
  archTest: (arch) => output("arch-test", [arch]),
  binfmtMounted: async () => {
    const out = await output("mountpoint", ["-q", BINFMT_DIR]);
    return out === undefined ? undefined : out.code === 0;
  },
  handler: async (name) => {
    const out = await output("update-binfmts", ["--display", name]);
    if (out === undefined) return undefined;
    if (new RegExp(`^${name} \\(enabled\\)`, "m").test(out.output)) return "enabled";
    if (new RegExp(`^${name} \\(disabled\\)`, "m").test(out.output)) return "disabled";
    return "unknown";
  },
};

function hostDebianArch(): string {
  return architecture(Deno.build.arch).debian;
}

/**
 * Checks that programs of Debian architecture `arch` can run here (the
 * host's own, or through a binfmt handler such as qemu-user), and throws
 * an error naming what is missing (arch-test, the binfmt_misc mount,
 * binfmt-support, qemu-user-static, the handler) with the commands that
 * enable it.
 *
 * @example
 * ```ts
 * import { checkEmulation } from "./emulation.ts";
 * const status = await checkEmulation("arm64"); // throws when arm64 programs cannot run
 * console.log(status.how); // "foreign" on an amd64 host
 * ```
 */
export async function checkEmulation(arch: string, options: CheckEmulationOptions = {}): Promise<EmulationStatus> {
  const wanted = architecture(arch);
  const host = options.hostArch ?? hostDebianArch();
  if (wanted.debian === host) return { arch: wanted.debian, how: "native" };
  const probes: EmulationProbes = { ...HOST_PROBES, ...options.probes };
  const test = await probes.archTest(wanted.debian);
  if (test === undefined) {
    throw new AptOstreeError(`arch-test is not installed: it checks that ${wanted.debian} programs can run here`, {
      solution: `Install it (mmdebstrap needs it for a foreign architecture): ${SETUP}`,
    });
  }
  if (test.code === 0) return { arch: wanted.debian, how: "foreign" };
  // Why not: the first missing piece, and every command from there on.
  const handler = `qemu-${wanted.qemu}`;
  const enable = `update-binfmts --enable ${handler}`;
  const fail = (what: string, commands: string[]) =>
    new AptOstreeError(`Cannot run ${wanted.debian} programs on this ${host} host: ${what}`, {
      solution: `Enable emulation (as root), then run again: ${commands.join(" && ")}`,
    });
  if ((await probes.binfmtMounted()) === false) {
    throw fail(`binfmt_misc is not mounted at ${BINFMT_DIR}`, [
      `mount -t binfmt_misc binfmt_misc ${BINFMT_DIR}`,
      enable,
    ]);
  }
  const state = await probes.handler(handler);
  if (state === undefined) throw fail("binfmt-support is not installed (no update-binfmts)", [SETUP, enable]);
  if (state === "unknown") {
    throw fail(`qemu-user-static is not installed (no binfmt handler ${handler})`, [SETUP, enable]);
  }
  if (state === "disabled") throw fail(`the binfmt handler ${handler} is not enabled`, [enable]);
  throw fail(
    `arch-test ${wanted.debian} fails although ${handler} is enabled (${test.output || `exit ${test.code}`})`,
    [
      SETUP,
      enable,
    ],
  );
}
