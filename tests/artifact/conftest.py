from tests.telemetry.conftest import ingest, integrated_app, integration_overrides

__all__ = ["ingest", "integrated_app", "integration_overrides"]
