/**
 * Container images as base images: `compose create --base docker://…` (or
 * `oci:`, `oci-archive:`, `docker-archive:`) imports the image into the
 * repository as a commit on a branch of its own and composes on top of it.
 * As with podman's default pull policy, an image already imported is used
 * without contacting the registry; `--pull` imports it again when it
 * changed.
 *
 * @module
 */

import { basename } from "node:path";
import { UsageError } from "../errors.ts";
import { hostArch } from "../oci/platform.ts";
import type { OstreeRepo } from "../ostree/repo.ts";
import { normalizeArch } from "../reference/base_ref.ts";
import type { BaseImageRef } from "../reference/base_ref.ts";
import { type ImageLocation, parseImageLocation, TRANSPORTS } from "../reference/transport.ts";
import type { RegistryOptions } from "../registry/client.ts";
import { defaultBranchFor, pullImageToBranch } from "../import/pull.ts";
import { exactRefHead, type ResolvedBase } from "./resolve_base.ts";

/**
 * Whether a base is written as an image name with a transport.
 *
 * @example
 * ```ts
 * import { isImageBase } from "./image_base.ts";
 * isImageBase("docker://localhost:5000/debian:12"); // true
 * isImageBase("debian:12"); // false
 * ```
 */
export function isImageBase(base: string): boolean {
  return TRANSPORTS.some((t) => base.startsWith(t));
}

/**
 * The branch an image base is imported to: `<name>/<tag>/<arch>` (as `image
 * pull` names it; for a layout or archive, the file name stands for the
 * name).
 *
 * @example
 * ```ts
 * import { imageBaseBranch } from "./image_base.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * imageBaseBranch(parseImageLocation("docker://localhost:5000/debian:12"), "x86_64"); // "debian/12/x86_64"
 * imageBaseBranch(parseImageLocation("oci:/images/base.oci:1"), "x86_64"); // "base/1/x86_64"
 * ```
 */
export function imageBaseBranch(location: ImageLocation, arch: string): string {
  const fromName = defaultBranchFor(location, arch);
  if (fromName !== undefined) return fromName;
  if (location.transport === "docker-archive" && location.ref) {
    return `${location.ref.path.replace(/^library\//, "")}/${location.ref.tag ?? "latest"}/${arch}`;
  }
  const file = basename(location.transport === "docker" ? location.repository : location.path)
    .replace(/\.(oci|tar|tgz|tar\.gz)$/, "")
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-");
  const tag = location.transport === "oci" || location.transport === "oci-archive" ? location.tag : undefined;
  return `${file || "image"}/${tag ?? "latest"}/${arch}`;
}

/** Options for {@linkcode resolveImageBase}. */
export interface ResolveImageBaseOptions {
  /** Architecture (any naming; default the host's). */
  arch?: string;
  /** Import the image again even when it was imported before. */
  pull?: boolean;
  /** Do not import (a dry run writes nothing): the image must have been imported before. */
  dryRun?: boolean;
  /** Registry options (credentials, TLS). */
  registry?: RegistryOptions;
  /** Cancels the import. */
  signal?: AbortSignal;
  /** Told before an import starts. */
  onPull?: (image: string, branch: string) => void;
}

/** An image base, resolved. */
export interface ResolvedImageBase {
  /** The base described as a reference (distribution = image name, version = tag). */
  ref: BaseImageRef;
  /** Where its commit is. */
  base: ResolvedBase;
}

/**
 * Finds an image base in the repository, importing it when it is not there
 * (or when `pull` asks for a fresh copy).
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "../ostree/repo.ts";
 * import { resolveImageBase } from "./image_base.ts";
 * const repo = await OstreeRepo.open("/var/lib/apt-ostree/repo");
 * const { base } = await resolveImageBase(repo, "docker://localhost:5000/debian:12", { registry: { tlsVerify: false } });
 * console.log(base.localRef, base.commit);
 * ```
 */
export async function resolveImageBase(
  repo: OstreeRepo,
  written: string,
  options: ResolveImageBaseOptions = {},
): Promise<ResolvedImageBase> {
  const location = parseImageLocation(written);
  const arch = options.arch === undefined ? hostArch() : normalizeArch(options.arch);
  if (arch === undefined) {
    throw new UsageError(`Unknown architecture: ${options.arch}`, { solution: "Use e.g. x86_64 or aarch64" });
  }
  const branch = imageBaseBranch(location, arch);
  const parts = branch.split("/");
  const ref: BaseImageRef = {
    distribution: parts.slice(0, -2).join("/"),
    version: parts[parts.length - 2],
    arch,
    branch,
    suite: undefined,
    name: written,
  };
  const local = await exactRefHead(repo, branch);
  if (local && !options.pull) return { ref, base: { ref, commit: local, localRef: branch, source: "cache" } };
  if (options.dryRun) {
    throw new UsageError(`Image ${written} has not been imported into ${repo.path} yet; a dry run does not import it`, {
      solution: `Import it first: apt-ostree image pull ${written} --branch ${branch} (or run without {dryRun})`,
    });
  }
  options.onPull?.(written, branch);
  const pulled = await pullImageToBranch(repo, location, {
    ...options.registry,
    branch,
    arch,
    signal: options.signal,
  });
  return {
    ref,
    base: { ref, commit: pulled.commit, localRef: branch, source: pulled.upToDate ? "cache" : "pulled" },
  };
}
