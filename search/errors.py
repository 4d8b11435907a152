"""Errors raised by the search library; every one derives from SearchError."""


class SearchError(Exception):
    """Base class of every error raised by the search library."""


class QuerySyntaxError(SearchError):
    """The query text cannot be understood."""


class IndexLockedError(SearchError):
    """Another process holds the index writer; only one writer may run at a time."""


class IndexMissingError(SearchError):
    """No index exists in the given directory yet."""


class InvalidDocumentError(SearchError):
    """A document handed to the index lacks a required field or has a malformed one."""


class InvalidRequestError(SearchError):
    """A search request names an unknown field, sort order or page."""


class StaleIndexError(SearchError):
    """The index was written in an older format (other terms); it must be rebuilt before use."""

    def __init__(self, message: str, found: int | str, expected: int | str) -> None:
        # ``found`` / ``expected``: the format number (Whoosh), or "<format>.<layout>" (the PostgreSQL tables)
        super().__init__(message)
        self.found = found
        self.expected = expected
