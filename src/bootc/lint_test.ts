import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import {
  assertLintClean,
  LINT_RULES,
  type LintEntry,
  LintError,
  type LintFinding,
  lintNeedsContent,
  type LintTree,
  lintTree,
  parseKargsToml,
} from "./lint.ts";

const assertEquals = (actual: unknown, expected: unknown) => assert.deepEqual(actual, expected);

/** Awaits a rejection of class `type` (with `text` in its message); returns the error. */
async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  type: new (...args: never[]) => E,
  text?: string,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof type, `expected ${type.name}, got ${error}`);
    if (text) assert.ok(error.message.includes(text), error.message);
    return error;
  }
  throw new assert.AssertionError({ message: "expected a rejection" });
}

function assertThrows(fn: () => unknown, type: new (...args: never[]) => Error, text: string): void {
  assert.throws(fn, (error: unknown) => error instanceof type && error.message.includes(text));
}

/** A tree in memory: paths to entries, plus file contents. */
class Fixture {
  readonly entries = new Map<string, LintEntry>();
  readonly contents = new Map<string, Uint8Array>();

  dir(path: string, mode = 0o755): this {
    this.parents(path);
    this.entries.set(path, { path, kind: "directory", mode, uid: 0, gid: 0, size: 0 });
    return this;
  }

  file(path: string, text = "x", uid = 0): this {
    this.parents(path);
    const bytes = new TextEncoder().encode(text);
    this.entries.set(path, { path, kind: "file", mode: 0o644, uid, gid: 0, size: bytes.length });
    this.contents.set(path, bytes);
    return this;
  }

  link(path: string, target: string): this {
    this.parents(path);
    this.entries.set(path, { path, kind: "symlink", mode: 0o777, uid: 0, gid: 0, size: 0, target });
    return this;
  }

  remove(path: string): this {
    for (const p of [...this.entries.keys()]) if (p === path || p.startsWith(path + "/")) this.entries.delete(p);
    return this;
  }

  private parents(path: string): void {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join("/");
      if (!this.entries.has(p)) {
        this.entries.set(p, { path: p, kind: "directory", mode: 0o755, uid: 0, gid: 0, size: 0 });
      }
    }
  }

  tree(): LintTree {
    return {
      entries: [...this.entries.values()],
      read: (path) => Promise.resolve(lintNeedsContent(path) ? this.contents.get(path) : undefined),
    };
  }
}

/** A tree that passes every rule, in the commit's view (`usr/etc`) or the image's (`etc`). */
function passing(etc: "etc" | "usr/etc" = "usr/etc"): Fixture {
  const f = new Fixture();
  for (const d of ["dev", "proc", "sys", "run", "tmp", "var", "boot", "sysroot"]) f.dir(d);
  f.link("ostree", "sysroot/ostree");
  f.link("var/run", "../run");
  f.file("usr/lib/modules/6.1.0-1-amd64/vmlinuz", "kernel");
  f.file("usr/lib/ostree/prepare-root.conf", "[composefs]\nenabled = yes\n");
  f.file(`${etc}/passwd`, "root:x:0:0:root:/root:/bin/bash\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n");
  f.file(`${etc}/group`, "root:x:0:\nnogroup:x:65534:\n");
  f.file(`${etc}/hostname`, "debian\n");
  f.file("usr/lib/sysusers.d/basic.conf", 'u root 0 "root" /root\ng nogroup 65534\n');
  f.file(`${etc}/sysusers.d/apt.conf`, "u _apt 42:65534 - /nonexistent\n");
  f.dir("var/lib/dpkg");
  f.file(
    "usr/lib/tmpfiles.d/var.conf",
    "L /var/run - - - - ../run\nd /var/lib 0755 - - -\nL /var/lib/dpkg - - - - ../../usr/share/dpkg\n",
  );
  f.file("usr/lib/bootc/kargs.d/10-console.toml", 'kargs = ["console=ttyS0"]\n');
  return f;
}

function rules(findings: LintFinding[]): string[] {
  return findings.map((f) => f.rule);
}

