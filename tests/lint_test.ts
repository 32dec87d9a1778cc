/**
 * Integration tests of bootc's lint rules: `compose lint` on real OSTree
 * commits (a good one and a broken one), `image lint` on images built from
 * them with `compose build-image`, and the image tree source on crafted
 * layouts (whiteouts, opaque directories, hardlinks, damaged blobs).
 *
 * Run alone with: deno test --allow-all tests/lint_test.ts
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./helpers/cli.ts";
import { commitTree, createRepo, makeTempDir, removeTree } from "./helpers/fixture_repo.ts";
import { craftLayout } from "./helpers/oci_builder.ts";
import { hasProgram } from "./helpers/registry.ts";
import { LintError, lintTree } from "../src/bootc/lint.ts";
import { imageLintTree, lintImage } from "../src/bootc/lint_source.ts";
import { openImageSource } from "../src/image/open.ts";
import { BlobMismatchError } from "../src/oci/verify.ts";
import { AptOstreeError } from "../src/errors.ts";

const HAVE_OSTREE = await hasProgram("ostree");

/** Writes a tree that passes every rule (the commit view: configuration in usr/etc). */
async function writeGoodTree(root: string): Promise<void> {
  const write = async (path: string, text: string) => {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(root, path), text);
  };
  for (const d of ["dev", "proc", "sys", "run", "tmp", "var", "boot", "sysroot", "usr/etc"]) {
    await Deno.mkdir(join(root, d), { recursive: true });
  }
  await Deno.symlink("sysroot/ostree", join(root, "ostree"));
  await Deno.symlink("../run", join(root, "var/run"));
  await write("usr/lib/modules/6.1.0-1-amd64/vmlinuz", "not really a kernel\n");
  await write("usr/lib/ostree/prepare-root.conf", "[composefs]\nenabled = yes\n");
  await write("usr/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
  await write("usr/etc/group", "root:x:0:\n");
  await write("usr/etc/hostname", "debian\n");
  await write("usr/lib/sysusers.d/basic.conf", 'u root 0 "root" /root\n');
  await write("usr/lib/tmpfiles.d/var.conf", "L /var/run - - - - ../run\n");
  await write("usr/lib/bootc/kargs.d/10-console.toml", 'kargs = ["console=ttyS0"]\n');
}

interface Scratch {
  dir: string;
  repo: string;
}

async function scratch(): Promise<Scratch> {
  const dir = await makeTempDir("apt-ostree-lint-test-");
  const repo = await createRepo("bare-user", dir);
  const good = join(dir, "good");
  await writeGoodTree(good);
  await commitTree(repo, "good", good);
  // The broken tree: /var/run a directory (fatal), a log file and an empty /etc/resolv.conf (warnings).
  const bad = join(dir, "bad");
  await writeGoodTree(bad);
  await Deno.remove(join(bad, "var/run"));
  await Deno.mkdir(join(bad, "var/run/lock"), { recursive: true });
  await Deno.mkdir(join(bad, "var/log"));
  await Deno.writeTextFile(join(bad, "var/log/build.log"), "built\n");
  await Deno.writeTextFile(join(bad, "usr/etc/resolv.conf"), "");
  await commitTree(repo, "bad", bad);
  return { dir, repo };
}

interface JsonFinding {
  rule: string;
  severity: string;
  message: string;
  paths: string[];
  morePaths: number;
}

