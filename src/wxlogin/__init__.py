"""wxlogin — the login and identity backend for WeChat Mini Programs."""

__version__ = "0.1.0"

__all__ = ["__version__"]
