/**
 * SBOMs from dpkg and their attachment as OCI referrers, checked by
 * independent tools: ajv with the official SPDX 2.3 schema (plus our checks
 * for what it misses), CycloneDX's strict validator, packageurl-js against
 * `dpkg-query` on a checkout of the commit, skopeo reading the artifacts,
 * a real docker-registry (no referrers API: the fallback tag), and
 * `@sigstore/oci` writing into the same fallback index.
 *
 * Run alone with: deno test --allow-all tests/sbom_test.ts
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { PackageURL } from "packageurl-js";
import { attachArtifactToImage } from "@sigstore/oci";
import { runCli, runCliOk } from "./helpers/cli.ts";
import { commitTree, createRepo, makeSmallTree, makeTempDir, removeTree, run, runOk } from "./helpers/fixture_repo.ts";
import { startRegistry, writeHtpasswd } from "./helpers/registry.ts";
import {
  checkSpdxBeyondSchema,
  FIXTURE_INSTALLED,
  makeSbomTree,
  validateCycloneDx,
  validateSpdxSchema,
} from "./helpers/sbom.ts";

const SPDX = "application/spdx+json";
const CDX = "application/vnd.cyclonedx+json";

interface Fixture {
  dir: string;
  repo: string;
  commit: string;
}

/** `compose build-image SOURCE IMAGE -o OUT …extra` of the fixture's repository, with `--json`: what it printed. */
async function buildJson(
  f: Fixture,
  out: string,
  extra: string[] = [],
  image = "app:1",
  source = "debian/12/x86_64",
): Promise<Json> {
  const args = ["--repo", f.repo, "--json", "compose", "build-image", source, image, "-o", out, ...extra];
  return JSON.parse((await runCliOk(args)).stdout);
}

async function withFixture(fn: (f: Fixture) => Promise<void>, dbDir?: string): Promise<void> {
  const dir = await makeTempDir("apt-ostree-sbom-");
  try {
    const tree = join(dir, "tree");
    await makeSbomTree(tree, dbDir);
    const repo = await createRepo("archive", dir);
    const commit = await commitTree(repo, "debian/12/x86_64", tree, { version: "12.20240506" });
    await fn({ dir, repo, commit });
  } finally {
    await removeTree(dir);
  }
}

/** dpkg's own view of the commit: dpkg-query on a checkout, with the database the commit has. */
async function dpkgQuery(f: Fixture, dbDir: string): Promise<Map<string, Record<string, string>>> {
  const checkout = join(f.dir, `checkout-${crypto.randomUUID()}`);
  await runOk("ostree", ["checkout", `--repo=${f.repo}`, "-U", f.commit, checkout]);
  const out = await runOk("dpkg-query", [
    `--admindir=${join(checkout, dbDir)}`,
    "-W",
    "-f",
    "${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\t${source:Package}\\t${source:Version}\\t${Maintainer}\\n",
  ]);
  const rows = new Map<string, Record<string, string>>();
  for (const line of out.split("\n")) {
    const [status, name, version, arch, source, sourceVersion, maintainer] = line.split("\t");
    if (status?.trim() !== "ii") continue;
    rows.set(`${name}:${arch}`, { name, version, arch, source, sourceVersion, maintainer });
  }
  return rows;
}

// deno-lint-ignore no-explicit-any
type Json = any;

function checkPurls(purls: Map<string, string>, dpkg: Map<string, Record<string, string>>): void {
  assert.deepEqual([...purls.keys()].sort(), [...dpkg.keys()].sort(), "one package per installed dpkg package");
  for (const [key, purl] of purls) {
    const row = dpkg.get(key)!;
    const parsed = PackageURL.fromString(purl);
    assert.equal(parsed.type, "deb");
    assert.equal(parsed.namespace, "debian");
    assert.equal(parsed.name, row.name);
    assert.equal(parsed.version, row.version);
    assert.equal(parsed.qualifiers?.arch, row.arch);
    assert.equal(parsed.qualifiers?.distro, "debian-12");
    if (row.version.includes("+")) assert.ok(purl.includes("%2B") && !purl.split("?")[0].includes("+"), purl);
  }
}

