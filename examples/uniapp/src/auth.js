// One auth object for the whole app, on the SDK's ES module.
//
// platform 'uni': uni.login({provider: 'weixin'}), uni.request, uni.uploadFile, uni storage.
// baseUrl must be a request and uploadFile legal domain of the mini program (see README.md).
// Only our own server is named here: never WeChat's server API, never an AppSecret.
import { createAuth } from 'wxlogin-miniprogram';

export const auth = createAuth({
  baseUrl: 'https://login.example.com',
  platform: 'uni',
});
