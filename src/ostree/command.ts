/**
 * Runs the `ostree` program through `Deno.Command` and turns its failures
 * into {@linkcode AptOstreeError}s that say what to do.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import { commandDyingWithUs, onPath } from "../util/child.ts";

/** Options for {@linkcode runOstree}. */
export interface RunOstreeOptions {
  /** Aborts the child process (it is killed) when signalled. */
  signal?: AbortSignal;
}

/** The captured result of an `ostree` run. */
export interface OstreeOutput {
  /** Exit code. */
  code: number;
  /** Raw standard output. */
  stdout: Uint8Array;
  /** Standard error, decoded. */
  stderr: string;
}

/**
 * The error raised when the `ostree` program cannot be started.
 *
 * @example
 * ```ts
 * import { ostreeNotInstalled } from "./command.ts";
 * const error = ostreeNotInstalled();
 * error.solution; // "Install it: apt-get install ostree ..."
 * ```
 */
export function ostreeNotInstalled(cause?: unknown): AptOstreeError {
  return new AptOstreeError("The ostree program is not installed (or not on PATH)", {
    solution: "Install it: apt-get install ostree (Debian/Ubuntu), then run the command again",
    cause,
  });
}

/**
 * Spawns `ostree ARGS…` with piped stdout and stderr.
 *
 * @example
 * ```ts
 * import { spawnOstree } from "./command.ts";
 * const child = spawnOstree(["--version"]);
 * await child.status;
 * ```
 */
export function spawnOstree(args: string[], options: RunOstreeOptions = {}): Deno.ChildProcess {
  if (!onPath("ostree")) throw ostreeNotInstalled();
  try {
    // Killed with us: an ostree commit must never move a branch after the tool has failed.
    return commandDyingWithUs("ostree", {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: options.signal,
      env: { LC_ALL: "C.UTF-8" },
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw ostreeNotInstalled(error);
    throw error;
  }
}

/**
 * Runs `ostree ARGS…` to completion and returns its output, whatever the
 * exit code.
 *
 * @example
 * ```ts
 * import { runOstree } from "./command.ts";
 * const { code, stdout } = await runOstree(["rev-parse", "--repo=repo", "main"]);
 * ```
 */
export async function runOstree(args: string[], options: RunOstreeOptions = {}): Promise<OstreeOutput> {
  const child = spawnOstree(args, options);
  const { code, stdout, stderr } = await child.output();
  return { code, stdout, stderr: new TextDecoder().decode(stderr).trim() };
}

/**
 * Runs `ostree ARGS…` and returns its standard output as text; a non-zero
 * exit becomes an {@linkcode AptOstreeError} carrying ostree's own message.
 *
 * @example
 * ```ts
 * import { ostreeText } from "./command.ts";
 * const refs = await ostreeText(["refs", "--repo=repo"]);
 * ```
 */
export async function ostreeText(args: string[], options: RunOstreeOptions = {}): Promise<string> {
  const out = await runOstree(args, options);
  if (out.code !== 0) {
    throw new AptOstreeError(`ostree ${args[0]} failed: ${out.stderr || `exit code ${out.code}`}`);
  }
  return new TextDecoder().decode(out.stdout);
}
