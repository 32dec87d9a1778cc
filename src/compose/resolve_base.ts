/**
 * Finding a base image: the local branch first, then the copy cached from a
 * remote (`remote:branch`), then `ostree pull` from the remote (named with
 * `--remote`, else the repository's default). `--pull` skips the local
 * lookups and refreshes from the remote.
 *
 * @module
 */

import { AptOstreeError, UsageError } from "../errors.ts";
import type { OstreeRepo } from "../ostree/repo.ts";
import type { BaseImageRef } from "../reference/base_ref.ts";
import { defaultRemote, pullBranch, PullError, requireRemote } from "../ostree/remote.ts";

/** Where a resolved base came from. */
export type BaseSource = "local" | "cache" | "pulled";

/** A base image found in (or pulled into) the repository. */
export interface ResolvedBase {
  /** The parsed reference. */
  ref: BaseImageRef;
  /** The commit checksum. */
  commit: string;
  /** The ref that holds it: the branch, or `remote:branch` for a pulled base. */
  localRef: string;
  /** `local` (own branch), `cache` (pulled before), `pulled` (pulled now). */
  source: BaseSource;
  /** The remote it came from (cache and pulled). */
  remote?: string;
}

/** Options for {@linkcode resolveBase}. */
export interface ResolveBaseOptions {
  /** The reference as the user wrote it (for messages); default `ref.name`. */
  written?: string;
  /** Remote to pull from (default: the repository's default remote). */
  remote?: string;
  /** Refresh from the remote even when the base is here. */
  pull?: boolean;
  /** Cancels a pull. */
  signal?: AbortSignal;
  /** Show ostree's pull progress. */
  progress?: boolean;
  /** Told before a pull starts. */
  onPull?: (remote: string, branch: string) => void;
  /** Whether a pull may happen (false: a base that is only on the remote is an error; default true). */
  allowPull?: boolean;
}

/**
 * The commit of a local branch or of a cached `remote:branch` ref, looked up
 * exactly: `ostree rev-parse NAME` alone would also find `remote:NAME`.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "../ostree/repo.ts";
 * import { exactRefHead } from "./resolve_base.ts";
 * await exactRefHead(await OstreeRepo.open("repo"), "debian/12/x86_64"); // checksum or undefined
 * ```
 */
export async function exactRefHead(repo: OstreeRepo, ref: string): Promise<string | undefined> {
  // Only a ref that is not there is "absent": any other failure is an error,
  // never a reason to commit without a parent.
  return await repo.refHead(ref);
}

/**
 * The error for a base that is neither here nor on a remote.
 *
 * @example
 * ```ts
 * import { baseNotFound } from "./resolve_base.ts";
 * baseNotFound("ubuntu:24.04", "/var/lib/apt-ostree/repo").message; // "Base image not found locally: ubuntu:24.04"
 * ```
 */
export function baseNotFound(written: string, repoPath: string, detail?: string): AptOstreeError {
  return new AptOstreeError(`Base image not found locally: ${written}${detail ? ` (${detail})` : ""}`, {
    solution:
      `Ensure the base image is available in the OSTree repository ${repoPath}: bootstrap it with 'apt-ostree compose bootstrap ${written}', or pull it from a remote with {remote} NAME (ostree remote add --repo=${repoPath} NAME URL)`,
  });
}

/**
 * Resolves a base image to a commit, pulling it from a remote when it is
 * not in the repository (and caching it there as `remote:branch`).
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "../ostree/repo.ts";
 * import { parseBaseImageRef } from "../reference/base_ref.ts";
 * import { resolveBase } from "./resolve_base.ts";
 * const repo = await OstreeRepo.open("repo");
 * const base = await resolveBase(repo, parseBaseImageRef("debian:12"));
 * console.log(base.commit, base.source);
 * ```
 */
export async function resolveBase(
  repo: OstreeRepo,
  ref: BaseImageRef,
  options: ResolveBaseOptions = {},
): Promise<ResolvedBase> {
  const written = options.written ?? ref.name;
  if (options.remote !== undefined) await requireRemote(repo, options.remote);
  if (!options.pull) {
    const local = await exactRefHead(repo, ref.branch);
    if (local) return { ref, commit: local, localRef: ref.branch, source: "local" };
  }
  const remote = options.remote ?? await defaultRemote(repo);
  if (remote === undefined) {
    if (options.pull) {
      throw new UsageError(`--pull needs a remote, and ${repo.path} has no default remote`, {
        solution:
          `Name one with {remote} NAME, or set a default: ostree config --repo=${repo.path} set apt-ostree.default-remote NAME`,
      });
    }
    throw baseNotFound(written, repo.path);
  }
  const cachedRef = `${remote}:${ref.branch}`;
  if (!options.pull) {
    const cached = await exactRefHead(repo, cachedRef);
    if (cached) return { ref, commit: cached, localRef: cachedRef, source: "cache", remote };
  }
  if (options.allowPull === false) {
    throw new AptOstreeError(
      `Base image ${written} is not in ${repo.path}; a dry run does not pull it from remote ${remote}`,
      {
        solution: "Run without {dryRun} (which pulls and caches it), then simulate again",
      },
    );
  }
  options.onPull?.(remote, ref.branch);
  try {
    const commit = await pullBranch(repo, remote, ref.branch, { signal: options.signal, progress: options.progress });
    return { ref, commit, localRef: cachedRef, source: "pulled", remote };
  } catch (error) {
    if (error instanceof PullError && error.failure === "not-found") {
      throw baseNotFound(written, repo.path, `remote ${remote} has no branch ${ref.branch} either`);
    }
    throw error;
  }
}
