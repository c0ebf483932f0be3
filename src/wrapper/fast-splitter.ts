/**
 * @module mailsplit's `Splitter` with its line search done by `Buffer#indexOf` instead of a JavaScript loop
 * over every byte (in the wrapper's benchmark newsletter that loop was ~14% of the rewriter's CPU).
 *
 * `_transform` below is @zone-eu/mailsplit 5.4.30's `MessageSplitter#_transform`
 * (`lib/message-splitter.js`, Copyright (c) 2011-2019, 2024 Andris Reinman and Zone Media OÜ, MIT License)
 * with one change, marked "indexOf": the loop that advanced `i` byte by byte to the next LF now jumps there.
 * Everything else, including the per-line `processLine`, is the library's own code. `createSplitter()` uses
 * it only with the version it was copied from (else the library's own `Splitter`);
 * `test/wrapper/fast-splitter.test.ts` compares both splitters' output on the corpus, fuzzed messages and
 * random chunkings, and the rewriter still checks every unrewritten byte against the input.
 */
/* eslint-disable */
import type { TransformCallback } from "node:stream";
import { Splitter } from "@zone-eu/mailsplit";
// a static import, so the compiled binary carries the version too
import mailsplitPackage from "@zone-eu/mailsplit/package.json" with { type: "json" };

type SplitterOptions = ConstructorParameters<typeof Splitter>[0];

/** The MessageSplitter internals `_transform` uses. */
interface SplitterInternals {
    lineLength: number;
    hasFailed: boolean;
    push(chunk: unknown): boolean;
    processLine(line: Buffer | false, final: boolean, next: (err: (Error & { code?: string }) | null | undefined, data: any, flush?: boolean) => void): void;
    appendPendingLine(chunk: Buffer): void;
    enforcePendingLineLimit(): Error | null | undefined | false;
}

/** The version `_transform` was copied from. */
export const FAST_SPLITTER_BASE_VERSION = "5.4.30";
const YIELD_BYTES = 16 * 1024;

/** mailsplit's own helper (same file), copied as is. */
function trimBodyLineEnd(group: any, chunk: Buffer, start: number, end: number): number {
    if (group.type !== 'body' || !group.node || !group.node.parentNode) {
        return end;
    }
    if (end > start && chunk[end - 1] === 0x0a) {
        end--;
        if (end > start && chunk[end - 1] === 0x0d) {
            end--;
        }
    }
    return end;
}

/** `Splitter` with the indexOf line search. */
export class FastSplitter extends Splitter {
    override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
        const self = this as unknown as SplitterInternals;
        // process line by line
        // find next line ending
        let pos = 0;
        let i = 0;
        /** @type {SplitterGroup} */
        let group: any = {
            type: 'none'
        };
        let groupstart = self.lineLength ? -self.lineLength : 0;
        let groupend = 0;
        // input position where the current batch started
        let yieldPos = 0;
        // true while processLine() runs synchronously for the current line
        let inLine = false;
        // set when the current line finished synchronously and the batch may continue in place
        let resumeInLine = false;

        /**
         * Removes a pending line break from body data that belongs to a following boundary.
         *
         * @param {MessageChunk} data Body chunk to adjust in place.
         * @returns {void}
         */
        let checkTrailingLinebreak = (data: any) => {
            if (data.type === 'body' && data.node.parentNode && data.value && data.value.length) {
                if (data.value[data.value.length - 1] === 0x0a) {
                    groupstart--;
                    groupend--;
                    pos--;
                    if (data.value.length > 1 && data.value[data.value.length - 2] === 0x0d) {
                        groupstart--;
                        groupend--;
                        pos--;
                        if (groupstart < 0 && !self.lineLength) {
                            // store only <CR> as <LF> should be on the positive side
                            self.appendPendingLine(Buffer.from([0x0d]));
                        }
                        data.value = data.value.slice(0, data.value.length - 2);
                    } else {
                        data.value = data.value.slice(0, data.value.length - 1);
                    }
                } else if (data.value[data.value.length - 1] === 0x0d) {
                    groupstart--;
                    groupend--;
                    pos--;
                    data.value = data.value.slice(0, data.value.length - 1);
                }
            }
        };

        // assigned below, the line handlers and the batch loop call each other
        /** @type {() => void} */
        let iterateData: () => void;

        /**
         * Continues with the next line. Lines are processed in place and the event loop is
         * only yielded to every YIELD_BYTES of input, a setImmediate per line made line-dense
         * input very slow to split. A line that completed asynchronously always reschedules.
         *
         * @returns {void}
         */
        let nextLine = () => {
            if (inLine && i - yieldPos < YIELD_BYTES) {
                resumeInLine = true;
                return;
            }
            setImmediate(iterateData);
        };

