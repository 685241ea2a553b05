"""A stateful fake of api.weixin.qq.com (work in progress)."""
