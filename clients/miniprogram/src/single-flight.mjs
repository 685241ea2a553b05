// One operation in flight, shared by every caller that asks while it runs.
//
// Ten requests that find no session at launch must cause one wx.login and one /auth/login,
// and ten parallel 401s one /auth/refresh (a second refresh with the same token would be
// reuse, and the server revokes the session for it). The shared promise is dropped the moment
// it settles, success or failure, so a failed refresh can never leave a "refreshing" flag that
// hangs every later request: the next caller simply starts a new attempt.

/**
 * @template T
 * @param {() => Promise<T>} operation
 * @returns {{ run: () => Promise<T>, readonly running: boolean }}
 */
export function singleFlight(operation) {
  /** @type {Promise<T> | null} */
  let inFlight = null;
  return {
    run() {
      if (inFlight) return inFlight;
      // Started inside a then() so a synchronous throw becomes a rejection like any other.
      const started = Promise.resolve()
        .then(operation)
        .then(
          (value) => {
            if (inFlight === started) inFlight = null;
            return value;
          },
          (error) => {
            if (inFlight === started) inFlight = null;
            throw error;
          },
        );
      inFlight = started;
      return started;
    },
    get running() {
      return inFlight !== null;
    },
  };
}
