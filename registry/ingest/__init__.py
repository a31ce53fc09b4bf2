"""Ingest: facility files into the registry, set-based and all-or-nothing per file."""

from registry.ingest.load import LoadResult, Submission, load_file

__all__ = ["LoadResult", "Submission", "load_file"]
