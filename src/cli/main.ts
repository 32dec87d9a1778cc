/**
 * The command-line interface: a thin shell over the library. Parses the
 * command line with commander, runs the command, prints errors as
 * `Error: …` / `Solution: …` and returns the exit code (0 ok, 1 failure,
 * 2 usage error, 130/143 interrupted).
 *
 * @module
 */

import { Command, CommanderError } from "commander";
import { AptOstreeError, describeError, InterruptedError, renderSolution, UsageError } from "../errors.ts";
import { buildInfo } from "../version.ts";
import { registerBootstrap } from "./compose_bootstrap.ts";
import { registerBuildImage } from "./compose_build_image.ts";
import { registerCreate } from "./compose_create.ts";
import { registerList } from "./compose_list.ts";
import { createContext } from "./context.ts";
import { registerImageCopy } from "./image_copy.ts";
import { registerImageInspect } from "./image_inspect.ts";
import { registerImagePull } from "./image_pull.ts";
import { registerImagePush } from "./image_push.ts";
import { registerImageVerify } from "./image_verify.ts";
import { registerLogin } from "./login.ts";
import { redactSecrets } from "../util/redact.ts";
import { installInterruptHandlers, removeInterruptHandlers } from "./signals.ts";

/** Builds the commander program with every command. */
function createProgram(): Command {
  const info = buildInfo();
  const program = new Command("apt-ostree")
    .description("Compose Debian/Ubuntu OSTree commits and turn them into OCI container images")
    .version(`apt-ostree ${info.version} (commit ${info.commit})`, "--version", "print the version and the git commit")
    .option("--repo <path>", "OSTree repository (default: $APT_OSTREE_REPO, else /var/lib/apt-ostree/repo)")
    .option("--json", "print the result as one JSON object on stdout")
    .option("-q, --quiet", "no progress output")
    .option("--verbose", "more detail on errors")
    .showHelpAfterError("Solution: run the command with --help for its usage")
    .exitOverride()
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

  const image = program
    .command("image")
    .description("Copy, push, pull, inspect and verify images (registries, layouts, archives)")
    .exitOverride();
  registerImageCopy(image, createContext);
  registerImagePush(image, createContext);
  registerImagePull(image, createContext);
  registerImageInspect(image, createContext);
  registerImageVerify(image, createContext);
  registerLogin(program, createContext);
  return program;
}

/**
 * The flag of the command that ran for a library option name (`output` →
 * `--output`), looked up on the command and its parents; options the
 * command does not have keep the library's name.
 */
function flagNamer(command: Command | undefined): (option: string) => string {
  return (option) => {
    for (let c: Command | null = command ?? null; c; c = c.parent) {
      const found = c.options.find((o) => o.attributeName() === option && o.long);
      if (found?.long) return found.long;
    }
    return `\`${option}\``;
  };
}

/** The exit code for an error: 2 for usage errors, 130/143 when interrupted, else 1. */
function exitCodeOf(error: AptOstreeError): number {
  if (error instanceof InterruptedError) return error.signal === "SIGTERM" ? 143 : 130;
  if (error instanceof UsageError) return 2;
  return 1;
}

function printError(error: unknown, verbose: boolean, command: Command | undefined): number {
  // Credentials never reach the terminal, whatever an error carries.
  const print = (text: string) => console.error(redactSecrets(text));
  if (error instanceof AptOstreeError) {
    print(`Error: ${error.message}`);
    if (error.solutionTemplate) print(`Solution: ${renderSolution(error.solutionTemplate, flagNamer(command))}`);
    if (verbose && error.cause) print(`Caused by: ${Deno.inspect(error.cause)}`);
    return exitCodeOf(error);
  }
  print(`Error: ${describeError(error)}`);
  print("Solution: this looks like a bug in apt-ostree; run again with --verbose and report the output");
  if (verbose) print(Deno.inspect(error));
  return 1;
}

/**
 * Runs the CLI with `args` (without the program name) and returns the exit
 * code.
 *
 * @example
 * ```ts
 * import { runCli } from "./main.ts";
 * const code = await runCli(["--version"]);
 * ```
 */
export async function runCli(args: string[]): Promise<number> {
  // First, before anything is read or written: a signal at any moment is handled.
  installInterruptHandlers();
  try {
    return await run(args);
  } finally {
    removeInterruptHandlers();
  }
}

async function run(args: string[]): Promise<number> {
  const program = createProgram();
  const verbose = args.includes("--verbose");
  let running: Command | undefined;
  program.hook("preAction", (_program, action) => {
    running = action;
  });
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with exit code 0; every parse error is a usage error.
      if (error.exitCode === 0 || error.code === "commander.helpDisplayed" || error.code === "commander.version") {
        return 0;
      }
      return 2;
    }
    return printError(error, verbose, running);
  }
}
