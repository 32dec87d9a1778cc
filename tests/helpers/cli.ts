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

/** The CLI entry point. */
export const MOD_TS: string = join(ROOT_DIR, "mod.ts");

/** The permission flags of the compiled binary, from `scripts/cli-flags`. */
export const CLI_PERMISSIONS: string[] = Deno.readTextFileSync(join(ROOT_DIR, "scripts/cli-flags"))
  .trim()
  .split(/\s+/)
  .filter((flag) => flag.length > 0);

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
}

/**
 * A copy of the Deno cache (where `npm:` dependencies live) that any user
 * can read and write: the user's own cache is under a private home.
 */
let sharedDenoDir: Promise<string> | undefined;

async function denoDirForOtherUsers(): Promise<string> {
  const info = new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped", stderr: "null" });
  const out = await info.output();
  const source = JSON.parse(new TextDecoder().decode(out.stdout)).denoDir as string;
  const dir = await Deno.makeTempDir({ prefix: "apt-ostree-test-denodir-" });
  const copy = await new Deno.Command("cp", { args: ["-a", `${source}/.`, dir] }).output();
  if (!copy.success) throw new Error(`cannot copy the Deno cache: ${new TextDecoder().decode(copy.stderr)}`);
  const chmod = await new Deno.Command("chmod", { args: ["-R", "a+rwX", dir] }).output();
  if (!chmod.success) throw new Error("cannot chmod the Deno cache copy");
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // best effort
    }
  });
  return dir;
}

function commandFor(args: string[], options: CliOptions, denoDir: string | undefined): Deno.Command {
  const denoArgs = ["run", ...CLI_PERMISSIONS, MOD_TS, ...args];
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
  if (options.uid === undefined) return undefined;
  sharedDenoDir ??= denoDirForOtherUsers();
  return await sharedDenoDir;
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
  const out = await commandFor(args, options, await denoDirFor(options)).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
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
  const child = commandFor(args, options, await denoDirFor(options)).spawn();
  const decoder = new TextDecoder();
  const result = child.output().then((out) => ({
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  }));
  return { child, result };
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
  layers?: { mediaType: string; digest: string; size: number; diffId: string }[];
  platform: { architecture: string; os: string; variant?: string };
  created: string;
  entries: number;
  contentBytes: number;
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
