/**
 * @module Sandwich tests of the SMTP proxy: real clients (nodemailer, swaks, a raw socket) → proxy → a real
 * upstream MTA on smtp-server (or a scripted raw one), all on loopback.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import nodemailer from "nodemailer";
import { headerRewriter, makeCert, rawClient, startProxy, startScriptedUpstream, startTestUpstream, withSandwich, type TestCert, type TestUpstream } from "./_smtp-peers.ts";

let cert: TestCert;
beforeAll(() => {
  cert = makeCert();
});

const plainMessage = "From: a@example.com\r\nTo: b@example.com\r\nSubject: plain\r\n\r\nHello\r\n.a line starting with a dot\r\n..two dots\r\n";
const htmlMessage =
  "From: a@example.com\r\nTo: b@example.com\r\nSubject: html\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
  '<html><body><p>Hi <a href="https://example.com/x">x</a></p></body></html>\r\n';

/** What a client puts on the wire for `message` in DATA (RFC 5321 §4.5.2 dot-stuffing). */
function stuffed(message: string): string {
  return message.replace(/^\./gm, "..");
}

function transport(port: number, opts: { tls?: boolean; auth?: { user: string; pass: string }; method?: string } = {}) {
  return nodemailer.createTransport({
    host: "127.0.0.1",
    port,
    ignoreTLS: !opts.tls,
    requireTLS: Boolean(opts.tls),
    tls: { ca: cert.cert, servername: "localhost" },
    auth: opts.auth,
    authMethod: opts.method,
  });
}

describe("smtp proxy relays the original's sandwich scenarios", () => {
  const legs = [
    { name: "plain on both legs", down: false, up: false },
    { name: "STARTTLS downstream only", down: true, up: false },
    { name: "STARTTLS upstream only", down: false, up: true },
    { name: "STARTTLS on both legs", down: true, up: true },
  ];
  for (const leg of legs) {
    test(`relays plain and HTML mail byte for byte, ${leg.name}`, async () => {
      await withSandwich({ upstream: { tls: leg.up ? cert : null }, proxy: (upstream) => ({ tls: leg.down ? cert : null, upstream: { host: "127.0.0.1", port: upstream.port, ehloName: "w", tls: { ca: cert.cert } } }) }, async (upstream, port) => {
        const t = transport(port, { tls: leg.down, auth: { user: "alice", pass: "secret" } });
        for (let i = 0; i < 5; i++) {
          const raw = i % 2 ? htmlMessage : plainMessage;
          const info = await t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw });
          expect(info.response).toBe(`250 2.6.0 Ok: queued as Q${i + 1}`);
        }
        t.close();
        expect(upstream.received).toHaveLength(5);
        for (const [i, r] of upstream.received.entries()) {
          expect(r.data.toString()).toBe(i % 2 ? htmlMessage : plainMessage);
          expect(r.user).toBe("alice");
          expect(r.secure).toBe(leg.up);
          expect(r.rcptTo).toEqual(["b@example.com"]);
        }
      });
    });
  }

  test("answers an unknown command, RSET and QUIT like an MTA after a message", async () => {
    await withSandwich({}, async (_upstream, port) => {
      const c = await rawClient(port);
      expect(await c.reply()).toStartWith("220 proxy.test ESMTP Service Ready");
      c.send("EHLO client.test\r\n");
      await c.reply();
      c.send("WEIRD\r\n");
      expect(await c.reply()).toMatch(/^500 /);
      c.send("RSET\r\n");
      expect(await c.reply()).toBe("250 2.0.0 Flushed\r\n");
      c.send("QUIT\r\n");
      expect(await c.reply()).toMatch(/^221 /);
      await c.closed();
    });
  });
});

describe("smtp proxy passes AUTH to the MTA", () => {
  let upstream: TestUpstream;
  let port: number;
  let close: () => Promise<void>;
  beforeAll(async () => {
    upstream = await startTestUpstream();
    ({ port, close } = await startProxy(upstream.port));
  });
  afterAll(async () => {
    await close();
    await upstream.close();
  });

  const cases = [
    { name: "PLAIN accepted", method: "PLAIN", pass: "secret", ok: true },
    { name: "LOGIN accepted", method: "LOGIN", pass: "secret", ok: true },
    { name: "PLAIN refused", method: "PLAIN", pass: "wrong", ok: false },
    { name: "LOGIN refused", method: "LOGIN", pass: "wrong", ok: false },
  ];
  for (const c of cases) {
    test(`AUTH ${c.name} gets the MTA's own answer`, async () => {
      const t = transport(port, { auth: { user: "alice", pass: c.pass }, method: c.method });
      const before = upstream.received.length;
      if (c.ok) {
        await t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: plainMessage });
        expect(upstream.received.at(-1)!.user).toBe("alice");
      } else {
        const err = await t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: plainMessage }).catch((e: Error & { response?: string }) => e);
        expect((err as { response?: string }).response).toBe("535 5.7.8 Authentication credentials invalid");
        expect(upstream.received.length).toBe(before);
      }
      t.close();
    });
  }

  test("EHLO offers only the AUTH methods the MTA has, and masks nothing on the wire", async () => {
    const c = await rawClient(port);
    await c.reply();
    c.send("EHLO client.test\r\n");
    const ehlo = await c.reply();
    expect(ehlo).toContain("250-AUTH PLAIN LOGIN\r\n");
    expect(ehlo).not.toContain("XOAUTH2");
    c.send(`AUTH PLAIN ${Buffer.from("\0alice\0secret").toString("base64")}\r\n`);
    expect(await c.reply()).toBe("235 2.7.0 Authentication successful\r\n");
    c.socket.destroy();
  });
});

