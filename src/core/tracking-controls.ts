/**
 * @module Per-message tracking controls: mtatrack's own `X-Mtatrack-Options` header and SparkPost's
 * `X-MSYS-API` JSON (`options.open_tracking`, `options.click_tracking`, `options.initial_open`). Both are
 * removed before the message is relayed. A control header overrides the operator's default either way,
 * except `trackSigned`, which only the operator sets.
 */

/** The switches a control header may set. */
export interface MessageControls {
  open?: boolean;
  initialOpen?: boolean;
  click?: boolean;
  text?: boolean;
}

/** Header names (lower-case) that carry controls and are removed from relayed mail. */
export const CONTROL_HEADERS: readonly string[] = ["x-mtatrack-options", "x-msys-api"];

const KEYS: Record<string, keyof MessageControls> = {
  open: "open",
  open_tracking: "open",
  initial_open: "initialOpen",
  "initial-open": "initialOpen",
  click: "click",
  click_tracking: "click",
  text: "text",
  text_tracking: "text",
};
const TRUE = /^(1|on|yes|true)$/i;
const FALSE = /^(0|off|no|false)$/i;

/** A parsed header: the controls it sets, and the problems worth a log line. */
export interface ParsedControls {
  controls: MessageControls;
  problems: string[];
}

/**
 * Parses `X-Mtatrack-Options` values: `key=value` pairs separated by `,` or `;` with keys open,
 * initial_open, click, text and values on/off/yes/no/true/false/1/0; the single word `off` (or `none`)
 * turns everything off, `on` (or `all`) everything on.
 * @example parseMtatrackOptions(["click=off, initial_open=on"]) // { controls: { click: false, initialOpen: true }, problems: [] }
 */
export function parseMtatrackOptions(values: readonly string[]): ParsedControls {
  const controls: MessageControls = {};
  const problems: string[] = [];
  for (const value of values) {
    for (const item of value.split(/[,;]/)) {
      const text = item.trim();
      if (!text) continue;
      if (/^(off|none)$/i.test(text)) {
        Object.assign(controls, { open: false, initialOpen: false, click: false, text: false });
        continue;
      }
      if (/^(on|all)$/i.test(text)) {
        Object.assign(controls, { open: true, initialOpen: true, click: true, text: true });
        continue;
      }
      const eq = text.indexOf("=");
      const key = KEYS[(eq < 0 ? text : text.slice(0, eq)).trim().toLowerCase()];
      const raw = eq < 0 ? "on" : text.slice(eq + 1).trim();
      const flag = TRUE.test(raw) ? true : FALSE.test(raw) ? false : undefined;
      if (!key || flag === undefined) {
        problems.push(`Cannot use X-Mtatrack-Options item "${text}": expected open|initial_open|click|text=on|off`);
        continue;
      }
      controls[key] = flag;
    }
  }
  return { controls, problems };
}

/**
 * Reads the tracking options of SparkPost `X-MSYS-API` JSON values; other fields are ignored.
 * @example parseMsysApi(['{"options":{"open_tracking":false}}']) // { controls: { open: false }, problems: [] }
 */
export function parseMsysApi(values: readonly string[]): ParsedControls {
  const controls: MessageControls = {};
  const problems: string[] = [];
  for (const value of values) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      problems.push(`Cannot parse X-MSYS-API header: not JSON`);
      continue;
    }
    const options = (parsed as { options?: unknown } | null)?.options;
    if (typeof options !== "object" || options === null) continue;
    const o = options as Record<string, unknown>;
    if (typeof o.open_tracking === "boolean") controls.open = o.open_tracking;
    if (typeof o.click_tracking === "boolean") controls.click = o.click_tracking;
    if (typeof o.initial_open === "boolean") controls.initialOpen = o.initial_open;
  }
  return { controls, problems };
}
