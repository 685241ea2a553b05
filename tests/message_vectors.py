"""Subscribe-message values, kind by kind: what WeChat takes and what it answers 47003 to.

From WeChat's table of rules (subscribeMessage.send, "参数值内容限制说明") and the refusals
developers have posted (phrase with digits or 6 characters, thing over 20). Both the client's
checks (``wxlogin.wechat.subscribe``) and the simulator's (``wxlogin.simulator.subscribe``),
written apart, are held against this one list.
"""

from __future__ import annotations

from wxlogin.wechat.protocol import FieldKind

K = FieldKind

# (kind, value, WeChat takes it)
CASES: list[tuple[FieldKind, str, bool]] = [
    # thing: at most 20 characters of anything printable
    (K.THING, "您的订单已发货", True),
    (K.THING, " 您的餐品已备好,请速来趣餐", True),  # 14 characters, a space first (posted, taken)
    (K.THING, "武志红2020年度课::自恋到自信,唤醒", True),  # 20 characters (posted, taken)
    (K.THING, "深圳市宝安区大运街道留仙居北区13栋2004", False),  # 22
    (K.THING, "a" * 20, True),
    (K.THING, "a" * 21, False),
    (K.THING, "", False),
    (K.THING, "   ", False),
    (K.THING, "two\nlines", False),
    (K.THING, "Order #42 shipped 🚚", True),
    # number: digits, maybe a decimal part, at most 32
    (K.NUMBER, "339208499", True),
    (K.NUMBER, "3.14", True),
    (K.NUMBER, "1" * 32, True),
    (K.NUMBER, "1" * 33, False),
    (K.NUMBER, "-5", False),
    (K.NUMBER, "1.", False),
    (K.NUMBER, "1,000", False),
    (K.NUMBER, "一百", False),
    # letter: at most 32 letters
    (K.LETTER, "abcXYZ", True),
    (K.LETTER, "a" * 33, False),
    (K.LETTER, "abc1", False),
    (K.LETTER, "ab cd", False),
    # symbol: at most 5 symbols
    (K.SYMBOL, "!?", True),
    (K.SYMBOL, "-+*/=", True),
    (K.SYMBOL, "!!!!!!", False),
    (K.SYMBOL, "a!", False),
    # character_string: at most 32 letters, digits or symbols
    (K.CHARACTER_STRING, "ORDER-2024-0001", True),
    (K.CHARACTER_STRING, "27", True),
    (K.CHARACTER_STRING, "x" * 33, False),
    (K.CHARACTER_STRING, "订单123", False),
    (K.CHARACTER_STRING, "AB 12", False),
    # time: a 24-hour time, a date before it allowed, a span with ~
    (K.TIME, "15:01", True),
    (K.TIME, "9:05", True),
    (K.TIME, "2019年10月1日 15:01", True),
    (K.TIME, "2019年10月1日15:01", True),
    (K.TIME, "2019-10-01 15:01:02", True),
    (K.TIME, "2024-07-12", True),  # a bare date, posted and taken
    (K.TIME, "15:01~16:30", True),
    (K.TIME, "2019-10-01 15:01 ~ 2019-10-01 16:00", True),
    (K.TIME, "24:00", False),
    (K.TIME, "15:60", False),
    (K.TIME, "3pm", False),
    (K.TIME, "2019-10-0115:01", False),
    (K.TIME, "15:01~16:00~17:00", False),
    # date: a date, a time after it allowed
    (K.DATE, "2019年10月1日", True),
    (K.DATE, "2015年01月05日", True),
    (K.DATE, "2019-10-01 15:01", True),
    (K.DATE, "2024/2/29", True),
    (K.DATE, "2019.10.18 12:00", True),
    (K.DATE, "2019-10-01~2019-10-07", True),
    (K.DATE, "2023-02-29", False),
    (K.DATE, "2019-13-01", False),
    (K.DATE, "15:01", False),
    (K.DATE, "tomorrow", False),
    # amount: a currency sign, at most 10 digits, maybe 元
    (K.AMOUNT, "¥8.80", True),
    (K.AMOUNT, "￥100", True),
    (K.AMOUNT, "100元", True),
    (K.AMOUNT, "$1234567890", True),
    (K.AMOUNT, "88.88", True),
    (K.AMOUNT, "¥12345678901", False),
    (K.AMOUNT, "¥¥8", False),
    (K.AMOUNT, "8.8.8", False),
    (K.AMOUNT, "one yuan", False),
    # phone_number: at most 17 digits and symbols
    (K.PHONE_NUMBER, "+86-0766-66888866", True),
    (K.PHONE_NUMBER, "13800138000", True),
    (K.PHONE_NUMBER, "+86-0766-668888666", False),  # 18
    (K.PHONE_NUMBER, "138 0013 8000", False),
    (K.PHONE_NUMBER, "call me", False),
    # car_number: at most 8, letters and digits, Chinese first and last allowed
    (K.CAR_NUMBER, "粤A8Z888挂", True),
    (K.CAR_NUMBER, "京A12345", True),
    (K.CAR_NUMBER, "粤A8Z8888挂", False),  # 9
    (K.CAR_NUMBER, "粤A汉888", False),
    (K.CAR_NUMBER, "A-1234", False),
    # name: at most 10 Chinese characters, or at most 20 letters and symbols
    (K.NAME, "张三", True),
    (K.NAME, "阿卜杜拉·买买提", True),
    (K.NAME, "John Smith", True),
    (K.NAME, "张三 Zhang", True),
    (K.NAME, "张三李四王五赵六钱七", True),  # 10
    (K.NAME, "张三李四王五赵六钱七孙", False),  # 11
    (K.NAME, "a" * 21, False),
    (K.NAME, "审批人2", False),
    # phrase: at most 5 Chinese characters, nothing else
    (K.PHRASE, "配送中", True),
    (K.PHRASE, "正常结束", True),
    (K.PHRASE, "略略略略略略", False),  # 6, posted and refused
    (K.PHRASE, "邀请金到账提醒", False),
    (K.PHRASE, "111", False),  # posted and refused
    (K.PHRASE, "成功!", False),
    # enum: WeChat's own list; only emptiness is refused before it sees the value
    (K.ENUM, "1", True),
    (K.ENUM, "", False),
]

# Characters the cross-check draws random values from: every class the rules tell apart.
ALPHABET = "aZ09.:-/~ 年月日元¥$!·汉字粤挂,_\t🚚"