Deno.test("lint: a good commit and a good image pass every rule", async () => {
  assertEquals(await lintTree(passing("usr/etc").tree()), []);
  assertEquals(await lintTree(passing("etc").tree()), []);
});

/** Each fatal rule, with a tree that breaks it, and the path the finding must name. */
const FATAL_CASES: [string, (f: Fixture) => void, string][] = [
  ["var-run", (f) => f.remove("var/run").dir("var/run"), "/var/run"],
  ["etc-usretc", (f) => f.dir("etc"), "/etc"],
  [
    "bootc-kargs",
    (f) => f.file("usr/lib/bootc/kargs.d/20-bad.toml", "kargs = console=ttyS0\n"),
    "/usr/lib/bootc/kargs.d/20-bad.toml",
  ],
  ["kernel", (f) => f.file("usr/lib/modules/6.2.0-1-amd64/vmlinuz"), "/usr/lib/modules/6.1.0-1-amd64"],
  ["utf8", (f) => f.link("usr/bad", "\ud800x"), "/usr/bad"],
  ["api-base-directories", (f) => f.remove("proc"), "/proc"],
  ["baseimage-root", (f) => f.remove("ostree").link("ostree", "/sysroot/ostree"), "/ostree"],
];

for (const [rule, breakIt, path] of FATAL_CASES) {
  Deno.test(`lint: fatal ${rule}`, async () => {
    const f = passing();
    breakIt(f);
    const findings = await lintTree(f.tree());
    assertEquals(rules(findings), [rule]);
    assertEquals(findings[0].severity, "fatal");
    assert(findings[0].paths.includes(path), `${findings[0].paths} names ${path}`);
    const error = await assertRejects(() => assertLintClean(f.tree()), LintError);
    assertEquals(error.finding.rule, rule);
    assert(error.message.includes(rule) && error.message.includes(path), error.message);
    assert(error.solutionTemplate);
    // Skipped, it passes.
    assertEquals(await assertLintClean(f.tree(), { skip: [rule] }), []);
  });
}

/** Each warning, with a tree that triggers it. */
const WARNING_CASES: [string, (f: Fixture) => void, string][] = [
  [
    "baseimage-composefs",
    (f) => f.file("usr/lib/ostree/prepare-root.conf", "[composefs]\nenabled = no\n"),
    "/usr/lib/ostree/prepare-root.conf",
  ],
  ["buildah-injected", (f) => f.file("usr/etc/resolv.conf", ""), "/usr/etc/resolv.conf"],
  ["var-log", (f) => f.file("var/log/apt/history.log", "Start-Date"), "/var/log/apt/history.log"],
  ["var-tmpfiles", (f) => f.dir("var/cache/apt", 0o700), "/var/cache"],
  [
    "sysusers",
    (f) => f.file("usr/etc/passwd", "root:x:0:0::/root:/bin/sh\nwww:x:33:33::/var/www:/bin/sh\n"),
    "/usr/etc/passwd",
  ],
  ["nonempty-boot", (f) => f.file("boot/vmlinuz-6.1.0-1-amd64"), "/boot/vmlinuz-6.1.0-1-amd64"],
  ["nonempty-run-tmp", (f) => f.file("tmp/build.log"), "/tmp/build.log"],
];

for (const [rule, trigger, path] of WARNING_CASES) {
  Deno.test(`lint: warning ${rule}`, async () => {
    const f = passing();
    trigger(f);
    // Content in /var is always var-tmpfiles content too (as in bootc).
    const findings = (await lintTree(f.tree())).filter((x) => x.rule === rule || x.rule !== "var-tmpfiles");
    assertEquals(rules(findings), [rule]);
    assertEquals(findings[0].severity, "warning");
    assert(findings[0].paths.includes(path), `${findings[0].paths} names ${path}`);
    assert(rules(await assertLintClean(f.tree())).includes(rule));
    assertEquals(await lintTree(f.tree(), { skip: [rule, "var-tmpfiles"] }), []);
  });
}

Deno.test("lint: every rule has a test and bootc's name", () => {
  const tested = [...FATAL_CASES, ...WARNING_CASES].map(([r]) => r);
  assertEquals(tested.sort(), LINT_RULES.map((r) => r.name).sort());
  assertEquals(LINT_RULES.filter((r) => r.severity === "fatal").length, FATAL_CASES.length);
});

