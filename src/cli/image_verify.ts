/**
 * `apt-ostree image verify oci:PATH`: the CLI shell over
 * {@linkcode verifyLayout}. Exits 1 when anything is wrong.
 *
 * @module
 */

import type { Command } from "commander";
import { AptOstreeError, UsageError } from "../errors.ts";
import type { VerifyResult } from "../layout/verify.ts";
import { parseImageLocation } from "../reference/transport.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import { formatBytes } from "./progress.ts";
import { createStatusLine } from "./registry_options.ts";
import { withInterruptSignal } from "./signals.ts";

function humanLines(result: VerifyResult): string[] {
  const lines = [
    `${result.problems.length === 0 ? "OK" : "DAMAGED"}: ${result.layout}`,
    `  ${result.blobs} blobs (${formatBytes(result.bytes)}) re-hashed, ${result.manifests} manifests checked`,
  ];
  for (const p of result.problems) {
    lines.push(`  ${p.kind}: ${p.digest ? `${p.digest} ` : ""}${p.path}: ${p.message}`);
  }
  if (result.unreferenced.length > 0) {
    lines.push(`  ${result.unreferenced.length} blobs are not referenced by any image (harmless)`);
  }
  return lines;
}

/**
 * Adds `verify` to the `image` command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { registerImageVerify } from "./image_verify.ts";
 * import { createContext } from "./context.ts";
 * registerImageVerify(new Command("image"), createContext);
 * ```
 */
export function registerImageVerify(image: Command, contextFor: (globals: GlobalOptions) => CommandContext): void {
  image
    .command("verify")
    .description("Re-hash every blob of an OCI layout and check every reference")
    .argument("<layout>", "oci:PATH (or a layout directory)")
    .addHelpText(
      "after",
      `
Every blob is re-hashed and compared with its name; every descriptor, from index.json down through indexes and
manifests to configs and layers, must name a blob that exists with the size it says. Each problem is printed with
its digest and path, and the exit code is 1. Blobs no image references are counted but are not errors.

Examples:
  apt-ostree image verify oci:./web.oci
  apt-ostree image verify ./web.oci --json`,
    )
    .action(async (layout: string, _opts: unknown, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      if (/^[a-z-]+:/.test(layout) && !layout.startsWith("oci:")) {
        throw new UsageError(`image verify checks OCI layouts: ${layout}`, {
          solution: "Name a layout as oci:PATH (for an archive, unpack it or copy it to a layout first)",
        });
      }
      const location = layout.startsWith("oci:") ? parseImageLocation(layout) : undefined;
      const dir = location?.transport === "oci" ? location.path : layout;
      const { verifyLayout } = await import("../layout/verify.ts");
      const status = createStatusLine(globals);
      let result: VerifyResult;
      try {
        result = await withInterruptSignal((signal) =>
          verifyLayout(dir, {
            signal,
            onProgress: (done, total) => status.update(`Hashing blobs: ${formatBytes(done)}/${formatBytes(total)}`),
          })
        );
      } finally {
        status.done();
      }
      ctx.result(result, () => humanLines(result));
      if (result.problems.length > 0) {
        throw new AptOstreeError(
          `The layout ${result.layout} is damaged: ${result.problems.length} problem${
            result.problems.length === 1 ? "" : "s"
          }`,
          { solution: "Rebuild or copy the image again; the problems above name each blob and path" },
        );
      }
    });
}
