// Temporary: the native reader against the `ostree ls` listing it replaces, on every fixture.
import assert from "node:assert/strict";
import {
  commitTree,
  makeOddNamesTree,
  makeRichTree,
  makeTempDir,
  removeTree,
  runOk,
} from "../../tests/helpers/fixture_repo.ts";
import { comparePaths } from "../util/path_order.ts";
import { OstreeRepo } from "./repo.ts";
import { listCommitTree, type TreeEntry } from "./tree.ts";

function normalized(entries: TreeEntry[]): unknown[] {
  return JSON.parse(JSON.stringify(
    [...entries].sort((a, b) => comparePaths(a.path, b.path)).map((e) => ({
      ...e,
      xattrs: e.xattrs.map((x) => [x.name, Array.from(x.value)]),
    })),
  ));
}

Deno.test("the native reader and the ostree ls listing agree on every fixture and repository mode", async () => {
  const dir = await makeTempDir("tree-compare-");
  try {
    await makeRichTree(`${dir}/tree`, { bigFileSize: 12345 });
    await makeOddNamesTree(`${dir}/tree/odd`);
    await makeOddNamesTree(`${dir}/odd`);
    for (const mode of ["bare", "bare-user", "archive", "bare-user-only"] as const) {
      const path = `${dir}/repo-${mode}`;
      await runOk("ostree", ["init", `--repo=${path}`, `--mode=${mode}`]);
      const repo = await OstreeRepo.open(path);
      for (const tree of ["tree", "odd"]) {
        const commit = await commitTree(path, tree, `${dir}/${tree}`);
        const native = await repo.readTree(commit);
        assert.deepEqual(normalized(native), normalized(await listCommitTree(repo, commit)), `${mode} ${tree}`);
        assert.deepEqual(native.map((e) => e.path), [...native.map((e) => e.path)].sort(comparePaths));
      }
    }
  } finally {
    await removeTree(dir);
  }
});
