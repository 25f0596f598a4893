"""Fixtures of the exporter's tests: a real OTLP/HTTP receiver on 127.0.0.1 that decodes the
protobuf requests (traces and logs), the fake provider's, shared by every test tree."""

from llmlog_fake_provider.pytest_fixtures import receiver

__all__ = ["receiver"]
