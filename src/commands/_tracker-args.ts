/** @module The flags of `mtatrack tracker` (kept apart so the command file stays thin). */
import type { ArgsDef } from "citty";
import { linkKeyArgs, logArgs, storeArgs } from "./_shared.ts";

/** The original's flag, in its three spellings (`-in_hostport` becomes `--in_hostport` in main.ts). */
const inHostport = { type: "string", description: "Listen on host:port; :8888 is every interface (default :8888)", valueHint: "host:port" } as const;

export const trackerArgs = {
  "in-hostport": { ...inHostport, alias: ["in_hostport"] },
  "trust-proxy": { type: "string", alias: ["trust_proxy"], description: "Believe X-Real-IP/Forwarded/X-Forwarded-For only from these CIDRs (or loopback, private, linklocal; comma-separated; default loopback; env MTATRACK_TRUST_PROXY)", valueHint: "cidrs" },
  "ip-truncate": { type: "string", alias: ["ip_truncate"], description: "Store client addresses truncated: none, 24, 24/48 (IPv4/IPv6 prefix) (default none)", valueHint: "bits" },
  "server-header": { type: "string", alias: ["server_header"], description: "Server header of every response (default msys-http, as SparkPost and the original)", valueHint: "text" },
  "metrics-listen": { type: "string", alias: ["metrics_listen"], description: "Serve /metrics and /healthz on this host:port only (default: on the main listener)", valueHint: "host:port" },
  spool: { type: "string", description: "Local spool file for events while the store is down (default: tracker-<port>.spool beside the default store; env MTATRACK_SPOOL)", valueHint: "path" },
  "spool-max": { type: "string", alias: ["spool_max"], description: "Cap on unreplayed spool bytes, e.g. 512M (default 512M)", valueHint: "bytes" },
  "store-timeout": { type: "string", alias: ["store_timeout"], description: "Store calls slower than this fail over to the spool, e.g. 1000ms (default 1s)", valueHint: "duration" },
  "fast-click": { type: "string", alias: ["fast_click"], description: "A click this soon after the message's first event is flagged machine (default 2s; 0 disables)", valueHint: "duration" },
  "machine-ranges": { type: "string", alias: ["machine_ranges"], description: "Extra address list REASON=FILE (one CIDR per line or Apple's egress-ip-ranges.csv), e.g. apple-mpp=egress.csv; repeatable", valueHint: "reason=file" },
  "tls-cert": { type: "string", alias: ["tls_cert"], description: "PEM certificate chain: serve HTTPS natively (with --tls-key)", valueHint: "path" },
  "tls-key": { type: "string", alias: ["tls_key"], description: "PEM private key for --tls-cert", valueHint: "path" },
  "http-server": { type: "string", alias: ["http_server"], description: "HTTP server: mtatrack (its own HTTP/1.1 server, faster) or runtime (Bun.serve; Deno always uses Deno.serve) (default mtatrack)", valueHint: "name" },
  workers: { type: "string", description: "Worker processes sharing the port, or auto (one per CPU); each has its own spool (<spool>.w<N>) and metrics port (--metrics-listen port + N - 1) (default 1; Bun and the binary only)", valueHint: "n" },
  ...linkKeyArgs,
  ...storeArgs,
  ...logArgs,
} as const satisfies ArgsDef;