describe("smtp proxy relays every reply class with the MTA's code and text", () => {
  const cases: { name: string; script: Record<string, string>; step: string; expected: string }[] = [
    { name: "MAIL 550", script: { MAIL: "550 5.7.1 Sender blocked\r\n" }, step: "MAIL", expected: "550 5.7.1 Sender blocked\r\n" },
    { name: "MAIL 451", script: { MAIL: "451 4.3.0 Try later\r\n" }, step: "MAIL", expected: "451 4.3.0 Try later\r\n" },
    { name: "MAIL 250 without an enhanced code", script: { MAIL: "250 ok\r\n" }, step: "MAIL", expected: "250 ok\r\n" },
    { name: "RCPT 550", script: { RCPT: "550 5.1.1 No such user\r\n" }, step: "RCPT", expected: "550 5.1.1 No such user\r\n" },
    { name: "RCPT 452", script: { RCPT: "452 4.2.2 Mailbox full\r\n" }, step: "RCPT", expected: "452 4.2.2 Mailbox full\r\n" },
    { name: "RCPT 251", script: { RCPT: "251 2.1.5 User not local; will forward\r\n" }, step: "RCPT", expected: "251 2.1.5 User not local; will forward\r\n" },
    // The client gets 354 at once (DATA goes upstream in parallel); the MTA's refusal answers the message.
    { name: "DATA 554", script: { DATA: "554 5.5.1 No valid recipients\r\n" }, step: "DOT", expected: "554 5.5.1 No valid recipients\r\n" },
    { name: "final dot 554", script: { DATA: "354 go ahead\r\n", DOT: "554 5.7.1 Message rejected\r\n" }, step: "DOT", expected: "554 5.7.1 Message rejected\r\n" },
    { name: "final dot 451", script: { DATA: "354 go ahead\r\n", DOT: "451 4.7.1 Greylisted\r\n" }, step: "DOT", expected: "451 4.7.1 Greylisted\r\n" },
    { name: "final dot 250", script: { DATA: "354 go ahead\r\n", DOT: "250 2.0.0 Ok: queued as ABC123\r\n" }, step: "DOT", expected: "250 2.0.0 Ok: queued as ABC123\r\n" },
  ];
  for (const c of cases) {
    test(`${c.name} comes back as is`, async () => {
      const scripted = await startScriptedUpstream({ EHLO: "250-scripted.test\r\n250-ENHANCEDSTATUSCODES\r\n250 PIPELINING\r\n", ...c.script });
      const proxy = await startProxy(scripted.port);
      try {
        const s = await rawClient(proxy.port);
        await s.reply();
        s.send("EHLO client.test\r\nMAIL FROM:<a@example.com>\r\n");
        await s.reply();
        const mail = await s.reply();
        if (c.step === "MAIL") return void expect(mail).toBe(c.expected);
        s.send("RCPT TO:<b@example.com>\r\n");
        const rcpt = await s.reply();
        if (c.step === "RCPT") return void expect(rcpt).toBe(c.expected);
        s.send("DATA\r\n");
        expect(await s.reply()).toMatch(/^354 /);
        s.send(`${stuffed(plainMessage)}.\r\n`);
        expect(await s.reply()).toBe(c.expected);
        s.send("QUIT\r\n");
        await s.reply();
      } finally {
        await proxy.close();
        await scripted.close();
      }
    });
  }

  test("multi-line MAIL and RCPT replies stay multi-line, with the MTA's enhanced codes", async () => {
    const scripted = await startScriptedUpstream({
      EHLO: "250-scripted.test\r\n250-ENHANCEDSTATUSCODES\r\n250 PIPELINING\r\n",
      MAIL: "250-2.1.0 first line\r\n250 2.1.0 second line\r\n",
      RCPT: "550-5.1.1 No such user here\r\n550-5.1.1 see https://example.com/help\r\n550 5.1.1 bye\r\n",
    });
    const proxy = await startProxy(scripted.port);
    try {
      const c = await rawClient(proxy.port);
      await c.reply();
      c.send("EHLO client.test\r\n");
      await c.reply();
      c.send("MAIL FROM:<a@example.com>\r\n");
      expect(await c.reply()).toBe("250-2.1.0 first line\r\n250 2.1.0 second line\r\n");
      c.send("RCPT TO:<b@example.com>\r\n");
      expect(await c.reply()).toBe("550-5.1.1 No such user here\r\n550-5.1.1 see https://example.com/help\r\n550 5.1.1 bye\r\n");
      c.socket.destroy();
    } finally {
      await proxy.close();
      await scripted.close();
    }
  });
});

