import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import {
  buildImageConfig,
  buildImageManifest,
  DEFAULT_PATH,
  normalizePort,
  parseKeyValues,
  validateImageSettings,
} from "./image_config.ts";
import { ociPlatform } from "./platform.ts";

const base = {
  platform: { architecture: "amd64", os: "linux" },
  created: new Date(1700000000 * 1000),
  labels: { "ostree.commit": "abc" },
  diffIds: ["sha256:" + "0".repeat(64)],
  history: [{ created_by: "apt-ostree" }],
};

Deno.test("config carries settings with sorted maps and a default PATH", () => {
  const config = buildImageConfig({
    ...base,
    settings: {
      cmd: ["nginx"],
      entrypoint: ["/init"],
      env: ["B=2"],
      workdir: "/srv",
      user: "www-data",
      labels: { z: "1", a: "2", "ostree.commit": "user-wins" },
      expose: ["443", "80/udp"],
      stopSignal: "SIGQUIT",
    },
  });
  assert.equal(config.created, "2023-11-14T22:13:20Z");
  assert.deepEqual(config.config?.Env, [DEFAULT_PATH, "B=2"]);
  assert.deepEqual(Object.keys(config.config!.Labels!), ["a", "ostree.commit", "z"]);
  assert.equal(config.config?.Labels?.["ostree.commit"], "user-wins");
  assert.deepEqual(config.config?.ExposedPorts, { "443/tcp": {}, "80/udp": {} });
  assert.deepEqual(config.config?.Cmd, ["nginx"]);
  assert.deepEqual(config.config?.Entrypoint, ["/init"]);
  assert.equal(config.config?.WorkingDir, "/srv");
  assert.equal(config.config?.User, "www-data");
  assert.equal(config.config?.StopSignal, "SIGQUIT");
  assert.deepEqual(config.rootfs, { type: "layers", diff_ids: base.diffIds });
  assert.equal(config.history?.[0].created, "2023-11-14T22:13:20Z");
});

Deno.test("a PATH given by the user replaces the default", () => {
  const config = buildImageConfig({ ...base, settings: { env: ["PATH=/opt/bin"] } });
  assert.deepEqual(config.config?.Env, ["PATH=/opt/bin"]);
});

Deno.test("equal inputs give byte-identical JSON", () => {
  const a = JSON.stringify(buildImageConfig({ ...base, settings: { labels: { b: "1", a: "2" } } }));
  const b = JSON.stringify(buildImageConfig({ ...base, settings: { labels: { a: "2", b: "1" } } }));
  assert.equal(a, b);
});

Deno.test("manifest annotations are sorted; none means no field", () => {
  const config = { mediaType: "", digest: "sha256:" + "1".repeat(64), size: 3 };
  const m = buildImageManifest(config, [], { b: "2", a: "1" });
  assert.deepEqual(Object.keys(m.annotations!), ["a", "b"]);
  assert.equal(m.config.mediaType, "application/vnd.oci.image.config.v1+json");
  assert.equal(buildImageManifest(config, [], {}).annotations, undefined);
});

Deno.test("bad settings are usage errors", () => {
  assert.throws(() => parseKeyValues(["novalue"], "--label"), UsageError);
  assert.throws(() => parseKeyValues(["=x"], "--label"), UsageError);
  assert.deepEqual(parseKeyValues(["k=a=b", "e="], "--label"), { k: "a=b", e: "" });
  assert.throws(() => normalizePort("http"), UsageError);
  assert.throws(() => normalizePort("70000"), UsageError);
  assert.equal(normalizePort("8000-8010/TCP"), "8000-8010/tcp");
  assert.throws(() => validateImageSettings({ env: ["NOEQUALS"] }), UsageError);
  assert.throws(() => validateImageSettings({ workdir: "relative" }), UsageError);
  assert.throws(() => validateImageSettings({ stopSignal: "SIG TERM" }), UsageError);
  assert.throws(() => validateImageSettings({ volumes: ["data"] }), UsageError);
});

Deno.test("architecture names map to OCI platforms", () => {
  assert.deepEqual(ociPlatform("x86_64"), { architecture: "amd64", os: "linux" });
  assert.deepEqual(ociPlatform("aarch64"), { architecture: "arm64", os: "linux" });
  assert.deepEqual(ociPlatform("armhf"), { architecture: "arm", os: "linux", variant: "v7" });
  assert.deepEqual(ociPlatform("ppc64el"), { architecture: "ppc64le", os: "linux" });
  assert.throws(() => ociPlatform("vax"), UsageError);
});
