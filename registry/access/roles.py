"""Roles and what each may do: least privilege, one permission per kind of action."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CLINICIAN = "clinician"
    STEWARD = "steward"
    FACILITY = "facility"
    ADMIN = "admin"


class Permission(StrEnum):
    READ_PATIENT = "read patient history"
    SEARCH_PATIENTS = "search patients"
    IDENTITY_WORK = "link and unlink identities"
    READ_ACCESS_LOG = "read a patient's access log"
    READ_FACILITIES = "read facilities"
    POST_EXTRACT = "post extracts"
    READ_OWN_BATCHES = "read own facility's batches"
    READ_ALL_BATCHES = "read every facility's batches"
    MANAGE_TOKENS = "manage tokens"
    MANAGE_FACILITIES = "manage facilities"


_CLINICIAN = frozenset({Permission.READ_PATIENT, Permission.SEARCH_PATIENTS, Permission.READ_FACILITIES})

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CLINICIAN: _CLINICIAN,
    # Stewards fix identities and data quality: they see every batch's rejects too.
    Role.STEWARD: _CLINICIAN
    | {Permission.IDENTITY_WORK, Permission.READ_ACCESS_LOG, Permission.READ_ALL_BATCHES},
    Role.FACILITY: frozenset({Permission.POST_EXTRACT, Permission.READ_OWN_BATCHES}),
    # Admins run the service; they do not read patients' clinical data.
    Role.ADMIN: frozenset(
        {
            Permission.MANAGE_TOKENS,
            Permission.MANAGE_FACILITIES,
            Permission.READ_ACCESS_LOG,
            Permission.READ_FACILITIES,
            Permission.READ_ALL_BATCHES,
        }
    ),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]