Deno.test({
  name: `compose lint and image lint: fatal rules exit 1 naming rule and path, warnings on stderr, --json, --skip${
    HAVE_OSTREE ? "" : " [ignored: ostree not installed]"
  }`,
  ignore: !HAVE_OSTREE,
  fn: async () => {
    const { dir, repo } = await scratch();
    try {
      // A good commit: exit 0, nothing on stderr.
      const good = await runCli(["--repo", repo, "compose", "lint", "good"]);
      assert.equal(good.code, 0, good.stderr);
      assert.equal(good.stderr, "");
      assert.match(good.stdout, /^OK: good \(commit [0-9a-f]{12}\)/);

      // The broken one: exit 1, the fatal rule and its path in the error, the warnings before it.
      const bad = await runCli(["--repo", repo, "compose", "lint", "bad"]);
      assert.equal(bad.code, 1, bad.stderr);
      assert.match(bad.stderr, /^Error: Lint rule var-run failed at \/var\/run: /m);
      assert.match(bad.stderr, /^Solution: .*--skip var-run/m);
      assert.match(bad.stderr, /^Lint warning: var-log: .*\n {2}\/var\/log\/build\.log$/m);
      assert.match(bad.stderr, /^Lint warning: buildah-injected: \/usr\/etc\/resolv\.conf is an empty file/m);

      // --json: the findings on stdout, still exit 1.
      const json = await runCli(["--repo", repo, "--json", "compose", "lint", "bad"]);
      assert.equal(json.code, 1);
      const result = JSON.parse(json.stdout) as { commit: string; findings: JsonFinding[]; fatal: number };
      assert.match(result.commit, /^[0-9a-f]{64}$/);
      assert.equal(result.fatal, 1);
      const varRun = result.findings.find((f) => f.rule === "var-run")!;
      assert.deepEqual({ severity: varRun.severity, paths: varRun.paths }, { severity: "fatal", paths: ["/var/run"] });
      assert.deepEqual(
        result.findings.map((f) => f.rule),
        ["var-run", "buildah-injected", "var-log", "var-tmpfiles"],
      );
      const tmpfiles = result.findings.find((f) => f.rule === "var-tmpfiles")!;
      assert.ok(tmpfiles.paths.includes("/var/log/build.log"), JSON.stringify(tmpfiles));

      // --skip the fatal rule: exit 0, warnings on stderr.
      const skipped = await runCli([
        "--repo",
        repo,
        "compose",
        "lint",
        "bad",
        "--skip",
        "var-run",
        "--skip",
        "var-log",
      ]);
      assert.equal(skipped.code, 0, skipped.stderr);
      assert.match(skipped.stderr, /Lint warning: buildah-injected/);
      assert.doesNotMatch(skipped.stderr, /var-log|Error:/);
      assert.match(skipped.stdout, /skipped: 2, warnings: 2, fatal: 0/);

      // Usage errors: exit 2.
      const unknown = await runCli(["--repo", repo, "compose", "lint", "bad", "--skip", "var-runn"]);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /Unknown lint rule: var-runn\nSolution: Pass --skip one of: var-run, /);
      assert.equal((await runCli(["--repo", repo, "compose", "lint"])).code, 2);

      // --list
      const list = JSON.parse((await runCli(["--json", "compose", "lint", "--list"])).stdout) as JsonFinding[];
      assert.equal(list.length, 14);
      assert.match((await runCli(["image", "lint", "--list"])).stdout, /^nonempty-run-tmp +warning +\/run and \/tmp/m);

      // The images of both: /usr/etc shows as /etc; same verdicts.
      for (const name of ["good", "bad"]) {
        const built = await runCli([
          "--repo",
          repo,
          "-q",
          "compose",
          "build-image",
          name,
          `${name}:1`,
          "-o",
          `oci:${join(dir, "images.oci")}:${name}`,
          // A plain image: an ostree-native build would refuse the bad commit (tests/bootc_test.ts).
          "--no-bootc",
        ]);
        assert.equal(built.code, 0, built.stderr);
      }
      const goodImage = await runCli(["image", "lint", `oci:${join(dir, "images.oci")}:good`]);
      assert.equal(goodImage.code, 0, goodImage.stderr);
      assert.equal(goodImage.stderr, "");
      const badImage = await runCli(["--json", "image", "lint", `oci:${join(dir, "images.oci")}:bad`]);
      assert.equal(badImage.code, 1);
      assert.match(badImage.stderr, /^Error: Lint rule var-run failed at \/var\/run: /m);
      const imageResult = JSON.parse(badImage.stdout) as { digest: string; findings: JsonFinding[] };
      assert.match(imageResult.digest, /^sha256:/);
      assert.deepEqual(
        imageResult.findings.map((f) => f.rule),
        ["var-run", "buildah-injected", "var-log", "var-tmpfiles"],
      );
      assert.deepEqual(imageResult.findings.find((f) => f.rule === "buildah-injected")!.paths, ["/etc/resolv.conf"]);
      const skippedImage = await runCli([
        "image",
        "lint",
        `oci:${join(dir, "images.oci")}:bad`,
        "--skip",
        "var-run",
      ]);
      assert.equal(skippedImage.code, 0, skippedImage.stderr);
      assert.match(skippedImage.stderr, /Lint warning: buildah-injected: \/etc\/resolv\.conf/);
      assert.equal((await runCli(["image", "lint", `oci:${join(dir, "images.oci")}:bad`, "--skip", "x"])).code, 2);
    } finally {
      await removeTree(dir);
    }
  },
});

