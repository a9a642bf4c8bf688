//! Read models built from the ledger log (filled in by the projections issue).
