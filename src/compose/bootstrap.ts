/**
 * `compose bootstrap`: a base commit from the distribution's archive.
 * mmdebstrap builds the root file system (as root, in its own mount and pid
 * namespaces so that no mount outlives it); the tree is made reproducible,
 * converted to deployment layout (`/usr/etc`, dpkg's database under
 * `/usr`, no device nodes; with `bootable`, a kernel and a dracut initramfs
 * and the rest of what `ostree admin deploy` needs) and committed to the
 * base branch `<distribution>/<version>/<arch>`.
 *
 * @module
 */

import { join } from "node:path";
import { AptOstreeError, UsageError } from "../errors.ts";
import { commitDirectory } from "../ostree/commit.ts";
import type { GVariantInput } from "../ostree/gvariant_text.ts";
import { OstreeRepo } from "../ostree/repo.ts";
import { type BaseImageRef, debianArch, parseBaseImageRef } from "../reference/base_ref.ts";
import { removeQuietly, statOrUndefined } from "../util/fs.ts";
import { formatPackages, nativeArchOf, readInstalledPackages } from "./dpkg_status.ts";
import { errorLines, requireProgram, runLogged } from "./process.ts";
import { requireRoot } from "./root.ts";
import { cleanRootfs, toDeploymentLayout } from "./rootfs_cleanup.ts";
import { bootablePackages, buildInitramfs } from "./ostree_layout.ts";
import { sandboxEnv } from "./sandbox.ts";
import { validatePackageNames } from "./packages.ts";
import { phaseTimer } from "../util/phase_timer.ts";
import { exactRefHead } from "./resolve_base.ts";
import { dateStamp, nextVersion } from "./version.ts";
import { createWorkDir, removeWorkDir, withComposeLock } from "./workdir.ts";
import { COMMIT_METADATA } from "../ostree/metadata.ts";
import { checkEmulation } from "./emulation.ts";
import { parseSourceDateEpoch } from "../util/source_date_epoch.ts";

/** mmdebstrap variants. */
export const VARIANTS: readonly string[] = [
  "extract",
  "custom",
  "essential",
  "apt",
  "required",
  "minbase",
  "buildd",
  "important",
  "debootstrap",
  "standard",
];

/** Variants that only unpack packages, running nothing of the tree (no emulation needed for another architecture). */
const NO_SCRIPT_VARIANTS: readonly string[] = ["extract", "custom"];

/** Options for {@linkcode bootstrapBase}. */
export interface BootstrapOptions {
  /** The OSTree repository (path or opened). A path that does not exist is created (bare-user). */
  repo: string | OstreeRepo;
  /** The base image reference, as written (`debian:12`). */
  ref: string;
  /** Architecture (default: the reference's, else the host's). */
  arch?: string;
  /** mmdebstrap variant (default `minbase`). */
  variant?: string;
  /** Extra packages (`--include`). */
  packages?: string[];
  /** Mirror URL (or a full `deb …` line), replacing mmdebstrap's default mirrors. */
  mirror?: string;
  /** Archive suite, for a release whose codename apt-ostree does not know. */
  suite?: string;
  /** Make a commit that deploys and boots: kernel, systemd, ostree, dracut initramfs, OSTree layout. */
  bootable?: boolean;
  /** Commit time and version date (seconds); default `SOURCE_DATE_EPOCH`, else now. */
  timestamp?: number;
  /** Cancels the bootstrap; the work tree is removed and no ref moves. */
  signal?: AbortSignal;
  /** GPG keys to sign the commit with (`ostree commit --gpg-sign`). */
  gpgSign?: readonly string[];
  /** The GnuPG home holding those keys (`--gpg-homedir`; default `GNUPGHOME`). */
  gpgHomedir?: string;
  /** Every line mmdebstrap prints. */
  onLine?: (line: string) => void;
  /** Told at each step. */
  onStep?: (step: string) => void;
}

/** What {@linkcode bootstrapBase} did. */
export interface BootstrapResult {
  /** The reference, `<distribution>:<version>`. */
  ref: string;
  /** The base branch. */
  branch: string;
  /** The new commit. */
  commit: string;
  /** The branch's previous commit, if any. */
  parent: string | undefined;
  /** The commit's `version`. */
  version: string;
  /** Distribution, release, suite, architecture. */
  distribution: string;
  /** Release version (`12`). */
  release: string;
  /** Archive suite (`bookworm`). */
  suite: string;
  /** Architecture, branch form. */
  arch: string;
  /** mmdebstrap variant. */
  variant: string;
  /** Whether the commit is bootable. */
  bootable: boolean;
  /** Kernel versions (bootable commits). */
  kernels: string[];
  /** Installed packages, `name=version`. */
  packages: string[];
  /** Whether the repository was created. */
  createdRepository: boolean;
  /** The repository path. */
  repo: string;
  /** Seconds each phase took: mmdebstrap, (initramfs,) cleanup, commit. */
  durations: Record<string, number>;
}

