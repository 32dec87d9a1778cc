/**
 * The CLI shell: its two entry points (`cli.ts`, and `mod.ts` run as the
 * main module), `--version` with and without the parser, usage errors, and
 * what start-up loads: defining the commands must load no library code
 * (each command imports what it runs when it runs), so that `--help` and
 * `--version` start fast.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { CLI_FLAGS, CLI_TS, MOD_TS, ROOT_DIR, runCli } from "./helpers/cli.ts";

async function runMod(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...CLI_FLAGS, MOD_TS, ...args],
    cwd: ROOT_DIR,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test("cli.ts and mod.ts run the same CLI; --version is the same line with and without the parser", async () => {
  const fast = await runCli(["--version"]);
  assert.equal(fast.code, 0, fast.stderr);
  assert.match(fast.stdout, /^apt-ostree \d+\.\d+\.\d+\S* \(commit \S+\)\n$/);
  // With another option, commander parses the line and prints the version itself.
  const parsed = await runCli(["--quiet", "--version"]);
  assert.equal(parsed.code, 0, parsed.stderr);
  assert.equal(parsed.stdout, fast.stdout);
  const viaMod = await runMod(["--version"]);
  assert.equal(viaMod.code, 0, viaMod.stderr);
  assert.equal(viaMod.stdout, fast.stdout);
  const help = await runMod(["--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: apt-ostree \[options\] \[command\]/);
  assert.match(help.stdout, /^ {2}compose\b/m);
});

Deno.test("help: exit 0, option groups, choices, no '(default: [])'", async () => {
  const help = await runCli(["compose", "build-image", "--help"]);
  assert.equal(help.code, 0, help.stderr);
  for (const heading of ["Output:", "Layers:", "Image settings:", "Push (with --push):", "Global Options:"]) {
    assert.match(help.stdout, new RegExp(`^${heading.replace(/[()]/g, "\\$&")}$`, "m"));
  }
  const flat = help.stdout.replace(/\s+/g, " ");
  assert.match(
    flat,
    /--format <format> output format of a path .*\(choices: "oci", "oci-archive", "docker", "docker-archive", default: "oci"\)/,
  );
  assert.match(flat, /--compression <algorithm> layer compression \(choices: "gzip", "zstd", default: "gzip"\)/);
  assert.doesNotMatch(help.stdout, /default: \[\]/);
});

Deno.test("usage errors: exit 2 with Error: and a Solution: line", async () => {
  const unknownCommand = await runCli(["frobnicate"]);
  assert.equal(unknownCommand.code, 2);
  assert.match(unknownCommand.stderr, /^Error: unknown command 'frobnicate'/m);
  assert.match(unknownCommand.stderr, /^Solution: run the command with --help for its usage$/m);
  const missing = await runCli(["image", "verify"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^Error: missing required argument 'image'/m);
  // Option values the registry commands cannot use are usage errors before anything is contacted.
  const timeout = await runCli(["image", "inspect", "docker://127.0.0.1:1/x:1", "--timeout", "soon"]);
  assert.equal(timeout.code, 2, timeout.stderr);
  assert.match(timeout.stderr, /^Error: Invalid --timeout value 'soon'$/m);
  const allAndArch = await runCli([
    "image",
    "copy",
    "oci:/nonexistent:1",
    "oci:/nonexistent-2:1",
    "--all",
    "--arch",
    "arm64",
  ]);
  assert.equal(allAndArch.code, 2, allAndArch.stderr);
  assert.match(allAndArch.stderr, /^Error: --all copies every platform; --arch picks one$/m);
  // An empty --repo (an unset shell variable) never falls back to another repository.
  const emptyRepo = await runCli(["--repo", "", "compose", "list"]);
  assert.equal(emptyRepo.code, 2, emptyRepo.stderr);
  assert.match(emptyRepo.stderr, /^Error: The repository path is empty$/m);
  assert.match(emptyRepo.stderr, /^Solution: Give --repo a path/m);
  // compose create names its branch --branch; --output, its older name, still works but may not disagree.
  const both = await runCli([
    "--repo",
    "/nonexistent",
    "compose",
    "create",
    "--base",
    "debian:12",
    "--packages",
    "hello",
    "--branch",
    "a",
    "--output",
    "b",
  ]);
  assert.equal(both.code, 2, both.stderr);
  assert.match(both.stderr, /^Error: --branch and --output name the same thing; give one$/m);
  // A library solution names the running command's flags.
  const level = await runCli([
    "--repo",
    "/nonexistent",
    "compose",
    "build-image",
    "x",
    "a:1",
    "--compression-level",
    "99",
  ]);
  assert.equal(level.code, 2, level.stderr);
  assert.match(level.stderr, /^Solution: Use --compression-level from 1 to 9 with gzip$/m);
});

interface InfoDependency {
  code?: { specifier: string };
  isDynamic?: boolean;
}
interface InfoModule {
  specifier: string;
  dependencies?: InfoDependency[];
}

/** The modules loaded by importing `roots` (static imports only, as `deno info` sees them). */
async function staticClosure(roots: string[]): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", join(ROOT_DIR, "cli.ts")],
    cwd: ROOT_DIR,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
  const byUrl = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const queue = roots.map((r) => new URL(r, `file://${ROOT_DIR}`).href);
  while (queue.length > 0) {
    const url = queue.pop()!;
    if (seen.has(url)) continue;
    seen.add(url);
    for (const dep of byUrl.get(url)?.dependencies ?? []) {
      if (dep.code && !dep.isDynamic) queue.push(dep.code.specifier);
    }
  }
  return new Set([...seen].map((url) => url.replace(`file://${ROOT_DIR}`, "")));
}

