//! Config file patchers (work in progress).
