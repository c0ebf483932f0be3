import { expect, test } from "bun:test";
import Redis from "ioredis";
import { describeWithRedis } from "./redis-server.ts";

describeWithRedis("startRedis()", (redis) => {
  test("starts a private server that answers PING, survives kill and restart on the same port", async () => {
    const server = redis();
    const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    expect(await client.ping()).toBe("PONG");
    client.disconnect();
    if (!server.owned) return;
    await server.kill();
    await server.restart();
    const again = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await again.connect();
    expect(await again.ping()).toBe("PONG");
    again.disconnect();
  });
});
