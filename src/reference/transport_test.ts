import assert from "node:assert/strict";
import { formatImageLocation, parseImageLocation, registryLocation } from "./transport.ts";
import { parseImageReference } from "./image_ref.ts";
import { UsageError } from "../errors.ts";

Deno.test("transport names: oci, oci-archive, docker-archive, docker", () => {
  assert.deepEqual(parseImageLocation("oci:./out.oci:1.0"), { transport: "oci", path: "./out.oci", tag: "1.0" });
  assert.deepEqual(parseImageLocation("oci:/abs/dir"), { transport: "oci", path: "/abs/dir", tag: undefined });
  assert.deepEqual(parseImageLocation("oci-archive:img.tar:latest"), {
    transport: "oci-archive",
    path: "img.tar",
    tag: "latest",
  });
  const archive = parseImageLocation("docker-archive:img.tar:app:1");
  assert.equal(archive.transport, "docker-archive");
  assert.equal(archive.transport === "docker-archive" && archive.ref?.familiarName, "app:1");
  const docker = parseImageLocation("docker://localhost:5000/team/app:2");
  assert.equal(docker.transport, "docker");
  if (docker.transport === "docker") {
    assert.equal(docker.host, "localhost:5000");
    assert.equal(docker.repository, "team/app");
    assert.equal(docker.ref.tag, "2");
  }
  assert.equal(formatImageLocation(docker), "docker://localhost:5000/team/app:2");
  assert.equal(formatImageLocation(parseImageLocation("oci:out.oci:1")), "oci:out.oci:1");
});

Deno.test("transport names: Docker Hub defaults", () => {
  assert.deepEqual(registryLocation(parseImageReference("debian:12")), {
    host: "registry-1.docker.io",
    repository: "library/debian",
  });
  assert.deepEqual(registryLocation(parseImageReference("docker.io/team/app")), {
    host: "registry-1.docker.io",
    repository: "team/app",
  });
  const digest = "sha256:" + "a".repeat(64);
  const byDigest = parseImageLocation(`docker://quay.io/org/app@${digest}`);
  assert.equal(byDigest.transport === "docker" && byDigest.ref.digest, digest);
});

Deno.test("transport names: clear errors", () => {
  assert.throws(() => parseImageLocation("my-image:latest"), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /unknown transport 'my-image'/);
    return true;
  });
  assert.throws(() => parseImageLocation("docker://"), UsageError);
  assert.throws(() => parseImageLocation("docker:foo"), /start with docker:\/\//);
  assert.throws(() => parseImageLocation("oci:"), /empty path/);
  assert.throws(() => parseImageLocation("docker://Bad/Name"), UsageError);
});
