import assert from "node:assert/strict";
import {
  commitTree,
  makeOddNamesTree,
  makeRichTree,
  makeTempDir,
  removeTree,
  REPO_MODES,
  runOk,
  scanTree,
} from "../../tests/helpers/fixture_repo.ts";
import { DeflatePool } from "../compress/deflate_pool.ts";
import { AptOstreeError } from "../errors.ts";
import { comparePaths } from "../util/path_order.ts";
import { OstreeRepo } from "./repo.ts";
import { commitPathKind, type TreeEntry } from "./tree.ts";

const MODES = [...REPO_MODES, "bare-user-only"] as const;
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** One commit of the rich fixture tree with the odd names under `odd/`, in a repository of each mode. */
async function fixture(dir: string, mode: typeof MODES[number]): Promise<{ repo: OstreeRepo; commit: string }> {
  const tree = `${dir}/tree`;
  try {
    await Deno.lstat(tree);
  } catch {
    await makeRichTree(tree, { bigFileSize: 12345 });
    await makeOddNamesTree(`${tree}/odd`);
  }
  const path = `${dir}/repo-${mode}`;
  await runOk("ostree", ["init", `--repo=${path}`, `--mode=${mode}`]);
  return { repo: await OstreeRepo.open(path), commit: await commitTree(path, "b", tree) };
}

/** Checksums that `ostree ls -R -C` prints (a minimal parse: the hex columns of each entry line). */
async function listedChecksums(repo: OstreeRepo, commit: string): Promise<{ checksums: Set<string>; lines: number }> {
  const text = await runOk("ostree", ["ls", repo.repoArg, "-R", "-C", commit]);
  const checksums = new Set<string>();
  let lines = 0;
  for (const line of text.split("\n")) {
    const m = /^[-dl][0-7]{5} \d+ \d+ +\d+ ([0-9a-f]{64})(?: ([0-9a-f]{64}))? /.exec(line);
    if (!m) continue;
    lines++;
    checksums.add(m[1]);
    if (m[2]) checksums.add(m[2]);
  }
  return { checksums, lines };
}

for (const mode of MODES) {
  Deno.test(`${mode}: the tree read from the objects matches an ostree checkout and ostree ls`, async () => {
    const dir = await makeTempDir("tree-test-");
    try {
      const { repo, commit } = await fixture(dir, mode);
      const entries = [...await repo.readTree("b")];
      assert.deepEqual(entries.map((e) => e.path), entries.map((e) => e.path).sort(comparePaths), "path order");
      assert.equal(entries.some((e) => e.path === ""), false, "the root is not listed");

      await runOk("ostree", ["checkout", repo.repoArg, commit, `${dir}/co`]);
      const scanned = await scanTree(`${dir}/co`);
      assert.deepEqual(new Set(entries.map((e) => e.path)), new Set(scanned.keys()));
      for (const e of entries) {
        const s = scanned.get(e.path)!;
        const xattrs = Object.fromEntries(
          e.xattrs.filter((x) => x.name !== "security.selinux").map((x) => [x.name, hex(x.value)]).sort(),
        );
        assert.deepEqual(
          { kind: e.kind, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size, target: e.target, xattrs },
          { kind: s.type, mode: s.mode, uid: s.uid, gid: s.gid, size: s.size, target: s.target, xattrs: s.xattrs },
          e.path,
        );
      }

      const listed = await listedChecksums(repo, commit);
      assert.equal(listed.lines, entries.length + 1, "ostree ls lists the same number of entries (and the root)");
      for (const e of entries) {
        assert.ok(listed.checksums.has(e.checksum), `checksum of ${e.path}`);
        if (e.kind === "directory") assert.ok(e.metaChecksum && listed.checksums.has(e.metaChecksum));
        else assert.equal(e.metaChecksum, undefined);
      }

      const byPath = new Map(entries.map((e) => [e.path, e]));
      assert.equal(byPath.get("hardlinks/one")!.checksum, byPath.get("hardlinks/two")!.checksum);
      assert.equal(byPath.get("odd/link -> with arrow")?.target, "target -> with arrow");
      assert.equal(byPath.get("odd/dir\nwith newline/inner")?.kind, "file");
      if (mode !== "bare-user-only") {
        assert.deepEqual(
          byPath.get("usr/bin/cap-tool")!.xattrs.find((x) => x.name === "security.capability")?.value,
          Uint8Array.from([1, 0, 0, 2, 0, 0x20, ...new Array(14).fill(0)]),
        );
        assert.equal(byPath.get("usr/bin/setuid-tool")!.mode, 0o4755);
        assert.equal(byPath.get("home/big-ids")!.uid, 3000000);
      }
      // bare-user-only keeps no setuid, setgid or sticky bits (ostree drops them when committing).
      if (mode !== "bare-user-only") assert.equal(byPath.get("tmp")!.mode, 0o1777);
      assert.equal(byPath.get("empty-file")!.size, 0);
    } finally {
      await removeTree(dir);
    }
  });
}

