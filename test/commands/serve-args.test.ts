/**
 * `mtatrack serve`'s flags are the parts' own: every part flag is either taken under its name, renamed with
 * the part's prefix, or refused with a pointer; no name (or alias) means two different things.
 */
import { describe, expect, test } from "bun:test";
import { refusedFlags, partArgs, resolveServeConfigs, serveArgs, spoolBesideStore } from "../../src/commands/_serve-args.ts";
import { linkKeyArgs, logArgs, storeArgs } from "../../src/commands/_shared.ts";

/** Flag groups every part spreads in, so the same name means the same thing everywhere. */
const shared = new Set(Object.keys({ ...linkKeyArgs, ...logArgs, ...storeArgs }));
const renamed: Record<string, string[]> = {
  "in-hostport": ["tracker-hostport", "smtp-hostport"],
  "tls-cert": ["tracker-tls-cert", "smtp-tls-cert"],
  "tls-key": ["tracker-tls-key", "smtp-tls-key"],
  "metrics-listen": ["tracker-metrics-listen", "smtp-metrics-listen", "feeder-metrics-listen"],
};
type ArgDef = { alias?: string | string[] };
const names = (name: string, def: ArgDef) => [name, ...[def.alias ?? []].flat()].map((n) => n.replaceAll("_", "-"));

/**
 * The part flags serve's mapping (src/commands/_serve-args.ts) was written against. serve takes a part's new
 * flag automatically and starts each part with the part's own start function (_<part>-start.ts), but a flag
 * that is renamed, refused or means something else in one process needs a decision in _serve-args.ts.
 */
const wiredFlags: Record<keyof typeof partArgs, string[]> = {
  tracker: ["in-hostport", "trust-proxy", "ip-truncate", "server-header", "metrics-listen", "spool", "spool-max", "store-timeout", "fast-click",
    "machine-ranges", "tls-cert", "tls-key", "workers", "http-server", "link-key", "accept-v1", "store", "log-level", "json", "logfile"],
  wrapper: ["in-hostport", "out-hostport", "tls-hostport", "tracking-url", "track-open", "track-initial-open", "track-click", "track-text", "track-signed",
    "link-format", "tls-cert", "tls-key", "upstream-insecure", "upstream-ca", "upstream-tls", "upstream-auth-file", "auth", "auth-file", "rcpt-policy",
    "hostname", "ehlo-name", "max-size", "max-clients", "idle-timeout", "command-timeout", "data-timeout", "drain-timeout", "metrics-listen", "reuse-port",
    "verbose", "downstream-debug", "upstream-data-debug", "link-key", "accept-v1", "log-level", "json", "logfile"],
  feeder: ["sink", "webhook-url", "webhook-secret", "webhook-secret-previous", "webhook-header", "file", "file-rotate", "batch-size", "batch-age", "batch-bytes", "sparkpost-events",
    "webhook-events", "file-events", "concurrency", "lease", "shutdown-timeout", "metrics-listen", "replay-dead-letters", "consumer"],
};

describe("serveArgs", () => {
  test.each(Object.keys(partArgs) as (keyof typeof partArgs)[])("a new %s flag is noticed: decide in _serve-args.ts whether serve takes, renames or refuses it, then list it here", (part) => {
    const added = Object.keys(partArgs[part]).filter((n) => !wiredFlags[part].includes(n));
    expect(added).toEqual([]);
  });

  test("every flag of every part is in serve, renamed with the part's prefix, or refused", () => {
    for (const [part, args] of Object.entries(partArgs)) {
      for (const name of Object.keys(args)) {
        const placed = name in serveArgs || name in refusedFlags || (renamed[name] ?? []).some((n) => n in serveArgs);
        expect({ part, name, placed }).toEqual({ part, name, placed: true });
      }
    }
  });

  test("no name or alias belongs to two parts, except the shared groups and the renamed ones", () => {
    const owners = new Map<string, Set<string>>();
    for (const [part, args] of Object.entries(partArgs)) {
      for (const [name, def] of Object.entries(args as Record<string, ArgDef>)) {
        if (shared.has(name) || name in renamed) continue;
        for (const n of names(name, def)) owners.set(n, (owners.get(n) ?? new Set()).add(part));
      }
    }
    const clashes = [...owners].filter(([, parts]) => parts.size > 1).map(([n, parts]) => `${n}: ${[...parts].join(", ")}`);
    expect(clashes).toEqual([]);
  });

  test("the refused spellings are not flags of serve, under any alias", () => {
    const taken = new Set(Object.entries(serveArgs as Record<string, ArgDef>).flatMap(([name, def]) => names(name, def)));
    for (const name of Object.keys(refusedFlags)) expect({ name, taken: taken.has(name) }).toEqual({ name, taken: false });
  });
});

