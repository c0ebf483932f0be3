/**
 * @module One store URL → one open {@link Store}: `sqlite:PATH` (the embedded default) or `redis://` / `rediss://`.
 *
 * Every failure to open (a URL that does not parse, an unknown scheme, a file that cannot be opened, a server
 * that does not answer) is thrown as `CLIError(message, "ESTORE")` with a one-line message that names the URL
 * without its password, e.g. `Cannot open store "redis://:***@db:6379/0": connect ECONNREFUSED 10.0.0.5:6379`.
 */
import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join, win32 } from "node:path";
import { CLIError } from "../errors.ts";
import type { Redis } from "ioredis";
import type { RedisStoreOptions } from "./redis.ts";
import type { BunLinkOptions } from "./redis-link.ts";
import type { SqliteDriver, SqliteStoreOptions } from "./sqlite.ts";
import type { Store } from "./types.ts";
import { withTimeout } from "../core/timers.ts";

type Env = Record<string, string | undefined>;

export interface OpenStoreOptions {
  /** Redis: prefix for every key (also `?prefix=` in the URL; the option wins). @default "" */
  prefix?: string;
  /** Redis: extra ioredis options (e.g. `tls: { ca }`), merged over those from the URL. */
  redis?: RedisStoreOptions["redis"];
  /** Redis: how long to wait for the first connection before failing. @default 5000 */
  connectTimeoutMs?: number;
  /**
   * Redis: do not wait for the server at open; connect on first use instead (ioredis lazyConnect). For a
   * process that must start while Redis is down (the tracker spools events meanwhile). @default false
   */
  lazy?: boolean;
  /**
   * Redis under Bun: send KV calls, pushes and PING on Bun's built-in client (redis-link.ts). False sends
   * everything through ioredis, as Deno and Node do. @default true
   */
  useBunClient?: boolean;
  /** SQLite: options for the embedded backend (driver, busy timeout, synchronous…). */
  sqlite?: SqliteStoreOptions;
}

/**
 * `url` with any password replaced by `***`, safe to log. Strings that are not URLs come back as they are.
 *
 * @example
 * redactStoreUrl("redis://:s3cret@db:6379/0"); // "redis://:***@db:6379/0"
 */
export function redactStoreUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:/@]*:)[^@]*@/i, "$1***@");
}

function storeError(url: string, reason: string, cause?: unknown): CLIError {
  const oneLine = reason.replace(/\s+/g, " ").trim();
  return new CLIError(`Cannot open store "${redactStoreUrl(url)}": ${oneLine}`, "ESTORE", { cause });
}

/**
 * Opens the store named by `url`.
 * - `sqlite:/abs/path.db`, `sqlite:relative.db`, `sqlite:///abs/path.db`, `sqlite::memory:`; query parameters
 *   `driver=auto|node|bun`, `synchronous=normal|full`, `busy_timeout=<ms>`.
 * - `redis://[user][:password@]host[:port][/db][?prefix=mt:]`, `rediss://…` for TLS. The server must answer
 *   a PING before this resolves (unless `lazy`); afterwards ioredis reconnects by itself.
 *
 * @throws CLIError with code "ESTORE" and a one-line message naming the URL without its password.
 * @example
 * const store = await openStore("redis://127.0.0.1:6379/0?prefix=mt:");
 */
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const trimmed = url.trim();
  if (/^sqlite:/i.test(trimmed)) return await openSqliteUrl(url, trimmed, opts);
  if (/^rediss?:\/\//i.test(trimmed)) return await openRedisUrl(url, trimmed, opts);
  throw storeError(url, "unknown scheme: use sqlite:PATH, redis://host:port/db or rediss://host:port/db");
}

async function openSqliteUrl(url: string, trimmed: string, opts: OpenStoreOptions): Promise<Store> {
  let rest = trimmed.slice("sqlite:".length);
  let query = "";
  const q = rest.indexOf("?");
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  // sqlite:///abs → /abs (the URL form with an empty host); sqlite:/abs and sqlite:rel.db as they are.
  if (rest.startsWith("//")) rest = rest.slice(2);
  let path: string;
  try {
    path = decodeURIComponent(rest);
  } catch {
    throw storeError(url, "the path is not valid percent-encoding");
  }
  if (!path) throw storeError(url, "no path: use sqlite:/path/to/store.db");
  const params = new URLSearchParams(query);
  const sqliteOpts: SqliteStoreOptions = { ...opts.sqlite };
  const driver = params.get("driver");
  if (driver !== null) {
    if (driver !== "auto" && driver !== "node" && driver !== "bun") throw storeError(url, `driver must be auto, node or bun, not "${driver}"`);
    sqliteOpts.driver = driver as SqliteDriver;
  }
  const sync = params.get("synchronous");
  if (sync !== null) {
    if (sync !== "normal" && sync !== "full") throw storeError(url, `synchronous must be normal or full, not "${sync}"`);
    sqliteOpts.synchronous = sync;
  }
  const busy = params.get("busy_timeout");
  if (busy !== null) {
    if (!/^\d+$/.test(busy)) throw storeError(url, `busy_timeout must be milliseconds, not "${busy}"`);
    sqliteOpts.busyTimeoutMs = Number(busy);
  }
  try {
    const { openSqliteStore } = await import("./sqlite.ts");
    return await openSqliteStore(path, sqliteOpts);
  } catch (err) {
    throw storeError(url, err instanceof Error ? err.message : String(err), err);
  }
}

