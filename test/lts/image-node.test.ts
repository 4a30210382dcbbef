/** npm run test:lts runs the server on exactly the Node the image ships. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readDockerfile } from '../helpers/deploy';
import { NODE } from '../helpers/server';

describe('the container\'s Node (npm run test:lts)', () => {
  it('HEARTBEAT_TEST_NODE is set and runs the Dockerfile\'s NODE_VERSION', () => {
    assert.ok(process.env.HEARTBEAT_TEST_NODE, 'run through npm run test:lts, which sets HEARTBEAT_TEST_NODE');
    const want = readDockerfile().globalArgs.get('NODE_VERSION');
    assert.equal(execFileSync(NODE, ['-v'], { encoding: 'utf8' }).trim(), `v${want}`);
  });
});
