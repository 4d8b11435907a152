"""Documents and folders: types, uploads, versions, the folder tree, listings, bulk actions, ingest, sharing."""
