/**
 * @module The preset dictionary of v2 link payloads (RFC 1950 FDICT; docs/links.md): text that tracked links
 * share (the payload's JSON skeleton, common URL pieces and query parameters, the big mailbox domains), which
 * zlib may then copy from instead of spelling out. A marketing click's token comes out about a third shorter,
 * and written with fixed Huffman codes it inflates about five times faster (BENCHMARKS.md, tracker, session 10).
 *
 * A stream names its dictionary by the dictionary's Adler-32 (DICTID), so these bytes can never change:
 * links already in inboxes name them. A better dictionary would be added beside this one, under its own id.
 */

/** Least likely text first: the nearer a match is to the dictionary's end, the fewer bits its distance costs. */
const V2_DICTIONARY_TEXT = [
  ".aspx?.php?id=.html?/index.html.htm",
  "/en-us/en-gb/de/fr/es/it/nl/blog/news/article/products/product/collections/category/shop/store/cart/checkout/deals/sale/offer/events/webinar",
  "/account/login/profile/settings/preferences/unsubscribe/subscribe/confirm/view-in-browser/track/orders/order/",
  "?id=&id=?page=&lang=&locale=&ref=?ref=&source=email&sid=&cid=&mc_cid=&mc_eid=&_hsenc=&_hsmi=&fbclid=&gclid=&trk=&campaign=",
  "&utm_term=&utm_content=&utm_id=&utm_source=newsletter&utm_source=email&utm_medium=email&utm_campaign=?utm_source=",
  "@me.com@mac.com@msn.com@live.com@aol.com@comcast.net@att.net@verizon.net@sbcglobal.net@web.de@gmx.de@gmx.net@t-online.de",
  "@orange.fr@free.fr@laposte.net@libero.it@yahoo.fr@yahoo.co.uk@hotmail.co.uk@btinternet.com@mail.ru@yandex.ru@qq.com@163.com",
  "@naver.com@icloud.com@outlook.com@hotmail.com@yahoo.com@gmail.com",
  ".co.uk/.com.au/.de/.fr/.io/.net/.org/.com/",
  // The payload's own skeleton (toV2Json's key order), most common of all.
  '","n":"","x":"}","u":"http://","u":"https://www.{"a":"i","m":"0000{"a":"o","m":"0000","r":"{"a":"c","m":"0000',
].join("");

/** The dictionary v2 payloads are written with (978 ASCII bytes). */
export const V2_DICTIONARY: Uint8Array = new TextEncoder().encode(V2_DICTIONARY_TEXT);

/** Its DICTID: the Adler-32 that a payload written with it carries in its zlib header. */
export const V2_DICTIONARY_ID: number = adler32(V2_DICTIONARY);

/** The dictionaries a v2 payload may name, by DICTID. */
export const V2_DICTIONARIES: ReadonlyMap<number, Uint8Array> = new Map([[V2_DICTIONARY_ID, V2_DICTIONARY]]);

/**
 * The dictionary id a zlib stream asks for (its FLG.FDICT bit and the DICTID after it, RFC 1950 §2.2), or
 * null when it asks for none or is too short to say.
 * @example dictionaryIdOf(Uint8Array.of(0x78, 0x9c, 0x03, 0x00)) // null
 */
export function dictionaryIdOf(stream: Uint8Array): number | null {
  if (stream.length < 6 || (stream[1]! & 0x20) === 0) return null;
  return ((stream[2]! << 24) | (stream[3]! << 16) | (stream[4]! << 8) | stream[5]!) >>> 0;
}

/** Adler-32 (RFC 1950 §8.2). */
export function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length; i++) {
    a = (a + data[i]!) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}
