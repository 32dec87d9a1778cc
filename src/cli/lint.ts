/**
 * `apt-ostree compose lint REF` and `apt-ostree image lint IMAGE`: the CLI
 * shells over {@linkcode lintCommit} and {@linkcode lintImage} (bootc's
 * `container lint` rules). Warnings go to stderr and the exit code is 0; a
 * fatal finding exits 1 naming the rule and the path; an unknown rule in
 * `--skip` exits 2.
 *
 * @module
 */

import type { Command } from "commander";
import type { LintFinding, LintRule } from "../bootc/lint.ts";
import type { CommitLintResult, ImageLintResult } from "../bootc/lint_source.ts";
import { UsageError } from "../errors.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import { addRegistryOptions, addRetryOptions, registryOptionsFrom } from "./registry_options.ts";
import { withInterruptSignal } from "./signals.ts";

interface LintCliOptions {
  skip: string[];
  list?: boolean;
  arch?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** A finding as stderr shows it: bootc's `Lint warning: RULE: message` and the paths. */
export function findingLines(finding: LintFinding): string[] {
  const label = finding.severity === "fatal" ? "Lint error" : "Lint warning";
  const [first, ...rest] = finding.message.split("\n");
  const lines = [`${label}: ${finding.rule}: ${first}`, ...rest.map((l) => `  ${l}`)];
  // Messages that list their items already (var-tmpfiles, sysusers) need no path list.
  if (rest.length === 0) {
    for (const p of finding.paths) lines.push(`  ${p}`);
    if (finding.morePaths > 0) lines.push(`  ...and ${finding.morePaths} more`);
  }
  return lines;
}

function ruleLines(rules: readonly LintRule[]): string[] {
  const width = Math.max(...rules.map((r) => r.name.length));
  return rules.map((r) => `${r.name.padEnd(width)}  ${r.severity.padEnd(7)}  ${r.description}`);
}

/** Prints the findings and the summary; throws the first fatal one. */
async function report(
  ctx: CommandContext,
  what: string,
  result: CommitLintResult | ImageLintResult,
  skipped: number,
): Promise<void> {
  const { LINT_RULES, LintError } = await import("../bootc/lint.ts");
  const fatal = result.findings.filter((f) => f.severity === "fatal").length;
  const warnings = result.findings.length - fatal;
  const passed = LINT_RULES.length - skipped - result.findings.length;
  if (!ctx.globals.json) {
    for (const finding of result.findings) for (const line of findingLines(finding)) console.error(line);
  }
  ctx.result({ ...result, passed, skipped, warnings, fatal }, () => [
    `${fatal > 0 ? "FAILED" : "OK"}: ${what}`,
    `  Checks passed: ${passed}, skipped: ${skipped}, warnings: ${warnings}, fatal: ${fatal}`,
  ]);
  if (fatal > 0) throw new LintError(result.findings);
}

function addLintOptions(command: Command): Command {
  return command
    .option("--skip <rule>", "do not run this rule (repeatable; see --list)", collect, [])
    .option("--list", "list the rules with their severity and what they check, and exit");
}

async function listRules(ctx: CommandContext): Promise<void> {
  const { LINT_RULES } = await import("../bootc/lint.ts");
  ctx.result(LINT_RULES, () => ruleLines(LINT_RULES));
}

function missingArgument(what: string): UsageError {
  return new UsageError(`Missing ${what}`, { solution: "Name it, or list the rules with --list" });
}

const RULES_HELP = `
Rules (bootc's names; fatal ones fail the command with exit code 1, warnings are printed on stderr):
  fatal:   var-run, etc-usretc, bootc-kargs, kernel, utf8, api-base-directories, baseimage-root
  warning: baseimage-composefs, buildah-injected, var-log, var-tmpfiles, sysusers, nonempty-boot,
           nonempty-run-tmp
A commit keeps its configuration in /usr/etc, an image in /etc: both are accepted (both at once is etc-usretc).`;

/**
 * Adds `lint` to the `compose` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerComposeLint } from "./lint.ts";
 * import { createContext } from "./context.ts";
 * registerComposeLint(new Command("compose"), createContext);
 * ```
 */
export function registerComposeLint(compose: Command, contextFor: (globals: GlobalOptions) => CommandContext): void {
  const lint = compose
    .command("lint")
    .description("Check a commit against bootc's container lint rules")
    .argument("[ref]", "branch, ref or commit checksum in the repository");
  addLintOptions(lint)
    .addHelpText(
      "after",
      `${RULES_HELP}

Examples:
  apt-ostree compose lint debian/12/x86_64
  apt-ostree compose lint web/prod --skip sysusers --json
  apt-ostree compose lint --list`,
    )
    .action(async (ref: string | undefined, opts: LintCliOptions, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      if (opts.list) return await listRules(ctx);
      if (ref === undefined) throw missingArgument("the ref to lint");
      const [{ lintCommit }, { defaultRepoPath }] = await Promise.all([
        import("../bootc/lint_source.ts"),
        import("../ostree/repo.ts"),
      ]);
      const result = await withInterruptSignal((signal) =>
        lintCommit(defaultRepoPath(globals.repo), ref, { skip: opts.skip, signal })
      );
      await report(ctx, `${ref} (commit ${result.commit.slice(0, 12)})`, result, new Set(opts.skip).size);
    });
}

/**
 * Adds `lint` to the `image` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerImageLint } from "./lint.ts";
 * import { createContext } from "./context.ts";
 * registerImageLint(new Command("image"), createContext);
 * ```
 */
export function registerImageLint(image: Command, contextFor: (globals: GlobalOptions) => CommandContext): void {
  const lint = image
    .command("lint")
    .description("Check an image against bootc's container lint rules")
    .argument("[image]", "oci:PATH[:TAG], oci-archive:PATH, docker-archive:PATH, docker://HOST/NAME[:TAG|@DIGEST]")
    .option("--arch <arch>", "architecture to pick from a multi-platform image (default: the host's)");
  addLintOptions(lint);
  addRegistryOptions(lint, "", "the registry");
  addRetryOptions(lint)
    .addHelpText(
      "after",
      `${RULES_HELP}
The layers are read in order (whiteouts applied), each checked against its digest; only metadata and a few small
configuration files are kept in memory.

Examples:
  apt-ostree image lint oci:./web.oci:1.0
  apt-ostree image lint docker-archive:web.tar --skip nonempty-boot
  apt-ostree image lint docker://registry.example.com/team/web:1.0 --json`,
    )
    .action(async (name: string | undefined, opts: LintCliOptions & Record<string, unknown>, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      if (opts.list) return await listRules(ctx);
      if (name === undefined) throw missingArgument("the image to lint");
      const { lintImage } = await import("../bootc/lint_source.ts");
      const result = await withInterruptSignal((signal) =>
        lintImage(name, { ...registryOptionsFrom(opts, globals), skip: opts.skip, arch: opts.arch, signal })
      );
      await report(ctx, `${result.image} (${result.digest})`, result, new Set(opts.skip).size);
    });
}