describe("smtp proxy advertises what the MTA supports", () => {
  test("drops DSN, SMTPUTF8, 8BITMIME and enhanced codes the MTA lacks, and takes its SIZE", async () => {
    const scripted = await startScriptedUpstream({ EHLO: "250-scripted.test\r\n250-PIPELINING\r\n250 SIZE 12345\r\n" });
    const proxy = await startProxy(scripted.port);
    try {
      const c = await rawClient(proxy.port);
      await c.reply();
      c.send("EHLO client.test\r\n");
      const ehlo = await c.reply();
      expect(ehlo).toContain("250-PIPELINING\r\n");
      expect(ehlo).toContain("SIZE 12345\r\n");
      for (const missing of ["DSN", "SMTPUTF8", "8BITMIME", "ENHANCEDSTATUSCODES", "STARTTLS", "AUTH", "CHUNKING"]) expect(ehlo).not.toContain(missing);
      c.socket.destroy();
    } finally {
      await proxy.close();
      await scripted.close();
    }
  });

  test("carries DSN, SMTPUTF8 and BODY parameters through to the MTA", async () => {
    await withSandwich({}, async (upstream, port) => {
      const c = await rawClient(port);
      await c.reply();
      c.send("EHLO client.test\r\n");
      const ehlo = await c.reply();
      for (const cap of ["DSN", "SMTPUTF8", "8BITMIME", "ENHANCEDSTATUSCODES", "PIPELINING"]) expect(ehlo).toContain(cap);
      c.send("MAIL FROM:<a@example.com> RET=HDRS ENVID=id+2B1 BODY=8BITMIME SMTPUTF8\r\n");
      expect(await c.reply()).toMatch(/^250 /);
      c.send("RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.com\r\n");
      expect(await c.reply()).toMatch(/^250 /);
      c.send(`DATA\r\n`);
      await c.reply();
      c.send(`${stuffed(plainMessage)}.\r\n`);
      expect(await c.reply()).toMatch(/^250 /);
      const r = upstream.received[0]!;
      expect(r.mailArgs).toEqual({ RET: "HDRS", ENVID: "id+1", BODY: "8BITMIME", SMTPUTF8: true });
      expect(r.rcptArgs).toEqual([{ NOTIFY: "SUCCESS,FAILURE", ORCPT: "rfc822;b@example.com" }]);
      c.socket.destroy();
    });
  });
});

describe("smtp proxy never loses mail", () => {
  test("upstream down at connect: EHLO gets 421 and the connection closes", async () => {
    const dead = await startScriptedUpstream({});
    const deadPort = dead.port;
    await dead.close();
    const { port, close } = await startProxy(deadPort);
    try {
      const c = await rawClient(port);
      expect(await c.reply()).toMatch(/^220 /);
      c.send("EHLO client.test\r\n");
      expect(await c.reply()).toMatch(/^421 4\.4\.1 /);
      await c.closed();
    } finally {
      await close();
    }
  });

  test("an upstream that drops mid-DATA gives 451, and the next command 421 (no confused later transaction)", async () => {
    await withSandwich({ behaviour: { dropAfterBytes: 10_000 } }, async (upstream, port) => {
      const c = await rawClient(port);
      await c.reply();
      c.send("EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
      for (let i = 0; i < 4; i++) await c.reply();
      c.send(`Subject: big\r\n\r\n${"x".repeat(70) + "\r\n"}`.repeat(2000) + ".\r\n");
      expect(await c.reply()).toMatch(/^451 4\.4\.2 /);
      c.send("MAIL FROM:<a@example.com>\r\n");
      expect(await c.reply()).toMatch(/^421 4\.4\.2 /);
      await c.closed();
      expect(upstream.received).toHaveLength(0);
    });
  });

  test("a client that disconnects mid-DATA submits nothing upstream", async () => {
    await withSandwich({}, async (upstream, port) => {
      const c = await rawClient(port);
      await c.reply();
      c.send("EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
      for (let i = 0; i < 4; i++) await c.reply();
      c.send("Subject: partial\r\n\r\nhalf a message\r\n");
      await Bun.sleep(100);
      c.socket.destroy();
      await Bun.sleep(300);
      expect(upstream.received).toHaveLength(0);
      expect(upstream.aborted).toBe(1);
    });
  });

  test("an MTA slower than the reply timeout gives 451, not 250", async () => {
    await withSandwich({ behaviour: { dataDelayMs: 1500 }, proxy: (upstream) => ({ upstream: { host: "127.0.0.1", port: upstream.port, ehloName: "w", dataTimeoutMs: 300 } }) }, async (_upstream, port) => {
      const t = transport(port);
      const err = (await t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: plainMessage }).catch((e) => e)) as { responseCode?: number };
      expect(err.responseCode).toBe(451);
      t.close();
    });
  });

  test("pipelined commands get their replies in order", async () => {
    await withSandwich({}, async (upstream, port) => {
      const c = await rawClient(port);
      await c.reply();
      c.send("EHLO client.test\r\n");
      await c.reply();
      c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<b2@example.com>\r\nDATA\r\n");
      expect(await c.reply()).toBe("250 2.1.0 Accepted\r\n");
      expect(await c.reply()).toBe("250 2.1.5 Accepted\r\n");
      expect(await c.reply()).toBe("250 2.1.5 Accepted\r\n");
      expect(await c.reply()).toMatch(/^354 /);
      c.send(`${stuffed(plainMessage)}.\r\nMAIL FROM:<c@example.com>\r\nRCPT TO:<d@example.com>\r\nDATA\r\n`);
      expect(await c.reply()).toMatch(/^250 2\.6\.0 Ok/);
      expect(await c.reply()).toMatch(/^250 /);
      expect(await c.reply()).toMatch(/^250 /);
      expect(await c.reply()).toMatch(/^354 /);
      c.send(`${stuffed(plainMessage)}.\r\nQUIT\r\n`);
      expect(await c.reply()).toMatch(/^250 2\.6\.0 Ok/);
      expect(await c.reply()).toMatch(/^221 /);
      expect(upstream.received.map((r) => r.rcptTo)).toEqual([["b@example.com", "b2@example.com"], ["d@example.com"]]);
    });
  });

  test("a message over the SIZE limit gets 552 and is not submitted", async () => {
    await withSandwich({ upstream: { size: 5000 } }, async (upstream, port) => {
      const c = await rawClient(port);
      await c.reply();
      c.send("EHLO client.test\r\n");
      expect(await c.reply()).toContain("SIZE 5000");
      c.send("MAIL FROM:<a@example.com> SIZE=9000\r\n");
      expect(await c.reply()).toMatch(/^552 /);
      c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
      for (let i = 0; i < 3; i++) await c.reply();
      c.send(`Subject: big\r\n\r\n${"y".repeat(8000)}\r\n.\r\n`);
      expect(await c.reply()).toMatch(/^552 /);
      expect(upstream.received).toHaveLength(0);
      c.socket.destroy();
    });
  });
});

