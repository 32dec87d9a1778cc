import assert from "node:assert/strict";
import { classifyPullError, iniValue } from "./remote.ts";

Deno.test("ini values of an ostree config", () => {
  const config = `[core]
repo_version=1
mode=bare-user

[remote "origin"]
url=http://example/
gpg-verify=true

[apt-ostree]
# comment
default-remote = origin
`;
  assert.equal(iniValue(config, "apt-ostree", "default-remote"), "origin");
  assert.equal(iniValue(config, 'remote "origin"', "url"), "http://example/");
  assert.equal(iniValue(config, "core", "default-remote"), undefined);
  assert.equal(iniValue("", "apt-ostree", "default-remote"), undefined);
});

Deno.test("pull errors are classified: GPG, missing branch, anything else", () => {
  assert.equal(
    classifyPullError(
      "error: GPG verification enabled, but no signatures found (use gpg-verify=false in remote config to disable)",
    ),
    "gpg",
  );
  assert.equal(classifyPullError("error: Server returned HTTP 404"), "not-found");
  assert.equal(classifyPullError("error: No such branch 'debian/13/x86_64' in repository summary"), "not-found");
  assert.equal(
    classifyPullError("error: While fetching http://127.0.0.1:9/summary.sig: [7] Couldn't connect to server"),
    "other",
  );
});
