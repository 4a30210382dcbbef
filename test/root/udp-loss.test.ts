/**
 * UDP loss by direction, exact (npm run test:root): a prober and a peer heartbeat in two network
 * namespaces joined by a veth, nftables in the prober's namespace dropping random echo datagrams
 * (`numgen random mod 100 < N`) and counting what they drop: on the way out (output hook, echo
 * questions) at OUT_PERCENT, on the way back (input hook, echo answers) at BACK_PERCENT. The rules
 * match the datagram's type byte, so the count question and its answer are never dropped. The
 * summed `lost_out` and `lost_back` of every udp line equal the two rules' counters exactly, and
 * `sent` equals the echo questions nftables saw leave; with the rules removed, nothing is lost.
 * Every name made here contains "hb35"; the namespaces (their veth and rules with them) are deleted
 * by name at the end. Traffic stays between the two namespaces.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { UDP_COLUMNS } from '../../src/log/format';
import { OFFSET, TYPE } from '../../src/udp/datagram';
import { requireNetns } from '../helpers/netns';
import { kill, startServer, until, type Running } from '../helpers/server';

const PORT = 18035;
const OUT_PERCENT = 3;
const BACK_PERCENT = 7;
const DATAGRAMS = 50;
const ROUNDS = 6;
const NS = { prober: 'hb35-udp-prober', peer: 'hb35-udp-peer' };
const TABLE = 'hb35_udp_loss';
const ADDR = { prober: { v4: '198.18.35.1', v6: 'fd35::1' }, peer: { v4: '198.18.35.2', v6: 'fd35::2' } };
/** The type byte's bit offset from the start of the UDP header (8 bytes of header, then the datagram). */
const TYPE_BITS = (8 + OFFSET.type) * 8;

const run = (args: string[], input?: string): string => execFileSync(args[0] as string, args.slice(1), { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
const removeNamespaces = (): void => {
  for (const n of Object.values(NS)) spawnSync('ip', ['netns', 'delete', n], { stdio: 'ignore' });
};

function createNet(): void {
  removeNamespaces(); // a run killed before its cleanup left these
  for (const n of Object.values(NS)) run(['ip', 'netns', 'add', n]);
  run(['ip', 'link', 'add', 'hb35p', 'netns', NS.prober, 'type', 'veth', 'peer', 'name', 'hb35q', 'netns', NS.peer]);
  for (const [ns, dev, a] of [[NS.prober, 'hb35p', ADDR.prober], [NS.peer, 'hb35q', ADDR.peer]] as const) {
    run(['ip', '-n', ns, 'addr', 'add', `${a.v4}/24`, 'dev', dev]);
    run(['ip', '-n', ns, '-6', 'addr', 'add', `${a.v6}/64`, 'dev', dev, 'nodad']);
    run(['ip', '-n', ns, 'link', 'set', dev, 'up']);
    run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }
}

/** The prober's rules: count every echo question leaving and every echo answer arriving; with `drop`, drop some of each. */
function setRules(drop: boolean): void {
  spawnSync('ip', ['netns', 'exec', NS.prober, 'nft', 'delete', 'table', 'inet', TABLE], { stdio: 'ignore' });
  run(['ip', 'netns', 'exec', NS.prober, 'nft', '-f', '-'], [
    `table inet ${TABLE} {`,
    '  chain output {',
    '    type filter hook output priority 0; policy accept;',
    `    udp dport ${PORT} @th,${TYPE_BITS},8 ${TYPE.echo} counter comment "echo-sent"`,
    ...(drop ? [`    udp dport ${PORT} @th,${TYPE_BITS},8 ${TYPE.echo} numgen random mod 100 < ${OUT_PERCENT} counter drop comment "drop-out"`] : []),
    '  }',
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    `    udp sport ${PORT} @th,${TYPE_BITS},8 ${TYPE.echoAnswer} counter comment "answer-arrived"`,
    ...(drop ? [`    udp sport ${PORT} @th,${TYPE_BITS},8 ${TYPE.echoAnswer} numgen random mod 100 < ${BACK_PERCENT} counter drop comment "drop-back"`] : []),
    '  }',
    '}',
    '',
  ].join('\n'));
}

function counters(): Record<string, number> {
  const text = run(['ip', 'netns', 'exec', NS.prober, 'nft', 'list', 'table', 'inet', TABLE]);
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/counter packets (\d+) bytes \d+[^\n]*comment "([^"]+)"/g)) out[m[2] as string] = Number(m[1]);
  return out;
}

