"""The rules of the archive: every write is load -> check revision -> check permission -> one transaction."""