Deno.test("compose sbom: SPDX 2.3 valid (schema + our checks), exactly dpkg-query's packages, purls field by field, reproducible", async () => {
  await withFixture(async (f) => {
    const args = ["--repo", f.repo, "compose", "sbom", "debian/12/x86_64"];
    const first = await runCliOk(args);
    const second = await runCliOk(args);
    assert.equal(first.stdout, second.stdout, "same commit, same bytes");
    const doc: Json = JSON.parse(first.stdout);
    validateSpdxSchema(doc);
    checkSpdxBeyondSchema(doc);
    assert.equal(doc.creationInfo.created, "2024-05-06T07:08:09Z", "the commit's time");
    assert.ok(doc.documentNamespace.length > 0);
    const packages = doc.packages.filter((p: Json) => p.SPDXID !== "SPDXRef-commit");
    const purls = new Map<string, string>(packages.map((p: Json) => {
      const purl = p.externalRefs.find((r: Json) => r.referenceType === "purl").referenceLocator;
      return [`${p.name}:${PackageURL.fromString(purl).qualifiers?.arch}`, purl];
    }));
    const dpkg = await dpkgQuery(f, "usr/lib/sysimage/dpkg");
    assert.deepEqual([...dpkg.keys()].sort(), [...FIXTURE_INSTALLED].sort());
    checkPurls(purls, dpkg);
    const byName = (name: string, arch = "amd64") =>
      packages.find((p: Json) => p.name === name && p.SPDXID.endsWith(`-${arch}`));
    // Supplier, source package, licences (DEP-5 mapped to SPDX; free-form: NOASSERTION).
    assert.equal(byName("bash").supplier, "Person: Matthias Klose (doko@debian.org)");
    assert.equal(byName("bash").sourceInfo, "built package from: bash 5.2.15-2");
    assert.equal(byName("libc6").sourceInfo, `built package from: glibc ${dpkg.get("libc6:amd64")!.version}`);
    assert.equal(byName("bash").licenseDeclared, "GPL-3.0-or-later AND LicenseRef-public-domain");
    assert.equal(byName("perl-base").licenseDeclared, "GPL-1.0-or-later OR Artistic-1.0-Perl");
    assert.equal(byName("mawk").licenseDeclared, "GPL-2.0-only AND MIT");
    assert.equal(byName("libc6").licenseDeclared, "NOASSERTION");
    assert.match(
      byName("libgcc-s1").licenseDeclared,
      /^LicenseRef-GPL-3-with-GCC-exception-3.1$/,
      "through a doc symlink",
    );
    // DEPENDS_ON only to installed packages: alternatives, virtual packages, same architecture.
    const id = (name: string, arch = "amd64") => byName(name, arch).SPDXID;
    const deps = new Set(
      doc.relationships.filter((r: Json) => r.relationshipType === "DEPENDS_ON").map((r: Json) =>
        `${r.spdxElementId} ${r.relatedSpdxElement}`
      ),
    );
    assert.ok(deps.has(`${id("bash")} ${id("libc6")}`), "Pre-Depends");
    assert.ok(deps.has(`${id("bash")} ${id("base-files")}`), "Depends");
    assert.ok(deps.has(`${id("passwd")} ${id("mawk")}`), "awk through Provides");
    assert.ok(deps.has(`${id("libc6", "i386")} ${id("libgcc-s1")}`));
    assert.ok(!doc.relationships.some((r: Json) => r.relatedSpdxElement.includes("debianutils")));
    const describes = doc.relationships.filter((r: Json) => r.relationshipType === "DESCRIBES");
    assert.deepEqual(describes.map((r: Json) => r.relatedSpdxElement), ["SPDXRef-commit"]);
    assert.equal(doc.packages[0].checksums[0].checksumValue, f.commit);
  });
});

Deno.test("compose sbom --format cyclonedx: CycloneDX 1.6 strict validator, purls against dpkg-query, -o, reproducible", async () => {
  await withFixture(async (f) => {
    const out = join(f.dir, "sbom.cdx.json");
    const result = await runCliOk([
      "--repo",
      f.repo,
      "--json",
      "compose",
      "sbom",
      f.commit,
      "--format",
      "cyclonedx",
      "-o",
      out,
    ]);
    assert.equal(JSON.parse(result.stdout).format, "cyclonedx");
    const text = await Deno.readTextFile(out);
    await validateCycloneDx(text);
    const again = await runCliOk(["--repo", f.repo, "compose", "sbom", f.commit, "--format", "cyclonedx"]);
    assert.equal(again.stdout, text);
    const doc: Json = JSON.parse(text);
    const purls = new Map<string, string>(doc.components.map((c: Json) => {
      const arch = c.properties.find((p: Json) => p.name === "apt-ostree:deb:architecture").value;
      return [`${c.name}:${arch}`, c.purl];
    }));
    checkPurls(purls, await dpkgQuery(f, "usr/lib/sysimage/dpkg"));
    assert.equal(doc.metadata.timestamp, "2024-05-06T07:08:09Z");
    const refs = new Set([doc.metadata.component["bom-ref"], ...doc.components.map((c: Json) => c["bom-ref"])]);
    for (const d of doc.dependencies) for (const t of d.dependsOn) assert.ok(refs.has(t), t);
  });
});