describe("smtp proxy with tracking on", () => {
  test("a second RCPT gets 452 4.5.3; the client sends the second copy in a new transaction; links get the envelope recipient", async () => {
    const upstream = await startTestUpstream();
    const seen: Array<string | null> = [];
    const { port, close } = await startProxy(upstream.port, { rewriter: headerRewriter(seen) });
    try {
      const c = await rawClient(port);
      await c.reply();
      c.send("EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<first@example.com>\r\nRCPT TO:<second@example.com>\r\n");
      await c.reply();
      expect(await c.reply()).toMatch(/^250 /);
      expect(await c.reply()).toMatch(/^250 /);
      expect(await c.reply()).toBe("452 4.5.3 Too many recipients: send each recipient its own copy\r\n");
      c.send("DATA\r\n");
      expect(await c.reply()).toMatch(/^354 /);
      c.send(`${stuffed(plainMessage)}.\r\n`);
      expect(await c.reply()).toMatch(/^250 /);
      c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<second@example.com>\r\nDATA\r\n");
      await c.reply();
      await c.reply();
      expect(await c.reply()).toMatch(/^354 /);
      c.send(`${stuffed(plainMessage)}.\r\n`);
      expect(await c.reply()).toMatch(/^250 /);
      expect(seen).toEqual(["first@example.com", "second@example.com"]);
      expect(upstream.received.map((r) => [r.rcptTo, r.data.toString()])).toEqual([
        [["first@example.com"], `X-Test-Rcpt: first@example.com\r\n${plainMessage}`],
        [["second@example.com"], `X-Test-Rcpt: second@example.com\r\n${plainMessage}`],
      ]);
      c.socket.destroy();
    } finally {
      await close();
      await upstream.close();
    }
  });

  test("nodemailer with two recipients: the first is delivered, the second reported as rejected with 452", async () => {
    await withSandwich({ proxy: () => ({ rewriter: headerRewriter() }) }, async (_upstream, port) => {
      const t = transport(port);
      const info = await t.sendMail({ envelope: { from: "a@example.com", to: ["x@example.com", "y@example.com"] }, raw: plainMessage });
      expect(info.accepted).toEqual(["x@example.com"]);
      expect(info.rejected).toEqual(["y@example.com"]);
      t.close();
    });
  });

  test("--rcpt-policy shared accepts both recipients and leaves the recipient out of links", async () => {
    const upstream = await startTestUpstream();
    const seen: Array<string | null> = [];
    const { port, close } = await startProxy(upstream.port, { rewriter: headerRewriter(seen), rcptPolicy: "shared" });
    try {
      const t = transport(port);
      const info = await t.sendMail({ envelope: { from: "a@example.com", to: ["x@example.com", "y@example.com"] }, raw: plainMessage });
      expect(info.accepted).toEqual(["x@example.com", "y@example.com"]);
      expect(seen).toEqual([null]);
      t.close();
    } finally {
      await close();
      await upstream.close();
    }
  });

  test("a message over the size limit gets 552 and the session goes on (the MTA never saw DATA)", async () => {
    await withSandwich({ upstream: { size: 5000 }, proxy: () => ({ rewriter: headerRewriter() }) }, async (upstream, port) => {
      const c = await rawClient(port);
      await c.reply();
      c.send("EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
      for (let i = 0; i < 4; i++) await c.reply();
      c.send(`Subject: big\r\n\r\n${"y".repeat(8000)}\r\n.\r\n`);
      expect(await c.reply()).toMatch(/^552 /);
      c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
      for (let i = 0; i < 3; i++) await c.reply();
      c.send(`${stuffed(plainMessage)}.\r\n`);
      expect(await c.reply()).toMatch(/^250 /);
      expect(upstream.received).toHaveLength(1);
      c.socket.destroy();
    });
  });

  test("an MTA that refuses DATA after the rewrite answers the message with its refusal", async () => {
    const scripted = await startScriptedUpstream({ DATA: "554 5.5.1 No valid recipients\r\n" });
    const { port, close } = await startProxy(scripted.port, { rewriter: headerRewriter() });
    try {
      const c = await rawClient(port);
      await c.reply();
      c.send("EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
      for (let i = 0; i < 3; i++) await c.reply();
      expect(await c.reply()).toMatch(/^354 /);
      c.send(`${stuffed(plainMessage)}.\r\n`);
      expect(await c.reply()).toBe("554 5.5.1 No valid recipients\r\n");
      await Bun.sleep(50);
      expect(scripted.lines.at(-1)).toBe("RSET");
      c.socket.destroy();
    } finally {
      await close();
      await scripted.close();
    }
  });
});

describe("smtp proxy TLS", () => {
  test("without a certificate STARTTLS is not offered (never smtp-server's built-in key)", async () => {
    await withSandwich({ upstream: { tls: cert }, proxy: (upstream) => ({ upstream: { host: "127.0.0.1", port: upstream.port, ehloName: "w", tls: { ca: cert.cert } } }) }, async (_upstream, port) => {
      const c = await rawClient(port);
      await c.reply();
      c.send("EHLO client.test\r\n");
      expect(await c.reply()).not.toContain("STARTTLS");
      c.send("STARTTLS\r\n");
      expect(await c.reply()).toMatch(/^5\d\d /);
      c.socket.destroy();
    });
  });

  test("an upstream certificate that does not verify fails the session with 421; --upstream-insecure accepts it", async () => {
    const upstream = await startTestUpstream({ tls: cert });
    const strict = await startProxy(upstream.port);
    const lax = await startProxy(upstream.port, { upstream: { host: "127.0.0.1", port: upstream.port, ehloName: "w", tls: { verify: false } } });
    try {
      const c = await rawClient(strict.port);
      await c.reply();
      c.send("EHLO client.test\r\n");
      expect(await c.reply()).toMatch(/^421 4\.4\.1 /);
      const t = transport(lax.port);
      await t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: plainMessage });
      expect(upstream.received[0]!.secure).toBe(true);
      t.close();
    } finally {
      await strict.close();
      await lax.close();
      await upstream.close();
    }
  });

  test("with TLS required upstream, an MTA without STARTTLS fails the session with 421 instead of a plain-text relay", async () => {
    const scripted = await startScriptedUpstream({});
    const { port, close } = await startProxy(scripted.port, { upstream: { host: "127.0.0.1", port: scripted.port, ehloName: "w", requireTls: true } });
    try {
      const c = await rawClient(port);
      await c.reply();
      c.send("EHLO client.test\r\n");
      expect(await c.reply()).toMatch(/^421 4\.4\.1 /);
      expect(scripted.lines.some((l) => l.startsWith("MAIL"))).toBe(false);
    } finally {
      await close();
      await scripted.close();
    }
  });

  test("implicit TLS on both legs (465 style)", async () => {
    const upstream = await startTestUpstream({ tls: cert, secure: true });
    const { proxy, close } = await startProxy(upstream.port, { tls: cert, upstream: { host: "127.0.0.1", port: upstream.port, ehloName: "w", implicitTls: true, tls: { ca: cert.cert } } });
    try {
      const securePort = await proxy.listen({ host: "127.0.0.1", port: 0, implicitTls: true });
      const t = nodemailer.createTransport({ host: "127.0.0.1", port: securePort, secure: true, tls: { ca: cert.cert, servername: "localhost" } });
      const info = await t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: plainMessage });
      expect(info.response).toMatch(/^250 /);
      expect(upstream.received[0]!.secure).toBe(true);
      t.close();
    } finally {
      await close();
      await upstream.close();
    }
  });
});

