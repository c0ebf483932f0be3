import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };

// The same linktool cases through every way mtatrack runs: bun on the source, deno on the source, and the
// compiled host binary (dist/, from `npm run build:single`). MTATRACK_REQUIRE_BINARY=1 (CI) makes a missing
// binary a failure instead of a skip.
import { binaryPath, root, runners } from "./_runners.ts";

const SECRET1 = "e2e-secret-number-one-0123";
const SECRET0 = "e2e-secret-number-zero-456";
const KEY1 = `k1:${SECRET1}`;
const KEY0 = `k0:${SECRET0}`;
const README_URL = "https://my-tracking-domain.com/eJxUzLEOQiEMRuF3-WciGAaTTr4JwbaIUSKBMhnf_Ybxnv18P2Q2EBgOltb4gFDN-iTvraotfs8Lfxsc2nyml4AQdqJZHqqlhCDXGG9wGNw3VYbK_fT-jwAAAP__f2Mg1g==";
const GO_OPEN = "http://localhost:8888/eJyqVkpMLlGyUspX0lEqiS8tylGyUlLSUcotTo_PTFGyUjIwMDAwNDI2MTUzt7BMTEpOSU0zUNJRKkouAOlKzKt0SK1IzC3ISdVLzs9VqgUEAAD__30wF4E=";

interface Run { code: number; stdout: string; stderr: string }

