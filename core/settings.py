"""The bot's one settings object, read from environment variables and an optional `.env` file.

Every field documents its default. Most variables take the `ENDPOINT_BOT_` prefix
(`ENDPOINT_BOT_LAUNCHER=local`); the well-known tokens keep their usual names (`SLACK_BOT_TOKEN`,
`SLACK_APP_TOKEN`, `SLACK_SIGNING_SECRET`, `SLACK_API_URL`, `HF_TOKEN`). Durations accept `45m`,
`8h`, `1h30m` or a number of seconds.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, AliasChoices, BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.policy.loader import load_policy
from core.units import coerce_duration


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _check_policy_file(path: Path | None) -> Path | None:
    """A policy file that cannot be used refuses the start, naming the line and the reason."""
    if path is not None:
        load_policy(path)  # PolicyError (a ValueError): pydantic reports it under policy_file
    return path


# What engines commonly read from their environment (see `local_engine_env`).
DEFAULT_ENGINE_ENV = (
    "VLLM_*",
    "SGLANG_*",
    "CUDA_*",
    "NCCL_*",
    "OMP_*",
    "MKL_*",
    "TORCH_*",
    "TORCHINDUCTOR_*",
    "TRITON_*",
    "LD_PRELOAD",
)

Duration = Annotated[timedelta, BeforeValidator(coerce_duration)]
CsvList = Annotated[list[str], NoDecode, BeforeValidator(_csv)]


class Settings(BaseSettings):
    """All configuration. Field descriptions are the documentation (README's table comes from them)."""

    model_config = SettingsConfigDict(
        env_prefix="ENDPOINT_BOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- Slack -------------------------------------------------------------------------------
    slack_bot_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_BOT_TOKEN", "ENDPOINT_BOT_SLACK_BOT_TOKEN"),
        description="Bot token (`xoxb-...`). Without Slack tokens `endpoint-bot` starts the shell adapter. Default: unset.",
    )
    slack_app_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_APP_TOKEN", "ENDPOINT_BOT_SLACK_APP_TOKEN"),
        description="App-level token (`xapp-...`, scope connections:write) for Socket Mode. Default: unset.",
    )
    slack_signing_secret: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "ENDPOINT_BOT_SLACK_SIGNING_SECRET"),
        description="Signing secret, needed in HTTP mode (`serve --http`). Default: unset.",
    )
    slack_api_url: str = Field(
        "https://slack.com/api/",
        validation_alias=AliasChoices("SLACK_API_URL", "ENDPOINT_BOT_SLACK_API_URL"),
        description="Slack Web API base URL (proxies, tests). Default: https://slack.com/api/.",
    )
    admin_user_ids: CsvList = Field(
        default_factory=list,
        description="Comma-separated user ids who may stop or extend anyone's endpoint. Default: none.",
    )
    policy_file: Annotated[Path | None, AfterValidator(_check_policy_file)] = Field(
        None,
        description="Team policy (YAML): admins, channels, per-user and per-group limits, allowed GPUs and "
        "models, where API keys go. Checked at start (a bad file refuses to start), re-read when it "
        "changes. Default: unset (no rules beyond these settings).",
    )
    shell_user: str = Field(
        "U_SHELL",
        description="Who you are in the shell adapter (`ENDPOINT_BOT_SHELL_USER`). Default: U_SHELL.",
    )
    shell_channel: str = Field(
        "C_SHELL", description="Channel id the shell adapter pretends to be in. Default: C_SHELL."
    )
    shell_wait: bool = Field(
        False,
        description="When the shell's input ends (EOF or `quit`), wait for launches and teardowns in flight "
        "instead of leaving them to the next start's reconcile (`endpoint-bot shell --wait`). Default: false.",
    )
    http_port: int = Field(3000, description="Port for HTTP mode (`serve --http`). Default: 3000.")

    # --- Hugging Face ------------------------------------------------------------------------
    hf_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("HF_TOKEN", "ENDPOINT_BOT_HF_TOKEN"),
        description="Hugging Face token: read gated configs, and handed to clusters as a secret. Default: unset.",
    )
    facts_cache_dir: Path = Field(
        Path.home() / ".cache" / "endpoint-bot" / "facts",
        description="Where model facts fetched from the Hub are cached. Default: ~/.cache/endpoint-bot/facts.",
    )

    # --- Store -------------------------------------------------------------------------------
    db_path: Path = Field(
        Path("endpoint-bot.db"), description="SQLite database file (WAL mode). Default: ./endpoint-bot.db."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL (e.g. postgresql+psycopg://...); overrides db_path. Default: unset."
    )

    # --- Launching ---------------------------------------------------------------------------
    launcher: Literal["skypilot", "local"] = Field(
        "skypilot",
        description="How clusters are started: `skypilot` (clouds) or `local` (this host). Default: skypilot.",
    )
    local_engine_command: str | None = Field(
        None,
        description="Executable (and leading args) that replaces `vllm`/`python -m sglang.launch_server` for the "
        "local launcher, e.g. a fake engine in tests. Default: unset (the real engine).",
    )
    local_engine_env: CsvList = Field(
        default_factory=lambda: list(DEFAULT_ENGINE_ENV),
        description="Comma-separated environment variables the local launcher passes on to engines besides "
        "PATH, HOME, locale, CUDA_VISIBLE_DEVICES and the HF_HOME / HF_HUB_OFFLINE family; `NAME*` is a "
        "prefix. Nothing else of the bot's environment reaches an engine (Slack tokens and "
        "`ENDPOINT_BOT_*` never do; HF_TOKEN and the API key go as the launch's secrets). A real vLLM on "
        "CPU gets `VLLM_CPU_KVCACHE_SPACE`, `OMP_NUM_THREADS` and `LD_PRELOAD` by default. "
        f"Default: {','.join(DEFAULT_ENGINE_ENV)}.",
    )
    local_state_dir: Path | None = Field(
        None,
        description="Where the local launcher keeps its clusters' state and logs. "
        "Default: unset (~/.cache/endpoint-bot/local).",
    )
    allow_local_models: bool = Field(
        False,
        description="Accept local model directories (`/abs`, `./dir`, `~/dir`) in chat `up` and `fit` with the "
        "skypilot launcher too. Off because the bot would read files on its own host for anyone in Slack "
        "(and tell them which folders exist); the local launcher always accepts them. Default: false.",
    )
    cluster_prefix: str = Field(
        "epb-", description="Prefix of every cluster name the bot creates. Default: epb-."
    )
    default_engine: Literal["vllm", "sglang"] = Field(
        "vllm", description="Engine when `engine=` is not given. Default: vllm."
    )
    vllm_image: str = Field(
        "vllm/vllm-openai:v0.33.0", description="Pinned vLLM image. Default: vllm/vllm-openai:v0.33.0."
    )
    sglang_image: str = Field(
        "lmsysorg/sglang:v0.5.23", description="Pinned SGLang image. Default: lmsysorg/sglang:v0.5.23."
    )
    engine_port: int = Field(8000, description="Port the engine listens on in the cluster. Default: 8000.")
    disk_size_gb: int = Field(256, description="Boot disk size for clusters. Default: 256.")
    default_cloud: str | None = Field(
        None, description="Cloud when `cloud=` is not given (unset: cheapest). Default: unset."
    )
    default_region: str | None = Field(
        None, description="Region when `region=` is not given. Default: unset."
    )
    use_spot: bool = Field(False, description="Spot instances when `spot=` is not given. Default: false.")
    weights_bucket: str | None = Field(
        None, description="Bucket (gs://, s3://) mounted as a persistent Hugging Face cache. Default: unset."
    )
    tls_cert_file: Path | None = Field(
        None,
        description="The team's TLS certificate (PEM, full chain) that engines serve HTTPS with, instead of a "
        "private CA the bot makes per endpoint. It must name the address clients use. Needs `tls_key_file`. "
        "Default: unset (a private CA per endpoint).",
    )
    tls_key_file: Path | None = Field(
        None,
        description="The private key (PEM, unencrypted) of `tls_cert_file`; it reaches clusters as a secret, "
        "never in a task's text. Default: unset.",
    )
    readiness_deadline: Duration = Field(
        timedelta(minutes=30), description="How long a launch may take to answer a completion. Default: 30m."
    )
    readiness_poll_first: float = Field(
        0.25,
        description="Seconds before the second readiness probe of a starting engine; the gap doubles up to "
        "`readiness_poll_max`. A probe waits for its answer before the next is sent. Default: 0.25.",
    )
    readiness_poll_max: float = Field(
        1.0,
        description="Longest gap in seconds between readiness probes (the engine's health route, one request "
        "at a time): a ready engine is noticed within about this long. Default: 1.",
    )
    request_poll_seconds: float = Field(
        2.0,
        description="Seconds between the polls of the launch requests in flight (one status call for all "
        "of them): a finished cluster launch is noticed within about this long. Default: 2.",
        gt=0,
    )
    claim_ttl: Duration = Field(
        timedelta(minutes=3),
        description="How long a bot process's hold on a launch or teardown lasts without renewal (renewed "
        "every third of it); after a crash, a restarted bot resumes the work once it lapses. Default: 3m.",
    )
    key_delivery_deadline: Duration = Field(
        timedelta(minutes=10),
        description="How long the bot keeps trying to give an endpoint's API key to its owner (thread, then DM) "
        "while Slack refuses it; past this the endpoint, which nobody can use, is torn down. Default: 10m.",
    )
    max_replicas: int = Field(
        8,
        description="Most replicas one endpoint may have (`replicas=N`, or the top of `autoscale=MIN-MAX`); "
        "replicas run as a SkyServe service and need the SkyPilot launcher. Default: 8.",
    )
    tls_cert_file: Path | None = Field(
        None,
        description="The team's TLS certificate (PEM, with its chain) for endpoints; a replicas service "
        "terminates TLS at SkyServe's load balancer with it. Default: unset (plain HTTP).",
    )
    tls_key_file: Path | None = Field(
        None,
        description="The private key of `tls_cert_file` (PEM). Default: unset.",
    )
    worker_threads: int = Field(
        16,
        description="Threads in the bot's own worker pool (the short steps of launches, teardowns; a "
        "launch in the cloud holds none). Default: 16.",
    )

    # --- Watchdog ----------------------------------------------------------------------------
    idle_timeout: Duration = Field(
        timedelta(minutes=45), description="Idle time before teardown (`idle=`). Default: 45m."
    )
    idle_warning_lead: Duration = Field(
        timedelta(minutes=10),
        description="How long before an idle teardown the owner is warned. Default: 10m.",
    )
    default_ttl: Duration = Field(
        timedelta(hours=8), description="Lifetime when `ttl=` is not given. Default: 8h."
    )
    max_ttl: Duration = Field(
        timedelta(hours=72), description="Admin ceiling on lifetime, including extensions. Default: 72h."
    )
    expiry_warning_lead: Duration = Field(
        timedelta(minutes=15), description="How long before expiry the owner is warned. Default: 15m."
    )
    cost_reminder_every: float = Field(
        25.0, description="DM the owner each time cost crosses a multiple of this ($). Default: 25."
    )
    team_daily_budget: float | None = Field(
        None, description="Team-wide $ per UTC day; past it, new launches are refused. Default: unset."
    )
    watchdog_interval: Duration = Field(
        timedelta(seconds=60), description="Time between watchdog ticks. Default: 60s."
    )
    watchdog_mode: Literal["process", "thread", "separate"] = Field(
        "process",
        description="Where the Slack bot (`serve`) runs the watchdog: `process`, a child process "
        "(`endpoint-bot watchdog`) it starts, restarts if it dies and stops with itself, so scraping never "
        "competes with Slack's acks for the interpreter; `thread`, a thread of the bot's process; "
        "`separate`, not at all (run `endpoint-bot watchdog` yourself, on the same database). The shell "
        "adapter always uses a thread. Default: process.",
    )
    reconcile_interval: Duration = Field(
        timedelta(minutes=5), description="Time between reconcile sweeps. Default: 5m."
    )
    scrape_timeout: Duration = Field(
        timedelta(seconds=5), description="Timeout of one /metrics scrape. Default: 5s."
    )
    scrape_concurrency: int = Field(64, description="Concurrent /metrics scrapes per tick. Default: 64.")

    log_level: str = Field("INFO", description="Logging level. Default: INFO.")

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(
                "ENDPOINT_BOT_TLS_CERT_FILE and ENDPOINT_BOT_TLS_KEY_FILE go together: set both (the team "
                "certificate and its key) or neither (the bot makes a private CA per endpoint)"
            )
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL in force: `database_url` if set, else the SQLite file."""
        return self.database_url or f"sqlite:///{self.db_path}"

    @property
    def has_slack(self) -> bool:
        """True when a bot token is configured (otherwise the shell adapter runs)."""
        return self.slack_bot_token is not None


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and `.env`), with explicit overrides for tests."""
    return Settings(**overrides)  # type: ignore[arg-type]
