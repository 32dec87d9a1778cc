import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { hostArch } from "../oci/platform.ts";
import { debianArch, normalizeArch, parseBaseBranch, parseBaseImageRef } from "./base_ref.ts";

Deno.test("short forms map to <distribution>/<version>/<arch>, the arch defaulting to the host's", () => {
  const ubuntu = parseBaseImageRef("ubuntu:24.04");
  assert.equal(ubuntu.distribution, "ubuntu");
  assert.equal(ubuntu.version, "24.04");
  assert.equal(ubuntu.suite, "noble");
  assert.equal(ubuntu.arch, hostArch());
  assert.equal(ubuntu.branch, `ubuntu/24.04/${hostArch()}`);
  assert.equal(ubuntu.name, "ubuntu:24.04");
  assert.equal(parseBaseImageRef("debian:12", { arch: "x86_64" }).branch, "debian/12/x86_64");
});

Deno.test("codenames map to version numbers: debian:bookworm and debian:12 are one branch", () => {
  const byName = parseBaseImageRef("debian:bookworm", { arch: "x86_64" });
  const byNumber = parseBaseImageRef("debian:12", { arch: "x86_64" });
  assert.equal(byName.branch, byNumber.branch);
  assert.equal(byName.version, "12");
  assert.equal(byName.suite, "bookworm");
  assert.equal(parseBaseImageRef("ubuntu:noble", { arch: "x86_64" }).branch, "ubuntu/24.04/x86_64");
  assert.equal(parseBaseImageRef("debian:unstable", { arch: "x86_64" }).branch, "debian/sid/x86_64");
  assert.equal(parseBaseImageRef("debian:trixie", { arch: "x86_64" }).version, "13");
});

Deno.test("the architecture: in the reference, with --arch, Debian names normalised", () => {
  assert.equal(parseBaseImageRef("debian/12/x86_64").branch, "debian/12/x86_64");
  assert.equal(parseBaseImageRef("debian:12/aarch64").branch, "debian/12/aarch64");
  assert.equal(parseBaseImageRef("debian:12/arm64").branch, "debian/12/aarch64");
  assert.equal(parseBaseImageRef("debian:12", { arch: "arm64" }).branch, "debian/12/aarch64");
  assert.equal(parseBaseImageRef("debian:12", { arch: "amd64" }).arch, "x86_64");
  assert.equal(parseBaseImageRef("debian/bookworm/amd64").branch, "debian/12/x86_64");
  // The same architecture in both places is fine; two different ones are not.
  assert.equal(parseBaseImageRef("debian:12/aarch64", { arch: "arm64" }).arch, "aarch64");
  assert.throws(() => parseBaseImageRef("debian:12/aarch64", { arch: "x86_64" }), UsageError);
});

Deno.test("future numeric releases and other distributions parse", () => {
  const future = parseBaseImageRef("ubuntu:26.04", { arch: "x86_64" });
  assert.equal(future.branch, "ubuntu/26.04/x86_64");
  assert.equal(future.suite, undefined);
  const devuan = parseBaseImageRef("devuan:daedalus", { arch: "x86_64" });
  assert.equal(devuan.branch, "devuan/daedalus/x86_64");
  assert.equal(devuan.suite, undefined);
});

Deno.test("invalid references are usage errors with the seed's message and solution", () => {
  for (
    const ref of [
      "invalid-ref",
      "",
      "debian",
      "debian:",
      ":12",
      "debian:12:x",
      "debian/12",
      "debian/12/x86_64/extra",
      "debian:12/sparc",
      "debian:bogus",
      "ubuntu:24",
      "Debian:12",
      "debian:12 extra",
      "-debian:12",
    ]
  ) {
    assert.throws(
      () => parseBaseImageRef(ref, { arch: "x86_64" }),
      (error: unknown) => {
        assert.ok(error instanceof UsageError, `${ref}: ${error}`);
        assert.ok(error instanceof UsageError);
        assert.match(error.message, /^Invalid base image reference format: /);
        assert.ok(error.message.startsWith(`Invalid base image reference format: ${ref}`), error.message);
        assert.equal(error.solution, 'Use format like "ubuntu:24.04" or "debian/12/x86_64"');
        return true;
      },
    );
  }
});

Deno.test("an unknown --arch is a usage error", () => {
  assert.throws(() => parseBaseImageRef("debian:12", { arch: "sparc64" }), /Unknown architecture: sparc64/);
});

Deno.test("architecture names", () => {
  assert.equal(normalizeArch("AMD64"), "x86_64");
  assert.equal(normalizeArch("armv7l"), "armhf");
  assert.equal(normalizeArch("ppc64el"), "ppc64le");
  assert.equal(normalizeArch("sparc"), undefined);
  assert.equal(debianArch("x86_64"), "amd64");
  assert.equal(debianArch("aarch64"), "arm64");
  assert.equal(debianArch("ppc64le"), "ppc64el");
  assert.throws(() => debianArch("vax"), UsageError);
});

Deno.test("parseBaseBranch accepts canonical base branches only", () => {
  assert.equal(parseBaseBranch("debian/12/x86_64")?.name, "debian:12");
  assert.equal(parseBaseBranch("ubuntu/24.04/aarch64")?.suite, "noble");
  assert.equal(parseBaseBranch("devuan/daedalus/x86_64")?.distribution, "devuan");
  assert.equal(parseBaseBranch("debian/bookworm/x86_64"), undefined);
  assert.equal(parseBaseBranch("debian/12/amd64"), undefined);
  assert.equal(parseBaseBranch("deploy/debian/12/x86_64/hello"), undefined);
  assert.equal(parseBaseBranch("my-deployment"), undefined);
  assert.equal(parseBaseBranch("team/app/latest"), undefined);
});
