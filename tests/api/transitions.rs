//! (tests arrive)
