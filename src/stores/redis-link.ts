/**
 * @module The connection the Redis store sends its start-up and hot-path commands on (KV reads and writes,
 * queue pushes, PING): Bun's built-in client where it runs, else ioredis.
 *
 * Why two: the compiled binary spends about 35 ms of CPU loading ioredis, more than the whole rest of an
 * `acct-etl` start, and Bun's client is native code that sends a pipelined SET for less than half of
 * ioredis's CPU (BENCHMARKS.md, acct-etl). ioredis stays the client for everything else (the feeder's
 * claims and acks, stream maintenance) and for every command under Deno and Node; it is loaded only when
 * first needed.
 *
 * Every command sent here has the same reply in RESP2 (ioredis) and RESP3 (Bun): a status, a bulk string,
 * an integer, null, or a flat array of those.
 */
import type { Redis } from "ioredis";

export interface RedisLink {
  /** Sends one command; commands sent without awaiting are pipelined. */
  send(command: string, args: readonly string[]): Promise<unknown>;
  /** Sends the commands as one pipeline; resolves with their replies, or rejects with the first error. */
  sendMany(commands: readonly (readonly [command: string, args: readonly string[]])[]): Promise<unknown[]>;
  /** Connects now (once), or rejects with the reason the server cannot be used. */
  connect(): Promise<void>;
  /** Closes the connection; commands after this reject. */
  close(): Promise<void>;
}

/** A Lua script sent by digest (EVALSHA), and in full only when the server does not hold it yet. */
export interface LuaScript {
  readonly lua: string;
  /** Its SHA-1 in hex, as SCRIPT LOAD names it; computed on first use (WebCrypto: no module to load). */
  sha1(): Promise<string>;
}

/** @example const PUSH = luaScript("return redis.call('XADD', KEYS[1], '*', 'b', ARGV[1])"); */
export function luaScript(lua: string): LuaScript {
  let digest: Promise<string> | null = null;
  return {
    lua,
    sha1: () =>
      (digest ??= crypto.subtle.digest("SHA-1", new TextEncoder().encode(lua)).then((d) =>
        Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join(""))),
  };
}

/**
 * Runs `script` with `keys` and `args`: EVALSHA first, EVAL when the server answers NOSCRIPT (a restart or
 * a SCRIPT FLUSH forgot it; EVAL also caches it again).
 */
export async function evalScript(link: RedisLink, script: LuaScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
  const call = [await script.sha1(), String(keys.length), ...keys, ...args];
  try {
    return await link.send("EVALSHA", call);
  } catch (err) {
    if (!(err instanceof Error && err.message.startsWith("NOSCRIPT"))) throw err;
    call[0] = script.lua;
    return await link.send("EVAL", call);
  }
}

/** The link over an ioredis connection (which connects, queues and reconnects by its own options). */
export function ioredisLink(client: Redis): RedisLink {
  return {
    send: (command, args) => client.call(command, ...args),
    async sendMany(commands) {
      const p = client.pipeline();
      for (const [command, args] of commands) p.call(command, ...args);
      const replies = (await p.exec()) ?? [];
      return replies.map(([err, reply]) => {
        if (err) throw err;
        return reply;
      });
    },
    async connect() {
      if (client.status === "wait" || client.status === "end") await client.connect();
    },
    async close() {
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    },
  };
}

export interface BunLinkOptions {
  /** redis:// or rediss:// with user, password and database; no query. */
  url: string;
  connectTimeoutMs: number;
  /** For rediss://: extra trusted CAs, and whether to check the server's certificate. */
  tls?: { ca?: string | Buffer | (string | Buffer)[]; rejectUnauthorized?: boolean; servername?: string };
  /**
   * Called when the first connection fails: resolves with a link to use instead (ioredis, for a server
   * that does not speak RESP3, i.e. Redis before 6, where Bun's HELLO 3 is refused), or rejects with the
   * reason the server cannot be used (then the next command tries both again).
   */
  fallback: () => Promise<RedisLink>;
}

/** True where Bun's built-in Redis client exists. */
export function hasBunRedis(): boolean {
  return typeof (globalThis as { Bun?: { RedisClient?: unknown } }).Bun?.RedisClient === "function";
}

/**
 * The link over Bun's built-in client. It connects on demand: the first command, and the first after the
 * connection dropped, (re)connects once, bounded by `connectTimeoutMs`; if that fails, the commands waiting
 * on it fail at once (the tracker spools, acct-etl retries within its bound) and the next command tries
 * again. Bun's own reconnect loop is off: after its last attempt it gives up for good.
 */
export function bunLink(opts: BunLinkOptions): RedisLink {
  const { RedisClient } = (globalThis as unknown as { Bun: { RedisClient: typeof Bun.RedisClient } }).Bun;
  const client = new RedisClient(opts.url, {
    connectionTimeout: opts.connectTimeoutMs,
    autoReconnect: false,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    ...(opts.url.startsWith("rediss:") ? { tls: bunTls(opts.tls) } : {}),
  });
  let connected = false;
  let everConnected = false;
  let closed = false;
  let connecting: Promise<void> | null = null;
  let instead: RedisLink | null = null;
  client.onclose = () => {
    connected = false;
  };

  function connect(): Promise<void> {
    if (instead) return instead.connect();
    if (closed) return Promise.reject(new Error("Connection closed"));
    if (connected) return Promise.resolve();
    connecting ??= (async () => {
      try {
        await client.connect();
        connected = everConnected = true;
      } catch (err) {
        if (everConnected) throw err;
        // Never connected: a server that refuses HELLO 3 looks the same as one that is down, so ask ioredis.
        instead = await opts.fallback();
        client.close();
      } finally {
        connecting = null;
      }
    })();
    return connecting;
  }

  const link: RedisLink = {
    send(command, args) {
      if (instead) return instead.send(command, args);
      if (connected) return client.send(command, args as string[]);
      return connect().then(() => (instead ? instead.send(command, args) : client.send(command, args as string[])));
    },
    // Bun pipelines commands sent in the same tick by itself.
    sendMany: (commands) => Promise.all(commands.map(([command, args]) => link.send(command, args))),
    connect,
    async close() {
      closed = true;
      if (instead) return await instead.close();
      client.close();
    },
  };
  return link;
}

function bunTls(tls: BunLinkOptions["tls"]): boolean | Bun.TLSOptions {
  if (!tls) return true;
  return {
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {}),
    ...(tls.servername !== undefined ? { serverName: tls.servername } : {}),
  } as Bun.TLSOptions;
}
