"""WeChat Pay's refusals: ``{"code","message","detail"?}`` with the code's HTTP status.

``PayRefused`` is raised by the rules (``pay_state``, ``pay_rules``) and rendered once, by
``pay_wire.error_answer``; statuses come from the shared protocol table, messages are WeChat
Pay's own wording where it is known.
"""

from __future__ import annotations

from typing import Any

from wxlogin.pay import protocol as wxpay

__all__ = ["ERROR_MESSAGE", "PayRefused", "param_error"]

# What WeChat Pay says with each error code when nothing more specific applies.
ERROR_MESSAGE: dict[str, str] = {
    "PARAM_ERROR": "参数错误",
    "INVALID_REQUEST": "无效请求",
    "SIGN_ERROR": "签名错误",
    "NO_AUTH": "商户无权限",
    "APPID_MCHID_NOT_MATCH": "appid和mch_id不匹配",
    "MCH_NOT_EXISTS": "商户号不存在",
    "ORDER_NOT_EXIST": "订单不存在",
    "RESOURCE_NOT_EXISTS": "资源不存在",
    "OUT_TRADE_NO_USED": "商户订单号重复",
    "ORDERPAID": "订单已支付",
    "ORDER_CLOSED": "订单已关闭",
    "NOT_ENOUGH": "余额不足",
    "RATELIMIT_EXCEEDED": "请求超过频率限制",
    "FREQUENCY_LIMITED": "频率超限",
    "SYSTEM_ERROR": "系统错误",
    "BANK_ERROR": "银行系统异常",
}


class PayRefused(Exception):
    """WeChat Pay refuses the request: ``{"code","message","detail"?}`` with ``status``."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.message = message if message is not None else ERROR_MESSAGE.get(code, "系统错误")
        self.status = status if status is not None else wxpay.ERROR_STATUS.get(code, 500)
        self.detail = detail
        super().__init__(code)


def param_error(field_name: str, value: Any, issue: str, location: str = "body") -> PayRefused:
    """PARAM_ERROR naming the field, as WeChat Pay's ``detail`` does."""
    shown = value if isinstance(value, int | float | bool) or value is None else str(value)[:64]
    detail = {"field": field_name, "value": shown, "issue": issue, "location": location}
    return PayRefused("PARAM_ERROR", f"参数错误: {field_name} {issue}", detail=detail)
