/** @module The flags of `mtatrack wrapper` (kept apart so the command file stays thin and `serve` can take them). */
import type { ArgsDef } from "citty";
import { linkKeyArgs, logArgs } from "./_shared.ts";

const str = (description: string, valueHint: string, alias?: string) => ({ type: "string", description, valueHint, ...(alias ? { alias: [alias] } : {}) }) as const;
const bool = (description: string, alias?: string) => ({ type: "boolean", description, ...(alias ? { alias: [alias] } : {}) }) as const;

export const wrapperArgs = {
  "in-hostport": str("Listen on host:port (default localhost:587)", "host:port", "in_hostport"),
  "out-hostport": str("Upstream MTA host:port (default smtp.sparkpostmail.com:587)", "host:port", "out_hostport"),
  "tls-hostport": str("Also listen with implicit TLS (SMTPS, e.g. :465); needs --tls-cert", "host:port"),
  "tracking-url": str('Tracking base URL (default http://localhost:8888; env MTATRACK_TRACKING_URL); "" relays without any rewriting', "url", "tracking_url"),
  "track-open": bool("Open pixel before </body> (default true; --track-open=false or --no-track-open to disable)", "track_open"),
  "track-initial-open": bool("initial_open pixel after <body> (default false)", "track_initial_open"),
  "track-click": bool("Wrap <a href> in tracked links (default false)", "track_click"),
  "track-text": bool("Also track links in text/plain parts (default false)"),
  "track-signed": bool("Rewrite DKIM-signed messages too, breaking the signature (default false)"),
  "link-format": str("Token format of new links: v2 (signed, default), v2-plain (v2 without the preset dictionary, for trackers older than it) or v1 (the original's)", "v1|v2|v2-plain"),
  "tls-cert": str("PEM certificate chain: offer STARTTLS downstream (with --tls-key; reloaded on SIGHUP)", "path", "certfile"),
  "tls-key": str("PEM private key for --tls-cert", "path", "privkeyfile"),
  "upstream-insecure": bool("Do not verify the upstream MTA's certificate", "insecure_skip_verify"),
  "upstream-ca": str("Extra CA certificate(s) (PEM) to trust for the upstream MTA", "path"),
  "upstream-tls": str("auto (STARTTLS when offered; implicit TLS on port 465), implicit, starttls (required), none", "mode"),
  "upstream-auth-file": str("user:password the wrapper itself logs in to the MTA with", "path"),
  auth: str("forward (client AUTH goes to the MTA, default), local (checked against --auth-file), none", "mode"),
  "auth-file": str("user:password lines for --auth local", "path"),
  "rcpt-policy": str("split: one recipient per tracked message, 452 4.5.3 to the next (default); shared: one copy, no recipient in links", "policy"),
  hostname: str("Name in the greeting (default: the certificate's CN, else the host name)", "name"),
  "ehlo-name": str("Name the wrapper sends in EHLO upstream (default: --hostname)", "name"),
  "max-size": str("Message size limit when the MTA announces none or a larger one (default 64M)", "bytes"),
  "max-clients": str("Concurrent client connections (default 1000)", "n"),
  "idle-timeout": str("Client inactivity limit, between commands and within DATA (default 60s)", "duration"),
  "command-timeout": str("Wait for an upstream reply (default 300s)", "duration"),
  "data-timeout": str("Wait for the upstream reply to the final dot (default 600s)", "duration"),
  "drain-timeout": str("On SIGTERM, let transactions in flight finish for this long (default 30s)", "duration"),
  "metrics-listen": str("Serve Prometheus /metrics on host:port", "host:port"),
  "reuse-port": bool("Share the SMTP ports with other wrapper processes (SO_REUSEPORT): one process per core"),
  verbose: bool("Log the SMTP conversation on both legs (AUTH secrets masked)"),
  "downstream-debug": str("File receiving the client-side conversation and DATA", "path", "downstream_debug"),
  "upstream-data-debug": str("File receiving each message as sent upstream", "path", "upstream_data_debug"),
  ...linkKeyArgs,
  ...logArgs,
} as const satisfies ArgsDef;
