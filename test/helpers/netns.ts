/**
 * A three-namespace network for the path-MTU tests (npm run test:root): client — router — server,
 * joined by veth pairs, the router's link toward the client at a smaller MTU while both ends keep
 * 1500, and an nftables table on the router that can drop its ICMP "fragmentation needed" (IPv4
 * type 3 code 4) and "packet too big" (ICMPv6 type 2). Traffic stays inside the namespaces made
 * here (private addresses no other namespace routes); `remove()` deletes them, veths and rules
 * with them. Needs root, iproute2 (`ip`) and nftables (`nft`); fails loudly naming them.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { requireTool } from './tools';

export const NETNS_HINT =
  'npm run test:root needs root, iproute2 and nftables: apt-get install -y iproute2 nftables (.ci/run installs them)';

export function requireNetns(): void {
  if (process.getuid?.() !== 0) throw new Error(`not root: ${NETNS_HINT}`);
  requireTool('ip', NETNS_HINT, ['-V']);
  requireTool('nft', NETNS_HINT, ['--version']);
}

/** IPv4 and IPv6 addresses of each end (documentation-only prefixes: 198.18.0.0/15 benchmark, fd00::/8 ULA). */
export const ADDR = {
  client: { v4: '198.18.1.2', v6: 'fd28:1::2' },
  routerClient: { v4: '198.18.1.1', v6: 'fd28:1::1' },
  routerServer: { v4: '198.18.2.1', v6: 'fd28:2::1' },
  server: { v4: '198.18.2.2', v6: 'fd28:2::2' },
} as const;

export interface PathNet {
  client: string;
  router: string;
  server: string;
  /** The MTU of the router's link toward the client. */
  mtu: number;
  /** Drops (true) or lets through (false) the router's "fragmentation needed" / "packet too big". */
  dropIcmp(drop: boolean): void;
  /** Forgets the path MTU the server learnt (its route exceptions), so the next answer starts at 1500 again. */
  flushPmtu(): void;
  /** The router's counters: [packets, bytes] each rule named here saw. */
  counters(): Map<string, [number, number]>;
  /** The server's counters of the TCP data it sent (every transmission, retransmissions too): `sent4`, `sent6`. */
  serverCounters(): Map<string, [number, number]>;
  /** Runs a command in a namespace; its stdout. */
  exec(ns: string, cmd: string[], timeoutMs?: number): Promise<string>;
  /** Deletes the namespaces (their veths and rules go with them). Safe to call twice. */
  remove(): void;
}

const run = (args: string[], input?: string): string => execFileSync(args[0] as string, args.slice(1), { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });

