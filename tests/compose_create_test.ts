/**
 * `compose create` end to end through the CLI, offline: the base is a stub
 * Debian tree whose apt-get is a shell script (tests/helpers/compose.ts),
 * so the real checkout, bubblewrap sandbox, cleanup, commit, locking and
 * failure paths run without the network. The real apt is exercised by
 * tests/compose_e2e_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli, spawnCli } from "./helpers/cli.ts";
import {
  assertFsckClean,
  leftoverWorkDirs,
  makeStubTree,
  metadataText,
  snapshotRepo,
  STUB_BASE_METADATA,
} from "./helpers/compose.ts";
import { commitTree, createRepo, isRoot, makeTempDir, removeTree, run, runOk } from "./helpers/fixture_repo.ts";
import { hasProgram, startRegistry } from "./helpers/registry.ts";

const BASE_BRANCH = "debian/12/x86_64";
const ROOT = isRoot();
const HAS_BWRAP = (await run("sh", ["-c", "command -v bwrap"])).code === 0;
const X86_64 = Deno.build.arch === "x86_64";
const skipReason = !ROOT
  ? "needs root"
  : !HAS_BWRAP
  ? "bwrap (bubblewrap) is not installed"
  : !X86_64
  ? "the stub base is x86_64-only"
  : undefined;

/** Names a test, saying why it is skipped when it is. */
function name(text: string): string {
  return skipReason ? `${text} [SKIPPED: ${skipReason}]` : text;
}

let stubTree: Promise<string> | undefined;

/** A fresh repository holding the stub base on debian/12/x86_64. */
async function repoWithStubBase(): Promise<{ dir: string; repo: string; base: string }> {
  stubTree ??= (async () => {
    const tree = join(await makeTempDir("apt-ostree-stub-tree-"), "tree");
    await makeStubTree(tree);
    globalThis.addEventListener("unload", () => Deno.removeSync(dirname(tree), { recursive: true }));
    return tree;
  })();
  const dir = await makeTempDir("apt-ostree-create-test-");
  const repo = await createRepo("bare-user", dir);
  const base = await commitTree(repo, BASE_BRANCH, await stubTree, {
    version: "12.20240506",
    metadata: STUB_BASE_METADATA,
    subject: "stub base",
  });
  return { dir, repo, base };
}

/** Pids of processes whose command line contains `needle` (arguments separated by NUL). */
async function processesRunning(needle: string): Promise<number[]> {
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if ((await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).includes(needle)) found.push(Number(entry.name));
    } catch {
      // gone already
    }
  }
  return found;
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

interface CreateJson {
  dryRun: boolean;
  branch: string;
  branchDerived: boolean;
  commit?: string;
  parent?: string;
  version?: string;
  base: { ref: string; branch: string; localRef?: string; commit: string; source: string };
  requested: string[];
  installed: { name: string; version: string; arch: string }[];
}

function parseJson(stdout: string): CreateJson {
  return JSON.parse(stdout) as CreateJson;
}

