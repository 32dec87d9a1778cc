import assert from "node:assert/strict";
import { AptOstreeError, renderSolution, UsageError } from "./errors.ts";

Deno.test("a solution names library options as the library names them; a renderer can name them as flags", () => {
  const error = new UsageError("Output path exists", { solution: "Choose another {output}, or pass {force}" });
  assert.equal(error.solution, "Choose another `output`, or pass `force`");
  assert.equal(error.solutionTemplate, "Choose another {output}, or pass {force}");
  const flags = renderSolution(
    error.solutionTemplate!,
    (o) => `--${o.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
  );
  assert.equal(flags, "Choose another --output, or pass --force");
  assert.equal(renderSolution("Use {compressionLevel} 1-9", (o) => `<${o}>`), "Use <compressionLevel> 1-9");
  // Braces that are not an option name stay as they are.
  assert.equal(
    new AptOstreeError("x", { solution: 'Use {"a": 1} or {} or {A}' }).solution,
    'Use {"a": 1} or {} or {A}',
  );
  assert.equal(new AptOstreeError("x").solution, undefined);
});