Deno.test("compose sbom: an old commit's /var/lib/dpkg is read; a commit without a dpkg database is refused", async () => {
  await withFixture(async (f) => {
    const result = await runCliOk(["--repo", f.repo, "compose", "sbom", f.commit]);
    const names = JSON.parse(result.stdout).packages.map((p: Json) => p.name);
    assert.ok(names.includes("bash") && !names.includes("stale"));
    const tree = join(f.dir, "empty");
    await makeSmallTree(tree);
    await commitTree(f.repo, "nodpkg", tree);
    const refused = await runCli(["--repo", f.repo, "compose", "sbom", "nodpkg"]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /no dpkg database/);
    const bad = await runCli(["--repo", f.repo, "compose", "sbom", "nodpkg", "--format", "swid"]);
    assert.equal(bad.code, 2, bad.stderr);
  }, "var/lib/dpkg");
});

async function skopeoRaw(location: string, extra: string[] = []): Promise<Json> {
  return JSON.parse(await runOk("skopeo", ["inspect", "--raw", ...extra, location]));
}

Deno.test("build-image --sbom into a layout: index.json lists the artifact and the fallback tag; image sbom; rebuild writes nothing", async () => {
  await withFixture(async (f) => {
    const out = join(f.dir, "app.oci");
    const result = await buildJson(f, out, ["--sbom", "spdx,cyclonedx"]);
    assert.deepEqual(result.sbom.map((s: Json) => [s.format, s.written]), [["spdx", true], ["cyclonedx", true]]);
    const index = JSON.parse(await Deno.readTextFile(join(out, "index.json")));
    const hex = result.digest.slice("sha256:".length);
    const fallback = index.manifests.find((m: Json) =>
      m.annotations?.["org.opencontainers.image.ref.name"] === `sha256-${hex}`
    );
    assert.ok(fallback, "fallback tag in index.json");
    const listed = await skopeoRaw(`oci:${out}:sha256-${hex}`);
    assert.deepEqual(listed.manifests.map((m: Json) => m.artifactType), [SPDX, CDX]);
    for (const s of result.sbom) {
      assert.ok(index.manifests.some((m: Json) => m.digest === s.digest && m.artifactType === s.artifactType));
      // skopeo reads the artifact (inspect without --raw refuses artifacts).
      const raw = JSON.parse(await Deno.readTextFile(join(out, "blobs/sha256", s.digest.slice(7))));
      assert.equal(raw.subject.digest, result.digest);
      assert.equal(raw.config.mediaType, "application/vnd.oci.empty.v1+json");
    }
    // The image is still the layout's only image for a name without a tag.
    const inspect = JSON.parse((await runCliOk(["--json", "image", "inspect", `oci:${out}`])).stdout);
    assert.equal(inspect.digest, result.digest);
    // image sbom prints what compose sbom writes for the same name.
    const printed = await runCliOk(["image", "sbom", `oci:${out}:1`]);
    const doc = JSON.parse(printed.stdout);
    validateSpdxSchema(doc);
    checkSpdxBeyondSchema(doc);
    assert.equal(doc.name, "docker.io/library/app:1");
    const cdx = await runCliOk(["image", "sbom", `oci:${out}:1`, "--format", "cyclonedx"]);
    await validateCycloneDx(cdx.stdout);
    // An unchanged rebuild: same image, the SBOMs are there already, nothing rewritten.
    const before = await Deno.readTextFile(join(out, "index.json"));
    const again = await buildJson(f, out, ["--sbom", "spdx", "--sbom", "cyclonedx"]);
    assert.equal(again.reusedImage, true);
    assert.deepEqual(again.sbom.map((s: Json) => s.written), [false, false]);
    assert.equal(await Deno.readTextFile(join(out, "index.json")), before);
    // skopeo copies the layout (image and tag) without complaint.
    await runOk("skopeo", ["copy", `oci:${out}:1`, `oci:${join(f.dir, "copy.oci")}:1`]);
    // An archive cannot hold it: refused before any work.
    const refused = await runCli([
      "--repo",
      f.repo,
      "compose",
      "build-image",
      "debian/12/x86_64",
      "app:1",
      "--format",
      "docker",
      "-o",
      join(f.dir, "app.tar"),
      "--sbom",
      "spdx",
    ]);
    assert.equal(refused.code, 2, refused.stderr);
  });
});

