/**
 * Running the programs a compose drives (mmdebstrap, bwrap with apt and
 * dpkg inside): their output is read line by line, shown live when the
 * user wants it, and kept so that a failure can quote the program's own
 * error lines.
 *
 * @module
 */

import { commandDyingWithUs, onPath } from "../util/child.ts";
import { AptOstreeError } from "../errors.ts";

/** Options for {@linkcode runLogged}. */
export interface RunLoggedOptions {
  /** Kills the child when aborted (with `killSignal`); the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * The signal sent on abort (default SIGTERM). `unshare --fork` ignores
   * SIGTERM and SIGINT while it waits, so it needs SIGKILL (its
   * `--kill-child` then kills everything in its namespaces).
   */
  killSignal?: Deno.Signal;
  /** Called with every output line (stdout and stderr interleaved as they arrive). */
  onLine?: (line: string) => void;
  /** Environment for the child (default: inherited). */
  env?: Record<string, string>;
  /** Start with an empty environment plus `env`. */
  clearEnv?: boolean;
  /** How to install the program, for the error when it is missing. */
  installHint?: string;
}

/** The result of {@linkcode runLogged}. */
export interface LoggedOutput {
  /** Exit code. */
  code: number;
  /** The signal that killed the child, if any. */
  signal: Deno.Signal | null;
  /** Every output line, in order. */
  lines: string[];
}

async function pumpLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    // apt and dpkg redraw progress with carriage returns: treat them as line ends.
    const parts = pending.split(/\r\n|\n|\r/);
    pending = parts.pop() ?? "";
    for (const part of parts) onLine(part);
  }
  pending += decoder.decode();
  if (pending.length > 0) onLine(pending);
}

/**
 * Runs `program ARGS…` to completion with stdin closed, collecting its
 * output lines; never throws for a non-zero exit (the caller decides).
 * A program that is not installed is an {@linkcode AptOstreeError} that
 * says how to install it.
 *
 * @example
 * ```ts
 * import { runLogged } from "./process.ts";
 * const out = await runLogged("mmdebstrap", ["--version"], { installHint: "apt-get install mmdebstrap" });
 * console.log(out.code, out.lines[0]);
 * ```
 */
export async function runLogged(
  program: string,
  args: string[],
  options: RunLoggedOptions = {},
): Promise<LoggedOutput> {
  options.signal?.throwIfAborted();
  let child: Deno.ChildProcess;
  try {
    if (!options.clearEnv && !onPath(program)) throw new Deno.errors.NotFound(program);
    child = commandDyingWithUs(program, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: options.env,
      clearEnv: options.clearEnv,
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new AptOstreeError(`The ${program} program is not installed (or not on PATH)`, {
        solution: `Install it: ${options.installHint ?? `apt-get install ${program}`}`,
        cause: error,
      });
    }
    throw error;
  }
  const onAbort = () => {
    try {
      child.kill(options.killSignal ?? "SIGTERM");
    } catch {
      // already exited
    }
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const lines: string[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    options.onLine?.(line);
  };
  let status: Deno.CommandStatus;
  try {
    [status] = await Promise.all([
      child.status,
      pumpLines(child.stdout, onLine),
      pumpLines(child.stderr, onLine),
    ]);
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  if (options.signal?.aborted) throw options.signal.reason;
  return { code: status.code, signal: status.signal, lines };
}

/**
 * Picks the lines of a failed apt, dpkg or mmdebstrap run that say what went
 * wrong (`E:`, `W:`, `dpkg: error`, …), or its last lines when none match.
 *
 * @example
 * ```ts
 * import { errorLines } from "./process.ts";
 * errorLines(["Reading package lists...", "E: Unable to locate package nope"]); // ["E: Unable to locate package nope"]
 * ```
 */
export function errorLines(lines: readonly string[], max = 12): string[] {
  const interesting = lines
    .filter((line) =>
      /^(E|W|Err):/.test(line) ||
      /^(dpkg|mmdebstrap|bwrap|apt-get)( \(.*\))?: /.test(line) ||
      /error processing|Errors were encountered|Sub-process .* returned an error|returned error exit status/.test(line)
    )
    .filter((line) => !/^W: (Download is performed unsandboxed|--force-yes is deprecated)/.test(line));
  const chosen = interesting.length > 0 ? interesting : lines.filter((l) => l.trim().length > 0);
  const unique = [...new Set(chosen)];
  return unique.length > max ? unique.slice(unique.length - max) : unique;
}

/**
 * Throws an {@linkcode AptOstreeError} that says how to install `program`
 * unless it is on `PATH`.
 *
 * @example
 * ```ts
 * import { requireProgram } from "./process.ts";
 * await requireProgram("bwrap", "apt-get install bubblewrap");
 * ```
 */
export async function requireProgram(program: string, installHint: string): Promise<void> {
  const path = Deno.env.get("PATH") ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const dir of path.split(":")) {
    if (dir === "") continue;
    try {
      const info = await Deno.stat(`${dir}/${program}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return;
    } catch {
      // not in this directory
    }
  }
  throw new AptOstreeError(`The ${program} program is not installed (or not on PATH)`, {
    solution: `Install it: ${installHint}`,
  });
}