Deno.test("lint: unknown rule names in skip are usage errors", async () => {
  await assertRejects(
    () => lintTree(passing().tree(), { skip: ["var-runn"] }),
    UsageError,
    "Unknown lint rule: var-runn",
  );
});

Deno.test("lint: a commit with only usr/etc, an image with only etc, no etc at all", async () => {
  assertEquals(rules(await lintTree(passing("usr/etc").tree())), []);
  const noEtc = passing("usr/etc").remove("usr/etc");
  assertEquals(rules(await lintTree(noEtc.tree())), []);
  // In the image view, config rules read /etc.
  const image = passing("etc").file("etc/hostname", "");
  const [finding] = await lintTree(image.tree());
  assertEquals(finding.paths, ["/etc/hostname"]);
});

Deno.test("lint: long path lists are capped and counted", async () => {
  const f = passing();
  for (let i = 0; i < 12; i++) f.file(`var/log/app${String(i).padStart(2, "0")}.log`, "line");
  const [finding] = await lintTree(f.tree());
  assertEquals(finding.rule, "var-log");
  assertEquals(finding.paths.length, 5);
  assertEquals(finding.morePaths, 7);
});

Deno.test("lint: the first fatal rule names the error; the rest are counted", async () => {
  const f = passing().remove("var/run").dir("var/run").dir("etc");
  const error = await assertRejects(() => assertLintClean(f.tree()), LintError);
  assertEquals(error.finding.rule, "var-run");
  assert(error.message.includes("1 more fatal rule"), error.message);
  assertEquals(rules([...error.findings]), ["var-run", "etc-usretc"]);
});

Deno.test("lint: var-tmpfiles suggests lines with owner names and reports plain files", async () => {
  const f = passing();
  f.entries.set("var/lib/dpkg", { path: "var/lib/dpkg", kind: "directory", mode: 0o755, uid: 42, gid: 65534, size: 0 });
  f.remove("usr/lib/tmpfiles.d/var.conf").file(
    "usr/lib/tmpfiles.d/var.conf",
    "L /var/run - - - - ../run\nd /var/lib 0755 - - -\n",
  );
  f.file("var/lib/dpkg/status", "Package: x\n");
  const [finding] = await lintTree(f.tree());
  assertEquals(finding.rule, "var-tmpfiles");
  assert(finding.message.includes("d /var/lib/dpkg 0755 _apt nogroup - -"), finding.message);
  assert(finding.message.includes("Found non-directory/non-symlink files in /var:\n  /var/lib/dpkg/status"));
  assertEquals(finding.paths, ["/var/lib/dpkg", "/var/lib/dpkg/status"]);
});

Deno.test("lint: tmpfiles.d paths may be quoted or escaped", async () => {
  const f = passing().dir("var/lib/my dir");
  f.file("usr/lib/tmpfiles.d/x.conf", 'd "/var/lib/my dir" 0755 root root -\n');
  assertEquals(await lintTree(f.tree()), []);
  f.file("usr/lib/tmpfiles.d/x.conf", "d /var/lib/my\\x20dir 0755 root root -\n");
  assertEquals(await lintTree(f.tree()), []);
});

Deno.test("lint: nonempty-run-tmp ignores what container runtimes inject", async () => {
  const f = passing().file("run/systemd/resolve/stub-resolv.conf", "nameserver 10.0.2.3\n");
  assertEquals(await lintTree(f.tree()), []);
  f.file("run/systemd/other");
  const [finding] = await lintTree(f.tree());
  assertEquals(finding.paths, ["/run/systemd", "/run/systemd/other"]);
});

Deno.test("lint: composefs is read from /etc first, and root.transient counts", async () => {
  const f = passing().file("usr/etc/ostree/prepare-root.conf", "[composefs]\nenabled = false\n");
  assertEquals(rules(await lintTree(f.tree())), ["baseimage-composefs"]);
  f.file("usr/etc/ostree/prepare-root.conf", "[root]\ntransient = true\n");
  assertEquals(await lintTree(f.tree()), []);
  const missing = passing().remove("usr/lib/ostree");
  const [finding] = await lintTree(missing.tree());
  assert(finding.message.includes("is not present"), finding.message);
});

