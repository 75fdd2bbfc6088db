"""The demo tenant (Northwind Bank on BANKING77): seeding only. No production module imports it
(an import-linter contract)."""
