/**
 * Writing commits: a directory tree becomes a commit on a branch, with
 * metadata, through `ostree commit`. The ref moves only when the whole
 * commit is written (ostree's own transaction), so a failed or interrupted
 * commit leaves the branch where it was.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import { runOstree } from "./command.ts";
import { formatGVariantText, type GVariantInput } from "./gvariant_text.ts";
import type { OstreeRepo } from "./repo.ts";

/** Options for {@linkcode commitDirectory}. */
export interface CommitDirectoryOptions {
  /** The directory tree to commit. */
  tree: string;
  /** The branch to write (created or moved). */
  branch: string;
  /** Subject line. */
  subject: string;
  /** Body text. */
  body?: string;
  /** Metadata; strings stay strings, arrays of strings become `as`, objects `a{sv}`. */
  metadata?: Record<string, GVariantInput>;
  /** Parent commit; by default the branch's current commit (if any). */
  parent?: string | "none";
  /** Commit time (seconds); default now, or `SOURCE_DATE_EPOCH` as ostree reads it. */
  timestamp?: number;
  /** Record every file as owned by root (for trees made without root). */
  ownerRoot?: boolean;
  /** Aborts the commit (the child is killed; the ref does not move). */
  signal?: AbortSignal;
  /** GPG keys to sign the commit with, as `ostree commit --gpg-sign` (the signatures go into `.commitmeta`). */
  gpgSign?: readonly string[];
  /** The GnuPG home holding those keys (`--gpg-homedir`; default `GNUPGHOME`, else `~/.gnupg`). */
  gpgHomedir?: string;
}

/**
 * Commits a directory tree to a branch and returns the new commit checksum.
 * With `gpgSign`, ostree signs the commit (detached metadata, as
 * `ostree commit --gpg-sign` does) before the ref moves.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { commitDirectory } from "./commit.ts";
 * const repo = await OstreeRepo.open("repo");
 * const checksum = await commitDirectory(repo, {
 *   tree: "/tmp/rootfs",
 *   branch: "debian/12/x86_64",
 *   subject: "Debian 12 base",
 *   metadata: { version: "12.20260101", "apt-ostree.packages": ["base-files=12.4"] },
 * });
 * ```
 */
export async function commitDirectory(repo: OstreeRepo, options: CommitDirectoryOptions): Promise<string> {
  const args = [
    "commit",
    repo.repoArg,
    `--branch=${options.branch}`,
    `--tree=dir=${options.tree}`,
    `--subject=${options.subject}`,
    `--body=${options.body ?? ""}`,
  ];
  if (options.parent !== undefined) args.push(`--parent=${options.parent}`);
  if (options.timestamp !== undefined) args.push(`--timestamp=@${Math.floor(options.timestamp)}`);
  if (options.ownerRoot) args.push("--owner-uid=0", "--owner-gid=0");
  for (const key of options.gpgSign ?? []) args.push(`--gpg-sign=${key}`);
  if (options.gpgHomedir !== undefined) args.push(`--gpg-homedir=${options.gpgHomedir}`);
  for (const [key, value] of Object.entries(options.metadata ?? {})) {
    args.push(`--add-metadata=${key}=${formatGVariantText(value)}`);
  }
  const out = await runOstree(args, { signal: options.signal });
  // A commit that completed stands even if an interrupt came in meanwhile:
  // the ref has moved, and saying "nothing was committed" would be false.
  if (out.code !== 0 && options.signal?.aborted) throw options.signal.reason;
  if (out.code !== 0) {
    const signing = (options.gpgSign?.length ?? 0) > 0 && /gpg|gpgme|secret key|signing/i.test(out.stderr);
    throw new AptOstreeError(`Failed to commit ${options.tree} to ${options.branch}: ${out.stderr}`, {
      solution: signing
        ? "Check {gpgSign}: the secret key must be in {gpgHomedir} (or GNUPGHOME) and usable without a prompt " +
          "(no passphrase, or one preset in gpg-agent)"
        : `Check the repository with: ostree fsck --repo=${repo.path}`,
    });
  }
  const checksum = new TextDecoder().decode(out.stdout).trim();
  if (!/^[0-9a-f]{64}$/.test(checksum)) {
    throw new AptOstreeError(`ostree commit printed an unexpected checksum: ${checksum}`);
  }
  return checksum;
}
