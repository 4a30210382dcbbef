/**
 * Preloaded into the real heartbeat by the crash test (`node -r`, through
 * NODE_OPTIONS). On SIGUSR2 it raises an error nobody handles, from the event
 * loop as a bug would: an exception thrown from a callback, or (with
 * HEARTBEAT_TEST_CRASH=rejection) a promise rejected with no handler.
 * heartbeat has no way to be crashed from outside, and must not have one.
 */
process.on('SIGUSR2', () => {
  setImmediate(() => {
    if (process.env.HEARTBEAT_TEST_CRASH === 'rejection') {
      void Promise.reject(new Error('injected rejection for the crash test'));
    } else {
      throw new Error('injected exception for the crash test');
    }
  });
});
