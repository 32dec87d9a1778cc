/**
 * The command-line interface: a thin shell over the library. Parses the
 * command line with commander, runs the command, prints errors as
 * `Error: …` / `Solution: …` and returns the exit code (0 ok, 1 failure,
 * 2 usage error, 130/143 interrupted).
 *
 * Start-up is kept short: this module imports almost nothing. The command
 * tree (commander and the command modules, `program.ts`) is loaded when a
 * command line needs parsing, and each command loads the library code it
 * runs only when its action runs; `--version` alone needs neither.
 *
 * @module
 */

import { AptOstreeError, describeError } from "../errors.ts";
import { versionLine } from "../version.ts";
import { redactSecrets } from "../util/redact.ts";

function printError(error: unknown, verbose: boolean): number {
  // Credentials never reach the terminal, whatever an error carries.
  const print = (text: string) => console.error(redactSecrets(text));
  if (error instanceof AptOstreeError) {
    print(`Error: ${error.message}`);
    if (error.solution) print(`Solution: ${error.solution}`);
    if (verbose && error.cause) print(`Caused by: ${Deno.inspect(error.cause)}`);
    return error.exitCode;
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
  // The one command line that needs no parser: the same line commander prints.
  if (args.length === 1 && args[0] === "--version") {
    console.log(versionLine());
    return 0;
  }
  const verbose = args.includes("--verbose");
  const { buildProgram, CommanderError } = await import("./program.ts");
  try {
    await buildProgram().parseAsync(args, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with exit code 0; every parse error is a usage error.
      if (error.exitCode === 0 || error.code === "commander.helpDisplayed" || error.code === "commander.version") {
        return 0;
      }
      return 2;
    }
    return printError(error, verbose);
  }
}