Deno.test("identical subtrees and shared content get entries of their own", async () => {
  const dir = await makeTempDir("tree-test-");
  try {
    await Deno.mkdir(`${dir}/t/a/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/t/a/sub/f`, "same\n");
    await runOk("cp", ["-a", `${dir}/t/a`, `${dir}/t/b`]);
    await runOk("ostree", ["init", `--repo=${dir}/repo`, "--mode=archive"]);
    const commit = await commitTree(`${dir}/repo`, "b", `${dir}/t`);
    const entries = [...await (await OstreeRepo.open(`${dir}/repo`)).readTree(commit)];
    assert.deepEqual(entries.map((e) => e.path), ["a", "a/sub", "a/sub/f", "b", "b/sub", "b/sub/f"]);
    assert.equal(entries[0].checksum, entries[3].checksum);
    // Entries without xattrs share one frozen empty array: callers replace `xattrs`, never change it.
    assert.ok(Object.isFrozen(entries[2].xattrs));
    assert.throws(() => entries[2].xattrs.push({ name: "user.x", value: new Uint8Array(1) }), TypeError);
    entries[2].xattrs = [...entries[2].xattrs, { name: "user.x", value: new Uint8Array(1) }];
    assert.equal(entries[5].xattrs.length, 0);
  } finally {
    await removeTree(dir);
  }
});

Deno.test("commitPathKind finds one path by its dirtrees, without following symlinks", async () => {
  const dir = await makeTempDir("tree-test-");
  try {
    await Deno.mkdir(`${dir}/t/usr/lib/sysimage/dpkg`, { recursive: true });
    await Deno.writeTextFile(`${dir}/t/usr/lib/sysimage/dpkg/status`, "Package: x\n");
    await Deno.mkdir(`${dir}/t/var/lib`, { recursive: true });
    await Deno.symlink("../../usr/lib/sysimage/dpkg", `${dir}/t/var/lib/dpkg`);
    await runOk("ostree", ["init", `--repo=${dir}/repo`, "--mode=archive"]);
    const commit = await commitTree(`${dir}/repo`, "b", `${dir}/t`);
    const repo = await OstreeRepo.open(`${dir}/repo`);
    assert.equal(await commitPathKind(repo, commit, "usr/lib/sysimage/dpkg/status"), "file");
    assert.equal(await commitPathKind(repo, commit, "usr/lib/sysimage/dpkg"), "directory");
    assert.equal(await commitPathKind(repo, commit, "var/lib/dpkg"), "file"); // a symlink is a content object
    assert.equal(await commitPathKind(repo, commit, "var/lib/dpkg/status"), undefined); // not followed
    assert.equal(await commitPathKind(repo, commit, "usr/lib/missing"), undefined);
    assert.equal(await commitPathKind(repo, commit, ""), "directory");
  } finally {
    await removeTree(dir);
  }
});