const hasSwaks = spawnSync("swaks", ["--version"]).status === 0;
// swaks needs Net::SSLeay (Debian libnet-ssleay-perl) for --tls; it is only a recommended package.
const swaksTls = hasSwaks && spawnSync("perl", ["-MNet::SSLeay", "-e", "1"]).status === 0;

describe.skipIf(!hasSwaks)("smtp proxy with swaks as the client", () => {
  const cases = [
    { name: "plain, AUTH PLAIN", args: ["--auth", "PLAIN"], ok: true, tls: false },
    { name: "plain, AUTH LOGIN with a wrong password", args: ["--auth", "LOGIN", "--auth-password", "nope"], ok: false, tls: false },
    { name: "STARTTLS, AUTH LOGIN", args: ["--tls", "--auth", "LOGIN"], ok: true, tls: true },
    { name: "STARTTLS, AUTH PLAIN with a wrong password", args: ["--tls", "--auth", "PLAIN", "--auth-password", "nope"], ok: false, tls: true },
  ];
  for (const c of cases) {
    test.skipIf(c.tls && !swaksTls)(`swaks ${c.name}`, async () => {
      await withSandwich({ proxy: () => ({ tls: c.tls ? cert : null }) }, async (upstream, port) => {
        const args = ["--server", `127.0.0.1:${port}`, "--from", "a@example.com", "--to", "b@example.com", "--auth-user", "alice", "--auth-password", "secret", ...(c.tls ? ["--tls-verify", "--tls-ca-path", `${cert.dir}/cert.pem`, "--tls-sni", "localhost"] : []), ...c.args];
        const run = Bun.spawn(["swaks", ...args], { stdout: "pipe", stderr: "pipe" });
        const out = await new Response(run.stdout).text();
        const code = await run.exited;
        if (c.ok) {
          expect(code).toBe(0);
          expect(out).toMatch(/<[-~] +250 2\.6\.0 Ok: queued as Q1/);
          expect(upstream.received).toHaveLength(1);
        } else {
          expect(code).not.toBe(0);
          expect(out).toContain("535 5.7.8 Authentication credentials invalid");
          expect(upstream.received).toHaveLength(0);
        }
      });
    });
  }
});

