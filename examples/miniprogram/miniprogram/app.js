const { createAuth } = require('wxlogin-miniprogram');
const config = require('./config');

// One auth object for the whole mini program: every page shares its session, its one login
// in flight and its one refresh in flight.
const auth = createAuth({ baseUrl: config.baseUrl });

App({
  auth,

  onLaunch() {
    // Log in at launch. Pages that call auth.request() at the same moment join this login
    // instead of starting their own.
    auth.ensureLogin().catch((error) => {
      console.warn('login at launch failed; the next call will try again', error.kind, error.message);
    });
  },
});
