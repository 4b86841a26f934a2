"""Error kinds and the CLI's documented exit codes.

Three kinds, as dolma does: fatal (stop the run), per-file (fail that file, go on),
and per-record (quarantine the record, go on).
"""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a stage failed, or an input file could not be read
    USAGE = 2  # bad arguments, bad recipe, unknown name
    LOCKED = 3  # another curate process holds the store
    VALIDATION_FAILED = 4  # a slice broke its Great Expectations suite
    NOTHING_TO_DO = 5  # `curate run --exit-5-when-idle`: no new input
    INVARIANT_BROKEN = 6  # `curate check` found lost or unexplained documents


EXIT_CODES_HELP = """exit codes:
  0  ok
  1  failed (a stage failed or an input file could not be read)
  2  usage error or bad recipe
  3  the store is locked by another curate process
  4  validation failed (Great Expectations)
  5  nothing to do (only with `curate run --exit-5-when-idle`)
  6  an invariant is broken (`curate check`)
  141  the output was closed early (piped into `head`): nothing is wrong"""


class CurateError(Exception):
    """Fatal for the current command; carries the exit code the CLI returns."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, exit_code: ExitCode | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CurateError):
    exit_code = ExitCode.USAGE


class StoreLockedError(CurateError):
    exit_code = ExitCode.LOCKED


class SchemaError(CurateError):
    exit_code = ExitCode.FAILED


class FileFailedError(CurateError):
    """A whole input file could not be read (corrupt archive, unreadable Parquet)."""

    exit_code = ExitCode.FAILED