describe("smtp proxy scaling out", () => {
  test.skipIf(process.platform !== "linux")("two proxies share one port with reusePort, and both relay", async () => {
    const upstream = await startTestUpstream();
    const a = await startProxy(upstream.port);
    const { createSmtpProxy } = await import("../../src/wrapper/smtp-proxy.ts");
    const mk = () => createSmtpProxy({ upstream: { host: "127.0.0.1", port: upstream.port, ehloName: "w" }, name: "proxy.test" });
    const [p1, p2] = await Promise.all([mk(), mk()]);
    try {
      const port = await p1.listen({ host: "127.0.0.1", port: 0, reusePort: true });
      expect(await p2.listen({ host: "127.0.0.1", port, reusePort: true })).toBe(port);
      for (let i = 0; i < 6; i++) {
        const t = transport(port);
        await t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: plainMessage });
        t.close();
      }
      expect(upstream.received).toHaveLength(6);
    } finally {
      await Promise.all([p1.close({ graceMs: 500 }), p2.close({ graceMs: 500 }), a.close()]);
      await upstream.close();
    }
  });
});

describe("smtp proxy shutdown", () => {
  test("close() lets a transaction in flight finish with the MTA's 250, and refuses new connections", async () => {
    const upstream = await startTestUpstream();
    upstream.set({ dataDelayMs: 400 });
    const { port, proxy } = await startProxy(upstream.port);
    const t = transport(port);
    const sending = t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: plainMessage });
    // Close while the MTA holds its reply to the final dot: the transaction is surely in flight then
    // (a fixed sleep raced the client's greeting on a loaded machine).
    const deadline = Date.now() + 10_000;
    while (upstream.bodiesEnded === 0 && Date.now() < deadline) await Bun.sleep(5);
    expect(upstream.bodiesEnded).toBe(1);
    const closing = proxy.close({ graceMs: 3000 });
    const info = await sending;
    expect(info.response).toMatch(/^250 /);
    await closing;
    t.close();
    const refused = await rawClient(port).then(() => false, () => true);
    expect(refused).toBe(true);
    await upstream.close();
  });
});

describe("smtp proxy protocol details the original got wrong", () => {
  let upstream: TestUpstream;
  beforeAll(async () => {
    upstream = await startTestUpstream();
  });
  afterAll(async () => {
    await upstream.close();
  });

  test("HELO gets exactly one reply, and commands before HELO/EHLO get 503 instead of silence", async () => {
    const { port, close } = await startProxy(upstream.port);
    try {
      const c = await rawClient(port);
      await c.reply();
      c.send("MAIL FROM:<a@example.com>\r\n");
      expect(await c.reply()).toMatch(/^503 /);
      c.send("HELO client.test\r\nNOOP\r\n");
      expect(await c.reply()).toMatch(/^250 proxy\.test /);
      expect(await c.reply()).toMatch(/^250 /); // the NOOP's, not a second HELO reply
      c.socket.destroy();
    } finally {
      await close();
    }
  });

  test("an idle client is told 421 and disconnected after --idle-timeout", async () => {
    const { port, close } = await startProxy(upstream.port, { idleTimeoutMs: 500 });
    try {
      const c = await rawClient(port);
      await c.reply();
      expect(await c.reply(3000)).toMatch(/^421 /);
      await c.closed();
    } finally {
      await close();
    }
  });

  test("connections over --max-clients get 421", async () => {
    const { port, close } = await startProxy(upstream.port, { maxClients: 1 });
    try {
      const first = await rawClient(port);
      expect(await first.reply()).toMatch(/^220 /);
      const second = await rawClient(port);
      expect(await second.reply()).toMatch(/^421 /);
      first.socket.destroy();
    } finally {
      await close();
    }
  });
});

