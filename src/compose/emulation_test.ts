import assert from "node:assert/strict";
import { AptOstreeError, UsageError } from "../errors.ts";
import { checkEmulation, type EmulationProbes, type HandlerState } from "./emulation.ts";

function probes(
  test: { code: number; output: string } | undefined,
  mounted: boolean | undefined,
  handler: HandlerState | undefined,
): EmulationProbes {
  return {
    archTest: () => Promise.resolve(test),
    binfmtMounted: () => Promise.resolve(mounted),
    handler: () => Promise.resolve(handler),
  };
}

const FAILS = { code: 1, output: "arm64: not supported on this machine/kernel" };

async function message(p: EmulationProbes, arch = "arm64"): Promise<string> {
  const error = await checkEmulation(arch, { hostArch: "amd64", probes: p }).then(() => undefined, (e) => e);
  assert.ok(error instanceof AptOstreeError, "an AptOstreeError");
  return `${error.message}\n${error.solutionTemplate}`;
}

Deno.test("checkEmulation: the host's own architecture needs nothing, whatever its name", async () => {
  assert.equal(
    (await checkEmulation("x86_64", { hostArch: "amd64", probes: probes(undefined, false, undefined) })).how,
    "native",
  );
});

Deno.test("checkEmulation: arch-test passing is enough", async () => {
  const status = await checkEmulation("aarch64", {
    hostArch: "amd64",
    probes: probes({ code: 0, output: "ok" }, true, "enabled"),
  });
  assert.deepEqual(status, { arch: "arm64", how: "foreign" });
});

Deno.test("checkEmulation: each missing piece is named with the commands that enable it", async () => {
  assert.match(
    await message(probes(undefined, true, "enabled")),
    /arch-test is not installed[^]*apt-get install qemu-user-static binfmt-support arch-test/,
  );
  assert.match(
    await message(probes(FAILS, false, "disabled")),
    /binfmt_misc is not mounted[^]*mount -t binfmt_misc binfmt_misc \/proc\/sys\/fs\/binfmt_misc && update-binfmts --enable qemu-aarch64/,
  );
  assert.match(await message(probes(FAILS, true, undefined)), /binfmt-support is not installed/);
  assert.match(
    await message(probes(FAILS, true, "unknown")),
    /qemu-user-static is not installed \(no binfmt handler qemu-aarch64\)/,
  );
  const disabled = await message(probes(FAILS, true, "disabled"));
  assert.match(
    disabled,
    /Cannot run arm64 programs on this amd64 host: the binfmt handler qemu-aarch64 is not enabled/,
  );
  assert.match(disabled, /update-binfmts --enable qemu-aarch64/);
  assert.match(await message(probes(FAILS, true, "disabled"), "armhf"), /qemu-arm is not enabled/);
  assert.match(await message(probes(FAILS, true, "enabled")), /arch-test arm64 fails although qemu-aarch64 is enabled/);
});

Deno.test("checkEmulation: an unknown architecture is a usage error", async () => {
  await assert.rejects(checkEmulation("vax", { hostArch: "amd64" }), UsageError);
});
