/**
 * `apt-ostree compose create --base REF --packages P… [--branch BRANCH]`:
 * the CLI shell over {@linkcode composeCreate}, with inputs from the
 * command line and/or a compose file (`--file`).
 *
 * @module
 */

import type { Command } from "commander";
import type { ComposeFile } from "../compose/compose_file.ts";
import type { ComposeCreateResult } from "../compose/create.ts";
import { requireRoot } from "../compose/root.ts";
import { UsageError } from "../errors.ts";
import { splitList } from "./compose_output.ts";
import { createReporter } from "./progress.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import { addRegistryOptions, addRetryOptions, registryOptionsFrom } from "./registry_options.ts";
import { withInterruptSignal } from "./signals.ts";
import { addCommitSignOptions, commitSignOptionsFrom } from "./commit_sign_options.ts";

interface CreateCliOptions {
  base?: string;
  packages?: string[];
  branch?: string;
  output?: string;
  file?: string;
  arch?: string;
  remote?: string;
  pull?: boolean;
  installRecommends?: boolean;
  dryRun?: boolean;
  bootable?: boolean;
}

function packageLines(packages: ComposeCreateResult["installed"]): string[] {
  return packages.map((p) => `    ${p.name} ${p.version}${p.arch ? ` (${p.arch})` : ""}`);
}

function humanLines(result: ComposeCreateResult): string[] {
  const base = `${result.base.ref} (${result.base.localRef}, commit ${result.base.commit.slice(0, 12)}, ${
    result.base.source === "local" ? "local" : result.base.source === "cache" ? "cached" : "pulled"
  }${result.base.remote ? ` from ${result.base.remote}` : ""}${
    result.base.platform ? `, platform ${result.base.platform}` : ""
  })`;
  const derived = result.branchDerived
    ? ` (name derived from the base and the packages; choose one with --branch)`
    : "";
  if (result.dryRun) {
    return [
      `Would create deployment ${result.branch}${derived}`,
      `  base:     ${base}`,
      `  apt would install ${result.installed.length} package(s):`,
      ...packageLines(result.installed),
      "Nothing was written (--dry-run).",
    ];
  }
  return [
    `Created deployment ${result.branch}${derived}`,
    `  commit:   ${result.commit}`,
    `  parent:   ${result.parent ?? "none"}`,
    `  version:  ${result.version}`,
    `  base:     ${base}`,
    ...(result.bootable ? [`  bootable: kernel ${(result.kernels ?? []).join(", ")}`] : []),
    `  installed ${result.installed.length} package(s):`,
    ...packageLines(result.added),
    ...[...result.upgraded, ...result.downgraded].map((p) =>
      `    ${p.name} ${p.oldVersion} -> ${p.newVersion}${p.arch ? ` (${p.arch})` : ""}`
    ),
    ...(result.removed.length > 0
      ? [`  removed ${result.removed.length} package(s):`, ...packageLines(result.removed)]
      : []),
    `Build an image with: apt-ostree compose build-image ${result.branch} IMAGE[:TAG]`,
  ];
}

/** `--branch`, or its older spelling `--output` (not both with different values). */
function branchOption(opts: { branch?: string; output?: string }): string | undefined {
  if (opts.branch !== undefined && opts.output !== undefined && opts.branch !== opts.output) {
    throw new UsageError("--branch and --output name the same thing; give one", {
      solution: "Use --branch BRANCH (--output is its older name)",
    });
  }
  return opts.branch ?? opts.output;
}

/**
 * Adds `create` to the `compose` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerCreate } from "./compose_create.ts";
 * import { createContext } from "./context.ts";
 * registerCreate(new Command("compose"), createContext);
 * ```
 */
export function registerCreate(
  compose: Command,
  contextFor: (globals: GlobalOptions) => CommandContext,
): void {
  const create = compose
    .command("create")
    .description("Create a deployment: a base image plus packages, installed by apt in a sandbox (needs root)")
    .option(
      "--base <ref>",
      "base image: a reference (debian:12, ubuntu/24.04/x86_64) or an image (docker://HOST/NAME:TAG, oci:PATH:TAG, …)",
    )
    .option("--packages <names...>", "packages to install (several values after one flag; repeatable)")
    .option("--branch <branch>", "branch to commit to (default: deploy/<distribution>/<version>/<arch>/<packages>)")
    .option("--output <branch>", "the same as --branch (its older name)")
    .option("-f, --file <path>", "compose file (YAML) with base, packages, output and image settings")
    .option("--arch <arch>", "architecture of the base (default: the reference's, else the host's)")
    .option("--remote <name>", "remote to pull the base from when it is not in the repository")
    .option("--pull", "refresh the base from the remote even when it is cached")
    .option("--install-recommends", "install recommended packages too (default: --no-install-recommends)")
    .option("--dry-run", "simulate the install with apt and report; write nothing to the repository")
    .option(
      "--bootable",
      "make the deployment bootable (kernel, systemd, ostree, dracut initramfs, OSTree layout); implied by a bootable base",
    );
  addCommitSignOptions(create);
  addRetryOptions(addRegistryOptions(create, "", "the base image's registry"));
  create
    .addHelpText(
      "after",
      `
Without --output, the branch is deploy/<distribution>/<version>/<arch>/<names>: the sorted
package names joined with "_" ("+" written as "plus"), "base" for no packages, and
"<n>-packages-<hash>" when the names are longer than 64 characters.

Examples:
  sudo apt-ostree compose create --base debian:12 --packages nginx curl --output web
  sudo apt-ostree compose create --base debian:12 --packages hello --dry-run
  sudo apt-ostree compose create --base debian:12 --bootable --packages hello
  sudo apt-ostree compose create --file compose.yaml
  sudo apt-ostree compose create --base debian:12 --remote origin --pull --packages vim
  sudo apt-ostree compose create --base docker://registry.example.com/debian:12 --packages nginx`,
    )
    .action(async (opts: CreateCliOptions, command: Command) => {
      requireRoot("compose create");
      const [{ composeCreate }, { defaultRepoPath }] = await Promise.all([
        import("../compose/create.ts"),
        import("../ostree/repo.ts"),
      ]);
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const reporter = createReporter(globals);
      const file: ComposeFile | undefined = opts.file !== undefined
        ? await (await import("../compose/compose_file.ts")).loadComposeFile(opts.file)
        : undefined;
      const base = opts.base ?? file?.base;
      if (base === undefined) {
        throw new UsageError("compose create needs a base image", {
          solution: "Give one with --base REF (e.g. --base debian:12), or base: in the compose file",
        });
      }
      const packages = [...(file?.packages ?? []), ...splitList(opts.packages)];
      const signing = commitSignOptionsFrom(opts as Record<string, unknown>);
      const result = await withInterruptSignal((signal) =>
        composeCreate({
          repo: defaultRepoPath(globals.repo),
          base,
          arch: opts.arch ?? file?.arch,
          packages,
          output: branchOption(opts) ?? file?.output,
          remote: opts.remote ?? file?.remote,
          pull: opts.pull,
          installRecommends: opts.installRecommends ?? file?.installRecommends,
          dryRun: opts.dryRun,
          bootable: opts.bootable ?? file?.bootable,
          signal,
          onStep: (step) => reporter.step(step),
          onLine: reporter.onLine,
          progress: reporter.logs,
          registry: registryOptionsFrom(opts as Record<string, unknown>, globals),
          ...signing,
        })
      );
      ctx.result(result, () => humanLines(result));
    });
}
