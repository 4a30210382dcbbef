/** The fixed paths heartbeat serves besides {uri}, and the methods each kind takes. */

/** The probe paths: nothing else (the heartbeat uri, the metrics path) may take them. */
export const PROBE_PATHS = ['/healthz', '/readyz', '/version'] as const;

/** Methods the probes, the root redirect and the metrics path answer. */
export const PROBE_METHODS = 'GET, HEAD';

/** Methods {uri}/{size} answers. */
export const HEARTBEAT_METHODS = 'GET, HEAD, POST';
