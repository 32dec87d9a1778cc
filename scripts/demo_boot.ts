/**
 * `deno task demo:boot`: a Debian system that apt-ostree composed, deployed
 * with the real `ostree admin` and booted under QEMU. As root, with the
 * network to the Debian archive:
 *
 * 1. `compose bootstrap debian:12 --bootable` (mmdebstrap, dracut initramfs, OSTree layout);
 * 2. `compose create --packages hello` on it (bootable, since its base is);
 * 3. a commit over that tree adding a oneshot unit that prints a marker on
 *    the console and powers off (apt-ostree has no option to add files to a
 *    deployment, so the demo commits them itself);
 * 4. the image step (see {@linkcode imageStep}): `compose build-image`
 *    writes the ostree-native image, `image pull` reads it into a fresh
 *    repository (the same commit), and that is what is deployed;
 * 5. `ostree admin init-fs`, `os-init`, `deploy` into a scratch sysroot
 *    (in a user namespace, so the host's file system is never frozen);
 * 6. `mkfs.ext4 -d SYSROOT -L root disk.img` (nothing mounted);
 * 7. QEMU (KVM when /dev/kvm can be opened, else TCG): direct kernel boot
 *    with the deployment's kernel, initramfs and boot entry options, until
 *    the marker is on the serial console (at most 15 minutes).
 *
 * Says how long each step took. Everything lands in `.demo/boot/`
 * (replaced on every run); the console log is `.demo/boot/console.log`.
 *
 * @module
 */

import {
  BOOT_MARKER,
  bootUntilMarker,
  commitMarkerUnit,
  deploy,
  makeDisk,
  removeSysroot,
} from "../tests/helpers/boot.ts";
import { OstreeRepo } from "../src/ostree/repo.ts";

const root = new URL("../", import.meta.url).pathname;
const demo = `${root}.demo/boot`;
const repo = `${demo}/repo`;
const sysroot = `${demo}/sysroot`;
const disk = `${demo}/disk.img`;
const cliFlags = (await Deno.readTextFile(`${root}scripts/cli-flags`)).trim().split(/\s+/);
const decoder = new TextDecoder();
const BOOT_TIMEOUT_MS = 15 * 60 * 1000;

if (Deno.uid() !== 0) {
  console.error("Error: deno task demo:boot must be run as root (mmdebstrap, apt, dpkg and ostree admin need it)");
  console.error("Solution: sudo deno task demo:boot");
  Deno.exit(1);
}

