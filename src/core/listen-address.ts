/** @module Go-style listen addresses (`:8888`, `localhost:8888`, `[::1]:8888`) as hostname and port. */

export interface ListenAddress {
  /** "" means every interface, as Go's `:8888`. */
  hostname: string;
  port: number;
}

/**
 * Parses `host:port`, `[ipv6]:port` or `:port`.
 *
 * @throws {RangeError} for anything else, or a port outside 0…65535.
 * @example
 * parseListenAddress(":8888"); // { hostname: "", port: 8888 }
 */
export function parseListenAddress(spec: string): ListenAddress {
  const s = spec.trim();
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new RangeError(`Cannot parse listen address "${spec}": expected host:port, [ipv6]:port or :port`);
  }
  return { hostname: m[1] ?? m[2] ?? "", port };
}
