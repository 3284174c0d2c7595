"""Errors a person can act on. The CLI turns them into one-line messages and exit codes."""


class EngineError(Exception):
    """Base of the engine's own errors: the message is complete and names what to fix."""


class InputError(EngineError):
    """An input path, a threshold table or an option is unusable (CLI exit status 2)."""


class NoRecognisedLines(EngineError):
    """Every input was readable but none held a line of a known log family (CLI exit status 3)."""