        /**
         * Handles the result of processLine() for the line that ends at `i`. Defined once per
         * write rather than once per line.
         *
         * @type {ProcessLineCallback}
         */
        let onLine = (err: (Error & { code?: string }) | null | undefined, data: any, flush?: boolean) => {
            if (err) {
                self.hasFailed = true;
                return setImmediate(() => callback(err));
            }

            if (!data) {
                return nextLine();
            }

            if (flush) {
                if (group && group.type !== 'none') {
                    // do not include the last line ending for body
                    groupend = trimBodyLineEnd(group, chunk, groupstart, groupend);
                    if (groupstart < groupend) {
                        // re-slice, the value the line was emitted with may
                        // still include the line ending we just trimmed
                        group.value = chunk.slice(groupstart, groupend);
                        if (groupend < i && 'value' in data) {
                            // the trimmed line ending belongs to the boundary line
                            data.value = chunk.slice(groupend, i);
                        }
                    }
                    // the group is pushed even when nothing is left of it, so that a
                    // part whose whole body is a line ending still reports a body
                    self.push(group);
                    group = {
                        type: 'none'
                    };
                    groupstart = groupend = i;
                }
                self.push(data);
                groupend = i;
                return nextLine();
            }

            if (data.type === group.type) {
                // shift slice end position forward
                groupend = i;
            } else {
                // do not include the last line ending for body
                groupend = trimBodyLineEnd(group, chunk, groupstart, groupend);

                if (group.type !== 'none' && group.type !== 'node') {
                    // we have a previous data/body chunk to output
                    if (groupstart !== groupend) {
                        group.value = chunk.slice(groupstart, groupend);
                        if (group.value && group.value.length) {
                            self.push(group);
                            group = {
                                type: 'none'
                            };
                        }
                    }
                }

                if (data.type === 'node') {
                    self.push(data);
                    groupstart = i;
                    groupend = i;
                } else if (groupstart < 0) {
                    groupstart = i;
                    groupend = i;
                    checkTrailingLinebreak(data);
                    if (data.value && data.value.length) {
                        self.push(data);
                    }
                } else {
                    // start new body/data chunk
                    group = data;
                    groupstart = groupend;
                    groupend = i;
                }
            }
            return nextLine();
        };

        /**
         * Iterates the current input chunk line by line and emits parsed groups.
         *
         * @returns {void}
         */
        iterateData = () => {
            yieldPos = i;
            while (i < chunk.length) {
                // find next <LF>: indexOf (native) where the original steps one byte at a time in JS
                if (chunk[i] !== 0x0a) {
                    const nl = chunk.indexOf(0x0a, i);
                    if (nl < 0) {
                        i = chunk.length;
                        break;
                    }
                    i = nl;
                }

                // line end
                let start = Math.max(pos, 0);
                pos = ++i;

                inLine = true;
                resumeInLine = false;
                self.processLine(chunk.slice(start, i), false, onLine);
                inLine = false;
                if (!resumeInLine) {
                    // an error or a scheduled continuation takes over from here
                    return;
                }
            }

            // skip last linebreak for body
            pos = trimBodyLineEnd(group, chunk, groupstart, pos);

            if (group.type !== 'none' && group.type !== 'node' && pos > groupstart) {
                // we have a leftover data/body chunk to push out
                group.value = chunk.slice(groupstart, pos);

                if (group.value && group.value.length) {
                    self.push(group);
                    group = {
                        type: 'none'
                    };
                }
            }

            if (pos < chunk.length) {
                // checkTrailingLinebreak can push pos before the start of this write when a
                // line ending straddles it. A negative start would make slice() count from
                // the END of the buffer and hand over the wrong bytes entirely.
                self.appendPendingLine(chunk.slice(Math.max(pos, 0)));
            }

            let pendingLineError = self.enforcePendingLineLimit();
            if (pendingLineError) {
                self.hasFailed = true;
                return callback(pendingLineError);
            }
            callback();
        };

        setImmediate(iterateData);
    }
}

/** Whether the installed mailsplit is the one `FastSplitter` was copied from. */
export const fastSplitterApplies: boolean =
    mailsplitPackage.version === FAST_SPLITTER_BASE_VERSION &&
    typeof (Splitter.prototype as unknown as Partial<SplitterInternals>).processLine === "function" &&
    typeof (Splitter.prototype as unknown as Partial<SplitterInternals>).enforcePendingLineLimit === "function";

/** A splitter: the fast one when it applies to the installed mailsplit, else mailsplit's own. */
export function createSplitter(options: SplitterOptions, { fast = fastSplitterApplies }: { fast?: boolean } = {}): Splitter {
    return fast ? new FastSplitter(options) : new Splitter(options);
}
