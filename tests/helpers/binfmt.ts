/**
 * Test set-up for foreign-architecture runs: enables qemu-user through
 * binfmt_misc when it can (as root, with qemu-user-static, binfmt-support
 * and arch-test installed by scripts/setup.sh), and otherwise says why not.
 * The package services are not started in containers and CI, so this
 * mounts binfmt_misc and enables the handler itself, as SUPPLY-CHAIN.md §4
 * describes.
 *
 * @module
 */

import { isRoot, run } from "./fixture_repo.ts";
import { architecture } from "../../src/oci/platform.ts";

const BINFMT = "/proc/sys/fs/binfmt_misc";

/**
 * Makes `debianArch` programs runnable here if possible. Resolves to
 * undefined when they run, else to the reason they cannot (for a test's
 * "[ignored: …]" name).
 */
export async function enableEmulation(debianArch: string): Promise<string | undefined> {
  const arch = architecture(debianArch);
  const ok = async () => (await run("arch-test", [arch.debian])).code === 0;
  if ((await run("sh", ["-c", "command -v arch-test"])).code !== 0) return "arch-test is not installed";
  if (await ok()) return undefined;
  if (!isRoot()) return `${arch.debian} programs cannot run and enabling binfmt needs root`;
  if ((await run("sh", ["-c", `test -e ${BINFMT}/status`])).code !== 0) {
    const mount = await run("mount", ["-t", "binfmt_misc", "binfmt_misc", BINFMT]);
    if (mount.code !== 0) return `binfmt_misc cannot be mounted here (${mount.stderr.trim()})`;
  }
  if ((await run("sh", ["-c", "command -v update-binfmts"])).code !== 0) return "binfmt-support is not installed";
  const enable = await run("update-binfmts", ["--enable", `qemu-${arch.qemu}`]);
  if (enable.code !== 0) return `update-binfmts --enable qemu-${arch.qemu} failed (${enable.stderr.trim()})`;
  return (await ok()) ? undefined : `arch-test ${arch.debian} still fails after enabling qemu-${arch.qemu}`;
}

/** Whether `debianArch` programs run here now (without changing anything). */
export async function canRun(debianArch: string): Promise<boolean> {
  return (await run("arch-test", [architecture(debianArch).debian])).code === 0;
}
