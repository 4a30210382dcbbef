/**
 * Probe peers for the bench's probing row: N heartbeat routes (the real
 * src/http/heartbeat.ts handler on plain node:http), one per port on 127.0.0.1, in
 * one process, so a heartbeat under load has N real peers to probe without N
 * processes sharing the machine.
 *
 *   node build/bench/peers.js N
 *
 * Prints "listening PORT,PORT,..." once every port accepts connections.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHeartbeat } from '../src/http/heartbeat';

const n = Number(process.argv[2]);
if (!Number.isInteger(n) || n < 1 || n > 100) throw new Error('usage: peers.js N (1 to 100)');
const heartbeat = createHeartbeat({ uri: '/heartbeat', min: 1, max: 1024 * 1024, uploadLimit: 1024 * 1024 });
const notFound = (res: http.ServerResponse): void => void res.writeHead(404, { 'Content-Length': 0 }).end();

void Promise.all(Array.from({ length: n }, () => new Promise<number>((resolve) => {
  const srv = http.createServer((req, res) => (heartbeat.matches(req.url ?? '') ? heartbeat.handle(req, res) : notFound(res)));
  srv.listen(0, '127.0.0.1', () => resolve((srv.address() as AddressInfo).port));
}))).then((ports) => process.stdout.write(`listening ${ports.join(',')}\n`));
process.on('SIGTERM', () => process.exit(0));
