"""Where provreg keeps its state, from the environment.

DATABASE_URL: any reachable PostgreSQL >= 15 (postgresql://user:pass@host/db); when unset,
provreg runs its own embedded PostgreSQL in $PROVREG_HOME/pgdata (default ./.provreg).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    home: Path

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            home=Path(os.environ.get("PROVREG_HOME", ".provreg")).resolve(),
        )
