/**
 * DNS servers on loopback UDP for the resolver tests: one that swallows every query (a
 * resolver that never answers) and one that answers A/AAAA from a table (NXDOMAIN for any
 * other name). Each counts the queries it got. Nothing is sent off loopback.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export interface LoopbackDns {
  /** `127.0.0.1:port`, for Resolver.setServers. */
  server: string;
  /** Names asked so far, in order, with their type (`A name`, `AAAA name`). */
  queries: string[];
  close(): Promise<void>;
}

function qname(msg: Buffer): { name: string; type: number; end: number } {
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length && msg[i] !== 0) {
    const n = msg[i] as number;
    labels.push(msg.toString('latin1', i + 1, i + 1 + n));
    i += n + 1;
  }
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(i + 1), end: i + 5 };
}

/** A DNS server on 127.0.0.1; `table` null: every query swallowed. */
export async function startLoopbackDns(table: Record<string, string[]> | null): Promise<LoopbackDns> {
  const socket = dgram.createSocket('udp4');
  const out: LoopbackDns = { server: '', queries: [], close: () => new Promise<void>((r) => socket.close(() => r())) };
  socket.on('message', (msg, rinfo) => {
    if (msg.length < 17) return;
    const q = qname(msg);
    out.queries.push(`${q.type === 28 ? 'AAAA' : q.type === 1 ? 'A' : q.type} ${q.name}`);
    if (table === null) return; // never answered
    const addresses = (table[q.name] ?? []).filter((a) => (q.type === 1 ? net.isIPv4(a) : q.type === 28 ? net.isIPv6(a) : false));
    const known = q.name in table;
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // response, RD, RA; rcode NXDOMAIN when unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(addresses.length, 6);
    const answers = addresses.map((a) => {
      const rdata = net.isIPv4(a) ? Buffer.from(a.split('.').map(Number)) : ipv6(a);
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      rr.writeUInt16BE(q.type, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(5, 6);
      rr.writeUInt16BE(rdata.length, 10);
      return Buffer.concat([rr, rdata]);
    });
    socket.send(Buffer.concat([header, msg.subarray(12, q.end), ...answers]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  out.server = `127.0.0.1:${socket.address().port}`;
  return out;
}

function ipv6(a: string): Buffer {
  const [head = '', tail = ''] = a.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups: string[] = a.includes('::') ? [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}
