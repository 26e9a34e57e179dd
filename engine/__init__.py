"""ByokVault engine: catalog, pricing, routing, vault and ledger."""
