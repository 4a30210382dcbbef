/**
 * UDP echo peers for the bench's UDP row (bench/udp-cost.ts): N of heartbeat's own echo responders
 * (src/udp/responder.ts), one per port on 127.0.0.1, in one process. Nothing listens on TCP at
 * those ports, so the probers' TCP probes of them end `refused` at once, the same for both.
 *
 *   node build/bench/udp-peers.js N
 *
 * Prints "listening PORT,PORT,..." once every responder is bound.
 */
import { createUdpResponder } from '../src/udp/responder';

const n = Number(process.argv[2]);
if (!Number.isInteger(n) || n < 1 || n > 100) throw new Error('usage: udp-peers.js N (1 to 100)');

void Promise.all(Array.from({ length: n }, () => createUdpResponder(0, '127.0.0.1').listen()))
  .then((at) => process.stdout.write(`listening ${at.map((a) => a.port).join(',')}\n`));
process.on('SIGTERM', () => process.exit(0));
