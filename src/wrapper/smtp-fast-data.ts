/**
 * @module A faster drop-in for smtp-server's DATA-mode scanner (`SMTPStream#_feedDataStream`, 3.21.x).
 *
 * smtp-server looks for the end of the message (`CRLF.CRLF`) and for stuffed dots (`LF..`) with a JavaScript
 * loop over every byte of the message; in the wrapper's relay benchmark that loop was about a fifth of the
 * proxy's CPU per 60 KB message. This version finds the candidates (`LF.`) with `Buffer#indexOf`, which is
 * native, and then takes exactly the branches the original takes, in the same order, with the same state
 * (`_lastBytes`, `_atDataStart`, byte counts). `test/wrapper/smtp-fast-data.test.ts` feeds both the same
 * chunkings and compares every output byte and every event.
 *
 * It is installed per parser (never on the prototype) and only when the parser has the shape this was
 * written against; otherwise smtp-server's own code runs.
 */

/** The SMTPStream internals the scanner uses (smtp-server 3.21, `dist/esm/smtp-stream.js`). */
interface SmtpStreamInternals {
  _lastBytes: Buffer | false;
  _atDataStart: boolean;
  _dataStream: (NodeJS.WritableStream & { writable: boolean; destroyed: boolean; write(b: Buffer): boolean }) | null;
  _countDataBytes(len: number): void;
  _endDataMode(chunk: Buffer | false, remainder: Buffer, callback: (err?: Error) => void): void;
  _feedDataStream(chunk: Buffer, done: (err?: Error) => void): void;
}

const END_SEQUENCE = Buffer.from("\r\n.\r\n");
const LF_DOT = Buffer.from("\n.");
const DOT_CRLF = Buffer.from(".\r\n");
const INSTALLED = Symbol("mtatrack.fastFeed");

/** Replaces `parser._feedDataStream` with the indexOf version when the parser looks like smtp-server 3.21's. */
export function installFastDataScanner(parser: unknown): boolean {
  const p = parser as Partial<SmtpStreamInternals> & { [INSTALLED]?: true };
  if (!p || p[INSTALLED]) return Boolean(p?.[INSTALLED]);
  const shaped =
    typeof p._feedDataStream === "function" && typeof p._endDataMode === "function" && typeof p._countDataBytes === "function" && "_lastBytes" in p && "_atDataStart" in p;
  if (!shaped) return false;
  (p as SmtpStreamInternals)._feedDataStream = fastFeedDataStream;
  p[INSTALLED] = true;
  return true;
}

/** Same contract and branches as SMTPStream#_feedDataStream. */
function fastFeedDataStream(this: SmtpStreamInternals, chunk: Buffer, done: (err?: Error) => void): void {
  const dataStream = this._dataStream!;
  if (this._lastBytes && this._lastBytes.length) {
    chunk = Buffer.concat([this._lastBytes, chunk], this._lastBytes.length + chunk.length);
    this._lastBytes = false;
  }
  let len = chunk.length;
  if (this._atDataStart && len >= 3 && chunk.compare(DOT_CRLF, 0, 3, 0, 3) === 0) {
    this._endDataMode(false, chunk.subarray(3), done);
    return;
  }
  if (this._atDataStart && len >= 2 && chunk[0] === 0x2e && chunk[1] === 0x2e) {
    chunk = chunk.subarray(1);
    len--;
    this._atDataStart = false;
  }
  // The original loop checks i in [2, len - 3] for chunk[i] === "." after "\n"; LF_DOT at p means i = p + 1.
  let p = chunk.indexOf(LF_DOT, 1);
  while (p >= 0 && p + 1 < len - 2) {
    const i = p + 1;
    if (chunk.compare(END_SEQUENCE, 0, 5, i - 2, i + 3) === 0) {
      const buf = chunk.subarray(0, i);
      this._countDataBytes(buf.length);
      this._endDataMode(buf, chunk.subarray(i + 3), done);
      return;
    }
    if (chunk[i + 1] === 0x2e) {
      const buf = chunk.subarray(0, i);
      this._lastBytes = false;
      this._countDataBytes(buf.length);
      if (dataStream.writable) dataStream.write(buf);
      const rest = chunk.subarray(i + 1);
      setImmediate(() => this._feedDataStream(rest, done));
      return;
    }
    p = chunk.indexOf(LF_DOT, p + 1);
  }
  this._lastBytes = chunk.length < 4 ? chunk : chunk.subarray(chunk.length - 4);
  if (this._lastBytes.length < chunk.length) {
    const buf = chunk.subarray(0, chunk.length - this._lastBytes.length);
    this._countDataBytes(buf.length);
    if (dataStream.writable) {
      const handled = dataStream.write(buf);
      if (!handled && !dataStream.destroyed) {
        const onDrain = () => {
          dataStream.removeListener("drain", onDrain);
          dataStream.removeListener("close", onDrain);
          done();
        };
        dataStream.once("drain", onDrain);
        dataStream.once("close", onDrain);
      } else {
        return done();
      }
    } else {
      return done();
    }
  } else {
    return done();
  }
}