/** Default mirrors of the distributions apt-ostree knows, as mmdebstrap arguments. */
export function defaultMirrors(distribution: string, suite: string, arch: string): string[] | undefined {
  if (distribution === "debian") return []; // mmdebstrap's own default: deb.debian.org, plus updates and security for stable
  if (distribution === "ubuntu") {
    const ports = arch !== "x86_64" && arch !== "i386";
    const archive = ports ? "http://ports.ubuntu.com/ubuntu-ports" : "http://archive.ubuntu.com/ubuntu";
    const security = ports ? archive : "http://security.ubuntu.com/ubuntu";
    return [
      `deb ${archive} ${suite} main`,
      `deb ${archive} ${suite}-updates main`,
      `deb ${security} ${suite}-security main`,
    ];
  }
  return undefined;
}

/** Keyrings that must be present for a distribution's archive. */
const KEYRINGS: Readonly<Record<string, { path: string; package: string }>> = {
  ubuntu: { path: "/usr/share/keyrings/ubuntu-archive-keyring.gpg", package: "ubuntu-keyring" },
};

/** Everything mmdebstrap needs to know, resolved from the options. */
export interface MmdebstrapPlan {
  /** The parsed reference. */
  base: BaseImageRef;
  /** Archive suite. */
  suite: string;
  /** Variant. */
  variant: string;
  /** Extra packages. */
  packages: string[];
  /** Mirror arguments (empty: mmdebstrap's default). */
  mirrors: string[];
  /** Keyring file to pass, if any. */
  keyring?: string;
  /** Whether the tree is made bootable (the packages include {@linkcode bootablePackages}). */
  bootable: boolean;
}

/**
 * Resolves the options of a bootstrap into what mmdebstrap is given; bad
 * options are {@linkcode UsageError}s.
 *
 * @example
 * ```ts
 * import { planBootstrap } from "./bootstrap.ts";
 * const plan = planBootstrap({ repo: "repo", ref: "debian:12", arch: "x86_64" });
 * plan.suite; // "bookworm"
 * ```
 */
export function planBootstrap(options: BootstrapOptions): MmdebstrapPlan {
  const base = parseBaseImageRef(options.ref, { arch: options.arch });
  const variant = options.variant ?? "minbase";
  if (!VARIANTS.includes(variant)) {
    throw new UsageError(`Unknown variant: ${variant}`, { solution: `Use one of: ${VARIANTS.join(", ")}` });
  }
  const suite = options.suite ?? base.suite ??
    (base.distribution in KEYRINGS || base.distribution === "debian" ? undefined : base.version);
  if (!suite) {
    throw new UsageError(`No codename is known for ${base.name}`, {
      solution: `Name the archive suite with {suite} CODENAME (e.g. {suite} ${
        base.distribution === "ubuntu" ? "noble" : "bookworm"
      })`,
    });
  }
  if (options.suite !== undefined && !/^[a-z0-9][a-z0-9.+~-]*$/.test(options.suite)) {
    throw new UsageError(`Invalid --suite value: ${options.suite}`, { solution: "Use a codename like bookworm" });
  }
  const bootable = options.bootable ?? false;
  const packages = validatePackageNames([
    ...(options.packages ?? []),
    ...(bootable ? bootablePackages(base.distribution, debianArch(base.arch)) : []),
  ]);
  let mirrors: string[];
  if (options.mirror !== undefined) {
    if (!/^(deb |[a-z+]+:\/\/)/.test(options.mirror) || /[\n\r]/.test(options.mirror)) {
      throw new UsageError(`Invalid --mirror value: ${options.mirror}`, {
        solution: "Give a URL like http://deb.debian.org/debian, or a full 'deb URL SUITE COMPONENTS' line",
      });
    }
    mirrors = [options.mirror];
  } else {
    const known = defaultMirrors(base.distribution, suite, base.arch);
    if (!known) {
      throw new UsageError(`apt-ostree knows no default mirror for ${base.distribution}`, {
        solution: "Give one with {mirror} URL (a Debian-style archive)",
      });
    }
    mirrors = known;
  }
  const keyring = KEYRINGS[base.distribution];
  return { base, suite, variant, packages: [...new Set(packages)], mirrors, keyring: keyring?.path, bootable };
}

/**
 * The mmdebstrap command line for a plan, writing the tree to `target`.
 *
 * @example
 * ```ts
 * import { mmdebstrapArgs, planBootstrap } from "./bootstrap.ts";
 * mmdebstrapArgs(planBootstrap({ repo: "repo", ref: "debian:12", arch: "x86_64" }), "/tmp/rootfs");
 * // ["--mode=root", "--variant=minbase", "--arch=amd64", "--format=directory", "bookworm", "/tmp/rootfs"]
 * ```
 */
