"""Reports: metrics, charts, the live wallboard and exports (nothing yet: the reporting
capability lands here, reading the other apps' tables, which no app below may import)."""
