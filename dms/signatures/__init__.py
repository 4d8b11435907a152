"""Signing documents and keeping them provable: PKI, signatures, B-LTA evidence, the public checks."""
