/** A heartbeat's /metrics text, as the bench's fleet phases read their counters from it. */
import http from 'node:http';

export function metricsText(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path: '/metrics', agent: false }, (res) => {
      let text = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve(text));
      res.on('error', reject);
    }).on('error', reject);
  });
}
