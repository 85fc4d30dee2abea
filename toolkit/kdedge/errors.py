"""Errors that kdedge reports to users as one clear line (the CLI turns them into exit code 1)."""


class KdedgeError(Exception):
    """Base class: anything the user can fix (bad input, missing file, corrupted bundle)."""


class DataError(KdedgeError, ValueError):
    """A dataset file or hub dataset cannot be used; the message names the file and row."""


class BundleError(KdedgeError):
    """A saved student, teacher or exported bundle is missing, corrupted or of another format."""
