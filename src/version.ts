import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The version in package.json (the container build sets it from its VERSION build argument). */
export function readVersion(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}