/** Makes `repo` unreadable in one object and expects a clear error naming it. */
async function expectObjectError(
  mode: "archive" | "bare-user",
  damage: (repo: OstreeRepo, entries: TreeEntry[], commit: string) => Promise<string>,
  message: RegExp,
): Promise<void> {
  const dir = await makeTempDir("tree-test-");
  try {
    await Deno.mkdir(`${dir}/t/d`, { recursive: true });
    await Deno.writeTextFile(`${dir}/t/d/f`, "content\n");
    await Deno.symlink("d/f", `${dir}/t/link`);
    await runOk("ostree", ["init", `--repo=${dir}/repo`, `--mode=${mode}`]);
    const commit = await commitTree(`${dir}/repo`, "b", `${dir}/t`);
    const repo = await OstreeRepo.open(`${dir}/repo`);
    const object = await damage(repo, [...await repo.readTree(commit)], commit);
    await assert.rejects(
      () => repo.readTree(commit),
      (e: unknown) => {
        assert.ok(e instanceof AptOstreeError, String(e));
        assert.match(e.message, message);
        assert.ok(e.message.includes(object), `${e.message} names ${object}`);
        assert.match(e.solution ?? "", /ostree fsck/);
        return true;
      },
    );
  } finally {
    await removeTree(dir);
  }
}

Deno.test("a truncated dirtree object is a clear error naming it", async () => {
  await expectObjectError("archive", async (repo, entries) => {
    const checksum = entries.find((e) => e.path === "d")!.checksum;
    const path = repo.objectPath(checksum, "dirtree");
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 3));
    return path;
  }, /Corrupt directory tree object .* \(for \/d\)/);
});

Deno.test("a truncated archive file header is a clear error naming the object", async () => {
  await expectObjectError("archive", async (repo, entries) => {
    const path = repo.objectPath(entries.find((e) => e.path === "d/f")!.checksum);
    await Deno.writeFile(path, (await Deno.readFile(path)).subarray(0, 20));
    return path;
  }, /Corrupt file object .* \(for \/d\/f\): truncated header/);
});

Deno.test("a missing dirmeta object is a clear error naming it", async () => {
  await expectObjectError("archive", async (repo, entries) => {
    const checksum = entries.find((e) => e.path === "d")!.metaChecksum!;
    await Deno.remove(repo.objectPath(checksum, "dirmeta"));
    return checksum;
  }, /missing the directory metadata object/);
});

Deno.test("a bare-user object without its user.ostreemeta xattr is a clear error", async () => {
  await expectObjectError("bare-user", async (repo, entries) => {
    const path = repo.objectPath(entries.find((e) => e.path === "link")!.checksum);
    await runOk("setfattr", ["-x", "user.ostreemeta", path]);
    return path;
  }, /Corrupt file object .* \(for \/link\): it has no user.ostreemeta xattr/);
});

Deno.test("a corrupt commit object is a clear error naming it", async () => {
  await expectObjectError("archive", async (repo, _entries, commit) => {
    const path = repo.objectPath(commit, "commit");
    await Deno.writeFile(path, new Uint8Array([1, 2, 3]));
    return path;
  }, /Corrupt commit object/);
});

Deno.test("a bare-split-xattrs repository is refused with a way out", async () => {
  const dir = await makeTempDir("tree-test-");
  try {
    await Deno.mkdir(`${dir}/t`);
    await runOk("ostree", ["init", `--repo=${dir}/repo`, "--mode=archive"]);
    const commit = await commitTree(`${dir}/repo`, "b", `${dir}/t`);
    const config = await Deno.readTextFile(`${dir}/repo/config`);
    await Deno.writeTextFile(`${dir}/repo/config`, config.replace(/mode=\S+/, "mode=bare-split-xattrs"));
    const repo = await OstreeRepo.open(`${dir}/repo`);
    await assert.rejects(() => repo.readTree(commit), (e: unknown) => {
      assert.ok(e instanceof AptOstreeError);
      assert.match(e.message, /bare-split-xattrs mode are not supported/);
      assert.match(e.solution ?? "", /pull-local/);
      return true;
    });
  } finally {
    await removeTree(dir);
  }
});

