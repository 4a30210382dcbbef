/**
 * promtool (Debian's prometheus package) on what we ship: both forms of the rules pass
 * `promtool check rules`; each alert's unit tests (test/prometheus/rules/<Alert>.yaml: input
 * series, alerts expected to fire and not to fire) pass `promtool test rules`; a live /metrics
 * passes `promtool check metrics`.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ALERTS } from '../../scripts/alerts';
import { PROMETHEUS_RULE_FILE, ROOT, RULES_FILE } from '../../scripts/sync-alerts';
import { promtool, requirePrometheusTool } from '../helpers/prometheus';
import { freePort, kill, request, startServer, type Running } from '../helpers/server';
import { makeScratch, removeScratch } from '../../scripts/scratch';

const RULE_TESTS = path.join(ROOT, 'test', 'prometheus', 'rules');

interface RuleTestFile {
  rule_files: string[];
  tests: { name: string; alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
}

describe('promtool', function () {
  this.timeout(120_000);
  before(() => requirePrometheusTool('promtool'));

  it('check rules: the plain rules file', () => {
    const r = promtool(['check', 'rules', path.join(ROOT, RULES_FILE)]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, new RegExp(`SUCCESS: ${ALERTS.length} rules found`));
  });

  it('check rules: the PrometheusRule\'s groups', () => {
    const manifest = YAML.parse(readFileSync(path.join(ROOT, PROMETHEUS_RULE_FILE), 'utf8')) as { spec: { groups: unknown[] } };
    const dir = makeScratch('heartbeat-rules-');
    try {
      const file = path.join(dir, 'from-prometheusrule.yaml');
      writeFileSync(file, YAML.stringify({ groups: manifest.spec.groups }));
      const r = promtool(['check', 'rules', file]);
      assert.equal(r.status, 0, r.output);
      assert.match(r.output, new RegExp(`SUCCESS: ${ALERTS.length} rules found`));
    } finally {
      removeScratch(dir);
    }
  });

  it('check rules fails on a broken rule (the check is real)', () => {
    const dir = makeScratch('heartbeat-rules-');
    try {
      const file = path.join(dir, 'broken.yaml');
      writeFileSync(file, YAML.stringify({ groups: [{ name: 'x', rules: [{ alert: 'X', expr: 'rate(up[5m]' }] }] }));
      assert.notEqual(promtool(['check', 'rules', file]).status, 0);
    } finally {
      removeScratch(dir);
    }
  });

  it('there is one unit-test file per alert, each with cases that fire and cases that must not', () => {
    const files = readdirSync(RULE_TESTS).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual(files, ALERTS.map((a) => `${a}.yaml`).sort());
    for (const alert of ALERTS) {
      const t = YAML.parse(readFileSync(path.join(RULE_TESTS, `${alert}.yaml`), 'utf8')) as RuleTestFile;
      assert.deepEqual(t.rule_files, [`../../../${RULES_FILE}`], `${alert}: tests the shipped rules file`);
      const cases = t.tests.flatMap((x) => x.alert_rule_test);
      assert.ok(cases.every((c) => c.alertname === alert), `${alert}: only tests ${alert}`);
      assert.ok(cases.some((c) => c.exp_alerts.length > 0), `${alert}: a case where it fires`);
      assert.ok(cases.some((c) => c.exp_alerts.length === 0), `${alert}: a case where it must not fire`);
    }
  });

  for (const alert of ALERTS) {
    it(`test rules: ${alert}`, () => {
      const r = promtool(['test', 'rules', `${alert}.yaml`], { cwd: RULE_TESTS });
      assert.equal(r.status, 0, r.output);
      assert.match(r.output, /SUCCESS/);
    });
  }

  describe('check metrics on a live /metrics', () => {
    let hb: Running | undefined;
    after(() => kill(hb));

    it('passes, after traffic of every kind', async () => {
      const metricsPort = await freePort();
      hb = await startServer(['--metrics', '--metrics-port', String(metricsPort), '--log']);
      for (const [method, p, body] of [
        ['GET', '/heartbeat/17'], ['GET', '/heartbeat/70000'], ['HEAD', '/heartbeat/5'], ['POST', '/heartbeat/10', 'x'.repeat(500)],
        ['GET', '/heartbeat/x'], ['DELETE', '/heartbeat/1'], ['GET', '/nope'], ['GET', '/healthz'], ['GET', '/readyz'],
      ] as [string, string, string?][]) {
        await request(hb.port, method, p, body);
      }
      const text = (await request(metricsPort, 'GET', '/metrics')).body.toString();
      assert.match(text, /^heartbeat_http_request_duration_seconds_bucket\{/m, 'the histogram has cells');
      const r = promtool(['check', 'metrics'], { input: text });
      assert.equal(r.status, 0, `promtool check metrics:\n${r.output}`);
      // And the check is real: prom-client's own default output (with the _total gauges) fails it.
      assert.notEqual(promtool(['check', 'metrics'], { input: `${text}# HELP nodejs_active_handles_total Total.\n# TYPE nodejs_active_handles_total gauge\nnodejs_active_handles_total 3\n` }).status, 0);
      assert.equal(await hb.stop(), 0);
    });
  });
});
