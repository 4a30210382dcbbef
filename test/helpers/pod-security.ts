/**
 * Pod Security Standards, "restricted" level (which includes "baseline"), as the admission
 * controller checks a pod spec: kubernetes/kubernetes staging/src/k8s.io/pod-security-admission/
 * policy/check_*.go (hostNamespaces, privileged, capabilities_baseline, hostPathVolumes, hostPorts,
 * appArmorProfile, seLinuxOptions, procMount, seccompProfile_baseline, sysctls, windowsHostProcess;
 * restrictedVolumes, allowPrivilegeEscalation, runAsNonRoot, runAsUser, seccompProfile_restricted,
 * capabilities_restricted). Returns every violation as text; [] means the pod is admitted.
 */
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';

/** check_capabilities_baseline.go */
const BASELINE_CAPABILITIES = ['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE',
  'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT'];
/** check_restrictedVolumes.go */
const RESTRICTED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
/** check_sysctls.go (newest list) */
const SAFE_SYSCTLS = ['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes', 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem'];
const SELINUX_TYPES = ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'];

export function restrictedViolations(pod: IPodSpec): string[] {
  const bad: string[] = [];
  const psc = pod.securityContext ?? {};
  const containers: IContainer[] = [...pod.initContainers ?? [], ...pod.containers, ...(pod.ephemeralContainers ?? []) as IContainer[]];
  if (pod.hostNetwork) bad.push('hostNetwork');
  if (pod.hostPID) bad.push('hostPID');
  if (pod.hostIPC) bad.push('hostIPC');
  if (psc.windowsOptions?.hostProcess) bad.push('pod windowsOptions.hostProcess');
  for (const s of psc.sysctls ?? []) if (!SAFE_SYSCTLS.includes(s.name)) bad.push(`sysctl ${s.name}`);
  if (psc.seLinuxOptions && (!SELINUX_TYPES.includes(psc.seLinuxOptions.type ?? '') || psc.seLinuxOptions.user || psc.seLinuxOptions.role)) bad.push('pod seLinuxOptions');
  if (psc.appArmorProfile?.type === 'Unconfined') bad.push('pod appArmorProfile Unconfined');
  if (psc.seccompProfile?.type === 'Unconfined') bad.push('pod seccompProfile Unconfined');
  if (psc.runAsUser === 0) bad.push('pod runAsUser 0');
  for (const v of pod.volumes ?? []) {
    if (v.hostPath) bad.push(`volume ${v.name}: hostPath`);
    const types = Object.keys(v).filter((k) => k !== 'name');
    for (const t of types) if (!RESTRICTED_VOLUMES.includes(t)) bad.push(`volume ${v.name}: ${t}`);
  }
  const podSeccompOk = ['RuntimeDefault', 'Localhost'].includes(psc.seccompProfile?.type ?? '');
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const at = `container ${c.name}`;
    if (sc.privileged) bad.push(`${at}: privileged`);
    for (const cap of sc.capabilities?.add ?? []) if (!BASELINE_CAPABILITIES.includes(cap)) bad.push(`${at}: adds ${cap}`);
    for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') bad.push(`${at}: adds ${cap} (restricted)`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) bad.push(`${at}: does not drop ALL capabilities`);
    for (const p of c.ports ?? []) if (p.hostPort) bad.push(`${at}: hostPort ${p.hostPort}`);
    if (sc.appArmorProfile?.type === 'Unconfined') bad.push(`${at}: appArmorProfile Unconfined`);
    if (sc.seLinuxOptions && (!SELINUX_TYPES.includes(sc.seLinuxOptions.type ?? '') || sc.seLinuxOptions.user || sc.seLinuxOptions.role)) bad.push(`${at}: seLinuxOptions`);
    if (sc.procMount && sc.procMount !== 'Default') bad.push(`${at}: procMount ${sc.procMount}`);
    if (sc.windowsOptions?.hostProcess) bad.push(`${at}: windowsOptions.hostProcess`);
    if (sc.allowPrivilegeEscalation !== false) bad.push(`${at}: allowPrivilegeEscalation is not false`);
    const nonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot;
    if (nonRoot !== true) bad.push(`${at}: runAsNonRoot is not true`);
    if (sc.runAsUser === 0) bad.push(`${at}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type;
    if (seccomp === 'Unconfined') bad.push(`${at}: seccompProfile Unconfined`);
    if (!(['RuntimeDefault', 'Localhost'].includes(seccomp ?? '') || (seccomp === undefined && podSeccompOk))) bad.push(`${at}: no RuntimeDefault/Localhost seccompProfile`);
  }
  return bad;
}
