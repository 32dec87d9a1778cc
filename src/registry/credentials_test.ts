import assert from "node:assert/strict";
import { join } from "node:path";
import {
  authFilePaths,
  authKeyCandidates,
  CREDENTIAL_HELPER_DIRS,
  CREDENTIAL_HELPERS,
  lookupCredentials,
  normalizeAuthKey,
  parseCredsOption,
  removeCredentials,
  storeCredentials,
} from "./credentials.ts";
import { redactSecrets } from "../util/redact.ts";

const ENV_KEYS = ["REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_CONFIG", "HOME"];

async function withEnv(env: Record<string, string | undefined>, fn: () => Promise<void>): Promise<void> {
  const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, Deno.env.get(k)]));
  try {
    for (const k of ENV_KEYS) {
      const v = env[k];
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
    await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
}

Deno.test("credentials: the files searched, in podman's order", async () => {
  await withEnv({ XDG_RUNTIME_DIR: "/run/user/7", HOME: "/home/u" }, () => {
    assert.deepEqual(authFilePaths({}).map((p) => p.path), [
      "/run/user/7/containers/auth.json",
      "/home/u/.config/containers/auth.json",
      "/home/u/.docker/config.json",
    ]);
    return Promise.resolve();
  });
  await withEnv({ REGISTRY_AUTH_FILE: "/etc/auth.json", HOME: "/home/u" }, () => {
    assert.deepEqual(authFilePaths({}).map((p) => p.path), ["/etc/auth.json"]);
    assert.deepEqual(authFilePaths({ authfile: "/x.json" }).map((p) => p.path), ["/x.json"]);
    return Promise.resolve();
  });
  await withEnv({ HOME: "/home/u", DOCKER_CONFIG: "/cfg" }, () => {
    assert.ok(authFilePaths({}).some((p) => p.path === "/cfg/config.json"));
    return Promise.resolve();
  });
});

Deno.test("credentials: keys and --creds", () => {
  assert.equal(normalizeAuthKey("https://index.docker.io/v1/"), "docker.io");
  assert.equal(normalizeAuthKey("http://localhost:5000/v2/"), "localhost:5000");
  assert.equal(normalizeAuthKey("quay.io/team"), "quay.io/team");
  assert.deepEqual(authKeyCandidates("quay.io", "a/b/c"), ["quay.io/a/b/c", "quay.io/a/b", "quay.io/a", "quay.io"]);
  const creds = parseCredsOption("alice:pa:ss:word");
  assert.deepEqual(creds, { kind: "basic", username: "alice", password: "pa:ss:word" });
  assert.equal(redactSecrets("the password pa:ss:word leaked"), "the password *** leaked");
  assert.throws(() => parseCredsOption("alice"), /USER:PASSWORD/);
});

Deno.test("credentials: auth files (auths, namespaces, legacy keys), stored 0600", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "auth.json");
    await storeCredentials(path, "localhost:5000", { kind: "basic", username: "u", password: "secret-1" });
    await storeCredentials(path, "quay.io/team", { kind: "basic", username: "t", password: "secret-2" });
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const file = JSON.parse(await Deno.readTextFile(path));
    assert.equal(file.auths["localhost:5000"].auth, btoa("u:secret-1"));
    const found = await lookupCredentials("localhost:5000", "app", { authfile: path });
    assert.deepEqual(found?.credentials, { kind: "basic", username: "u", password: "secret-1" });
    assert.equal(found?.source, path);
    assert.equal((await lookupCredentials("quay.io", "team/app", { authfile: path }))?.credentials.kind, "basic");
    assert.equal(await lookupCredentials("quay.io", "other/app", { authfile: path }), undefined);
    assert.equal(await lookupCredentials("elsewhere.io", "app", { authfile: path }), undefined);
    // docker login's legacy key for Docker Hub, and an identity token.
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        auths: { "https://index.docker.io/v1/": { auth: btoa("d:hub") }, "r.io": { identitytoken: "tok-123" } },
      }),
    );
    assert.deepEqual((await lookupCredentials("docker.io", "library/debian", { authfile: path }))?.credentials, {
      kind: "basic",
      username: "d",
      password: "hub",
    });
    assert.deepEqual((await lookupCredentials("r.io", "x", { authfile: path }))?.credentials, {
      kind: "identity-token",
      token: "tok-123",
    });
    assert.ok(await removeCredentials(path, "docker.io"));
    assert.ok(!(await removeCredentials(path, "docker.io")));
    await Deno.writeTextFile(path, "{not json");
    await assert.rejects(() => lookupCredentials("r.io", "x", { authfile: path }), /not valid JSON/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("credentials: helpers outside the allowed names and directories are refused", async () => {
  const dir = await Deno.makeTempDir();
  const savedPath = Deno.env.get("PATH");
  try {
    await Deno.writeTextFile(join(dir, "docker-credential-evil"), "#!/bin/sh\necho '{}'\n", { mode: 0o755 });
    await Deno.chmod(join(dir, "docker-credential-evil"), 0o755);
    await Deno.writeTextFile(join(dir, "auth.json"), JSON.stringify({ credHelpers: { "r.io": "evil" } }));
    Deno.env.set("PATH", `${dir}:${savedPath}`);
    await assert.rejects(
      () => lookupCredentials("r.io", "x", { authfile: join(dir, "auth.json") }),
      /may not run the credential helper/,
    );
  } finally {
    if (savedPath !== undefined) Deno.env.set("PATH", savedPath);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("credentials: scripts/cli-flags allows exactly the credential helpers the code may run", async () => {
  const flags = await Deno.readTextFile(new URL("../../scripts/cli-flags", import.meta.url));
  const allowRun = /--allow-run=(\S+)/.exec(flags)?.[1].split(",") ?? [];
  for (const dir of CREDENTIAL_HELPER_DIRS) {
    for (const name of CREDENTIAL_HELPERS) assert.ok(allowRun.includes(`${dir}/docker-credential-${name}`), name);
  }
  assert.ok(flags.includes("--allow-net") && flags.includes("--allow-ffi"));
});

const HELPER = "/usr/local/bin/docker-credential-pass";
const CAN_INSTALL_HELPER = Deno.uid() === 0 && (await Deno.lstat(HELPER).then(() => false, () => true));

Deno.test({
  name: `credentials: credHelpers and credsStore run docker-credential-NAME get${
    CAN_INSTALL_HELPER ? "" : ` [ignored: needs root and no ${HELPER} installed]`
  }`,
  ignore: !CAN_INSTALL_HELPER,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      // A stand-in helper: answers for two registries, logs what it was asked.
      await Deno.writeTextFile(
        HELPER,
        `#!/bin/sh
read server
echo "$1 $server" >> ${dir}/asked
case "$server" in
  helped.io) echo '{"ServerURL":"helped.io","Username":"hu","Secret":"helper-secret"}' ;;
  https://index.docker.io/v1/) echo '{"ServerURL":"https://index.docker.io/v1/","Username":"<token>","Secret":"refresh-tok"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
        { mode: 0o755 },
      );
      await Deno.chmod(HELPER, 0o755);
      const authfile = join(dir, "auth.json");
      await Deno.writeTextFile(authfile, JSON.stringify({ credHelpers: { "helped.io": "pass" }, credsStore: "pass" }));
      const helped = await lookupCredentials("helped.io", "app", { authfile });
      assert.deepEqual(helped?.credentials, { kind: "basic", username: "hu", password: "helper-secret" });
      assert.equal(helped?.source, "docker-credential-pass");
      assert.deepEqual((await lookupCredentials("docker.io", "library/debian", { authfile }))?.credentials, {
        kind: "identity-token",
        token: "refresh-tok",
      });
      assert.equal(await lookupCredentials("unknown.io", "app", { authfile }), undefined);
      assert.equal(redactSecrets("x helper-secret refresh-tok"), "x *** ***");
      assert.match(
        await Deno.readTextFile(join(dir, "asked")),
        /^get helped\.io\nget https:\/\/index\.docker\.io\/v1\/\nget unknown\.io\n$/,
      );
    } finally {
      await Deno.remove(HELPER).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
