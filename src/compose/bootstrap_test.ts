import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { composeTimestamp, defaultMirrors, mmdebstrapArgs, planBootstrap } from "./bootstrap.ts";

Deno.test("debian:12 bootstraps bookworm with mmdebstrap's default mirrors, minbase, as root", () => {
  const plan = planBootstrap({ repo: "r", ref: "debian:12", arch: "x86_64" });
  assert.equal(plan.suite, "bookworm");
  assert.equal(plan.base.branch, "debian/12/x86_64");
  assert.deepEqual(mmdebstrapArgs(plan, "/t/rootfs"), [
    "--mode=root",
    "--variant=minbase",
    "--arch=amd64",
    "--format=directory",
    "bookworm",
    "/t/rootfs",
  ]);
});

Deno.test("options: variant, extra packages, mirror, arch, suite", () => {
  const plan = planBootstrap({
    repo: "r",
    ref: "debian:bookworm",
    arch: "arm64",
    variant: "apt",
    packages: ["ca-certificates", "curl"],
    mirror: "http://mirror.example/debian",
  });
  assert.deepEqual(mmdebstrapArgs(plan, "/t"), [
    "--mode=root",
    "--variant=apt",
    "--arch=arm64",
    "--format=directory",
    "--include=ca-certificates,curl",
    "bookworm",
    "/t",
    "http://mirror.example/debian",
  ]);
  assert.equal(planBootstrap({ repo: "r", ref: "debian:16", arch: "x86_64", suite: "future" }).suite, "future");
  assert.throws(
    () => planBootstrap({ repo: "r", ref: "debian:16", arch: "x86_64" }),
    /No codename is known for debian:16/,
  );
  assert.throws(() => planBootstrap({ repo: "r", ref: "debian:12", variant: "huge" }), UsageError);
  assert.throws(() => planBootstrap({ repo: "r", ref: "debian:12", mirror: "not a url" }), /Invalid --mirror/);
  assert.throws(() => planBootstrap({ repo: "r", ref: "debian:12", packages: ["-x"] }), /Invalid package name/);
  assert.throws(() => planBootstrap({ repo: "r", ref: "nope" }), /Invalid base image reference format: nope/);
});

Deno.test("ubuntu gets its archive (ports for other architectures) and keyring; unknown distributions need --mirror", () => {
  const plan = planBootstrap({ repo: "r", ref: "ubuntu:24.04", arch: "x86_64" });
  assert.equal(plan.suite, "noble");
  assert.equal(plan.keyring, "/usr/share/keyrings/ubuntu-archive-keyring.gpg");
  assert.deepEqual(plan.mirrors, [
    "deb http://archive.ubuntu.com/ubuntu noble main",
    "deb http://archive.ubuntu.com/ubuntu noble-updates main",
    "deb http://security.ubuntu.com/ubuntu noble-security main",
  ]);
  assert.match(defaultMirrors("ubuntu", "noble", "aarch64")![0], /ports\.ubuntu\.com\/ubuntu-ports noble main$/);
  assert.ok(mmdebstrapArgs(plan, "/t").includes("--keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg"));
  assert.throws(() => planBootstrap({ repo: "r", ref: "devuan:daedalus" }), /knows no default mirror for devuan/);
  const devuan = planBootstrap({ repo: "r", ref: "devuan:daedalus", mirror: "http://deb.devuan.org/merged" });
  assert.equal(devuan.suite, "daedalus");
  assert.equal(devuan.base.branch.startsWith("devuan/daedalus/"), true);
});

Deno.test("SOURCE_DATE_EPOCH sets the commit time", () => {
  assert.equal(composeTimestamp({ SOURCE_DATE_EPOCH: "1700000000" }), 1700000000);
  const now = composeTimestamp({});
  assert.ok(Math.abs(now - Date.now() / 1000) < 5);
  assert.throws(() => composeTimestamp({ SOURCE_DATE_EPOCH: "yesterday" }), UsageError);
});

Deno.test("--bootable adds the kernel of the architecture, systemd, ostree, ostree-boot and dracut", () => {
  const amd64 = planBootstrap({ repo: "r", ref: "debian:12", arch: "x86_64", bootable: true, packages: ["curl"] });
  assert.equal(amd64.bootable, true);
  assert.deepEqual(amd64.packages, [
    "curl",
    "linux-image-amd64",
    "systemd",
    "systemd-sysv",
    "udev",
    "ostree",
    "ostree-boot",
    "dracut",
  ]);
  assert.ok(
    planBootstrap({ repo: "r", ref: "debian:12", arch: "aarch64", bootable: true }).packages.includes(
      "linux-image-arm64",
    ),
  );
  assert.ok(
    planBootstrap({ repo: "r", ref: "ubuntu:24.04", arch: "x86_64", bootable: true }).packages.includes(
      "linux-image-generic",
    ),
  );
  assert.equal(planBootstrap({ repo: "r", ref: "debian:12", arch: "x86_64" }).bootable, false);
});
