/**
 * Finding base images: in the local repository, from a remote served over
 * HTTP on loopback by the test (an archive-mode repository), the cache of
 * a pulled base, `--pull`, GPG verification, and the messages when a base
 * is nowhere. Offline.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { resolveBase } from "../src/compose/resolve_base.ts";
import { AptOstreeError, UsageError } from "../src/errors.ts";
import { OstreeRepo } from "../src/ostree/repo.ts";
import { parseBaseImageRef } from "../src/reference/base_ref.ts";
import { runCli } from "./helpers/cli.ts";
import { serveDirectory, snapshotRepo, type StaticServer } from "./helpers/compose.ts";
import { commitTree, createRepo, makeSmallTree, makeTempDir, removeTree, runOk } from "./helpers/fixture_repo.ts";

const debian12 = parseBaseImageRef("debian:12", { arch: "x86_64" });

interface RemoteFixture {
  dir: string;
  /** The archive repository the server serves. */
  served: string;
  server: StaticServer;
  /** The local repository, with the remote "origin" configured (no GPG). */
  repo: string;
  /** The commit on the server's debian/12/x86_64. */
  served12: string;
  close(): Promise<void>;
}

async function remoteFixture(options: { gpgVerify?: boolean } = {}): Promise<RemoteFixture> {
  const dir = await makeTempDir("apt-ostree-remote-test-");
  const served = await createRepo("archive", dir);
  const tree = join(dir, "tree");
  await makeSmallTree(tree, "served base");
  const served12 = await commitTree(served, "debian/12/x86_64", tree, {
    version: "12.20240506",
    metadata: { "apt-ostree.arch": "x86_64" },
  });
  await commitTree(served, "team/app", tree, { version: "1.0" });
  await runOk("ostree", ["summary", "-u", `--repo=${served}`]);
  const server = serveDirectory(served);
  const repo = await createRepo("bare-user", dir);
  await runOk("ostree", [
    "remote",
    "add",
    `--repo=${repo}`,
    ...(options.gpgVerify ? [] : ["--no-gpg-verify"]),
    "origin",
    server.url,
  ]);
  return {
    dir,
    served,
    server,
    repo,
    served12,
    async close() {
      await server.close();
      await removeTree(dir);
    },
  };
}

Deno.test("a base in the local repository is found first, without touching the remote", async () => {
  const f = await remoteFixture();
  try {
    const tree = join(f.dir, "local-tree");
    await makeSmallTree(tree, "local base");
    const local = await commitTree(f.repo, "debian/12/x86_64", tree, { version: "12.1" });
    const base = await resolveBase(await OstreeRepo.open(f.repo), debian12);
    assert.equal(base.source, "local");
    assert.equal(base.commit, local);
    assert.equal(base.localRef, "debian/12/x86_64");
    assert.deepEqual(f.server.requests, []);
  } finally {
    await f.close();
  }
});

Deno.test("a missing base is pulled from the default remote and cached; --pull refreshes it", async () => {
  const f = await remoteFixture();
  try {
    const repo = await OstreeRepo.open(f.repo);
    const pulled = await resolveBase(repo, debian12);
    assert.equal(pulled.source, "pulled");
    assert.equal(pulled.remote, "origin");
    assert.equal(pulled.localRef, "origin:debian/12/x86_64");
    assert.equal(pulled.commit, f.served12);
    assert.ok(f.server.requests.length > 0);
    await runOk("ostree", ["fsck", `--repo=${f.repo}`]);

    // Later runs use the cache: no request reaches the server.
    const requests = f.server.requests.length;
    const cached = await resolveBase(repo, debian12);
    assert.equal(cached.source, "cache");
    assert.equal(cached.commit, f.served12);
    assert.equal(f.server.requests.length, requests);

    // A new commit on the server: the cache still answers, --pull refreshes.
    const tree = join(f.dir, "tree2");
    await makeSmallTree(tree, "served base, second build");
    const newer = await commitTree(f.served, "debian/12/x86_64", tree, { version: "12.20240507" });
    await runOk("ostree", ["summary", "-u", `--repo=${f.served}`]);
    assert.equal((await resolveBase(repo, debian12)).commit, f.served12);
    const refreshed = await resolveBase(repo, debian12, { pull: true });
    assert.equal(refreshed.source, "pulled");
    assert.equal(refreshed.commit, newer);
    assert.equal((await resolveBase(repo, debian12)).commit, newer);
  } finally {
    await f.close();
  }
});

