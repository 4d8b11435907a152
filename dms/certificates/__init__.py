"""Certificates of qualification: batch issue, blanks, lifecycle, lookups; its web, API and CLI adapters."""
