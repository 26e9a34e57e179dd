"""ByokVault HTTP API (Litestar)."""
