/** The fixed paths heartbeat serves besides {uri}, and the methods each kind takes. */

/** The Kubernetes health paths (the kubelet's checks): nothing else (the heartbeat uri, the metrics path) may take them. */
export const HEALTH_PATHS = ['/healthz', '/readyz', '/version'] as const;

/** Methods of the read-only paths: the health paths, the root redirect, the metrics path and the status page. */
export const READ_ONLY_METHODS = 'GET, HEAD';

/** Methods {uri}/{size} answers. */
export const HEARTBEAT_METHODS = 'GET, HEAD, POST';