describe("resolveServeConfigs", () => {
  const resolve = (args: Record<string, unknown>, env: Record<string, string> = {}, rawArgs: readonly string[] = []) =>
    resolveServeConfigs(args as Parameters<typeof resolveServeConfigs>[0], rawArgs, env);

  test("maps the prefixed flags to each part's own and keeps the parts' defaults", () => {
    const c = resolve({ "tracker-hostport": "127.0.0.1:9000", "smtp-hostport": ":2525", "out-hostport": "mta:25", "feeder-metrics-listen": "9189" });
    expect(c.tracker.listen).toEqual({ hostname: "127.0.0.1", port: 9000 });
    expect(c.wrapper?.listen).toEqual({ hostname: "", port: 2525 });
    expect(c.wrapper?.upstream).toMatchObject({ host: "mta", port: 25 });
    expect(c.feeder.config.metricsListen).toEqual({ host: "127.0.0.1", port: 9189 });
    expect(c.tracker.workers).toBe(1);
    expect(c.tracker.serverHeader).toBe("msys-http");
  });

  const cases: { name: string; args: Record<string, unknown>; env?: Record<string, string>; check: (c: ReturnType<typeof resolveServeConfigs>) => void }[] = [
    { name: "no --out-hostport: no SMTP part", args: {}, check: (c) => expect(c.wrapper).toBeNull() },
    { name: "clicks are tracked unless --no-track-click", args: { "out-hostport": "mta:25" }, check: (c) => expect(c.wrapper?.tracking.trackClick).toBe(true) },
    { name: "--no-track-click turns clicks off", args: { "out-hostport": "mta:25", "track-click": false }, check: (c) => expect(c.wrapper?.tracking.trackClick).toBe(false) },
    { name: "no tracking URL given: left to the tracker's address", args: { "out-hostport": "mta:25" }, check: (c) => expect(c.explicitTrackingUrl).toBeUndefined() },
    { name: "MTATRACK_TRACKING_URL is the explicit one", args: { "out-hostport": "mta:25" }, env: { MTATRACK_TRACKING_URL: "https://t.example" }, check: (c) => expect(c.wrapper?.trackingUrl).toBe("https://t.example") },
    { name: '--tracking-url "" is a plain relay', args: { "out-hostport": "mta:25", "tracking-url": "" }, check: (c) => expect(c.wrapper?.trackingUrl).toBe("") },
    { name: "no sink configured: NDJSON to stdout", args: {}, check: (c) => expect([c.feeder.defaulted, c.feeder.config.sinks.map((s) => s.kind === "file" && s.path)]).toEqual([true, ["-"]]) },
    { name: "the SparkPost key in env picks SparkPost", args: {}, env: { SPARKPOST_API_KEY_INGEST: "k" }, check: (c) => expect(c.feeder.config.sinks.map((s) => s.kind)).toEqual(["sparkpost"]) },
    { name: "--webhook-url picks the webhook only", args: { "webhook-url": "http://127.0.0.1:1/h" }, check: (c) => expect(c.feeder.config.sinks.map((s) => s.kind)).toEqual(["webhook"]) },
  ];
  test.each(cases)("$name", ({ args, env, check }) => check(resolve(args, env)));

  test.each([
    { name: "the Go spelling of a clashing flag", raw: ["--in_hostport", ":1"], message: /serve does not take --in-hostport: use --tracker-hostport \(HTTP\) or --smtp-hostport \(SMTP\)/ },
    { name: "the wrapper's -certfile", raw: ["--certfile=/x.pem"], message: /serve does not take --certfile: use --smtp-tls-cert/ },
    { name: "--workers", raw: ["--workers", "4"], message: /mtatrack tracker --workers/ },
  ])("refuses $name", ({ raw, message }) => {
    expect(() => resolve({}, {}, raw)).toThrow(message);
  });

  test("a value a part refuses is an EARG CLIError naming the flag", () => {
    let error: unknown;
    try {
      resolve({ "out-hostport": "mta:25", "rcpt-policy": "every" });
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ name: "CLIError", code: "EARG", message: expect.stringMatching(/--rcpt-policy "every"/) });
  });
});

describe("spoolBesideStore", () => {
  test.each([
    { name: "beside a sqlite: file", url: "sqlite:/var/tmp/x/store.db", port: 8888, spool: "/var/tmp/x/tracker-8888.spool" },
    { name: "the sqlite:/// form with a query", url: "sqlite:///srv/m/s.db?synchronous=full", port: 80, spool: "/srv/m/tracker-80.spool" },
  ])("$name", ({ url, port, spool }) => {
    expect(spoolBesideStore(url, port, {})).toBe(spool);
  });
});
