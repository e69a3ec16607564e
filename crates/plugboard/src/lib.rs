//! Plugboard facade.
