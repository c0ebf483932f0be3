/** @module Builds the tracked URL a recipient clicks: the tracking base URL plus one path segment, the token. */

/**
 * Joins the tracking base URL and a link token as the original did (`path.Join(base.Path, token)`):
 * scheme, host and any path prefix are kept; a trailing `/` is not doubled.
 * Call it once at start-up with a dummy token to validate configuration.
 * @throws {RangeError} when the base is not an absolute http(s) URL, or carries credentials, a query or a fragment.
 * @example trackedUrl("https://t.example.com/p/", "2.k1.eJx.abc") // "https://t.example.com/p/2.k1.eJx.abc"
 */
export function trackedUrl(trackingUrl: string, token: string): string {
  let base: URL;
  try {
    base = new URL(trackingUrl);
  } catch (cause) {
    throw new RangeError(`Tracking URL "${trackingUrl}" is not an absolute URL`, { cause });
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") throw new RangeError(`Tracking URL "${trackingUrl}" must be http: or https:`);
  if (base.username || base.password) throw new RangeError(`Tracking URL "${base.host}" must not carry credentials`);
  if (base.search || base.hash) throw new RangeError(`Tracking URL "${trackingUrl}" must not have a query or fragment`);
  const prefix = base.pathname.replace(/\/+$/, "");
  return `${base.origin}${prefix}/${token}`;
}
