"""User-facing errors.  The CLI prints ``str(e)`` as one line and exits non-zero; anything else
escaping the CLI is a bug in edgecompile."""


class EdgeCompileError(Exception):
    """Base class for every error a user can cause."""


class ModelError(EdgeCompileError):
    """The model file is unreadable, malformed, or uses something we do not support."""


class DataError(EdgeCompileError):
    """An input/calibration .npz does not match the model (names, shapes, dtypes)."""


class OptionError(EdgeCompileError):
    """A bad command-line or API option."""


class BuildError(EdgeCompileError):
    """The C compiler failed on generated code (an edgecompile bug if the toolchain is sane)."""


class VerifyError(EdgeCompileError):
    """The C output differs from the reference."""
