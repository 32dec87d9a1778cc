import assert from "node:assert/strict";
import { join } from "node:path";
import { POLICY_RC_D, prepareSandboxRoot, sandboxArgs, sandboxEnv } from "./sandbox.ts";

Deno.test("the sandbox: own namespaces, fresh /proc /dev /tmp /run, clean env, only the capabilities dpkg needs", () => {
  const args = sandboxArgs("/work/rootfs", ["apt-get", "update"], { PATH: "/usr/bin:/bin", A: "b c" });
  const joined = args.join(" ");
  assert.deepEqual(args.slice(0, 3), ["--bind", "/work/rootfs", "/"]);
  for (
    const expected of [
      "--proc /proc",
      "--dev /dev",
      "--perms 1777 --tmpfs /tmp",
      "--tmpfs /run",
      "--cap-drop ALL",
      "--cap-add CAP_CHOWN",
      "--cap-add CAP_SETFCAP",
      "--unshare-pid",
      "--unshare-ipc",
      "--unshare-uts",
      "--die-with-parent",
      "--new-session",
      "--clearenv",
      "--setenv PATH /usr/bin:/bin",
    ]
  ) {
    assert.ok(joined.includes(expected), expected);
  }
  assert.ok(!args.includes("--unshare-net"), "apt needs the network");
  assert.ok(!args.includes("--unshare-user"), "real root: real owners");
  for (const dangerous of ["CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_NET_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO"]) {
    assert.ok(!args.includes(dangerous), `${dangerous} is dropped`);
  }
  assert.ok(!joined.includes("resolv.conf"), "resolv.conf is a file of the tree, not a mount");
  assert.deepEqual(args.slice(-3), ["--", "apt-get", "update"]);
  assert.equal(args[args.indexOf("A") + 1], "b c");
});

Deno.test("the sandbox environment is fixed, non-interactive, and passes proxies and SOURCE_DATE_EPOCH", () => {
  const env = sandboxEnv({ HOME: "/home/me", http_proxy: "http://proxy:3128", SOURCE_DATE_EPOCH: "1", SECRET: "x" });
  assert.equal(env.DEBIAN_FRONTEND, "noninteractive");
  assert.equal(env.HOME, "/root");
  assert.equal(env.http_proxy, "http://proxy:3128");
  assert.equal(env.SOURCE_DATE_EPOCH, "1");
  assert.equal(env.SECRET, undefined);
});

Deno.test("prepareSandboxRoot installs a denying policy-rc.d and a resolv.conf mount point, and undoes both", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(root, "etc"));
    await Deno.mkdir(join(root, "usr/sbin"), { recursive: true });
    await Deno.symlink("../run/systemd/resolve/stub-resolv.conf", join(root, "etc/resolv.conf"));
    await Deno.writeTextFile(join(root, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 0\n");
    const restore = await prepareSandboxRoot(root);
    assert.equal(await Deno.readTextFile(join(root, "usr/sbin/policy-rc.d")), POLICY_RC_D);
    assert.equal((await Deno.stat(join(root, "usr/sbin/policy-rc.d"))).mode! & 0o777, 0o755);
    assert.ok((await Deno.lstat(join(root, "etc/resolv.conf"))).isFile);
    await restore();
    assert.equal(await Deno.readTextFile(join(root, "usr/sbin/policy-rc.d")), "#!/bin/sh\nexit 0\n");
    assert.equal(await Deno.readLink(join(root, "etc/resolv.conf")), "../run/systemd/resolve/stub-resolv.conf");
    assert.deepEqual((await Array.fromAsync(Deno.readDir(join(root, "etc")))).map((e) => e.name), ["resolv.conf"]);

    // A tree without them gets them only while the sandbox runs.
    const bare = join(root, "bare");
    await Deno.mkdir(join(bare, "etc"), { recursive: true });
    const undo = await prepareSandboxRoot(bare);
    await undo();
    assert.deepEqual(await Array.fromAsync(Deno.readDir(join(bare, "etc"))), []);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(join(bare, "usr/sbin"))), []);
    await assert.rejects(prepareSandboxRoot(join(root, "usr")), /has no \/etc directory/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