Deno.test("--remote picks a remote when there are several; apt-ostree.default-remote names the default", async () => {
  const f = await remoteFixture();
  try {
    await runOk("ostree", ["remote", "add", `--repo=${f.repo}`, "--no-gpg-verify", "other", "http://127.0.0.1:9/"]);
    const repo = await OstreeRepo.open(f.repo);
    // Two remotes and no default: the base is not found.
    await assert.rejects(resolveBase(repo, debian12), /^AptOstreeError: Base image not found locally: debian:12$/m);
    assert.equal((await resolveBase(repo, debian12, { remote: "origin" })).source, "pulled");
    await runOk("ostree", ["config", `--repo=${f.repo}`, "set", "apt-ostree.default-remote", "origin"]);
    assert.equal((await resolveBase(repo, debian12)).source, "cache");
    await assert.rejects(resolveBase(repo, debian12, { remote: "nope" }), UsageError);
  } finally {
    await f.close();
  }
});

Deno.test("a base that is nowhere: the seed's message, with what the remote lacks", async () => {
  const empty = await makeTempDir();
  const f = await remoteFixture();
  try {
    const noRemote = await OstreeRepo.open(await createRepo("bare-user", empty));
    await assert.rejects(
      resolveBase(noRemote, parseBaseImageRef("ubuntu:24.04", { arch: "x86_64" }), { written: "ubuntu:24.04" }),
      (error: unknown) => {
        assert.ok(error instanceof AptOstreeError);
        assert.equal(error.message, "Base image not found locally: ubuntu:24.04");
        assert.match(error.solution!, /^Ensure the base image is available in the OSTree repository/);
        assert.match(error.solution!, /apt-ostree compose bootstrap ubuntu:24\.04/);
        return true;
      },
    );
    const before = await snapshotRepo(f.repo);
    await assert.rejects(
      resolveBase(await OstreeRepo.open(f.repo), parseBaseImageRef("debian:13", { arch: "x86_64" })),
      /Base image not found locally: debian:13 \(remote origin has no branch debian\/13\/x86_64 either\)/,
    );
    assert.deepEqual((await snapshotRepo(f.repo)).refs, before.refs);
  } finally {
    await f.close();
    await removeTree(empty);
  }
});

Deno.test("GPG verification configured on the remote is enforced: unsigned commits are an error", async () => {
  const f = await remoteFixture({ gpgVerify: true });
  try {
    await assert.rejects(
      resolveBase(await OstreeRepo.open(f.repo), debian12),
      (error: unknown) => {
        assert.ok(error instanceof AptOstreeError);
        assert.match(error.message, /^GPG verification failed pulling debian\/12\/x86_64 from remote origin: /);
        assert.match(error.solution!, /gpg-import/);
        return true;
      },
    );
    assert.deepEqual((await snapshotRepo(f.repo)).refs, [], "nothing was cached");
  } finally {
    await f.close();
  }
});

Deno.test("a remote that cannot be reached is an error that says so", async () => {
  const dir = await makeTempDir();
  try {
    const repo = await createRepo("bare-user", dir);
    await runOk("ostree", ["remote", "add", `--repo=${repo}`, "--no-gpg-verify", "origin", "http://127.0.0.1:9/"]);
    await assert.rejects(
      resolveBase(await OstreeRepo.open(repo), debian12),
      /^PullError: Cannot pull debian\/12\/x86_64 from remote origin: .*Couldn't connect/,
    );
  } finally {
    await removeTree(dir);
  }
});

Deno.test("compose list --remote shows what a remote offers and what is cached", async () => {
  const f = await remoteFixture();
  try {
    await resolveBase(await OstreeRepo.open(f.repo), debian12);
    const result = await runCli(["--repo", f.repo, "compose", "list", "--remote", "origin", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const listing = JSON.parse(result.stdout);
    assert.deepEqual(listing.remote, {
      name: "origin",
      branches: [
        { branch: "debian/12/x86_64", base: true, cached: true },
        { branch: "team/app", base: false, cached: false },
      ],
    });
    assert.equal(listing.bases.length, 1);
    assert.equal(listing.bases[0].ref, "origin:debian/12/x86_64");
    assert.equal(listing.bases[0].remote, "origin");
    assert.equal(listing.bases[0].commit, f.served12);
    const human = await runCli(["--repo", f.repo, "compose", "list", "--remote", "origin"]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^Remote origin offers:$/m);
    assert.match(human.stdout, /^ {2}debian\/12\/x86_64 +base +yes$/m);
    assert.match(human.stdout, /^ {2}team\/app +deployment +no$/m);
  } finally {
    await f.close();
  }
});

Deno.test({
  name: "compose create --dry-run does not pull a base that is only on the remote",
  ignore: Deno.uid() !== 0,
  async fn() {
    const f = await remoteFixture();
    try {
      const before = await snapshotRepo(f.repo);
      const result = await runCli([
        "--repo",
        f.repo,
        "compose",
        "create",
        "--base",
        "debian:12",
        "--packages",
        "hello",
        "--dry-run",
      ]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        /^Error: Base image debian:12 is not in .*; a dry run does not pull it from remote origin$/m,
      );
      assert.deepEqual(await snapshotRepo(f.repo), before);
      assert.deepEqual(f.server.requests, []);
    } finally {
      await f.close();
    }
  },
});