async function cli(args: string[]): Promise<string> {
  const out = await new Deno.Command("deno", {
    args: ["run", ...cliFlags, `${root}cli.ts`, "--repo", repo, "--json", ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const stdout = decoder.decode(out.stdout);
  if (!out.success) {
    console.error(`Error: apt-ostree ${args.join(" ")} failed (exit code ${out.code})\n${stdout}`);
    Deno.exit(1);
  }
  return stdout;
}

const timings: [string, number][] = [];

async function step<T>(label: string, fn: () => Promise<T>): Promise<T> {
  console.log(`== ${label}`);
  const started = performance.now();
  const result = await fn();
  const seconds = (performance.now() - started) / 1000;
  timings.push([label, seconds]);
  console.log(`   done in ${seconds.toFixed(1)} s`);
  return result;
}

const phases = (durations: Record<string, number>) =>
  Object.entries(durations).map(([name, seconds]) => `${name} ${seconds.toFixed(1)} s`).join(", ");

/** Where the commit to deploy comes from: a repository and a ref in it. */
interface Deployable {
  repo: string;
  ref: string;
  commit: string;
}

/**
 * The image step: `compose build-image` writes the ostree-native (bootc)
 * image of `source` (bootable, so the format is the default), and `image
 * pull` reads it into a fresh repository: the very same commit, which is
 * what gets deployed.
 */
async function imageStep(source: Deployable): Promise<Deployable> {
  const layout = `${demo}/os.oci`;
  const built = JSON.parse(await cli(["compose", "build-image", source.ref, "demo/os:1", "-o", `oci:${layout}:1`]));
  console.log(
    `   built ${built.digest} (bootc: ${built.bootc}, kernel ${built.kernel}), ${built.layers.length} layers`,
  );
  const pulled = `${demo}/pulled`;
  await Deno.mkdir(pulled, { recursive: true });
  await OstreeRepo.init(pulled, "bare");
  const result = JSON.parse(
    await cli(["--repo", pulled, "image", "pull", `oci:${layout}:1`, "--branch", "demo/os"]),
  );
  if (result.commit !== source.commit) {
    throw new Error(`image pull gave commit ${result.commit}, not ${source.commit}`);
  }
  console.log(`   pulled into ${pulled}: commit ${result.commit.slice(0, 12)}, the same as the compose repository's`);
  // Deployed by checksum: the commit keeps its ref binding (demo/hello-marker), which pull-local checks against a ref.
  return { repo: pulled, ref: result.commit, commit: result.commit };
}

await removeSysroot(sysroot);
await Deno.remove(demo, { recursive: true }).catch(() => {});
await Deno.mkdir(demo, { recursive: true });

const base = JSON.parse(
  await step(
    "compose bootstrap debian:12 --bootable (mmdebstrap, dracut, OSTree layout)",
    () => cli(["compose", "bootstrap", "debian:12", "--bootable"]),
  ),
);
console.log(`   ${base.branch} ${base.commit.slice(0, 12)}: ${base.packages.length} packages, kernel ${base.kernels}`);
console.log(`   phases: ${phases(base.durations)}`);

const created = JSON.parse(
  await step(
    "compose create --base debian:12 --packages hello (bootable: its base is)",
    () => cli(["compose", "create", "--base", "debian:12", "--packages", "hello", "--branch", "demo/hello"]),
  ),
);
console.log(`   ${created.branch} ${created.commit.slice(0, 12)}, bootable: ${created.bootable}`);
console.log(`   phases: ${phases(created.durations)}`);

const marked = await step(
  "commit the marker unit over the deployment (a commit made by this script)",
  () => commitMarkerUnit(repo, created.branch, "demo/hello-marker", demo),
);
console.log(`   demo/hello-marker ${marked.slice(0, 12)}`);

const deployable = await step(
  "image step: compose build-image (ostree-native), image pull into a fresh repository",
  () => imageStep({ repo, ref: "demo/hello-marker", commit: marked }),
);

const entry = await step(
  "ostree admin init-fs, os-init, deploy (scratch sysroot, user namespace)",
  () => deploy(sysroot, deployable.repo, deployable.ref),
);
console.log(`   linux   ${entry.linux}\n   initrd  ${entry.initrd}\n   options ${entry.options}`);

await step("mkfs.ext4 -d sysroot -L root disk.img 4G", () => makeDisk(sysroot, disk));

const result = await step(
  `QEMU: boot until ${BOOT_MARKER} is on the serial console`,
  () =>
    bootUntilMarker({
      sysroot,
      entry,
      disk,
      timeoutMs: BOOT_TIMEOUT_MS,
      log: `${demo}/console.log`,
      onLine: Deno.env.get("DEMO_BOOT_CONSOLE") === "1" ? (line) => console.log(`   | ${line}`) : undefined,
    }),
);

console.log("\nTimings:");
for (const [label, seconds] of timings) console.log(`  ${seconds.toFixed(1).padStart(7)} s  ${label}`);
if (result.marker === undefined) {
  console.error(`\nThe marker did not appear (${result.kvm ? "KVM" : "TCG"}); the console's last lines:`);
  for (const line of result.tail) console.error(`  | ${line}`);
  console.error(`Full log: ${demo}/console.log`);
  Deno.exit(1);
}
console.log(`\nBooted (${result.kvm ? "KVM" : "TCG"}): marker after ${result.seconds.toFixed(1)} s of QEMU`);
console.log(`  ${result.marker}`);
console.log(`  powered off by itself: ${result.poweredOff}`);
console.log(`Console log: ${demo}/console.log`);
