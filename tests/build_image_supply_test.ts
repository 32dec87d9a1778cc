/**
 * Signatures and provenance through `compose build-image` end to end, into
 * a real docker-registry on loopback, checked by tools that are not ours:
 *
 * - GPG (`--sign-by`): skopeo with a `signedBy` policy accepts the image
 *   and refuses it with another key; the provenance's DSSE signature (an
 *   OpenPGP detached signature of the PAE bytes) passes `gpgv`;
 * - cosign key (`--sign-by-sigstore-private-key`): `openssl dgst -verify`
 *   accepts the `.sig` payload's signature and the provenance's DSSE
 *   signature over the PAE bytes (computed here), and refuses another key;
 * - the statement's subject digest is the image's; an unchanged rebuild
 *   keeps the signature and the attestation (none added); `image verify
 *   --provenance` agrees.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli, runCliOk } from "./helpers/cli.ts";
import { commitTree, createRepo, makeTempDir, removeTree, run, runOk } from "./helpers/fixture_repo.ts";
import { DENO_DIR, hasProgram, startRegistry } from "./helpers/registry.ts";
import { makeSbomTree } from "./helpers/sbom.ts";

const TOOLS = ["docker-registry", "skopeo", "gpg", "gpgv", "openssl"];
const MISSING = (await Promise.all(TOOLS.map(async (t) => (await hasProgram(t)) ? undefined : t))).filter(Boolean);

const DSSE = "application/vnd.dsse.envelope.v1+json";
// deno-lint-ignore no-explicit-any
type Json = any;

async function gpgKey(dir: string, name: string): Promise<{ home: string; fingerprint: string; publicKey: string }> {
  const home = join(dir, `gnupg-${name}`);
  await Deno.mkdir(home, { mode: 0o700 });
  const env = { GNUPGHOME: home };
  await runOk("gpg", [
    "--batch",
    "--pinentry-mode",
    "loopback",
    "--passphrase",
    "",
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

/** DSSE's PAE, written out here from the specification (not with the code under test). */
function pae(type: string, payload: Uint8Array): Uint8Array {
  const enc = new TextEncoder();
  return new Uint8Array([
    ...enc.encode(`DSSEv1 ${enc.encode(type).length} ${type} ${payload.length} `),
    ...payload,
  ]);
}

const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

