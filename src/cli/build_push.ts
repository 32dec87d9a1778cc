/**
 * `compose build-image … --push [--no-local]`: build the image locally and
 * copy it to the registry IMAGE names (skipping every blob the registry
 * already has), or with `--no-local` build it straight into the registry,
 * where the layers of the image behind the tag are reused: rebuilding an
 * unchanged commit compresses and uploads nothing.
 *
 * @module
 */

import type { Command } from "commander";
import type { BuildImageResult } from "../builder/build_image.ts";
import { UsageError } from "../errors.ts";
import type { CopyResult } from "../image/copy.ts";
import type { OpenSinkOptions } from "../image/open.ts";
import { parseImageReference } from "../reference/image_ref.ts";
import {
  type DockerLocation,
  formatImageLocation,
  type ImageLocation,
  parseImageLocation,
} from "../reference/transport.ts";
import type { GlobalOptions } from "./context.ts";
import { runPush } from "./image_push.ts";
import { addRegistryOptions, addRetryOptions, uploadOptionsFrom } from "./registry_options.ts";

/**
 * Adds `--push`, `--no-local` and the registry options to `build-image`.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addPushOptions } from "./build_push.ts";
 * addPushOptions(new Command("build-image"));
 * ```
 */
export function addPushOptions(command: Command): Command {
  command
    .optionsGroup("Push (with --push):")
    .option("--push", "push the image to the registry IMAGE names once built")
    .option("--no-local", "with --push: build straight into the registry, writing nothing locally")
    .option("--chunk-size <size>", "with --push: upload blobs larger than this in chunks (default 16MiB; 0: never)");
  addRegistryOptions(command, "", "the registry (with --push or --output docker://…)");
  return addRetryOptions(command);
}

/** A push planned with a build. */
export interface PlannedPush {
  /** The output to build into: the local output, or with `--no-local` the registry itself. */
  output: string | undefined;
  /** Whether the build writes locally first. */
  local: boolean;
  /** How to reach the registry. */
  registry: OpenSinkOptions;
  /** The destination. */
  destination: DockerLocation;
  /** Copies the built local output to the registry (undefined with `--no-local`: the build wrote there). */
  push?(result: { format: BuildImageResult["format"]; output: string; image: string }): Promise<CopyResult>;
}

/**
 * Plans the push of `build-image` (undefined without `--push`). With
 * `--no-local` the image is built straight into the registry, which reuses
 * the layers of the image the tag points at.
 *
 * @example
 * ```ts
 * import { planPush } from "./build_push.ts";
 * const plan = planPush("localhost:5000/app:1", { push: true, local: true, tlsVerify: "false" }, {});
 * ```
 */
export function planPush(
  image: string,
  opts: Record<string, unknown>,
  globals: GlobalOptions,
): PlannedPush | undefined {
  const local = opts.local !== false;
  if (!opts.push) {
    if (!local) throw new UsageError("--no-local needs --push", { solution: "Add --push, or drop --no-local" });
    return undefined;
  }
  const ref = parseImageReference(image);
  const destination = parseImageLocation(`docker://${ref.name}:${ref.tag ?? "latest"}`) as DockerLocation;
  if (!local && opts.output !== undefined) {
    throw new UsageError("--no-local writes no local output; --output names one", {
      solution: "Drop --output, or drop --no-local (or build straight to a registry with --output docker://…)",
    });
  }
  const registry: OpenSinkOptions = uploadOptionsFrom(opts, globals);
  if (!local) return { output: formatImageLocation(destination), local, registry, destination };
  return {
    output: opts.output as string | undefined,
    local,
    registry,
    destination,
    push(result) {
      // A location, not a string to parse again: the output path may hold ':'.
      const tag = result.image.replace(/^.*:/, "");
      const source: ImageLocation = result.format === "oci"
        ? { transport: "oci", path: result.output, tag }
        : result.format === "docker"
        ? { transport: "docker-archive", path: result.output, ref: undefined }
        : { transport: "oci-archive", path: result.output, tag: undefined };
      return runPush(source, destination, registry, globals);
    },
  };
}
