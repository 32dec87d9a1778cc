/**
 * Integration tests of pushing to a real registry (Debian's docker-registry,
 * distribution 2.8) on loopback: anonymous plain HTTP, TLS with a test CA
 * and htpasswd Basic auth (login/logout, auth files), Bearer tokens from a
 * token server of our own, and connections cut in the middle of a push.
 * Results are checked with skopeo.
 *
 * Run alone with: deno test --allow-all tests/registry_push_test.ts
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseJsonResult, runCli, runCliOk } from "./helpers/cli.ts";
import { commitTree, createRepo, makeSmallTree, makeTempDir, removeTree, runOk } from "./helpers/fixture_repo.ts";
import { craftLayout, craftTar, digestOf } from "./helpers/oci_builder.ts";
import {
  DENO_DIR,
  hasProgram,
  makeTestCa,
  randomBytes,
  registryHas,
  runCliWithStdin,
  startCuttingProxy,
  startRegistry,
  startTokenServer,
  writeHtpasswd,
} from "./helpers/registry.ts";

const TOOLS = ["docker-registry", "skopeo", "ostree"];
const MISSING = (await Promise.all(TOOLS.map(async (t) => (await hasProgram(t)) ? undefined : t))).filter(Boolean);
const TLS_MISSING = [
  ...MISSING,
  ...(await hasProgram("openssl") ? [] : ["openssl"]),
  ...(await hasProgram("htpasswd") ? [] : ["htpasswd"]),
];

function testName(name: string, missing: (string | undefined)[] = MISSING): string {
  return missing.length === 0 ? name : `${name} [ignored: ${missing.join(", ")} not installed]`;
}

interface PushJson {
  digest: string;
  destination: string;
  blobs: { total: number; uploaded: number; mounted: number; skipped: number };
  bytes: { total: number; uploaded: number; mounted: number; skipped: number; sent: number };
  manifests: { total: number; uploaded: number };
  tagged: boolean;
  elapsedMs: number;
}

/** A temp dir with an isolated environment: no auth file, own blob-location cache. */
async function scratch(): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = await makeTempDir("apt-ostree-registry-test-");
  return {
    dir,
    env: { REGISTRY_AUTH_FILE: join(dir, "no-auth.json"), XDG_CACHE_HOME: join(dir, "cache"), DENO_DIR },
  };
}

/** A small repository with one commit, built into an OCI layout; returns the layout and build result. */
async function buildSmallImage(
  dir: string,
): Promise<{ repo: string; layout: string; digest: string; blobs: number }> {
  const repo = await createRepo("bare-user", dir);
  await makeSmallTree(join(dir, "tree"), "registry");
  await commitTree(repo, "main", join(dir, "tree"), { version: "1.0" });
  const layout = join(dir, "app.oci");
  const built = parseJsonResult(
    await runCliOk(["--repo", repo, "compose", "build-image", "main", "app:1", "-o", layout, "--json"]),
  );
  // Its layers and its config (how many layers depends on build-image's layering).
  return { repo, layout, digest: built.digest!, blobs: built.layers!.length + 1 };
}

async function skopeoDigest(ref: string, ...flags: string[]): Promise<string> {
  return JSON.parse(await runOk("skopeo", ["inspect", ...flags, ref])).Digest;
}

