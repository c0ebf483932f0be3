/** @module openStore() URL handling, its one-line ESTORE errors, and the default store location. */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLIError } from "../../src/errors.ts";
import { defaultStoreUrl, openStore, redactStoreUrl, storeUrlFromArgs } from "../../src/stores/open-store.ts";
import { freePort } from "../helpers/redis-server.ts";

describe("openStore() errors", () => {
  const cases = [
    { name: "unknown scheme", url: "mysql://db/x", says: "unknown scheme" },
    { name: "sqlite without a path", url: "sqlite:", says: "no path" },
    { name: "sqlite with a bad driver", url: "sqlite:/tmp/x.db?driver=pg", says: "driver must be" },
    { name: "sqlite in a directory that cannot be made", url: "sqlite:/proc/mtatrack/x.db", says: "Cannot open store" },
    { name: "redis without a host", url: "redis://", says: "no host" },
    { name: "redis with a non-numeric db", url: "redis://localhost:6379/zero", says: "database number" },
    { name: "redis with an unknown parameter", url: "redis://localhost:6379/0?bogus=1", says: 'unknown parameter "bogus"' },
  ];
  for (const c of cases) {
    test(`openStore() rejects ${c.name} with a one-line ESTORE error naming the URL`, async () => {
      const err = await openStore(c.url).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(CLIError);
      expect((err as CLIError).code).toBe("ESTORE");
      expect((err as CLIError).message).toContain(`"${c.url}"`);
      expect((err as CLIError).message).toContain(c.says);
      expect((err as CLIError).message).not.toContain("\n");
    });
  }

  test("openStore() of an unreachable Redis fails fast, names the URL and never shows the password", async () => {
    const port = await freePort();
    const t0 = Date.now();
    const err = (await openStore(`redis://:hunter2@127.0.0.1:${port}/0`).catch((e: unknown) => e)) as CLIError;
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(err.code).toBe("ESTORE");
    expect(err.message).toBe(`Cannot open store "redis://:***@127.0.0.1:${port}/0": connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  test("openStore() with lazy: true opens without a server; operations fail until one answers", async () => {
    const port = await freePort();
    const store = await openStore(`redis://127.0.0.1:${port}/0`, { lazy: true });
    try {
      await expect(store.ping()).rejects.toThrow();
    } finally {
      await store.close();
    }
  });

  test("redactStoreUrl() hides passwords with or without a user name", () => {
    expect(redactStoreUrl("redis://:pw@h:1/0")).toBe("redis://:***@h:1/0");
    expect(redactStoreUrl("rediss://user:pw@h:1/0")).toBe("rediss://user:***@h:1/0");
    expect(redactStoreUrl("redis://h:1/0")).toBe("redis://h:1/0");
    expect(redactStoreUrl("sqlite:/a/b.db")).toBe("sqlite:/a/b.db");
  });
});

describe("sqlite URLs", () => {
  test("sqlite:PATH, sqlite:///PATH and percent-encoded paths open the same file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mtatrack-url-"));
    try {
      const a = await openStore(`sqlite:${dir}/my store.db`);
      await a.kv.setMany([["k", "v"]], { ttlSeconds: 0 });
      await a.close();
      const b = await openStore(`sqlite://${dir}/my%20store.db?synchronous=full&busy_timeout=2000`);
      expect(await b.kv.getMany(["k"])).toEqual(["v"]);
      expect(b.description).toBe(`sqlite:${dir}/my store.db`);
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("defaultStoreUrl()", () => {
  const cases = [
    { name: "root on Linux", platform: "linux", uid: 0, env: {}, want: "sqlite:/var/lib/mtatrack/store.db" },
    { name: "root on FreeBSD", platform: "freebsd", uid: 0, env: {}, want: "sqlite:/var/lib/mtatrack/store.db" },
    { name: "a user on Linux", platform: "linux", uid: 1000, env: {}, want: "sqlite:/home/u/.local/share/mtatrack/store.db" },
    { name: "a user with XDG_DATA_HOME", platform: "linux", uid: 1000, env: { XDG_DATA_HOME: "/data" }, want: "sqlite:/data/mtatrack/store.db" },
    { name: "a relative XDG_DATA_HOME (ignored)", platform: "linux", uid: 1000, env: { XDG_DATA_HOME: "rel" }, want: "sqlite:/home/u/.local/share/mtatrack/store.db" },
    { name: "a user on macOS", platform: "darwin", uid: 501, env: {}, want: "sqlite:/home/u/Library/Application Support/mtatrack/store.db" },
    { name: "root on macOS", platform: "darwin", uid: 0, env: {}, want: "sqlite:/Library/Application Support/mtatrack/store.db" },
    { name: "Windows", platform: "win32", uid: undefined, env: { LOCALAPPDATA: "C:\\Users\\u\\AppData\\Local" }, want: "sqlite:C:\\Users\\u\\AppData\\Local\\mtatrack\\store.db" },
  ];
  for (const c of cases) {
    test(`defaultStoreUrl() for ${c.name}`, () => {
      expect(defaultStoreUrl(c.env, { platform: c.platform, uid: c.uid, home: "/home/u", mkdir: false })).toBe(c.want);
    });
  }

  test("defaultStoreUrl() creates the directory", () => {
    const home = mkdtempSync(join(tmpdir(), "mtatrack-home-"));
    try {
      const url = defaultStoreUrl({}, { platform: "linux", uid: 1000, home });
      expect(url).toBe(`sqlite:${home}/.local/share/mtatrack/store.db`);
      expect(Bun.file(join(home, ".local/share/mtatrack")).size).toBeGreaterThanOrEqual(0);
      expect(require("node:fs").statSync(join(home, ".local/share/mtatrack")).isDirectory()).toBe(true);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test("storeUrlFromArgs(): --store beats MTATRACK_STORE, which beats the default; empty counts as absent", () => {
    expect(storeUrlFromArgs({ store: "redis://a" }, { MTATRACK_STORE: "redis://b" })).toBe("redis://a");
    expect(storeUrlFromArgs({ store: "" }, { MTATRACK_STORE: "redis://b" })).toBe("redis://b");
    const home = mkdtempSync(join(tmpdir(), "mtatrack-home-"));
    try {
      expect(storeUrlFromArgs({}, { MTATRACK_STORE: "", XDG_DATA_HOME: home })).toMatch(/^sqlite:/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
