// Where the wxlogin server is. It must be one of the mini program's request legal domains
// (and uploadFile legal domains, for the avatar) in the admin console: see README.md.
// Only our own server is ever named here: the mini program never talks to WeChat's server
// APIs, and no AppSecret belongs in a mini program.
module.exports = {
  baseUrl: 'https://login.example.com',
};
