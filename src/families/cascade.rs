//! Stub: filled in by the cascade family work (SPEC §6).
