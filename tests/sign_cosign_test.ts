/**
 * cosign key-based signatures: `image push --sign-by-sigstore-private-key`
 * with a key from `image generate-key` into a real docker-registry on
 * loopback; the `.sig` manifest read back from the registry; the
 * signature checked by `openssl dgst -verify` and by npm `@sigstore/verify`
 * (right key verifies, wrong key fails); skopeo finds the attachment
 * (`use-sigstore-attachments: true`) but Debian's skopeo cannot verify it;
 * our `image verify --key/--policy` accepts the good one and rejects a
 * wrong key, a missing signature, another identity and a moved signature.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash, createPublicKey } from "node:crypto";
import { join } from "node:path";
import { bundleFromJSON } from "npm:@sigstore/bundle@4.0.0";
import { TrustedRoot } from "npm:@sigstore/protobuf-specs@0.5.0";
import { toSignedEntity, toTrustMaterial, Verifier } from "npm:@sigstore/verify@3.1.1";
import { runCli, runCliOk } from "./helpers/cli.ts";
import { makeTempDir, removeTree, run } from "./helpers/fixture_repo.ts";
import { craftLayout } from "./helpers/oci_builder.ts";
import { DENO_DIR, hasProgram, startRegistry } from "./helpers/registry.ts";

const TOOLS = ["docker-registry", "skopeo", "openssl"];
const MISSING = (await Promise.all(TOOLS.map(async (t) => (await hasProgram(t)) ? undefined : t))).filter(Boolean);

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** @sigstore/verify on a message-signature bundle with a public-key hint and an empty trusted root. */
function sigstoreVerify(payload: Uint8Array, signatureB64: string, publicKeyPem: string): void {
  const bundle = bundleFromJSON({
    mediaType: "application/vnd.dev.sigstore.bundle+json;version=0.2",
    verificationMaterial: {
      publicKey: { hint: "apt-ostree-test" },
      tlogEntries: [],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    messageSignature: {
      messageDigest: { algorithm: "SHA2_256", digest: b64(createHash("sha256").update(payload).digest()) },
      signature: signatureB64,
    },
  });
  const root = TrustedRoot.fromJSON({
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  });
  const trust = toTrustMaterial(root, (hint: string) => {
    if (hint !== "apt-ostree-test") throw new Error(`unknown key hint ${hint}`);
    return { publicKey: createPublicKey(publicKeyPem), validFor: () => true };
  });
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  verifier.verify(toSignedEntity(bundle, Buffer.from(payload)));
}

Deno.test({
  name: `cosign signatures: .sig tag read back, openssl and @sigstore/verify check it, skopeo finds it${
    MISSING.length ? ` (skipped: no ${MISSING.join(", ")})` : ""
  }`,
  ignore: MISSING.length > 0,
  fn: async () => {
    const dir = await makeTempDir("apt-ostree-sign-cosign-");
    const registry = await startRegistry(dir);
    try {
      const env = {
        REGISTRY_AUTH_FILE: join(dir, "no-auth.json"),
        XDG_CACHE_HOME: join(dir, "cache"),
        DENO_DIR,
        HOME: dir,
        COSIGN_PASSWORD: "correct horse",
      };
      const host = registry.host;
      await runCliOk(["image", "generate-key", "--output-prefix", join(dir, "ci")], { env });
      await runCliOk(["image", "generate-key", "--output-prefix", join(dir, "other")], {
        env: { ...env, COSIGN_PASSWORD: "" },
      });
      const privateKey = await Deno.readTextFile(join(dir, "ci.key"));
      assert.match(privateKey, /^-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n/);
      assert.equal((await Deno.stat(join(dir, "ci.key"))).mode! & 0o777, 0o600);
      const publicKey = join(dir, "ci.pub");
      const otherKey = join(dir, "other.pub");

      const layout = join(dir, "web.oci");
      const { digest } = await craftLayout(layout, [[{ path: "hello.txt", content: "hello\n" }]], { tag: "1" });
      const other = await craftLayout(join(dir, "other.oci"), [[{ path: "o.txt", content: "o\n" }]], { tag: "1" });
      const dest = `docker://${host}/team/web:1`;
      const pushed = JSON.parse(
        (await runCliOk([
          "image",
          "push",
          `oci:${layout}:1`,
          dest,
          "--tls-verify=false",
          "--sign-by-sigstore-private-key",
          join(dir, "ci.key"),
          "--json",
        ], { env })).stdout,
      );
      const tag = `sha256-${digest.slice(7)}.sig`;
      assert.deepEqual(pushed.signatures, [{
        format: "sigstore",
        identity: `${host}/team/web:1`,
        digest,
        stored: tag,
      }]);

      // The .sig manifest, read back from the registry.
      const get = async (path: string) => {
        const response = await fetch(`http://${host}/v2/team/web/${path}`, {
          headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
        });
        assert.equal(response.status, 200, path);
        return new Uint8Array(await response.arrayBuffer());
      };
      const sigManifest = JSON.parse(new TextDecoder().decode(await get(`manifests/${tag}`)));
      assert.equal(sigManifest.mediaType, "application/vnd.oci.image.manifest.v1+json");
      assert.equal(sigManifest.config.mediaType, "application/vnd.oci.image.config.v1+json");
      assert.equal(sigManifest.layers.length, 1);
      const layer = sigManifest.layers[0];
      assert.equal(layer.mediaType, "application/vnd.dev.cosign.simplesigning.v1+json");
      const config = JSON.parse(new TextDecoder().decode(await get(`blobs/${sigManifest.config.digest}`)));
      assert.deepEqual(config.rootfs, { type: "layers", diff_ids: [layer.digest] });
      const payload = await get(`blobs/${layer.digest}`);
      const signature = layer.annotations["dev.cosignproject.cosign/signature"] as string;
      const parsed = JSON.parse(new TextDecoder().decode(payload));
      assert.equal(parsed.critical.type, "cosign container image signature");
      assert.equal(parsed.critical.image["docker-manifest-digest"], digest); // the image's digest
      assert.equal(parsed.critical.identity["docker-reference"], `${host}/team/web:1`);

      // openssl: right key "Verified OK", wrong key "Verification failure".
      await Deno.writeFile(join(dir, "payload.json"), payload);
      await Deno.writeFile(join(dir, "sig.der"), Uint8Array.from(atob(signature), (c) => c.charCodeAt(0)));
      const openssl = (key: string) =>
        run("openssl", [
          "dgst",
          "-sha256",
          "-verify",
          key,
          "-signature",
          join(dir, "sig.der"),
          join(dir, "payload.json"),
        ]);
      const ok = await openssl(publicKey);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /Verified OK/);
      const bad = await openssl(otherKey);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stdout + bad.stderr, /Verification failure/);

      // @sigstore/verify: right key verifies, wrong key and changed payload throw.
      sigstoreVerify(payload, signature, await Deno.readTextFile(publicKey));
      assert.throws(() => sigstoreVerify(payload, signature, Deno.readTextFileSync(otherKey)));
      const changed = payload.slice();
      changed[changed.length - 2] ^= 1;
      assert.throws(() => sigstoreVerify(changed, signature, Deno.readTextFileSync(publicKey)));

      // skopeo finds the attachment (use-sigstore-attachments) but Debian's skopeo cannot verify it.
      const registriesD = join(dir, "registries.d");
      await Deno.mkdir(registriesD);
      await Deno.writeTextFile(
        join(registriesD, "test.yaml"),
        `docker:\n  ${host}:\n    use-sigstore-attachments: true\n`,
      );
      const policy = join(dir, "policy.json");
      await Deno.writeTextFile(
        policy,
        JSON.stringify({
          default: [{ type: "insecureAcceptAnything" }],
          transports: {
            docker: {
              [host]: [{ type: "sigstoreSigned", keyPath: publicKey, signedIdentity: { type: "matchRepository" } }],
            },
          },
        }),
      );
      const skopeo = (image: string) =>
        run("skopeo", [
          "--policy",
          policy,
          "--registries.d",
          registriesD,
          "copy",
          "--remove-signatures",
          "--src-tls-verify=false",
          image,
          `oci:${join(dir, "pulled.oci")}:x`,
        ], { env });
      await runCliOk(
        ["image", "push", `oci:${join(dir, "other.oci")}:1`, `docker://${host}/team/other:1`, "--tls-verify=false"],
        { env },
      );
      const found = await skopeo(dest);
      const none = await skopeo(`docker://${host}/team/other:1`);
      assert.notEqual(none.code, 0);
      assert.match(none.stderr, /A signature was required, but no signature exists/);
      // With the attachment, skopeo gets past "no signature exists" to the signature it cannot check.
      assert.doesNotMatch(found.stderr, /no signature exists/);
      assert.notEqual(found.code, 0, "Debian's skopeo has sigstore disabled; if it verifies now, update the docs");

      // Our verify: the right key; a policy; not another key, a missing signature, another identity.
      const verify = (args: string[]) => runCli(["image", "verify", ...args, "--tls-verify=false"], { env });
      const good = await verify([dest, "--key", publicKey, "--json"]);
      assert.equal(good.code, 0, good.stderr);
      assert.equal(JSON.parse(good.stdout).signatures.accepted, true);
      assert.equal((await verify([dest, "--policy", policy])).code, 0);
      const wrong = await verify([dest, "--key", otherKey]);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /does not verify with the key/);
      const missing = await verify([`docker://${host}/team/other:1`, "--key", publicKey]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no sigstore signature \(\.sig tag\) exists/);
      const identity = await verify([dest, "--key", publicKey, "--identity", `${host}/team/other:1`]);
      assert.equal(identity.code, 1);
      assert.match(identity.stderr, /identity mismatch/);

      // Tampered: web's .sig manifest put under other's digest in the same repository.
      await runCliOk(
        ["image", "push", `oci:${join(dir, "other.oci")}:1`, `docker://${host}/team/web:2`, "--tls-verify=false"],
        { env },
      );
      const put = await fetch(`http://${host}/v2/team/web/manifests/sha256-${other.digest.slice(7)}.sig`, {
        method: "PUT",
        headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
        body: await get(`manifests/${tag}`),
      });
      assert.equal(put.status, 201);
      await put.body?.cancel();
      const moved = await verify([`docker://${host}/team/web:2`, "--key", publicKey]);
      assert.equal(moved.code, 1);
      assert.match(moved.stderr, new RegExp(`is for manifest ${digest}, but the image's manifest is ${other.digest}`));

      // A second signature is appended to the .sig manifest; the first is kept.
      await runCliOk([
        "image",
        "sign",
        dest,
        "--tls-verify=false",
        "--sign-by-sigstore-private-key",
        join(dir, "other.key"),
      ], { env: { ...env, COSIGN_PASSWORD: "" } });
      const two = JSON.parse(new TextDecoder().decode(await get(`manifests/${tag}`)));
      assert.equal(two.layers.length, 2);
      assert.deepEqual(two.layers[0], layer);
      assert.equal((await verify([dest, "--key", otherKey])).code, 0);

      // An OCI layout holds the same manifest under the same tag.
      await runCliOk([
        "image",
        "sign",
        `oci:${layout}:1`,
        "--sign-by-sigstore-private-key",
        join(dir, "ci.key"),
        "--sign-identity",
        "registry.example.com/team/web:1",
      ], { env });
      const index = JSON.parse(await Deno.readTextFile(join(layout, "index.json")));
      assert.ok(
        index.manifests.some((m: { annotations?: Record<string, string> }) =>
          m.annotations?.["org.opencontainers.image.ref.name"] === tag
        ),
      );
      const layoutOk = await runCli([
        "image",
        "verify",
        `oci:${layout}:1`,
        "--key",
        publicKey,
        "--identity",
        "registry.example.com/team/web:1",
      ], { env });
      assert.equal(layoutOk.code, 0, layoutOk.stderr);
      // A wrong passphrase is refused, and never printed.
      const wrongPass = await runCli(
        ["image", "sign", dest, "--tls-verify=false", "--sign-by-sigstore-private-key", join(dir, "ci.key")],
        { env: { ...env, COSIGN_PASSWORD: "battery staple" } },
      );
      assert.equal(wrongPass.code, 1);
      assert.match(wrongPass.stderr, /Wrong passphrase/);
      assert.doesNotMatch(wrongPass.stderr, /battery staple/);
    } finally {
      await registry.stop();
      await removeTree(dir);
    }
  },
});
