/**
 * `apt-ostree compose list`: the CLI shell over {@linkcode listCompose}.
 *
 * @module
 */

import type { Command } from "commander";
import type { ComposeListing } from "../compose/list.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import { withInterruptSignal } from "./signals.ts";

interface ListCliOptions {
  remote?: string;
}

/**
 * Formats rows as left-aligned columns separated by two spaces.
 *
 * @example
 * ```ts
 * import { formatTable } from "./compose_list.ts";
 * formatTable([["REF", "COMMIT"], ["debian/12/x86_64", "3f9a1c2b7d4e"]]);
 * // ["REF               COMMIT", "debian/12/x86_64  3f9a1c2b7d4e"]
 * ```
 */
export function formatTable(rows: readonly string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, cell.length));
  return rows.map((row) => row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  "));
}

function date(iso: string): string {
  return iso.replace("T", " ").replace("Z", " UTC");
}

function humanLines(listing: ComposeListing): string[] {
  const lines: string[] = [];
  if (listing.bases.length === 0 && listing.deployments.length === 0) {
    lines.push(
      `No base images or deployments in ${listing.repo}.`,
      "Bootstrap a base from the Debian archive (as root):",
      `  apt-ostree --repo ${listing.repo} compose bootstrap debian:12`,
      "or pull one from an OSTree remote:",
      `  ostree remote add --repo=${listing.repo} origin URL`,
      `  apt-ostree --repo ${listing.repo} compose list --remote origin`,
      `  ostree pull --repo=${listing.repo} origin debian/12/x86_64   (or: compose create --remote origin …)`,
    );
  } else {
    lines.push("Base images:");
    if (listing.bases.length === 0) {
      lines.push("  (none: bootstrap one with apt-ostree compose bootstrap debian:12)");
    } else {
      const rows = [["REF", "COMMIT", "DATE", "VERSION", "ARCH"]];
      for (const b of listing.bases) {
        rows.push([b.ref, b.commit.slice(0, 12), date(b.date), b.version ?? "-", b.arch ?? "-"]);
      }
      lines.push(...formatTable(rows).map((l) => `  ${l}`));
    }
    lines.push("", "Deployments:");
    if (listing.deployments.length === 0) {
      lines.push("  (none: create one with apt-ostree compose create --base REF --packages PACKAGE…)");
    } else {
      const rows = [["BRANCH", "COMMIT", "DATE", "VERSION", "ARCH", "BASE"]];
      for (const d of listing.deployments) {
        rows.push([d.ref, d.commit.slice(0, 12), date(d.date), d.version ?? "-", d.arch ?? "-", d.base ?? "-"]);
      }
      lines.push(...formatTable(rows).map((l) => `  ${l}`));
    }
  }
  if (listing.remote) {
    lines.push("", `Remote ${listing.remote.name} offers:`);
    if (listing.remote.branches.length === 0) {
      lines.push("  (no branches)");
    } else {
      const rows = [["BRANCH", "KIND", "CACHED"]];
      for (const b of listing.remote.branches) {
        rows.push([b.branch, b.base ? "base" : "deployment", b.cached ? "yes" : "no"]);
      }
      lines.push(...formatTable(rows).map((l) => `  ${l}`));
    }
  }
  return lines;
}

/**
 * Adds `list` to the `compose` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerList } from "./compose_list.ts";
 * import { createContext } from "./context.ts";
 * registerList(new Command("compose"), createContext);
 * ```
 */
export function registerList(
  compose: Command,
  contextFor: (globals: GlobalOptions) => CommandContext,
): void {
  compose
    .command("list")
    .description("List the base images and deployments in the repository")
    .option("--remote <name>", "also list the branches a remote offers")
    .addHelpText(
      "after",
      `
Base images are the branches <distribution>/<version>/<arch> (also when cached from a remote as
remote:branch); every other branch is a deployment.

Examples:
  apt-ostree compose list
  apt-ostree compose list --remote origin --json`,
    )
    .action(async (opts: ListCliOptions, command: Command) => {
      const [{ listCompose }, { defaultRepoPath }] = await Promise.all([
        import("../compose/list.ts"),
        import("../ostree/repo.ts"),
      ]);
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const listing = await withInterruptSignal((signal) =>
        listCompose(defaultRepoPath(globals.repo), { remote: opts.remote, signal })
      );
      ctx.result(listing, () => humanLines(listing));
    });
}