export function mmdebstrapArgs(plan: MmdebstrapPlan, target: string): string[] {
  const args = [
    "--mode=root",
    `--variant=${plan.variant}`,
    `--arch=${debianArch(plan.base.arch)}`,
    "--format=directory",
  ];
  if (plan.packages.length > 0) args.push(`--include=${plan.packages.join(",")}`);
  if (plan.keyring) args.push(`--keyring=${plan.keyring}`);
  args.push(plan.suite, target, ...plan.mirrors);
  return args;
}

/** Reads `KEY=value` pairs of an os-release file. */
async function readOsRelease(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const rel of ["etc/os-release", "usr/lib/os-release"]) {
    let text: string;
    try {
      text = await Deno.readTextFile(join(root, rel));
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
      if (m) out.set(m[1], m[2].replace(/^"(.*)"$/, "$1"));
    }
    break;
  }
  return out;
}

/** Opens the repository, creating it (bare-user) when the path does not exist. */
async function hasRefs(repo: OstreeRepo): Promise<boolean> {
  // A repository whose refs cannot be read counts as holding some: never removed.
  return await repo.refs().then((refs) => refs.length > 0, () => true);
}

async function openOrCreateRepo(path: string): Promise<{ repo: OstreeRepo; created: boolean }> {
  if (await statOrUndefined(path)) return { repo: await OstreeRepo.open(path), created: false };
  await Deno.mkdir(path, { recursive: true });
  return { repo: await OstreeRepo.init(path, "bare-user"), created: true };
}

/**
 * Timestamp for commits: `SOURCE_DATE_EPOCH` when set, else now.
 *
 * @example
 * ```ts
 * import { composeTimestamp } from "./bootstrap.ts";
 * composeTimestamp({ SOURCE_DATE_EPOCH: "1700000000" }); // 1700000000
 * ```
 */
