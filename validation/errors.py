"""The exceptions medval raises.

Every project exception derives from :class:`MedvalError`. The CLI turns any of
them into exit code 2 ("the run could not be made") with the message, which
names the file, the field and the value wherever there is one.
"""

from __future__ import annotations


class MedvalError(Exception):
    """Base class of every medval error; the CLI exits 2 on it."""

    exit_code = 2


class InputError(MedvalError, ValueError):
    """A file or argument is malformed: names the file, the field and the value."""


class IntegrityError(MedvalError):
    """Bytes do not match their recorded hash (model, cohort file, protocol, report)."""


class ProtocolError(InputError):
    """A protocol is malformed, unlocked, altered, or names other inputs than given."""


class DataQualityError(MedvalError):
    """A cohort failed its data-quality gate in a regulatory run."""


class AuditError(MedvalError):
    """The audit store is unreadable or its chain does not verify."""
