/**
 * Helpers for the deploy tests: render the kustomizations with the real kubectl; the Dockerfile's reader
 * (scripts/dockerfile.ts, shared with the bench) re-exported.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './server';
import { makeScratch, removeScratch } from '../../scripts/scratch';
import { kubectl } from './tools';

/** One rendered Kubernetes object (fields the tests read are narrowed where used). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** `kubectl kustomize DIR` (repo-relative, or absolute), parsed: every object it renders. */
export function render(dir: string): K8sObject[] {
  const out = execFileSync(kubectl(), ['kustomize', path.isAbsolute(dir) ? dir : path.join(ROOT, dir)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(out).map((d) => {
    if (d.errors.length) throw new Error(`kubectl kustomize ${dir}: ${d.errors[0]?.message}`);
    return d.toJS() as K8sObject;
  });
}

/**
 * Writes a throwaway kustomization into `dir`, as the docs tell an operator to write one: `resources` and
 * `components` (repo-relative or absolute) and any `extra` fields. Returns `dir`.
 */
export function writeOverlay(dir: string, resources: string[], components: string[], extra = ''): string {
  mkdirSync(dir, { recursive: true });
  const rel = (p: string): string => (path.isAbsolute(p) ? path.relative(dir, p) : path.relative(dir, path.join(ROOT, p)));
  writeFileSync(path.join(dir, 'kustomization.yaml'), [
    'apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization',
    'resources:', ...resources.map((x) => `  - ${rel(x)}`),
    ...(components.length ? ['components:', ...components.map((x) => `  - ${rel(x)}`)] : []),
    extra, '',
  ].join('\n'));
  return dir;
}

/** Renders such a throwaway kustomization (in a temp dir, removed after): every object it renders. */
export function renderOverlay(resources: string[], components: string[], extra = ''): K8sObject[] {
  const dir = makeScratch('heartbeat-overlay-');
  try {
    return render(writeOverlay(dir, resources, components, extra));
  } finally {
    removeScratch(dir);
  }
}

export {
  dockerignoreKeeps, execForm, expandArgs, imageNodeFlags, parseCopy, readDockerfile,
  type Copy, type Dockerfile, type Instruction, type Stage,
} from '../../scripts/dockerfile';