Deno.test({
  name: testName("registry push: anonymous plain HTTP; skopeo agrees; a second push sends nothing; --push --no-local"),
  ignore: MISSING.length > 0,
  fn: async () => {
    const { dir, env } = await scratch();
    const registry = await startRegistry(dir);
    try {
      const { repo, layout, digest, blobs } = await buildSmallImage(dir);
      const dest = `docker://${registry.host}/team/app:1`;
      const first = JSON.parse(
        (await runCliOk(["image", "push", `oci:${layout}:1`, dest, "--tls-verify=false", "--json"], { env })).stdout,
      ) as PushJson;
      assert.equal(first.digest, digest);
      assert.deepEqual(first.blobs, { total: blobs, uploaded: blobs, mounted: 0, skipped: 0 });
      assert.equal(first.bytes.sent, first.bytes.total);
      assert.ok(first.tagged);

      // skopeo sees the same image, and copies it back byte for byte.
      assert.equal(await skopeoDigest(dest, "--tls-verify=false"), digest);
      await runOk("skopeo", ["copy", "--src-tls-verify=false", dest, `oci:${join(dir, "copy.oci")}:back`]);
      const index = JSON.parse(await Deno.readTextFile(join(dir, "copy.oci", "index.json")));
      assert.equal(index.manifests[0].digest, digest);

      // The same push again: HEADs only, no byte of blob sent, the tag already right.
      const second = JSON.parse(
        (await runCliOk(["image", "push", `oci:${layout}:1`, dest, "--tls-verify=false", "--json"], { env })).stdout,
      ) as PushJson;
      assert.deepEqual(second.blobs, { total: blobs, uploaded: 0, mounted: 0, skipped: blobs });
      assert.equal(second.bytes.sent, 0);
      assert.equal(second.bytes.uploaded, 0);
      assert.equal(second.manifests.uploaded, 0);
      assert.equal(second.tagged, false);

      // Copying within the registry mounts every blob from the source repository.
      const copied = JSON.parse(
        (await runCliOk([
          "image",
          "push",
          dest,
          `docker://${registry.host}/copies/app:1`,
          "--src-tls-verify=false",
          "--tls-verify=false",
          "--json",
        ], { env: { ...env, XDG_CACHE_HOME: join(dir, "other-cache") } })).stdout,
      ) as PushJson;
      assert.equal(copied.digest, digest);
      assert.deepEqual(copied.blobs, { total: blobs, uploaded: 0, mounted: blobs, skipped: 0 });

      // build-image --push --no-local: built straight into another repository, nothing written on disk.
      const before = await Array.fromAsync(Deno.readDir(dir), (e) => e.name);
      const pushed = JSON.parse(
        (await runCliOk([
          "--repo",
          repo,
          "compose",
          "build-image",
          "main",
          `${registry.host}/other/app:2`,
          "--push",
          "--no-local",
          "--tls-verify=false",
          "--json",
        ], { env, cwd: dir })).stdout,
      );
      assert.equal(pushed.digest, digest, "the same image as the local build");
      assert.equal(pushed.format, "registry");
      assert.equal(pushed.output, `docker://${registry.host}/other/app:2`);
      assert.deepEqual(
        (await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort(),
        before.sort(),
        "nothing new on disk",
      );

      // inspect reads it back from the registry.
      const inspected = JSON.parse(
        (await runCliOk(["image", "inspect", `docker://${registry.host}/other/app:2`, "--tls-verify=false", "--json"], {
          env,
        })).stdout,
      );
      assert.equal(inspected.digest, digest);
      assert.equal(inspected.config.config.Labels["org.opencontainers.image.version"], "1.0");

      // A destination that is not a registry, and --no-local without --push, are usage errors.
      const bad = await runCli(["image", "push", `oci:${layout}:1`, `oci:${join(dir, "x")}`], { env });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /The destination must be a registry/);
      const noLocal = await runCli(["--repo", repo, "compose", "build-image", "main", "a:1", "--no-local"], { env });
      assert.equal(noLocal.code, 2);
      assert.match(noLocal.stderr, /--no-local needs --push/);
    } finally {
      await registry.stop();
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: testName(
    "registry push: TLS with a private CA and Basic auth; login/logout; wrong password never shown",
    TLS_MISSING,
  ),
  ignore: TLS_MISSING.length > 0,
  fn: async () => {
    const { dir, env } = await scratch();
    const ca = await makeTestCa(join(dir, "ca"));
    const htpasswd = join(dir, "htpasswd");
    const password = "S3cret-Basic-pw";
    await writeHtpasswd(htpasswd, "alice", password);
    const registry = await startRegistry(dir, { tls: { cert: ca.serverCert, key: ca.serverKey }, htpasswd });
    try {
      const { layout, digest } = await buildSmallImage(dir);
      const authfile = join(dir, "auth.json");
      const dest = `docker://${registry.host}/team/app:1`;

      const login = await runCliWithStdin(
        ["login", registry.host, "-u", "alice", "--password-stdin", "--authfile", authfile, "--cert-dir", ca.certDir],
        password + "\n",
        env,
      );
      assert.equal(login.code, 0, login.stderr);
      assert.match(login.stdout, /Login Succeeded!/);
      assert.equal((await Deno.stat(authfile)).mode! & 0o777, 0o600);
      const stored = JSON.parse(await Deno.readTextFile(authfile));
      assert.equal(stored.auths[registry.host].auth, btoa(`alice:${password}`));

      // Credentials from the auth file, the CA from --cert-dir.
      const pushed = await runCliOk(
        [
          "image",
          "push",
          `oci:${layout}:1`,
          dest,
          "--authfile",
          authfile,
          "--cert-dir",
          ca.certDir,
          "--json",
          "--verbose",
        ],
        { env },
      );
      assert.equal(JSON.parse(pushed.stdout).digest, digest);
      for (const text of [pushed.stdout, pushed.stderr]) {
        assert.ok(!text.includes(password) && !text.includes(btoa(`alice:${password}`)), "a secret was printed");
      }
      assert.equal(
        await skopeoDigest(dest, "--cert-dir", ca.certDir, "--authfile", authfile), // skopeo reads our auth.json
        digest,
      );

      // Without the CA: a clear certificate error. With --tls-verify=false: accepted.
      const untrusted = await runCli(["image", "push", `oci:${layout}:1`, dest, "--authfile", authfile], { env });
      assert.equal(untrusted.code, 1);
      assert.match(untrusted.stderr, /The TLS certificate of 127\.0\.0\.1:\d+ is not trusted/);
      assert.match(untrusted.stderr, /Solution: Pass --cert-dir DIR/);
      await runCliOk(["image", "push", `oci:${layout}:1`, dest, "--authfile", authfile, "--tls-verify=false"], { env });

      // A wrong password: a clear error that never shows it, even with --verbose.
      const wrong = "Wr0ng-Password-xyz";
      const denied = await runCli([
        "image",
        "push",
        `oci:${layout}:1`,
        dest,
        "--creds",
        `alice:${wrong}`,
        "--cert-dir",
        ca.certDir,
        "--verbose",
      ], { env });
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /Authentication failed for 127\.0\.0\.1:\d+: the user name or password from --creds/);
      for (const secret of [wrong, btoa(`alice:${wrong}`), encodeURIComponent(wrong)]) {
        assert.ok(!denied.stdout.includes(secret) && !denied.stderr.includes(secret), "the wrong password was printed");
      }
      const badLogin = await runCliWithStdin(
        [
          "login",
          registry.host,
          "-u",
          "alice",
          "--password-stdin",
          "--authfile",
          join(dir, "other.json"),
          "--cert-dir",
          ca.certDir,
        ],
        wrong,
        env,
      );
      assert.equal(badLogin.code, 1);
      assert.ok(!badLogin.stderr.includes(wrong));
      await assert.rejects(() => Deno.stat(join(dir, "other.json")), Deno.errors.NotFound);

      // No credentials at all.
      const anonymous = await runCli(["image", "push", `oci:${layout}:1`, dest, "--cert-dir", ca.certDir], { env });
      assert.equal(anonymous.code, 1);
      assert.match(anonymous.stderr, /Authentication required by 127\.0\.0\.1:\d+/);

      const logout = await runCliOk(["logout", registry.host, "--authfile", authfile], { env });
      assert.match(logout.stdout, /Removed login credentials/);
      assert.deepEqual(JSON.parse(await Deno.readTextFile(authfile)).auths, {});
      const again = await runCli(["logout", registry.host, "--authfile", authfile], { env });
      assert.equal(again.code, 1);
      assert.match(again.stderr, /Not logged into/);
    } finally {
      await registry.stop();
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: testName(
    "registry push: Bearer tokens from a token server (auth.token); scopes; tokens never shown",
    TLS_MISSING,
  ),
  ignore: TLS_MISSING.length > 0,
  fn: async () => {
    const { dir, env } = await scratch();
    const password = "t0ken-Server-pw";
    const tokens = await startTokenServer(dir, { alice: password }, { anonymousPull: true });
    const registry = await startRegistry(dir, {
      token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.certPath },
    });
    try {
      const { layout, digest } = await buildSmallImage(dir);
      const dest = `docker://${registry.host}/team/app:1`;
      const pushed = await runCliOk(
        [
          "image",
          "push",
          `oci:${layout}:1`,
          dest,
          "--creds",
          `alice:${password}`,
          "--tls-verify=false",
          "--json",
          "--verbose",
        ],
        { env },
      );
      assert.equal(JSON.parse(pushed.stdout).digest, digest);
      assert.ok(tokens.issued.length > 0);
      assert.ok(tokens.requests.some((r) => r.user === "alice" && r.scopes.includes("repository:team/app:pull,push")));
      for (const secret of [password, ...tokens.issued]) {
        assert.ok(!pushed.stdout.includes(secret) && !pushed.stderr.includes(secret), "a secret was printed");
      }

      // Anonymous: pull (inspect) is granted, push is not.
      const inspected = await runCliOk(["image", "inspect", dest, "--tls-verify=false", "--json"], { env });
      assert.equal(JSON.parse(inspected.stdout).digest, digest);
      const anonymousPush = await runCli(
        ["image", "push", `oci:${layout}:1`, `docker://${registry.host}/team/new:1`, "--tls-verify=false"],
        { env },
      );
      assert.equal(anonymousPush.code, 1);
      assert.match(anonymousPush.stderr, /Authentication required by 127\.0\.0\.1:\d+/);

      const wrong = await runCli(
        ["image", "push", `oci:${layout}:1`, dest, "--creds", "alice:not-the-password", "--tls-verify=false"],
        { env },
      );
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /Authentication failed/);
      assert.ok(!wrong.stderr.includes("not-the-password"));
    } finally {
      await registry.stop();
      await tokens.stop();
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: testName("registry push: a connection cut mid-push leaves no tag; the rerun sends only what is missing"),
  ignore: MISSING.length > 0,
  fn: async () => {
    const { dir, env } = await scratch();
    const registry = await startRegistry(dir);
    const bigSize = 6 << 20;
    // Every connection that carries more than 2 MiB upstream is cut: the big layer never gets through.
    const proxy = startCuttingProxy(registry.port, { cutAfter: 2 << 20, stayDown: false });
    try {
      const layout = join(dir, "layers.oci");
      const image = await craftLayout(layout, [
        [{ path: "small-1", content: randomBytes(64 << 10, 1) }],
        [{ path: "big", content: randomBytes(bigSize, 2) }],
        [{ path: "small-2", content: randomBytes(32 << 10, 3) }],
      ]);
      const big = image.layers[1];
      const args = (host: string) => [
        "image",
        "push",
        `oci:${layout}:latest`,
        `docker://${host}/team/layers:1`,
        "--tls-verify=false",
        "--retry-times",
        "2",
        "--retry-delay",
        "50ms",
        "--json",
      ];
      const failed = await runCli(args(proxy.host), { env });
      assert.equal(failed.code, 1, failed.stdout + failed.stderr);
      assert.ok(proxy.cuts >= 1);
      assert.match(failed.stderr, /^Error: /m);
      // Nothing tagged, no manifest, the big blob absent; the small ones made it.
      assert.ok(!(await registryHas(registry.host, "team/layers/manifests/1")));
      assert.ok(!(await registryHas(registry.host, `team/layers/manifests/${image.digest}`)));
      assert.ok(!(await registryHas(registry.host, `team/layers/blobs/${big.digest}`)));
      assert.ok(await registryHas(registry.host, `team/layers/blobs/${image.layers[0].digest}`));

      // The network is back: the rerun uploads the big layer only.
      proxy.heal();
      const rerun = JSON.parse((await runCliOk(args(proxy.host), { env })).stdout) as PushJson;
      assert.equal(rerun.digest, image.digest);
      assert.deepEqual(rerun.blobs, { total: 4, uploaded: 1, mounted: 0, skipped: 3 });
      assert.equal(rerun.bytes.uploaded, big.size);
      assert.ok(await registryHas(registry.host, "team/layers/manifests/1"));
      assert.equal(await skopeoDigest(`docker://${registry.host}/team/layers:1`, "--tls-verify=false"), image.digest);

      // In chunks, a cut in the middle of a blob is retried within the same run.
      proxy.heal(3 << 20);
      const chunked = await runCliOk(
        [
          ...args(proxy.host).slice(0, 3),
          `docker://${proxy.host}/team/chunked:1`,
          ...args(proxy.host).slice(4),
          "--chunk-size",
          "1MiB",
        ],
        { env },
      );
      const result = JSON.parse(chunked.stdout) as PushJson;
      assert.equal(result.digest, image.digest);
      assert.ok(proxy.cuts >= 2);
      assert.ok(result.bytes.sent < 2 * result.bytes.total, `sent ${result.bytes.sent} of ${result.bytes.total}`);
    } finally {
      await proxy.stop();
      await registry.stop();
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: testName(
    "build-image --output docker://: layers stream into the registry; rebuilding the unchanged commit compresses and uploads nothing; a changed file re-uploads one layer",
  ),
  ignore: MISSING.length > 0,
  fn: async () => {
    const { dir, env } = await scratch();
    const registry = await startRegistry(dir);
    // Counts what the tool sends: request lines, headers and blob bodies.
    const proxy = startCuttingProxy(registry.port, { cutAfter: Infinity, stayDown: false });
    try {
      const repo = await createRepo("bare-user", dir);
      await makeSmallTree(join(dir, "tree"), "registry");
      // A second top-level directory of its own, so that a change there touches one layer.
      await Deno.mkdir(join(dir, "tree", "opt", "app"), { recursive: true });
      await Deno.writeFile(join(dir, "tree", "opt", "app", "data.bin"), randomBytes(256 * 1024));
      await commitTree(repo, "main", join(dir, "tree"), { version: "1.0" });
      const dest = `docker://${proxy.host}/direct/app:1`;
      const build = async () =>
        parseJsonResult(
          await runCliOk(
            ["--repo", repo, "compose", "build-image", "main", "app:1", "-o", dest, "--tls-verify=false", "--json"],
            { env, cwd: dir },
          ),
        );
      const first = await build();
      assert.equal(first.output, dest);
      assert.ok(first.layers!.every((l) => !l.reused));
      const layerBytes = first.layers!.reduce((n, l) => n + l.size, 0);
      assert.ok(proxy.bytesUp > layerBytes, `the layers went up (${proxy.bytesUp} bytes sent, layers ${layerBytes})`);
      // skopeo reads the same image from the registry, and a layout made by a local build has the same digest.
      assert.equal(await skopeoDigest(`docker://${registry.host}/direct/app:1`, "--tls-verify=false"), first.digest);
      const local = parseJsonResult(
        await runCliOk([
          "--repo",
          repo,
          "compose",
          "build-image",
          "main",
          "app:1",
          "-o",
          join(dir, "local.oci"),
          "--json",
        ]),
      );
      assert.equal(local.digest, first.digest, "the same bytes as a local build");

      // Unchanged: the image behind the tag is reused whole; only small requests go up.
      const sentBefore = proxy.bytesUp;
      const again = await build();
      assert.equal(again.digest, first.digest);
      assert.equal(again.reusedImage, true);
      const smallest = Math.min(...first.layers!.map((l) => l.size));
      assert.ok(again.layers!.every((l) => l.reused), "nothing compressed");
      // The largest layer holds 256 KiB of random bytes; requests (HEADs and GETs) are a few KiB.
      assert.ok(
        proxy.bytesUp - sentBefore < 16 * 1024,
        `a rebuild sent ${proxy.bytesUp - sentBefore} bytes (requests only; the smallest layer is ${smallest})`,
      );

      // One file changed: the layers holding it are rebuilt and uploaded, the others reused from the registry.
      await Deno.writeFile(join(dir, "tree", "opt", "app", "data.bin"), randomBytes(256 * 1024, 2));
      await commitTree(repo, "main", join(dir, "tree"), { version: "1.1" });
      const sentBeforeChange = proxy.bytesUp;
      const changed = await build();
      assert.notEqual(changed.digest, first.digest);
      const rebuilt = changed.layers!.filter((l) => !l.reused);
      assert.ok(rebuilt.length >= 1 && rebuilt.length < changed.layers!.length, JSON.stringify(changed.layers));
      const rebuiltBytes = rebuilt.reduce((n, l) => n + l.size, 0);
      assert.ok(
        proxy.bytesUp - sentBeforeChange < rebuiltBytes + 64 * 1024,
        `sent ${proxy.bytesUp - sentBeforeChange} bytes for ${rebuiltBytes} bytes of rebuilt layers`,
      );
      assert.equal(await skopeoDigest(`docker://${registry.host}/direct/app:1`, "--tls-verify=false"), changed.digest);
    } finally {
      await proxy.stop();
      await registry.stop();
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: testName("image copy: every pair of transports keeps the digest; skopeo reads every result"),
  ignore: MISSING.length > 0,
  fn: async () => {
    const { dir, env } = await scratch();
    const registry = await startRegistry(dir);
    try {
      const { layout, digest } = await buildSmallImage(dir);
      const locations = [
        `oci:${join(dir, "copy.oci")}:1`,
        `oci-archive:${join(dir, "copy-oci.tar")}`,
        `docker-archive:${join(dir, "copy-docker.tar")}`,
        `docker://${registry.host}/copies/app:1`,
      ];
      const flags = (location: string) => location.startsWith("docker://") ? ["--tls-verify=false"] : [];
      const blob = async (d: string) =>
        JSON.parse(await Deno.readTextFile(join(layout, "blobs", "sha256", d.slice("sha256:".length))));
      const layers = (await blob((await blob(digest)).config.digest)).rootfs.diff_ids;
      // skopeo reads a docker-archive through docker's manifest.json and makes a manifest of its own (with
      // uncompressed layers), so it reports another digest there: its layers must be our diff ids.
      // Everywhere else, the digest is ours.
      const assertSkopeoReads = async (location: string, what: string) => {
        const info = JSON.parse(await runOk("skopeo", ["inspect", ...flags(location), location]));
        if (location.startsWith("docker-archive:")) assert.deepEqual(info.Layers, layers, what);
        else assert.equal(info.Digest, digest, what);
      };
      // From the layout to each, then from each to each other: the digest never changes.
      for (const to of locations) {
        const result = JSON.parse(
          (await runCliOk(["image", "copy", `oci:${layout}:1`, to, "--dest-tls-verify=false", "--json"], { env }))
            .stdout,
        ) as PushJson;
        assert.equal(result.digest, digest, `oci -> ${to}`);
        await assertSkopeoReads(to, `skopeo reads ${to}`);
      }
      for (const from of locations) {
        for (const to of locations) {
          if (from === to) continue;
          const target = to.startsWith("docker://")
            ? to.replace("/copies/", `/copies-${locations.indexOf(from)}/`)
            : to.replace(/(\.oci|\.tar)/, `-from-${locations.indexOf(from)}$1`);
          const result = JSON.parse(
            (await runCliOk([
              "image",
              "copy",
              from,
              target,
              "--src-tls-verify=false",
              "--dest-tls-verify=false",
              "--json",
            ], { env })).stdout,
          ) as PushJson;
          assert.equal(result.digest, digest, `${from} -> ${target}`);
          await assertSkopeoReads(target, `skopeo reads ${target}`);
        }
      }
      // A second copy into a layout that has the image writes no blob.
      const again = JSON.parse(
        (await runCliOk(["image", "copy", `oci:${layout}:1`, locations[0], "--json"], { env })).stdout,
      ) as PushJson;
      assert.equal(again.blobs.uploaded, 0);
      assert.equal(again.blobs.skipped, again.blobs.total);
      // Bytes that do not match their digest are refused and leave nothing behind.
      const blobDir = join(layout, "blobs", "sha256");
      const manifest = JSON.parse(await Deno.readTextFile(join(blobDir, digest.slice(7))));
      const layer = manifest.layers[0].digest.slice(7);
      const original = await Deno.readFile(join(blobDir, layer));
      const damaged = original.slice();
      damaged[damaged.length >> 1] ^= 0xff;
      await Deno.writeFile(join(blobDir, layer), damaged);
      const broken = await runCli(["image", "copy", `oci:${layout}:1`, `oci:${join(dir, "damaged.oci")}:1`], { env });
      assert.equal(broken.code, 1, broken.stderr);
      assert.match(broken.stderr, /^Error: Blob sha256:[0-9a-f]{64} in oci:.* does not match its descriptor/m);
      await assert.rejects(() => Deno.lstat(join(dir, "damaged.oci")), Deno.errors.NotFound);
      await Deno.writeFile(join(blobDir, layer), original);
    } finally {
      await registry.stop();
      await removeTree(dir);
    }
  },
});

Deno.test({
  name: testName("RegistrySink: a sink streams blobs of unknown digest, then tags last"),
  ignore: MISSING.length > 0,
  fn: async () => {
    const { dir } = await scratch();
    const registry = await startRegistry(dir);
    const { RegistrySink } = await import("../src/registry/sink.ts");
    const { parseImageLocation } = await import("../src/reference/transport.ts");
    const { rawManifest } = await import("../src/oci/manifest.ts");
    try {
      const location = parseImageLocation(`docker://${registry.host}/lib/streamed:1`);
      assert.equal(location.transport, "docker");
      if (location.transport !== "docker") return;
      const target = await RegistrySink.open(location, { tlsVerify: false });
      assert.deepEqual(await target.previousImages(), [], "nothing behind the tag yet");
      const tar = craftTar([{ path: "hello", content: "streamed without knowing its digest\n" }]);
      const layer = await target.blobs.put(ReadableStream.from([tar.subarray(0, 700), tar.subarray(700)]));
      assert.equal(layer.digest, digestOf(tar));
      assert.ok(await target.blobs.has(layer.digest));
      const config = new TextEncoder().encode(JSON.stringify({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: [layer.digest] },
      }));
      const configBlob = await target.blobs.putBytes(config);
      const manifest = {
        schemaVersion: 2 as const,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...configBlob },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
      };
      // The registry sees no tag until commit.
      assert.ok(!(await registryHas(registry.host, "lib/streamed/manifests/1")));
      const { jsonBytes } = await import("../src/oci/image_config.ts");
      const exact = jsonBytes(manifest);
      assert.equal(await target.commit(rawManifest(exact, manifest.mediaType)), true, "the tag was written");
      const previous = await target.previousImages();
      assert.equal(previous.length, 1);
      assert.equal(previous[0].raw.digest, digestOf(exact));
      assert.deepEqual(previous[0].config.rootfs.diff_ids, [layer.digest]);
      target.close();
      // A destination that names a digest takes only the image with that digest.
      const byDigest = parseImageLocation(`docker://${registry.host}/lib/streamed@sha256:${"0".repeat(64)}`);
      if (byDigest.transport !== "docker") throw new Error("a docker location");
      const pinned = await RegistrySink.open(byDigest, { tlsVerify: false });
      await assert.rejects(
        pinned.commit(rawManifest(exact, manifest.mediaType)),
        /The image's digest is sha256:[0-9a-f]{64}, not sha256:0{64} as the destination names/,
      );
      pinned.close();
      assert.equal(
        await skopeoDigest(`docker://${registry.host}/lib/streamed:1`, "--tls-verify=false"),
        digestOf(exact),
      );
    } finally {
      await registry.stop();
      await removeTree(dir);
    }
  },
});
