//! Manual-review risk (issue 7).