Deno.test("registry without a referrers API: fallback tag appended to (an @sigstore/oci entry stays), copy carries it, image sbom", async () => {
  if (!(await Deno.stat("/usr/bin/docker-registry").catch(() => undefined))) return;
  await withFixture(async (f) => {
    const htpasswd = join(f.dir, "htpasswd");
    await writeHtpasswd(htpasswd, "alice", "s3cret");
    const registry = await startRegistry(f.dir, { htpasswd });
    const creds = ["--creds", "alice:s3cret", "--tls-verify=false"];
    try {
      const dest = `docker://${registry.host}/team/app:1`;
      // The image first, plain (no SBOM: it is on by default); then @sigstore/oci attaches its own artifact
      // (an auth challenge: Basic).
      const plain = await buildJson(f, dest, ["--no-sbom", ...creds]);
      const foreign = await attachArtifactToImage({
        imageName: `${registry.host}/team/app`,
        imageDigest: plain.digest,
        artifact: new TextEncoder().encode('{"foreign":true}') as never,
        mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
        annotations: { "dev.sigstore.bundle.predicateType": "test" },
        credentials: { username: "alice", password: "s3cret" },
      });
      const tag = `sha256-${plain.digest.slice(7)}`;
      const skopeo = ["--tls-verify=false", "--creds", "alice:s3cret"];
      const before = await skopeoRaw(`docker://${registry.host}/team/app:${tag}`, skopeo);
      assert.deepEqual(
        before.manifests.map((m: Json) => m.digest),
        [foreign.digest],
        "@sigstore/oci wrote the fallback index",
      );
      // Now the same image with an SBOM: our entry is appended, the foreign one stays.
      const built = await buildJson(f, dest, ["--sbom", "spdx", ...creds]);
      assert.equal(built.digest, plain.digest);
      const after = await skopeoRaw(`docker://${registry.host}/team/app:${tag}`, skopeo);
      assert.deepEqual(after.manifests.map((m: Json) => m.digest), [foreign.digest, built.sbom[0].digest]);
      assert.equal(after.manifests[1].artifactType, SPDX);
      const artifact = await skopeoRaw(`docker://${registry.host}/team/app@${built.sbom[0].digest}`, skopeo);
      assert.equal(artifact.artifactType, SPDX);
      assert.equal(artifact.subject.digest, plain.digest);
      // And @sigstore/oci appending again keeps ours.
      const second = await attachArtifactToImage({
        imageName: `${registry.host}/team/app`,
        imageDigest: plain.digest,
        artifact: new TextEncoder().encode('{"foreign":2}') as never,
        mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
        credentials: { username: "alice", password: "s3cret" },
      });
      const both = await skopeoRaw(`docker://${registry.host}/team/app:${tag}`, skopeo);
      assert.deepEqual(both.manifests.map((m: Json) => m.digest), [
        foreign.digest,
        built.sbom[0].digest,
        second.digest,
      ]);
      // image sbom reads it back from the registry.
      const printed = await runCliOk(["image", "sbom", dest, ...creds]);
      validateSpdxSchema(JSON.parse(printed.stdout));
      // A copy to another repository carries every referrer; --no-referrers none.
      const copy = JSON.parse(
        (await runCliOk([
          "--json",
          "image",
          "copy",
          dest,
          `docker://${registry.host}/mirror/app:1`,
          "--src-creds",
          "alice:s3cret",
          "--src-tls-verify=false",
          "--dest-creds",
          "alice:s3cret",
          "--dest-tls-verify=false",
        ])).stdout,
      );
      assert.equal(copy.referrers, 3);
      const mirrored = await skopeoRaw(`docker://${registry.host}/mirror/app:${tag}`, skopeo);
      assert.deepEqual(
        mirrored.manifests.map((m: Json) => m.digest).sort(),
        both.manifests.map((m: Json) => m.digest).sort(),
      );
      const local = join(f.dir, "pulled.oci");
      const toLayout = JSON.parse(
        (await runCliOk([
          "--json",
          "image",
          "copy",
          dest,
          `oci:${local}:1`,
          "--src-creds",
          "alice:s3cret",
          "--src-tls-verify=false",
        ]))
          .stdout,
      );
      assert.equal(toLayout.referrers, 3);
      assert.equal((await runCliOk(["image", "sbom", `oci:${local}:1`])).stdout, printed.stdout);
      const none = JSON.parse(
        (await runCliOk([
          "--json",
          "image",
          "copy",
          dest,
          `oci:${join(f.dir, "bare.oci")}:1`,
          "--no-referrers",
          "--src-creds",
          "alice:s3cret",
          "--src-tls-verify=false",
        ])).stdout,
      );
      assert.equal(none.referrers, undefined);
      const missing = await runCli(["image", "sbom", `oci:${join(f.dir, "bare.oci")}:1`]);
      assert.equal(missing.code, 1, missing.stderr);
    } finally {
      await registry.stop();
    }
  });
});

