/**
 * What an https:// probe trusts and sends: one secure context for every probe, built at
 * start from the system's CA certificates, Node's bundled ones and the operator's extra CA
 * file (probeTlsCa), and per target the name sent as SNI and checked against the
 * certificate (the Host override's name, else the target's host; an IP literal is checked
 * against the certificate's IP addresses and sends no SNI, RFC 6066 section 3).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { Target } from './settings';

/** Where Linux distributions keep the system CA bundle (Debian/Ubuntu/distroless, Fedora/RHEL, openSUSE, Alpine). */
export const SYSTEM_CA_FILES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/etc/ssl/cert.pem',
];

export interface ProbeTls {
  context: tls.SecureContext;
  /** SNI; undefined for an IP literal. */
  servername: string | undefined;
  /** The name (or IP) the certificate must be valid for. */
  verifyName: string;
  /** false with probeTlsInsecure: any certificate is accepted. */
  verify: boolean;
}

type CaSource = (kind: 'system') => string[];

/** The system's CA certificates as PEM: Node's own reader where it has one (Node >= 22.15), else the distribution's bundle. */
export function systemCertificates(): string[] {
  const fromNode = (tls as unknown as { getCACertificates?: CaSource }).getCACertificates;
  if (fromNode) return fromNode('system');
  for (const file of SYSTEM_CA_FILES) {
    try {
      return splitPem(fs.readFileSync(file, 'latin1'));
    } catch {
      // not this distribution's place
    }
  }
  return [];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM text, each as its own PEM block. */
export function splitPem(text: string): string[] {
  return text.match(PEM_CERT) ?? [];
}

/**
 * The probeTlsCa check: '' (none) or a readable file of one or more PEM certificates, each
 * of which parses. Throws an Error saying what is wrong.
 */
export function validateCaFile(v: unknown): void {
  if (typeof v !== 'string') throw new Error('must be a file path');
  if (v === '') return;
  let text: string;
  try {
    text = fs.readFileSync(v, 'latin1');
  } catch (e) {
    throw new Error(`${JSON.stringify(v)} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
  const certs = splitPem(text);
  if (certs.length === 0) throw new Error(`${JSON.stringify(v)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  certs.forEach((pem, i) => {
    try {
      new crypto.X509Certificate(pem);
    } catch (e) {
      throw new Error(`${JSON.stringify(v)}: certificate ${i + 1} of ${certs.length} does not parse`, { cause: e });
    }
  });
}

/** The one secure context of every probe: system CAs, Node's bundled CAs and the extra CA file's. */
export function probeContext(caFile: string): tls.SecureContext {
  const ca = [...new Set([...systemCertificates(), ...tls.rootCertificates, ...(caFile === '' ? [] : splitPem(fs.readFileSync(caFile, 'latin1')))])];
  return tls.createSecureContext({ ca, minVersion: 'TLSv1.2' });
}

/** The name part of a Host value: `name`, `name:port`, `[v6]` or `[v6]:port`. */
export function hostName(authority: string): string {
  if (authority.startsWith('[')) return authority.slice(1, authority.indexOf(']'));
  const colon = authority.lastIndexOf(':');
  return colon < 0 ? authority : authority.slice(0, colon);
}

/** TLS for one https target (undefined for http). */
export function targetTls(target: Target, context: tls.SecureContext, verify: boolean): ProbeTls | undefined {
  if (target.scheme !== 'https') return undefined;
  const name = target.hostOverride !== undefined ? hostName(target.hostOverride) : target.host;
  return { context, servername: net.isIP(name) ? undefined : name, verifyName: name, verify };
}
