"""The 整改台账 ledger: its columns, the export (now or as it stood on a past day), and the import."""
