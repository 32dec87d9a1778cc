/**
 * The apt-ostree command line: the entry point of `deno task cli` and of the
 * compiled binary (`deno task compile`). It loads only the CLI shell; each
 * command loads the library code it needs when it runs, so `--help` and
 * `--version` start fast. (`mod.ts` is the library, and runs the same CLI
 * when run as the main module.)
 *
 * @module
 */

import { runCli } from "./src/cli/main.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
