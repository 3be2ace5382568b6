"""Every table of the bot, gathered: `metadata` is what Alembic autogenerate and the migration test compare
against the revisions in core/migrations/versions/.

Each table lives with its owner on the one `Base` of `core.tables`; importing the owners here registers
them all, whichever of them the rest of the process happened to import.
"""

from __future__ import annotations

from core import claims, outbox, replays
from core.endpoints import models as endpoint_models
from core.endpoints import timings
from core.tables import Base
from core.usage import models as usage_models
from core.watchdog import reminders

metadata = Base.metadata

# The modules above are imported for their tables; naming them keeps the imports from looking unused.
TABLE_OWNERS = (endpoint_models, claims, usage_models, reminders, outbox, replays, timings)
