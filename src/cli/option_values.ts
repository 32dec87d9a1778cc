/**
 * The values that the CLI's help shows for enumerated and defaulted
 * options, kept here so that defining the commands loads no library code
 * (`build_image.ts` and the compressors are loaded only when a build runs).
 * `option_values_test.ts` checks that they equal the library's constants.
 *
 * @module
 */

import type { Option } from "commander";

/** `--format` values: `IMAGE_FORMATS` of `src/builder/build_image.ts`. */
export const FORMAT_CHOICES: readonly string[] = ["oci", "oci-archive", "docker"];

/** `--compression` values: `COMPRESSIONS` of `src/compress/compression.ts`. */
export const COMPRESSION_CHOICES: readonly string[] = ["gzip", "zstd"];

/** The default of `--max-layers`: `DEFAULT_MAX_LAYERS` of `src/builder/build_image.ts`. */
export const DEFAULT_MAX_LAYERS_SHOWN = 64;

/**
 * Lists `choices` in the option's help, as commander's `.choices()` does,
 * but leaves checking the value to the code that uses it: its message
 * (`Error: Unknown format: zip` / `Solution: …`, exit 2) is the one the CLI
 * has always given, and the library gives the same.
 *
 * @example
 * ```ts
 * import { Option } from "commander";
 * import { FORMAT_CHOICES, shownChoices } from "./option_values.ts";
 * const format = shownChoices(new Option("--format <format>", "output format"), FORMAT_CHOICES).default("oci");
 * ```
 */
export function shownChoices(option: Option, choices: readonly string[]): Option {
  return option.choices(choices).argParser((value: string) => value);
}
