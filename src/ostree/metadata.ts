/**
 * The commit metadata apt-ostree writes and reads, in one place: every
 * `apt-ostree.*` key of a commit, and the repository config keys it uses.
 * Values are strings unless a key says otherwise.
 *
 * @module
 */

/**
 * Commit metadata keys.
 *
 * @example
 * ```ts
 * import { COMMIT_METADATA } from "./metadata.ts";
 * COMMIT_METADATA.arch; // "apt-ostree.arch"
 * ```
 */
export const COMMIT_METADATA = {
  /** Architecture, as the kernel names it (`x86_64`, `aarch64`). */
  arch: "apt-ostree.arch",
  /** Architecture, as Debian names it (`amd64`, `arm64`). */
  debianArch: "apt-ostree.debian-arch",
  /** Distribution (`debian`, `ubuntu`). */
  distribution: "apt-ostree.distribution",
  /** Release version (`12`, `24.04`). */
  release: "apt-ostree.release",
  /** Archive suite (`bookworm`). */
  suite: "apt-ostree.suite",
  /** The distribution's own version string (`/etc/os-release` VERSION_ID). */
  osVersion: "apt-ostree.os-version",
  /** mmdebstrap variant (`minbase`, …). */
  variant: "apt-ostree.variant",
  /** The archive mirror the base was bootstrapped from. */
  mirror: "apt-ostree.mirror",
  /** The base image reference as given (`debian:12`). */
  baseRef: "apt-ostree.base-ref",
  /** The base's branch. */
  baseBranch: "apt-ostree.base-branch",
  /** The base's commit checksum. */
  baseCommit: "apt-ostree.base-commit",
  /** The base's `version`. */
  baseVersion: "apt-ostree.base-version",
  /** The remote the base was pulled from. */
  baseRemote: "apt-ostree.base-remote",
  /** Packages asked for (a list). */
  requestedPackages: "apt-ostree.requested-packages",
  /** Packages a compose installed, `name=version` (a list). */
  installedPackages: "apt-ostree.installed-packages",
  /** Packages a compose removed, `name=version` (a list). */
  removedPackages: "apt-ostree.removed-packages",
  /** Every installed package, `name=version` (a list). */
  packages: "apt-ostree.packages",
  /** Whether recommended packages were installed. */
  installRecommends: "apt-ostree.install-recommends",
  /** The image name as given, with its transport (`docker://…`). */
  imageSource: "apt-ostree.image.source",
  /** The normalised image name (`docker.io/library/debian:12`), when known. */
  imageName: "apt-ostree.image.name",
  /** Digest of the image manifest. */
  imageDigest: "apt-ostree.image.digest",
  /** Digest of the index the manifest was chosen from, when any. */
  imageIndexDigest: "apt-ostree.image.index-digest",
  /** Digest of the image config. */
  imageConfigDigest: "apt-ostree.image.config-digest",
  /** The image config (JSON), when under 64 KiB. */
  imageConfig: "apt-ostree.image.config",
  /** ostree's own key: the commit has a kernel and initramfs and can be deployed and booted (a boolean). */
  bootable: "ostree.bootable",
  /** ostree's own key: the kernel version of a bootable commit. */
  linux: "ostree.linux",
} as const;

/**
 * Repository config keys (`ostree config set KEY VALUE`).
 *
 * @example
 * ```ts
 * import { REPO_CONFIG } from "./metadata.ts";
 * REPO_CONFIG.defaultRemote; // "apt-ostree.default-remote"
 * ```
 */
export const REPO_CONFIG = {
  /** The remote `compose create` pulls bases from when none is named. */
  defaultRemote: "apt-ostree.default-remote",
} as const;