export function composeTimestamp(env: Record<string, string | undefined> = Deno.env.toObject()): number {
  return parseSourceDateEpoch(env.SOURCE_DATE_EPOCH) ?? Math.floor(Date.now() / 1000);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Bootstraps a base image and commits it to its branch.
 *
 * @example
 * ```ts
 * import { bootstrapBase } from "./bootstrap.ts";
 * const result = await bootstrapBase({ repo: "/var/lib/apt-ostree/repo", ref: "debian:12" });
 * console.log(result.branch, result.commit, result.version);
 * ```
 */
export async function bootstrapBase(options: BootstrapOptions): Promise<BootstrapResult> {
  requireRoot("compose bootstrap");
  const plan = planBootstrap(options);
  if (plan.keyring && !(await statOrUndefined(plan.keyring))) {
    const pkg = KEYRINGS[plan.base.distribution].package;
    throw new AptOstreeError(`The ${plan.base.distribution} archive keyring is missing: ${plan.keyring}`, {
      solution: `Install it: apt-get install ${pkg}`,
    });
  }
  const timestamp = options.timestamp ?? composeTimestamp();
  await requireProgram("unshare", "apt-get install util-linux");
  await requireProgram("mmdebstrap", "apt-get install mmdebstrap");
  if (plan.bootable) await requireProgram("bwrap", "apt-get install bubblewrap"); // dracut runs in the sandbox
  // A foreign architecture's maintainer scripts run under qemu-user: check before anything is written.
  // (dracut of a bootable tree runs the tree's own programs too, whatever the variant)
  if (plan.bootable || !NO_SCRIPT_VARIANTS.includes(plan.variant)) await checkEmulation(debianArch(plan.base.arch));
  const { repo, created } = typeof options.repo === "string"
    ? await openOrCreateRepo(options.repo)
    : { repo: options.repo, created: false };
  try {
    return await bootstrapInto(repo, created, plan, timestamp, options);
  } catch (error) {
    // A repository this run created is removed again, unless something
    // (another run, meanwhile) committed to it.
    if (created && !(await hasRefs(repo))) await removeQuietly(repo.path);
    throw error;
  }
}

async function bootstrapInto(
  repo: OstreeRepo,
  created: boolean,
  plan: MmdebstrapPlan,
  timestamp: number,
  options: BootstrapOptions,
): Promise<BootstrapResult> {
  const signal = options.signal;
  const step = options.onStep ?? (() => {});
  const work = await createWorkDir(repo, "bootstrap");
  const timer = phaseTimer();
  try {
    const rootfs = join(work, "rootfs");
    timer.start("mmdebstrap");
    step(
      `Bootstrapping ${plan.base.name} (${plan.suite}, ${debianArch(plan.base.arch)}, ${plan.variant}) with mmdebstrap`,
    );
    const out = await runLogged(
      "unshare",
      [
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "--propagation",
        "private",
        "mmdebstrap",
        ...mmdebstrapArgs(plan, rootfs),
      ],
      {
        signal,
        killSignal: "SIGKILL",
        onLine: options.onLine,
        // The commit's time is the tree's time too (mmdebstrap honours it).
        // INITRD=No: the kernel package builds no initramfs of its own (dracut's comes after).
        env: { LC_ALL: "C.UTF-8", SOURCE_DATE_EPOCH: String(timestamp), ...(plan.bootable ? { INITRD: "No" } : {}) },
        installHint: "apt-get install util-linux",
      },
    );
    if (out.code !== 0) {
      throw new AptOstreeError(
        `mmdebstrap failed (exit code ${out.code}); nothing was committed:\n  ${errorLines(out.lines).join("\n  ")}`,
        { solution: "Check the network, the mirror and the suite (the lines above are mmdebstrap's own)" },
      );
    }
    signal?.throwIfAborted();
    if (plan.bootable) {
      timer.start("initramfs");
      step("Building the initramfs with dracut");
      await buildInitramfs(rootfs, {
        signal,
        onLine: options.onLine,
        env: { ...sandboxEnv({}), SOURCE_DATE_EPOCH: String(timestamp) },
      });
    }
    timer.start("cleanup");
    step(`Cleaning the tree and moving /etc to /usr/etc${plan.bootable ? " (bootable layout)" : ""}`);
    const installed = await readInstalledPackages(rootfs);
    const osRelease = await readOsRelease(rootfs);
    let osVersion = osRelease.get("VERSION_ID") ?? "";
    try {
      osVersion = (await Deno.readTextFile(join(rootfs, "etc/debian_version"))).trim() || osVersion;
    } catch {
      // not Debian: keep VERSION_ID
    }
    await cleanRootfs(rootfs, { hostFiles: true });
    const { kernels } = await toDeploymentLayout(rootfs, { bootable: plan.bootable });
    signal?.throwIfAborted();

    const nativeArch = nativeArchOf(installed) || debianArch(plan.base.arch);
    const packages = formatPackages(installed, nativeArch);
    timer.start("commit");
    step(`Committing to ${plan.base.branch}`);
    return await withComposeLock(repo, async () => {
      const parent = await exactRefHead(repo, plan.base.branch);
      const previous = parent ? (await repo.readCommit(parent)).version : undefined;
      const version = nextVersion(`${plan.base.version}.${dateStamp(timestamp)}`, previous);
      const metadata: Record<string, GVariantInput> = {
        version,
        [COMMIT_METADATA.baseRef]: plan.base.name,
        [COMMIT_METADATA.distribution]: plan.base.distribution,
        [COMMIT_METADATA.release]: plan.base.version,
        [COMMIT_METADATA.suite]: plan.suite,
        [COMMIT_METADATA.arch]: plan.base.arch,
        [COMMIT_METADATA.debianArch]: nativeArch,
        [COMMIT_METADATA.variant]: plan.variant,
        [COMMIT_METADATA.requestedPackages]: plan.packages,
        [COMMIT_METADATA.packages]: packages,
      };
      if (osVersion) metadata[COMMIT_METADATA.osVersion] = osVersion;
      if (plan.bootable) {
        metadata[COMMIT_METADATA.bootable] = true;
        metadata[COMMIT_METADATA.linux] = kernels[kernels.length - 1];
      }
      if (options.mirror !== undefined) metadata[COMMIT_METADATA.mirror] = options.mirror;
      const name = osRelease.get("NAME") ?? capitalize(plan.base.distribution);
      const commit = await commitDirectory(repo, {
        tree: rootfs,
        branch: plan.base.branch,
        subject: `${name} ${plan.base.version} (${plan.suite}) ${plan.base.arch} base, ${plan.variant}${
          plan.bootable ? ", bootable" : ""
        }`,
        body: `Bootstrapped by apt-ostree with mmdebstrap: ${installed.length} packages.`,
        metadata,
        parent: parent ?? "none",
        timestamp,
        signal,
        gpgSign: options.gpgSign,
        gpgHomedir: options.gpgHomedir,
      });
      return {
        ref: plan.base.name,
        branch: plan.base.branch,
        commit,
        parent,
        version,
        distribution: plan.base.distribution,
        release: plan.base.version,
        suite: plan.suite,
        arch: plan.base.arch,
        variant: plan.variant,
        bootable: plan.bootable,
        kernels,
        packages,
        createdRepository: created,
        repo: repo.path,
        durations: timer.finish(),
      };
    }, signal);
  } finally {
    await removeWorkDir(work);
  }
}
