"""All configuration, read once from the environment (prefix ``EXPSVC_``) and passed in."""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any

import platformdirs
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class AuthMode(StrEnum):
    none = "none"
    header = "header"
    jwt = "jwt"


class LogFormat(StrEnum):
    json = "json"
    console = "console"


# Standard Webhooks' (and Svix's) schedule, with more 10 h steps to cover about three days: the
# delays before each retry, in seconds. The first attempt is immediate.
DEFAULT_WEBHOOK_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0) + (36000.0,) * 6


def _is_webhook_secret(value: str) -> bool:
    """``whsec_`` + base64 of 24 to 64 random bytes (Standard Webhooks)."""
    if not value.startswith("whsec_"):
        return False
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        return False
    return 24 <= len(key) <= 64


def identity_settings_problem(settings: Settings) -> str | None:
    """What is missing or contradictory in the identity settings, or None."""
    mode = settings.auth_mode
    if mode is AuthMode.none and settings.identity_header is not None:
        # Before EXPSVC_AUTH_MODE the header alone switched identity on (believed from anyone):
        # such a deployment must now say who may send it, not silently get no identity at all.
        return (
            "EXPSVC_IDENTITY_HEADER is set but EXPSVC_AUTH_MODE is none: set EXPSVC_AUTH_MODE="
            "header and EXPSVC_TRUSTED_PROXIES (the proxies allowed to send the header)"
        )
    header_missing = settings.identity_header is None or not settings.trusted_proxies
    if mode is AuthMode.header and header_missing:
        return "EXPSVC_AUTH_MODE=header needs EXPSVC_IDENTITY_HEADER and EXPSVC_TRUSTED_PROXIES"
    if mode is AuthMode.jwt:
        if settings.jwt_issuer is None or settings.jwt_audience is None:
            return "EXPSVC_AUTH_MODE=jwt needs EXPSVC_JWT_ISSUER and EXPSVC_JWT_AUDIENCE"
        keys = (settings.jwt_jwks_url, settings.jwt_public_key, settings.jwt_hs256_secret)
        if all(key is None for key in keys):
            return (
                "EXPSVC_AUTH_MODE=jwt needs EXPSVC_JWT_JWKS_URL, EXPSVC_JWT_PUBLIC_KEY or "
                "EXPSVC_JWT_HS256_SECRET"
            )
    secret = settings.jwt_hs256_secret
    if secret is not None and len(secret.get_secret_value().encode()) < 32:
        return "EXPSVC_JWT_HS256_SECRET must be at least 32 bytes (RFC 7518 section 3.2)"
    return None


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("expsvc", appauthor=False))


