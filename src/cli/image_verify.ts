/**
 * `apt-ostree image verify oci:PATH`: the CLI shell over
 * {@linkcode verifyLayout}. Exits 1 when anything is wrong.
 *
 * @module
 */

import type { Command } from "commander";
import { AptOstreeError } from "../errors.ts";
import type { ImageVerifyResult } from "../image/verify.ts";
import type { VerifyResult } from "../layout/verify.ts";
import { isImageLocation, parseImageLocation } from "../reference/transport.ts";
import type { CommandContext, GlobalOptions } from "./context.ts";
import { formatBytes } from "./progress.ts";
import { addRegistryOptions, addRetryOptions, registryOptionsFrom } from "./registry_options.ts";
import { withInterruptSignal } from "./signals.ts";

function humanLines(result: VerifyResult | ImageVerifyResult): string[] {
  const name = "layout" in result ? result.layout : result.image;
  const lines = [
    `${result.problems.length === 0 ? "OK" : "DAMAGED"}: ${name}`,
    `  ${result.blobs} blobs (${formatBytes(result.bytes)}) re-hashed, ${result.manifests} manifests checked`,
  ];
  for (const p of result.problems) {
    lines.push(`  ${p.kind}: ${p.digest ? `${p.digest} ` : ""}${p.digest === p.path ? "" : `${p.path}: `}${p.message}`);
  }
  if ("unreferenced" in result && result.unreferenced.length > 0) {
    lines.push(`  ${result.unreferenced.length} blobs are not referenced by any image (harmless)`);
  }
  if ("stray" in result && result.stray.length > 0) {
    lines.push(
      `  stray entries (temp files of killed runs are removed by the next build into the layout): ${
        result.stray.join(", ")
      }`,
    );
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
  const verify = image
    .command("verify")
    .description("Re-hash every blob of an image (or of a whole OCI layout) and check every reference")
    .argument(
      "<image>",
      "oci:PATH (a whole layout, or a directory), oci:PATH:TAG, oci-archive:, docker-archive:, docker://",
    );
  addRegistryOptions(verify, "", "the registry");
  addRetryOptions(verify)
    .addHelpText(
      "after",
      `
Every blob is re-hashed and compared with its name; every descriptor, from the index down through indexes and
manifests to configs and layers, must name a blob that exists with the size it says. Each problem is printed with
its digest and path, and the exit code is 1. For a whole layout (oci:PATH without a tag, or a directory), every
image of it is checked and blobs no image references are counted, but are not errors.

Examples:
  apt-ostree image verify oci:./web.oci
  apt-ostree image verify ./web.oci --json
  apt-ostree image verify docker-archive:web.tar
  apt-ostree image verify docker://registry.example.com/team/web:1.0`,
    )
    .action(async (name: string, opts: Record<string, unknown>, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const ctx = contextFor(globals);
      const location = isImageLocation(name) ? parseImageLocation(name) : undefined;
      const reporter = ctx.reporter();
      const onProgress = reporter.onProgress;
      let result: VerifyResult | ImageVerifyResult;
      try {
        result = await withInterruptSignal(async (signal) => {
          const [{ verifyLayout }, { verifyImage }, { openImageSource }] = await Promise.all([
            import("../layout/verify.ts"),
            import("../image/verify.ts"),
            import("../image/open.ts"),
          ]);
          if (location === undefined || (location.transport === "oci" && location.tag === undefined)) {
            return await verifyLayout(location?.transport === "oci" ? location.path : name, { signal, onProgress });
          }
          const source = await openImageSource(location, registryOptionsFrom(opts, globals));
          try {
            return await verifyImage(source, { signal, onProgress });
          } finally {
            source.close();
          }
        });
      } finally {
        reporter.done();
      }
      ctx.result(result, () => humanLines(result));
      if (result.problems.length > 0) {
        const what = "layout" in result ? `layout ${result.layout}` : `image ${result.image}`;
        throw new AptOstreeError(
          `The ${what} is damaged: ${result.problems.length} problem${result.problems.length === 1 ? "" : "s"}`,
          { solution: "Rebuild or copy the image again; the problems above name each blob and path" },
        );
      }
    });
}
