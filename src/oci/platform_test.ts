import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import {
  architecture,
  ARCHITECTURES,
  findArchitecture,
  formatPlatform,
  ociPlatform,
  parsePlatform,
  platformBranchArch,
  samePlatform,
} from "./platform.ts";
import type { Platform } from "./types.ts";

Deno.test("platform: every Debian architecture maps to its OCI platform, kernel and qemu names", () => {
  const table = Object.fromEntries(ARCHITECTURES.map((a) => [a.debian, formatPlatform(ociPlatform(a.debian))]));
  assert.deepEqual(table, {
    amd64: "linux/amd64",
    arm64: "linux/arm64",
    armhf: "linux/arm/v7",
    armel: "linux/arm/v5",
    i386: "linux/386",
    ppc64el: "linux/ppc64le",
    s390x: "linux/s390x",
    riscv64: "linux/riscv64",
    mips64el: "linux/mips64le",
    loong64: "linux/loong64",
  });
  assert.equal(architecture("aarch64").qemu, "aarch64");
  assert.equal(architecture("armhf").qemu, "arm");
  assert.equal(architecture("ppc64le").debian, "ppc64el");
  assert.equal(architecture("x86_64").debian, "amd64");
  assert.equal(architecture("386").debian, "i386");
});

Deno.test("platform: parsePlatform reads podman's and buildah's spellings", () => {
  assert.deepEqual(parsePlatform("linux/arm64"), { architecture: "arm64", os: "linux" });
  assert.deepEqual(parsePlatform("linux/arm64/v8"), { architecture: "arm64", os: "linux" });
  assert.deepEqual(parsePlatform("arm64"), { architecture: "arm64", os: "linux" });
  assert.deepEqual(parsePlatform("linux/arm/v7"), { architecture: "arm", os: "linux", variant: "v7" });
  assert.deepEqual(parsePlatform("linux/arm/v5"), { architecture: "arm", os: "linux", variant: "v5" });
  assert.deepEqual(parsePlatform("ppc64el"), { architecture: "ppc64le", os: "linux" });
  for (const bad of ["linux/sparc", "windows/amd64", "linux/", "linux/arm64/v8/x", ""]) {
    assert.throws(() => parsePlatform(bad), UsageError, bad);
  }
});

Deno.test("platform: samePlatform treats arm64 and arm64/v8 as one, arm/v7 and arm/v5 as two", () => {
  const p = (architecture: string, variant?: string) => ({
    architecture,
    os: "linux",
    ...(variant ? { variant } : {}),
  });
  assert.equal(samePlatform(p("arm64"), p("arm64", "v8")), true);
  assert.equal(samePlatform(p("arm", "v7"), p("arm", "v5")), false);
  assert.equal(samePlatform(p("amd64"), p("arm64")), false);
});

Deno.test("platform: an image's platform names the branch as bootstrap and compose do", () => {
  const cases: [Platform, string][] = [
    [{ architecture: "amd64", os: "linux" }, "x86_64"],
    [{ architecture: "arm64", os: "linux", variant: "v8" }, "aarch64"],
    [{ architecture: "386", os: "linux" }, "i386"],
    [{ architecture: "arm", os: "linux", variant: "v7" }, "armhf"],
    [{ architecture: "arm", os: "linux", variant: "v5" }, "armel"],
    [{ architecture: "arm", os: "linux" }, "armhf"],
    [{ architecture: "mips64le", os: "linux" }, "mips64el"],
    [{ architecture: "ppc64le", os: "linux" }, "ppc64le"],
    [{ architecture: "sparc64", os: "linux" }, "sparc64"],
  ];
  for (const [platform, branch] of cases) {
    assert.equal(platformBranchArch(platform), branch, JSON.stringify(platform));
    // The same name a bootstrap of that architecture gets (normalizeArch), where the table knows it.
    if (findArchitecture(branch)) assert.equal(findArchitecture(branch)!.branch, branch);
  }
});