class Settings(BaseSettings):
    """Every knob of the service. Field names map to ``EXPSVC_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="EXPSVC_", extra="ignore", frozen=True)

    # --- database -------------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: an embedded PostgreSQL is started in the data dir.",
    )
    migration_database_url: str | None = Field(
        default=None,
        description=(
            "PostgreSQL URL of the role that owns the tables, for migrations (`expsvc db"
            " upgrade|downgrade`, `serve --migrate`). Unset: EXPSVC_DATABASE_URL migrates too."
        ),
    )
    # A name PostgreSQL takes unquoted: the migrations write it into GRANT statements.
    database_runtime_role: str = Field(
        default="expsvc_runtime",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="The role the migrations grant the service's privileges to (docs/security.md).",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the embedded PostgreSQL keeps its files.",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_pool_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to wait for a pooled connection before 503."
    )
    # A refused connection (PostgreSQL down) fails at once whatever this says; the timeout only
    # bounds an unreachable host. At 3 s, twenty connection attempts of one burst on a loaded CI
    # host expired together while PostgreSQL was up and answering them, and their requests got
    # 503 for nothing.
    db_connect_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for a new database connection."
    )
    db_statement_timeout_ms: int = Field(
        default=10_000, ge=0, description="PostgreSQL statement_timeout per connection (0: off)."
    )
    # Parallel workers multiply a statement's CPU to shorten it on an idle server; a service
    # answering many lists at once has no idle core to give them, and on 1,000,000 runs the
    # filter mix held 200 req/s better without them, one list at a time too (the workers'
    # start cost about 4 ms a statement): docs/performance.md, session 26.
    db_parallel_workers_per_gather: int | None = Field(
        default=0,
        ge=0,
        le=64,
        description="PostgreSQL max_parallel_workers_per_gather of the service's connections "
        "(empty: the server's own).",
    )
    # --- read replica (docs/adr/0029-read-routing-to-a-replica.md) ----------------------------
    database_replica_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of a streaming replica that GET reads (gets, lists, exports) "
        "may use while it is fresh enough. Unset: every read goes to EXPSVC_DATABASE_URL.",
    )
    database_replica_max_lag_ms: int = Field(
        default=1000,
        ge=0,
        le=3_600_000,
        description="Reads go to the primary while the replica's replay lag is past this.",
    )
    database_replica_wait_ms: int = Field(
        default=200,
        ge=0,
        le=10_000,
        description="How long a read sending X-Expsvc-LSN waits for the replica to replay it "
        "before it reads the primary.",
    )
    database_replica_check_interval_ms: int = Field(
        default=500,
        ge=50,
        le=60_000,
        description="The replica's lag is measured at most this often per process, while reads "
        "come in.",
    )

    # --- backups (docs/adr/0024-backups-and-point-in-time-restore.md) -----------------------
    backup_dir: Path | None = Field(
        default=None,
        description="Where `expsvc backup` keeps base backups and archived WAL (unset: "
        "<EXPSVC_DATA_DIR>/backups).",
    )
    backup_database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of a role with REPLICATION for `expsvc backup create` "
        "(unset: the embedded server's superuser; required with EXPSVC_DATABASE_URL).",
    )
    postgres_bindir: Path | None = Field(
        default=None,
        description="Directory of pg_basebackup and pg_verifybackup (unset: the embedded "
        "server's, or `pg_config --bindir`, or the PATH).",
    )

    # --- http -----------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    request_timeout: float = Field(
        default=15.0, gt=0, description="Seconds before a request is abandoned with 503."
    )
    list_total_budget_ms: int = Field(
        default=200,
        ge=1,
        le=60_000,
        description="Time a list's total=exact may count for; past it the total is estimated.",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Largest request body.")
    retry_after_seconds: int = Field(
        default=2, ge=1, description="Retry-After sent with 503 answers."
    )

    # --- exports (docs/adr/0016-exports.md) ---------------------------------------------------
    # Each export holds a pooled connection for as long as its client reads. 4 of the default
    # pool of 10 (plus 10 overflow) leaves most of the pool to the rest of the API however many
    # clients export at once; keep it well under EXPSVC_DB_POOL_SIZE.
    export_max_concurrent: int = Field(
        default=4,
        ge=1,
        le=200,
        description="Exports served at once per process; one more is refused with 503.",
    )
    export_stall_seconds: float = Field(
        default=60,
        gt=0,
        description="An export whose client takes no data for this long is abandoned.",
    )

    # --- identity (docs/security.md) ---------------------------------------------------------
    auth_mode: AuthMode = Field(
        default=AuthMode.none,
        description=(
            "How callers are identified: none (loopback only, the local user is an admin),"
            " header (trusted proxies' identity header) or jwt (Authorization: Bearer)."
        ),
    )
    identity_header: str | None = Field(
        default=None,
        description="header mode: the header carrying the principal (e.g. X-Forwarded-User).",
    )
    groups_header: str | None = Field(
        default=None, description="header mode: the header carrying comma-separated groups."
    )
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = Field(
        default=(),
        description="header mode: CIDRs of the peers whose identity header is believed.",
    )
    admin_principals: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(), description="Principals that are admins (comma-separated)."
    )
    admin_groups: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(), description="Members of these groups are admins (comma-separated)."
    )
    jwt_jwks_url: str | None = Field(
        default=None, description="jwt mode: the issuer's JWKS URL (keys chosen by kid)."
    )
    jwt_public_key: str | None = Field(
        default=None, description="jwt mode: a PEM public key (RSA, EC P-256 or Ed25519)."
    )
    jwt_hs256_secret: SecretStr | None = Field(
        default=None,
        description="jwt mode: allow HS256 tokens signed with this secret (at least 32 bytes).",
    )
    jwt_issuer: str | None = Field(default=None, description="jwt mode: the required iss.")
    jwt_audience: str | None = Field(default=None, description="jwt mode: the required aud.")
    jwt_leeway_seconds: float = Field(
        default=30, ge=0, le=300, description="Clock skew allowed on exp and nbf."
    )
    jwt_principal_claim: str = Field(default="sub", min_length=1)
    jwt_groups_claim: str = Field(default="groups", min_length=1)
    jwks_cache_seconds: float = Field(
        default=300, ge=10, description="Keys are fetched again after this long."
    )
    jwks_min_refresh_seconds: float = Field(
        default=30,
        ge=0,
        description="An unknown kid fetches the keys at most once per this many seconds.",
    )
    jwks_timeout_seconds: float = Field(default=5, gt=0, le=60)
    jwt_cache_size: int = Field(
        default=10_000, ge=0, le=1_000_000, description="Verified tokens remembered (LRU)."
    )

    # --- idempotency ----------------------------------------------------------------------
    idempotency_ttl_hours: float = Field(
        default=24, ge=1, description="Hours an Idempotency-Key is remembered before it expires."
    )
    idempotency_purge_interval_seconds: float = Field(
        default=600, ge=0, description="Seconds between purges of expired keys (0: no purging)."
    )

    # --- partitions (docs/adr/0020-monthly-partitions.md) -----------------------------------
    partition_maintenance_interval_seconds: float = Field(
        default=3600,
        ge=0,
        description="Seconds between passes that create monthly partitions ahead and drop whole "
        "ones past retention (0: never; `expsvc db partitions` does it on demand).",
    )
    partition_months_ahead: int = Field(
        default=3, ge=1, le=24, description="Months of partitions kept ready after the current one."
    )
    status_history_retention_hours: float = Field(
        default=0,
        ge=0,
        description="Status history is dropped a month at a time once its whole month is this "
        "old (0: kept for ever).",
    )

    # --- worker and run liveness ------------------------------------------------------------
    worker_shutdown_grace_seconds: float = Field(
        default=30,
        gt=0,
        description="On SIGTERM, seconds jobs get to finish their current batch before cancel.",
    )
    run_heartbeat_timeout_seconds: int = Field(
        default=600,
        ge=10,
        le=604_800,
        description="A running run with no heartbeat (or start) for this long is failed.",
    )
    run_max_duration_seconds: int | None = Field(
        default=None,
        ge=60,
        le=31_536_000,
        description="Runs running longer than this are failed (unset: no limit).",
    )
    reaper_interval_seconds: float = Field(
        default=30, ge=0, description="Seconds between passes of the run reaper (0: off)."
    )
    reaper_batch_size: int = Field(
        default=100, ge=1, le=10_000, description="Runs the reaper fails per transaction."
    )

    # --- metrics service ------------------------------------------------------------------
    metrics_service_url: str | None = Field(
        default=None,
        description="Base URL of the Metrics Service, for run cards (unset: cards carry none).",
    )
    metrics_service_timeout_seconds: float = Field(
        default=0.3, gt=0, le=30, description="Whole-request deadline of one Metrics call."
    )
    metrics_breaker_failure_threshold: int = Field(
        default=5, ge=1, le=1000, description="Consecutive Metrics failures that open the breaker."
    )
    metrics_breaker_cooldown_seconds: float = Field(
        default=30, gt=0, description="Seconds the open breaker waits before one trial call."
    )

    # --- events -----------------------------------------------------------------------------
    relay_enabled: bool = Field(
        default=True,
        description="Run the outbox relay inside `expsvc serve` (off: run `expsvc worker`).",
    )
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    event_source: str = Field(
        default="/expsvc", description="CloudEvents `source` of every event we publish."
    )
    event_retention_hours: float = Field(
        default=168, gt=0, description="Published events stay readable in /v1/events this long."
    )
    event_feed_scan_limit: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Most events one read of the feed (or its stream) examines for its filters; "
        "its cursor moves past them even when none matched.",
    )
    event_purge_interval_seconds: float = Field(
        default=600,
        ge=0,
        description="Seconds between deletions of events past retention (0: never delete).",
    )
    relay_metrics_interval_seconds: float = Field(
        default=15, ge=0, description="Seconds between refreshes of the backlog metrics (0: off)."
    )
    redis_url: str | None = Field(
        default=None, description="Publish events to a Redis Stream (unset: off)."
    )
    redis_stream: str = "expsvc.events"
    redis_stream_maxlen: int = Field(
        default=1_000_000, ge=1000, description="Approximate MAXLEN of the stream (XADD ~)."
    )
    kafka_bootstrap: str | None = Field(
        default=None, description="Publish events to Kafka (bootstrap servers; unset: off)."
    )
    kafka_topic: str = "expsvc.events"
    kafka_publish_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="Seconds the broker has to acknowledge a batch before the relay retries it.",
    )

    # --- webhooks ---------------------------------------------------------------------------
    webhook_timeout_seconds: float = Field(
        default=15.0, gt=0, le=300, description="A delivery attempt must answer 2xx within this."
    )
    webhook_retry_schedule: Annotated[tuple[float, ...], NoDecode] = Field(
        default=DEFAULT_WEBHOOK_RETRY_SCHEDULE,
        min_length=0,
        max_length=100,
        description="Seconds before each retry, comma-separated; attempts = 1 + its length.",
    )
    webhook_disable_after_hours: float = Field(
        default=120, gt=0, description="Disable an endpoint whose attempts fail for this long."
    )
    webhook_max_in_flight_per_endpoint: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="Attempts to one webhook in flight at once, over all workers: a slow or "
        "hanging receiver holds at most this many of a worker's 16 slots.",
    )
    webhook_max_per_owner: int = Field(
        default=25, ge=1, le=10_000, description="Webhooks one principal may own at once."
    )
    webhook_allow_private_targets: bool = Field(
        default=False,
        description="Allow webhook URLs on private, loopback and link-local addresses.",
    )
    webhook_secret_overlap_hours: float = Field(
        default=24, ge=0, description="After a rotation, the old secret also signs this long."
    )
    webhook_delivery_retention_hours: float = Field(
        default=720,
        gt=0,
        description=(
            "Finished deliveries and their attempts are kept at least this long: a month of them "
            "is dropped once this much has passed since its end (migration 0025)."
        ),
    )

    # --- secrets at rest (docs/adr/0011-secrets-at-rest.md) ----------------------------------
    secret_keys: SecretStr | None = Field(
        default=None,
        description=(
            "Fernet keys, comma-separated, that encrypt secrets at rest: the first encrypts, all"
            " decrypt (add the new key first to rotate). Unset: the embedded default keeps a key"
            " in the data dir; with EXPSVC_DATABASE_URL set, the service refuses to start."
        ),
    )

    # --- integrations (docs/integrations.md) -------------------------------------------------
    telemetry_ingest_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Standard Webhooks secret (whsec_...) Telemetry Ingest signs its events with; several"
            " separated by spaces during a rotation. Unset: the telemetry endpoint answers 404."
        ),
    )
    telemetry_ingest_url: str | None = Field(
        default=None,
        description="Base URL of Telemetry Ingest's status API, pulled by the reconciliation.",
    )
    telemetry_ingest_token: SecretStr | None = Field(
        default=None, description="Bearer token sent to Telemetry Ingest's status API."
    )
    telemetry_ingest_timeout_seconds: float = Field(
        default=5.0, gt=0, le=120, description="Deadline of one call to Telemetry Ingest."
    )
    telemetry_lost_after_seconds: float = Field(
        default=900,
        ge=0,
        description="A running capture session with no telemetry this long is failed (0: never).",
    )
    capture_reconcile_interval_seconds: float = Field(
        default=60, ge=0, description="Seconds between capture reconciliation passes (0: off)."
    )
    artifact_service_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Standard Webhooks secret the Artifact Service signs its events with (as above)."
            " Unset: the artifact endpoint answers 404."
        ),
    )
    integration_retention_hours: float = Field(
        default=168,
        gt=0,
        description="Inbound event ids (deduplication) and orphan telemetry are kept this long.",
    )

    # --- observability --------------------------------------------------------------------
    tracing_enabled: bool = Field(
        default=False,
        description=(
            "OpenTelemetry traces, exported with OTLP over HTTP/protobuf as the standard OTEL_* "
            "variables say (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER)."
        ),
    )
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.json

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @field_validator("db_parallel_workers_per_gather", mode="before")
    @classmethod
    def _empty_is_the_servers(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _delays_not_negative(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry delays cannot be negative")
        return value

    @field_validator("admin_principals", "admin_groups", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        try:
            return tuple(ip_network(str(item)) for item in cls._split_list(value))
        except ValueError as error:
            raise ValueError(f"trusted proxies must be CIDRs like 10.0.0.0/8: {error}") from None

    @model_validator(mode="after")
    def _identity_is_complete(self) -> Settings:
        problem = identity_settings_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _migration_url_needs_a_database(self) -> Settings:
        if self.migration_database_url is not None and self.database_url is None:
            # The embedded default makes its own roles; an owner URL without the service's
            # would migrate one database and serve another.
            raise ValueError("EXPSVC_MIGRATION_DATABASE_URL needs EXPSVC_DATABASE_URL")
        return self

    @model_validator(mode="after")
    def _replica_needs_a_primary(self) -> Settings:
        if self.database_replica_url is not None and self.database_url is None:
            raise ValueError("EXPSVC_DATABASE_REPLICA_URL needs EXPSVC_DATABASE_URL")
        return self

    @property
    def webhook_max_attempts(self) -> int:
        return 1 + len(self.webhook_retry_schedule)

    @field_validator("telemetry_ingest_secret", "artifact_service_secret")
    @classmethod
    def _standard_webhooks_secrets(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = value.get_secret_value().split()
        if not parts:
            return None
        for part in parts:
            if not _is_webhook_secret(part):
                raise ValueError("expected whsec_ followed by base64 of 24 to 64 bytes")
        return value

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def migrations_url(self) -> str | None:
        """Where migrations run: the owner's URL, else the service's own (one role for both)."""
        return self.migration_database_url or self.database_url