const GOOD_LAYER = [
  ...["dev/", "proc/", "sys/", "run/", "tmp/", "var/", "boot/", "sysroot/", "etc/"].map((path) => ({
    path,
    type: "directory" as const,
  })),
  { path: "ostree", type: "symlink" as const, target: "sysroot/ostree" },
  { path: "var/run", type: "symlink" as const, target: "../run" },
  { path: "usr/lib/modules/6.1.0/vmlinuz", content: "kernel" },
  { path: "usr/lib/ostree/prepare-root.conf", content: "[composefs]\nenabled = yes\n" },
  { path: "usr/lib/tmpfiles.d/var.conf", content: "L /var/run - - - - ../run\n" },
];

async function lintLayout(dir: string): Promise<string[]> {
  const source = await openImageSource({ transport: "oci", path: dir, tag: "latest" });
  try {
    const { tree } = await imageLintTree(source);
    return (await lintTree(tree)).map((f) => f.rule);
  } finally {
    source.close();
  }
}

Deno.test("image lint tree: layers in order, whiteouts, opaque directories, hardlinks", async () => {
  const dir = await makeTempDir("apt-ostree-lint-layout-");
  try {
    await craftLayout(join(dir, "a"), [GOOD_LAYER]);
    assert.deepEqual(await lintLayout(join(dir, "a")), []);

    // A second kernel, /var/run as a directory, a log file: then whited out, hidden by an opaque directory.
    const broken = [
      { path: "usr/lib/modules/6.2.0/vmlinuz", content: "kernel 2" },
      { path: "var/run/", type: "directory" as const },
      { path: "var/log/x.log", content: "log" },
      { path: "var/log/keep.log", content: "log" },
    ];
    await craftLayout(join(dir, "b"), [GOOD_LAYER, broken]);
    assert.deepEqual(await lintLayout(join(dir, "b")), ["var-run", "kernel", "var-log", "var-tmpfiles"]);
    const fixed = [
      { path: "usr/lib/modules/.wh.6.2.0", content: "" },
      { path: "var/.wh.run", content: "" },
      { path: "var/run", type: "symlink" as const, target: "../run" },
      { path: "var/log/new.log", content: "" },
      { path: "var/log/.wh..wh..opq", content: "" },
    ];
    await craftLayout(join(dir, "c"), [GOOD_LAYER, broken, fixed]);
    // Only var/log (with its empty new.log) is left of the broken layer: var-tmpfiles, no var-log.
    assert.deepEqual(await lintLayout(join(dir, "c")), ["var-tmpfiles"]);

    // A hardlink to /etc/passwd is read like the file; the content kept is the linked one's.
    const users = [
      { path: "etc/passwd", content: "root:x:0:0::/root:/bin/sh\n" },
      { path: "etc/group", type: "hardlink" as const, target: "etc/passwd" },
    ];
    await craftLayout(join(dir, "d"), [GOOD_LAYER, users]);
    const result = await lintImage(`oci:${join(dir, "d")}:latest`);
    assert.deepEqual(result.findings.map((f) => f.rule), ["sysusers"]);
    assert.match(result.findings[0].message, /\/etc\/group entries without/);
  } finally {
    await removeTree(dir);
  }
});

Deno.test("image lint tree: damaged blobs and wrong diff ids are refused", async () => {
  const dir = await makeTempDir("apt-ostree-lint-layout-");
  try {
    await craftLayout(join(dir, "corrupt"), [GOOD_LAYER], { tamper: { layer: 0, corrupt: true } });
    await assert.rejects(lintLayout(join(dir, "corrupt")), (e) => e instanceof BlobMismatchError);
    await craftLayout(join(dir, "diff"), [GOOD_LAYER], { tamper: { layer: 0, wrongDiffId: true } });
    await assert.rejects(
      lintLayout(join(dir, "diff")),
      (e) => e instanceof AptOstreeError && /does not match the image config/.test(e.message),
    );
    // A path through a symlink is refused, as the import refuses it.
    await craftLayout(join(dir, "through"), [GOOD_LAYER, [{ path: "ostree/repo/x", content: "x" }]]);
    await assert.rejects(
      lintLayout(join(dir, "through")),
      (e) => e instanceof AptOstreeError && /is a symlink/.test(e.message),
    );
    // Fatal findings through assertLintClean-style callers: LintError names the rule.
    await craftLayout(join(dir, "fatal"), [GOOD_LAYER.filter((e) => e.path !== "proc/")]);
    const { findings } = await lintImage(`oci:${join(dir, "fatal")}:latest`);
    const error = new LintError(findings);
    assert.equal(error.finding.rule, "api-base-directories");
    assert.match(error.message, /at \/proc/);
  } finally {
    await removeTree(dir);
  }
});
