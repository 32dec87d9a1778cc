import assert from "node:assert/strict";
import { digestHex, DigestStream, sha256Digest } from "./digest.ts";

Deno.test("DigestStream hashes and counts what passes, unchanged", async () => {
  const tee = new DigestStream();
  const chunks = [new TextEncoder().encode("hello "), new TextEncoder().encode("world")];
  const out = await new Response(ReadableStream.from(chunks).pipeThrough(tee)).text();
  assert.equal(out, "hello world");
  const result = await tee.result;
  assert.equal(result.size, 11);
  assert.equal(result.digest, "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
});

Deno.test("sha256Digest of nothing is the well-known empty digest", () => {
  assert.equal(
    sha256Digest(new Uint8Array()),
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});

Deno.test("digestHex refuses what is not a sha256 digest", () => {
  assert.equal(digestHex("sha256:" + "a".repeat(64)), "a".repeat(64));
  assert.throws(() => digestHex("sha512:" + "a".repeat(128)));
  assert.throws(() => digestHex("sha256:../../etc/passwd"));
});
