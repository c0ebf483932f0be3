/** @module `mtatrack linktool encode|decode|verify`: tracked links by hand. Logic lives in core/link-tool.ts. */
import { defineCommand } from "citty";
import { CLIError } from "../errors.ts";
import { createLinkCodec, type LinkCodec } from "../core/link-codec.ts";
import { encodeFields, equivalentEncodeCommand, LINKTOOL_DEFAULTS as D, linkJson, splitTrackedUrl, verifyVerdict } from "../core/link-tool.ts";
import { trackedUrl } from "../core/tracked-url.ts";
import { nativePrimitives } from "../runtime/codec-primitives.ts";
import { keysFromArgs, linkKeyArgs } from "./_shared.ts";

const keyArgs = { "link-key": linkKeyArgs["link-key"] };
const urlArg = { url: { type: "positional", description: "A tracked link URL, or just its token", required: true } } as const;

/** v1 is always decoded here: linktool is for inspecting links, old ones included. */
function codecFrom(args: { "link-key"?: string }): LinkCodec {
  return createLinkCodec({ primitives: nativePrimitives, keys: keysFromArgs(args, process.env), acceptV1: true });
}

/** Runs `fn`, turning a RangeError (bad input) into a one-line CLI error. */
function orUsageError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof RangeError) throw new CLIError(error.message, "EARG", { cause: error });
    throw error;
  }
}

const encode = defineCommand({
  meta: { name: "encode", description: "Print a tracked link for the given fields" },
  args: {
    action: { type: "string", description: "open, initial_open or click", default: D.action },
    "message-id": { type: "string", alias: ["message_id"], description: "X-Sp-Message-Id of the message", default: D.messageId },
    "rcpt-to": { type: "string", alias: ["rcpt_to"], description: "Recipient address", default: D.rcptTo },
    "omit-rcpt": { type: "boolean", alias: ["omit_rcpt"], description: "Leave the recipient out of the link (v2)" },
    "target-link-url": { type: "string", alias: ["target_link_url"], description: "Click target, http(s) only (clicks only)", default: D.targetLinkUrl },
    "tracking-url": { type: "string", alias: ["tracking_url"], description: "Base URL of the tracker", default: D.trackingUrl },
    format: { type: "enum", options: ["v1", "v2", "v2-plain"], description: "v2 (signed, default), v2-plain (v2 without the preset dictionary) or v1 (the original's, unsigned)", default: "v2" },
    "link-name": { type: "string", alias: ["link_name"], description: "Name of the link (v2)" },
    "expires-in": { type: "string", alias: ["expires_in"], description: "Expire after 3600, 90m, 12h, 30d or 2w (v2)" },
    "expires-at": { type: "string", alias: ["expires_at"], description: "Expire at these unix seconds (v2)" },
    ...keyArgs,
  },
  run({ args }) {
    const format = args.format === "v1" || args.format === "v2-plain" ? args.format : "v2";
    const codec = codecFrom(args);
    if (format !== "v1" && keysFromArgs(args, process.env).length === 0) throw new CLIError("A v2 link needs a key: pass --link-key kid:secret, set MTATRACK_LINK_KEYS, or use --format v1", "EARG");
    const link = orUsageError(() => {
      const fields = encodeFields({ action: args.action, messageId: args["message-id"], rcptTo: args["rcpt-to"], omitRcpt: Boolean(args["omit-rcpt"]), targetLinkUrl: args["target-link-url"], linkName: args["link-name"], expiresIn: args["expires-in"], expiresAt: args["expires-at"] }, Date.now());
      return trackedUrl(args["tracking-url"], codec.encode(fields, { format }));
    });
    process.stdout.write(`${link}\n`);
  },
});

const decode = defineCommand({
  meta: { name: "decode", description: "Print a link's JSON and the encode command that makes it" },
  args: { ...urlArg, ...keyArgs },
  run({ args }) {
    const { trackingUrl, token } = orUsageError(() => splitTrackedUrl(args.url));
    const result = codecFrom(args).decode(token, { now: Date.now() });
    if (!result.ok) throw new CLIError(`Cannot decode link token: ${result.reason}: ${result.message}`, "EARG");
    process.stdout.write(`JSON: ${linkJson(result.link)}\n${equivalentEncodeCommand(result.link, trackingUrl)}\n`);
  },
});

const verify = defineCommand({
  meta: { name: "verify", description: "Say whether a v2 link verifies, under which key id, and whether it has expired" },
  args: { ...urlArg, ...keyArgs },
  run({ args }) {
    const { token } = orUsageError(() => splitTrackedUrl(args.url));
    const codec = codecFrom(args);
    const result = codec.decode(token, { now: Date.now() });
    // now = 0 is before every expiry, so the second decode shows an expired link's key id and expiry.
    const detail = !result.ok && result.reason === "expired" ? codec.decode(token, { now: 0 }) : null;
    const verdict = verifyVerdict(result, detail);
    process.stdout.write(`${verdict.line}\n`);
    if (!verdict.valid) throw new CLIError(`link does not verify: ${verdict.line}`, "EARG");
  },
});

export default defineCommand({
  meta: { name: "linktool", description: "Encode, decode and verify tracked links" },
  subCommands: { encode, decode, verify },
});
