/**
 * The command tree: every command, its arguments, options and help, as a
 * commander program. Defining it loads no library code (each command loads
 * what it runs when its action runs), so that `--help` starts fast;
 * `scripts/gen_docs.ts` writes the command reference (docs/commands/) from
 * it.
 *
 * @module
 */

import { Command, Help, type Option } from "commander";
import { versionLine } from "../version.ts";
import { registerBootstrap } from "./compose_bootstrap.ts";
import { registerBuildImage } from "./compose_build_image.ts";
import { registerCreate } from "./compose_create.ts";
import { registerList } from "./compose_list.ts";
import { createContext } from "./context.ts";
import { registerImageCopy } from "./image_copy.ts";
import { registerImageInspect } from "./image_inspect.ts";
import { registerImagePull } from "./image_pull.ts";
import { registerImagePush } from "./image_push.ts";
import { registerGenerateKey, registerImageSign } from "./image_sign.ts";
import { registerImageVerify } from "./image_verify.ts";
import { registerComposeLint, registerImageLint } from "./lint.ts";
import { registerLogin } from "./login.ts";
import { registerComposeSbom, registerImageSbom, registerImageScan } from "./sbom.ts";

export { CommanderError } from "commander";

/**
 * Commander's option description, without the `(default: [])` it shows for
 * repeatable options: an empty list is not a default worth telling.
 */
function optionDescription(this: Help, option: Option): string {
  if (Array.isArray(option.defaultValue) && option.defaultValue.length === 0) {
    const withoutDefault = Object.create(option) as Option;
    withoutDefault.defaultValue = undefined;
    return Help.prototype.optionDescription.call(this, withoutDefault);
  }
  return Help.prototype.optionDescription.call(this, option);
}

/**
 * Builds the commander program with every command, without running it.
 *
 * @example
 * ```ts
 * import { buildProgram } from "./program.ts";
 * const program = buildProgram();
 * program.commands.map((c) => c.name()); // ["compose", "image", "login", "logout"]
 * ```
 */
export function buildProgram(): Command {
  const program = new Command("apt-ostree")
    .description("Compose Debian/Ubuntu OSTree commits and turn them into OCI container images")
    .version(versionLine(), "--version", "print the version and the git commit")
    .option("--repo <path>", "OSTree repository (default: $APT_OSTREE_REPO, else /var/lib/apt-ostree/repo)")
    .option("--json", "print the result as one JSON object on stdout")
    .option("-q, --quiet", "no progress output")
    .option("--verbose", "more detail on errors")
    .showHelpAfterError("Solution: run the command with --help for its usage")
    .exitOverride()
    .configureHelp({ optionDescription, showGlobalOptions: true })
    .configureOutput({
      outputError: (text, write) => write(text.replace(/^error: /, "Error: ")),
    });

  const compose = program
    .command("compose")
    .description("Build base images, deployments and container images")
    .exitOverride();
  registerBuildImage(compose, createContext);
  registerBootstrap(compose, createContext);
  registerCreate(compose, createContext);
  registerList(compose, createContext);
  registerComposeLint(compose, createContext);
  registerComposeSbom(compose, createContext);

  const image = program
    .command("image")
    .description("Copy, push, pull, inspect, sign and verify images (registries, layouts, archives)")
    .exitOverride();
  registerImageCopy(image, createContext);
  registerImagePush(image, createContext);
  registerImagePull(image, createContext);
  registerImageInspect(image, createContext);
  registerImageVerify(image, createContext);
  registerImageSign(image, createContext);
  registerGenerateKey(image, createContext);
  registerImageLint(image, createContext);
  registerImageSbom(image, createContext);
  registerImageScan(image, createContext);
  registerLogin(program, createContext);
  return program;
}