/** Tracker entries for the fixture: fixed, unfixed, not affected, epochs and tildes, another release. */
const ADVISORIES = {
  bash: {
    "CVE-2024-0001": {
      releases: { bookworm: { status: "resolved", fixed_version: "5.2.15-2+deb12u1", urgency: "medium" } },
    },
    "CVE-2024-0002": { releases: { bookworm: { status: "resolved", fixed_version: "5.2.15-1", urgency: "high" } } },
  },
  shadow: {
    "CVE-2024-0003": { releases: { bookworm: { status: "resolved", fixed_version: "4.13+dfsg1-2", urgency: "high" } } },
    "CVE-2024-0004": {
      releases: { bookworm: { status: "resolved", fixed_version: "1:4.13+dfsg1-2", urgency: "low" } },
    },
  },
  tzdata: {
    "CVE-2024-0005": {
      releases: { bookworm: { status: "resolved", fixed_version: "2024a-0+deb12u1", urgency: "low" } },
    },
    "CVE-2024-0006": {
      releases: { bookworm: { status: "resolved", fixed_version: "2024a-0+deb12u1~", urgency: "low" } },
    },
  },
  glibc: { "CVE-2024-0007": { description: "x", releases: { bookworm: { status: "open", urgency: "unimportant" } } } },
  perl: {
    "CVE-2024-0008": { releases: { bookworm: { status: "undetermined", urgency: "high" } } },
    "CVE-2024-0009": { releases: { bullseye: { status: "open", urgency: "high" } } },
  },
  "gcc-12": {
    "CVE-2024-0010": { releases: { bookworm: { status: "resolved", fixed_version: "0", urgency: "high" } } },
  },
  ncurses: { "CVE-2024-0011": { releases: { bookworm: { status: "open", urgency: "high**" } } } },
};

const EXPECTED_FINDINGS = [
  "bash CVE-2024-0001 resolved 5.2.15-2+deb12u1 medium",
  "libc6 CVE-2024-0007 open - negligible",
  "libc6 CVE-2024-0007 open - negligible",
  "libtinfo6 CVE-2024-0011 open - high",
  "passwd CVE-2024-0004 resolved 1:4.13+dfsg1-2 low",
  "tzdata CVE-2024-0005 resolved 2024a-0+deb12u1 low",
];

