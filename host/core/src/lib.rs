//! clio-core
