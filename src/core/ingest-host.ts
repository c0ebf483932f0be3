/** @module SPARKPOST_HOST_INGEST → the base URL the Signals Ingest API is posted to (the original's HostCleanup, fixed). */

/** SparkPost's US API host, the default when SPARKPOST_HOST_INGEST is unset or empty. */
export const defaultIngestHost = "api.sparkpost.com";

/**
 * Normalises an ingest host the way the original's `HostCleanup` meant to: `https://` unless the value
 * already names a scheme (`http://` is kept, for a local endpoint, instead of the original's
 * `https://http://…`), one trailing `/`, a trailing `/api/v1` and one more `/` removed.
 * @param host e.g. `api.eu.sparkpost.com`, `https://ingest.example.com/api/v1/`, `http://127.0.0.1:8080`
 * @returns the base URL without a trailing slash; `/api/v1/ingest/events` goes after it
 * @throws {TypeError} when the result is not an http(s) URL with a host
 * @example ingestBaseUrl("api.eu.sparkpost.com/api/v1/") // "https://api.eu.sparkpost.com"
 */
export function ingestBaseUrl(host: string | undefined): string {
  let value = (host ?? "").trim();
  if (value === "") value = defaultIngestHost;
  if (!/^https?:\/\//i.test(value)) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
      throw new TypeError(`Cannot use ingest host "${host}": only http:// and https:// are supported`);
    }
    value = `https://${value}`;
  }
  value = value.replace(/\/$/, "").replace(/\/api\/v1$/i, "").replace(/\/$/, "");
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    throw new TypeError(`Cannot use ingest host "${host}": not a valid URL`, { cause });
  }
  if (url.hostname === "" || url.search !== "" || url.hash !== "") {
    throw new TypeError(`Cannot use ingest host "${host}": expected a host with an optional path prefix`);
  }
  return value.replace(/^https?:/i, (scheme) => scheme.toLowerCase());
}

/** The Signals Ingest endpoint under a base URL from {@link ingestBaseUrl}. */
export function ingestEventsUrl(baseUrl: string): string {
  return `${baseUrl}/api/v1/ingest/events`;
}
