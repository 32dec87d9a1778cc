/**
 * GPG simple signing, checked by skopeo: `image copy --sign-by` into a
 * real docker-registry on loopback writes the signature into the
 * lookaside of a registries.d written here; `skopeo copy` with a
 * `signedBy` policy accepts it, rejects another key and an unsigned image;
 * `skopeo standalone-verify` accepts it and fails on another identity; our
 * `image verify --key/--policy` agrees.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli, runCliOk } from "./helpers/cli.ts";
import { makeTempDir, removeTree, run, runOk } from "./helpers/fixture_repo.ts";
import { craftLayout } from "./helpers/oci_builder.ts";
import { DENO_DIR, hasProgram, startRegistry } from "./helpers/registry.ts";

const TOOLS = ["docker-registry", "skopeo", "gpg", "gpgv"];
const MISSING = (await Promise.all(TOOLS.map(async (t) => (await hasProgram(t)) ? undefined : t))).filter(Boolean);

/** A GNUPGHOME with one new signing key; returns its fingerprint and an armored export. */
export async function makeGpgKey(
  dir: string,
  name: string,
  passphrase = "",
): Promise<{ home: string; fingerprint: string; publicKey: string }> {
  const home = join(dir, `gnupg-${name}`);
  await Deno.mkdir(home, { mode: 0o700 });
  const env = { GNUPGHOME: home };
  await runOk("gpg", [
    "--batch",
    "--pinentry-mode",
    "loopback",
    "--passphrase",
    passphrase,
    "--quick-gen-key",
    `apt-ostree test ${name} <${name}@example.com>`,
    "ed25519",
    "sign",
    "never",
  ], { env });
  const colons = await runOk("gpg", ["--batch", "--with-colons", "--list-secret-keys"], { env });
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(colons)![1];
  const publicKey = join(dir, `${name}.asc`);
  await Deno.writeTextFile(publicKey, await runOk("gpg", ["--batch", "--armor", "--export", fingerprint], { env }));
  return { home, fingerprint, publicKey };
}

/** Stops the gpg-agent a test's GNUPGHOME started. */
export async function stopAgent(home: string): Promise<void> {
  await run("gpgconf", ["--homedir", home, "--kill", "gpg-agent"]);
}

