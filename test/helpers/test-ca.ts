/**
 * A test CA and the certificates it signs, made at test time with node:crypto only (no
 * openssl binary: `npm test` needs nothing but Node): X.509 v3 written as DER by hand,
 * ECDSA P-256 keys, SHA-256 signatures, subjectAltName DNS names and IP addresses. Nothing
 * is stored; every run makes its own.
 */
import crypto from 'node:crypto';
import net from 'node:net';

const der = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
};
const seq = (...p: Buffer[]): Buffer => der(0x30, ...p);
const oid = (dotted: string): Buffer => {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const out = [a * 40 + b];
  for (const v of rest) {
    const bytes = [v & 0x7f];
    for (let x = v >>> 7; x > 0; x >>>= 7) bytes.unshift((x & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return der(0x06, Buffer.from(out));
};
const integer = (b: Buffer): Buffer => der(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
const utf8 = (s: string): Buffer => der(0x0c, Buffer.from(s, 'utf8'));
const bits = (b: Buffer, unused = 0): Buffer => der(0x03, Buffer.from([unused]), b);
const octets = (b: Buffer): Buffer => der(0x04, b);
const time = (d: Date): Buffer => der(0x17, Buffer.from(d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z', 'latin1'));
const name = (cn: string): Buffer => seq(der(0x31, seq(oid('2.5.4.3'), utf8(cn))));
const ext = (id: string, value: Buffer, critical = false): Buffer =>
  seq(oid(id), ...(critical ? [der(0x01, Buffer.from([0xff]))] : []), octets(value));
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

export interface Issued {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#8). */
  key: string;
}

export interface TestCa extends Issued {
  /** A certificate for these DNS names and IP addresses, signed by this CA, valid from an hour ago for a day. */
  issue(names: string[]): Issued;
}

function keyId(publicKey: crypto.KeyObject): Buffer {
  return crypto.createHash('sha1').update(publicKey.export({ type: 'spki', format: 'der' })).digest();
}

function sign(o: {
  subject: string; issuer: string; publicKey: crypto.KeyObject; signer: crypto.KeyObject; issuerKeyId: Buffer; ca: boolean; names: string[];
}): string {
  const now = Date.now();
  const extensions: Buffer[] = [
    ext('2.5.29.19', o.ca ? seq(der(0x01, Buffer.from([0xff]))) : seq(), true),
    ext('2.5.29.15', o.ca ? bits(Buffer.from([0x06]), 1) : bits(Buffer.from([0x80]), 7), true),
    ext('2.5.29.14', octets(keyId(o.publicKey))),
    ext('2.5.29.35', seq(der(0x80, o.issuerKeyId))),
  ];
  if (o.names.length > 0) {
    const general = o.names.map((n) => (net.isIPv4(n) ? der(0x87, Buffer.from(n.split('.').map(Number)))
      : net.isIPv6(n) ? der(0x87, ipv6Bytes(n)) : der(0x82, Buffer.from(n, 'latin1'))));
    extensions.push(ext('2.5.29.17', seq(...general)));
    if (!o.ca) extensions.push(ext('2.5.29.37', seq(oid('1.3.6.1.5.5.7.3.1')))); // serverAuth
  }
  const serial = crypto.randomBytes(12);
  serial[0] = serial[0]! & 0x7f;
  const tbs = seq(
    der(0xa0, integer(Buffer.from([2]))),
    integer(serial),
    ECDSA_SHA256,
    name(o.issuer),
    seq(time(new Date(now - 3600_000)), time(new Date(now + 86400_000))),
    name(o.subject),
    o.publicKey.export({ type: 'spki', format: 'der' }),
    der(0xa3, seq(...extensions)),
  );
  const signature = crypto.sign('sha256', tbs, o.signer);
  const cert = seq(tbs, ECDSA_SHA256, bits(signature));
  return `-----BEGIN CERTIFICATE-----\n${cert.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
}

function ipv6Bytes(a: string): Buffer {
  const [head = '', tail = ''] = a.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups: string[] = a.includes('::') ? [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

/** A fresh self-signed CA called `cn`. */
export function createCa(cn = 'heartbeat test CA'): TestCa {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const id = keyId(publicKey);
  const cert = sign({ subject: cn, issuer: cn, publicKey, signer: privateKey, issuerKeyId: id, ca: true, names: [] });
  return {
    cert,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    issue(names: string[]): Issued {
      const leaf = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      return {
        cert: sign({ subject: names[0] ?? 'leaf', issuer: cn, publicKey: leaf.publicKey, signer: privateKey, issuerKeyId: id, ca: false, names }),
        key: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      };
    },
  };
}
