/**
 * OSTree remotes: which one to use (`--remote NAME`, else the repository's
 * default), what it offers, and pulling a branch from it with `ostree pull`
 * (GPG verification as the remote is configured; a failed verification is
 * an error).
 *
 * @module
 */

import { commandDyingWithUs, onPath } from "../util/child.ts";
import { AptOstreeError, UsageError } from "../errors.ts";
import { runOstree, spawnOstree } from "./command.ts";
import type { OstreeRepo } from "./repo.ts";
import { REPO_CONFIG } from "./metadata.ts";

/** The repository config group and key that name the default remote. */
export const DEFAULT_REMOTE_KEY = REPO_CONFIG.defaultRemote;

/**
 * Reads `[group] key=value` from an INI-style ostree config text.
 *
 * @example
 * ```ts
 * import { iniValue } from "./remote.ts";
 * iniValue("[apt-ostree]\ndefault-remote=origin\n", "apt-ostree", "default-remote"); // "origin"
 * ```
 */
export function iniValue(text: string, group: string, key: string): string | undefined {
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#") || line.startsWith(";") || line === "") continue;
    const header = /^\[(.*)\]$/.exec(line);
    if (header) {
      current = header[1].trim();
      continue;
    }
    if (current !== group) continue;
    const eq = line.indexOf("=");
    if (eq > 0 && line.slice(0, eq).trim() === key) return line.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The names of the repository's remotes.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { listRemotes } from "./remote.ts";
 * await listRemotes(await OstreeRepo.open("repo")); // ["origin"]
 * ```
 */
export async function listRemotes(repo: OstreeRepo): Promise<string[]> {
  return await repo.remotes();
}

/**
 * The remote to use when none is named: `[apt-ostree] default-remote` in
 * the repository's config (set it with
 * `ostree config --repo=PATH set apt-ostree.default-remote NAME`), else the
 * only remote when there is exactly one, else none.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { defaultRemote } from "./remote.ts";
 * await defaultRemote(await OstreeRepo.open("repo")); // "origin" or undefined
 * ```
 */
export async function defaultRemote(repo: OstreeRepo): Promise<string | undefined> {
  let config = "";
  try {
    config = await Deno.readTextFile(`${repo.path}/config`);
  } catch {
    // OstreeRepo.open has read it already; a race with its removal is not ours to handle.
  }
  const configured = iniValue(config, "apt-ostree", "default-remote");
  if (configured) return configured;
  const remotes = await listRemotes(repo);
  return remotes.length === 1 ? remotes[0] : undefined;
}

/**
 * Checks that `name` is a configured remote of the repository.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { requireRemote } from "./remote.ts";
 * await requireRemote(await OstreeRepo.open("repo"), "origin");
 * ```
 */
export async function requireRemote(repo: OstreeRepo, name: string): Promise<void> {
  const remotes = await listRemotes(repo);
  if (!remotes.includes(name)) {
    throw new UsageError(`No remote named ${name} in ${repo.path}`, {
      solution: remotes.length > 0
        ? `Use one of: ${remotes.join(", ")}; or add it: ostree remote add --repo=${repo.path} ${name} URL`
        : `Add it: ostree remote add --repo=${repo.path} ${name} URL`,
    });
  }
}

/**
 * The branches a remote offers (from its summary file), without the
 * `remote:` prefix.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { remoteBranches } from "./remote.ts";
 * await remoteBranches(await OstreeRepo.open("repo"), "origin"); // ["debian/12/x86_64"]
 * ```
 */
export async function remoteBranches(repo: OstreeRepo, remote: string, signal?: AbortSignal): Promise<string[]> {
  const out = await runOstree(["remote", "refs", repo.repoArg, remote], { signal });
  if (out.code !== 0) {
    throw new AptOstreeError(`Cannot list the branches of remote ${remote}: ${out.stderr.replace(/^error: /, "")}`, {
      solution:
        `Check the network and the remote's URL (ostree remote show-url --repo=${repo.path} ${remote}); listing needs a summary file on the server (ostree summary -u)`,
    });
  }
  return new TextDecoder().decode(out.stdout)
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((l) => l.startsWith(`${remote}:`) ? l.slice(remote.length + 1) : l)
    .sort();
}

/** How a pull failed. */
export type PullFailure = "not-found" | "gpg" | "other";

/**
 * Classifies an `ostree pull` error message.
 *
 * @example
 * ```ts
 * import { classifyPullError } from "./remote.ts";
 * classifyPullError("error: GPG verification enabled, but no signatures found"); // "gpg"
 * classifyPullError("error: Server returned HTTP 404"); // "not-found"
 * ```
 */
export function classifyPullError(stderr: string): PullFailure {
  if (/GPG|signature|gpg-verify|keyring/i.test(stderr)) return "gpg";
  if (/HTTP 404|No such branch|not found|No such ref|refs\/heads\/.*: .*No such file/i.test(stderr)) {
    return "not-found";
  }
  return "other";
}

/** An error from {@linkcode pullBranch} that says whether the branch was missing. */
export class PullError extends AptOstreeError {
  constructor(readonly failure: PullFailure, message: string, solution: string) {
    super(message, { solution });
    this.name = "PullError";
  }
}

/** Options for {@linkcode pullBranch}. */
export interface PullBranchOptions {
  /** Kills the pull when aborted (nothing half-written becomes visible: ostree's transaction). */
  signal?: AbortSignal;
  /** Show ostree's own progress (its standard output goes to the terminal). */
  progress?: boolean;
}

/**
 * Pulls `branch` from `remote` into the repository (stored as the ref
 * `remote:branch`) and returns the pulled commit.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { pullBranch } from "./remote.ts";
 * const commit = await pullBranch(await OstreeRepo.open("repo"), "origin", "debian/12/x86_64");
 * ```
 */
export async function pullBranch(
  repo: OstreeRepo,
  remote: string,
  branch: string,
  options: PullBranchOptions = {},
): Promise<string> {
  const args = ["pull", repo.repoArg, remote, branch];
  let code: number;
  let stderr: string;
  if (options.progress) {
    let child: Deno.ChildProcess;
    try {
      if (!onPath("ostree")) throw new Deno.errors.NotFound("ostree");
      child = commandDyingWithUs("ostree", {
        args,
        stdin: "null",
        stdout: "inherit",
        stderr: "piped",
        signal: options.signal,
        env: { LC_ALL: "C.UTF-8" },
      }).spawn();
    } catch {
      child = spawnOstree(args, options); // reports a missing ostree the usual way
    }
    const out = await child.output();
    code = out.code;
    stderr = new TextDecoder().decode(out.stderr).trim();
  } else {
    const out = await runOstree(args, { signal: options.signal });
    code = out.code;
    stderr = out.stderr;
  }
  if (options.signal?.aborted) throw options.signal.reason;
  if (code !== 0) {
    const detail = stderr.replace(/^error: /, "") || `exit code ${code}`;
    const failure = classifyPullError(stderr);
    if (failure === "gpg") {
      throw new PullError(
        failure,
        `GPG verification failed pulling ${branch} from remote ${remote}: ${detail}`,
        `Import the remote's signing key (ostree remote gpg-import --repo=${repo.path} ${remote} --keyring FILE) or fix the remote's signatures; apt-ostree never skips verification that the remote asks for`,
      );
    }
    if (failure === "not-found") {
      throw new PullError(
        failure,
        `Remote ${remote} has no branch ${branch}: ${detail}`,
        `List what it offers with: apt-ostree compose list --remote ${remote}`,
      );
    }
    throw new PullError(
      failure,
      `Cannot pull ${branch} from remote ${remote}: ${detail}`,
      `Check the network and the remote's URL: ostree remote show-url --repo=${repo.path} ${remote}`,
    );
  }
  const head = await runOstree(["rev-parse", repo.repoArg, `${remote}:${branch}`]);
  const checksum = new TextDecoder().decode(head.stdout).trim();
  if (head.code !== 0 || !/^[0-9a-f]{64}$/.test(checksum)) {
    throw new AptOstreeError(`ostree pull of ${branch} from ${remote} succeeded but left no ref ${remote}:${branch}`);
  }
  return checksum;
}
