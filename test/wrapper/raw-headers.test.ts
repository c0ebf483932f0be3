import { expect, test } from "bun:test";
import { editHeaderBlock, fieldValues, parseHeaderBlock } from "../../src/wrapper/raw-headers.ts";

const raw = "Received: from a\r\n\tby b\r\nX-MSYS-API: {}\r\nSubject: Hi\r\nx-msys-api: {\"a\":1}\r\nContent-Type: text/html;\r\n charset=utf-8\r\n\r\n";

test("parseHeaderBlock() unfolds values and keeps spans", () => {
  const block = parseHeaderBlock(raw);
  expect(block.fields.map((f) => f.name)).toEqual(["received", "x-msys-api", "subject", "x-msys-api", "content-type"]);
  expect(fieldValues(block, "received")).toEqual(["from a\tby b"]);
  expect(fieldValues(block, "content-type")).toEqual(["text/html; charset=utf-8"]);
  expect(block.eol).toBe("\r\n");
});

test("editHeaderBlock() removes, replaces in place and prepends, leaving other bytes alone", () => {
  const block = parseHeaderBlock(raw);
  const out = editHeaderBlock(block, {
    remove: new Set(["x-msys-api"]),
    replace: new Map([["content-type", "Content-Type: text/html; charset=utf-8"]]),
    prepend: ["X-Sp-Message-Id: 0000aaaabbbbccccdddd"],
  });
  expect(out).toBe("X-Sp-Message-Id: 0000aaaabbbbccccdddd\r\nReceived: from a\r\n\tby b\r\nSubject: Hi\r\nContent-Type: text/html; charset=utf-8\r\n\r\n");
});

test("editHeaderBlock() adds a missing replaced field before the blank line, with LF endings for an LF block", () => {
  const block = parseHeaderBlock("Subject: x\nTo: y\n\n");
  expect(editHeaderBlock(block, { replace: new Map([["content-transfer-encoding", "Content-Transfer-Encoding: quoted-printable"]]) })).toBe(
    "Subject: x\nTo: y\nContent-Transfer-Encoding: quoted-printable\n\n",
  );
});
