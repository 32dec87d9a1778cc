/**
 * Failure paths of `apt-ostree compose build-image`: every error gets a
 * clear `Error:` message (and `Solution:` where there is something to do),
 * the right exit code (2 for usage errors, 1 otherwise, 130/143 when
 * interrupted), leaves no temp files behind and never changes an existing
 * layout.
 *
 * Run alone with: deno test --allow-all tests/errors_test.ts
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, parseJsonResult, runCli, spawnCli, waitForSignalHandler } from "./helpers/cli.ts";
import {
  commitTree,
  createRepo,
  findTempNames,
  isRoot,
  listTree,
  makeManyFilesTree,
  makeSmallTree,
  makeTempDir,
  removeTree,
  run,
  runOk,
  snapshotLayout,
  writeBigFile,
} from "./helpers/fixture_repo.ts";

const ROOT = isRoot();

/** Whether this process may mount a tmpfs (root, and not in a container that forbids it). */
async function canMountTmpfs(): Promise<boolean> {
  if (!ROOT) return false;
  const dir = await makeTempDir("apt-ostree-mount-probe-");
  try {
    const mounted = await run("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]);
    if (mounted.code !== 0) return false;
    await run("umount", [dir]);
    return true;
  } catch {
    return false;
  } finally {
    await removeTree(dir).catch(() => {});
  }
}

const CAN_MOUNT = await canMountTmpfs();

function named(name: string, needs: "root" | "mount" | undefined): string {
  if (needs === "root" && !ROOT) return `${name} [ignored: needs root to build the fixture repositories]`;
  if (needs === "mount" && !CAN_MOUNT) return `${name} [ignored: needs root to mount tmpfs]`;
  return name;
}

/**
 * A small commit in a bare-user repository, an empty output directory, and
 * an existing layout (tag `keep`) in a directory of its own.
 */
interface Fixture {
  dir: string;
  repo: string;
  commit: string;
  outDir: string;
  layout: string;
}

async function smallFixture(): Promise<Fixture> {
  const dir = await makeTempDir();
  try {
    await makeSmallTree(join(dir, "tree"));
    const repo = await createRepo("bare-user", dir);
    const commit = await commitTree(repo, "main", join(dir, "tree"), { version: "1.0" });
    const outDir = join(dir, "out");
    await Deno.mkdir(outDir);
    await Deno.mkdir(join(dir, "layouts"));
    const layout = join(dir, "layouts", "existing.oci");
    const built = await build(repo, "main", "app:keep", ["-o", layout]);
    if (built.code !== 0) throw new Error(`cannot build the fixture layout\n${describe(built)}`);
    return { dir, repo, commit, outDir, layout };
  } catch (error) {
    await removeTree(dir);
    throw error;
  }
}

function build(repo: string, source: string, image: string, extra: string[] = [], env?: Record<string, string>) {
  return runCli(["--repo", repo, "compose", "build-image", source, image, ...extra], { env });
}

function describe(result: CliResult): string {
  const killed = result.signal ? ` (killed by ${result.signal})` : "";
  return `exit ${result.code}${killed}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
}

/**
 * Checks a failed run: exit code, an `Error:` line matching `message`, and
 * (with `solution`) a `Solution:` line, the two being the whole of stderr.
 */
function assertFailed(result: CliResult, code: number, message: RegExp, solution = true): void {
  assert.equal(result.code, code, describe(result));
  assert.equal(result.signal, null, describe(result));
  assert.match(result.stderr, /^Error: /m, describe(result));
  assert.match(result.stderr, message, describe(result));
  if (solution) {
    assert.match(result.stderr, /^Solution: \S/m, describe(result));
    // Deno itself notes, at startup, a program named by --allow-run that is not on PATH: not the tool's output.
    const denoNote = /^Info Failed to resolve '[^']+' for allow-run/;
    const stray = result.stderr.split("\n").filter((line) =>
      line !== "" && !/^(Error|Solution): /.test(line) && !denoNote.test(line)
    );
    assert.deepEqual(stray, [], `stderr is one Error: line and one Solution: line\n${describe(result)}`);
  }
  assert.equal(result.stdout, "", "nothing on stdout");
}

/** Names directly in `dir`, sorted. */
async function topLevel(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort();
}

/** No temp files in `dir` (recursively) and exactly `expected` paths in it. */
async function assertDirIs(dir: string, expected: string[]): Promise<void> {
  assert.deepEqual(await findTempNames(dir), [], `no temp files in ${dir}`);
  assert.deepEqual(await listTree(dir), expected);
}

/**
 * Runs a failing build twice: into a new output (every format), and as a
 * new tag into the fixture's existing layout. Each run must fail with
 * `code` and `message`, leave the output directory empty, and leave the
 * layout as it was (index.json bytes, blob listing, no temp files).
 */
async function assertFailsEverywhere(
  fx: Fixture,
  run: (output: string, format: string) => Promise<CliResult>,
  code: number,
  message: RegExp,
  solution = true,
): Promise<void> {
  const before = await snapshotLayout(fx.layout);
  for (const format of ["oci", "oci-archive", "docker"]) {
    const output = join(fx.outDir, format === "oci" ? "new.oci" : `new-${format}.tar`);
    assertFailed(await run(output, format), code, message, solution);
    await assertDirIs(fx.outDir, []);
  }
  assertFailed(await run(fx.layout, "oci"), code, message, solution);
  assert.deepEqual(await snapshotLayout(fx.layout), before, "the existing layout is unchanged");
  assert.deepEqual(await findTempNames(join(fx.dir, "layouts")), []);
}

// ---------------------------------------------------------------------------
// Sources, repositories, ostree.

Deno.test({
  name: named("a SOURCE that does not resolve fails with 'Failed to checkout commit' (exit 1)", "root"),
  ignore: !ROOT,
  async fn(t) {
    const fx = await smallFixture();
    try {
      const cases: [string, string][] = [
        ["branch", "no-such-branch"],
        ["ref with a slash", "debian/12/x86_64"],
        ["full checksum not in the repo", "0123456789abcdef".repeat(4)],
        ["checksum prefix that matches nothing", "0000000"],
      ];
      for (const [what, source] of cases) {
        await t.step(what, async () => {
          await assertFailsEverywhere(
            fx,
            (output, format) => build(fx.repo, source, "app:new", ["--format", format, "-o", output]),
            1,
            new RegExp(`^Error: Failed to checkout commit: ${source}$`, "m"),
          );
        });
      }
      await t.step("option-like source after --", async () => {
        await assertFailsEverywhere(
          fx,
          (output, format) =>
            runCli(["--repo", fx.repo, "compose", "build-image", "--format", format, "-o", output, "--", "-x", "a:1"]),
          1,
          /^Error: Failed to checkout commit: -x$/m,
        );
      });
    } finally {
      await removeTree(fx.dir);
    }
  },
});

Deno.test({
  name: named("a missing repository, a path that is not a repository, and a file fail with exit 1", "root"),
  ignore: !ROOT,
  async fn(t) {
    const fx = await smallFixture();
    const dir = fx.dir;
    try {
      const withRepo = (repo: string) => (output: string, format: string) =>
        build(repo, "main", "app:new", ["--format", format, "-o", output]);
      await t.step("missing path", async () => {
        const missing = join(dir, "no-such-repo");
        await assertFailsEverywhere(
          fx,
          withRepo(missing),
          1,
          new RegExp(`^Error: OSTree repository not found: ${missing}$`, "m"),
        );
        const result = await build(missing, "main", "app:1", ["-o", join(fx.outDir, "x.oci")]);
        assert.match(result.stderr, /^Solution: .*--repo/m);
      });
      await t.step("missing path from $APT_OSTREE_REPO", async () => {
        const missing = join(dir, "env-repo");
        await assertFailsEverywhere(
          fx,
          (output, format) =>
            runCli(["compose", "build-image", "main", "app:new", "--format", format, "-o", output], {
              env: { APT_OSTREE_REPO: missing },
            }),
          1,
          new RegExp(`^Error: OSTree repository not found: ${missing}$`, "m"),
        );
      });
      await t.step("a directory that is not a repository", async () => {
        const notRepo = join(dir, "plain-dir");
        await Deno.mkdir(notRepo);
        await Deno.writeTextFile(join(notRepo, "file"), "x");
        await assertFailsEverywhere(
          fx,
          withRepo(notRepo),
          1,
          new RegExp(`^Error: Not an OSTree repository: ${notRepo}`, "m"),
        );
      });
      await t.step("a config without [core] mode", async () => {
        const bogus = join(dir, "bogus-repo");
        await Deno.mkdir(bogus);
        await Deno.writeTextFile(join(bogus, "config"), "[core]\nrepo_version=1\n");
        await assertFailsEverywhere(
          fx,
          withRepo(bogus),
          1,
          new RegExp(`^Error: Not an OSTree repository: ${bogus}`, "m"),
        );
      });
      await t.step("a regular file", async () => {
        const file = join(dir, "repo-file");
        await Deno.writeTextFile(file, "not a repo");
        await assertFailsEverywhere(
          fx,
          withRepo(file),
          1,
          new RegExp(`^Error: Not an OSTree repository: ${file}`, "m"),
        );
      });
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: named("ostree not installed (empty PATH) fails with an install hint (exit 1)", "root"),
  ignore: !ROOT,
  async fn() {
    const fx = await smallFixture();
    try {
      const emptyBin = join(fx.dir, "empty-bin");
      await Deno.mkdir(emptyBin);
      await assertFailsEverywhere(
        fx,
        (output, format) =>
          runCli(["--repo", fx.repo, "compose", "build-image", "main", "app:new", "--format", format, "-o", output], {
            env: { PATH: emptyBin },
          }),
        1,
        /^Error: The ostree program is not installed/m,
      );
      const result = await runCli(["--repo", fx.repo, "compose", "build-image", "main", "app:1"], {
        env: { PATH: emptyBin },
        cwd: fx.outDir,
      });
      assert.match(result.stderr, /^Solution: .*apt-get install ostree/m);
      await assertDirIs(fx.outDir, []);
    } finally {
      await removeTree(fx.dir);
    }
  },
});

const NOBODY = 65534;

Deno.test({
  name: named("permission errors of an unprivileged user (uid 65534) fail with exit 1 and a hint", "root"),
  ignore: !ROOT,
  async fn(t) {
    const fx = await smallFixture();
    try {
      await Deno.chmod(fx.dir, 0o755);
      await runOk("chmod", ["-R", "a+rX", fx.repo]);
      await t.step("an output directory the user cannot write", async () => {
        // fx.outDir belongs to root, mode 0755.
        for (const format of ["oci", "oci-archive", "docker"]) {
          const output = join(fx.outDir, format === "oci" ? "new.oci" : `new-${format}.tar`);
          const result = await runCli(
            ["--repo", fx.repo, "compose", "build-image", "main", "app:1", "--format", format, "-o", output],
            { uid: NOBODY },
          );
          assertFailed(result, 1, /^Error: Permission denied: cannot create the output/m);
          await assertDirIs(fx.outDir, []);
        }
      });
      await t.step("an existing layout the user cannot write", async () => {
        const before = await snapshotLayout(fx.layout);
        const result = await runCli(
          ["--repo", fx.repo, "compose", "build-image", "main", "app:new", "-o", fx.layout],
          { uid: NOBODY },
        );
        assertFailed(result, 1, /Permission denied/);
        assert.deepEqual(await snapshotLayout(fx.layout), before);
        assert.deepEqual(await findTempNames(join(fx.dir, "layouts")), []);
      });
      await t.step("a bare repository with objects only root can read", async () => {
        const tree = join(fx.dir, "private-tree");
        await makeSmallTree(tree, "private");
        await Deno.writeTextFile(join(tree, "usr", "secret"), "secret\n", { mode: 0o600 });
        await Deno.chmod(join(tree, "usr", "secret"), 0o600);
        await Deno.chown(join(tree, "usr", "secret"), 1234, 1234);
        const bare = await createRepo("bare", fx.dir);
        await commitTree(bare, "main", tree);
        await runOk("chmod", ["a+rx", bare]);
        const userOut = join(fx.dir, "user-out");
        await Deno.mkdir(userOut);
        await Deno.chown(userOut, NOBODY, NOBODY);
        const result = await runCli(
          ["--repo", bare, "compose", "build-image", "main", "app:1", "-o", join(userOut, "img.oci")],
          { uid: NOBODY },
        );
        // The commit resolves; what fails is reading its objects: the Error line must say so.
        assertFailed(result, 1, /^Error: .*[Pp]ermission denied/m);
        await assertDirIs(userOut, []);
      });
    } finally {
      await removeTree(fx.dir);
    }
  },
});

// ---------------------------------------------------------------------------
// Usage errors.

Deno.test({
  name: named("invalid image names, unknown --format and bad options are usage errors (exit 2)", "root"),
  ignore: !ROOT,
  async fn(t) {
    const fx = await smallFixture();
    try {
      const images: [string, string, RegExp][] = [
        ["uppercase", "My-Image:1", /^Error: Invalid image reference: My-Image:1 .*lowercase/m],
        ["bad tag", "app:-bad", /^Error: Invalid image reference: app:-bad \(bad tag/m],
        ["empty tag", "app:", /^Error: Invalid image reference: app: \(bad tag/m],
        ["tag with a space", "app:two words", /^Error: Invalid image reference: app:two words/m],
        ["empty", "", /^Error: Invalid image reference: .*empty/m],
        ["digest", `app@sha256:${"ab".repeat(32)}`, /^Error: Cannot build into a digest reference/m],
        ["tag and digest", `app:1@sha256:${"ab".repeat(32)}`, /^Error: Cannot build into a digest reference/m],
      ];
      for (const [what, image, message] of images) {
        await t.step(`image name: ${what}`, async () => {
          await assertFailsEverywhere(
            fx,
            (output, format) => build(fx.repo, "main", image, ["--format", format, "-o", output]),
            2,
            message,
          );
        });
      }
      const options: [string, string[], RegExp, boolean][] = [
        ["unknown --format", ["--format", "zip"], /^Error: Unknown format: zip$/m, true],
        ["unknown --compression", ["--compression", "lz4"], /^Error: Unknown compression: lz4$/m, true],
        ["--workers 0", ["--workers", "0"], /^Error: Invalid --workers value '0'$/m, true],
        ["--max-layers 0", ["--max-layers", "0"], /^Error: Invalid --max-layers value '0'$/m, true],
        ["--max-layers 200", ["--max-layers", "200"], /^Error: Invalid maximum layer count: 200$/m, true],
        [
          "--compression-level 12 (gzip)",
          ["--compression-level", "12"],
          /^Error: Invalid gzip compression level: 12$/m,
          true,
        ],
        ["--env without =", ["--env", "NOVALUE"], /Invalid --env value 'NOVALUE'/, true],
        ["--label without =", ["--label", "novalue"], /Invalid --label value 'novalue'/, true],
        ["bad --expose", ["--expose", "http"], /Invalid port 'http'/, true],
        ["relative --workdir", ["--workdir", "srv"], /Invalid --workdir 'srv'/, true],
        ["bad JSON --cmd", ["--cmd", "[not json"], /Invalid --cmd value: not a valid JSON array/, true],
        ["unterminated quote", ["--entrypoint", "sh -c 'x"], /Invalid --entrypoint value: unterminated/, true],
        ["unknown option", ["--frobnicate"], /^Error: unknown option '--frobnicate'/m, false],
      ];
      for (const [what, extra, message, solution] of options) {
        await t.step(what, async () => {
          // Options after the format: a later --format wins, so "unknown --format" stays unknown.
          await assertFailsEverywhere(
            fx,
            (output, format) => build(fx.repo, "main", "app:new", ["--format", format, "-o", output, ...extra]),
            2,
            message,
            solution,
          );
        });
      }
      await t.step("bad SOURCE_DATE_EPOCH", async () => {
        await assertFailsEverywhere(
          fx,
          (output, format) =>
            build(fx.repo, "main", "app:new", ["--format", format, "-o", output], { SOURCE_DATE_EPOCH: "yesterday" }),
          2,
          /^Error: Invalid SOURCE_DATE_EPOCH 'yesterday'$/m,
        );
      });
      await t.step("missing IMAGE argument", async () => {
        const result = await runCli(["--repo", fx.repo, "compose", "build-image", "main"], { cwd: fx.outDir });
        assertFailed(result, 2, /^Error: missing required argument 'image'/m, false);
        await assertDirIs(fx.outDir, []);
      });
      await t.step("output directory that does not exist", async () => {
        for (const format of ["oci", "oci-archive", "docker"]) {
          const result = await build(fx.repo, "main", "app:1", [
            "--format",
            format,
            "-o",
            join(fx.outDir, "missing", "image"),
          ]);
          assertFailed(result, 2, /Output directory does not exist: .*\/out\/missing/);
          await assertDirIs(fx.outDir, []);
        }
      });
    } finally {
      await removeTree(fx.dir);
    }
  },
});

Deno.test({
  name: named("an output that exists and is not a layout is refused (exit 2) unless --force replaces it", "root"),
  ignore: !ROOT,
  async fn(t) {
    const fx = await smallFixture();
    try {
      await t.step("oci: a regular file", async () => {
        const output = join(fx.outDir, "file.oci");
        await Deno.writeTextFile(output, "precious");
        const refused = await build(fx.repo, "main", "app:1", ["-o", output]);
        assertFailed(refused, 2, /^Error: Output path exists and is not an OCI layout: .*file\.oci$/m);
        assert.match(refused.stderr, /--force/);
        assert.equal(await Deno.readTextFile(output), "precious", "the file is untouched");
        await assertDirIs(fx.outDir, ["file.oci"]);

        const forced = await build(fx.repo, "main", "app:1", ["-o", output, "--force"]);
        assert.equal(forced.code, 0, describe(forced));
        assert.ok((await Deno.stat(output)).isDirectory);
        await runOk("skopeo", ["inspect", `oci:${output}:1`]);
        assert.deepEqual(await findTempNames(fx.outDir), []);
        assert.deepEqual(await topLevel(fx.outDir), ["file.oci"], "nothing left beside the output (no .old- copies)");
      });
      await t.step("oci: a directory with other files", async () => {
        const output = join(fx.outDir, "dir.oci");
        await Deno.mkdir(join(output, "sub"), { recursive: true });
        await Deno.writeTextFile(join(output, "sub", "keep"), "keep");
        const before = await listTree(fx.outDir);
        const refused = await build(fx.repo, "main", "app:1", ["-o", output]);
        assertFailed(refused, 2, /^Error: Output path exists and is not an OCI layout: .*dir\.oci$/m);
        await assertDirIs(fx.outDir, before);

        // --force replaces only a file, an empty directory or a layout: a directory of other files is kept.
        const forced = await build(fx.repo, "main", "app:1", ["-o", output, "--force"]);
        assertFailed(forced, 2, /^Error: Refusing to replace .*dir\.oci: it is a directory that is neither empty nor/m);
        await assertDirIs(fx.outDir, before);
        assert.equal(await Deno.readTextFile(join(output, "sub", "keep")), "keep");
      });
      await t.step("oci: an empty directory is used as is", async () => {
        const output = join(fx.outDir, "empty.oci");
        await Deno.mkdir(output);
        const result = await build(fx.repo, "main", "app:1", ["-o", output]);
        assert.equal(result.code, 0, describe(result));
        await runOk("skopeo", ["inspect", `oci:${output}:1`]);
      });
      for (const format of ["oci-archive", "docker"]) {
        await t.step(`${format}: a directory`, async () => {
          const output = join(fx.outDir, `dir-${format}.tar`);
          await Deno.mkdir(output);
          await Deno.writeTextFile(join(output, "keep"), "keep");
          const before = await listTree(fx.outDir);
          const refused = await build(fx.repo, "main", "app:1", ["--format", format, "-o", output]);
          assertFailed(refused, 2, /^Error: Output path exists and is not a file: .*\.tar$/m);
          await assertDirIs(fx.outDir, before);

          const forced = await build(fx.repo, "main", "app:1", ["--format", format, "-o", output, "--force"]);
          assertFailed(forced, 2, /^Error: Refusing to replace .*\.tar: it is a directory that is neither empty nor/m);
          await assertDirIs(fx.outDir, before);

          await Deno.remove(join(output, "keep"));
          const emptied = await build(fx.repo, "main", "app:1", ["--format", format, "-o", output, "--force"]);
          assert.equal(emptied.code, 0, describe(emptied));
          assert.ok((await Deno.stat(output)).isFile, "the empty directory is replaced by the archive");
          const transport = format === "docker" ? "docker-archive" : "oci-archive";
          await runOk("skopeo", ["inspect", `${transport}:${output}`]);
          assert.deepEqual(await findTempNames(fx.outDir), []);
        });
        await t.step(`${format}: a regular file is replaced (as docker save -o does)`, async () => {
          const output = join(fx.outDir, `file-${format}.tar`);
          await Deno.writeTextFile(output, "old");
          const result = await build(fx.repo, "main", "app:1", ["--format", format, "-o", output]);
          assert.equal(result.code, 0, describe(result));
          const transport = format === "docker" ? "docker-archive" : "oci-archive";
          await runOk("skopeo", ["inspect", `${transport}:${output}`]);
          assert.deepEqual(await findTempNames(fx.outDir), []);
        });
      }
      const brokenLayout = async (name: string) => {
        const output = join(fx.outDir, name);
        await Deno.mkdir(output);
        await Deno.writeTextFile(join(output, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
        await Deno.writeTextFile(join(output, "index.json"), "not json");
        return output;
      };
      await t.step("oci: a broken layout is refused like any other non-layout (exit 2)", async () => {
        const output = await brokenLayout("broken.oci");
        const refused = await build(fx.repo, "main", "app:1", ["-o", output]);
        assert.match(refused.stderr, /^Error: Broken OCI layout at .*broken\.oci: index\.json is not JSON$/m);
        assert.match(refused.stderr, /^Solution: .*pass --force to replace it/m);
        assert.equal(await Deno.readTextFile(join(output, "index.json")), "not json");
        assert.deepEqual(await findTempNames(fx.outDir), []);
        assertFailed(refused, 2, /Broken OCI layout/);
      });
      await t.step("oci: --force replaces a broken layout, as the Solution line says", async () => {
        const output = await brokenLayout("broken-forced.oci");
        const forced = await build(fx.repo, "main", "app:1", ["-o", output, "--force"]);
        assert.equal(forced.code, 0, `--force must replace a broken layout\n${describe(forced)}`);
        await runOk("skopeo", ["inspect", `oci:${output}:1`]);
        assert.deepEqual(await findTempNames(fx.outDir), []);
      });
    } finally {
      await removeTree(fx.dir);
    }
  },
});

Deno.test({
  name: named("--force never replaces the repository, a directory above it, $HOME or the current directory", "root"),
  ignore: !ROOT,
  async fn(t) {
    const fx = await smallFixture();
    try {
      // The repository, its parent and the tree above them, as they were.
      const before = await listTree(fx.dir);
      const refs = await runOk("ostree", ["refs", `--repo=${fx.repo}`]);
      const assertAllKept = async () => {
        assert.deepEqual(await listTree(fx.dir), before, "nothing was deleted or added");
        assert.equal(await runOk("ostree", ["refs", `--repo=${fx.repo}`]), refs);
        await runOk("ostree", ["fsck", `--repo=${fx.repo}`]);
      };
      for (const format of ["oci", "oci-archive", "docker"]) {
        await t.step(`${format}: -o the repository`, async () => {
          const result = await build(fx.repo, "main", "app:1", ["--format", format, "-o", fx.repo, "--force"]);
          assertFailed(result, 2, /^Error: Refusing to replace .*: it is the OSTree repository \(--repo\)$/m);
          await assertAllKept();
        });
        await t.step(`${format}: -o the directory above the repository`, async () => {
          const result = await build(fx.repo, "main", "app:1", ["--format", format, "-o", fx.dir, "--force"]);
          assertFailed(result, 2, /^Error: Refusing to replace .*: it contains the OSTree repository \(--repo\)/m);
          await assertAllKept();
        });
      }
      await t.step("-o another OSTree repository", async () => {
        const other = await createRepo("archive", fx.outDir);
        const result = await build(fx.repo, "main", "app:1", ["-o", other, "--force"]);
        assertFailed(result, 2, /^Error: Refusing to replace .*: it is an OSTree repository$/m);
        assert.ok((await Deno.stat(join(other, "config"))).isFile);
        await removeTree(other);
      });
      await t.step("-o $HOME (a fake one) and a directory above it", async () => {
        const home = join(fx.outDir, "home", "user");
        await Deno.mkdir(home, { recursive: true });
        await Deno.writeTextFile(join(home, ".profile"), "precious");
        // Deno's own cache stays where it is (it would otherwise move under the fake HOME).
        const denoDir = Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME") ?? "/root", ".cache", "deno");
        for (const output of [home, join(fx.outDir, "home")]) {
          const result = await build(fx.repo, "main", "app:1", ["-o", output, "--force"], {
            HOME: home,
            DENO_DIR: denoDir,
          });
          assertFailed(result, 2, /^Error: Refusing to replace .*: it (is|contains) your home directory/m);
          assert.equal(await Deno.readTextFile(join(home, ".profile")), "precious");
        }
        await removeTree(join(fx.outDir, "home"));
      });
      await t.step("-o . (the current directory)", async () => {
        const cwd = join(fx.outDir, "work");
        await Deno.mkdir(cwd);
        await Deno.writeTextFile(join(cwd, "notes"), "precious");
        const result = await runCli(
          ["--repo", fx.repo, "compose", "build-image", "main", "app:1", "-o", ".", "--force"],
          { cwd },
        );
        assertFailed(result, 2, /^Error: Refusing to replace .*work: it is the current directory$/m);
        assert.equal(await Deno.readTextFile(join(cwd, "notes")), "precious");
        await removeTree(cwd);
      });
      await t.step({
        name: "-o a mount point",
        ignore: !CAN_MOUNT,
        fn: async () => {
          const mnt = join(fx.outDir, "mnt");
          await Deno.mkdir(mnt);
          await runOk("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]);
          try {
            await Deno.writeTextFile(join(mnt, "data"), "precious");
            const result = await build(fx.repo, "main", "app:1", ["-o", mnt, "--force"]);
            assertFailed(result, 2, /^Error: Refusing to replace .*mnt: it is a mount point$/m);
            assert.equal(await Deno.readTextFile(join(mnt, "data")), "precious");
          } finally {
            await run("umount", [mnt]);
          }
          await removeTree(mnt);
        },
      });
      await t.step("--force still replaces an OCI layout built before (same shape, nothing else)", async () => {
        const output = join(fx.outDir, "old.oci");
        assert.equal((await build(fx.repo, "main", "app:1", ["-o", output])).code, 0);
        const result = await build(fx.repo, "main", "app:1", ["--format", "oci-archive", "-o", output, "--force"]);
        assert.equal(result.code, 0, describe(result));
        assert.ok((await Deno.stat(output)).isFile);
        await Deno.remove(output);
      });
      await assertAllKept();
    } finally {
      await removeTree(fx.dir);
    }
  },
});

Deno.test({
  name: named("an output whose parent is a file is a usage error that names it (exit 2), in every format", "root"),
  ignore: !ROOT,
  async fn() {
    const fx = await smallFixture();
    try {
      await Deno.writeTextFile(join(fx.outDir, "file"), "x");
      for (const format of ["oci", "oci-archive", "docker"]) {
        const result = await build(fx.repo, "main", "app:1", [
          "--format",
          format,
          "-o",
          join(fx.outDir, "file", "out"),
        ]);
        assertFailed(result, 2, /^Error: The output's parent is not a directory: .*\/out\/file$/m);
        assert.match(result.stderr, /^Solution: Choose another --output$/m);
      }
      await assertDirIs(fx.outDir, ["file"]);
    } finally {
      await removeTree(fx.dir);
    }
  },
});

Deno.test({
  name: named("--dry-run resolves the commit and writes nothing", "root"),
  ignore: !ROOT,
  async fn(t) {
    const fx = await smallFixture();
    try {
      for (const format of ["oci", "oci-archive", "docker"]) {
        await t.step(format, async () => {
          const output = join(fx.outDir, format === "oci" ? "dry.oci" : `dry-${format}.tar`);
          const human = await build(fx.repo, "main", "app:1", ["--format", format, "-o", output, "--dry-run"]);
          assert.equal(human.code, 0, describe(human));
          assert.match(
            human.stdout,
            new RegExp(`Would build ${format} image docker.io/library/app:1 from commit ${fx.commit}`),
          );
          assert.match(human.stdout, /Nothing was written/);
          const json = parseJsonResult(
            await runCli([
              "--json",
              "--repo",
              fx.repo,
              "compose",
              "build-image",
              "main",
              "app:1",
              "--format",
              format,
              "-o",
              output,
              "--dry-run",
            ]),
          );
          assert.equal(json.dryRun, true);
          assert.equal(json.commit, fx.commit);
          assert.equal(json.output, output);
          assert.equal(json.digest, undefined);
          assert.equal(json.layers, undefined);
          assert.ok((json.entries ?? 0) > 0);
          assert.ok((json.plannedLayers?.length ?? 0) >= 1, "the layer plan is shown");
          await assertDirIs(fx.outDir, []);
        });
      }
      await t.step("into an existing layout", async () => {
        const layout = join(fx.outDir, "existing.oci");
        const first = await build(fx.repo, "main", "app:1", ["-o", layout]);
        assert.equal(first.code, 0, describe(first));
        const before = await snapshotLayout(layout);
        const dry = await build(fx.repo, "main", "app:2", ["-o", layout, "--dry-run"]);
        assert.equal(dry.code, 0, describe(dry));
        assert.deepEqual(await snapshotLayout(layout), before);
        assert.deepEqual(await findTempNames(fx.outDir), []);
      });
      await t.step("a dry run still reports a missing commit", async () => {
        const result = await build(fx.repo, "nope", "app:1", ["-o", join(fx.outDir, "x.oci"), "--dry-run"]);
        assertFailed(result, 1, /Failed to checkout commit: nope/);
      });
      await t.step("the default output path is not created either", async () => {
        const result = await runCli(["--repo", fx.repo, "compose", "build-image", "main", "dflt:1", "--dry-run"], {
          cwd: fx.outDir,
        });
        assert.equal(result.code, 0, describe(result));
        assert.match(result.stdout, new RegExp(`output: +${join(fx.outDir, "dflt.oci")}`));
        assert.deepEqual(await topLevel(fx.outDir), ["existing.oci"]);
      });
    } finally {
      await removeTree(fx.dir);
    }
  },
});

// ---------------------------------------------------------------------------
// Read-only and full file systems.

async function mountTmpfs(dir: string, options: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await runOk("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir]);
}

async function unmount(dir: string): Promise<void> {
  const out = await run("umount", [dir]);
  if (out.code !== 0) await run("umount", ["-l", dir]);
}

Deno.test({
  name: named("an output on a read-only file system fails with exit 1 and says so", "mount"),
  ignore: !CAN_MOUNT,
  async fn(t) {
    const fx = await smallFixture();
    const mnt = join(fx.dir, "ro");
    try {
      await mountTmpfs(mnt, "size=16m,mode=0755");
      const layout = join(mnt, "existing.oci");
      const first = await build(fx.repo, "main", "app:1", ["-o", layout]);
      assert.equal(first.code, 0, describe(first));
      await runOk("mount", ["-o", "remount,ro", mnt]);
      const before = await snapshotLayout(layout);
      const listing = await listTree(mnt);

      for (const format of ["oci", "oci-archive", "docker"]) {
        await t.step(`new ${format} output`, async () => {
          const output = join(mnt, format === "oci" ? "new.oci" : `new-${format}.tar`);
          const result = await build(fx.repo, "main", "app:1", ["--format", format, "-o", output]);
          assertFailed(result, 1, /read-only file system/i);
          assert.match(result.stderr, /^Solution: .*--output/m);
          assert.deepEqual(await listTree(mnt), listing);
        });
      }
      await t.step("a second tag into an existing layout", async () => {
        const result = await build(fx.repo, "main", "app:2", ["-o", layout]);
        assertFailed(result, 1, /read-only file system/i);
        assert.deepEqual(await snapshotLayout(layout), before);
        assert.deepEqual(await findTempNames(mnt), []);
      });
    } finally {
      await unmount(mnt);
      await removeTree(fx.dir);
    }
  },
});

Deno.test({
  name: named("an output on a full file system fails with exit 1, says so and leaves nothing", "mount"),
  ignore: !CAN_MOUNT,
  async fn(t) {
    const fx = await smallFixture();
    const mnt = join(fx.dir, "full");
    try {
      // A ~30 MB commit beside the small one.
      const bigTree = join(fx.dir, "big-tree");
      await makeSmallTree(bigTree, "big");
      await writeBigFile(join(bigTree, "usr", "big.bin"), 30 * 1000 * 1000);
      await commitTree(fx.repo, "big", bigTree);
      await removeTree(bigTree);

      await mountTmpfs(mnt, "size=1m,mode=0755");
      const layout = join(mnt, "existing.oci");
      const first = await build(fx.repo, "main", "app:small", ["-o", layout]);
      assert.equal(first.code, 0, describe(first));
      const before = await snapshotLayout(layout);
      const listing = await listTree(mnt);

      for (const format of ["oci", "oci-archive", "docker"]) {
        await t.step(`new ${format} output`, async () => {
          const output = join(mnt, format === "oci" ? "new.oci" : `new-${format}.tar`);
          const result = await build(fx.repo, "big", "app:big", ["--format", format, "-o", output]);
          assertFailed(result, 1, /No space left on device/);
          assert.match(result.stderr, /^Solution: .*(space|--output)/m);
          assert.deepEqual(await listTree(mnt), listing, "nothing left on the file system");
        });
      }
      await t.step("a second tag into an existing layout leaves index.json and the blobs as they were", async () => {
        const result = await build(fx.repo, "big", "app:big", ["-o", layout]);
        assertFailed(result, 1, /No space left on device/);
        assert.deepEqual(await snapshotLayout(layout), before);
        assert.deepEqual(await findTempNames(mnt), []);
        // The layout still works.
        await runOk("skopeo", ["inspect", `oci:${layout}:small`]);
      });
      await t.step("the space is given back", async () => {
        const df = await runOk("df", ["--output=used", "-B1", mnt]);
        const used = Number(df.trim().split("\n").pop());
        assert.ok(used < 512 * 1024, `tmpfs still uses ${used} bytes`);
      });
    } finally {
      await unmount(mnt);
      await removeTree(fx.dir);
    }
  },
});

// ---------------------------------------------------------------------------
// Signals.

/** Waits until a layer temp file exists under `dir` (or `timeoutMs` passes). */
async function waitForLayerTempFile(dir: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const path of await findTempNames(dir).catch(() => [])) {
      const files = await listTree(path).catch(() => [] as string[]);
      if (files.some((f) => /(^|\/)blob-[^/]*$/.test(f))) return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

Deno.test({
  name: named("SIGINT and SIGTERM halfway through a big build exit 130/143 and leave nothing behind", "root"),
  ignore: !ROOT,
  async fn(t) {
    const fx = await smallFixture();
    try {
      const bigTree = join(fx.dir, "big-tree");
      await makeSmallTree(bigTree, "huge");
      await Deno.mkdir(join(bigTree, "usr", "share", "big"), { recursive: true });
      for (let i = 0; i < 3; i++) {
        await writeBigFile(join(bigTree, "usr", "share", "big", `part-${i}.bin`), 100 * 1000 * 1000, 1000 + i);
      }
      await commitTree(fx.repo, "huge", bigTree);
      await removeTree(bigTree);

      const interrupt = async (signal: "SIGINT" | "SIGTERM", args: string[], watch: string) => {
        const running = await spawnCli(["--repo", fx.repo, "compose", "build-image", "huge", ...args]);
        const started = await waitForLayerTempFile(watch, 15_000);
        if (!started) await new Promise((resolve) => setTimeout(resolve, 500));
        await new Promise((resolve) => setTimeout(resolve, 100));
        try {
          running.child.kill(signal);
        } catch {
          // already gone: the result says why
        }
        const result = await running.result;
        assert.ok(started, `the layer temp file never appeared\n${describe(result)}`);
        assert.notEqual(result.code, 0, `the build finished before the signal\n${describe(result)}`);
        return result;
      };

      for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
        for (const format of ["oci", "docker"]) {
          await t.step(`${signal}, new ${format} output`, async () => {
            const output = join(fx.outDir, format === "oci" ? "big.oci" : "big.tar");
            const result = await interrupt(signal, ["app:big", "--format", format, "-o", output], fx.outDir);
            assert.equal(result.signal, null, `handled the signal itself\n${describe(result)}`);
            assert.equal(result.code, code, describe(result));
            assert.match(result.stderr, new RegExp(`^Error: Interrupted by ${signal}`, "m"));
            await assertDirIs(fx.outDir, []);
          });
        }
      }

      await t.step("SIGINT and SIGTERM while adding a tag to an existing layout leave it unchanged", async () => {
        const layout = join(fx.outDir, "existing.oci");
        const first = await build(fx.repo, "main", "app:small", ["-o", layout]);
        assert.equal(first.code, 0, describe(first));
        const before = await snapshotLayout(layout);
        for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
          const result = await interrupt(signal, ["app:big", "-o", layout], layout);
          assert.equal(result.code, code, describe(result));
          assert.match(result.stderr, new RegExp(`Interrupted by ${signal}`));
          assert.deepEqual(await snapshotLayout(layout), before);
          assert.deepEqual(await findTempNames(fx.outDir), []);
        }
        await runOk("skopeo", ["inspect", `oci:${layout}:small`]);
      });
    } finally {
      await removeTree(fx.dir);
    }
  },
});

Deno.test({
  name: named(
    "SIGINT and SIGTERM at start and while the commit's 100,000 entries are read exit 130/143 and write nothing",
    "root",
  ),
  ignore: !ROOT,
  async fn(t) {
    const fx = await smallFixture();
    try {
      await makeManyFilesTree(join(fx.dir, "many"), 200, 500);
      await commitTree(fx.repo, "many", join(fx.dir, "many"));
      await removeTree(join(fx.dir, "many"));
      // Two moments: as soon as the handlers are installed (before anything is read or written), and once the
      // build has started writing (its staging directory exists: the tree is being read).
      for (const [signal, code, when] of [["SIGINT", 130, "at start"], ["SIGTERM", 143, "while reading"]] as const) {
        await t.step(`${signal} ${when}`, async () => {
          const output = join(fx.outDir, "many.oci");
          const running = await spawnCli(["--repo", fx.repo, "compose", "build-image", "many", "many:1", "-o", output]);
          await waitForSignalHandler(running.child.pid, signal);
          if (when === "while reading") {
            const deadline = Date.now() + 30_000;
            while ((await findTempNames(fx.outDir)).length === 0 && Date.now() < deadline) {
              await new Promise((resolve) => setTimeout(resolve, 5));
            }
          }
          running.child.kill(signal);
          const result = await running.result;
          assert.equal(result.signal, null, `handled the signal itself\n${describe(result)}`);
          assert.equal(result.code, code, describe(result));
          assert.match(result.stderr, new RegExp(`^Error: Interrupted by ${signal}`, "m"));
          await assertDirIs(fx.outDir, []);
        });
      }
    } finally {
      await removeTree(fx.dir);
    }
  },
});
