"""The register of organisations: kinds, statuses and steps as data, the service, its adapters."""
