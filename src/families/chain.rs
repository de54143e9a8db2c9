//! Stub: filled in by the chain family work (SPEC §6).
