import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { lastNameComponent, parseImageReference } from "./image_ref.ts";

Deno.test("short names normalise as docker does", () => {
  const ref = parseImageReference("nginx");
  assert.equal(ref.domain, undefined);
  assert.equal(ref.path, "nginx");
  assert.equal(ref.tag, "latest");
  assert.equal(ref.fullName, "docker.io/library/nginx:latest");
  assert.equal(ref.familiarName, "nginx:latest");
});

Deno.test("registry hosts with ports, nested paths, tags and digests", () => {
  const ref = parseImageReference("registry.example.com:5000/team/sub/app:1.0-rc.1");
  assert.equal(ref.domain, "registry.example.com:5000");
  assert.equal(ref.path, "team/sub/app");
  assert.equal(ref.tag, "1.0-rc.1");
  assert.equal(ref.fullName, "registry.example.com:5000/team/sub/app:1.0-rc.1");
  assert.equal(ref.familiarName, "registry.example.com:5000/team/sub/app:1.0-rc.1");
  assert.equal(lastNameComponent(ref), "app");
  assert.equal(parseImageReference("localhost/app").domain, "localhost");
  assert.equal(parseImageReference("team/app:2").fullName, "docker.io/team/app:2");
  const digest = "sha256:" + "a".repeat(64);
  const pinned = parseImageReference(`app@${digest}`);
  assert.equal(pinned.digest, digest);
  assert.equal(pinned.tag, undefined);
  assert.equal(parseImageReference("my_app__x.y-z:tag_1").path, "my_app__x.y-z");
});

Deno.test("invalid references are usage errors that say why", () => {
  const cases: [string, RegExp][] = [
    ["", /empty/],
    ["App:1", /lowercase/],
    ["app:-bad", /bad tag/],
    ["app:" + "t".repeat(129), /bad tag/],
    ["app@sha256:xyz", /bad digest/],
    ["-app", /bad repository name/],
    ["a..b", /bad repository name/],
    ["app/", /bad repository name/],
    [":tag", /empty name/],
    ["a".repeat(256), /longer than 255/],
    ["bad_host.com:xx/app", /bad/],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => parseImageReference(input),
      (e: unknown) => e instanceof UsageError && message.test(e.message),
      input,
    );
  }
});

Deno.test("Docker Hub under any of its names is one repository, as docker normalises it", () => {
  for (const name of ["nginx:1", "docker.io/nginx:1", "index.docker.io/nginx:1", "docker.io/library/nginx:1"]) {
    const ref = parseImageReference(name);
    assert.equal(ref.repository, "docker.io/library/nginx", name);
    assert.equal(ref.fullName, "docker.io/library/nginx:1", name);
    assert.equal(ref.familiarName, "nginx:1", name);
  }
  assert.equal(parseImageReference("docker.io/team/app").fullName, "docker.io/team/app:latest");
  assert.equal(parseImageReference("localhost:5000/app@sha256:" + "a".repeat(64)).repository, "localhost:5000/app");
});
