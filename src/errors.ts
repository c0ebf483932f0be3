/** @module The three domain errors, each with one machine-readable field; everything else uses built-in classes. */

/** A command-line mistake: printed as one line with usage, exit status 1. */
export class CLIError extends Error {
  override name = "CLIError";
  constructor(message: string, readonly code: "EARG" | "E_UNKNOWN_COMMAND" | "E_NO_COMMAND" | "ESTORE" | "ERUNTIME", options?: ErrorOptions) {
    super(message, options);
  }
}

/** An SMTP answer to give the client; `responseCode` follows the smtp-server convention. */
export class SmtpError extends Error {
  override name = "SmtpError";
  constructor(readonly responseCode: number, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** An HTTP answer to give the client, like Hono's HTTPException. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(readonly status: number, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
