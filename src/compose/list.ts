/**
 * `compose list`: the base images (branches that parse as base references,
 * including those cached from remotes as `remote:branch`) and the
 * deployments (every other branch) of a repository, with commit, date,
 * version and architecture; optionally what a remote offers.
 *
 * @module
 */

import { ARCH_METADATA_KEYS } from "../builder/build_image.ts";
import { type CommitInfo, OstreeRepo } from "../ostree/repo.ts";
import { parseBaseBranch } from "../reference/base_ref.ts";
import { remoteBranches, requireRemote } from "../ostree/remote.ts";
import { COMMIT_METADATA } from "../ostree/metadata.ts";

/** A branch and the commit it points at. */
export interface ListedCommit {
  /** The ref as ostree names it: `branch` or `remote:branch`. */
  ref: string;
  /** The branch name (without the remote). */
  branch: string;
  /** The remote it was pulled from, for cached refs. */
  remote?: string;
  /** Commit checksum. */
  commit: string;
  /** Commit time, seconds since the epoch. */
  timestamp: number;
  /** Commit time, RFC 3339 (UTC). */
  date: string;
  /** The commit's `version`, if any. */
  version?: string;
  /** Architecture (branch form for bases, from metadata for deployments). */
  arch?: string;
  /** Subject line. */
  subject: string;
}

/** A base image. */
export interface ListedBase extends ListedCommit {
  /** `<distribution>:<version>`. */
  name: string;
  /** Distribution. */
  distribution: string;
  /** Release version. */
  release: string;
}

/** A deployment. */
export interface ListedDeployment extends ListedCommit {
  /** The base reference it was composed from (`apt-ostree.base-ref`), if recorded. */
  base?: string;
  /** The packages asked for (`apt-ostree.requested-packages`), if recorded. */
  packages?: string[];
}

/** A branch a remote offers. */
export interface RemoteBranch {
  /** Branch name. */
  branch: string;
  /** Whether it is a base image branch. */
  base: boolean;
  /** Whether it is cached in this repository (`remote:branch`). */
  cached: boolean;
}

/** What {@linkcode listCompose} returns. */
export interface ComposeListing {
  /** The repository path. */
  repo: string;
  /** Base images, by ref. */
  bases: ListedBase[];
  /** Deployments, by ref. */
  deployments: ListedDeployment[];
  /** What the remote offers, with `--remote`. */
  remote?: { name: string; branches: RemoteBranch[] };
}

/** Options for {@linkcode listCompose}. */
export interface ListComposeOptions {
  /** Also list what this remote offers. */
  remote?: string;
  /** Cancels the listing. */
  signal?: AbortSignal;
}

function stringValue(commit: CommitInfo, key: string): string | undefined {
  const value = commit.metadata.get(key);
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

function archOf(commit: CommitInfo): string | undefined {
  for (const key of ARCH_METADATA_KEYS) {
    const value = stringValue(commit, key);
    if (value) return value;
  }
  return undefined;
}

/**
 * Lists base images and deployments.
 *
 * @example
 * ```ts
 * import { listCompose } from "./list.ts";
 * const listing = await listCompose("/var/lib/apt-ostree/repo");
 * for (const base of listing.bases) console.log(base.ref, base.version);
 * ```
 */
export async function listCompose(
  repoOrPath: string | OstreeRepo,
  options: ListComposeOptions = {},
): Promise<ComposeListing> {
  const repo = typeof repoOrPath === "string" ? await OstreeRepo.open(repoOrPath) : repoOrPath;
  if (options.remote !== undefined) await requireRemote(repo, options.remote);
  const refs = await repo.refs({ signal: options.signal });
  const bases: ListedBase[] = [];
  const deployments: ListedDeployment[] = [];
  for (const ref of refs) {
    const colon = ref.indexOf(":");
    const remote = colon > 0 ? ref.slice(0, colon) : undefined;
    const branch = colon > 0 ? ref.slice(colon + 1) : ref;
    const checksum = await repo.resolveCommit(ref, { signal: options.signal });
    const commit = await repo.readCommit(checksum, { signal: options.signal });
    const listed: ListedCommit = {
      ref,
      branch,
      ...(remote ? { remote } : {}),
      commit: checksum,
      timestamp: commit.timestamp,
      date: new Date(commit.timestamp * 1000).toISOString().replace(".000Z", "Z"),
      ...(commit.version ? { version: commit.version } : {}),
      subject: commit.subject,
    };
    const base = parseBaseBranch(branch);
    if (base) {
      bases.push({
        ...listed,
        arch: base.arch,
        name: base.name,
        distribution: base.distribution,
        release: base.version,
      });
    } else {
      const arch = archOf(commit);
      const baseRef = stringValue(commit, COMMIT_METADATA.baseRef);
      const requested = commit.metadata.get(COMMIT_METADATA.requestedPackages);
      deployments.push({
        ...listed,
        ...(arch ? { arch } : {}),
        ...(baseRef ? { base: baseRef } : {}),
        ...(Array.isArray(requested) ? { packages: requested.map(String) } : {}),
      });
    }
  }
  const listing: ComposeListing = { repo: repo.path, bases, deployments };
  if (options.remote !== undefined) {
    const cached = new Set(refs);
    const branches = await remoteBranches(repo, options.remote, options.signal);
    listing.remote = {
      name: options.remote,
      branches: branches.map((branch) => ({
        branch,
        base: parseBaseBranch(branch) !== undefined,
        cached: cached.has(`${options.remote}:${branch}`),
      })),
    };
  }
  return listing;
}