Deno.test({
  name:
    `build-image -o docker:// --sign-by / --sign-by-sigstore-private-key --provenance: skopeo, gpgv and openssl accept; rebuilds add nothing${
      MISSING.length ? ` (skipped: no ${MISSING.join(", ")})` : ""
    }`,
  ignore: MISSING.length > 0,
  fn: async () => {
    const dir = await makeTempDir("apt-ostree-build-supply-");
    const registry = await startRegistry(dir);
    const alice = await gpgKey(dir, "alice");
    const bob = await gpgKey(dir, "bob");
    try {
      const tree = join(dir, "tree");
      await makeSbomTree(tree);
      const repo = await createRepo("archive", dir);
      await commitTree(repo, "debian/12/x86_64", tree, { version: "12.20240506" });
      const host = registry.host;
      const env = {
        REGISTRY_AUTH_FILE: join(dir, "no-auth.json"),
        XDG_CACHE_HOME: join(dir, "cache"),
        DENO_DIR,
        HOME: dir,
        GNUPGHOME: alice.home,
        COSIGN_PASSWORD: "correct horse",
        SOURCE_DATE_EPOCH: "1714979289",
      };
      const lookaside = join(dir, "lookaside");
      const registriesD = join(dir, "registries.d");
      await Deno.mkdir(registriesD);
      await Deno.writeTextFile(
        join(registriesD, "test.yaml"),
        `docker:\n  ${host}:\n    lookaside: file://${lookaside}\n    lookaside-staging: file://${lookaside}\n`,
      );
      const get = async (repository: string, path: string) => {
        const response = await fetch(`http://${host}/v2/${repository}/${path}`, {
          headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json" },
        });
        assert.equal(response.status, 200, path);
        return new Uint8Array(await response.arrayBuffer());
      };
      const getJson = async (repository: string, path: string) =>
        JSON.parse(new TextDecoder().decode(await get(repository, path)));
      /** The DSSE envelope attached to `digest` (the fallback index lists it). */
      const envelopeOf = async (repository: string, digest: string) => {
        const index = await getJson(repository, `manifests/sha256-${digest.slice(7)}`);
        const entries = index.manifests.filter((m: Json) => m.artifactType === DSSE);
        assert.equal(entries.length, 1, JSON.stringify(index));
        const artifact = await getJson(repository, `manifests/${entries[0].digest}`);
        assert.equal(artifact.subject.digest, digest);
        assert.equal(artifact.annotations["in-toto.io/predicate-type"], "https://slsa.dev/provenance/v1");
        const envelope = JSON.parse(
          new TextDecoder().decode(await get(repository, `blobs/${artifact.layers[0].digest}`)),
        );
        return { index, envelope };
      };
      const checkStatement = (envelope: Json, digest: string) => {
        assert.equal(envelope.payloadType, "application/vnd.in-toto+json");
        const statement = JSON.parse(new TextDecoder().decode(unb64(envelope.payload)));
        assert.equal(statement._type, "https://in-toto.io/Statement/v1");
        assert.equal(statement.predicateType, "https://slsa.dev/provenance/v1");
        assert.equal(statement.subject.length, 1);
        assert.deepEqual(statement.subject[0].digest, { sha256: digest.slice(7) });
        const deps = statement.predicate.buildDefinition.resolvedDependencies;
        assert.ok(deps.some((d: Json) => d.name === "ostree-commit" && d.digest.sha256.length === 64));
        assert.equal(statement.predicate.buildDefinition.internalParameters.SOURCE_DATE_EPOCH, "1714979289");
        assert.match(statement.predicate.runDetails.builder.version["apt-ostree"], /^\d+\.\d+/);
        assert.deepEqual(statement.predicate.runDetails.byproducts.map((b: Json) => b.name), ["sbom-spdx"]);
        return pae(envelope.payloadType, unb64(envelope.payload));
      };

      // --- GPG: simple signing and a GPG-signed provenance.
      const gpgBuild = () =>
        runCliOk([
          "--repo",
          repo,
          "--json",
          "compose",
          "build-image",
          "debian/12/x86_64",
          `${host}/team/web:1`,
          "-o",
          `docker://${host}/team/web:1`,
          "--tls-verify=false",
          "--sign-by",
          alice.fingerprint,
          "--registries.d",
          registriesD,
          "--provenance",
        ], { env }).then((r) => JSON.parse(r.stdout));
      const first = await gpgBuild();
      const digest = first.digest;
      const sigDir = join(lookaside, `team/web@sha256=${digest.slice(7)}`);
      assert.deepEqual(first.signatures, [{
        format: "simple",
        identity: `${host}/team/web:1`,
        digest,
        stored: join(sigDir, "signature-1"),
      }]);
      assert.equal(first.provenance.written, true);
      assert.equal(first.provenance.signatures, 1);
      // skopeo with a signedBy policy: alice's key accepts, bob's refuses.
      const policy = async (key: string) => {
        const path = join(dir, `policy-${crypto.randomUUID()}.json`);
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
      const skopeo = async (key: string) =>
        await run("skopeo", [
          "--policy",
          await policy(key),
          "--registries.d",
          registriesD,
          "copy",
          "--remove-signatures",
          "--src-tls-verify=false",
          `docker://${host}/team/web:1`,
          `oci:${join(dir, "pulled.oci")}:x`,
        ], { env });
      const accepted = await skopeo(alice.publicKey);
      assert.equal(accepted.code, 0, accepted.stderr);
      const refused = await skopeo(bob.publicKey);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /Invalid GPG signature|not trusted|unknown key|key not found/i);
      // The provenance: gpgv checks the detached signature over the PAE bytes with alice's key (not bob's).
      const { envelope: gpgEnvelope } = await envelopeOf("team/web", digest);
      assert.equal(gpgEnvelope.signatures[0].keyid, alice.fingerprint);
      await Deno.writeFile(join(dir, "pae-gpg"), checkStatement(gpgEnvelope, digest));
      await Deno.writeFile(join(dir, "pae-gpg.sig"), unb64(gpgEnvelope.signatures[0].sig));
      for (const [who, key] of [["alice", alice.publicKey], ["bob", bob.publicKey]]) {
        const keyring = join(dir, `${who}.gpg`);
        await runOk("gpg", ["--batch", "--yes", "--output", keyring, "--dearmor", key], { env });
        const checked = await run("gpgv", ["--keyring", keyring, join(dir, "pae-gpg.sig"), join(dir, "pae-gpg")], {
          env: { GNUPGHOME: join(dir, `gpgv-${who}`) },
        });
        if (who === "alice") assert.equal(checked.code, 0, checked.stderr);
        else assert.notEqual(checked.code, 0);
      }
      const verified = await runCli(
        [
          "--json",
          "image",
          "verify",
          `docker://${host}/team/web:1`,
          "--tls-verify=false",
          "--provenance",
          "--key",
          alice.publicKey,
        ],
        { env },
      );
      assert.equal(verified.code, 0, verified.stderr);
      assert.equal(JSON.parse(verified.stdout).provenance.accepted, true);
      const wrongKey = await runCli(
        [
          "image",
          "verify",
          `docker://${host}/team/web:1`,
          "--tls-verify=false",
          "--provenance",
          "--key",
          bob.publicKey,
        ],
        { env },
      );
      assert.equal(wrongKey.code, 1);
      assert.match(wrongKey.stderr, /provenance .* is not accepted/);
      // An unchanged rebuild: the same image, its signature and provenance kept, nothing added.
      const again = await gpgBuild();
      assert.equal(again.digest, digest);
      assert.equal(again.reusedImage, true);
      assert.equal(again.signatures[0].kept, true);
      assert.equal(again.signatures[0].stored, join(sigDir, "signature-1"));
      assert.ok(!(await Deno.stat(join(sigDir, "signature-2")).catch(() => undefined)), "no second signature");
      assert.equal(again.provenance.written, false);
      assert.equal(again.provenance.digest, first.provenance.digest);

      // --- cosign key: the .sig tag and an ECDSA-signed provenance.
      await runCliOk(["image", "generate-key", "--output-prefix", join(dir, "ci")], { env });
      await runCliOk(["image", "generate-key", "--output-prefix", join(dir, "other")], { env });
      const cosignBuild = () =>
        runCliOk([
          "--repo",
          repo,
          "--json",
          "compose",
          "build-image",
          "debian/12/x86_64",
          `${host}/team/cos:1`,
          "-o",
          `docker://${host}/team/cos:1`,
          "--tls-verify=false",
          "--sign-by-sigstore-private-key",
          join(dir, "ci.key"),
          "--provenance",
        ], { env }).then((r) => JSON.parse(r.stdout));
      const cos = await cosignBuild();
      assert.equal(cos.digest, digest, "the same commit gives the same image in another repository");
      const sigTag = `sha256-${digest.slice(7)}.sig`;
      assert.deepEqual(cos.signatures, [{
        format: "sigstore",
        identity: `${host}/team/cos:1`,
        digest,
        stored: sigTag,
      }]);
      const openssl = (key: string, signature: Uint8Array, data: Uint8Array) =>
        (async () => {
          const name = crypto.randomUUID();
          await Deno.writeFile(join(dir, `${name}.der`), signature);
          await Deno.writeFile(join(dir, `${name}.data`), data);
          return await run("openssl", [
            "dgst",
            "-sha256",
            "-verify",
            key,
            "-signature",
            join(dir, `${name}.der`),
            join(dir, `${name}.data`),
          ]);
        })();
      const sigManifest = await getJson("team/cos", `manifests/${sigTag}`);
      assert.equal(sigManifest.layers.length, 1);
      const payload = await get("team/cos", `blobs/${sigManifest.layers[0].digest}`);
      const payloadSig = unb64(sigManifest.layers[0].annotations["dev.cosignproject.cosign/signature"]);
      assert.equal(JSON.parse(new TextDecoder().decode(payload)).critical.image["docker-manifest-digest"], digest);
      const sigOk = await openssl(join(dir, "ci.pub"), payloadSig, payload);
      assert.match(sigOk.stdout, /Verified OK/, sigOk.stderr);
      // The provenance: openssl over the PAE bytes, with the right key and not another.
      const { index: before, envelope } = await envelopeOf("team/cos", digest);
      const message = checkStatement(envelope, digest);
      const dsseSig = unb64(envelope.signatures[0].sig);
      const ok = await openssl(join(dir, "ci.pub"), dsseSig, message);
      assert.match(ok.stdout, /Verified OK/, ok.stderr);
      const bad = await openssl(join(dir, "other.pub"), dsseSig, message);
      assert.match(bad.stdout + bad.stderr, /Verification failure/);
      const cosVerified = await runCli(
        [
          "image",
          "verify",
          `docker://${host}/team/cos:1`,
          "--tls-verify=false",
          "--provenance",
          "--key",
          join(dir, "ci.pub"),
        ],
        { env },
      );
      assert.equal(cosVerified.code, 0, cosVerified.stderr);
      assert.match(cosVerified.stdout, /PROVENANCE OK/);
      const cosWrong = await runCli(
        [
          "image",
          "verify",
          `docker://${host}/team/cos:1`,
          "--tls-verify=false",
          "--provenance",
          "--key",
          join(dir, "other.pub"),
        ],
        { env },
      );
      assert.equal(cosWrong.code, 1);
      // An unchanged rebuild: one signature, one attestation, the fallback index as it was.
      const cosAgain = await cosignBuild();
      assert.equal(cosAgain.signatures[0].kept, true);
      assert.equal(cosAgain.provenance.written, false);
      assert.equal((await getJson("team/cos", `manifests/${sigTag}`)).layers.length, 1);
      assert.deepEqual((await envelopeOf("team/cos", digest)).index, before);

      // Usage errors, before any work: no key; an archive.
      const noKey = await runCli(
        ["--repo", repo, "compose", "build-image", "debian/12/x86_64", "x:1", "-o", join(dir, "x.oci"), "--provenance"],
        { env },
      );
      assert.equal(noKey.code, 2, noKey.stderr);
      assert.match(noKey.stderr, /^Error: --provenance is signed with the signing options' keys, and none is given$/m);
      await assert.rejects(Deno.lstat(join(dir, "x.oci")), Deno.errors.NotFound, "nothing written");
      const archive = await runCli([
        "--repo",
        repo,
        "compose",
        "build-image",
        "debian/12/x86_64",
        "x:1",
        "-o",
        `docker-archive:${join(dir, "x.tar")}`,
        "--provenance",
        "--sign-by-sigstore-private-key",
        join(dir, "ci.key"),
      ], { env });
      assert.equal(archive.code, 2, archive.stderr);
      assert.match(
        archive.stderr,
        /^Error: --provenance is attached to an OCI layout or a registry image, not to docker-archive$/m,
      );
      await assert.rejects(Deno.lstat(join(dir, "x.tar")), Deno.errors.NotFound, "nothing written");
    } finally {
      await registry.stop();
      for (const home of [alice.home, bob.home]) await run("gpgconf", ["--homedir", home, "--kill", "gpg-agent"]);
      await removeTree(dir);
    }
  },
});
