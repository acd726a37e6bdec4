//! The backend conformance suite: one set of checks every [`crate::StorageBackend`] must pass.
