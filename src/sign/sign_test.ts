import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import {
  generateCosignKeyPair,
  openEnvelope,
  readPrivateKey,
  readPublicKey,
  signBytes,
  verifyBytes,
} from "./cosign_key.ts";
import { identityMismatch, normalizeReference, signingIdentity } from "./identity.ts";
import { readLookasideSignatures, signatureDir, writeLookasideSignature } from "./lookaside.ts";
import { makePayload, parsePayload, signatureTimestamp } from "./payload.ts";
import { loadPolicy, policyScopes, requirementsFor } from "./policy.ts";
import { dockerScopes, loadRegistriesD, lookasideDir } from "./registries_d.ts";
import { envelopePayload } from "./dsse.ts";
import { decodeBase64, encodeBase64 } from "../util/base64.ts";

const DIGEST = "sha256:" + "ab".repeat(32);

Deno.test("payload: containers/image's key order, SOURCE_DATE_EPOCH-able timestamp, parsed back", () => {
  const bytes = makePayload("simple", "localhost:5000/web:1", DIGEST, { timestamp: 1700000000, creator: "t" });
  assert.equal(
    new TextDecoder().decode(bytes),
    `{"critical":{"identity":{"docker-reference":"localhost:5000/web:1"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"atomic container signature"},"optional":{"creator":"t","timestamp":1700000000}}`,
  );
  const parsed = parsePayload(makePayload("cosign", "localhost:5000/web:1", DIGEST));
  assert.equal(parsed.type, "cosign container image signature");
  assert.equal(parsed.manifestDigest, DIGEST);
  assert.throws(() => parsePayload(new TextEncoder().encode('{"critical":{}}')), /Invalid signature payload/);
});

Deno.test("cosign key: go-securesystemslib's envelope vector decrypts; our pair round-trips; wrong passphrase", () => {
  // Test vector of go-securesystemslib's encrypted package (the format cosign's key files use).
  const vector =
    `{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"WO3mVvyTwJ9vwT5/Tk5OW5WPIBUofMjcpEfrLnfY4uA="},"cipher":{"name":"nacl/secretbox","nonce":"tCy7HcTFr4uxv4Nrg/DWmncuZ148U1MX"},"ciphertext":"08n43p5G5yviPEZpO7tPPF4aZQkWiWjkv4taFdhDBA0tamKH4nw="}`;
  const plain = openEnvelope(new TextEncoder().encode(vector), "supersecret", "vector");
  // The vector was made by Marshal: the plaintext is the JSON of the base64 of "reallyimportant".
  assert.equal(atob(JSON.parse(new TextDecoder().decode(plain))), "reallyimportant");
  assert.throws(() => openEnvelope(new TextEncoder().encode(vector), "wrong", "vector"), /Wrong passphrase/);

  const pair = generateCosignKeyPair("pw");
  const key = readPrivateKey(pair.privateKeyPem, "pw", "k");
  const data = new TextEncoder().encode("payload");
  assert.ok(verifyBytes(readPublicKey(pair.publicKeyPem, "p"), data, signBytes(key, data)));
  assert.throws(() => readPrivateKey(pair.privateKeyPem, undefined, "k"), /no passphrase/);
  // Plain PKCS#8 PEM, and cosign 2's label.
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  readPrivateKey(privateKey.export({ format: "pem", type: "pkcs8" }).toString(), undefined, "plain");
  readPrivateKey(pair.privateKeyPem.replaceAll("COSIGN", "SIGSTORE"), "pw", "k2");
  const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey;
  assert.throws(() => readPrivateKey(rsa.export({ format: "pem", type: "pkcs8" }).toString(), undefined, "r"), /P-256/);
});

Deno.test("identity: normalisation and the signedIdentity rules", () => {
  assert.equal(normalizeReference("busybox").repository, "docker.io/library/busybox");
  assert.equal(signingIdentity("busybox:1"), "docker.io/library/busybox:1");
  const image = "localhost:5000/team/web:1";
  assert.equal(identityMismatch({ type: "matchExact" }, image, image), undefined);
  assert.match(identityMismatch({ type: "matchExact" }, image, "localhost:5000/team/web:2")!, /not/);
  assert.equal(identityMismatch({ type: "matchRepository" }, image, "localhost:5000/team/web:2"), undefined);
  assert.ok(identityMismatch({ type: "matchRepository" }, image, "localhost:5000/team/other:1"));
  assert.equal(
    identityMismatch({ type: "matchRepoDigestOrExact" }, `localhost:5000/team/web@${DIGEST}`, image),
    undefined,
  );
  assert.ok(identityMismatch({ type: "matchRepoDigestOrExact" }, image, "localhost:5000/team/web:2"));
  assert.equal(
    identityMismatch({ type: "exactReference", dockerReference: "x.io/a:1" }, undefined, "x.io/a:1"),
    undefined,
  );
  assert.equal(
    identityMismatch({ type: "exactRepository", dockerRepository: "x.io/a" }, undefined, "x.io/a:9"),
    undefined,
  );
  assert.ok(identityMismatch({ type: "matchRepository" }, undefined, "x.io/a:1"));
});

