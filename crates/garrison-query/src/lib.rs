//! Game server query protocols.
