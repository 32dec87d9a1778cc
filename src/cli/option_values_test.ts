import assert from "node:assert/strict";
import { DEFAULT_MAX_LAYERS, IMAGE_FORMATS } from "../builder/build_image.ts";
import { COMPRESSIONS } from "../compress/compression.ts";
import { COMPRESSION_CHOICES, DEFAULT_MAX_LAYERS_SHOWN, FORMAT_CHOICES } from "./option_values.ts";

Deno.test("the option values the CLI's help shows are the library's", () => {
  assert.deepEqual(FORMAT_CHOICES, IMAGE_FORMATS);
  assert.deepEqual(COMPRESSION_CHOICES, COMPRESSIONS);
  assert.equal(DEFAULT_MAX_LAYERS_SHOWN, DEFAULT_MAX_LAYERS);
});
