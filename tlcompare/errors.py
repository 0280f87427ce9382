"""Errors the user can act on.

Every error raised for bad input, missing data or unavailable weights is a ``UserError``: the CLI
prints its message as one line and exits non-zero, the dashboard shows it as a message box. Any
other exception is a bug in tlcompare.
"""


class UserError(Exception):
    """A problem with the user's input or environment, with a message that names the fix."""


class SpecError(UserError):
    """An invalid experiment spec; holds one message per invalid value."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class DataUnavailable(UserError):
    """A dataset that is neither on disk nor downloadable right now."""


class WeightsUnavailable(UserError):
    """Pretrained weights that are neither on disk nor downloadable right now."""


class UnsafeArchive(UserError):
    """An uploaded or named archive refused before anything of it was written to disk."""