Deno.test("without --allow-ffi the reader falls back to Deno's lstat and node:fs: the same tree and content", async () => {
  const dir = await makeTempDir("tree-test-");
  try {
    const { repo, commit } = await fixture(dir, "bare-user-only");
    const script = `${dir}/read.ts`;
    await Deno.writeTextFile(
      script,
      `import { OstreeRepo } from "${new URL("./repo.ts", import.meta.url).href}";\n` +
        `import { contentSourceFor } from "${new URL("./content.ts", import.meta.url).href}";\n` +
        `const repo = await OstreeRepo.open(Deno.args[0]);\n` +
        `const entries = await repo.readTree(Deno.args[1]);\n` +
        `const file = contentSourceFor(repo).open(entries.find((e) => e.path === "a/top.txt"));\n` +
        `const buf = new Uint8Array(64);\n` +
        `const n = await file.read(buf);\n` +
        `file.close();\n` +
        `console.log(JSON.stringify({ entries: [...entries], top: new TextDecoder().decode(buf.subarray(0, n)) }));\n`,
    );
    const json = await runOk(Deno.execPath(), ["run", "--allow-read", script, repo.path, commit]);
    const { entries, top } = JSON.parse(json);
    assert.deepEqual(entries, JSON.parse(JSON.stringify([...await repo.readTree(commit)])));
    assert.equal(top, "top\n");
  } finally {
    await removeTree(dir);
  }
});

Deno.test("a damaged dirtree that names itself is an error, not endless recursion", async () => {
  await expectObjectError("archive", async (repo, entries) => {
    const d = entries.find((e) => e.path === "d")!;
    const bytes = (h: string) => Uint8Array.from(h.match(/../g)!, (x) => parseInt(x, 16));
    // (a(say)a(sayay)) with no files and one directory "x" whose dirtree is d's own:
    // the element is "x\0", tree, meta, then its framing offsets (34, 2); the array
    // ends with the element's end (68); the tuple with the end of its empty first member (0).
    const element = [...new TextEncoder().encode("x\0"), ...bytes(d.checksum), ...bytes(d.metaChecksum!), 34, 2];
    const path = repo.objectPath(d.checksum, "dirtree");
    await Deno.writeFile(path, Uint8Array.from([...element, 68, 0]));
    return path;
  }, /Corrupt directory tree object .* \(for \/d\/x\): it contains itself/);
});

Deno.test("a tree of many objects read with the build's threads equals the one read here; a damaged object is the same error", async () => {
  // Over the threshold (16,384 content objects) at which the system calls go to other threads.
  const dir = await makeTempDir("tree-test-");
  const pool = new DeflatePool(3);
  try {
    for (let d = 0; d < 90; d++) {
      await Deno.mkdir(`${dir}/t/d${d}`, { recursive: true });
      for (let f = 0; f < 200; f++) await Deno.writeTextFile(`${dir}/t/d${d}/f${f}`, `${d}/${f}\n`);
    }
    await Deno.symlink("d0/f0", `${dir}/t/d1/link`);
    await Deno.chmod(`${dir}/t/d2/f7`, 0o4755);
    for (const mode of ["bare-user", "archive"] as const) {
      await runOk("ostree", ["init", `--repo=${dir}/repo-${mode}`, `--mode=${mode}`]);
      const commit = await commitTree(`${dir}/repo-${mode}`, "b", `${dir}/t`);
      const repo = await OstreeRepo.open(`${dir}/repo-${mode}`);
      const here = [...await repo.readTree(commit)];
      assert.ok(here.length > 18000);
      assert.deepEqual([...await repo.readTree(commit, { threads: pool })], here, mode);
      const link = here.find((e) => e.path === "d1/link")!;
      assert.equal(link.kind, "symlink");
      assert.equal(link.target, "d0/f0");
      assert.equal(here.find((e) => e.path === "d2/f7")!.mode, 0o4755);
      // Aborted: the reason, and the pool goes on serving the next read.
      const stop = new AbortController();
      stop.abort(new Error("stopped by the test"));
      await assert.rejects(repo.readTree(commit, { threads: pool, signal: stop.signal }), /stopped by the test/);
      // An object the other threads cannot read is read here again: the error names the object and its path.
      const damaged = here.find((e) => e.path === "d80/f3")!;
      await Deno.remove(repo.objectPath(damaged.checksum));
      const plain = await repo.readTree(commit).then(() => undefined, (e: Error) => e.message);
      const threaded = await repo.readTree(commit, { threads: pool }).then(() => undefined, (e: Error) => e.message);
      assert.match(plain ?? "", /missing the file object .* \(for \/d80\/f3\)/);
      assert.equal(threaded, plain);
    }
  } finally {
    pool.terminate();
    await removeTree(dir);
  }
});
