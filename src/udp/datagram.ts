/**
 * The heartbeat echo datagram (UDP, on the HTTP listener's port number): one fixed layout for
 * the prober's questions and the responder's answers, so an answer is the question's own bytes,
 * rewritten in place, and never larger than it.
 *
 * | offset | bytes | field |
 * | --- | --- | --- |
 * | 0 | 4 | magic `HBUE` |
 * | 4 | 1 | version, 1 |
 * | 5 | 1 | type: 1 echo, 2 echo answer, 3 count, 4 count answer |
 * | 6 | 2 | zero |
 * | 8 | 8 | probe id: random, one per prober, peer and round |
 * | 16 | 4 | sequence number (echo), 0 (count) |
 * | 20 | 4 | answers: echo datagrams of this probe id the responder has received so far (questions: 0) |
 * | 24 | 4 | answers: the highest sequence number among them (questions: 0) |
 * | 28 | 4 | zero |
 * | 32 | 8 | the prober's send time (its own monotonic clock, ms, float64), echoed back |
 *
 * Every multi-byte field is big-endian. 40 bytes: 68 on the wire over IPv4, 88 over IPv6.
 */

export const DATAGRAM_BYTES = 40;
export const MAGIC = 0x48425545; // "HBUE"
export const VERSION = 1;

export const TYPE = { echo: 1, echoAnswer: 2, count: 3, countAnswer: 4 } as const;

export const OFFSET = { magic: 0, version: 4, type: 5, id: 8, seq: 16, received: 20, highest: 24, sentAt: 32 } as const;

/** The type byte of a well-formed question (echo or count), else 0: the responder answers nothing else. */
export function questionType(b: Buffer): number {
  if (b.length !== DATAGRAM_BYTES || b.readUInt32BE(OFFSET.magic) !== MAGIC || b[OFFSET.version] !== VERSION) return 0;
  const type = b[OFFSET.type] as number;
  if (type !== TYPE.echo && type !== TYPE.count) return 0;
  // the zero fields, and the ones the responder fills in, are zero in a question
  if (b.readUInt16BE(6) !== 0 || b.readUInt32BE(OFFSET.received) !== 0 || b.readUInt32BE(OFFSET.highest) !== 0 || b.readUInt32BE(28) !== 0) return 0;
  return type;
}

/** The type byte of a well-formed answer (echo answer or count answer), else 0. */
export function answerType(b: Buffer): number {
  if (b.length !== DATAGRAM_BYTES || b.readUInt32BE(OFFSET.magic) !== MAGIC || b[OFFSET.version] !== VERSION) return 0;
  const type = b[OFFSET.type] as number;
  return type === TYPE.echoAnswer || type === TYPE.countAnswer ? type : 0;
}

/** Writes a question into `b` (DATAGRAM_BYTES long): `id` is 8 bytes. */
export function writeQuestion(b: Buffer, type: typeof TYPE.echo | typeof TYPE.count, id: Buffer, seq: number, sentAt: number): Buffer {
  b.fill(0, 0, DATAGRAM_BYTES);
  b.writeUInt32BE(MAGIC, OFFSET.magic);
  b[OFFSET.version] = VERSION;
  b[OFFSET.type] = type;
  id.copy(b, OFFSET.id, 0, 8);
  b.writeUInt32BE(seq >>> 0, OFFSET.seq);
  b.writeDoubleBE(sentAt, OFFSET.sentAt);
  return b;
}
