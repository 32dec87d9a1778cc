import assert from "node:assert/strict";
import { join } from "node:path";
import { diffPackages, formatPackages, nativeArchOf, parseDpkgStatus, readInstalledPackages } from "./dpkg_status.ts";

const STATUS = `Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u4
Description: GNU C Library
 continuation line: Version: 0

Package: removed-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: libc6
Status: install ok installed
Architecture: i386
Version: 2.36-9+deb12u4

Package: dpkg
Status: install ok installed
Architecture: amd64
Version: 1.21.22

Package: tzdata
Status: hold ok installed
Architecture: all
Version: 2024a-0+deb12u1
`;

Deno.test("dpkg's status file: installed packages only, sorted, with versions and architectures", () => {
  assert.deepEqual(parseDpkgStatus(STATUS), [
    { name: "dpkg", version: "1.21.22", arch: "amd64" },
    { name: "libc6", version: "2.36-9+deb12u4", arch: "amd64" },
    { name: "libc6", version: "2.36-9+deb12u4", arch: "i386" },
    { name: "tzdata", version: "2024a-0+deb12u1", arch: "all" },
  ]);
  assert.deepEqual(parseDpkgStatus(""), []);
});

Deno.test("formatting: name=version, with :arch for foreign architectures", () => {
  const packages = parseDpkgStatus(STATUS);
  assert.equal(nativeArchOf(packages), "amd64");
  assert.deepEqual(formatPackages(packages, "amd64"), [
    "dpkg=1.21.22",
    "libc6=2.36-9+deb12u4",
    "libc6:i386=2.36-9+deb12u4",
    "tzdata=2024a-0+deb12u1",
  ]);
  assert.equal(
    nativeArchOf([{ name: "a", version: "1", arch: "arm64" }, { name: "b", version: "1", arch: "all" }]),
    "arm64",
  );
});

Deno.test("changes between a base and a deployment", () => {
  const base = [{ name: "a", version: "1", arch: "amd64" }, { name: "b", version: "1", arch: "amd64" }];
  const after = [{ name: "a", version: "2", arch: "amd64" }, { name: "c", version: "1", arch: "all" }];
  assert.deepEqual(diffPackages(base, after), {
    installed: after,
    removed: [{ name: "b", version: "1", arch: "amd64" }],
  });
});

Deno.test("a tree without a dpkg database has no packages", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(await readInstalledPackages(dir), []);
    await Deno.mkdir(join(dir, "var/lib/dpkg"), { recursive: true });
    await Deno.writeTextFile(join(dir, "var/lib/dpkg/status"), STATUS);
    assert.equal((await readInstalledPackages(dir)).length, 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
