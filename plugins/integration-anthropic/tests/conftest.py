"""A real OTLP/HTTP receiver on 127.0.0.1 (the fake provider's, shared by every test tree)."""

from llmlog_fake_provider.pytest_fixtures import receiver

__all__ = ["receiver"]
