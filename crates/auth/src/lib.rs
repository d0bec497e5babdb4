//! wharf-auth: who is who.
//!
//! Owns password hashing (argon2id), access-token formats (prefix, randomness, checksum,
//! SHA-256 at rest), registry JWTs and principals. No SQL and no HTTP routing.
