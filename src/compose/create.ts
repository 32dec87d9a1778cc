/**
 * `compose create`: a deployment from a base image plus packages. The base
 * is checked out as a private copy (never hardlinked to the repository's
 * objects), `/usr/etc` goes back to `/etc`, apt installs the packages in
 * the sandbox, the tree is cleaned as a bootstrap is, `/etc` goes back to
 * `/usr/etc` (and dpkg's database under `/usr`; a bootable deployment gets
 * its initramfs built and its OSTree layout, see `ostree_layout.ts`), and
 * the result is committed to the output branch with the
 * branch's previous commit as parent. Any failure or Ctrl-C: no commit, no
 * ref moved, the work tree removed.
 *
 * @module
 */

import { join } from "node:path";
import { AptOstreeError, UsageError } from "../errors.ts";
import { commitDirectory } from "../ostree/commit.ts";
import type { GVariantInput } from "../ostree/gvariant_text.ts";
import { type CommitInfo, OstreeRepo } from "../ostree/repo.ts";
import { type BaseImageRef, debianArch, parseBaseImageRef } from "../reference/base_ref.ts";
import type { RegistryOptions } from "../registry/client.ts";
import { composeTimestamp } from "./bootstrap.ts";
import {
  classifyChanges,
  diffPackages,
  formatPackages,
  type InstalledPackage,
  nativeArchOf,
  type PackageUpgrade,
  readInstalledPackages,
} from "./dpkg_status.ts";
import { deriveOutputBranch, validateOutputBranch, validatePackageNames } from "./packages.ts";
import { isImageBase, resolveImageBase } from "./image_base.ts";
import { formatPlatform, hostArch, ociPlatform } from "../oci/platform.ts";
import { checkEmulation } from "./emulation.ts";
import { errorLines, requireProgram } from "./process.ts";
import { exactRefHead, resolveBase, type ResolvedBase } from "./resolve_base.ts";
import { requireRoot } from "./root.ts";
import { cleanRootfs, fromDeploymentLayout, toDeploymentLayout } from "./rootfs_cleanup.ts";
import { phaseTimer } from "../util/phase_timer.ts";
import { prepareSandboxRoot, runInSandbox, sandboxEnv } from "./sandbox.ts";
import { bootablePackages, buildInitramfs } from "./ostree_layout.ts";
import { dateStamp, nextVersion } from "./version.ts";
import { createTempWorkDir, createWorkDir, removeWorkDir, withComposeLock } from "./workdir.ts";
import { COMMIT_METADATA } from "../ostree/metadata.ts";

/** Options for {@linkcode composeCreate}. */
export interface ComposeCreateOptions {
  /** The OSTree repository (path or opened). */
  repo: string | OstreeRepo;
  /** The base image reference as written (`debian:12`). */
  base: string;
  /** Architecture of the base (default: the reference's, else the host's). */
  arch?: string;
  /** Packages to install. */
  packages: readonly string[];
  /** Output branch (default: derived, see {@linkcode deriveOutputBranch}). */
  output?: string;
  /** Remote to pull the base from when it is not here. */
  remote?: string;
  /** Refresh the base from the remote. */
  pull?: boolean;
  /** Install recommended packages too. */
  installRecommends?: boolean;
  /**
   * Make the deployment bootable (kernel, systemd, ostree, dracut initramfs,
   * OSTree layout). A bootable base gives a bootable deployment without it.
   */
  bootable?: boolean;
  /** Simulate the install and report; write nothing to the repository. */
  dryRun?: boolean;
  /** Commit time (seconds); default `SOURCE_DATE_EPOCH`, else now. */
  timestamp?: number;
  /** Cancels the run; nothing is committed and the work tree is removed. */
  signal?: AbortSignal;
  /** GPG keys to sign the commit with (`ostree commit --gpg-sign`). */
  gpgSign?: readonly string[];
  /** The GnuPG home holding those keys (`--gpg-homedir`; default `GNUPGHOME`). */
  gpgHomedir?: string;
  /** Every line apt prints. */
  onLine?: (line: string) => void;
  /** Told at each step. */
  onStep?: (step: string) => void;
  /** Show ostree's progress when pulling a base. */
  progress?: boolean;
  /** Registry options, for a base given as an image (`docker://…`). */
  registry?: RegistryOptions;
}

