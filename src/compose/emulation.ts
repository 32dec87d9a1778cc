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

import { join } from "node:path";
import { AptOstreeError } from "../errors.ts";
import { architecture } from "../oci/platform.ts";
import { statOrUndefined } from "../util/fs.ts";

/** Where the kernel's binfmt_misc file system is mounted. */
export const BINFMT_DIR = "/proc/sys/fs/binfmt_misc";

/** Options for {@linkcode checkEmulation}. */
export interface CheckEmulationOptions {
  /** binfmt_misc's mount point (default {@linkcode BINFMT_DIR}). */
  binfmtDir?: string;
  /** Runs `arch-test ARCH`; resolves to its exit code and output, or undefined when it is not installed. */
  archTest?: (debianArch: string) => Promise<{ code: number; output: string } | undefined>;
  /** The host's Debian architecture (default: from the running program). */
  hostArch?: string;
}

/** What {@linkcode checkEmulation} found. */
export interface EmulationStatus {
  /** The Debian architecture checked. */
  arch: string;
  /** `native` (the host's own), or `binfmt` (another architecture the host runs). */
  how: "native" | "binfmt";
  /** The binfmt handler used, when one is registered (`qemu-aarch64`). */
  handler?: string;
}

const SETUP = "apt-get install qemu-user-static binfmt-support arch-test";

async function runArchTest(debianArch: string): Promise<{ code: number; output: string } | undefined> {
  try {
    const out = await new Deno.Command("arch-test", { args: [debianArch], stdout: "piped", stderr: "piped" })
      .output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return { code: out.code, output: text.trim() };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

function unavailable(arch: string, what: string, commands: string[]): AptOstreeError {
  return new AptOstreeError(`Cannot run ${arch} programs on this ${hostDebianArch()} host: ${what}`, {
    solution: `Enable emulation (as root), then run again: ${commands.join(" && ")}`,
  });
}

function hostDebianArch(): string {
  return architecture(Deno.build.arch).debian;
}

/**
 * Checks that programs of Debian architecture `arch` can run here (the
 * host's own, or through a binfmt handler such as qemu-user), and throws
 * an error naming what is missing (arch-test, the binfmt_misc mount, the
 * handler, qemu-user-static) with the commands that enable it.
 *
 * @example
 * ```ts
 * import { checkEmulation } from "./emulation.ts";
 * const status = await checkEmulation("arm64"); // throws when arm64 programs cannot run
 * console.log(status.how); // "binfmt" on an amd64 host
 * ```
 */
export async function checkEmulation(arch: string, options: CheckEmulationOptions = {}): Promise<EmulationStatus> {
  const wanted = architecture(arch);
  const host = options.hostArch ?? hostDebianArch();
  if (wanted.debian === host) return { arch: wanted.debian, how: "native" };
  const dir = options.binfmtDir ?? BINFMT_DIR;
  const handler = `qemu-${wanted.qemu}`;
  const registered = await readText(join(dir, handler));
  const test = await (options.archTest ?? runArchTest)(wanted.debian);
  if (test === undefined) {
    throw new AptOstreeError(`arch-test is not installed: it checks that ${wanted.debian} programs can run here`, {
      solution: `Install it (mmdebstrap needs it for a foreign architecture): ${SETUP}`,
    });
  }
  if (test.code === 0) {
    return { arch: wanted.debian, how: "binfmt", ...(registered?.startsWith("enabled") ? { handler } : {}) };
  }
  // Why not: the first missing piece, and everything from there on.
  const enable = `update-binfmts --enable ${handler}`;
  const mount = `mount -t binfmt_misc binfmt_misc ${dir}`;
  if (!(await statOrUndefined(join(dir, "status")))) {
    throw unavailable(wanted.debian, `binfmt_misc is not mounted at ${dir}`, [mount, enable]);
  }
  if ((await readText(join(dir, "status")))?.trim() === "disabled") {
    throw unavailable(wanted.debian, "binfmt_misc is disabled", [`echo 1 > ${join(dir, "status")}`, enable]);
  }
  if (!(await statOrUndefined(`/usr/bin/qemu-${wanted.qemu}-static`)) && registered === undefined) {
    throw unavailable(wanted.debian, `qemu-user-static is not installed (no qemu-${wanted.qemu}-static)`, [
      SETUP,
      enable,
    ]);
  }
  if (registered === undefined) {
    throw unavailable(wanted.debian, `no binfmt handler ${handler} is registered`, [enable]);
  }
  if (!registered.startsWith("enabled")) {
    throw unavailable(wanted.debian, `the binfmt handler ${handler} is disabled`, [enable]);
  }
  throw unavailable(wanted.debian, `arch-test ${wanted.debian} fails (${test.output || `exit ${test.code}`})`, [
    SETUP,
    enable,
  ]);
}
