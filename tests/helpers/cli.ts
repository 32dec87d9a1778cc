/**
 * Runs the apt-ostree CLI from this checkout as a child process, with
 * exactly the permission flags the compiled binary gets
 * (`scripts/cli-flags`).
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout's root directory. */
export const ROOT_DIR: string = fileURLToPath(new URL("../../", import.meta.url));

/** The library entry point, which also runs the CLI as the main module. */
export const MOD_TS: string = join(ROOT_DIR, "mod.ts");

/** The CLI entry point (of `deno task cli` and the compiled binary). */
export const CLI_TS: string = join(ROOT_DIR, "cli.ts");

/**
 * The flags of the compiled binary (permissions and V8 flags), from
 * `scripts/cli-flags` (named `scripts/cli-permissions` in older checkouts),
 * the one definition that `deno task cli` and `deno task compile` use too.
 */
export const CLI_FLAGS: string[] = readCliFlags();

function readCliFlags(): string[] {
  for (const name of ["scripts/cli-flags", "scripts/cli-permissions"]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(join(ROOT_DIR, name));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    return text.trim().split(/\s+/).filter((flag) => flag.length > 0);
  }
  throw new Error(`no scripts/cli-flags (or scripts/cli-permissions) in ${ROOT_DIR}`);
}

/** Options for {@linkcode runCli} and {@linkcode spawnCli}. */
export interface CliOptions {
  /** Extra environment variables (added to the inherited environment). */
  env?: Record<string, string>;
  /** Working directory (default: the checkout). */
  cwd?: string;
  /** Run as this uid (and gid), without supplementary groups, via setpriv. */
  uid?: number;
}

/** The result of a CLI run. */
export interface CliResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
  /** The signal that killed the process, or null when it exited by itself. */
  signal: Deno.Signal | null;
}

/**
 * Makes a copy of the Deno cache (where `npm:` dependencies live) that any
 * user can read and write: the running user's own cache is usually under a
 * private home directory. The caller removes it.
 */
async function denoDirForOtherUsers(): Promise<string> {
  const info = new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped", stderr: "null" });
  const out = await info.output();
  const source = JSON.parse(new TextDecoder().decode(out.stdout)).denoDir as string;
  const dir = await Deno.makeTempDir({ prefix: "apt-ostree-test-denodir-" });
  try {
    // Only the downloaded packages: the rest are caches (SQLite files that
    // other Deno processes change while we copy) that Deno rebuilds.
    for (const sub of ["npm", "remote"]) {
      try {
        await Deno.stat(`${source}/${sub}`);
      } catch {
        continue;
      }
      const copy = await new Deno.Command("cp", { args: ["-a", `${source}/${sub}`, `${dir}/${sub}`] }).output();
      if (!copy.success) throw new Error(`cannot copy the Deno cache: ${new TextDecoder().decode(copy.stderr)}`);
    }
    const chmod = await new Deno.Command("chmod", { args: ["-R", "a+rwX", dir] }).output();
    if (!chmod.success) throw new Error("cannot chmod the Deno cache copy");
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  return dir;
}

function commandFor(args: string[], options: CliOptions, denoDir: string | undefined): Deno.Command {
  const denoArgs = ["run", ...CLI_FLAGS, CLI_TS, ...args];
  const env: Record<string, string> = { NO_COLOR: "1", ...(options.env ?? {}) };
  let program = Deno.execPath();
  let programArgs = denoArgs;
  if (options.uid !== undefined) {
    if (denoDir !== undefined && env.DENO_DIR === undefined) env.DENO_DIR = denoDir;
    if (env.HOME === undefined) env.HOME = "/nonexistent";
    program = "setpriv";
    programArgs = [
      `--reuid=${options.uid}`,
      `--regid=${options.uid}`,
      "--clear-groups",
      "--",
      Deno.execPath(),
      ...denoArgs,
    ];
  }
  return new Deno.Command(program, {
    args: programArgs,
    cwd: options.cwd ?? ROOT_DIR,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

async function denoDirFor(options: CliOptions): Promise<string | undefined> {
  if (options.uid === undefined || options.env?.DENO_DIR !== undefined) return undefined;
  return await denoDirForOtherUsers();
}

async function removeDenoDir(dir: string | undefined): Promise<void> {
  if (dir !== undefined) await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/**
 * Runs `apt-ostree ARGS…` and returns its exit code and output.
 *
 * @example
 * ```ts
 * const { code, stdout } = await runCli(["--version"]);
 * ```
 */
export async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const denoDir = await denoDirFor(options);
  let out: Deno.CommandOutput;
  try {
    out = await commandFor(args, options, denoDir).output();
  } finally {
    await removeDenoDir(denoDir);
  }
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    signal: out.signal,
  };
}

/** A running CLI process (for signal tests). */
export interface SpawnedCli {
  /** The child process. */
  child: Deno.ChildProcess;
  /** Resolves with the result once the process exits. */
  result: Promise<CliResult>;
}

/** Starts `apt-ostree ARGS…` without waiting for it. */
export async function spawnCli(args: string[], options: CliOptions = {}): Promise<SpawnedCli> {
  const denoDir = await denoDirFor(options);
  const child = commandFor(args, options, denoDir).spawn();
  const decoder = new TextDecoder();
  const result = child.output().then(async (out) => {
    await removeDenoDir(denoDir);
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      signal: out.signal,
    };
  });
  return { child, result };
}

/** Signal numbers on Linux, for {@linkcode waitForSignalHandler}. */
const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

/**
 * Waits until the process `pid` catches `signal` (its bit is set in
 * `SigCgt` of `/proc/PID/status`): from then on the signal is handled, not
 * fatal. Throws after `timeoutMs`.
 */
export async function waitForSignalHandler(
  pid: number,
  signal: keyof typeof SIGNAL_NUMBERS,
  timeoutMs = 30_000,
): Promise<void> {
  const bit = 1n << BigInt(SIGNAL_NUMBERS[signal] - 1);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
    const caught = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    if (caught !== undefined && (BigInt(`0x${caught}`) & bit) !== 0n) return;
    if (status === "") throw new Error(`process ${pid} is gone before it caught ${signal}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`process ${pid} did not catch ${signal} within ${timeoutMs} ms`);
}

/** Parses the `--json` output of a build. */
export interface BuildJson {
  dryRun: boolean;
  commit: string;
  image: string;
  format: string;
  output: string;
  digest?: string;
  config?: { mediaType: string; digest: string; size: number };
  layers?: { mediaType: string; digest: string; size: number; diffId: string; bin?: string; reused?: boolean }[];
  plannedLayers?: { bin: string; entries: number; contentBytes: number }[];
  reusedImage?: boolean;
  platform: { architecture: string; os: string; variant?: string };
  created: string;
  entries?: number;
  contentBytes?: number;
}

/** Parses a `--json` result, failing with the CLI's output when it is not JSON. */
export function parseJsonResult(result: CliResult): BuildJson {
  try {
    return JSON.parse(result.stdout) as BuildJson;
  } catch {
    throw new Error(`CLI did not print JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

/** Runs the CLI and fails with its output unless it exits 0. */
export async function runCliOk(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const result = await runCli(args, options);
  if (result.code !== 0) {
    throw new Error(
      `apt-ostree ${args.join(" ")} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
    );
  }
  return result;
}
