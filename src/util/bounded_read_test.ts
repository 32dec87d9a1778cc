import assert from "node:assert/strict";
import { readLimited, readPrefix } from "./bounded_read.ts";

/** A body that never ends, and whether it was cancelled. */
function endless(): { body: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let cancelled = false;
  const chunk = new Uint8Array(64 << 10).fill(0x41);
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(chunk);
    },
    cancel() {
      cancelled = true;
    },
  });
  return { body, cancelled: () => cancelled };
}

Deno.test("readLimited refuses an endless body at its cap and cancels it", async () => {
  const { body, cancelled } = endless();
  await assert.rejects(
    readLimited(body, 1 << 20, "token"),
    { message: "The token is larger than 1048576 bytes" },
  );
  assert.ok(cancelled());
  assert.equal((await readLimited(new Response("abc").body!, 3, "x")).length, 3);
});

Deno.test("readPrefix keeps the first bytes of an endless body and cancels the rest", async () => {
  const { body, cancelled } = endless();
  const text = await readPrefix(body, 4096);
  assert.equal(text, "A".repeat(4096));
  assert.ok(cancelled());
  assert.equal(await readPrefix(null, 10), "");
});
