"""Typed models of the access tables that sql/0002_access.sql creates: API tokens and the patient-access audit.

Importing this module registers the tables with `registry.db.models.Base`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Mapped

from registry.db.models import Base, _id


class ApiToken(Base):
    __tablename__ = "api_token"
    id: Mapped[int] = _id()
    name: Mapped[str]
    role: Mapped[str]
    facility_code: Mapped[str | None]
    token_hash: Mapped[str]
    token_prefix: Mapped[str]
    created_by: Mapped[str]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None]


class PatientAccess(Base):
    __tablename__ = "patient_access"
    id: Mapped[int] = _id()
    accessed_at: Mapped[datetime]
    token_id: Mapped[int]
    actor: Mapped[str]
    role: Mapped[str]
    master_patient_id: Mapped[int]
    operation: Mapped[str]
    purpose: Mapped[str]
    request_id: Mapped[str]
