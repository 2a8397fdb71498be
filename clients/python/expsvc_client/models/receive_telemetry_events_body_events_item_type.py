from enum import StrEnum


class ReceiveTelemetryEventsBodyEventsItemType(StrEnum):
    CAPTURE_STARTED = "capture.started"
    CAPTURE_STOPPED = "capture.stopped"
    SENSOR_LINKED = "sensor.linked"
    TELEMETRY_HEARTBEAT = "telemetry.heartbeat"

    def __str__(self) -> str:
        return str(self.value)