Deno.test("image scan: tracker JSON fixture (fixed, unfixed, epoch, tilde, other release) on a commit and on an attached SBOM", async () => {
  await withFixture(async (f) => {
    const advisories = join(f.dir, "tracker.json");
    await Deno.writeTextFile(advisories, JSON.stringify(ADVISORIES));
    const out = join(f.dir, "scan.oci");
    await runCliOk([
      "--repo",
      f.repo,
      "compose",
      "build-image",
      "debian/12/x86_64",
      "app:1",
      "-o",
      out,
      "--sbom",
      "cyclonedx",
    ]);
    await runCliOk([
      "--repo",
      f.repo,
      "compose",
      "build-image",
      "debian/12/x86_64",
      "app:2",
      "-o",
      out,
      "--sbom",
      "spdx",
    ]);
    for (const target of ["debian/12/x86_64", `oci:${out}:1`, `oci:${out}:2`]) {
      const result = await runCliOk(["--repo", f.repo, "--json", "image", "scan", target, "--advisories", advisories]);
      const json = JSON.parse(result.stdout);
      assert.equal(json.release, "bookworm", target);
      assert.deepEqual(
        json.findings.map((x: Json) => `${x.package} ${x.cve} ${x.status} ${x.fixedVersion ?? "-"} ${x.severity}`),
        EXPECTED_FINDINGS,
        target,
      );
    }
    const failing = await runCli([
      "--repo",
      f.repo,
      "image",
      "scan",
      "debian/12/x86_64",
      "--advisories",
      advisories,
      "--fail-on",
      "high",
    ]);
    assert.equal(failing.code, 1, failing.stderr);
    assert.match(failing.stderr, /1 finding\(s\) at or above high/);
    assert.match(failing.stdout, /libtinfo6 6\.4-4 \(amd64, source ncurses 6\.4-4\): CVE-2024-0011 high, no fix yet/);
    const other = await runCliOk([
      "--repo",
      f.repo,
      "--json",
      "image",
      "scan",
      "debian/12/x86_64",
      "--advisories",
      advisories,
      "--release",
      "bullseye",
    ]);
    assert.deepEqual(JSON.parse(other.stdout).findings.map((x: Json) => x.cve), ["CVE-2024-0009"]);

    // SARIF, checked by Microsoft's SARIF multitool (schema and rules: an error fails it), and OpenVEX.
    const sarif = join(f.dir, "scan.sarif");
    const vex = join(f.dir, "scan.vex.json");
    await runCliOk([
      "--repo",
      f.repo,
      "image",
      "scan",
      `oci:${out}:2`,
      "--advisories",
      advisories,
      "--sarif",
      sarif,
      "--openvex",
      vex,
    ], { env: { SOURCE_DATE_EPOCH: "1714979289" } });
    const log = JSON.parse(await Deno.readTextFile(sarif));
    assert.equal(log.version, "2.1.0");
    assert.deepEqual(
      log.runs[0].results.map((r: Json) => `${r.properties.package} ${r.ruleId} ${r.level}`),
      EXPECTED_FINDINGS.map((line) => {
        const [pkg, cve, , , severity] = line.split(" ");
        return `${pkg} ${cve} ${
          severity === "high" ? "error" : ["low", "negligible"].includes(severity) ? "note" : "warning"
        }`;
      }),
    );
    const validated = join(f.dir, "validated.sarif");
    // Installed by scripts/setup.sh (a native program: Deno's npm cache does not keep its exec bit).
    const multitool = await run("sarif-multitool", ["validate", sarif, "--output", validated]);
    assert.equal(multitool.code, 0, multitool.stdout + multitool.stderr);
    const notes = JSON.parse(await Deno.readTextFile(validated)).runs[0].results ?? [];
    const errors = notes.filter((r: Json) => r.level === "error");
    assert.deepEqual(errors.map((r: Json) => r.message?.text ?? r.ruleId), [], "the SARIF multitool reports no error");
    const doc = JSON.parse(await Deno.readTextFile(vex));
    assert.equal(doc["@context"], "https://openvex.dev/ns/v0.2.0");
    assert.equal(doc.timestamp, "2024-05-06T07:08:09Z");
    assert.equal(doc.statements.length, EXPECTED_FINDINGS.length);
    for (const statement of doc.statements) {
      assert.equal(statement.status, "affected");
      assert.match(statement.products[0]["@id"], /^pkg:deb\/debian\/[^@]+@[^?]+\?arch=/);
      assert.ok(statement.action_statement.length > 0, "affected statements say what to do");
    }
  });
});

