/**
 * Integration tests of `image pull`: an image pushed by skopeo (not by us)
 * imported into an OSTree repository and compared file by file with the
 * commit it was built from, then built again into the same layer; whiteouts
 * and device nodes; crafted malicious layers refused without touching
 * anything outside the import; pulls without root.
 *
 * Run alone with: deno test --allow-all tests/registry_pull_test.ts
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseJsonResult, runCli, runCliOk } from "./helpers/cli.ts";
import {
  commitTree,
  createRepo,
  isRoot,
  makeRichTree,
  makeTempDir,
  removeTree,
  runOk,
} from "./helpers/fixture_repo.ts";
import { type CraftEntry, craftLayout, type Tamper } from "./helpers/oci_builder.ts";
import { DENO_DIR, hasProgram, randomBytes, startRegistry } from "./helpers/registry.ts";

const ROOT = isRoot();
const MISSING = [
  ...(await Promise.all(["docker-registry", "skopeo", "ostree"].map(async (t) => (await hasProgram(t)) ? [] : [t])))
    .flat(),
];

function testName(name: string, needsRoot: boolean, tools = true): string {
  const why = [
    ...(tools && MISSING.length > 0 ? [`${MISSING.join(", ")} not installed`] : []),
    ...(needsRoot && !ROOT ? ["needs root: ownership, setuid, security.capability and bare repos"] : []),
  ];
  return why.length === 0 ? name : `${name} [ignored: ${why.join("; ")}]`;
}

interface PullJson {
  branch: string;
  commit: string;
  digest: string;
  layers: { digest: string; size: number; diffId: string }[];
  skipped: { path: string; type: string }[];
  upToDate: boolean;
  ownershipKept: boolean;
  bytesDownloaded: number;
}

async function scratch(): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = await makeTempDir("apt-ostree-pull-test-");
  await Deno.chmod(dir, 0o755);
  return { dir, env: { REGISTRY_AUTH_FILE: join(dir, "no-auth.json"), XDG_CACHE_HOME: join(dir, "cache"), DENO_DIR } };
}

/** `ostree ls -R -X -C` of a commit: one line per entry with type, mode, owner, size, checksum, xattrs, path. */
async function listing(repo: string, ref: string): Promise<string[]> {
  return (await runOk("ostree", ["ls", `--repo=${repo}`, "-R", "-X", "-C", ref])).trimEnd().split("\n");
}

async function refs(repo: string): Promise<string[]> {
  return (await runOk("ostree", ["refs", `--repo=${repo}`])).split("\n").filter(Boolean);
}

async function importLeftovers(repo: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(repo, "tmp"))) if (e.name.startsWith("apt-ostree-import-")) out.push(e.name);
  return out;
}

