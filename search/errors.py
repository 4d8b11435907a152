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
