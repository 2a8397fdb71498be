from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.card_part import CardPart

if TYPE_CHECKING:
    from ..models.artifact_read import ArtifactRead
    from ..models.capture_read import CaptureRead
    from ..models.run_metrics import RunMetrics
    from ..models.run_read import RunRead


T = TypeVar("T", bound="RunCard")


@_attrs_define
class RunCard:
    """A run with everything known about it, in one answer.

    Attributes:
        run (RunRead):
        captures (list[CaptureRead]): Capture sessions, newest first.
        sensors (list[str]): Every sensor of the run's capture sessions, sorted.
        artifacts (list[ArtifactRead]): Artifact links: the approved model first, then oldest first.
        metrics (None | RunMetrics): Aggregates from the Metrics Service; null when it is not configured or when
            degraded names metrics.
        degraded (list[CardPart]): Parts that could not be fetched this time (metrics: the Metrics Service failed, was
            too slow, or is skipped while its circuit breaker is open). The rest of the card is complete.
        truncated (list[CardPart]): Lists cut at their limit (see the list endpoints for everything).
    """

    run: RunRead
    captures: list[CaptureRead]
    sensors: list[str]
    artifacts: list[ArtifactRead]
    metrics: None | RunMetrics
    degraded: list[CardPart]
    truncated: list[CardPart]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.run_metrics import RunMetrics  # noqa: PLC0415

        run = self.run.to_dict()

        captures = []
        for captures_item_data in self.captures:
            captures_item = captures_item_data.to_dict()
            captures.append(captures_item)

        sensors = self.sensors

        artifacts = []
        for artifacts_item_data in self.artifacts:
            artifacts_item = artifacts_item_data.to_dict()
            artifacts.append(artifacts_item)

        metrics: dict[str, Any] | None
        if isinstance(self.metrics, RunMetrics):
            metrics = self.metrics.to_dict()
        else:
            metrics = self.metrics

        degraded = []
        for degraded_item_data in self.degraded:
            degraded_item = degraded_item_data.value
            degraded.append(degraded_item)

        truncated = []
        for truncated_item_data in self.truncated:
            truncated_item = truncated_item_data.value
            truncated.append(truncated_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "run": run,
                "captures": captures,
                "sensors": sensors,
                "artifacts": artifacts,
                "metrics": metrics,
                "degraded": degraded,
                "truncated": truncated,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.artifact_read import ArtifactRead  # noqa: PLC0415
        from ..models.capture_read import CaptureRead  # noqa: PLC0415
        from ..models.run_metrics import RunMetrics  # noqa: PLC0415
        from ..models.run_read import RunRead  # noqa: PLC0415

        d = dict(src_dict)
        run = RunRead.from_dict(d.pop("run"))

        captures = []
        _captures = d.pop("captures")
        for captures_item_data in _captures:
            captures_item = CaptureRead.from_dict(captures_item_data)

            captures.append(captures_item)

        sensors = cast(list[str], d.pop("sensors"))

        artifacts = []
        _artifacts = d.pop("artifacts")
        for artifacts_item_data in _artifacts:
            artifacts_item = ArtifactRead.from_dict(artifacts_item_data)

            artifacts.append(artifacts_item)

        def _parse_metrics(data: object) -> None | RunMetrics:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                metrics_type_0 = RunMetrics.from_dict(data)

                return metrics_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RunMetrics, data)

        metrics = _parse_metrics(d.pop("metrics"))

        degraded = []
        _degraded = d.pop("degraded")
        for degraded_item_data in _degraded:
            degraded_item = CardPart(degraded_item_data)

            degraded.append(degraded_item)

        truncated = []
        _truncated = d.pop("truncated")
        for truncated_item_data in _truncated:
            truncated_item = CardPart(truncated_item_data)

            truncated.append(truncated_item)

        run_card = cls(
            run=run,
            captures=captures,
            sensors=sensors,
            artifacts=artifacts,
            metrics=metrics,
            degraded=degraded,
            truncated=truncated,
        )

        run_card.additional_properties = d
        return run_card

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
