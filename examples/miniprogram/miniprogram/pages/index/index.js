const { ErrorKind } = require('wxlogin-miniprogram');

const { auth } = getApp();

Page({
  data: {
    user: null,
    status: '',
    protectedAnswer: '',
  },

  onLoad() {
    this.setData({ user: auth.getUser() });
    // Login, refresh, profile changes and logout all arrive here, from any page.
    this.unsubscribe = auth.onChange((event) => {
      this.setData({ user: event.type === 'logout' ? null : event.user });
    });
    auth.ensureLogin().catch((error) => this.show(error));
  },

  onUnload() {
    this.unsubscribe();
  },

  // <button open-type="getPhoneNumber" bindgetphonenumber="onGetPhoneNumber">
  // The SDK sends e.detail.code to POST /me/phone. It never calls wx.login inside this
  // callback; "deny" / "cancel" reject with kind "user_denied" and reach no server.
  onGetPhoneNumber(e) {
    auth
      .bindPhone(e)
      .then(() => this.setData({ status: '手机号已绑定 · phone bound' }))
      .catch((error) => this.show(error));
  },

  // <button open-type="chooseAvatar" bind:chooseavatar="onChooseAvatar">
  // e.detail.avatarUrl is a temporary local file: it is uploaded to POST /me/avatar.
  onChooseAvatar(e) {
    auth
      .uploadAvatar(e.detail.avatarUrl)
      .then(() => this.setData({ status: '头像已更新 · avatar saved' }))
      .catch((error) => this.show(error));
  },

  // <form bindsubmit="onSubmit"> around <input type="nickname" name="nickname">: read the
  // nickname on submit, because WeChat clears the input on blur when it fails its check.
  onSubmit(e) {
    const nickname = (e.detail.value.nickname || '').trim();
    if (!nickname) {
      this.setData({ status: '请填写昵称 · enter a nickname' });
      return;
    }
    auth
      .updateProfile({ nickname })
      .then(() => this.setData({ status: '昵称已保存 · nickname saved' }))
      .catch((error) => this.show(error));
  },

  // A protected call: the token is attached, refreshed or renewed by login as needed. Your
  // own routes work the same way: auth.request({ url: '/orders' }).
  callProtected() {
    auth
      .request({ url: '/me' })
      .then((answer) => {
        this.setData({
          protectedAnswer: answer.statusCode === 200 ? 'GET /me → 200, user ' + answer.data.id : 'HTTP ' + answer.statusCode,
        });
      })
      .catch((error) => this.show(error));
  },

  logout() {
    // Clears the session at once, even offline; never rejects.
    auth.logout().then(() => this.setData({ status: '已退出 · logged out', protectedAnswer: '' }));
  },

  show(error) {
    const messages = {
      [ErrorKind.USER_DENIED]: '已取消 · you said no',
      [ErrorKind.NETWORK]: '网络不可用 · no network',
      [ErrorKind.NOT_LOGGED_IN]: '请先登录 · please log in first',
    };
    const text = messages[error.kind] || (error.kind === ErrorKind.SERVER ? error.code : error.message);
    this.setData({ status: text });
  },
});
