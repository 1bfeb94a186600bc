"""The one exception type for mistakes in user input (config keys, paths, names, shapes)."""


class UserError(ValueError):
    """Bad input: the message names the file, key or value and what would be valid.

    The ``attriflow`` console script prints these without a traceback.
    """