type UdpLine = Record<(typeof UDP_COLUMNS)[number], string>;
const udpLines = (r: Running): UdpLine[] => r.lines.map((l) => l.split('\t')).filter((c) => c[1] === 'udp')
  .map((c) => Object.fromEntries(UDP_COLUMNS.map((k, i) => [k, c[i] as string])) as UdpLine);
const sum = (lines: UdpLine[], k: (typeof UDP_COLUMNS)[number]): number => lines.reduce((s, l) => s + Number(l[k]), 0);

describe('UDP loss by direction equals the kernel\'s count (two namespaces, nftables numgen drops)', function () {
  this.timeout(180_000);
  let peer: Running | undefined;
  let prober: Running | undefined;

  before(async () => {
    requireNetns();
    createNet();
    peer = await startServer(['--host', ''], { port: PORT, wrap: ['ip', 'netns', 'exec', NS.peer] });
  });
  after(() => {
    kill(prober);
    kill(peer);
    removeNamespaces();
  });

  /** Probes both families of the peer for `rounds` rounds each, then stops the prober (every round it began is reported). */
  const probe = async (rounds: number): Promise<UdpLine[]> => {
    prober = await startServer([
      '--host', '127.0.0.1', '--probe-targets', `http://${ADDR.peer.v4}:${PORT},http://[${ADDR.peer.v6}]:${PORT}`,
      '--probe-sizes', '1024', '--probe-udp', String(DATAGRAMS), '--probe-interval', '2000', '--probe-timeout', '1000',
    ], { wrap: ['ip', 'netns', 'exec', NS.prober] });
    const p = prober;
    await until(`${rounds} rounds`, 120_000, () => Promise.resolve(udpLines(p).length >= 2 * rounds ? true : undefined), 200);
    assert.equal(await p.stop(), 0);
    return udpLines(p);
  };

  it(`drops ${OUT_PERCENT}% out and ${BACK_PERCENT}% back: summed lost_out and lost_back equal the rules' counters`, async () => {
    setRules(true);
    const lines = await probe(ROUNDS);
    const c = counters();
    const table = {
      rounds: lines.length / 2, sent: sum(lines, 'sent'), 'echo questions nft saw leave': c['echo-sent'],
      'dropped out (rule)': c['drop-out'], lost_out: sum(lines, 'lost_out'), 'answers nft saw arrive': c['answer-arrived'],
      'dropped back (rule)': c['drop-back'], lost_back: sum(lines, 'lost_back'), lost_unknown: sum(lines, 'lost_unknown'),
      duplicates: sum(lines, 'duplicates'), reordered: sum(lines, 'reordered'),
    };
    process.stdout.write(`      ${JSON.stringify(table)}\n`);
    assert.deepEqual(new Set(lines.map((l) => l.family)), new Set(['ipv4', 'ipv6']));
    assert.equal(table.sent, table['echo questions nft saw leave'], 'every datagram counted as sent left (or was dropped leaving)');
    assert.ok((table['dropped out (rule)'] ?? 0) > 0 && (table['dropped back (rule)'] ?? 0) > 0, 'both rules dropped some');
    assert.equal(table.lost_out, table['dropped out (rule)'], 'lost_out = the out rule\'s counter');
    assert.equal(table.lost_back, table['dropped back (rule)'], 'lost_back = the back rule\'s counter');
    assert.equal(table.lost_unknown, 0);
    assert.equal(table.duplicates, 0);
  });

  it('with the rules removed, the next rounds lose nothing', async () => {
    setRules(false);
    const lines = await probe(2);
    const c = counters();
    assert.equal(sum(lines, 'sent'), c['echo-sent']);
    assert.equal(sum(lines, 'sent'), c['answer-arrived'], 'every echo answered');
    for (const l of lines) assert.deepEqual([l.lost_out, l.lost_back, l.lost_unknown], ['0', '0', '0'], JSON.stringify(l));
    // every round sent all its datagrams, but one the stop cut short (the last of its family: it reports what it
    // sent, seen: 6 of 50 when the next round had just begun)
    for (const family of ['ipv4', 'ipv6']) {
      const mine = lines.filter((l) => l.family === family);
      assert.ok(mine.length >= 2, `${family}: ${mine.length} rounds`);
      for (const l of mine.slice(0, -1)) assert.equal(l.sent, String(DATAGRAMS), JSON.stringify(l));
      assert.ok(Number(mine.at(-1)?.sent) > 0 && Number(mine.at(-1)?.sent) <= DATAGRAMS, JSON.stringify(mine.at(-1)));
    }
  });
});