Deno.test("start-up loads the CLI shell, not the library", async () => {
  // --version: cli.ts and what it imports.
  const version = await staticClosure(["cli.ts"]);
  assert.deepEqual(
    [...version].filter((m) =>
      !/^(cli\.ts|deno\.json|src\/(cli\/main|cli\/signals|errors|version|util\/redact)\.ts)$/.test(m)
    ),
    [],
    "--version must load nothing but cli.ts, src/cli/main.ts, the signal handlers, errors, version and redact",
  );
  // --help and every command line: plus the command tree (src/cli/program.ts).
  const help = await staticClosure(["cli.ts", "src/cli/program.ts"]);
  const heavy = [...help].filter((m) =>
    /^src\/(archive|builder|compress|digest|image|import|layers|layout|ostree|tar)\//.test(m) ||
    /^src\/registry\/(?!credentials\.ts|retry\.ts)/.test(m) ||
    /^src\/compose\/(?!root\.ts)/.test(m) ||
    /yaml/.test(m)
  );
  assert.deepEqual(heavy, [], "defining the commands must not load these; import them in the command's action");
});

Deno.test("a docker-archive with zstd layers is refused unless asked for (Docker before 23.0 cannot load it)", async () => {
  const refused = await runCli([
    "--repo",
    "/nonexistent",
    "compose",
    "build-image",
    "x",
    "a:1",
    "--format",
    "docker",
    "--compression",
    "zstd",
  ]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /^Error: A docker-archive with zstd layers cannot be loaded by Docker before 23\.0/m);
  assert.match(refused.stderr, /^Solution: Use --compression gzip .* pass --allow-zstd-docker if/m);
  // Asked for: it goes on (and fails here only because there is no repository).
  const allowed = await runCli([
    "--repo",
    "/nonexistent",
    "compose",
    "build-image",
    "x",
    "a:1",
    "--format",
    "docker",
    "--compression",
    "zstd",
    "--allow-zstd-docker",
  ]);
  assert.equal(allowed.code, 1, allowed.stderr);
  assert.match(allowed.stderr, /^Error: OSTree repository not found/m);
});

Deno.test("image settings nobody could use are refused before anything is read (exit 2)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "apt-ostree-settings-" });
  try {
    const build = (...extra: string[]) =>
      runCli(["--repo", join(dir, "no-repo"), "compose", "build-image", "x", "a:1", ...extra]);
    const signal = await build("--stop-signal", "SIGFOO");
    assert.equal(signal.code, 2, signal.stderr);
    assert.match(signal.stderr, /^Error: Invalid --stop-signal 'SIGFOO': not a Linux signal$/m);
    for (const ok of ["SIGTERM", "TERM", "9", "SIGRTMIN+3"]) {
      const accepted = await build("--stop-signal", ok);
      assert.match(accepted.stderr, /OSTree repository not found/, `${ok} is a signal\n${accepted.stderr}`);
    }
    const workers = await build("--workers", "1000");
    assert.equal(workers.code, 2, workers.stderr);
    assert.match(workers.stderr, /^Error: Invalid number of compression threads: 1000$/m);
    assert.match(workers.stderr, /^Solution: Use --workers from 1 to \d+ \(four per CPU/m);
    const user = await build("--user", "a:b:c");
    assert.equal(user.code, 2, user.stderr);
    assert.match(user.stderr, /^Error: Invalid --user 'a:b:c'$/m);

    // A label of 5 MiB (from a compose file: one argument cannot be that long) would make a config over 4 MiB.
    const file = join(dir, "big.yaml");
    await Deno.writeTextFile(file, `image:\n  labels:\n    big: "${"x".repeat(5 << 20)}"\n`);
    const big = await build("-f", file);
    assert.equal(big.code, 2, big.stderr.slice(0, 2000));
    assert.match(
      big.stderr,
      /^Error: The image config would be \d+ bytes, over the 4194304 that registries and skopeo accept; the largest setting is the label big \(5242883 bytes\)$/m,
    );

    // Bytes that are not UTF-8 in a label: refused, not stored as U+FFFD.
    const raw = await new Deno.Command("bash", {
      args: [
        "-c",
        `exec "$0" run ${
          CLI_FLAGS.join(" ")
        } "$1" --repo /nonexistent compose build-image x a:1 --label "k=$(printf 'a\\xffb')"`,
        Deno.execPath(),
        CLI_TS,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(raw.stderr);
    assert.equal(raw.code, 2, stderr);
    assert.match(stderr, /^Error: The label setting k is not valid UTF-8/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
