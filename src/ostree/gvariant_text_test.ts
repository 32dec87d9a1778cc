import assert from "node:assert/strict";
import { formatGVariantText } from "./gvariant_text.ts";
import { OstreeRepo } from "./repo.ts";

Deno.test("formats strings, string arrays, dictionaries and typed numbers", () => {
  assert.equal(formatGVariantText("it's \\ a\nb\tc\u0001"), "'it\\'s \\\\ a\\nb\\tc\\u0001'");
  assert.equal(formatGVariantText(["nginx", "it's"]), "['nginx', 'it\\'s']");
  assert.equal(formatGVariantText([]), "@as []");
  assert.equal(formatGVariantText({}), "@a{sv} {}");
  assert.equal(formatGVariantText({ nginx: "1.22" }), "{'nginx': <'1.22'>}");
  assert.equal(formatGVariantText({ uint64: 7 }), "uint64 7");
  assert.equal(formatGVariantText([true, "x"]), "[<true>, <'x'>]");
});

Deno.test("what ostree commit --add-metadata makes of the text reads back as the value", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gvariant-text-test-" });
  try {
    const values = {
      s: 'it\'s "quoted" \\ ü 😀\nline',
      as: ["a", "b'c"],
      empty: [],
      dict: { k: "v", n: { uint32: 3 }, nested: { deep: ["x"] } },
      t: { uint64: 1795818313 },
      x: { int64: -5 },
      b: false,
      mixed: [true, "x"],
    };
    await Deno.mkdir(`${dir}/t`);
    const run = async (args: string[]) => {
      const out = await new Deno.Command("ostree", { args, stdout: "piped", stderr: "piped" }).output();
      if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stdout).trim();
    };
    await run(["init", `--repo=${dir}/repo`, "--mode=archive"]);
    const checksum = await run([
      "commit",
      `--repo=${dir}/repo`,
      "-b",
      "b",
      `--tree=dir=${dir}/t`,
      ...Object.entries(values).map(([k, v]) => `--add-metadata=${k}=${formatGVariantText(v)}`),
    ]);
    const meta = (await (await OstreeRepo.open(`${dir}/repo`)).readCommit(checksum)).metadata;
    assert.equal(meta.get("s"), values.s);
    assert.deepEqual(meta.get("as"), values.as);
    assert.deepEqual(meta.get("empty"), []);
    assert.deepEqual(
      meta.get("dict"),
      new Map<unknown, unknown>([["k", "v"], ["n", 3], ["nested", new Map([["deep", ["x"]]])]]),
    );
    assert.equal(meta.get("t"), 1795818313);
    assert.equal(meta.get("x"), -5);
    assert.equal(meta.get("b"), false);
    assert.deepEqual(meta.get("mixed"), [true, "x"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
