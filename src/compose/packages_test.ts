import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { parseBaseImageRef } from "../reference/base_ref.ts";
import { deriveOutputBranch, packageBaseName, validateOutputBranch, validatePackageNames } from "./packages.ts";

const debian = parseBaseImageRef("debian:12", { arch: "x86_64" });

Deno.test("package names: versions, architectures and releases are accepted; options and removals are not", () => {
  assert.deepEqual(
    validatePackageNames(["hello", "nginx=1.22.1-9", "libc6:arm64", "vim/bookworm-backports", "g++", "hello"]),
    ["hello", "nginx=1.22.1-9", "libc6:arm64", "vim/bookworm-backports", "g++"],
  );
  for (const bad of ["-y", "--purge", "vim-", "Hello", "a", "", "x y", "pkg;rm"]) {
    assert.throws(() => validatePackageNames([bad]), UsageError, bad);
  }
  assert.equal(packageBaseName("libc6:arm64=2.36"), "libc6");
  assert.equal(packageBaseName("vim/bookworm-backports"), "vim");
});

Deno.test("the derived output branch is predictable: sorted names, '_' between, '+' as plus", () => {
  assert.equal(deriveOutputBranch(debian, ["vim", "hello"]), "deploy/debian/12/x86_64/hello_vim");
  assert.equal(deriveOutputBranch(debian, ["hello", "vim"]), "deploy/debian/12/x86_64/hello_vim");
  assert.equal(deriveOutputBranch(debian, ["nginx=1.22", "nginx"]), "deploy/debian/12/x86_64/nginx");
  assert.equal(deriveOutputBranch(debian, ["g++", "libstdc++6"]), "deploy/debian/12/x86_64/gplusplus_libstdcplusplus6");
  assert.equal(deriveOutputBranch(debian, []), "deploy/debian/12/x86_64/base");
  const many = Array.from({ length: 20 }, (_, i) => `package-${i}`);
  const long = deriveOutputBranch(debian, many);
  assert.match(long, /^deploy\/debian\/12\/x86_64\/20-packages-[0-9a-f]{12}$/);
  assert.equal(deriveOutputBranch(debian, [...many].reverse()), long);
  for (const pkgs of [["vim", "hello"], many, ["g++"]]) validateOutputBranch(deriveOutputBranch(debian, pkgs));
});

Deno.test("output branches follow ostree's ref grammar and are never base branches", () => {
  for (const ok of ["my-deployment", "team/web/prod", "a.b_c-d", "deploy/debian/12/x86_64/hello"]) {
    validateOutputBranch(ok);
  }
  for (const bad of ["", "/x", "x/", "a//b", "-x", ".x", "a b", "a:b", "a+b"]) {
    assert.throws(() => validateOutputBranch(bad), /Invalid output branch name/, bad);
  }
  assert.throws(() => validateOutputBranch("debian/12/x86_64"), /is a base image branch/);
});

Deno.test("validatePackageNames: 300,000 names with duplicates in linear time, first order kept", () => {
  const names = Array.from({ length: 300_000 }, (_, i) => `pkg${i % 150_000}`);
  const out = validatePackageNames(names); // a quadratic de-duplication took minutes here

  assert.equal(out.length, 150_000);
  assert.equal(out[0], "pkg0");
  assert.equal(out[149_999], "pkg149999");
});
