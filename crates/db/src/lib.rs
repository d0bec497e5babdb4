//! wharf-db: the database.
//!
//! Owns the migrations runner and all SQL (sqlx), one module per aggregate. Every query that
//! touches tenant data takes the organization it is scoped to. Knows nothing of HTTP.
