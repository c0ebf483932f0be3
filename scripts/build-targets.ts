/** @module The release targets and where each binary lands in dist/, shared by the build script and the e2e tests. */

/** A Bun compile target and its binary's file name. */
export interface BuildTarget { readonly target: string; readonly file: string }

/** The release matrix (DESIGN.md "Runtimes"). */
export const TARGETS: readonly BuildTarget[] = [
  "bun-linux-x64",
  "bun-linux-arm64",
  "bun-darwin-x64",
  "bun-darwin-arm64",
  "bun-windows-x64",
  "bun-freebsd-x64",
].map((target) => ({ target, file: binaryName(target) }));

/** `bun-linux-x64` → `mtatrack-linux-x64`; Windows gets `.exe`. */
export function binaryName(target: string): string {
  const name = `mtatrack-${target.replace(/^bun-/, "")}`;
  return target.includes("windows") ? `${name}.exe` : name;
}

/**
 * The target for the machine running this, e.g. `bun-linux-x64`.
 * @throws {RangeError} on a platform outside the matrix.
 */
export function hostTarget(platform: string = process.platform, arch: string = process.arch): BuildTarget {
  const os = platform === "win32" ? "windows" : platform;
  const target = `bun-${os}-${arch}`;
  const found = TARGETS.find((t) => t.target === target);
  if (!found) throw new RangeError(`No release target for ${platform}/${arch}; targets: ${TARGETS.map((t) => t.target).join(", ")}`);
  return found;
}
