// Compiled by tsc (never run): the published types against WeChat's own, from
// miniprogram-api-typings. A mismatch here is a type error in `make jstest`.

import {
  createAuth,
  ErrorKind,
  ServerError,
  type Auth,
  type AuthError,
  type PaymentParams,
  type PayResult,
  type PayStatus,
  type PlatformApi,
  type RequestMethod,
  type SubscribeResult,
  type SubscribeResults,
  type User,
} from 'wxlogin-miniprogram';

// The real `wx` object fits createAuth's platformApi.
const platformApi: PlatformApi = wx;
const auth: Auth = createAuth({ baseUrl: 'https://login.example.com', platformApi, appid: 'wx0123456789abcdef' });

// The request methods are exactly wx.request's (PATCH is not one).
type WxMethod = NonNullable<WechatMiniprogram.RequestOption['method']>;
const fromWx: RequestMethod = 'GET' as WxMethod;
const toWx: WxMethod = 'GET' as RequestMethod;
// @ts-expect-error wx.request cannot send PATCH
const patch: RequestMethod = 'PATCH';

Page({
  async onGetPhoneNumber(event: WechatMiniprogram.ButtonGetPhoneNumber) {
    // The button's event, as WeChat types it, is what bindPhone takes.
    const user: User = await auth.bindPhone(event);
    return user.phone;
  },
  async onChooseAvatar(event: WechatMiniprogram.CustomEvent<{ avatarUrl: string }>) {
    return (await auth.uploadAvatar(event.detail.avatarUrl)).avatar_url;
  },
  async onSubmit(event: WechatMiniprogram.FormSubmit) {
    return auth.updateProfile({ nickname: String(event.detail.value.nickname) });
  },
  async onNotifyTap() {
    // From the tap, before any await: the dialog opens only in the tap's own turn.
    const results: SubscribeResults = await auth.requestSubscribe(['tmpl-order-shipped']);
    const answer: SubscribeResult | undefined = results['tmpl-order-shipped'];
    // @ts-expect-error the answers are WeChat's four words, nothing else
    const wrong: SubscribeResult = 'maybe';
    return answer === 'accept' && wrong;
  },
  async onBuyTap(orderId: string) {
    const result: PayResult = await auth.pay(orderId);
    const status: PayStatus = result.status;
    // @ts-expect-error a payment's outcome is one of the four, not an order state
    const wrong: PayStatus = 'refunded';
    return result.order ? result.order.state : status === 'paid' && wrong;
  },
  async orders() {
    try {
      const answer = await auth.request<{ orders: string[] }>({ url: '/orders', method: 'GET' });
      return answer.statusCode === 200 ? answer.data.orders : [];
    } catch (error) {
      const failure = error as AuthError;
      switch (failure.kind) {
        case ErrorKind.NETWORK:
          return 'offline';
        case 'server':
          return (failure as ServerError).code;
        default:
          throw failure;
      }
    }
  },
});

const unsubscribe: () => void = auth.onChange((event) => {
  if (event.type === 'logout') console.log(event.reason);
});
unsubscribe();

// The parameters the server signs are what wx.requestPayment takes, as WeChat types it.
declare const signed: PaymentParams;
const sheet: WechatMiniprogram.RequestPaymentOption = { ...signed };

export { fromWx, toWx, patch, sheet };
