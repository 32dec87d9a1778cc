/**
 * `apt-ostree compose bootstrap REF`: the CLI shell over
 * {@linkcode bootstrapBase}.
 *
 * @module
 */

import type { Command } from "commander";
import type { BootstrapResult } from "../compose/bootstrap.ts";
import { requireRoot } from "../compose/root.ts";
import { splitList } from "./compose_output.ts";
import { createReporter } from "./progress.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import { withInterruptSignal } from "./signals.ts";
import { commitSignOptionsFrom } from "./commit_sign_options.ts";

interface BootstrapCliOptions {
  arch?: string;
  variant: string;
  packages?: string[];
  mirror?: string;
  suite?: string;
}

function humanLines(result: BootstrapResult): string[] {
  return [
    ...(result.createdRepository ? [`Created the OSTree repository ${result.repo} (mode bare-user)`] : []),
    `Bootstrapped ${result.ref} (${result.suite}, ${result.arch}, ${result.variant}) into branch ${result.branch}`,
    `  commit:   ${result.commit}`,
    `  parent:   ${result.parent ?? "none"}`,
    `  version:  ${result.version}`,
    `  packages: ${result.packages.length}`,
    `Create a deployment with: apt-ostree compose create --base ${result.ref} --packages PACKAGE…`,
  ];
}

/**
 * Adds `bootstrap` to the `compose` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerBootstrap } from "./compose_bootstrap.ts";
 * import { createContext } from "./context.ts";
 * registerBootstrap(new Command("compose"), createContext);
 * ```
 */
export function registerBootstrap(
  compose: Command,
  contextFor: (globals: GlobalOptions) => CommandContext,
): void {
  compose
    .command("bootstrap")
    .description("Create a base image commit from the distribution's archive with mmdebstrap (needs root)")
    .argument("<ref>", "base image reference, e.g. debian:12, debian:bookworm, ubuntu:24.04, debian/12/aarch64")
    .option("--arch <arch>", "architecture (default: the reference's, else the host's)")
    .option("--variant <variant>", "mmdebstrap variant", "minbase")
    .option("--packages <names...>", "extra packages to include (several values; repeatable)")
    .option("--mirror <url>", "mirror URL (or a full 'deb …' line) instead of mmdebstrap's default mirrors")
    .option("--suite <codename>", "archive suite, for a release whose codename apt-ostree does not know")
    .option(
      "--gpg-sign <keyid>",
      "sign the commit with this GPG key, as ostree commit --gpg-sign (repeatable; the key must be usable without a prompt)",
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option("--gpg-homedir <dir>", "GnuPG home holding the key (default: $GNUPGHOME, else ~/.gnupg)")
    .addHelpText(
      "after",
      `
The tree is committed to the branch <distribution>/<version>/<arch> (debian:bookworm and
debian:12 are both debian/12/<arch>) in deployment layout: configuration in /usr/etc, no device
nodes, no machine-id, logs, apt lists or caches. A repository path that does not exist is
created (mode bare-user).

Examples:
  sudo apt-ostree compose bootstrap debian:12
  sudo apt-ostree compose bootstrap debian:bookworm --packages ca-certificates curl
  sudo apt-ostree --repo ./repo compose bootstrap debian:12 --mirror http://deb.debian.org/debian

Environment:
  SOURCE_DATE_EPOCH   commit time and version date (mmdebstrap honours it too)`,
    )
    .action(async (ref: string, opts: BootstrapCliOptions, command: Command) => {
      requireRoot("compose bootstrap");
      const [{ bootstrapBase }, { defaultRepoPath }] = await Promise.all([
        import("../compose/bootstrap.ts"),
        import("../ostree/repo.ts"),
      ]);
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const reporter = createReporter(globals);
      const result = await withInterruptSignal((signal) =>
        bootstrapBase({
          repo: defaultRepoPath(globals.repo),
          ref,
          arch: opts.arch,
          variant: opts.variant,
          packages: splitList(opts.packages),
          mirror: opts.mirror,
          suite: opts.suite,
          ...commitSignOptionsFrom(opts as unknown as Record<string, unknown>),
          signal,
          onStep: (step) => reporter.step(step),
          onLine: reporter.onLine,
        })
      );
      ctx.result(result, () => humanLines(result));
    });
}
