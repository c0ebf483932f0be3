/**
 * @module The indexOf DATA scanner behaves exactly as smtp-server's own: the same message bytes, the same
 * commands after the final dot, for the same input cut into the same chunks.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { SMTPStream } from "smtp-server/lib/smtp-stream.js";
import { installFastDataScanner } from "../../src/wrapper/smtp-fast-data.ts";

/** Feeds `chunks` to a parser that enters DATA mode on "DATA"; returns every message and command seen. */
async function run(chunks: Buffer[], fast: boolean): Promise<{ messages: string[]; commands: string[]; sizes: number[] }> {
  const parser = new SMTPStream() as unknown as InstanceType<typeof SMTPStream> & {
    oncommand(cmd: Buffer, cb?: () => void): void;
    startDataMode(max?: number): NodeJS.ReadableStream & { byteLength: number };
    continue(): void;
  };
  if (fast) expect(installFastDataScanner(parser)).toBe(true);
  const messages: string[] = [];
  const commands: string[] = [];
  const sizes: number[] = [];
  parser.oncommand = (cmd, cb) => {
    const line = cmd.toString("latin1");
    commands.push(line);
    if (line === "DATA") {
      const ds = parser.startDataMode();
      const parts: Buffer[] = [];
      ds.on("data", (c: Buffer) => parts.push(c));
      ds.on("end", () => {
        messages.push(Buffer.concat(parts).toString("latin1"));
        sizes.push(ds.byteLength);
        setImmediate(() => parser.continue());
      });
    }
    cb?.();
  };
  for (const c of chunks) await new Promise<void>((resolve) => (parser as unknown as NodeJS.WritableStream).write(c, () => resolve()));
  await new Promise((r) => setTimeout(r, 1));
  return { messages, commands, sizes };
}

function cut(input: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) if (p > from) (out.push(input.subarray(from, p)), (from = p));
  out.push(input.subarray(from));
  return out.filter((b) => b.length);
}

const cases = [
  { name: "plain message", input: "DATA\r\nSubject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n" },
  { name: "empty message", input: "DATA\r\n.\r\nNOOP\r\n" },
  { name: "stuffed dots", input: "DATA\r\n..first\r\nmid\r\n..\r\n...three\r\n.\r\nRSET\r\n" },
  { name: "lone dot lines kept (lenient)", input: "DATA\r\n.x\r\na\n.b\r\n.\r\nQUIT\r\n" },
  { name: "bare LF before the dot", input: "DATA\r\nline\n.\nmore\r\n.\r\nQUIT\r\n" },
  { name: "two messages back to back", input: "DATA\r\none\r\n.\r\nDATA\r\ntwo\r\n..x\r\n.\r\nQUIT\r\n" },
];

describe("installFastDataScanner()", () => {
  for (const c of cases) {
    test(`matches smtp-server on every 1- to 3-way chunking: ${c.name}`, async () => {
      const input = Buffer.from(c.input, "latin1");
      for (let a = 0; a <= input.length; a++) {
        for (const b of [a, a + 1, a + 3, a + 7]) {
          const chunks = cut(input, [a, b]);
          expect(await run(chunks, true)).toEqual(await run(chunks, false));
        }
      }
    });
  }

  test("matches smtp-server on random messages and chunkings", async () => {
    const alphabet = fc.constantFrom("a", ".", "\r", "\n", "\r\n", "\r\n.", "\r\n..", "\n.", ".\r\n", "x".repeat(50));
    await fc.assert(
      fc.asyncProperty(fc.array(alphabet, { maxLength: 60 }), fc.array(fc.nat(), { maxLength: 6 }), async (parts, cuts) => {
        const input = Buffer.from(`DATA\r\n${parts.join("").replace(/\r\n\.\r\n/g, "\r\n..\r\n")}\r\n.\r\nQUIT\r\n`, "latin1");
        const chunks = cut(input, cuts);
        expect(await run(chunks, true)).toEqual(await run(chunks, false));
      }),
      { numRuns: 300 },
    );
  });

  test("sees the message and the commands around it", async () => {
    const out = await run([Buffer.from("DATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n")], true);
    expect(out).toEqual({ messages: ["Subject: x\r\n\r\n.dot\r\n"], commands: ["DATA", "QUIT"], sizes: [20] });
  });

  test("refuses a parser that does not look like smtp-server's", () => {
    expect(installFastDataScanner({})).toBe(false);
  });
});
