/** @module `mtatrack wrapper` flags and env → one frozen config (pure: no I/O; files are read by the command). */
import { parseListenAddress, type ListenAddress } from "../core/listen-address.ts";
import { parseBytes, parseMs } from "../core/tracker-config.ts";
import type { LinkEncoding } from "../core/link-codec.ts";

/** The wrapper's flags as citty hands them over (strings and booleans). */
export interface WrapperArgs {
  "in-hostport"?: string;
  "out-hostport"?: string;
  "tls-hostport"?: string;
  "tracking-url"?: string;
  "track-open"?: boolean;
  "track-initial-open"?: boolean;
  "track-click"?: boolean;
  "track-text"?: boolean;
  "track-signed"?: boolean;
  "link-format"?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
  "upstream-insecure"?: boolean;
  "upstream-ca"?: string;
  "upstream-tls"?: string;
  "upstream-auth-file"?: string;
  auth?: string;
  "auth-file"?: string;
  "rcpt-policy"?: string;
  hostname?: string;
  "ehlo-name"?: string;
  "max-size"?: string;
  "max-clients"?: string;
  "idle-timeout"?: string;
  "command-timeout"?: string;
  "data-timeout"?: string;
  "drain-timeout"?: string;
  "metrics-listen"?: string;
  "reuse-port"?: boolean;
  verbose?: boolean;
  "downstream-debug"?: string;
  "upstream-data-debug"?: string;
}

type Env = Record<string, string | undefined>;

export interface WrapperConfig {
  listen: ListenAddress;
  /** Implicit-TLS listener (465 style), or null. */
  tlsListen: ListenAddress | null;
  upstream: { host: string; port: number; implicitTls: boolean; startTls: boolean; requireTls: boolean; verify: boolean; caPath: string | null; authFile: string | null };
  /** "" = pure relay (the original's `-tracking_url ""`). */
  trackingUrl: string;
  tracking: { trackOpen: boolean; trackInitialOpen: boolean; trackClick: boolean; trackText: boolean; trackSigned: boolean };
  linkFormat: LinkEncoding;
  tls: { certPath: string; keyPath: string } | null;
  auth: "forward" | "local" | "none";
  authFile: string | null;
  rcptPolicy: "split" | "shared";
  hostname: string | null;
  ehloName: string | null;
  maxMessageBytes: number;
  maxClients: number;
  idleTimeoutMs: number;
  commandTimeoutMs: number;
  dataTimeoutMs: number;
  drainTimeoutMs: number;
  metricsListen: ListenAddress | null;
  /** SO_REUSEPORT on the SMTP listeners: several wrapper processes on one port. */
  reusePort: boolean;
  verbose: boolean;
  downstreamDebug: string | null;
  upstreamDataDebug: string | null;
}

/**
 * Resolves the wrapper's configuration: flags, then env (`MTATRACK_TRACKING_URL`), then the original's
 * defaults (reference §6.1).
 * @throws {RangeError} with the flag and the reason.
 */
export function resolveWrapperConfig(args: WrapperArgs, env: Env): Readonly<WrapperConfig> {
  const out = hostPort(args["out-hostport"] ?? "smtp.sparkpostmail.com:587", "out-hostport");
  const upstreamTls = oneOf(args["upstream-tls"] ?? "auto", "upstream-tls", ["auto", "implicit", "starttls", "none"] as const);
  const certPath = args["tls-cert"] ?? null;
  const keyPath = args["tls-key"] ?? null;
  if (Boolean(certPath) !== Boolean(keyPath)) throw new RangeError("Cannot use --tls-cert without --tls-key (or -certfile without -privkeyfile): both are needed to offer STARTTLS");
  const auth = oneOf(args.auth ?? "forward", "auth", ["forward", "local", "none"] as const);
  if (auth === "local" && !args["auth-file"]) throw new RangeError("Cannot use --auth local without --auth-file (lines of user:password)");
  const tlsListen = args["tls-hostport"] ? parseListenAddress(args["tls-hostport"]) : null;
  if (tlsListen && !certPath) throw new RangeError("Cannot listen with implicit TLS (--tls-hostport) without --tls-cert and --tls-key");
  return Object.freeze({
    listen: parseListenAddress(args["in-hostport"] ?? "localhost:587"),
    tlsListen,
    upstream: {
      ...out,
      implicitTls: upstreamTls === "implicit" || (upstreamTls === "auto" && out.port === 465),
      startTls: upstreamTls !== "none",
      requireTls: upstreamTls === "starttls",
      verify: !args["upstream-insecure"],
      caPath: args["upstream-ca"] ?? null,
      authFile: args["upstream-auth-file"] ?? null,
    },
    trackingUrl: args["tracking-url"] ?? env.MTATRACK_TRACKING_URL ?? "http://localhost:8888",
    tracking: {
      trackOpen: args["track-open"] ?? true,
      trackInitialOpen: args["track-initial-open"] ?? false,
      trackClick: args["track-click"] ?? false,
      trackText: args["track-text"] ?? false,
      trackSigned: args["track-signed"] ?? false,
    },
    linkFormat: oneOf(args["link-format"] ?? "v2", "link-format", ["v1", "v2", "v2-plain"] as const),
    tls: certPath && keyPath ? { certPath, keyPath } : null,
    auth,
    authFile: args["auth-file"] ?? null,
    rcptPolicy: oneOf(args["rcpt-policy"] ?? "split", "rcpt-policy", ["split", "shared"] as const),
    hostname: args.hostname ?? null,
    ehloName: args["ehlo-name"] ?? null,
    maxMessageBytes: parseBytes(args["max-size"] ?? "64M", "max-size"),
    maxClients: positiveInt(args["max-clients"] ?? "1000", "max-clients"),
    idleTimeoutMs: parseMs(args["idle-timeout"] ?? "60s", "idle-timeout", { min: 1000 }),
    commandTimeoutMs: parseMs(args["command-timeout"] ?? "300s", "command-timeout", { min: 100 }),
    dataTimeoutMs: parseMs(args["data-timeout"] ?? "600s", "data-timeout", { min: 100 }),
    drainTimeoutMs: parseMs(args["drain-timeout"] ?? "30s", "drain-timeout", { min: 0 }),
    metricsListen: args["metrics-listen"] ? parseListenAddress(args["metrics-listen"]) : null,
    reusePort: Boolean(args["reuse-port"]),
    verbose: Boolean(args.verbose),
    downstreamDebug: args["downstream-debug"] || null,
    upstreamDataDebug: args["upstream-data-debug"] || null,
  });
}

/** `host:port` with a non-empty host (the upstream must be named; `:25` means localhost as in Go). */
function hostPort(spec: string, flag: string): { host: string; port: number } {
  const { hostname, port } = parseListenAddress(spec);
  if (port === 0) throw new RangeError(`Cannot use --${flag} "${spec}": port 0`);
  return { host: hostname || "localhost", port };
}

function oneOf<T extends string>(value: string, flag: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new RangeError(`Cannot use --${flag} "${value}": expected one of ${allowed.join(", ")}`);
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`Cannot use --${flag} "${value}": expected a whole number of at least 1`);
  return n;
}

/**
 * Parses a credentials file: one `user:password` per line; blank lines and `#` comments ignored.
 * @throws {SyntaxError} naming the line (never the password).
 */
export function parseCredentials(text: string): Map<string, string> {
  const creds = new Map<string, string>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new SyntaxError(`Cannot parse credentials line ${i + 1}: expected user:password`);
    creds.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return creds;
}