Deno.test("build-image attaches an SPDX SBOM by default: layout, oci-archive; none for a docker-archive or without dpkg; same image digest", async () => {
  await withFixture(async (f) => {
    const build = (out: string, ...extra: string[]) => buildJson(f, out, extra);
    // A layout: SPDX by default, the manifest digest is the one without an SBOM.
    const layout = join(f.dir, "app.oci");
    const first = await build(layout);
    assert.deepEqual(first.sbom.map((s: Json) => [s.format, s.written]), [["spdx", true]]);
    const plain = await build(join(f.dir, "plain.oci"), "--no-sbom");
    assert.equal(plain.sbom, undefined);
    assert.equal(plain.digest, first.digest, "the SBOM does not change the image");
    const plainIndex = JSON.parse(await Deno.readTextFile(join(f.dir, "plain.oci", "index.json")));
    assert.equal(plainIndex.manifests.length, 1);
    // An unchanged rebuild keeps the SBOM without making it again, and writes nothing.
    const before = await Deno.readTextFile(join(layout, "index.json"));
    const again = await build(layout);
    assert.equal(again.reusedImage, true);
    assert.deepEqual(again.sbom.map((s: Json) => [s.format, s.written, s.digest]), [[
      "spdx",
      false,
      first.sbom[0].digest,
    ]]);
    assert.equal(again.durations.sbom, undefined, "no SBOM was made");
    assert.equal(await Deno.readTextFile(join(layout, "index.json")), before);
    // Asking for another format adds it (and keeps the first).
    const both = await build(layout, "--sbom-format", "spdx,cyclonedx");
    assert.deepEqual(both.sbom.map((s: Json) => [s.format, s.written]), [["spdx", false], ["cyclonedx", true]]);

    // An oci-archive is a layout in a tar: the referrer entry and the fallback tag are in it.
    const archive = join(f.dir, "app-oci.tar");
    const archived = await build(`oci-archive:${archive}`);
    assert.equal(archived.digest, first.digest);
    assert.deepEqual(archived.sbom.map((s: Json) => s.digest), [first.sbom[0].digest]);
    const listed = await skopeoRaw(`oci-archive:${archive}:sha256-${first.digest.slice(7)}`);
    assert.deepEqual(listed.manifests.map((m: Json) => [m.digest, m.artifactType]), [[first.sbom[0].digest, SPDX]]);
    const printed = JSON.parse((await runCliOk(["image", "sbom", `oci-archive:${archive}:1`])).stdout);
    validateSpdxSchema(printed);
    assert.equal(printed.name, "docker.io/library/app:1");
    // skopeo still reads the image (the tag is not confused with the referrers).
    assert.equal(JSON.parse(await runOk("skopeo", ["inspect", `oci-archive:${archive}:1`])).Digest, first.digest);
    // image copy carries the SBOM from a layout into an oci-archive.
    const copied = join(f.dir, "copied.tar");
    await runCliOk(["image", "copy", `oci:${layout}:1`, `oci-archive:${copied}:1`]);
    const copiedList = await skopeoRaw(`oci-archive:${copied}:sha256-${first.digest.slice(7)}`);
    assert.deepEqual(copiedList.manifests.map((m: Json) => m.artifactType).sort(), [SPDX, CDX].sort());

    // A docker-archive cannot hold referrers: none by default (said in --json), a usage error when asked for.
    const docker = await build(`docker-archive:${join(f.dir, "app.tar")}`);
    assert.equal(docker.sbom, undefined);
    assert.match(docker.sbomSkipped, /cannot hold referrers/);
    assert.equal(docker.digest, first.digest);
    const refused = await runCli([
      "--repo",
      f.repo,
      "compose",
      "build-image",
      "debian/12/x86_64",
      "app:1",
      "-o",
      `docker-archive:${join(f.dir, "refused.tar")}`,
      "--sbom-format",
      "spdx",
    ]);
    assert.equal(refused.code, 2, refused.stderr);
    const contradiction = await runCli([
      "--repo",
      f.repo,
      "compose",
      "build-image",
      "debian/12/x86_64",
      "app:1",
      "--no-sbom",
      "--sbom-format",
      "spdx",
    ]);
    assert.equal(contradiction.code, 2, contradiction.stderr);

    // A commit without a dpkg database: no SBOM, no error (an error only when asked for).
    const bare = join(f.dir, "bare");
    await makeSmallTree(bare);
    await commitTree(f.repo, "bare", bare);
    const nodpkg = await buildJson(f, join(f.dir, "bare.oci"), [], "bare:1", "bare");
    assert.equal(nodpkg.sbom, undefined);
    assert.equal(nodpkg.sbomSkipped, "the commit has no dpkg database");
    const asked = await runCli([
      "--repo",
      f.repo,
      "compose",
      "build-image",
      "bare",
      "bare:1",
      "-o",
      join(f.dir, "bare2.oci"),
      "--sbom-format",
      "spdx",
    ]);
    assert.equal(asked.code, 1, asked.stderr);
    assert.match(asked.stderr, /no dpkg database/);
  });
});