/** A package with its version, as reported. */
export type PackageVersion = InstalledPackage;

/** What {@linkcode composeCreate} did (or, in a dry run, would do). */
export interface ComposeCreateResult {
  /** Whether this was a dry run. */
  dryRun: boolean;
  /** The output branch. */
  branch: string;
  /** Whether the branch name was derived (no `--output`). */
  branchDerived: boolean;
  /** The new commit (absent in a dry run). */
  commit?: string;
  /** The branch's previous commit, if any. */
  parent?: string;
  /** The new commit's `version` (absent in a dry run). */
  version?: string;
  /** The base it was made from. */
  base: {
    ref: string;
    branch: string;
    localRef: string;
    commit: string;
    source: ResolvedBase["source"];
    remote?: string;
    version?: string;
    /** For an image base (`docker://…`): the platform picked from it (`--arch`, default the host's). */
    platform?: string;
  };
  /** The packages asked for. */
  requested: string[];
  /** Packages installed or upgraded (in a dry run: that apt would install). */
  installed: PackageVersion[];
  /** Packages removed (a dry run reports none). */
  removed: PackageVersion[];
  /** Of `installed`: the packages the base did not have. */
  added: PackageVersion[];
  /** Of `installed`: the packages the base had in an earlier version (old and new version). */
  upgraded: PackageUpgrade[];
  /** Of `installed`: the packages the base had in a later version. */
  downgraded: PackageUpgrade[];
  /** Whether the deployment is bootable. */
  bootable: boolean;
  /** Kernel versions of a bootable deployment (absent in a dry run). */
  kernels?: string[];
  /** Seconds each phase took: resolve (and pull), checkout, update, install, cleanup, commit. */
  durations: Record<string, number>;
}

/** Packages whose files go into the initramfs: when a compose changes one, every kernel's initramfs is rebuilt. */
const INITRAMFS_PACKAGE_RE =
  /^(linux-image-.*|dracut|dracut-core|systemd|udev|libsystemd0|libudev1|ostree|ostree-boot|libostree-1-1|kmod|libkmod2|libc6|util-linux|mount|libmount1|libblkid1)$/;

const APT_OPTIONS = [
  "-q",
  "-o",
  "Acquire::Languages=none",
  "-o",
  "Acquire::Retries=3",
  "-o",
  "DPkg::Use-Pty=0",
];

/**
 * The `apt-get install` command line.
 *
 * @example
 * ```ts
 * import { aptInstallCommand } from "./create.ts";
 * aptInstallCommand(["hello"], { installRecommends: false, simulate: false }).slice(-2); // ["--", "hello"]
 * ```
 */
export function aptInstallCommand(
  packages: readonly string[],
  options: { installRecommends: boolean; simulate: boolean },
): string[] {
  return [
    "apt-get",
    ...APT_OPTIONS,
    "-y",
    "-o",
    "Dpkg::Options::=--force-confdef",
    "-o",
    "Dpkg::Options::=--force-confold",
    "-o",
    "Dpkg::Options::=--force-unsafe-io",
    "-o",
    `APT::Install-Recommends=${options.installRecommends ? "true" : "false"}`,
    ...(options.installRecommends ? [] : ["--no-install-recommends"]),
    ...(options.simulate ? ["--simulate"] : []),
    "install",
    "--",
    ...packages,
  ];
}

/**
 * Parses the `Inst` lines of `apt-get --simulate install`.
 *
 * @example
 * ```ts
 * import { parseAptSimulation } from "./create.ts";
 * parseAptSimulation(["Inst hello (2.10-3 Debian:12.9/stable [amd64])"]);
 * // [{ name: "hello", version: "2.10-3", arch: "amd64" }]
 * ```
 */
