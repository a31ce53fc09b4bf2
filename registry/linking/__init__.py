"""Linking source patients to master identities with the matching engine (matching/)."""

from registry.linking.batch import RelinkSummary, relink_all
from registry.linking.incremental import link_changed_patients

__all__ = ["RelinkSummary", "link_changed_patients", "relink_all"]
