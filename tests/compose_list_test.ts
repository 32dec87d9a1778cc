/**
 * `compose list` on fixture repositories: bases (own and cached from a
 * remote) versus deployments, commit, date, version, architecture, `--json`,
 * and the hint of an empty repository.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./helpers/cli.ts";
import { commitTree, createRepo, makeSmallTree, makeTempDir, removeTree, runOk } from "./helpers/fixture_repo.ts";

interface Listing {
  repo: string;
  bases: {
    ref: string;
    branch: string;
    remote?: string;
    commit: string;
    date: string;
    timestamp: number;
    version?: string;
    arch?: string;
    name: string;
    distribution: string;
    release: string;
  }[];
  deployments: {
    ref: string;
    commit: string;
    date: string;
    version?: string;
    arch?: string;
    base?: string;
    packages?: string[];
  }[];
}

Deno.test("compose list separates base images from deployments, with commit, date, version and arch", async () => {
  const dir = await makeTempDir();
  try {
    const repo = await createRepo("bare-user", dir);
    const tree = join(dir, "tree");
    await makeSmallTree(tree);
    const debian = await commitTree(repo, "debian/12/x86_64", tree, { version: "12.20240506" });
    const ubuntu = await commitTree(repo, "ubuntu/24.04/aarch64", tree, { timestamp: 1714979289 + 86400 });
    await runOk("ostree", ["refs", `--repo=${repo}`, `--create=origin:debian/13/x86_64`, debian]);
    const deployment = (await runOk("ostree", [
      "commit",
      `--repo=${repo}`,
      "--branch=my-deployment",
      `--tree=dir=${tree}`,
      "--timestamp=2024-05-06 07:08:09 +0000",
      "--add-metadata-string=version=12.20240506.1",
      "--add-metadata-string=apt-ostree.arch=x86_64",
      "--add-metadata-string=apt-ostree.base-ref=debian:12",
      "--add-metadata=apt-ostree.requested-packages=['hello', 'curl']",
    ])).trim();
    const plain = await commitTree(repo, "team/app", tree);
    await commitTree(repo, "debian/bookworm/x86_64", tree); // not canonical: a deployment

    const result = await runCli(["--repo", repo, "--json", "compose", "list"]);
    assert.equal(result.code, 0, result.stderr);
    const listing = JSON.parse(result.stdout) as Listing;
    assert.equal(listing.repo, repo);
    assert.deepEqual(listing.bases.map((b) => b.ref), [
      "debian/12/x86_64",
      "origin:debian/13/x86_64",
      "ubuntu/24.04/aarch64",
    ]);
    assert.deepEqual(listing.bases[0], {
      ref: "debian/12/x86_64",
      branch: "debian/12/x86_64",
      commit: debian,
      timestamp: 1714979289,
      date: "2024-05-06T07:08:09Z",
      version: "12.20240506",
      subject: "fixture commit",
      arch: "x86_64",
      name: "debian:12",
      distribution: "debian",
      release: "12",
    });
    assert.equal(listing.bases[1].remote, "origin");
    assert.equal(listing.bases[1].name, "debian:13");
    assert.equal(listing.bases[2].commit, ubuntu);
    assert.equal(listing.bases[2].arch, "aarch64");
    assert.equal(listing.bases[2].date, "2024-05-07T07:08:09Z");
    assert.deepEqual(listing.deployments.map((d) => d.ref), ["debian/bookworm/x86_64", "my-deployment", "team/app"]);
    const mine = listing.deployments[1];
    assert.equal(mine.commit, deployment);
    assert.equal(mine.version, "12.20240506.1");
    assert.equal(mine.arch, "x86_64");
    assert.equal(mine.base, "debian:12");
    assert.deepEqual(mine.packages, ["hello", "curl"]);
    assert.equal(listing.deployments[2].commit, plain);
    assert.equal(listing.deployments[2].arch, undefined);

    const human = await runCli(["--repo", repo, "compose", "list"]);
    assert.equal(human.code, 0, human.stderr);
    const lines = human.stdout.split("\n");
    assert.equal(lines[0], "Base images:");
    assert.match(lines[1], /^ {2}REF +COMMIT +DATE +VERSION +ARCH$/);
    assert.match(
      human.stdout,
      new RegExp(`^ {2}debian/12/x86_64 +${debian.slice(0, 12)} +2024-05-06 07:08:09 UTC +12\\.20240506 +x86_64$`, "m"),
    );
    assert.match(human.stdout, /^Deployments:$/m);
    assert.match(human.stdout, /^ {2}BRANCH +COMMIT +DATE +VERSION +ARCH +BASE$/m);
    assert.match(
      human.stdout,
      /^ {2}my-deployment +[0-9a-f]{12} +2024-05-06 07:08:09 UTC +12\.20240506\.1 +x86_64 +debian:12$/m,
    );
    assert.match(human.stdout, /^ {2}team\/app +[0-9a-f]{12} +2024-05-06 07:08:09 UTC +- +- +-$/m);
  } finally {
    await removeTree(dir);
  }
});

Deno.test("compose list on an empty repository says how to bootstrap or pull a base", async () => {
  const dir = await makeTempDir();
  try {
    const repo = await createRepo("archive", dir);
    const human = await runCli(["--repo", repo, "compose", "list"]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^No base images or deployments in /m);
    assert.match(human.stdout, /compose bootstrap debian:12$/m);
    assert.match(human.stdout, /ostree remote add --repo=.* origin URL$/m);
    const json = await runCli(["--repo", repo, "compose", "list", "--json"]);
    assert.deepEqual(JSON.parse(json.stdout), { repo, bases: [], deployments: [] });
    const missing = await runCli(["--repo", join(dir, "nope"), "compose", "list"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error: OSTree repository not found: /m);
  } finally {
    await removeTree(dir);
  }
});
