"""Typed async client for WeChat Pay API v3 (JSAPI orders, refunds, verified callbacks).

``wxlogin.pay.protocol`` holds the wire facts the simulator shares; it loads no client code.
"""