export function parseAptSimulation(lines: readonly string[]): PackageVersion[] {
  const out: PackageVersion[] = [];
  for (const line of lines) {
    const m = /^Inst (\S+) (?:\[[^\]]*\] )?\((\S+)[^)]*?(?:\[([^\]]+)\])?\)/.exec(line);
    if (!m) continue;
    const [name, arch] = m[1].includes(":") ? m[1].split(":", 2) : [m[1], m[3] ?? ""];
    out.push({ name, version: m[2], arch });
  }
  return out.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

function aptFailure(what: string, code: number, lines: readonly string[], solution: string): AptOstreeError {
  return new AptOstreeError(
    `${what} failed in the sandbox (exit code ${code}); nothing was committed:\n  ${errorLines(lines).join("\n  ")}`,
    { solution },
  );
}

/** `installed` split against the base's packages: added, upgraded, downgraded. */
function changesOf(before: readonly InstalledPackage[], installed: readonly PackageVersion[]) {
  const { added, upgraded, downgraded } = classifyChanges(before, installed);
  return { added: added, upgraded, downgraded };
}

function metadataString(commit: CommitInfo, key: string): string | undefined {
  const value = commit.metadata.get(key);
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/** Resolves a base given as a reference (`debian:12`): local, cached from a remote, or pulled. */
async function resolveNamedBase(
  repo: OstreeRepo,
  options: ComposeCreateOptions,
): Promise<{ ref: BaseImageRef; base: ResolvedBase }> {
  const ref = parseBaseImageRef(options.base, { arch: options.arch });
  const base = await resolveBase(repo, ref, {
    written: options.base,
    remote: options.remote,
    pull: options.pull,
    allowPull: !options.dryRun, // a pull writes to the repository
    signal: options.signal,
    progress: options.progress,
    onPull: (remote, b) => options.onStep?.(`Pulling ${b} from remote ${remote}`),
  });
  return { ref, base };
}

/**
 * Creates a deployment: base + packages → a commit on the output branch.
 *
 * @example
 * ```ts
 * import { composeCreate } from "./create.ts";
 * const result = await composeCreate({ repo: "/var/lib/apt-ostree/repo", base: "debian:12", packages: ["hello"] });
 * console.log(result.branch, result.commit, result.installed);
 * ```
 */
export async function composeCreate(options: ComposeCreateOptions): Promise<ComposeCreateResult> {
  requireRoot("compose create");
  const imageBase = isImageBase(options.base);
  const requested = validatePackageNames(options.packages);
  if (options.dryRun && options.pull) {
    throw new UsageError("--dry-run and --pull cannot be combined: a dry run writes nothing to the repository", {
      solution: "Pull the base first (run without {dryRun}), then simulate",
    });
  }
  await requireProgram("bwrap", "apt-get install bubblewrap");
  // apt and dpkg run the base's own programs: another architecture's need emulation, checked before any work.
  if (options.arch !== undefined) await checkEmulation(options.arch);
  const signal = options.signal;
  const step = options.onStep ?? (() => {});
  const installRecommends = options.installRecommends ?? false;

  const repo = typeof options.repo === "string" ? await OstreeRepo.open(options.repo) : options.repo;
  const timer = phaseTimer();
  timer.start("resolve");
  const { ref, base } = imageBase
    ? await resolveImageBase(repo, options.base, {
      arch: options.arch,
      pull: options.pull,
      dryRun: options.dryRun,
      registry: options.registry,
      signal,
      onPull: (image, b) =>
        step(`Importing ${image} (${formatPlatform(ociPlatform(options.arch ?? hostArch()))}) as ${b}`),
    })
    : await resolveNamedBase(repo, options);
  const branchDerived = options.output === undefined;
  const branch = options.output ?? deriveOutputBranch(ref, requested);
  validateOutputBranch(branch);
  const baseCommit = await repo.readCommit(base.commit);
  const baseInfo = {
    ref: ref.name,
    branch: ref.branch,
    localRef: base.localRef,
    commit: base.commit,
    source: base.source,
    ...(base.remote ? { remote: base.remote } : {}),
    ...(baseCommit.version ? { version: baseCommit.version } : {}),
    ...(imageBase ? { platform: formatPlatform(ociPlatform(ref.arch)) } : {}),
  };

  if (options.arch === undefined) {
    await checkEmulation(metadataString(baseCommit, COMMIT_METADATA.debianArch) ?? ref.arch);
  }

  // A dry run works outside the repository entirely.
  const work = options.dryRun ? await createTempWorkDir("dry-run") : await createWorkDir(repo, "create");
  try {
    const rootfs = join(work, "rootfs");
    timer.start("checkout");
    step(`Checking out ${base.localRef} (${base.commit.slice(0, 12)}) as a private copy`);
    await repo.checkoutCopy(base.commit, rootfs, { signal });
    await fromDeploymentLayout(rootfs);
    const before = await readInstalledPackages(rootfs);
    const bootable = options.bootable === true || baseCommit.metadata.get(COMMIT_METADATA.bootable) === true;
    const installedNames = new Set(before.map((p) => p.name));
    const toInstall = [
      ...requested,
      ...(bootable
        ? bootablePackages(
          metadataString(baseCommit, COMMIT_METADATA.distribution) ?? ref.distribution,
          nativeArchOf(before) || debianArch(ref.arch),
        ).filter((name) => !installedNames.has(name) && !requested.includes(name))
        : []),
    ];
    const restore = await prepareSandboxRoot(rootfs);
    let installed: PackageVersion[] = [];
    let removed: PackageVersion[] = [];
    let after: InstalledPackage[] = before;
    // The commit's time is also the time packages see (dates in /etc/shadow,
    // generated files): the same inputs give the same tree on any day.
    const timestamp = options.timestamp ?? composeTimestamp();
    // INITRD=No: a kernel package builds no initramfs of its own (dracut's comes after).
    const env = { ...sandboxEnv(), SOURCE_DATE_EPOCH: String(timestamp), ...(bootable ? { INITRD: "No" } : {}) };
    try {
      timer.start("update");
      step("Updating the package lists (apt-get update)");
      const update = await runInSandbox(rootfs, ["apt-get", ...APT_OPTIONS, "update"], {
        signal,
        onLine: options.onLine,
        env,
      });
      const updateErrors = update.lines.some((l) => /^(E:|Err:)/.test(l));
      if (update.code !== 0 || updateErrors) {
        throw aptFailure(
          "apt-get update",
          update.code,
          update.lines,
          "Check the network and the base's /etc/apt/sources.list (apt's own lines are above)",
        );
      }
      if (toInstall.length > 0) {
        timer.start("install");
        step(`${options.dryRun ? "Simulating" : "Installing"} ${toInstall.join(" ")} (apt-get install)`);
        const install = await runInSandbox(
          rootfs,
          aptInstallCommand(toInstall, { installRecommends, simulate: options.dryRun ?? false }),
          { signal, onLine: options.onLine, env },
        );
        if (install.code !== 0) {
          const unknown = install.lines.some((l) =>
            /^E: (Unable to locate package|Package '.*' has no installation candidate|Version '.*' for '.*' was not found)/
              .test(l)
          );
          throw aptFailure(
            options.dryRun ? "apt-get install --simulate" : "apt-get install",
            install.code,
            install.lines,
            unknown
              ? "Check the package names and the release (apt-cache policy NAME on a system of that release, or packages.debian.org / packages.ubuntu.com); the repository is unchanged"
              : "See apt's and dpkg's lines above (a maintainer script may have failed); the repository is unchanged",
          );
        }
        if (options.dryRun) installed = parseAptSimulation(install.lines);
      }
      if (!options.dryRun) {
        after = await readInstalledPackages(rootfs);
        const changes = diffPackages(before, after);
        installed = changes.installed;
        removed = changes.removed;
        if (bootable) {
          timer.start("initramfs");
          // A kernel without one gets its initramfs; all are rebuilt when what goes into them changed.
          const rebuild = [...changes.installed, ...changes.removed].some((p) => INITRAMFS_PACKAGE_RE.test(p.name));
          const built = await buildInitramfs(rootfs, { signal, onLine: options.onLine, env, onlyMissing: !rebuild });
          if (built.length > 0) step(`Built the initramfs with dracut for ${built.join(", ")}`);
        }
      }
    } finally {
      await restore();
    }
    signal?.throwIfAborted();
    if (options.dryRun) {
      const durations = timer.finish();
      return {
        dryRun: true,
        branch,
        branchDerived,
        base: baseInfo,
        requested,
        installed,
        removed: [],
        ...changesOf(before, installed),
        bootable,
        durations,
      };
    }

    timer.start("cleanup");
    step(`Cleaning the tree and moving /etc to /usr/etc${bootable ? " (bootable layout)" : ""}`);
    await cleanRootfs(rootfs);
    const { kernels } = await toDeploymentLayout(rootfs, { bootable });
    signal?.throwIfAborted();

    const nativeArch = nativeArchOf(after);
    timer.start("commit");
    step(`Committing to ${branch}`);
    return await withComposeLock(repo, async () => {
      const parent = await exactRefHead(repo, branch);
      const previous = parent ? (await repo.readCommit(parent)).version : undefined;
      const version = nextVersion(baseCommit.version ?? dateStamp(timestamp), previous);
      const metadata: Record<string, GVariantInput> = {
        version,
        [COMMIT_METADATA.baseRef]: ref.name,
        [COMMIT_METADATA.baseBranch]: ref.branch,
        [COMMIT_METADATA.baseCommit]: base.commit,
        [COMMIT_METADATA.distribution]: metadataString(baseCommit, COMMIT_METADATA.distribution) ?? ref.distribution,
        [COMMIT_METADATA.release]: metadataString(baseCommit, COMMIT_METADATA.release) ?? ref.version,
        [COMMIT_METADATA.arch]: metadataString(baseCommit, COMMIT_METADATA.arch) ?? ref.arch,
        [COMMIT_METADATA.requestedPackages]: requested,
        [COMMIT_METADATA.installedPackages]: formatPackages(installed, nativeArch),
        [COMMIT_METADATA.removedPackages]: formatPackages(removed, nativeArch),
        [COMMIT_METADATA.packages]: formatPackages(after, nativeArch),
        [COMMIT_METADATA.installRecommends]: installRecommends,
      };
      if (baseCommit.version) metadata[COMMIT_METADATA.baseVersion] = baseCommit.version;
      const suite = metadataString(baseCommit, COMMIT_METADATA.suite) ?? ref.suite;
      if (suite) metadata[COMMIT_METADATA.suite] = suite;
      if (nativeArch) metadata[COMMIT_METADATA.debianArch] = nativeArch;
      if (base.remote) metadata[COMMIT_METADATA.baseRemote] = base.remote;
      if (bootable) {
        metadata[COMMIT_METADATA.bootable] = true;
        metadata[COMMIT_METADATA.linux] = kernels[kernels.length - 1];
      }
      const commit = await commitDirectory(repo, {
        tree: rootfs,
        branch,
        subject: `${ref.name} + ${requested.length > 0 ? requested.join(" ") : "no packages"}`,
        body: `Composed by apt-ostree from ${base.localRef} (${base.commit}): ` +
          `${installed.length} packages installed or upgraded, ${removed.length} removed.`,
        metadata,
        parent: parent ?? "none",
        timestamp,
        signal,
        gpgSign: options.gpgSign,
        gpgHomedir: options.gpgHomedir,
      });
      return {
        dryRun: false,
        branch,
        branchDerived,
        commit,
        ...(parent ? { parent } : {}),
        version,
        base: baseInfo,
        requested,
        installed,
        removed,
        ...changesOf(before, installed),
        bootable,
        ...(bootable ? { kernels } : {}),
        durations: timer.finish(),
      };
    }, signal);
  } finally {
    await removeWorkDir(work);
  }
}