function runWith(argv: string[], args: string[], env: Record<string, string> = {}): Run {
  const { MTATRACK_LINK_KEYS: _drop, ...inherited } = process.env;
  const proc = Bun.spawnSync([...argv, ...args], { cwd: root, env: { ...inherited, NO_COLOR: "1", ...env }, stdout: "pipe", stderr: "pipe" });
  const run = { code: proc.exitCode ?? -1, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
  // Secrets are never printed, whatever the command.
  for (const secret of [SECRET1, SECRET0]) expect(run.stdout + run.stderr).not.toContain(secret);
  return run;
}

const oneLine = (text: string) => text.trim().split("\n").length === 1;

const cases: { name: string; args: string[]; env?: Record<string, string>; code: number; stdout?: string | RegExp; stderr?: RegExp; stderrOneLine?: boolean }[] = [
  { name: "--version prints the package version", args: ["--version"], code: 0, stdout: `${pkg.version}\n` },
  { name: "--help prints usage listing linktool", args: ["--help"], code: 0, stdout: /linktool/ },
  { name: "no subcommand prints usage on stderr and exits 1", args: [], code: 1, stdout: "", stderr: /USAGE[\s\S]*No command specified/ },
  { name: "an unknown subcommand prints usage on stderr and exits 1", args: ["frobnicate"], code: 1, stdout: "", stderr: /USAGE[\s\S]*Unknown command frobnicate/ },
  { name: "linktool without an action exits 1", args: ["linktool"], code: 1, stdout: "", stderr: /No command specified/ },
  {
    name: "decode prints the original README vector's JSON and equivalent command",
    args: ["linktool", "decode", README_URL], code: 0,
    stdout: 'JSON: {"act":"c","t_url":"https://thetucks.com","msg_id":"00000deadbeeff00d1337","rcpt":"fred@thetucks.com"}\nEquivalent to encode -tracking_url https://my-tracking-domain.com -rcpt_to fred@thetucks.com -action click -target_link_url https://thetucks.com -message_id 00000deadbeeff00d1337 -format v1\n',
  },
  {
    name: "decode reads the Go default open vector",
    args: ["linktool", "decode", GO_OPEN], code: 0,
    stdout: 'JSON: {"act":"o","t_url":"","msg_id":"0000123456789abcdef0","rcpt":"any@example.com"}\nEquivalent to encode -tracking_url http://localhost:8888 -rcpt_to any@example.com -action open -message_id 0000123456789abcdef0 -format v1\n',
  },
  { name: "decode of garbage is one line on stderr, exit 1", args: ["linktool", "decode", "http://localhost:8888/notatoken"], code: 1, stdout: "", stderr: /Cannot decode link token: malformed/, stderrOneLine: true },
  { name: "decode without a URL exits 1", args: ["linktool", "decode"], code: 1, stdout: "", stderr: /URL/ },
  { name: "encode v2 without a key says how to give one", args: ["linktool", "encode"], code: 1, stdout: "", stderr: /needs a key: pass --link-key/, stderrOneLine: true },
  { name: "encode with a bad action is one line, exit 1", args: ["linktool", "encode", "-action", "bounce", "--format", "v1"], code: 1, stdout: "", stderr: /Invalid action "bounce"/, stderrOneLine: true },
  { name: "encode with a javascript: target is one line, exit 1", args: ["linktool", "encode", "-action", "click", "-target_link_url", "javascript:alert(1)", "--link-key", KEY1], code: 1, stdout: "", stderr: /not an http\(s\) URL/, stderrOneLine: true },
  { name: "encode with a short secret names the key, not the secret", args: ["linktool", "encode", "--link-key", "k1:tiny"], code: 1, stdout: "", stderr: /Link key "k1": secret must be at least 16 bytes/, stderrOneLine: true },
  // acct-etl ends with process.exit (src/main.ts): its usage still arrives whole, and its exit status is kept.
  { name: "acct-etl --help prints its whole usage on stdout", args: ["acct-etl", "--help"], code: 0, stdout: /USAGE[\s\S]*--infile[\s\S]*--store-retry[\s\S]*--logfile/ },
  { name: "acct-etl with an unreadable --infile is one line, exit 1", args: ["acct-etl", "--store", "sqlite::memory:", "--infile", "/nonexistent/acct.csv"], code: 1, stdout: "", stderr: /Cannot read --infile "\/nonexistent\/acct.csv"/, stderrOneLine: true },
  { name: "verify of a v1 link says it is unsigned, exit 1", args: ["linktool", "verify", GO_OPEN], code: 1, stdout: "invalid: v1 link, which carries no signature\n" },
];

for (const runner of runners) {
  // Skipped only where deno or the built binary is absent; MTATRACK_REQUIRE_BINARY=1 (CI) makes a missing binary fail.
  describe.skipIf(runner.skip)(`mtatrack via ${runner.name}`, () => {
    const run = (args: string[], env?: Record<string, string>) => runWith(runner.argv, args, env);

    if (runner.binary) {
      test("the binary exists (build it with npm run build:single)", () => {
        expect(existsSync(binaryPath)).toBe(true);
      });
    }

    test.each(cases)("$name", ({ args, env, code, stdout, stderr, stderrOneLine }) => {
      const result = run(args, env);
      expect(result.code).toBe(code);
      if (typeof stdout === "string") expect(result.stdout).toBe(stdout);
      else if (stdout) expect(result.stdout).toMatch(stdout);
      if (stderr) expect(result.stderr).toMatch(stderr);
      if (stderrOneLine) expect(oneLine(result.stderr)).toBe(true);
    });

    test("encode -format v1 with the original's flags round-trips through decode", () => {
      const encoded = run(["linktool", "encode", "-format", "v1", "-action", "click", "-message_id", "00000deadbeeff00d1337", "-rcpt_to", "fred@thetucks.com", "-target_link_url", "https://thetucks.com", "-tracking_url", "https://my-tracking-domain.com"]);
      expect(encoded.code).toBe(0);
      expect(encoded.stdout).toMatch(/^https:\/\/my-tracking-domain\.com\/eJ[A-Za-z0-9_-]+=*\n$/);
      const decoded = run(["linktool", "decode", encoded.stdout.trim()]);
      expect(decoded.stdout).toBe(run(["linktool", "decode", README_URL]).stdout);
    });

    test("kebab-case, underscore and --flag=value spellings make the same link", () => {
      const kebab = run(["linktool", "encode", "--format", "v1", "--action", "initial_open", "--message-id", "m-1", "--rcpt-to", "a@b.c", "--tracking-url", "https://t.example/p"]);
      const under = run(["linktool", "encode", "-format=v1", "-action=initial_open", "--message_id", "m-1", "-rcpt_to=a@b.c", "-tracking_url", "https://t.example/p"]);
      expect(kebab.code).toBe(0);
      expect(under.stdout).toBe(kebab.stdout);
      expect(kebab.stdout.startsWith("https://t.example/p/eJ")).toBe(true);
    });

    test("v2: signed with the first of two --link-key flags, verified and decoded with keys from MTATRACK_LINK_KEYS", () => {
      const encoded = run(["linktool", "encode", "-action", "click", "-target_link_url", "https://example.com/?a=1&b=2", "--omit-rcpt", "--link-name", "cta", "--expires-in", "30d", "--link-key", KEY1, "--link-key", KEY0]);
      expect(encoded.code).toBe(0);
      const url = encoded.stdout.trim();
      expect(url).toMatch(/^http:\/\/localhost:8888\/2\.k1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
      const env = { MTATRACK_LINK_KEYS: `${KEY0},${KEY1}` };
      const verified = run(["linktool", "verify", url], env);
      expect(verified.code).toBe(0);
      expect(verified.stdout).toMatch(/^valid: key id k1, click, not expired \(expires \d{4}-\d\d-\d\dT/);
      const decoded = run(["linktool", "decode", url], env);
      expect(decoded.code).toBe(0);
      expect(decoded.stdout).toMatch(/^JSON: \{"act":"c","t_url":"https:\/\/example.com\/\?a=1&b=2","msg_id":"0000123456789abcdef0","rcpt":null,"link_name":"cta","expires_at":\d+,"kid":"k1"\}\n/);
      expect(decoded.stdout).toContain("-omit_rcpt -action click -target_link_url 'https://example.com/?a=1&b=2' -message_id 0000123456789abcdef0 -format v2 -link_name cta -expires_at ");
    });

    test("encode --format v2-plain and v2 (compact) make links that verify and decode alike", () => {
      const fields = ["-action", "click", "-rcpt_to", "jane@gmail.com", "-target_link_url", "https://www.shop.example/sale?utm_source=newsletter&utm_medium=email", "--link-key", KEY1];
      const compact = run(["linktool", "encode", ...fields]).stdout.trim();
      const plain = run(["linktool", "encode", ...fields, "--format", "v2-plain"]).stdout.trim();
      expect(plain).toMatch(/^http:\/\/localhost:8888\/2\.k1\.eJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
      // Deno's zlib cannot write the preset dictionary: there "v2" comes out plain (docs/links.md).
      if (runner.name.startsWith("deno")) expect(compact).toBe(plain);
      else expect(compact.length).toBeLessThan(plain.length - 40);
      for (const url of [compact, plain]) expect(run(["linktool", "verify", url, "--link-key", KEY1]).stdout).toBe("valid: key id k1, click, never expires\n");
      expect(run(["linktool", "decode", compact, "--link-key", KEY1]).stdout).toBe(run(["linktool", "decode", plain, "--link-key", KEY1]).stdout);
    });

    test("verify refuses a tampered token, a token under an unknown key, and says when a link has expired", () => {
      const url = run(["linktool", "encode", "--link-key", KEY1]).stdout.trim();
      const flipped = url.slice(0, -1) + (url.endsWith("A") ? "B" : "A");
      const tampered = run(["linktool", "verify", flipped, "--link-key", KEY1]);
      expect(tampered.code).toBe(1);
      expect(tampered.stdout).toBe("invalid: bad-signature: signature does not match\n");
      expect(oneLine(tampered.stderr)).toBe(true);
      const unknown = run(["linktool", "verify", url, "--link-key", KEY0]);
      expect(unknown.stdout).toBe('invalid: unknown-key: no link key with id "k1"\n');
      const old = run(["linktool", "encode", "--link-key", KEY1, "--expires-at", "1000"]).stdout.trim();
      const expired = run(["linktool", "verify", old, "--link-key", KEY1]);
      expect(expired.code).toBe(1);
      expect(expired.stdout).toBe("expired: key id k1, signature valid, expired 1970-01-01T00:16:40.000Z\n");
    });

    if (!runner.binary) {
      test("the inflate cap stops a 256 MiB zlib bomb early on this runtime", () => {
        const script = runner.argv.slice(0, -1).concat("test/e2e/fixtures/inflate-bomb.ts");
        const proc = Bun.spawnSync(script, { cwd: root, stdout: "pipe", stderr: "pipe" });
        const report = JSON.parse(proc.stdout.toString()) as { error: string; ms: number; rssGrowthMB: number };
        expect(report.error).toBe("RangeError");
        expect(report.ms).toBeLessThan(1000);
        expect(report.rssGrowthMB).toBeLessThan(64);
      });
    }
  });
}
