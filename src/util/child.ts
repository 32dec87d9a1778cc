/**
 * Child processes that die with the tool. A child the tool starts (an
 * `ostree commit`, an `ostree pull`, mmdebstrap) must not outlive it: one
 * killed with SIGKILL (the OOM killer, a CI timeout) cannot stop its
 * children itself, and an `ostree commit` left running would create its
 * branch after the tool had failed. The child is started through
 * util-linux's `setpriv --pdeathsig KILL`, so the kernel kills it when the
 * tool's process ends. (Deno has no way to set the parent-death signal of a
 * child itself.) Without setpriv the child is started directly.
 *
 * @module
 */

let setprivFound: boolean | undefined;

/** Whether `setpriv` is on PATH and may be run (checked once). */
function haveSetpriv(): boolean {
  setprivFound ??= Deno.permissions.querySync({ name: "run", command: "setpriv" }).state === "granted" &&
    onPath("setpriv");
  return setprivFound;
}

/**
 * Whether `program` is on PATH (an absolute path is checked as it is).
 *
 * @example
 * ```ts
 * import { onPath } from "./child.ts";
 * onPath("sh"); // true
 * ```
 */
export function onPath(program: string): boolean {
  const candidates = program.includes("/")
    ? [program]
    : (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "").map((d) => `${d}/${program}`);
  return candidates.some((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
}

/**
 * A `Deno.Command` for `program` whose process is killed when this one ends.
 * The caller checks {@linkcode onPath} first when it wants its own "not
 * installed" message (through setpriv, a missing program is an exit code,
 * not a spawn error).
 *
 * @example
 * ```ts
 * import { commandDyingWithUs } from "./child.ts";
 * const out = await commandDyingWithUs("true", { args: [] }).output();
 * out.success; // true
 * ```
 */
export function commandDyingWithUs(program: string, options: Deno.CommandOptions): Deno.Command {
  if (!haveSetpriv() || options.clearEnv) return new Deno.Command(program, options);
  return new Deno.Command("setpriv", {
    ...options,
    args: ["--pdeathsig", "KILL", "--", program, ...(options.args ?? [])],
  });
}
