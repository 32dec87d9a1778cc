/**
 * `deno task compile [--target x86_64|aarch64|all]`: builds the single
 * executable `dist/apt-ostree` (or `dist/apt-ostree-<arch>`) with exactly
 * the permission flags that `deno task cli` uses (scripts/cli-flags).
 *
 * `deno compile` needs Deno's base runtime (denort) for the target. It
 * downloads it from dl.deno.land unless `DENORT_BIN` names a local copy; on
 * networks that cannot reach dl.deno.land, set `DENORT_BIN`.
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const TARGETS: Record<string, string> = {
  x86_64: "x86_64-unknown-linux-gnu",
  aarch64: "aarch64-unknown-linux-gnu",
};

function fail(message: string): never {
  console.error(`Error: ${message}`);
  Deno.exit(1);
}

async function git(args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("git", { args, cwd: root, stdout: "piped", stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

function parseTargets(args: string[]): string[] {
  const i = args.indexOf("--target");
  if (i < 0) return [Deno.build.arch];
  const value = args[i + 1];
  if (value === "all") return Object.keys(TARGETS);
  const arch = Object.keys(TARGETS).find((a) => value === a || value === TARGETS[a]);
  if (!arch) fail(`Unknown --target '${value}'. Use x86_64, aarch64 or all.`);
  return [arch];
}

const targets = parseTargets(Deno.args);
const flags = (await Deno.readTextFile(new URL("scripts/cli-flags", root))).trim().split(/\s+/);
const denoConfig = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
const commit = (await git(["rev-parse", "HEAD"])) ?? "unknown";
const dirty = (await git(["status", "--porcelain", "--untracked-files=no"])) ? "-dirty" : "";
await Deno.mkdir(new URL("dist/", root), { recursive: true });
await Deno.writeTextFile(
  new URL("dist/build-info.json", root),
  JSON.stringify({ version: denoConfig.version, commit: commit + dirty }) + "\n",
);

const denort = Deno.env.get("DENORT_BIN");
for (const arch of targets) {
  const output = targets.length > 1 || arch !== Deno.build.arch ? `dist/apt-ostree-${arch}` : "dist/apt-ostree";
  const args = [
    "compile",
    ...flags,
    "--include",
    "dist/build-info.json",
    // Workers are loaded by URL at run time: name them so they are embedded.
    "--include",
    "src/compress/deflate_worker.ts",
    "--include",
    "src/compress/zstd_worker.ts",
    // Called on the pool's workers by URL (DeflatePool.call), like the workers themselves.
    "--include",
    "src/ostree/object_meta.ts",
    "--target",
    TARGETS[arch],
    "--output",
    output,
    // The CLI entry; the modules its commands load with import() are
    // embedded too (deno compile follows import() of literal specifiers).
    "cli.ts",
  ];
  console.error(`Compiling ${output} for ${TARGETS[arch]}${denort ? ` with DENORT_BIN=${denort}` : ""}`);
  const status = await new Deno.Command("deno", { args, cwd: root, stdout: "inherit", stderr: "inherit" })
    .spawn().status;
  if (!status.success) {
    if (!denort) {
      fail(
        "deno compile could not get Deno's base runtime (denort), which it downloads from dl.deno.land.\n" +
          "Solution: download denort for Deno " + Deno.version.deno + " and " + TARGETS[arch] +
          " on a machine that can reach dl.deno.land, then run: DENORT_BIN=/path/to/denort deno task compile",
      );
    }
    fail(
      `deno compile failed for ${
        TARGETS[arch]
      } (DENORT_BIN=${denort}); check that it is denort ${Deno.version.deno} for that target.`,
    );
  }
  console.error(`Built ${output} (commit ${commit}${dirty})`);
}
