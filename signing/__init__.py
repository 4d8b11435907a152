"""PKI, RFC 3161 time stamps, PAdES signing and validation on top of pyHanko (see README.md).

Modules: errors, pki, signer, tsa, stamp, pades, batch, cms, trust, validate, lta, algorithms.
Never imports dms, storage or search.
"""
