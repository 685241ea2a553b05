"""Login use-cases and policy. Imports no web framework."""

from wxlogin.service.factory import build_service
from wxlogin.service.login import LoginOutcome, LoginService, ServicePolicy, TokenPair

__all__ = ["LoginOutcome", "LoginService", "ServicePolicy", "TokenPair", "build_service"]