/** Builds the network; on any failure, removes what it made and throws. */
export function createPathNet(mtu: number, serverPort: number): PathNet {
  const tag = `hb${process.pid % 100000}`;
  const client = `${tag}-client`;
  const router = `${tag}-router`;
  const server = `${tag}-server`;
  const names = [client, router, server];
  const remove = (): void => {
    for (const n of names) spawnSync('ip', ['netns', 'delete', n], { stdio: 'ignore' });
  };
  remove(); // a run killed before its cleanup left these
  try {
    for (const n of names) run(['ip', 'netns', 'add', n]);
    run(['ip', 'link', 'add', 'c0', 'netns', client, 'type', 'veth', 'peer', 'name', 'rc', 'netns', router]);
    run(['ip', 'link', 'add', 's0', 'netns', server, 'type', 'veth', 'peer', 'name', 'rs', 'netns', router]);
    const addr = (ns: string, dev: string, a: { v4: string; v6: string }): void => {
      run(['ip', '-n', ns, 'addr', 'add', `${a.v4}/24`, 'dev', dev]);
      run(['ip', '-n', ns, '-6', 'addr', 'add', `${a.v6}/64`, 'dev', dev, 'nodad']);
    };
    addr(client, 'c0', ADDR.client);
    addr(router, 'rc', ADDR.routerClient);
    addr(router, 'rs', ADDR.routerServer);
    addr(server, 's0', ADDR.server);
    // the smaller link: only the router's side of it knows (the client keeps 1500, so its SYN says MSS 1460)
    run(['ip', '-n', router, 'link', 'set', 'rc', 'mtu', String(mtu)]);
    for (const [ns, dev] of [[client, 'c0'], [router, 'rc'], [router, 'rs'], [server, 's0']] as const) {
      run(['ip', '-n', ns, 'link', 'set', dev, 'up']);
    }
    for (const ns of names) run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    run(['ip', '-n', client, 'route', 'add', 'default', 'via', ADDR.routerClient.v4]);
    run(['ip', '-n', client, '-6', 'route', 'add', 'default', 'via', ADDR.routerClient.v6]);
    run(['ip', '-n', server, 'route', 'add', 'default', 'via', ADDR.routerServer.v4]);
    run(['ip', '-n', server, '-6', 'route', 'add', 'default', 'via', ADDR.routerServer.v6]);
    const sysctl = (ns: string, kv: string): string => run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', kv]);
    sysctl(router, 'net.ipv4.ip_forward=1');
    sysctl(router, 'net.ipv6.conf.all.forwarding=1');
    for (const ns of names) {
      // per network namespace: no MTU probing (it would recover from the blackhole by itself, slowly),
      // timestamps on (12 bytes of TCP options in every segment: 52 bytes of headers for IPv4, 72 for IPv6)
      sysctl(ns, 'net.ipv4.tcp_mtu_probing=0');
      sysctl(ns, 'net.ipv4.tcp_timestamps=1');
    }
    // the router's rules: counters of the server's TCP data forwarded toward the client (not SYN, with payload)
    run(['ip', 'netns', 'exec', router, 'nft', '-f', '-'], [
      'table inet heartbeat_mtu {',
      '  chain forward {',
      '    type filter hook forward priority 0; policy accept;',
      `    ip saddr ${ADDR.server.v4} tcp sport ${serverPort} tcp flags & syn == 0 ip length > 52 counter comment "data4"`,
      `    ip6 saddr ${ADDR.server.v6} tcp sport ${serverPort} tcp flags & syn == 0 ip6 length > 32 counter comment "data6"`,
      '  }',
      '  chain output {',
      '    type filter hook output priority 0; policy accept;',
      '  }',
      '}',
      '',
    ].join('\n'));
    // the server's own: the TCP data it sends, as it leaves its namespace (before any path)
    run(['ip', 'netns', 'exec', server, 'nft', '-f', '-'], [
      'table inet heartbeat_mtu {',
      '  chain output {',
      '    type filter hook output priority 0; policy accept;',
      `    ip saddr ${ADDR.server.v4} tcp sport ${serverPort} tcp flags & syn == 0 ip length > 52 counter comment "sent4"`,
      `    ip6 saddr ${ADDR.server.v6} tcp sport ${serverPort} tcp flags & syn == 0 ip6 length > 32 counter comment "sent6"`,
      '  }',
      '}',
      '',
    ].join('\n'));
  } catch (e) {
    remove();
    throw e;
  }
  const countersOf = (ns: string): Map<string, [number, number]> => {
    const text = run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'inet', 'heartbeat_mtu']);
    const out = new Map<string, [number, number]>();
    for (const m of text.matchAll(/counter packets (\d+) bytes (\d+)[^\n]*comment "([^"]+)"/g)) {
      out.set(m[3] as string, [Number(m[1]), Number(m[2])]);
    }
    return out;
  };
  return {
    client, router, server, mtu,
    dropIcmp(drop: boolean): void {
      run(['ip', 'netns', 'exec', router, 'nft', 'flush', 'chain', 'inet', 'heartbeat_mtu', 'output']);
      if (!drop) return;
      run(['ip', 'netns', 'exec', router, 'nft', '-f', '-'], [
        'add rule inet heartbeat_mtu output icmp type destination-unreachable icmp code frag-needed counter drop comment "frag-needed"',
        'add rule inet heartbeat_mtu output icmpv6 type packet-too-big counter drop comment "packet-too-big"',
        '',
      ].join('\n'));
    },
    flushPmtu(): void {
      run(['ip', '-n', server, 'route', 'flush', 'cache']);
      run(['ip', '-n', server, '-6', 'route', 'flush', 'cache']);
    },
    counters: () => countersOf(router),
    serverCounters: () => countersOf(server),
    exec(ns: string, cmd: string[], timeoutMs = 30_000): Promise<string> {
      return new Promise((resolve, reject) => {
        execFile('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
          if (err) reject(new Error(`${cmd.join(' ')} in ${ns}: ${err.message} ${stderr}`));
          else resolve(stdout);
        });
      });
    },
    remove,
  };
}
