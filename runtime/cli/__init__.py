"""The ``facert`` command line."""
