"""One error base class: the CLI turns it into a single `Error: ...` line."""


class AnnotatorError(Exception):
    """An expected failure whose message names the cause and the fix."""

    exit_code = 1


class InputError(AnnotatorError):
    """Bad input from the user (file, schema name, flag)."""

    exit_code = 2


class LLMError(AnnotatorError):
    """The LLM server could not be reached or kept failing."""


class LabelStudioError(AnnotatorError):
    """Label Studio could not be reached or refused a request."""


class ServiceError(AnnotatorError):
    """A managed local service (Label Studio, llama.cpp) failed to install or start."""
