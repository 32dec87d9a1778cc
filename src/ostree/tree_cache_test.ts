import assert from "node:assert/strict";
import { comparePaths } from "../util/path_order.ts";
import { OstreeRepo } from "./repo.ts";
import { listCommitTree, type TreeEntry } from "./tree.ts";
import { listCommitTreeCached, listIncrementally, TreeCache } from "./tree_cache.ts";

async function sh(script: string, cwd: string): Promise<string> {
  const out = await new Deno.Command("bash", { args: ["-euc", script], cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`${script}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).trim();
}

/** Entries in path order, as plain data (absent and undefined fields alike). */
function normalized(entries: TreeEntry[]): unknown[] {
  return JSON.parse(JSON.stringify(
    [...entries].sort((a, b) => comparePaths(a.sourcePath, b.sourcePath)).map((e) => ({
      ...e,
      xattrs: e.xattrs.map((x) => [x.name, Array.from(x.value)]),
    })),
  ));
}

/** Two commits: B differs from A in content, metadata, layout, links and xattrs, in places deep and shallow. */
async function twoCommits(dir: string): Promise<{ repo: OstreeRepo; a: string; b: string }> {
  await sh(
    `
    ostree init --repo=repo --mode=bare-user
    mkdir -p t/usr/share/doc/pkg t/usr/share/doc/other t/usr/lib/x t/etc/same t/etc/same2 t/var/empty t/var/empty2 t/a-b t/a/b
    echo one > t/usr/share/doc/pkg/README; echo two > t/usr/share/doc/other/README; echo lib > t/usr/lib/x/lib.so
    echo conf > t/etc/same/conf; echo conf > t/etc/same2/conf; echo ab > t/a-b/f; echo deep > t/a/b/f
    ln -s ../lib/x/lib.so t/usr/share/link; setfattr -n user.k -v 0x00ff t/usr/lib/x/lib.so
    ostree commit --repo=repo -b a --tree=dir=t --owner-uid=0 --owner-gid=0 >/dev/null
    echo changed > t/usr/share/doc/pkg/README
    mkdir -p t/usr/share/new/sub; echo n > t/usr/share/new/sub/file
    rm -rf t/usr/share/doc/other
    chmod 0700 t/etc/same2
    mv t/var/empty2 t/usr/moved-empty
    ln -sf other-target t/usr/share/link
    setfattr -n user.k -v 0x0100 t/usr/lib/x/lib.so
    echo deeper > t/a/b/f
    ostree commit --repo=repo -b b --tree=dir=t --owner-uid=0 --owner-gid=0 >/dev/null
  `,
    dir,
  );
  const repo = await OstreeRepo.open(`${dir}/repo`);
  return { repo, a: await repo.resolveCommit("a"), b: await repo.resolveCommit("b") };
}

Deno.test("an incremental listing from another commit's equals a full listing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tree-cache-test-" });
  try {
    const { repo, a, b } = await twoCommits(dir);
    const full = await listCommitTree(repo, b);
    const incremental = await listIncrementally(repo, b, await listCommitTree(repo, a));
    assert.ok(incremental);
    assert.deepEqual(normalized(incremental), normalized(full));
    // From an unrelated (empty) base it is a plain level-by-level listing.
    const fromNothing = await listIncrementally(repo, b, []);
    assert.deepEqual(normalized(fromNothing!), normalized(full));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the cache stores listings exactly and serves them back, incremental for a nearby commit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tree-cache-test-" });
  try {
    const { repo, a, b } = await twoCommits(dir);
    const cache = await TreeCache.forRepo(repo);
    assert.ok(cache, "a writable repository has a cache");
    const first = await listCommitTreeCached(repo, a, { cache });
    assert.deepEqual(normalized(first), normalized(await listCommitTree(repo, a)));
    assert.deepEqual(normalized((await cache.load(a))!), normalized(first), "binary xattrs survive the file");
    assert.equal(await cache.newest(), a);
    const second = await listCommitTreeCached(repo, b, { cache, near: a });
    assert.deepEqual(normalized(second), normalized(await listCommitTree(repo, b)));
    assert.ok(await cache.load(b));
    // A damaged cache file is ignored.
    await Deno.writeTextFile(`${cache.dir}/${b}.json`, "{not json");
    assert.equal(await cache.load(b), undefined);
    assert.deepEqual(normalized(await listCommitTreeCached(repo, b, { cache })), normalized(second));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
