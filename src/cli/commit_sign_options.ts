/**
 * `--gpg-sign KEYID` and `--gpg-homedir DIR` of `compose create` and
 * `compose bootstrap`: the commit is signed as `ostree commit` signs it.
 *
 * @module
 */

import type { Command } from "commander";
import { UsageError } from "../errors.ts";

const collect = (value: string, previous: string[]) => [...previous, value];

/**
 * Adds the commit signing options to a command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addCommitSignOptions } from "./commit_sign_options.ts";
 * addCommitSignOptions(new Command("create"));
 * ```
 */
export function addCommitSignOptions(command: Command): Command {
  return command
    .option(
      "--gpg-sign <keyid>",
      "sign the commit with this GPG key, as ostree commit --gpg-sign (repeatable; the key must be usable without a prompt)",
      collect,
      [],
    )
    .option("--gpg-homedir <dir>", "GnuPG home holding the key (default: $GNUPGHOME, else ~/.gnupg)");
}

/**
 * The commit signing options from the collected ones.
 *
 * @example
 * ```ts
 * import { commitSignOptionsFrom } from "./commit_sign_options.ts";
 * commitSignOptionsFrom({ gpgSign: ["ABCD"] }); // { gpgSign: ["ABCD"] }
 * ```
 */
export function commitSignOptionsFrom(
  opts: Record<string, unknown>,
): { gpgSign?: string[]; gpgHomedir?: string } {
  const keys = (opts.gpgSign as string[] | undefined) ?? [];
  const home = opts.gpgHomedir as string | undefined;
  if (home !== undefined && keys.length === 0) {
    throw new UsageError("--gpg-homedir names where the signing key is, but no key is given", {
      solution: "Add --gpg-sign KEYID",
    });
  }
  return { ...(keys.length > 0 ? { gpgSign: keys } : {}), ...(home !== undefined ? { gpgHomedir: home } : {}) };
}
