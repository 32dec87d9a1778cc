import assert from "node:assert/strict";
import { AptOstreeError } from "../errors.ts";
import { OstreeRepo } from "./repo.ts";
import { listCommitTree, parseTreeListing } from "./tree.ts";

const CK = "a".repeat(64);
const CK2 = "b".repeat(64);

function bytes(...parts: (string | number[])[]): ReadableStream<Uint8Array> {
  const chunks = parts.map((p) => (typeof p === "string" ? new TextEncoder().encode(p) : new Uint8Array(p)));
  return ReadableStream.from(chunks);
}

async function ostree(args: string[]): Promise<string> {
  const out = await new Deno.Command("ostree", { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("parses every column of ostree ls -R -X -C", async () => {
  const text = `d00755 0 0      0 ${CK} ${CK2} { @a(ayay) [] } /\n` +
    `-04755 1234 5678     42 ${CK} { [(b'security.capability', [byte 0x01, 0x00])] } /usr/bin/ping\n` +
    `l00777 0 0      0 ${CK2} { @a(ayay) [] } /bin -> usr/bin\n`;
  // Split mid-line to check chunk handling.
  const { entries, needExactNames } = await parseTreeListing(bytes(text.slice(0, 50), text.slice(50)));
  assert.equal(needExactNames, false);
  assert.equal(entries.length, 3);
  assert.equal(entries[0].kind, "directory");
  assert.equal(entries[0].metaChecksum, CK2);
  assert.deepEqual(
    { ...entries[1], xattrs: undefined },
    {
      path: "",
      sourcePath: "/usr/bin/ping",
      kind: "file",
      mode: 0o4755,
      uid: 1234,
      gid: 5678,
      size: 42,
      checksum: CK,
      metaChecksum: undefined,
      xattrs: undefined,
    },
  );
  assert.deepEqual(entries[1].xattrs, [{ name: "security.capability", value: new Uint8Array([1, 0]) }]);
  assert.equal(entries[2].kind, "symlink");
  assert.equal(entries[2].target, "usr/bin");
});

Deno.test("a file name that is not UTF-8 fails and names the path", async () => {
  const head = `-00644 0 0      1 ${CK} { @a(ayay) [] } /bad`;
  await assert.rejects(
    () => parseTreeListing(bytes(head, [0xff, 0xfe], "name\n")),
    (e: unknown) => e instanceof AptOstreeError && /not valid UTF-8: \/bad\uFFFD\uFFFDname/.test(e.message),
  );
});

Deno.test("a file type a layer cannot carry fails and names the path", async () => {
  await assert.rejects(
    () => parseTreeListing(bytes(`c00644 0 0      0 ${CK} { @a(ayay) [] } /dev/console\n`)),
    /Cannot put \/dev\/console into a layer: unsupported file type \(character device\)/,
  );
});

Deno.test("names with newlines and ' -> ' are read exactly from a real repository", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tree-test-" });
  try {
    await Deno.mkdir(`${dir}/tree/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/tree/new\nline`, "x");
    await Deno.symlink("tar -> get", `${dir}/tree/x -> y`);
    await Deno.symlink("plain", `${dir}/tree/sub/link`);
    await ostree(["init", `--repo=${dir}/repo`, "--mode=bare-user"]);
    await ostree(["commit", `--repo=${dir}/repo`, "-b", "t", `--tree=dir=${dir}/tree`]);
    const repo = await OstreeRepo.open(`${dir}/repo`);
    const entries = await listCommitTree(repo, "t");
    const byPath = new Map(entries.map((e) => [e.path, e]));
    assert.equal(byPath.get("new\nline")?.kind, "file");
    assert.equal(byPath.get("x -> y")?.target, "tar -> get");
    assert.equal(byPath.get("sub/link")?.target, "plain");
    assert.equal(byPath.has(""), false, "the root is not listed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
