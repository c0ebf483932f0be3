/** @module `mtatrack wrapper`: the SMTP proxy in front of the MTA. Thin: flags → config → the wrapper part (_wrapper-start.ts) → signals → drain. */
import { defineCommand } from "citty";
import { CLIError } from "../errors.ts";
import { waitForSignal } from "../runtime/signals.ts";
import { resolveWrapperConfig } from "../wrapper/smtp-config.ts";
import { keysFromArgs, loggerFromArgs } from "./_shared.ts";
import { wrapperArgs } from "./_wrapper-args.ts";

export default defineCommand({
  meta: { name: "wrapper", description: "SMTP proxy that accepts incoming messages from your downstream client, applies engagement-tracking (wrapping links and adding open tracking pixels) and relays on to an upstream server" },
  args: wrapperArgs,
  async run({ args }) {
    const config = (() => {
      try {
        return resolveWrapperConfig(args, process.env);
      } catch (err) {
        throw new CLIError((err as Error).message, "EARG", { cause: err });
      }
    })();
    const log = loggerFromArgs(args, process.env, "wrapper");
    // A plain relay signs nothing, so its keys are not even parsed.
    const keys = config.trackingUrl === "" ? [] : keysFromArgs(args, process.env);
    const { startWrapperPart } = await import("./_wrapper-start.ts");
    const proxy = await startWrapperPart(config, { keys, log });
    log.info(`Starting smtp proxy service on port ${proxy.port}${proxy.tlsPort ? ` and ${proxy.tlsPort} (implicit TLS)` : ""} as ${proxy.name}; upstream ${config.upstream.host}:${config.upstream.port}`);
    log.info(`Engagement tracking URL: ${config.trackingUrl || '"" (plain relay)'}, track_open ${config.tracking.trackOpen}, track_initial_open ${config.tracking.trackInitialOpen}, track_click ${config.tracking.trackClick}`);
    if (!config.tls) log.info("No --tls-cert/--tls-key: the proxy will NOT offer STARTTLS to clients");
    if (proxy.metricsUrl) log.info(`Metrics on ${proxy.metricsUrl}/metrics`);
    for (;;) {
      const signal = await waitForSignal(["SIGINT", "SIGTERM", "SIGHUP"]);
      if (signal !== "SIGHUP") break;
      proxy.reloadTls();
    }
    log.info(`Stopping: transactions in flight get up to ${config.drainTimeoutMs} ms`);
    await proxy.close();
    log.info("Stopped");
  },
});

