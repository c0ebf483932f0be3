import { expect, test } from "bun:test";
import { initialOpenPixel, openPixel } from "../../src/core/pixel.ts";

test("initialOpenPixel() is the original's markup byte for byte", () => {
  expect(initialOpenPixel("URL_i")).toBe(
    `<div style="color:transparent;visibility:hidden;opacity:0;font-size:0px;border:0;max-height:1px;width:1px;margin:0px;padding:0px;border-width:0px!important;display:none!important;line-height:0px!important;"><img border="0" width="1" height="1" src="URL_i"/></div>\n`,
  );
});

test("openPixel() is the original's markup byte for byte", () => {
  expect(openPixel("URL_o")).toBe(`<img border="0" width="1" height="1" alt="" src="URL_o">\n`);
});

test("pixels take the part's line ending and escape the URL", () => {
  expect(openPixel('https://t/a&b"c', "\r\n")).toBe(`<img border="0" width="1" height="1" alt="" src="https://t/a&amp;b&quot;c">\r\n`);
});
