/**
 * A streaming decoder of the chunked transfer coding (RFC 9112 section 7.1), as a proxy
 * that re-chunks a body sends it: the chunk data is handed on as it arrives (subarrays of
 * the bytes read, nothing copied or buffered but a size or trailer line), extensions and
 * trailers are read and ignored. Bounded: a line (size or trailer, 4 KiB with its CRLF) or the
 * trailers longer than their limits are not a body, whether they came in one read or many; nor is
 * a size of more than 15 hex digits.
 */

const MAX_LINE = 4096;
const MAX_TRAILERS = 16 * 1024;

export type ChunkedState =
  | 'more' // the body goes on: feed the next bytes
  | 'done' // the last chunk and the trailers are read
  | 'bad' // not the chunked coding
  | 'stopped'; // the data callback returned false

/** The part of the chunked body being read (a probe's phases are src/status/probes.ts' `Phase`). */
const enum Part { Size, Data, DataEnd, Trailer, Done }

export class ChunkedDecoder {
  private part = Part.Size;
  private remaining = 0;
  private line = '';
  private trailerBytes = 0;
  /** Bytes of the input after the body's end (set once done; a kept connection must have none). */
  extra = 0;

  /** Feeds the next bytes of the body; `data` gets each piece of chunk data and may stop the decoding. */
  push(chunk: Buffer, data: (piece: Buffer) => boolean): ChunkedState {
    let i = 0;
    while (i < chunk.length) {
      switch (this.part) {
        case Part.Data: {
          const n = Math.min(this.remaining, chunk.length - i);
          if (!data(chunk.subarray(i, i + n))) return 'stopped';
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.part = Part.DataEnd;
          break;
        }
        case Part.Done:
          this.extra += chunk.length - i;
          return 'done';
        default: {
          // a line: the size line, the CRLF after chunk data, or a trailer line
          const lf = chunk.indexOf(0x0a, i);
          const end = lf < 0 ? chunk.length : lf + 1;
          this.line += chunk.toString('latin1', i, end);
          if (this.part === Part.Trailer && (this.trailerBytes += end - i) > MAX_TRAILERS) return 'bad';
          i = end;
          // the limit holds for the line as a whole (CRLF included), however its bytes were cut into reads
          if (this.line.length > MAX_LINE) return 'bad';
          if (lf < 0) continue;
          const line = this.line;
          this.line = '';
          if (!line.endsWith('\r\n')) return 'bad';
          const text = line.slice(0, -2);
          const state = this.endLine(text);
          if (state !== 'more') {
            if (state === 'done') this.extra += chunk.length - i;
            return state;
          }
        }
      }
    }
    return this.part === Part.Done ? 'done' : 'more';
  }

  private endLine(text: string): ChunkedState {
    if (this.part === Part.DataEnd) {
      if (text !== '') return 'bad';
      this.part = Part.Size;
      return 'more';
    }
    if (this.part === Part.Trailer) {
      if (text === '') {
        this.part = Part.Done;
        return 'done';
      }
      return text.indexOf(':') > 0 ? 'more' : 'bad';
    }
    // chunk-size [ chunk-ext ]: hex digits, then optional whitespace and ;name[=value] pieces
    const m = /^([0-9A-Fa-f]{1,15})[ \t]*(;.*)?$/.exec(text);
    if (!m) return 'bad';
    const size = parseInt(m[1] as string, 16);
    if (size === 0) this.part = Part.Trailer;
    else {
      this.remaining = size;
      this.part = Part.Data;
    }
    return 'more';
  }
}