describe("smtp proxy AUTH modes and traces", () => {
  test("--auth local checks the credentials file; the MTA sees no client credentials", async () => {
    const upstream = await startTestUpstream();
    const creds = new Map([["carol", "pa55"]]);
    const { port, close } = await startProxy(upstream.port, { auth: { kind: "local", verify: (u, p) => creds.get(u) === p } });
    try {
      const bad = transport(port, { auth: { user: "carol", pass: "nope" } });
      const err = (await bad.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: plainMessage }).catch((e) => e)) as { response?: string };
      expect(err.response).toBe("535 5.7.8 Authentication credentials invalid");
      bad.close();
      const noAuth = transport(port);
      const denied = (await noAuth.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: plainMessage }).catch((e) => e)) as { responseCode?: number };
      expect(denied.responseCode).toBe(530);
      noAuth.close();
      const good = transport(port, { auth: { user: "carol", pass: "pa55" } });
      await good.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: plainMessage });
      good.close();
      expect(upstream.received).toHaveLength(1);
      expect(upstream.received[0]!.user).toBeNull();
    } finally {
      await close();
      await upstream.close();
    }
  });

  test("XOAUTH2 is forwarded as the client sent it", async () => {
    const scripted = await startScriptedUpstream({ EHLO: "250-scripted.test\r\n250 AUTH PLAIN XOAUTH2\r\n", AUTH: "235 2.7.0 Accepted\r\n" });
    const { port, close } = await startProxy(scripted.port);
    try {
      const c = await rawClient(port);
      await c.reply();
      c.send("EHLO client.test\r\n");
      expect(await c.reply()).toContain("250-AUTH PLAIN LOGIN XOAUTH2\r\n");
      const token = Buffer.from("user=u@example.com\x01auth=Bearer tok123\x01\x01").toString("base64");
      c.send(`AUTH XOAUTH2 ${token}\r\n`);
      expect(await c.reply()).toBe("235 2.7.0 Accepted\r\n");
      expect(scripted.lines).toContain(`AUTH XOAUTH2 ${token}`);
      c.socket.destroy();
    } finally {
      await close();
      await scripted.close();
    }
  });

  test("--verbose traces both legs with AUTH secrets masked; the debug captures get the conversation and the message as sent", async () => {
    const upstream = await startTestUpstream();
    const lines: string[] = [];
    const log = { debug: (m: string) => lines.push(m), info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    const logger = { ...log, withTag: () => logger } as never;
    const down: string[] = [];
    const up: Buffer[] = [];
    const { port, close } = await startProxy(upstream.port, {
      verbose: true,
      log: logger,
      downstreamDebug: { write: (c: string | Uint8Array) => down.push(Buffer.from(c).toString()) },
      upstreamDataDebug: { write: (c: string | Uint8Array) => up.push(Buffer.from(c)) },
    });
    try {
      const t = transport(port, { auth: { user: "alice", pass: "secret" } });
      await t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: plainMessage });
      t.close();
      const token = Buffer.from("\0alice\0secret").toString("base64");
      const all = lines.join("\n") + down.join("");
      expect(all).not.toContain(token);
      expect(all).not.toContain("secret");
      expect(lines.some((l) => l.includes("upstream -> AUTH PLAIN /* secured */"))).toBe(true);
      expect(lines.some((l) => l.includes("upstream -> MAIL FROM:<a@example.com>"))).toBe(true);
      expect(lines.some((l) => /upstream <- 250 2\.6\.0 Ok: queued/.test(l))).toBe(true);
      expect(down.join("")).toContain("MAIL FROM:<a@example.com>");
      expect(Buffer.concat(up).toString()).toBe(plainMessage);
    } finally {
      await close();
      await upstream.close();
    }
  });

  test("reloadTls() gives new connections the new certificate", async () => {
    const upstream = await startTestUpstream();
    const { port, proxy, close } = await startProxy(upstream.port, { tls: cert });
    try {
      const { execFileSync } = await import("node:child_process");
      const { readFileSync } = await import("node:fs");
      execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=renewed.test", "-keyout", `${cert.dir}/k2.pem`, "-out", `${cert.dir}/c2.pem`], { stdio: "ignore" });
      const renewed = { key: readFileSync(`${cert.dir}/k2.pem`, "utf8"), cert: readFileSync(`${cert.dir}/c2.pem`, "utf8") };
      proxy.reloadTls(renewed);
      const t = nodemailer.createTransport({ host: "127.0.0.1", port, requireTLS: true, tls: { ca: renewed.cert, servername: "renewed.test" } });
      const info = await t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: plainMessage });
      expect(info.response).toMatch(/^250 /);
      t.close();
    } finally {
      await close();
      await upstream.close();
    }
  }, 30_000);
});