Deno.test("registries.d and lookaside: most specific scope, staging for writes, next free signature-N", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const d = join(dir, "registries.d");
    await Deno.mkdir(d);
    await Deno.writeTextFile(
      join(d, "a.yaml"),
      `default-docker:\n  lookaside: file://${dir}/default\ndocker:\n  example.com/team:\n    sigstore: https://sigs.example.com\n    sigstore-staging: file://${dir}/staging\n`,
    );
    await Deno.writeTextFile(join(d, "b.yaml"), `docker:\n  example.com:\n    lookaside: file://${dir}/host\n`);
    const config = await loadRegistriesD(d);
    assert.deepEqual(dockerScopes("example.com/team/web:1").slice(0, 4), [
      "example.com/team/web:1",
      "example.com/team/web",
      "example.com/team",
      "example.com",
    ]);
    assert.equal(lookasideDir(config, "example.com/team/web:1", "write"), `${dir}/staging`);
    assert.throws(() => lookasideDir(config, "example.com/team/web:1", "read"), /only file:\/\/ lookasides/);
    assert.equal(lookasideDir(config, "example.com/other:1", "read"), `${dir}/host`);
    assert.equal(lookasideDir(config, "quay.io/x:1", "write"), `${dir}/default`);

    const base = join(dir, "sigs");
    assert.equal(
      signatureDir(base, "example.com/team/web:1", DIGEST),
      join(base, `team/web@sha256=${"ab".repeat(32)}`),
    );
    const one = await writeLookasideSignature(base, "example.com/team/web:1", DIGEST, new Uint8Array([1]));
    const two = await writeLookasideSignature(base, "example.com/team/web:1", DIGEST, new Uint8Array([2]));
    assert.ok(one.endsWith("signature-1") && two.endsWith("signature-2"));
    const read = await readLookasideSignatures(base, "example.com/team/web:2", DIGEST);
    assert.deepEqual(read.map((r) => [...r.bytes]), [[1], [2]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("policy: scope lookup as containers/image, relative key paths, unsupported parts named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "policy.json");
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        default: [{ type: "reject" }],
        transports: {
          docker: {
            "": [{ type: "insecureAcceptAnything" }],
            "example.com/team": [{ type: "sigstoreSigned", keyPath: "cosign.pub" }],
          },
          oci: { [dir]: [{ type: "signedBy", keyType: "GPGKeys", keyPaths: ["a.gpg", "b.gpg"] }] },
        },
      }),
    );
    const policy = await loadPolicy(path);
    const team = requirementsFor(policy, "docker", dockerScopes("example.com/team/web:1"));
    assert.equal(team.scope, "docker:example.com/team");
    assert.deepEqual(team.requirements[0], {
      type: "sigstoreSigned",
      key: { path: join(dir, "cosign.pub") },
      signedIdentity: { type: "matchRepoDigestOrExact" },
    });
    assert.equal(
      requirementsFor(policy, "docker", dockerScopes("quay.io/x:1")).requirements[0].type,
      "insecureAcceptAnything",
    );
    assert.equal(
      requirementsFor(policy, "oci", policyScopes("oci", join(dir, "web.oci"), "1")).requirements[0].type,
      "signedBy",
    );
    assert.equal(requirementsFor(policy, "docker-archive", policyScopes("docker-archive", "/x.tar")).scope, "default");
    await Deno.writeTextFile(path, JSON.stringify({ default: [{ type: "sigstoreSigned", fulcio: {} }] }));
    await assert.rejects(() => loadPolicy(path), /Fulcio/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an envelope or key whose base64 is damaged is a clear error, not a DOMException", () => {
  assert.throws(
    () => envelopePayload({ payloadType: "application/vnd.in-toto+json", payload: "not base64!", signatures: [] }),
    /The DSSE envelope's payload is not base64/,
  );
  assert.equal(decodeBase64("not base64!"), undefined);
  assert.deepEqual(decodeBase64(encodeBase64(new Uint8Array([0, 255, 7]))), new Uint8Array([0, 255, 7]));
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const publicKey = createPublicKey(privateKey);
  assert.equal(
    verifyBytes(publicKey, new Uint8Array(1), "***"),
    false,
    "a signature that is not base64 verifies nothing",
  );
});

Deno.test("signatureTimestamp reads SOURCE_DATE_EPOCH as every other stamp does: a malformed value is an error, not now", () => {
  assert.equal(signatureTimestamp("1700000000"), 1700000000);
  assert.throws(() => signatureTimestamp("yesterday"), /Invalid SOURCE_DATE_EPOCH 'yesterday'/);
  const now = Math.floor(Date.now() / 1000);
  assert.ok(Math.abs(signatureTimestamp("") - now) <= 2);
});
