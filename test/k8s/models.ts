/** The Kubernetes API schemas (kubernetes-models) the k8s and helm tiers validate every rendered object with. */
import type { K8sObject } from '../helpers/deploy';

export interface Model { validate(): void }
export type ModelClass = new (data: unknown) => Model;

/** The kubernetes-models class for an object's apiVersion and kind (e.g. apps/v1 Deployment). */
export async function modelFor(obj: K8sObject): Promise<ModelClass> {
  const group = (await import(`kubernetes-models/${obj.apiVersion}`)) as Record<string, ModelClass | undefined>;
  const cls = group[obj.kind];
  if (!cls) throw new Error(`kubernetes-models has no ${obj.apiVersion} ${obj.kind}`);
  return cls;
}
