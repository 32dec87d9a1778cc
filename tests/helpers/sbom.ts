/**
 * SBOM test helpers: a Debian-like tree with a realistic dpkg database
 * (multi-arch, epochs, `+` and `~` in versions, alternatives and virtual
 * packages in `Depends`, a removed package's leftovers), and the
 * independent validators: ajv with the official SPDX 2.3 schema (vendored
 * in `tests/fixtures/spdx/`), our checks for what that schema misses, and
 * CycloneDX's strict validator.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import "ajv-formats-draft2019"; // CycloneDX's validator loads it: it must be in the module graph
import { Spec, Validation } from "@cyclonedx/cyclonedx-library";

/** dpkg's status file of the fixture (in the new place: `usr/lib/sysimage/dpkg`). */
export const FIXTURE_STATUS = `Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 341
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 12.4+deb12u5
Replaces: base, dpkg (<= 1.15.0), miscutils
Provides: base
Conffiles:
 /etc/debian_version 4d2a9d6e5a1f1c6c25c4fd03c9a18a10
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system.
Homepage: https://tracker.debian.org/pkg/base-files

Package: bash
Essential: yes
Status: install ok installed
Maintainer: Matthias Klose <doko@debian.org>
Architecture: amd64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b2
Pre-Depends: libc6 (>= 2.36), libtinfo6 (>= 6)
Depends: base-files (>= 2.1.12), debianutils (>= 5.6-0.1)
Description: GNU Bourne Again SHell

Package: gcc-12-base
Status: install ok installed
Maintainer: Debian GCC Maintainers <debian-gcc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: gcc-12
Version: 12.2.0-14
Description: GCC, the GNU Compiler Collection (base package)

Package: libc6
Status: install ok installed
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Description: GNU C Library: Shared libraries

Package: libc6
Status: install ok installed
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: i386
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Description: GNU C Library: Shared libraries

Package: libgcc-s1
Status: install ok installed
Maintainer: Debian GCC Maintainers <debian-gcc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14
Depends: gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)
Description: GCC support library

Package: libstdc++6
Status: install ok installed
Maintainer: Debian GCC Maintainers <debian-gcc@lists.debian.org>
Architecture: amd64
Source: gcc-12
Version: 12.2.0-14
Depends: gcc-12-base (= 12.2.0-14), libc6 (>= 2.36), libgcc-s1 (>= 4.2)
Description: GNU Standard C++ Library v3

Package: libtinfo6
Status: install ok installed
Maintainer: Craig Small <csmall@debian.org>
Architecture: amd64
Source: ncurses
Version: 6.4-4
Depends: libc6 (>= 2.33)
Description: shared low-level terminfo library for terminal handling

Package: mawk
Status: install ok installed
Maintainer: Boyuan Yang <byang@debian.org>
Architecture: amd64
Version: 1.3.4.20200120-3.1
Provides: awk
Pre-Depends: libc6 (>= 2.34)
Description: Pattern scanning and text processing language

Package: oldpkg
Status: deinstall ok config-files
Maintainer: Nobody <nobody@example.org>
Architecture: amd64
Version: 1.0-1
Description: removed, its configuration files kept

Package: passwd
Status: install ok installed
Maintainer: Shadow package maintainers <pkg-shadow-devel@lists.alioth.debian.org>
Architecture: amd64
Source: shadow
Version: 1:4.13+dfsg1-1+b1
Depends: libc6 (>= 2.34), libpam-modules | libpam-unix, awk
Description: change and administer password and group data

Package: perl-base
Essential: yes
Status: install ok installed
Maintainer: Niko Tyni <ntyni@debian.org>
Architecture: amd64
Source: perl
Version: 5.36.0-7+deb12u1
Provides: libscalar-list-utils-perl (= 1:1.62-1), perlapi-5.36.0
Pre-Depends: libc6 (>= 2.35)
Description: minimal Perl system

Package: tzdata
Status: install ok installed
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: all
Version: 2024a-0+deb12u1~rc1
Description: time zone and daylight-saving time data
`;

/** Installed packages of {@linkcode FIXTURE_STATUS} as `name:arch`. */
export const FIXTURE_INSTALLED = [
  "base-files:amd64",
  "bash:amd64",
  "gcc-12-base:amd64",
  "libc6:amd64",
  "libc6:i386",
  "libgcc-s1:amd64",
  "libstdc++6:amd64",
  "libtinfo6:amd64",
  "mawk:amd64",
  "passwd:amd64",
  "perl-base:amd64",
  "tzdata:all",
];

const DEP5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: x\n\n";

