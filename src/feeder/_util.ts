/** @module Small helpers of the feeder service: error text (and the shared abortable sleep). */
export { sleep } from "../core/timers.ts";

/** One line for a log: the message and, for fetch errors, the cause's code. */
export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = (error as { code?: string }).code ?? cause?.code;
  return code && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
}
