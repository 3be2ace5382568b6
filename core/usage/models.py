"""The `endpoint_usage` table: what the watchdog's scrapes and the cost bookkeeping keep per endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from core.tables import Base, JsonDict, UtcDateTime


class EndpointUsage(Base):
    """Usage counters the watchdog keeps per endpoint, summed across engine restarts."""

    __tablename__ = "endpoint_usage"

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    requests: Mapped[float] = mapped_column(Float, default=0.0)
    prompt_tokens: Mapped[float] = mapped_column(Float, default=0.0)
    generation_tokens: Mapped[float] = mapped_column(Float, default=0.0)
    # The raw counter values of the last successful scrape (to detect growth and resets).
    raw_requests: Mapped[float | None] = mapped_column(Float)
    raw_prompt_tokens: Mapped[float | None] = mapped_column(Float)
    raw_generation_tokens: Mapped[float | None] = mapped_column(Float)
    latency: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)  # {"ttft_p50": s, ...}
    last_scrape_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_scrape_ok: Mapped[bool] = mapped_column(default=True)
    consecutive_scrape_failures: Mapped[int] = mapped_column(Integer, default=0)
    cost_accrued_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
