"""pytest plugin for the WeChat simulator (work in progress)."""
