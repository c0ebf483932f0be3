/** @module The HTTP/1.x request-head parser: what it accepts, what it refuses and with which status. */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { parseRequestHead, type RequestHead } from "../../src/core/http1-head.ts";

const limits = { maxHeadBytes: 1024 };
const request = (text: string): RequestHead => {
  const parsed = parseRequestHead(text, limits);
  if (parsed.kind !== "request") throw new Error(`expected a request, got ${JSON.stringify(parsed)}`);
  return parsed;
};

describe("parseRequestHead", () => {
  test("reads the request line and the fields, and how much of the buffer the head took", () => {
    const text = "GET /abc?x=1 HTTP/1.1\r\nHost: t.example\r\nUser-Agent: Mozilla/5.0 (X)\r\nX-Real-IP:  192.0.2.7 \r\n\r\nGET /next";
    const head = request(text);
    expect(head.method).toBe("GET");
    expect(head.target).toBe("/abc?x=1");
    expect(head.version).toBe("1.1");
    expect(head.fields.get("user-agent")).toBe("Mozilla/5.0 (X)");
    expect(head.fields.get("X-REAL-IP")).toBe("192.0.2.7");
    expect(head.fields.get("accept")).toBeNull();
    expect(text.slice(head.length)).toBe("GET /next");
    expect(head.keepAlive).toBe(true);
    expect(head.hasBody).toBe(false);
  });

  test("a head without its blank line yet is incomplete, until it is longer than the limit (431)", () => {
    expect(parseRequestHead("GET / HTTP/1.1\r\nHost: t\r\n", limits)).toEqual({ kind: "incomplete" });
    expect(parseRequestHead("", limits)).toEqual({ kind: "incomplete" });
    expect(parseRequestHead(`GET /${"a".repeat(2000)}`, limits)).toMatchObject({ kind: "error", status: 431 });
    expect(parseRequestHead(`GET / HTTP/1.1\r\nHost: t\r\nX: ${"a".repeat(2000)}\r\n\r\n`, limits)).toMatchObject({ kind: "error", status: 431 });
  });

  test("a value loses the spaces and tabs around it, and only those (RFC 9110 OWS)", () => {
    const head = request("GET / HTTP/1.1\r\nHost:t\r\nX-A: \t a b \t \r\nX-B:\r\nX-C: \xa0x\xa0 \r\n\r\n");
    expect(head.fields.get("x-a")).toBe("a b");
    expect(head.fields.get("x-b")).toBe("");
    // A latin1 no-break space is obs-text, part of the value: String.prototype.trim would have dropped it.
    expect(head.fields.get("x-c")).toBe("\xa0x\xa0");
    expect(head.fields.get("host")).toBe("t");
  });

  test("repeated fields are joined with a comma; blank lines before the request line are skipped", () => {
    const head = request("\r\nGET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 192.0.2.1\r\nx-forwarded-for: 198.51.100.2\r\n\r\n");
    expect(head.fields.get("x-forwarded-for")).toBe("192.0.2.1, 198.51.100.2");
  });

  test("keep-alive: HTTP/1.1 unless Connection: close; HTTP/1.0 only with Connection: keep-alive", () => {
    expect(request("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").keepAlive).toBe(false);
    expect(request("GET / HTTP/1.1\r\nHost: t\r\nConnection: Keep-Alive, Upgrade\r\n\r\n").keepAlive).toBe(true);
    expect(request("GET / HTTP/1.0\r\n\r\n").keepAlive).toBe(false);
    expect(request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keepAlive).toBe(true);
  });

  test("a body is reported (Content-Length above 0, any Transfer-Encoding), never read", () => {
    expect(request("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello").hasBody).toBe(true);
    expect(request("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n").hasBody).toBe(false);
    expect(request("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n").hasBody).toBe(true);
    expect(request("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n").hasBody).toBe(true);
  });

  const refused: [string, string, number][] = [
    ["no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400],
    ["two different Content-Lengths", "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400],
    ["a Content-Length that is not a number", "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400],
    ["a folded field", "GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  continued\r\n\r\n", 400],
    ["a space before the colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400],
    ["a field without a colon", "GET / HTTP/1.1\r\nHost: t\r\nnonsense\r\n\r\n", 400],
    ["a bare LF inside a field", "GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\nX-B: 2\r\n\r\n", 400],
    ["lines ended by bare LFs, before any CRLF CRLF", "GET / HTTP/1.1\nHost: t\n\n", 400],
    ["a bare LF after the request line, head unfinished", "GET / HTTP/1.1\r\nHost: t\n", 400],
    ["a control character in a value", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n", 400],
    ["a vertical tab around a value (not optional whitespace)", "GET / HTTP/1.1\r\nHost: t\r\nX-A: \x0ba\r\n\r\n", 400],
    ["a field without a colon after one with", "GET / HTTP/1.1\r\nHost: t\r\nnonsense\r\nX-A: b:c\r\n\r\n", 400],
    ["a request line of two parts", "GET /\r\nHost: t\r\n\r\n", 400],
    ["a request line of four parts", "GET / x HTTP/1.1\r\nHost: t\r\n\r\n", 400],
    ["a method with a separator", "GE(T / HTTP/1.1\r\nHost: t\r\n\r\n", 400],
    ["not HTTP", "GET / FTP/1.1\r\nHost: t\r\n\r\n", 400],
    ["HTTP/2.0 in a 1.x head", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505],
    ["HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 505],
  ];
  test.each(refused)("refuses %s", (_what, text, status) => {
    expect(parseRequestHead(text, limits)).toMatchObject({ kind: "error", status });
  });

  test("more than maxFields fields is 431", () => {
    const fields = Array.from({ length: 5 }, (_, i) => `X-${i}: ${i}\r\n`).join("");
    expect(parseRequestHead(`GET / HTTP/1.1\r\nHost: t\r\n${fields}\r\n`, { maxHeadBytes: 1024, maxFields: 5 })).toMatchObject({ kind: "error", status: 431 });
    expect(parseRequestHead(`GET / HTTP/1.1\r\nHost: t\r\n${fields}\r\n`, { maxHeadBytes: 1024, maxFields: 6 }).kind).toBe("request");
  });
});

describe("parseRequestHead, generated input", () => {
  const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,20}$/);
  const value = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,40}[\x21-\x7e])?$/);

  test("any bytes: never throws; a request's head ends with the blank line, inside the buffer", () => {
    const pieces = fc.constantFrom("GET ", "/", "x", " HTTP/1.1", " HTTP/1.0", "\r\n", "\r", "\n", "Host: t", ":", " ", "\t", "Content-Length: 3", "\x00", "\xff");
    fc.assert(
      fc.property(fc.array(fc.oneof(pieces, fc.string({ maxLength: 8 })), { maxLength: 40 }), (parts) => {
        const text = parts.join("");
        const parsed = parseRequestHead(text, { maxHeadBytes: 256 });
        if (parsed.kind === "request") {
          expect(parsed.length).toBeLessThanOrEqual(text.length);
          expect(parsed.length).toBeLessThanOrEqual(256);
          expect(text.slice(0, parsed.length).endsWith("\r\n\r\n")).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  test("a well-formed head gives back its method, target and every field, repeated ones joined", () => {
    fc.assert(
      fc.property(token, fc.stringMatching(/^\/[\x21-\x7e]{0,60}$/), fc.array(fc.tuple(token, value), { maxLength: 12 }), (method, target, fields) => {
        const text = `${method} ${target} HTTP/1.1\r\nHost: t\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`;
        const head = request(text);
        expect([head.method, head.target, head.length]).toEqual([method, target, text.length]);
        const expected = new Map<string, string[]>();
        for (const [n, v] of [["host", "t"], ...fields] as [string, string][]) expected.set(n.toLowerCase(), [...(expected.get(n.toLowerCase()) ?? []), v]);
        // Content-Length and Transfer-Encoding values are judged, not just read: leave those to the table above.
        for (const [n, vs] of expected) if (n !== "content-length") expect(head.fields.get(n)).toBe(vs.join(", "));
      }),
      { numRuns: 1000 },
    );
  });
});