async function openRedisUrl(url: string, trimmed: string, opts: OpenStoreOptions): Promise<Store> {
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch (err) {
    throw storeError(url, "not a valid URL", err);
  }
  if (!parsed.hostname) throw storeError(url, "no host");
  if (parsed.port && !(Number(parsed.port) > 0)) throw storeError(url, `bad port "${parsed.port}"`);
  const db = parsed.pathname.replace(/^\//, "");
  if (db && !/^\d+$/.test(db)) throw storeError(url, `the path must be a database number, not "/${db}"`);
  for (const key of parsed.searchParams.keys()) {
    if (key !== "prefix") throw storeError(url, `unknown parameter "${key}" (only "prefix" is understood)`);
  }
  const prefix = opts.prefix ?? parsed.searchParams.get("prefix") ?? "";
  const user = parsed.username ? `${decodeURIComponent(parsed.username)}@` : parsed.password ? ":***@" : "";
  const description = `${parsed.protocol}//${user}${parsed.host}/${db || "0"}${prefix ? `?prefix=${encodeURIComponent(prefix)}` : ""}`;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  const storeOpts = { prefix, redis: opts.redis };
  const [{ createRedisStore, redisOptionsFromUrl }, { bunLink, hasBunRedis, ioredisLink }] = await Promise.all([
    import("./redis.ts"), import("./redis-link.ts")]);

  // ioredis is loaded only when first needed: it costs about 35 ms of CPU to load in the binary.
  const newIoredis = async (): Promise<Redis> => {
    const { Redis } = await import("ioredis");
    return new Redis({ ...redisOptionsFromUrl(parsed, { connectTimeout: connectTimeoutMs, ...opts.redis }), lazyConnect: true });
  };
  /** An ioredis connection that answered a PING, or the reason it did not. */
  const connectedIoredis = async (): Promise<Redis> => {
    const client = await newIoredis();
    let lastError: unknown = null;
    const onError = (err: unknown) => void (lastError = err);
    client.on("error", onError);
    try {
      await withTimeout(client.connect(), connectTimeoutMs + 1000);
      await client.ping();
      return client;
    } catch (err) {
      client.disconnect();
      throw lastError ?? err;
    } finally {
      client.off("error", onError);
    }
  };

  if (opts.useBunClient === false || !hasBunRedis()) {
    let client: Redis;
    try {
      client = opts.lazy ? await newIoredis() : await connectedIoredis();
    } catch (err) {
      throw storeError(url, err instanceof Error ? err.message : String(err), err);
    }
    return createRedisStore({ link: ioredisLink(client), ioredis: async () => client }, description, storeOpts);
  }

  // Bun: KV, pushes and PING on Bun's client; ioredis for the rest, made when first needed. A server Bun's
  // client cannot use (Redis before 6 refuses HELLO 3) gets ioredis for everything.
  let fallback: Redis | null = null;
  const bunUrl = new URL(parsed.href);
  bunUrl.search = "";
  const link = bunLink({
    url: bunUrl.href,
    connectTimeoutMs,
    tls: opts.redis?.tls as BunLinkOptions["tls"],
    fallback: async () => ioredisLink((fallback = await connectedIoredis())),
  });
  const store = createRedisStore({ link, ioredis: async () => fallback ?? (await newIoredis()) }, description, storeOpts);
  if (opts.lazy) return store;
  try {
    await withTimeout(store.ping(), connectTimeoutMs + 1000);
  } catch (err) {
    await store.close().catch(() => {});
    throw storeError(url, err instanceof Error ? err.message : String(err), err);
  }
  return store;
}

export interface DefaultStoreOptions {
  /** @default process.platform */
  platform?: string;
  /** Effective user id; 0 = root. @default process.getuid?.() */
  uid?: number;
  /** @default os.homedir() */
  home?: string;
  /** Create the directory. @default true */
  mkdir?: boolean;
}

/**
 * The per-system default: `sqlite:` + a `store.db` in
 * - root on Linux/BSD: `/var/lib/mtatrack/`; root on macOS: `/Library/Application Support/mtatrack/`;
 * - other users on macOS: `~/Library/Application Support/mtatrack/`;
 * - Windows: `%LOCALAPPDATA%\mtatrack\`;
 * - other users elsewhere: `$XDG_DATA_HOME/mtatrack/` (default `~/.local/share/mtatrack/`).
 * Creates the directory, so the first process to run can create the file.
 */
export function defaultStoreUrl(env: Env, opts: DefaultStoreOptions = {}): string {
  const platform = opts.platform ?? process.platform;
  const uid = opts.uid ?? process.getuid?.();
  const home = opts.home ?? homedir();
  let dir: string;
  if (platform === "win32") {
    dir = win32.join(env.LOCALAPPDATA || win32.join(home, "AppData", "Local"), "mtatrack");
  } else if (platform === "darwin") {
    dir = uid === 0 ? "/Library/Application Support/mtatrack" : join(home, "Library", "Application Support", "mtatrack");
  } else if (uid === 0) {
    dir = "/var/lib/mtatrack";
  } else {
    // XDG says a relative XDG_DATA_HOME is invalid and must be ignored.
    const xdg = env.XDG_DATA_HOME && env.XDG_DATA_HOME.startsWith("/") ? env.XDG_DATA_HOME : join(home, ".local", "share");
    dir = join(xdg, "mtatrack");
  }
  if (opts.mkdir ?? true) mkdirSync(dir, { recursive: true });
  return `sqlite:${platform === "win32" ? win32.join(dir, "store.db") : `${dir}/store.db`}`;
}

/**
 * The store URL for a command: `--store`, else env `MTATRACK_STORE`, else {@link defaultStoreUrl}.
 * Empty values count as absent.
 */
export function storeUrlFromArgs(args: { store?: string | undefined }, env: Env): string {
  return args.store || env.MTATRACK_STORE || defaultStoreUrl(env);
}
