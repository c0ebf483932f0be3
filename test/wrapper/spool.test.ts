/** The spool's byte check: the rewriter's guarantee that mailsplit handed over every input byte unchanged. */
import { describe, expect, test } from "bun:test";
import { Spool } from "../../src/wrapper/spool.ts";

const message = Buffer.from("Subject: hi\r\n\r\n" + "line of body text\r\n".repeat(200), "latin1");

async function spooled(memoryLimit: number, chunkSize: number): Promise<Spool> {
  const spool = new Spool(memoryLimit, null, { checkable: true });
  for (let i = 0; i < message.length; i += chunkSize) await spool.write(message.subarray(i, i + chunkSize));
  await spool.end();
  return spool;
}

function pieces(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

const altered = Buffer.from(message);
altered[1234] = 0x58;

describe.each([
  { name: "in memory", memoryLimit: 1 << 20 },
  { name: "on disk", memoryLimit: 100 },
])("Spool.checker() $name", ({ memoryLimit }) => {
  test.each([
    { name: "the same bytes in other pieces", given: pieces(message, 7), matches: true },
    { name: "the same bytes in one piece, with empty pieces", given: [Buffer.alloc(0), message, Buffer.alloc(0)], matches: true },
    { name: "one byte changed", given: pieces(altered, 300), matches: false },
    { name: "one byte missing", given: [message.subarray(0, 100), message.subarray(101)], matches: false },
    { name: "one byte too many", given: [message, Buffer.from("x")], matches: false },
    { name: "the end missing", given: [message.subarray(0, message.length - 1)], matches: false },
    { name: "nothing", given: [], matches: false },
  ])("$name", async ({ given, matches }) => {
    const spool = await spooled(memoryLimit, 500);
    expect(spool.onDisk).toBe(memoryLimit === 100);
    const check = spool.checker();
    for (const piece of given) check.update(piece);
    expect(check.matches()).toBe(matches);
    await spool.close();
  });
});

test("a spool read back gives the bytes written, in memory and on disk", async () => {
  for (const limit of [1 << 20, 100]) {
    const spool = await spooled(limit, 333);
    expect(Buffer.compare(await spool.bytes(), message)).toBe(0);
    await spool.close();
  }
});
