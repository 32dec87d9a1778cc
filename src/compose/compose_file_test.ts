import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { loadComposeFile, mergeImageSettings, parseComposeFile } from "./compose_file.ts";

const FULL = `# a web server
base: debian:12
arch: x86_64
remote: origin
packages:
  - nginx
  - curl
output: web-server
install-recommends: false
image:
  cmd: ["nginx", "-g", "daemon off;"]
  entrypoint: /docker-entrypoint.sh --verbose
  env:
    LANG: C.UTF-8
    WORKERS: 4
  workdir: /srv
  user: "33:33"
  labels:
    org.opencontainers.image.title: web
  annotations: { team: infra }
  expose: [80, 443/tcp]
  volumes: [/var/www]
  stop-signal: SIGQUIT
`;

Deno.test("a full compose file reads into create inputs and image settings", () => {
  const file = parseComposeFile(FULL, "compose.yaml");
  assert.equal(file.path, "compose.yaml");
  assert.equal(file.base, "debian:12");
  assert.equal(file.arch, "x86_64");
  assert.equal(file.remote, "origin");
  assert.deepEqual(file.packages, ["nginx", "curl"]);
  assert.equal(file.output, "web-server");
  assert.equal(file.installRecommends, false);
  assert.deepEqual(file.image, {
    cmd: ["nginx", "-g", "daemon off;"],
    entrypoint: ["/docker-entrypoint.sh", "--verbose"],
    env: ["LANG=C.UTF-8", "WORKERS=4"],
    workdir: "/srv",
    user: "33:33",
    labels: { "org.opencontainers.image.title": "web" },
    annotations: { team: "infra" },
    expose: ["80", "443/tcp"],
    volumes: ["/var/www"],
    stopSignal: "SIGQUIT",
  });
});

Deno.test("bootable: true reads into create inputs", () => {
  assert.equal(parseComposeFile("base: debian:12\nbootable: true\n", "c.yaml").bootable, true);
  assert.equal(parseComposeFile("base: debian:12\n", "c.yaml").bootable, undefined);
});

Deno.test("an empty file and env as a list are fine", () => {
  assert.deepEqual(parseComposeFile("", "c.yaml"), { path: "c.yaml", packages: [], image: {} });
  assert.deepEqual(parseComposeFile("image:\n  env: [A=1, B=x=y]\n", "c.yaml").image.env, ["A=1", "B=x=y"]);
});

function assertFileError(text: string, line: number, pattern: RegExp, solution?: RegExp): void {
  assert.throws(
    () => parseComposeFile(text, "compose.yaml"),
    (error: unknown) => {
      assert.ok(error instanceof UsageError, String(error));
      assert.ok(error instanceof UsageError);
      assert.ok(
        error.message.startsWith(`Invalid compose file compose.yaml, line ${line}: `),
        `expected line ${line}: ${error.message}`,
      );
      assert.match(error.message, pattern);
      if (solution) assert.match(error.solution ?? "", solution);
      return true;
    },
  );
}

Deno.test("unknown keys name the file, the line and the key", () => {
  assertFileError("base: debian:12\npakages: [hello]\n", 2, /unknown key "pakages"$/, /Valid keys: base, arch, remote/);
  assertFileError(
    "base: debian:12\nimage:\n  cmd: [a]\n  comand: [b]\n",
    4,
    /unknown key "image\.comand"$/,
    /Valid keys in image: cmd, entrypoint/,
  );
});

Deno.test("wrong types name the file, the line and the key", () => {
  assertFileError("base: debian:12\npackages: hello\n", 2, /"packages" must be a list of package names, not a string$/);
  assertFileError("packages:\n  - hello\n  - [nested]\n", 3, /"packages\[1\]" must be a string, not a list$/);
  assertFileError("base: 12\n", 1, /"base" must be a base image reference like debian:12, not a number$/);
  assertFileError("install-recommends: yes please\n", 1, /"install-recommends" must be true or false, not a string$/);
  assertFileError("base: debian:12\nbootable: 1\n", 2, /"bootable" must be true or false, not a number$/);
  assertFileError("image: [cmd]\n", 1, /"image" must be a mapping of image settings, not a list$/);
  assertFileError("image:\n  labels: [a=b]\n", 2, /"image\.labels" must be a mapping of names to values, not a list$/);
  assertFileError("image:\n  expose: 80\n", 2, /"image\.expose" must be a list of ports/);
  assertFileError(
    "image:\n  env:\n    A: [1]\n",
    3,
    /"image\.env\.A" must be a string, number or boolean, not a list$/,
  );
  assertFileError("- base\n- packages\n", 1, /the file must be a mapping of keys/);
});

Deno.test("values with a grammar of their own are checked with their line", () => {
  assertFileError("output: x\nbase: not-a-ref\n", 2, /"base": Invalid base image reference format: not-a-ref$/);
  assertFileError("packages:\n  - ok\n  - vim-\n", 3, /"packages\[1\]": Invalid package name: vim-$/);
  assertFileError(
    "output: debian/12/x86_64\n",
    1,
    /"output": The output branch debian\/12\/x86_64 is a base image branch$/,
  );
  assertFileError("arch: sparc\n", 1, /"arch": Unknown architecture: sparc$/);
  assertFileError("image:\n  workdir: relative\n", 2, /"image\.workdir": Invalid --workdir 'relative'$/);
  assertFileError("image:\n  expose: [99999]\n", 2, /"image\.expose": Invalid port '99999'$/);
  assertFileError('image:\n  cmd: "unterminated \'quote"\n', 2, /unterminated ' quote/);
});

Deno.test("YAML syntax errors and duplicate keys name the line", () => {
  assertFileError("base: debian:12\npackages: [hello\n", 3, /./, /Fix the YAML syntax/);
  assertFileError("base: debian:12\nbase: debian:13\n", 2, /Map keys must be unique/);
});

Deno.test("a missing compose file is a usage error", async () => {
  await assert.rejects(
    loadComposeFile("/nonexistent/compose.yaml"),
    /Compose file not found: \/nonexistent\/compose\.yaml/,
  );
});

Deno.test("image settings merge: the command line wins, maps merge by name, lists add up", () => {
  const merged = mergeImageSettings(
    { cmd: ["a"], env: ["A=1", "B=2"], labels: { x: "1", y: "2" }, expose: ["80"], user: "1" },
    { env: ["B=3", "C=4"], labels: { y: "3" }, expose: ["80", "443"], cmd: ["b"] },
  );
  assert.deepEqual(merged, {
    cmd: ["b"],
    env: ["A=1", "B=3", "C=4"],
    labels: { x: "1", y: "3" },
    expose: ["80", "443"],
    user: "1",
  });
  assert.deepEqual(mergeImageSettings({ workdir: "/a" }, {}), { workdir: "/a" });
});
