// The login server of the Express tutorials, re-created for the side-by-side bench (make bench):
// express + the `request` package, POST /api/login {code} -> jscode2session -> {openId, sessionKey}.
// Like the tutorials it stores nothing and issues no token of its own. Written for wxlogin's bench.
const express = require('express');
const request = require('request');

const { APPID, SECRET, WECHAT_BASE_URL, PORT } = process.env;
const app = express();
app.use(express.json());

app.post('/api/login', (req, res) => {
  const code = req.body && req.body.code;
  if (!code) return res.status(400).json({ error: 'code is required' });
  request.get({
    url: `${WECHAT_BASE_URL}/sns/jscode2session`,
    qs: { appid: APPID, secret: SECRET, js_code: code, grant_type: 'authorization_code' },
    json: true, // WeChat labels its JSON text/plain; request parses it anyway
  }, (err, response, body) => {
    if (err) return res.status(502).json({ error: 'upstream unreachable' });
    if (!body || body.errcode) return res.status(400).json({ error: 'login failed', errcode: body && body.errcode });
    res.json({ openId: body.openid, sessionKey: body.session_key });
  });
});

app.listen(Number(PORT), '127.0.0.1');