Deno.test("lint: nonempty-boot warns about a missing /boot and ignores /boot/EFI", async () => {
  assertEquals((await lintTree(passing().remove("boot").tree()))[0].message, "Missing /boot directory");
  assertEquals(await lintTree(passing().dir("boot/EFI").tree()), []);
});

Deno.test("lint: the baseimage documentation's copy of the root is checked too", async () => {
  const f = passing().dir("usr/share/doc/bootc/baseimage/base/sysroot");
  f.file("usr/share/doc/bootc/baseimage/base/usr/lib/ostree/prepare-root.conf", "[composefs]\nenabled = yes\n");
  const [finding] = await lintTree(f.tree());
  assertEquals(finding.rule, "baseimage-root");
  assertEquals(finding.paths, ["/usr/share/doc/bootc/baseimage/base/ostree"]);
});

Deno.test("lint: a kernel directory without vmlinuz is not a kernel", async () => {
  assertEquals(await lintTree(passing().dir("usr/lib/modules/6.2.0-extra").tree()), []);
});

Deno.test("parseKargsToml: bootc's schema", () => {
  assertEquals(parseKargsToml("kargs = [\"a=1\", 'b']"), ["a=1", "b"]);
  assertEquals(
    parseKargsToml(
      '# comment\nkargs = [\n  "console=ttyS0", # serial\n  "quiet",\n]\nmatch-architectures = ["x86_64"]\n',
    ),
    ["console=ttyS0", "quiet"],
  );
  assertEquals(parseKargsToml('"kargs" = ["\\u00e9\\t"]'), ["\u00e9\t"]);
  assertEquals(parseKargsToml("kargs = []"), []);
  assertThrows(() => parseKargsToml(""), Error, "missing field 'kargs'");
  assertThrows(() => parseKargsToml('match-architectures = ["x86_64"]'), Error, "missing field 'kargs'");
  assertThrows(() => parseKargsToml('kargs = ["a"]\nfoo = ["b"]'), Error, "unknown field 'foo'");
  assertThrows(() => parseKargsToml('kargs = "a"'), Error, "array of strings");
  assertThrows(() => parseKargsToml("kargs = [1]"), Error, "array of strings");
  assertThrows(() => parseKargsToml('kargs = ["a"'), Error, "unterminated");
  assertThrows(() => parseKargsToml('kargs = ["a"] x'), Error, "unexpected text");
  assertThrows(() => parseKargsToml('kargs = ["a"]\nkargs = ["b"]'), Error, "duplicate");
  assertThrows(() => parseKargsToml('[x]\nkargs = ["a"]'), Error, "unknown table");
  assertThrows(() => parseKargsToml('kargs = ["\\q"]'), Error, "bad escape");
});

Deno.test("lint: kargs.d must be a directory; only *.toml files are read", async () => {
  const f = passing().remove("usr/lib/bootc/kargs.d").file("usr/lib/bootc/kargs.d", "x");
  assertEquals(rules(await lintTree(f.tree())), ["bootc-kargs"]);
  const g = passing().file("usr/lib/bootc/kargs.d/README", "not toml");
  assertEquals(await lintTree(g.tree()), []);
});

Deno.test("lintNeedsContent: only the files rules read", () => {
  for (
    const path of [
      "etc/passwd",
      "usr/etc/group",
      "usr/lib/tmpfiles.d/a.conf",
      "etc/tmpfiles.d/a.conf",
      "usr/lib/sysusers.d/a.conf",
      "usr/lib/bootc/kargs.d/a.toml",
      "usr/lib/ostree/prepare-root.conf",
      "usr/etc/ostree/prepare-root.conf",
    ]
  ) assert(lintNeedsContent(path), path);
  for (const path of ["etc/shadow", "usr/lib/tmpfiles.d/sub/a.conf", "usr/lib/bootc/kargs.d/x/a.toml", "usr/bin/sh"]) {
    assert(!lintNeedsContent(path), path);
  }
});
