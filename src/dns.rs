//! Resolver construction.
