/**
 * The command-line interface: a thin shell over the library. Parses the
 * command line with commander, runs the command, prints errors as
 * `Error: …` / `Solution: …` (naming the library's options as the flags of
 * the command that ran) and returns the exit code (0 ok, 1 failure, 2 usage
 * error, 130/143 interrupted).
 *
 * Start-up is kept short: this module imports almost nothing. The command
 * tree (commander and the command modules, `program.ts`) is loaded when a
 * command line needs parsing, and each command loads the library code it
 * runs only when its action runs; `--version` alone needs neither. The
 * SIGINT/SIGTERM handlers are installed before anything else.
 *
 * @module
 */

import type { Command } from "commander";
import { AptOstreeError, describeError, InterruptedError, renderSolution, UsageError } from "../errors.ts";
import { versionLine } from "../version.ts";
import { redactSecrets } from "../util/redact.ts";
import { installInterruptHandlers, removeInterruptHandlers } from "./signals.ts";

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
  // The one command line that needs no parser: the same line commander prints.
  if (args.length === 1 && args[0] === "--version") {
    console.log(versionLine());
    return 0;
  }
  const verbose = args.includes("--verbose");
  const { buildProgram, CommanderError } = await import("./program.ts");
  const program = buildProgram();
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