Deno.test({
  name: testName(
    "image pull: an image pushed by skopeo imports file for file; build-image of it gives the same layer",
    true,
  ),
  ignore: MISSING.length > 0 || !ROOT,
  fn: async () => {
    const { dir, env } = await scratch();
    const registry = await startRegistry(dir);
    try {
      const repo = await createRepo("bare", dir);
      const rich = await makeRichTree(join(dir, "tree"), { bigFileSize: 2_000_000 });
      const original = await commitTree(repo, "main", join(dir, "tree"), { version: "7.1" });
      const built = parseJsonResult(
        await runCliOk([
          "--repo",
          repo,
          "compose",
          "build-image",
          "main",
          "rich:1",
          "-o",
          join(dir, "rich.oci"),
          "--json",
        ]),
      );
      // Pushed by skopeo, not by us.
      const ref = `docker://${registry.host}/team/rich:1`;
      await runOk("skopeo", ["copy", "--dest-tls-verify=false", `oci:${join(dir, "rich.oci")}:1`, ref]);

      const pulled = JSON.parse(
        (await runCliOk(["--repo", repo, "image", "pull", ref, "--tls-verify=false", "--json"], { env })).stdout,
      ) as PullJson;
      assert.equal(pulled.branch, `team/rich/1/${Deno.build.arch}`);
      assert.equal(pulled.digest, built.digest);
      assert.ok(pulled.ownershipKept);
      assert.deepEqual(pulled.skipped, []);

      // File by file: type, mode (setuid included), owner, size, content and xattrs, /etc back in /usr/etc.
      const before = await listing(repo, original);
      const after = await listing(repo, pulled.commit);
      const differ = before.filter((line, i) => line !== after[i]).slice(0, 5);
      assert.deepEqual(
        differ,
        [],
        `first differences:\n${differ.join("\n")}\nvs\n${
          after.filter((l, i) => l !== before[i]).slice(0, 5).join("\n")
        }`,
      );
      assert.equal(after.length, before.length);
      assert.ok(after.some((l) => l.endsWith(`/${rich.capFile}`) && l.includes("security.capability")));

      // The commit records where it came from.
      const key = (k: string) =>
        runOk("ostree", ["show", `--repo=${repo}`, `--print-metadata-key=${k}`, pulled.commit]).then((s) => s.trim());
      assert.equal(await key("apt-ostree.image.digest"), `'${built.digest}'`);
      assert.equal(await key("apt-ostree.image.source"), `'${ref}'`);
      assert.equal(await key("version"), "'7.1'");

      // Built again from the imported commit: the very same layer.
      const rebuilt = parseJsonResult(
        await runCliOk([
          "--repo",
          repo,
          "compose",
          "build-image",
          pulled.branch,
          "rich:2",
          "-o",
          join(dir, "rebuilt.oci"),
          "--json",
        ]),
      );
      assert.deepEqual(rebuilt.layers!.map((l) => l.diffId), built.layers!.map((l) => l.diffId));
      assert.deepEqual(rebuilt.layers!.map((l) => l.digest), built.layers!.map((l) => l.digest));

      // Again: nothing to do.
      const again = JSON.parse(
        (await runCliOk(["--repo", repo, "image", "pull", ref, "--tls-verify=false", "--json"], { env })).stdout,
      ) as PullJson;
      assert.ok(again.upToDate);
      assert.equal(again.commit, pulled.commit);
      assert.deepEqual(await importLeftovers(repo), []);
    } finally {
      await registry.stop();
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: testName("image pull: whiteouts, opaque directories and device nodes, through the registry", false),
  ignore: MISSING.length > 0,
  fn: async () => {
    const { dir, env } = await scratch();
    const registry = await startRegistry(dir);
    try {
      const repo = await createRepo("bare-user", dir);
      const layout = join(dir, "layers.oci");
      await craftLayout(layout, [
        [
          { path: "etc/", type: "directory" },
          { path: "etc/hostname", content: "base\n" },
          { path: "etc/removed", content: "gone\n" },
          { path: "var/cache/", type: "directory" },
          { path: "var/cache/old", content: "old" },
          { path: "dev/", type: "directory" },
          { path: "dev/console", type: "char" },
        ],
        [
          { path: "etc/.wh.removed" },
          { path: "var/cache/.wh..wh..opq" },
          { path: "var/cache/new", content: "new" },
          { path: "usr/bin/tool", content: "#!/bin/sh\n", mode: 0o755 },
        ],
      ]);
      await runOk("skopeo", [
        "copy",
        "--dest-tls-verify=false",
        `oci:${layout}:latest`,
        `docker://${registry.host}/layers:1`,
      ]);
      const result = await runCli(
        ["--repo", repo, "image", "pull", `docker://${registry.host}/layers:1`, "--tls-verify=false", "--json"],
        { env },
      );
      assert.equal(result.code, 0, result.stderr);
      const pulled = JSON.parse(result.stdout) as PullJson;
      assert.deepEqual(pulled.skipped, [{ path: "dev/console", type: "char" }]);
      assert.equal(pulled.branch, `layers/1/${Deno.build.arch}`);
      const paths = (await listing(repo, pulled.commit)).map((l) => l.slice(l.lastIndexOf(" ") + 1));
      assert.deepEqual(paths.sort(), [
        "/",
        "/dev",
        "/usr",
        "/usr/bin",
        "/usr/bin/tool",
        "/usr/etc",
        "/usr/etc/hostname",
        "/var",
        "/var/cache",
        "/var/cache/new",
      ]);
      const human = await runCliOk(
        ["--repo", repo, "image", "pull", `docker://${registry.host}/layers:1`, "--tls-verify=false", "--force"],
        { env },
      );
      assert.match(human.stdout, /skipped: 1 device nodes or FIFOs, which OSTree cannot store: dev\/console \(char\)/);
      // A branch that existing refs make impossible is refused before anything is downloaded.
      const conflict = await runCli(
        [
          "--repo",
          repo,
          "image",
          "pull",
          `docker://${registry.host}/layers:1`,
          "--tls-verify=false",
          "--branch",
          "layers/1",
        ],
        { env },
      );
      assert.equal(conflict.code, 2);
      assert.match(conflict.stderr, /Cannot create the branch layers\/1: branches named layers\/1\/… exist/);
    } finally {
      await registry.stop();
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: testName(
    "image pull: crafted malicious layers are refused; nothing outside the import is touched",
    false,
    false,
  ),
  ignore: !(await hasProgram("ostree")),
  fn: async () => {
    const { dir, env } = await scratch();
    try {
      const repo = await createRepo("bare-user", dir);
      const outside = join(dir, "outside");
      await Deno.mkdir(outside);
      await Deno.writeTextFile(join(outside, "secret"), "do not touch");
      const cases: { name: string; layers: CraftEntry[][]; tamper?: Tamper; expect: RegExp }[] = [
        { name: "absolute", layers: [[{ path: `${outside}/pwned`, content: "x" }]], expect: /absolute path/ },
        {
          name: "dotdot",
          layers: [[{ path: "../../../../../../../../" + outside.slice(1) + "/pwned", content: "x" }]],
          expect: /outside the image with '\.\.'/,
        },
        {
          name: "symlink-parent",
          layers: [[{ path: "escape", type: "symlink", target: outside }], [{ path: "escape/pwned", content: "x" }]],
          expect: /its parent 'escape' is a symlink/,
        },
        {
          name: "relative-symlink-parent",
          layers: [[
            { path: "a/", type: "directory" },
            { path: "a/up", type: "symlink", target: "../../../../../../../../../.." + outside },
            { path: "a/up/pwned", content: "x" },
          ]],
          expect: /its parent 'a\/up' is a symlink/,
        },
        {
          name: "hardlink-out",
          layers: [[{ path: "h", type: "hardlink", target: `../../../../..${outside}/secret` }]],
          expect: /outside the image/,
        },
        {
          name: "hardlink-via-symlink",
          layers: [[
            { path: "l", type: "symlink", target: outside },
            { path: "h", type: "hardlink", target: "l/secret" },
          ]],
          expect: /'l' is a symlink/,
        },
        { name: "whiteout-dotdot", layers: [[{ path: "etc/.wh.." }]], expect: /whiteout that reaches outside/ },
        {
          name: "size-larger",
          layers: [[{ path: "f", content: "content" }]],
          tamper: { layer: 0, sizeDelta: -5 },
          expect: /has more than \d+ bytes, but its descriptor says/,
        },
        {
          name: "size-smaller",
          layers: [[{ path: "f", content: "content" }]],
          tamper: { layer: 0, sizeDelta: 100 },
          expect: /bytes, but its descriptor says/,
        },
        {
          name: "corrupt",
          layers: [[{ path: "f", content: "x".repeat(4000) }]],
          tamper: { layer: 0, corrupt: true },
          expect: /does not match its digest|not a valid gzip stream/,
        },
        {
          name: "diff-id",
          layers: [[{ path: "f", content: "x" }]],
          tamper: { layer: 0, wrongDiffId: true },
          expect: /does not match the image config/,
        },
      ];
      for (const c of cases) {
        const layout = join(dir, `${c.name}.oci`);
        await craftLayout(layout, c.layers, { tamper: c.tamper });
        const result = await runCli(
          ["--repo", repo, "image", "pull", `oci:${layout}:latest`, "--branch", `evil/${c.name}`],
          { env },
        );
        assert.equal(result.code, 1, `${c.name}: ${result.stdout}${result.stderr}`);
        assert.match(result.stderr, c.expect, `${c.name}: ${result.stderr}`);
        assert.match(result.stderr, /Solution: .*nothing was imported|Solution: The image is damaged/, c.name);
        assert.deepEqual(
          (await Array.fromAsync(Deno.readDir(outside))).map((e) => e.name),
          ["secret"],
          c.name,
        );
        assert.equal(await Deno.readTextFile(join(outside, "secret")), "do not touch", c.name);
      }
      assert.deepEqual(await refs(repo), []);
      assert.deepEqual(await importLeftovers(repo), []);
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: testName("image pull: without root, root-owned images import and others say root is needed", true, false),
  ignore: !ROOT || !(await hasProgram("ostree")),
  fn: async () => {
    const { dir, env: rootEnv } = await scratch();
    const { DENO_DIR: _, ...env } = rootEnv; // the CLI runs as nobody, with a copy of the Deno cache
    const nobody = 65534;
    try {
      const repo = await createRepo("bare-user", dir);
      const ok = join(dir, "ok.oci");
      const owned = join(dir, "owned.oci");
      await craftLayout(ok, [[{ path: "usr/bin/su", content: "su", mode: 0o4755 }, {
        path: "etc/motd",
        content: "hi",
      }]], {
        name: "example.com/base:2",
      });
      await craftLayout(owned, [[{ path: "home/u/file", content: "x", uid: 1000, gid: 1000 }]]);
      await runOk("chown", ["-R", `${nobody}:${nobody}`, repo, ok, owned]);
      const pulled = await runCli(["--repo", repo, "image", "pull", `oci:${ok}`, "--json"], { env, uid: nobody });
      assert.equal(pulled.code, 0, pulled.stderr);
      const result = JSON.parse(pulled.stdout) as PullJson;
      assert.equal(result.branch, `base/2/${Deno.build.arch}`);
      assert.equal(result.ownershipKept, false);
      const lines = await listing(repo, result.commit);
      assert.ok(lines.some((l) => /^-04755 0 0 .* \/usr\/bin\/su$/.test(l)), lines.join("\n"));

      const refused = await runCli(
        ["--repo", repo, "image", "pull", `oci:${owned}`, "--branch", "owned/1"],
        { env, uid: nobody },
      );
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /Importing this image needs root: home\/u\/file is owned by 1000:1000/);
      assert.match(refused.stderr, /Solution: Run the pull as root/);
    } finally {
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: testName(
    "image pull: a gzip bomb over --max-layer-size is refused while it inflates; a full disk is a clean error; nothing is committed",
    true,
  ),
  ignore: MISSING.length > 0 || !ROOT,
  async fn(t) {
    const dir = await makeTempDir("apt-ostree-pull-limits-");
    const mnt = join(dir, "small-fs");
    try {
      // 64 MiB of zeros: 64 KiB of gzip.
      const layout = join(dir, "zeros.oci");
      await craftLayout(layout, [[{ path: "zeros", content: new Uint8Array(64 << 20) }]], { tag: "1" });
      await Deno.mkdir(mnt);
      const mounted = await new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt] })
        .output();
      if (!mounted.success) {
        console.log("cannot mount a tmpfs here; skipped");
        return;
      }
      const repo = await createRepo("bare-user", mnt);
      const pull = (...extra: string[]) =>
        runCli(["--repo", repo, "image", "pull", `oci:${layout}:1`, "--branch", "z/1", ...extra]);
      const assertNothingLeft = async () => {
        assert.equal(await runOk("ostree", ["refs", `--repo=${repo}`]), "", "no ref");
        const tmp = await Array.fromAsync(Deno.readDir(join(repo, "tmp")), (e) => e.name);
        assert.deepEqual(tmp.filter((n) => n.startsWith("apt-ostree")), [], "no import tree left");
      };
      await t.step("over --max-layer-size: refused while streaming", async () => {
        const result = await pull("--max-layer-size", "8MiB");
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /^Error: Layer sha256:[0-9a-f]{64} of oci:.* unpacks to more than 8388608 bytes$/m);
        assert.match(result.stderr, /^Solution: .*--max-layer-size$/m);
        assert.doesNotMatch(result.stderr, /Uncaught/);
        await assertNothingLeft();
      });
      await t.step("over --max-image-size: refused too", async () => {
        const result = await pull("--max-image-size", "1MiB");
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /^Error: The layers of the image unpack to more than 1048576 bytes$/m);
        await assertNothingLeft();
      });
      await t.step("layers bigger than the free space: refused before anything is written", async () => {
        // 24 MiB of random bytes do not compress: more than the 16 MiB file system holds.
        const big = join(dir, "random.oci");
        await craftLayout(big, [[{
          path: "random",
          content: randomBytes(24 << 20, 7),
        }]], {
          tag: "1",
        });
        const result = await runCli(["--repo", repo, "image", "pull", `oci:${big}:1`, "--branch", "r/1"]);
        assert.equal(result.code, 1, result.stderr);
        assert.match(
          result.stderr,
          /^Error: Not enough space to pull oci:.* its layers alone are \d+ bytes compressed, and \d+ bytes are free$/m,
        );
        assert.match(result.stderr, /^Solution: .*--repo$/m);
        await assertNothingLeft();
      });
      await t.step("a full disk: the clean error, three times in a row", async () => {
        for (let i = 0; i < 3; i++) {
          const result = await pull();
          assert.equal(result.code, 1, result.stderr);
          assert.match(result.stderr, /No space left on device/);
          assert.doesNotMatch(result.stderr, /Uncaught|stream controller/);
          await assertNothingLeft();
        }
      });
    } finally {
      await new Deno.Command("umount", { args: [mnt] }).output();
      await removeTree(dir);
    }
  },
});
