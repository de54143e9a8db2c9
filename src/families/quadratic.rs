//! Stub: filled in by the quadratic family work (SPEC §6).