Deno.test({
  name: "compose create refuses to run without root, before doing anything",
  ignore: !ROOT, // setpriv needs root to switch users
  async fn() {
    const dir = await makeTempDir();
    try {
      // The repository does not exist: the root check must come first.
      const result = await runCli(
        ["--repo", join(dir, "missing-repo"), "compose", "create", "--base", "debian:12", "--packages", "hello"],
        { uid: 65534 },
      );
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /^Error: compose create must be run as root \(running as uid 65534\)$/m);
      assert.match(result.stderr, /^Solution: Run it as root/m);
      const bootstrap = await runCli(["--repo", join(dir, "r"), "compose", "bootstrap", "debian:12"], { uid: 65534 });
      assert.equal(bootstrap.code, 1);
      assert.match(bootstrap.stderr, /^Error: compose bootstrap must be run as root/m);
      assert.equal((await Array.fromAsync(Deno.readDir(dir))).length, 0, "nothing was created");
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: name("create installs in the sandbox and commits a deployment on a derived branch, with parent and metadata"),
  ignore: skipReason !== undefined,
  async fn() {
    const { dir, repo, base } = await repoWithStubBase();
    try {
      const first = await runCli([
        "--repo",
        repo,
        "--json",
        "compose",
        "create",
        "--base",
        "debian:bookworm",
        "--packages",
        "zlib-tool",
        "alpha",
      ]);
      assert.equal(first.code, 0, first.stderr);
      const result = parseJson(first.stdout);
      assert.equal(result.branch, "deploy/debian/12/x86_64/alpha_zlib-tool");
      assert.equal(result.branchDerived, true);
      assert.equal(result.dryRun, false);
      assert.match(result.commit!, /^[0-9a-f]{64}$/);
      assert.equal(result.parent, undefined);
      assert.equal(result.version, "12.20240506");
      assert.deepEqual(result.base, {
        ref: "debian:12",
        branch: BASE_BRANCH,
        localRef: BASE_BRANCH,
        commit: base,
        source: "local",
        version: "12.20240506",
      });
      assert.deepEqual(result.requested, ["zlib-tool", "alpha"]);
      assert.deepEqual(result.installed.map((p) => `${p.name}=${p.version}`), ["alpha=1.0-stub", "zlib-tool=1.0-stub"]);

      const commit = result.commit!;
      assert.equal(await metadataText(repo, commit, "apt-ostree.base-commit"), `'${base}'`);
      assert.equal(await metadataText(repo, commit, "apt-ostree.requested-packages"), "['zlib-tool', 'alpha']");
      assert.equal(
        await metadataText(repo, commit, "apt-ostree.installed-packages"),
        "['alpha=1.0-stub', 'zlib-tool=1.0-stub']",
      );
      assert.equal(await metadataText(repo, commit, "apt-ostree.arch"), "'x86_64'");
      assert.equal(await metadataText(repo, commit, "apt-ostree.base-ref"), "'debian:12'");
      assert.match(await metadataText(repo, commit, "apt-ostree.packages"), /'dpkg=1\.21\.22'/);

      // Deployment layout, the package's files, the base file changed in place, the sandbox seen from inside.
      const cat = (path: string) => runOk("ostree", ["cat", `--repo=${repo}`, commit, path]);
      assert.equal(await cat("/usr/etc/stub.conf"), "base line\ninstalled zlib-tool\ninstalled alpha\n");
      assert.equal(await cat("/usr/share/stub-alpha"), "alpha\n");
      const sandbox = await cat("/var/lib/stub-sandbox");
      assert.match(sandbox, /^pid=[1-9] /, `the sandbox has its own pid namespace: ${sandbox}`);
      assert.match(sandbox, /policy-rc\.d=101 resolv\.conf=present/);
      const ls = (path: string) => run("ostree", ["ls", `--repo=${repo}`, commit, path]);
      assert.notEqual((await ls("/etc")).code, 0, "no /etc in a deployment");
      assert.notEqual((await ls("/usr/sbin/policy-rc.d")).code, 0, "policy-rc.d removed");
      assert.notEqual((await ls("/usr/etc/resolv.conf")).code, 0, "no resolv.conf left behind");
      assert.notEqual((await ls("/var/lib/apt/lists/stub_Packages")).code, 0, "apt lists removed");
      assert.notEqual((await ls("/var/cache/apt/archives/alpha.deb")).code, 0, "apt cache removed");
      assert.notEqual((await ls("/var/log/apt/history.log")).code, 0, "logs removed");
      // The base commit is intact (a hardlink checkout would have changed its objects).
      assert.equal(await runOk("ostree", ["cat", `--repo=${repo}`, base, "/usr/etc/stub.conf"]), "base line\n");
      await assertFsckClean(repo);

      // Same inputs again: same branch, the previous commit as parent, the version numbered on.
      const second = await runCli([
        "--repo",
        repo,
        "compose",
        "create",
        "--base",
        "debian:12",
        "--packages",
        "alpha",
        "--packages",
        "zlib-tool",
      ]);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /^Created deployment deploy\/debian\/12\/x86_64\/alpha_zlib-tool \(name derived/m);
      assert.match(second.stdout, new RegExp(`^  parent:   ${commit}$`, "m"));
      assert.match(second.stdout, /^ {2}version: {2}12\.20240506\.1$/m);
      assert.deepEqual(await leftoverWorkDirs(repo), []);
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: name("--json lists the packages added and upgraded (old and new version), in a dry run and a real one"),
  ignore: skipReason !== undefined,
  async fn() {
    const { dir, repo } = await repoWithStubBase();
    try {
      const upgrade = [{ name: "base-files", arch: "amd64", oldVersion: "12.4", newVersion: "12.4+deb12u1-stub" }];
      for (const dryRun of [true, false]) {
        const args = ["--repo", repo, "--json", "compose", "create", "--base", "debian:12"];
        const result = await runCli([...args, "--packages", "hello", "base-files", ...(dryRun ? ["--dry-run"] : [])]);
        assert.equal(result.code, 0, result.stderr);
        const json = JSON.parse(result.stdout);
        assert.deepEqual(json.added, [{ name: "hello", version: "1.0-stub", arch: "amd64" }], `dry run: ${dryRun}`);
        assert.deepEqual(json.upgraded, upgrade, `dry run: ${dryRun}`);
        assert.deepEqual(json.downgraded, []);
      }
      const human = await runCli([
        "--repo",
        repo,
        "compose",
        "create",
        "--base",
        "debian:12",
        "--packages",
        "base-files",
      ]);
      assert.match(human.stdout, /^ {4}base-files 12\.4 -> 12\.4\+deb12u1-stub \(amd64\)$/m);
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: name("--dry-run reports what apt would install and the branch, and leaves the repository untouched"),
  ignore: skipReason !== undefined,
  async fn() {
    const { dir, repo } = await repoWithStubBase();
    try {
      const before = await snapshotRepo(repo);
      const human = await runCli([
        "--repo",
        repo,
        "compose",
        "create",
        "--base",
        "debian:12",
        "--packages",
        "hello",
        "--dry-run",
      ]);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /^Would create deployment deploy\/debian\/12\/x86_64\/hello/m);
      assert.match(human.stdout, /^ {4}hello 1\.0-stub \(amd64\)$/m);
      assert.match(human.stdout, /^Nothing was written \(--dry-run\)\.$/m);
      const json = await runCli([
        "--repo",
        repo,
        "compose",
        "create",
        "--json",
        "--base",
        "debian:12",
        "--packages",
        "hello",
        "--output",
        "web",
        "--dry-run",
      ]);
      assert.equal(json.code, 0, json.stderr);
      const result = parseJson(json.stdout);
      assert.equal(result.dryRun, true);
      assert.equal(result.branch, "web");
      assert.equal(result.commit, undefined);
      assert.deepEqual(result.installed, [{ name: "hello", version: "1.0-stub", arch: "amd64" }]);
      assert.deepEqual(await snapshotRepo(repo), before);
      assert.deepEqual(await leftoverWorkDirs(repo), []);
    } finally {
      await removeTree(dir);
    }
  },
});

/** Runs a create that must fail, and checks that it lost nothing. */
async function assertFailsCleanly(args: string[], expected: RegExp[], prepare?: (repo: string) => Promise<void>) {
  const { dir, repo } = await repoWithStubBase();
  try {
    if (prepare) await prepare(repo);
    const before = await snapshotRepo(repo);
    const result = await runCli([
      "--repo",
      repo,
      "compose",
      "create",
      "--base",
      "debian:12",
      "--output",
      "out",
      ...args,
    ]);
    assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`);
    for (const re of expected) assert.match(result.stderr, re);
    assert.equal(result.stdout, "");
    assert.deepEqual(await snapshotRepo(repo), before, "no commit, no ref moved");
    assert.deepEqual(await leftoverWorkDirs(repo), [], "the work tree is removed");
    await assertFsckClean(repo);
  } finally {
    await removeTree(dir);
  }
}

Deno.test({
  name: name("an unknown package fails with apt's own line; nothing is committed"),
  ignore: skipReason !== undefined,
  async fn() {
    await assertFailsCleanly(["--packages", "hello", "nonexistent-package"], [
      /^Error: apt-get install failed in the sandbox \(exit code 100\); nothing was committed:$/m,
      /^ {2}E: Unable to locate package nonexistent-package$/m,
      /^Solution: Check the package names/m,
    ]);
  },
});

Deno.test({
  name: name("a failing maintainer script fails with dpkg's lines; nothing is committed"),
  ignore: skipReason !== undefined,
  async fn() {
    await assertFailsCleanly(["--packages", "fail-postinst"], [
      /^Error: apt-get install failed in the sandbox \(exit code 100\)/m,
      /^ {2}dpkg: error processing package fail-postinst \(--configure\):$/m,
      /^ {2}E: Sub-process \/usr\/bin\/dpkg returned an error code \(1\)$/m,
      /^Solution: See apt's and dpkg's lines/m,
    ]);
  },
});

Deno.test({
  name: name("a network error in apt-get update fails with apt's lines; nothing is committed"),
  ignore: skipReason !== undefined,
  async fn() {
    await assertFailsCleanly(["--packages", "hello"], [
      /^Error: apt-get update failed in the sandbox \(exit code 100\)/m,
      /Temporary failure resolving 'deb\.debian\.org'/,
      /^Solution: Check the network/m,
    ], async (repo) => {
      // A base whose apt is offline.
      const tree = join(await makeTempDir(), "tree");
      await makeStubTree(tree);
      await Deno.writeTextFile(join(tree, "usr/etc/apt/stub-offline"), "");
      await commitTree(repo, BASE_BRANCH, tree, { version: "12.20240507", metadata: STUB_BASE_METADATA });
      await removeTree(dirname(tree));
    });
  },
});

Deno.test({
  name: name("Ctrl-C while apt runs: exit 130, the sandbox is gone, the work tree removed, no ref moved"),
  ignore: skipReason !== undefined,
  async fn() {
    const { dir, repo } = await repoWithStubBase();
    try {
      const before = await snapshotRepo(repo);
      const { child, result } = await spawnCli([
        "--repo",
        repo,
        "compose",
        "create",
        "--base",
        "debian:12",
        "--packages",
        "sleep-forever",
      ]);
      // Wait until the stub apt-get sleeps inside the sandbox.
      const deadline = Date.now() + 60_000;
      let sleeping = false;
      while (!sleeping && Date.now() < deadline) {
        for (const work of await leftoverWorkDirs(repo)) {
          try {
            await Deno.lstat(join(repo, "tmp", work, "rootfs/var/lib/stub-sleeping"));
            sleeping = true;
          } catch {
            // not yet
          }
        }
        if (!sleeping) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(sleeping, "the stub apt-get started");
      child.kill("SIGINT");
      const out = await result;
      assert.equal(out.code, 130, out.stderr);
      assert.match(out.stderr, /^Error: Interrupted by SIGINT; nothing was written$/m);
      assert.deepEqual(await snapshotRepo(repo), before);
      assert.deepEqual(await leftoverWorkDirs(repo), []);
      assert.deepEqual(await processesRunning("sleep\u0000600"), [], "no process of the sandbox is left");
      await assertFsckClean(repo);
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: name("two creates on one repository at once: both commit, one after the other, fsck clean"),
  ignore: skipReason !== undefined,
  async fn() {
    const { dir, repo } = await repoWithStubBase();
    try {
      const args = (pkg: string) => [
        "--repo",
        repo,
        "--json",
        "compose",
        "create",
        "--base",
        "debian:12",
        "--packages",
        pkg,
        "--output",
        "shared",
      ];
      const [a, b, c] = await Promise.all([
        runCli(args("one")),
        runCli(args("two")),
        runCli([...args("three").slice(0, -1), "other"]),
      ]);
      for (const r of [a, b, c]) assert.equal(r.code, 0, r.stderr);
      const ra = parseJson(a.stdout);
      const rb = parseJson(b.stdout);
      // The two commits on "shared" form a chain: the later one's parent is the earlier one.
      const [earlier, later] = ra.parent === undefined ? [ra, rb] : [rb, ra];
      assert.equal(earlier.parent, undefined);
      assert.equal(later.parent, earlier.commit);
      assert.equal((await runOk("ostree", ["rev-parse", `--repo=${repo}`, "shared"])).trim(), later.commit);
      assert.equal(parseJson(c.stdout).branch, "other");
      assert.deepEqual(await leftoverWorkDirs(repo), []);
      await assertFsckClean(repo);
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: name("--file: base, packages and output from a compose file; command-line packages add to them"),
  ignore: skipReason !== undefined,
  async fn() {
    const { dir, repo } = await repoWithStubBase();
    try {
      const file = join(dir, "compose.yaml");
      await Deno.writeTextFile(
        file,
        "base: debian:12\npackages:\n  - alpha\noutput: from-file\nimage:\n  cmd: [/usr/bin/alpha]\n  env: { LANG: C.UTF-8 }\n",
      );
      const result = await runCli([
        "--repo",
        repo,
        "--json",
        "compose",
        "create",
        "--file",
        file,
        "--packages",
        "beta",
      ]);
      assert.equal(result.code, 0, result.stderr);
      const json = parseJson(result.stdout);
      assert.equal(json.branch, "from-file");
      assert.deepEqual(json.requested, ["alpha", "beta"]);
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: name("bad inputs are usage errors that change nothing"),
  ignore: skipReason !== undefined,
  async fn() {
    const { dir, repo } = await repoWithStubBase();
    try {
      const before = await snapshotRepo(repo);
      const cases: [string[], RegExp][] = [
        [["--base", "invalid-ref"], /^Error: Invalid base image reference format: invalid-ref$/m],
        [["--base", "debian:12", "--packages", "vim-"], /^Error: Invalid package name: vim-$/m],
        [["--base", "debian:12", "--output", "debian/12/x86_64"], /is a base image branch/],
        [["--base", "debian:12", "--output", "bad name"], /^Error: Invalid output branch name: bad name$/m],
        [["--base", "debian:12", "--pull"], /^Error: --pull needs a remote/m],
        [["--packages", "hello"], /^Error: compose create needs a base image$/m],
        [["--base", "debian:12", "--remote", "nope"], /^Error: No remote named nope/m],
      ];
      for (const [args, re] of cases) {
        const result = await runCli(["--repo", repo, "compose", "create", ...args]);
        assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
        assert.match(result.stderr, re);
      }
      const missing = await runCli(["--repo", repo, "compose", "create", "--base", "ubuntu:24.04"]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^Error: Base image not found locally: ubuntu:24\.04$/m);
      assert.match(missing.stderr, /^Solution: Ensure the base image is available in the OSTree repository/m);
      assert.deepEqual(await snapshotRepo(repo), before);
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: name("create --base docker://… imports the image from a registry once, then composes on it"),
  ignore: skipReason !== undefined || !(await hasProgram("docker-registry")),
  async fn() {
    const { dir, repo } = await repoWithStubBase();
    const registry = await startRegistry(dir);
    try {
      // The stub base travels as an image: build it, push it, then compose from the registry.
      const push = await runCli([
        "--repo",
        repo,
        "compose",
        "build-image",
        BASE_BRANCH,
        `${registry.host}/stub/debian:12`,
        "--push",
        "--no-local",
        "--tls-verify=false",
      ]);
      assert.equal(push.code, 0, push.stderr);
      const other = join(dir, "other-repo");
      await runOk("ostree", ["init", `--repo=${other}`, "--mode=bare-user"]);
      const image = `docker://${registry.host}/stub/debian:12`;
      const create = (extra: string[] = []) =>
        runCli([
          "--repo",
          other,
          "--json",
          "compose",
          "create",
          "--base",
          image,
          "--tls-verify=false",
          "--packages",
          "alpha",
          ...extra,
        ]);
      const first = await create();
      assert.equal(first.code, 0, first.stderr);
      const result = parseJson(first.stdout);
      assert.equal(result.branch, "deploy/stub/debian/12/x86_64/alpha");
      assert.equal(result.base.ref, image);
      assert.equal(result.base.localRef, "stub/debian/12/x86_64");
      assert.equal(result.base.source, "pulled");
      assert.deepEqual(result.installed.map((p) => p.name), ["alpha"]);
      const cat = (path: string) => runOk("ostree", ["cat", `--repo=${other}`, result.commit!, path]);
      assert.equal(await cat("/usr/share/stub-alpha"), "alpha\n");
      assert.match(await cat("/usr/etc/stub.conf"), /^base line\ninstalled alpha\n$/);

      // The imported base is used again without the registry.
      await registry.stop();
      const second = await create(["--output", "again"]);
      assert.equal(second.code, 0, second.stderr);
      const again = parseJson(second.stdout);
      assert.equal(again.base.source, "cache");
      assert.equal(again.base.commit, result.base.commit);
      // --pull needs the registry, and says so when it is gone.
      const pulled = await create(["--output", "third", "--pull", "--retry-times", "0"]);
      assert.equal(pulled.code, 1);
      assert.match(pulled.stderr, /^Error: .*(connect|registry)/im);
      await assertFsckClean(other);
    } finally {
      await registry.stop().catch(() => {});
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: name(
    "compose create --gpg-sign: ostree verifies the commit's signature; a --bootc image carries .commitmeta and the pulled commit verifies",
  ),
  ignore: skipReason !== undefined || !(await hasProgram("gpg")),
  async fn() {
    const { dir, repo } = await repoWithStubBase();
    const home = join(dir, "gnupg");
    try {
      await Deno.mkdir(home, { mode: 0o700 });
      await runOk("gpg", [
        "--homedir",
        home,
        "--batch",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--quick-gen-key",
        "apt-ostree commit signer <signer@example.com>",
        "ed25519",
        "sign",
        "never",
      ]);
      const colons = await runOk("gpg", ["--homedir", home, "--batch", "--with-colons", "--list-secret-keys"]);
      const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(colons)![1];
      const publicKey = join(dir, "signer.asc");
      await Deno.writeTextFile(publicKey, await runOk("gpg", ["--homedir", home, "--armor", "--export", fingerprint]));

      const created = await runCli([
        "--repo",
        repo,
        "--json",
        "compose",
        "create",
        "--base",
        "debian:bookworm",
        "--packages",
        "alpha",
        "--branch",
        "signed",
        "--gpg-sign",
        fingerprint,
        "--gpg-homedir",
        home,
      ]);
      assert.equal(created.code, 0, created.stderr);
      const commit = parseJson(created.stdout).commit!;
      const commitmeta = (r: string) => join(r, "objects", commit.slice(0, 2), `${commit.slice(2)}.commitmeta`);
      assert.ok(await Deno.stat(commitmeta(repo)), "the signature is in the commit's detached metadata");
      // ostree itself checks the signature against a keyring holding only the signer's public key…
      const verifyHome = join(dir, "verify-gnupg");
      await Deno.mkdir(verifyHome, { mode: 0o700 });
      // (ostree reads the keyring trustedkeys.gpg of --gpg-homedir)
      await runOk("gpg", ["--batch", "--output", join(verifyHome, "trustedkeys.gpg"), "--dearmor", publicKey]);
      const shown = await runOk("ostree", ["show", `--repo=${repo}`, `--gpg-homedir=${verifyHome}`, "signed"]);
      assert.match(shown, /Good signature from "apt-ostree commit signer <signer@example\.com>"/);
      assert.match(shown, new RegExp(fingerprint.slice(-16)));
      // …and cannot with another keyring (no such public key).
      const emptyHome = join(dir, "empty-gnupg");
      await Deno.mkdir(emptyHome, { mode: 0o700 });
      const unknown = await runOk("ostree", ["show", `--repo=${repo}`, `--gpg-homedir=${emptyHome}`, "signed"]);
      assert.doesNotMatch(unknown, /Good signature/);
      // A --homedir without a key is a usage error; a key gpg does not have fails the commit, the branch stays.
      const noKey = await runCli(["--repo", repo, "compose", "create", "--base", "debian:12", "--gpg-homedir", home]);
      assert.equal(noKey.code, 2, noKey.stderr);
      const wrong = await runCli([
        "--repo",
        repo,
        "compose",
        "create",
        "--base",
        "debian:12",
        "--packages",
        "alpha",
        "--branch",
        "signed",
        "--gpg-sign",
        "0000000000000000000000000000000000000000",
        "--gpg-homedir",
        home,
      ]);
      assert.equal(wrong.code, 1, wrong.stderr);
      assert.match(wrong.stderr, /^Solution: Check --gpg-sign/m);
      assert.equal((await runOk("ostree", ["rev-parse", `--repo=${repo}`, "signed"])).trim(), commit);

      // The ostree-native image (the stub is not bootable: its lint finding is skipped) carries the detached metadata; a pull gives the same commit, and the remote's
      // keyring (ostree remote add --gpg-import) verifies the very same signature there.
      const layout = join(dir, "signed.oci");
      const built = await runCli([
        "--repo",
        repo,
        "--json",
        "compose",
        "build-image",
        "signed",
        "signed:1",
        "-o",
        layout,
        "--bootc",
        "--lint-skip",
        "baseimage-root",
      ]);
      assert.equal(built.code, 0, built.stderr);
      const target = join(dir, "target");
      await Deno.mkdir(target);
      await runOk("ostree", ["init", `--repo=${target}`, "--mode=archive"]);
      const pulled = await runCli([
        "--repo",
        target,
        "--json",
        "image",
        "pull",
        `oci:${layout}:1`,
        "--branch",
        "signed",
      ]);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.equal(JSON.parse(pulled.stdout).ostreeCommit, commit, pulled.stdout);
      assert.equal((await runOk("ostree", ["rev-parse", `--repo=${target}`, "signed"])).trim(), commit, pulled.stdout);
      assert.deepEqual(await Deno.readFile(commitmeta(target)), await Deno.readFile(commitmeta(repo)));
      await runOk("ostree", [
        "remote",
        "add",
        `--repo=${target}`,
        `--gpg-import=${publicKey}`,
        "origin",
        "file:///nonexistent",
      ]);
      const verified = await runOk("ostree", ["show", `--repo=${target}`, "--gpg-verify-remote=origin", "signed"]);
      assert.match(verified, /Good signature from "apt-ostree commit signer <signer@example\.com>"/);
    } finally {
      await run("gpgconf", ["--homedir", home, "--kill", "gpg-agent"]);
      await removeTree(dir);
    }
  },
});
