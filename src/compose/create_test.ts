import assert from "node:assert/strict";
import { aptInstallCommand, parseAptSimulation } from "./create.ts";

Deno.test("apt-get install: no recommends unless asked, packages after --, simulation on request", () => {
  const plain = aptInstallCommand(["hello", "vim"], { installRecommends: false, simulate: false });
  assert.equal(plain[0], "apt-get");
  assert.ok(plain.includes("--no-install-recommends"));
  assert.ok(plain.includes("APT::Install-Recommends=false"));
  assert.ok(plain.includes("-y"));
  assert.ok(!plain.includes("--simulate"));
  assert.deepEqual(plain.slice(-4), ["install", "--", "hello", "vim"]);
  const recommends = aptInstallCommand(["hello"], { installRecommends: true, simulate: true });
  assert.ok(!recommends.includes("--no-install-recommends"));
  assert.ok(recommends.includes("APT::Install-Recommends=true"));
  assert.ok(recommends.includes("--simulate"));
});

Deno.test("apt's simulation output: Inst lines become packages with versions", () => {
  const lines = [
    "Reading package lists...",
    "The following NEW packages will be installed:",
    "  hello libfoo1",
    "Inst libfoo1 (1.2-3 Debian:12.9/stable [amd64])",
    "Inst hello (2.10-3 Debian:12.9/stable [amd64])",
    "Inst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.11/stable [all])",
    "Inst libc6:i386 (2.36-9 Debian:12.9/stable [i386])",
    "Conf hello (2.10-3 Debian:12.9/stable [amd64])",
  ];
  assert.deepEqual(parseAptSimulation(lines), [
    { name: "hello", version: "2.10-3", arch: "amd64" },
    { name: "libc6", version: "2.36-9", arch: "i386" },
    { name: "libfoo1", version: "1.2-3", arch: "amd64" },
    { name: "tzdata", version: "2025b-0+deb12u1", arch: "all" },
  ]);
  assert.deepEqual(parseAptSimulation([]), []);
});