/** Copyright files of the fixture: DEP-5 ones, a free-form one (libc6: NOASSERTION). */
const COPYRIGHTS: Record<string, string> = {
  "base-files":
    `${DEP5}Files: *\nCopyright: Santiago Vila\nLicense: GPL-2+\n On Debian systems, see /usr/share/common-licenses/GPL-2.\n`,
  bash:
    `${DEP5}Files: *\nCopyright: 1987-2022 FSF\nLicense: GPL-3+\n\nFiles: examples/loadables/*\nCopyright: none\nLicense: public-domain\n\n` +
    `License: public-domain\n Do what you want.\n`,
  "perl-base": `${DEP5}Files: *\nCopyright: Larry Wall\nLicense: GPL-1+ or Artistic\n`,
  mawk:
    `${DEP5}Files: *\nCopyright: 2009-2020 Thomas E. Dickey\nLicense: GPL-2\n\nFiles: debian/*\nCopyright: 2020 X\nLicense: Expat\n`,
  libc6: "This is the Debian prepackaged version of the GNU C Library.\nIt is free software; see the LGPL.\n",
};

/** Writes a Debian-like tree with {@linkcode FIXTURE_STATUS} at `dir` (dpkg's database where `dbDir` says). */
export async function makeSbomTree(dir: string, dbDir = "usr/lib/sysimage/dpkg"): Promise<void> {
  const write = async (path: string, text: string) => {
    await Deno.mkdir(join(dir, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir, path), text);
  };
  await write(`${dbDir}/status`, FIXTURE_STATUS);
  if (dbDir !== "var/lib/dpkg") {
    // A stale database in the old place: the new place must win.
    await write(
      "var/lib/dpkg/status",
      "Package: stale\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n",
    );
  }
  await write("usr/lib/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n');
  await Deno.mkdir(join(dir, "usr/etc"), { recursive: true });
  await Deno.symlink("../lib/os-release", join(dir, "usr/etc/os-release"));
  for (const [pkg, text] of Object.entries(COPYRIGHTS)) await write(`usr/share/doc/${pkg}/copyright`, text);
  // A doc directory that is a symlink to another package's (as Debian does for library packages).
  await Deno.symlink("gcc-12-base", join(dir, "usr/share/doc/libgcc-s1"));
  await write(
    "usr/share/doc/gcc-12-base/copyright",
    `${DEP5}Files: *\nCopyright: FSF\nLicense: GPL-3+ with GCC-exception-3.1\n`,
  );
  await write("usr/bin/bash", "#!/bin/true\n");
}

/** The vendored SPDX 2.3 JSON schema. */
const SPDX_SCHEMA = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/spdx/spdx-schema-2.3.json", import.meta.url)),
);

/** Validates with ajv and the official SPDX 2.3 schema; throws with ajv's errors. */
export function validateSpdxSchema(doc: unknown): void {
  // deno-lint-ignore no-explicit-any
  const ajv = new (Ajv as any)({ allErrors: true, strict: false });
  // deno-lint-ignore no-explicit-any
  (addFormats as any)(ajv);
  const validate = ajv.compile(SPDX_SCHEMA);
  if (!validate(doc)) throw new Error(`SPDX schema: ${JSON.stringify(validate.errors, null, 2)}`);
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;
const SPDXID = /^SPDXRef-[A-Za-z0-9.-]+$/;

/** What the SPDX schema does not check: SPDXIDs, dates, namespace, relationship targets, licence refs. */
// deno-lint-ignore no-explicit-any
export function checkSpdxBeyondSchema(doc: any): void {
  assert.equal(doc.SPDXID, "SPDXRef-DOCUMENT");
  assert.match(doc.creationInfo.created, RFC3339, "created is RFC 3339");
  assert.ok(!Number.isNaN(Date.parse(doc.creationInfo.created)));
  assert.equal(typeof doc.documentNamespace, "string");
  assert.ok(URL.canParse(doc.documentNamespace) && !doc.documentNamespace.includes("#"), "namespace is a URI");
  const ids = new Set<string>(["SPDXRef-DOCUMENT"]);
  for (const p of doc.packages) {
    assert.match(p.SPDXID, SPDXID);
    assert.ok(!ids.has(p.SPDXID), `duplicate SPDXID ${p.SPDXID}`);
    ids.add(p.SPDXID);
  }
  for (const r of doc.relationships) {
    assert.ok(ids.has(r.spdxElementId), `relationship from missing ${r.spdxElementId}`);
    assert.ok(ids.has(r.relatedSpdxElement), `relationship to missing ${r.relatedSpdxElement}`);
  }
  for (const d of doc.documentDescribes ?? []) assert.ok(ids.has(d));
  const refs = new Set((doc.hasExtractedLicensingInfos ?? []).map((l: { licenseId: string }) => l.licenseId));
  for (const p of doc.packages) {
    for (const ref of `${p.licenseDeclared} ${p.licenseConcluded}`.match(/LicenseRef-[A-Za-z0-9.-]+/g) ?? []) {
      assert.ok(refs.has(ref), `${ref} of ${p.name} is not in hasExtractedLicensingInfos`);
    }
  }
}

/** Validates with CycloneDX's strict JSON validator for 1.6; throws with its errors. */
export async function validateCycloneDx(text: string): Promise<void> {
  const errors = await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(text);
  if (errors !== null) throw new Error(`CycloneDX 1.6: ${JSON.stringify(errors, null, 2)}`);
}
