"""The audit trail: the hash chain, its time-stamps, a document's timeline, the auditors' pages."""