describe("smtp proxy when the MTA closes an idle session", () => {
  test("the next transaction reconnects; a session that carried the client's AUTH gets 421 instead", async () => {
    await withSandwich({ upstream: { extra: { socketTimeout: 300 } } }, async (upstream, port) => {
      const c = await rawClient(port);
      await c.reply();
      c.send("EHLO client.test\r\n");
      await c.reply();
      await Bun.sleep(700); // the MTA times the idle upstream session out
      c.send(`MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n`);
      expect(await c.reply()).toMatch(/^250 /);
      expect(await c.reply()).toMatch(/^250 /);
      expect(await c.reply()).toMatch(/^354 /);
      c.send(`${stuffed(plainMessage)}.\r\n`);
      expect(await c.reply()).toMatch(/^250 /);
      c.socket.destroy();

      const a = await rawClient(port);
      await a.reply();
      a.send(`EHLO client.test\r\nAUTH PLAIN ${Buffer.from("\0alice\0secret").toString("base64")}\r\n`);
      await a.reply();
      expect(await a.reply()).toMatch(/^235 /);
      await Bun.sleep(700);
      a.send("MAIL FROM:<a@example.com>\r\n");
      expect(await a.reply()).toMatch(/^421 4\.4\.2 /);
      await a.closed();
      expect(upstream.received).toHaveLength(1);
    });
  });
});

describe("smtp proxy metrics", () => {
  test("count messages by result, bytes both ways, rewrite fallbacks and upstream latency", async () => {
    const { createProxyMetrics } = await import("../../src/wrapper/smtp-metrics.ts");
    const metrics = createProxyMetrics();
    await withSandwich({ proxy: () => ({ metrics }) }, async (upstream, port) => {
      const t = transport(port);
      await t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: plainMessage });
      upstream.set({ data: { code: 554, text: "no" } });
      await t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: plainMessage }).catch(() => undefined);
      t.close();
      const text = await metrics.registry.metrics();
      expect(text).toContain('mtatrack_wrapper_messages_total{result="accepted"} 1');
      expect(text).toContain('mtatrack_wrapper_messages_total{result="rejected"} 1');
      expect(text).toContain(`mtatrack_wrapper_bytes_in_total ${2 * Buffer.byteLength(plainMessage)}`);
      expect(text).toMatch(/mtatrack_wrapper_upstream_latency_seconds_count\{command="MAIL"\} 2/);
      expect(text).toMatch(/mtatrack_wrapper_upstream_latency_seconds_count\{command="DATA-END"\} 2/);
    });
  });
});

describe("smtp proxy relays any body byte for byte", () => {
  test("random bodies (dots at line starts, bare CR and LF, long lines) sent in random pieces arrive unchanged", async () => {
    const fc = (await import("fast-check")).default;
    const upstream = await startTestUpstream();
    const { port, close } = await startProxy(upstream.port);
    const c = await rawClient(port);
    try {
      await c.reply();
      c.send("EHLO client.test\r\n");
      await c.reply();
      const piece = fc.constantFrom("a", "Zz", ".", "..", "\r\n", "\n", "\r", "\r\n.", "\r\n..", "\n.", ". \r\n", "é", "x".repeat(900), "\t");
      await fc.assert(
        fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 80 }), fc.array(fc.nat(), { maxLength: 4 }), async (parts, cuts) => {
          // The message the client means (headers first: smtp-server (and our scanner, which matches it) does not unstuff a dot
          // right after a bare LF at the very start of DATA; ending in CRLF, as SMTP requires), and what it puts
          // on the wire: every dot at a line start doubled (RFC 5321 §4.5.2), then the terminator.
          const message = `Subject: random\r\n\r\n${parts.join("")}\r\n`;
          const wire = Buffer.from(`${message.replace(/(^|\n)\./g, "$1..")}.\r\n`, "utf8");
          const before = upstream.received.length;
          c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
          for (let i = 0; i < 3; i++) await c.reply();
          const points = [...new Set(cuts.map((n) => n % wire.length))].sort((x, y) => x - y);
          let from = 0;
          for (const p of [...points, wire.length]) {
            if (p > from) c.socket.write(wire.subarray(from, p));
            from = p;
            await Bun.sleep(0);
          }
          expect(await c.reply()).toMatch(/^250 /);
          expect(upstream.received[before]!.data.toString("utf8")).toBe(message);
        }),
        { numRuns: 60 },
      );
    } finally {
      c.socket.destroy();
      await close();
      await upstream.close();
    }
  }, 60_000);
});
