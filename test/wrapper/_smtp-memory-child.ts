/**
 * @module Child process for the wrapper's memory test: a proxy (tracking on with `T=1`) in front of a raw
 * byte-counting sink, printing what the process holds (JS heap + array buffers, and RSS) every 20 ms.
 * Heap and buffers after a forced collection, not RSS, are what the code keeps; RSS also counts memory the
 * allocator has not returned yet, which swings by tens of MB on its own.
 */
import net from "node:net";
import { createLinkCodec } from "../../src/core/link-codec.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";
import { createMessageRewriter } from "../../src/wrapper/message-rewriter.ts";
import { createSmtpProxy } from "../../src/wrapper/smtp-proxy.ts";

const sink = net.createServer((s) => {
  s.write("220 sink ESMTP\r\n");
  let inData = false;
  let tail = "";
  s.on("error", () => undefined);
  s.on("data", (c: Buffer) => {
    if (inData) {
      tail = (tail + c.subarray(-5).toString("latin1")).slice(-5);
      if (tail === "\r\n.\r\n") (inData = false), s.write("250 2.0.0 ok\r\n");
      return;
    }
    for (const line of c.toString("latin1").split("\r\n").filter(Boolean)) {
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === "EHLO") s.write("250-sink\r\n250 SIZE 200000000\r\n");
      else if (verb === "DATA") (inData = true), (tail = ""), s.write("354 go\r\n");
      else if (verb === "QUIT") s.end("221 bye\r\n");
      else s.write("250 ok\r\n");
    }
  });
});
await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
const codec = createLinkCodec({ primitives: nativePrimitives, keys: [{ kid: "k1", secret: new TextEncoder().encode("0123456789abcdef0123") }] });
const proxy = await createSmtpProxy({
  upstream: { host: "127.0.0.1", port: (sink.address() as net.AddressInfo).port, ehloName: "child" },
  name: "memory.test",
  maxMessageBytes: 150_000_000,
  rewriter: process.env.T === "1" ? createMessageRewriter({ codec, trackingUrl: "http://t.example.com" }) : null,
});
const port = await proxy.listen({ host: "127.0.0.1", port: 0 });
process.stdout.write(`PORT ${port}\n`);
// A full collection before each sample, so the figure is live memory, not garbage the GC has not reached.
const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
const collect = (force: boolean) => bun?.gc(force);
setInterval(() => {
  collect(true);
  const m = process.memoryUsage();
  process.stdout.write(`MEM ${m.heapUsed + m.arrayBuffers} ${m.rss}\n`);
}, 20);
