"""The one exception type for bad user input; the CLI prints its message on one line and exits 2."""


class SinetuneError(ValueError):
    """A problem with the user's input (file, option, run directory), stated in one line."""