Deno.test({
  name: `GPG simple signing: skopeo's signedBy policy and standalone-verify accept our signatures${
    MISSING.length ? ` (skipped: no ${MISSING.join(", ")})` : ""
  }`,
  ignore: MISSING.length > 0,
  fn: async () => {
    const dir = await makeTempDir("apt-ostree-sign-gpg-");
    const registry = await startRegistry(dir);
    const a = await makeGpgKey(dir, "alice", "alice's passphrase");
    const b = await makeGpgKey(dir, "bob");
    try {
      const passFile = join(dir, "pass");
      await Deno.writeTextFile(passFile, "alice's passphrase\n");
      const env = {
        REGISTRY_AUTH_FILE: join(dir, "no-auth.json"),
        XDG_CACHE_HOME: join(dir, "cache"),
        DENO_DIR,
        HOME: dir,
        GNUPGHOME: a.home,
      };
      const host = registry.host;
      const lookaside = join(dir, "lookaside");
      const registriesD = join(dir, "registries.d");
      await Deno.mkdir(registriesD);
      await Deno.writeTextFile(
        join(registriesD, "test.yaml"),
        `docker:\n  ${host}:\n    lookaside: file://${lookaside}\n    lookaside-staging: file://${lookaside}\n`,
      );
      const policy = async (name: string, key: string) => {
        const path = join(dir, `${name}.json`);
        await Deno.writeTextFile(
          path,
          JSON.stringify({
            default: [{ type: "insecureAcceptAnything" }],
            transports: {
              docker: {
                [host]: [{
                  type: "signedBy",
                  keyType: "GPGKeys",
                  keyPath: key,
                  signedIdentity: { type: "matchRepository" },
                }],
              },
            },
          }),
        );
        return path;
      };
      const policyA = await policy("policy-alice", a.publicKey);
      const policyB = await policy("policy-bob", b.publicKey);

      const layout = join(dir, "web.oci");
      const { digest } = await craftLayout(layout, [[{ path: "hello.txt", content: "hello\n" }]], { tag: "1" });
      await craftLayout(join(dir, "other.oci"), [[{ path: "other.txt", content: "other\n" }]], { tag: "1" });
      const dest = `docker://${host}/team/web:1`;

      // Sign while copying; the key has a passphrase, given by file (never a prompt).
      const copied = JSON.parse(
        (await runCliOk([
          "image",
          "copy",
          `oci:${layout}:1`,
          dest,
          "--dest-tls-verify=false",
          "--sign-by",
          a.fingerprint,
          "--passphrase-file",
          passFile,
          "--registries.d",
          registriesD,
          "--json",
        ], { env })).stdout,
      );
      const sigPath = join(lookaside, `team/web@sha256=${digest.slice(7)}`, "signature-1");
      assert.deepEqual(copied.signatures, [{
        format: "simple",
        identity: `${host}/team/web:1`,
        digest,
        stored: sigPath,
      }]);
      const firstSignature = await Deno.readFile(sigPath);
      await runCliOk([
        "image",
        "copy",
        `oci:${join(dir, "other.oci")}:1`,
        `docker://${host}/team/other:1`,
        "--dest-tls-verify=false",
      ], {
        env,
      });

      // skopeo copy with a signedBy policy: our signature is accepted…
      const skopeo = (policyPath: string, image: string) =>
        run("skopeo", [
          "--policy",
          policyPath,
          "--registries.d",
          registriesD,
          "copy",
          "--remove-signatures",
          "--src-tls-verify=false",
          image,
          `oci:${join(dir, "pulled.oci")}:x`,
        ], { env });
      const accepted = await skopeo(policyA, dest);
      assert.equal(accepted.code, 0, accepted.stderr);
      // …another key is not, nor an unsigned image.
      const otherKey = await skopeo(policyB, dest);
      assert.notEqual(otherKey.code, 0);
      assert.match(otherKey.stderr, /Invalid GPG signature|not trusted|unknown key|key not found/i);
      const unsigned = await skopeo(policyA, `docker://${host}/team/other:1`);
      assert.notEqual(unsigned.code, 0);
      assert.match(unsigned.stderr, /A signature was required, but no signature exists/);

      // skopeo standalone-verify: the manifest, the identity, the key's fingerprint, the signature.
      const manifestFile = join(layout, "blobs/sha256", digest.slice(7));
      const standalone = await run(
        "skopeo",
        ["standalone-verify", manifestFile, `${host}/team/web:1`, a.fingerprint, sigPath],
        { env },
      );
      assert.equal(standalone.code, 0, standalone.stderr);
      assert.match(standalone.stdout, new RegExp(`Signature verified.*${digest}`));
      const otherIdentity = await run(
        "skopeo",
        ["standalone-verify", manifestFile, `${host}/team/other:1`, a.fingerprint, sigPath],
        { env },
      );
      assert.notEqual(otherIdentity.code, 0);
      assert.match(otherIdentity.stderr, /does not match|identity/i);

      // Our verify agrees: the right key, the policy; not another key, an unsigned image, another identity.
      const verify = (args: string[]) =>
        runCli(["image", "verify", ...args, "--tls-verify=false", "--registries.d", registriesD], { env });
      const good = await verify([dest, "--key", a.publicKey, "--json"]);
      assert.equal(good.code, 0, good.stderr);
      assert.equal(JSON.parse(good.stdout).signatures.accepted, true);
      assert.equal((await verify([dest, "--policy", policyA])).code, 0);
      const wrongKey = await verify([dest, "--key", b.publicKey]);
      assert.equal(wrongKey.code, 1);
      assert.match(wrongKey.stderr, /Invalid GPG signature: signed by key \S+, which is not trusted/);
      const missing = await verify([`docker://${host}/team/other:1`, "--key", a.publicKey]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no simple signature exists/);
      const identity = await verify([dest, "--key", a.publicKey, "--identity", `${host}/team/other:1`]);
      assert.equal(identity.code, 1);
      assert.match(identity.stderr, /identity mismatch: the signature is for .*team\/web:1, not .*team\/other:1/);
      const policyRejects = await verify([dest, "--policy", policyB]);
      assert.equal(policyRejects.code, 1);

      // A second signature (bob, via image sign) goes to signature-2; alice's stays as it was.
      await runCliOk([
        "image",
        "sign",
        dest,
        "--tls-verify=false",
        "--sign-by",
        b.fingerprint,
        "--registries.d",
        registriesD,
      ], { env: { ...env, GNUPGHOME: b.home } });
      assert.deepEqual(await Deno.readFile(sigPath), firstSignature);
      await Deno.stat(join(lookaside, `team/web@sha256=${digest.slice(7)}`, "signature-2"));
      const bobAccepted = await skopeo(policyB, dest);
      assert.equal(bobAccepted.code, 0, bobAccepted.stderr);

      // A layout needs a directory and an identity; then skopeo standalone-verify accepts it too.
      const noDir = await runCli(["image", "sign", `oci:${layout}:1`, "--sign-by", b.fingerprint], {
        env: { ...env, GNUPGHOME: b.home },
      });
      assert.equal(noDir.code, 2);
      assert.match(noDir.stderr, /--signature-dir/);
      const sigDir = join(dir, "layout-sigs");
      const signedLayout = JSON.parse(
        (await runCliOk([
          "image",
          "sign",
          `oci:${layout}:1`,
          "--sign-by",
          b.fingerprint,
          "--sign-identity",
          "registry.example.com/team/web:1",
          "--signature-dir",
          sigDir,
          "--json",
        ], { env: { ...env, GNUPGHOME: b.home } })).stdout,
      );
      const layoutSig = signedLayout.signatures[0].stored;
      assert.equal(layoutSig, join(sigDir, `team/web@sha256=${digest.slice(7)}`, "signature-1"));
      const layoutStandalone = await run(
        "skopeo",
        ["standalone-verify", manifestFile, "registry.example.com/team/web:1", b.fingerprint, layoutSig],
        { env: { ...env, GNUPGHOME: b.home } },
      );
      assert.equal(layoutStandalone.code, 0, layoutStandalone.stderr);
      const layoutVerify = await runCli([
        "image",
        "verify",
        `oci:${layout}:1`,
        "--key",
        b.publicKey,
        "--identity",
        "registry.example.com/team/web:1",
        "--signature-dir",
        sigDir,
      ], { env });
      assert.equal(layoutVerify.code, 0, layoutVerify.stderr);
    } finally {
      await stopAgent(a.home);
      await stopAgent(b.home);
      await registry.stop();
      await removeTree(dir);
    }
  },
});
